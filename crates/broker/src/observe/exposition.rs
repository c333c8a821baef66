//! The scrape: reads the node's state into metric families and encodes them in Prometheus's text
//! exposition format 0.0.4 (by the `prometheus` crate's encoder). That format, not OpenMetrics:
//! it is what every Prometheus server and `promtool check metrics` read (OpenMetrics names a
//! counter's family without its `_total`, which the classic parsers then take for two metrics).
//!
//! Names follow Prometheus conventions (`sluice_` prefix, base units, `_bytes`/`_seconds`) and
//! carry Kafka's meaning: `sluice_under_replicated_partitions` is Kafka's
//! `UnderReplicatedPartitions`, `sluice_topic_bytes_in` its `BytesInPerSec` as a counter, and
//! so on (docs list the mapping). Gauges of partitions count those this broker leads, as
//! Kafka's do; the cluster-wide ones (offline partitions, topic and partition counts) come from
//! the active controller only, so a sum over brokers is right.

use std::collections::BTreeMap;

use prometheus::proto;
use sluice_protocol::api::ApiKey;
use sluice_protocol::error_code::ErrorCode;

use super::metrics::{EVENTS, HistogramSnapshot};
use crate::broker::Broker;

/// A sample's labels: names and values.
pub type Labels = Vec<(&'static str, String)>;

/// One sample's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Counter(u64),
    /// A counter of a measured quantity (seconds).
    CounterF64(f64),
    Gauge(i64),
    Histogram(HistogramSnapshot),
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A metric family: its name (a counter's ends in `_total`), help, type and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<(Labels, Value)>,
}

/// The families of one scrape, in the order they are encoded.
#[derive(Debug, Default)]
pub struct Scrape {
    pub families: Vec<Family>,
}

impl Scrape {
    pub fn counter(&mut self, name: &'static str, help: &'static str, samples: Vec<(Labels, u64)>) {
        let samples = samples.into_iter().map(|(l, v)| (l, Value::Counter(v))).collect();
        self.families.push(Family { name, help, kind: Kind::Counter, samples });
    }

    pub fn gauge(&mut self, name: &'static str, help: &'static str, samples: Vec<(Labels, i64)>) {
        let samples = samples.into_iter().map(|(l, v)| (l, Value::Gauge(v))).collect();
        self.families.push(Family { name, help, kind: Kind::Gauge, samples });
    }

    /// One unlabelled gauge.
    pub fn gauge1(&mut self, name: &'static str, help: &'static str, value: i64) {
        self.gauge(name, help, vec![(Vec::new(), value)]);
    }

    pub fn histogram(&mut self, name: &'static str, help: &'static str, samples: Vec<(Labels, HistogramSnapshot)>) {
        let samples = samples.into_iter().map(|(l, v)| (l, Value::Histogram(v))).collect();
        self.families.push(Family { name, help, kind: Kind::Histogram, samples });
    }

    /// The text exposition (format 0.0.4). A family without samples is left out: its HELP and
    /// TYPE alone say nothing.
    pub fn encode(self) -> String {
        let families: Vec<proto::MetricFamily> =
            self.families.into_iter().filter(|f| !f.samples.is_empty()).map(to_proto).collect();
        prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .expect("every family encoded has a name and samples, and a String takes any text")
    }

    /// The value of one sample, for tests: the first of family `name` carrying `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Value> {
        let family = self.families.iter().find(|f| f.name == name)?;
        family
            .samples
            .iter()
            .find(|(l, _)| labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v)))
            .map(|(_, v)| v)
    }
}

fn to_proto(family: Family) -> proto::MetricFamily {
    let mut out = proto::MetricFamily::default();
    out.set_name(family.name.to_string());
    out.set_help(family.help.to_string());
    out.set_field_type(match family.kind {
        Kind::Counter => proto::MetricType::COUNTER,
        Kind::Gauge => proto::MetricType::GAUGE,
        Kind::Histogram => proto::MetricType::HISTOGRAM,
    });
    let metrics = family
        .samples
        .into_iter()
        .map(|(labels, value)| {
            let mut m = proto::Metric::default();
            m.set_label(
                labels
                    .into_iter()
                    .map(|(name, value)| {
                        let mut pair = proto::LabelPair::default();
                        pair.set_name(name.to_string());
                        pair.set_value(value);
                        pair
                    })
                    .collect(),
            );
            match value {
                Value::Counter(v) => m.set_counter(counter(v as f64)),
                Value::CounterF64(v) => m.set_counter(counter(v)),
                Value::Gauge(v) => {
                    let mut g = proto::Gauge::default();
                    g.set_value(v as f64);
                    m.set_gauge(g);
                }
                Value::Histogram(h) => {
                    let mut hist = proto::Histogram::default();
                    hist.set_sample_count(h.count);
                    hist.set_sample_sum(h.sum_s);
                    // Cumulative counts; the encoder adds the +Inf bucket from the count.
                    let mut cumulative = 0;
                    let buckets = h
                        .buckets
                        .iter()
                        .filter(|(bound, _)| *bound != f64::MAX)
                        .map(|(bound, n)| {
                            cumulative += n;
                            let mut b = proto::Bucket::default();
                            b.set_upper_bound(*bound);
                            b.set_cumulative_count(cumulative);
                            b
                        })
                        .collect();
                    hist.set_bucket(buckets);
                    m.set_histogram(hist);
                }
            }
            m
        })
        .collect();
    out.set_metric(metrics);
    out
}

fn counter(value: f64) -> proto::Counter {
    let mut c = proto::Counter::default();
    c.set_value(value);
    c
}

fn api_name(key: i16) -> String {
    ApiKey::from_i16(key).map_or_else(|| format!("api{key}"), |k| k.name().to_string())
}

fn error_name(code: i16) -> String {
    ErrorCode::from_code(code).map_or_else(|| format!("error{code}"), |c| c.name().to_string())
}

/// What a broker reports: requests, topics' traffic, its partitions, the replica path's events,
/// its listeners, groups and transactions. Consumer lag is added by [`super::lag`].
pub fn broker_families(broker: &Broker, scrape: &mut Scrape) {
    let me = broker.config.broker_id;
    scrape.gauge(
        "sluice_broker_info",
        "This broker: its id, cluster id and version (always 1).",
        vec![(
            vec![
                ("broker_id", me.to_string()),
                ("cluster_id", broker.cluster_id.clone()),
                ("version", env!("CARGO_PKG_VERSION").to_string()),
            ],
            1,
        )],
    );

    // Requests.
    let requests = &broker.metrics.requests;
    scrape.counter(
        "sluice_requests_total",
        "Requests handled, by API and version (Kafka's RequestsPerSec).",
        requests
            .request_counts()
            .into_iter()
            .map(|(api, version, n)| (vec![("api", api_name(api)), ("version", version.to_string())], n))
            .collect(),
    );
    let mut times = Vec::new();
    for (api, t) in requests.times() {
        for (phase, h) in [("total", &t.total), ("local", &t.local), ("remote", &t.remote), ("send", &t.send)] {
            if !h.is_empty() {
                times.push((vec![("api", api_name(api)), ("phase", phase.to_string())], h.snapshot()));
            }
        }
    }
    scrape.histogram(
        "sluice_request_duration_seconds",
        "Request time by API and phase: total (read to answer ready) = local (handling) + remote (waiting in a purgatory: acks=all, a long-poll fetch); send (writing the answer). Kafka's TotalTimeMs, LocalTimeMs, RemoteTimeMs, ResponseSendTimeMs.",
        times,
    );
    scrape.counter(
        "sluice_request_errors_total",
        "Error codes answered: per partition for Produce and Fetch, per request otherwise (Kafka's ErrorsPerSec).",
        requests
            .error_counts()
            .into_iter()
            .map(|(api, code, n)| (vec![("api", api_name(api)), ("error", error_name(code))], n))
            .collect(),
    );

    // Topics' traffic.
    let topics = broker.replica_manager.topic_counters();
    let per_topic = |f: fn(&super::TopicCounters) -> u64| -> Vec<(Labels, u64)> {
        topics.iter().map(|(t, c)| (vec![("topic", t.clone())], f(c))).collect()
    };
    use std::sync::atomic::Ordering::Relaxed;
    scrape.counter(
        "sluice_topic_bytes_in_total",
        "Record bytes produced by clients and appended here as leader (Kafka's BytesInPerSec).",
        per_topic(|c| c.bytes_in.load(Relaxed)),
    );
    scrape.counter(
        "sluice_topic_messages_in_total",
        "Records produced by clients and appended here as leader (Kafka's MessagesInPerSec).",
        per_topic(|c| c.messages_in.load(Relaxed)),
    );
    scrape.counter(
        "sluice_topic_bytes_out_total",
        "Record bytes sent to consumers (Kafka's BytesOutPerSec).",
        per_topic(|c| c.bytes_out.load(Relaxed)),
    );
    scrape.counter(
        "sluice_topic_replication_bytes_in_total",
        "Record bytes copied here from leaders as a follower (Kafka's ReplicationBytesInPerSec).",
        per_topic(|c| c.replication_bytes_in.load(Relaxed)),
    );
    scrape.counter(
        "sluice_topic_replication_bytes_out_total",
        "Record bytes sent to followers (Kafka's ReplicationBytesOutPerSec).",
        per_topic(|c| c.replication_bytes_out.load(Relaxed)),
    );

    // Partitions hosted here.
    let partitions = broker.replica_manager.all_partitions();
    let (mut leaders, mut under_replicated, mut under_min_isr, mut at_min_isr) = (0, 0, 0, 0);
    let mut max_follower_lag = 0;
    let mut size = Vec::with_capacity(partitions.len());
    let mut start = Vec::with_capacity(partitions.len());
    let mut end = Vec::with_capacity(partitions.len());
    for p in &partitions {
        let r = p.report();
        let labels = vec![("topic", p.tp.topic.clone()), ("partition", p.tp.partition.to_string())];
        size.push((labels.clone(), r.size_bytes as i64));
        start.push((labels.clone(), r.log_start_offset));
        end.push((labels, r.log_end_offset));
        max_follower_lag = max_follower_lag.max(r.follower_lag.unwrap_or(0));
        if r.is_leader {
            leaders += 1;
            if r.isr < r.replicas {
                under_replicated += 1;
            }
            if (r.isr as i64) < i64::from(r.min_insync) {
                under_min_isr += 1;
            }
            if r.isr as i64 == i64::from(r.min_insync) {
                at_min_isr += 1;
            }
        }
    }
    scrape.gauge1(
        "sluice_partitions",
        "Partitions with a replica on this broker (Kafka's PartitionCount).",
        partitions.len() as i64,
    );
    scrape.gauge1("sluice_leader_partitions", "Partitions this broker leads (Kafka's LeaderCount).", leaders);
    scrape.gauge1(
        "sluice_under_replicated_partitions",
        "Partitions led here whose ISR is smaller than their replica set (Kafka's UnderReplicatedPartitions).",
        under_replicated,
    );
    scrape.gauge1(
        "sluice_under_min_isr_partitions",
        "Partitions led here whose ISR is below min.insync.replicas: acks=all produces are refused (Kafka's UnderMinIsrPartitionCount).",
        under_min_isr,
    );
    scrape.gauge1(
        "sluice_at_min_isr_partitions",
        "Partitions led here whose ISR is exactly min.insync.replicas (Kafka's AtMinIsrPartitionCount).",
        at_min_isr,
    );
    scrape.gauge1(
        "sluice_replica_fetcher_max_lag",
        "The most records any partition followed here was behind its leader's high watermark at its last fetch (Kafka's ReplicaFetcherManager MaxLag).",
        max_follower_lag,
    );
    scrape.gauge("sluice_log_size_bytes", "Bytes of each partition's log on disk (Kafka's Log Size).", size);
    scrape.gauge("sluice_log_start_offset", "Each partition's log start offset (Kafka's LogStartOffset).", start);
    scrape.gauge("sluice_log_end_offset", "Each partition's log end offset (Kafka's LogEndOffset).", end);
    let storage = sluice_storage::stats::snapshot();
    scrape.counter(
        "sluice_log_flushes_total",
        "Log flushes (fsync of a segment) (Kafka's LogFlushRateAndTimeMs count).",
        vec![(Vec::new(), storage.flushes)],
    );
    scrape.families.push(Family {
        name: "sluice_log_flush_seconds_total",
        help: "Time spent flushing logs, summed (with sluice_log_flushes, the mean flush time).",
        kind: Kind::Counter,
        samples: vec![(Vec::new(), Value::CounterF64(storage.flush_micros as f64 / 1e6))],
    });
    scrape.counter("sluice_log_segment_rolls_total", "Log segments rolled.", vec![(Vec::new(), storage.rolls)]);

    // The cluster, from the controller.
    let (controller, offline, topic_count, partition_count) = broker.link.cache.read(|v| {
        let offline = v
            .topics
            .iter()
            .flat_map(|(name, t)| t.assignment.keys().map(move |p| (name, *p)))
            .filter(|(name, p)| v.leader(name, *p).is_none())
            .count();
        let partitions: usize = v.topics.values().map(|t| t.assignment.len()).sum();
        (v.controller, offline, v.topics.len(), partitions)
    });
    let active = controller == Some(me);
    scrape.gauge1(
        "sluice_active_controller",
        "Whether this broker is the active controller (Kafka's ActiveControllerCount).",
        i64::from(active),
    );
    if active {
        scrape.gauge1(
            "sluice_offline_partitions",
            "Partitions without a live leader, reported by the active controller (Kafka's OfflinePartitionsCount).",
            offline as i64,
        );
        scrape.gauge1(
            "sluice_global_topics",
            "Topics in the cluster, reported by the active controller (Kafka's GlobalTopicCount).",
            topic_count as i64,
        );
        scrape.gauge1(
            "sluice_global_partitions",
            "Partitions in the cluster, reported by the active controller (Kafka's GlobalPartitionCount).",
            partition_count as i64,
        );
    }

    // The replica path's events.
    scrape.counter(
        "sluice_isr_shrinks_total",
        "ISR changes this broker made as leader that removed replicas (Kafka's IsrShrinksPerSec).",
        vec![(Vec::new(), EVENTS.isr_shrinks.load(Relaxed))],
    );
    scrape.counter(
        "sluice_isr_expands_total",
        "ISR changes this broker made as leader that added replicas (Kafka's IsrExpandsPerSec).",
        vec![(Vec::new(), EVENTS.isr_expands.load(Relaxed))],
    );
    scrape.counter(
        "sluice_leader_elections_total",
        "Partition leaders elected by this broker as controller (Kafka's LeaderElectionRateAndTimeMs count).",
        vec![(Vec::new(), EVENTS.leader_elections.load(Relaxed))],
    );
    scrape.counter(
        "sluice_unclean_leader_elections_total",
        "Leaders elected from outside the ISR (Kafka's UncleanLeaderElectionsPerSec).",
        vec![(Vec::new(), EVENTS.unclean_leader_elections.load(Relaxed))],
    );
    scrape.counter(
        "sluice_quota_throttled_responses_total",
        "Responses throttled because their client went over a quota (producer_byte_rate, consumer_byte_rate or request_percentage).",
        vec![(Vec::new(), EVENTS.quota_throttles.load(Relaxed))],
    );
    scrape.gauge(
        "sluice_purgatory_size",
        "Requests waiting in a purgatory: produce (acks=all, for replicas), fetch (long polls, for data) (Kafka's PurgatorySize).",
        vec![
            (vec![("purgatory", "produce".to_string())], EVENTS.produce_purgatory.load(Relaxed)),
            (vec![("purgatory", "fetch".to_string())], EVENTS.fetch_purgatory.load(Relaxed)),
        ],
    );

    // Listeners.
    let listeners = broker.metrics.listeners();
    scrape.gauge(
        "sluice_connections",
        "Client connections open, per listener (Kafka's connection-count).",
        listeners.iter().map(|(n, c)| (vec![("listener", n.clone())], c.open.load(Relaxed))).collect(),
    );
    scrape.counter(
        "sluice_connections_accepted_total",
        "Connections accepted, per listener (Kafka's connection-creation-total).",
        listeners.iter().map(|(n, c)| (vec![("listener", n.clone())], c.accepted.load(Relaxed))).collect(),
    );
    scrape.counter(
        "sluice_connections_refused_total",
        "Connections closed at once for max.connections or max.connections.per.ip, per listener.",
        listeners.iter().map(|(n, c)| (vec![("listener", n.clone())], c.refused.load(Relaxed))).collect(),
    );

    // Groups coordinated here, by state; rebalances.
    let mut by_state: BTreeMap<&'static str, i64> =
        crate::group::state::GroupState::ALL.iter().map(|s| (s.name(), 0)).collect();
    for (_, state, _) in super::lag::coordinated_groups(broker) {
        *by_state.entry(state).or_default() += 1;
    }
    scrape.gauge(
        "sluice_consumer_groups",
        "Groups this broker coordinates, by state (Kafka's NumGroups<State>).",
        by_state.into_iter().map(|(s, n)| (vec![("state", s.to_string())], n)).collect(),
    );
    scrape.counter(
        "sluice_group_rebalances_total",
        "Rebalances the group coordinator started.",
        vec![(Vec::new(), EVENTS.group_rebalances.load(Relaxed))],
    );

    // Transactions coordinated here, by state.
    let mut txns: BTreeMap<&'static str, i64> =
        crate::txn::state::TxnState::ALL.iter().map(|s| (s.name(), 0)).collect();
    for t in broker.txns.all() {
        *txns.entry(t.meta.state.name()).or_default() += 1;
    }
    scrape.gauge(
        "sluice_transactions",
        "Transactional ids this broker coordinates, by state.",
        txns.into_iter().map(|(s, n)| (vec![("state", s.to_string())], n)).collect(),
    );
}

/// What a keeper node reports: ZooKeeper's `mntr` figures and its Raft state.
pub fn keeper_families(keeper: &sluice_keeper::Keeper, scrape: &mut Scrape) {
    let s = keeper.stats();
    scrape.gauge(
        "sluice_keeper_server_state",
        "This keeper node's role: 1 for its state (zk_server_state).",
        ["standalone", "leader", "follower", "not serving"]
            .into_iter()
            .map(|state| (vec![("state", state.to_string())], i64::from(state == s.server_state)))
            .collect(),
    );
    scrape.gauge1("sluice_keeper_raft_term", "The Raft term this node is in.", s.term as i64);
    scrape.gauge1("sluice_keeper_raft_voters", "Voting members of the ensemble.", s.voters as i64);
    if let Some(last) = s.last_log_index {
        scrape.gauge1("sluice_keeper_raft_last_log_index", "The last entry of this node's Raft log.", last as i64);
    }
    if let Some(applied) = s.last_applied {
        scrape.gauge1(
            "sluice_keeper_raft_last_applied_index",
            "The last Raft entry applied to this node's tree.",
            applied as i64,
        );
        if let Some(last) = s.last_log_index {
            scrape.gauge1(
                "sluice_keeper_raft_apply_lag",
                "Raft entries in this node's log not applied yet.",
                last.saturating_sub(applied) as i64,
            );
        }
    }
    if let Some(index) = s.last_snapshot_index {
        scrape.gauge1(
            "sluice_keeper_raft_snapshot_index",
            "The last Raft entry the newest snapshot on this node covers.",
            index as i64,
        );
    }
    scrape.counter(
        "sluice_keeper_snapshots_total",
        "Snapshots of the tree this node wrote (every keeper.snap.count entries).",
        vec![(Vec::new(), s.snapshots_written)],
    );
    scrape.families.push(Family {
        name: "sluice_keeper_snapshot_seconds_total",
        help: "Time spent writing snapshots, summed (with sluice_keeper_snapshots_total, the mean).",
        kind: Kind::Counter,
        samples: vec![(Vec::new(), Value::CounterF64(s.snapshot_write_nanos as f64 / 1e9))],
    });
    scrape.gauge1("sluice_keeper_zxid", "The last transaction id applied (zxid).", s.zxid);
    scrape.gauge1("sluice_keeper_znodes", "Znodes in the tree (zk_znode_count).", s.znode_count as i64);
    scrape.gauge1(
        "sluice_keeper_data_size_bytes",
        "Bytes of znode paths and data (zk_approximate_data_size).",
        s.approximate_data_size as i64,
    );
    scrape.gauge1("sluice_keeper_ephemerals", "Ephemeral znodes (zk_ephemerals_count).", s.ephemerals_count as i64);
    scrape.gauge1(
        "sluice_keeper_sessions",
        "Sessions open in the ensemble (zk_global_sessions).",
        s.global_sessions as i64,
    );
    scrape.gauge1(
        "sluice_keeper_connections",
        "Client connections to this node (zk_num_alive_connections).",
        s.alive_connections as i64,
    );
    scrape.gauge1("sluice_keeper_watches", "Watches set on this node (zk_watch_count).", s.watch_count as i64);
    let kinds = [("read", s.reads), ("write", s.writes)];
    scrape.counter(
        "sluice_keeper_requests_total",
        "Client requests answered by this keeper node, reads (pings left out) and writes.",
        kinds.iter().map(|(k, l)| (vec![("kind", k.to_string())], l.count)).collect(),
    );
    scrape.families.push(Family {
        name: "sluice_keeper_request_seconds_total",
        help: "Time client requests took on this keeper node, from arrival to answer (a write: until applied here), summed.",
        kind: Kind::Counter,
        samples: kinds
            .iter()
            .map(|(k, l)| (vec![("kind", k.to_string())], Value::CounterF64(l.total_micros as f64 / 1e6)))
            .collect(),
    });
    scrape.gauge1(
        "sluice_keeper_outstanding_requests",
        "Writes of this node's clients proposed and not yet applied (zk_outstanding_requests).",
        s.outstanding_requests as i64,
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::observe::metrics::Histogram;

    #[test]
    fn families_encode_in_the_classic_text_format_with_escaped_labels() {
        let mut scrape = Scrape::default();
        scrape.counter("sluice_things_total", "Things.", vec![(vec![("topic", "a\"b\\c\nd".to_string())], 3)]);
        scrape.gauge1("sluice_level", "A level.", -2);
        scrape.gauge("sluice_nothing", "Left out: no samples.", Vec::new());
        let h = Histogram::default();
        h.observe(Duration::from_millis(2));
        h.observe(Duration::from_secs(100));
        scrape.histogram("sluice_wait_seconds", "Waits.", vec![(vec![("api", "Produce".to_string())], h.snapshot())]);
        let text = scrape.encode();
        assert!(text.contains("# TYPE sluice_things_total counter\n"), "{text}");
        assert!(text.contains("sluice_things_total{topic=\"a\\\"b\\\\c\\nd\"} 3\n"), "{text}");
        assert!(text.contains("# TYPE sluice_level gauge\nsluice_level -2\n"), "{text}");
        assert!(!text.contains("sluice_nothing"), "{text}");
        assert!(text.contains("sluice_wait_seconds_bucket{api=\"Produce\",le=\"0.001\"} 0\n"), "{text}");
        assert!(text.contains("sluice_wait_seconds_bucket{api=\"Produce\",le=\"0.0025\"} 1\n"), "{text}");
        assert!(text.contains("sluice_wait_seconds_bucket{api=\"Produce\",le=\"30\"} 1\n"), "{text}");
        assert!(text.contains("sluice_wait_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("sluice_wait_seconds_count{api=\"Produce\"} 2\n"), "{text}");
        assert!(!text.contains("# EOF"), "not OpenMetrics: {text}");
    }
}
