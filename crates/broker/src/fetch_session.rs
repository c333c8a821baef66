//! Incremental fetch sessions (KIP-227; Kafka's `FetchSessionCache` and `FetchContext`).
//!
//! A fetcher that reads many partitions (a follower reads every partition it follows from a
//! leader; a Java consumer all its assigned ones) would otherwise send all of them, and get all
//! of them back, on every fetch — one per append under load, most of them unchanged. With a
//! session the broker remembers the partitions and their fetch positions: the fetcher sends only
//! the partitions whose position changed (and those to drop), and the answer carries only the
//! partitions with something new: records, an error, or a moved high watermark, last stable
//! offset or log start offset.
//!
//! The request's `(session_id, session_epoch)` says what it is (Kafka's `FetchMetadata`):
//! - `(0, -1)`: a full fetch outside any session (all clients before KIP-227; librdkafka).
//! - `(0, 0)`: a full fetch that opens a session; the answer names it (or 0 when no slot is
//!   free: the fetcher goes on with full fetches).
//! - `(id, -1)`: closes session `id`; a full fetch outside any session.
//! - `(id, 0)`: closes session `id` and opens a new one with a full fetch.
//! - `(id, n > 0)`: an incremental fetch in session `id`, whose next epoch must be `n`:
//!   FETCH_SESSION_ID_NOT_FOUND for an unknown (or evicted) session, INVALID_FETCH_SESSION_EPOCH
//!   for a wrong epoch (a duplicate or lost request); the fetcher then starts over with a full
//!   fetch.
//!
//! Bounds: at most `max.incremental.fetch.session.cache.slots` sessions (Kafka's key and
//! default, 1,000); a new session takes the least recently used one's slot if that one has been
//! idle [`SESSION_EVICTION_IDLE_MS`], and a follower's (a broker's) new session may take a
//! consumer's slot at any age (Kafka privileges followers' sessions too). A session holds at
//! most [`MAX_PARTITIONS_PER_SESSION`] partitions; a request that would grow one beyond it
//! closes it (FETCH_SESSION_ID_NOT_FOUND), and the fetcher goes on with full fetches.
//!
//! This module is sans I/O: the Fetch handler resolves a request into the partitions to read
//! ([`FetchSessions::begin`]), reads them as for a full fetch, and then hands the answer back to
//! be trimmed to what changed ([`FetchSessions::finish`]), which also records what was sent.
//! Concurrency: one `parking_lot` mutex over the cache, held only for map updates.

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;
use sluice_protocol::messages::{FetchRequest, FetchRequestPartition, FetchRequestTopic, FetchResponse};

use crate::error::ErrorCode;

/// `session_id` of a request or answer outside any session.
pub const INVALID_SESSION_ID: i32 = 0;
/// `session_epoch` of a full fetch that opens a session.
pub const INITIAL_EPOCH: i32 = 0;
/// `session_epoch` of a full fetch outside any session (or closing one).
pub const FINAL_EPOCH: i32 = -1;
/// The first Fetch version with sessions.
pub const MIN_SESSION_FETCH_VERSION: i16 = 7;
/// A session idle this long may lose its slot to a new one (Kafka's
/// `min.incremental.fetch.session.eviction.ms`, 120 s).
pub const SESSION_EVICTION_IDLE_MS: i64 = 120_000;
/// The most partitions one session holds.
pub const MAX_PARTITIONS_PER_SESSION: usize = 100_000;

/// What the broker remembers of one partition of a session: where the fetcher reads, and what
/// the last answer told it (so an answer includes the partition only when one of them moved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CachedPartition {
    fetch: FetchRequestPartitionState,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FetchRequestPartitionState {
    current_leader_epoch: i32,
    fetch_offset: i64,
    last_fetched_epoch: i32,
    log_start_offset: i64,
    partition_max_bytes: i32,
}

impl From<&FetchRequestPartition> for FetchRequestPartitionState {
    fn from(p: &FetchRequestPartition) -> Self {
        FetchRequestPartitionState {
            current_leader_epoch: p.current_leader_epoch,
            fetch_offset: p.fetch_offset,
            last_fetched_epoch: p.last_fetched_epoch,
            log_start_offset: p.log_start_offset,
            partition_max_bytes: p.partition_max_bytes,
        }
    }
}

#[derive(Debug)]
struct Session {
    /// The epoch the next incremental request must carry.
    next_epoch: i32,
    /// By (topic, partition), in request order.
    partitions: BTreeMap<(String, i32), CachedPartition>,
    last_used_ms: i64,
    /// A broker's (follower's) session.
    privileged: bool,
}

/// What a fetch request is, once resolved against the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchContext {
    /// A full fetch; the answer carries every partition and this session id (0: none).
    Full { session_id: i32 },
    /// An incremental fetch in `session_id`: read every partition of the session, answer with
    /// the changed ones.
    Incremental { session_id: i32 },
    /// Refused: the whole answer is this error, with no partitions.
    Refused(ErrorCode),
}

/// The sessions of one broker.
#[derive(Debug)]
pub struct FetchSessions {
    slots: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<i32, Session>,
    last_id: i32,
}

impl FetchSessions {
    pub fn new(slots: usize) -> FetchSessions {
        FetchSessions { slots, inner: Mutex::new(Inner::default()) }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves `request` (of Fetch `version`) into what to read: for an incremental fetch the
    /// request's topics are replaced by every partition of the session (its own partitions
    /// having updated the session first, its forgotten ones removed).
    pub fn begin(&self, version: i16, request: &mut FetchRequest, now_ms: i64) -> FetchContext {
        if version < MIN_SESSION_FETCH_VERSION {
            return FetchContext::Full { session_id: INVALID_SESSION_ID };
        }
        let (id, epoch) = (request.session_id, request.session_epoch);
        let mut inner = self.inner.lock();
        if epoch == FINAL_EPOCH || epoch == INITIAL_EPOCH {
            if id != INVALID_SESSION_ID {
                inner.sessions.remove(&id);
            }
            if epoch == FINAL_EPOCH {
                return FetchContext::Full { session_id: INVALID_SESSION_ID };
            }
            let partitions: BTreeMap<(String, i32), CachedPartition> = request
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| ((t.topic.clone(), p.partition), new_cached(p))))
                .collect();
            if partitions.len() > MAX_PARTITIONS_PER_SESSION {
                return FetchContext::Full { session_id: INVALID_SESSION_ID };
            }
            let privileged = request.replica_id >= 0;
            if !self.make_room(&mut inner, now_ms, privileged) {
                return FetchContext::Full { session_id: INVALID_SESSION_ID };
            }
            let id = next_id(&mut inner);
            inner.sessions.insert(id, Session { next_epoch: 1, partitions, last_used_ms: now_ms, privileged });
            return FetchContext::Full { session_id: id };
        }
        if epoch < FINAL_EPOCH {
            return FetchContext::Refused(ErrorCode::InvalidFetchSessionEpoch);
        }
        let Some(session) = inner.sessions.get_mut(&id) else {
            return FetchContext::Refused(ErrorCode::FetchSessionIdNotFound);
        };
        if session.next_epoch != epoch {
            return FetchContext::Refused(ErrorCode::InvalidFetchSessionEpoch);
        }
        for topic in &request.forgotten_topics_data {
            for &p in &topic.partitions {
                session.partitions.remove(&(topic.topic.clone(), p));
            }
        }
        for topic in &request.topics {
            for p in &topic.partitions {
                session
                    .partitions
                    .entry((topic.topic.clone(), p.partition))
                    .and_modify(|c| c.fetch = p.into())
                    .or_insert_with(|| new_cached(p));
            }
        }
        if session.partitions.len() > MAX_PARTITIONS_PER_SESSION {
            inner.sessions.remove(&id);
            return FetchContext::Refused(ErrorCode::FetchSessionIdNotFound);
        }
        session.next_epoch = next_epoch(epoch);
        session.last_used_ms = now_ms;
        // Read every partition of the session, in its order.
        let mut topics: Vec<FetchRequestTopic> = Vec::new();
        for ((topic, partition), cached) in &session.partitions {
            if topics.last().is_none_or(|t| &t.topic != topic) {
                topics.push(FetchRequestTopic { topic: topic.clone(), partitions: Vec::new(), ..Default::default() });
            }
            let f = cached.fetch;
            if let Some(t) = topics.last_mut() {
                t.partitions.push(FetchRequestPartition {
                    partition: *partition,
                    current_leader_epoch: f.current_leader_epoch,
                    fetch_offset: f.fetch_offset,
                    last_fetched_epoch: f.last_fetched_epoch,
                    log_start_offset: f.log_start_offset,
                    partition_max_bytes: f.partition_max_bytes,
                    ..Default::default()
                });
            }
        }
        request.topics = topics;
        FetchContext::Incremental { session_id: id }
    }

    /// Finishes the answer of a fetch resolved as `context`: records what each partition was
    /// told, and for an incremental fetch keeps only the partitions with something new (records,
    /// an error, a redirection, or a moved high watermark, last stable offset or log start).
    pub fn finish(&self, context: &FetchContext, response: &mut FetchResponse) {
        let (session_id, incremental) = match *context {
            FetchContext::Full { session_id } => (session_id, false),
            FetchContext::Incremental { session_id } => (session_id, true),
            FetchContext::Refused(code) => {
                response.error_code = code.code();
                response.session_id = INVALID_SESSION_ID;
                response.responses.clear();
                return;
            }
        };
        response.session_id = session_id;
        if session_id == INVALID_SESSION_ID {
            return;
        }
        let mut inner = self.inner.lock();
        let Some(session) = inner.sessions.get_mut(&session_id) else { return };
        for topic in &mut response.responses {
            let name = &topic.topic;
            topic.partitions.retain(|p| {
                let Some(cached) = session.partitions.get_mut(&(name.clone(), p.partition_index)) else {
                    return true;
                };
                let changed = p.error_code != 0
                    || p.records.as_ref().is_some_and(|r| !r.is_empty())
                    || p.preferred_read_replica >= 0
                    || p.high_watermark != cached.high_watermark
                    || p.last_stable_offset != cached.last_stable_offset
                    || p.log_start_offset != cached.log_start_offset;
                cached.high_watermark = p.high_watermark;
                cached.last_stable_offset = p.last_stable_offset;
                cached.log_start_offset = p.log_start_offset;
                changed || !incremental
            });
        }
        response.responses.retain(|t| !t.partitions.is_empty());
    }

    /// Frees a slot for a new session: true when one is free or was freed.
    fn make_room(&self, inner: &mut Inner, now_ms: i64, privileged: bool) -> bool {
        if self.slots == 0 {
            return false;
        }
        if inner.sessions.len() < self.slots {
            return true;
        }
        let evictable = inner
            .sessions
            .iter()
            .filter(|(_, s)| now_ms - s.last_used_ms >= SESSION_EVICTION_IDLE_MS || (privileged && !s.privileged))
            .min_by_key(|(_, s)| (s.privileged, s.last_used_ms))
            .map(|(&id, _)| id);
        match evictable {
            Some(id) => {
                inner.sessions.remove(&id);
                true
            }
            None => false,
        }
    }
}

fn new_cached(p: &FetchRequestPartition) -> CachedPartition {
    // i64::MIN never matches what an answer carries, so a partition's first
    // answer in a session always includes it.
    CachedPartition {
        fetch: p.into(),
        high_watermark: i64::MIN,
        last_stable_offset: i64::MIN,
        log_start_offset: i64::MIN,
    }
}

fn next_id(inner: &mut Inner) -> i32 {
    loop {
        inner.last_id = if inner.last_id == i32::MAX { 1 } else { inner.last_id + 1 };
        if !inner.sessions.contains_key(&inner.last_id) {
            return inner.last_id;
        }
    }
}

/// The epoch after `epoch` (1 after `i32::MAX`: 0 and -1 mean full fetches).
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

#[cfg(test)]
mod tests {
    use sluice_protocol::messages::{FetchRequestForgottenTopic, FetchResponsePartition, FetchResponseTopic};
    use sluice_protocol::record_set::RecordSet;

    use super::*;

    fn request(session_id: i32, session_epoch: i32, parts: &[(&str, i32, i64)]) -> FetchRequest {
        let mut topics: Vec<FetchRequestTopic> = Vec::new();
        for &(t, p, offset) in parts {
            if topics.last().is_none_or(|x| x.topic != t) {
                topics.push(FetchRequestTopic { topic: t.to_string(), partitions: Vec::new(), ..Default::default() });
            }
            topics.last_mut().expect("pushed").partitions.push(FetchRequestPartition {
                partition: p,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            });
        }
        FetchRequest { replica_id: -1, session_id, session_epoch, topics, ..Default::default() }
    }

    fn answer(req: &FetchRequest, hw: i64, with_records: &[(&str, i32)]) -> FetchResponse {
        FetchResponse {
            responses: req
                .topics
                .iter()
                .map(|t| FetchResponseTopic {
                    topic: t.topic.clone(),
                    topic_id: Default::default(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| FetchResponsePartition {
                            partition_index: p.partition,
                            high_watermark: hw,
                            last_stable_offset: hw,
                            log_start_offset: 0,
                            preferred_read_replica: -1,
                            records: Some(if with_records.contains(&(t.topic.as_str(), p.partition)) {
                                RecordSet::Memory(bytes::Bytes::from_static(b"batch"))
                            } else {
                                RecordSet::default()
                            }),
                            ..Default::default()
                        })
                        .collect(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn partitions_of(r: &FetchResponse) -> Vec<(String, i32)> {
        r.responses.iter().flat_map(|t| t.partitions.iter().map(|p| (t.topic.clone(), p.partition_index))).collect()
    }

    #[test]
    fn an_incremental_fetch_reads_the_whole_session_and_answers_only_what_changed() {
        let cache = FetchSessions::new(10);
        let mut full = request(0, 0, &[("a", 0, 5), ("a", 1, 7), ("b", 0, 0)]);
        let FetchContext::Full { session_id } = cache.begin(12, &mut full, 0) else { panic!("a full fetch") };
        assert_ne!(session_id, INVALID_SESSION_ID, "a slot was free");
        let mut r = answer(&full, 10, &[]);
        cache.finish(&FetchContext::Full { session_id }, &mut r);
        assert_eq!(r.session_id, session_id);
        assert_eq!(partitions_of(&r).len(), 3, "a full answer carries every partition");

        // Only a-1 moved on; the session still reads all three.
        let mut inc = request(session_id, 1, &[("a", 1, 9)]);
        let ctx = cache.begin(12, &mut inc, 1);
        assert_eq!(ctx, FetchContext::Incremental { session_id });
        let offsets: Vec<(String, i32, i64)> = inc
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.clone(), p.partition, p.fetch_offset)))
            .collect();
        assert_eq!(offsets, vec![("a".into(), 0, 5), ("a".into(), 1, 9), ("b".into(), 0, 0)]);
        // Nothing new anywhere: an empty answer.
        let mut r = answer(&inc, 10, &[]);
        cache.finish(&ctx, &mut r);
        assert!(partitions_of(&r).is_empty(), "unchanged partitions are left out: {r:?}");
        // Records for b-0, and every high watermark moved.
        let mut inc = request(session_id, 2, &[]);
        let ctx = cache.begin(12, &mut inc, 2);
        let mut r = answer(&inc, 11, &[("b", 0)]);
        cache.finish(&ctx, &mut r);
        assert_eq!(partitions_of(&r).len(), 3, "a moved high watermark is news");
        let mut inc = request(session_id, 3, &[]);
        let ctx = cache.begin(12, &mut inc, 3);
        let mut r = answer(&inc, 11, &[("b", 0)]);
        cache.finish(&ctx, &mut r);
        assert_eq!(partitions_of(&r), vec![("b".to_string(), 0)], "only the partition with records");
    }

    #[test]
    fn a_wrong_epoch_or_unknown_session_is_refused_and_forgotten_partitions_leave() {
        let cache = FetchSessions::new(10);
        let mut full = request(0, 0, &[("a", 0, 0), ("a", 1, 0)]);
        let FetchContext::Full { session_id } = cache.begin(12, &mut full, 0) else { panic!() };
        assert_eq!(
            cache.begin(12, &mut request(session_id, 5, &[]), 1),
            FetchContext::Refused(ErrorCode::InvalidFetchSessionEpoch)
        );
        assert_eq!(
            cache.begin(12, &mut request(session_id + 1, 1, &[]), 1),
            FetchContext::Refused(ErrorCode::FetchSessionIdNotFound)
        );
        let mut inc = request(session_id, 1, &[]);
        inc.forgotten_topics_data =
            vec![FetchRequestForgottenTopic { topic: "a".into(), partitions: vec![0], ..Default::default() }];
        cache.begin(12, &mut inc, 1);
        assert_eq!(inc.topics.iter().map(|t| t.partitions.len()).sum::<usize>(), 1, "a-0 was forgotten");
        let mut r = FetchResponse::default();
        cache.finish(&FetchContext::Refused(ErrorCode::InvalidFetchSessionEpoch), &mut r);
        assert_eq!(r.error_code, ErrorCode::InvalidFetchSessionEpoch.code());
        // Closing: a full sessionless fetch, the session gone.
        assert_eq!(cache.begin(12, &mut request(session_id, -1, &[]), 2), FetchContext::Full { session_id: 0 });
        assert!(cache.is_empty());
    }

    #[test]
    fn sessions_are_bounded_by_slots_and_followers_may_take_a_consumers_slot() {
        let cache = FetchSessions::new(1);
        let FetchContext::Full { session_id: first } = cache.begin(12, &mut request(0, 0, &[("a", 0, 0)]), 0) else {
            panic!()
        };
        assert_ne!(first, 0);
        assert_eq!(
            cache.begin(12, &mut request(0, 0, &[("a", 0, 0)]), 1),
            FetchContext::Full { session_id: 0 },
            "no free slot and the only session is recent: a full fetch without a session"
        );
        let mut follower = request(0, 0, &[("a", 0, 0)]);
        follower.replica_id = 2;
        let FetchContext::Full { session_id } = cache.begin(12, &mut follower, 2) else { panic!() };
        assert_ne!(session_id, 0, "a follower takes the consumer's slot");
        assert_eq!(cache.len(), 1);
        let late = SESSION_EVICTION_IDLE_MS + 10;
        let FetchContext::Full { session_id } = cache.begin(12, &mut request(0, 0, &[("a", 0, 0)]), late) else {
            panic!()
        };
        assert_ne!(session_id, 0, "an idle session's slot is taken");
    }

    #[test]
    fn fetches_before_v7_and_sessionless_fetches_hold_no_session() {
        let cache = FetchSessions::new(10);
        assert_eq!(cache.begin(6, &mut request(0, 0, &[("a", 0, 0)]), 0), FetchContext::Full { session_id: 0 });
        assert_eq!(cache.begin(12, &mut request(0, -1, &[("a", 0, 0)]), 0), FetchContext::Full { session_id: 0 });
        assert!(cache.is_empty());
        assert_eq!(next_epoch(i32::MAX), 1);
    }
}
