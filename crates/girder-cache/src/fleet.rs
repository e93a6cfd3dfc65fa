//! Fleet-wide fill coalescing: the local leader of a flight claims the
//! fill in a shared store ([`CacheStore::claim_fill`]), so that of N
//! processes missing one key at once, one asks the server and the others
//! read its entry.

use std::time::Duration;

use crate::store::{CacheStore, FillClaim, FillToken};
use crate::{CacheEntry, CacheKey};

/// The first pause before a waiter re-reads the store; it doubles up to
/// [`MAX_POLL`]. A fill is a round trip to the API: tens to hundreds of
/// milliseconds.
const FIRST_POLL: Duration = Duration::from_millis(10);
/// The longest pause between two reads: a waiter serves the entry at most
/// this long after it is stored, and reads the store at most ten times a
/// second.
const MAX_POLL: Duration = Duration::from_millis(100);

/// A claim this process holds; released when dropped, however the fill
/// ends (stored, failed, or the call dropped), so that the other
/// processes need not wait for the claim to expire.
pub(crate) struct ClaimGuard<'a, St: CacheStore> {
    store: &'a St,
    key: CacheKey,
    token: FillToken,
}

impl<St: CacheStore> Drop for ClaimGuard<'_, St> {
    fn drop(&mut self) {
        self.store.release_fill(&self.key, self.token);
    }
}

/// What a claim attempt came to.
pub(crate) enum Claim<'a, St: CacheStore> {
    /// This process fetches, holding the claim (none when the store could
    /// not be asked: it then fetches as if alone).
    Fetch(Option<ClaimGuard<'a, St>>),
    /// Another process is fetching.
    Busy,
}

/// Claims `key`'s fill. A store error counts as claimed: a store that
/// cannot answer must not hold a call up.
pub(crate) async fn claim<'a, St: CacheStore>(
    store: &'a St,
    key: &CacheKey,
    hold: Duration,
) -> Claim<'a, St> {
    match store.claim_fill(key, hold).await {
        Ok(FillClaim::Claimed(token)) => Claim::Fetch(Some(ClaimGuard {
            store,
            key: key.clone(),
            token,
        })),
        Ok(FillClaim::Busy) => Claim::Busy,
        Err(error) => {
            tracing::debug!(target: "girder::cache", %error, "fill claim failed: fetching");
            Claim::Fetch(None)
        }
    }
}

/// How a wait for another process's fill ended.
pub(crate) enum Waited<'a, St: CacheStore> {
    /// Its entry, which `usable` accepted.
    Found(CacheEntry),
    /// This process fetches after all (the claim was released or expired),
    /// with what the store last held (to revalidate).
    Fetch(Option<ClaimGuard<'a, St>>, Option<CacheEntry>),
}

/// Re-reads the store with a bounded backoff until it holds an entry
/// `usable` accepts, or this process can claim the fill. Unbounded in
/// itself: the caller bounds it (the call's deadline, the layer's
/// `max_coalesce_wait`). Cancellation-safe: a claim won just before the
/// future is dropped is released by its guard.
pub(crate) async fn wait<'a, St: CacheStore>(
    store: &'a St,
    key: &CacheKey,
    hold: Duration,
    usable: impl Fn(&CacheEntry) -> bool,
) -> Waited<'a, St> {
    let mut pause = FIRST_POLL;
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
        // A read error is a miss here too.
        let entry = store.get(key).await.ok().flatten();
        if let Some(entry) = entry.as_ref().filter(|e| usable(e)) {
            return Waited::Found(entry.clone());
        }
        match claim(store, key, hold).await {
            Claim::Fetch(guard) => return Waited::Fetch(guard, entry),
            Claim::Busy => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use girder_core::BoxError;
    use http::HeaderMap;

    use crate::MokaStore;

    fn key() -> CacheKey {
        crate::key::KeyMaker::new([0; 32], vec![], vec![]).key(
            &http::Method::GET,
            &"http://a.test/x".parse().unwrap(),
            &HeaderMap::new(),
        )
    }

    /// A store whose claims are held by "another process" until released
    /// by the test, and which records its releases.
    #[derive(Clone)]
    struct Claims {
        inner: MokaStore,
        busy: Arc<Mutex<bool>>,
        released: Arc<Mutex<Vec<u64>>>,
    }

    impl Claims {
        fn new() -> Self {
            Claims {
                inner: MokaStore::new(1 << 20),
                busy: Arc::default(),
                released: Arc::default(),
            }
        }
    }

    impl CacheStore for Claims {
        async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, BoxError> {
            self.inner.get(key).await
        }
        async fn put(&self, key: CacheKey, entry: CacheEntry) -> Result<(), BoxError> {
            self.inner.put(key, entry).await
        }
        async fn remove(&self, key: &CacheKey) -> Result<(), BoxError> {
            self.inner.remove(key).await
        }
        async fn claim_fill(
            &self,
            _key: &CacheKey,
            _hold: Duration,
        ) -> Result<FillClaim, BoxError> {
            let mut busy = self.busy.lock().unwrap();
            if *busy {
                return Ok(FillClaim::Busy);
            }
            *busy = true;
            Ok(FillClaim::Claimed(FillToken::new(7)))
        }
        fn release_fill(&self, _key: &CacheKey, token: FillToken) {
            *self.busy.lock().unwrap() = false;
            self.released.lock().unwrap().push(token.get());
        }
    }

    /// A claim is released when its guard drops, and a waiter claims once
    /// the holder released (without waiting for any expiry).
    #[tokio::test(start_paused = true)]
    async fn a_waiter_claims_once_the_holder_releases() {
        let store = Claims::new();
        let Claim::Fetch(Some(held)) = claim(&store, &key(), Duration::from_secs(5)).await else {
            panic!("the first claim is granted")
        };
        assert!(matches!(
            claim(&store, &key(), Duration::from_secs(5)).await,
            Claim::Busy
        ));
        let key = key();
        let waiting = wait(&store, &key, Duration::from_secs(5), |_| true);
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(500), &mut waiting)
                .await
                .is_err(),
            "waits while the claim is held"
        );
        drop(held);
        assert_eq!(*store.released.lock().unwrap(), [7]);
        let Waited::Fetch(Some(_again), None) = waiting.await else {
            panic!("claims after the release")
        };
    }

    /// A store that cannot answer a claim does not hold the call up.
    #[tokio::test(start_paused = true)]
    async fn a_failing_claim_counts_as_claimed() {
        struct Failing(MokaStore);
        impl CacheStore for Failing {
            async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, BoxError> {
                self.0.get(key).await
            }
            async fn put(&self, key: CacheKey, entry: CacheEntry) -> Result<(), BoxError> {
                self.0.put(key, entry).await
            }
            async fn remove(&self, key: &CacheKey) -> Result<(), BoxError> {
                self.0.remove(key).await
            }
            async fn claim_fill(&self, _: &CacheKey, _: Duration) -> Result<FillClaim, BoxError> {
                Err("down".into())
            }
        }
        // The default method: a store for one process claims at once.
        assert!(matches!(
            claim(&MokaStore::new(1 << 20), &key(), Duration::from_secs(1)).await,
            Claim::Fetch(Some(_))
        ));
        let store = Failing(MokaStore::new(1 << 20));
        assert!(matches!(
            claim(&store, &key(), Duration::from_secs(1)).await,
            Claim::Fetch(None)
        ));
    }
}
