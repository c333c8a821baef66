//! `TopicPartition`, and how it names a partition's directory: `<topic>-<partition>`, as Kafka.

use std::fmt;

/// A topic name and a partition number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }

    /// The directory name of this partition's log.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// Parses a directory name `<topic>-<partition>`. Topic names may contain `-`, so the
    /// partition is what follows the last one.
    pub fn from_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        if topic.is_empty() || !is_valid_topic_name(topic) {
            return None;
        }
        let partition: i32 = partition.parse().ok()?;
        (partition >= 0 && !partition_has_sign(name)).then(|| TopicPartition::new(topic, partition))
    }
}

fn partition_has_sign(name: &str) -> bool {
    name.rsplit_once('-').is_some_and(|(_, p)| p.starts_with('+'))
}

/// Kafka's rule: 1–249 characters of ASCII letters, digits, `.`, `_` and `-`, and not `.` or `..`.
pub fn is_valid_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_round_trip_with_dashes_in_topics() {
        let tp = TopicPartition::new("my-topic-v2", 7);
        assert_eq!(tp.dir_name(), "my-topic-v2-7");
        assert_eq!(TopicPartition::from_dir_name("my-topic-v2-7"), Some(tp));
        assert_eq!(TopicPartition::from_dir_name("topic"), None);
        assert_eq!(TopicPartition::from_dir_name("t--1"), Some(TopicPartition::new("t-", 1)), "topic \"t-\"");
        assert_eq!(TopicPartition::from_dir_name("t-+1"), None);
        assert_eq!(TopicPartition::from_dir_name("-1"), None);
        assert_eq!(TopicPartition::from_dir_name("t-1.abc-delete"), None);
    }
}
