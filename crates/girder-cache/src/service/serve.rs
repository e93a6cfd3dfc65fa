//! The store as the service uses it (a failing store is a miss), and
//! responses served from stored ones.

use super::*;

impl<St: CacheStore> Shared<St> {
    pub(super) async fn get(&self, key: &CacheKey) -> Option<CacheEntry> {
        match self.store.get(key).await {
            Ok(entry) => entry,
            Err(error) => {
                tracing::warn!(target: "girder::cache", %error, "store get failed; treated as a miss");
                None
            }
        }
    }

    pub(super) async fn put(&self, key: CacheKey, entry: CacheEntry) {
        if let Err(error) = self.store.put(key, entry).await {
            tracing::warn!(target: "girder::cache", %error, "store put failed; nothing stored");
        }
    }

    pub(super) async fn invalidate(&self, key: &CacheKey) {
        for method in [Method::GET, Method::HEAD] {
            let key = key.with_method(method);
            tracing::debug!(target: "girder::cache", ?key, "invalidated");
            if let Err(error) = self.store.remove(&key).await {
                tracing::warn!(target: "girder::cache", %error, "store remove failed");
            }
        }
    }

    /// A response built from a stored one, with its `Age`.
    pub(super) fn serve<B>(
        &self,
        stored: &StoredResponse,
        now: SystemTime,
        status: CacheStatus,
        request: &Request<B>,
    ) -> Response<Body> {
        note(request, status);
        tracing::debug!(target: "girder::cache", %status, method = %request.method(), "served from cache");
        from_stored(stored, now, status, request.method())
    }

    /// Stores `new` in front of the variants of `existing` it does not
    /// replace.
    pub(super) async fn store_variant(
        &self,
        key: CacheKey,
        existing: Option<&CacheEntry>,
        new: StoredResponse,
        request_headers: &HeaderMap,
        now: SystemTime,
    ) {
        let mut variants = vec![new];
        if let Some(existing) = existing {
            variants.extend(
                existing
                    .variants()
                    .iter()
                    .filter(|v| !v.vary.matches(request_headers))
                    .take(self.config.max_variants - 1)
                    .cloned(),
            );
        }
        let retain = self.retain_for(&variants, now);
        self.put(key, CacheEntry::new(variants, retain)).await;
    }
}

impl<St: CacheStore> Shared<St> {
    pub(super) async fn invalidate_exact(&self, key: &CacheKey) {
        if let Err(error) = self.store.remove(key).await {
            tracing::warn!(target: "girder::cache", %error, "store remove failed");
        }
    }
}

impl<St> Shared<St> {
    /// What a response stored under `key` is built with.
    pub(super) fn store_context<'a>(&'a self, key: &'a CacheKey) -> StoreContext<'a> {
        StoreContext {
            uri: key.uri(),
            keyed: self.keys.credential_headers(),
            ttl_override: self.config.ttl_override,
            options: self.options,
        }
    }
}

/// A stored response served to a request (`method`), with its `Age`.
pub(super) fn from_stored(
    stored: &StoredResponse,
    now: SystemTime,
    status: CacheStatus,
    method: &Method,
) -> Response<Body> {
    let age = stored.policy.age(now).as_secs();
    response_of(
        (stored.status, stored.version, &stored.headers, &stored.body),
        method,
        Some(age),
        status,
    )
}

/// A response from a stored head and body: no body for HEAD, `Age` when
/// given, the cache status in the extensions.
pub(super) fn response_of(
    (code, version, headers, body): (StatusCode, http::Version, &HeaderMap, &Bytes),
    method: &Method,
    age: Option<u64>,
    status: CacheStatus,
) -> Response<Body> {
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body.clone())
    };
    let mut response = Response::new(body);
    *response.status_mut() = code;
    *response.version_mut() = version;
    *response.headers_mut() = headers.clone();
    if let Some(age) = age {
        response
            .headers_mut()
            .insert(header::AGE, HeaderValue::from(age));
    }
    with_status(response, status)
}

pub(super) fn share(stored: &StoredResponse, head: &http::request::Parts) -> SharedResponse {
    SharedResponse {
        status: stored.status,
        version: stored.version,
        headers: stored.headers.clone(),
        body: stored.body.clone(),
        request_headers: head.headers.clone(),
        vary: stored.vary.clone(),
    }
}
