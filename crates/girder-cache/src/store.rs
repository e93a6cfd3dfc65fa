//! Where entries live: the [`CacheStore`] trait and the default
//! in-memory [`MokaStore`].

use std::fmt;
use std::future::{Future, ready};
use std::time::{Duration, Instant};

use girder_core::BoxError;

use crate::{CacheEntry, CacheKey};

/// A place to keep [`CacheEntry`]s by [`CacheKey`].
///
/// The methods are async so that a shared store (Redis, say) fits behind
/// the same trait; the in-memory [`MokaStore`] answers at once. A store
/// may forget entries whenever it likes: the cache treats a missing entry
/// as a miss, checks freshness itself, and treats a store error as a miss
/// (on `get`) or as nothing stored (on `put` / `remove`), logging it under
/// `girder::cache`; a failing store never fails a call.
pub trait CacheStore: Send + Sync + 'static {
    /// The entry stored under `key`, if any.
    fn get(
        &self,
        key: &CacheKey,
    ) -> impl Future<Output = Result<Option<CacheEntry>, BoxError>> + Send;

    /// Stores `entry` under `key`, replacing what was there.
    /// [`CacheEntry::retain_for`] says how long it stays useful.
    fn put(
        &self,
        key: CacheKey,
        entry: CacheEntry,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Forgets the entry under `key`.
    fn remove(&self, key: &CacheKey) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// The entry under `key` when the store can answer without waiting (an
    /// in-memory store), or `None` when it cannot answer at once. The cache
    /// serves fresh hits from it without allocating a future. The default
    /// answers `None`, so remote stores need not implement it.
    fn get_now(&self, key: &CacheKey) -> Option<Option<CacheEntry>> {
        let _ = key;
        None
    }
}

/// The default store: an in-memory [`moka`] cache bounded by the total
/// [weight](CacheEntry::weight) of its entries (bytes), evicting the least
/// valuable entries (TinyLFU) when full, and dropping each entry after its
/// [`retain_for`](CacheEntry::retain_for).
///
/// Clones share the same entries.
#[derive(Clone)]
pub struct MokaStore {
    cache: moka::sync::Cache<CacheKey, CacheEntry, foldhash::fast::RandomState>,
}

impl MokaStore {
    /// A store holding at most `max_bytes` of entries.
    pub fn new(max_bytes: u64) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_key: &CacheKey, entry: &CacheEntry| entry.weight())
            .expire_after(Retain)
            // foldhash rather than SipHash: a key's URI hashes byte by
            // byte (the host case-folded), and this is the hit path.
            .build_with_hasher(foldhash::fast::RandomState::default());
        MokaStore { cache }
    }

    /// The total weight of the entries now stored (bytes, approximately;
    /// moka applies pending writes lazily).
    pub fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }

    /// The number of entries now stored.
    pub fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }
}

impl fmt::Debug for MokaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MokaStore")
            .field("entries", &self.cache.entry_count())
            .field("weighted_size", &self.cache.weighted_size())
            .finish()
    }
}

/// moka's per-entry expiry: the entry's own retention.
struct Retain;

impl moka::Expiry<CacheKey, CacheEntry> for Retain {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        entry: &CacheEntry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.retain_for())
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        entry: &CacheEntry,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.retain_for())
    }
}

impl CacheStore for MokaStore {
    fn get(
        &self,
        key: &CacheKey,
    ) -> impl Future<Output = Result<Option<CacheEntry>, BoxError>> + Send {
        ready(Ok(self.cache.get(key)))
    }

    fn put(
        &self,
        key: CacheKey,
        entry: CacheEntry,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        self.cache.insert(key, entry);
        ready(Ok(()))
    }

    fn remove(&self, key: &CacheKey) -> impl Future<Output = Result<(), BoxError>> + Send {
        self.cache.invalidate(key);
        ready(Ok(()))
    }

    fn get_now(&self, key: &CacheKey) -> Option<Option<CacheEntry>> {
        Some(self.cache.get(key))
    }
}
