//! A harness that serves raw request frames to one in-process broker, for the fuzz target
//! `fuzz/fuzz_targets/serve_request.rs` and the stable test `tests/serve_request.rs`: STYLE's
//! "input is never an assertion, and a fuzz target proves it".
//!
//! [`serve_one`] runs a frame (the bytes after the size prefix) through the same two steps as a
//! connection (`server::read_request`, then `server::answer`: the real handlers and encoders)
//! and returns what the connection would do. The broker starts on first use and lives for the
//! process: a single node with its embedded keeper, both on loopback port 0, its data in
//! `$TMPDIR/sluice-fuzz-<pid>` (left behind by a process that ends; the next harness removes the
//! directories of processes gone). `__consumer_offsets` and `__transaction_state` exist before
//! the first frame, so group and transaction requests reach their coordinators.
//!
//! Time is bounded two ways, because handlers long-poll (Fetch up to `max_wait_ms`, JoinGroup
//! for the rebalance, SyncGroup for the leader's assignment): the waits a request asks for are
//! clamped to [`WAIT_CLAMP_MS`] before dispatch ([`clamp_costs`], which also lowers partition
//! counts the broker would accept), and each call is abandoned after [`CALL_BOUND_MS`]
//! ([`Served::TimedOut`]). A real connection never abandons a handler; that a dropped handler
//! future leaves consistent state is part of what is exercised.
//!
//! The node starts as `sluiced` starts one, through `crate::node` (the same tasks, by the same
//! code), and is watched as `sluiced` watches it, but never shut down. A panic on a broker
//! thread (a spawned task, not only the handler) is a finding: a panic hook counts them, and
//! the next [`serve_one`] panics on the caller's thread, where a fuzzer or a test sees it. So
//! is a task of the node that ends (`node::TaskFailure`), panic or not.
//!
//! No Kafka counterpart. Rejected: driving a `sluiced` process over TCP, which hides a panic in
//! a child process and costs a socket round trip per input.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use sluice_protocol::api::Request;
use sluice_storage::DirLock;

use crate::broker::Broker;
use crate::cluster::MAX_PARTITIONS_PER_ASSIGNMENT;
use crate::config::BrokerConfig;
use crate::node::Node;
use crate::server::{self, Answer, Refusal};

/// The longest wait a request may ask for (Fetch `max_wait_ms`, the `timeout_ms` of Produce and
/// the admin requests, JoinGroup's session and rebalance timeouts): longer waits are clamped.
pub const WAIT_CLAMP_MS: i32 = 200;

/// The most partitions a topic creation or increase served here makes: a legitimate request for
/// thousands costs seconds and disk on every run, and the harness's broker lives long.
pub const PARTITIONS_CLAMP: i32 = 16;

/// A call still running after this long is abandoned and reported as [`Served::TimedOut`].
pub const CALL_BOUND_MS: u64 = 10_000;

/// How long the broker may take to start (keeper, registration, the internal topics).
const START_BOUND_MS: u64 = 60_000;

/// Name of the harness's listener, the one its requests arrive on.
const LISTENER: &str = "PLAINTEXT";

/// The client address handlers see (DescribeGroups reports it as the member's host).
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000);

/// Prefix of the data directories, followed by the process id.
const DIR_PREFIX: &str = "sluice-fuzz-";

/// Name of the broker's runtime threads; a panic on one of them is counted.
const THREAD_NAME: &str = "sluice-fuzz-broker";

/// Panics seen on the broker's threads since the harness started.
static BROKER_PANICS: AtomicUsize = AtomicUsize::new(0);

/// The first fatal end of a task of the harness's node, as its message.
static NODE_FAILURE: OnceLock<String> = OnceLock::new();

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// What the connection does with a frame.
#[derive(Debug)]
pub enum Served {
    /// It writes this response frame (size prefix included), which answers `correlation_id`.
    Response { correlation_id: i32, frame: BytesMut },
    /// It writes nothing (Produce with `acks=0`).
    Silent,
    /// It closes the connection.
    Closed(Refusal),
    /// The handler was still running after [`CALL_BOUND_MS`].
    TimedOut,
}

/// Serves one request frame (the bytes after the size prefix) to the process's broker, starting
/// it first if needed. Panics only on a finding: a panic in a handler or a broker task, or a
/// response frame whose size prefix or correlation id is wrong.
pub fn serve_one(frame: &[u8]) -> Served {
    let harness = HARNESS.get_or_init(|| Harness::start().expect("the fuzzing harness's broker starts"));
    let served = harness.serve(frame);
    let panics = BROKER_PANICS.load(Ordering::SeqCst);
    assert_eq!(panics, 0, "{panics} panic(s) on a broker thread (message above)");
    if let Some(failure) = NODE_FAILURE.get() {
        panic!("a task of the harness's node stopped: {failure}");
    }
    served
}

/// The port the harness's Kafka listener is bound to, for pointing a real client at it.
pub fn bound_port() -> u16 {
    HARNESS.get_or_init(|| Harness::start().expect("the fuzzing harness's broker starts")).port
}

/// Lowers what `request` may cost the harness, keeping every value the broker must refuse: each
/// wait it asks for to [`WAIT_CLAMP_MS`], and a partition count the broker would create (up to
/// `cluster::MAX_PARTITIONS_PER_ASSIGNMENT`) to [`PARTITIONS_CLAMP`]. Values below the clamps,
/// negative ones included, and counts above the broker's limit stay as sent.
pub fn clamp_costs(request: &mut Request) {
    let clamp = |ms: &mut i32| *ms = (*ms).min(WAIT_CLAMP_MS);
    let partitions = |count: &mut i32| {
        if (PARTITIONS_CLAMP..=MAX_PARTITIONS_PER_ASSIGNMENT).contains(count) {
            *count = PARTITIONS_CLAMP;
        }
    };
    match request {
        Request::Produce(r) => clamp(&mut r.timeout_ms),
        Request::Fetch(r) => clamp(&mut r.max_wait_ms),
        Request::CreateTopics(r) => {
            clamp(&mut r.timeout_ms);
            r.topics.iter_mut().for_each(|t| partitions(&mut t.num_partitions));
        }
        Request::DeleteTopics(r) => clamp(&mut r.timeout_ms),
        Request::DeleteRecords(r) => clamp(&mut r.timeout_ms),
        Request::CreatePartitions(r) => {
            clamp(&mut r.timeout_ms);
            r.topics.iter_mut().for_each(|t| partitions(&mut t.count));
        }
        Request::AlterPartitionReassignments(r) => clamp(&mut r.timeout_ms),
        Request::JoinGroup(r) => {
            clamp(&mut r.session_timeout_ms);
            clamp(&mut r.rebalance_timeout_ms);
        }
        _ => {}
    }
}

/// The anonymous session every fuzzed request comes from.
fn session() -> crate::acl::authorizer::Session {
    crate::acl::authorizer::Session { principal: crate::acl::ANONYMOUS.to_string(), host: PEER.ip() }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    broker: Arc<Broker>,
    port: u16,
}

impl Harness {
    fn serve(&self, frame: &[u8]) -> Served {
        // Every request header opens with api_key (2 bytes), api_version (2), correlation_id (4).
        let sent_correlation = frame.get(4..8).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let answer = match server::read_request(Bytes::copy_from_slice(frame)) {
            Ok((header, mut request)) => {
                clamp_costs(&mut request);
                let session = session();
                let call = server::answer(&self.broker, LISTENER, PEER, &session, header, request);
                // The timer must be made inside the runtime.
                let bounded = async { tokio::time::timeout(Duration::from_millis(CALL_BOUND_MS), call).await };
                match self.runtime.block_on(bounded) {
                    Ok(answer) => answer,
                    Err(_) => return Served::TimedOut,
                }
            }
            Err(answer) => answer,
        };
        match answer {
            Answer::Respond(frame) => {
                let response = frame.to_bytes().expect("the harness's segment files stay whole");
                assert!(response.len() >= 8, "a response frame of {} bytes has no correlation id", response.len());
                let size = i32::from_be_bytes([response[0], response[1], response[2], response[3]]);
                assert_eq!(size as usize, response.len() - 4, "the size prefix counts the frame's bytes");
                let correlation_id = i32::from_be_bytes([response[4], response[5], response[6], response[7]]);
                assert_eq!(Some(correlation_id), sent_correlation, "the response answers the request's correlation id");
                Served::Response { correlation_id, frame: response }
            }
            Answer::Silent(_) => Served::Silent,
            Answer::Close(refusal) => Served::Closed(refusal),
        }
    }

    fn start() -> anyhow::Result<Harness> {
        count_broker_panics();
        let dir = data_dir()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()
            .context("cannot start the harness's runtime")?;
        let mut node = runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(START_BOUND_MS), start_node(&dir))
                .await
                .map_err(|_| anyhow::anyhow!("the harness's broker did not start within {START_BOUND_MS} ms"))?
        })?;
        let broker = node.broker().context("the harness's node has the broker role")?.clone();
        let port = node.listeners().first().context("the harness's node listens")?.bound.port();
        // The node lives in its watcher for the process's life (its tasks and the listener with
        // it): a task's end is recorded for `serve_one`, and the node is kept, never shut down.
        runtime.spawn(async move {
            let failure = node.fatal().await;
            let _ = NODE_FAILURE.set(failure.to_string());
            std::future::pending::<()>().await;
            drop(node);
        });
        Ok(Harness { runtime, broker, port })
    }
}

/// Counts panics on the broker's threads, then runs the hook that was installed before (the
/// default one prints the message; libFuzzer's aborts).
fn count_broker_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some(THREAD_NAME) {
            BROKER_PANICS.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
}

/// A fresh `$TMPDIR/sluice-fuzz-<pid>`, after removing those of processes that have ended.
fn data_dir() -> anyhow::Result<PathBuf> {
    let tmp = std::env::temp_dir();
    // Without /proc a process's liveness is unknown: leave every directory alone.
    if Path::new("/proc/self").exists()
        && let Ok(entries) = std::fs::read_dir(&tmp)
    {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)).and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new("/proc").join(pid.to_string()).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = tmp.join(format!("{DIR_PREFIX}{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Starts keeper and the broker as `sluiced` does, through `crate::node`.
async fn start_node(dir: &Path) -> anyhow::Result<Node> {
    let overrides = [
        ("listeners", "PLAINTEXT://127.0.0.1:0".to_string()),
        ("keeper.client.address", "127.0.0.1".to_string()),
        ("keeper.client.port", "0".to_string()),
        // No HTTP endpoint: the harness runs beside other brokers (and the tests in parallel).
        ("metrics.listener", String::new()),
        ("log.dirs", dir.join("data").display().to_string()),
        // Joins complete on the next tick rather than after Kafka's 3 s delay.
        ("group.initial.rebalance.delay.ms", "0".to_string()),
        // Session timeouts are clamped to WAIT_CLAMP_MS: let the group accept them.
        ("group.min.session.timeout.ms", "0".to_string()),
    ];
    let overrides = overrides.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    // No environment: a SLUICE_* variable of the caller's must not change the harness.
    let config = BrokerConfig::load(Vec::new(), overrides, std::iter::empty())?;
    let log_dir_locks =
        config.log_manager.log_dirs.iter().map(|d| DirLock::acquire(d)).collect::<Result<Vec<_>, _>>()?;
    let keeper_dir_lock = DirLock::acquire(&config.keeper.data_dir)?;
    let node =
        Node::start_keeper(config, log_dir_locks, Some(keeper_dir_lock)).await?.connect().await?.start_broker().await?;
    let broker = node.broker().context("the harness's node has the broker role")?;
    // The internal topics a client's first group or transactional request would create, so
    // that inputs reach the coordinators instead of COORDINATOR_NOT_AVAILABLE.
    crate::group::offsets_log::ensure_topic(broker.group_log())
        .await
        .map_err(|e| anyhow::anyhow!("cannot create __consumer_offsets: {}", e.name()))?;
    crate::txn::log::ensure_topic(broker.txn_handle())
        .await
        .map_err(|e| anyhow::anyhow!("cannot create __transaction_state: {}", e.name()))?;
    Ok(node)
}
