//! The read-only web console on `metrics.listener`: a page at `/` (HTML, one script, one style
//! sheet, all compiled into the binary: nothing is fetched from elsewhere) and the JSON it reads
//! under `/api/v1/`.
//!
//! The console is a Kafka client of its own cluster: it reads what any client could (Metadata,
//! ListOffsets, ListGroups, DescribeGroups, OffsetFetch, DescribeConfigs, Fetch) through
//! [`sluice_client`], connected to this broker's inter-broker listener with the inter-broker
//! credentials, so every broker shows the whole cluster and no view can disagree with what
//! clients are told. It writes nothing. The keeper nodes are asked with the four-letter word
//! `mntr`, as ZooKeeper's own tools do.
//!
//! What the API serves:
//! - `cluster`: brokers (up, or down: named by a replica set but not registered), the
//!   controller, the keeper nodes and their roles, partition counts and problems;
//! - `topics`, `topics/<name>`: partitions with leader, replicas, ISR, log start and end, and
//!   the topic's configs;
//! - `groups`, `groups/<id>`: state, members and their assignments, committed offsets and lag;
//! - `messages?topic=&partition=&offset=&limit=`: up to [`BROWSE_MAX_RECORDS`] records of one
//!   partition from an offset (`earliest`, `latest` for the last ones, or a number), keys, values
//!   and headers in base64, each cut at [`BROWSE_FIELD_MAX_BYTES`].
//!
//! Every answer is bounded in time ([`CONSOLE_REQUEST_TIMEOUT_MS`]) and size.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};
use sluice_client::consumer::{ConsumerConfig, StartOffset};
use sluice_client::{Client, ClientConfig, ClusterMetadata, Consumer, ConsumerRecord};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::broker::Broker;

/// How long one API answer may take, every request to the cluster included.
pub const CONSOLE_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// How long a keeper node has to answer `mntr`.
pub const KEEPER_PROBE_TIMEOUT_MS: u64 = 1_000;
/// The most of a keeper's `mntr` answer read.
const KEEPER_PROBE_MAX_BYTES: u64 = 64 * 1024;
/// The most records the message browser returns at once.
pub const BROWSE_MAX_RECORDS: usize = 100;
/// The most bytes one browser read fetches from the partition.
pub const BROWSE_FETCH_MAX_BYTES: i32 = 4 * 1024 * 1024;
/// How far back `offset=latest` looks for its records, in multiples of the records asked for.
pub const BROWSE_LATEST_SCAN_FACTOR: i64 = 64;
/// A key, value or header value longer than this is cut (and marked so) in the browser.
pub const BROWSE_FIELD_MAX_BYTES: usize = 16 * 1024;
/// The most groups whose members and lag the group list reads (more are listed by name only).
pub const CONSOLE_MAX_GROUPS_DESCRIBED: usize = 500;
/// ListOffsets' timestamps for the log start and end.
const EARLIEST: i64 = -2;
const LATEST: i64 = -1;

/// The page, its script and its style sheet.
pub const INDEX_HTML: &str = include_str!("../../console/index.html");
pub const APP_JS: &str = include_str!("../../console/app.js");
pub const STYLE_CSS: &str = include_str!("../../console/style.css");

/// An API answer: its status and JSON body.
pub type Answer = (StatusCode, Value);

fn failed(status: StatusCode, message: impl std::fmt::Display) -> Answer {
    (status, json!({ "error": message.to_string() }))
}

/// The console's connection to the cluster, made on first use and kept.
#[derive(Debug, Default)]
pub struct Console {
    client: tokio::sync::Mutex<Option<Client>>,
    /// Every broker this console has seen registered, so one that is down shows as down even
    /// when no replica set names it.
    seen: parking_lot::Mutex<BTreeSet<i32>>,
}

impl Console {
    async fn client(&self, broker: &Broker) -> Result<Client, Answer> {
        let mut held = self.client.lock().await;
        if let Some(c) = held.as_ref() {
            return Ok(c.clone());
        }
        let me = broker.config.broker_id;
        let listener = &broker.config.inter_broker_listener;
        let (host, port) = broker
            .link
            .cache
            .read(|v| v.brokers.get(&me).and_then(|r| r.endpoint(listener)))
            .ok_or_else(|| failed(StatusCode::SERVICE_UNAVAILABLE, format!("broker {me} is not registered yet")))?;
        let security = &broker.config.inter_broker_security;
        let mut config = ClientConfig::new(&format!("{host}:{port}"));
        config.client_id = format!("console-{me}");
        config.connect_timeout = Duration::from_millis(CONSOLE_REQUEST_TIMEOUT_MS / 2);
        config.request_timeout = Duration::from_millis(CONSOLE_REQUEST_TIMEOUT_MS);
        config.tls = security.tls.clone();
        config.sasl = security.sasl.clone();
        let client = Client::connect(config)
            .await
            .map_err(|e| failed(StatusCode::BAD_GATEWAY, format!("cannot reach the cluster: {e}")))?;
        *held = Some(client.clone());
        Ok(client)
    }

    /// Answers `GET /api/v1/<path>?<query>`.
    pub async fn api(
        &self,
        broker: Option<&Broker>,
        keeper: Option<(&sluice_keeper::Keeper, std::net::SocketAddr)>,
        path: &str,
        query: &str,
    ) -> Answer {
        let Some(broker) = broker else {
            return failed(StatusCode::SERVICE_UNAVAILABLE, "this node is a keeper only: brokers serve the console");
        };
        let work = async {
            let client = self.client(broker).await?;
            let segments: Vec<String> = path.split('/').map(percent_decode).collect::<Result<_, _>>()?;
            match segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                ["cluster"] => self.cluster(broker, keeper, &client).await,
                ["topics"] => topics(&client).await,
                ["topics", name] => topic(&client, name).await,
                ["groups"] => groups(&client).await,
                ["groups", id] => group(&client, id).await,
                ["messages"] => messages(&client, &parse_query(query)?).await,
                _ => Err(failed(StatusCode::NOT_FOUND, format!("no API at /api/v1/{path}"))),
            }
        };
        match tokio::time::timeout(Duration::from_millis(CONSOLE_REQUEST_TIMEOUT_MS), work).await {
            Ok(Ok(body)) => (StatusCode::OK, body),
            Ok(Err(answer)) => answer,
            Err(_) => failed(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the cluster did not answer within {CONSOLE_REQUEST_TIMEOUT_MS} ms"),
            ),
        }
    }

    async fn cluster(
        &self,
        broker: &Broker,
        keeper: Option<(&sluice_keeper::Keeper, std::net::SocketAddr)>,
        client: &Client,
    ) -> Result<Value, Answer> {
        let md = metadata(client).await?;
        let down = down_brokers(&md, &self.seen);
        let (mut leaders, mut replicas) = (BTreeMap::<i32, usize>::new(), BTreeMap::<i32, usize>::new());
        let (mut partitions, mut under_replicated, mut offline) = (0, 0, 0);
        for p in md.topics.values().flat_map(|t| &t.partitions) {
            partitions += 1;
            *leaders.entry(p.leader).or_default() += 1;
            for r in &p.replicas {
                *replicas.entry(*r).or_default() += 1;
            }
            match partition_status(p, &md) {
                "offline" => offline += 1,
                "under-replicated" => under_replicated += 1,
                _ => {}
            }
        }
        let mut brokers: Vec<Value> = md
            .brokers
            .values()
            .map(|b| {
                json!({"id": b.id, "host": b.host, "port": b.port, "rack": b.rack, "status": "up",
                       "leaders": leaders.get(&b.id).copied().unwrap_or(0),
                       "replicas": replicas.get(&b.id).copied().unwrap_or(0)})
            })
            .collect();
        brokers.extend(down.iter().map(|id| {
            json!({"id": id, "host": null, "port": null, "rack": null, "status": "down", "leaders": 0,
                   "replicas": replicas.get(id).copied().unwrap_or(0)})
        }));
        brokers.sort_by_key(|b| b["id"].as_i64());
        Ok(json!({
            "cluster_id": md.cluster_id,
            "controller": (md.controller_id >= 0).then_some(md.controller_id),
            "this_broker": broker.config.broker_id,
            "brokers": brokers,
            "keepers": keepers(broker, keeper).await,
            "topics": md.topics.len(),
            "partitions": partitions,
            "under_replicated_partitions": under_replicated,
            "offline_partitions": offline,
        }))
    }
}

async fn metadata(client: &Client) -> Result<ClusterMetadata, Answer> {
    client.refresh_metadata(None).await.map_err(|e| failed(StatusCode::BAD_GATEWAY, format!("metadata: {e}")))
}

/// Brokers named by a replica set, or seen before, that are not registered now; remembers the
/// registered ones in `seen`.
fn down_brokers(md: &ClusterMetadata, seen: &parking_lot::Mutex<BTreeSet<i32>>) -> BTreeSet<i32> {
    let mut seen = seen.lock();
    seen.extend(md.brokers.keys());
    let named = md.topics.values().flat_map(|t| &t.partitions).flat_map(|p| &p.replicas);
    named.chain(seen.iter()).filter(|id| !md.brokers.contains_key(id)).copied().collect()
}

/// `offline` (no live leader), `under-replicated` (the ISR lacks a replica) or `ok`.
fn partition_status(p: &sluice_client::PartitionInfo, md: &ClusterMetadata) -> &'static str {
    if p.leader < 0 || !md.brokers.contains_key(&p.leader) {
        "offline"
    } else if p.isr.len() < p.replicas.len() {
        "under-replicated"
    } else {
        "ok"
    }
}

/// Each keeper node's role and figures from its `mntr` answer (the embedded keeper's directly).
async fn keepers(broker: &Broker, keeper: Option<(&sluice_keeper::Keeper, std::net::SocketAddr)>) -> Vec<Value> {
    let Some(connect) = &broker.config.keeper_connect else {
        return keeper
            .map(|(k, address)| {
                let s = k.stats();
                let address = address.to_string();
                vec![json!({"address": address, "state": s.server_state, "znodes": s.znode_count,
                            "connections": s.alive_connections, "embedded": true})]
            })
            .unwrap_or_default();
    };
    // `host:port,...[/chroot]`.
    let hosts = connect.split_once('/').map_or(connect.as_str(), |(h, _)| h);
    let mut probes = tokio::task::JoinSet::new();
    for (i, address) in hosts.split(',').map(str::trim).filter(|a| !a.is_empty()).enumerate() {
        let address = address.to_string();
        probes.spawn(async move { (i, mntr(&address).await, address) });
    }
    let mut found = Vec::new();
    while let Some(Ok((i, answer, address))) = probes.join_next().await {
        let entry = match answer {
            Ok(keys) => json!({"address": address,
                               "state": keys.get("zk_server_state").map_or("unknown", String::as_str),
                               "znodes": keys.get("zk_znode_count").and_then(|v| v.parse::<u64>().ok()),
                               "connections": keys.get("zk_num_alive_connections").and_then(|v| v.parse::<u64>().ok()),
                               "embedded": false}),
            Err(state) => json!({"address": address, "state": state, "znodes": null, "connections": null,
                                 "embedded": false}),
        };
        found.push((i, entry));
    }
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().map(|(_, e)| e).collect()
}

/// The keys of a keeper node's `mntr` answer, or its state when it gives none.
async fn mntr(address: &str) -> Result<BTreeMap<String, String>, String> {
    let ask = async {
        let mut socket = tokio::net::TcpStream::connect(address).await.ok()?;
        socket.write_all(b"mntr").await.ok()?;
        let mut text = String::new();
        socket.take(KEEPER_PROBE_MAX_BYTES).read_to_string(&mut text).await.ok()?;
        Some(text)
    };
    let text = match tokio::time::timeout(Duration::from_millis(KEEPER_PROBE_TIMEOUT_MS), ask).await {
        Ok(Some(text)) => text,
        _ => return Err("unreachable".into()),
    };
    if text.contains("not currently serving") {
        return Err("not serving".into());
    }
    Ok(text.lines().filter_map(|l| l.split_once('\t')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect())
}

async fn topics(client: &Client) -> Result<Value, Answer> {
    let md = metadata(client).await?;
    let all: Vec<(String, i32)> =
        md.topics.values().flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition))).collect();
    let (starts, ends) = tokio::join!(client.list_offsets(&all, EARLIEST), client.list_offsets(&all, LATEST));
    let rows: Vec<Value> = md
        .topics
        .values()
        .map(|t| {
            let count = |status: &str| t.partitions.iter().filter(|p| partition_status(p, &md) == status).count();
            let sum = |of: &BTreeMap<(String, i32), i64>| -> i64 {
                t.partitions.iter().filter_map(|p| of.get(&(t.name.clone(), p.partition))).sum()
            };
            let known = t.partitions.iter().all(|p| ends.contains_key(&(t.name.clone(), p.partition)));
            json!({"name": t.name, "internal": t.internal, "partitions": t.partitions.len(),
                   "replication_factor": t.partitions.iter().map(|p| p.replicas.len()).max().unwrap_or(0),
                   "under_replicated": count("under-replicated"), "offline": count("offline"),
                   "log_end": known.then(|| sum(&ends)),
                   "records": known.then(|| sum(&ends) - sum(&starts))})
        })
        .collect();
    Ok(Value::Array(rows))
}

/// Kafka's DescribeConfigs `config_source` names.
fn config_source(code: i8) -> &'static str {
    match code {
        1 => "topic",
        2 => "dynamic broker",
        3 => "dynamic cluster default",
        4 => "static broker",
        5 => "default",
        6 => "dynamic broker logger",
        _ => "unknown",
    }
}

async fn topic(client: &Client, name: &str) -> Result<Value, Answer> {
    let md = metadata(client).await?;
    let t = md.topics.get(name).ok_or_else(|| failed(StatusCode::NOT_FOUND, format!("no topic {name:?}")))?;
    let all: Vec<(String, i32)> = t.partitions.iter().map(|p| (t.name.clone(), p.partition)).collect();
    let (starts, ends, configs) = tokio::join!(
        client.list_offsets(&all, EARLIEST),
        client.list_offsets(&all, LATEST),
        client.describe_topic_configs(name)
    );
    let mut partitions: Vec<&sluice_client::PartitionInfo> = t.partitions.iter().collect();
    partitions.sort_by_key(|p| p.partition);
    let partitions: Vec<Value> = partitions
        .into_iter()
        .map(|p| {
            let tp = (t.name.clone(), p.partition);
            let down: Vec<i32> = p.replicas.iter().filter(|r| !md.brokers.contains_key(r)).copied().collect();
            json!({"partition": p.partition, "leader": (p.leader >= 0).then_some(p.leader),
                   "leader_epoch": p.leader_epoch, "replicas": p.replicas, "isr": p.isr,
                   "offline_replicas": down, "status": partition_status(p, &md),
                   "log_start": starts.get(&tp), "log_end": ends.get(&tp)})
        })
        .collect();
    let configs: Vec<Value> = match configs {
        Ok(entries) => entries
            .into_iter()
            .map(|c| {
                json!({"name": c.name, "value": c.value, "source": config_source(c.source),
                       "override": c.is_override(), "read_only": c.read_only})
            })
            .collect(),
        Err(e) => vec![json!({"error": e.to_string()})],
    };
    Ok(json!({"name": t.name, "internal": t.internal, "partitions": partitions, "configs": configs}))
}

/// Per group, its committed offsets; and the log ends of every partition they name.
async fn committed_and_ends(
    client: &Client,
    groups: &[String],
) -> (BTreeMap<String, Option<BTreeMap<(String, i32), i64>>>, BTreeMap<(String, i32), i64>) {
    let mut asks = tokio::task::JoinSet::new();
    for g in groups {
        let (client, g) = (client.clone(), g.clone());
        asks.spawn(async move {
            let offsets = client.committed_offsets(&g).await.ok();
            (g, offsets)
        });
    }
    let mut committed = BTreeMap::new();
    while let Some(Ok((g, offsets))) = asks.join_next().await {
        committed.insert(g, offsets);
    }
    let partitions: BTreeSet<(String, i32)> = committed.values().flatten().flat_map(|c| c.keys().cloned()).collect();
    let ends = client.list_offsets(&partitions.into_iter().collect::<Vec<_>>(), LATEST).await;
    (committed, ends)
}

/// A group's total lag over its committed partitions (None: a log end is unknown).
fn total_lag(committed: &BTreeMap<(String, i32), i64>, ends: &BTreeMap<(String, i32), i64>) -> Option<i64> {
    committed.iter().map(|(tp, offset)| ends.get(tp).map(|end| (end - offset).max(0))).sum()
}

async fn groups(client: &Client) -> Result<Value, Answer> {
    let (listed, failures) =
        client.list_groups().await.map_err(|e| failed(StatusCode::BAD_GATEWAY, format!("ListGroups: {e}")))?;
    let described: Vec<String> = listed.iter().take(CONSOLE_MAX_GROUPS_DESCRIBED).map(|g| g.group_id.clone()).collect();
    let mut asks = tokio::task::JoinSet::new();
    for g in &described {
        let (client, g) = (client.clone(), g.clone());
        asks.spawn(async move {
            let members = client.describe_group(&g).await.ok().map(|d| d.members.len());
            (g, members)
        });
    }
    let ((committed, ends), members) = tokio::join!(committed_and_ends(client, &described), async {
        let mut members = BTreeMap::new();
        while let Some(Ok((g, n))) = asks.join_next().await {
            members.insert(g, n);
        }
        members
    });
    let rows: Vec<Value> = listed
        .iter()
        .map(|g| {
            let offsets = committed.get(&g.group_id).and_then(Option::as_ref);
            json!({"group": g.group_id, "state": g.state, "protocol_type": g.protocol_type,
                   "coordinator": g.coordinator, "members": members.get(&g.group_id).copied().flatten(),
                   "partitions": offsets.map(BTreeMap::len),
                   "lag": offsets.and_then(|c| total_lag(c, &ends))})
        })
        .collect();
    let unreachable: Vec<i32> = failures.iter().map(|f| f.broker.id).collect();
    Ok(json!({"groups": rows, "unreachable_brokers": unreachable, "described_max": CONSOLE_MAX_GROUPS_DESCRIBED}))
}

async fn group(client: &Client, id: &str) -> Result<Value, Answer> {
    let description = client.describe_group(id).await.map_err(|e| failed(StatusCode::BAD_GATEWAY, e))?;
    let (committed, ends) = committed_and_ends(client, &[id.to_string()]).await;
    let committed = committed.get(id).cloned().flatten().unwrap_or_default();
    // Kafka describes a group it does not have as Dead, with nothing in it.
    if description.state == "Dead" && description.members.is_empty() && committed.is_empty() {
        return Err(failed(StatusCode::NOT_FOUND, format!("no group {id:?}")));
    }
    let owners: BTreeMap<(String, i32), &str> = description
        .members
        .iter()
        .flat_map(|m| m.assignment.iter().map(move |tp| (tp.clone(), m.member_id.as_str())))
        .collect();
    let mut partitions: BTreeSet<(String, i32)> = committed.keys().cloned().collect();
    partitions.extend(owners.keys().cloned());
    let offsets: Vec<Value> = partitions
        .iter()
        .map(|tp| {
            let (offset, end) = (committed.get(tp), ends.get(tp));
            json!({"topic": tp.0, "partition": tp.1, "committed": offset, "log_end": end,
                   "lag": offset.zip(end).map(|(o, e)| (e - o).max(0)), "owner": owners.get(tp)})
        })
        .collect();
    let members: Vec<Value> = description
        .members
        .iter()
        .map(|m| {
            json!({"member_id": m.member_id, "client_id": m.client_id, "host": m.client_host,
                   "assignment": m.assignment.iter().map(|(t, p)| json!({"topic": t, "partition": p}))
                       .collect::<Vec<_>>()})
        })
        .collect();
    Ok(json!({"group": description.group_id, "state": description.state,
              "protocol_type": description.protocol_type, "protocol": description.protocol,
              "coordinator": description.coordinator, "members": members, "offsets": offsets,
              "lag": total_lag(&committed, &ends)}))
}

/// The message browser: `topic`, `partition` (default 0), `offset` (`earliest`, the default;
/// `latest`, the last `limit` records; or a number), `limit` (default 20, at most
/// [`BROWSE_MAX_RECORDS`]).
async fn messages(client: &Client, query: &BTreeMap<String, String>) -> Result<Value, Answer> {
    let bad = |m: String| failed(StatusCode::BAD_REQUEST, m);
    let topic = query.get("topic").filter(|t| !t.is_empty()).ok_or_else(|| bad("topic= is required".into()))?;
    let number = |key: &str, default: i64| -> Result<i64, Answer> {
        query.get(key).map_or(Ok(default), |v| v.parse().map_err(|_| bad(format!("{key}={v:?} is not a number"))))
    };
    let partition = i32::try_from(number("partition", 0)?).map_err(|_| bad("partition= is out of range".into()))?;
    let limit = number("limit", 20)?;
    if !(1..=BROWSE_MAX_RECORDS as i64).contains(&limit) {
        return Err(bad(format!("limit={limit}: from 1 to {BROWSE_MAX_RECORDS}")));
    }
    let md = metadata(client).await?;
    if !md.topics.get(topic).is_some_and(|t| t.partitions.iter().any(|p| p.partition == partition)) {
        return Err(failed(StatusCode::NOT_FOUND, format!("no partition {partition} of topic {topic:?}")));
    }
    let tp = vec![(topic.clone(), partition)];
    let (starts, ends) = tokio::join!(client.list_offsets(&tp, EARLIEST), client.list_offsets(&tp, LATEST));
    let (Some(&start), Some(&end)) = (starts.get(&tp[0]), ends.get(&tp[0])) else {
        return Err(failed(StatusCode::BAD_GATEWAY, format!("the leader of {topic}-{partition} did not answer")));
    };
    let latest = query.get("offset").is_some_and(|o| o == "latest");
    let mut from = match query.get("offset").map(String::as_str) {
        None | Some("earliest") => start,
        Some("latest") => (end - limit).max(start),
        Some(_) => number("offset", 0)?.clamp(start, end),
    };
    let read_error =
        |e: sluice_client::ClientError| failed(StatusCode::BAD_GATEWAY, format!("reading {topic}-{partition}: {e}"));
    let mut records = if from < end {
        read_records(client, topic, partition, from, limit as usize).await.map_err(read_error)?
    } else {
        Vec::new()
    };
    // The last `limit` records may lie further back than `limit` offsets: transaction markers
    // (and records compacted away) take offsets without being records. Look further back, a
    // window four times wider each time, up to BROWSE_LATEST_SCAN_FACTOR times `limit`.
    let mut window = limit;
    while latest && records.len() < limit as usize && from > start && window < limit * BROWSE_LATEST_SCAN_FACTOR {
        window = (window * 4).min(limit * BROWSE_LATEST_SCAN_FACTOR);
        from = (end - window).max(start);
        records = read_records(client, topic, partition, from, window as usize).await.map_err(read_error)?;
    }
    if latest && records.len() > limit as usize {
        records.drain(..records.len() - limit as usize);
    }
    let from = if latest { records.first().map_or(from, |r| r.offset) } else { from };
    let field = |b: &Option<Bytes>| -> Value {
        match b {
            None => Value::Null,
            Some(b) => json!({"size": b.len(), "base64": BASE64.encode(&b[..b.len().min(BROWSE_FIELD_MAX_BYTES)]),
                              "truncated": b.len() > BROWSE_FIELD_MAX_BYTES}),
        }
    };
    let rows: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({"offset": r.offset, "timestamp": r.timestamp, "key": field(&r.key), "value": field(&r.value),
                   "headers": r.headers.iter().map(|(k, v)| json!({"key": k, "value": field(v)}))
                       .collect::<Vec<_>>()})
        })
        .collect();
    Ok(json!({"topic": topic, "partition": partition, "log_start": start, "log_end": end, "from": from,
              "records": rows}))
}

/// Up to `max` records of a partition from offset `from` (below its end when asked), reading
/// no further than the end the first fetch reports.
async fn read_records(
    client: &Client,
    topic: &str,
    partition: i32,
    from: i64,
    max: usize,
) -> sluice_client::Result<Vec<ConsumerRecord>> {
    let config = ConsumerConfig {
        max_wait: Duration::from_millis(100),
        max_bytes: BROWSE_FETCH_MAX_BYTES,
        partition_max_bytes: BROWSE_FETCH_MAX_BYTES,
        ..ConsumerConfig::default()
    };
    let mut consumer = Consumer::new(client.clone(), config);
    consumer.assign(topic, &[partition], StartOffset::Offset(from)).await?;
    let mut records = Vec::new();
    while records.len() < max {
        let batch = consumer.poll(max - records.len()).await?;
        records.extend(batch);
        if consumer.at_end() {
            break;
        }
    }
    Ok(records)
}

/// `a=1&b=x%20y` as a map (a key given twice: the last wins).
fn parse_query(query: &str) -> Result<BTreeMap<String, String>, Answer> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Ok((percent_decode(k)?, percent_decode(&v.replace('+', " "))?))
        })
        .collect()
}

/// Decodes `%XX` escapes (RFC 3986); the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, Answer> {
    let bad = || failed(StatusCode::BAD_REQUEST, format!("{text:?} is not a well-formed URL component"));
    let (bytes, mut out, mut i) = (text.as_bytes(), Vec::with_capacity(text.len()), 0);
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_path_segments_are_decoded() {
        let q = parse_query("topic=a%2Eb&partition=3&offset=latest&x=y+z").expect("well formed");
        assert_eq!(q["topic"], "a.b");
        assert_eq!(q["partition"], "3");
        assert_eq!(q["offset"], "latest");
        assert_eq!(q["x"], "y z");
        assert_eq!(percent_decode("caf%C3%A9%20group").expect("UTF-8"), "café group");
        for bad in ["%", "%4", "%zz", "%FF", "a%C3"] {
            assert_eq!(percent_decode(bad).expect_err("malformed").0, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn lag_is_unknown_when_any_end_is() {
        let tp = |p| ("t".to_string(), p);
        let committed = BTreeMap::from([(tp(0), 5), (tp(1), 7)]);
        let ends = BTreeMap::from([(tp(0), 10), (tp(1), 6)]);
        assert_eq!(total_lag(&committed, &ends), Some(5), "an offset past the end counts 0");
        assert_eq!(total_lag(&committed, &BTreeMap::from([(tp(0), 10)])), None);
        assert_eq!(total_lag(&BTreeMap::new(), &ends), Some(0));
    }
}
