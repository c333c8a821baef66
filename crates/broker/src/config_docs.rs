//! What each config key does, for the configuration reference (`docs/configuration.md`,
//! rendered from this table, [`crate::config::broker_keys`]' defaults and the topic configs by
//! `crates/broker/tests/config_doc.rs`, so the reference cannot drift from the code). Keys that
//! belong together share a row. A unit test checks that every key the broker knows is in
//! exactly one row and that every row names only keys it knows.

/// Rows of the reference: the keys, and what they do.
pub const KEY_DOCS: &[(&[&str], &str)] = &[
    (
        &["broker.id"],
        "this broker's id in the cluster, unique; also the embedded keeper's id unless `keeper.id` is set",
    ),
    (&["listeners"], "`NAME://host:port`, comma-separated; port 0 picks a free one"),
    (&["advertised.listeners"], "what Metadata tells clients"),
    (&["log.dirs", "log.dir"], "comma-separated"),
    (&["num.partitions", "default.replication.factor"], "for created topics"),
    (
        &["auto.create.topics.enable", "delete.topic.enable"],
        "create a topic when a producer or a consumer first names it (with `num.partitions` and `default.replication.factor`); accept DeleteTopics",
    ),
    (&["message.max.bytes"], "largest batch"),
    (&["socket.request.max.bytes"], "larger frames close the connection unread"),
    (
        &["max.connections", "max.connections.per.ip", "max.connections.per.ip.overrides"],
        "connections over all listeners, and per client address (overrides: `host:count,...`); a connection beyond a limit is closed as soon as it is accepted; all three are dynamic (`sluice config alter --broker-defaults --set max.connections=N`)",
    ),
    (
        &["connections.max.idle.ms", "socket.request.read.timeout.ms"],
        "a connection with no request started for the first is closed; once a request's size has arrived, the rest must arrive within the second (Sluice's own key)",
    ),
    (
        &["queued.max.request.bytes", "queued.max.requests"],
        "request bytes being read or handled, over all connections (frames over 64 KiB; a frame's buffer grows with what arrives); -1 is unbounded (Kafka's default)",
    ),
    (
        &["fetch.max.bytes", "replica.fetch.response.max.bytes"],
        "the most record bytes one consumer's, or one follower's, fetch answer carries, whatever it asks (one batch more at most, KIP-74)",
    ),
    (
        &["fetch.sendfile.enable", "fetch.response.memory.max.bytes"],
        "fetch answers send records from the segment files with `sendfile` (answers of at most 64 KiB of records are copied: cheaper than a sendfile per partition); with it off they are copied, and the copies of all answers in flight stay within the second (a fetch reads less, down to one batch, when it is short)",
    ),
    (
        &["max.incremental.fetch.session.cache.slots"],
        "incremental fetch sessions (KIP-227) kept; followers always use them; 0 turns them off",
    ),
    (
        &["log.segment.bytes", "log.roll.ms", "log.roll.hours"],
        "a partition's active segment rolls once it holds this many bytes, or once its first record is this old",
    ),
    (
        &["log.retention.ms", "log.retention.bytes", "log.retention.minutes", "log.retention.hours"],
        "whole segments are deleted once their newest record is older than the retention time, and the oldest while a partition is larger than the retention bytes (-1: no limit)",
    ),
    (
        &["log.index.size.max.bytes", "log.index.interval.bytes"],
        "the most bytes of a segment's offset or time index (a full index rolls the segment), and the record bytes between two index entries",
    ),
    (
        &[
            "log.flush.interval.messages",
            "log.flush.interval.ms",
            "log.flush.scheduler.interval.ms",
            "log.flush.offset.checkpoint.interval.ms",
            "log.flush.start.offset.checkpoint.interval.ms",
        ],
        "Kafka's default: no fsync per write",
    ),
    (&["log.retention.check.interval.ms"], "how often retention is applied to every partition"),
    (
        &["log.cleanup.policy", "min.insync.replicas"],
        "topic defaults: `delete` (retention), `compact` (the newest record per key) or both; the fewest in-sync replicas an `acks=all` produce needs (NOT_ENOUGH_REPLICAS below it)",
    ),
    (
        &[
            "group.initial.rebalance.delay.ms",
            "group.min.session.timeout.ms",
            "group.max.session.timeout.ms",
            "group.max.size",
        ],
        "consumer groups",
    ),
    (
        &[
            "group.consumer.session.timeout.ms",
            "group.consumer.min.session.timeout.ms",
            "group.consumer.max.session.timeout.ms",
            "group.consumer.heartbeat.interval.ms",
            "group.consumer.min.heartbeat.interval.ms",
            "group.consumer.max.heartbeat.interval.ms",
            "group.consumer.max.size",
            "group.consumer.assignors",
        ],
        "groups of the consumer protocol (KIP-848, `group.protocol=consumer`): a member's session and heartbeat interval (set by the coordinator, within the min/max bounds; a group's own `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms` override them), the most members, and the server-side assignors (`uniform`, `range`; the first is the default, a member may ask for another)",
    ),
    (&["offsets.retention.minutes", "offsets.retention.check.interval.ms"], "offsets of empty groups expire"),
    (
        &["offset.metadata.max.bytes"],
        "the longest metadata string of one committed offset (bytes); a longer one gets OFFSET_METADATA_TOO_LARGE for its partition",
    ),
    (
        &["producer.id.expiration.ms", "producer.id.expiration.check.interval.ms"],
        "KIP-854: a producer whose last batch in a partition is this old (by the batch's timestamp) and that has no open transaction there is forgotten, checked at the second interval; it may write again at any sequence, as in Kafka",
    ),
    (&["log.cleaner.backoff.ms", "log.cleaner.delete.retention.ms"], "compaction"),
    (
        &["num.recovery.threads.per.data.dir"],
        "threads loading (and recovering) each log directory's logs at startup, all directories at once; the broker listens meanwhile and serves each partition once its log is loaded",
    ),
    (
        &["process.roles"],
        "`broker` alone skips the embedded keeper; `keeper` alone runs a keeper node (no Kafka listener)",
    ),
    (&["keeper.id"], "this node's id in `keeper.servers` (ZooKeeper's `myid`)"),
    (
        &["keeper.servers"],
        "the ensemble, `id@host:port,...` with each node's peer (Raft) port, ZooKeeper's 2888; 1, 3 or 5 entries; empty for a one-node keeper",
    ),
    (
        &["keeper.data.dir"],
        "the Raft log (checksummed segments, fsync'd before an entry or vote is acknowledged), the vote and the snapshot. A keeper of this version reads the logs and snapshots of earlier ones (their znodes open to everyone, as they were), but its log entries carry ACLs and identities that earlier versions cannot read: upgrade an ensemble by stopping every node, then starting them all on the new version, and do not go back",
    ),
    (
        &["keeper.election.timeout.ms", "keeper.heartbeat.interval.ms"],
        "Raft timing: a follower that hears no leader for 1–2 election timeouts starts an election",
    ),
    (
        &["keeper.snap.count"],
        "Raft log entries (each a batch of writes) between snapshots of the znode tree and sessions (ZooKeeper's `snapCount`); the log behind a snapshot is purged but for the last half (at most 1000), and a follower further behind is sent the snapshot",
    ),
    (
        &["keeper.max.client.cnxns"],
        "ZooKeeper's `maxClientCnxns`: connections to the keeper port from one client IP at once; one more is closed at accept (logged once per 10 s with a count); 0 is unlimited",
    ),
    (
        &["keeper.sessionless.cnxn.timeout.ms"],
        "ZooKeeper's `zookeeper.nio.sessionlessCnxnTimeout`: a keeper connection that has not sent its whole ConnectRequest by then is closed (an established one is closed after a session timeout without a whole frame; frames over `jute.maxbuffer`, 0xfffff bytes, close it at once)",
    ),
    (
        &["keeper.client.port", "keeper.client.address"],
        "the embedded keeper's ZooKeeper client port (ZooKeeper's `clientPort`); 0 picks a free one. A single node's keeper is on loopback unless `keeper.client.address` says otherwise (`0.0.0.0` for every interface), so nobody beyond the host can rewrite the cluster's metadata",
    ),
    (
        &["keeper.tick.time.ms", "keeper.min.session.timeout.ms", "keeper.max.session.timeout.ms"],
        "ZooKeeper's `tickTime`, `minSessionTimeout`, `maxSessionTimeout`: requested session timeouts are clamped to these",
    ),
    (
        &["keeper.connect", "zookeeper.connect"],
        "`host:port,...[/chroot]` of the keeper ensemble (or Apache ZooKeeper 3.6+) holding the cluster's metadata; required with `process.roles=broker`",
    ),
    (
        &["keeper.super.digest", "keeper.x509.super.user"],
        "ZooKeeper's `zookeeper.DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>` (print one with `sluice keeper digest super:<password>`); a keeper session that proves it with `addauth digest super:<password>` passes every znode ACL; `keeper.x509.super.user`: the client certificate subject (`x509:<DN>`) that does too",
    ),
    (
        &["keeper.connect.auth"],
        "credentials the broker proves to keeper on every connection: `digest:<user>:<password>` (zkCli's `addauth digest`) or `sasl:<user>:<password>` (SASL DIGEST-MD5, as Kafka's brokers log in to ZooKeeper with the `DigestLoginModule`; works against Apache ZooKeeper too); every broker of a cluster uses the same",
    ),
    (
        &["keeper.sasl.jaas.config", "keeper.sasl.super.user"],
        "SASL on the keeper's client ports, ZooKeeper's JAAS `Server` section in one line: `org.apache.zookeeper.server.auth.DigestLoginModule required user_kafka=\"kafka-secret\";` (DIGEST-MD5; a session that logs in proves `sasl:<user>`); the super user is ZooKeeper's `zookeeper.superUser`",
    ),
    (
        &["metrics.listener"],
        "where the HTTP endpoint listens (`host:port`; port 0 picks a free one, whose URL the ready file's last line gives; empty turns it off): `/metrics` in Prometheus's text format 0.0.4 (requests per API and version with latency histograms split into local, remote (purgatory) and send time; bytes and records in and out per topic; error codes of Produce and Fetch; under-replicated, under-min-ISR and offline partitions, leaders, partitions and log sizes; ISR shrinks and expansions, elections, purgatory sizes, connections per listener, groups by state, rebalances, transactions by state; **consumer lag and committed offsets per group, topic and partition**, reported by the group's coordinator; keeper's Raft term, role, log and applied indexes, sessions, watches, znodes and data size, reads and writes with their time; the replica fetchers' largest lag), `/health` (200 while the process serves) and `/ready` (200 once the broker is registered, has read the cluster, loaded its logs and holds a keeper session; a keeper-only node once its ensemble has a leader; 503 naming what it waits for otherwise), and on a broker the read-only web console at `/` (its JSON under `/api/v1/`)",
    ),
    (
        &[
            "metrics.ssl.enabled",
            "metrics.ssl.keystore.location",
            "metrics.ssl.keystore.type",
            "metrics.ssl.keystore.key",
            "metrics.ssl.keystore.certificate.chain",
            "metrics.ssl.key.password",
            "metrics.ssl.truststore.location",
            "metrics.ssl.truststore.type",
            "metrics.ssl.truststore.certificates",
            "metrics.ssl.client.auth",
            "metrics.ssl.enabled.protocols",
        ],
        "the HTTP endpoint serves HTTPS only, with these keys as the listeners' `ssl.*` ones (a PEM keystore; certificates reload without a restart); `metrics.ssl.client.auth=required` admits only clients with a certificate the truststore's CAs signed (Prometheus's `tls_config`, `sluice health --ready https://... -X security.protocol=SSL -X ssl.ca.location=... -X ssl.certificate.location=... -X ssl.key.location=...`)",
    ),
    (
        &[
            "keeper.secure.client.port",
            "keeper.ssl.keystore.location",
            "keeper.ssl.keystore.type",
            "keeper.ssl.keystore.key",
            "keeper.ssl.keystore.certificate.chain",
            "keeper.ssl.key.password",
            "keeper.ssl.truststore.location",
            "keeper.ssl.truststore.type",
            "keeper.ssl.truststore.certificates",
            "keeper.ssl.client.auth",
            "keeper.ssl.enabled.protocols",
            "keeper.ssl.endpoint.identification.algorithm",
        ],
        "ZooKeeper's `secureClientPort`: the embedded keeper's TLS client port, on `keeper.client.address`, with `keeper.ssl.keystore.location` (PEM key and chain), `keeper.ssl.truststore.location` and `keeper.ssl.client.auth` (`required` by default, as ZooKeeper's `ssl.clientAuth=need`; also `requested`/`want`, `none`), `keeper.ssl.enabled.protocols`. A client certificate proves the identity `x509:<subject DN>` (RFC 2253, e.g. `CN=kafka,OU=clients,O=Sluice`); `keeper.x509.super.user` names a subject that passes every ACL. Files are reloaded when they change",
    ),
    (
        &["keeper.ssl.quorum", "keeper.ssl.quorum.hostname.verification"],
        "ZooKeeper's `sslQuorum` and `ssl.quorum.hostnameVerification`: keeper nodes reach each other's peer port over mutual TLS with the `keeper.ssl.*` keystore and truststore, each side's certificate valid for its host in `keeper.servers` (so a client certificate from the same CA cannot pose as a keeper node); a peer without such a certificate is refused and logged. Without it, the peer port is the ensemble's trust boundary: keep it on a private network",
    ),
    (
        &[
            "zookeeper.ssl.client.enable",
            "zookeeper.ssl.keystore.location",
            "zookeeper.ssl.truststore.location",
            "zookeeper.ssl.endpoint.identification.algorithm",
            "zookeeper.ssl.keystore.type",
            "zookeeper.ssl.keystore.password",
            "zookeeper.ssl.truststore.type",
            "zookeeper.ssl.truststore.password",
        ],
        "Kafka's KIP-515 keys: the broker reaches keeper (`keeper.connect`, or its own keeper's secure port) over TLS, checking the server against the truststore (and its name, unless the algorithm is empty) and presenting the keystore's certificate (key and chain in one PEM file), its identity for `zookeeper.set.acl`. PEM only",
    ),
    (
        &["zookeeper.set.acl"],
        "Kafka's: znodes the broker creates get Kafka's ACLs, everything to the brokers' identity and reading to everyone (nothing to anyone else under `/config/users`, `/config/brokers`, `/delegation_token/tokens`), so only brokers can change cluster metadata. Needs an identity: `keeper.connect.auth` or a client certificate (`zookeeper.ssl.keystore.location`). Znodes made before it was turned on keep their ACLs (set them with `sluice keeper setacl`)",
    ),
    (
        &["zookeeper.session.timeout.ms", "keeper.session.timeout.ms"],
        "the broker's keeper session: a broker silent this long is declared dead and its partitions get new leaders",
    ),
    (&["broker.rack"], "rack of this broker, for rack-aware replica assignment and fetching from the closest replica"),
    (
        &["replica.selector.class"],
        "`org.apache.kafka.common.replica.RackAwareReplicaSelector` (KIP-392): a leader sends a consumer whose `client.rack` matches a caught-up follower's `broker.rack` to that follower. Followers serve consumers (Fetch v11+) up to their high watermark either way",
    ),
    (&["inter.broker.listener.name"], "the listener followers fetch from"),
    (
        &["listener.security.protocol.map"],
        "`NAME:PROTOCOL,...`; once set, every listener must be in it; listeners named after no protocol (`INTERNAL`) are PLAINTEXT without it. PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL are served",
    ),
    (
        &["sasl.enabled.mechanisms"],
        "the mechanisms a `SASL_PLAINTEXT` or `SASL_SSL` listener accepts: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`. Clients send SaslHandshake (v0 or v1) and SaslAuthenticate; before that a connection is served ApiVersions only, and frames over 512 KiB close it",
    ),
    (
        &[
            "ssl.keystore.location",
            "ssl.keystore.type",
            "ssl.keystore.key",
            "ssl.keystore.certificate.chain",
            "ssl.key.password",
        ],
        "an `SSL` or `SASL_SSL` listener's key and certificate chain, one PEM file (`ssl.keystore.type=PEM`, the only type read; or the PEM text in `ssl.keystore.key` and `ssl.keystore.certificate.chain`). Encrypted keys (`ssl.key.password`) are refused: decrypt with `openssl pkey`. TLS is rustls (TLS 1.2 and 1.3, `ssl.enabled.protocols`); `scripts/make-certs DIR --host NAME --client NAME` makes a CA and PEM files for tests and the compose cluster. The files are reloaded without a restart: new connections use changed files (checked at most once a second); open ones keep theirs. Over TLS, fetched records are copied through the TLS layer (plaintext listeners keep `sendfile`)",
    ),
    (
        &["ssl.truststore.location", "ssl.truststore.type", "ssl.truststore.certificates"],
        "PEM CA certificates (`ssl.truststore.certificates` for the text): the CAs client certificates must lead to, and this broker's trust in the others on a TLS inter-broker listener",
    ),
    (
        &["ssl.client.auth"],
        "`requested` or `required`: clients present a certificate of the truststore's CAs; its principal is `User:` and its subject in RFC 2253 form (`User:CN=alice,OU=clients,O=Sluice`), or what `ssl.principal.mapping.rules` (Kafka's `RULE:pattern/replacement/[LU],...,DEFAULT`) makes of it. A refused handshake is logged with the peer",
    ),
    (&["ssl.enabled.protocols"], "the TLS versions served: `TLSv1.2`, `TLSv1.3` or both (comma-separated)"),
    (
        &["ssl.principal.mapping.rules"],
        "how a client certificate's subject becomes a principal, as Kafka's rules: `RULE:pattern/replacement/[LU]`, comma-separated, ending in `DEFAULT` (the whole distinguished name)",
    ),
    (
        &["zookeeper.clientCnxnSocket"],
        "accepted for Kafka configs that name Netty (needed for ZooKeeper TLS in Java); keeper's client always uses its own",
    ),
    (
        &["ssl.endpoint.identification.algorithm"],
        "on a TLS inter-broker listener, whether this broker checks the other brokers' names against their certificates (empty: it does not)",
    ),
    (
        &["authorizer.class.name"],
        "`kafka.security.authorizer.AclAuthorizer` (or KRaft's `org.apache.kafka.metadata.authorizer.StandardAuthorizer`) turns on ACLs, with Kafka's model: resource types topic, group, cluster, transactional id, delegation token; literal and prefixed patterns; allow and deny (deny wins); host filters; operations with Kafka's implications (READ, WRITE, DELETE and ALTER grant DESCRIBE; ALTER_CONFIGS grants DESCRIBE_CONFIGS). Every request is checked as Kafka checks it, and refused with TOPIC_, GROUP_, CLUSTER_ or TRANSACTIONAL_ID_AUTHORIZATION_FAILED at the finest level; Metadata lists only the topics a principal may describe; replica fetches and WriteTxnMarkers need CLUSTER_ACTION. ACLs are managed with CreateAcls, DescribeAcls and DeleteAcls (`kafka-acls.sh --bootstrap-server`, admin clients, or `sluice acl add --allow-principal User:alice --operation Write --topic orders`, `sluice acl list`, `sluice acl remove`) and kept in keeper at Kafka's `/kafka-acl/<Type>/<name>` and `/kafka-acl-extended/prefixed/<Type>/<name>`, with Kafka's change notifications; every broker follows those znodes, so a change applies everywhere within milliseconds. A PLAINTEXT or SSL connection without a client certificate is `User:ANONYMOUS`, a SASL one `User:<name>`; brokers reach each other as their inter-broker principal, which must be a super user (or hold CLUSTER_ACTION and the rest)",
    ),
    (&["super.users"], "principals every check allows, `User:admin;User:broker`"),
    (&["allow.everyone.if.no.acl.found"], "with true, a resource no ACL names is open to every principal"),
    (
        &["connection.failed.authentication.delay.ms"],
        "a failed authentication is answered (SASL_AUTHENTICATION_FAILED) and its connection closed this much later, and logged with the peer and user",
    ),
    (
        &["connections.max.reauth.ms"],
        "a SASL session's length (KIP-368; 0: no limit). Clients learn it from SaslAuthenticate v1+ and log in again on the same connection before it ends (the same user and mechanism, or the connection closes); a connection that sends anything else after its session ended is closed",
    ),
    (
        &["sasl.mechanism.inter.broker.protocol"],
        "when `inter.broker.listener.name` names a SASL listener, the mechanism followers and the transaction coordinator log in to other brokers with; the broker's own credentials are the `username`/`password` of that listener's JAAS entry for the mechanism (`listener.name.<listener>.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"...\";`)",
    ),
    (
        &["quota.window.num", "quota.window.size.seconds"],
        "client quotas (`producer_byte_rate`, `consumer_byte_rate`, `request_percentage` of users and client ids, set with AlterClientQuotas or `sluice quota`) are enforced over a window of this many samples of this many seconds: a client may run ahead of its quota by all but one sample's worth, then is throttled back to it, by up to the whole window at a time. `controller_mutation_rate` (partitions created, added or deleted per second, KIP-599) allows a burst of the whole window's worth",
    ),
    (&["replica.lag.time.max.ms"], "a follower not caught up for this long leaves the ISR"),
    (
        &[
            "replica.fetch.wait.max.ms",
            "replica.fetch.max.bytes",
            "replica.fetch.backoff.ms",
            "replica.socket.timeout.ms",
        ],
        "follower fetching: how long a follower's fetch waits at the leader for data, the most bytes it asks per partition, the pause after a failed fetch, and how long it waits for an answer",
    ),
    (
        &["unclean.leader.election.enable"],
        "let a replica outside the ISR lead when no ISR member is alive (may lose acknowledged records); also a topic config",
    ),
    (
        &["auto.leader.rebalance.enable", "leader.imbalance.check.interval.seconds"],
        "move leadership back to preferred replicas",
    ),
    (
        &["offsets.topic.replication.factor"],
        "replicas of `__consumer_offsets` (capped at the live brokers when it is created)",
    ),
    (
        &[
            "transaction.state.log.num.partitions",
            "transaction.state.log.replication.factor",
            "transaction.state.log.min.isr",
            "transaction.state.log.segment.bytes",
        ],
        "the shape of `__transaction_state` (replicas and min ISR capped at the live brokers when it is created)",
    ),
    (
        &["transaction.max.timeout.ms"],
        "the longest `transaction.timeout.ms` a producer may ask (INVALID_TRANSACTION_TIMEOUT above it)",
    ),
    (
        &["transaction.abort.timed.out.transaction.cleanup.interval.ms"],
        "how often the coordinator aborts transactions past their timeout (fencing their producer)",
    ),
    (
        &["transactional.id.expiration.ms", "transaction.remove.expired.transaction.cleanup.interval.ms"],
        "a transactional id with no transaction and no request for the first is forgotten (tombstoned in `__transaction_state`), checked at the second interval",
    ),
    (
        &["transaction.partition.verification.enable"],
        "KIP-890: a leader asks the coordinator before taking a producer's first transactional batch in a partition (INVALID_TXN_STATE if the partition is not in the transaction)",
    ),
];

/// What a key defaults to when its default is not a value (derived, or another key's).
pub const DERIVED_DEFAULTS: &[(&str, &str)] = &[
    ("advertised.listeners", "from `listeners` (`localhost` for a wildcard host)"),
    ("log.dirs", "`log.dir`"),
    ("log.roll.ms", "`log.roll.hours`"),
    ("log.retention.ms", "`log.retention.minutes`, else `log.retention.hours`"),
    ("log.retention.minutes", "`log.retention.hours`"),
    ("log.flush.interval.ms", "`log.flush.scheduler.interval.ms`"),
    ("keeper.id", "`broker.id`"),
    ("keeper.data.dir", "`keeper` in the first log dir"),
    ("keeper.client.address", "127.0.0.1 for a broker's own one-node keeper, every interface otherwise"),
    ("keeper.min.session.timeout.ms", "2 ticks"),
    ("keeper.max.session.timeout.ms", "20 ticks"),
    ("keeper.connect", "the embedded keeper"),
    ("zookeeper.connect", "the embedded keeper"),
    ("keeper.session.timeout.ms", "`zookeeper.session.timeout.ms`"),
    ("inter.broker.listener.name", "the first listener"),
    ("replica.selector.class", "unset: consumers read from leaders"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_is_in_exactly_one_row_and_every_row_names_known_keys() {
        let known: Vec<&str> = crate::config::broker_keys().collect();
        for key in &known {
            let rows = KEY_DOCS.iter().filter(|(keys, _)| keys.contains(key)).count();
            assert_eq!(rows, 1, "{key} is in {rows} rows of KEY_DOCS");
        }
        for (keys, _) in KEY_DOCS {
            for key in *keys {
                assert!(known.contains(key), "KEY_DOCS names {key}, which the broker does not know");
            }
        }
        for (key, _) in DERIVED_DEFAULTS {
            assert!(known.contains(key), "DERIVED_DEFAULTS names {key}, which the broker does not know");
        }
    }
}
