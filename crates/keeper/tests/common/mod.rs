//! What the suites run twice (against keeper in process and against Apache ZooKeeper 3.8, from
//! Debian's `zookeeper` package, which scripts/test installs) share: starting each server on a
//! loopback port, and connecting to it within a bound.
#![allow(dead_code)] // each suite uses its own part

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_keeper::{ClientOptions, Keeper, KeeperConfig, ZkClient};

pub const BOUND: Duration = Duration::from_secs(30);
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// A one-node keeper in process; its client address.
pub async fn keeper() -> String {
    keeper_with(|_| {}).await
}

/// A one-node keeper whose configuration `configure` adjusts.
pub async fn keeper_with(configure: impl FnOnce(&mut KeeperConfig)) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let mut config = KeeperConfig::single(dir);
    configure(&mut config);
    let keeper = Keeper::start(config, None).await.expect("keeper starts");
    tokio::spawn(keeper.serve(listener));
    addr.to_string()
}

/// An Apache ZooKeeper server in a temporary directory, killed on drop.
pub struct ZooKeeper {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Apache ZooKeeper on a free loopback port; its client address.
pub fn zookeeper() -> (ZooKeeper, String) {
    zookeeper_with(&[])
}

/// Apache ZooKeeper started with extra JVM system properties (`-Dname=value`).
pub fn zookeeper_with(properties: &[&str]) -> (ZooKeeper, String) {
    assert!(
        std::path::Path::new(ZOOKEEPER_JAR).exists(),
        "{ZOOKEEPER_JAR} missing: scripts/test installs Debian's zookeeper package"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write zoo.cfg");
    let child = Command::new("java")
        .args(properties.iter().map(|p| format!("-D{p}")))
        .arg("-cp")
        .arg(format!("/etc/zookeeper/conf:{ZOOKEEPER_JAR}"))
        .arg(format!("-Dzookeeper.log.dir={}", dir.path().display()))
        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Apache ZooKeeper (java)");
    (ZooKeeper { child, _dir: dir }, format!("127.0.0.1:{port}"))
}

/// A session with `servers`, retried for up to 60 s while the server starts.
pub async fn connect(servers: &str) -> ZkClient {
    connect_with(servers, ClientOptions::default()).await
}

pub async fn connect_with(servers: &str, options: ClientOptions) -> ZkClient {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match ZkClient::connect_with(servers, Duration::from_secs(10), options.clone()).await {
            Ok(c) => return c,
            Err(e) => assert!(Instant::now() < deadline, "no session with {servers} within 60 s: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.unwrap_or_else(|_| panic!("{what} not within {BOUND:?}"))
}
