//! Topic metadata as handlers see it (id, partition count, config overrides), read from the
//! metadata cache, plus the import of the single-node topic registry of earlier releases.
//!
//! Before the cluster metadata moved into keeper, a single node kept its topics in
//! `__sluice_topics.json` in the first log directory. On start, a broker that finds that file
//! writes its topics into keeper (this broker as their only replica) unless keeper already
//! knows them, then renames the file to `__sluice_topics.json.imported`, so no data directory
//! of an earlier release loses its topics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const LEGACY_TOPICS_FILE: &str = "__sluice_topics.json";

/// Kafka's internal topics (`Topic.isInternal`): written only by their coordinators, never by a
/// client's Produce (INVALID_TOPIC_EXCEPTION), and never deleted.
pub const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

/// Whether `topic` is one of [`INTERNAL_TOPICS`].
pub fn is_internal(topic: &str) -> bool {
    INTERNAL_TOPICS.contains(&topic)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    pub id: [u8; 16],
    pub partitions: i32,
    pub replication_factor: i16,
    /// Topic-level overrides (`retention.ms`, ...); absent keys take the broker default.
    pub configs: BTreeMap<String, String>,
}

impl TopicMeta {
    pub fn id_bytes(&self) -> [u8; 16] {
        self.id
    }
}

/// One topic of the legacy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyTopic {
    /// 16 random bytes, hex-encoded.
    pub id: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

impl LegacyTopic {
    pub fn id_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, chunk) in self.id.as_bytes().chunks(2).take(16).enumerate() {
            out[i] = std::str::from_utf8(chunk).ok().and_then(|s| u8::from_str_radix(s, 16).ok()).unwrap_or(0);
        }
        out
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    version: u32,
    topics: BTreeMap<String, LegacyTopic>,
}

/// Reads the legacy registry in `dir`, if there is one.
pub fn read_legacy(dir: &Path) -> anyhow::Result<Option<(PathBuf, BTreeMap<String, LegacyTopic>)>> {
    let path = dir.join(LEGACY_TOPICS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let r: Registry = serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("corrupt topic registry {}: {e}", path.display()))?;
            Ok(Some((path, r.topics)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read topic registry {}: {e}", path.display())),
    }
}

/// 16 random bytes for a new topic id.
pub fn new_topic_id() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}
