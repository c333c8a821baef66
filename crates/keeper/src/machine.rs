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

use crate::data_tree::{Change, DataTree, Op, OpResult};
use crate::error::ZkError;

/// A change of replicated state, as proposed to the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A new session with the id and password its accepting node drew.
    CreateSession { id: i64, passwd: Bytes, timeout_ms: i32 },
    /// The client closed its session.
    CloseSession { id: i64 },
    /// The keeper leader found the session silent past its timeout.
    ExpireSession { id: i64 },
    /// A write on the tree (create, delete, setData, check or multi) by a session.
    Write { session: i64, op: Op },
    /// Nothing to change: `sync` waits for it to be applied on the client's node.
    Sync,
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
            Command::Write { session, op } => {
                if !self.sessions.contains_key(session) {
                    Err(ZkError::SessionExpired)
                } else {
                    let zxid = self.zxid + 1;
                    let mut mine = Vec::new();
                    match self.tree.apply(op, *session, zxid, p.time_ms, &mut mine) {
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
