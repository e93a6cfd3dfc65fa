//! The state a layer shares with every service it makes: the policy, the
//! mode, and the bounded map of circuits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use girder_core::PartitionKey;
use tokio::time::Instant;

use crate::circuit::Circuit;
use crate::handle::Mode;
use crate::hook::StateChange;
use crate::policy::BreakerPolicy;
use crate::store::link::Link;

/// The time, read at most once per call and only when needed: a call
/// through a closed circuit never asks at admission.
#[derive(Debug, Default)]
pub(crate) struct LazyNow(Option<Instant>);

impl LazyNow {
    pub(crate) fn get(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) policy: BreakerPolicy,
    /// The shared store, if the policy has one; `None` costs a call one
    /// branch.
    pub(crate) link: Option<Link>,
    circuits: RwLock<HashMap<PartitionKey, Arc<Circuit>, foldhash::fast::RandomState>>,
    mode: AtomicU8,
    /// The origin of the time window's seconds.
    base: Instant,
    rng: Mutex<fastrand::Rng>,
}

impl Shared {
    pub(crate) fn new(policy: BreakerPolicy) -> Self {
        let rng = match policy.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        let link = policy
            .store
            .clone()
            .map(|store| Link::new(store, policy.store_budget));
        Shared {
            link,
            policy,
            circuits: RwLock::new(HashMap::default()),
            mode: AtomicU8::new(Mode::Automatic as u8),
            base: Instant::now(),
            rng: Mutex::new(rng),
        }
    }

    pub(crate) fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::Relaxed))
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    /// Whole seconds since the layer was made, for the time window.
    pub(crate) fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.base).as_secs()
    }

    /// A number in [0, 1) for the open-duration jitter.
    pub(crate) fn unit(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .f64()
    }

    /// The circuit of `key`, made if there is none. Making one when the map
    /// is full first drops idle circuits, else the least recently used.
    pub(crate) fn circuit(&self, key: PartitionKey, now: &mut LazyNow) -> Arc<Circuit> {
        let read = self.circuits.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(circuit) = read.get(&key) {
            return circuit.clone();
        }
        drop(read);
        let mut map = self
            .circuits
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(circuit) = map.get(&key) {
            return circuit.clone();
        }
        let now = now.get();
        if map.len() >= self.policy.max_partitions {
            self.evict(&mut map, now);
        }
        let circuit = Arc::new(Circuit::new(key.clone(), self, now));
        map.insert(key, circuit.clone());
        circuit
    }

    fn evict(
        &self,
        map: &mut HashMap<PartitionKey, Arc<Circuit>, foldhash::fast::RandomState>,
        now: Instant,
    ) {
        let idle = self.policy.idle_after;
        map.retain(|_, circuit| !circuit.is_idle(now, idle));
        if map.len() < self.policy.max_partitions {
            return;
        }
        // Nothing idle: forget a sixteenth at once, so that a stream of new
        // keys pays for this scan once per many keys. Closed circuits go
        // first, least recently used first: an open circuit is protecting
        // its upstream.
        let mut ranked: Vec<((bool, Instant), PartitionKey)> = map
            .iter()
            .map(|(key, circuit)| (circuit.eviction_rank(now), key.clone()))
            .collect();
        let batch = (ranked.len() / 16).max(1);
        ranked.select_nth_unstable_by_key(batch - 1, |(rank, _)| *rank);
        for (_, key) in &ranked[..batch] {
            map.remove(key);
        }
        tracing::debug!(
            target: "girder::breaker",
            forgotten = batch,
            "circuit map full; forgot the least recently used circuits"
        );
    }

    pub(crate) fn existing(&self, key: &PartitionKey) -> Option<Arc<Circuit>> {
        let map = self.circuits.read().unwrap_or_else(PoisonError::into_inner);
        map.get(key).cloned()
    }

    pub(crate) fn all(&self) -> Vec<Arc<Circuit>> {
        let map = self.circuits.read().unwrap_or_else(PoisonError::into_inner);
        map.values().cloned().collect()
    }

    /// Traces `change`, tells the shared store, and calls the hook; never
    /// under a lock.
    pub(crate) fn announce(&self, change: StateChange) {
        use crate::BreakerState;
        match change.to {
            BreakerState::Open => tracing::warn!(
                target: "girder::breaker",
                partition = %change.partition,
                from = %change.from,
                cause = %change.cause,
                open_ms = change.open_for.map_or(0, |d| d.as_millis() as u64),
                "circuit opened"
            ),
            _ => tracing::info!(
                target: "girder::breaker",
                partition = %change.partition,
                from = %change.from,
                to = %change.to,
                cause = %change.cause,
                "circuit state changed"
            ),
        }
        // A shadow breaker reports what it would do; it must not make the
        // rest of the fleet do it.
        if let Some(link) = &self.link
            && self.mode() != Mode::MetricsOnly
        {
            link.publish(&change);
        }
        self.policy.on_state_change.on_state_change(&change);
    }
}
