//! A node's tasks: this module starts every long-running task of a `sluiced` node, by name, in
//! one place ([`Node`], used by `main.rs` and by `crate::fuzzing`, so the two cannot drift),
//! watches them ([`NodeTasks`]), and owns the node's shutdown order. Kafka's counterpart is
//! `KafkaServer.startup()`/`shutdown()` with its exit on a fatal error.
//!
//! Startup, in three steps so that `main.rs` can install its signal handlers between them
//! (a SIGTERM while keeper is still being reached keeps its default, fatal action):
//! [`Node::start_keeper`] starts the embedded keeper (keeper role); [`NodeStart::connect`]
//! connects to keeper, closes a crashed run's session and reads the cluster id;
//! [`ConnectedNode::start_broker`] opens the log directories, binds the listeners, starts
//! loading the logs, registers, and starts the cluster, coordinator and periodic tasks. A
//! keeper-only node stops after the first step ([`NodeStart::keeper_only`]).
//!
//! Supervision: every task is spawned into one `JoinSet` under a name, with a [`Lifetime`]
//! and a [`Stop`]. A task that runs for the node's life ([`Lifetime::Node`]: the listeners, the
//! keeper link, the reconciler, the ISR writer, the controller, the coordinators, the periodic
//! tasks, the embedded keeper's server) and ends while the node runs, by a panic or by
//! returning, is a fatal error: left alone, the node would go on serving with that part dead
//! (a zombie broker that never takes a new leadership, or never elects). A [`Lifetime::Finite`]
//! task (the log loader) may finish; its error is fatal. A fatal error is logged once, with the
//! task's name and the panic message or error, and starts the same orderly shutdown a signal
//! does ([`Node::run`]); the node then ends with that error, and `sluiced` exits non-zero
//! (Kafka exits when a fatal error stops a thread it cannot run without). Once the shutdown has
//! begun, tasks ending are expected; a panic then is still logged and still fails the node.
//!
//! Shutdown order ([`Node::shutdown`]), each step for a reason:
//! 1. the replica fetchers are told to stop: no new fetch from leaders that are about to move
//!    (a fetch in flight ends as it would);
//! 2. the keeper session closes: the registration (and `/controller`, if held here) goes at
//!    once, so the controller moves leadership off this broker now rather than after the
//!    session timeout (what Kafka's controlled shutdown achieves before it stops anything);
//! 3. the shutdown signal: listeners stop accepting, and each connection finishes the request
//!    it has in flight (within `server::SHUTDOWN_IN_FLIGHT_DRAIN`) and closes;
//! 4. the drain: connections get at most [`SHUTDOWN_DRAIN_CAP_MS`] in all;
//! 5. the periodic tasks stop: those that end on the signal (log maintenance, which may be in
//!    the middle of a retention pass) are awaited, at most [`TASK_STOP_BOUND_MS`]; every other
//!    task is aborted then, and awaited, so that none starts work on a log afterwards (blocking
//!    work one of them already started, such as the reconciler applying a view, runs to its
//!    end: an abort cannot stop a thread);
//! 6. the embedded keeper stops (Raft), after the session above was closed through it;
//! 7. the `LogManager` shuts down last: it stops the log loader, flushes and closes every log
//!    and writes the checkpoints and the clean-shutdown marker, so it must follow everything
//!    that could still write to a log;
//! 8. the tasks that end with it (the log loader) are awaited.
//!
//! Kafka's `KafkaServer.shutdown()` also ends with `LogManager.shutdown()`; it starts with a
//! controlled shutdown request to the controller, which step 2 stands for here.
//!
//! Concurrency: a `Node` is owned by one caller (`main.rs`'s `run`, the fuzzing harness's
//! watcher task); its tasks run on the tokio runtime. The replica fetchers and the transaction
//! coordinator's marker senders run as the broker's sub-tasks (`crate::subtasks`), supervised
//! by the `sub-tasks` task: a panic in one is fatal too. A connection's task is not: a request
//! whose handler panics closes that client's connection (tokio catches the panic), and the
//! broker serves the others; keeper's own tasks are keeper's.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sluice_storage::{Clock, DirLock};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::{AbortHandle, JoinError, JoinSet};

use crate::broker::Broker;
use crate::cluster::link::{KEEPER_SESSION_FILE, KeeperLink};
use crate::cluster::znodes::BrokerRegistration;
use crate::config::BrokerConfig;

/// How long a starting broker keeps trying to reach keeper.
pub const KEEPER_CONNECT_TIMEOUT_MS: u64 = 60_000;

/// How long the connections may take, in all, to finish at shutdown before the node goes on
/// without them.
pub const SHUTDOWN_DRAIN_CAP_MS: u64 = 30_000;

/// How long the tasks that end on the shutdown signal (log maintenance) may take to end before
/// they are aborted.
pub const TASK_STOP_BOUND_MS: u64 = 30_000;

/// How often the log manager's maintenance (roll, retention, checkpoints) runs.
pub const LOG_MAINTENANCE_INTERVAL_MS: u64 = 500;

/// How long a node's task lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// As long as the node: its end while the node runs (a panic, or returning) is fatal.
    Node,
    /// Until its work is done (the log loader): returning `Ok` is normal; an error or a panic
    /// is fatal.
    Finite,
}

/// How a task stops at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It ends by itself on the shutdown signal ([`NodeTasks::shutdown_signal`]); awaited, at
    /// most [`TASK_STOP_BOUND_MS`], then aborted.
    OnSignal,
    /// Aborted once the connections are drained (and awaited).
    Abort,
    /// It ends when the `LogManager` shuts down (a blocking task, which an abort cannot stop):
    /// awaited after that.
    WithLogManager,
}

/// Why a task of the node failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskFailure {
    #[error("task {task} panicked: {message}")]
    Panicked { task: String, message: String },
    #[error("task {task} returned while the node was running")]
    Returned { task: String },
    #[error("task {task} was cancelled while the node was running")]
    Cancelled { task: String },
    #[error("task {task} failed: {error:#}")]
    Failed { task: String, error: anyhow::Error },
}

impl TaskFailure {
    /// The name of the task that failed.
    pub fn task(&self) -> &str {
        match self {
            TaskFailure::Panicked { task, .. }
            | TaskFailure::Returned { task }
            | TaskFailure::Cancelled { task }
            | TaskFailure::Failed { task, .. } => task,
        }
    }
}

/// What a supervised task may return: nothing, or a result whose error is fatal.
pub trait TaskOutput: Send + 'static {
    fn into_result(self) -> anyhow::Result<()>;
}

impl TaskOutput for () {
    fn into_result(self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl<E: Into<anyhow::Error> + Send + 'static> TaskOutput for Result<(), E> {
    fn into_result(self) -> anyhow::Result<()> {
        self.map_err(Into::into)
    }
}

/// One task in the set.
#[derive(Debug)]
struct Supervised {
    name: String,
    lifetime: Lifetime,
    stop: Stop,
    abort: AbortHandle,
}

/// The supervisor: a node's tasks by name, what their ends mean, and the shutdown signal.
#[derive(Debug)]
pub struct NodeTasks {
    set: JoinSet<anyhow::Result<()>>,
    running: HashMap<tokio::task::Id, Supervised>,
    shutdown: broadcast::Sender<()>,
    /// Set once the shutdown has begun: from then on tasks ending are expected.
    stopping: bool,
    /// The first failure seen while stopping (a panic during the shutdown).
    failed_while_stopping: Option<TaskFailure>,
}

impl Default for NodeTasks {
    fn default() -> Self {
        NodeTasks::new()
    }
}

impl NodeTasks {
    pub fn new() -> NodeTasks {
        NodeTasks {
            set: JoinSet::new(),
            running: HashMap::new(),
            shutdown: broadcast::channel(1).0,
            stopping: false,
            failed_while_stopping: None,
        }
    }

    /// Runs `task` on the runtime under `name`.
    pub fn spawn<F>(&mut self, name: impl Into<String>, lifetime: Lifetime, stop: Stop, task: F)
    where
        F: Future + Send + 'static,
        F::Output: TaskOutput,
    {
        let abort = self.set.spawn(async move { task.await.into_result() });
        self.register(name.into(), lifetime, stop, abort);
    }

    /// Runs blocking `work` on a thread of the runtime's blocking pool under `name`. An abort
    /// cannot stop it once it runs: give it a [`Stop`] that ends it otherwise.
    pub fn spawn_blocking<W, O>(&mut self, name: impl Into<String>, lifetime: Lifetime, stop: Stop, work: W)
    where
        W: FnOnce() -> O + Send + 'static,
        O: TaskOutput,
    {
        let abort = self.set.spawn_blocking(move || work().into_result());
        self.register(name.into(), lifetime, stop, abort);
    }

    fn register(&mut self, name: String, lifetime: Lifetime, stop: Stop, abort: AbortHandle) {
        tracing::debug!(task = %name, ?lifetime, ?stop, "task started");
        let previous = self.running.insert(abort.id(), Supervised { name, lifetime, stop, abort });
        assert!(previous.is_none(), "task ids are unique while their tasks run: {previous:?}");
    }

    /// A receiver of the shutdown signal, for a task that stops on it ([`Stop::OnSignal`]).
    /// Subscribe before spawning the task: a receiver made after the signal misses it.
    pub fn shutdown_signal(&self) -> broadcast::Receiver<()> {
        self.shutdown.subscribe()
    }

    /// Whether a task of this name is still counted as running (not yet seen to end).
    pub fn is_running(&self, name: &str) -> bool {
        self.running.values().any(|t| t.name == name)
    }

    /// Waits for the first fatal end of a task (see [`Lifetime`]) and returns it, logged. Never
    /// resolves while every task runs, or once every task has finished normally. Cancel-safe.
    pub async fn fatal(&mut self) -> TaskFailure {
        loop {
            let Some(joined) = self.set.join_next_with_id().await else {
                return std::future::pending().await;
            };
            if let Some(failure) = self.reap(joined) {
                return failure;
            }
        }
    }

    /// Like [`NodeTasks::fatal`] without waiting: takes note of every task that has ended, and
    /// returns the first fatal end among them.
    pub fn try_fatal(&mut self) -> Option<TaskFailure> {
        while let Some(joined) = self.set.try_join_next_with_id() {
            if let Some(failure) = self.reap(joined) {
                return Some(failure);
            }
        }
        None
    }

    /// From now on a task that ends is not fatal (the node is stopping); a panic still fails it.
    pub fn begin_shutdown(&mut self) {
        self.stopping = true;
    }

    /// Sends the shutdown signal to the tasks that stop on it (and to whatever else subscribed:
    /// the listeners pass it on to their connections).
    pub fn signal_shutdown(&self) {
        assert!(self.stopping, "the shutdown signal follows begin_shutdown");
        // No receiver left is fine: nothing was waiting for it.
        let _ = self.shutdown.send(());
    }

    /// Stops the tasks, step 5 of the shutdown: waits at most `bound` for those that end on the
    /// signal, then aborts every task but those that end with the `LogManager`, and waits for
    /// them.
    pub async fn stop(&mut self, bound: Duration) {
        assert!(self.stopping, "the tasks stop after begin_shutdown");
        let ended = tokio::time::timeout(bound, self.join_while(|t| t.stop == Stop::OnSignal)).await;
        if ended.is_err() {
            let late: Vec<&str> =
                self.running.values().filter(|t| t.stop == Stop::OnSignal).map(|t| t.name.as_str()).collect();
            tracing::warn!(tasks = ?late, bound_ms = bound.as_millis() as u64, "tasks still running after the shutdown signal; aborting them");
        }
        for task in self.running.values().filter(|t| t.stop != Stop::WithLogManager) {
            task.abort.abort();
        }
        self.join_while(|t| t.stop != Stop::WithLogManager).await;
    }

    /// Waits for every task left (those that end with the `LogManager`, once it has shut down).
    pub async fn join_remaining(&mut self) {
        assert!(self.stopping, "the last tasks are awaited after begin_shutdown");
        self.join_while(|_| true).await;
    }

    /// The first task failure seen while stopping, if any.
    pub fn take_failure_while_stopping(&mut self) -> Option<TaskFailure> {
        self.failed_while_stopping.take()
    }

    /// Reaps ended tasks while any task for which `waiting` holds is still running.
    async fn join_while(&mut self, waiting: impl Fn(&Supervised) -> bool) {
        while self.running.values().any(&waiting) {
            let Some(joined) = self.set.join_next_with_id().await else {
                unreachable!("a task counted as running is in the set: {:?}", self.running);
            };
            if let Some(failure) = self.reap(joined) {
                self.failed_while_stopping.get_or_insert(failure);
            }
        }
    }

    /// Takes note of an ended task; returns (and logs, once) its failure if its end is one.
    fn reap(&mut self, joined: Result<(tokio::task::Id, anyhow::Result<()>), JoinError>) -> Option<TaskFailure> {
        let (id, outcome) = match joined {
            Ok((id, result)) => (id, Ok(result)),
            Err(e) => (e.id(), Err(e)),
        };
        let task = self.running.remove(&id).expect("every task in the set was registered when spawned");
        let name = task.name;
        let failure = match outcome {
            Ok(Ok(())) if task.lifetime == Lifetime::Finite || self.stopping => {
                tracing::debug!(task = %name, "task ended");
                return None;
            }
            Ok(Ok(())) => TaskFailure::Returned { task: name },
            Ok(Err(error)) => TaskFailure::Failed { task: name, error },
            Err(e) if e.is_panic() => TaskFailure::Panicked { task: name, message: panic_message(e.into_panic()) },
            Err(_) if self.stopping => {
                tracing::debug!(task = %name, "task aborted");
                return None;
            }
            Err(_) => TaskFailure::Cancelled { task: name },
        };
        if self.stopping {
            tracing::error!(task = failure.task(), error = %failure, "a task of the node failed while it stopped");
        } else {
            tracing::error!(task = failure.task(), error = %failure, "fatal: a task of the node stopped; shutting down");
        }
        Some(failure)
    }
}

/// The text of a panic's payload (`panic!` with a message gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_string(),
            Err(_) => "(a panic without a message)".to_string(),
        },
    }
}

/// This node's keeper (keeper role) and the address its ZooKeeper client port is bound to.
pub struct EmbeddedKeeper {
    pub keeper: Arc<sluice_keeper::Keeper>,
    pub address: SocketAddr,
    /// The TLS client port (`keeper.secure.client.port`), if any.
    pub secure_address: Option<SocketAddr>,
}

impl std::fmt::Debug for EmbeddedKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedKeeper").field("address", &self.address).finish_non_exhaustive()
    }
}

/// A Kafka listener once bound.
#[derive(Debug, Clone)]
pub struct BoundListener {
    pub name: String,
    /// The local address it accepts on.
    pub bound: SocketAddr,
    /// The `(host, port)` it is advertised as.
    pub advertised: (String, u16),
}

/// The broker role's part of a running node.
#[derive(Debug)]
struct BrokerRole {
    broker: Arc<Broker>,
    listeners: Vec<BoundListener>,
    /// Cloned by every listener and connection task; dropped at shutdown so that
    /// `connections_drained` reports `None` once all of them have ended.
    connections_open: Option<mpsc::Sender<()>>,
    connections_drained: mpsc::Receiver<()>,
}

/// The node's HTTP endpoint (`metrics.listener`): what it reports on, and where it listens.
#[derive(Debug, Clone)]
struct Endpoint {
    observed: Arc<crate::observe::http::Observed>,
    address: Option<SocketAddr>,
}

/// A node after [`Node::start_keeper`].
#[derive(Debug)]
pub struct NodeStart {
    config: BrokerConfig,
    tasks: NodeTasks,
    endpoint: Endpoint,
    keeper: Option<EmbeddedKeeper>,
    log_dir_locks: Vec<DirLock>,
    keeper_dir_lock: Option<DirLock>,
}

/// A broker connected to keeper, after [`NodeStart::connect`].
pub struct ConnectedNode {
    start: NodeStart,
    link: Arc<KeeperLink>,
    client: sluice_keeper::ZkClient,
    cluster_id: String,
}

impl std::fmt::Debug for ConnectedNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectedNode")
            .field("start", &self.start)
            .field("cluster_id", &self.cluster_id)
            .finish_non_exhaustive()
    }
}

/// A running node: its tasks, its embedded keeper (keeper role) and its broker (broker role).
#[derive(Debug)]
pub struct Node {
    tasks: NodeTasks,
    endpoint: Endpoint,
    keeper: Option<EmbeddedKeeper>,
    broker: Option<BrokerRole>,
    /// Held for the node's life, as the log directories' locks are held by its `LogManager`.
    _keeper_dir_lock: Option<DirLock>,
}

impl Node {
    /// Step one: the embedded keeper when `config` has the keeper role (Raft on this node's
    /// `keeper.servers` entry when there are peers, the ZooKeeper client port), its server a
    /// task of the node. `log_dir_locks` and `keeper_dir_lock` were taken by the caller before
    /// anything in those directories was opened for writing; the node holds them.
    pub async fn start_keeper(
        config: BrokerConfig,
        log_dir_locks: Vec<DirLock>,
        keeper_dir_lock: Option<DirLock>,
    ) -> anyhow::Result<NodeStart> {
        let mut tasks = NodeTasks::new();
        // First, so /health answers while the rest starts and /ready says what it waits for.
        let endpoint = start_endpoint(&config, &mut tasks).await?;
        let keeper = match &config.keeper_client {
            Some(client) => Some(start_keeper(&config, client, &mut tasks).await?),
            None => None,
        };
        if let Some(k) = &keeper {
            endpoint.observed.set_keeper(k.keeper.clone(), k.address);
        }
        Ok(NodeStart { config, tasks, endpoint, keeper, log_dir_locks, keeper_dir_lock })
    }

    /// The running broker, on a node with the broker role.
    pub fn broker(&self) -> Option<&Arc<Broker>> {
        self.broker.as_ref().map(|b| &b.broker)
    }

    /// The Kafka listeners, bound, in the order of `listeners` (none on a keeper-only node).
    pub fn listeners(&self) -> &[BoundListener] {
        self.broker.as_ref().map_or(&[], |b| &b.listeners)
    }

    /// The address the embedded keeper's client port is bound to (keeper role).
    pub fn keeper_address(&self) -> Option<SocketAddr> {
        self.keeper.as_ref().map(|k| k.address)
    }

    /// The address the HTTP endpoint is bound to (`metrics.listener`), if it is on.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.endpoint.address
    }

    /// The node's tasks, to add one ([`NodeTasks::spawn`]) or watch them.
    pub fn tasks(&mut self) -> &mut NodeTasks {
        &mut self.tasks
    }

    /// Waits for the first fatal end of a task ([`NodeTasks::fatal`]).
    pub async fn fatal(&mut self) -> TaskFailure {
        self.tasks.fatal().await
    }

    /// Runs until `stop_requested` resolves (a signal) or a task fails fatally, then shuts the
    /// node down. `Err` if a task failed (before or during the shutdown) or the shutdown did.
    pub async fn run(mut self, stop_requested: impl Future<Output = ()>) -> anyhow::Result<()> {
        let cause = tokio::select! {
            () = stop_requested => None,
            failure = self.tasks.fatal() => Some(failure),
        };
        self.shutdown(cause).await
    }

    /// Shuts the node down in the order the module's doc gives, after a signal (`cause` is
    /// `None`) or a fatal task failure (already logged). Returns the first of: `cause`, the
    /// `LogManager`'s failure to shut down, a task failure during the shutdown.
    pub async fn shutdown(mut self, cause: Option<TaskFailure>) -> anyhow::Result<()> {
        self.tasks.begin_shutdown();
        if let Some(role) = &mut self.broker {
            if cause.is_none() {
                tracing::info!("shutting down: leaving the cluster, then draining connections");
            }
            role.broker.fetchers.shutdown();
            // The registration goes at once: the controller moves leadership away now.
            role.broker.link.close().await;
            self.tasks.signal_shutdown();
            drop(role.connections_open.take());
            let drain = Duration::from_millis(SHUTDOWN_DRAIN_CAP_MS);
            if tokio::time::timeout(drain, role.connections_drained.recv()).await.is_err() {
                tracing::warn!(
                    "connections still open after {} s; shutting down anyway",
                    SHUTDOWN_DRAIN_CAP_MS / 1_000
                );
            }
        } else {
            self.tasks.signal_shutdown();
        }
        self.tasks.stop(Duration::from_millis(TASK_STOP_BOUND_MS)).await;
        if let Some(keeper) = &self.keeper {
            keeper.keeper.shutdown().await;
        }
        // Stops the log loader first (it finishes the log it is on).
        let logs_closed = match &self.broker {
            Some(role) => {
                let broker = role.broker.clone();
                tokio::task::spawn_blocking(move || broker.log_manager().shutdown())
                    .await
                    .context("the log manager's shutdown panicked")
                    .and_then(|closed| closed.context("cannot shut the log manager down"))
            }
            None => Ok(()),
        };
        self.tasks.join_remaining().await;
        let late = self.tasks.take_failure_while_stopping();
        if let (Some(_), Err(e)) = (&cause, &logs_closed) {
            // The cause is what the node ends with; this failure is reported here only.
            tracing::error!(error = %format!("{e:#}"), "the log manager did not shut down cleanly");
        }
        match (cause, logs_closed, late) {
            (Some(failure), _, _) => Err(failure.into()),
            (None, Err(e), _) => Err(e),
            (None, Ok(()), Some(failure)) => Err(failure.into()),
            (None, Ok(()), None) => Ok(()),
        }
    }
}

impl NodeStart {
    /// Whether the node has the broker role (`process.roles`).
    pub fn broker_role(&self) -> bool {
        self.config.broker_role
    }

    /// The address the embedded keeper's client port is bound to (keeper role).
    pub fn keeper_address(&self) -> Option<SocketAddr> {
        self.keeper.as_ref().map(|k| k.address)
    }

    /// A node with the keeper role only: it is running once its keeper is.
    pub fn keeper_only(self) -> anyhow::Result<Node> {
        anyhow::ensure!(!self.config.broker_role, "this node has the broker role: connect it");
        let Some(keeper) = self.keeper else { anyhow::bail!("process.roles names neither broker nor keeper") };
        Ok(Node {
            tasks: self.tasks,
            endpoint: self.endpoint,
            keeper: Some(keeper),
            broker: None,
            _keeper_dir_lock: self.keeper_dir_lock,
        })
    }

    /// Step two (broker role): connects to keeper (the embedded one unless `keeper.connect`
    /// names another), closes the session a crash of the previous run left open, and reads
    /// (or creates) the cluster id.
    pub async fn connect(self) -> anyhow::Result<ConnectedNode> {
        let config = &self.config;
        anyhow::ensure!(config.broker_role, "this node has no broker role");
        let connect = match (&config.keeper_connect, &self.keeper) {
            (Some(c), _) => c.clone(),
            (None, Some(keeper)) => {
                // Over TLS to its own keeper when this broker's keeper client uses TLS.
                let address = match (&config.keeper_connect_tls, keeper.secure_address) {
                    (Some(_), Some(secure)) => secure,
                    _ => keeper.address,
                };
                let host =
                    if address.ip().is_unspecified() { "127.0.0.1".to_string() } else { address.ip().to_string() };
                format!("{host}:{}", address.port())
            }
            (None, None) => anyhow::bail!("a broker needs keeper.connect or the keeper role"),
        };
        let options = sluice_keeper::ClientOptions::kafka(
            config.keeper_connect_auth.as_ref().map(|s| s.expose()),
            config.zookeeper_set_acl,
            crate::config::split_chroot(&connect).1,
        )
        .map_err(|e| anyhow::anyhow!("keeper.connect.auth: {e}"))?;
        let mut options = options;
        if let Some(tls) = &config.keeper_connect_tls {
            options.tls = Some(
                sluice_client::tls::client_config(tls)
                    .map_err(|e| anyhow::anyhow!("zookeeper.ssl.keystore.location/truststore: {e}"))?,
            );
        }
        let link = KeeperLink::new(
            &connect,
            Duration::from_millis(config.keeper_session_timeout_ms),
            config.broker_id,
            Some(config.log_dirs[0].join(KEEPER_SESSION_FILE)),
            config.authorizer.as_ref().map(|a| {
                Arc::new(crate::acl::authorizer::Authorizer::new(
                    a.super_users.clone(),
                    a.allow_everyone_if_no_acl_found,
                ))
            }),
            options,
        );
        // A crash left the previous run's session (and its registration) open: close it rather
        // than wait out its timeout.
        link.close_previous_session().await;
        let client = link.connect(Duration::from_millis(KEEPER_CONNECT_TIMEOUT_MS)).await?;
        let proposed =
            crate::broker::stored_cluster_id(&config.log_dirs[0]).unwrap_or_else(crate::broker::new_cluster_id);
        let cluster_id = link
            .cluster_id(&client, &proposed)
            .await
            .with_context(|| format!("cannot read or create /cluster/id in keeper at {connect}"))?;
        Ok(ConnectedNode { start: self, link, client, cluster_id })
    }
}

impl ConnectedNode {
    /// Step three: opens the log directories, binds the listeners, starts loading the logs in
    /// the background, registers with keeper (waiting for the first registration and full
    /// read of the cluster), and starts the cluster, coordinator and periodic tasks.
    pub async fn start_broker(self) -> anyhow::Result<Node> {
        let ConnectedNode { start, link, client, cluster_id } = self;
        let NodeStart { config, mut tasks, endpoint, keeper, log_dir_locks, keeper_dir_lock } = start;
        let broker = {
            let link = link.clone();
            tokio::task::spawn_blocking(move || Broker::open(config, cluster_id, link, log_dir_locks)).await??
        };
        endpoint.observed.set_broker(broker.clone());

        let (connections_open, connections_drained) = mpsc::channel::<()>(1);
        let mut listeners = Vec::new();
        for listener in &broker.config.listeners {
            let host = if listener.host.is_empty() { "0.0.0.0" } else { listener.host.as_str() };
            let socket = TcpListener::bind((host, listener.port)).await.with_context(|| {
                format!("cannot listen on {}://{}:{} (listeners)", listener.name, host, listener.port)
            })?;
            let bound = socket.local_addr()?;
            let advertised = broker.config.advertised_listeners.iter().find(|a| a.name == listener.name);
            let adv_host = match advertised.map(|a| a.host.as_str()) {
                Some(h) if !h.is_empty() && h != "0.0.0.0" => h.to_string(),
                _ if !listener.host.is_empty() && listener.host != "0.0.0.0" => listener.host.clone(),
                _ => "localhost".to_string(),
            };
            let adv_port = advertised.map(|a| a.port).filter(|&p| p != 0).unwrap_or(bound.port());
            broker.advertised.write().insert(listener.name.clone(), (adv_host.clone(), adv_port));
            tracing::info!(listener = %listener.name, address = %bound, advertised = %format!("{adv_host}:{adv_port}"), "listening");
            tasks.spawn(
                format!("listener {}", listener.name),
                Lifetime::Node,
                Stop::OnSignal,
                crate::server::serve(
                    broker.clone(),
                    socket,
                    listener.name.clone(),
                    tasks.shutdown_signal(),
                    connections_open.clone(),
                ),
            );
            listeners.push(BoundListener { name: listener.name.clone(), bound, advertised: (adv_host, adv_port) });
        }
        // The logs load (and recover) in the background, each served once loaded. Started once
        // the listeners are bound: a failure to bind returns before any log is touched.
        {
            let broker = broker.clone();
            tasks.spawn_blocking("log-loader", Lifetime::Finite, Stop::WithLogManager, move || {
                broker.load_logs().map_err(|e| anyhow::Error::new(e).context("cannot load the logs (log.dirs)"))
            });
        }
        // Register (ephemeral /brokers/ids/<id>), follow the cluster's znodes, then take part.
        let endpoints: Vec<(String, String, u16)> =
            listeners.iter().map(|l| (l.name.clone(), l.advertised.0.clone(), l.advertised.1)).collect();
        let registration =
            BrokerRegistration::new(&endpoints, broker.config.rack.clone(), sluice_storage::SystemClock.now_ms());
        if let Err(e) = crate::cluster::import_legacy_topics(&broker).await {
            tracing::warn!(error = %e, "could not import the single-node topic registry");
        }
        let (ready_tx, mut ready_rx) = tokio::sync::watch::channel(false);
        // Ends by itself once closed (step 2 of the shutdown); aborted with the rest if not.
        tasks.spawn("keeper-link", Lifetime::Node, Stop::Abort, link.clone().run(client, registration, ready_tx));
        tasks.spawn("reconciler", Lifetime::Node, Stop::Abort, crate::cluster::reconciler(broker.clone()));
        tasks.spawn("isr-writer", Lifetime::Node, Stop::Abort, crate::cluster::isr_writer(broker.clone()));
        tasks.spawn("controller", Lifetime::Node, Stop::Abort, crate::cluster::controller::run(broker.clone()));
        tasks.spawn("txn-coordinator", Lifetime::Node, Stop::Abort, crate::txn::coordinator::run(broker.clone()));
        // The replica fetchers and the transactions' marker senders, started as the cluster
        // changes: a panic in one fails the node like a panic in a task above.
        let supervisor = broker.clone();
        tasks.spawn("sub-tasks", Lifetime::Node, Stop::Abort, async move { supervisor.subtasks.supervise().await });
        ready_rx.wait_for(|r| *r).await.context("the keeper link stopped before registering")?;
        // Group membership changes are written to __consumer_offsets in the background. The
        // persister is its own spawned task: this one passes its end (and its panic) on, and
        // aborts it when aborted.
        let persister = AbortOnDrop(crate::group::coordinator::spawn_persister(broker.clone()));
        tasks.spawn("group-persister", Lifetime::Node, Stop::Abort, persister.finished());
        // Group sessions and rebalance deadlines, each when it falls due (a task of its own, so
        // the log maintenance never delays them).
        tasks.spawn("group-timers", Lifetime::Node, Stop::Abort, broker.groups.clone().run_timers());
        tasks.spawn(
            "maintenance",
            Lifetime::Node,
            Stop::OnSignal,
            maintenance(broker.clone(), tasks.shutdown_signal()),
        );
        Ok(Node {
            tasks,
            endpoint,
            keeper,
            broker: Some(BrokerRole {
                broker,
                listeners,
                connections_open: Some(connections_open),
                connections_drained,
            }),
            _keeper_dir_lock: keeper_dir_lock,
        })
    }
}

/// Binds `metrics.listener` and serves the HTTP endpoint on it (a task of the node), if on.
async fn start_endpoint(config: &BrokerConfig, tasks: &mut NodeTasks) -> anyhow::Result<Endpoint> {
    let observed = Arc::new(crate::observe::http::Observed::new(config.broker_role));
    let address = match &config.metrics_listener {
        None => None,
        Some((host, port)) => {
            let socket = TcpListener::bind((host.as_str(), *port)).await.with_context(|| {
                format!("cannot listen on {host}:{port} (metrics.listener; empty turns the HTTP endpoint off)")
            })?;
            let address = socket.local_addr()?;
            let tls = match &config.metrics_tls {
                Some(settings) => Some(Arc::new(
                    crate::tls::TlsListener::new("metrics", settings.clone())
                        .map_err(|e| anyhow::anyhow!("metrics.ssl: {e}"))?,
                )),
                None => None,
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            tracing::info!(%address, scheme, "serving /metrics, /health, /ready and the console (metrics.listener)");
            tasks.spawn(
                "metrics-listener",
                Lifetime::Node,
                Stop::OnSignal,
                crate::observe::http::serve(socket, observed.clone(), tls, tasks.shutdown_signal()),
            );
            Some(address)
        }
    };
    Ok(Endpoint { observed, address })
}

/// Starts this node's keeper: Raft on the peer port (this node's entry in `keeper.servers`)
/// and the ZooKeeper client port, served by a task of the node.
async fn start_keeper(
    config: &BrokerConfig,
    (host, port): &(String, u16),
    tasks: &mut NodeTasks,
) -> anyhow::Result<EmbeddedKeeper> {
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
    let address = socket.local_addr()?;
    let mut keeper_config = config.keeper.clone();
    if let Some(settings) = &config.keeper_ssl_quorum {
        let listener = Arc::new(
            crate::tls::TlsListener::new("keeper-quorum", settings.clone())
                .map_err(|e| anyhow::anyhow!("keeper.ssl.quorum: {e}"))?,
        );
        let connector = settings.client_config().map_err(|e| anyhow::anyhow!("keeper.ssl.quorum: {e}"))?;
        let peer_hosts = settings.verify_hostname.then(|| {
            config
                .keeper
                .servers
                .values()
                .map(|addr| {
                    addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h).trim_matches(['[', ']']).to_string()
                })
                .collect()
        });
        keeper_config.peer_tls = Some(sluice_keeper::tls::PeerTls {
            acceptor: Arc::new(move || listener.acceptor()),
            connector,
            peer_hosts,
        });
    }
    let secure = match &config.keeper_secure_client {
        Some((secure_port, settings)) => {
            let listener = Arc::new(
                crate::tls::TlsListener::new("keeper", settings.clone())
                    .map_err(|e| anyhow::anyhow!("keeper.secure.client.port: {e}"))?,
            );
            let socket = TcpListener::bind((host, *secure_port))
                .await
                .with_context(|| format!("cannot listen on {host}:{secure_port} (keeper.secure.client.port)"))?;
            Some((socket, listener))
        }
        None => None,
    };
    let keeper = sluice_keeper::Keeper::start(keeper_config, peers).await.with_context(|| {
        format!("cannot start the keeper with its data in {} (keeper.data.dir)", config.keeper.data_dir.display())
    })?;
    tracing::info!(address = %address, id = config.keeper.id, servers = config.keeper.servers.len().max(1), "keeper listening (ZooKeeper client protocol)");
    tasks.spawn("keeper-server", Lifetime::Node, Stop::Abort, keeper.clone().serve(socket));
    let secure_address = match secure {
        Some((socket, listener)) => {
            let secure_address = socket.local_addr()?;
            tracing::info!(address = %secure_address, "keeper listening over TLS (keeper.secure.client.port)");
            let acceptor: sluice_keeper::tls::Acceptor = Arc::new(move || listener.acceptor());
            tasks.spawn("keeper-tls-server", Lifetime::Node, Stop::Abort, keeper.clone().serve_tls(socket, acceptor));
            Some(secure_address)
        }
        None => None,
    };
    Ok(EmbeddedKeeper { keeper, address, secure_address })
}

/// The periodic upkeep, until the shutdown signal: log maintenance (roll, retention,
/// checkpoints), the ISR shrink (Kafka checks at half `replica.lag.time.max.ms`), and the
/// expiry of committed offsets (`offsets.retention.check.interval.ms`).
async fn maintenance(broker: Arc<Broker>, mut stop: broadcast::Receiver<()>) {
    let mut log_tick = tokio::time::interval(Duration::from_millis(LOG_MAINTENANCE_INTERVAL_MS));
    let lag_ms = broker.config.replication.lag_time_max_ms;
    let mut isr_tick = tokio::time::interval(Duration::from_millis((lag_ms / 2).max(1)));
    let mut expiry_tick =
        tokio::time::interval(Duration::from_millis(broker.config.offsets_retention_check_interval_ms));
    loop {
        tokio::select! {
            _ = stop.recv() => break,
            _ = log_tick.tick() => {
                let b = broker.clone();
                let _ = tokio::task::spawn_blocking(move || b.log_manager().maintenance()).await;
            }
            _ = isr_tick.tick() => broker.replica_manager.maybe_shrink_isrs(lag_ms),
            _ = expiry_tick.tick() => {
                let expired = broker.groups.expire_offsets();
                crate::group::offsets_log::write_tombstones(broker.group_log(), expired, "offsets.retention.minutes passed").await;
            }
        }
    }
}

/// A task spawned elsewhere, aborted when this is dropped (so that aborting the supervised
/// task that awaits it aborts it too).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl AbortOnDrop {
    /// Waits for the task's end, passing a panic on as a panic of the caller's task.
    async fn finished(mut self) -> anyhow::Result<()> {
        match (&mut self.0).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(anyhow::anyhow!("cancelled: {e}")),
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generous bound on waiting for a task's end to be seen.
    const BOUND: Duration = Duration::from_secs(30);

    /// Panics with `message` (an async block ending in `panic!` would return `!`).
    fn explode(message: &str) {
        panic!("{message}")
    }

    async fn fatal_within_bound(tasks: &mut NodeTasks) -> TaskFailure {
        tokio::time::timeout(BOUND, tasks.fatal()).await.expect("a fatal task end is reported")
    }

    #[tokio::test]
    async fn a_panicking_task_is_fatal_with_its_name_and_message() {
        let mut tasks = NodeTasks::new();
        tasks.spawn("steady", Lifetime::Node, Stop::Abort, std::future::pending::<()>());
        tasks.spawn("doomed", Lifetime::Node, Stop::Abort, async { explode("the reconciler's invariant broke") });
        let failure = fatal_within_bound(&mut tasks).await;
        assert!(
            matches!(&failure, TaskFailure::Panicked { task, message }
            if task == "doomed" && message == "the reconciler's invariant broke"),
            "{failure:?}"
        );
        assert!(failure.to_string().contains("doomed"), "{failure}");
        assert!(tasks.is_running("steady"));
    }

    #[tokio::test]
    async fn a_node_task_that_returns_is_fatal() {
        let mut tasks = NodeTasks::new();
        tasks.spawn("controller", Lifetime::Node, Stop::Abort, async {});
        let failure = fatal_within_bound(&mut tasks).await;
        assert!(matches!(&failure, TaskFailure::Returned { task } if task == "controller"), "{failure:?}");
    }

    #[tokio::test]
    async fn a_finite_task_that_finishes_is_not_fatal() {
        let mut tasks = NodeTasks::new();
        tasks.spawn_blocking("log-loader", Lifetime::Finite, Stop::WithLogManager, || Ok::<(), anyhow::Error>(()));
        let deadline = tokio::time::Instant::now() + BOUND;
        while tasks.is_running("log-loader") {
            assert!(tasks.try_fatal().is_none(), "a finite task finishing is not fatal");
            assert!(tokio::time::Instant::now() < deadline, "the loader's end was never seen");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Nothing left to fail: waiting for a fatal end would wait for ever.
        assert!(tasks.try_fatal().is_none());
    }

    #[tokio::test]
    async fn a_finite_task_that_fails_is_fatal_with_its_error() {
        let mut tasks = NodeTasks::new();
        tasks.spawn_blocking("log-loader", Lifetime::Finite, Stop::WithLogManager, || {
            Err::<(), _>(anyhow::anyhow!("segment 42 is unreadable"))
        });
        let failure = fatal_within_bound(&mut tasks).await;
        assert_eq!(failure.task(), "log-loader");
        assert!(failure.to_string().contains("segment 42 is unreadable"), "{failure}");
    }

    #[tokio::test]
    async fn tasks_ending_during_the_shutdown_are_not_failures_but_a_panic_is() {
        let mut tasks = NodeTasks::new();
        let mut signal = tasks.shutdown_signal();
        tasks.spawn("maintenance", Lifetime::Node, Stop::OnSignal, async move {
            let _ = signal.recv().await;
        });
        tasks.spawn("timers", Lifetime::Node, Stop::Abort, std::future::pending::<()>());
        let mut signal = tasks.shutdown_signal();
        tasks.spawn("clumsy", Lifetime::Node, Stop::OnSignal, async move {
            let _ = signal.recv().await;
            explode("panicked while stopping");
        });
        tasks.begin_shutdown();
        tasks.signal_shutdown();
        tokio::time::timeout(BOUND, tasks.stop(BOUND)).await.expect("the tasks stop");
        assert!(!tasks.is_running("maintenance") && !tasks.is_running("timers") && !tasks.is_running("clumsy"));
        let failure = tasks.take_failure_while_stopping().expect("the panic while stopping is kept");
        assert_eq!(failure.task(), "clumsy");
    }

    #[tokio::test]
    async fn stop_leaves_the_tasks_that_end_with_the_log_manager() {
        let mut tasks = NodeTasks::new();
        let (release, released) = std::sync::mpsc::channel::<()>();
        tasks.spawn_blocking("log-loader", Lifetime::Finite, Stop::WithLogManager, move || {
            released.recv().map_err(|e| anyhow::anyhow!("{e}"))
        });
        tasks.spawn("reconciler", Lifetime::Node, Stop::Abort, std::future::pending::<()>());
        tasks.begin_shutdown();
        tokio::time::timeout(BOUND, tasks.stop(BOUND)).await.expect("stop does not wait for the loader");
        assert!(tasks.is_running("log-loader") && !tasks.is_running("reconciler"));
        release.send(()).expect("the loader waits");
        tokio::time::timeout(BOUND, tasks.join_remaining()).await.expect("the loader ends");
        assert!(tasks.take_failure_while_stopping().is_none());
    }
}
