//! The replicated state machine: what every keeper node holds identically because it applies the
//! same committed commands in the same order. The znode tree, the live sessions (id, timeout,
//! password) and the zxid counter, which every successful write advances by one, so zxids are
//! consecutive and equal on every node (as in ZooKeeper, where they count transactions).
//!
//! Sans-I/O and deterministic: a command carries the wall-clock time its proposer stamped on it,
//! so `ctime`/`mtime` do not depend on when a replica applies it. Watches and connections are
//! not here: they belong to the node a client is connected to.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::acl::Identity;
use crate::data_tree::{Change, DataTree, Op, OpResult};
use crate::error::ZkError;

/// A change of replicated state, as proposed to the log. The log stores these with postcard,
/// where a variant is its index: variants are only added at the end, so an old log still reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A new session with the id and password its accepting node drew.
    CreateSession { id: i64, passwd: Bytes, timeout_ms: i32 },
    /// The client closed its session.
    CloseSession { id: i64 },
    /// The keeper leader found the session silent past its timeout.
    ExpireSession { id: i64 },
    /// A write logged before ACLs existed: applied with no access check, as it was then.
    Write { session: i64, op: Op },
    /// Nothing to change: `sync` waits for it to be applied on the client's node.
    Sync,
    /// A write on the tree (create, delete, setData, setACL, check or multi) by a session whose
    /// connection proved `who`; the access checks are made when it is applied.
    WriteAs { session: i64, who: Identity, op: Op },
}

/// A command with what routes its outcome back: `origin` names the proposing process (a random
/// number drawn at start, so a restarted node never mistakes an old entry for its own) and `seq`
/// the proposal within it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub origin: u64,
    pub seq: u64,
    pub time_ms: i64,
    pub command: Command,
}

impl Proposal {
    /// About how many bytes the proposal takes in the log (within a few per field): what bounds
    /// a log entry's size.
    pub fn approx_bytes(&self) -> usize {
        fn op_bytes(op: &Op) -> usize {
            let acl_bytes =
                |acl: &[crate::acl::AclEntry]| acl.iter().map(|a| 8 + a.scheme.len() + a.id.len()).sum::<usize>();
            8 + match op {
                Op::Create { path, data, .. } => path.len() + data.len(),
                Op::CreateAcl { path, data, acl, .. } => path.len() + data.len() + acl_bytes(acl),
                Op::SetAcl { path, acl, .. } => path.len() + acl_bytes(acl),
                Op::SetData { path, data, .. } => path.len() + data.len(),
                Op::Delete { path, .. } | Op::Check { path, .. } => path.len(),
                Op::Multi(ops) => ops.iter().map(op_bytes).sum(),
            }
        }
        32 + match &self.command {
            Command::CreateSession { passwd, .. } => 16 + passwd.len(),
            Command::Write { op, .. } => op_bytes(op),
            Command::WriteAs { who, op, .. } => {
                who.ids.iter().map(|(s, i)| 8 + s.len() + i.len()).sum::<usize>() + op_bytes(op)
            }
            Command::CloseSession { .. } | Command::ExpireSession { .. } | Command::Sync => 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub timeout_ms: i32,
    pub passwd: Bytes,
}

/// What applying a command did: the zxid after it and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub zxid: i64,
    pub result: Result<OpResult, ZkError>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub tree: DataTree,
    pub sessions: BTreeMap<i64, SessionInfo>,
    pub zxid: i64,
}

impl Machine {
    /// Applies one command; the tree changes it made (for watches) go to `changes`, and the
    /// sessions it ended to `ended`.
    pub fn apply(&mut self, p: &Proposal, changes: &mut Vec<Change>, ended: &mut Vec<i64>) -> Applied {
        let result = match &p.command {
            Command::CreateSession { id, passwd, timeout_ms } => {
                if self.sessions.contains_key(id) {
                    Err(ZkError::SessionExpired)
                } else {
                    self.zxid += 1;
                    self.sessions.insert(*id, SessionInfo { timeout_ms: *timeout_ms, passwd: passwd.clone() });
                    Ok(OpResult::Checked)
                }
            }
            Command::CloseSession { id } | Command::ExpireSession { id } => {
                if self.sessions.remove(id).is_some() {
                    self.zxid += 1;
                    self.tree.close_session(*id, self.zxid, changes);
                    ended.push(*id);
                }
                Ok(OpResult::Checked)
            }
            Command::Write { session, op } | Command::WriteAs { session, op, .. } => {
                if !self.sessions.contains_key(session) {
                    Err(ZkError::SessionExpired)
                } else {
                    let zxid = self.zxid + 1;
                    let mut mine = Vec::new();
                    let superuser = Identity::superuser();
                    let who = match &p.command {
                        Command::WriteAs { who, .. } => who,
                        _ => &superuser,
                    };
                    match self.tree.apply_as(op, *session, who, zxid, p.time_ms, &mut mine) {
                        // A multi that failed changed nothing and takes no zxid.
                        Ok(r @ OpResult::MultiFailed { .. }) => Ok(r),
                        Ok(r) => {
                            self.zxid = zxid;
                            changes.extend(mine);
                            Ok(r)
                        }
                        Err(e) => Err(e),
                    }
                }
            }
            Command::Sync => Ok(OpResult::Checked),
        };
        Applied { zxid: self.zxid, result }
    }
}

/// What starts a snapshot of this format; a snapshot without it was written before znodes had
/// ACLs ([`legacy`]).
const SNAPSHOT_MAGIC: &[u8; 8] = b"SLKEEP02";

impl Machine {
    /// The state as a snapshot.
    pub fn to_snapshot(&self) -> Vec<u8> {
        postcard::to_extend(self, SNAPSHOT_MAGIC.to_vec()).unwrap_or_default()
    }

    /// The state a snapshot holds, of this format or of the one before ACLs (whose nodes are
    /// then open to everyone, as they were).
    pub fn from_snapshot(bytes: &[u8]) -> Result<Machine, String> {
        if let Some(rest) = bytes.strip_prefix(SNAPSHOT_MAGIC)
            && let Ok(m) = postcard::from_bytes::<Machine>(rest)
        {
            return Ok(m);
        }
        let old: legacy::Machine = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        Ok(old.into())
    }
}

/// The snapshot format before ACLs: the same machine without a node's ACL.
mod legacy {
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    use bytes::Bytes;
    use serde::Deserialize;

    use crate::data_tree::{DataTree, Stat};

    // Serialize for the test below only: nothing writes this format any more.

    #[derive(Debug, Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub struct Node {
        data: Bytes,
        stat: Stat,
        children: BTreeSet<String>,
    }

    #[derive(Debug, Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub struct Tree {
        nodes: HashMap<String, Node>,
        ephemerals: HashMap<i64, BTreeSet<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub struct Machine {
        tree: Tree,
        sessions: BTreeMap<i64, super::SessionInfo>,
        zxid: i64,
    }

    impl From<Machine> for super::Machine {
        fn from(m: Machine) -> super::Machine {
            let nodes = m.tree.nodes.into_iter().map(|(p, n)| (p, (n.data, n.stat, n.children))).collect();
            super::Machine {
                tree: DataTree::from_open_nodes(nodes, m.tree.ephemerals),
                sessions: m.sessions,
                zxid: m.zxid,
            }
        }
    }

    #[cfg(test)]
    #[test]
    fn a_snapshot_from_before_acls_restores_with_every_node_open() {
        use crate::acl::AclEntry;
        let mut nodes = HashMap::new();
        let mut root = Node { data: Bytes::new(), stat: Stat::default(), children: BTreeSet::new() };
        root.children.insert("a".into());
        nodes.insert("/".to_string(), root);
        let stat = Stat { czxid: 4, version: 2, ..Stat::default() };
        nodes.insert("/a".to_string(), Node { data: Bytes::from_static(b"x"), stat, children: BTreeSet::new() });
        let old = Machine { tree: Tree { nodes, ephemerals: HashMap::new() }, sessions: BTreeMap::new(), zxid: 9 };
        let bytes = postcard::to_allocvec(&old).expect("serializes");
        let m = super::Machine::from_snapshot(&bytes).expect("an old snapshot reads");
        assert_eq!(m.zxid, 9);
        assert_eq!(m.tree.get_data("/a").map(|(d, s)| (d, s.version)), Ok((Bytes::from_static(b"x"), 2)));
        assert_eq!(m.tree.get_acl("/a").map(|(acl, _)| acl), Ok(AclEntry::open()));
        // And the current format round-trips.
        let again = super::Machine::from_snapshot(&m.to_snapshot()).expect("reads back");
        assert_eq!(again.tree, m.tree);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_tree::CreateMode;

    fn proposal(seq: u64, command: Command) -> Proposal {
        Proposal { origin: 1, seq, time_ms: 1_000 + seq as i64, command }
    }

    #[test]
    fn replicas_applying_the_same_commands_agree_and_sessions_own_their_ephemerals() {
        let commands = vec![
            Command::CreateSession { id: 7, passwd: Bytes::from_static(b"pw"), timeout_ms: 4000 },
            Command::Write {
                session: 7,
                op: Op::Create { path: "/e".into(), data: Bytes::from_static(b"x"), mode: CreateMode::Ephemeral },
            },
            Command::Write { session: 9, op: Op::Delete { path: "/e".into(), version: -1 } },
            Command::Write { session: 7, op: Op::SetData { path: "/e".into(), data: Bytes::new(), version: 3 } },
            Command::ExpireSession { id: 7 },
        ];
        let (mut a, mut b) = (Machine::default(), Machine::default());
        let mut outcomes = Vec::new();
        for (i, c) in commands.into_iter().enumerate() {
            let p = proposal(i as u64, c);
            let (mut ca, mut cb, mut ea, mut eb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let ra = a.apply(&p, &mut ca, &mut ea);
            assert_eq!(ra, b.apply(&p, &mut cb, &mut eb));
            assert_eq!((ca, ea), (cb, eb));
            outcomes.push(ra);
        }
        // Unknown session 9 is refused; a stale version is refused without taking a zxid.
        assert_eq!(outcomes[2].result, Err(ZkError::SessionExpired));
        assert_eq!(outcomes[3].result, Err(ZkError::BadVersion));
        assert_eq!(outcomes[3].zxid, 2);
        // Expiry takes zxid 3 and removes the session's ephemeral node.
        assert_eq!(outcomes[4].zxid, 3);
        assert_eq!(a.tree.exists("/e"), Ok(None));
        assert!(a.sessions.is_empty());
        let bytes = postcard::to_allocvec(&a).expect("serializes");
        let back: Machine = postcard::from_bytes(&bytes).expect("deserializes");
        assert_eq!(back.zxid, 3);
        assert_eq!(back.tree.node_count(), a.tree.node_count());
    }
}
