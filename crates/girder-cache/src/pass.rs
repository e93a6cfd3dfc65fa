//! Hit-for-pass: keys whose last answer could not be shared.
//!
//! Their misses go out side by side instead of queueing behind a leader
//! only to be told to pass (Varnish's "hit-for-pass"), and a passing key
//! with nothing stored goes straight to the service from `Cache::call`
//! (the miss path's pass state, `Miss::passing` in `service/miss.rs`): no
//! boxed future, no copy of the request head.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use girder_core::WallClock;

use crate::key::CacheKey;

/// How long a key whose answer could not be shared skips coalescing.
pub(crate) const PASS_TTL: Duration = Duration::from_secs(60);
/// The most such keys remembered; past it, expired ones are dropped, and
/// if none has expired, all of them.
const MAX_PASSES: usize = 4096;

/// Keys whose last answer could not be shared (`no-store`, or too large to
/// buffer), and until when.
pub(crate) struct Passes {
    // foldhash: SipHash over a URI, twice a call, cost more than the rest
    // of the pass path.
    map: Mutex<HashMap<CacheKey, SystemTime, foldhash::fast::RandomState>>,
    clock: WallClock,
    /// A body over it keeps the pass (the full path would stream it through
    /// unstored anyway).
    max_entry_bytes: u64,
    /// Passes ended so far: a call that started before one ended renews
    /// its key's pass whatever `until` it saw.
    ended: AtomicU64,
}

impl Passes {
    pub(crate) fn new(clock: WallClock, max_entry_bytes: usize) -> Passes {
        Passes {
            map: Mutex::default(),
            clock,
            max_entry_bytes: max_entry_bytes as u64,
            ended: AtomicU64::new(0),
        }
    }

    /// Until when `key`'s misses skip coalescing, if they do.
    pub(crate) fn until(&self, key: &CacheKey, now: SystemTime) -> Option<SystemTime> {
        let passes = self.map.lock().expect("pass map poisoned");
        passes.get(key).copied().filter(|until| now < *until)
    }

    /// Remembers that `key`'s answer could not be shared.
    pub(crate) fn mark(&self, key: &CacheKey, now: SystemTime) {
        let mut passes = self.map.lock().expect("pass map poisoned");
        if let Some(until) = passes.get_mut(key) {
            *until = now + PASS_TTL;
            return;
        }
        if passes.len() >= MAX_PASSES {
            passes.retain(|_, until| now < *until);
            if passes.len() >= MAX_PASSES {
                passes.clear();
            }
        }
        passes.insert(key.clone(), now + PASS_TTL);
    }

    /// Passes ended so far.
    pub(crate) fn ended(&self) -> u64 {
        self.ended.load(Ordering::Relaxed)
    }

    /// The clock passes are measured on.
    pub(crate) fn clock(&self) -> WallClock {
        self.clock
    }

    /// The largest body an entry may hold: a larger one keeps the pass.
    pub(crate) fn max_entry_bytes(&self) -> u64 {
        self.max_entry_bytes
    }

    /// Forgets a pass: `key` answered something shareable again.
    pub(crate) fn clear(&self, key: &CacheKey) {
        let mut passes = self.map.lock().expect("pass map poisoned");
        if passes.remove(key).is_some() {
            self.ended.fetch_add(1, Ordering::Relaxed);
        }
    }
}
