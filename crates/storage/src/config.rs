//! Per-log configuration with Kafka's topic-level names and defaults (`LogConfig`), and the
//! table of every topic config Kafka 3.x has ([`TOPIC_CONFIGS`]): its type, its default, how it
//! is validated, and the broker keys that set its default (Kafka's synonyms, most specific
//! first, with their units).
//!
//! Each typed field of [`LogConfig`] is a topic config that this crate or the broker applies.
//! A few keys are accepted, validated and described without changing anything, as in Kafka 3.x:
//! `message.format.version` (ignored by Kafka 3.0+ for the v2 format it always writes), and the
//! tiered-storage keys (`local.retention.*`, `remote.log.*`; `remote.storage.enable` may only be
//! `false`, since this broker has no remote storage, as Kafka refuses it when tiered storage is
//! disabled). The replication throttles (`leader/follower.replication.throttled.replicas`) are
//! validated and stored; without a throttled rate configured they change nothing, which is
//! Kafka's behaviour too until `*.replication.throttled.rate` is set.

use sluice_protocol::record_batch::{Compression, TimestampType};

use crate::error::{Result, StorageError};

/// Cleanup policy: whole old segments deleted by retention, latest value per key kept by
/// compaction, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy { delete: true, compact: false };
}

/// `compression.type` of a topic: keep the producer's codec, or store every batch with one codec
/// (the leader recompresses batches that arrive with another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicCompression {
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl TopicCompression {
    /// The codec every stored batch must have, or `None` for `producer`.
    pub fn target(self) -> Option<Compression> {
        match self {
            TopicCompression::Producer => None,
            TopicCompression::Uncompressed => Some(Compression::None),
            TopicCompression::Gzip => Some(Compression::Gzip),
            TopicCompression::Snappy => Some(Compression::Snappy),
            TopicCompression::Lz4 => Some(Compression::Lz4),
            TopicCompression::Zstd => Some(Compression::Zstd),
        }
    }
}

/// Kafka's `ConfigDef.Type` of a config, and how its values are validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConfigKind {
    /// A 32-bit integer within `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// A 64-bit integer of at least `min`.
    Long {
        min: i64,
    },
    /// A floating-point number within `min..=max`.
    Double {
        min: f64,
        max: f64,
    },
    Bool,
    /// A comma-separated list of these values (at least one).
    List(&'static [&'static str]),
    /// One of these values.
    Choice(&'static [&'static str]),
    /// A Kafka version such as `2.8` or `3.0-IV1` (`message.format.version`).
    Version,
    /// `*` or a list of `partition:broker` pairs (the replication throttles).
    Replicas,
}

impl ConfigKind {
    /// The `ConfigType` value DescribeConfigs v3+ reports (Kafka's `ConfigDef.Type` ids).
    pub fn kafka_type(self) -> i8 {
        match self {
            ConfigKind::Bool => 1,
            ConfigKind::Choice(_) | ConfigKind::Version => 2,
            ConfigKind::Int { .. } => 3,
            ConfigKind::Long { .. } => 5,
            ConfigKind::Double { .. } => 6,
            ConfigKind::List(_) | ConfigKind::Replicas => 7,
        }
    }
}

/// The unit of a broker key that sets a topic config's default (`log.retention.hours` sets
/// `retention.ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// The same unit as the topic config.
    Same,
    Minutes,
    Hours,
}

impl Unit {
    /// `value` of a broker key in this unit, as the topic config's value (milliseconds). A
    /// negative duration (`log.retention.hours=-1`) stays -1, "no limit". `None` when `value`
    /// is not a whole number or overflows.
    pub fn to_topic_value(self, value: &str) -> Option<String> {
        let factor: i64 = match self {
            Unit::Same => return Some(value.trim().to_string()),
            Unit::Minutes => 60_000,
            Unit::Hours => 3_600_000,
        };
        let n: i64 = value.trim().parse().ok()?;
        if n < 0 { Some("-1".into()) } else { n.checked_mul(factor).map(|ms| ms.to_string()) }
    }
}

/// One topic config: its name, kind, Kafka's default (as DescribeConfigs shows it) and the
/// broker keys that set the default for every topic, most specific first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub kind: ConfigKind,
    pub default: &'static str,
    pub broker_keys: &'static [(&'static str, Unit)],
}

const I32_MAX: i64 = i32::MAX as i64;
const LONG_MAX: &str = "9223372036854775807";
/// zstd's lowest level (`ZSTD_minCLevel()`, what Kafka accepts) and its highest.
const ZSTD_MIN_LEVEL: i64 = -131_072;
const ZSTD_MAX_LEVEL: i64 = 22;

const fn def(
    name: &'static str,
    kind: ConfigKind,
    default: &'static str,
    broker_keys: &'static [(&'static str, Unit)],
) -> TopicConfigDef {
    TopicConfigDef { name, kind, default, broker_keys }
}

/// Every topic-level config of Kafka 3.x (3.9's `LogConfig`, plus the 3.9 tiered-storage keys),
/// in name order.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def("cleanup.policy", ConfigKind::List(&["compact", "delete"]), "delete", &[("log.cleanup.policy", Unit::Same)]),
    def("compression.gzip.level", ConfigKind::Int { min: -1, max: 9 }, "-1", &[("compression.gzip.level", Unit::Same)]),
    def("compression.lz4.level", ConfigKind::Int { min: 1, max: 17 }, "9", &[("compression.lz4.level", Unit::Same)]),
    def(
        "compression.type",
        ConfigKind::Choice(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        "producer",
        &[("compression.type", Unit::Same)],
    ),
    def(
        "compression.zstd.level",
        ConfigKind::Int { min: ZSTD_MIN_LEVEL, max: ZSTD_MAX_LEVEL },
        "3",
        &[("compression.zstd.level", Unit::Same)],
    ),
    def(
        "delete.retention.ms",
        ConfigKind::Long { min: 0 },
        "86400000",
        &[("log.cleaner.delete.retention.ms", Unit::Same)],
    ),
    def("file.delete.delay.ms", ConfigKind::Long { min: 0 }, "60000", &[("log.segment.delete.delay.ms", Unit::Same)]),
    def("flush.messages", ConfigKind::Long { min: 1 }, LONG_MAX, &[("log.flush.interval.messages", Unit::Same)]),
    def(
        "flush.ms",
        ConfigKind::Long { min: 0 },
        LONG_MAX,
        &[("log.flush.interval.ms", Unit::Same), ("log.flush.scheduler.interval.ms", Unit::Same)],
    ),
    def("follower.replication.throttled.replicas", ConfigKind::Replicas, "", &[]),
    def(
        "index.interval.bytes",
        ConfigKind::Int { min: 0, max: I32_MAX },
        "4096",
        &[("log.index.interval.bytes", Unit::Same)],
    ),
    def("leader.replication.throttled.replicas", ConfigKind::Replicas, "", &[]),
    def("local.retention.bytes", ConfigKind::Long { min: -2 }, "-2", &[("log.local.retention.bytes", Unit::Same)]),
    def("local.retention.ms", ConfigKind::Long { min: -2 }, "-2", &[("log.local.retention.ms", Unit::Same)]),
    def(
        "max.compaction.lag.ms",
        ConfigKind::Long { min: 1 },
        LONG_MAX,
        &[("log.cleaner.max.compaction.lag.ms", Unit::Same)],
    ),
    def("max.message.bytes", ConfigKind::Int { min: 0, max: I32_MAX }, "1048588", &[("message.max.bytes", Unit::Same)]),
    def(
        "message.downconversion.enable",
        ConfigKind::Bool,
        "true",
        &[("log.message.downconversion.enable", Unit::Same)],
    ),
    def("message.format.version", ConfigKind::Version, "3.0-IV1", &[("log.message.format.version", Unit::Same)]),
    def(
        "message.timestamp.after.max.ms",
        ConfigKind::Long { min: 0 },
        LONG_MAX,
        &[("log.message.timestamp.after.max.ms", Unit::Same)],
    ),
    def(
        "message.timestamp.before.max.ms",
        ConfigKind::Long { min: 0 },
        LONG_MAX,
        &[("log.message.timestamp.before.max.ms", Unit::Same)],
    ),
    def(
        "message.timestamp.difference.max.ms",
        ConfigKind::Long { min: 0 },
        LONG_MAX,
        &[("log.message.timestamp.difference.max.ms", Unit::Same)],
    ),
    def(
        "message.timestamp.type",
        ConfigKind::Choice(&["CreateTime", "LogAppendTime"]),
        "CreateTime",
        &[("log.message.timestamp.type", Unit::Same)],
    ),
    def(
        "min.cleanable.dirty.ratio",
        ConfigKind::Double { min: 0.0, max: 1.0 },
        "0.5",
        &[("log.cleaner.min.cleanable.ratio", Unit::Same)],
    ),
    def(
        "min.compaction.lag.ms",
        ConfigKind::Long { min: 0 },
        "0",
        &[("log.cleaner.min.compaction.lag.ms", Unit::Same)],
    ),
    def("min.insync.replicas", ConfigKind::Int { min: 1, max: I32_MAX }, "1", &[("min.insync.replicas", Unit::Same)]),
    def("preallocate", ConfigKind::Bool, "false", &[("log.preallocate", Unit::Same)]),
    def("remote.log.copy.disable", ConfigKind::Bool, "false", &[]),
    def("remote.log.delete.on.disable", ConfigKind::Bool, "false", &[]),
    def("remote.storage.enable", ConfigKind::Bool, "false", &[]),
    def("retention.bytes", ConfigKind::Long { min: i64::MIN }, "-1", &[("log.retention.bytes", Unit::Same)]),
    def(
        "retention.ms",
        ConfigKind::Long { min: -1 },
        "604800000",
        &[
            ("log.retention.ms", Unit::Same),
            ("log.retention.minutes", Unit::Minutes),
            ("log.retention.hours", Unit::Hours),
        ],
    ),
    def(
        "segment.bytes",
        ConfigKind::Int { min: MIN_SEGMENT_BYTES as i64, max: I32_MAX },
        "1073741824",
        &[("log.segment.bytes", Unit::Same)],
    ),
    def(
        "segment.index.bytes",
        ConfigKind::Int { min: 4, max: I32_MAX },
        "10485760",
        &[("log.index.size.max.bytes", Unit::Same)],
    ),
    def(
        "segment.jitter.ms",
        ConfigKind::Long { min: 0 },
        "0",
        &[("log.roll.jitter.ms", Unit::Same), ("log.roll.jitter.hours", Unit::Hours)],
    ),
    def(
        "segment.ms",
        ConfigKind::Long { min: 1 },
        "604800000",
        &[("log.roll.ms", Unit::Same), ("log.roll.hours", Unit::Hours)],
    ),
    def("unclean.leader.election.enable", ConfigKind::Bool, "false", &[("unclean.leader.election.enable", Unit::Same)]),
];

/// The definition of topic config `name`, if Kafka has one.
pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Whether `key` is a broker key that sets some topic config's default.
pub fn is_topic_default_key(key: &str) -> bool {
    TOPIC_CONFIGS.iter().any(|d| d.broker_keys.iter().any(|(k, _)| *k == key))
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes` (broker `log.segment.bytes`): roll when the active segment would exceed it.
    pub segment_bytes: u64,
    /// `segment.ms` (broker `log.roll.ms`): roll a non-empty segment older than this.
    pub segment_ms: i64,
    /// `segment.jitter.ms` (broker `log.roll.jitter.ms`): each segment rolls up to this much
    /// before `segment.ms`, so partitions created together do not all roll at once.
    pub segment_jitter_ms: i64,
    /// `segment.index.bytes` (broker `log.index.size.max.bytes`): size of each index file.
    pub segment_index_bytes: usize,
    /// `index.interval.bytes` (broker `log.index.interval.bytes`): log bytes between index entries.
    pub index_interval_bytes: usize,
    /// `retention.ms` (broker `log.retention.ms`); negative means no time limit.
    pub retention_ms: i64,
    /// `retention.bytes` (broker `log.retention.bytes`); negative means no size limit.
    pub retention_bytes: i64,
    /// `flush.messages` (broker `log.flush.interval.messages`): fsync after this many records.
    pub flush_messages: i64,
    /// `flush.ms` (broker `log.flush.interval.ms`): fsync when the last flush is this old.
    pub flush_ms: i64,
    /// `max.message.bytes` (broker `message.max.bytes`): largest batch accepted.
    pub max_message_bytes: usize,
    /// `cleanup.policy` (broker `log.cleanup.policy`).
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms` (broker `log.cleaner.delete.retention.ms`): how long compaction
    /// keeps tombstones, so consumers can see deletions.
    pub delete_retention_ms: i64,
    /// `file.delete.delay.ms` (broker `log.segment.delete.delay.ms`): a deleted segment's files
    /// are renamed `*.deleted` and removed this much later.
    pub file_delete_delay_ms: i64,
    /// `min.cleanable.dirty.ratio` (broker `log.cleaner.min.cleanable.ratio`): compaction runs
    /// when the not-yet-compacted share of the cleanable log reaches this.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms` (broker `log.cleaner.min.compaction.lag.ms`): records younger than
    /// this are never compacted away.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms` (broker `log.cleaner.max.compaction.lag.ms`): records older than
    /// this are compacted whatever the dirty ratio, and the active segment rolls to allow it.
    pub max_compaction_lag_ms: i64,
    /// `compression.type` (broker `compression.type`).
    pub compression_type: TopicCompression,
    /// `compression.gzip.level`, `compression.lz4.level`, `compression.zstd.level` (KIP-390):
    /// the levels the leader recompresses at.
    pub compression_gzip_level: i32,
    pub compression_lz4_level: i32,
    pub compression_zstd_level: i32,
    /// `message.timestamp.type` (broker `log.message.timestamp.type`): `LogAppendTime` makes
    /// the leader stamp every batch with its clock.
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`, `message.timestamp.after.max.ms` and the older
    /// `message.timestamp.difference.max.ms`: how far a `CreateTime` record's timestamp may lie
    /// behind or ahead of the leader's clock. Use the `timestamp_*_max_ms` methods.
    pub message_timestamp_before_max_ms: i64,
    pub message_timestamp_after_max_ms: i64,
    pub message_timestamp_difference_max_ms: i64,
    /// `message.downconversion.enable` (broker `log.message.downconversion.enable`): old
    /// consumers (Fetch below v4) are served this topic's batches converted to the message
    /// format they read (magic 0 or 1); when false they are refused with UNSUPPORTED_VERSION.
    pub message_downconversion_enable: bool,
    /// `preallocate` (broker `log.preallocate`): reserve `segment.bytes` of disk for each new
    /// segment.
    pub preallocate: bool,
    /// `min.insync.replicas` (broker `min.insync.replicas`): acks=all needs this many in the ISR.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable` (broker key of the same name): elect a replica outside
    /// the ISR when no ISR replica is alive.
    pub unclean_leader_election_enable: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_jitter_ms: 0,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            max_message_bytes: 1024 * 1024 + 12,
            cleanup_policy: CleanupPolicy::DELETE,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            file_delete_delay_ms: 60_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            compression_type: TopicCompression::Producer,
            compression_gzip_level: -1,
            compression_lz4_level: 9,
            compression_zstd_level: 3,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: i64::MAX,
            message_timestamp_difference_max_ms: i64::MAX,
            message_downconversion_enable: true,
            preallocate: false,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
        }
    }
}

/// The smallest `segment.bytes` Kafka 3.x accepts.
pub const MIN_SEGMENT_BYTES: u64 = 14;

/// A broker key that sets a topic default held a value the topic config refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerDefaultError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl LogConfig {
    /// The defaults for every topic from broker keys: each topic config takes the first of its
    /// broker keys ([`TopicConfigDef::broker_keys`]) that `broker_value` has, in that key's unit;
    /// keys not set keep Kafka's default.
    pub fn from_broker(
        broker_value: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<LogConfig, BrokerDefaultError> {
        let mut config = LogConfig::default();
        for def in TOPIC_CONFIGS {
            let Some((key, unit, value)) =
                def.broker_keys.iter().find_map(|(key, unit)| broker_value(key).map(|v| (*key, *unit, v)))
            else {
                continue;
            };
            let failed = |reason: String| BrokerDefaultError { key: key.into(), value: value.clone(), reason };
            let converted = unit.to_topic_value(&value).ok_or_else(|| failed("not a whole number".into()))?;
            config.set(def.name, &converted).map_err(|e| match e {
                StorageError::InvalidConfig { reason, .. } => failed(reason),
                other => failed(other.to_string()),
            })?;
        }
        Ok(config)
    }

    /// How far behind the leader's clock a `CreateTime` timestamp may be:
    /// `message.timestamp.before.max.ms`, or `message.timestamp.difference.max.ms` while the
    /// former is unset (Kafka 3.6+, KIP-937).
    pub fn timestamp_before_max_ms(&self) -> i64 {
        if self.message_timestamp_before_max_ms != i64::MAX {
            self.message_timestamp_before_max_ms
        } else {
            self.message_timestamp_difference_max_ms
        }
    }

    /// How far ahead of the leader's clock a `CreateTime` timestamp may be (see
    /// [`timestamp_before_max_ms`](Self::timestamp_before_max_ms)).
    pub fn timestamp_after_max_ms(&self) -> i64 {
        if self.message_timestamp_after_max_ms != i64::MAX {
            self.message_timestamp_after_max_ms
        } else {
            self.message_timestamp_difference_max_ms
        }
    }

    /// How old the active segment may grow before it rolls: `segment.ms`, or
    /// `max.compaction.lag.ms` on a compacted topic when that is shorter (the active segment is
    /// never compacted, so it must roll for its records to be), as Kafka's `maxSegmentMs`.
    pub fn max_segment_ms(&self) -> i64 {
        if self.cleanup_policy.compact { self.segment_ms.min(self.max_compaction_lag_ms) } else { self.segment_ms }
    }

    /// The level the leader compresses `codec` at when it recompresses (`compression.*.level`).
    pub fn compression_level(&self, codec: Compression) -> Option<i32> {
        match codec {
            Compression::Gzip => Some(self.compression_gzip_level),
            Compression::Lz4 => Some(self.compression_lz4_level),
            Compression::Zstd => Some(self.compression_zstd_level),
            _ => None,
        }
    }

    /// The checks Kafka makes across keys (`LogConfig.validateValues`): `min.compaction.lag.ms`
    /// may not exceed `max.compaction.lag.ms`.
    pub fn validate_values(&self) -> Result<()> {
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms {
            return Err(StorageError::InvalidConfig {
                key: "min.compaction.lag.ms".into(),
                value: self.min_compaction_lag_ms.to_string(),
                reason: format!(
                    "conflicts with max.compaction.lag.ms ({}): it may not be larger",
                    self.max_compaction_lag_ms
                ),
            });
        }
        Ok(())
    }

    /// Sets one topic-level config from its string form, validating it as Kafka does. Keys
    /// Kafka has but that change nothing here (see the module documentation) are validated only.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let def = topic_config_def(key).ok_or_else(|| StorageError::UnknownConfig { key: key.into() })?;
        let invalid = |reason: String| StorageError::InvalidConfig { key: key.into(), value: value.into(), reason };
        let v = value.trim();
        let whole = || v.parse::<i64>().map_err(|_| invalid("not a whole number".into()));
        let (mut n, mut ratio, mut flag) = (0i64, 0f64, false);
        match def.kind {
            ConfigKind::Int { min, max } => {
                n = whole()?;
                if n < min || n > max {
                    return Err(invalid(format!("must be between {min} and {max}")));
                }
            }
            ConfigKind::Long { min } => {
                n = whole()?;
                if n < min {
                    return Err(invalid(format!("must be at least {min}")));
                }
            }
            ConfigKind::Double { min, max } => {
                ratio = v.parse::<f64>().map_err(|_| invalid("not a number".into()))?;
                if !(min..=max).contains(&ratio) {
                    return Err(invalid(format!("must be between {min} and {max}")));
                }
            }
            ConfigKind::Bool => {
                flag = match v.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("expected true or false".into())),
                };
            }
            ConfigKind::List(allowed) => {
                let items: Vec<&str> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
                if items.is_empty() || items.iter().any(|i| !allowed.contains(i)) {
                    return Err(invalid(format!("expected a list of {}", allowed.join(" and "))));
                }
            }
            ConfigKind::Choice(allowed) => {
                if !allowed.contains(&v) {
                    return Err(invalid(format!("expected one of {}", allowed.join(", "))));
                }
            }
            ConfigKind::Version => {
                if !is_kafka_version(v) {
                    return Err(invalid("expected a Kafka version such as 2.8 or 3.0-IV1".into()));
                }
            }
            ConfigKind::Replicas => {
                if !is_replica_list(v) {
                    return Err(invalid("expected * or a list of partition:broker pairs".into()));
                }
            }
        }
        let int = |n: i64| n.min(I32_MAX) as i32;
        match key {
            "segment.bytes" => self.segment_bytes = n as u64,
            "segment.ms" => self.segment_ms = n,
            "segment.jitter.ms" => self.segment_jitter_ms = n,
            "segment.index.bytes" => self.segment_index_bytes = n as usize,
            "index.interval.bytes" => self.index_interval_bytes = n as usize,
            "retention.ms" => self.retention_ms = n,
            "retention.bytes" => self.retention_bytes = n,
            "flush.messages" => self.flush_messages = n,
            "flush.ms" => self.flush_ms = n,
            "delete.retention.ms" => self.delete_retention_ms = n,
            "max.message.bytes" => self.max_message_bytes = n as usize,
            "file.delete.delay.ms" => self.file_delete_delay_ms = n,
            "min.cleanable.dirty.ratio" => self.min_cleanable_dirty_ratio = ratio,
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = n,
            "max.compaction.lag.ms" => self.max_compaction_lag_ms = n,
            "compression.gzip.level" => self.compression_gzip_level = int(n),
            "compression.lz4.level" => self.compression_lz4_level = int(n),
            "compression.zstd.level" => self.compression_zstd_level = n as i32,
            "message.timestamp.before.max.ms" => self.message_timestamp_before_max_ms = n,
            "message.timestamp.after.max.ms" => self.message_timestamp_after_max_ms = n,
            "message.timestamp.difference.max.ms" => self.message_timestamp_difference_max_ms = n,
            "preallocate" => self.preallocate = flag,
            "message.downconversion.enable" => self.message_downconversion_enable = flag,
            "min.insync.replicas" => self.min_insync_replicas = int(n),
            "unclean.leader.election.enable" => self.unclean_leader_election_enable = flag,
            "remote.storage.enable" if flag => {
                return Err(invalid(
                    "tiered storage is not enabled on this broker: a topic cannot keep its log in remote storage"
                        .into(),
                ));
            }
            "cleanup.policy" => {
                let has = |p: &str| v.split(',').any(|i| i.trim() == p);
                self.cleanup_policy = CleanupPolicy { delete: has("delete"), compact: has("compact") };
            }
            "compression.type" => {
                self.compression_type = match v {
                    "uncompressed" => TopicCompression::Uncompressed,
                    "gzip" => TopicCompression::Gzip,
                    "snappy" => TopicCompression::Snappy,
                    "lz4" => TopicCompression::Lz4,
                    "zstd" => TopicCompression::Zstd,
                    _ => TopicCompression::Producer,
                }
            }
            "message.timestamp.type" => {
                self.message_timestamp_type =
                    if v == "LogAppendTime" { TimestampType::LogAppendTime } else { TimestampType::CreateTime }
            }
            // Validated only: see the module documentation.
            _ => {}
        }
        Ok(())
    }
}

/// A valid value of topic config `key` as Kafka stores and describes it once parsed: numbers
/// without signs or padding, doubles with a fraction (`1.0`), booleans in lower case, lists
/// without spaces. Checks the value first.
pub fn canonical_value(key: &str, value: &str) -> Result<String> {
    let def = topic_config_def(key).ok_or_else(|| StorageError::UnknownConfig { key: key.into() })?;
    LogConfig::default().set(key, value)?;
    let v = value.trim();
    Ok(match def.kind {
        ConfigKind::Int { .. } | ConfigKind::Long { .. } => {
            v.parse::<i64>().map_or_else(|_| v.to_string(), |n| n.to_string())
        }
        ConfigKind::Double { .. } => {
            let x: f64 = v.parse().unwrap_or_default();
            if x.fract() == 0.0 && x.abs() < 1e7 { format!("{x:.1}") } else { x.to_string() }
        }
        ConfigKind::Bool => v.to_ascii_lowercase(),
        ConfigKind::List(_) | ConfigKind::Replicas => {
            v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(",")
        }
        ConfigKind::Choice(_) | ConfigKind::Version => v.to_string(),
    })
}

/// `2.8`, `0.10.2`, `3.0-IV1`, and the longer forms Kafka cuts to those (`0.10.0.0`, `2.8.1`, as
/// old clients such as librdkafka's tests send): the shape of Kafka's `MetadataVersion` names
/// that `message.format.version` takes.
fn is_kafka_version(v: &str) -> bool {
    let (numbers, iv) = match v.split_once("-IV") {
        Some((n, iv)) => (n, Some(iv)),
        None => (v, None),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && iv.is_none_or(|iv| !iv.is_empty() && iv.bytes().all(|b| b.is_ascii_digit()))
}

/// `*`, empty, or `partition:broker,...` with whole numbers (Kafka's throttled-replica lists).
fn is_replica_list(v: &str) -> bool {
    v == "*"
        || v.split(',').map(str::trim).filter(|s| !s.is_empty()).all(|pair| {
            pair.split_once(':')
                .is_some_and(|(p, b)| p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_and_validates_topic_keys() {
        let mut c = LogConfig::default();
        c.set("retention.ms", "-1").expect("unlimited retention");
        assert_eq!(c.retention_ms, -1);
        c.set("cleanup.policy", "compact,delete").expect("both");
        assert!(c.cleanup_policy.compact && c.cleanup_policy.delete);
        assert!(matches!(c.set("segment.bytes", "10"), Err(StorageError::InvalidConfig { .. })));
        assert!(matches!(c.set("segment.ms", "soon"), Err(StorageError::InvalidConfig { .. })));
        assert!(matches!(c.set("no.such.key", "1"), Err(StorageError::UnknownConfig { .. })));
    }

    #[test]
    fn every_kafka_topic_config_takes_its_default() {
        let mut c = LogConfig::default();
        for def in TOPIC_CONFIGS {
            c.set(def.name, def.default).unwrap_or_else(|e| panic!("{}={:?}: {e}", def.name, def.default));
        }
        assert_eq!(c, LogConfig::default(), "each default in the table is the struct's default");
        let names: Vec<&str> = TOPIC_CONFIGS.iter().map(|d| d.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "the table is in name order, each name once");
    }

    #[test]
    fn values_are_checked_against_their_kind() {
        let mut c = LogConfig::default();
        c.set("min.cleanable.dirty.ratio", "0.01").expect("ratio");
        assert_eq!(c.min_cleanable_dirty_ratio, 0.01);
        assert!(c.set("min.cleanable.dirty.ratio", "1.5").is_err());
        c.set("compression.type", "zstd").expect("codec");
        assert_eq!(c.compression_type.target(), Some(Compression::Zstd));
        assert!(c.set("compression.type", "brotli").is_err());
        c.set("message.timestamp.type", "LogAppendTime").expect("type");
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert!(c.set("message.timestamp.type", "logappendtime").is_err(), "case matters, as in Kafka");
        assert!(c.set("preallocate", "yes").is_err());
        c.set("message.format.version", "0.10.2-IV0").expect("version");
        c.set("message.format.version", "2.8").expect("version");
        c.set("message.format.version", "0.10.0.0").expect("four parts, as librdkafka's tests send");
        assert!(c.set("message.format.version", "1.2.3.4.5").is_err());
        assert!(c.set("message.format.version", "three").is_err());
        c.set("leader.replication.throttled.replicas", "0:1,1:2").expect("pairs");
        c.set("follower.replication.throttled.replicas", "*").expect("all");
        assert!(c.set("leader.replication.throttled.replicas", "0-1").is_err());
        assert!(c.set("remote.storage.enable", "true").is_err(), "no tiered storage here");
        c.set("remote.storage.enable", "false").expect("off is fine");
        assert!(c.set("compression.zstd.level", "23").is_err());
        c.set("compression.zstd.level", "-5").expect("fast levels");
        assert!(c.set("min.insync.replicas", "0").is_err());
        assert!(c.set("max.compaction.lag.ms", "0").is_err());
    }

    #[test]
    fn values_are_stored_as_kafka_prints_them() {
        assert_eq!(canonical_value("min.cleanable.dirty.ratio", "1").expect("valid"), "1.0");
        assert_eq!(canonical_value("min.cleanable.dirty.ratio", "0.25").expect("valid"), "0.25");
        assert_eq!(canonical_value("preallocate", "TRUE").expect("valid"), "true");
        assert_eq!(canonical_value("cleanup.policy", "compact, delete").expect("valid"), "compact,delete");
        assert_eq!(canonical_value("retention.ms", " +1000").expect("valid"), "1000");
        assert!(canonical_value("retention.ms", "x").is_err());
        let mut c = LogConfig::default();
        c.set("max.compaction.lag.ms", "1000").expect("valid");
        c.set("min.compaction.lag.ms", "2000").expect("valid alone");
        assert!(c.validate_values().is_err(), "min above max");
    }

    #[test]
    fn timestamp_difference_applies_until_before_and_after_are_set() {
        let mut c = LogConfig::default();
        c.set("message.timestamp.difference.max.ms", "1000").expect("set");
        assert_eq!((c.timestamp_before_max_ms(), c.timestamp_after_max_ms()), (1000, 1000));
        c.set("message.timestamp.after.max.ms", "50").expect("set");
        assert_eq!((c.timestamp_before_max_ms(), c.timestamp_after_max_ms()), (1000, 50));
    }

    #[test]
    fn broker_keys_set_topic_defaults_in_their_units() {
        let broker = |key: &str| match key {
            "log.retention.hours" => Some("2".to_string()),
            "log.roll.jitter.hours" => Some("1".to_string()),
            "log.flush.scheduler.interval.ms" => Some("5000".to_string()),
            "compression.type" => Some("lz4".to_string()),
            _ => None,
        };
        let c = LogConfig::from_broker(broker).expect("valid");
        assert_eq!(c.retention_ms, 2 * 3_600_000);
        assert_eq!(c.segment_jitter_ms, 3_600_000);
        assert_eq!(c.flush_ms, 5000);
        assert_eq!(c.compression_type, TopicCompression::Lz4);
        let more_specific = |key: &str| match key {
            "log.retention.ms" => Some("1000".to_string()),
            "log.retention.hours" => Some("2".to_string()),
            _ => None,
        };
        assert_eq!(LogConfig::from_broker(more_specific).expect("valid").retention_ms, 1000);
        let unlimited = |key: &str| (key == "log.retention.hours").then(|| "-1".to_string());
        assert_eq!(LogConfig::from_broker(unlimited).expect("valid").retention_ms, -1);
        let bad = |key: &str| (key == "log.segment.bytes").then(|| "3".to_string());
        let e = LogConfig::from_broker(bad).expect_err("too small");
        assert_eq!(e.key, "log.segment.bytes");
    }
}
