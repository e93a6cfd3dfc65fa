//! [`GovernorBackend`]: quota state in this process, on governor.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use foldhash::HashMap;
use girder_core::PartitionKey;
use girder_core::hints::Quota as Announced;
use governor::RateLimiter;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{NotKeyed, StateStore};
use tokio::time::Instant;

use super::{Acquire, Decision, Feedback, Quotas, RateLimitBackend, Scope};
use crate::clock::{TokioClock, TokioInstant};
use crate::error::Cause;
use crate::quota::Quota;

/// The default bound on the number of partitions kept.
pub(crate) const DEFAULT_MAX_PARTITIONS: usize = 10_000;
/// Server-announced quotas kept per partition.
const MAX_ADOPTED: usize = 4;

/// Quota state in this process: governor's GCRA on a [`TokioClock`], one
/// set of limiters per partition.
///
/// Each partition holds a governor direct limiter per configured quota and
/// per quota the server announced, behind one lock, so that a call takes a
/// permit from all of them or from none (a permit taken from the first
/// before the second refused is rolled back). That is why the partitions
/// are kept here rather than in governor's keyed limiter, which holds one
/// quota per key. The keys are girder-core's [`PartitionKey`]s.
///
/// # Eviction
///
/// At most `max_partitions` partitions are kept (10,000 by default). When
/// a new one would go over, partitions that are idle are dropped first:
/// every quota back to its full burst and no server pause pending, so
/// forgetting them changes nothing. If that is not enough, the least
/// recently used tenth of the partitions goes, which forgets their
/// spent permits and any quota the server announced (it is learned again
/// from the next response).
pub struct GovernorBackend {
    partitions: RwLock<HashMap<PartitionKey, Entry>>,
    global: Mutex<Part>,
    max_partitions: usize,
    /// Counts uses, to tell the least recently used partitions apart
    /// without reading the clock on every call.
    uses: AtomicU64,
}

impl fmt::Debug for GovernorBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GovernorBackend")
            .field("partitions", &self.partition_count())
            .field("max_partitions", &self.max_partitions)
            .finish_non_exhaustive()
    }
}

impl Default for GovernorBackend {
    fn default() -> Self {
        GovernorBackend::new()
    }
}

impl GovernorBackend {
    /// A backend keeping at most 10,000 partitions.
    pub fn new() -> Self {
        GovernorBackend::with_max_partitions(DEFAULT_MAX_PARTITIONS)
    }

    /// A backend keeping at most `max` partitions (at least 1); see
    /// [Eviction](#eviction).
    pub fn with_max_partitions(max: usize) -> Self {
        GovernorBackend {
            partitions: RwLock::new(HashMap::default()),
            global: Mutex::new(Part::default()),
            max_partitions: max.max(1),
            uses: AtomicU64::new(0),
        }
    }

    /// The number of partitions kept now.
    pub fn partition_count(&self) -> usize {
        read(&self.partitions).len()
    }

    /// Runs `f` on `key`'s partition, creating it if needed.
    fn with_part<T>(&self, key: &PartitionKey, f: impl FnOnce(&mut Part) -> T) -> T {
        let stamp = self.uses.fetch_add(1, Ordering::Relaxed);
        {
            let map = read(&self.partitions);
            if let Some(entry) = map.get(key) {
                entry.last_used.store(stamp, Ordering::Relaxed);
                return f(&mut lock(&entry.part));
            }
        }
        let mut map = write(&self.partitions);
        if !map.contains_key(key) && map.len() >= self.max_partitions {
            self.evict(&mut map, Instant::now());
        }
        let entry = map.entry(key.clone()).or_insert_with(|| Entry {
            part: Mutex::new(Part::default()),
            last_used: AtomicU64::new(stamp),
        });
        entry.last_used.store(stamp, Ordering::Relaxed);
        f(&mut lock(&entry.part))
    }

    fn evict(&self, map: &mut HashMap<PartitionKey, Entry>, now: Instant) {
        let before = map.len();
        map.retain(|_, entry| match entry.part.try_lock() {
            Ok(part) => !part.is_idle(now),
            Err(_) => true,
        });
        if map.len() >= self.max_partitions {
            // Everything is busy: forget the least recently used tenth, so
            // that the next insertions do not each scan the map again.
            let mut stamps: Vec<u64> = map
                .values()
                .map(|e| e.last_used.load(Ordering::Relaxed))
                .collect();
            let cut = (self.max_partitions / 10).clamp(1, stamps.len());
            let (_, threshold, _) = stamps.select_nth_unstable(cut - 1);
            let threshold = *threshold;
            map.retain(|_, e| e.last_used.load(Ordering::Relaxed) > threshold);
        }
        tracing::debug!(
            target: "girder::ratelimit",
            evicted = before - map.len(),
            kept = map.len(),
            "partitions evicted"
        );
    }
}

impl RateLimitBackend for GovernorBackend {
    fn acquire(&self, key: &PartitionKey, quotas: &Quotas) -> Acquire {
        let decision = self.with_part(key, |part| {
            part.ensure(quotas.partition());
            if let Some(until) = part.paused_until {
                // The clock is read here only: governor reads it for the quotas.
                let now = Instant::now();
                if until > now {
                    return Decision::Wait {
                        retry_after: until - now,
                        scope: Scope::Partition,
                        cause: Cause::ServerPause,
                    };
                }
                part.paused_until = None;
            }
            if let Err(wait) = part.take() {
                return Decision::Wait {
                    retry_after: wait,
                    scope: Scope::Partition,
                    cause: Cause::Quota,
                };
            }
            if quotas.global().is_empty() {
                return Decision::Granted;
            }
            // NOTE: the lock order is partition, then global, everywhere.
            let mut global = lock(&self.global);
            global.ensure(quotas.global());
            match global.take() {
                Ok(()) => Decision::Granted,
                Err(wait) => {
                    part.give_back();
                    Decision::Wait {
                        retry_after: wait,
                        scope: Scope::Global,
                        cause: Cause::Quota,
                    }
                }
            }
        });
        Acquire::Ready(Ok(decision))
    }

    fn release(&self, key: &PartitionKey, quotas: &Quotas) {
        self.with_part(key, |part| {
            part.give_back();
            if !quotas.global().is_empty() {
                lock(&self.global).give_back();
            }
        });
    }

    fn observe(&self, key: &PartitionKey, quotas: &Quotas, feedback: &Feedback) {
        let now = Instant::now();
        self.with_part(key, |part| {
            part.ensure(quotas.partition());
            if let Some(pause) = feedback.pause {
                let until = crate::clock::later(now, pause);
                part.paused_until = Some(part.paused_until.map_or(until, |u| u.max(until)));
            }
            for announced in &feedback.announced {
                part.adopt(key, quotas.partition(), announced);
            }
        });
    }
}

struct Entry {
    part: Mutex<Part>,
    /// The backend's use count at this partition's last use.
    last_used: AtomicU64,
}

/// One partition's quota state (or the global one).
#[derive(Default)]
struct Part {
    gates: Vec<Gate>,
    adopted: Vec<Adopted>,
    paused_until: Option<Instant>,
}

impl Part {
    fn ensure(&mut self, quotas: &[Quota]) {
        // NOTE: a backend serves one policy, whose quotas never change; the
        // gates are made on first use.
        if self.gates.len() != quotas.len() {
            self.gates = quotas.iter().map(|q| Gate::new(*q)).collect();
        }
    }

    fn all_gates(&self) -> impl Iterator<Item = &Gate> {
        self.gates
            .iter()
            .chain(self.adopted.iter().map(|a| &a.gate))
    }

    /// Takes a permit from every gate, or from none and says how long
    /// until all of them have one.
    fn take(&self) -> Result<(), Duration> {
        let mut wait = None::<Duration>;
        // Gates that said yes, by index; a policy has at most 16 quotas and
        // a partition at most 4 adopted ones.
        let mut took = 0u64;
        for (i, gate) in self.all_gates().enumerate() {
            match gate.check() {
                Ok(()) => took |= 1 << (i % 64),
                Err(w) => wait = Some(wait.map_or(w, |max| max.max(w))),
            }
        }
        let wait = match wait {
            None => return Ok(()),
            Some(wait) => wait,
        };
        // Every gate was checked, so the wait is the longest. The lock on
        // this state is held, so nothing moved the gates that said yes
        // since: giving their permit back restores them exactly.
        for (i, gate) in self.all_gates().enumerate() {
            if took & (1 << (i % 64)) != 0 {
                gate.give_back();
            }
        }
        Err(wait)
    }

    fn give_back(&self) {
        for gate in self.all_gates() {
            gate.give_back();
        }
    }

    fn is_idle(&self, now: Instant) -> bool {
        self.paused_until.is_none_or(|until| until <= now)
            && self.all_gates().all(|g| g.is_full(now))
    }

    fn adopt(&mut self, key: &PartitionKey, configured: &[Quota], announced: &Announced) {
        let (Some(limit), Some(window)) = (announced.limit, announced.window) else {
            return;
        };
        let Ok(count) = u32::try_from(limit) else {
            return;
        };
        let quota = Quota::new(count, window);
        if quota.validate().is_err() {
            return;
        }
        // Adopt only what binds: a quota the configured ones already keep
        // us under adds a check and nothing else.
        let stricter = configured
            .iter()
            .all(|q| q.allowance(window) > u128::from(limit));
        let same_name = |a: &Adopted| a.name == announced.name;
        let position = self.adopted.iter().position(same_name);
        if !stricter {
            if let Some(i) = position {
                self.adopted.remove(i);
            }
            return;
        }
        let index = match position {
            Some(i) if self.adopted[i].quota == quota => i,
            Some(i) => {
                self.adopted[i] = Adopted::new(announced, quota);
                i
            }
            None if self.adopted.len() < MAX_ADOPTED => {
                self.adopted.push(Adopted::new(announced, quota));
                tracing::debug!(
                    target: "girder::ratelimit",
                    partition = %key,
                    limit,
                    window = ?window,
                    "adopted the quota the server announced"
                );
                self.adopted.len() - 1
            }
            None => return,
        };
        if let Some(remaining) = announced.remaining {
            self.adopted[index].gate.keep_at_most(remaining);
        }
    }
}

struct Adopted {
    name: Option<String>,
    quota: Quota,
    gate: Gate,
}

impl Adopted {
    fn new(announced: &Announced, quota: Quota) -> Self {
        Adopted {
            name: announced.name.clone(),
            quota,
            gate: Gate::new(quota),
        }
    }
}

type Limiter = RateLimiter<NotKeyed, Tat, TokioClock, NoOpMiddleware<TokioInstant>>;

/// One quota: a governor limiter and a second handle on its state.
struct Gate {
    limiter: Limiter,
    state: Tat,
    /// The limiter's reference point, give or take the nanoseconds
    /// between reading it here and in `RateLimiter::new`.
    start: Instant,
    interval: u64,
    burst: u64,
}

impl Gate {
    fn new(quota: Quota) -> Self {
        let state = Tat::default();
        let start = Instant::now();
        Gate {
            limiter: RateLimiter::new(quota.to_governor(), state.clone(), TokioClock),
            state,
            start,
            interval: crate::clock::nanos(quota.interval()).as_u64().max(1),
            burst: u64::from(quota.burst_size()),
        }
    }

    fn check(&self) -> Result<(), Duration> {
        match self.limiter.check() {
            Ok(_) => Ok(()),
            Err(not_until) => Err(not_until.wait_time_from(TokioClock.now())),
        }
    }

    /// Gives one permit back: the state moves one interval into the past.
    fn give_back(&self) {
        let interval = self.interval;
        let _ = self
            .state
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                // 0 reads as a fresh limiter: as full as any state in the past.
                (tat > 0).then(|| tat.saturating_sub(interval))
            });
    }

    fn now(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Every permit is back: a fresh gate would behave the same.
    fn is_full(&self, now: Instant) -> bool {
        self.state.get() <= self.now(now)
    }

    /// Leaves at most `remaining` permits, never more than there are.
    fn keep_at_most(&self, remaining: u64) {
        let now = self.now(Instant::now());
        let spent = self.burst - remaining.min(self.burst);
        let target = now
            .saturating_add(spent.saturating_mul(self.interval))
            .max(1);
        self.state.tat.fetch_max(target, Ordering::AcqRel);
    }
}

/// The GCRA state of one governor limiter: the theoretical arrival time in
/// nanoseconds from the limiter's start, 0 for a limiter never used.
#[derive(Debug, Clone, Default)]
struct Tat {
    tat: Arc<AtomicU64>,
}

impl Tat {
    fn get(&self) -> u64 {
        self.tat.load(Ordering::Acquire)
    }
}

impl StateStore for Tat {
    type Key = NotKeyed;

    fn measure_and_replace<T, F, E>(&self, _key: &NotKeyed, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // As governor's InMemoryState, on a value this backend can also reach.
        let decode = |raw: u64| (raw != 0).then(|| Nanos::from(raw));
        let mut prev = self.tat.load(Ordering::Acquire);
        loop {
            let (result, next) = f(decode(prev))?;
            match self.tat.compare_exchange_weak(
                prev,
                next.as_u64(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(result),
                Err(actual) => prev = actual,
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state behind every lock here stays valid if a holder panicked.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(backend: &GovernorBackend, key: &str, quotas: &Quotas) -> bool {
        match backend.acquire(&PartitionKey::custom(key), quotas) {
            Acquire::Ready(Ok(Decision::Granted)) => true,
            Acquire::Ready(Ok(Decision::Wait { .. })) => false,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_partitions_go_first_then_the_least_recently_used() {
        let backend = GovernorBackend::with_max_partitions(3);
        let quotas = Quotas::new(vec![Quota::per_second(1).burst(1)], vec![]);
        for key in ["a", "b", "c", "d"] {
            assert!(granted(&backend, key, &quotas));
        }
        // Nothing was idle when d came: the least recently used (a) went.
        assert_eq!(backend.partition_count(), 3);
        assert!(!granted(&backend, "b", &quotas), "b kept its spent permit");
        assert!(granted(&backend, "a", &quotas), "a was forgotten");
        assert!(
            granted(&backend, "c", &quotas),
            "c went for a: b was used since"
        );
        assert_eq!(backend.partition_count(), 3);

        backend.observe(
            &PartitionKey::custom("b"),
            &quotas,
            &Feedback::pause(Duration::from_secs(10)),
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        // Every quota is full again, so only b's pause is worth keeping.
        assert!(granted(&backend, "e", &quotas));
        assert_eq!(backend.partition_count(), 2);
        match backend.acquire(&PartitionKey::custom("b"), &quotas) {
            Acquire::Ready(Ok(Decision::Wait {
                retry_after, cause, ..
            })) => {
                assert_eq!(retry_after, Duration::from_secs(9));
                assert_eq!(cause, Cause::ServerPause);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Pins issue 18: a pause too long to add to the clock was dropped
    /// (`checked_add(..).unwrap_or(now)` paused until now); it saturates.
    #[tokio::test(start_paused = true)]
    async fn a_pause_too_long_for_the_clock_saturates_instead_of_vanishing() {
        let backend = GovernorBackend::default();
        let quotas = Quotas::default();
        let key = PartitionKey::custom("a");
        backend.observe(&key, &quotas, &Feedback::pause(Duration::MAX));
        match backend.acquire(&key, &quotas) {
            Acquire::Ready(Ok(Decision::Wait {
                retry_after, cause, ..
            })) => {
                assert!(retry_after >= Duration::from_secs(365 * 24 * 3600));
                assert_eq!(cause, Cause::ServerPause);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_gcra_state_is_read_on_tokio_time() {
        let gate = Gate::new(Quota::per_second(2).burst(2));
        let now = Instant::now();
        assert!(gate.is_full(now));
        assert!(gate.check().is_ok());
        assert!(!gate.is_full(now));
        gate.give_back();
        assert!(gate.is_full(now));
        gate.keep_at_most(0);
        assert_eq!(gate.check(), Err(Duration::from_millis(500)));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(gate.check().is_ok());
        assert!(gate.check().is_err());
    }
}
