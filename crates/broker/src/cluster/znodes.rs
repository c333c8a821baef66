//! The cluster's znodes and their JSON payloads, in the layout ZooKeeper-era Kafka uses, so
//! `zkCli.sh` or kazoo show a Sluice cluster the way a Kafka operator expects:
//!
//! ```text
//! /cluster/id                                   {"version":"1","id":"<cluster id>"}
//! /controller                    (ephemeral)    {"version":1,"brokerid":1,"timestamp":"<ms>"}
//! /controller_epoch                             "<epoch>"
//! /brokers/ids/<id>              (ephemeral)    BrokerRegistration
//! /brokers/topics/<topic>                       TopicAssignment (replicas per partition, id)
//! /brokers/topics/<topic>/partitions/<p>/state  PartitionState (leader, leader_epoch, isr)
//! /config/topics/<topic>                        {"version":1,"config":{...}}
//! /config/brokers/<id> and /config/brokers/<default>
//!                                               {"version":1,"config":{...}}
//! ```
//!
//! Kafka's brokers learnt of config changes from sequential `/config/changes` notifications,
//! because ZooKeeper's watches fired once; Sluice's brokers keep persistent recursive watches on
//! `/config/topics` and `/config/brokers`, so every write to a config znode (by any tool) is
//! seen, and no notification znodes are written.
//!
//! Every path is built here, under an optional chroot (`keeper.connect=host:port/sluice`),
//! so the rest of the broker never spells one out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Builds the paths under the chroot.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    root: String,
}

impl Paths {
    /// `chroot` is `None` or a path like `/sluice` (no trailing slash).
    pub fn new(chroot: Option<&str>) -> Paths {
        Paths { root: chroot.unwrap_or_default().to_string() }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }

    /// The persistent parents created at start-up, outermost first (the chroot's own levels too).
    pub fn parents(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut prefix = String::new();
        for part in self.root.split('/').filter(|p| !p.is_empty()) {
            prefix.push('/');
            prefix.push_str(part);
            out.push(prefix.clone());
        }
        for p in [
            "/cluster",
            "/brokers",
            "/brokers/ids",
            "/brokers/topics",
            "/config",
            "/config/topics",
            "/config/brokers",
            "/config/users",
            "/config/clients",
            "/config/groups",
            "/admin",
            ACL_LITERAL_ROOT,
            ACL_LITERAL_CHANGES,
            ACL_EXTENDED_ROOT,
            ACL_PREFIXED_ROOT,
            ACL_EXTENDED_CHANGES,
        ] {
            out.push(self.at(p));
        }
        out
    }

    pub fn cluster_id(&self) -> String {
        self.at("/cluster/id")
    }
    /// The last block of producer ids handed to a broker (Kafka's `/latest_producer_id_block`).
    pub fn producer_id_block(&self) -> String {
        self.at("/latest_producer_id_block")
    }
    pub fn controller(&self) -> String {
        self.at("/controller")
    }
    pub fn controller_epoch(&self) -> String {
        self.at("/controller_epoch")
    }
    pub fn brokers(&self) -> String {
        self.at("/brokers")
    }
    pub fn broker_ids(&self) -> String {
        self.at("/brokers/ids")
    }
    pub fn broker(&self, id: i32) -> String {
        self.at(&format!("/brokers/ids/{id}"))
    }
    pub fn topics(&self) -> String {
        self.at("/brokers/topics")
    }
    pub fn topic(&self, topic: &str) -> String {
        self.at(&format!("/brokers/topics/{topic}"))
    }
    pub fn partitions(&self, topic: &str) -> String {
        self.at(&format!("/brokers/topics/{topic}/partitions"))
    }
    pub fn partition(&self, topic: &str, partition: i32) -> String {
        self.at(&format!("/brokers/topics/{topic}/partitions/{partition}"))
    }
    pub fn partition_state(&self, topic: &str, partition: i32) -> String {
        self.at(&format!("/brokers/topics/{topic}/partitions/{partition}/state"))
    }
    pub fn topic_configs(&self) -> String {
        self.at("/config/topics")
    }
    pub fn topic_config(&self, topic: &str) -> String {
        self.at(&format!("/config/topics/{topic}"))
    }

    pub fn broker_configs(&self) -> String {
        self.at("/config/brokers")
    }
    /// `/config/brokers/<entity>`: a broker id, or [`DEFAULT_BROKER_ENTITY`] for the cluster's
    /// defaults.
    pub fn broker_config(&self, entity: &str) -> String {
        self.at(&format!("/config/brokers/{entity}"))
    }
    /// `/config/users`: one znode per user with SCRAM credentials.
    pub fn users(&self) -> String {
        self.at("/config/users")
    }
    /// `/config/groups`: one znode per group with configs of its own (KIP-848).
    pub fn group_configs(&self) -> String {
        self.at("/config/groups")
    }
    /// `/config/groups/<group>` (the name sanitized as user names are).
    pub fn group_config(&self, group: &str) -> String {
        self.at(&format!("/config/groups/{}", crate::sasl::sanitize_user(group)))
    }
    /// `/config/clients`: one znode per client id with quotas.
    pub fn clients(&self) -> String {
        self.at("/config/clients")
    }
    /// The config znode of a quota entity: `/config/users/<user>`,
    /// `/config/users/<user>/clients/<client-id>` or `/config/clients/<client-id>` (names
    /// sanitized as Kafka does, `<default>` for the default entity).
    pub fn quota_config(&self, entity: &crate::quota::QuotaEntity) -> String {
        let part = |n: &crate::quota::EntityName| match n {
            crate::quota::EntityName::Default => crate::quota::DEFAULT_ENTITY.to_string(),
            crate::quota::EntityName::Named(n) => crate::sasl::sanitize_user(n),
        };
        match (&entity.user, &entity.client_id) {
            (Some(u), Some(c)) => self.at(&format!("/config/users/{}/clients/{}", part(u), part(c))),
            (Some(u), None) => self.at(&format!("/config/users/{}", part(u))),
            (None, Some(c)) => self.at(&format!("/config/clients/{}", part(c))),
            (None, None) => self.at("/config/clients"),
        }
    }
    /// `/config`.
    pub fn config_root(&self) -> String {
        self.at("/config")
    }
    /// `/config/users/<user>` (the name sanitized as Kafka does): a user's SCRAM credentials,
    /// one entry per mechanism, in the same `{"version":1,"config":{...}}` form as the others.
    pub fn user_config(&self, user: &str) -> String {
        self.at(&format!("/config/users/{}", crate::sasl::sanitize_user(user)))
    }

    /// `/kafka-acl` (literal patterns) or `/kafka-acl-extended/prefixed` (prefixed ones): the
    /// roots the ACL entries live under, one znode per pattern.
    pub fn acl_root(&self, pattern_type: crate::acl::PatternType) -> String {
        match pattern_type {
            crate::acl::PatternType::Prefixed => self.at(ACL_PREFIXED_ROOT),
            _ => self.at(ACL_LITERAL_ROOT),
        }
    }
    /// `<root>/<ResourceType>`.
    pub fn acl_type(&self, pattern_type: crate::acl::PatternType, resource_type: crate::acl::ResourceType) -> String {
        format!("{}/{}", self.acl_root(pattern_type), resource_type.name())
    }
    /// `<root>/<ResourceType>/<name>`: the entries bound to one pattern.
    pub fn acl(&self, pattern: &crate::acl::ResourcePattern) -> String {
        format!("{}/{}", self.acl_type(pattern.pattern_type, pattern.resource_type), pattern.name)
    }
    /// Where a change to a pattern's entries is announced (a sequential `acl_changes_`
    /// child): `/kafka-acl-changes` for literal patterns, `/kafka-acl-extended-changes` for
    /// prefixed ones.
    pub fn acl_changes(&self, pattern_type: crate::acl::PatternType) -> String {
        match pattern_type {
            crate::acl::PatternType::Prefixed => self.at(ACL_EXTENDED_CHANGES),
            _ => self.at(ACL_LITERAL_CHANGES),
        }
    }

    /// Which cluster znode `path` is, if any.
    pub fn classify(&self, path: &str) -> Option<Znode> {
        let rest = path.strip_prefix(self.root.as_str())?;
        let parts: Vec<&str> = rest.split('/').skip(1).collect();
        Some(match parts.as_slice() {
            ["controller"] => Znode::Controller,
            ["brokers", "ids", id] => Znode::Broker(id.parse().ok()?),
            ["brokers", "topics", topic] => Znode::Topic((*topic).to_string()),
            ["brokers", "topics", topic, "partitions", p, "state"] => {
                Znode::PartitionState((*topic).to_string(), p.parse().ok()?)
            }
            ["config", "topics", topic] => Znode::TopicConfig((*topic).to_string()),
            ["config", "brokers", entity] => Znode::BrokerConfig((*entity).to_string()),
            ["config", "users", user] => Znode::QuotaConfig(quota_entity(Some(user), None)?),
            ["config", "users", user, "clients", client] => Znode::QuotaConfig(quota_entity(Some(user), Some(client))?),
            ["config", "clients", client] => Znode::QuotaConfig(quota_entity(None, Some(client))?),
            ["config", "groups", group] => Znode::GroupConfig(crate::sasl::unsanitize_user(group)?),
            ["kafka-acl", rt, name] => Znode::Acl(acl_pattern(crate::acl::PatternType::Literal, rt, name)?),
            ["kafka-acl-extended", "prefixed", rt, name] => {
                Znode::Acl(acl_pattern(crate::acl::PatternType::Prefixed, rt, name)?)
            }
            _ => return None,
        })
    }
}

/// A znode the metadata cache follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Znode {
    Controller,
    Broker(i32),
    Topic(String),
    PartitionState(String, i32),
    TopicConfig(String),
    BrokerConfig(String),
    /// The entries of one ACL pattern.
    Acl(crate::acl::ResourcePattern),
    /// The config znode of a user, a user's client id, or a client id (quotas).
    QuotaConfig(crate::quota::QuotaEntity),
    /// A group's configs.
    GroupConfig(String),
}

/// The quota entity a `/config/users` or `/config/clients` znode name stands for.
pub fn quota_entity(user: Option<&str>, client_id: Option<&str>) -> Option<crate::quota::QuotaEntity> {
    let name = |n: &str| -> Option<crate::quota::EntityName> {
        Some(if n == crate::quota::DEFAULT_ENTITY {
            crate::quota::EntityName::Default
        } else {
            crate::quota::EntityName::Named(crate::sasl::unsanitize_user(n)?)
        })
    };
    Some(crate::quota::QuotaEntity {
        user: match user {
            Some(u) => Some(name(u)?),
            None => None,
        },
        client_id: match client_id {
            Some(c) => Some(name(c)?),
            None => None,
        },
    })
}

const ACL_LITERAL_ROOT: &str = "/kafka-acl";
const ACL_LITERAL_CHANGES: &str = "/kafka-acl-changes";
const ACL_EXTENDED_ROOT: &str = "/kafka-acl-extended";
const ACL_PREFIXED_ROOT: &str = "/kafka-acl-extended/prefixed";
const ACL_EXTENDED_CHANGES: &str = "/kafka-acl-extended-changes";

/// The pattern an ACL znode's path names, if its type is one an entry may have.
fn acl_pattern(pattern_type: crate::acl::PatternType, rt: &str, name: &str) -> Option<crate::acl::ResourcePattern> {
    let resource_type = crate::acl::ResourceType::ALL.iter().copied().find(|t| t.name() == rt)?;
    if matches!(resource_type, crate::acl::ResourceType::Any | crate::acl::ResourceType::Unknown) {
        return None;
    }
    Some(crate::acl::ResourcePattern { resource_type, pattern_type, name: name.to_string() })
}

/// The `/config/brokers` entity of the cluster-wide dynamic broker defaults (Kafka's name).
pub const DEFAULT_BROKER_ENTITY: &str = "<default>";

/// `/brokers/ids/<id>`, Kafka's registration format (version 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub version: i32,
    pub host: String,
    pub port: i32,
    /// `NAME://host:port` per advertised listener.
    pub endpoints: Vec<String>,
    pub listener_security_protocol_map: BTreeMap<String, String>,
    #[serde(default)]
    pub rack: Option<String>,
    #[serde(default = "no_jmx")]
    pub jmx_port: i32,
    #[serde(default)]
    pub timestamp: String,
}

fn no_jmx() -> i32 {
    -1
}

impl BrokerRegistration {
    pub fn new(endpoints: &[(String, String, u16)], rack: Option<String>, now_ms: i64) -> BrokerRegistration {
        let (host, port) = endpoints.first().map(|(_, h, p)| (h.clone(), i32::from(*p))).unwrap_or_default();
        BrokerRegistration {
            version: 5,
            host,
            port,
            endpoints: endpoints.iter().map(|(n, h, p)| format!("{n}://{h}:{p}")).collect(),
            listener_security_protocol_map: endpoints
                .iter()
                .map(|(n, _, _)| (n.clone(), if n == "PLAINTEXT" { n.clone() } else { "PLAINTEXT".into() }))
                .collect(),
            rack,
            jmx_port: -1,
            timestamp: now_ms.to_string(),
        }
    }

    /// The `(host, port)` of the listener named `name`.
    pub fn endpoint(&self, name: &str) -> Option<(String, i32)> {
        self.endpoints.iter().find_map(|e| {
            let (n, rest) = e.split_once("://")?;
            if n != name {
                return None;
            }
            let (h, p) = rest.rsplit_once(':')?;
            Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?))
        })
    }
}

/// `/controller`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerZnode {
    pub version: i32,
    pub brokerid: i32,
    #[serde(default)]
    pub timestamp: String,
}

/// `/cluster/id`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdZnode {
    pub version: String,
    pub id: String,
}

/// `/brokers/topics/<topic>`: the replicas of every partition (the first is the preferred
/// leader), the topic id (base64, as Kafka writes it) and a reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicAssignment {
    pub version: i32,
    #[serde(default)]
    pub topic_id: Option<String>,
    pub partitions: BTreeMap<String, Vec<i32>>,
    #[serde(default)]
    pub adding_replicas: BTreeMap<String, Vec<i32>>,
    #[serde(default)]
    pub removing_replicas: BTreeMap<String, Vec<i32>>,
}

/// `/brokers/topics/<topic>/partitions/<p>/state`: Kafka's LeaderAndIsr as the controller (and
/// the leader, for ISR changes) writes it with compare-and-set on the znode version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub version: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub controller_epoch: i32,
}

/// `/config/topics/<topic>`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfigZnode {
    pub version: i32,
    pub config: BTreeMap<String, String>,
}

/// A topic id as Kafka prints it: URL-safe base64 of its 16 bytes, no padding.
pub fn encode_topic_id(id: &[u8; 16]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

pub fn decode_topic_id(text: &str) -> Option<[u8; 16]> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
    bytes.try_into().ok()
}

/// `/latest_producer_id_block`: the last range of producer ids a broker took, as Kafka writes
/// it (the bounds as strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdBlockZnode {
    pub version: i32,
    pub broker: i32,
    pub block_start: String,
    pub block_end: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_live_under_the_chroot_and_classify_back() {
        let p = Paths::new(Some("/sluice/a"));
        assert_eq!(p.partition_state("t", 3), "/sluice/a/brokers/topics/t/partitions/3/state");
        assert_eq!(p.parents()[..3], ["/sluice".to_string(), "/sluice/a".into(), "/sluice/a/cluster".into()]);
        assert_eq!(p.classify("/sluice/a/brokers/ids/7"), Some(Znode::Broker(7)));
        assert_eq!(p.classify(&p.partition_state("t", 3)), Some(Znode::PartitionState("t".into(), 3)));
        assert_eq!(p.classify("/sluice/a/brokers/topics/t/partitions"), None);
        assert_eq!(Paths::new(None).classify("/controller"), Some(Znode::Controller));
    }

    #[test]
    fn payloads_read_what_kafka_writes() {
        let state: PartitionState =
            serde_json::from_str(r#"{"controller_epoch":4,"leader":2,"version":1,"leader_epoch":7,"isr":[2,1]}"#)
                .expect("Kafka's partition state");
        assert_eq!((state.leader, state.leader_epoch, state.isr.as_slice()), (2, 7, &[2, 1][..]));
        let reg: BrokerRegistration = serde_json::from_str(
            r#"{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://h1:9092"],"jmx_port":-1,"port":9092,"host":"h1","version":5,"timestamp":"1"}"#,
        )
        .expect("Kafka's registration");
        assert_eq!(reg.endpoint("PLAINTEXT"), Some(("h1".into(), 9092)));
        let topic: TopicAssignment = serde_json::from_str(
            r#"{"version":2,"partitions":{"0":[1,2],"1":[2,3]},"adding_replicas":{},"removing_replicas":{}}"#,
        )
        .expect("Kafka's assignment");
        assert_eq!(topic.partitions["1"], vec![2, 3]);
        let id = [7u8; 16];
        assert_eq!(decode_topic_id(&encode_topic_id(&id)), Some(id));
    }
}
