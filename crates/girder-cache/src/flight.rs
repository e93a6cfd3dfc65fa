//! Coalescing: one upstream request per key at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use girder_core::BoxError;
use http::{HeaderMap, StatusCode, Version};
use tokio::sync::watch;

use crate::CacheKey;
use crate::vary::Vary;

/// What a leader's request came to, as its waiters see it.
#[derive(Clone, Debug)]
pub(crate) enum Landing {
    /// A buffered response the waiters may serve (when their request
    /// selects the same variant).
    Response(Arc<SharedResponse>),
    /// The request failed; waiters get the same error.
    Failed(Arc<BoxError>),
    /// Nothing to share (streamed or `no-store`): each waiter asks alone.
    Pass,
    /// The leader was dropped: a waiter takes over.
    Abandoned,
}

/// A buffered response shared with the waiters of a flight.
#[derive(Debug)]
pub(crate) struct SharedResponse {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) request_headers: HeaderMap,
    pub(crate) vary: Vary,
}

type Slot = watch::Sender<Option<Landing>>;

/// The flights in the air, by key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<CacheKey, Arc<Slot>, foldhash::fast::RandomState>>,
    /// Flights landed so far, counted under the map's lock.
    landed: AtomicU64,
}

/// A caller's part in a flight.
pub(crate) enum Role {
    /// Make the request, then [`Leader::land`].
    Leader(Leader),
    /// Wait for the leader.
    Waiter(watch::Receiver<Option<Landing>>),
}

impl Flights {
    /// Joins the flight for `key`, leading it if there is none.
    pub(crate) fn join(self: &Arc<Self>, key: &CacheKey) -> Role {
        let mut map = self.map.lock().expect("flight map poisoned");
        if let Some(slot) = map.get(key) {
            return Role::Waiter(slot.subscribe());
        }
        let slot = Arc::new(watch::Sender::new(None));
        map.insert(key.clone(), slot.clone());
        Role::Leader(Leader {
            flights: self.clone(),
            key: key.clone(),
            slot,
            landed: false,
        })
    }

    /// How many flights have landed so far. A caller that read this
    /// before it looked the store up, and leads a flight, knows whether
    /// a flight landed (and maybe stored its key) in between: the count
    /// changes under the lock it joined under.
    pub(crate) fn landings(&self) -> u64 {
        self.landed.load(Ordering::Acquire)
    }

    /// How many flights are in the air.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().expect("flight map poisoned").len()
    }
}

/// Leadership of one flight. Dropping it without landing tells the
/// waiters the flight was abandoned, so one of them takes over.
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: CacheKey,
    slot: Arc<Slot>,
    landed: bool,
}

impl Leader {
    /// Whether anyone waits for this flight.
    pub(crate) fn has_waiters(&self) -> bool {
        self.slot.receiver_count() > 0
    }

    /// Tells the waiters (and callers who join from now on) `landing`
    /// while the flight stays in the air: the leader still has the entry
    /// to store, and a caller arriving meanwhile must find the flight, not
    /// an empty store and no flight.
    pub(crate) fn announce(&self, landing: Landing) {
        self.slot.send_replace(Some(landing));
    }

    /// Ends the flight with `landing`.
    pub(crate) fn land(mut self, landing: Landing) {
        self.finish(landing);
    }

    fn finish(&mut self, landing: Landing) {
        if self.landed {
            return;
        }
        self.landed = true;
        {
            let mut map = self.flights.map.lock().expect("flight map poisoned");
            if map
                .get(&self.key)
                .is_some_and(|s| Arc::ptr_eq(s, &self.slot))
            {
                map.remove(&self.key);
            }
            self.flights.landed.fetch_add(1, Ordering::AcqRel);
        }
        self.slot.send_replace(Some(landing));
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.finish(Landing::Abandoned);
    }
}

/// Waits for a flight to land. A closed channel counts as abandoned.
pub(crate) async fn wait(mut rx: watch::Receiver<Option<Landing>>) -> Landing {
    match rx.wait_for(Option::is_some).await {
        Ok(landing) => landing.clone().unwrap_or(Landing::Abandoned),
        Err(_) => Landing::Abandoned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CacheKey {
        crate::key::KeyMaker::new([0; 32], vec![], vec![]).key(
            &http::Method::GET,
            &"http://a.test/x".parse().unwrap(),
            &HeaderMap::new(),
        )
    }

    #[tokio::test]
    async fn a_dropped_leader_hands_over() {
        let flights = Arc::new(Flights::default());
        let Role::Leader(leader) = flights.join(&key()) else {
            panic!("first caller leads")
        };
        let Role::Waiter(rx) = flights.join(&key()) else {
            panic!("second caller waits")
        };
        assert!(leader.has_waiters());
        drop(leader);
        assert!(matches!(wait(rx).await, Landing::Abandoned));
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join(&key()), Role::Leader(_)));
    }

    #[tokio::test]
    async fn a_landing_reaches_every_waiter_and_clears_the_key() {
        let flights = Arc::new(Flights::default());
        let Role::Leader(leader) = flights.join(&key()) else {
            panic!()
        };
        let waiters: Vec<_> = (0..3)
            .map(|_| match flights.join(&key()) {
                Role::Waiter(rx) => rx,
                Role::Leader(_) => panic!("only one leader"),
            })
            .collect();
        leader.land(Landing::Pass);
        assert_eq!(flights.len(), 0);
        for rx in waiters {
            assert!(matches!(wait(rx).await, Landing::Pass));
        }
    }
}
