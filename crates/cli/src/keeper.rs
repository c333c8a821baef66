//! `sluice keeper`: browse and edit the znodes of keeper (or of any ZooKeeper 3.5+), in the
//! spirit of `zkCli.sh`, with ZooKeeper's error names and a non-zero exit on failure.

use std::time::Duration;

use clap::{Args, Subcommand};
use sluice_keeper::acl::{self, AclEntry, perms};
use sluice_keeper::jute::StatRecord;
use sluice_keeper::{ClientOptions, CreateMode, ZkClient, ZkError};

/// ZooKeeper's "any version" for setData and delete.
const ANY_VERSION: i32 = -1;
/// How long opening a session may take.
const SESSION_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, Args)]
pub struct KeeperArgs {
    /// Keeper (or ZooKeeper) server(s), host:port[,host:port...].
    #[arg(short = 'k', long = "keeper", env = "SLUICE_KEEPER", default_value = "localhost:2181")]
    pub servers: String,
    /// Credentials proven on connecting: digest:<user>:<password> (zkCli's `addauth digest`) or
    /// sasl:<user>:<password> (SASL DIGEST-MD5, as ZooKeeper's DigestLoginModule).
    #[arg(long = "auth", env = "SLUICE_KEEPER_AUTH", value_name = "SCHEME:CREDENTIALS")]
    pub auth: Option<String>,
    #[command(subcommand)]
    pub command: KeeperCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeeperCommand {
    /// List a node's children (the whole subtree with -R).
    #[command(after_help = "Example:\n  sluice keeper ls / -R")]
    Ls {
        /// The node's path.
        path: String,
        /// Every node below, one path a line.
        #[arg(short = 'R', long)]
        recursive: bool,
    },
    /// Print a node's data (and its Stat with -s).
    #[command(after_help = "Example:\n  sluice keeper get -s /brokers/ids/1")]
    Get {
        /// The node's path.
        path: String,
        /// Also print the node's Stat.
        #[arg(short = 's', long)]
        stat: bool,
    },
    /// Print a node's Stat.
    #[command(after_help = "Example:\n  sluice keeper stat /controller")]
    Stat {
        /// The node's path.
        path: String,
    },
    /// Create a node: -e ephemeral (gone when this command exits), -s sequential.
    #[command(after_help = "Example:\n  sluice keeper create /app/config '{\"v\":1}'")]
    Create {
        /// The node's path (with -s, the prefix of its name).
        path: String,
        /// The node's data (default: empty).
        #[arg(default_value = "")]
        data: String,
        /// Ephemeral: deleted when this command's session ends.
        #[arg(short = 'e', long)]
        ephemeral: bool,
        /// Sequential: the server appends a ten-digit counter to the name.
        #[arg(short = 's', long)]
        sequential: bool,
        /// The node's ACL, zkCli's syntax: scheme:id:perms[,...] with perms of crwda (default:
        /// world:anyone:cdrwa).
        #[arg(long, value_name = "ACL")]
        acl: Option<String>,
    },
    /// Print a node's ACL, one scheme:id:perms a line (digests without their hash unless this
    /// session has ADMIN on the node).
    #[command(name = "getacl", after_help = "Example:\n  sluice keeper getacl /brokers/ids")]
    GetAcl {
        /// The node's path.
        path: String,
    },
    /// Replace a node's ACL, only at ACL VERSION with -v.
    #[command(
        name = "setacl",
        after_help = "Example:\n  sluice keeper --auth digest:kafka:secret setacl /app digest:kafka:<hash>:cdrwa,world:anyone:r"
    )]
    SetAcl {
        /// The node's path.
        path: String,
        /// The ACL, zkCli's syntax: scheme:id:perms[,...], perms of crwda; `auth::cdrwa` names
        /// whoever this session proved (--auth).
        acl: String,
        /// Only if the node's ACL version is this (default: any version).
        #[arg(short = 'v', long)]
        version: Option<i32>,
    },
    /// Print the digest identity of USER:PASSWORD (for a digest ACL or keeper.super.digest).
    #[command(after_help = "Example:\n  sluice keeper digest super:admin-secret")]
    Digest {
        /// user:password
        credentials: String,
    },
    /// Set a node's data, only at VERSION with -v (a compare-and-set).
    #[command(after_help = "Example:\n  sluice keeper set /app/config '{\"v\":2}' -v 0")]
    Set {
        /// The node's path.
        path: String,
        /// The new data.
        data: String,
        /// Only if the node's data version is this (default: any version).
        #[arg(short = 'v', long)]
        version: Option<i32>,
    },
    /// Delete a node, only at VERSION with -v; with -R its whole subtree.
    #[command(after_help = "Example:\n  sluice keeper delete -R /app")]
    Delete {
        /// The node's path.
        path: String,
        /// Only if the node's data version is this (default: any version).
        #[arg(short = 'v', long)]
        version: Option<i32>,
        /// Delete its children first, the whole subtree.
        #[arg(short = 'R', long)]
        recursive: bool,
    },
}

fn explain(e: ZkError, path: &str) -> anyhow::Error {
    let what = match e {
        ZkError::NoNode => format!("{path} does not exist"),
        ZkError::NodeExists => format!("{path} already exists"),
        ZkError::BadVersion => format!("{path} is not at the expected version"),
        ZkError::NotEmpty => format!("{path} has children (delete with -R)"),
        ZkError::NoChildrenForEphemerals => format!("{path}: ephemeral nodes cannot have children"),
        ZkError::BadArguments => format!("{path}: bad arguments (a path starts with / and has no empty parts)"),
        ZkError::NoAuth => format!("{path}: the node's ACL does not allow this (prove an identity with --auth)"),
        ZkError::InvalidAcl => {
            format!("{path}: invalid ACL (empty, an unknown scheme, a malformed id, or auth without --auth)")
        }
        other => format!("{path} (ZooKeeper error code {})", other.code()),
    };
    anyhow::anyhow!("{e}: {what}")
}

fn print_stat(s: &StatRecord) {
    println!("cZxid = {:#x}", s.czxid);
    println!("ctime = {}", s.ctime);
    println!("mZxid = {:#x}", s.mzxid);
    println!("mtime = {}", s.mtime);
    println!("pZxid = {:#x}", s.pzxid);
    println!("cversion = {}", s.cversion);
    println!("dataVersion = {}", s.version);
    println!("aclVersion = {}", s.aversion);
    println!("ephemeralOwner = {:#x}", s.ephemeral_owner);
    println!("dataLength = {}", s.data_length);
    println!("numChildren = {}", s.num_children);
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" { format!("/{child}") } else { format!("{parent}/{child}") }
}

/// Every node under `root` (itself first), parents before children, siblings sorted.
async fn subtree(zk: &ZkClient, root: &str) -> anyhow::Result<Vec<String>> {
    let mut out = vec![root.to_string()];
    let mut i = 0;
    while i < out.len() {
        let path = out[i].clone();
        let mut children = match zk.get_children(&path).await {
            Ok(c) => c,
            // Gone meanwhile: nothing below it.
            Err(ZkError::NoNode) if i > 0 => Vec::new(),
            Err(e) => return Err(explain(e, &path)),
        };
        children.sort();
        out.extend(children.iter().map(|c| child_path(&path, c)));
        i += 1;
    }
    Ok(out)
}

/// zkCli's ACL syntax: `scheme:id:perms` entries, comma-separated; the id is what lies between
/// the first and the last colon (a digest id holds one), perms are letters of `crwda`.
pub fn parse_acl(text: &str) -> anyhow::Result<Vec<AclEntry>> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let bad = || anyhow::anyhow!("invalid ACL entry {entry:?}: expected scheme:id:perms, perms of crwda");
            let (scheme, rest) = entry.split_once(':').ok_or_else(bad)?;
            let (id, letters) = rest.rsplit_once(':').ok_or_else(bad)?;
            let mut p = 0;
            for c in letters.chars() {
                p |= match c {
                    'r' => perms::READ,
                    'w' => perms::WRITE,
                    'c' => perms::CREATE,
                    'd' => perms::DELETE,
                    'a' => perms::ADMIN,
                    _ => return Err(bad()),
                };
            }
            Ok(AclEntry::new(p, scheme, id))
        })
        .collect()
}

/// An ACL entry as zkCli prints it: `'scheme,'id` then `: perms`.
fn print_acl(entries: &[AclEntry]) {
    for e in entries {
        let letters: String =
            [(perms::CREATE, 'c'), (perms::DELETE, 'd'), (perms::READ, 'r'), (perms::WRITE, 'w'), (perms::ADMIN, 'a')]
                .iter()
                .filter(|(bit, _)| e.perms & bit != 0)
                .map(|(_, c)| *c)
                .collect();
        println!("'{},'{}", e.scheme, e.id);
        println!(": {letters}");
    }
}

/// Connection options from `--auth` (digest credentials, proven on every connection).
pub fn client_options(auth: Option<&str>, kafka_acls: bool, chroot: Option<&str>) -> anyhow::Result<ClientOptions> {
    if let Some(a) = auth {
        acl::parse_client_auth(a).map_err(|reason| anyhow::anyhow!("--auth: {reason}"))?;
    }
    ClientOptions::kafka(auth, kafka_acls, chroot).map_err(|e| anyhow::anyhow!("--auth: {e}"))
}

pub async fn run(args: KeeperArgs) -> anyhow::Result<()> {
    if let KeeperCommand::Digest { credentials } = &args.command {
        anyhow::ensure!(credentials.contains(':'), "expected user:password");
        println!("{}", acl::digest(credentials));
        return Ok(());
    }
    let options = client_options(args.auth.as_deref(), false, None)?;
    let zk = ZkClient::connect_with(&args.servers, Duration::from_millis(SESSION_TIMEOUT_MS), options).await.map_err(
        |e| {
            anyhow::Error::new(crate::Hinted {
                message: format!("cannot open a session with keeper at {}: {e}", args.servers),
                hint: "is keeper running? (sluiced embeds one on port 2181; set -k or SLUICE_KEEPER)",
            })
        },
    )?;
    let result = command(&zk, args.command).await;
    let _ = zk.close().await;
    result
}

async fn command(zk: &ZkClient, command: KeeperCommand) -> anyhow::Result<()> {
    match command {
        KeeperCommand::Ls { path, recursive: false } => {
            let mut children = zk.get_children(&path).await.map_err(|e| explain(e, &path))?;
            children.sort();
            for c in children {
                println!("{c}");
            }
        }
        KeeperCommand::Ls { path, recursive: true } => {
            for p in subtree(zk, &path).await? {
                println!("{p}");
            }
        }
        KeeperCommand::Get { path, stat } => {
            let (data, s) = zk.get_data(&path).await.map_err(|e| explain(e, &path))?;
            println!("{}", String::from_utf8_lossy(&data));
            if stat {
                print_stat(&s);
            }
        }
        KeeperCommand::Stat { path } => {
            let s = zk.exists(&path).await.map_err(|e| explain(e, &path))?;
            print_stat(&s.ok_or_else(|| explain(ZkError::NoNode, &path))?);
        }
        KeeperCommand::Create { path, data, ephemeral, sequential, acl } => {
            let mode = match (ephemeral, sequential) {
                (false, false) => CreateMode::Persistent,
                (true, false) => CreateMode::Ephemeral,
                (false, true) => CreateMode::PersistentSequential,
                (true, true) => CreateMode::EphemeralSequential,
            };
            let acl = match acl {
                Some(text) => parse_acl(&text)?,
                None => AclEntry::open(),
            };
            let created =
                zk.create_with_acl(&path, data.as_bytes(), mode, &acl).await.map_err(|e| explain(e, &path))?;
            println!("{created}");
        }
        KeeperCommand::GetAcl { path } => {
            let (entries, _) = zk.get_acl(&path).await.map_err(|e| explain(e, &path))?;
            print_acl(&entries);
        }
        KeeperCommand::SetAcl { path, acl, version } => {
            let entries = parse_acl(&acl)?;
            let s = zk.set_acl(&path, &entries, version.unwrap_or(ANY_VERSION)).await.map_err(|e| explain(e, &path))?;
            println!("aclVersion = {}", s.aversion);
        }
        KeeperCommand::Digest { credentials } => println!("{}", acl::digest(&credentials)),
        KeeperCommand::Set { path, data, version } => {
            let version = version.unwrap_or(ANY_VERSION);
            let s = zk.set_data(&path, data.as_bytes(), version).await.map_err(|e| explain(e, &path))?;
            println!("dataVersion = {}", s.version);
        }
        KeeperCommand::Delete { path, version, recursive } => {
            if recursive {
                // Deepest first; the root last, at the requested version.
                let nodes = subtree(zk, &path).await?;
                for p in nodes.iter().skip(1).rev() {
                    match zk.delete(p, ANY_VERSION).await {
                        Ok(()) | Err(ZkError::NoNode) => {}
                        Err(e) => return Err(explain(e, p)),
                    }
                }
            }
            zk.delete(&path, version.unwrap_or(ANY_VERSION)).await.map_err(|e| explain(e, &path))?;
        }
    }
    Ok(())
}

/// Attempts at a user's read-modify-write before a concurrent writer wins.
const SCRAM_WRITE_ATTEMPTS: usize = 10;

/// Writes `user`'s SCRAM credential for `mechanism` straight into keeper at
/// `<chroot>/config/users/<user>`, in Kafka's form (`{"version":1,"config":{"SCRAM-SHA-512":
/// "salt=...,stored_key=...,server_key=...,iterations=..."}}`), keeping the user's other
/// mechanisms. `servers` is the brokers' `keeper.connect` (`host:port,...[/chroot]`).
pub async fn set_scram_credential(
    servers: &str,
    user: &str,
    mechanism: sluice_client::ScramMechanism,
    password: &str,
    iterations: u32,
    auth: Option<&str>,
) -> anyhow::Result<()> {
    use sluice_protocol::scram::{ScramCredential, random_salt, sanitize_user};
    let (hosts, chroot) = match servers.find('/') {
        Some(i) => (&servers[..i], servers[i..].trim_end_matches('/')),
        None => (servers, ""),
    };
    let salt = random_salt().map_err(|e| anyhow::anyhow!("no randomness for a salt: {e}"))?;
    let credential = ScramCredential::derive(mechanism, password.as_bytes(), &salt, iterations).to_kafka_string();
    // With credentials, what is created gets Kafka's ACLs (zookeeper.set.acl's): a credential
    // readable by the brokers' identity alone.
    let chroot_opt = (!chroot.is_empty()).then_some(chroot);
    let options = client_options(auth, auth.is_some(), chroot_opt)?;
    let zk = ZkClient::connect_with(hosts, Duration::from_millis(SESSION_TIMEOUT_MS), options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open a session with keeper at {hosts}: {e}"))?;
    let result = async {
        let users = format!("{chroot}/config/users");
        let path = format!("{users}/{}", sanitize_user(user));
        for _ in 0..SCRAM_WRITE_ATTEMPTS {
            let (mut znode, version) = match zk.get_data(&path).await {
                Ok((data, stat)) => (
                    serde_json::from_slice::<serde_json::Value>(&data)
                        .unwrap_or_else(|_| serde_json::json!({"version": 1, "config": {}})),
                    Some(stat.version),
                ),
                Err(ZkError::NoNode) => (serde_json::json!({"version": 1, "config": {}}), None),
                Err(e) => return Err(anyhow::anyhow!("cannot read {path}: {e}")),
            };
            if !znode["config"].is_object() {
                znode["config"] = serde_json::json!({});
            }
            znode["config"][mechanism.name()] = serde_json::Value::String(credential.clone());
            let body = serde_json::to_vec(&znode)?;
            let written = match version {
                Some(v) => zk.set_data(&path, &body, v).await.map(drop),
                None => {
                    let mut parent = String::new();
                    for part in users.split('/').filter(|p| !p.is_empty()) {
                        parent.push('/');
                        parent.push_str(part);
                        match zk.create(&parent, b"", CreateMode::Persistent).await {
                            Ok(_) | Err(ZkError::NodeExists) => {}
                            Err(e) => return Err(anyhow::anyhow!("cannot create {parent}: {e}")),
                        }
                    }
                    zk.create(&path, &body, CreateMode::Persistent).await.map(drop)
                }
            };
            match written {
                Ok(()) => return Ok(()),
                Err(ZkError::BadVersion | ZkError::NodeExists) => continue,
                Err(e) => return Err(anyhow::anyhow!("cannot write {path}: {e}")),
            }
        }
        Err(anyhow::anyhow!("{path} kept changing; retry"))
    }
    .await;
    let _ = zk.close().await;
    result
}
