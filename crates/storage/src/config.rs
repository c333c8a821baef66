//! Per-log configuration with Kafka's topic-level names and defaults (`LogConfig`).
//!
//! Each field is a topic config; the broker-wide default of each comes from the `log.`-prefixed
//! broker key named beside it, which the broker maps. Values keep Kafka's units in the name.

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes` (broker `log.segment.bytes`): roll when the active segment would exceed it.
    pub segment_bytes: u64,
    /// `segment.ms` (broker `log.roll.ms`): roll a non-empty segment older than this.
    pub segment_ms: i64,
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
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            max_message_bytes: 1024 * 1024 + 12,
            cleanup_policy: CleanupPolicy::DELETE,
            delete_retention_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// The smallest `segment.bytes` Kafka accepts.
pub const MIN_SEGMENT_BYTES: u64 = 14;

impl LogConfig {
    /// Topic-level config names this struct understands.
    pub const KEYS: &'static [&'static str] = &[
        "segment.bytes",
        "segment.ms",
        "segment.index.bytes",
        "index.interval.bytes",
        "retention.ms",
        "retention.bytes",
        "flush.messages",
        "flush.ms",
        "max.message.bytes",
        "cleanup.policy",
        "delete.retention.ms",
    ];

    /// Sets one topic-level config from its string form, validating it like Kafka does.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let invalid =
            |reason: &str| StorageError::InvalidConfig { key: key.into(), value: value.into(), reason: reason.into() };
        let long = || value.trim().parse::<i64>().map_err(|_| invalid("not a whole number"));
        let at_least = |min: i64| -> Result<i64> {
            let v = long()?;
            if v < min { Err(invalid(&format!("must be at least {min}"))) } else { Ok(v) }
        };
        match key {
            "segment.bytes" => self.segment_bytes = at_least(MIN_SEGMENT_BYTES as i64)?.min(i64::from(i32::MAX)) as u64,
            "segment.ms" => self.segment_ms = at_least(1)?,
            "segment.index.bytes" => self.segment_index_bytes = at_least(4)?.min(i64::from(i32::MAX)) as usize,
            "index.interval.bytes" => self.index_interval_bytes = at_least(0)?.min(i64::from(i32::MAX)) as usize,
            "retention.ms" => self.retention_ms = at_least(-1)?,
            "retention.bytes" => self.retention_bytes = long()?,
            "flush.messages" => self.flush_messages = at_least(1)?,
            "flush.ms" => self.flush_ms = at_least(0)?,
            "delete.retention.ms" => self.delete_retention_ms = at_least(0)?,
            "max.message.bytes" => self.max_message_bytes = at_least(0)?.min(i64::from(i32::MAX)) as usize,
            "cleanup.policy" => {
                let mut policy = CleanupPolicy { delete: false, compact: false };
                for part in value.split(',').map(str::trim) {
                    match part {
                        "delete" => policy.delete = true,
                        "compact" => policy.compact = true,
                        _ => return Err(invalid("expected a list of delete and compact")),
                    }
                }
                self.cleanup_policy = policy;
            }
            _ => return Err(StorageError::UnknownConfig { key: key.into() }),
        }
        Ok(())
    }
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
}
