//! The znode tree (ZooKeeper's `DataTree`), a deterministic state machine: operations are
//! applied in log order with the zxid and time the log assigned them, so every replica that
//! applies the same log holds the same tree.
//!
//! `Stat` bookkeeping follows ZooKeeper exactly: a create sets the node's `czxid = mzxid =
//! pzxid = zxid` and bumps the parent's `cversion`, `numChildren` and `pzxid`; a delete undoes
//! the parent's counts (bumping `cversion` and `pzxid` again); setData bumps `version`, `mzxid`,
//! `mtime` and `dataLength`. Sequential names append the parent's `cversion` as ten digits.
//! Ephemeral nodes belong to a session and go when it closes or expires; they cannot have
//! children. `multi` applies all its operations or none.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::acl::{self, AclEntry, Identity, perms};
use crate::error::ZkError;
use crate::watch::EventType;

/// ZooKeeper's `Stat`, field for field (the wire order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

/// How a znode is created (ZooKeeper's `CreateMode` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    /// Treated as persistent (container reaping is not implemented).
    Container,
}

impl CreateMode {
    pub fn from_flags(flags: i32) -> Result<CreateMode, ZkError> {
        Ok(match flags {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 | 6 => return Err(ZkError::Unimplemented),
            _ => return Err(ZkError::BadArguments),
        })
    }
    /// The `flags` of a create request for this mode.
    pub fn flags(self) -> i32 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
        }
    }
    fn is_ephemeral(self) -> bool {
        matches!(self, CreateMode::Ephemeral | CreateMode::EphemeralSequential)
    }
    fn is_sequential(self) -> bool {
        matches!(self, CreateMode::PersistentSequential | CreateMode::EphemeralSequential)
    }
}

/// A write (or check) on the tree.
///
/// The log stores these (postcard: a variant is its index), so variants are only ever added at
/// the end: an old log must still read as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// A create logged before ACLs existed: the node is open to everyone.
    Create {
        path: String,
        data: Bytes,
        mode: CreateMode,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Bytes,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<Op>),
    /// A create with the node's ACL (already expanded and checked, see [`acl::fixup`]).
    CreateAcl {
        path: String,
        data: Bytes,
        mode: CreateMode,
        acl: Vec<AclEntry>,
    },
    /// ZooKeeper's setACL: replaces the node's ACL when its `aversion` matches (-1: any).
    SetAcl {
        path: String,
        acl: Vec<AclEntry>,
        version: i32,
    },
}

/// The result of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    Set {
        stat: Stat,
    },
    Checked,
    /// Every operation of a `multi` succeeded, in order.
    Multi(Vec<OpResult>),
    /// A `multi` changed nothing because operation `failed_index` failed with `error`. On the
    /// wire each of its `len` operations gets an error result: 0 before the failure, `error`
    /// at it, RUNTIMEINCONSISTENCY after it (as ZooKeeper answers).
    MultiFailed {
        failed_index: usize,
        error: ZkError,
        len: usize,
    },
}

impl OpResult {
    /// The per-operation error codes of a failed `multi`, as ZooKeeper puts them on the wire.
    pub fn multi_error_codes(&self) -> Option<Vec<i32>> {
        match self {
            OpResult::MultiFailed { failed_index, error, len } => Some(
                (0..*len)
                    .map(|i| match i.cmp(failed_index) {
                        std::cmp::Ordering::Less => 0,
                        std::cmp::Ordering::Equal => error.code(),
                        std::cmp::Ordering::Greater => ZkError::RuntimeInconsistency.code(),
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Node {
    data: Bytes,
    stat: Stat,
    children: BTreeSet<String>,
    acl: Vec<AclEntry>,
}

/// What undoing one operation of a failed `multi` needs, read before the operation applied.
enum Before {
    /// The parent's stat before the create.
    Create {
        parent_stat: Option<Stat>,
    },
    /// The deleted leaf and its parent's stat.
    Delete {
        node: Option<Node>,
        parent_stat: Option<Stat>,
    },
    /// The node's data and stat before the set.
    SetData {
        previous: Option<(Bytes, Stat)>,
    },
    Nothing,
}

/// A change to report to watchers: what happened, where.
pub type Change = (EventType, String);

/// `PartialEq` compares every node, data and stat included (tests check a rolled-back `multi`
/// left the tree exactly as it was).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataTree {
    nodes: HashMap<String, Node>,
    ephemerals: HashMap<i64, BTreeSet<String>>,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

/// Checks a path as ZooKeeper's `PathUtils.validatePath` does: it starts with `/`, has no empty,
/// `.` or `..` segment, does not end with `/` (unless it is `/`), and holds none of the characters
/// ZooKeeper refuses ([`is_refused_char`]). ZooKeeper's server throws `IllegalArgumentException`
/// there, which its client receives as BADARGUMENTS.
///
/// Requests are checked with this before they are proposed (and reads before they are answered);
/// applying the log checks only the shape ([`validate_path_shape`]), the rule it has always
/// applied, so that replaying an old log rebuilds exactly the tree it built before.
pub fn validate_path(path: &str) -> Result<(), ZkError> {
    validate_path_shape(path)?;
    if path.chars().any(is_refused_char) {
        return Err(ZkError::BadArguments);
    }
    Ok(())
}

/// Characters ZooKeeper refuses in a path. Java strings are UTF-16, and ZooKeeper refuses the
/// code units `\u0000-\u001f`, `\u007f-\u009f`, `\ud800-\uf8ff` and `\ufff0-\uffff`. The range
/// from `\ud800` holds the surrogates, so every character beyond the Basic Multilingual Plane
/// (which Java writes as a surrogate pair) is refused too, as is the private use area up to
/// `\uf8ff`.
pub fn is_refused_char(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}' | '\u{fff0}'..='\u{ffff}')
        || c > '\u{ffff}'
}

/// The structural part of [`validate_path`] (the rule the log is applied with).
fn validate_path_shape(path: &str) -> Result<(), ZkError> {
    if path == "/" {
        return Ok(());
    }
    if !path.starts_with('/') || path.ends_with('/') || path.contains('\0') {
        return Err(ZkError::BadArguments);
    }
    for part in path[1..].split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(ZkError::BadArguments);
        }
    }
    Ok(())
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

impl DataTree {
    /// A tree holding `/` and ZooKeeper's own `/zookeeper` node (tools expect it).
    pub fn new() -> DataTree {
        let mut nodes = HashMap::new();
        let mut root =
            Node { data: Bytes::new(), stat: Stat::default(), children: BTreeSet::new(), acl: AclEntry::open() };
        root.children.insert("zookeeper".into());
        root.stat.num_children = 1;
        nodes.insert("/".to_string(), root);
        nodes.insert(
            "/zookeeper".to_string(),
            Node { data: Bytes::new(), stat: Stat::default(), children: BTreeSet::new(), acl: AclEntry::open() },
        );
        DataTree { nodes, ephemerals: HashMap::new() }
    }

    /// A tree from a snapshot written before ACLs existed: every node is open to everyone.
    pub(crate) fn from_open_nodes(
        nodes: HashMap<String, (Bytes, Stat, BTreeSet<String>)>,
        ephemerals: HashMap<i64, BTreeSet<String>>,
    ) -> DataTree {
        let nodes = nodes
            .into_iter()
            .map(|(path, (data, stat, children))| (path, Node { data, stat, children, acl: AclEntry::open() }))
            .collect();
        DataTree { nodes, ephemerals }
    }

    /// A node's ACL and stat (ZooKeeper's getACL).
    pub fn get_acl(&self, path: &str) -> Result<(Vec<AclEntry>, Stat), ZkError> {
        validate_path(path)?;
        self.nodes.get(path).map(|n| (n.acl.clone(), n.stat)).ok_or(ZkError::NoNode)
    }

    /// Passes when `who` holds `perm` on the node at `path` (NONODE when there is none).
    pub fn check_access(&self, path: &str, perm: i32, who: &Identity) -> Result<(), ZkError> {
        let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        acl::check(&n.acl, perm, who)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The bytes of every node's path and data (ZooKeeper's `zk_approximate_data_size`).
    pub fn approximate_data_size(&self) -> usize {
        self.nodes.iter().map(|(path, n)| path.len() + n.data.len()).sum()
    }

    pub fn get_data(&self, path: &str) -> Result<(Bytes, Stat), ZkError> {
        validate_path(path)?;
        self.nodes.get(path).map(|n| (n.data.clone(), n.stat)).ok_or(ZkError::NoNode)
    }

    pub fn exists(&self, path: &str) -> Result<Option<Stat>, ZkError> {
        validate_path(path)?;
        Ok(self.nodes.get(path).map(|n| n.stat))
    }

    pub fn get_children(&self, path: &str) -> Result<(Vec<String>, Stat), ZkError> {
        validate_path(path)?;
        let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        Ok((n.children.iter().cloned().collect(), n.stat))
    }

    /// The ephemeral nodes a session owns.
    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.ephemerals.get(&session).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Applies `op` for `session` at `zxid`/`time_ms` with no access check (the super user's
    /// view); records what changed in `changes`.
    pub fn apply(
        &mut self,
        op: &Op,
        session: i64,
        zxid: i64,
        time_ms: i64,
        changes: &mut Vec<Change>,
    ) -> Result<OpResult, ZkError> {
        self.apply_as(op, session, &Identity::superuser(), zxid, time_ms, changes)
    }

    /// Applies `op` for `session`, whose connection proved `who`, at `zxid`/`time_ms`; records
    /// what changed in `changes`. Each operation needs what ZooKeeper's needs: CREATE on the
    /// parent to create, DELETE on the parent to delete, WRITE to set data, READ to check a
    /// version, ADMIN to set the ACL; NOAUTH otherwise.
    pub fn apply_as(
        &mut self,
        op: &Op,
        session: i64,
        who: &Identity,
        zxid: i64,
        time_ms: i64,
        changes: &mut Vec<Change>,
    ) -> Result<OpResult, ZkError> {
        match op {
            Op::Create { path, data, mode } => {
                self.create(path, data.clone(), *mode, AclEntry::open(), session, who, zxid, time_ms, changes)
            }
            Op::CreateAcl { path, data, mode, acl } => {
                self.create(path, data.clone(), *mode, acl.clone(), session, who, zxid, time_ms, changes)
            }
            Op::Delete { path, version } => self.delete(path, *version, Some(who), zxid, changes),
            Op::SetData { path, data, version } => {
                self.set_data(path, data.clone(), *version, who, zxid, time_ms, changes)
            }
            Op::Check { path, version } => {
                validate_path_shape(path)?;
                let n = self.nodes.get(path).ok_or(ZkError::NoNode)?;
                acl::check(&n.acl, perms::READ, who)?;
                if *version != -1 && n.stat.version != *version {
                    return Err(ZkError::BadVersion);
                }
                Ok(OpResult::Checked)
            }
            Op::SetAcl { path, acl, version } => {
                validate_path_shape(path)?;
                let n = self.nodes.get_mut(path).ok_or(ZkError::NoNode)?;
                acl::check(&n.acl, perms::ADMIN, who)?;
                if *version != -1 && n.stat.aversion != *version {
                    return Err(ZkError::BadVersion);
                }
                n.stat.aversion += 1;
                n.acl = acl.clone();
                Ok(OpResult::Set { stat: n.stat })
            }
            Op::Multi(ops) => Ok(self.multi(ops, session, who, zxid, time_ms, changes)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        path: &str,
        data: Bytes,
        mode: CreateMode,
        acl: Vec<AclEntry>,
        session: i64,
        who: &Identity,
        zxid: i64,
        time_ms: i64,
        changes: &mut Vec<Change>,
    ) -> Result<OpResult, ZkError> {
        validate_path_shape(path)?;
        if path == "/" {
            return Err(ZkError::NodeExists);
        }
        let parent_path = parent_of(path).to_string();
        let parent = self.nodes.get(&parent_path).ok_or(ZkError::NoNode)?;
        acl::check(&parent.acl, perms::CREATE, who)?;
        if parent.stat.ephemeral_owner != 0 {
            return Err(ZkError::NoChildrenForEphemerals);
        }
        let path = if mode.is_sequential() { format!("{path}{:010}", parent.stat.cversion) } else { path.to_string() };
        if self.nodes.contains_key(&path) {
            return Err(ZkError::NodeExists);
        }
        let owner = if mode.is_ephemeral() { session } else { 0 };
        let stat = Stat {
            czxid: zxid,
            mzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            data_length: data.len() as i32,
            num_children: 0,
            pzxid: zxid,
        };
        let parent = self.nodes.get_mut(&parent_path).expect("checked above");
        parent.children.insert(name_of(&path).to_string());
        parent.stat.cversion += 1;
        parent.stat.num_children += 1;
        parent.stat.pzxid = zxid;
        self.nodes.insert(path.clone(), Node { data, stat, children: BTreeSet::new(), acl });
        if owner != 0 {
            self.ephemerals.entry(owner).or_default().insert(path.clone());
        }
        changes.push((EventType::NodeCreated, path.clone()));
        changes.push((EventType::NodeChildrenChanged, parent_path));
        Ok(OpResult::Created { path, stat })
    }

    /// Deletes a leaf; `who` needs DELETE on its parent (`None`: the keeper itself, removing an
    /// ended session's ephemerals).
    fn delete(
        &mut self,
        path: &str,
        version: i32,
        who: Option<&Identity>,
        zxid: i64,
        changes: &mut Vec<Change>,
    ) -> Result<OpResult, ZkError> {
        validate_path_shape(path)?;
        if path == "/" || path == "/zookeeper" {
            return Err(ZkError::BadArguments);
        }
        // The parent's permission first, then the node (ZooKeeper's order: deleting a missing
        // node where one may not delete is NOAUTH, not NONODE).
        if let Some(who) = who {
            let parent = self.nodes.get(parent_of(path)).ok_or(ZkError::NoNode)?;
            acl::check(&parent.acl, perms::DELETE, who)?;
        }
        let node = self.nodes.get(path).ok_or(ZkError::NoNode)?;
        if version != -1 && node.stat.version != version {
            return Err(ZkError::BadVersion);
        }
        if !node.children.is_empty() {
            return Err(ZkError::NotEmpty);
        }
        let owner = node.stat.ephemeral_owner;
        self.nodes.remove(path);
        if owner != 0
            && let Some(set) = self.ephemerals.get_mut(&owner)
        {
            set.remove(path);
            if set.is_empty() {
                self.ephemerals.remove(&owner);
            }
        }
        let parent_path = parent_of(path).to_string();
        if let Some(parent) = self.nodes.get_mut(&parent_path) {
            parent.children.remove(name_of(path));
            parent.stat.cversion += 1;
            parent.stat.num_children -= 1;
            parent.stat.pzxid = zxid;
        }
        changes.push((EventType::NodeDeleted, path.to_string()));
        changes.push((EventType::NodeChildrenChanged, parent_path));
        Ok(OpResult::Deleted)
    }

    #[allow(clippy::too_many_arguments)]
    fn set_data(
        &mut self,
        path: &str,
        data: Bytes,
        version: i32,
        who: &Identity,
        zxid: i64,
        time_ms: i64,
        changes: &mut Vec<Change>,
    ) -> Result<OpResult, ZkError> {
        validate_path_shape(path)?;
        let node = self.nodes.get_mut(path).ok_or(ZkError::NoNode)?;
        acl::check(&node.acl, perms::WRITE, who)?;
        if version != -1 && node.stat.version != version {
            return Err(ZkError::BadVersion);
        }
        node.stat.version += 1;
        node.stat.mzxid = zxid;
        node.stat.mtime = time_ms;
        node.stat.data_length = data.len() as i32;
        node.data = data;
        changes.push((EventType::NodeDataChanged, path.to_string()));
        Ok(OpResult::Set { stat: node.stat })
    }

    /// All operations or none: each is applied in turn, and if one fails those before it are
    /// undone, newest first. Undoing touches only the nodes the operations touched; the tree
    /// is never copied (a copy per `multi` made every controller write cost the whole tree:
    /// with 10,000 partitions, ~30,000 nodes per write).
    fn multi(
        &mut self,
        ops: &[Op],
        session: i64,
        who: &Identity,
        zxid: i64,
        time_ms: i64,
        changes: &mut Vec<Change>,
    ) -> OpResult {
        let mut undo = Vec::with_capacity(ops.len());
        let mut multi_changes = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let before = self.before(op);
            let result = if matches!(op, Op::Multi(_) | Op::SetAcl { .. }) {
                Err(ZkError::BadArguments)
            } else {
                self.apply_as(op, session, who, zxid, time_ms, &mut multi_changes)
            };
            match result {
                Ok(r) => {
                    // The path to undo at: the created one (sequential names are made here).
                    let created = match (&r, op) {
                        (OpResult::Created { path, .. }, _) => Some(path.clone()),
                        (_, Op::Delete { path, .. } | Op::SetData { path, .. }) => Some(path.clone()),
                        _ => None,
                    };
                    undo.push((before, created));
                    results.push(r);
                }
                Err(error) => {
                    for (before, created) in undo.into_iter().rev() {
                        self.undo(before, created);
                    }
                    return OpResult::MultiFailed { failed_index: i, error, len: ops.len() };
                }
            }
        }
        changes.extend(multi_changes);
        OpResult::Multi(results)
    }

    /// What undoing `op` will need, read before it is applied.
    fn before(&self, op: &Op) -> Before {
        let stat_of = |path: &str| self.nodes.get(path).map(|n| n.stat);
        match op {
            Op::Create { path, .. } | Op::CreateAcl { path, .. } => {
                Before::Create { parent_stat: stat_of(parent_of(path)) }
            }
            Op::Delete { path, .. } => Before::Delete {
                // Only a leaf can be deleted: the clone holds no children.
                node: self.nodes.get(path.as_str()).map(|n| Node {
                    data: n.data.clone(),
                    stat: n.stat,
                    children: BTreeSet::new(),
                    acl: n.acl.clone(),
                }),
                parent_stat: stat_of(parent_of(path)),
            },
            Op::SetData { path, .. } => {
                Before::SetData { previous: self.nodes.get(path.as_str()).map(|n| (n.data.clone(), n.stat)) }
            }
            // Not in a multi (refused there, as ZooKeeper's multi has no setACL).
            Op::Check { .. } | Op::Multi(_) | Op::SetAcl { .. } => Before::Nothing,
        }
    }

    /// Reverses one applied operation of a failed `multi`.
    fn undo(&mut self, before: Before, created: Option<String>) {
        match before {
            Before::Create { parent_stat } => {
                let path = created.expect("a create that applied returned its path");
                let node = self.nodes.remove(&path).expect("the node created is there");
                let owner = node.stat.ephemeral_owner;
                if owner != 0
                    && let Some(set) = self.ephemerals.get_mut(&owner)
                {
                    set.remove(&path);
                    if set.is_empty() {
                        self.ephemerals.remove(&owner);
                    }
                }
                let parent = self.nodes.get_mut(parent_of(&path)).expect("a created node's parent exists");
                parent.children.remove(name_of(&path));
                parent.stat = parent_stat.expect("a created node's parent existed");
            }
            Before::Delete { node, parent_stat } => {
                let node = node.expect("a deleted node existed");
                let owner = node.stat.ephemeral_owner;
                let path = created.expect("a delete's undo carries its path");
                if owner != 0 {
                    self.ephemerals.entry(owner).or_default().insert(path.clone());
                }
                if let Some(parent) = self.nodes.get_mut(parent_of(&path)) {
                    parent.children.insert(name_of(&path).to_string());
                    if let Some(stat) = parent_stat {
                        parent.stat = stat;
                    }
                }
                self.nodes.insert(path, node);
            }
            Before::SetData { previous } => {
                let path = created.expect("a set's undo carries its path");
                let (data, stat) = previous.expect("a node whose data was set existed");
                let node = self.nodes.get_mut(&path).expect("a node whose data was set is there");
                node.data = data;
                node.stat = stat;
            }
            Before::Nothing => {}
        }
    }

    /// Deletes every ephemeral node of `session` (its close or expiry), deepest first.
    pub fn close_session(&mut self, session: i64, zxid: i64, changes: &mut Vec<Change>) -> Vec<String> {
        let mut paths = self.ephemerals_of(session);
        paths.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in &paths {
            let _ = self.delete(p, -1, None, zxid, changes);
        }
        paths
    }
}
