//! The topic registry of a single node: each topic's id, partition count and config overrides,
//! persisted as one JSON file (`__sluice_topics.json`) in the first log directory and rewritten
//! atomically on every change.
//!
//! This is the part of cluster metadata that ZooKeeper-era Kafka keeps under
//! `/brokers/topics/<topic>` and `/config/topics/<topic>`; when the coordination service lands,
//! the same operations move to those znodes and this file goes away.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use sluice_storage::checkpoint::write_atomically;

pub const TOPICS_FILE: &str = "__sluice_topics.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    /// 16 random bytes, hex-encoded on disk.
    pub id: String,
    pub partitions: i32,
    /// Topic-level overrides (`retention.ms`, ...); absent keys take the broker default.
    pub configs: BTreeMap<String, String>,
}

impl TopicMeta {
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
    topics: BTreeMap<String, TopicMeta>,
}

#[derive(Debug)]
pub struct TopicRegistry {
    path: PathBuf,
    topics: RwLock<BTreeMap<String, TopicMeta>>,
}

impl TopicRegistry {
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(TOPICS_FILE);
        let topics = match std::fs::read(&path) {
            Ok(bytes) => {
                let r: Registry = serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("corrupt topic registry {}: {e}", path.display()))?;
                r.topics
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(anyhow::anyhow!("cannot read topic registry {}: {e}", path.display())),
        };
        Ok(TopicRegistry { path, topics: RwLock::new(topics) })
    }

    pub fn get(&self, name: &str) -> Option<TopicMeta> {
        self.topics.read().get(name).cloned()
    }

    pub fn all(&self) -> BTreeMap<String, TopicMeta> {
        self.topics.read().clone()
    }

    /// Applies `change` to the map and persists the result; nothing changes if writing fails.
    pub fn update<T>(&self, change: impl FnOnce(&mut BTreeMap<String, TopicMeta>) -> T) -> anyhow::Result<T> {
        let mut topics = self.topics.write();
        let mut next = topics.clone();
        let out = change(&mut next);
        let bytes = serde_json::to_vec_pretty(&Registry { version: 1, topics: next.clone() })?;
        write_atomically(&self.path, &bytes)?;
        *topics = next;
        Ok(out)
    }
}

/// A new random topic id, as 32 hex digits.
pub fn new_topic_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
