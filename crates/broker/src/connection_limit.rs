//! `max.connections`: how many client connections this broker holds at once, over all its
//! listeners (Kafka's broker-wide limit). A listener takes a slot before it accepts, so a client
//! beyond the limit waits in the kernel's backlog until one is free. The limit is a dynamic
//! broker config: raising it frees slots at once; lowering it takes slots back as they are
//! returned (connections already open are not closed).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub struct ConnectionSlots {
    semaphore: Arc<Semaphore>,
    /// The configured limit.
    limit: Mutex<usize>,
    /// Slots to take back as connections end (after the limit was lowered below what is in use).
    debt: Arc<AtomicUsize>,
}

/// One connection's slot; returned (or taken back, after a lowered limit) when dropped.
#[derive(Debug)]
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    debt: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else { return };
        let owed = self.debt.fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1)).is_ok();
        if owed {
            permit.forget();
        }
    }
}

impl ConnectionSlots {
    pub fn new(limit: usize) -> ConnectionSlots {
        ConnectionSlots {
            semaphore: Arc::new(Semaphore::new(limit)),
            limit: Mutex::new(limit),
            debt: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Waits for a free slot.
    pub async fn acquire(&self) -> Slot {
        let permit = self.semaphore.clone().acquire_owned().await.expect("the semaphore is never closed");
        Slot { permit: Some(permit), debt: self.debt.clone() }
    }

    /// The configured limit.
    pub fn limit(&self) -> usize {
        *self.limit.lock()
    }

    /// Changes the limit.
    pub fn set_limit(&self, new: usize) {
        let mut limit = self.limit.lock();
        let old = *limit;
        if new > old {
            // Pay back what is still owed first.
            let mut more = new - old;
            let _ = self.debt.fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                let paid = d.min(more);
                more -= paid;
                Some(d - paid)
            });
            self.semaphore.add_permits(more);
        } else if new < old {
            let fewer = old - new;
            let taken = self.semaphore.forget_permits(fewer);
            self.debt.fetch_add(fewer - taken, Ordering::AcqRel);
        }
        *limit = new;
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lowered_limit_takes_slots_back_as_connections_end() {
        let slots = ConnectionSlots::new(3);
        let a = slots.acquire().await;
        let b = slots.acquire().await;
        assert_eq!(slots.available(), 1);
        slots.set_limit(1);
        assert_eq!(slots.available(), 0, "the free slot went at once");
        drop(a);
        assert_eq!(slots.available(), 0, "one more is owed: taken back");
        drop(b);
        assert_eq!(slots.available(), 1, "the new limit, once connections end");
        slots.set_limit(4);
        assert_eq!((slots.available(), slots.limit()), (4, 4));
    }

    #[tokio::test]
    async fn raising_the_limit_pays_the_debt_first() {
        let slots = ConnectionSlots::new(2);
        let a = slots.acquire().await;
        let b = slots.acquire().await;
        slots.set_limit(0);
        slots.set_limit(1);
        drop(a);
        drop(b);
        assert_eq!(slots.available(), 1);
    }
}
