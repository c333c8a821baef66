//! The keeper embedded in a real `sluiced`, seen by the keeper client: a node killed with
//! kill -9 leaves the client disconnected; restarted, it has everything back from its Raft log
//! (nodes, the session and its ephemeral node) and the client carries on with the same session.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_keeper::{CreateMode, SessionState, ZkClient, ZkError};

const BOUND: Duration = Duration::from_secs(30);

/// A `sluiced` process, killed and reaped on drop (also when a test fails).
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sluiced` with its keeper on `keeper_port` (0: any); returns the child and the
/// keeper's address from the ready file's second line.
fn start(dir: &std::path::Path, keeper_port: u16) -> (Node, String) {
    let ready = dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("sluiced.log")).expect("log");
    let node = Node(
        Command::new(env!("CARGO_BIN_EXE_sluiced"))
            .args(["-o", "listeners=PLAINTEXT://127.0.0.1:0", "-o", "keeper.client.address=127.0.0.1"])
            .args(["-o", "metrics.listener=127.0.0.1:0"])
            .arg("-o")
            .arg(format!("keeper.client.port={keeper_port}"))
            .arg("-o")
            .arg(format!("log.dirs={}", dir.join("data").display()))
            .arg("--ready-file")
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sluiced"),
    );
    let deadline = Instant::now() + BOUND;
    loop {
        if let Ok(text) = std::fs::read_to_string(&ready)
            && let Some(keeper) = text.lines().nth(1)
        {
            return (node, keeper.trim().to_string());
        }
        assert!(Instant::now() < deadline, "sluiced not ready within {BOUND:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keeper_log_survives_kill_9_and_sessions_carry_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut node, keeper) = start(dir.path(), 0);
    let client = ZkClient::connect(&keeper, Duration::from_secs(6)).await.expect("session");
    client.create("/probe", b"", CreateMode::Persistent).await.expect("create");
    client.create("/probe/1", b"me", CreateMode::Ephemeral).await.expect("create ephemeral");
    let mut state = client.state();

    node.0.kill().expect("kill -9");
    node.0.wait().expect("reap");
    tokio::time::timeout(BOUND, state.wait_for(|s| *s == SessionState::Disconnected))
        .await
        .expect("Disconnected within bound")
        .expect("state channel open");
    assert_eq!(client.get_data("/probe").await.map(drop), Err(ZkError::ConnectionLoss));

    let port: u16 = keeper.rsplit(':').next().and_then(|p| p.parse().ok()).expect("keeper port");
    let (_node, _) = start(dir.path(), port);
    tokio::time::timeout(BOUND, state.wait_for(|s| *s == SessionState::Connected))
        .await
        .expect("Connected again within bound")
        .expect("state channel open");
    assert_eq!(client.get_data("/probe/1").await.map(|(data, _)| data), Ok(b"me".to_vec().into()));

    // The restored session ends as any other: dropping the client closes it, and its ephemeral
    // node goes.
    let fresh = ZkClient::connect(&keeper, Duration::from_secs(6)).await.expect("new session");
    drop(client);
    let deadline = Instant::now() + BOUND;
    while fresh.exists("/probe/1").await.expect("exists").is_some() {
        assert!(Instant::now() < deadline, "the dropped session's ephemeral node outlived {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(fresh.exists("/probe").await.expect("exists").is_some());
    fresh.close().await.expect("close");
}
