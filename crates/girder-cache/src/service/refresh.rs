//! The background refresh of stale-while-revalidate: one per key at a
//! time, on its own task, outside the caller's record and deadline.

use super::*;

impl<St: CacheStore> Shared<St> {
    pub(super) fn refresh_in_background<S, ReqB, ResB>(
        this: &Arc<Self>,
        key: CacheKey,
        inner: S,
        request: &Request<ReqB>,
        entry: CacheEntry,
        index: usize,
    ) where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        ReqB: ReplayBody + Send + 'static,
        ResB: http_body::Body<Data = Bytes> + Send + 'static,
        ResB::Error: Into<BoxError>,
    {
        let Some(mut copy) = girder_core::replay_request(request) else {
            return;
        };
        if !this
            .refreshing
            .lock()
            .expect("refresh set poisoned")
            .insert(key.clone())
        {
            return;
        }
        // The caller has its answer; the refresh is on its own, so it must
        // not write into the caller's record or inherit its deadline.
        copy.extensions_mut().remove::<CallRecord>();
        copy.extensions_mut().remove::<Deadline>();
        let shared = this.clone();
        tracing::debug!(target: "girder::cache", ?key, "stale-while-revalidate: refreshing in the background");
        // Made before the task, so that a task dropped unrun (a runtime
        // shutting down) still frees the key for a later refresh.
        let done = RefreshDone {
            shared: shared.clone(),
            key: key.clone(),
        };
        tokio::spawn(async move {
            let _ = fetch(&shared, key, inner, copy, Some(&entry), Some(index), None).await;
            drop(done);
        });
    }
}

/// Takes a key out of the refreshing set however the refresh ends.
struct RefreshDone<St> {
    shared: Arc<Shared<St>>,
    key: CacheKey,
}

impl<St> Drop for RefreshDone<St> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.shared.refreshing.lock() {
            set.remove(&self.key);
        }
    }
}
