//! `Client`: bootstrap from a broker list, a pool of connections (one per broker address), and
//! a metadata cache refreshed on demand and whenever a request fails with an error that means
//! the cached leadership is stale (NOT_LEADER_OR_FOLLOWER and the like). Requests for one broker
//! (`send_to`), any broker (`send_any`), every broker (`ask_every_broker`, for what each broker
//! answers only for itself: ListGroups, ListTransactions), or a coordinator (`coordinator.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::{MetadataRequest, MetadataRequestTopic};

use crate::connection::BrokerConnection;
use crate::coordinator::CoordinatorCache;
use crate::error::{ClientError, Result};

/// How long a topic that Metadata calls unknown is asked about again (with auto-creation
/// allowed) before concluding that the broker will not create it: long enough for the metadata
/// of a topic just created elsewhere to reach the broker asked.
const UNKNOWN_TOPIC_WAIT_MS: u64 = 3_000;
/// The pause between Metadata requests while a topic being created gets its leaders.
const TOPIC_WAIT_BACKOFF_MS: u64 = 100;
/// Kafka's error codes the topic wait distinguishes.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const LEADER_NOT_AVAILABLE: i16 = 5;

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port` of one or more brokers.
    pub bootstrap: Vec<String>,
    pub client_id: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// SASL authentication on every connection (a `SASL_PLAINTEXT` or `SASL_SSL` listener);
    /// `None` for PLAINTEXT and SSL.
    pub sasl: Option<crate::connection::SaslConfig>,
    /// TLS on every connection (an `SSL` or `SASL_SSL` listener); `None` for plaintext.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// The client properties [`ClientConfig::with_properties`] reads (librdkafka's and the Java
/// client's names); others are returned to the caller as unknown.
pub const CLIENT_PROPERTIES: &[&str] = &[
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "sasl.jaas.config",
    "client.id",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "ssl.truststore.location",
    "ssl.truststore.type",
    "ssl.keystore.location",
    "ssl.keystore.type",
];

impl ClientConfig {
    /// The config for `bootstrap` with client properties applied, as kcat (`-X`) and Kafka's
    /// tools (`--command-config`) take them: `security.protocol` (PLAINTEXT, SASL_PLAINTEXT,
    /// SSL or SASL_SSL), `sasl.mechanism` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), the credentials
    /// as `sasl.username`/`sasl.password` or inside a Java client's `sasl.jaas.config`, the TLS
    /// files (librdkafka's `ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`,
    /// or the Java client's PEM `ssl.truststore.location` and `ssl.keystore.location`),
    /// `ssl.endpoint.identification.algorithm` (`https` or none), and `client.id`. Returns the config and the keys it does not know (later ones win for a key
    /// given twice); a value it cannot use is an error naming the key.
    pub fn with_properties(bootstrap: &str, properties: &[(String, String)]) -> Result<(Self, Vec<String>)> {
        let invalid = |key: &str, reason: &str| ClientError::Invalid(format!("client property {key}: {reason}"));
        let mut config = ClientConfig::new(bootstrap);
        let mut values: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
        let mut unknown = Vec::new();
        for (k, v) in properties {
            if CLIENT_PROPERTIES.contains(&k.as_str()) {
                values.insert(k.as_str(), v.as_str());
            } else if !unknown.contains(k) {
                unknown.push(k.clone());
            }
        }
        if let Some(id) = values.get("client.id") {
            config.client_id = id.to_string();
        }
        let protocol =
            values.get("security.protocol").map_or("PLAINTEXT".to_string(), |p| p.trim().to_ascii_uppercase());
        let (tls, sasl) = match protocol.as_str() {
            "PLAINTEXT" => (false, false),
            "SASL_PLAINTEXT" => (false, true),
            "SSL" => (true, false),
            "SASL_SSL" => (true, true),
            other => {
                return Err(invalid(
                    "security.protocol",
                    &format!("unknown protocol {other:?} (PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL)"),
                ));
            }
        };
        if tls {
            config.tls = Some(tls_from_properties(&values)?);
        }
        if !sasl {
            return Ok((config, unknown));
        }
        let mechanism_key = if values.contains_key("sasl.mechanism") { "sasl.mechanism" } else { "sasl.mechanisms" };
        let mechanism = values.get(mechanism_key).ok_or_else(|| {
            invalid("sasl.mechanism", "SASL_PLAINTEXT needs one: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
        })?;
        let mechanism = crate::connection::SaslMechanism::from_name(mechanism).ok_or_else(|| {
            invalid(mechanism_key, &format!("{mechanism:?} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"))
        })?;
        let jaas = match values.get("sasl.jaas.config") {
            Some(text) => crate::jaas::parse_options(text).map_err(|e| invalid("sasl.jaas.config", &e))?,
            None => Default::default(),
        };
        let pick = |key: &str, jaas_key: &str| {
            values.get(key).map(|v| v.to_string()).or_else(|| jaas.get(jaas_key).cloned()).filter(|v| !v.is_empty())
        };
        let username = pick("sasl.username", "username")
            .ok_or_else(|| invalid("sasl.username", "SASL_PLAINTEXT needs a user (or sasl.jaas.config's username)"))?;
        let password = pick("sasl.password", "password").ok_or_else(|| {
            invalid("sasl.password", "SASL_PLAINTEXT needs a password (or sasl.jaas.config's password)")
        })?;
        config.sasl = Some(crate::connection::SaslConfig { mechanism, username, password });
        Ok((config, unknown))
    }

    pub fn new(bootstrap: &str) -> Self {
        ClientConfig {
            bootstrap: bootstrap.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            client_id: "sluice".into(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            sasl: None,
            tls: None,
        }
    }

    /// What every connection of this client does before its first request.
    pub fn security(&self) -> crate::connection::Security {
        crate::connection::Security { tls: self.tls.clone(), sasl: self.sasl.clone() }
    }
}

/// The TLS configuration of client properties (see [`ClientConfig::with_properties`]).
fn tls_from_properties(
    values: &std::collections::BTreeMap<&str, &str>,
) -> Result<std::sync::Arc<rustls::ClientConfig>> {
    let invalid = |key: &str, reason: &str| ClientError::Invalid(format!("client property {key}: {reason}"));
    for key in ["ssl.truststore.type", "ssl.keystore.type"] {
        if let Some(t) = values.get(key).filter(|t| !t.trim().eq_ignore_ascii_case("PEM")) {
            return Err(invalid(
                key,
                &format!("{t:?}: only PEM files are read (convert JKS/PKCS12 with keytool/openssl)"),
            ));
        }
    }
    if values.get("ssl.key.password").is_some_and(|p| !p.is_empty()) {
        return Err(invalid("ssl.key.password", "encrypted keys are not supported: decrypt the key (openssl pkey)"));
    }
    let path =
        |key: &str| values.get(key).map(|p| std::path::PathBuf::from(p.trim())).filter(|p| !p.as_os_str().is_empty());
    let keystore = path("ssl.keystore.location");
    let settings = crate::tls::TlsSettings {
        ca_location: path("ssl.ca.location").or_else(|| path("ssl.truststore.location")),
        certificate_location: path("ssl.certificate.location").or_else(|| keystore.clone()),
        key_location: path("ssl.key.location").or(keystore),
        verify_hostname: match values
            .get("ssl.endpoint.identification.algorithm")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => true,
            Some(v) if v == "https" => true,
            Some(v) if v.is_empty() || v == "none" => false,
            Some(v) => return Err(invalid("ssl.endpoint.identification.algorithm", &format!("{v:?}: https or none"))),
        },
    };
    crate::tls::client_config(&settings).map_err(|e| ClientError::Invalid(format!("TLS settings: {e}")))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerInfo {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub error_code: i16,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub error_code: i16,
    pub internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

/// A broker that could not be asked, and why.
#[derive(Debug, Clone)]
pub struct BrokerFailure {
    pub broker: BrokerInfo,
    pub error: ClientError,
}

/// A snapshot of cluster metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, TopicInfo>,
}

impl ClusterMetadata {
    pub fn leader(&self, topic: &str, partition: i32) -> Option<&BrokerInfo> {
        let p = self.topics.get(topic)?.partitions.iter().find(|p| p.partition == partition)?;
        self.brokers.get(&p.leader)
    }
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    connections: tokio::sync::Mutex<HashMap<String, Arc<BrokerConnection>>>,
    metadata: RwLock<ClusterMetadata>,
    coordinators: CoordinatorCache,
}

/// A handle to a cluster; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connects to the first reachable bootstrap broker and loads the cluster metadata.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        if config.bootstrap.is_empty() {
            return Err(ClientError::Invalid("no bootstrap server given".into()));
        }
        let client = Client {
            inner: Arc::new(Inner {
                config,
                connections: tokio::sync::Mutex::new(HashMap::new()),
                metadata: RwLock::new(ClusterMetadata::default()),
                coordinators: CoordinatorCache::default(),
            }),
        };
        client.refresh_metadata(Some(&[])).await?;
        Ok(client)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub(crate) fn coordinators(&self) -> &CoordinatorCache {
        &self.inner.coordinators
    }

    /// The connection to `address`, opened (or reopened) as needed.
    pub async fn connection(&self, address: &str) -> Result<Arc<BrokerConnection>> {
        let mut conns = self.inner.connections.lock().await;
        if let Some(c) = conns.get(address)
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        let c = BrokerConnection::connect_with(
            address,
            &self.inner.config.client_id,
            self.inner.config.connect_timeout,
            &self.inner.config.security(),
        )
        .await?;
        conns.insert(address.to_string(), c.clone());
        Ok(c)
    }

    /// A connection to any broker: known brokers first, then the bootstrap list.
    pub async fn any_connection(&self) -> Result<Arc<BrokerConnection>> {
        let mut candidates: Vec<String> = self.metadata().brokers.values().map(BrokerInfo::address).collect();
        candidates.extend(self.inner.config.bootstrap.iter().cloned());
        let mut last = None;
        for address in candidates {
            match self.connection(&address).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Invalid("no broker to connect to".into())))
    }

    /// The connection to broker `id`, per the metadata.
    pub async fn broker_connection(&self, id: i32) -> Result<Arc<BrokerConnection>> {
        let address = self
            .metadata()
            .brokers
            .get(&id)
            .map(BrokerInfo::address)
            .ok_or_else(|| ClientError::Invalid(format!("broker {id} is not in the metadata")))?;
        self.connection(&address).await
    }

    /// Sends `request` to `conn` within the request timeout.
    pub async fn send_to(&self, conn: &BrokerConnection, request: Request) -> Result<Response> {
        let what = format!("{} from {}", request.api_key().name(), conn.address());
        let ms = self.inner.config.request_timeout.as_millis() as u64;
        tokio::time::timeout(self.inner.config.request_timeout, conn.send(request))
            .await
            .map_err(|_| ClientError::Timeout { what, ms })?
    }

    /// Sends `request` to any broker.
    pub async fn send_any(&self, request: Request) -> Result<Response> {
        let conn = self.any_connection().await?;
        self.send_to(&conn, request).await
    }

    /// Sends a request made by `make` to every broker in freshly loaded metadata, all at once;
    /// returns each broker's answer, and the brokers that could not be asked.
    pub async fn ask_every_broker(
        &self,
        make: impl Fn() -> Request,
    ) -> Result<(Vec<(BrokerInfo, Response)>, Vec<BrokerFailure>)> {
        let brokers: Vec<BrokerInfo> = self.refresh_metadata(Some(&[])).await?.brokers.into_values().collect();
        let mut asks = tokio::task::JoinSet::new();
        for broker in brokers {
            let (client, request) = (self.clone(), make());
            asks.spawn(async move {
                let answer = async {
                    let conn = client.connection(&broker.address()).await?;
                    client.send_to(&conn, request).await
                }
                .await;
                (broker, answer)
            });
        }
        let (mut answers, mut failures) = (Vec::new(), Vec::new());
        while let Some(done) = asks.join_next().await {
            let (broker, answer) = done.map_err(|e| ClientError::Invalid(format!("a broker request panicked: {e}")))?;
            match answer {
                Ok(response) => answers.push((broker, response)),
                Err(error) => failures.push(BrokerFailure { broker, error }),
            }
        }
        answers.sort_by_key(|(b, _)| b.id);
        failures.sort_by_key(|f| f.broker.id);
        Ok((answers, failures))
    }

    pub fn metadata(&self) -> ClusterMetadata {
        self.inner.metadata.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reloads metadata for `topics` (`None`: every topic; `Some(&[])`: brokers only) and merges
    /// it into the cache. Topics that do not exist are not auto-created.
    pub async fn refresh_metadata(&self, topics: Option<&[String]>) -> Result<ClusterMetadata> {
        let request = MetadataRequest {
            topics: topics.map(|t| {
                t.iter().map(|n| MetadataRequestTopic { name: Some(n.clone()), ..Default::default() }).collect()
            }),
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        let Response::Metadata(r) = self.send_any(Request::Metadata(request)).await? else {
            return Err(ClientError::Invalid("Metadata answered with something else".into()));
        };
        let mut md = self.inner.metadata.write().unwrap_or_else(|p| p.into_inner());
        md.cluster_id = r.cluster_id;
        md.controller_id = r.controller_id;
        md.brokers = r
            .brokers
            .into_iter()
            .map(|b| (b.node_id, BrokerInfo { id: b.node_id, host: b.host, port: b.port, rack: b.rack }))
            .collect();
        if topics.is_none() {
            md.topics.clear();
        }
        for t in r.topics {
            let name = t.name.unwrap_or_default();
            let info = TopicInfo {
                name: name.clone(),
                error_code: t.error_code,
                internal: t.is_internal,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        error_code: p.error_code,
                        leader: p.leader_id,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes,
                        isr: p.isr_nodes,
                    })
                    .collect(),
            };
            if t.error_code == 0 {
                md.topics.insert(name, info);
            } else {
                md.topics.remove(&name);
            }
        }
        Ok(md.clone())
    }

    /// Metadata of a topic to produce to, as kcat and the Java producer get it: asked with
    /// `allow_auto_topic_creation`, so a broker with `auto.create.topics.enable` creates it,
    /// then asked again (within the request timeout) until every partition has a leader, which
    /// a topic just created lacks for a moment (LEADER_NOT_AVAILABLE, or UNKNOWN_TOPIC_OR_PARTITION
    /// from a broker that has not heard of it yet). A topic still unknown after
    /// `UNKNOWN_TOPIC_WAIT_MS` is one the broker does not create.
    pub async fn topic_for_produce(&self, name: &str) -> Result<TopicInfo> {
        let start = tokio::time::Instant::now();
        let timeout = self.inner.config.request_timeout;
        loop {
            let request = MetadataRequest {
                topics: Some(vec![MetadataRequestTopic { name: Some(name.to_string()), ..Default::default() }]),
                allow_auto_topic_creation: true,
                ..Default::default()
            };
            let Response::Metadata(r) = self.send_any(Request::Metadata(request)).await? else {
                return Err(ClientError::Invalid("Metadata answered with something else".into()));
            };
            let t = r.topics.into_iter().next().ok_or_else(|| ClientError::Invalid("empty Metadata answer".into()))?;
            let waited = start.elapsed();
            let code = match t.error_code {
                0 if !t.partitions.is_empty() && t.partitions.iter().all(|p| p.error_code == 0 && p.leader_id >= 0) => {
                    drop(self.refresh_metadata(Some(&[name.to_string()])).await?);
                    return self.metadata().topics.get(name).cloned().ok_or_else(|| {
                        ClientError::kafka(UNKNOWN_TOPIC_OR_PARTITION, Some(format!("topic '{name}' vanished")))
                    });
                }
                0 => LEADER_NOT_AVAILABLE,
                UNKNOWN_TOPIC_OR_PARTITION if waited >= Duration::from_millis(UNKNOWN_TOPIC_WAIT_MS) => {
                    return Err(ClientError::kafka(
                        UNKNOWN_TOPIC_OR_PARTITION,
                        Some(format!(
                            "topic '{name}' does not exist and the broker did not create it \
                             (auto.create.topics.enable=false?)"
                        )),
                    ));
                }
                code @ (UNKNOWN_TOPIC_OR_PARTITION | LEADER_NOT_AVAILABLE) => code,
                code => return Err(ClientError::kafka(code, Some(format!("topic '{name}'")))),
            };
            if waited >= timeout {
                return Err(ClientError::Timeout {
                    what: format!(
                        "partition leaders of topic '{name}' (last answer: {})",
                        ClientError::kafka(code, None)
                    ),
                    ms: timeout.as_millis() as u64,
                });
            }
            tokio::time::sleep(Duration::from_millis(TOPIC_WAIT_BACKOFF_MS)).await;
        }
    }

    /// Metadata of one topic, refreshed; UNKNOWN_TOPIC_OR_PARTITION if it does not exist.
    pub async fn topic(&self, name: &str) -> Result<TopicInfo> {
        let request = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic { name: Some(name.to_string()), ..Default::default() }]),
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        let Response::Metadata(r) = self.send_any(Request::Metadata(request)).await? else {
            return Err(ClientError::Invalid("Metadata answered with something else".into()));
        };
        let t = r.topics.into_iter().next().ok_or_else(|| ClientError::Invalid("empty Metadata answer".into()))?;
        if t.error_code != 0 {
            let message = if t.error_code == UNKNOWN_TOPIC_OR_PARTITION {
                format!("topic '{name}' does not exist")
            } else {
                format!("topic '{name}' is unavailable")
            };
            return Err(ClientError::kafka(t.error_code, Some(message)));
        }
        drop(self.refresh_metadata(Some(&[name.to_string()])).await?);
        self.metadata().topics.get(name).cloned().ok_or_else(|| ClientError::kafka(UNKNOWN_TOPIC_OR_PARTITION, None))
    }
}

#[cfg(test)]
mod properties_tests {
    use super::*;
    use crate::connection::SaslMechanism;
    use sluice_protocol::scram::ScramMechanism;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn sasl_properties_in_librdkafka_and_java_forms_configure_authentication() {
        let (c, unknown) = ClientConfig::with_properties(
            "h:1",
            &props(&[
                ("security.protocol", "sasl_plaintext"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "alice"),
                ("sasl.password", "pw"),
                ("linger.ms", "5"),
            ]),
        )
        .expect("valid");
        let sasl = c.sasl.expect("sasl");
        assert_eq!(
            (sasl.mechanism, sasl.username.as_str(), sasl.password.as_str()),
            (SaslMechanism::Scram(ScramMechanism::Sha512), "alice", "pw")
        );
        assert_eq!(unknown, vec!["linger.ms".to_string()]);
        let (c, _) = ClientConfig::with_properties(
            "h:1",
            &props(&[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "PLAIN"),
                ("sasl.jaas.config", r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="bob" password="b-pw";"#),
            ]),
        )
        .expect("valid");
        assert_eq!(c.sasl.map(|s| (s.username, s.password)), Some(("bob".into(), "b-pw".into())));
        let (c, _) =
            ClientConfig::with_properties("h:1", &props(&[("sasl.username", "x")])).expect("PLAINTEXT ignores sasl.*");
        assert!(c.sasl.is_none());
        assert!(
            format!(
                "{:?}",
                ClientConfig::with_properties(
                    "h:1",
                    &props(&[
                        ("security.protocol", "SASL_PLAINTEXT"),
                        ("sasl.mechanism", "PLAIN"),
                        ("sasl.username", "u"),
                        ("sasl.password", "secret")
                    ])
                )
                .expect("valid")
                .0
                .sasl
            )
            .contains("hidden")
        );
    }

    #[test]
    fn unusable_properties_are_errors_naming_the_key() {
        for (pairs, key) in [
            (vec![("security.protocol", "CARRIER_PIGEON")], "security.protocol"),
            (vec![("security.protocol", "SSL"), ("ssl.ca.location", "/nonexistent/ca.pem")], "/nonexistent/ca.pem"),
            (vec![("security.protocol", "SASL_SSL"), ("ssl.keystore.type", "JKS")], "ssl.keystore.type"),
            (vec![("security.protocol", "SSL"), ("ssl.key.password", "pw")], "ssl.key.password"),
            (
                vec![("security.protocol", "SSL"), ("ssl.endpoint.identification.algorithm", "sometimes")],
                "ssl.endpoint.identification.algorithm",
            ),
            (vec![("security.protocol", "SSL"), ("ssl.certificate.location", "/tmp/c.pem")], "ssl.key.location"),
            (vec![("security.protocol", "SASL_PLAINTEXT")], "sasl.mechanism"),
            (vec![("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "GSSAPI")], "sasl.mechanism"),
            (
                vec![("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "PLAIN"), ("sasl.password", "p")],
                "sasl.username",
            ),
            (
                vec![("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "PLAIN"), ("sasl.username", "u")],
                "sasl.password",
            ),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "PLAIN"),
                    ("sasl.jaas.config", "x required"),
                ],
                "sasl.jaas.config",
            ),
        ] {
            let err = ClientConfig::with_properties("h:1", &props(&pairs)).expect_err(key).to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}
