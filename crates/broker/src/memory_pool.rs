//! A byte budget shared by connections: request frames being read or handled
//! (`queued.max.request.bytes`) and fetch responses being read, encoded or sent
//! (`fetch.response.memory.max.bytes`). Whoever needs memory reserves it before allocating and
//! waits, in arrival order, while the pool is short; the memory is back in the pool when the
//! reservation is dropped.
//!
//! A reservation can grow (`Reservation::merge`), so memory can be reserved as it is needed.
//! A single reservation larger than the whole pool reserves the whole pool (it waits until the
//! pool is free, then runs alone), so nothing waits forever; Kafka's memory pool lets one
//! allocation overshoot the same way. The two budgets are separate pools on purpose: a fetch
//! holds its request's reservation while it waits for response memory, and with one pool, fetches
//! holding request memory could wait forever on each other for response memory.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How often `reserve_up_to` tries again when others took the free memory first.
const RESERVE_UP_TO_ATTEMPTS: usize = 4;

#[derive(Debug)]
pub struct MemoryPool {
    /// One permit per byte; `None` when unbounded.
    semaphore: Option<Arc<Semaphore>>,
    capacity: usize,
}

/// Bytes reserved from a pool, given back when dropped.
#[derive(Debug, Default)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.permit.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// Adds `other`'s bytes (reserved from the same pool) to this reservation.
    pub fn merge(&mut self, other: Reservation) {
        match (&mut self.permit, other.permit) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }

    /// Gives back all but `keep` bytes.
    pub fn shrink_to(&mut self, keep: usize) {
        if let Some(permit) = &mut self.permit
            && permit.num_permits() > keep
        {
            drop(permit.split(permit.num_permits() - keep));
        }
    }
}

impl MemoryPool {
    /// A pool of `capacity` bytes; `None` for no bound.
    pub fn new(capacity: Option<usize>) -> MemoryPool {
        match capacity {
            None => MemoryPool { semaphore: None, capacity: usize::MAX },
            Some(capacity) => {
                // A semaphore holds at most MAX_PERMITS, and one acquisition at most u32::MAX.
                let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
                MemoryPool { semaphore: Some(Arc::new(Semaphore::new(capacity))), capacity }
            }
        }
    }

    /// The pool's size in bytes (`usize::MAX` when unbounded).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Waits for `bytes` (at most the whole pool) and reserves them.
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        let Some(semaphore) = &self.semaphore else { return Reservation::default() };
        let want = bytes.min(self.capacity) as u32;
        if want == 0 {
            return Reservation::default();
        }
        let permit = semaphore.clone().acquire_many_owned(want).await.expect("the pool's semaphore is never closed");
        Reservation { permit: Some(permit) }
    }

    /// Reserves what it can of `bytes` now, without waiting: the reservation and the bytes it
    /// grants (all of `bytes` when the pool is unbounded, else at most what is free).
    pub fn reserve_up_to(&self, bytes: usize) -> (Reservation, usize) {
        let Some(semaphore) = &self.semaphore else { return (Reservation::default(), bytes) };
        // Another task may take memory between reading what is free and taking it: retry with
        // what is left, a bounded number of times.
        for _ in 0..RESERVE_UP_TO_ATTEMPTS {
            let want = bytes.min(semaphore.available_permits()).min(u32::MAX as usize) as u32;
            if want == 0 {
                break;
            }
            if let Ok(permit) = semaphore.clone().try_acquire_many_owned(want) {
                return (Reservation { permit: Some(permit) }, want as usize);
            }
        }
        (Reservation::default(), 0)
    }

    /// Bytes free now (`usize::MAX` when unbounded).
    pub fn available(&self) -> usize {
        self.semaphore.as_ref().map_or(usize::MAX, |s| s.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_memory_and_give_it_back() {
        let pool = Arc::new(MemoryPool::new(Some(100)));
        let mut a = pool.reserve(70).await;
        assert_eq!((a.bytes(), pool.available()), (70, 30));
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.reserve(50).await.bytes() }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "50 bytes are not free");
        a.shrink_to(20);
        assert_eq!(waiting.await.expect("task"), 50, "shrinking gave 50 back");
        drop(a);
        assert_eq!(pool.available(), 100);
    }

    #[tokio::test]
    async fn a_reservation_beyond_the_pool_takes_the_whole_pool() {
        let pool = MemoryPool::new(Some(100));
        let big = pool.reserve(1 << 30).await;
        assert_eq!((big.bytes(), pool.available()), (100, 0));
        drop(big);
        let (part, granted) = pool.reserve_up_to(30);
        let (rest, more) = pool.reserve_up_to(500);
        assert_eq!((part.bytes(), granted, rest.bytes(), more), (30, 30, 70, 70), "what is free, at once");
        assert_eq!(pool.reserve_up_to(1).1, 0, "nothing free: nothing granted, no wait");
        let unbounded = MemoryPool::new(None);
        assert_eq!(unbounded.reserve_up_to(1 << 40).1, 1 << 40, "an unbounded pool grants everything");
        assert_eq!(unbounded.reserve(1 << 40).await.bytes(), 0, "an unbounded pool holds nothing");
    }
}
