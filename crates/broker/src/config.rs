//! Broker configuration: a `server.properties`-style file with Kafka's key names, overridden by
//! `--override key=value` flags, overridden in turn by `SLUICE_<KEY>` environment variables
//! (upper case, dots as underscores: `SLUICE_LOG_RETENTION_MS` sets `log.retention.ms`).
//!
//! Unknown keys are warned about and ignored; a bad value stops startup with the key, the value
//! and the reason. Defaults are Kafka's, except `log.dirs` (`./data`) and `broker.id` (0), which
//! make `sluiced` with no arguments a working single node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sluice_storage::{LogConfig, LogManagerConfig};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid { key: String, value: String, reason: String },
    #[error("malformed line {line} of {path}: {text:?} (expected key=value)")]
    Malformed { path: String, line: usize, text: String },
}

/// A listener: `NAME://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    fn parse(key: &str, text: &str) -> Result<Listener, ConfigError> {
        let invalid =
            |reason: &str| ConfigError::Invalid { key: key.into(), value: text.into(), reason: reason.into() };
        let (name, rest) = text.split_once("://").ok_or_else(|| invalid("expected NAME://host:port"))?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| invalid("expected NAME://host:port"))?;
        let port = port.parse().map_err(|_| invalid("port must be a number from 0 to 65535"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid("listener name must be letters, digits or _"));
        }
        Ok(Listener { name: name.to_ascii_uppercase(), host: host.to_string(), port })
    }
}

/// Every key the broker understands, with Kafka's default. Keys without a default must be set
/// or are derived (`advertised.listeners` from `listeners`).
const KNOWN_KEYS: &[(&str, &str)] = &[
    ("broker.id", "0"),
    ("process.roles", "broker,keeper"),
    ("listeners", "PLAINTEXT://:9092"),
    ("advertised.listeners", ""),
    ("log.dirs", ""),
    ("log.dir", "./data"),
    ("num.partitions", "1"),
    ("default.replication.factor", "1"),
    ("min.insync.replicas", "1"),
    ("auto.create.topics.enable", "true"),
    ("delete.topic.enable", "true"),
    ("message.max.bytes", "1048588"),
    ("socket.request.max.bytes", "104857600"),
    ("max.connections", "10000"),
    ("max.connections.per.ip", "2147483647"),
    ("max.connections.per.ip.overrides", ""),
    ("connections.max.idle.ms", "600000"),
    ("socket.request.read.timeout.ms", "60000"),
    ("queued.max.requests", "500"),
    ("queued.max.request.bytes", "536870912"),
    ("fetch.max.bytes", "57671680"),
    ("fetch.response.memory.max.bytes", "536870912"),
    ("max.incremental.fetch.session.cache.slots", "1000"),
    ("fetch.sendfile.enable", "true"),
    ("log.segment.bytes", "1073741824"),
    ("log.roll.ms", ""),
    ("log.roll.hours", "168"),
    ("log.retention.ms", ""),
    ("log.retention.minutes", ""),
    ("log.retention.hours", "168"),
    ("log.retention.bytes", "-1"),
    ("log.index.size.max.bytes", "10485760"),
    ("log.index.interval.bytes", "4096"),
    ("log.flush.interval.messages", "9223372036854775807"),
    ("log.flush.interval.ms", ""),
    ("log.flush.scheduler.interval.ms", "9223372036854775807"),
    ("log.flush.offset.checkpoint.interval.ms", "60000"),
    ("log.flush.start.offset.checkpoint.interval.ms", "60000"),
    ("log.retention.check.interval.ms", "300000"),
    ("log.cleanup.policy", "delete"),
    ("log.cleaner.backoff.ms", "15000"),
    ("num.recovery.threads.per.data.dir", "1"),
    ("log.cleaner.delete.retention.ms", "86400000"),
    ("group.min.session.timeout.ms", "6000"),
    ("group.max.session.timeout.ms", "1800000"),
    ("group.initial.rebalance.delay.ms", "3000"),
    ("group.max.size", "2147483647"),
    ("group.consumer.session.timeout.ms", "45000"),
    ("group.consumer.min.session.timeout.ms", "45000"),
    ("group.consumer.max.session.timeout.ms", "60000"),
    ("group.consumer.heartbeat.interval.ms", "5000"),
    ("group.consumer.min.heartbeat.interval.ms", "5000"),
    ("group.consumer.max.heartbeat.interval.ms", "15000"),
    ("group.consumer.max.size", "2147483647"),
    ("group.consumer.assignors", "uniform,range"),
    ("offsets.retention.minutes", "10080"),
    ("offsets.retention.check.interval.ms", "600000"),
    ("offset.metadata.max.bytes", "4096"),
    ("keeper.connect", ""),
    ("zookeeper.connect", ""),
    ("keeper.client.port", "2181"),
    ("keeper.client.address", ""),
    // The HTTP endpoint (`observe/`): /metrics, /health, /ready; empty turns it off.
    ("metrics.listener", "127.0.0.1:9644"),
    // The HTTP endpoint over TLS: the listeners' ssl.* keys under `metrics.`.
    ("metrics.ssl.enabled", "false"),
    ("metrics.ssl.keystore.type", "PEM"),
    ("metrics.ssl.keystore.location", ""),
    ("metrics.ssl.keystore.key", ""),
    ("metrics.ssl.keystore.certificate.chain", ""),
    ("metrics.ssl.key.password", ""),
    ("metrics.ssl.truststore.type", "PEM"),
    ("metrics.ssl.truststore.location", ""),
    ("metrics.ssl.truststore.certificates", ""),
    ("metrics.ssl.client.auth", "none"),
    ("metrics.ssl.enabled.protocols", "TLSv1.2,TLSv1.3"),
    ("keeper.tick.time.ms", "2000"),
    ("keeper.min.session.timeout.ms", ""),
    ("keeper.max.session.timeout.ms", ""),
    ("keeper.id", ""),
    ("keeper.servers", ""),
    ("keeper.data.dir", ""),
    ("keeper.election.timeout.ms", "1000"),
    ("keeper.heartbeat.interval.ms", "100"),
    ("keeper.snap.count", "10000"),
    ("keeper.max.client.cnxns", "60"),
    ("keeper.sessionless.cnxn.timeout.ms", "10000"),
    ("keeper.super.digest", ""),
    // Keeper over TLS (ZooKeeper's secureClientPort, ssl.*, sslQuorum and X509 super user).
    ("keeper.secure.client.port", ""),
    ("keeper.ssl.keystore.type", "PEM"),
    ("keeper.ssl.keystore.location", ""),
    ("keeper.ssl.keystore.key", ""),
    ("keeper.ssl.keystore.certificate.chain", ""),
    ("keeper.ssl.key.password", ""),
    ("keeper.ssl.truststore.type", "PEM"),
    ("keeper.ssl.truststore.location", ""),
    ("keeper.ssl.truststore.certificates", ""),
    ("keeper.ssl.client.auth", "required"),
    ("keeper.ssl.enabled.protocols", "TLSv1.2,TLSv1.3"),
    ("keeper.ssl.endpoint.identification.algorithm", ""),
    ("keeper.ssl.quorum", "false"),
    ("keeper.ssl.quorum.hostname.verification", "true"),
    ("keeper.x509.super.user", ""),
    // Keeper SASL (ZooKeeper's DigestLoginModule Server section and zookeeper.superUser).
    ("keeper.sasl.jaas.config", ""),
    ("keeper.sasl.super.user", ""),
    // The broker's keeper client over TLS (Kafka's KIP-515 keys; PEM files only).
    ("zookeeper.ssl.client.enable", "false"),
    ("zookeeper.clientCnxnSocket", ""),
    ("zookeeper.ssl.keystore.location", ""),
    ("zookeeper.ssl.keystore.type", "PEM"),
    ("zookeeper.ssl.keystore.password", ""),
    ("zookeeper.ssl.truststore.location", ""),
    ("zookeeper.ssl.truststore.type", "PEM"),
    ("zookeeper.ssl.truststore.password", ""),
    ("zookeeper.ssl.endpoint.identification.algorithm", "HTTPS"),
    ("keeper.connect.auth", ""),
    ("zookeeper.set.acl", "false"),
    ("zookeeper.session.timeout.ms", "18000"),
    ("keeper.session.timeout.ms", ""),
    ("broker.rack", ""),
    ("inter.broker.listener.name", ""),
    ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
    // SASL (listener-prefixed forms, `listener.name.<listener>.<key>`, win over these).
    ("sasl.enabled.mechanisms", "GSSAPI"),
    ("sasl.mechanism.inter.broker.protocol", "GSSAPI"),
    ("connection.failed.authentication.delay.ms", "100"),
    ("connections.max.reauth.ms", "0"),
    // Client quotas (`quota.rs`): the window their rates are measured over.
    ("quota.window.num", "11"),
    ("quota.window.size.seconds", "1"),
    // TLS (`tls.rs`; listener-prefixed forms win): PEM files only.
    ("ssl.keystore.type", "PEM"),
    ("ssl.keystore.location", ""),
    ("ssl.keystore.key", ""),
    ("ssl.keystore.certificate.chain", ""),
    ("ssl.key.password", ""),
    ("ssl.truststore.type", "PEM"),
    ("ssl.truststore.location", ""),
    ("ssl.truststore.certificates", ""),
    ("ssl.client.auth", "none"),
    ("ssl.enabled.protocols", "TLSv1.2,TLSv1.3"),
    ("ssl.principal.mapping.rules", "DEFAULT"),
    ("ssl.endpoint.identification.algorithm", "https"),
    // Authorization (`acl/`): on when authorizer.class.name names Kafka's ACL authorizer.
    ("authorizer.class.name", ""),
    ("super.users", ""),
    ("allow.everyone.if.no.acl.found", "false"),
    ("replica.lag.time.max.ms", "30000"),
    ("replica.fetch.wait.max.ms", "500"),
    ("replica.fetch.max.bytes", "1048576"),
    ("replica.fetch.response.max.bytes", "10485760"),
    ("replica.fetch.backoff.ms", "1000"),
    ("replica.socket.timeout.ms", "30000"),
    ("replica.selector.class", ""),
    ("unclean.leader.election.enable", "false"),
    ("auto.leader.rebalance.enable", "true"),
    ("leader.imbalance.check.interval.seconds", "300"),
    ("offsets.topic.replication.factor", "3"),
    ("transaction.max.timeout.ms", "900000"),
    ("transaction.abort.timed.out.transaction.cleanup.interval.ms", "10000"),
    ("transaction.state.log.num.partitions", "50"),
    ("transaction.state.log.replication.factor", "3"),
    ("transaction.state.log.min.isr", "2"),
    ("transaction.state.log.segment.bytes", "104857600"),
    ("transaction.partition.verification.enable", "true"),
    ("transactional.id.expiration.ms", "604800000"),
    ("transaction.remove.expired.transaction.cleanup.interval.ms", "3600000"),
    ("producer.id.expiration.ms", "86400000"),
    ("producer.id.expiration.check.interval.ms", "600000"),
];

/// Kafka's default of broker key `key` (empty when it has none, or it is derived), if the
/// broker knows the key.
pub fn broker_key_default(key: &str) -> Option<&'static str> {
    KNOWN_KEYS.iter().find(|(k, _)| *k == key).map(|(_, d)| *d)
}

/// Kafka's `ConfigType` of broker key `key` (for DescribeConfigs v3+): what Kafka's
/// `KafkaConfig` defines it as; the topic defaults' keys take their topic config's type.
pub fn broker_key_type(key: &str) -> i8 {
    const BOOLEAN: i8 = 1;
    const STRING: i8 = 2;
    const INT: i8 = 3;
    const SHORT: i8 = 4;
    const LONG: i8 = 5;
    const LIST: i8 = 7;
    match key {
        "offsets.topic.replication.factor" | "transaction.state.log.replication.factor" => SHORT,
        "connections.max.idle.ms"
        | "log.retention.check.interval.ms"
        | "log.cleaner.backoff.ms"
        | "offsets.retention.check.interval.ms"
        | "replica.lag.time.max.ms"
        | "leader.imbalance.check.interval.seconds"
        | "log.flush.scheduler.interval.ms" => LONG,
        "listeners" | "advertised.listeners" | "log.dirs" | "process.roles" => LIST,
        "log.dir" | "listener.security.protocol.map" | "inter.broker.listener.name" | "broker.rack" => STRING,
        _ => match broker_key_default(key) {
            Some("true" | "false") => BOOLEAN,
            Some(d) if !d.is_empty() && d.parse::<i32>().is_ok() => INT,
            Some(d) if !d.is_empty() && d.parse::<i64>().is_ok() => LONG,
            _ => STRING,
        },
    }
}

/// Every broker key this broker knows besides the topic defaults' synonyms.
pub fn broker_keys() -> impl Iterator<Item = &'static str> {
    KNOWN_KEYS.iter().map(|(k, _)| *k)
}

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub broker_id: i32,
    /// `process.roles` includes `broker`: this process serves Kafka clients.
    pub broker_role: bool,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Vec<Listener>,
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub socket_request_max_bytes: usize,
    /// `max.connections`, `max.connections.per.ip` and `max.connections.per.ip.overrides`
    /// (`connection_limit.rs`).
    pub connection_limits: crate::connection_limit::ConnectionLimits,
    /// `connections.max.idle.ms`: a connection with no request started for this long is closed.
    pub connections_max_idle_ms: u64,
    /// `socket.request.read.timeout.ms`: once a request's size has arrived, the rest of it must
    /// arrive within this time or the connection is closed, so a client that stops half-way
    /// through a frame holds neither its connection nor the frame's memory for long. Kafka has
    /// no such key (its idle timeout restarts with every byte); ours bounds the whole frame.
    pub socket_request_read_timeout_ms: u64,
    /// `queued.max.request.bytes`: bytes of request frames larger than `SMALL_FRAME_BYTES` being
    /// read or handled, over all connections (`server.rs`): a frame's growth waits while the
    /// pool is short (its connection is muted, as Kafka's memory pool mutes it). Kafka's default, -1,
    /// leaves it unbounded; ours is 512 MiB, and -1 is accepted and still means unbounded.
    /// (`queued.max.requests` is accepted and has no effect: each connection has at most one
    /// request in flight, so requests queued are bounded by `max.connections`.)
    pub queued_max_request_bytes: Option<usize>,
    /// `fetch.max.bytes`: the most record bytes one consumer fetch returns, whatever it asks
    /// (followers: `replica.fetch.response.max.bytes`). As in Kafka, the first batch may exceed
    /// it so a consumer always progresses (KIP-74).
    pub fetch_max_bytes: usize,
    /// `fetch.response.memory.max.bytes`: record bytes held by fetch responses being read,
    /// encoded or sent, over all connections; a fetch that finds the pool short reads less (down
    /// to one batch) instead of waiting (`api/fetch.rs`). Sluice's own key.
    pub fetch_response_memory_max_bytes: usize,
    /// `fetch.sendfile.enable`: fetch answers send records straight from the segment files
    /// (`sendfile`) instead of copying them through memory. Sluice's own key, for comparing the
    /// two paths (scripts/bench-fetch) and for platforms where sendfile misbehaves.
    pub fetch_sendfile_enable: bool,
    /// `max.incremental.fetch.session.cache.slots`: how many incremental fetch sessions
    /// (KIP-227) the broker keeps (Kafka's key and default, 1,000; 0 turns sessions off).
    pub max_incremental_fetch_session_cache_slots: usize,
    /// Where the embedded keeper (ZooKeeper client protocol) listens, when `process.roles`
    /// includes `keeper`: `keeper.client.address` (empty: every interface; by default loopback
    /// for a broker's own one-node keeper, every interface otherwise) and
    /// `keeper.client.port` (ZooKeeper's `clientPort`; 0 picks a free port).
    pub keeper_client: Option<(String, u16)>,
    /// `metrics.listener` (`host:port`, ARCHITECTURE's 9644; empty: off): where the HTTP
    /// endpoint serves `/metrics`, `/health` and `/ready`. Loopback by default, as the
    /// embedded keeper: what it shows (topics, groups) is for the operator's host.
    pub metrics_listener: Option<(String, u16)>,
    /// `metrics.ssl.enabled`: the HTTP endpoint serves HTTPS only, with the listeners' `ssl.*`
    /// keys under `metrics.` (`metrics.ssl.keystore.location`, `metrics.ssl.truststore.location`,
    /// `metrics.ssl.client.auth`: `required` admits only clients with a certificate the
    /// truststore's CAs signed, Prometheus's `tls_config` and `sluice health --ready` with
    /// `-X ssl.certificate.location` among them).
    pub metrics_tls: Option<crate::tls::TlsSettings>,
    /// `keeper.secure.client.port` (ZooKeeper's `secureClientPort`): the embedded keeper's TLS
    /// client port, on `keeper.client.address`, with `keeper.ssl.*` (the broker listeners'
    /// `ssl.*` keys under `keeper.`; `keeper.ssl.client.auth` is `required` by default, as
    /// ZooKeeper's `ssl.clientAuth=need`). A client certificate proves `x509:<subject DN>`.
    pub keeper_secure_client: Option<(u16, crate::tls::TlsSettings)>,
    /// `keeper.ssl.quorum` (ZooKeeper's `sslQuorum`): the keeper nodes reach each other over
    /// mutual TLS with the `keeper.ssl.*` keystore and truststore.
    pub keeper_ssl_quorum: Option<crate::tls::TlsSettings>,
    /// `zookeeper.ssl.client.enable` and `zookeeper.ssl.*` (Kafka's KIP-515): this broker
    /// reaches keeper over TLS, trusting `zookeeper.ssl.truststore.location` and presenting
    /// `zookeeper.ssl.keystore.location` (key and chain in one PEM file) as its `x509` identity.
    pub keeper_connect_tls: Option<sluice_client::tls::TlsSettings>,
    /// `keeper.tick.time.ms` and the session timeout bounds (ZooKeeper's `tickTime`,
    /// `minSessionTimeout`, `maxSessionTimeout`; by default 2 and 20 ticks); the ensemble
    /// (`keeper.id`, default `broker.id`, among `keeper.servers`, `id@host:port,...` of the
    /// peer ports, empty for one node); `keeper.data.dir` (default `keeper` in the first log
    /// dir) for the Raft log and snapshots; Raft timing (`keeper.election.timeout.ms`,
    /// `keeper.heartbeat.interval.ms`); `keeper.snap.count` log entries between snapshots;
    /// `keeper.max.client.cnxns` (ZooKeeper's `maxClientCnxns`, 60; 0 is unlimited) and
    /// `keeper.sessionless.cnxn.timeout.ms` (the time a new connection has to send its
    /// ConnectRequest, ZooKeeper's 10 s).
    pub keeper: sluice_keeper::KeeperConfig,
    /// `keeper.connect` (alias `zookeeper.connect`): the coordination service this broker keeps
    /// its cluster metadata in, `host:port,...[/chroot]`; `None` uses the embedded keeper.
    pub keeper_connect: Option<String>,
    /// `keeper.connect.auth`: the credentials this broker proves to keeper on each connection,
    /// `digest:<user>:<password>` (zkCli's `addauth digest`); every broker of a cluster uses the
    /// same, as Kafka's brokers share one ZooKeeper principal.
    pub keeper_connect_auth: Option<sluice_keeper::acl::Secret>,
    /// `zookeeper.set.acl` (Kafka's key, false): znodes this broker creates get Kafka's ACLs,
    /// everything to the brokers' identity and reading to everyone (nothing on SCRAM
    /// credentials and broker configs), so only brokers can change cluster metadata. Needs
    /// `keeper.connect.auth`.
    pub zookeeper_set_acl: bool,
    /// `zookeeper.session.timeout.ms` (alias `keeper.session.timeout.ms`): how long the broker's
    /// keeper session outlives a silent broker, so how soon the controller notices its death.
    pub keeper_session_timeout_ms: u64,
    /// `broker.rack`, for rack-aware replica assignment.
    pub rack: Option<String>,
    /// `inter.broker.listener.name`: followers fetch from the leader's listener of this name
    /// (default: the first listener).
    pub inter_broker_listener: String,
    /// The SASL settings of each `SASL_PLAINTEXT` and `SASL_SSL` listener, by listener name.
    pub sasl: BTreeMap<String, std::sync::Arc<crate::sasl::SaslListener>>,
    /// The TLS settings of each `SSL` and `SASL_SSL` listener, by listener name.
    pub tls: BTreeMap<String, crate::tls::TlsSettings>,
    /// How this broker connects to the others over the inter-broker listener: TLS when it is
    /// `SSL`/`SASL_SSL` (the listener's truststore, and its keystore as client certificate),
    /// and its SASL login when it is `SASL_*`.
    pub inter_broker_security: sluice_client::Security,
    /// `connection.failed.authentication.delay.ms`: how long a connection whose authentication
    /// failed is held before its answer and close (slows password guessing).
    pub failed_authentication_delay_ms: u64,
    /// `connections.max.reauth.ms` (KIP-368): how long a SASL session lasts before the client
    /// must re-authenticate on its connection (0: forever). Clients learn it from
    /// SaslAuthenticate v1+; a connection that sends anything but SaslHandshake after its
    /// session ended is closed.
    pub connections_max_reauth_ms: u64,
    /// `quota.window.num` and `quota.window.size.seconds`: client quotas' rates are measured
    /// over this many samples of this many seconds (`crate::quota`).
    pub quota_window: crate::quota::QuotaWindow,
    /// `authorizer.class.name` naming Kafka's ACL authorizer (ZooKeeper's
    /// `kafka.security.authorizer.AclAuthorizer` or KRaft's `StandardAuthorizer`; empty: none,
    /// every principal may do everything), with `super.users` and
    /// `allow.everyone.if.no.acl.found`.
    pub authorizer: Option<AuthorizerConfig>,
    pub replication: ReplicationConfig,
    /// Defaults for every topic (the `log.*` keys and `message.max.bytes`).
    pub log: LogConfig,
    pub log_manager: LogManagerConfig,
    /// `group.*` and `offsets.retention.minutes` settings of the group coordinator.
    pub group: crate::group::state::GroupConfig,
    /// `offsets.retention.check.interval.ms`
    pub offsets_retention_check_interval_ms: u64,
    /// The transaction coordinator's `transaction.*` settings.
    pub txn: crate::txn::TxnConfig,
    /// The keys set by the file, `--override` or the environment (not the defaults).
    pub explicit: RawConfig,
    /// Every effective key, for DescribeConfigs on the broker resource.
    pub values: RawConfig,
}

/// The ACL authorizer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// `super.users`: principals (`User:admin;User:broker`) every check allows.
    pub super_users: std::collections::BTreeSet<String>,
    /// `allow.everyone.if.no.acl.found`: a resource no entry names is open to everyone.
    pub allow_everyone_if_no_acl_found: bool,
}

/// The authorizer classes `authorizer.class.name` may name: Kafka's ACL authorizers, both
/// served by `acl/` with ACLs in keeper.
pub const AUTHORIZER_CLASSES: [&str; 2] =
    ["kafka.security.authorizer.AclAuthorizer", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"];

/// The `replica.*` settings, leader election and the internal topics' replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// `replica.lag.time.max.ms`: a follower that has not caught up for this long leaves the ISR.
    pub lag_time_max_ms: u64,
    /// `replica.fetch.wait.max.ms`
    pub fetch_wait_max_ms: i32,
    /// `replica.fetch.max.bytes` (per partition) and `replica.fetch.response.max.bytes`
    pub fetch_max_bytes: i32,
    pub fetch_response_max_bytes: i32,
    /// `replica.fetch.backoff.ms`: pause after a failed fetch.
    pub fetch_backoff_ms: u64,
    /// `replica.socket.timeout.ms`
    pub socket_timeout_ms: u64,
    /// `auto.leader.rebalance.enable` and `leader.imbalance.check.interval.seconds`
    pub auto_leader_rebalance: bool,
    pub leader_imbalance_check_interval_ms: u64,
    /// `offsets.topic.replication.factor`
    pub offsets_topic_replication_factor: i16,
    /// `replica.selector.class` is Kafka's `RackAwareReplicaSelector` (KIP-392): a partition's
    /// leader sends a consumer that names its `client.rack` to a caught-up follower in that rack.
    /// Unset (Kafka's default), consumers read from leaders; either way followers serve the
    /// consumers that come to them (Fetch v11+), up to their high watermark.
    pub rack_aware_replica_selector: bool,
}

/// The one `replica.selector.class` Kafka ships besides the leader-only default.
pub const RACK_AWARE_REPLICA_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// Reads `key=value` lines (`#` and `!` start comments, as in Java properties files).
pub fn parse_properties(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Unreadable { path: path.display().to_string(), reason: e.to_string() })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            return Err(ConfigError::Malformed { path: path.display().to_string(), line: n + 1, text: line.into() });
        };
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

impl BrokerConfig {
    /// Builds the configuration from the file's entries, then `overrides`, then the
    /// environment's `SLUICE_*` variables, each later source winning.
    pub fn load(
        file: Vec<(String, String)>,
        overrides: Vec<(String, String)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<BrokerConfig, ConfigError> {
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in file.into_iter().chain(overrides) {
            values.insert(k, v);
        }
        for (k, v) in env {
            if let Some(rest) = k.strip_prefix("SLUICE_") {
                // The CLI's own variables (its default broker and keeper), set beside sluiced in
                // the image so `sluice` run inside a container finds them; and the test suites'
                // SLUICE_CLI (the path of the `sluice` binary under test).
                if rest.is_empty() || rest == "BOOTSTRAP" || rest == "KEEPER" || rest == "CLI" {
                    continue;
                }
                values.insert(rest.to_ascii_lowercase().replace('_', "."), v);
            }
        }
        for key in values.keys() {
            if !KNOWN_KEYS.iter().any(|(k, _)| k == key)
                && !sluice_storage::config::is_topic_default_key(key)
                && !is_listener_sasl_key(key)
            {
                tracing::warn!(key = %key, "ignoring unknown config key");
            }
        }
        let get = |key: &str| -> Option<String> {
            values
                .get(key)
                .cloned()
                .or_else(|| KNOWN_KEYS.iter().find(|(k, _)| *k == key).map(|(_, d)| d.to_string()))
                .filter(|v| !v.is_empty())
        };
        let invalid = |key: &str, value: &str, reason: &str| ConfigError::Invalid {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        };
        let int = |key: &str, min: i64, max: i64| -> Result<Option<i64>, ConfigError> {
            let Some(v) = get(key) else { return Ok(None) };
            let n: i64 = v.trim().parse().map_err(|_| invalid(key, &v, "not a whole number"))?;
            if n < min || n > max {
                return Err(invalid(key, &v, &format!("must be between {min} and {max}")));
            }
            Ok(Some(n))
        };
        let boolean = |key: &str| -> Result<bool, ConfigError> {
            let v = get(key).unwrap_or_default();
            match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(invalid(key, &v, "expected true or false")),
            }
        };
        let listeners_of = |key: &str| -> Result<Vec<Listener>, ConfigError> {
            get(key)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Listener::parse(key, s))
                .collect()
        };

        let roles = get("process.roles").unwrap_or_default();
        for role in roles.split(',').map(str::trim) {
            match role {
                "broker" => {}
                "keeper" | "controller" => {}
                _ => return Err(invalid("process.roles", &roles, "expected broker, keeper, or both")),
            }
        }
        let keeper_role = roles.split(',').any(|r| matches!(r.trim(), "keeper" | "controller"));
        let broker_role = roles.split(',').any(|r| r.trim() == "broker");
        if !broker_role && !keeper_role {
            return Err(invalid("process.roles", &roles, "expected broker, keeper, or both"));
        }
        let keeper_connect = get("keeper.connect").or_else(|| get("zookeeper.connect"));
        if let Some(connect) = &keeper_connect {
            let key = if get("keeper.connect").is_some() { "keeper.connect" } else { "zookeeper.connect" };
            let (hosts, chroot) = split_chroot(connect);
            if hosts
                .split(',')
                .map(str::trim)
                .any(|h| h.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()))
            {
                return Err(invalid(key, connect, "expected host:port[,host:port...][/chroot]"));
            }
            if chroot.is_some_and(|c| c.len() < 2 || c.ends_with('/')) {
                return Err(invalid(key, connect, "the chroot must be a path like /sluice"));
            }
        } else if broker_role && !keeper_role {
            return Err(invalid(
                "keeper.connect",
                "",
                "a broker without the keeper role needs keeper.connect (or zookeeper.connect) to find its cluster",
            ));
        }

        let listeners = listeners_of("listeners")?;
        if listeners.is_empty() {
            return Err(invalid("listeners", "", "at least one listener is required"));
        }
        let mut advertised_listeners = listeners_of("advertised.listeners")?;
        if advertised_listeners.is_empty() {
            advertised_listeners = listeners.clone();
        }
        let log_dirs: Vec<PathBuf> = get("log.dirs")
            .or_else(|| get("log.dir"))
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
        if log_dirs.is_empty() {
            return Err(invalid("log.dirs", "", "at least one directory is required"));
        }

        // Every topic config's default, from its broker keys (Kafka's synonyms, in their units).
        let log = LogConfig::from_broker(|key| values.get(key).filter(|v| !v.trim().is_empty()).cloned())
            .map_err(|e| invalid(&e.key, &e.value, &e.reason))?;

        let mut log_manager = LogManagerConfig::new(log_dirs.clone());
        log_manager.default_log_config = log.clone();
        log_manager.retention_check_interval_ms =
            int("log.retention.check.interval.ms", 1, i64::MAX)?.unwrap_or(300_000);
        log_manager.flush_scheduler_interval_ms =
            int("log.flush.scheduler.interval.ms", 1, i64::MAX)?.unwrap_or(i64::MAX);
        log_manager.flush_offset_checkpoint_interval_ms =
            int("log.flush.offset.checkpoint.interval.ms", 1, i64::MAX)?.unwrap_or(60_000);
        log_manager.cleaner_backoff_ms = int("log.cleaner.backoff.ms", 1, i64::MAX)?.unwrap_or(15_000);
        // Threads loading the logs at startup, per directory (all directories at once).
        log_manager.recovery_threads_per_data_dir = int("num.recovery.threads.per.data.dir", 1, 1_024)?
            .map_or(sluice_storage::manager::DEFAULT_RECOVERY_THREADS_PER_DATA_DIR, |n| n as usize);
        log_manager.flush_start_offset_checkpoint_interval_ms =
            int("log.flush.start.offset.checkpoint.interval.ms", 1, i64::MAX)?.unwrap_or(60_000);
        // KIP-854; Kafka defines both as INT, at least 1.
        log_manager.producer_id_expiration_ms = int("producer.id.expiration.ms", 1, i64::from(i32::MAX))?
            .unwrap_or(sluice_storage::producer_state::DEFAULT_PRODUCER_ID_EXPIRATION_MS);
        log_manager.producer_id_expiration_check_interval_ms =
            int("producer.id.expiration.check.interval.ms", 1, i64::from(i32::MAX))?
                .unwrap_or(sluice_storage::producer_state::DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS);

        let mut effective = values.clone();
        for (k, d) in KNOWN_KEYS {
            if !d.is_empty() {
                effective.entry((*k).to_string()).or_insert_with(|| (*d).to_string());
            }
        }

        let tick = int("keeper.tick.time.ms", 1, i64::from(i32::MAX / 20))?.unwrap_or(2_000) as i32;
        let mut keeper = sluice_keeper::KeeperConfig::with_tick(tick);
        if let Some(ms) = int("keeper.min.session.timeout.ms", 1, i64::from(i32::MAX))? {
            keeper.min_session_timeout_ms = ms as i32;
        }
        if let Some(ms) = int("keeper.max.session.timeout.ms", 1, i64::from(i32::MAX))? {
            keeper.max_session_timeout_ms = ms as i32;
        }
        let broker_id = int("broker.id", 0, i64::from(i32::MAX))?.unwrap_or(0) as i32;
        keeper.id = int("keeper.id", 0, i64::from(i32::MAX))?.unwrap_or(i64::from(broker_id)) as u64;
        if let Some(list) = get("keeper.servers") {
            keeper.servers = parse_keeper_servers(&list)?;
            if !keeper.servers.is_empty() && !keeper.servers.contains_key(&keeper.id) {
                return Err(invalid(
                    "keeper.servers",
                    &list,
                    &format!("names no server with this node's keeper.id ({})", keeper.id),
                ));
            }
        }
        keeper.data_dir = match get("keeper.data.dir") {
            Some(d) => PathBuf::from(d),
            None => log_dirs[0].join("keeper"),
        };
        keeper.election_timeout_ms = int("keeper.election.timeout.ms", 10, 600_000)?.unwrap_or(1_000) as u64;
        keeper.heartbeat_ms = int("keeper.heartbeat.interval.ms", 1, 600_000)?.unwrap_or(100) as u64;
        keeper.snapshot_entries = int("keeper.snap.count", 2, i64::MAX)?.unwrap_or(10_000) as u64;
        // ZooKeeper's maxClientCnxns (0: unlimited) and zookeeper.nio.sessionlessCnxnTimeout.
        if let Some(n) = int("keeper.max.client.cnxns", 0, i64::from(u32::MAX))? {
            keeper.max_client_cnxns = n as u32;
        }
        if let Some(ms) = int("keeper.sessionless.cnxn.timeout.ms", 1, 3_600_000)? {
            keeper.sessionless_cnxn_timeout_ms = ms as u64;
        }
        // ZooKeeper's zookeeper.DigestAuthenticationProvider.superDigest: super:<base64 sha1>.
        if let Some(d) = get("keeper.super.digest") {
            if d.split_once(':').is_none_or(|(u, h)| u.is_empty() || h.is_empty()) {
                return Err(invalid(
                    "keeper.super.digest",
                    "(hidden)",
                    "expected <user>:<base64 sha1 of user:password>, as `sluice keeper digest <user>:<password>` prints",
                ));
            }
            keeper.super_digest = Some(d);
        }
        if keeper.heartbeat_ms >= keeper.election_timeout_ms {
            return Err(invalid(
                "keeper.heartbeat.interval.ms",
                &keeper.heartbeat_ms.to_string(),
                &format!("must be below keeper.election.timeout.ms ({})", keeper.election_timeout_ms),
            ));
        }
        if keeper.min_session_timeout_ms > keeper.max_session_timeout_ms {
            return Err(invalid(
                "keeper.min.session.timeout.ms",
                &keeper.min_session_timeout_ms.to_string(),
                &format!("must not exceed keeper.max.session.timeout.ms ({})", keeper.max_session_timeout_ms),
            ));
        }

        let listener_names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
        let inter_broker_listener = match get("inter.broker.listener.name") {
            Some(name) if listener_names.contains(&name.as_str()) => name,
            Some(name) => {
                return Err(invalid("inter.broker.listener.name", &name, "names none of the listeners"));
            }
            None => listeners[0].name.clone(),
        };
        let protocols = check_security_protocols(
            &get("listener.security.protocol.map").unwrap_or_default(),
            values.contains_key("listener.security.protocol.map"),
            &listeners,
            &advertised_listeners,
        )?;
        let mut sasl = BTreeMap::new();
        let mut tls = BTreeMap::new();
        for l in &listeners {
            let protocol = protocols.get(&l.name).map(String::as_str).unwrap_or("PLAINTEXT");
            if protocol.starts_with("SASL_") {
                sasl.insert(l.name.clone(), std::sync::Arc::new(sasl_listener(&l.name, &get)?));
            }
            if protocol.ends_with("SSL") {
                tls.insert(l.name.clone(), tls_listener(&l.name, &get)?);
            }
        }
        let inter_broker_security = sluice_client::Security {
            sasl: match sasl.get(&inter_broker_listener) {
                Some(listener) => Some(inter_broker_credentials(&inter_broker_listener, listener, &get)?),
                None => None,
            },
            tls: match tls.get(&inter_broker_listener) {
                Some(settings) => Some(settings.client_config().map_err(|e| {
                    invalid(
                        "ssl.truststore.location",
                        "",
                        &format!("the inter-broker listener {inter_broker_listener}'s TLS client side: {e}"),
                    )
                })?),
                None => None,
            },
        };
        let failed_authentication_delay_ms =
            int("connection.failed.authentication.delay.ms", 0, i64::from(i32::MAX))?.unwrap_or(100) as u64;
        let authorizer = match get("authorizer.class.name").map(|c| c.trim().to_string()) {
            None => None,
            Some(class) if class.is_empty() => None,
            Some(class) if AUTHORIZER_CLASSES.contains(&class.as_str()) => {
                let mut super_users = std::collections::BTreeSet::new();
                for principal in get("super.users").unwrap_or_default().split(';').map(str::trim) {
                    if principal.is_empty() {
                        continue;
                    }
                    if crate::acl::parse_principal(principal).is_none() {
                        return Err(invalid("super.users", principal, "each principal is Type:name, e.g. User:admin"));
                    }
                    super_users.insert(principal.to_string());
                }
                Some(AuthorizerConfig {
                    super_users,
                    allow_everyone_if_no_acl_found: boolean("allow.everyone.if.no.acl.found")?,
                })
            }
            Some(class) => {
                return Err(invalid(
                    "authorizer.class.name",
                    &class,
                    &format!("the authorizers available are {}", AUTHORIZER_CLASSES.join(" and ")),
                ));
            }
        };
        let replication = ReplicationConfig {
            lag_time_max_ms: int("replica.lag.time.max.ms", 1, i64::MAX)?.unwrap_or(30_000) as u64,
            fetch_wait_max_ms: int("replica.fetch.wait.max.ms", 0, i64::from(i32::MAX))?.unwrap_or(500) as i32,
            fetch_max_bytes: int("replica.fetch.max.bytes", 1, i64::from(i32::MAX))?.unwrap_or(1 << 20) as i32,
            fetch_response_max_bytes: int("replica.fetch.response.max.bytes", 1, i64::from(i32::MAX))?
                .unwrap_or(10 << 20) as i32,
            fetch_backoff_ms: int("replica.fetch.backoff.ms", 0, i64::MAX)?.unwrap_or(1_000) as u64,
            socket_timeout_ms: int("replica.socket.timeout.ms", 1, i64::MAX)?.unwrap_or(30_000) as u64,
            auto_leader_rebalance: boolean("auto.leader.rebalance.enable")?,
            leader_imbalance_check_interval_ms: int("leader.imbalance.check.interval.seconds", 1, i64::MAX / 1000)?
                .unwrap_or(300) as u64
                * 1000,
            offsets_topic_replication_factor: int("offsets.topic.replication.factor", 1, i64::from(i16::MAX))?
                .unwrap_or(3) as i16,
            rack_aware_replica_selector: match get("replica.selector.class") {
                None => false,
                Some(class) if class.trim() == RACK_AWARE_REPLICA_SELECTOR => true,
                Some(class) => {
                    return Err(invalid(
                        "replica.selector.class",
                        &class,
                        &format!("the selectors available are the leader's (unset) and {RACK_AWARE_REPLICA_SELECTOR}"),
                    ));
                }
            },
        };
        let keeper_connect_auth = get("keeper.connect.auth");
        if let Some(auth) = &keeper_connect_auth {
            sluice_keeper::acl::parse_client_auth(auth)
                .map_err(|reason| invalid("keeper.connect.auth", "(hidden)", &reason))?;
        }
        let keeper_connect_tls = if boolean("zookeeper.ssl.client.enable")? {
            for key in ["zookeeper.ssl.keystore.type", "zookeeper.ssl.truststore.type"] {
                if let Some(t) = get(key).filter(|t| !t.trim().eq_ignore_ascii_case("PEM")) {
                    return Err(invalid(key, &t, "only PEM is read (convert JKS or PKCS12 with keytool/openssl)"));
                }
            }
            if get("zookeeper.ssl.keystore.password").is_some() {
                return Err(invalid(
                    "zookeeper.ssl.keystore.password",
                    "(hidden)",
                    "encrypted keys are not supported: decrypt the key (openssl pkey)",
                ));
            }
            let keystore = get("zookeeper.ssl.keystore.location").map(PathBuf::from);
            let verify = get("zookeeper.ssl.endpoint.identification.algorithm").unwrap_or_default();
            let verify_hostname = match verify.trim() {
                v if v.eq_ignore_ascii_case("https") => true,
                "" => false,
                other => {
                    return Err(invalid(
                        "zookeeper.ssl.endpoint.identification.algorithm",
                        other,
                        "expected HTTPS or empty",
                    ));
                }
            };
            let settings = sluice_client::tls::TlsSettings {
                ca_location: get("zookeeper.ssl.truststore.location").map(PathBuf::from),
                certificate_location: keystore.clone(),
                key_location: keystore,
                verify_hostname,
            };
            sluice_client::tls::client_config(&settings)
                .map_err(|e| invalid("zookeeper.ssl.keystore.location", "(see the reason)", &e))?;
            Some(settings)
        } else {
            None
        };
        let zookeeper_set_acl = boolean("zookeeper.set.acl")?;
        let proves_identity = keeper_connect_auth.is_some()
            || keeper_connect_tls.as_ref().is_some_and(|t| t.certificate_location.is_some());
        if zookeeper_set_acl && !proves_identity {
            return Err(invalid(
                "zookeeper.set.acl",
                "true",
                "needs an identity for the broker's keeper sessions: keeper.connect.auth (digest:<user>:<password>) or a client certificate (zookeeper.ssl.client.enable=true with zookeeper.ssl.keystore.location)",
            ));
        }
        let keeper_secure_client = match int("keeper.secure.client.port", 0, 65_535)? {
            Some(port) => Some((port as u16, keeper_tls(&get)?)),
            None => None,
        };
        let keeper_ssl_quorum = if boolean("keeper.ssl.quorum")? {
            let mut settings = keeper_tls(&get)?;
            if settings.truststore.is_none() {
                return Err(invalid(
                    "keeper.ssl.quorum",
                    "true",
                    "needs keeper.ssl.truststore.location: each keeper node checks the others' certificates against it",
                ));
            }
            // Every peer proves itself, and (ZooKeeper's ssl.quorum.hostnameVerification) with a
            // certificate for its host in keeper.servers, both ways.
            settings.client_auth = crate::tls::ClientAuth::Required;
            settings.verify_hostname = boolean("keeper.ssl.quorum.hostname.verification")?;
            Some(settings)
        } else {
            None
        };
        keeper.super_x509 = get("keeper.x509.super.user");
        if let Some(jaas) = get("keeper.sasl.jaas.config") {
            let options = sluice_client::jaas::parse_options(&jaas)
                .map_err(|reason| invalid("keeper.sasl.jaas.config", "(hidden)", &reason))?;
            keeper.sasl_users = options
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("user_").map(|user| (user.to_string(), v.clone())))
                .collect();
            if keeper.sasl_users.is_empty() {
                return Err(invalid(
                    "keeper.sasl.jaas.config",
                    "(hidden)",
                    "names no user: org.apache.zookeeper.server.auth.DigestLoginModule required user_<name>=\"<password>\";",
                ));
            }
        }
        keeper.sasl_super_user = get("keeper.sasl.super.user");
        let keeper_session_timeout_ms = match int("keeper.session.timeout.ms", 1, i64::from(i32::MAX))? {
            Some(ms) => ms,
            None => int("zookeeper.session.timeout.ms", 1, i64::from(i32::MAX))?.unwrap_or(18_000),
        } as u64;

        let embedded_keeper_alone = broker_role && keeper.servers.is_empty();
        Ok(BrokerConfig {
            keeper,
            keeper_connect,
            keeper_connect_auth: keeper_connect_auth.map(sluice_keeper::acl::Secret::new),
            keeper_connect_tls,
            keeper_secure_client,
            keeper_ssl_quorum,
            zookeeper_set_acl,
            keeper_session_timeout_ms,
            rack: get("broker.rack"),
            inter_broker_listener,
            sasl,
            tls,
            inter_broker_security,
            failed_authentication_delay_ms,
            connections_max_reauth_ms: int("connections.max.reauth.ms", 0, i64::MAX)?.unwrap_or(0) as u64,
            quota_window: crate::quota::QuotaWindow {
                samples: int("quota.window.num", 1, i64::from(i32::MAX))?.unwrap_or(11) as u32,
                sample_ms: int("quota.window.size.seconds", 1, i64::from(i32::MAX))?.unwrap_or(1) as u64 * 1_000,
            },
            authorizer,
            replication,
            broker_id,
            broker_role,
            listeners,
            advertised_listeners,
            log_dirs,
            num_partitions: int("num.partitions", 1, i64::from(i32::MAX))?.unwrap_or(1) as i32,
            default_replication_factor: int("default.replication.factor", 1, i64::from(i16::MAX))?.unwrap_or(1) as i16,
            auto_create_topics_enable: boolean("auto.create.topics.enable")?,
            delete_topic_enable: boolean("delete.topic.enable")?,
            socket_request_max_bytes: int("socket.request.max.bytes", 1, i64::from(i32::MAX))?.unwrap_or(104_857_600)
                as usize,
            connection_limits: crate::connection_limit::ConnectionLimits {
                max_connections: int("max.connections", 0, i64::from(i32::MAX))?.unwrap_or(10_000) as usize,
                max_per_ip: int("max.connections.per.ip", 0, i64::from(i32::MAX))?.unwrap_or(i64::from(i32::MAX))
                    as usize,
                per_ip_overrides: crate::connection_limit::parse_per_ip_overrides(
                    &get("max.connections.per.ip.overrides").unwrap_or_default(),
                )
                .map_err(|reason| {
                    let value = get("max.connections.per.ip.overrides").unwrap_or_default();
                    invalid("max.connections.per.ip.overrides", &value, &reason)
                })?,
            },
            connections_max_idle_ms: int("connections.max.idle.ms", 1, i64::MAX)?.unwrap_or(600_000) as u64,
            socket_request_read_timeout_ms: int("socket.request.read.timeout.ms", 1, i64::MAX)?.unwrap_or(60_000)
                as u64,
            queued_max_request_bytes: {
                // Checked for its range, then unused (see the field).
                int("queued.max.requests", 1, i64::from(i32::MAX))?;
                match int("queued.max.request.bytes", -1, i64::MAX)?.unwrap_or(536_870_912) {
                    -1 => None,
                    0 => return Err(invalid("queued.max.request.bytes", "0", "must be -1 (unbounded) or at least 1")),
                    n => Some(n as usize),
                }
            },
            fetch_max_bytes: int("fetch.max.bytes", 0, i64::from(i32::MAX))?.unwrap_or(57_671_680) as usize,
            fetch_response_memory_max_bytes: int("fetch.response.memory.max.bytes", 1, i64::MAX)?.unwrap_or(536_870_912)
                as usize,
            fetch_sendfile_enable: boolean("fetch.sendfile.enable")?,
            max_incremental_fetch_session_cache_slots: int(
                "max.incremental.fetch.session.cache.slots",
                0,
                i64::from(i32::MAX),
            )?
            .unwrap_or(1_000) as usize,
            metrics_listener: match get("metrics.listener") {
                None => None,
                Some(text) => {
                    Some(parse_metrics_listener(&text).map_err(|reason| invalid("metrics.listener", &text, &reason))?)
                }
            },
            metrics_tls: if boolean("metrics.ssl.enabled")? {
                let lookup = |key: &str| -> (String, Option<String>) {
                    let k = format!("metrics.{key}");
                    let v = get(&k);
                    (k, v)
                };
                Some(tls_settings("metrics", &lookup)?)
            } else {
                None
            },
            keeper_client: if keeper_role {
                let port = int("keeper.client.port", 0, i64::from(u16::MAX))?.unwrap_or(2181) as u16;
                // A broker's embedded one-node keeper serves that broker alone: loopback unless
                // told otherwise, so nobody beyond this host can rewrite the cluster's metadata.
                // A keeper in an ensemble, or a keeper-only node, serves other hosts.
                let address = get("keeper.client.address").unwrap_or_else(|| {
                    if embedded_keeper_alone { EMBEDDED_KEEPER_ADDRESS.to_string() } else { String::new() }
                });
                Some((address, port))
            } else {
                None
            },
            group: crate::group::state::GroupConfig {
                consumer: {
                    let bound = |key: &str, default: i64| -> Result<i64, ConfigError> {
                        Ok(int(key, 1, i64::from(i32::MAX))?.unwrap_or(default))
                    };
                    let (min_session, max_session) = (
                        bound("group.consumer.min.session.timeout.ms", 45_000)?,
                        bound("group.consumer.max.session.timeout.ms", 60_000)?,
                    );
                    let session = int("group.consumer.session.timeout.ms", min_session, max_session)?.unwrap_or(45_000);
                    let (min_beat, max_beat) = (
                        bound("group.consumer.min.heartbeat.interval.ms", 5_000)?,
                        bound("group.consumer.max.heartbeat.interval.ms", 15_000)?,
                    );
                    let beat = int("group.consumer.heartbeat.interval.ms", min_beat, max_beat)?.unwrap_or(5_000);
                    if beat >= session {
                        return Err(invalid(
                            "group.consumer.heartbeat.interval.ms",
                            &beat.to_string(),
                            "must be less than group.consumer.session.timeout.ms",
                        ));
                    }
                    let assignors: Vec<String> = get("group.consumer.assignors")
                        .unwrap_or_else(|| "uniform,range".into())
                        .split(',')
                        .map(|a| a.trim().to_string())
                        .filter(|a| !a.is_empty())
                        .collect();
                    if let Some(unknown) =
                        assignors.iter().find(|a| !crate::group::consumer::ASSIGNORS.contains(&a.as_str()))
                    {
                        return Err(invalid(
                            "group.consumer.assignors",
                            unknown,
                            "the assignors are uniform and range",
                        ));
                    }
                    if assignors.is_empty() {
                        return Err(invalid("group.consumer.assignors", "", "at least one assignor is needed"));
                    }
                    crate::group::consumer::ConsumerConfig {
                        session_timeout_ms: session as i32,
                        heartbeat_interval_ms: beat as i32,
                        max_size: int("group.consumer.max.size", 1, i64::from(i32::MAX))?.unwrap_or(i64::from(i32::MAX))
                            as usize,
                        assignors,
                    }
                },
                min_session_timeout_ms: int("group.min.session.timeout.ms", 0, i64::from(i32::MAX))?.unwrap_or(6_000)
                    as i32,
                max_session_timeout_ms: int("group.max.session.timeout.ms", 0, i64::from(i32::MAX))?
                    .unwrap_or(1_800_000) as i32,
                initial_rebalance_delay_ms: int("group.initial.rebalance.delay.ms", 0, i64::from(i32::MAX))?
                    .unwrap_or(3_000),
                offsets_retention_ms: int("offsets.retention.minutes", 1, i64::from(i32::MAX))?.unwrap_or(10_080)
                    * 60_000,
                max_size: int("group.max.size", 1, i64::from(i32::MAX))?.unwrap_or(i64::from(i32::MAX)) as usize,
                // Kafka's INT has no validator; a negative bound would refuse all metadata.
                offset_metadata_max_bytes: int("offset.metadata.max.bytes", 0, i64::from(i32::MAX))?
                    .map_or(crate::group::state::DEFAULT_OFFSET_METADATA_MAX_BYTES, |n| n as usize),
            },
            offsets_retention_check_interval_ms: int("offsets.retention.check.interval.ms", 1, i64::MAX)?
                .unwrap_or(600_000) as u64,
            txn: crate::txn::TxnConfig {
                max_timeout_ms: int("transaction.max.timeout.ms", 1, i64::from(i32::MAX))?.unwrap_or(900_000),
                abort_timed_out_interval_ms: int(
                    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                    1,
                    i64::from(i32::MAX),
                )?
                .unwrap_or(10_000) as u64,
                state_log_num_partitions: int("transaction.state.log.num.partitions", 1, 100_000)?.unwrap_or(50) as i32,
                state_log_replication_factor: int("transaction.state.log.replication.factor", 1, i64::from(i16::MAX))?
                    .unwrap_or(3) as i16,
                state_log_min_isr: int("transaction.state.log.min.isr", 1, i64::from(i32::MAX))?.unwrap_or(2) as i32,
                state_log_segment_bytes: int("transaction.state.log.segment.bytes", 1024, i64::from(i32::MAX))?
                    .unwrap_or(104_857_600),
                partition_verification: boolean("transaction.partition.verification.enable")?,
                transactional_id_expiration_ms: int("transactional.id.expiration.ms", 1, i64::from(i32::MAX))?
                    .unwrap_or(crate::txn::DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS),
                remove_expired_transactional_ids_interval_ms: int(
                    "transaction.remove.expired.transaction.cleanup.interval.ms",
                    1,
                    i64::from(i32::MAX),
                )?
                .map_or(crate::txn::DEFAULT_REMOVE_EXPIRED_TRANSACTIONAL_IDS_INTERVAL_MS, |n| n as u64),
            },
            log,
            log_manager,
            explicit: RawConfig(values),
            values: RawConfig(effective),
        })
    }
}

/// Splits `host:port,...[/chroot]` into the server list and the chroot.
pub fn split_chroot(connect: &str) -> (&str, Option<&str>) {
    match connect.find('/') {
        Some(i) => (&connect[..i], Some(&connect[i..])),
        None => (connect, None),
    }
}

/// `metrics.listener`: `host:port` (an IPv6 host in brackets), a port from 0 (any free one).
fn parse_metrics_listener(text: &str) -> Result<(String, u16), String> {
    let text = text.trim();
    let text = text.strip_prefix("http://").unwrap_or(text);
    let (host, port) = text.rsplit_once(':').ok_or("expected host:port (empty turns the endpoint off)")?;
    let port = port.parse::<u16>().map_err(|_| format!("{port:?} is not a port (0 to 65535)"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("the host is missing (0.0.0.0 serves every interface)".into());
    }
    Ok((host.to_string(), port))
}

/// Where a broker's embedded one-node keeper listens unless `keeper.client.address` says.
pub const EMBEDDED_KEEPER_ADDRESS: &str = "127.0.0.1";

/// Parses `keeper.servers`: `id@host:port` entries (the keeper peer port, ZooKeeper's 2888)
/// separated by commas.
/// `listener.security.protocol.map` (`NAME:PROTOCOL,...`): with it set, every listener must be
/// named in it; without it, a listener named after no protocol (`INTERNAL`, `CLIENT`) is taken
/// as PLAINTEXT. Sluice serves PLAINTEXT and SASL_PLAINTEXT; a listener mapped to SSL or
/// SASL_SSL is refused rather than served without the security its operator asked for. Returns
/// each listener's protocol.
fn check_security_protocols(
    text: &str,
    explicit: bool,
    listeners: &[Listener],
    advertised: &[Listener],
) -> Result<BTreeMap<String, String>, ConfigError> {
    const KEY: &str = "listener.security.protocol.map";
    let invalid = |reason: &str| ConfigError::Invalid { key: KEY.into(), value: text.into(), reason: reason.into() };
    let mut protocols = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, protocol)) = entry.split_once(':') else {
            return Err(invalid("expected NAME:PROTOCOL[,NAME:PROTOCOL...]"));
        };
        let protocol = protocol.trim().to_ascii_uppercase();
        if !matches!(protocol.as_str(), "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL") {
            return Err(invalid(&format!("unknown security protocol {protocol:?}")));
        }
        protocols.insert(name.trim().to_ascii_uppercase(), protocol);
    }
    let mut of_listener = BTreeMap::new();
    for l in listeners.iter().chain(advertised) {
        let protocol = match protocols.get(&l.name).map(String::as_str) {
            Some(p) => p,
            None if explicit => return Err(invalid(&format!("no security protocol for listener {}", l.name))),
            None => "PLAINTEXT",
        };
        of_listener.insert(l.name.clone(), protocol.to_string());
    }
    Ok(of_listener)
}

/// The broker's own login on the SASL inter-broker listener `name`:
/// `sasl.mechanism.inter.broker.protocol`, which the listener must enable, with the `username`
/// and `password` of that listener's JAAS entry for the mechanism, as Kafka takes them.
fn inter_broker_credentials(
    name: &str,
    listener: &crate::sasl::SaslListener,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<sluice_client::SaslConfig, ConfigError> {
    const KEY: &str = "sasl.mechanism.inter.broker.protocol";
    let text = get(KEY).unwrap_or_default();
    let invalid =
        |key: &str, value: &str, reason: String| ConfigError::Invalid { key: key.into(), value: value.into(), reason };
    let mechanism = crate::sasl::Mechanism::from_name(text.trim()).ok_or_else(|| {
        invalid(
            KEY,
            &text,
            format!("the inter-broker listener {name} uses SASL: set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
        )
    })?;
    if !listener.mechanisms.contains(&mechanism) {
        return Err(invalid(KEY, &text, format!("listener {name} does not enable {}", mechanism.name())));
    }
    let jaas_key = format!(
        "listener.name.{}.{}.sasl.jaas.config",
        name.to_ascii_lowercase(),
        mechanism.name().to_ascii_lowercase()
    );
    let options = match get(&jaas_key) {
        Some(jaas) => {
            crate::sasl::jaas::parse_options(&jaas).map_err(|reason| invalid(&jaas_key, "(hidden)", reason))?
        }
        None => BTreeMap::new(),
    };
    let (Some(username), Some(password)) = (options.get("username"), options.get("password")) else {
        return Err(invalid(
            &jaas_key,
            "(hidden)",
            "the broker's own username=\"...\" password=\"...\" for inter-broker logins are missing".into(),
        ));
    };
    let mechanism = match mechanism {
        crate::sasl::Mechanism::Plain => sluice_client::SaslMechanism::Plain,
        crate::sasl::Mechanism::Scram(m) => sluice_client::SaslMechanism::Scram(m),
    };
    Ok(sluice_client::SaslConfig { mechanism, username: username.clone(), password: password.clone() })
}

/// Config keys and their text, as given: their Debug form hides secrets ([`is_sensitive_key`]).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RawConfig(pub BTreeMap<String, String>);

impl std::ops::Deref for RawConfig {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl std::fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, if is_sensitive_key(k) { "(hidden)" } else { v.as_str() })))
            .finish()
    }
}

/// Whether `key` holds a secret that DescribeConfigs must never show (Kafka's PASSWORD configs,
/// and the JAAS logins, private keys and keeper credentials that carry passwords here).
pub fn is_sensitive_key(key: &str) -> bool {
    key.ends_with("sasl.jaas.config")
        || key.ends_with(".password")
        || key.ends_with("ssl.keystore.key")
        || key == "keeper.connect.auth"
        || key == "keeper.super.digest"
}

/// Whether `key` is a listener-prefixed SASL or TLS setting (`listener.name.<listener>.` then
/// `sasl.enabled.mechanisms`, `<mechanism>.sasl.jaas.config`, or a known `ssl.*` key).
fn is_listener_sasl_key(key: &str) -> bool {
    key.strip_prefix("listener.name.").and_then(|rest| rest.split_once('.')).is_some_and(|(_, setting)| {
        setting == "sasl.enabled.mechanisms"
            || setting.ends_with(".sasl.jaas.config")
            || (setting.starts_with("ssl.") && KNOWN_KEYS.iter().any(|(k, _)| *k == setting))
    })
}

/// The TLS settings of listener `name` (each key listener-prefixed or not), checked by
/// loading them once.
fn tls_listener(name: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<crate::tls::TlsSettings, ConfigError> {
    let prefix = format!("listener.name.{}.", name.to_ascii_lowercase());
    let lookup = |key: &str| -> (String, Option<String>) {
        let prefixed = format!("{prefix}{key}");
        match get(&prefixed) {
            Some(v) => (prefixed, Some(v)),
            None => (key.to_string(), get(key)),
        }
    };
    tls_settings(name, &lookup)
}

/// The embedded keeper's TLS settings: the listener keys under `keeper.`.
fn keeper_tls(get: &dyn Fn(&str) -> Option<String>) -> Result<crate::tls::TlsSettings, ConfigError> {
    let lookup = |key: &str| -> (String, Option<String>) {
        let k = format!("keeper.{key}");
        let v = get(&k);
        (k, v)
    };
    let mut settings = tls_settings("keeper", &lookup)?;
    // A value ZooKeeper's ssl.clientAuth takes means the same here.
    settings.client_auth = match get("keeper.ssl.client.auth").as_deref().map(str::trim) {
        Some("need") => crate::tls::ClientAuth::Required,
        Some("want") => crate::tls::ClientAuth::Requested,
        _ => settings.client_auth,
    };
    Ok(settings)
}

/// TLS settings read through `lookup` (which names the key it read), checked by loading them.
fn tls_settings(
    name: &str,
    lookup: &dyn Fn(&str) -> (String, Option<String>),
) -> Result<crate::tls::TlsSettings, ConfigError> {
    use crate::tls::{ClientAuth, Pem, PrincipalRules, TlsSettings};
    let invalid =
        |key: &str, value: &str, reason: String| ConfigError::Invalid { key: key.into(), value: value.into(), reason };
    for key in ["ssl.keystore.type", "ssl.truststore.type"] {
        if let (k, Some(t)) = lookup(key)
            && !t.trim().eq_ignore_ascii_case("PEM")
        {
            return Err(invalid(&k, &t, "only PEM is read (convert JKS or PKCS12 with keytool/openssl)".into()));
        }
    }
    if let (k, Some(_)) = lookup("ssl.key.password") {
        return Err(invalid(&k, "(hidden)", "encrypted keys are not supported: decrypt the key (openssl pkey)".into()));
    }
    // The key that names the keystore, and its value, for messages about it.
    let (keystore_key, keystore_value, key, chain) = match (
        lookup("ssl.keystore.location"),
        lookup("ssl.keystore.key"),
        lookup("ssl.keystore.certificate.chain"),
    ) {
        ((k, Some(path)), _, _) => (k, path.clone(), Pem::File(path.trim().into()), Pem::File(path.trim().into())),
        (_, (k, Some(key)), (_, Some(chain))) => (k, "(PEM text)".to_string(), Pem::Inline(key), Pem::Inline(chain)),
        ((k, None), _, _) => {
            return Err(invalid(
                &k,
                "",
                format!(
                    "listener {name} uses TLS: give ssl.keystore.location (a PEM file with the key and certificate chain), or ssl.keystore.key and ssl.keystore.certificate.chain"
                ),
            ));
        }
    };
    let truststore = match (lookup("ssl.truststore.location"), lookup("ssl.truststore.certificates")) {
        ((_, Some(path)), _) => Some(Pem::File(path.trim().into())),
        (_, (_, Some(text))) => Some(Pem::Inline(text)),
        _ => None,
    };
    let (auth_key, auth) = lookup("ssl.client.auth");
    let client_auth = match auth.as_deref().map(|a| a.trim().to_ascii_lowercase()).as_deref() {
        None | Some("none") => ClientAuth::None,
        Some("requested") => ClientAuth::Requested,
        Some("required") => ClientAuth::Required,
        // ZooKeeper's names (keeper.ssl.client.auth).
        Some("need") if name == "keeper" => ClientAuth::Required,
        Some("want") if name == "keeper" => ClientAuth::Requested,
        Some(other) => return Err(invalid(&auth_key, other, "expected none, requested or required".into())),
    };
    let (protocols_key, protocols) = lookup("ssl.enabled.protocols");
    let protocols = protocols.unwrap_or_default();
    let mut tls12 = false;
    let mut tls13 = false;
    for p in protocols.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match p {
            "TLSv1.2" => tls12 = true,
            "TLSv1.3" => tls13 = true,
            other => {
                return Err(invalid(&protocols_key, &protocols, format!("{other:?}: TLSv1.2 and TLSv1.3 are served")));
            }
        }
    }
    if !tls12 && !tls13 {
        return Err(invalid(&protocols_key, &protocols, "name TLSv1.2 and/or TLSv1.3".into()));
    }
    let (rules_key, rules) = lookup("ssl.principal.mapping.rules");
    let rules = rules.unwrap_or_else(|| "DEFAULT".into());
    let principal_rules = PrincipalRules::parse(&rules).map_err(|e| invalid(&rules_key, &rules, e))?;
    let (verify_key, verify) = lookup("ssl.endpoint.identification.algorithm");
    let verify_hostname = match verify.as_deref().map(str::trim) {
        None | Some("") => false,
        Some(v) if v.eq_ignore_ascii_case("https") => true,
        Some(other) => return Err(invalid(&verify_key, other, "expected https or empty".into())),
    };
    let settings = TlsSettings { key, chain, truststore, client_auth, tls12, tls13, principal_rules, verify_hostname };
    settings.server_config().map_err(|e| invalid(&keystore_key, &keystore_value, format!("listener {name}: {e}")))?;
    Ok(settings)
}

/// The SASL settings of the `SASL_PLAINTEXT` listener `name`: its enabled mechanisms
/// (`listener.name.<name>.sasl.enabled.mechanisms`, else `sasl.enabled.mechanisms`) and, with
/// PLAIN enabled, its users from `listener.name.<name>.plain.sasl.jaas.config`.
fn sasl_listener(name: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<crate::sasl::SaslListener, ConfigError> {
    let prefix = format!("listener.name.{}.", name.to_ascii_lowercase());
    let prefixed = format!("{prefix}sasl.enabled.mechanisms");
    let (key, text) = match get(&prefixed) {
        Some(text) => (prefixed, text),
        None => ("sasl.enabled.mechanisms".to_string(), get("sasl.enabled.mechanisms").unwrap_or_default()),
    };
    let invalid =
        |key: &str, value: &str, reason: String| ConfigError::Invalid { key: key.into(), value: value.into(), reason };
    let mut mechanisms = Vec::new();
    for m in text.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let mechanism = crate::sasl::Mechanism::from_name(m).ok_or_else(|| {
            invalid(&key, &text, format!("{m} is not served (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 are)"))
        })?;
        if !mechanisms.contains(&mechanism) {
            mechanisms.push(mechanism);
        }
    }
    if mechanisms.is_empty() {
        return Err(invalid(&key, &text, format!("listener {name} uses SASL_PLAINTEXT but enables no mechanism")));
    }
    let mut plain_users = BTreeMap::new();
    if mechanisms.contains(&crate::sasl::Mechanism::Plain) {
        let jaas_key = format!("{prefix}plain.sasl.jaas.config");
        let jaas = get(&jaas_key).ok_or_else(|| {
            invalid(
                &jaas_key,
                "",
                format!(
                    "PLAIN is enabled on listener {name} but no JAAS entry names its users (user_<name>=\"<password>\")"
                ),
            )
        })?;
        let options =
            crate::sasl::jaas::parse_options(&jaas).map_err(|reason| invalid(&jaas_key, "(hidden)", reason))?;
        plain_users = crate::sasl::jaas::plain_users(&options);
    }
    Ok(crate::sasl::SaslListener { mechanisms, plain_users })
}

fn parse_keeper_servers(list: &str) -> Result<BTreeMap<u64, String>, ConfigError> {
    let invalid = |key: &str, value: &str, reason: &str| ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    };
    let mut servers = BTreeMap::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = |why: &str| invalid("keeper.servers", list, &format!("{entry:?}: {why}"));
        let (id, addr) = entry.split_once('@').ok_or_else(|| bad("expected id@host:port"))?;
        let id: u64 = id.trim().parse().map_err(|_| bad("the id is not a whole number"))?;
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("expected host:port after the id"))?;
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(bad("expected a host and a port from 1 to 65535"));
        }
        if servers.insert(id, addr.to_string()).is_some() {
            return Err(bad("the id appears twice"));
        }
    }
    if servers.len() % 2 == 0 && !servers.is_empty() {
        return Err(invalid("keeper.servers", list, "an ensemble needs an odd number of servers (1, 3 or 5)"));
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        BrokerConfig::load(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), vec![], vec![])
    }

    #[test]
    fn defaults_make_a_single_node() {
        let c = load(&[]).expect("defaults");
        assert_eq!(c.broker_id, 0);
        assert_eq!(c.listeners, vec![Listener { name: "PLAINTEXT".into(), host: String::new(), port: 9092 }]);
        assert_eq!(c.log_dirs, vec![PathBuf::from("./data")]);
        assert_eq!(c.log.retention_ms, 168 * 3_600_000);
        assert!(c.auto_create_topics_enable);
        assert_eq!(
            c.keeper_client,
            Some(("127.0.0.1".into(), 2181)),
            "the single node embeds a keeper on 2181, on loopback"
        );
    }

    #[test]
    fn metrics_listener_is_loopback_9644_by_default_and_off_when_empty() {
        assert_eq!(load(&[]).expect("defaults").metrics_listener, Some(("127.0.0.1".into(), 9644)));
        assert_eq!(load(&[("metrics.listener", "")]).expect("off").metrics_listener, None);
        let c = load(&[("metrics.listener", "[::1]:0")]).expect("IPv6, any port");
        assert_eq!(c.metrics_listener, Some(("::1".into(), 0)));
        for bad in ["9644", "localhost:http", ":9644", "127.0.0.1:70000"] {
            let e = load(&[("metrics.listener", bad)]).expect_err(bad).to_string();
            assert!(e.contains("metrics.listener"), "{bad}: {e}");
        }
    }

    #[test]
    fn security_protocol_map_names_every_listener() {
        let two = "INTERNAL://:9092,EXTERNAL://:9093";
        let map = "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT";
        let c = load(&[("listeners", two), ("listener.security.protocol.map", map)]).expect("both mapped");
        assert_eq!(c.listeners.len(), 2);
        // Without the map, a listener named after no protocol is PLAINTEXT.
        load(&[("listeners", two)]).expect("unmapped names are PLAINTEXT");
        let missing = load(&[("listeners", two), ("listener.security.protocol.map", "INTERNAL:PLAINTEXT")])
            .expect_err("EXTERNAL unmapped");
        assert!(missing.to_string().contains("no security protocol for listener EXTERNAL"), "{missing}");
        let ssl = load(&[("listeners", two), ("listener.security.protocol.map", "INTERNAL:PLAINTEXT,EXTERNAL:SSL")])
            .expect_err("an SSL listener needs a keystore");
        assert!(ssl.to_string().contains("ssl.keystore.location") && ssl.to_string().contains("EXTERNAL"), "{ssl}");
        let by_name = load(&[("listeners", "SSL://:9093")]).expect_err("a listener named SSL is SSL");
        assert!(by_name.to_string().contains("ssl.keystore.location"), "{by_name}");
        let garbled = load(&[("listeners", two), ("listener.security.protocol.map", "INTERNAL=PLAINTEXT")])
            .expect_err("malformed");
        assert!(garbled.to_string().contains("NAME:PROTOCOL"), "{garbled}");
    }

    #[test]
    fn tls_listener_settings_are_checked_by_key() {
        let ssl = [("listeners", "SSL://:9093")];
        let with = |extra: &[(&str, &str)]| {
            let mut all = ssl.to_vec();
            all.push(("ssl.keystore.location", "/nonexistent/broker.pem"));
            all.extend_from_slice(extra);
            load(&all).expect_err("refused").to_string()
        };
        let e = with(&[("ssl.keystore.type", "JKS")]);
        assert!(e.contains("ssl.keystore.type") && e.contains("PEM"), "{e}");
        let e = with(&[("listener.name.ssl.ssl.truststore.type", "PKCS12")]);
        assert!(e.contains("listener.name.ssl.ssl.truststore.type"), "{e}");
        let e = with(&[("ssl.key.password", "secret")]);
        assert!(e.contains("ssl.key.password") && !e.contains("secret"), "{e}");
        let e = with(&[("ssl.client.auth", "always")]);
        assert!(e.contains("ssl.client.auth"), "{e}");
        let e = with(&[("ssl.enabled.protocols", "TLSv1.1")]);
        assert!(e.contains("ssl.enabled.protocols"), "{e}");
        let e = with(&[("ssl.principal.mapping.rules", "RULE:(/x/")]);
        assert!(e.contains("ssl.principal.mapping.rules"), "{e}");
        let e = with(&[]);
        assert!(e.contains("/nonexistent/broker.pem"), "the unreadable file is named: {e}");
    }

    #[test]
    fn sasl_listeners_take_their_mechanisms_and_plain_users_from_kafkas_keys() {
        let two = "PLAINTEXT://:9092,SASL_PLAINTEXT://:9093";
        let jaas =
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="a-pw" user_bob="b-pw";"#;
        let c = load(&[
            ("listeners", two),
            ("listener.name.sasl_plaintext.sasl.enabled.mechanisms", "SCRAM-SHA-512,PLAIN"),
            ("listener.name.sasl_plaintext.plain.sasl.jaas.config", jaas),
        ])
        .expect("valid");
        assert!(!c.sasl.contains_key("PLAINTEXT"));
        let l = &c.sasl["SASL_PLAINTEXT"];
        use crate::sasl::{Mechanism, scram::ScramMechanism};
        assert_eq!(l.mechanisms, vec![Mechanism::Scram(ScramMechanism::Sha512), Mechanism::Plain]);
        assert_eq!(l.plain_users.get("bob").map(String::as_str), Some("b-pw"));
        assert_eq!(c.failed_authentication_delay_ms, 100);
        // The unprefixed key applies to every SASL listener; SCRAM needs no JAAS entry.
        let c = load(&[("listeners", two), ("sasl.enabled.mechanisms", "SCRAM-SHA-256")]).expect("valid");
        assert_eq!(c.sasl["SASL_PLAINTEXT"].mechanisms, vec![Mechanism::Scram(ScramMechanism::Sha256)]);
        for (extra, wanted) in [
            (vec![], "GSSAPI is not served"),
            (vec![("sasl.enabled.mechanisms", "PLAIN")], "no JAAS entry"),
            (vec![("sasl.enabled.mechanisms", "OAUTHBEARER")], "OAUTHBEARER is not served"),
            (vec![("sasl.enabled.mechanisms", " , ")], "enables no mechanism"),
            (
                vec![
                    ("sasl.enabled.mechanisms", "PLAIN"),
                    ("listener.name.sasl_plaintext.plain.sasl.jaas.config", "x required user_a=\"b\""),
                ],
                "ends with ';'",
            ),
            (
                vec![("sasl.enabled.mechanisms", "SCRAM-SHA-256"), ("inter.broker.listener.name", "SASL_PLAINTEXT")],
                "the inter-broker listener SASL_PLAINTEXT uses SASL",
            ),
            (
                vec![
                    ("sasl.enabled.mechanisms", "SCRAM-SHA-256"),
                    ("inter.broker.listener.name", "SASL_PLAINTEXT"),
                    ("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512"),
                ],
                "does not enable SCRAM-SHA-512",
            ),
            (
                vec![
                    ("sasl.enabled.mechanisms", "SCRAM-SHA-256"),
                    ("inter.broker.listener.name", "SASL_PLAINTEXT"),
                    ("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256"),
                ],
                "inter-broker logins are missing",
            ),
        ] {
            let mut pairs = vec![("listeners", two)];
            pairs.extend(extra);
            let err = load(&pairs).expect_err(wanted);
            assert!(err.to_string().contains(wanted), "{err}");
        }
        let c = load(&[
            ("listeners", two),
            ("inter.broker.listener.name", "SASL_PLAINTEXT"),
            ("sasl.enabled.mechanisms", "SCRAM-SHA-256"),
            ("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256"),
            (
                "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="b-pw";"#,
            ),
        ])
        .expect("valid");
        let login = c.inter_broker_security.sasl.expect("inter-broker login");
        assert_eq!((login.username.as_str(), login.password.as_str()), ("broker", "b-pw"));
        assert!(is_listener_sasl_key("listener.name.sasl_plaintext.plain.sasl.jaas.config"));
        assert!(is_listener_sasl_key("listener.name.client.sasl.enabled.mechanisms"));
        assert!(is_listener_sasl_key("listener.name.client.ssl.keystore.location"));
        assert!(!is_listener_sasl_key("listener.name.client.ssl.nonsense"));
    }

    #[test]
    fn keeper_listener_follows_the_roles() {
        let c = load(&[("process.roles", "broker"), ("keeper.connect", "k1:2181,k2:2181/sluice")]).expect("valid");
        assert_eq!(c.keeper_client, None);
        assert_eq!(c.keeper_connect.as_deref(), Some("k1:2181,k2:2181/sluice"));
        let err = load(&[("process.roles", "broker")]).expect_err("no keeper to find");
        assert!(err.to_string().contains("needs keeper.connect"), "{err}");
        let err = load(&[("zookeeper.connect", "k1")]).expect_err("no port");
        assert!(err.to_string().contains("zookeeper.connect"), "{err}");
        let err = load(&[("keeper.connect", "k1:2181/")]).expect_err("bad chroot");
        assert!(err.to_string().contains("chroot"), "{err}");
        let c = load(&[("keeper.client.address", "127.0.0.1"), ("keeper.client.port", "0")]).expect("valid");
        assert_eq!(c.keeper_client, Some(("127.0.0.1".into(), 0)));
        // A broker's own one-node keeper is on loopback unless told; an ensemble member or a
        // keeper-only node listens on every interface.
        assert_eq!(load(&[]).expect("valid").keeper_client, Some(("127.0.0.1".into(), 2181)));
        let c = load(&[("keeper.client.address", "0.0.0.0")]).expect("valid");
        assert_eq!(c.keeper_client, Some(("0.0.0.0".into(), 2181)));
        let c = load(&[("process.roles", "keeper")]).expect("valid");
        assert_eq!(c.keeper_client, Some((String::new(), 2181)));
        let c = load(&[("keeper.servers", "0@h0:2888,1@h1:2888,2@h2:2888")]).expect("valid");
        assert_eq!(c.keeper_client, Some((String::new(), 2181)));
        let err = load(&[("keeper.client.port", "70000")]).expect_err("out of range");
        assert!(err.to_string().contains("keeper.client.port"), "{err}");
        let c = load(&[("keeper.tick.time.ms", "500")]).expect("valid");
        assert_eq!((c.keeper.min_session_timeout_ms, c.keeper.max_session_timeout_ms), (1_000, 10_000));
        let err = load(&[("keeper.min.session.timeout.ms", "50000")]).expect_err("min above max");
        assert!(err.to_string().contains("must not exceed keeper.max.session.timeout.ms (40000)"), "{err}");
    }

    #[test]
    fn the_example_configs_load() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let single = parse_properties(&dir.join("single-node.properties")).expect("parses");
        let c = BrokerConfig::load(single, vec![], vec![]).expect("valid");
        assert!(c.broker_role && c.keeper_client.is_some());
        let keeper = parse_properties(&dir.join("keeper.properties")).expect("parses");
        let c = BrokerConfig::load(keeper, vec![], vec![]).expect("valid");
        assert!(!c.broker_role);
        assert_eq!((c.keeper.id, c.keeper.servers.len()), (1, 3));
        assert_eq!(c.keeper.data_dir, PathBuf::from("./data/keeper"));
    }

    #[test]
    fn keeper_ensemble_settings_are_checked() {
        let c = load(&[]).expect("defaults");
        assert!(c.keeper.servers.is_empty());
        assert_eq!(c.keeper.data_dir, PathBuf::from("./data/keeper"));
        let c =
            load(&[("process.roles", "keeper"), ("keeper.id", "2"), ("keeper.servers", "1@a:2888, 2@b:2888,3@c:2888")])
                .expect("valid");
        assert!(!c.broker_role);
        assert_eq!(c.keeper.id, 2);
        assert_eq!(c.keeper.servers.get(&3).map(String::as_str), Some("c:2888"));
        for (servers, why) in [
            ("1@a:2888,2@b:2888", "odd number"),
            ("1@a:2888,1@b:2888,3@c:1", "appears twice"),
            ("1@a", "host:port"),
            ("x@a:1", "not a whole number"),
            ("1@a:0", "port from 1 to 65535"),
            ("2@a:1", "no server with this node's keeper.id (0)"),
        ] {
            let err = load(&[("keeper.servers", servers)]).expect_err(servers);
            assert!(err.to_string().contains(why), "{servers}: {err}");
        }
        let err = load(&[("keeper.heartbeat.interval.ms", "2000")]).expect_err("heartbeat above election");
        assert!(err.to_string().contains("must be below keeper.election.timeout.ms"), "{err}");
    }

    #[test]
    fn later_sources_win_and_env_names_map_to_keys() {
        let c = BrokerConfig::load(
            vec![("num.partitions".into(), "3".into()), ("log.retention.hours".into(), "1".into())],
            vec![("num.partitions".into(), "4".into())],
            vec![("SLUICE_NUM_PARTITIONS".into(), "5".into()), ("SLUICE_LOG_RETENTION_MS".into(), "1000".into())],
        )
        .expect("valid");
        assert_eq!(c.num_partitions, 5);
        assert_eq!(c.log.retention_ms, 1000, "log.retention.ms wins over hours");
    }

    #[test]
    fn expiration_and_metadata_bounds_parse_with_kafka_defaults_and_ranges() {
        let c = load(&[]).expect("defaults");
        assert_eq!(
            (c.log_manager.producer_id_expiration_ms, c.log_manager.producer_id_expiration_check_interval_ms),
            (86_400_000, 600_000)
        );
        assert_eq!(
            (c.txn.transactional_id_expiration_ms, c.txn.remove_expired_transactional_ids_interval_ms),
            (604_800_000, 3_600_000)
        );
        assert_eq!(c.group.offset_metadata_max_bytes, 4096);
        let c = load(&[
            ("producer.id.expiration.ms", "1000"),
            ("producer.id.expiration.check.interval.ms", "10"),
            ("transactional.id.expiration.ms", "2000"),
            ("transaction.remove.expired.transaction.cleanup.interval.ms", "20"),
            ("offset.metadata.max.bytes", "0"),
        ])
        .expect("valid");
        assert_eq!(
            (c.log_manager.producer_id_expiration_ms, c.log_manager.producer_id_expiration_check_interval_ms),
            (1000, 10)
        );
        assert_eq!(
            (c.txn.transactional_id_expiration_ms, c.txn.remove_expired_transactional_ids_interval_ms),
            (2000, 20)
        );
        assert_eq!(c.group.offset_metadata_max_bytes, 0);
        assert!(!c.group.offset_metadata_fits(Some("x")) && c.group.offset_metadata_fits(Some("")));
        for key in [
            "producer.id.expiration.ms",
            "producer.id.expiration.check.interval.ms",
            "transactional.id.expiration.ms",
            "transaction.remove.expired.transaction.cleanup.interval.ms",
        ] {
            for bad in ["0", "-1", "2147483648"] {
                let err = load(&[(key, bad)]).expect_err(bad);
                assert_eq!(
                    err.to_string(),
                    format!("invalid value {bad:?} for {key}: must be between 1 and 2147483647")
                );
            }
        }
        let err = load(&[("offset.metadata.max.bytes", "-1")]).expect_err("negative");
        assert!(err.to_string().contains("must be between 0 and 2147483647"), "{err}");
        let err = load(&[("offset.metadata.max.bytes", "4k")]).expect_err("not a number");
        assert!(err.to_string().contains("not a whole number"), "{err}");
        for key in ["producer.id.expiration.ms", "offset.metadata.max.bytes", "transactional.id.expiration.ms"] {
            assert_eq!(broker_key_type(key), 3, "{key} is an INT in Kafka");
        }
    }

    #[test]
    fn bad_values_name_the_key_value_and_reason() {
        let err = load(&[("num.partitions", "zero")]).expect_err("bad");
        assert_eq!(err.to_string(), "invalid value \"zero\" for num.partitions: not a whole number");
        let err = load(&[("listeners", "PLAINTEXT://host")]).expect_err("bad");
        assert!(err.to_string().contains("listeners"), "{err}");
        let err = load(&[("auto.create.topics.enable", "yes")]).expect_err("bad");
        assert!(err.to_string().contains("expected true or false"), "{err}");
        assert!(load(&[("log.segment.bytes", "10")]).is_err());
    }

    #[test]
    fn keeper_security_keys_are_checked_and_name_the_problem() {
        let c = load(&[
            ("keeper.connect.auth", "digest:kafka:pw"),
            ("zookeeper.set.acl", "true"),
            ("keeper.super.digest", "super:D/InIHSb7yEEbrWz8b9l71RjZJU="),
        ])
        .expect("valid");
        assert!(c.zookeeper_set_acl);
        assert_eq!(c.keeper_connect_auth.as_ref().map(|s| s.expose()), Some("digest:kafka:pw"));
        assert!(!format!("{c:?}").contains("digest:kafka:pw"), "the Debug form hides the password");
        assert_eq!(c.keeper.super_digest.as_deref(), Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU="));
        let err = load(&[("zookeeper.set.acl", "true")]).expect_err("no identity");
        assert!(err.to_string().contains("keeper.connect.auth"), "{err}");
        let err = load(&[("keeper.connect.auth", "kerberos:kafka:pw")]).expect_err("scheme");
        assert!(err.to_string().contains("keeper.connect.auth") && !err.to_string().contains("kafka:pw"), "{err}");
        let c = load(&[(
            "keeper.sasl.jaas.config",
            r#"org.apache.zookeeper.server.auth.DigestLoginModule required user_kafka="kafka-secret" user_ops="o";"#,
        )])
        .expect("valid");
        assert_eq!(c.keeper.sasl_users.get("kafka").map(String::as_str), Some("kafka-secret"));
        assert_eq!(c.keeper.sasl_users.len(), 2);
        let err = load(&[("keeper.sasl.jaas.config", "org.apache.zookeeper.server.auth.DigestLoginModule required;")])
            .expect_err("no user");
        assert!(err.to_string().contains("keeper.sasl.jaas.config"), "{err}");
        let err = load(&[("keeper.super.digest", "nocolon")]).expect_err("shape");
        assert!(err.to_string().contains("keeper.super.digest"), "{err}");
        let err = load(&[("keeper.ssl.quorum", "true")]).expect_err("no keystore");
        assert!(err.to_string().contains("keeper.ssl.keystore.location"), "{err}");
        let err =
            load(&[("zookeeper.ssl.client.enable", "true"), ("zookeeper.ssl.keystore.type", "JKS")]).expect_err("JKS");
        assert!(err.to_string().contains("zookeeper.ssl.keystore.type"), "{err}");
    }
}
