//! [`SubTasks`]: tasks that the broker's components start while it runs (a replica fetcher per
//! source broker, a transaction's marker sending), supervised like the node's own tasks: they
//! run in one `JoinSet` owned by a single node task ([`SubTasks::supervise`], the
//! `sub-tasks` task of `node.rs`), so that a panic in any of them, or a return of one that must
//! run until it is stopped, is the node's fatal error (an orderly shutdown, a non-zero exit)
//! instead of a part of the broker that silently stopped working: a follower that no longer
//! fetches drops out of the ISR for good, a transaction whose markers are never sent stays open
//! and blocks its consumers' last stable offset. At shutdown the supervising task is aborted,
//! and its `JoinSet` aborts every sub-task with it.
//!
//! The queue between [`SubTasks::spawn`] and the supervisor has no bound of its own: what enters
//! it is bounded by its sources (one fetcher per source broker; one marker sender per ending
//! transaction, which the coordinator admits once per transactional id), and the supervisor
//! takes each at once.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::{Id, JoinSet};

type Boxed = Pin<Box<dyn Future<Output = SubTaskEnd> + Send + 'static>>;

/// How a sub-task ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubTaskEnd {
    /// Its work is done (a transaction's markers sent).
    Done,
    /// It stopped although it should run until stopped: a fatal error.
    Unexpected,
}

pub struct SubTasks {
    spawns: mpsc::UnboundedSender<(String, Boxed)>,
    /// Taken by the supervising task when the node starts it.
    receiver: Mutex<Option<mpsc::UnboundedReceiver<(String, Boxed)>>>,
}

impl Default for SubTasks {
    fn default() -> Self {
        let (spawns, receiver) = mpsc::unbounded_channel();
        SubTasks { spawns, receiver: Mutex::new(Some(receiver)) }
    }
}

impl std::fmt::Debug for SubTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubTasks").field("supervised", &self.receiver.lock().is_none()).finish()
    }
}

impl SubTasks {
    /// Runs `task` under `name`, supervised. Before the supervising task runs (or after it
    /// stopped, at shutdown) the task waits in the queue, or is dropped: nothing runs unwatched.
    pub fn spawn<F>(&self, name: impl Into<String>, task: F)
    where
        F: Future<Output = SubTaskEnd> + Send + 'static,
    {
        // An error means the supervisor has gone (the node is shutting down): the task is
        // dropped, as an aborted one would be.
        let _ = self.spawns.send((name.into(), Box::pin(task)));
    }

    /// Runs the queued and future sub-tasks until one panics or ends unexpectedly, and returns
    /// that as an error naming it. Runs forever otherwise (the node aborts it at shutdown, and
    /// every sub-task with it). Only the first call supervises; a second returns at once.
    pub async fn supervise(&self) -> anyhow::Result<()> {
        let Some(mut spawns) = self.receiver.lock().take() else {
            anyhow::bail!("the sub-tasks are already supervised");
        };
        let mut set = JoinSet::new();
        let mut names: HashMap<Id, String> = HashMap::new();
        loop {
            tokio::select! {
                Some((name, task)) = spawns.recv() => {
                    let handle = set.spawn(task);
                    names.insert(handle.id(), name);
                }
                Some(joined) = set.join_next_with_id() => {
                    let (id, outcome) = match joined {
                        Ok((id, end)) => (id, Ok(end)),
                        Err(e) => (e.id(), Err(e)),
                    };
                    let name = names.remove(&id).unwrap_or_else(|| "an unnamed sub-task".to_string());
                    match outcome {
                        Ok(SubTaskEnd::Done) => {}
                        Ok(SubTaskEnd::Unexpected) => anyhow::bail!("{name} stopped unexpectedly"),
                        Err(e) if e.is_panic() => {
                            anyhow::bail!("{name} panicked: {}", crate::node::panic_message(e.into_panic()))
                        }
                        Err(_) => {} // cancelled: only the JoinSet could have, and it is ours
                    }
                }
            }
        }
    }
}
