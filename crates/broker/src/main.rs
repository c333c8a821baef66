//! `sluiced`: runs a Sluice broker. With no arguments it is a single node with its data in
//! `./data`, listening on port 9092.
//!
//! Startup order: lock the data directories; start the embedded keeper (if any); connect to
//! keeper; scan the log directories (which partitions are on disk); open the listeners; start
//! loading the logs in the background; register and follow the cluster. Each partition is
//! served as soon as its own log is loaded (Kafka's broker loads every log before it listens);
//! until then requests for it get NOT_LEADER_OR_FOLLOWER, which clients retry.
//!
//! This file parses the arguments and the config, locks the data directories, builds the node
//! (`sluice_broker::node`: its tasks, their supervision and the shutdown order), runs it until
//! SIGTERM/SIGINT or a fatal task failure, and turns the outcome into the exit code: non-zero
//! when a task failed, the startup failed, or the shutdown did.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use sluice_broker::node::Node;
use sluice_broker::{BrokerConfig, config};
use sluice_storage::DirLock;

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
    /// writes just its keeper address); then, when `metrics.listener` is on, the HTTP
    /// endpoint's URL (http://host:port, or https:// with metrics.ssl.enabled).
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
}

/// mimalloc, not glibc's malloc: at small-request rates (many produce and fetch requests of a
/// few records each) glibc's allocator was about a fifth of the process's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let (log_dir_locks, keeper_dir_lock) = lock_data_dirs(&config)?;
    // After the locks, so that a node refused its directories prints only why.
    raise_open_files_limit();
    let keeper_id = config.keeper.id;
    let metrics_scheme = if config.metrics_tls.is_some() { "https" } else { "http" };
    // The keeper (ZooKeeper client protocol; Raft with its peers) starts first: brokers lean on it.
    let start = Node::start_keeper(config, log_dir_locks, keeper_dir_lock).await?;
    if !start.broker_role() {
        let node = start.keeper_only()?;
        let address = node.keeper_address().context("a keeper-only node runs a keeper")?;
        let mut text = format!("{address}\n");
        if let Some(metrics) = node.metrics_address() {
            text.push_str(&format!("{metrics_scheme}://{metrics}\n"));
        }
        write_ready_file(&args, &text)?;
        tracing::info!(keeper_id, "sluiced started (keeper only)");
        let mut signals = ShutdownSignals::install()?;
        node.run(signals.recv()).await?;
        tracing::info!("sluiced stopped cleanly");
        return Ok(());
    }
    // The cluster's metadata lives in keeper: the embedded one unless keeper.connect names another.
    let connected = start.connect().await?;
    // From here on SIGTERM and SIGINT are caught (not fatal), so a stop while the logs load
    // waits for the loaders and leaves every log consistent.
    let mut signals = ShutdownSignals::install()?;
    let node = connected.start_broker().await?;
    if let Some(first) = node.listeners().first() {
        let (host, port) = &first.advertised;
        let mut text = format!("{host}:{port}\n");
        if let Some(keeper) = node.keeper_address() {
            text.push_str(&format!("{keeper}\n"));
        }
        if let Some(metrics) = node.metrics_address() {
            text.push_str(&format!("{metrics_scheme}://{metrics}\n"));
        }
        write_ready_file(&args, &text)?;
    }
    let broker = node.broker().context("a broker node runs a broker")?;
    tracing::info!(cluster_id = %broker.cluster_id, broker_id = broker.config.broker_id, "sluiced started");
    // Until a signal, or until a task of the node stops (logged as it happens): either way the
    // same orderly shutdown (`node.rs`), and a task's failure makes the exit non-zero.
    node.run(signals.recv()).await?;
    tracing::info!("sluiced stopped cleanly");
    Ok(())
}

/// Writes `--ready-file`, if given (atomically: a reader never sees half of it).
fn write_ready_file(args: &Args, text: &str) -> anyhow::Result<()> {
    if let Some(path) = &args.ready_file {
        sluice_storage::checkpoint::write_atomically(path, text.as_bytes())
            .with_context(|| format!("cannot write the ready file {}", path.display()))?;
    }
    Ok(())
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
