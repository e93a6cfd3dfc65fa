//! [`LocalCircuitStore`]: the fleet's circuits in this process's memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use girder_core::{BoxError, PartitionKey};
use tokio::time::Instant;

use super::{Admit, CircuitStore, FleetState, ProbeToken};

/// How long a record outlives its open period, at least: long enough for
/// a quiet fleet to come back and probe under the shared bound.
const MIN_LINGER: Duration = Duration::from_secs(60);

const DEFAULT_MAX_CIRCUITS: usize = 65_536;

/// A [`CircuitStore`] in this process's memory, shared by the breaker
/// layers given the same `Arc`: what several processes would share
/// through a remote store, several layers share here (and tests prove the
/// fleet's behaviour with it).
///
/// Answers at once, under one short lock. A record is dropped when its
/// circuit closes, or once its open period has been over as long again
/// as it lasted (at least a minute) with nobody closing it; then each
/// layer goes on with its own circuit. At most `max_circuits` records are
/// kept (65,536 by default): publishing one more is an error, and the
/// layer that tried decides locally.
///
/// ```
/// use std::sync::Arc;
/// use girder_breaker::{BreakerPolicy, CircuitBreakerLayer, LocalCircuitStore};
///
/// let store = Arc::new(LocalCircuitStore::new());
/// let policy = BreakerPolicy::builder().store(store.clone()).build()?;
/// let orders = CircuitBreakerLayer::new(policy.clone());
/// let billing = CircuitBreakerLayer::new(policy);
/// # Ok::<(), girder_breaker::error::InvalidBreakerPolicy>(())
/// ```
pub struct LocalCircuitStore {
    records: Mutex<HashMap<PartitionKey, Record, foldhash::fast::RandomState>>,
    max_circuits: usize,
}

#[derive(Debug)]
struct Record {
    open_until: Instant,
    forget_at: Instant,
    /// The tokens holding a probe slot: at most the probes allowed (1,000).
    probes: Vec<ProbeToken>,
}

impl LocalCircuitStore {
    /// An empty store holding at most 65,536 open circuits.
    pub fn new() -> Self {
        LocalCircuitStore::bounded(DEFAULT_MAX_CIRCUITS)
    }

    /// An empty store holding at most `max_circuits` open circuits (at
    /// least 1).
    pub fn bounded(max_circuits: usize) -> Self {
        LocalCircuitStore {
            records: Mutex::new(HashMap::default()),
            max_circuits: max_circuits.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PartitionKey, Record, foldhash::fast::RandomState>> {
        // Only plain map and field updates run under this lock.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for LocalCircuitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The count, not the records: a policy's Debug shows its store.
        f.debug_struct("LocalCircuitStore")
            .field("circuits", &self.lock().len())
            .field("max_circuits", &self.max_circuits)
            .finish()
    }
}

impl Default for LocalCircuitStore {
    fn default() -> Self {
        LocalCircuitStore::new()
    }
}

impl CircuitStore for LocalCircuitStore {
    fn admit(&self, key: &PartitionKey, probe: ProbeToken, max_probes: u32) -> Admit {
        let now = Instant::now();
        let mut records = self.lock();
        let Some(record) = records.get_mut(key) else {
            return Admit::Ready(Ok(FleetState::Closed));
        };
        if now >= record.forget_at {
            records.remove(key);
            return Admit::Ready(Ok(FleetState::Closed));
        }
        if now < record.open_until {
            return Admit::Ready(Ok(FleetState::Open {
                remaining: record.open_until - now,
            }));
        }
        let probe = if record.probes.contains(&probe) {
            true
        } else if record.probes.len() < max_probes as usize {
            record.probes.push(probe);
            true
        } else {
            false
        };
        Admit::Ready(Ok(FleetState::HalfOpen { probe }))
    }

    fn release_probe(&self, key: &PartitionKey, probe: ProbeToken) {
        if let Some(record) = self.lock().get_mut(key) {
            record.probes.retain(|held| *held != probe);
        }
    }

    fn publish_open(&self, key: &PartitionKey, open_for: Duration) -> Result<(), BoxError> {
        let now = Instant::now();
        let until = now + open_for;
        let forget_at = until + open_for.max(MIN_LINGER);
        let mut records = self.lock();
        if records.len() >= self.max_circuits && !records.contains_key(key) {
            records.retain(|_, record| record.forget_at > now);
            if records.len() >= self.max_circuits {
                return Err("local circuit store is full".into());
            }
        }
        let record = records.entry(key.clone()).or_insert(Record {
            open_until: until,
            forget_at,
            probes: Vec::new(),
        });
        record.open_until = record.open_until.max(until);
        record.forget_at = record.forget_at.max(forget_at);
        // A new open period: probes of the last one no longer hold slots.
        record.probes.clear();
        Ok(())
    }

    fn publish_closed(&self, key: &PartitionKey) -> Result<(), BoxError> {
        self.lock().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn ask(store: &LocalCircuitStore, token: u64, max: u32) -> FleetState {
        let key = PartitionKey::custom("api.test");
        store
            .admit(&key, ProbeToken::new(token), max)
            .now()
            .unwrap()
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn open_then_half_open_with_bounded_probes_then_closed() {
        let store = LocalCircuitStore::new();
        let key = PartitionKey::custom("api.test");
        assert_eq!(ask(&store, 1, 2), FleetState::Closed);
        store.publish_open(&key, 10 * SEC).unwrap();
        tokio::time::advance(4 * SEC).await;
        assert_eq!(ask(&store, 1, 2), FleetState::Open { remaining: 6 * SEC });
        // A shorter period published meanwhile does not cut it short.
        store.publish_open(&key, SEC).unwrap();
        assert_eq!(ask(&store, 1, 2), FleetState::Open { remaining: 6 * SEC });
        tokio::time::advance(6 * SEC).await;
        assert_eq!(ask(&store, 1, 2), FleetState::HalfOpen { probe: true });
        assert_eq!(ask(&store, 1, 2), FleetState::HalfOpen { probe: true });
        assert_eq!(ask(&store, 2, 2), FleetState::HalfOpen { probe: true });
        assert_eq!(ask(&store, 3, 2), FleetState::HalfOpen { probe: false });
        // Releasing a token that holds nothing frees nothing.
        store.release_probe(&key, ProbeToken::new(9));
        assert_eq!(ask(&store, 3, 2), FleetState::HalfOpen { probe: false });
        store.release_probe(&key, ProbeToken::new(2));
        assert_eq!(ask(&store, 3, 2), FleetState::HalfOpen { probe: true });
        assert_eq!(
            format!("{store:?}"),
            "LocalCircuitStore { circuits: 1, max_circuits: 65536 }"
        );
        store.publish_closed(&key).unwrap();
        assert_eq!(ask(&store, 4, 2), FleetState::Closed);
    }

    /// Pins: a failed probe's new open period frees the slots of the last
    /// one, so a stale release cannot free a slot of the next.
    #[tokio::test(start_paused = true)]
    async fn reopening_frees_every_probe_slot() {
        let store = LocalCircuitStore::new();
        let key = PartitionKey::custom("api.test");
        store.publish_open(&key, SEC).unwrap();
        tokio::time::advance(SEC).await;
        assert_eq!(ask(&store, 1, 1), FleetState::HalfOpen { probe: true });
        store.publish_open(&key, SEC).unwrap();
        tokio::time::advance(SEC).await;
        assert_eq!(ask(&store, 2, 1), FleetState::HalfOpen { probe: true });
        store.release_probe(&key, ProbeToken::new(1));
        assert_eq!(ask(&store, 3, 1), FleetState::HalfOpen { probe: false });
    }

    #[tokio::test(start_paused = true)]
    async fn records_are_forgotten_and_bounded() {
        let store = LocalCircuitStore::bounded(1);
        let a = PartitionKey::custom("a.test");
        let b = PartitionKey::custom("b.test");
        store.publish_open(&a, 10 * SEC).unwrap();
        let full = store.publish_open(&b, 10 * SEC).unwrap_err();
        assert_eq!(full.to_string(), "local circuit store is full");
        // Ten seconds open, then kept a minute half-open: then forgotten,
        // which makes room.
        tokio::time::advance(70 * SEC).await;
        store.publish_open(&b, 10 * SEC).unwrap();
        let state = |key| {
            store
                .admit(key, ProbeToken::new(1), 1)
                .now()
                .unwrap()
                .unwrap()
        };
        assert_eq!(state(&a), FleetState::Closed);
        assert_eq!(
            state(&b),
            FleetState::Open {
                remaining: 10 * SEC
            }
        );
    }
}
