//! `sluice`: produce, consume, and manage topics and the cluster from the command line, against
//! Sluice or any Kafka broker. Errors print the Kafka error name and a hint, and exit 1; bad
//! flags exit 2.

mod format;
mod keeper;
mod perf;

use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sluice_client::{
    Client, ClientConfig, ClientError, Compression, Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord,
    StartOffset,
};

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
        after_help = "Examples:\n  sluice consume -t greetings -o beginning -e\n  sluice consume -t greetings -f '%k=%s (p%p o%o)\\n' -c 10\n  sluice consume -t greetings -o @1700000000000 --json"
    )]
    Consume(ConsumeArgs),
    /// Create, list, describe, alter, extend and delete topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Cluster information.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// List, describe (with lag), reset offsets of, and delete consumer groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// List and describe transactions (the transactional ids the brokers coordinate).
    #[command(subcommand)]
    Transaction(TransactionCommand),
    /// Measure throughput and latency.
    #[command(subcommand)]
    Perf(PerfCommand),
    /// Check that a node serves (for container healthchecks): a broker answers metadata for its
    /// cluster; with --keeper, a keeper (or ZooKeeper) server is part of a serving quorum.
    /// Exits non-zero, saying why, otherwise.
    #[command(after_help = "Examples:\n  sluice health -b 127.0.0.1:9092\n  sluice health --keeper 127.0.0.1:2181")]
    Health {
        /// Check this keeper or ZooKeeper server (host:port) instead of a broker.
        #[arg(long, value_name = "HOST:PORT")]
        keeper: Option<String>,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 5_000)]
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
        #[arg(long)]
        json: bool,
    },
    /// Consume COUNT records from the beginning; report records/s and MB/s.
    #[command(after_help = "Example:\n  sluice perf consume -t bench -n 1000000")]
    Consume {
        #[arg(short, long)]
        topic: String,
        #[arg(short = 'n', long, default_value_t = 100_000)]
        count: u64,
        #[arg(long)]
        json: bool,
    },
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
    /// Topic to produce to.
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
    /// end), and are committed after every batch printed.
    #[arg(short, long)]
    group: Option<String>,
}

#[derive(Debug, Subcommand)]
enum TopicCommand {
    /// Create a topic.
    #[command(after_help = "Example:\n  sluice topic create orders -p 6 -c retention.ms=86400000")]
    Create {
        name: String,
        /// Partitions (default: the broker's num.partitions).
        #[arg(short, long, default_value_t = -1)]
        partitions: i32,
        /// Replication factor (default: the broker's default.replication.factor).
        #[arg(short, long, default_value_t = -1)]
        replication_factor: i16,
        /// Topic config: -c key=value (repeatable).
        #[arg(short, long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
    },
    /// List topics.
    #[command(after_help = "Example:\n  sluice topic list")]
    List,
    /// Show a topic's partitions (leader, replicas, ISR) and configs.
    #[command(after_help = "Example:\n  sluice topic describe orders")]
    Describe { name: String },
    /// Set or delete topic config overrides.
    #[command(after_help = "Example:\n  sluice topic alter orders --set retention.ms=3600000 --delete segment.bytes")]
    Alter {
        name: String,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
    /// Raise a topic's partition count.
    #[command(after_help = "Example:\n  sluice topic add-partitions orders -p 12")]
    AddPartitions {
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
    /// List partition reassignments in progress.
    #[command(after_help = "Example:\n  sluice topic reassignments orders")]
    Reassignments { name: Option<String> },
    /// Delete a topic.
    #[command(after_help = "Example:\n  sluice topic delete orders")]
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
enum TransactionCommand {
    /// Transactional ids with their producer id, state and coordinator, from every broker.
    #[command(after_help = "Examples:\n  sluice transaction list\n  sluice transaction list --state Ongoing")]
    List {
        /// Only transactions in this state (Empty, Ongoing, PrepareCommit, PrepareAbort,
        /// CompleteCommit, CompleteAbort); repeatable.
        #[arg(long)]
        state: Vec<String>,
        /// Only this producer id; repeatable.
        #[arg(long)]
        producer_id: Vec<i64>,
    },
    /// A transactional id's producer, state, timeout and the partitions of its open transaction.
    #[command(after_help = "Example:\n  sluice transaction describe orders-copier")]
    Describe { transactional_id: String },
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// List consumer groups with their state.
    #[command(after_help = "Example:\n  sluice group list")]
    List,
    /// Members, assignments, and per partition the committed offset, log end and lag.
    #[command(after_help = "Example:\n  sluice group describe billing")]
    Describe { group: String },
    /// Set a group's committed offsets for a topic (the group must have no active members).
    #[command(
        after_help = "Examples:\n  sluice group reset-offsets billing -t orders --to-earliest\n  sluice group reset-offsets billing -t orders --to-offset 1000\n  sluice group reset-offsets billing -t orders --to-datetime 1700000000000"
    )]
    ResetOffsets {
        group: String,
        #[arg(short, long)]
        topic: String,
        /// Only this partition (default: all).
        #[arg(short, long)]
        partition: Option<i32>,
        #[arg(long, conflicts_with_all = ["to_latest", "to_offset", "to_datetime"])]
        to_earliest: bool,
        #[arg(long, conflicts_with_all = ["to_offset", "to_datetime"])]
        to_latest: bool,
        #[arg(long, conflicts_with = "to_datetime")]
        to_offset: Option<i64>,
        /// Milliseconds since the epoch: the first offset at or after it.
        #[arg(long)]
        to_datetime: Option<i64>,
    },
    /// Delete a group with no active members, and its committed offsets.
    #[command(after_help = "Example:\n  sluice group delete billing")]
    Delete { group: String },
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Brokers, controller, and each partition's leader and ISR.
    #[command(after_help = "Example:\n  sluice cluster info")]
    Info,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(hint) = e.downcast_ref::<ClientError>().and_then(ClientError::hint) {
                eprintln!("hint: {hint}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn key_value(text: &str, what: &str) -> anyhow::Result<(String, String)> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| anyhow::anyhow!("{what} {text:?} must look like name=value"))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        // Keeper commands speak ZooKeeper's protocol and need no Kafka broker.
        Command::Keeper(args) => keeper::run(args).await,
        Command::Perf(PerfCommand::Keeper { servers, op, count, clients, depth, size, json }) => {
            let summary = perf::keeper(&servers, op, count, clients, depth, size).await?;
            summary.print(&format!("keeper {op:?}").to_lowercase(), json);
            Ok(())
        }
        Command::Health { keeper, timeout_ms } => {
            let within = Duration::from_millis(timeout_ms);
            let status = match keeper {
                Some(server) => tokio::time::timeout(within, keeper_health(&server)).await,
                None => tokio::time::timeout(within, broker_health(&cli.bootstrap)).await,
            };
            println!("{}", status.map_err(|_| anyhow::anyhow!("no answer within {timeout_ms} ms"))??);
            Ok(())
        }
        command => run_kafka(&cli.bootstrap, command).await,
    }
}

/// A broker is healthy when it answers metadata for a cluster.
async fn broker_health(bootstrap: &str) -> anyhow::Result<String> {
    let client = Client::connect(ClientConfig::new(bootstrap)).await?;
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
        None => anyhow::bail!("{server} is not serving: {}", answer.trim()),
    }
}

async fn run_kafka(bootstrap: &str, command: Command) -> anyhow::Result<()> {
    let client = Client::connect(ClientConfig::new(bootstrap)).await?;
    match command {
        // Handled by `run`.
        Command::Keeper(_) | Command::Perf(PerfCommand::Keeper { .. }) | Command::Health { .. } => Ok(()),
        Command::Produce(args) => produce(client, args).await,
        Command::Consume(args) => consume(client, args).await,
        Command::Topic(cmd) => topic(client, cmd).await,
        Command::Cluster(ClusterCommand::Info) => cluster_info(client).await,
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
    }
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
    // Fail fast on an unknown topic, before reading any input.
    client.topic(&args.topic).await?;
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

async fn consume(client: Client, args: ConsumeArgs) -> anyhow::Result<()> {
    let start = start_offset(&args.offset)?;
    if let Some(group) = &args.group {
        return consume_group(client, &args, group, start).await;
    }
    let template = format::Template::parse(&args.format);
    let mut consumer = Consumer::new(
        client,
        ConsumerConfig { max_wait: Duration::from_millis(if args.exit { 100 } else { 500 }), ..Default::default() },
    );
    consumer.assign(&args.topic, &args.partition, start).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut seen = 0usize;
    loop {
        if args.count.is_some_and(|c| seen >= c) {
            break;
        }
        let records = consumer.poll(1000).await?;
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

async fn consume_group(client: Client, args: &ConsumeArgs, group: &str, start: StartOffset) -> anyhow::Result<()> {
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
    let config = sluice_client::GroupConfig { reset, ..Default::default() };
    let mut member =
        sluice_client::GroupConsumer::subscribe(client, group, std::slice::from_ref(&args.topic), config).await?;
    let template = format::Template::parse(&args.format);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut seen = 0usize;
    loop {
        if args.count.is_some_and(|c| seen >= c) {
            break;
        }
        let want = args.count.map_or(1000, |c| (c - seen).min(1000));
        let records = member.poll(want).await?;
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
    member.close().await?;
    Ok(())
}

async fn topic(client: Client, cmd: TopicCommand) -> anyhow::Result<()> {
    match cmd {
        TopicCommand::Create { name, partitions, replication_factor, config } => {
            let configs: Vec<(String, String)> =
                config.iter().map(|c| key_value(c, "config")).collect::<anyhow::Result<_>>()?;
            client.create_topic(&name, partitions, replication_factor, &configs).await?;
            println!("created topic {name}");
        }
        TopicCommand::List => {
            for t in client.list_topics().await? {
                println!(
                    "{}\t{} partitions{}",
                    t.name,
                    t.partitions.len(),
                    if t.internal { "\t(internal)" } else { "" }
                );
            }
        }
        TopicCommand::Describe { name } => {
            let info = client.topic(&name).await?;
            println!("topic {name}: {} partitions", info.partitions.len());
            println!("{:<10} {:<8} {:<12} {:<16} isr", "partition", "leader", "leader-epoch", "replicas");
            for p in &info.partitions {
                println!(
                    "{:<10} {:<8} {:<12} {:<16} {:?}",
                    p.partition,
                    p.leader,
                    p.leader_epoch,
                    format!("{:?}", p.replicas),
                    p.isr
                );
            }
            println!("configs:");
            for c in client.describe_topic_configs(&name).await? {
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

async fn cluster_info(client: Client) -> anyhow::Result<()> {
    let md = client.refresh_metadata(None).await?;
    println!("cluster id: {}", md.cluster_id.as_deref().unwrap_or("-"));
    println!("controller: {}", md.controller_id);
    println!("brokers:");
    for b in md.brokers.values() {
        println!(
            "  {}\t{}:{}{}",
            b.id,
            b.host,
            b.port,
            b.rack.as_ref().map(|r| format!("\track {r}")).unwrap_or_default()
        );
    }
    println!("partitions:");
    for t in md.topics.values() {
        for p in &t.partitions {
            let health = if p.leader < 0 {
                "\toffline"
            } else if p.isr.len() < p.replicas.len() {
                "\tunder-replicated"
            } else {
                ""
            };
            println!(
                "  {}-{}\tleader {}\tepoch {}\treplicas {:?}\tisr {:?}{health}",
                t.name, p.partition, p.leader, p.leader_epoch, p.replicas, p.isr
            );
        }
    }
    Ok(())
}

async fn transaction(client: Client, cmd: TransactionCommand) -> anyhow::Result<()> {
    match cmd {
        TransactionCommand::List { state, producer_id } => {
            for t in client.list_transactions(&state, &producer_id).await? {
                println!("{}\t{}\t{}\t{}", t.transactional_id, t.producer_id, t.state, t.coordinator);
            }
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
    }
    Ok(())
}

async fn group(client: Client, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::List => {
            for g in client.list_groups().await? {
                println!(
                    "{}\t{}\t{}",
                    g.group_id,
                    g.state,
                    if g.protocol_type.is_empty() { "-" } else { &g.protocol_type }
                );
            }
        }
        GroupCommand::Describe { group } => {
            let d = client.describe_group(&group).await?;
            let committed = client.committed_offsets(&group).await?;
            if d.state == "Dead" && committed.is_empty() {
                return Err(ClientError::kafka(69, Some(format!("group '{group}' does not exist"))).into());
            }
            println!(
                "group {}: {} ({} members, protocol {})",
                d.group_id,
                d.state,
                d.members.len(),
                if d.protocol.is_empty() { "-" } else { &d.protocol }
            );
            let mut owners = std::collections::BTreeMap::new();
            for m in &d.members {
                println!("  member {} client {} host {}", m.member_id, m.client_id, m.client_host);
                for tp in &m.assignment {
                    owners.insert(tp.clone(), m.client_id.clone());
                }
            }
            println!("{:<24} {:<10} {:<12} {:<12} {:<8} owner", "topic", "partition", "committed", "log-end", "lag");
            let mut rows: std::collections::BTreeSet<(String, i32)> = committed.keys().cloned().collect();
            rows.extend(owners.keys().cloned());
            for (topic, partition) in rows {
                let end = client.list_offset(&topic, partition, -1).await.map(|(o, _)| o).unwrap_or(-1);
                let c = committed.get(&(topic.clone(), partition)).copied();
                let lag = match c {
                    Some(c) if end >= 0 => (end - c).max(0).to_string(),
                    _ => "-".into(),
                };
                let owner = owners.get(&(topic.clone(), partition)).cloned().unwrap_or_else(|| "-".into());
                println!(
                    "{:<24} {:<10} {:<12} {:<12} {:<8} {}",
                    topic,
                    partition,
                    c.map_or("-".into(), |c| c.to_string()),
                    end,
                    lag,
                    owner
                );
            }
        }
        GroupCommand::ResetOffsets { group, topic, partition, to_earliest, to_latest, to_offset, to_datetime } => {
            let timestamp = match (to_earliest, to_latest, to_offset, to_datetime) {
                (true, _, _, _) => Some(-2),
                (_, true, _, _) => Some(-1),
                (_, _, Some(_), _) => None,
                (_, _, _, Some(ts)) => Some(ts),
                _ => anyhow::bail!("say where to: --to-earliest, --to-latest, --to-offset N or --to-datetime MS"),
            };
            let info = client.topic(&topic).await?;
            let partitions: Vec<i32> = match partition {
                Some(p) => vec![p],
                None => info.partitions.iter().map(|p| p.partition).collect(),
            };
            let mut offsets = std::collections::BTreeMap::new();
            for p in partitions {
                let target = match (timestamp, to_offset) {
                    (None, Some(o)) => o,
                    (Some(ts), _) => match client.list_offset(&topic, p, ts).await?.0 {
                        -1 => client.list_offset(&topic, p, -1).await?.0,
                        o => o,
                    },
                    _ => unreachable!("one target was checked above"),
                };
                offsets.insert((topic.clone(), p), target);
            }
            client.commit_group_offsets(&group, &offsets).await?;
            for ((t, p), o) in &offsets {
                println!("{group}\t{t}\t{p}\t{o}");
            }
        }
        GroupCommand::Delete { group } => {
            client.delete_group(&group).await?;
            println!("deleted group {group}");
        }
    }
    Ok(())
}
