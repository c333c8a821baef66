//! What operators see of a node over HTTP, on `metrics.listener` (ARCHITECTURE's port 9644):
//! `/metrics` in the Prometheus text format, `/health` (the process serves) and `/ready` (the
//! broker is registered, its logs are loaded and its keeper session is up; a keeper-only node:
//! its ensemble has a leader), for compose healthchecks and load balancers.
//!
//! The request path only bumps atomics ([`metrics`]); everything else — partition states, group
//! lag, the keeper's figures — is read when `/metrics` is scraped ([`exposition`]), so a
//! broker nobody scrapes pays nothing for it. Kafka exposes the same figures over JMX and leaves
//! consumer lag to outside tools (Burrow, kafka-ui); Redpanda serves Prometheus on 9644 itself.

pub mod console;
pub mod exposition;
pub mod http;
pub mod lag;
pub mod metrics;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

pub use metrics::{EVENTS, RequestMetrics, TopicCounters};

/// The broker's own counters (beside the per-topic ones its replica manager holds).
#[derive(Debug, Default)]
pub struct BrokerMetrics {
    pub requests: RequestMetrics,
    listeners: parking_lot::RwLock<BTreeMap<String, Arc<ListenerCounters>>>,
}

/// One Kafka listener's connections.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// Connections open now.
    pub open: AtomicI64,
    /// Connections accepted since the start (Kafka's connection-creation-total).
    pub accepted: AtomicU64,
    /// Connections closed at once for a connection limit (`max.connections`, per IP).
    pub refused: AtomicU64,
}

impl BrokerMetrics {
    /// The counters of listener `name`, created on first use.
    pub fn listener(&self, name: &str) -> Arc<ListenerCounters> {
        if let Some(c) = self.listeners.read().get(name) {
            return c.clone();
        }
        self.listeners.write().entry(name.to_string()).or_default().clone()
    }

    pub fn listeners(&self) -> Vec<(String, Arc<ListenerCounters>)> {
        self.listeners.read().iter().map(|(n, c)| (n.clone(), c.clone())).collect()
    }
}

/// Counts one open connection of a listener while it lives.
#[derive(Debug)]
pub struct OpenConnection(Arc<ListenerCounters>);

impl OpenConnection {
    pub fn new(counters: Arc<ListenerCounters>) -> OpenConnection {
        counters.accepted.fetch_add(1, Relaxed);
        counters.open.fetch_add(1, Relaxed);
        OpenConnection(counters)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}
