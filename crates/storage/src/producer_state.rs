//! Idempotent producers, per partition (Kafka's `ProducerStateManager`): for each producer id
//! the epoch it writes with and its last few batches' sequence ranges and offsets. A leader
//! checks each producer batch against it before appending: a retried batch it already holds is
//! a duplicate (answered with the offsets it got the first time), a gap in the sequence is an
//! error, and an older epoch is fenced. Followers and recovery replay batches into it without
//! checks, so whichever replica leads next knows what every producer has written.
//!
//! Transactions: a producer's first transactional batch in a partition opens its transaction
//! there (its first offset is kept), and the coordinator's end-transaction marker closes it.
//! The first offset of the oldest open transaction bounds the last stable offset, below which
//! `read_committed` consumers read; an aborted transaction is handed back to the log for its
//! aborted-transaction index.
//!
//! The state is derived from the log: the log reads it back from its batch headers, starting
//! from the newest snapshot (`<offset>.snapshot`, the state as of that offset, written when a
//! segment rolls and when the log closes) when there is one.
//!
//! Bounded by producer id expiration (KIP-854, Kafka's `removeExpiredProducers`): a producer
//! whose last batch here carries a timestamp `producer.id.expiration.ms` or more behind the
//! broker's clock, and that has no open transaction here, is forgotten, in memory and so in the
//! next snapshot. Without it every producer id that ever wrote to a partition stays for good.
//! A forgotten producer that writes again is taken at whatever sequence it sends, as Kafka takes
//! a producer it holds no state for (since KIP-360): refusing it would fail a producer for no
//! more than being idle.

use std::collections::{BTreeMap, HashMap, VecDeque};

use sluice_protocol::control::{ControlType, EndTxnMarker};
use sluice_protocol::record_batch::{BatchHeader, NO_TIMESTAMP};

/// Batches remembered per producer: a producer has at most five requests in flight
/// (`max.in.flight.requests.per.connection` with idempotence), so a retry is one of these.
pub const BATCHES_KEPT: usize = 5;

/// Kafka's default `producer.id.expiration.ms` (1 day): how long a producer's state outlives its
/// last write to a partition.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

/// Kafka's default `producer.id.expiration.check.interval.ms` (10 minutes): how often the log
/// manager's maintenance looks for expired producers.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS: i64 = 600_000;

/// What a producer batch is, checked against the producer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not from an idempotent producer (no producer id), or the next in sequence: append it.
    Append,
    /// Already in the log at these offsets: answer with them, append nothing.
    Duplicate { first_offset: i64, last_offset: i64 },
}

/// Why a producer batch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("producer {producer_id} writes with epoch {epoch}, older than its current epoch {current}")]
    StaleEpoch { producer_id: i64, epoch: i16, current: i16 },
    #[error("producer {producer_id} (epoch {epoch}) sent sequence {got}; the next expected is {expected}")]
    OutOfOrder { producer_id: i64, epoch: i16, expected: i32, got: i32 },
    #[error(
        "a marker for producer {producer_id} from coordinator epoch {coordinator_epoch}, older than {current} which already wrote one"
    )]
    CoordinatorFenced { producer_id: i64, coordinator_epoch: i32, current: i32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
    /// The max timestamp of the producer's last batch or marker here (Kafka's `lastTimestamp`):
    /// what expiration measures idleness by. It is the batch's timestamp, not the broker's
    /// clock at append, as in Kafka, so a follower and a reloaded log agree with the leader.
    last_timestamp: i64,
    /// The first offset of the producer's open transaction in this partition.
    txn_first_offset: Option<i64>,
    /// The transaction coordinator epoch of the producer's last marker here (-1: none): a
    /// marker from an older coordinator is refused, so a deposed coordinator's late marker
    /// cannot end a later transaction.
    coordinator_epoch: i32,
    /// Markers seen for this producer since the state was loaded (not persisted): a leader
    /// compares it around a KIP-890 verification.
    markers_seen: u32,
}

impl ProducerEntry {
    fn new(epoch: i16) -> Self {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: NO_TIMESTAMP,
            txn_first_offset: None,
            coordinator_epoch: -1,
            markers_seen: 0,
        }
    }
}

/// A producer's state in one partition, as DescribeProducers (KIP-664) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    /// The last sequence number of its last batch here (-1: none kept).
    pub last_sequence: i32,
    /// The max timestamp of its last batch or marker here (-1: none).
    pub last_timestamp: i64,
    /// The transaction coordinator epoch of its last marker here (-1: none).
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction here.
    pub txn_first_offset: Option<i64>,
}

/// A transaction a marker ended in this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
}

/// The last sequence number of a batch: sequences wrap from `i32::MAX` to 0.
fn last_sequence(h: &BatchHeader) -> i32 {
    ((i64::from(h.base_sequence) + i64::from(h.last_offset_delta)) % (i64::from(i32::MAX) + 1)) as i32
}

fn next_sequence(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

/// Every producer's state in one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions by first offset (derived from `producers`).
    ongoing: BTreeMap<i64, i64>,
}

impl ProducerStateManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many producers have state here.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// The epoch a producer writes with here, if it has written.
    pub fn epoch_of(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|e| e.epoch)
    }

    /// Whether the producer has an open transaction in this partition.
    pub fn has_ongoing_txn(&self, producer_id: i64) -> bool {
        self.producers.get(&producer_id).is_some_and(|e| e.txn_first_offset.is_some())
    }

    /// The first offset of the oldest open transaction: the last stable offset can be no
    /// higher.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.first_key_value().map(|(&offset, _)| offset)
    }

    /// Checks an end-transaction marker before the leader writes it: a marker of an epoch
    /// older than the producer's, or from an older coordinator than its last marker's, is from
    /// a fenced coordinator request.
    pub fn check_marker(&self, h: &BatchHeader, marker: EndTxnMarker) -> Result<(), SequenceError> {
        let Some(e) = self.producers.get(&h.producer_id) else { return Ok(()) };
        if h.producer_epoch < e.epoch {
            return Err(SequenceError::StaleEpoch {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                current: e.epoch,
            });
        }
        if marker.coordinator_epoch < e.coordinator_epoch {
            return Err(SequenceError::CoordinatorFenced {
                producer_id: h.producer_id,
                coordinator_epoch: marker.coordinator_epoch,
                current: e.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Checks only the epoch of a producer's batch that carries no sequence (the group
    /// coordinator's transactional offset commits): a fenced producer's is refused.
    pub fn check_epoch(&self, h: &BatchHeader) -> Result<(), SequenceError> {
        match self.producers.get(&h.producer_id) {
            Some(e) if h.producer_epoch < e.epoch => {
                Err(SequenceError::StaleEpoch { producer_id: h.producer_id, epoch: h.producer_epoch, current: e.epoch })
            }
            _ => Ok(()),
        }
    }

    /// How many markers of `producer_id` this state has seen since it was loaded.
    /// Every producer with state here, by producer id (what DescribeProducers reports).
    pub fn active(&self) -> Vec<ActiveProducer> {
        let mut out: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(&producer_id, e)| ActiveProducer {
                producer_id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                coordinator_epoch: e.coordinator_epoch,
                txn_first_offset: e.txn_first_offset,
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    pub fn markers_seen(&self, producer_id: i64) -> u32 {
        self.producers.get(&producer_id).map_or(0, |e| e.markers_seen)
    }

    /// Records a marker now in the log at `h.base_offset`: the producer's transaction here,
    /// if one is open, ends. A marker of a newer epoch (the coordinator fenced the producer)
    /// moves the producer to it.
    pub fn complete_txn(&mut self, h: &BatchHeader, marker: EndTxnMarker) -> Option<CompletedTxn> {
        let entry = self.producers.entry(h.producer_id).or_insert_with(|| ProducerEntry::new(h.producer_epoch));
        if h.producer_epoch > entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = entry.coordinator_epoch.max(marker.coordinator_epoch);
        entry.markers_seen = entry.markers_seen.wrapping_add(1);
        entry.last_timestamp = h.max_timestamp;
        let first_offset = entry.txn_first_offset.take()?;
        self.ongoing.remove(&first_offset);
        Some(CompletedTxn {
            producer_id: h.producer_id,
            first_offset,
            last_offset: h.base_offset,
            aborted: marker.control_type == ControlType::Abort,
        })
    }

    /// Checks a batch a producer sent to the leader (offsets not yet assigned).
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, SequenceError> {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let (producer_id, epoch, got) = (h.producer_id, h.producer_epoch, h.base_sequence);
        let Some(entry) = self.producers.get(&producer_id) else {
            // No state for this producer: its first write here, or its state expired or went
            // with deleted records. Kafka (`ProducerAppendInfo.checkSequence`, since KIP-360)
            // then takes any sequence, and so do we: refusing a sequence above 0 would fail a
            // producer that was merely idle past `producer.id.expiration.ms`.
            return Ok(SequenceCheck::Append);
        };
        if epoch < entry.epoch {
            return Err(SequenceError::StaleEpoch { producer_id, epoch, current: entry.epoch });
        }
        if epoch > entry.epoch {
            // A new epoch starts its sequence again.
            return if got == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrder { producer_id, epoch, expected: 0, got })
            };
        }
        let last = last_sequence(h);
        if let Some(b) = entry.batches.iter().find(|b| b.first_seq == got && b.last_seq == last) {
            return Ok(SequenceCheck::Duplicate { first_offset: b.first_offset, last_offset: b.last_offset });
        }
        let expected = entry.batches.back().map_or(0, |b| next_sequence(b.last_seq));
        if got == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(SequenceError::OutOfOrder { producer_id, epoch, expected, got })
        }
    }

    /// Records a batch now in the log (its offsets assigned): appended by the leader, fetched
    /// by a follower, or read back at recovery.
    pub fn update(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 || h.attributes.is_control() {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_insert_with(|| ProducerEntry::new(h.producer_epoch));
        if h.producer_epoch > entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = h.max_timestamp;
        if h.attributes.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(h.base_offset);
            self.ongoing.insert(h.base_offset, h.producer_id);
        }
        // The group coordinator's transactional offset commits carry no sequence.
        if h.base_sequence < 0 {
            return;
        }
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: last_sequence(h),
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        while entry.batches.len() > BATCHES_KEPT {
            entry.batches.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.producers.clear();
        self.ongoing.clear();
    }

    /// Forgets every producer whose last batch's timestamp is `expiration_ms` or more before
    /// `now_ms` and that has no open transaction here (Kafka's `isProducerExpired`); returns how
    /// many. A producer with an open transaction stays whatever its age: its first offset holds
    /// the last stable offset, and the coordinator's marker must find it.
    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| e.txn_first_offset.is_some() || now_ms.saturating_sub(e.last_timestamp) < expiration_ms);
        before - self.producers.len()
    }

    /// The state as a snapshot file's bytes: a version, the CRC-32C of the rest, the number of
    /// producers, then per producer (by id) its id, epoch, the first offset of its open
    /// transaction (-1 for none), the coordinator epoch of its last marker, the max timestamp
    /// of its last batch, the number of remembered batches (one byte) and those batches
    /// (sequence range and offset range each). Big-endian throughout.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(4 + self.producers.len() * (31 + BATCHES_KEPT * 24));
        body.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<i64> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let entry = &self.producers[&id];
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&entry.epoch.to_be_bytes());
            body.extend_from_slice(&entry.txn_first_offset.unwrap_or(-1).to_be_bytes());
            body.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
            body.extend_from_slice(&entry.last_timestamp.to_be_bytes());
            body.push(entry.batches.len() as u8);
            for b in &entry.batches {
                body.extend_from_slice(&b.first_seq.to_be_bytes());
                body.extend_from_slice(&b.last_seq.to_be_bytes());
                body.extend_from_slice(&b.first_offset.to_be_bytes());
                body.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
        let mut out = Vec::with_capacity(6 + body.len());
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Reads a snapshot written by [`encode`](Self::encode), or by an older version (1: no
    /// transactions; 1 and 2: no timestamps, so each producer counts as last writing at
    /// `legacy_timestamp_ms`, the time of reading, and gets a whole expiration period rather
    /// than being forgotten on the first check); `None` if it is damaged (unknown version,
    /// wrong checksum, short, or with bytes left over).
    pub fn decode(bytes: &[u8], legacy_timestamp_ms: i64) -> Option<Self> {
        let mut r = Reader(bytes);
        let version = r.i16()?;
        if !(1..=SNAPSHOT_VERSION).contains(&version) {
            return None;
        }
        let crc = r.u32()?;
        if crc32c::crc32c(r.0) != crc {
            return None;
        }
        let mut producers = HashMap::new();
        let mut ongoing = BTreeMap::new();
        for _ in 0..r.u32()? {
            let id = r.i64()?;
            let epoch = r.i16()?;
            let txn_first_offset = if version >= 2 { Some(r.i64()?).filter(|&o| o >= 0) } else { None };
            let coordinator_epoch = if version >= 2 { r.i32()? } else { -1 };
            let last_timestamp = if version >= 3 { r.i64()? } else { legacy_timestamp_ms };
            if let Some(first) = txn_first_offset {
                ongoing.insert(first, id);
            }
            let n = r.u8()?;
            let mut batches = VecDeque::with_capacity(usize::from(n));
            for _ in 0..n {
                batches.push_back(BatchMeta {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                });
            }
            producers.insert(
                id,
                ProducerEntry { epoch, batches, last_timestamp, txn_first_offset, coordinator_epoch, markers_seen: 0 },
            );
        }
        r.0.is_empty().then_some(ProducerStateManager { producers, ongoing })
    }
}

/// 2 added the open transaction's first offset and the last marker's coordinator epoch; 3 the
/// last batch's timestamp (for producer id expiration).
const SNAPSHOT_VERSION: i16 = 3;

/// Reads big-endian numbers off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn i16(&mut self) -> Option<i16> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::record_batch::Attributes;

    fn batch(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> BatchHeader {
        batch_at(pid, epoch, seq, count, base_offset, 0)
    }

    /// A batch whose records' max timestamp is `timestamp`.
    fn batch_at(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64, timestamp: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: Attributes(0),
            last_offset_delta: count - 1,
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn sequences_follow_on_and_a_retry_is_a_duplicate_with_its_first_offsets() {
        let mut s = ProducerStateManager::new();
        assert_eq!(s.check(&batch(7, 0, 0, 3, -1)), Ok(SequenceCheck::Append));
        s.update(&batch(7, 0, 0, 3, 10));
        assert_eq!(s.check(&batch(7, 0, 3, 2, -1)), Ok(SequenceCheck::Append));
        s.update(&batch(7, 0, 3, 2, 20));
        assert_eq!(s.check(&batch(7, 0, 0, 3, -1)), Ok(SequenceCheck::Duplicate { first_offset: 10, last_offset: 12 }));
        assert_eq!(s.check(&batch(7, 0, 3, 2, -1)), Ok(SequenceCheck::Duplicate { first_offset: 20, last_offset: 21 }));
        assert_eq!(
            s.check(&batch(7, 0, 6, 1, -1)),
            Err(SequenceError::OutOfOrder { producer_id: 7, epoch: 0, expected: 5, got: 6 })
        );
        // Plain producers are never checked.
        assert_eq!(s.check(&batch(-1, -1, -1, 5, -1)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerStateManager::new();
        for i in 0..6 {
            s.update(&batch(1, 0, i, 1, i64::from(i)));
        }
        assert_eq!(s.check(&batch(1, 0, 5, 1, -1)), Ok(SequenceCheck::Duplicate { first_offset: 5, last_offset: 5 }));
        assert!(matches!(s.check(&batch(1, 0, 0, 1, -1)), Err(SequenceError::OutOfOrder { expected: 6, .. })));
    }

    #[test]
    fn epochs_fence_older_writers_and_a_new_epoch_restarts_at_zero() {
        let mut s = ProducerStateManager::new();
        s.update(&batch(3, 1, 0, 2, 0));
        assert_eq!(
            s.check(&batch(3, 0, 2, 1, -1)),
            Err(SequenceError::StaleEpoch { producer_id: 3, epoch: 0, current: 1 })
        );
        assert!(matches!(s.check(&batch(3, 2, 5, 1, -1)), Err(SequenceError::OutOfOrder { expected: 0, .. })));
        assert_eq!(s.check(&batch(3, 2, 0, 1, -1)), Ok(SequenceCheck::Append));
        s.update(&batch(3, 2, 0, 1, 2));
        assert_eq!(s.epoch_of(3), Some(2));
        // A producer with no state here is taken at any sequence (Kafka since KIP-360).
        assert_eq!(s.check(&batch(4, 0, 9, 1, -1)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn a_snapshot_reads_back_the_same_state_and_damage_is_detected() {
        let mut s = ProducerStateManager::new();
        for i in 0..7 {
            s.update(&batch(1, 0, i * 2, 2, i64::from(i) * 2));
        }
        s.update(&batch(-5, 3, 0, 1, 100));
        s.update(&batch(9, 2, 0, 4, 101));
        let bytes = s.encode();
        assert_eq!(ProducerStateManager::decode(&bytes, 0), Some(s.clone()));
        assert_eq!(
            ProducerStateManager::decode(&ProducerStateManager::new().encode(), 0),
            Some(ProducerStateManager::new())
        );
        for cut in [0, 5, bytes.len() - 1] {
            assert_eq!(ProducerStateManager::decode(&bytes[..cut], 0), None, "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[12] ^= 1;
        assert_eq!(ProducerStateManager::decode(&flipped, 0), None);
        let mut longer = bytes;
        longer.push(0);
        assert_eq!(ProducerStateManager::decode(&longer, 0), None);
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        let mut s = ProducerStateManager::new();
        s.update(&batch(5, 0, 0, 1, 0));
        // Jump the remembered sequence to just before the wrap.
        s.producers.get_mut(&5).expect("entry").batches.back_mut().expect("batch").last_seq = i32::MAX - 2;
        let wrapping = batch(5, 0, i32::MAX - 1, 4, -1);
        assert_eq!(last_sequence(&wrapping), 1);
        assert_eq!(s.check(&wrapping), Ok(SequenceCheck::Append));
        s.update(&BatchHeader { base_offset: 1, ..wrapping });
        assert_eq!(s.check(&batch(5, 0, 2, 1, -1)), Ok(SequenceCheck::Append));
    }

    const DAY_MS: i64 = DEFAULT_PRODUCER_ID_EXPIRATION_MS;

    #[test]
    fn an_idle_producer_expires_and_one_that_wrote_recently_stays() {
        let mut s = ProducerStateManager::new();
        s.update(&batch_at(1, 0, 0, 1, 0, 1_000));
        s.update(&batch_at(2, 0, 0, 1, 1, 1_000));
        // Producer 2 writes again later: its last batch's timestamp is what counts.
        s.update(&batch_at(2, 0, 1, 1, 2, 1_000 + DAY_MS));
        assert_eq!(s.remove_expired(1_000 + DAY_MS - 1, DAY_MS), 0, "not yet a whole period idle");
        assert_eq!(s.remove_expired(1_000 + DAY_MS, DAY_MS), 1, "idle for exactly the period");
        assert_eq!((s.epoch_of(1), s.epoch_of(2)), (None, Some(0)));
        // Expired, producer 1 is taken at the sequence it goes on with, as Kafka takes it.
        assert_eq!(s.check(&batch_at(1, 0, 1, 1, -1, 2 * DAY_MS)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn a_producer_with_an_open_transaction_never_expires() {
        let mut s = ProducerStateManager::new();
        let txn = BatchHeader { attributes: Attributes(Attributes::TRANSACTIONAL), ..batch_at(5, 0, 0, 1, 10, 1_000) };
        s.update(&txn);
        assert_eq!(s.remove_expired(1_000 + 10 * DAY_MS, DAY_MS), 0);
        assert!(s.has_ongoing_txn(5));
        assert_eq!(s.first_unstable_offset(), Some(10));
        // Its marker ends the transaction and counts as its last write.
        let marker_header = BatchHeader {
            attributes: Attributes(Attributes::TRANSACTIONAL | Attributes::CONTROL),
            ..batch_at(5, 0, -1, 1, 11, 1_000 + 10 * DAY_MS)
        };
        let marker = EndTxnMarker { control_type: ControlType::Commit, coordinator_epoch: 0 };
        assert!(s.complete_txn(&marker_header, marker).is_some());
        assert_eq!(s.remove_expired(1_000 + 11 * DAY_MS - 1, DAY_MS), 0, "the marker renewed it");
        assert_eq!(s.remove_expired(1_000 + 11 * DAY_MS, DAY_MS), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn an_expired_producer_is_gone_from_the_next_snapshot() {
        let mut s = ProducerStateManager::new();
        s.update(&batch_at(1, 0, 0, 1, 0, 0));
        s.update(&batch_at(2, 0, 0, 1, 1, DAY_MS));
        let before = ProducerStateManager::decode(&s.encode(), 0).expect("readable");
        assert_eq!((before.epoch_of(1), before.epoch_of(2)), (Some(0), Some(0)));
        assert_eq!(s.remove_expired(DAY_MS, DAY_MS), 1);
        let after = ProducerStateManager::decode(&s.encode(), 0).expect("readable");
        assert_eq!((after.len(), after.epoch_of(1), after.epoch_of(2)), (1, None, Some(0)));
        // The timestamp survives the snapshot, so a reloaded state expires on the same day.
        let mut reloaded = after;
        assert_eq!(reloaded.remove_expired(2 * DAY_MS - 1, DAY_MS), 0);
        assert_eq!(reloaded.remove_expired(2 * DAY_MS, DAY_MS), 1);
    }

    #[test]
    fn a_version_2_snapshot_gives_its_producers_a_whole_period_from_loading() {
        let mut s = ProducerStateManager::new();
        s.update(&batch_at(3, 1, 0, 2, 0, 0));
        // Version 2 is version 3 without the 8-byte timestamp after the coordinator epoch.
        let v3 = s.encode();
        let mut body = v3[6..].to_vec();
        let timestamp_at = 4 + 8 + 2 + 8 + 4;
        body.drain(timestamp_at..timestamp_at + 8);
        let mut v2 = 2i16.to_be_bytes().to_vec();
        v2.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        v2.extend_from_slice(&body);
        let mut loaded = ProducerStateManager::decode(&v2, 5 * DAY_MS).expect("version 2 reads");
        assert_eq!(loaded.epoch_of(3), Some(1));
        assert_eq!(loaded.remove_expired(6 * DAY_MS - 1, DAY_MS), 0, "a whole period from loading");
        assert_eq!(loaded.remove_expired(6 * DAY_MS, DAY_MS), 1);
    }
}
