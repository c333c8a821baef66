//! The keeper embedded in a real `sluiced`, seen by the keeper client: a node killed with
//! kill -9 leaves the client disconnected, and the node restarted (its keeper holds sessions
//! in memory until Raft persistence lands) tells the client its session expired.

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
async fn a_client_sees_disconnection_then_expiry_across_a_node_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut node, keeper) = start(dir.path(), 0);
    let client = ZkClient::connect(&keeper, Duration::from_secs(6)).await.expect("session");
    client.create("/brokers", b"", CreateMode::Persistent).await.expect("create");
    let mut state = client.state();

    node.0.kill().expect("kill -9");
    node.0.wait().expect("reap");
    tokio::time::timeout(BOUND, state.wait_for(|s| *s == SessionState::Disconnected))
        .await
        .expect("Disconnected within bound")
        .expect("state channel open");
    assert_eq!(client.get_data("/brokers").await.map(drop), Err(ZkError::ConnectionLoss));

    let port: u16 = keeper.rsplit(':').next().and_then(|p| p.parse().ok()).expect("keeper port");
    let (_node, _) = start(dir.path(), port);
    tokio::time::timeout(BOUND, state.wait_for(|s| *s == SessionState::Expired))
        .await
        .expect("Expired within bound")
        .expect("state channel open");
    assert_eq!(client.get_data("/brokers").await.map(drop), Err(ZkError::SessionExpired));

    // A new session works against the restarted node.
    let fresh = ZkClient::connect(&keeper, Duration::from_secs(6)).await.expect("new session");
    assert_eq!(fresh.exists("/").await.map(|s| s.is_some()), Ok(true));
    fresh.close().await.expect("close");
}
