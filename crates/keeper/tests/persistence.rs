//! A keeper node restarted from its data directory: the znodes, their `Stat`s and the zxid come
//! back from the snapshot plus the Raft log after it, with snapshots taken (and the log purged
//! behind them) along the way.

use std::time::{Duration, Instant};

use sluice_keeper::{CreateMode, Keeper, KeeperConfig, ZkClient};
use tokio::net::TcpListener;

const BOUND: Duration = Duration::from_secs(30);

async fn start(dir: &std::path::Path) -> (std::sync::Arc<Keeper>, tokio::task::JoinHandle<()>, String) {
    let config = KeeperConfig { snapshot_entries: 20, ..KeeperConfig::single(dir) };
    let keeper = Keeper::start(config, None).await.expect("keeper starts");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound address").to_string();
    let serving = tokio::spawn(keeper.clone().serve(listener));
    (keeper, serving, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_has_its_snapshot_and_log_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (keeper, serving, addr) = start(dir.path()).await;
    let zk = ZkClient::connect(&addr, Duration::from_secs(10)).await.expect("session");
    zk.create("/app", b"", CreateMode::Persistent).await.expect("create");
    for i in 0..100 {
        zk.create(&format!("/app/n{i}"), format!("v{i}").as_bytes(), CreateMode::Persistent).await.expect("create");
    }
    zk.set_data("/app/n7", b"changed", 0).await.expect("set");
    let before = zk.exists("/app/n7").await.expect("exists").expect("present");
    // Sequential writes are one log entry each: well past 20, so snapshots were taken and the
    // log purged behind them.
    let deadline = Instant::now() + BOUND;
    while !(dir.path().join("snapshot").exists() && dir.path().join("purged").exists()) {
        assert!(Instant::now() < deadline, "no snapshot within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(zk);
    serving.abort();
    keeper.shutdown().await;
    drop(keeper);

    let (_keeper, _serving, addr) = start(dir.path()).await;
    let zk = ZkClient::connect(&addr, Duration::from_secs(10)).await.expect("session after restart");
    let children = zk.get_children("/app").await.expect("children");
    assert_eq!(children.len(), 100);
    let (data, stat) = zk.get_data("/app/n7").await.expect("get");
    assert_eq!(&data[..], b"changed");
    assert_eq!(stat, before, "the Stat is restored exactly");
    assert_eq!(&zk.get_data("/app/n99").await.expect("get").0[..], b"v99");
    // New writes carry on from the restored zxid.
    let created = zk.create("/after", b"", CreateMode::Persistent).await.expect("create");
    assert_eq!(created, "/after");
    let after = zk.exists("/after").await.expect("exists").expect("present");
    assert!(after.czxid > before.mzxid, "zxid went back: {} after {}", after.czxid, before.mzxid);
    zk.close().await.expect("close");
}
