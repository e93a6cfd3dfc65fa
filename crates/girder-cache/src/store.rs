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
/// `girder::cache`; a failing store never fails a call. A call's first
/// [`get`](CacheStore::get) is polled with its record
/// [current](girder_core::CallRecord::enter), so that a shared store that
/// answers a read it could not make with a miss can say so in the call
/// record ([`CallRecord::note_current`](girder_core::CallRecord::note_current)).
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

    /// Claims the fill of `key` for this process, for at most `hold`: a
    /// store shared by several processes lets one of them fetch a key that
    /// all of them miss, and the others wait for its entry.
    ///
    /// The cache calls it when its own single-flight leader for `key` is
    /// about to ask the server (a miss, or a revalidation). On
    /// [`FillClaim::Claimed`] it fetches, stores, and then calls
    /// [`release_fill`](CacheStore::release_fill) with the token (also when
    /// the fetch fails or the call is dropped). On [`FillClaim::Busy`] it
    /// re-reads the store with a bounded backoff until a usable entry
    /// appears (served as [`Coalesced`](crate::CacheStatus::Coalesced)), or
    /// it can claim the fill itself (the holder released it, or `hold`
    /// ran out); the call's [`Deadline`](girder_core::Deadline) and
    /// [`max_coalesce_wait`](crate::CacheConfigBuilder::max_coalesce_wait)
    /// bound the wait. An error counts as claimed: the process fetches.
    ///
    /// A claim should expire by itself after `hold` (the cache passes the
    /// smaller of `max_coalesce_wait` and the time left to the call's
    /// deadline; a store may shorten it), so that a process that dies
    /// holding one stalls nobody for longer.
    ///
    /// Default: always [`FillClaim::Claimed`], at once: a store used by one
    /// process only (such as [`MokaStore`]) needs nothing more than the
    /// cache's own coalescing.
    fn claim_fill(
        &self,
        key: &CacheKey,
        hold: Duration,
    ) -> impl Future<Output = Result<FillClaim, BoxError>> + Send {
        let _ = (key, hold);
        ready(Ok(FillClaim::Claimed(FillToken::default())))
    }

    /// Releases a claim [`claim_fill`](CacheStore::claim_fill) granted,
    /// once the entry is stored or the fill failed or was dropped. It must
    /// release only the claim `token` names (the claim may have expired
    /// and been granted to another process since), and must not block: it
    /// is called from `Drop`, so a remote store sends it without waiting.
    ///
    /// Default: does nothing.
    fn release_fill(&self, key: &CacheKey, token: FillToken) {
        let _ = (key, token);
    }
}

/// What [`CacheStore::claim_fill`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FillClaim {
    /// This process fetches the key, then releases the claim this token
    /// names with [`CacheStore::release_fill`].
    Claimed(FillToken),
    /// Another process holds the claim: re-read the store in a moment.
    Busy,
}

/// Names one claim granted by [`CacheStore::claim_fill`], so that only its
/// holder releases it. Its value means something to the store only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FillToken(u64);

impl FillToken {
    /// A token with the store's own value (a random number, say).
    pub const fn new(value: u64) -> Self {
        FillToken(value)
    }

    /// The value given to [`new`](FillToken::new).
    pub const fn get(self) -> u64 {
        self.0
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
