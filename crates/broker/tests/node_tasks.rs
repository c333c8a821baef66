//! A node's tasks are supervised (issue 19): on a real in-process node (embedded keeper, a
//! listener on loopback, data in a temporary directory), a task injected through the
//! supervisor's API that panics is a fatal error naming the task and its panic message; it
//! starts the node's orderly shutdown, which ends with that error (so `sluiced` exits non-zero)
//! after the listener has closed, the keeper session has been closed, and the `LogManager` has
//! shut down cleanly. A finite task that finishes normally is not fatal.

use std::path::Path;
use std::time::Duration;

use sluice_broker::BrokerConfig;
use sluice_broker::cluster::link::KEEPER_SESSION_FILE;
use sluice_broker::node::{Lifetime, Node, Stop};
use sluice_storage::DirLock;
use sluice_storage::manager::CLEAN_SHUTDOWN_FILE;
use tokio::net::TcpStream;

/// A generous bound on starting the node, and on each wait for a condition.
const BOUND: Duration = Duration::from_secs(60);

/// Starts a single node (broker and keeper) with its data under `dir`, as `sluiced` would.
async fn start_node(dir: &Path) -> anyhow::Result<Node> {
    let overrides = [
        ("listeners", "PLAINTEXT://127.0.0.1:0".to_string()),
        ("keeper.client.address", "127.0.0.1".to_string()),
        ("keeper.client.port", "0".to_string()),
        ("metrics.listener", "127.0.0.1:0".to_string()),
        ("log.dirs", dir.join("data").display().to_string()),
    ];
    let overrides = overrides.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let config = BrokerConfig::load(Vec::new(), overrides, std::iter::empty())?;
    let log_dir_locks =
        config.log_manager.log_dirs.iter().map(|d| DirLock::acquire(d)).collect::<Result<Vec<_>, _>>()?;
    let keeper_dir_lock = DirLock::acquire(&config.keeper.data_dir)?;
    Node::start_keeper(config, log_dir_locks, Some(keeper_dir_lock)).await?.connect().await?.start_broker().await
}

/// Panics with `message` (an async block ending in `panic!` would return `!`).
fn explode(message: &str) {
    panic!("{message}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_fails_the_node_after_an_orderly_shutdown() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log_dir = dir.path().join("data");
    let mut node = tokio::time::timeout(BOUND, start_node(dir.path()))
        .await
        .expect("the node starts within the bound")
        .expect("the node starts");
    let address = node.listeners().first().expect("the node listens").bound;
    drop(TcpStream::connect(address).await.expect("the node accepts connections"));
    assert!(log_dir.join(KEEPER_SESSION_FILE).exists(), "the keeper session is kept while the node runs");

    // A finite task that finishes is seen to end, and is not fatal.
    node.tasks().spawn("one-off", Lifetime::Finite, Stop::Abort, async {});
    let deadline = tokio::time::Instant::now() + BOUND;
    while node.tasks().is_running("one-off") {
        if let Some(failure) = node.tasks().try_fatal() {
            panic!("no task may fail here: {failure}");
        }
        assert!(tokio::time::Instant::now() < deadline, "the one-off task's end was never seen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A task that panics when told to, while the node runs with no stop requested.
    let (trigger, triggered) = tokio::sync::oneshot::channel::<()>();
    node.tasks().spawn("injected", Lifetime::Node, Stop::Abort, async move {
        let _ = triggered.await;
        explode("injected failure");
    });
    let run = tokio::spawn(node.run(std::future::pending()));
    trigger.send(()).expect("the injected task waits for its trigger");
    let outcome = tokio::time::timeout(BOUND * 2, run)
        .await
        .expect("the node shuts down within the bound")
        .expect("running the node does not panic");
    let error = outcome.expect_err("a panicking task fails the node");
    let message = format!("{error:#}");
    assert!(message.contains("task injected panicked: injected failure"), "{message}");

    // The shutdown ran in full.
    assert!(TcpStream::connect(address).await.is_err(), "the listener is closed");
    assert!(!log_dir.join(KEEPER_SESSION_FILE).exists(), "the keeper session was closed");
    assert!(log_dir.join(CLEAN_SHUTDOWN_FILE).exists(), "the log manager shut down cleanly, last");
}

/// A task a component starts while the broker runs (a replica fetcher, a transaction's marker
/// sender) runs under the node's supervision: one that finishes its work is not fatal; one
/// that panics, or stops although it should run until stopped, fails the node, naming it,
/// after the same orderly shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_sub_task_fails_the_node_and_a_finished_one_does_not() {
    use sluice_broker::subtasks::SubTaskEnd;
    for (name, panics) in [("replica-fetcher-9", true), ("txn-completion t", false)] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log_dir = dir.path().join("data");
        let node = tokio::time::timeout(BOUND, start_node(dir.path()))
            .await
            .expect("the node starts within the bound")
            .expect("the node starts");
        let broker = node.broker().expect("a broker node").clone();

        // A sub-task that finishes its work is seen to end and is not fatal.
        let (finished_tx, finished_rx) = tokio::sync::oneshot::channel::<()>();
        broker.subtasks.spawn("one-off sub-task", async move {
            let _ = finished_tx.send(());
            SubTaskEnd::Done
        });
        tokio::time::timeout(BOUND, finished_rx).await.expect("the sub-task runs").expect("it reports");

        let (trigger, triggered) = tokio::sync::oneshot::channel::<()>();
        broker.subtasks.spawn(name, async move {
            let _ = triggered.await;
            if panics {
                explode("injected sub-task failure");
            }
            SubTaskEnd::Unexpected
        });
        let run = tokio::spawn(node.run(std::future::pending()));
        // The one-off sub-task's end has been joined or is queued behind nothing fatal: the node
        // keeps running until the trigger.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!run.is_finished(), "a sub-task that finished its work does not stop the node");
        trigger.send(()).expect("the sub-task waits for its trigger");
        let outcome = tokio::time::timeout(BOUND * 2, run)
            .await
            .expect("the node shuts down within the bound")
            .expect("running the node does not panic");
        let message = format!("{:#}", outcome.expect_err("the sub-task's end fails the node"));
        let expected = if panics {
            format!("{name} panicked: injected sub-task failure")
        } else {
            format!("{name} stopped unexpectedly")
        };
        assert!(message.contains("sub-tasks") && message.contains(&expected), "{message}");
        assert!(log_dir.join(CLEAN_SHUTDOWN_FILE).exists(), "the log manager shut down cleanly, last");
    }
}
