//! Client quotas (KIP-13, KIP-55, KIP-124, KIP-219): byte rates for producers and consumers and
//! a share of the broker's request-handling time, per user and client id, enforced by throttling
//! as Kafka enforces them.
//!
//! Quotas live in keeper where ZooKeeper-era Kafka keeps them: `/config/users/<user>`,
//! `/config/users/<user>/clients/<client-id>` and `/config/clients/<client-id>`, each name
//! sanitized (`<default>` for the default entity of that type), the values in the config znode's
//! JSON beside a user's SCRAM credentials. The metadata cache follows them ([`QuotaEntity`] in
//! the cluster view); AlterClientQuotas writes them, DescribeClientQuotas reads them.
//!
//! A request's quota is the most specific one set, in Kafka's order: user and client id, user
//! and default client id, user alone, default user and client id, default user and default
//! client id, default user alone, client id alone, default client id. The level that matched
//! decides what is measured together (Kafka's metric tags): a quota of a user alone measures
//! all of that user's clients as one, a default quota each user (or client id) on its own.
//!
//! Measurement is over Kafka's window of `quota.window.num` samples of
//! `quota.window.size.seconds`, kept as a leaky bucket per measured entity rather than Kafka's
//! samples: usage fills it and it drains at the quota. A client may run ahead of its quota by
//! all but one sample's worth (Kafka's minimum window: a first burst is spread over the window,
//! not taken as an infinite rate); a request that takes it further is throttled until the
//! bucket is back within that allowance, at most the whole window (no more than a window's
//! worth is remembered, as Kafka's samples forget). The response carries the throttle in
//! `throttle_time_ms` and the connection reads nothing more for that long (KIP-219; the client
//! backs off too).
//!
//! Why not Kafka's samples: its rate is the samples' total over the time they span, padded to
//! the minimum window. When an old sample leaves, the samples kept can span less than that
//! minimum while the client is busy, the padding understates the rate, and requests pass
//! unthrottled: two producers sharing a quota over 3 samples of 1 s were measured 8-12% over
//! it. The bucket holds a client to its quota exactly over any span longer than the allowance,
//! in constant memory per entity.
//!
//! A throttled consumer fetch is answered without records, as in Kafka, so a consumer cannot
//! read ahead of its quota; unlike Kafka its bytes stay counted and its next fetch is not
//! charged for them (see [`QuotaManager::record`]). Follower fetches and the brokers' own
//! requests are never throttled.
//!
//! Memory: one bucket per measured entity and quota type, dropped once idle for
//! [`SENSOR_IDLE_WINDOWS`] whole windows (drained by then), at most [`MAX_SENSORS`] at once
//! (past it, new entities are not measured until idle ones go: a flood of client ids cannot
//! grow the map without bound).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use parking_lot::Mutex;

/// Kafka's quota keys of users and client ids.
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";

/// Every quota key a user or client id may have.
pub const CLIENT_QUOTA_KEYS: [&str; 4] =
    [PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE, CONTROLLER_MUTATION_RATE];

/// Kafka's message for a topic refused by an exhausted `controller_mutation_rate`.
pub const THROTTLED_MUTATION_MESSAGE: &str = "The throttling quota has been exceeded.";

/// The entity name Kafka stores for "every user" or "every client id" without one of its own.
pub const DEFAULT_ENTITY: &str = "<default>";

/// Sensors idle for this many whole windows are dropped.
const SENSOR_IDLE_WINDOWS: u64 = 2;

/// The most entities measured at once.
const MAX_SENSORS: usize = 100_000;

/// One part of a quota entity's name: a user or client id, or the default one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntityName {
    Default,
    Named(String),
}

impl EntityName {
    /// As DescribeClientQuotas names it: `None` for the default.
    pub fn wire(&self) -> Option<String> {
        match self {
            EntityName::Default => None,
            EntityName::Named(n) => Some(n.clone()),
        }
    }
}

/// A quota entity: a user, a client id, or both (never neither).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotaEntity {
    pub user: Option<EntityName>,
    pub client_id: Option<EntityName>,
}

/// The quotas of every entity that has any, as the cluster view holds them.
pub type QuotaTable = BTreeMap<QuotaEntity, BTreeMap<String, f64>>;

/// What a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    /// Bytes produced per second.
    Produce,
    /// Bytes fetched per second by consumers.
    Fetch,
    /// Percentage of one request handler's time, per second.
    Request,
}

impl QuotaKind {
    fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => PRODUCER_BYTE_RATE,
            QuotaKind::Fetch => CONSUMER_BYTE_RATE,
            QuotaKind::Request => REQUEST_PERCENTAGE,
        }
    }
}

/// The quota of `kind` that applies to `user` and `client_id`, and the (user, client id) tags
/// under which their usage is measured together: Kafka's `DefaultQuotaCallback`.
pub fn resolve(table: &QuotaTable, kind: QuotaKind, user: &str, client_id: &str) -> Option<(f64, (String, String))> {
    resolve_key(table, kind.key(), user, client_id)
}

/// [`resolve`] for any quota key.
fn resolve_key(table: &QuotaTable, key: &str, user: &str, client_id: &str) -> Option<(f64, (String, String))> {
    use EntityName::{Default, Named};
    let (u, c) = (Named(user.to_string()), Named(client_id.to_string()));
    let levels: [(Option<EntityName>, Option<EntityName>, bool, bool); 8] = [
        (Some(u.clone()), Some(c.clone()), true, true),
        (Some(u.clone()), Some(Default), true, true),
        (Some(u), None, true, false),
        (Some(Default), Some(c.clone()), true, true),
        (Some(Default), Some(Default), true, true),
        (Some(Default), None, true, false),
        (None, Some(c), false, true),
        (None, Some(Default), false, true),
    ];
    for (user_part, client_part, by_user, by_client) in levels {
        let entity = QuotaEntity { user: user_part, client_id: client_part };
        if let Some(&quota) = table.get(&entity).and_then(|q| q.get(key)) {
            let tags = (
                if by_user { user.to_string() } else { String::new() },
                if by_client { client_id.to_string() } else { String::new() },
            );
            return Some((quota, tags));
        }
    }
    None
}

/// `quota.window.num` and `quota.window.size.seconds`.
#[derive(Debug, Clone, Copy)]
pub struct QuotaWindow {
    pub samples: u32,
    pub sample_ms: u64,
}

impl Default for QuotaWindow {
    fn default() -> Self {
        QuotaWindow { samples: 11, sample_ms: 1_000 }
    }
}

impl QuotaWindow {
    /// The whole window: the longest throttle, and the most usage over the allowance that is
    /// remembered.
    fn whole_ms(self) -> u64 {
        u64::from(self.samples) * self.sample_ms
    }

    /// All but one sample (Kafka's minimum window): a client may go this long ahead of its
    /// quota before it is throttled, so a first burst is spread over the window.
    fn allowance_ms(self) -> u64 {
        u64::from(self.samples.saturating_sub(1)) * self.sample_ms
    }
}

/// One measured entity's usage: a leaky bucket drained at its quota.
#[derive(Debug)]
struct Sensor {
    /// Usage not yet drained (bytes, or percent-seconds of handler time), as of `last_ms`.
    level: f64,
    last_ms: u64,
    /// Bytes of a throttled fetch, counted when it was throttled and answered without them: the
    /// client's next fetch is not charged for them again (see [`QuotaManager::record`]).
    prepaid: f64,
}

impl Sensor {
    /// Drains the bucket at `quota` per second up to `now_ms`, adds `value`, and returns how
    /// long (ms) until it is back down to the window's allowance. At most a whole window over
    /// the allowance is remembered, so the throttle never exceeds the window.
    fn record(&mut self, window: QuotaWindow, quota: f64, now_ms: u64, value: f64) -> u64 {
        let drained = quota * now_ms.saturating_sub(self.last_ms) as f64 / 1_000.0;
        self.last_ms = self.last_ms.max(now_ms);
        let allowance = quota * window.allowance_ms() as f64 / 1_000.0;
        let most = allowance + quota * window.whole_ms() as f64 / 1_000.0;
        self.level = ((self.level - drained).max(0.0) + value).min(most);
        let excess = self.level - allowance;
        if excess <= 0.0 {
            return 0;
        }
        ((excess / quota * 1_000.0).round() as u64).min(window.whole_ms())
    }
}

/// The usage sensors of every measured entity.
#[derive(Debug, Default)]
pub struct QuotaManager {
    window: QuotaWindow,
    sensors: Mutex<HashMap<(QuotaKind, String, String), Sensor>>,
}

impl QuotaManager {
    pub fn new(window: QuotaWindow) -> Self {
        QuotaManager { window, sensors: Mutex::new(HashMap::new()) }
    }

    /// Records `value` (bytes, or percent-seconds of handler time for [`QuotaKind::Request`])
    /// against `quota` for the entity `tags`, and returns how long to throttle it (zero when
    /// within its quota). A throttled fetch is answered without its records, yet stays counted:
    /// the throttle was computed to pay for them, so the client's next fetch, after it, is not
    /// charged for the same bytes again (Kafka takes them back and charges the retry, which
    /// throttles a consumer that retries right on time once more, holding it about a fifth
    /// below its quota).
    pub fn record(&self, kind: QuotaKind, quota: f64, tags: &(String, String), value: f64, now_ms: u64) -> Duration {
        if quota <= 0.0 {
            return Duration::ZERO;
        }
        let mut sensors = self.sensors.lock();
        let key = (kind, tags.0.clone(), tags.1.clone());
        if !sensors.contains_key(&key) {
            // An idle bucket has drained within two windows: dropping it forgets nothing.
            let idle_ms = SENSOR_IDLE_WINDOWS * self.window.whole_ms();
            sensors.retain(|_, s| now_ms.saturating_sub(s.last_ms) < idle_ms);
            if sensors.len() >= MAX_SENSORS {
                return Duration::ZERO;
            }
        }
        let sensor = sensors.entry(key).or_insert_with(|| Sensor { level: 0.0, last_ms: now_ms, prepaid: 0.0 });
        // A fetch after a throttled one reads what that one was charged for.
        let charged =
            if kind == QuotaKind::Fetch { (value - std::mem::take(&mut sensor.prepaid)).max(0.0) } else { value };
        let throttle_ms = sensor.record(self.window, quota, now_ms, charged);
        if throttle_ms > 0 && kind == QuotaKind::Fetch {
            sensor.prepaid = value;
        }
        Duration::from_millis(throttle_ms)
    }
}

/// `controller_mutation_rate` (KIP-599): partitions created, added or deleted per second, as a
/// token bucket per measured entity, as Kafka measures it: a burst of the whole window's worth
/// (`quota * quota.window.num * quota.window.size.seconds`), refilled at the quota. From
/// CreateTopics v6, CreatePartitions v3 and DeleteTopics v5 a request is refused topic by topic
/// with THROTTLING_QUOTA_EXCEEDED while the bucket is empty (strict); older versions are let
/// through and only throttled (permissive). Either way the answer's `throttle_time_ms` says how
/// long until the bucket holds tokens again.
#[derive(Debug, Default)]
pub struct MutationQuotas {
    window: QuotaWindow,
    /// (user tag, client tag) -> (tokens, last refill ms).
    buckets: Mutex<HashMap<(String, String), (f64, u64)>>,
}

/// The mutation quota of one request's client, resolved once.
#[derive(Debug)]
pub struct MutationQuota<'a> {
    quotas: &'a MutationQuotas,
    /// The quota and its entity, if the client has one.
    quota: Option<(f64, (String, String))>,
    /// Whether an empty bucket refuses (strict) or only throttles (permissive).
    pub strict: bool,
}

impl MutationQuotas {
    pub fn new(window: QuotaWindow) -> Self {
        MutationQuotas { window, buckets: Mutex::new(HashMap::new()) }
    }

    /// The quota `principal` and `client_id` have, looked up in `table`.
    pub fn of<'a>(
        &'a self,
        table: &QuotaTable,
        principal: &str,
        client_id: Option<&str>,
        strict: bool,
    ) -> MutationQuota<'a> {
        let user = principal.strip_prefix("User:").unwrap_or(principal);
        let quota = resolve_key(table, CONTROLLER_MUTATION_RATE, user, client_id.unwrap_or_default());
        MutationQuota { quotas: self, quota, strict }
    }

    /// The bucket of `tags` refilled to `now_ms`: its tokens.
    fn refill(
        &self,
        buckets: &mut HashMap<(String, String), (f64, u64)>,
        tags: &(String, String),
        quota: f64,
        now_ms: u64,
    ) -> f64 {
        let burst = quota * f64::from(self.window.samples) * self.window.sample_ms as f64 / 1_000.0;
        if !buckets.contains_key(tags) {
            let idle_ms = SENSOR_IDLE_WINDOWS * u64::from(self.window.samples) * self.window.sample_ms;
            buckets.retain(|_, (_, last)| now_ms.saturating_sub(*last) < idle_ms);
            if buckets.len() >= MAX_SENSORS {
                return burst;
            }
        }
        let (tokens, last) = buckets.entry(tags.clone()).or_insert((burst, now_ms));
        *tokens = (*tokens + quota * now_ms.saturating_sub(*last) as f64 / 1_000.0).min(burst);
        *last = now_ms;
        *tokens
    }
}

impl MutationQuota<'_> {
    /// The throttle when the bucket is empty now (a strict request refuses its next topic).
    pub fn exhausted(&self, now_ms: u64) -> Option<Duration> {
        let (quota, tags) = self.quota.as_ref()?;
        let mut buckets = self.quotas.buckets.lock();
        let tokens = self.quotas.refill(&mut buckets, tags, *quota, now_ms);
        (tokens < 0.0).then(|| Duration::from_millis((-tokens / quota * 1_000.0).ceil() as u64))
    }

    /// Takes `mutations` tokens; the throttle when that empties the bucket.
    pub fn record(&self, mutations: u64, now_ms: u64) -> Duration {
        let Some((quota, tags)) = &self.quota else { return Duration::ZERO };
        let mut buckets = self.quotas.buckets.lock();
        self.quotas.refill(&mut buckets, tags, *quota, now_ms);
        let Some((tokens, _)) = buckets.get_mut(tags) else { return Duration::ZERO };
        *tokens -= mutations as f64;
        if *tokens < 0.0 { Duration::from_millis((-*tokens / quota * 1_000.0).ceil() as u64) } else { Duration::ZERO }
    }
}

/// What a served request counts against its client's quotas.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Record bytes of a Produce request.
    pub produced_bytes: Option<usize>,
    /// The replica id of a Fetch (a consumer's is negative).
    pub fetch_replica: Option<i32>,
    /// Time the request was handled, waits for other brokers and timers excluded.
    pub handler_time: Duration,
}

/// Records a served request against the quotas of its user and client id and returns how long
/// to throttle them: the response's `throttle_time_ms` is raised to it, and a throttled
/// consumer's fetch loses its records (counted, so its next fetch reads them without paying
/// twice). Follower
/// fetches and WriteTxnMarkers (the brokers' own traffic) are never throttled.
pub fn throttle(
    broker: &crate::broker::Broker,
    principal: &str,
    client_id: Option<&str>,
    usage: Usage,
    response: Option<&mut sluice_protocol::api::Response>,
) -> Duration {
    use sluice_protocol::api::Response;
    if usage.fetch_replica.is_some_and(|r| r >= 0) || matches!(response, Some(Response::WriteTxnMarkers(_))) {
        return Duration::ZERO;
    }
    let user = principal.strip_prefix("User:").unwrap_or(principal);
    let client_id = client_id.unwrap_or_default();
    let quotas = broker.link.cache.read(|v| {
        if v.quotas.is_empty() {
            return None;
        }
        let q = |kind| resolve(&v.quotas, kind, user, client_id);
        Some((q(QuotaKind::Produce), q(QuotaKind::Fetch), q(QuotaKind::Request)))
    });
    let Some((produce, fetch, request)) = quotas else { return Duration::ZERO };
    let now_ms = broker.replica_manager.now_ms().max(0) as u64;
    let manager = &broker.quotas;
    let mut throttle = Duration::ZERO;
    if let (Some(bytes), Some((quota, tags))) = (usage.produced_bytes, &produce) {
        throttle = throttle.max(manager.record(QuotaKind::Produce, *quota, tags, bytes as f64, now_ms));
    }
    let mut response = response;
    if let (Some(Response::Fetch(r)), Some((quota, tags))) = (&response, &fetch) {
        let bytes: usize =
            r.responses.iter().flat_map(|t| &t.partitions).map(|p| p.records.as_ref().map_or(0, |r| r.len())).sum();
        throttle = throttle.max(manager.record(QuotaKind::Fetch, *quota, tags, bytes as f64, now_ms));
    }
    if let Some((quota, tags)) = &request {
        // Percent-seconds of one handler's time: 10 ms is 1% of a second.
        let value = usage.handler_time.as_secs_f64() * 100.0;
        throttle = throttle.max(manager.record(QuotaKind::Request, *quota, tags, value, now_ms));
    }
    if throttle.is_zero() {
        return throttle;
    }
    if let Some(Response::Fetch(r)) = response.as_deref_mut() {
        for p in r.responses.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            p.records = Some(sluice_protocol::record_set::RecordSet::default());
            p.aborted_transactions = p.aborted_transactions.as_ref().map(|_| Vec::new());
        }
    }
    if let Some(r) = response {
        r.throttle(i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX));
    }
    crate::observe::EVENTS.quota_throttles.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    throttle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(Option<EntityName>, Option<EntityName>, &str, f64)]) -> QuotaTable {
        let mut t = QuotaTable::new();
        for (user, client_id, key, value) in entries {
            t.entry(QuotaEntity { user: user.clone(), client_id: client_id.clone() })
                .or_default()
                .insert(key.to_string(), *value);
        }
        t
    }

    fn named(n: &str) -> Option<EntityName> {
        Some(EntityName::Named(n.into()))
    }

    #[test]
    fn the_most_specific_quota_wins_in_kafkas_order() {
        let d = Some(EntityName::Default);
        let t = table(&[
            (None, d.clone(), PRODUCER_BYTE_RATE, 8.0),
            (None, named("app"), PRODUCER_BYTE_RATE, 7.0),
            (d.clone(), None, PRODUCER_BYTE_RATE, 6.0),
            (d.clone(), d.clone(), PRODUCER_BYTE_RATE, 5.0),
            (named("alice"), None, PRODUCER_BYTE_RATE, 3.0),
            (named("alice"), named("app"), PRODUCER_BYTE_RATE, 1.0),
        ]);
        let q = |u: &str, c: &str| resolve(&t, QuotaKind::Produce, u, c);
        assert_eq!(q("alice", "app"), Some((1.0, ("alice".into(), "app".into()))));
        assert_eq!(q("alice", "other"), Some((3.0, ("alice".into(), String::new()))), "the user's own");
        assert_eq!(q("bob", "app"), Some((5.0, ("bob".into(), "app".into()))), "default user and client");
        let only_clients = table(&[(None, named("app"), CONSUMER_BYTE_RATE, 7.0), (None, d, CONSUMER_BYTE_RATE, 8.0)]);
        assert_eq!(resolve(&only_clients, QuotaKind::Fetch, "bob", "app"), Some((7.0, (String::new(), "app".into()))));
        assert_eq!(resolve(&only_clients, QuotaKind::Fetch, "bob", "x"), Some((8.0, (String::new(), "x".into()))));
        assert_eq!(resolve(&only_clients, QuotaKind::Produce, "bob", "x"), None, "another kind");
    }

    #[test]
    fn a_rate_over_its_quota_is_throttled_back_to_it() {
        let m = QuotaManager::new(QuotaWindow { samples: 11, sample_ms: 1_000 });
        let tags = (String::new(), "c".to_string());
        // 10 KB at once against 1 KB/s: the allowance of 10 samples' worth, not throttled.
        assert_eq!(m.record(QuotaKind::Produce, 1_000.0, &tags, 10_000.0, 0), Duration::ZERO);
        // 500 bytes more at 0.1 s: 100 bytes have drained, 400 over the allowance.
        let t = m.record(QuotaKind::Produce, 1_000.0, &tags, 500.0, 100);
        assert_eq!(t, Duration::from_millis(400));
        // Capped at the whole window.
        let t = m.record(QuotaKind::Produce, 1_000.0, &tags, 1_000_000.0, 200);
        assert_eq!(t, Duration::from_millis(11_000));
        // Only a window's worth past the allowance is remembered: a whole window later the
        // client is back within it.
        assert_eq!(m.record(QuotaKind::Produce, 1_000.0, &tags, 0.0, 11_200), Duration::ZERO);
        // Another entity is measured on its own.
        assert_eq!(m.record(QuotaKind::Produce, 1_000.0, &("x".into(), String::new()), 5.0, 200), Duration::ZERO);
        // A quota of zero is not a rate to divide by.
        assert_eq!(m.record(QuotaKind::Produce, 0.0, &tags, 5.0, 300), Duration::ZERO);
    }

    #[test]
    fn old_usage_drains_and_a_throttled_fetch_is_not_charged_twice() {
        let w = QuotaWindow { samples: 2, sample_ms: 1_000 };
        let m = QuotaManager::new(w);
        let tags = (String::new(), "c".to_string());
        // 1,500 bytes against 1,000/s with an allowance of one second: 0.5 s over.
        let t = m.record(QuotaKind::Fetch, 1_000.0, &tags, 1_500.0, 0);
        assert_eq!(t, Duration::from_millis(500));
        // The retry after it reads the same 1,500 bytes: already paid for, and the throttle was
        // long enough that nothing more is owed.
        assert_eq!(m.record(QuotaKind::Fetch, 1_000.0, &tags, 1_500.0, 500), Duration::ZERO);
        // The fetch after that is charged again.
        assert!(m.record(QuotaKind::Fetch, 1_000.0, &tags, 1_500.0, 510) > Duration::ZERO);
        // Produced bytes are never prepaid.
        assert!(m.record(QuotaKind::Produce, 1_000.0, &tags, 2_000.0, 0) > Duration::ZERO);
        assert!(m.record(QuotaKind::Produce, 1_000.0, &tags, 2_000.0, 10) > Duration::ZERO);
        // Two windows later the bursts have drained.
        assert_eq!(m.record(QuotaKind::Fetch, 1_000.0, &tags, 10.0, 9_000), Duration::ZERO);
    }

    /// Clients that each send a request, wait out its throttle and send again (a network delay
    /// of `delay_ms` both ways) for `run_ms`: the bytes the broker accepted.
    fn accepted_by_clients(window: QuotaWindow, quota: f64, sizes: &[f64], delay_ms: u64, run_ms: u64) -> f64 {
        let m = QuotaManager::new(window);
        let tags = (String::new(), "shared".to_string());
        let mut next: Vec<u64> = (0..sizes.len() as u64).map(|i| i * 7).collect();
        let mut accepted = 0.0;
        for _ in 0..1_000_000 {
            let (i, &now) = next.iter().enumerate().min_by_key(|(_, t)| **t).expect("clients");
            if now >= run_ms {
                return accepted;
            }
            accepted += sizes[i];
            let throttle = m.record(QuotaKind::Produce, quota, &tags, sizes[i], now);
            next[i] = now + 2 * delay_ms + throttle.as_millis() as u64;
        }
        panic!("the clients never reached {run_ms} ms");
    }

    #[test]
    fn clients_sharing_a_quota_are_held_to_it_over_any_window() {
        // Kafka's sampled rate let two producers sharing a quota over 3 samples of 1 s run 8-12%
        // over it; the bucket holds them to it, past the allowance, within a request's worth.
        for (window, sizes, delay_ms) in [
            (QuotaWindow { samples: 3, sample_ms: 1_000 }, vec![96_000.0, 64_000.0], 3),
            (QuotaWindow { samples: 11, sample_ms: 1_000 }, vec![32_000.0; 5], 1),
            (QuotaWindow { samples: 2, sample_ms: 500 }, vec![4_000.0], 0),
        ] {
            let (quota, run_ms) = (200_000.0, 60_000);
            let accepted = accepted_by_clients(window, quota, &sizes, delay_ms, run_ms);
            let allowance = quota * window.allowance_ms() as f64 / 1_000.0;
            let expected = quota * run_ms as f64 / 1_000.0 + allowance;
            let slack: f64 = sizes.iter().sum();
            assert!(
                (accepted - expected).abs() <= slack,
                "{window:?} {sizes:?}: accepted {accepted} where {expected} was due (+/- {slack})"
            );
        }
    }
}
