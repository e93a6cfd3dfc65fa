//! The layer's per-partition state: the line waiters stand in and the
//! in-flight slots. Quota state is the backend's; this is local to the
//! process whatever the backend.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use foldhash::HashMap;
use girder_core::PartitionKey;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One partition's line and slots.
#[derive(Debug)]
pub(crate) struct Lane {
    /// One permit: the head of the line. tokio's semaphore is fair
    /// (first in, first out), so no waiter is passed over: a newcomer
    /// asks the backend directly only while nobody waits.
    pub(crate) line: Arc<Semaphore>,
    /// How many wait for `line`, to estimate a newcomer's wait.
    waiting: AtomicUsize,
    /// The in-flight limit, if the policy has one.
    slots: Option<Arc<Semaphore>>,
}

impl Lane {
    fn new(max_in_flight: Option<usize>) -> Self {
        Lane {
            line: Arc::new(Semaphore::new(1)),
            waiting: AtomicUsize::new(0),
            slots: max_in_flight.map(|n| Arc::new(Semaphore::new(n))),
        }
    }

    /// Nobody waits for a permit and nobody is at the head of the line.
    pub(crate) fn is_clear(&self) -> bool {
        self.line.available_permits() > 0
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// An in-flight slot now; `Ok(None)` when there is no limit.
    pub(crate) fn try_slot(&self) -> Result<Option<OwnedSemaphorePermit>, ()> {
        match &self.slots {
            None => Ok(None),
            Some(slots) => slots.clone().try_acquire_owned().map(Some).map_err(|_| ()),
        }
    }

    pub(crate) fn slots(&self) -> Option<&Arc<Semaphore>> {
        self.slots.as_ref()
    }

    fn is_unused(lane: &Arc<Lane>) -> bool {
        Arc::strong_count(lane) == 1
            && Arc::strong_count(&lane.line) == 1
            && lane
                .slots
                .as_ref()
                .is_none_or(|s| Arc::strong_count(s) == 1)
    }
}

/// Counts a waiter in its lane's line for as long as it is held.
#[derive(Debug)]
pub(crate) struct Queued(Arc<Lane>);

impl Queued {
    pub(crate) fn new(lane: Arc<Lane>) -> Self {
        lane.waiting.fetch_add(1, Ordering::Relaxed);
        Queued(lane)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The lanes of every partition, and the global line.
///
/// Bounded like the backend: when a new partition would make more than
/// `max` lanes, the lanes nobody holds (no waiter, nobody in flight) are
/// dropped, which loses nothing. Lanes in use are never dropped, so the
/// map can only exceed `max` by the partitions with calls under way.
#[derive(Debug)]
pub(crate) struct Lanes {
    map: RwLock<HashMap<PartitionKey, Arc<Lane>>>,
    pub(crate) global: Arc<Lane>,
    max: usize,
    max_in_flight: Option<usize>,
}

impl Lanes {
    pub(crate) fn new(max: usize, max_in_flight: Option<usize>) -> Self {
        Lanes {
            map: RwLock::new(HashMap::default()),
            global: Arc::new(Lane::new(None)),
            max,
            max_in_flight,
        }
    }

    pub(crate) fn get(&self, key: &PartitionKey) -> Arc<Lane> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        if let Some(lane) = map.get(key) {
            return lane.clone();
        }
        drop(map);
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(key) && map.len() >= self.max {
            map.retain(|_, lane| !Lane::is_unused(lane));
        }
        map.entry(key.clone())
            .or_insert_with(|| Arc::new(Lane::new(self.max_in_flight)))
            .clone()
    }

    /// In-flight slots taken, over every partition.
    pub(crate) fn in_flight(&self) -> usize {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let taken = |lane: &Arc<Lane>| match (&lane.slots, self.max_in_flight) {
            (Some(slots), Some(max)) => max.saturating_sub(slots.available_permits()),
            _ => 0,
        };
        map.values().map(taken).sum()
    }

    /// Lines whose head is taken, the global line included.
    pub(crate) fn lines_held(&self) -> usize {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .chain(std::iter::once(&self.global))
            .filter(|lane| !lane.is_clear())
            .count()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unused_lanes_make_room_and_used_ones_stay() {
        let lanes = Lanes::new(2, Some(1));
        let busy = lanes.get(&PartitionKey::custom("a"));
        let slot = busy.try_slot().unwrap();
        assert!(slot.is_some());
        assert!(busy.try_slot().is_err(), "one slot");
        drop(lanes.get(&PartitionKey::custom("b")));
        drop(lanes.get(&PartitionKey::custom("c")));
        assert_eq!(lanes.len(), 2, "b was unused and gave way to c");
        // "a" kept its state: its slot is still taken.
        assert!(lanes.get(&PartitionKey::custom("a")).try_slot().is_err());
        drop((busy, slot));
        drop(lanes.get(&PartitionKey::custom("d")));
        assert_eq!(lanes.len(), 1);
    }

    #[test]
    fn queued_counts_while_held() {
        let lane = Arc::new(Lane::new(None));
        let q = Queued::new(lane.clone());
        assert_eq!(lane.waiting(), 1);
        drop(q);
        assert_eq!(lane.waiting(), 0);
    }
}
