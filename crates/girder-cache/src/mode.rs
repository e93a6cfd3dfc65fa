//! Per-request cache modes, as in the Fetch standard.

/// How one request uses the cache, set as a request extension (the Fetch
/// standard's `RequestCache`). Without one, [`CacheMode::Default`].
///
/// ```
/// use girder_cache::CacheMode;
///
/// let mut req = http::Request::get("https://api.test/me").body(()).unwrap();
/// CacheMode::NoCache.apply(&mut req);
/// assert_eq!(CacheMode::of(&req), CacheMode::NoCache);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum CacheMode {
    /// RFC 9111: serve fresh responses, revalidate stale ones, store what
    /// may be stored.
    #[default]
    Default,
    /// Neither read nor write the cache.
    NoStore,
    /// Go to the server without reading the cache; store the response.
    Reload,
    /// Revalidate any stored response with the server before using it,
    /// sending `Cache-Control: max-age=0` when the request has no
    /// `Cache-Control` (as Fetch does). A fresh `immutable` response
    /// (RFC 8246) is served without asking.
    NoCache,
    /// Use any stored response, fresh or stale, without asking the server;
    /// go to the server only on a miss.
    ForceCache,
    /// Use any stored response, fresh or stale; on a miss answer 504
    /// Gateway Timeout without asking the server.
    OnlyIfCached,
}

impl CacheMode {
    /// The mode set on `request`, or [`CacheMode::Default`].
    pub fn of<B>(request: &http::Request<B>) -> CacheMode {
        request
            .extensions()
            .get::<CacheMode>()
            .copied()
            .unwrap_or_default()
    }

    /// Sets this mode on `request`.
    pub fn apply<B>(self, request: &mut http::Request<B>) {
        request.extensions_mut().insert(self);
    }
}
