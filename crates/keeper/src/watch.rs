//! Watches (ZooKeeper's `WatchManager`): which session wants to hear about which path, and the
//! notifications a change produces. Sans-I/O: the server sends what [`WatchManager::trigger`]
//! returns, in order, on each session's connection.
//!
//! Kinds: a data watch (set by getData, or by exists, which also hears of a creation) and a child
//! watch (getChildren) fire once and are gone; a persistent watch (addWatch mode 0) hears every
//! change of its node; a persistent recursive watch (mode 1) hears creations, deletions and data
//! changes of its node and every descendant (not child-list changes, as ZooKeeper). A session
//! hears of one change at most once, however many of its watches match.

use std::collections::{BTreeSet, HashMap};

use crate::data_tree::Change;
use crate::error::ZkError;

/// ZooKeeper's `Watcher.Event.EventType` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum EventType {
    None = -1,
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
}

/// `Watcher.Event.KeeperState.SyncConnected`: the state every node event carries.
pub const SYNC_CONNECTED: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    Data,
    Child,
    Persistent,
    PersistentRecursive,
}

/// A notification for a session (ZooKeeper's `WatcherEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    pub event_type: EventType,
    pub state: i32,
    pub path: String,
}

/// Watches a session may hold at most.
pub const MAX_WATCHES_PER_SESSION: usize = 100_000;

#[derive(Debug, Default)]
pub struct WatchManager {
    watches: HashMap<(WatchKind, String), BTreeSet<i64>>,
    per_session: HashMap<i64, usize>,
}

fn ancestors_or_self(path: &str) -> impl Iterator<Item = String> + '_ {
    let mut current = Some(path.to_string());
    std::iter::from_fn(move || {
        let p = current.take()?;
        if p != "/" {
            current = Some(match p.rfind('/') {
                Some(0) | None => "/".to_string(),
                Some(i) => p[..i].to_string(),
            });
        }
        Some(p)
    })
}

impl WatchManager {
    /// Watches set, over every session (ZooKeeper's `zk_watch_count`).
    pub fn watch_count(&self) -> usize {
        self.per_session.values().sum()
    }

    pub fn add(&mut self, session: i64, path: &str, kind: WatchKind) -> Result<(), ZkError> {
        let count = self.per_session.entry(session).or_default();
        if *count >= MAX_WATCHES_PER_SESSION {
            return Err(ZkError::BadArguments);
        }
        if self.watches.entry((kind, path.to_string())).or_default().insert(session) {
            *count += 1;
        }
        Ok(())
    }

    fn take(&mut self, kind: WatchKind, path: &str) -> BTreeSet<i64> {
        let sessions = self.watches.remove(&(kind, path.to_string())).unwrap_or_default();
        for s in &sessions {
            if let Some(c) = self.per_session.get_mut(s) {
                *c = c.saturating_sub(1);
            }
        }
        sessions
    }

    fn peek(&self, kind: WatchKind, path: &str) -> BTreeSet<i64> {
        self.watches.get(&(kind, path.to_string())).cloned().unwrap_or_default()
    }

    /// The notifications `changes` produce, one-shot watches removed as they fire.
    pub fn trigger(&mut self, changes: &[Change]) -> Vec<(i64, WatchedEvent)> {
        let mut out = Vec::new();
        for (event_type, path) in changes {
            let mut hearers: BTreeSet<i64> = BTreeSet::new();
            match event_type {
                EventType::NodeCreated | EventType::NodeDataChanged => {
                    hearers.extend(self.take(WatchKind::Data, path));
                }
                EventType::NodeDeleted => {
                    hearers.extend(self.take(WatchKind::Data, path));
                    hearers.extend(self.take(WatchKind::Child, path));
                }
                EventType::NodeChildrenChanged => {
                    hearers.extend(self.take(WatchKind::Child, path));
                }
                EventType::None => {}
            }
            hearers.extend(self.peek(WatchKind::Persistent, path));
            if *event_type != EventType::NodeChildrenChanged {
                for ancestor in ancestors_or_self(path) {
                    hearers.extend(self.peek(WatchKind::PersistentRecursive, &ancestor));
                }
            }
            for session in hearers {
                out.push((
                    session,
                    WatchedEvent { event_type: *event_type, state: SYNC_CONNECTED, path: path.clone() },
                ));
            }
        }
        out
    }

    /// Forgets every watch of a session (closed or expired).
    pub fn remove_session(&mut self, session: i64) {
        self.watches.retain(|_, sessions| {
            sessions.remove(&session);
            !sessions.is_empty()
        });
        self.per_session.remove(&session);
    }

    /// Removes one persistent watch (removeWatches), if present.
    pub fn remove(&mut self, session: i64, path: &str, kind: WatchKind) -> Result<(), ZkError> {
        let key = (kind, path.to_string());
        let removed = self.watches.get_mut(&key).is_some_and(|s| s.remove(&session));
        if !removed {
            return Err(ZkError::NoWatcher);
        }
        if self.watches.get(&key).is_some_and(BTreeSet::is_empty) {
            self.watches.remove(&key);
        }
        if let Some(c) = self.per_session.get_mut(&session) {
            *c = c.saturating_sub(1);
        }
        Ok(())
    }
}
