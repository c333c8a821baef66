//! Clusters of real `sluiced` processes for tests: keeper nodes (one, or a Raft ensemble) and
//! brokers, on loopback, each in its own temporary directory with its own log file.
//!
//! Every process binds port 0 where it can and reports its address in its ready file; a node
//! counts as up once a request to it succeeds (a Kafka Metadata request for a broker, the
//! `ruok` four-letter word for a keeper), never after a sleep. A restarted node keeps its
//! address, so bootstrap lists stay valid. Nodes can be killed with SIGKILL, stopped with
//! SIGTERM, paused with SIGSTOP and resumed with SIGCONT.
//!
//! When the test panics, the cluster's directory is kept and its path and every node's log
//! tail are printed; otherwise everything is removed. All processes are killed on drop.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sluice_client::{Client, ClientConfig};

/// How long a node may take to become ready.
pub const READY_BOUND: Duration = Duration::from_secs(60);

/// How many bytes of each log a failed test prints.
const LOG_TAIL_BYTES: usize = 6_000;

/// One `sluiced` process: its arguments, directory and, while running, the child.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    binary: PathBuf,
    args: Vec<String>,
    pub dir: PathBuf,
    child: Option<Child>,
    paused: bool,
    /// The address the node serves clients on (Kafka for a broker, keeper's client port for a
    /// keeper), known once it has started.
    pub address: Option<String>,
}

impl Node {
    fn new(name: String, binary: &Path, dir: PathBuf, args: Vec<String>) -> Node {
        Node { name, binary: binary.to_path_buf(), args, dir, child: None, paused: false, address: None }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("sluiced.log")
    }

    /// The last bytes of the node's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read(self.log_path()).unwrap_or_default();
        let from = text.len().saturating_sub(LOG_TAIL_BYTES);
        String::from_utf8_lossy(&text[from..]).into_owned()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Spawns the process and waits for its ready file (not yet for a request to succeed).
    fn spawn(&mut self) -> anyhow::Result<Vec<String>> {
        std::fs::create_dir_all(&self.dir)?;
        let ready = self.dir.join("ready");
        let _ = std::fs::remove_file(&ready);
        let log = OpenOptions::new().create(true).append(true).open(self.log_path())?;
        // A restart keeps the port the first start was given (port 0 in the arguments).
        let port = self.address.as_deref().and_then(|a| a.rsplit(':').next()).map(str::to_string);
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| match &port {
                Some(port) if a.starts_with("listeners=") || a.starts_with("keeper.client.port=") => {
                    match a.strip_suffix(":0").or_else(|| a.strip_suffix("=0")) {
                        Some(prefix) => format!("{prefix}{}{port}", &a[prefix.len()..prefix.len() + 1]),
                        None => a.clone(),
                    }
                }
                _ => a.clone(),
            })
            .collect();
        // The HTTP endpoint on a free port (several nodes run side by side); the node's own
        // arguments come after it and may set metrics.listener themselves.
        let child = Command::new(&self.binary)
            .args(["-o", "metrics.listener=127.0.0.1:0"])
            .args(args.iter().flat_map(|a| ["-o", a.as_str()]))
            .arg("--ready-file")
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        self.child = Some(child);
        self.paused = false;
        let deadline = Instant::now() + READY_BOUND;
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && text.ends_with('\n')
            {
                return Ok(text.lines().map(|l| l.trim().to_string()).collect());
            }
            if !self.is_running() {
                bail!("{} exited before it was ready:\n{}", self.name, self.log_tail());
            }
            if Instant::now() > deadline {
                bail!("{} not ready within {READY_BOUND:?}:\n{}", self.name, self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&mut self, signal: libc::c_int) -> anyhow::Result<()> {
        let Some(pid) = self.pid() else { bail!("{} is not running", self.name) };
        // SAFETY: kill(2) with the pid of a child this struct owns and has not reaped.
        let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
        if rc != 0 {
            bail!("signalling {}: {}", self.name, std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// kill -9, and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// SIGTERM (a clean shutdown), waiting up to `READY_BOUND` before SIGKILL.
    pub fn stop(&mut self) {
        if self.paused {
            let _ = self.signal(libc::SIGCONT);
        }
        if self.signal(libc::SIGTERM).is_ok() {
            let deadline = Instant::now() + READY_BOUND;
            while self.is_running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    /// SIGSTOP: the process stays, frozen (a "zombie" to its peers).
    pub fn pause(&mut self) -> anyhow::Result<()> {
        self.signal(libc::SIGSTOP)?;
        self.paused = true;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        self.signal(libc::SIGCONT)?;
        self.paused = false;
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.paused {
            let _ = self.signal(libc::SIGCONT);
        }
        self.kill();
    }
}

/// What to build: how many keepers and brokers, and config for each.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    binary: PathBuf,
    keepers: usize,
    brokers: usize,
    keeper_config: Vec<String>,
    broker_config: Vec<String>,
}

impl ClusterBuilder {
    /// A cluster of `sluiced` at `binary` (in a test: `env!("CARGO_BIN_EXE_sluiced")`), by
    /// default one keeper node and three brokers.
    pub fn new(binary: impl Into<PathBuf>) -> ClusterBuilder {
        ClusterBuilder {
            binary: binary.into(),
            keepers: 1,
            brokers: 3,
            keeper_config: Vec::new(),
            broker_config: Vec::new(),
        }
    }

    pub fn keepers(mut self, n: usize) -> Self {
        self.keepers = n.max(1);
        self
    }

    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n;
        self
    }

    /// A config key for every keeper node.
    pub fn keeper_config(mut self, key: &str, value: impl ToString) -> Self {
        self.keeper_config.push(format!("{key}={}", value.to_string()));
        self
    }

    /// A config key for every broker (also those added later).
    pub fn broker_config(mut self, key: &str, value: impl ToString) -> Self {
        self.broker_config.push(format!("{key}={}", value.to_string()));
        self
    }

    /// Starts the keepers, then the brokers, and waits until every broker answers and sees
    /// all the others registered.
    pub async fn start(self) -> anyhow::Result<Cluster> {
        let dir = tempfile::Builder::new().prefix("sluice-testkit-").tempdir()?;
        // Raft peers need their addresses up front: reserve free ports for them.
        let peer_ports = free_ports(self.keepers)?;
        let servers: Vec<String> =
            peer_ports.iter().enumerate().map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1)).collect();
        let mut cluster = Cluster {
            dir: Some(dir),
            builder: self.clone(),
            keepers: Vec::new(),
            brokers: BTreeMap::new(),
            keeper_connect: String::new(),
        };
        for i in 0..self.keepers {
            let mut args = vec![
                "process.roles=keeper".to_string(),
                "keeper.client.address=127.0.0.1".into(),
                "keeper.client.port=0".into(),
                format!("log.dirs={}", cluster.path().join(format!("keeper{}", i + 1)).join("data").display()),
            ];
            if self.keepers > 1 {
                args.push(format!("keeper.id={}", i + 1));
                args.push(format!("keeper.servers={}", servers.join(",")));
            }
            args.extend(self.keeper_config.iter().cloned());
            let node = Node::new(
                format!("keeper{}", i + 1),
                &self.binary,
                cluster.path().join(format!("keeper{}", i + 1)),
                args,
            );
            cluster.keepers.push(node);
        }
        // Ensemble members wait for each other to form a quorum: start them all, then wait.
        let mut addresses = Vec::new();
        for k in &mut cluster.keepers {
            let lines = k.spawn()?;
            let address = lines.first().context("a keeper ready file names its address")?.clone();
            k.address = Some(address.clone());
            addresses.push(address);
        }
        for a in &addresses {
            wait_for_keeper(a).await?;
        }
        cluster.keeper_connect = addresses.join(",");
        for id in 1..=self.brokers as i32 {
            cluster.add_broker_process(id)?;
        }
        let ids: Vec<i32> = cluster.brokers.keys().copied().collect();
        for id in &ids {
            cluster.wait_for_broker(*id).await?;
        }
        Ok(cluster)
    }
}

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: Option<tempfile::TempDir>,
    builder: ClusterBuilder,
    pub keepers: Vec<Node>,
    pub brokers: BTreeMap<i32, Node>,
    keeper_connect: String,
}

impl Cluster {
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("the directory lives as long as the cluster").path()
    }

    /// `host:port,...` of every keeper node (the brokers' `keeper.connect`).
    pub fn keeper_connect(&self) -> &str {
        &self.keeper_connect
    }

    /// `host:port,...` of every broker that has started.
    pub fn bootstrap(&self) -> String {
        self.brokers.values().filter_map(|b| b.address.clone()).collect::<Vec<_>>().join(",")
    }

    pub fn broker(&mut self, id: i32) -> &mut Node {
        self.brokers.get_mut(&id).unwrap_or_else(|| panic!("no broker {id} in this cluster"))
    }

    /// A client bootstrapped from every broker.
    pub async fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::connect(ClientConfig::new(&self.bootstrap())).await?)
    }

    fn add_broker_process(&mut self, id: i32) -> anyhow::Result<()> {
        let dir = self.path().join(format!("broker{id}"));
        let mut args = vec![
            "process.roles=broker".to_string(),
            format!("broker.id={id}"),
            format!("keeper.connect={}", self.keeper_connect),
            "listeners=PLAINTEXT://127.0.0.1:0".into(),
            format!("log.dirs={}", dir.join("data").display()),
        ];
        args.extend(self.builder.broker_config.iter().cloned());
        let mut node = Node::new(format!("broker{id}"), &self.builder.binary, dir, args);
        let lines = node.spawn()?;
        node.address = Some(lines.first().context("a broker ready file names its address")?.clone());
        self.brokers.insert(id, node);
        Ok(())
    }

    /// Starts one more broker (the next id) and waits until it answers; returns its id.
    pub async fn add_broker(&mut self) -> anyhow::Result<i32> {
        let id = self.brokers.keys().max().copied().unwrap_or(0) + 1;
        self.add_broker_process(id)?;
        self.wait_for_broker(id).await?;
        Ok(id)
    }

    /// Restarts a killed or stopped broker at its old address and waits until it answers.
    pub async fn restart_broker(&mut self, id: i32) -> anyhow::Result<()> {
        let node = self.broker(id);
        node.kill();
        node.spawn()?;
        self.wait_for_broker(id).await
    }

    /// Restarts a keeper node at its old address and waits until it answers.
    pub async fn restart_keeper(&mut self, index: usize) -> anyhow::Result<()> {
        let node = &mut self.keepers[index];
        node.kill();
        node.spawn()?;
        let address = node.address.clone().context("a started keeper has an address")?;
        wait_for_keeper(&address).await
    }

    /// Waits until the broker answers a Metadata request that lists every running broker.
    pub async fn wait_for_broker(&mut self, id: i32) -> anyhow::Result<()> {
        let address = self.broker(id).address.clone().context("the broker has started")?;
        let expected: Vec<i32> = self.brokers.iter_mut().filter_map(|(id, b)| b.is_running().then_some(*id)).collect();
        let deadline = Instant::now() + READY_BOUND;
        let mut last = String::new();
        while Instant::now() < deadline {
            match Client::connect(ClientConfig::new(&address)).await {
                Ok(client) => match client.refresh_metadata(Some(&[])).await {
                    Ok(md) if expected.iter().all(|b| md.brokers.contains_key(b)) => return Ok(()),
                    Ok(md) => last = format!("sees brokers {:?}", md.brokers.keys().collect::<Vec<_>>()),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("broker {id} not serving within {READY_BOUND:?} ({last}):\n{}", self.broker(id).log_tail())
    }

    /// The index of the keeper node that is the Raft leader (`srvr` says `Mode: leader`).
    pub fn keeper_leader(&self) -> Option<usize> {
        self.keepers
            .iter()
            .position(|k| k.address.as_deref().is_some_and(|a| four_letter_word(a, "srvr").contains("Mode: leader")))
    }

    fn dump_logs(&self) {
        eprintln!("--- the cluster's directory is kept: {} ---", self.path().display());
        for n in self.keepers.iter().chain(self.brokers.values()) {
            eprintln!("--- {} ({}) ---\n{}", n.name, n.log_path().display(), n.log_tail());
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.brokers.values_mut().chain(self.keepers.iter_mut()) {
            if n.paused {
                let _ = n.resume();
            }
            n.kill();
        }
        if std::thread::panicking() {
            self.dump_logs();
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
        }
    }
}

/// Reserves `n` free loopback ports (bound and released; the OS rarely hands them out again
/// at once).
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    Ok(listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<Result<_, _>>()?)
}

/// Sends a ZooKeeper four-letter word and returns the answer ("" when there is none).
pub fn four_letter_word(address: &str, word: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(address) else { return String::new() };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(word.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

async fn wait_for_keeper(address: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_BOUND;
    while Instant::now() < deadline {
        if four_letter_word(address, "srvr").contains("Mode: ") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("keeper at {address} not serving within {READY_BOUND:?}")
}
