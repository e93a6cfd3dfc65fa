//! What a store keeps: the stored responses of one key.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode, Uri, Version};
use http_cache_semantics::{CacheOptions, CachePolicy};

use crate::directives::Directives;
use crate::policy::{self, PolicyInputs};
use crate::vary::Vary;

/// The stored responses of one [`CacheKey`](crate::CacheKey): one per
/// `Vary` variant, most recently stored first.
///
/// Cheap to clone (one reference count). A store that keeps bytes uses
/// [`encode`](CacheEntry::encode) and [`decode`](CacheEntry::decode) (see
/// [`encoding`](crate::encoding)); entries are otherwise made by the cache
/// only, so that what a variant derives (its policy, its freshness) always
/// agrees with what it keeps.
#[derive(Clone)]
pub struct CacheEntry {
    variants: Arc<[StoredResponse]>,
    retain_for: Duration,
    weight: u32,
}

impl CacheEntry {
    pub(crate) fn new(variants: Vec<StoredResponse>, retain_for: Duration) -> Self {
        let weight = variants
            .iter()
            .map(StoredResponse::weight)
            .fold(0u64, u64::saturating_add);
        CacheEntry {
            variants: variants.into(),
            retain_for,
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
        }
    }

    /// The stored responses, most recently stored first.
    pub fn variants(&self) -> &[StoredResponse] {
        &self.variants
    }

    /// How long a store should keep this entry: the longest time any
    /// variant can still be served or revalidated. Stores with their own
    /// expiry (Redis TTLs, moka) use it; the cache checks freshness itself
    /// whatever the store does. It counts from when the entry was made,
    /// and is encoded as it was.
    pub fn retain_for(&self) -> Duration {
        self.retain_for
    }

    /// The entry's approximate size in bytes (bodies, headers and a fixed
    /// overhead per variant), which bounds the default store.
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

impl fmt::Debug for CacheEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheEntry")
            .field("variants", &self.variants)
            .field("retain_for", &self.retain_for)
            .field("weight", &self.weight)
            .finish()
    }
}
/// One stored response: its head, its body bytes and its RFC 9111 policy.
#[derive(Clone)]
pub struct StoredResponse {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) policy: Arc<CachePolicy>,
    /// What the policy is built from (kept for the encoding).
    pub(crate) inputs: Arc<PolicyInputs>,
    pub(crate) vary: Vary,
    pub(crate) response_time: SystemTime,
    pub(crate) fresh_until: SystemTime,
    pub(crate) directives: Directives,
}
/// What the cache adds to an exchange to store it: the key's URI and
/// credential headers, the TTL override and the policy options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoreContext<'a> {
    pub(crate) uri: &'a Uri,
    pub(crate) keyed: &'a [HeaderName],
    pub(crate) ttl_override: Option<Duration>,
    pub(crate) options: CacheOptions,
}

/// Header fields a cache must not store (RFC 9111 §3.1): hop-by-hop
/// fields and those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    const HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authentication-info",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
    ];
    let listed: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP {
        headers.remove(name);
    }
}
impl StoredResponse {
    /// Builds a stored response from an exchange: the request (`request`)
    /// and the response received at `response_time`.
    pub(crate) fn new(
        request: &http::request::Parts,
        context: &StoreContext<'_>,
        status: StatusCode,
        version: Version,
        mut headers: HeaderMap,
        body: Bytes,
        response_time: SystemTime,
    ) -> StoredResponse {
        strip_hop_by_hop(&mut headers);
        let vary = Vary::of(&headers, &request.headers, context.keyed);
        let inputs = PolicyInputs {
            method: request.method.clone(),
            uri: context.uri.clone(),
            headers: policy::request_headers(&request.headers, &vary),
            ttl_override: context.ttl_override.map(|ttl| ttl.as_secs()),
            options: context.options,
        };
        StoredResponse::assemble(
            status,
            version,
            headers,
            body,
            vary,
            Arc::new(inputs),
            response_time,
        )
    }

    /// A stored response from what it keeps; what it derives (the policy,
    /// freshness, directives) is computed here, the one place, so a decoded
    /// entry is served exactly as the original.
    pub(crate) fn assemble(
        status: StatusCode,
        version: Version,
        headers: HeaderMap,
        body: Bytes,
        vary: Vary,
        inputs: Arc<PolicyInputs>,
        response_time: SystemTime,
    ) -> StoredResponse {
        let policy = inputs.policy(status, &headers, response_time);
        // Delta-seconds are clamped to 2^31 (policy.rs), so this only
        // fails for a time near the end of `SystemTime`: never fresh then.
        let fresh_until = response_time
            .checked_add(policy.time_to_live(response_time))
            .unwrap_or(response_time);
        StoredResponse {
            status,
            version,
            vary,
            directives: Directives::of(&headers),
            headers,
            body,
            policy: Arc::new(policy),
            inputs,
            response_time,
            fresh_until,
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stored response headers, as the origin sent them (updated by
    /// later 304s).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body bytes.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The RFC 9111 policy (from `http-cache-semantics`).
    pub fn policy(&self) -> &CachePolicy {
        &self.policy
    }

    /// When the response was received.
    pub fn response_time(&self) -> SystemTime {
        self.response_time
    }

    /// Until when the response is fresh.
    pub fn fresh_until(&self) -> SystemTime {
        self.fresh_until
    }

    /// Whether the response is fresh at `now`.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        now < self.fresh_until
    }

    /// How long the response has been stale at `now` (zero while fresh).
    pub fn staleness(&self, now: SystemTime) -> Duration {
        now.duration_since(self.fresh_until).unwrap_or_default()
    }

    /// Whether the origin gave a validator (`ETag` or `Last-Modified`).
    pub fn has_validator(&self) -> bool {
        self.headers.contains_key(http::header::ETAG)
            || self.headers.contains_key(http::header::LAST_MODIFIED)
    }

    fn weight(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum();
        (self.body.len() + headers + 512) as u64
    }
}

impl fmt::Debug for StoredResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may hold cookies or tokens: names only.
        f.debug_struct("StoredResponse")
            .field("status", &self.status)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .field("fresh_until", &self.fresh_until)
            .finish()
    }
}
