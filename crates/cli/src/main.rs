//! `sluice`: produce, consume, and manage topics and the cluster from the command line, against
//! Sluice or any Kafka broker, in the manner of kcat, rpk and Kafka's own tools. Every failure
//! prints one line `error: ...` (the Kafka error name and context), at most one `hint: ...`,
//! and exits 1; bad flags exit 2. Listings have column headers and `--json`.

mod acls;
mod configs;
mod format;
mod groups;
mod keeper;
mod perf;
mod perf_latency;
mod quotas;
mod table;
mod top;

use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use sluice_client::{
    Client, ClientConfig, ClientError, Compression, Consumer, ConsumerConfig, IsolationLevel, Producer, ProducerConfig,
    ProducerRecord, StartOffset,
};
use sluice_protocol::api::{Request, Response};
use sluice_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsRequestTopic};
use table::{Table, print_json};

/// Topics the brokers keep for themselves, hidden from `topic list` without `--internal`
/// (Kafka marks them internal in Metadata too).
const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];
/// How long `consume`'s fetches wait for records; shorter with `-e`, which stops at the end.
const FETCH_WAIT_MS: u64 = 500;
const FETCH_WAIT_TO_END_MS: u64 = 100;
/// Records `consume` takes from the consumer at a time (and prints before committing).
const POLL_MAX_RECORDS: usize = 1000;

#[derive(Debug, Parser)]
#[command(name = "sluice", version, about = "Produce, consume and manage topics on Sluice (or any Kafka broker)")]
struct Cli {
    /// Broker(s) to bootstrap from, host:port[,host:port...].
    #[arg(
        short = 'b',
        long = "bootstrap-server",
        env = "SLUICE_BOOTSTRAP",
        default_value = "localhost:9092",
        global = true
    )]
    bootstrap: String,
    /// A client property, as kcat takes them (repeatable): security.protocol (PLAINTEXT, SSL,
    /// SASL_PLAINTEXT or SASL_SSL), sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512),
    /// sasl.username, sasl.password (or a Java client's sasl.jaas.config), ssl.ca.location,
    /// ssl.certificate.location, ssl.key.location, ssl.endpoint.identification.algorithm (https
    /// or none; or the Java client's PEM ssl.truststore.location and ssl.keystore.location),
    /// client.id.
    #[arg(short = 'X', long = "property", value_name = "KEY=VALUE", global = true)]
    properties: Vec<String>,
    /// A client properties file, as Kafka's tools take it (`--command-config`): key=value lines,
    /// read before the -X properties.
    #[arg(long = "command-config", value_name = "PATH", global = true)]
    command_config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Produce lines from stdin (or a file) as messages.
    #[command(
        after_help = "Example:\n  printf 'k1:hello\\nk2:world\\n' | sluice produce -t greetings -K : -H source=cli"
    )]
    Produce(ProduceArgs),
    /// Consume messages and print them.
    #[command(
        after_help = "Examples:\n  sluice consume -t greetings -o beginning -e\n  sluice consume -t greetings -f '%k=%s (p%p o%o)\\n' -c 10\n  sluice consume -t greetings -o @1700000000000 --json\n  sluice consume -t greetings -o beginning -e --isolation read_uncommitted\n  sluice consume -t greetings -g billing -o beginning"
    )]
    Consume(ConsumeArgs),
    /// Create, list, describe, alter, extend and delete topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Cluster information.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Describe and change configs: a topic's, one broker's, or every broker's (at run time).
    #[command(subcommand)]
    Config(configs::ConfigCommand),
    /// List, describe (with lag), reset offsets of, and delete consumer groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// List and describe transactions (the transactional ids the brokers coordinate).
    #[command(subcommand)]
    Transaction(TransactionCommand),
    /// Manage users' SCRAM credentials (for SASL/SCRAM listeners).
    #[command(subcommand)]
    User(UserCommand),
    /// Set, list and remove client quotas: byte rates and request-time shares of users and
    /// client ids, enforced by throttling.
    #[command(subcommand)]
    Quota(quotas::QuotaCommand),
    /// Add, list and remove access control lists (brokers with authorizer.class.name set).
    #[command(subcommand)]
    Acl(acls::AclCommand),
    /// Live traffic and lag: records per second produced to each topic, and each group's lag
    /// and its change, refreshed every interval (redrawn on a terminal; appended, or one JSON
    /// object per line with --json, otherwise). Ctrl-C stops it.
    #[command(
        after_help = "Examples:\n  sluice top\n  sluice top -t orders --interval-ms 1000\n  sluice top --iterations 3 --json"
    )]
    Top {
        /// Only these topics (repeatable); by default every topic but the internal ones.
        #[arg(short, long = "topic")]
        topics: Vec<String>,
        /// Milliseconds between refreshes (at least 200).
        #[arg(long, default_value_t = 2_000, value_name = "MS")]
        interval_ms: u64,
        /// Stop after this many refreshes (default: until Ctrl-C).
        #[arg(long, value_name = "N")]
        iterations: Option<u64>,
        /// One JSON object per refresh instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Measure throughput and latency.
    #[command(subcommand)]
    Perf(PerfCommand),
    /// Check that a node serves (for container healthchecks): a broker answers metadata for its
    /// cluster; with --keeper, a keeper (or ZooKeeper) server is part of a serving quorum; with
    /// --ready, a node's HTTP endpoint answers 200 at that URL (its `/ready`: registered, logs
    /// loaded, keeper session up). Exits non-zero, saying why, otherwise.
    #[command(after_help = "Examples:\n  sluice health -b 127.0.0.1:9092\n  sluice health --keeper 127.0.0.1:2181\n  \
                            sluice health --ready http://127.0.0.1:9644/ready")]
    Health {
        /// Check this keeper or ZooKeeper server (host:port) instead of a broker.
        #[arg(long, value_name = "HOST:PORT", conflicts_with = "ready")]
        keeper: Option<String>,
        /// Check this URL of a node's HTTP endpoint (`metrics.listener`) instead: healthy when
        /// it answers 200 (`http://host:port/ready`; an `https://` URL takes the TLS client
        /// properties, `-X security.protocol=SSL -X ssl.ca.location=...`).
        #[arg(long, value_name = "URL")]
        ready: Option<String>,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 5_000, value_name = "MS")]
        timeout_ms: u64,
    },
    /// Browse and edit keeper's znodes (or any ZooKeeper's): ls, get, stat, create, set, delete.
    #[command(after_help = "Examples:\n  sluice keeper ls / -R\n  sluice keeper -k zk1:2181 get /brokers/ids/1")]
    Keeper(keeper::KeeperArgs),
}

#[derive(Debug, Subcommand)]
enum PerfCommand {
    /// Produce COUNT records of SIZE bytes as fast as possible; report records/s, MB/s and
    /// send-to-acknowledgement latency percentiles.
    #[command(after_help = "Example:\n  sluice perf produce -t bench -n 1000000 -s 1024 --acks 1")]
    Produce {
        /// Topic to produce to (created if the broker auto-creates topics).
        #[arg(short, long)]
        topic: String,
        /// Records to send.
        #[arg(short = 'n', long, default_value_t = 100_000)]
        count: u64,
        /// Value size in bytes.
        #[arg(short, long, default_value_t = 1024)]
        size: usize,
        /// Acknowledgements: all (-1), 1 or 0.
        #[arg(long, default_value = "all")]
        acks: String,
        /// Compression codec.
        #[arg(short = 'z', long, value_enum, default_value = "none")]
        compression: Codec,
        /// Batch size in bytes.
        #[arg(long, default_value_t = 1_048_576)]
        batch_size: usize,
        /// Linger in milliseconds.
        #[arg(long, default_value_t = 5)]
        linger_ms: u64,
        /// Send at most this many records per second (latency at a given load); default: as
        /// fast as possible.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        rate: Option<u64>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run COUNT keeper (or ZooKeeper) operations from several sessions; report operations/s and
    /// latency.
    #[command(
        after_help = "Examples:\n  sluice perf keeper -k k1:2181,k2:2181,k3:2181 --op create -n 20000\n  sluice perf keeper --op get --clients 16 --depth 8"
    )]
    Keeper {
        /// Keeper (or ZooKeeper) server(s), host:port[,host:port...].
        #[arg(short = 'k', long = "keeper", env = "SLUICE_KEEPER", default_value = "localhost:2181")]
        servers: String,
        /// The operation to time.
        #[arg(long, value_enum, default_value = "create")]
        op: perf::KeeperOp,
        /// Operations in all.
        #[arg(short = 'n', long, default_value_t = 20_000)]
        count: u64,
        /// Sessions, spread over the servers.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Requests each session keeps in flight.
        #[arg(long, default_value_t = 1)]
        depth: usize,
        /// Data size in bytes.
        #[arg(short, long, default_value_t = 100)]
        size: usize,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Open-loop latency, the OpenMessaging Benchmark way: producers send at a fixed rate,
    /// consumers read from the end; publish and end-to-end latency from each record's intended
    /// send time (p50/p99/p99.9/max), the rate achieved, records lost or late.
    #[command(
        after_help = "Examples:\n  sluice perf latency -t bench --rate 20000 --duration-secs 60\n  sluice perf latency -t bench --partitions-per-request 16 --json"
    )]
    Latency(perf_latency::LatencyArgs),
    /// Open COUNT new connections to the first bootstrap broker, each with the full handshake
    /// the client properties ask for (TCP, TLS, ApiVersions, SASL); report connections/s and the
    /// time each took.
    #[command(
        after_help = "Example:\n  sluice perf connect -b 127.0.0.1:9094 -X security.protocol=SASL_SSL -X ssl.ca.location=ca.pem -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=alice -X sasl.password=... -n 500"
    )]
    Connect {
        /// Connections to open in all.
        #[arg(short = 'n', long, default_value_t = 1_000)]
        count: u64,
        /// Connections opened at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
        concurrency: u64,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Consume COUNT records from the beginning; report records/s and MB/s.
    #[command(after_help = "Example:\n  sluice perf consume -t bench -n 1000000")]
    Consume {
        /// Topic to read.
        #[arg(short, long)]
        topic: String,
        /// Records to read.
        #[arg(short = 'n', long, default_value_t = 100_000)]
        count: u64,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Whether `consume` shows the records of aborted (and still open) transactions.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Isolation {
    /// Only committed records, up to the last stable offset (kcat's default).
    #[value(name = "read_committed", alias = "read-committed")]
    ReadCommitted,
    /// Every record up to the high watermark, aborted transactions included.
    #[value(name = "read_uncommitted", alias = "read-uncommitted")]
    ReadUncommitted,
}

impl From<Isolation> for IsolationLevel {
    fn from(i: Isolation) -> IsolationLevel {
        match i {
            Isolation::ReadCommitted => IsolationLevel::ReadCommitted,
            Isolation::ReadUncommitted => IsolationLevel::ReadUncommitted,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl From<Codec> for Compression {
    fn from(c: Codec) -> Compression {
        match c {
            Codec::None => Compression::None,
            Codec::Gzip => Compression::Gzip,
            Codec::Snappy => Compression::Snappy,
            Codec::Lz4 => Compression::Lz4,
            Codec::Zstd => Compression::Zstd,
        }
    }
}

#[derive(Debug, Args)]
struct ProduceArgs {
    /// Topic to produce to (created if the broker auto-creates topics, as with kcat).
    #[arg(short, long)]
    topic: String,
    /// Split each line into key and value at the first occurrence of this separator.
    #[arg(short = 'K', long = "key-separator")]
    key_separator: Option<String>,
    /// Add a header to every message: -H name=value (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// Send every message to this partition (default: by key, or sticky for no key).
    #[arg(short, long)]
    partition: Option<i32>,
    /// Acknowledgements: all (-1), 1 or 0.
    #[arg(long, default_value = "all")]
    acks: String,
    /// Compression codec.
    #[arg(short = 'z', long, value_enum, default_value = "none")]
    compression: Codec,
    /// Read messages from this file instead of stdin.
    #[arg(short, long)]
    file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct ConsumeArgs {
    /// Topic to consume.
    #[arg(short, long)]
    topic: String,
    /// Only these partitions (repeatable; default: all).
    #[arg(short, long)]
    partition: Vec<i32>,
    /// Start at: beginning, end, an offset, -N (N before the end), or @TIMESTAMP_MS.
    #[arg(short, long, default_value = "end", allow_hyphen_values = true)]
    offset: String,
    /// Exit after this many messages.
    #[arg(short, long)]
    count: Option<usize>,
    /// Exit when the end of every partition is reached.
    #[arg(short, long)]
    exit: bool,
    /// Output format: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp,
    /// %h headers, %K key size, %S value size, \n, \t.
    #[arg(short, long, default_value = "%s\\n")]
    format: String,
    /// Print one JSON object per message instead of the format.
    #[arg(long)]
    json: bool,
    /// Consume as a member of this consumer group: partitions are shared with the group's
    /// other members, positions start at the committed offsets (else at --offset beginning or
    /// end), and are committed after every batch printed. Ctrl-C (or SIGTERM) commits and
    /// leaves the group before exiting.
    #[arg(short, long)]
    group: Option<String>,
    /// read_committed skips records of aborted transactions and stops at open ones;
    /// read_uncommitted shows every record.
    #[arg(long, value_enum, default_value = "read_committed")]
    isolation: Isolation,
}

#[derive(Debug, Subcommand)]
enum TopicCommand {
    /// Create a topic.
    #[command(after_help = "Example:\n  sluice topic create orders -p 6 -c retention.ms=86400000")]
    Create {
        /// The topic's name.
        name: String,
        /// Partitions (default: the broker's num.partitions).
        #[arg(short, long)]
        partitions: Option<i32>,
        /// Replication factor (default: the broker's default.replication.factor).
        #[arg(short, long)]
        replication_factor: Option<i16>,
        /// Topic config: -c key=value (repeatable).
        #[arg(short, long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
    },
    /// List topics with their partition count and replication factor.
    #[command(after_help = "Examples:\n  sluice topic list\n  sluice topic list --internal --json")]
    List {
        /// Also list the brokers' internal topics (__consumer_offsets, __transaction_state).
        #[arg(short, long)]
        internal: bool,
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Show a topic's partitions (leader, replicas, ISR) and configs.
    #[command(after_help = "Examples:\n  sluice topic describe orders\n  sluice topic describe orders --json")]
    Describe {
        /// The topic's name.
        name: String,
        /// Print a JSON object instead of the tables.
        #[arg(long)]
        json: bool,
    },
    /// Set or delete topic config overrides.
    #[command(after_help = "Example:\n  sluice topic alter orders --set retention.ms=3600000 --delete segment.bytes")]
    Alter {
        /// The topic's name.
        name: String,
        /// Set a config: --set key=value (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Remove a config override, back to the broker's default (repeatable).
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
    /// Raise a topic's partition count.
    #[command(after_help = "Example:\n  sluice topic add-partitions orders -p 12")]
    AddPartitions {
        /// The topic's name.
        name: String,
        /// The new total number of partitions.
        #[arg(short, long)]
        partitions: i32,
    },
    /// Move partitions' replicas to other brokers, or change the replication factor, while the
    /// topic stays in use; the cluster copies the data and then drops the old replicas.
    #[command(after_help = "Examples:\n  sluice topic reassign orders --move 0=2,3,4 --move 1=3,4,1 --wait\n  \
                            sluice topic reassign orders --all 1,2,3,4   (every partition, replication factor 4)\n  \
                            sluice topic reassign orders --cancel 0")]
    Reassign {
        /// The topic's name.
        name: String,
        /// PARTITION=BROKER,BROKER,...: the partition's new replicas, the first preferred as
        /// leader (repeatable).
        #[arg(long = "move", value_name = "P=IDS")]
        moves: Vec<String>,
        /// BROKER,BROKER,...: the new replicas of every partition.
        #[arg(long, value_name = "IDS", conflicts_with = "moves")]
        all: Option<String>,
        /// Cancel the move in progress of this partition (repeatable).
        #[arg(long, value_name = "P")]
        cancel: Vec<i32>,
        /// Wait until every move of the topic has completed.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits, in seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Elect leaders: move leadership back to each partition's preferred replica (the first
    /// of its replicas), or with --unclean give partitions without a leader one, out of sync
    /// if no in-sync replica is alive (records acknowledged by the old ISR may be lost), as
    /// kafka-leader-election.sh does.
    #[command(
        after_help = "Examples:\n  sluice topic elect-leaders orders\n  sluice topic elect-leaders orders -p 0 -p 3\n  sluice topic elect-leaders --all-topics\n  sluice topic elect-leaders orders -p 2 --unclean"
    )]
    ElectLeaders {
        /// The topic (or --all-topics).
        name: Option<String>,
        /// Only this partition of the topic (repeatable; default: every partition).
        #[arg(short, long = "partition")]
        partitions: Vec<i32>,
        /// Every partition of every topic.
        #[arg(long, conflicts_with_all = ["name", "partitions"])]
        all_topics: bool,
        /// An unclean election: a leader for partitions that have none, from outside the ISR
        /// if it must.
        #[arg(long)]
        unclean: bool,
    },
    /// List partition reassignments in progress.
    #[command(after_help = "Example:\n  sluice topic reassignments orders")]
    Reassignments {
        /// Only this topic's (default: every topic's).
        name: Option<String>,
    },
    /// Delete a topic.
    #[command(after_help = "Example:\n  sluice topic delete orders")]
    Delete {
        /// The topic's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum TransactionCommand {
    /// Transactional ids with their producer id, state and coordinator, from every broker.
    #[command(after_help = "Examples:\n  sluice transaction list\n  sluice transaction list --state Ongoing --json")]
    List {
        /// Only transactions in this state (Empty, Ongoing, PrepareCommit, PrepareAbort,
        /// CompleteCommit, CompleteAbort); repeatable.
        #[arg(long)]
        state: Vec<String>,
        /// Only this producer id; repeatable.
        #[arg(long)]
        producer_id: Vec<i64>,
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// A transactional id's producer, state, timeout and the partitions of its open transaction.
    #[command(after_help = "Example:\n  sluice transaction describe orders-copier")]
    Describe {
        /// The transactional id.
        transactional_id: String,
    },
    /// The idempotent and transactional producers with state in a topic's partitions, from
    /// their leaders (kafka-transactions.sh describe-producers): epoch, last sequence and
    /// timestamp, and where an open transaction started (one that holds a partition's last
    /// stable offset back).
    #[command(after_help = "Example:\n  sluice transaction producers -t orders -p 0")]
    Producers {
        /// The topic whose partitions to describe.
        #[arg(short, long)]
        topic: String,
        /// Only these partitions (repeatable; default: all).
        #[arg(short, long)]
        partition: Vec<i32>,
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// List consumer groups with their state and coordinator, from every broker.
    #[command(after_help = "Examples:\n  sluice group list\n  sluice group list --json")]
    List {
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Members, assignments, and per partition the committed offset, log end and lag; the
    /// total lag.
    #[command(after_help = "Examples:\n  sluice group describe billing\n  sluice group describe billing --json")]
    Describe {
        /// The group's id.
        group: String,
        /// Print a JSON object instead of the tables.
        #[arg(long)]
        json: bool,
    },
    /// Every group's lag: the partitions it has committed offsets for, their lag in total and
    /// the largest on one partition (a log end that cannot be read is counted as unknown).
    #[command(after_help = "Examples:\n  sluice group lag\n  sluice group lag --sort max-lag --json")]
    Lag {
        /// Row order: lag (largest total first), max-lag (largest on one partition first), group.
        #[arg(long, value_enum, default_value = "lag")]
        sort: groups::LagOrder,
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Plan new committed offsets of a group for a topic, and with --execute set them (the
    /// group must have no active members). Without --execute nothing changes (a dry run).
    #[command(
        after_help = "Examples:\n  sluice group reset-offsets billing -t orders --to-earliest            (shows the plan)\n  sluice group reset-offsets billing -t orders --to-earliest --execute  (applies it)\n  sluice group reset-offsets billing -t orders -p 0 --to-offset 1000 --execute\n  sluice group reset-offsets billing -t orders --to-datetime 1700000000000 --execute"
    )]
    ResetOffsets {
        /// The group's id.
        group: String,
        /// The topic whose offsets to reset.
        #[arg(short, long)]
        topic: String,
        /// Only this partition (default: all).
        #[arg(short, long)]
        partition: Option<i32>,
        /// To the log start of each partition.
        #[arg(long, conflicts_with_all = ["to_latest", "to_offset", "to_datetime"])]
        to_earliest: bool,
        /// To the log end of each partition.
        #[arg(long, conflicts_with_all = ["to_offset", "to_datetime"])]
        to_latest: bool,
        /// To this offset (refused if outside a partition's log start..log end).
        #[arg(long, conflicts_with = "to_datetime", value_name = "OFFSET")]
        to_offset: Option<i64>,
        /// To the first offset at or after this time, in milliseconds since the epoch.
        #[arg(long, value_name = "MS")]
        to_datetime: Option<i64>,
        /// Apply the plan (without it, only print it).
        #[arg(long)]
        execute: bool,
    },
    /// Delete a group with no active members, and its committed offsets.
    #[command(after_help = "Example:\n  sluice group delete billing")]
    Delete {
        /// The group's id.
        group: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// SCRAM credentials: add (or change), list and remove.
    #[command(subcommand)]
    Scram(ScramCommand),
}

#[derive(Debug, Subcommand)]
enum ScramCommand {
    /// Sets a user's password for a SCRAM mechanism (salted here; only the salted password is
    /// sent).
    #[command(
        after_help = "Examples:\n  sluice user scram add alice --password alice-secret --mechanism SCRAM-SHA-512\n  sluice user scram add broker --password broker-secret --mechanism SCRAM-SHA-512 --keeper keeper1:2181/sluice   (before any broker runs)"
    )]
    Add {
        /// The user name.
        user: String,
        /// The password (salted here before it is sent).
        #[arg(long)]
        password: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, default_value = "SCRAM-SHA-256")]
        mechanism: String,
        /// PBKDF2 iterations, 4096 to 16384.
        #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(4096..=16384))]
        iterations: u32,
        /// Write the credential straight into keeper (host:port[,...][/chroot], the brokers'
        /// keeper.connect) instead of through a broker, as kafka-configs.sh --zookeeper does:
        /// how the first credentials (the brokers' own) are made before any broker runs.
        #[arg(long, value_name = "KEEPER")]
        keeper: Option<String>,
        /// With --keeper: credentials proven to keeper, digest:<user>:<password> (the brokers'
        /// keeper.connect.auth); the credential is then created with Kafka's ACLs, as brokers
        /// with zookeeper.set.acl do.
        #[arg(long, value_name = "SCHEME:CREDENTIALS", env = "SLUICE_KEEPER_AUTH", requires = "keeper")]
        keeper_auth: Option<String>,
    },
    /// Lists users and the SCRAM mechanisms they have credentials for (all users, or those named).
    List {
        /// Users to list; none lists every user with a credential.
        users: Vec<String>,
        /// Print a JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Removes a user's credential for a SCRAM mechanism.
    Remove {
        /// The user name.
        user: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, default_value = "SCRAM-SHA-256")]
        mechanism: String,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Partitions in trouble: offline (no live leader), under their topic's
    /// min.insync.replicas (acks=all refused), or under-replicated. Exits 0 when there are none,
    /// 1 when some are only under-replicated, 2 when some are offline or under min ISR (for
    /// scripts and monitoring checks); 3 when the cluster cannot be asked.
    #[command(after_help = "Examples:\n  sluice cluster health\n  sluice cluster health --json || alert")]
    Health {
        /// Print a JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Each broker's log directories: the partitions each holds with their size on disk and
    /// offset lag, and the directory's file system size and usable space (as
    /// kafka-log-dirs.sh --describe shows them).
    #[command(
        after_help = "Examples:\n  sluice cluster log-dirs\n  sluice cluster log-dirs -t orders --broker 2\n  sluice cluster log-dirs --json"
    )]
    LogDirs {
        /// Only these topics' partitions (repeatable; default: every topic's).
        #[arg(short, long = "topic")]
        topics: Vec<String>,
        /// Only these brokers (repeatable; default: every broker).
        #[arg(long = "broker")]
        brokers: Vec<i32>,
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Moves a broker's replica of a partition into another of its log directories
    /// (AlterReplicaLogDirs, as kafka-reassign-partitions.sh does with log directories). The
    /// broker copies the log while it serves it, then swaps; `sluice cluster log-dirs` shows the
    /// copy as a future replica until it is done.
    #[command(
        after_help = "Examples:\n  sluice cluster move-log-dir -t orders -p 0 --broker 1 --to /var/lib/sluice/disk2\n  sluice cluster move-log-dir -t orders -p 0 -p 1 --broker 1 --to /data2 --wait"
    )]
    MoveLogDir {
        /// The topic.
        #[arg(short, long)]
        topic: String,
        /// The partitions (repeatable).
        #[arg(short, long = "partition", required = true)]
        partitions: Vec<i32>,
        /// The broker whose replicas move.
        #[arg(long)]
        broker: i32,
        /// The destination: one of that broker's log.dirs, as an absolute path.
        #[arg(long)]
        to: String,
        /// Wait (up to 10 minutes) until the moves are done.
        #[arg(long)]
        wait: bool,
    },
    /// Brokers, controller, and each partition's leader and ISR.
    #[command(after_help = "Examples:\n  sluice cluster info\n  sluice cluster info --internal --json")]
    Info {
        /// Also list the healthy partitions of the internal topics (__consumer_offsets,
        /// __transaction_state); without it they are summed up in one line, and only those
        /// offline or under-replicated are listed.
        #[arg(long)]
        internal: bool,
        /// Print a JSON object instead of the tables.
        #[arg(long)]
        json: bool,
    },
}

/// An error that comes with advice, printed as `error: ...` then `hint: ...`.
#[derive(Debug)]
struct Hinted {
    message: String,
    hint: &'static str,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// The hint for an error, if one in its chain has one that its message does not already say.
fn hint_for(e: &anyhow::Error, message: &str) -> Option<&'static str> {
    let hint = e.chain().find_map(|c| {
        c.downcast_ref::<ClientError>()
            .and_then(ClientError::hint)
            .or_else(|| c.downcast_ref::<Hinted>().map(|h| h.hint))
    })?;
    (!message.contains(hint)).then_some(hint)
}

/// mimalloc, not glibc's malloc: at small-request rates (many produce and fetch requests of a
/// few records each) glibc's allocator was about a fifth of the process's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // `cluster health` exits with its own codes: unreachable (3) is not "under-replicated" (1).
    let health_check = matches!(cli.command, Command::Cluster(ClusterCommand::Health { .. }));
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<ExitWith>() {
                if !exit.message.is_empty() {
                    eprintln!("error: {}", exit.message);
                }
                return std::process::ExitCode::from(exit.code);
            }
            let message = format!("{e:#}");
            eprintln!("error: {message}");
            if let Some(hint) = hint_for(&e, &message) {
                eprintln!("hint: {hint}");
            }
            if health_check {
                return std::process::ExitCode::from(HEALTH_UNREACHABLE_EXIT);
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Ends the command with this exit code (and, if not empty, this message as the error).
#[derive(Debug)]
struct ExitWith {
    code: u8,
    message: String,
}

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}: {}", self.code, self.message)
    }
}

impl std::error::Error for ExitWith {}

fn key_value(text: &str, what: &str) -> anyhow::Result<(String, String)> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| anyhow::anyhow!("{what} {text:?} must look like name=value"))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Read (and checked) before any command; a keeper command does not use it.
    let config = client_config(&cli);
    match cli.command {
        // Keeper commands speak ZooKeeper's protocol and need no Kafka broker.
        Command::Keeper(args) => keeper::run(args).await,
        Command::Perf(PerfCommand::Keeper { servers, op, count, clients, depth, size, json }) => {
            let summary = perf::keeper(&servers, op, count, clients, depth, size).await?;
            summary.print(&format!("keeper {op:?}").to_lowercase(), json);
            Ok(())
        }
        Command::User(UserCommand::Scram(ScramCommand::Add {
            user,
            password,
            mechanism,
            iterations,
            keeper: Some(servers),
            keeper_auth,
        })) => {
            let m = scram_mechanism(&mechanism)?;
            keeper::set_scram_credential(&servers, &user, m, &password, iterations, keeper_auth.as_deref()).await?;
            println!("set {} credential of {user} in keeper", m.name());
            Ok(())
        }
        Command::Perf(PerfCommand::Connect { count, concurrency, json }) => {
            perf::connect(&config?, count, concurrency as usize).await?.print("connect", json);
            Ok(())
        }
        Command::Health { keeper, ready, timeout_ms } => {
            let within = Duration::from_millis(timeout_ms);
            let status = match (keeper, ready) {
                (Some(server), _) => tokio::time::timeout(within, keeper_health(&server)).await,
                (None, Some(url)) => {
                    tokio::time::timeout(within, http_ready(&url, config.ok().and_then(|c| c.tls))).await
                }
                (None, None) => tokio::time::timeout(within, broker_health(config?)).await,
            };
            println!("{}", status.map_err(|_| anyhow::anyhow!("no answer within {timeout_ms} ms"))??);
            Ok(())
        }
        command => run_kafka(config?, command).await,
    }
}

/// The client config from `--bootstrap-server`, `--command-config` and `-X`; an unknown property
/// is named on stderr and otherwise ignored (as Kafka's tools do with a properties file).
fn client_config(cli: &Cli) -> anyhow::Result<ClientConfig> {
    let mut properties = Vec::new();
    if let Some(path) = &cli.command_config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --command-config {}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (k, v) = line.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("{} line {}: expected key=value, got {line:?}", path.display(), n + 1)
            })?;
            properties.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    for p in &cli.properties {
        properties.push(key_value(p, "-X property")?);
    }
    let (config, unknown) = ClientConfig::with_properties(&cli.bootstrap, &properties)?;
    for key in unknown {
        eprintln!("warning: ignoring unknown client property {key}");
    }
    Ok(config)
}

/// A broker is healthy when it answers metadata for a cluster.
async fn broker_health(config: ClientConfig) -> anyhow::Result<String> {
    let bootstrap = config.bootstrap.join(",");
    let client = Client::connect(config).await?;
    let md = client.refresh_metadata(None).await?;
    let cluster = md.cluster_id.ok_or_else(|| anyhow::anyhow!("{bootstrap} answers without a cluster id"))?;
    Ok(format!("ok: cluster {cluster}, {} live brokers, controller {}", md.brokers.len(), md.controller_id))
}

/// A keeper (or ZooKeeper) server is healthy when `srvr` reports its mode, which it does only
/// while it is part of a quorum that serves requests.
async fn keeper_health(server: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream =
        tokio::net::TcpStream::connect(server).await.with_context(|| format!("cannot connect to {server}"))?;
    stream.write_all(b"srvr").await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.with_context(|| format!("reading {server}'s answer"))?;
    match answer.lines().find_map(|l| l.strip_prefix("Mode: ")) {
        Some(mode) => Ok(format!("ok: {server} serves as {mode}")),
        None if answer.trim().is_empty() => {
            anyhow::bail!("{server} answered nothing to `srvr`: is it a keeper or ZooKeeper client port?")
        }
        None => anyhow::bail!("{server} is not serving: {}", answer.trim()),
    }
}

/// The most of a readiness answer read (its body says what the node waits for).
const READY_ANSWER_MAX_BYTES: usize = 64 * 1024;

/// A node's HTTP endpoint is ready when `url` (`http://host:port/path`, or `https://` with the
/// TLS client properties, `-X security.protocol=SSL -X ssl.ca.location=...`) answers 200.
async fn http_ready(
    url: &str,
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
) -> anyhow::Result<String> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("--ready {url:?} is not a URL"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => anyhow::bail!("--ready {url:?}: an http:// or https:// URL (e.g. http://127.0.0.1:9644/ready)"),
    };
    let host = uri.host().context("the URL names no host")?.trim_matches(['[', ']']).to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let address = format!("{host}:{port}");
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let (status, text) = if https {
        let tls = tls.context(
            "an https:// URL needs the TLS client properties: -X security.protocol=SSL -X ssl.ca.location=<CA PEM> \
             (and ssl.certificate.location, ssl.key.location where the endpoint asks for a client certificate)",
        )?;
        let name =
            sluice_client::tls::server_name(&format!("[{host}]:{port}")).map_err(|e| anyhow::anyhow!("{host}: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, stream)
            .await
            .with_context(|| format!("TLS handshake with {address}"))?;
        http_get(stream, &address, &path).await?
    } else {
        http_get(stream, &address, &path).await?
    };
    anyhow::ensure!(status == hyper::StatusCode::OK, "{url} answered {status}: {text}");
    Ok(format!("ok: {url} answered {status}: {text}"))
}

/// One HTTP/1.1 GET of `path` on a connected stream: the status and the body's text.
async fn http_get<S>(stream: S, host: &str, path: &str) -> anyhow::Result<(hyper::StatusCode, String)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await.with_context(|| format!("asking {host}{path}"))?;
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), READY_ANSWER_MAX_BYTES)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading {host}{path}'s answer: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).trim().to_string()))
}

async fn run_kafka(config: ClientConfig, command: Command) -> anyhow::Result<()> {
    let client = Client::connect(config).await?;
    match command {
        // Handled by `run`.
        Command::Keeper(_)
        | Command::Perf(PerfCommand::Keeper { .. } | PerfCommand::Connect { .. })
        | Command::Health { .. } => Ok(()),
        Command::Produce(args) => produce(client, args).await,
        Command::Consume(args) => consume(client, args).await,
        Command::Topic(cmd) => topic(client, cmd).await,
        Command::Config(cmd) => configs::run(client, cmd).await,
        Command::Cluster(ClusterCommand::Info { internal, json }) => cluster_info(client, internal, json).await,
        Command::Cluster(ClusterCommand::Health { json }) => cluster_health(client, json).await,
        Command::Cluster(ClusterCommand::LogDirs { topics, brokers, json }) => {
            cluster_log_dirs(client, &topics, &brokers, json).await
        }
        Command::Cluster(ClusterCommand::MoveLogDir { topic, partitions, broker, to, wait }) => {
            cluster_move_log_dir(client, &topic, &partitions, broker, &to, wait).await
        }
        Command::Group(cmd) => group(client, cmd).await,
        Command::Transaction(cmd) => transaction(client, cmd).await,
        Command::Perf(PerfCommand::Produce {
            topic,
            count,
            size,
            acks,
            compression,
            batch_size,
            linger_ms,
            rate,
            json,
        }) => {
            let config = ProducerConfig {
                acks: parse_acks(&acks)?,
                compression: compression.into(),
                batch_size,
                linger: Duration::from_millis(linger_ms),
                ..ProducerConfig::default()
            };
            perf::produce(client, &topic, count, size, rate, config).await?.print("produce", json);
            Ok(())
        }
        Command::Perf(PerfCommand::Consume { topic, count, json }) => {
            perf::consume(client, &topic, count).await?.print("consume", json);
            Ok(())
        }
        Command::Perf(PerfCommand::Latency(args)) => perf_latency::run(client, args).await,
        Command::Top { topics, interval_ms, iterations, json } => {
            top::run(client, topics, interval_ms, iterations, json).await
        }
        Command::User(UserCommand::Scram(cmd)) => scram(client, cmd).await,
        Command::Quota(cmd) => quotas::run(client, cmd).await,
        Command::Acl(cmd) => acls::run(client, cmd).await,
    }
}

fn scram_mechanism(name: &str) -> anyhow::Result<sluice_client::ScramMechanism> {
    sluice_client::ScramMechanism::from_name(&name.trim().to_ascii_uppercase())
        .ok_or_else(|| anyhow::anyhow!("--mechanism {name:?}: expected SCRAM-SHA-256 or SCRAM-SHA-512"))
}

async fn scram(client: Client, cmd: ScramCommand) -> anyhow::Result<()> {
    match cmd {
        ScramCommand::Add { user, password, mechanism, iterations, keeper: _, keeper_auth: _ } => {
            let m = scram_mechanism(&mechanism)?;
            client.set_user_scram_password(&user, m, &password, iterations).await?;
            println!("set {} credential of {user}", m.name());
        }
        ScramCommand::Remove { user, mechanism } => {
            let m = scram_mechanism(&mechanism)?;
            client.remove_user_scram_credential(&user, m).await?;
            println!("removed {} credential of {user}", m.name());
        }
        ScramCommand::List { users, json } => {
            let described = client.describe_user_scram_credentials(&users).await?;
            let mut failed = None;
            if json {
                let out: serde_json::Map<String, serde_json::Value> = described
                    .iter()
                    .map(|(user, r)| {
                        let v = match r {
                            Ok(infos) => json!(
                                infos
                                    .iter()
                                    .map(|i| json!({"mechanism": i.mechanism.name(), "iterations": i.iterations}))
                                    .collect::<Vec<_>>()
                            ),
                            Err(e) => json!({"error": e.to_string()}),
                        };
                        (user.clone(), v)
                    })
                    .collect();
                print_json(&serde_json::Value::Object(out))?;
            } else {
                let mut table = Table::new(&["USER", "MECHANISM", "ITERATIONS"]);
                for (user, r) in &described {
                    match r {
                        Ok(infos) => {
                            for i in infos {
                                table.row(vec![user.clone(), i.mechanism.name().to_string(), i.iterations.to_string()]);
                            }
                        }
                        Err(e) => table.row(vec![user.clone(), format!("({e})"), String::new()]),
                    }
                }
                table.print()?;
            }
            for (user, r) in described {
                if let Err(e) = r {
                    failed.get_or_insert(anyhow::anyhow!("{user}: {e}"));
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
    }
    Ok(())
}

fn parse_acks(text: &str) -> anyhow::Result<i16> {
    Ok(match text {
        "all" | "-1" => -1,
        "1" => 1,
        "0" => 0,
        other => anyhow::bail!("--acks {other:?}: expected all, 1 or 0"),
    })
}

async fn produce(client: Client, args: ProduceArgs) -> anyhow::Result<()> {
    let acks = parse_acks(&args.acks)?;
    let headers: Vec<(String, Option<Bytes>)> = args
        .headers
        .iter()
        .map(|h| key_value(h, "header").map(|(k, v)| (k, Some(Bytes::from(v)))))
        .collect::<anyhow::Result<_>>()?;
    // Before reading any input: the topic exists (auto-created if the broker does that) and
    // every partition has a leader, or the command fails naming the topic.
    client.topic_for_produce(&args.topic).await?;
    let config = ProducerConfig { acks, compression: args.compression.into(), ..ProducerConfig::default() };
    let producer = Producer::new(client, config);
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let mut deliveries = Vec::new();
    for line in input.lines() {
        let line = line?;
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(Bytes::from(k.to_string())), Bytes::from(v.to_string())),
                None => (None, Bytes::from(line)),
            },
            None => (None, Bytes::from(line)),
        };
        let record = ProducerRecord {
            topic: args.topic.clone(),
            partition: args.partition,
            key,
            value: Some(value),
            headers: headers.clone(),
            timestamp: None,
        };
        deliveries.push(producer.send(record).await?);
    }
    producer.flush().await?;
    let total = deliveries.len();
    for d in deliveries {
        d.await.map_err(|_| anyhow::anyhow!("producer stopped before a delivery report"))??;
    }
    eprintln!("produced {total} messages to {}", args.topic);
    Ok(())
}

fn start_offset(text: &str) -> anyhow::Result<StartOffset> {
    Ok(match text {
        "beginning" | "earliest" => StartOffset::Beginning,
        "end" | "latest" => StartOffset::End,
        t if t.starts_with('@') => StartOffset::Timestamp(
            t[1..].parse().map_err(|_| anyhow::anyhow!("--offset {t:?}: @ must be followed by a timestamp in ms"))?,
        ),
        t => StartOffset::Offset(
            t.parse()
                .map_err(|_| anyhow::anyhow!("--offset {t:?}: expected beginning, end, an offset, -N or @TIMESTAMP"))?,
        ),
    })
}

/// SIGINT (Ctrl-C) and SIGTERM, caught from the moment `install` returns, so that `consume`
/// can stop between batches: flush what it printed, and as a group member commit and leave.
struct Shutdown {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    fn install() -> anyhow::Result<Shutdown> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Shutdown {
            interrupt: signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
        })
    }

    /// Resolves at the next signal.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

fn consumer_config(args: &ConsumeArgs) -> ConsumerConfig {
    ConsumerConfig {
        max_wait: Duration::from_millis(if args.exit { FETCH_WAIT_TO_END_MS } else { FETCH_WAIT_MS }),
        isolation: args.isolation.into(),
        ..Default::default()
    }
}

async fn consume(client: Client, args: ConsumeArgs) -> anyhow::Result<()> {
    let start = start_offset(&args.offset)?;
    let mut shutdown = Shutdown::install()?;
    if let Some(group) = &args.group {
        return consume_group(client, &args, group, start, &mut shutdown).await;
    }
    let template = format::Template::parse(&args.format);
    let mut consumer = Consumer::new(client, consumer_config(&args));
    tokio::select! {
        assigned = consumer.assign(&args.topic, &args.partition, start) => assigned?,
        _ = shutdown.recv() => return Ok(()),
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut seen = 0usize;
    loop {
        if args.count.is_some_and(|c| seen >= c) {
            break;
        }
        // A signal ends the wait for records; the ones already printed are flushed below.
        let records = tokio::select! {
            polled = consumer.poll(POLL_MAX_RECORDS) => polled?,
            _ = shutdown.recv() => break,
        };
        for r in &records {
            if args.count.is_some_and(|c| seen >= c) {
                break;
            }
            if args.json {
                serde_json::to_writer(&mut out, &format::json(r))?;
                out.write_all(b"\n")?;
            } else {
                template.write(&mut out, r)?;
            }
            seen += 1;
        }
        out.flush()?;
        if records.is_empty() && args.exit && consumer.at_end() {
            break;
        }
    }
    out.flush()?;
    Ok(())
}

async fn consume_group(
    client: Client,
    args: &ConsumeArgs,
    group: &str,
    start: StartOffset,
    shutdown: &mut Shutdown,
) -> anyhow::Result<()> {
    let reset = match start {
        StartOffset::Beginning => StartOffset::Beginning,
        StartOffset::End => StartOffset::End,
        _ => anyhow::bail!(
            "with --group, --offset must be beginning or end (where partitions without a committed offset start)"
        ),
    };
    if !args.partition.is_empty() {
        anyhow::bail!("--partition and --group do not go together: the group assigns partitions");
    }
    let config = sluice_client::GroupConfig { reset, isolation: args.isolation.into(), ..Default::default() };
    let topics = std::slice::from_ref(&args.topic);
    let mut member = tokio::select! {
        joined = sluice_client::GroupConsumer::subscribe(client, group, topics, config) => joined?,
        _ = shutdown.recv() => return Ok(()),
    };
    let template = format::Template::parse(&args.format);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut seen = 0usize;
    loop {
        if args.count.is_some_and(|c| seen >= c) {
            break;
        }
        let want = args.count.map_or(POLL_MAX_RECORDS, |c| (c - seen).min(POLL_MAX_RECORDS));
        // Positions move only for records `poll` returned, all of which are printed below, so
        // a poll cut short by a signal leaves nothing half-consumed for `close` to commit.
        let records = tokio::select! {
            polled = member.poll(want) => polled?,
            _ = shutdown.recv() => break,
        };
        for r in &records {
            if args.json {
                serde_json::to_writer(&mut out, &format::json(r))?;
                out.write_all(b"\n")?;
            } else {
                template.write(&mut out, r)?;
            }
        }
        seen += records.len();
        out.flush()?;
        if !records.is_empty() {
            member.commit().await?;
        }
        if records.is_empty() && args.exit && member.at_end() {
            break;
        }
    }
    out.flush()?;
    // Commit and LeaveGroup, so the group is empty at once (and e.g. reset-offsets works)
    // rather than after the session timeout.
    member.close().await?;
    Ok(())
}

async fn topic(client: Client, cmd: TopicCommand) -> anyhow::Result<()> {
    match cmd {
        TopicCommand::Create { name, partitions, replication_factor, config } => {
            let configs: Vec<(String, String)> =
                config.iter().map(|c| key_value(c, "config")).collect::<anyhow::Result<_>>()?;
            // -1: the broker's default (CreateTopics' convention).
            client.create_topic(&name, partitions.unwrap_or(-1), replication_factor.unwrap_or(-1), &configs).await?;
            println!("created topic {name}");
        }
        TopicCommand::List { internal, json } => {
            let topics: Vec<sluice_client::TopicInfo> = client
                .list_topics()
                .await?
                .into_iter()
                .filter(|t| internal || !(t.internal || INTERNAL_TOPICS.contains(&t.name.as_str())))
                .collect();
            let replication = |t: &sluice_client::TopicInfo| t.partitions.iter().map(|p| p.replicas.len()).max();
            if json {
                let rows: Vec<serde_json::Value> = topics
                    .iter()
                    .map(|t| {
                        json!({"name": t.name, "partitions": t.partitions.len(),
                               "replication_factor": replication(t), "internal": t.internal})
                    })
                    .collect();
                print_json(&serde_json::Value::Array(rows))?;
            } else {
                let mut table = Table::new(&["NAME", "PARTITIONS", "REPLICAS"]);
                for t in &topics {
                    table.row(vec![t.name.clone(), t.partitions.len().to_string(), table::or_dash(replication(t))]);
                }
                table.print()?;
            }
        }
        TopicCommand::Describe { name, json } => {
            let info = client.topic(&name).await?;
            let configs = client.describe_topic_configs(&name).await?;
            if json {
                let partitions: Vec<serde_json::Value> = info
                    .partitions
                    .iter()
                    .map(|p| {
                        json!({"partition": p.partition, "leader": p.leader, "leader_epoch": p.leader_epoch,
                               "replicas": p.replicas, "isr": p.isr})
                    })
                    .collect();
                let configs: Vec<serde_json::Value> = configs
                    .iter()
                    .map(|c| {
                        json!({"name": c.name, "value": c.value, "override": c.is_override(),
                               "read_only": c.read_only})
                    })
                    .collect();
                print_json(&json!({"name": name, "internal": info.internal, "partitions": partitions,
                                   "configs": configs}))?;
                return Ok(());
            }
            println!("topic {name}: {} partitions", info.partitions.len());
            let mut table = Table::new(&["PARTITION", "LEADER", "LEADER-EPOCH", "REPLICAS", "ISR"]);
            for p in &info.partitions {
                table.row(vec![
                    p.partition.to_string(),
                    p.leader.to_string(),
                    p.leader_epoch.to_string(),
                    ids(&p.replicas),
                    ids(&p.isr),
                ]);
            }
            table.print()?;
            println!("configs:");
            for c in configs {
                let source = if c.is_override() { "  (set on topic)" } else { "" };
                println!("  {}={}{}", c.name, c.value.unwrap_or_default(), source);
            }
        }
        TopicCommand::Alter { name, set, delete } => {
            if set.is_empty() && delete.is_empty() {
                anyhow::bail!("nothing to change: give --set key=value and/or --delete key");
            }
            let set: Vec<(String, String)> =
                set.iter().map(|c| key_value(c, "--set")).collect::<anyhow::Result<_>>()?;
            client.alter_topic_configs(&name, &set, &delete).await?;
            println!("altered topic {name}");
        }
        TopicCommand::AddPartitions { name, partitions } => {
            client.add_partitions(&name, partitions).await?;
            println!("topic {name} now has {partitions} partitions");
        }
        TopicCommand::Delete { name } => {
            client.delete_topic(&name).await?;
            println!("deleted topic {name}");
        }
        TopicCommand::Reassign { name, moves, all, cancel, wait, timeout } => {
            reassign(&client, &name, &moves, all.as_deref(), &cancel).await?;
            if wait {
                wait_for_reassignments(&client, &name, Duration::from_secs(timeout)).await?;
            }
        }
        TopicCommand::ElectLeaders { name, partitions, all_topics, unclean } => {
            elect_leaders(&client, name.as_deref(), &partitions, all_topics, unclean).await?;
        }
        TopicCommand::Reassignments { name } => {
            let moving = client.list_reassignments(name.as_deref()).await?;
            if moving.is_empty() {
                println!("no reassignments in progress");
            }
            for r in moving {
                println!(
                    "{}-{}	replicas {:?}	adding {:?}	removing {:?}",
                    r.topic, r.partition, r.replicas, r.adding, r.removing
                );
            }
        }
    }
    Ok(())
}

/// Broker ids as a table cell: `1,2,3`.
fn ids(list: &[i32]) -> String {
    list.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}
/// A comma-separated list of broker ids.
fn broker_ids(text: &str) -> anyhow::Result<Vec<i32>> {
    text.split(',')
        .map(|id| id.trim().parse::<i32>().map_err(|_| anyhow::anyhow!("{id:?} is not a broker id (in {text:?})")))
        .collect()
}

async fn reassign(
    client: &Client,
    name: &str,
    moves: &[String],
    all: Option<&str>,
    cancel: &[i32],
) -> anyhow::Result<()> {
    let mut plan: Vec<(i32, Option<Vec<i32>>)> = Vec::new();
    for m in moves {
        let (p, ids) =
            m.split_once('=').ok_or_else(|| anyhow::anyhow!("--move {m:?}: expected PARTITION=BROKER,BROKER,..."))?;
        let p = p.trim().parse::<i32>().map_err(|_| anyhow::anyhow!("--move {m:?}: {p:?} is not a partition"))?;
        plan.push((p, Some(broker_ids(ids)?)));
    }
    if let Some(ids) = all {
        let ids = broker_ids(ids)?;
        for p in client.topic(name).await?.partitions {
            plan.push((p.partition, Some(ids.clone())));
        }
    }
    plan.extend(cancel.iter().map(|&p| (p, None)));
    if plan.is_empty() {
        anyhow::bail!("nothing to reassign: give --move P=IDS, --all IDS or --cancel P");
    }
    let mut failed = 0;
    for (p, result) in client.reassign_partitions(name, &plan).await? {
        match result {
            Ok(()) => println!("{name}-{p}: reassignment started"),
            Err(e) => {
                failed += 1;
                eprintln!("{name}-{p}: {e}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} partition moves were refused", plan.len());
    }
    Ok(())
}

async fn elect_leaders(
    client: &Client,
    name: Option<&str>,
    partitions: &[i32],
    all_topics: bool,
    unclean: bool,
) -> anyhow::Result<()> {
    let asked: Option<Vec<(String, i32)>> = match (name, all_topics) {
        (None, false) => anyhow::bail!("name a topic, or give --all-topics"),
        (_, true) => None,
        (Some(name), false) => {
            let partitions = if partitions.is_empty() {
                client.topic(name).await?.partitions.iter().map(|p| p.partition).collect()
            } else {
                partitions.to_vec()
            };
            Some(partitions.into_iter().map(|p| (name.to_string(), p)).collect())
        }
    };
    let outcomes = client.elect_leaders(asked.as_deref(), unclean).await?;
    let not_needed = sluice_protocol::error_code::ErrorCode::ElectionNotNeeded.code();
    let mut failed = 0;
    for (topic, p, outcome) in &outcomes {
        match outcome {
            Ok(()) => println!("{topic}-{p}: leader elected"),
            Err(sluice_client::ClientError::Kafka { code, .. }) if *code == not_needed => {
                println!("{topic}-{p}: no election needed")
            }
            Err(e) => {
                failed += 1;
                eprintln!("{topic}-{p}: {e}");
            }
        }
    }
    if outcomes.is_empty() {
        println!("no election needed");
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} elections failed", outcomes.len());
    }
    Ok(())
}

async fn wait_for_reassignments(client: &Client, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let moving = client.list_reassignments(Some(name)).await?;
        if moving.is_empty() {
            println!("every reassignment of {name} has completed");
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("{} partitions of {name} still moving after {}s", moving.len(), timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn cluster_log_dirs(client: Client, topics: &[String], brokers: &[i32], json: bool) -> anyhow::Result<()> {
    let mut asked = None;
    if !topics.is_empty() {
        let mut list = Vec::new();
        for name in topics {
            let info = client.topic(name).await?;
            list.push(DescribeLogDirsRequestTopic {
                topic: name.clone(),
                partitions: info.partitions.iter().map(|p| p.partition).collect(),
            });
        }
        asked = Some(list);
    }
    let (answers, failures) =
        client.ask_every_broker(|| Request::DescribeLogDirs(DescribeLogDirsRequest { topics: asked.clone() })).await?;
    let mut rows = Vec::new();
    for (broker, response) in answers {
        if !brokers.is_empty() && !brokers.contains(&broker.id) {
            continue;
        }
        let Response::DescribeLogDirs(r) = response else { anyhow::bail!("broker {}: unexpected answer", broker.id) };
        if let Err(e) = sluice_client::ClientError::check(r.error_code, None) {
            anyhow::bail!("broker {}: {e}", broker.id);
        }
        for dir in r.results {
            rows.push((broker.id, dir));
        }
    }
    if json {
        let dirs: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, d)| {
                let partitions: Vec<serde_json::Value> = d
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(|p| {
                            json!({"topic": t.name, "partition": p.partition_index, "size": p.partition_size,
                                   "offset_lag": p.offset_lag, "future": p.is_future_key})
                        })
                    })
                    .collect();
                json!({"broker": id, "log_dir": d.log_dir, "error": error_name(d.error_code),
                       "total_bytes": d.total_bytes, "usable_bytes": d.usable_bytes, "partitions": partitions})
            })
            .collect();
        print_json(&serde_json::Value::Array(dirs))?;
    } else {
        let mut table = Table::new(&["BROKER", "LOG DIR", "TOPIC", "PARTITION", "SIZE", "OFFSET LAG"]);
        for (id, d) in &rows {
            println!(
                "broker {id}: {} ({}; {} of {} bytes usable)",
                d.log_dir,
                error_name(d.error_code).unwrap_or("online"),
                d.usable_bytes,
                d.total_bytes
            );
            for t in &d.topics {
                for p in &t.partitions {
                    table.row(vec![
                        id.to_string(),
                        d.log_dir.clone(),
                        t.name.clone(),
                        if p.is_future_key {
                            format!("{} (future)", p.partition_index)
                        } else {
                            p.partition_index.to_string()
                        },
                        p.partition_size.to_string(),
                        p.offset_lag.to_string(),
                    ]);
                }
            }
        }
        table.print()?;
    }
    for f in &failures {
        eprintln!("broker {} ({}): {}", f.broker.id, f.broker.address(), f.error);
    }
    if !failures.is_empty() {
        anyhow::bail!("{} of the brokers did not answer", failures.len());
    }
    Ok(())
}

/// The longest `sluice cluster move-log-dir --wait` waits.
const MOVE_LOG_DIR_WAIT_SECS: u64 = 600;

async fn cluster_move_log_dir(
    client: Client,
    topic: &str,
    partitions: &[i32],
    broker: i32,
    to: &str,
    wait: bool,
) -> anyhow::Result<()> {
    use sluice_protocol::messages::{AlterReplicaLogDirsDir, AlterReplicaLogDirsRequest, AlterReplicaLogDirsTopic};
    let conn = client.broker_connection(broker).await?;
    let request = AlterReplicaLogDirsRequest {
        dirs: vec![AlterReplicaLogDirsDir {
            path: to.to_string(),
            topics: vec![AlterReplicaLogDirsTopic { name: topic.to_string(), partitions: partitions.to_vec() }],
        }],
    };
    let Response::AlterReplicaLogDirs(r) = client.send_to(&conn, Request::AlterReplicaLogDirs(request)).await? else {
        anyhow::bail!("broker {broker}: unexpected answer");
    };
    let mut failed = 0;
    for t in &r.results {
        for p in &t.partitions {
            match error_name(p.error_code) {
                None => println!("{}-{}: moving to {to} on broker {broker}", t.topic_name, p.partition_index),
                Some(e) => {
                    failed += 1;
                    eprintln!("{}-{}: {e}", t.topic_name, p.partition_index);
                }
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of the partitions were not moved");
    }
    if !wait {
        return Ok(());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(MOVE_LOG_DIR_WAIT_SECS);
    loop {
        let asked =
            Some(vec![DescribeLogDirsRequestTopic { topic: topic.to_string(), partitions: partitions.to_vec() }]);
        let Response::DescribeLogDirs(d) =
            client.send_to(&conn, Request::DescribeLogDirs(DescribeLogDirsRequest { topics: asked })).await?
        else {
            anyhow::bail!("broker {broker}: unexpected answer");
        };
        // Done once every partition is in the destination, and no longer as a future replica.
        let settled = partitions.iter().all(|&p| {
            d.results.iter().all(|dir| {
                let here = dir
                    .topics
                    .iter()
                    .filter(|t| t.name == topic)
                    .flat_map(|t| &t.partitions)
                    .filter(|x| x.partition_index == p);
                let (current, future) =
                    here.fold((0, 0), |(c, f), x| if x.is_future_key { (c, f + 1) } else { (c + 1, f) });
                let is_dest = std::path::Path::new(&dir.log_dir) == std::path::Path::new(to);
                future == 0 && (current == 1) == is_dest
            })
        });
        if settled {
            println!("done");
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the moves did not finish within {MOVE_LOG_DIR_WAIT_SECS} s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Kafka's name of an error code, or `None` for no error.
fn error_name(code: i16) -> Option<&'static str> {
    (code != 0).then(|| sluice_protocol::error_code::ErrorCode::from_code(code).map_or("UNKNOWN", |c| c.name()))
}

async fn cluster_info(client: Client, internal: bool, json: bool) -> anyhow::Result<()> {
    let mut md = client.refresh_metadata(None).await?;
    let health = |p: &sluice_client::PartitionInfo| {
        if p.leader < 0 {
            "offline"
        } else if p.isr.len() < p.replicas.len() {
            "under-replicated"
        } else {
            "ok"
        }
    };
    // Internal topics' healthy partitions (50 of __consumer_offsets alone) are folded into one
    // line unless asked for; a partition in trouble is always listed.
    let mut folded: Vec<(String, usize)> = Vec::new();
    if !internal {
        for t in md.topics.values_mut().filter(|t| t.internal || INTERNAL_TOPICS.contains(&t.name.as_str())) {
            let before = t.partitions.len();
            t.partitions.retain(|p| health(p) != "ok");
            folded.push((t.name.clone(), before - t.partitions.len()));
        }
    }
    if json {
        let brokers: Vec<serde_json::Value> =
            md.brokers.values().map(|b| json!({"id": b.id, "host": b.host, "port": b.port, "rack": b.rack})).collect();
        let partitions: Vec<serde_json::Value> = md
            .topics
            .values()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    json!({"topic": t.name, "partition": p.partition, "leader": p.leader,
                           "leader_epoch": p.leader_epoch, "replicas": p.replicas, "isr": p.isr,
                           "status": health(p)})
                })
            })
            .collect();
        print_json(&json!({"cluster_id": md.cluster_id, "controller": md.controller_id, "brokers": brokers,
                           "partitions": partitions}))?;
        return Ok(());
    }
    println!("cluster id: {}", md.cluster_id.as_deref().unwrap_or("-"));
    println!("controller: {}", md.controller_id);
    let mut brokers = Table::new(&["BROKER", "ADDRESS", "RACK"]);
    for b in md.brokers.values() {
        brokers.row(vec![b.id.to_string(), b.address(), table::or_dash(b.rack.clone())]);
    }
    brokers.print()?;
    let mut partitions = Table::new(&["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "STATUS"]);
    for t in md.topics.values() {
        for p in &t.partitions {
            partitions.row(vec![
                format!("{}-{}", t.name, p.partition),
                p.leader.to_string(),
                p.leader_epoch.to_string(),
                ids(&p.replicas),
                ids(&p.isr),
                health(p).to_string(),
            ]);
        }
    }
    partitions.print()?;
    for (topic, ok) in folded.iter().filter(|(_, ok)| *ok > 0) {
        println!("{topic}: {ok} more partitions ok (--internal lists them)");
    }
    Ok(())
}

/// Exit codes of `sluice cluster health`.
const HEALTH_UNDER_REPLICATED_EXIT: u8 = 1;
const HEALTH_UNAVAILABLE_EXIT: u8 = 2;
const HEALTH_UNREACHABLE_EXIT: u8 = 3;

/// `sluice cluster health`: what Kafka's `kafka-topics.sh --describe --under-replicated-partitions
/// / --under-min-isr-partitions / --unavailable-partitions` report, in one pass, with an exit code.
async fn cluster_health(client: Client, json: bool) -> anyhow::Result<()> {
    let md = match client.refresh_metadata(None).await {
        Ok(md) => md,
        Err(e) => {
            return Err(ExitWith {
                code: HEALTH_UNREACHABLE_EXIT,
                message: format!("cannot read the cluster's metadata: {e}"),
            }
            .into());
        }
    };
    let mut problems = Vec::new();
    let mut worst = 0u8;
    let mut checked = 0usize;
    for t in md.topics.values() {
        let min_isr = match client.describe_configs(&sluice_client::ConfigTarget::Topic(t.name.clone())).await {
            Ok(entries) => entries
                .iter()
                .find(|e| e.name == "min.insync.replicas")
                .and_then(|e| e.value.as_deref())
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(1),
            Err(_) => 1,
        };
        for p in &t.partitions {
            checked += 1;
            let (status, severity) = if p.leader < 0 {
                ("offline", HEALTH_UNAVAILABLE_EXIT)
            } else if p.isr.len() < min_isr {
                ("under-min-isr", HEALTH_UNAVAILABLE_EXIT)
            } else if p.isr.len() < p.replicas.len() {
                ("under-replicated", HEALTH_UNDER_REPLICATED_EXIT)
            } else {
                continue;
            };
            worst = worst.max(severity);
            problems.push((t.name.clone(), p.partition, p.leader, p.replicas.clone(), p.isr.clone(), min_isr, status));
        }
    }
    if json {
        let rows: Vec<serde_json::Value> = problems
            .iter()
            .map(|(t, p, leader, replicas, isr, min_isr, status)| {
                json!({"topic": t, "partition": p, "leader": leader, "replicas": replicas, "isr": isr,
                       "min_insync_replicas": min_isr, "status": status})
            })
            .collect();
        print_json(&json!({"brokers": md.brokers.len(), "partitions": checked, "problems": rows}))?;
    } else if problems.is_empty() {
        println!(
            "healthy: {} brokers, {checked} partitions, none offline, under min ISR or under-replicated",
            md.brokers.len()
        );
    } else {
        let mut table = Table::new(&["PARTITION", "LEADER", "REPLICAS", "ISR", "MIN-ISR", "STATUS"]);
        for (t, p, leader, replicas, isr, min_isr, status) in &problems {
            table.row(vec![
                format!("{t}-{p}"),
                leader.to_string(),
                ids(replicas),
                ids(isr),
                min_isr.to_string(),
                status.to_string(),
            ]);
        }
        table.print()?;
        println!("{} of {checked} partitions need attention", problems.len());
    }
    match worst {
        0 => Ok(()),
        code => Err(ExitWith { code, message: String::new() }.into()),
    }
}

async fn transaction(client: Client, cmd: TransactionCommand) -> anyhow::Result<()> {
    match cmd {
        TransactionCommand::List { state, producer_id, json } => {
            let (transactions, failures) = client.list_transactions(&state, &producer_id).await?;
            if json {
                let rows: Vec<serde_json::Value> = transactions
                    .iter()
                    .map(|t| {
                        json!({"transactional_id": t.transactional_id, "producer_id": t.producer_id,
                               "state": t.state, "coordinator": t.coordinator})
                    })
                    .collect();
                print_json(&serde_json::Value::Array(rows))?;
            } else {
                let mut table = Table::new(&["TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR"]);
                for t in &transactions {
                    table.row(vec![
                        t.transactional_id.clone(),
                        t.producer_id.to_string(),
                        t.state.clone(),
                        t.coordinator.to_string(),
                    ]);
                }
                table.print()?;
            }
            groups::report_failures(&failures, "transactions")?;
        }
        TransactionCommand::Describe { transactional_id } => {
            let t = client.describe_transaction(&transactional_id).await?;
            println!("transactional id {}: {}", t.transactional_id, t.state);
            println!("  coordinator {}", t.coordinator);
            println!("  producer id {} epoch {}", t.producer_id, t.producer_epoch);
            println!("  timeout ms {}", t.timeout_ms);
            if t.start_time_ms >= 0 {
                println!("  started at {} ms", t.start_time_ms);
            }
            for (topic, partition) in t.partitions {
                println!("  partition {topic}-{partition}");
            }
        }
        TransactionCommand::Producers { topic, partition, json } => {
            let found = client.describe_producers(&topic, &partition).await?;
            let mut rows = Vec::new();
            let mut failed = Vec::new();
            for (p, answer) in found {
                match answer {
                    Ok(producers) => rows.extend(producers.into_iter().map(|s| (p, s))),
                    Err(e) => failed.push(format!("{topic}-{p}: {e}")),
                }
            }
            if json {
                let out: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(p, s)| {
                        json!({"partition": p, "producer_id": s.producer_id, "producer_epoch": s.producer_epoch,
                               "last_sequence": s.last_sequence, "last_timestamp": s.last_timestamp,
                               "coordinator_epoch": s.coordinator_epoch,
                               "current_transaction_start_offset": s.current_txn_start_offset})
                    })
                    .collect();
                print_json(&serde_json::Value::Array(out))?;
            } else {
                let mut table = Table::new(&[
                    "PARTITION",
                    "PRODUCER-ID",
                    "EPOCH",
                    "LAST-SEQUENCE",
                    "LAST-TIMESTAMP",
                    "COORDINATOR-EPOCH",
                    "TXN-START-OFFSET",
                ]);
                let or_none = |v: i64| if v < 0 { "None".to_string() } else { v.to_string() };
                for (p, s) in &rows {
                    table.row(vec![
                        p.to_string(),
                        s.producer_id.to_string(),
                        s.producer_epoch.to_string(),
                        s.last_sequence.to_string(),
                        s.last_timestamp.to_string(),
                        s.coordinator_epoch.to_string(),
                        or_none(s.current_txn_start_offset),
                    ]);
                }
                table.print()?;
            }
            anyhow::ensure!(failed.is_empty(), "{}", failed.join("; "));
        }
    }
    Ok(())
}

async fn group(client: Client, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::List { json } => groups::list(&client, json).await,
        GroupCommand::Describe { group, json } => groups::describe(&client, &group, json).await,
        GroupCommand::Lag { sort, json } => groups::lag(&client, sort, json).await,
        GroupCommand::ResetOffsets {
            group,
            topic,
            partition,
            to_earliest,
            to_latest,
            to_offset,
            to_datetime,
            execute,
        } => {
            let target = match (to_earliest, to_latest, to_offset, to_datetime) {
                (true, _, _, _) => groups::ResetTarget::Earliest,
                (_, true, _, _) => groups::ResetTarget::Latest,
                (_, _, Some(o), _) => groups::ResetTarget::Offset(o),
                (_, _, _, Some(ts)) => groups::ResetTarget::Datetime(ts),
                _ => anyhow::bail!("say where to: --to-earliest, --to-latest, --to-offset N or --to-datetime MS"),
            };
            groups::reset_offsets(&client, &group, &topic, partition, target, execute).await
        }
        GroupCommand::Delete { group } => groups::delete(&client, &group).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every argument of every command, by its command path.
    fn every_arg(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in cmd.get_arguments() {
            out.push((path.to_string(), arg.clone()));
        }
        for sub in cmd.get_subcommands() {
            every_arg(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_and_argument_has_help_and_no_sentinel_default() {
        let mut args = Vec::new();
        every_arg(&Cli::command(), "sluice", &mut args);
        assert!(args.len() > 50, "found only {} arguments", args.len());
        for (path, arg) in args {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            assert!(arg.get_help().is_some(), "`{path}` argument {id} has no help text");
            let defaults: Vec<String> =
                arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            assert!(!defaults.iter().any(|d| d == "-1"), "`{path}` argument {id} has the sentinel default -1");
        }
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
