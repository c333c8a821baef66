//! One transactional id's state, and the transitions the coordinator's requests make of it
//! (Kafka's `TransactionMetadata` and `TransactionState`). Sans-I/O: each transition takes the
//! current state and the request and gives the state to write to `__transaction_state`, or the
//! error to answer; the coordinator writes it and only then makes it current.
//!
//! ```text
//! Empty ──AddPartitions──► Ongoing ──EndTxn(commit)──► PrepareCommit ──markers──► CompleteCommit
//!   ▲                        │      ──EndTxn(abort) ──► PrepareAbort  ──markers──► CompleteAbort
//!   └── InitProducerId ◄─────┴── timeout / a new producer: epoch bumped, then PrepareAbort
//! ```

use std::collections::BTreeSet;

use crate::error::ErrorCode;

/// Kafka's transaction states, with their codes in `__transaction_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty = 0,
    Ongoing = 1,
    PrepareCommit = 2,
    PrepareAbort = 3,
    CompleteCommit = 4,
    CompleteAbort = 5,
    Dead = 6,
    PrepareEpochFence = 7,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    pub fn from_code(code: i8) -> Option<TxnState> {
        Self::ALL.into_iter().find(|s| *s as i8 == code)
    }

    /// The name DescribeTransactions and ListTransactions use.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// A transactional id's producer and transaction, as written to `__transaction_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions the open (or ending) transaction wrote to.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the transaction began (-1 when none is open).
    pub start_ms: i64,
    pub last_update_ms: i64,
}

/// The epoch past which a producer id is retired for a fresh one (Kafka keeps `Short.MaxValue`
/// free so a fenced epoch can always be one higher).
const MAX_EPOCH: i16 = i16::MAX - 1;

impl TxnMetadata {
    /// A new transactional id's producer, at epoch 0.
    pub fn new(producer_id: i64, timeout_ms: i32, now_ms: i64) -> TxnMetadata {
        TxnMetadata {
            producer_id,
            producer_epoch: 0,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
        }
    }

    /// Checks a request's producer id and epoch against this one.
    pub fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> Result<(), ErrorCode> {
        if producer_id != self.producer_id {
            Err(ErrorCode::InvalidProducerIdMapping)
        } else if producer_epoch != self.producer_epoch {
            Err(ErrorCode::ProducerFenced)
        } else {
            Ok(())
        }
    }

    /// InitProducerId on a transactional id with no open transaction: the next epoch (a fresh
    /// producer id once the epochs run out, from `new_id`), which fences every older producer
    /// of the id. `expected` is the caller's current producer (KIP-360), if it says.
    pub fn init_producer(
        &self,
        expected: Option<(i64, i16)>,
        timeout_ms: i32,
        now_ms: i64,
        new_id: Option<i64>,
    ) -> Result<TxnMetadata, ErrorCode> {
        match self.state {
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {}
            TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return Err(ErrorCode::ConcurrentTransactions);
            }
            TxnState::Dead | TxnState::PrepareEpochFence => return Err(ErrorCode::InvalidTxnState),
        }
        if let Some(expected) = expected
            && expected != (self.producer_id, self.producer_epoch)
        {
            return Err(ErrorCode::ProducerFenced);
        }
        // The coordinator asks for a fresh id once the epochs run out (`epoch_exhausted`).
        assert!(
            new_id.is_some() || !self.epoch_exhausted(),
            "producer {} at epoch {} needs a fresh id",
            self.producer_id,
            self.producer_epoch
        );
        let (producer_id, producer_epoch) = match new_id {
            Some(id) => (id, 0),
            None => (self.producer_id, self.producer_epoch + 1),
        };
        Ok(TxnMetadata {
            producer_id,
            producer_epoch,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
        })
    }

    /// Whether the next epoch would run out, so InitProducerId must hand out a fresh id.
    pub fn epoch_exhausted(&self) -> bool {
        self.producer_epoch >= MAX_EPOCH
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: `None` when every partition is already in the
    /// open transaction (nothing to write).
    pub fn add_partitions(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, ErrorCode> {
        self.check_producer(producer_id, producer_epoch)?;
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => return Err(ErrorCode::ConcurrentTransactions),
            TxnState::Dead | TxnState::PrepareEpochFence => return Err(ErrorCode::InvalidTxnState),
            TxnState::Ongoing if partitions.iter().all(|p| self.partitions.contains(p)) => return Ok(None),
            _ => {}
        }
        let mut next = self.clone();
        if self.state != TxnState::Ongoing {
            next.start_ms = now_ms;
            next.partitions.clear();
        }
        next.state = TxnState::Ongoing;
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now_ms;
        Ok(Some(next))
    }

    /// EndTxn: `Ok(Some)` to prepare the commit or abort, `Ok(None)` for a retry of an end
    /// already complete.
    pub fn end(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, ErrorCode> {
        self.check_producer(producer_id, producer_epoch)?;
        match (self.state, commit) {
            (TxnState::Ongoing, _) => Ok(Some(self.prepare(commit, now_ms))),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(None),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => Err(ErrorCode::ConcurrentTransactions),
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    fn prepare(&self, commit: bool, now_ms: i64) -> TxnMetadata {
        let mut next = self.clone();
        next.state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        next.last_update_ms = now_ms;
        next
    }

    /// Aborts the open transaction on the coordinator's own initiative (its timeout passed,
    /// or a new producer of the id arrived): the epoch moves up first, so the producer that
    /// opened it is fenced everywhere the abort markers land.
    pub fn fence_and_abort(&self, now_ms: i64) -> TxnMetadata {
        let mut next = self.prepare(false, now_ms);
        if !self.epoch_exhausted() {
            next.producer_epoch += 1;
        }
        next
    }

    /// The markers are all written: the transaction is complete.
    pub fn complete(&self, now_ms: i64) -> TxnMetadata {
        assert!(self.state.is_prepare(), "completing producer {} in state {:?}", self.producer_id, self.state);
        let mut next = self.clone();
        next.state =
            if self.state == TxnState::PrepareCommit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        next.partitions.clear();
        next.start_ms = -1;
        next.last_update_ms = now_ms;
        next
    }

    /// Whether the id has had no transaction open and no request for longer than `expiration_ms`
    /// (`transactional.id.expiration.ms`): the coordinator forgets it then, as Kafka does, so
    /// the ids a client ever used do not stay in memory for good. An id with a transaction open
    /// or ending is never expired (its own timeout ends it first).
    pub fn expired(&self, now_ms: i64, expiration_ms: i64) -> bool {
        matches!(self.state, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
            && now_ms.saturating_sub(self.last_update_ms) > expiration_ms
    }

    /// Whether an open transaction has outlived its timeout.
    pub fn timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing && self.start_ms >= 0 && now_ms > self.start_ms + i64::from(self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> (String, i32) {
        (t.to_string(), p)
    }

    #[test]
    fn a_transaction_runs_empty_ongoing_prepare_complete() {
        let m = TxnMetadata::new(7, 60_000, 0);
        let ongoing = m.add_partitions(7, 0, &[tp("a", 0)], 10).expect("add").expect("a change");
        assert_eq!((ongoing.state, ongoing.start_ms), (TxnState::Ongoing, 10));
        assert_eq!(ongoing.add_partitions(7, 0, &[tp("a", 0)], 11), Ok(None), "already in");
        let more = ongoing.add_partitions(7, 0, &[tp("b", 1)], 12).expect("add").expect("a change");
        assert_eq!(more.partitions.len(), 2);
        assert_eq!(more.start_ms, 10, "the transaction began with its first partition");
        let prepared = more.end(7, 0, true, 20).expect("end").expect("a change");
        assert_eq!(prepared.state, TxnState::PrepareCommit);
        assert_eq!(prepared.add_partitions(7, 0, &[tp("c", 0)], 21), Err(ErrorCode::ConcurrentTransactions));
        assert_eq!(prepared.end(7, 0, true, 21), Err(ErrorCode::ConcurrentTransactions), "a retry waits");
        assert_eq!(prepared.end(7, 0, false, 21), Err(ErrorCode::InvalidTxnState));
        let done = prepared.complete(30);
        assert_eq!((done.state, done.partitions.len(), done.start_ms), (TxnState::CompleteCommit, 0, -1));
        assert_eq!(done.end(7, 0, true, 31), Ok(None), "a retried commit succeeds");
        assert_eq!(done.end(7, 0, false, 31), Err(ErrorCode::InvalidTxnState));
        let next = done.add_partitions(7, 0, &[tp("z", 0)], 40).expect("add").expect("a change");
        assert_eq!((next.start_ms, next.partitions.len()), (40, 1), "a new transaction starts afresh");
    }

    #[test]
    fn init_producer_bumps_the_epoch_and_fences_the_old_producer() {
        let m = TxnMetadata::new(7, 60_000, 0);
        let again = m.init_producer(None, 60_000, 1, None).expect("init");
        assert_eq!((again.producer_id, again.producer_epoch), (7, 1));
        assert_eq!(again.add_partitions(7, 0, &[tp("a", 0)], 2), Err(ErrorCode::ProducerFenced));
        assert_eq!(again.end(8, 1, true, 2), Err(ErrorCode::InvalidProducerIdMapping));
        assert_eq!(again.init_producer(Some((7, 0)), 60_000, 3, None), Err(ErrorCode::ProducerFenced));
        assert!(again.init_producer(Some((7, 1)), 60_000, 3, None).is_ok(), "KIP-360: the current producer");
        let fresh = again.init_producer(None, 60_000, 3, Some(99)).expect("a fresh id");
        assert_eq!((fresh.producer_id, fresh.producer_epoch), (99, 0));
        let ongoing = again.add_partitions(7, 1, &[tp("a", 0)], 4).expect("add").expect("a change");
        assert_eq!(ongoing.init_producer(None, 60_000, 5, None), Err(ErrorCode::ConcurrentTransactions));
    }

    #[test]
    fn a_timed_out_transaction_is_aborted_at_a_higher_epoch() {
        let m = TxnMetadata::new(7, 1_000, 0);
        let ongoing = m.add_partitions(7, 0, &[tp("a", 0)], 100).expect("add").expect("a change");
        assert!(!ongoing.timed_out(1_100));
        assert!(ongoing.timed_out(1_101));
        let aborting = ongoing.fence_and_abort(1_101);
        assert_eq!((aborting.state, aborting.producer_epoch), (TxnState::PrepareAbort, 1));
        assert_eq!(aborting.end(7, 0, true, 1_102), Err(ErrorCode::ProducerFenced));
        assert_eq!(aborting.complete(1_200).state, TxnState::CompleteAbort);
    }

    #[test]
    fn an_idle_transactional_id_expires_but_an_open_transaction_does_not() {
        let m = TxnMetadata::new(7, 1_000, 0);
        assert!(!m.expired(100, 100));
        assert!(m.expired(101, 100), "no transaction for longer than the expiration");
        let ongoing = m.add_partitions(7, 0, &[tp("a", 0)], 0).expect("add").expect("a change");
        assert!(!ongoing.expired(10_000, 100), "an open transaction is never expired");
        let prepared = ongoing.end(7, 0, true, 0).expect("end").expect("a change");
        assert!(!prepared.expired(10_000, 100), "nor one whose markers are out");
        assert!(prepared.complete(0).expired(10_000, 100));
    }

    #[test]
    fn state_codes_round_trip() {
        for s in TxnState::ALL {
            assert_eq!(TxnState::from_code(s as i8), Some(s));
        }
        assert_eq!(TxnState::from_code(8), None);
    }
}
