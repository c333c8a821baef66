//! `sluiced`: runs a Sluice broker. With no arguments it is a single node with its data in
//! `./data`, listening on port 9092.
//!
//! Startup order: lock the data directories; start the embedded keeper (if any); connect to
//! keeper; scan the log directories (which partitions are on disk); open the listeners; start
//! loading the logs in the background; register and follow the cluster. Each partition is
//! served as soon as its own log is loaded (Kafka's broker loads every log before it listens);
//! until then requests for it get NOT_LEADER_OR_FOLLOWER, which clients retry.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use sluice_broker::cluster::link::{KEEPER_SESSION_FILE, KeeperLink};
use sluice_broker::cluster::znodes::BrokerRegistration;
use sluice_broker::{Broker, BrokerConfig, config};
use sluice_storage::{Clock, DirLock};

/// How long a starting broker keeps trying to reach keeper.
const KEEPER_CONNECT_TIMEOUT_MS: u64 = 60_000;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The Sluice broker.
#[derive(Debug, Parser)]
#[command(
    name = "sluiced",
    version,
    about = "Sluice: a Kafka-compatible streaming server",
    after_help = "Examples:\n  sluiced                                   single node, data in ./data, port 9092\n  sluiced config/server.properties -o num.partitions=6\n  SLUICE_LOG_DIRS=/var/lib/sluice sluiced"
)]
struct Args {
    /// A server.properties file (Kafka key names).
    config: Option<PathBuf>,
    /// Overrides one key of the file: -o key=value (repeatable).
    #[arg(short = 'o', long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Log line format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log filter (tracing's env-filter syntax), e.g. info or sluice_broker=debug.
    #[arg(long, env = "RUST_LOG", default_value = "info,openraft=warn")]
    log_level: String,
    /// Once listening, write the first listener's address (host:port) to this file, and on a
    /// second line the embedded keeper's address when the keeper role runs (a keeper-only node
    /// writes just its keeper address).
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match args.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluiced: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let json_logs = matches!(args.log_format, LogFormat::Json);
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line per failure: a structured one for JSON logs, a plain one otherwise.
            if json_logs {
                tracing::error!("{e:#}");
            } else {
                eprintln!("sluiced: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => config::parse_properties(path)?,
        None => Vec::new(),
    };
    let overrides = args
        .overrides
        .iter()
        .map(|o| {
            o.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| anyhow::anyhow!("--override {o:?} must look like key=value"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = BrokerConfig::load(file, overrides, std::env::vars())?;
    // Every directory this node owns is locked before anything in it is opened for writing: a
    // second process on the same directories stops here, having changed nothing.
    let (log_dir_locks, _keeper_dir_lock) = lock_data_dirs(&config)?;
    // After the locks, so that a node refused its directories prints only why.
    raise_open_files_limit();
    // The keeper (ZooKeeper client protocol; Raft with its peers) starts first: brokers lean on it.
    let keeper = match &config.keeper_client {
        Some(client) => Some(start_keeper(&config, client).await?),
        None => None,
    };
    if !config.broker_role {
        let Some((keeper, address)) = keeper else { anyhow::bail!("process.roles names neither broker nor keeper") };
        if let Some(path) = &args.ready_file {
            sluice_storage::checkpoint::write_atomically(path, format!("{address}\n").as_bytes())
                .with_context(|| format!("cannot write the ready file {}", path.display()))?;
        }
        tracing::info!(keeper_id = config.keeper.id, "sluiced started (keeper only)");
        ShutdownSignals::install()?.recv().await;
        keeper.shutdown().await;
        tracing::info!("sluiced stopped cleanly");
        return Ok(());
    }
    // The cluster's metadata lives in keeper: the embedded one unless keeper.connect names another.
    let connect = match (&config.keeper_connect, &keeper) {
        (Some(c), _) => c.clone(),
        (None, Some((_, address))) => {
            let host = if address.ip().is_unspecified() { "127.0.0.1".to_string() } else { address.ip().to_string() };
            format!("{host}:{}", address.port())
        }
        (None, None) => anyhow::bail!("a broker needs keeper.connect or the keeper role"),
    };
    let link = KeeperLink::new(
        &connect,
        Duration::from_millis(config.keeper_session_timeout_ms),
        config.broker_id,
        Some(config.log_dirs[0].join(KEEPER_SESSION_FILE)),
    );
    // A crash left the previous run's session (and its registration) open: close it rather than
    // wait out its timeout.
    link.close_previous_session().await;
    let client = link.connect(Duration::from_millis(KEEPER_CONNECT_TIMEOUT_MS)).await?;
    let proposed = sluice_broker::broker::stored_cluster_id(&config.log_dirs[0])
        .unwrap_or_else(sluice_broker::broker::new_cluster_id);
    let cluster_id = link
        .cluster_id(&client, &proposed)
        .await
        .with_context(|| format!("cannot read or create /cluster/id in keeper at {connect}"))?;
    // From here on SIGTERM and SIGINT are caught (not fatal), so a stop while the logs load
    // waits for the loaders and leaves every log consistent.
    let mut signals = ShutdownSignals::install()?;
    let broker = {
        let link = link.clone();
        tokio::task::spawn_blocking(move || Broker::open(config, cluster_id, link, log_dir_locks)).await??
    };

    let (shutdown_tx, _) = broadcast::channel::<()>(1);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut first_address = None;
    for listener in &broker.config.listeners {
        let host = if listener.host.is_empty() { "0.0.0.0" } else { listener.host.as_str() };
        let socket = TcpListener::bind((host, listener.port))
            .await
            .with_context(|| format!("cannot listen on {}://{}:{} (listeners)", listener.name, host, listener.port))?;
        let bound = socket.local_addr()?;
        let advertised = broker.config.advertised_listeners.iter().find(|a| a.name == listener.name);
        let adv_host = match advertised.map(|a| a.host.as_str()) {
            Some(h) if !h.is_empty() && h != "0.0.0.0" => h.to_string(),
            _ if !listener.host.is_empty() && listener.host != "0.0.0.0" => listener.host.clone(),
            _ => "localhost".to_string(),
        };
        let adv_port = advertised.map(|a| a.port).filter(|&p| p != 0).unwrap_or(bound.port());
        broker.advertised.write().insert(listener.name.clone(), (adv_host.clone(), adv_port));
        first_address.get_or_insert(format!("{adv_host}:{adv_port}"));
        tracing::info!(listener = %listener.name, address = %bound, advertised = %format!("{adv_host}:{adv_port}"), "listening");
        tokio::spawn(sluice_broker::server::serve(
            broker.clone(),
            socket,
            listener.name.clone(),
            shutdown_tx.subscribe(),
            done_tx.clone(),
        ));
    }
    // The logs load (and recover) in the background, each served once loaded. Started once the
    // listeners are bound: a failure to bind returns before any log is touched.
    let loader = {
        let broker = broker.clone();
        tokio::task::spawn_blocking(move || broker.load_logs())
    };
    // Register (ephemeral /brokers/ids/<id>), follow the cluster's znodes, then take part.
    let endpoints: Vec<(String, String, u16)> = {
        let advertised = broker.advertised.read();
        broker
            .config
            .listeners
            .iter()
            .filter_map(|l| advertised.get(&l.name).map(|(h, p)| (l.name.clone(), h.clone(), *p)))
            .collect()
    };
    let registration =
        BrokerRegistration::new(&endpoints, broker.config.rack.clone(), sluice_storage::SystemClock.now_ms());
    if let Err(e) = sluice_broker::cluster::import_legacy_topics(&broker).await {
        tracing::warn!(error = %e, "could not import the single-node topic registry");
    }
    let (ready_tx, mut ready_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(link.clone().run(client, registration, ready_tx));
    tokio::spawn(sluice_broker::cluster::reconciler(broker.clone()));
    tokio::spawn(sluice_broker::cluster::isr_writer(broker.clone()));
    tokio::spawn(sluice_broker::cluster::controller::run(broker.clone()));
    tokio::spawn(sluice_broker::txn::coordinator::run(broker.clone()));
    ready_rx.wait_for(|r| *r).await.context("the keeper link stopped before registering")?;
    // Group membership changes are written to __consumer_offsets in the background.
    let persister = sluice_broker::group::coordinator::spawn_persister(broker.clone());
    // Group sessions and rebalance deadlines, each when it falls due (a task of its own, so the
    // log maintenance below never delays them).
    let group_timers = tokio::spawn(broker.groups.clone().run_timers());
    let maintenance = {
        let broker = broker.clone();
        let mut stop = shutdown_tx.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            // Followers out of sync leave the ISR (Kafka checks at half the lag bound).
            let lag_ms = broker.config.replication.lag_time_max_ms;
            let mut isr_tick = tokio::time::interval(Duration::from_millis((lag_ms / 2).max(1)));
            let mut expiry_tick =
                tokio::time::interval(Duration::from_millis(broker.config.offsets_retention_check_interval_ms));
            loop {
                tokio::select! {
                    _ = stop.recv() => break,
                    _ = tick.tick() => {
                        let b = broker.clone();
                        let _ = tokio::task::spawn_blocking(move || b.log_manager().maintenance()).await;
                    }
                    _ = isr_tick.tick() => broker.replica_manager.maybe_shrink_isrs(lag_ms),
                    _ = expiry_tick.tick() => expire_offsets(&broker).await,
                }
            }
        })
    };
    if let (Some(path), Some(address)) = (&args.ready_file, &first_address) {
        let mut text = format!("{address}\n");
        if let Some((_, k)) = &keeper {
            text.push_str(&format!("{k}\n"));
        }
        sluice_storage::checkpoint::write_atomically(path, text.as_bytes())
            .with_context(|| format!("cannot write the ready file {}", path.display()))?;
    }
    tracing::info!(cluster_id = %broker.cluster_id, broker_id = broker.config.broker_id, "sluiced started");

    // A log that cannot be loaded stops the node as a signal would, then fails it.
    let failed_load = tokio::select! {
        _ = signals.recv() => None,
        e = load_failure(loader) => Some(e),
    };
    match &failed_load {
        None => tracing::info!("shutting down: leaving the cluster, then draining connections"),
        Some(e) => tracing::error!(error = %e, "shutting down: a log could not be loaded"),
    }
    // Closing the keeper session drops the registration at once, so the controller moves
    // leadership away now rather than after the session timeout.
    broker.fetchers.shutdown();
    link.close().await;
    let _ = shutdown_tx.send(());
    drop(done_tx);
    // Every connection task holds a sender; recv returns None once all have finished.
    let drained = tokio::time::timeout(Duration::from_secs(30), done_rx.recv()).await.is_ok();
    if !drained {
        tracing::warn!("connections still open after 30 s; shutting down anyway");
    }
    let _ = maintenance.await;
    group_timers.abort();
    persister.abort();
    if let Some((keeper, _)) = &keeper {
        keeper.shutdown().await;
    }
    // Stops the log loaders first (each finishes the log it is on).
    let b = broker.clone();
    tokio::task::spawn_blocking(move || b.log_manager().shutdown()).await??;
    if let Some(e) = failed_load {
        return Err(e);
    }
    tracing::info!("sluiced stopped cleanly");
    Ok(())
}

/// Waits for the log loader to fail, returning its error; a loader that finishes (or is stopped
/// by the shutdown) never resolves this.
async fn load_failure(loader: tokio::task::JoinHandle<Result<(), sluice_storage::StorageError>>) -> anyhow::Error {
    match loader.await {
        Ok(Ok(())) => std::future::pending().await,
        Ok(Err(e)) => anyhow::Error::new(e).context("cannot load the logs (log.dirs)"),
        Err(e) => anyhow::anyhow!("the log loader stopped: {e}"),
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard one, as a JVM does for Kafka
/// (`-XX:+MaxFDLimit`): the descriptors a node needs grow with the partitions and connections
/// in use, and a default soft limit (often 1,024) stops it long before the hard limit would.
/// A failure is logged and the node goes on with the limit it has.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(error = %e, "cannot read the open files limit (RLIMIT_NOFILE)");
        return;
    }
    let before = limit.rlim_cur;
    if before >= limit.rlim_max {
        tracing::info!(
            soft = before,
            hard = limit.rlim_max,
            "open files limit (RLIMIT_NOFILE) already at the hard limit"
        );
        return;
    }
    let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
    // SAFETY: setrlimit reads one rlimit from the struct passed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(soft = before, hard = limit.rlim_max, error = %e, "cannot raise the open files limit (RLIMIT_NOFILE)");
        return;
    }
    tracing::info!(before, after = raised.rlim_cur, "raised the open files limit (RLIMIT_NOFILE) to its hard limit");
}

/// Locks the log directories (broker role) and keeper's data directory (keeper role).
fn lock_data_dirs(config: &BrokerConfig) -> anyhow::Result<(Vec<DirLock>, Option<DirLock>)> {
    let log_dirs = if config.broker_role {
        config
            .log_manager
            .log_dirs
            .iter()
            .map(|d| {
                DirLock::acquire(d).with_context(|| format!("cannot use log directory {} (log.dirs)", d.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let keeper_dir = match &config.keeper_client {
        Some(_) => Some(DirLock::acquire(&config.keeper.data_dir).with_context(|| {
            format!("cannot use keeper's data directory {} (keeper.data.dir)", config.keeper.data_dir.display())
        })?),
        None => None,
    };
    Ok((log_dirs, keeper_dir))
}

/// Starts this node's keeper: Raft on the peer port (this node's entry in `keeper.servers`) and
/// the ZooKeeper client port; returns it with the client address it listens on.
async fn start_keeper(
    config: &BrokerConfig,
    (host, port): &(String, u16),
) -> anyhow::Result<(std::sync::Arc<sluice_keeper::Keeper>, std::net::SocketAddr)> {
    let peers = match config.keeper.servers.get(&config.keeper.id) {
        Some(addr) if config.keeper.servers.len() > 1 => Some(
            TcpListener::bind(addr.as_str())
                .await
                .with_context(|| format!("cannot listen on {addr} (this node's entry in keeper.servers)"))?,
        ),
        _ => None,
    };
    let host = if host.is_empty() { "0.0.0.0" } else { host.as_str() };
    let socket = TcpListener::bind((host, *port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port} (keeper.client.port)"))?;
    let bound = socket.local_addr()?;
    let keeper = sluice_keeper::Keeper::start(config.keeper.clone(), peers).await.with_context(|| {
        format!("cannot start the keeper with its data in {} (keeper.data.dir)", config.keeper.data_dir.display())
    })?;
    tracing::info!(address = %bound, id = config.keeper.id, servers = config.keeper.servers.len().max(1), "keeper listening (ZooKeeper client protocol)");
    tokio::spawn(keeper.clone().serve(socket));
    Ok((keeper, bound))
}

/// Writes tombstones for the committed offsets that `offsets.retention.minutes` expired.
async fn expire_offsets(broker: &Broker) {
    let expired = broker.groups.expire_offsets();
    sluice_broker::group::offsets_log::write_tombstones(broker, expired, "offsets.retention.minutes passed").await;
}

/// SIGTERM and SIGINT, caught from `install` on: one that arrives before `recv` is awaited is
/// kept, not lost (nor fatal, as the default action would be).
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(ShutdownSignals {
            term: signal(SignalKind::terminate()).context("cannot install a SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("cannot install a SIGINT handler")?,
        })
    }

    /// Waits for either signal.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
