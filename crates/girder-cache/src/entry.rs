//! What a store keeps: the stored responses of one key.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use http_cache_semantics::{CacheOptions, CachePolicy};

use crate::directives::Directives;

/// The stored responses of one [`CacheKey`](crate::CacheKey): one per
/// `Vary` variant, most recently stored first.
///
/// Cheap to clone (one reference count).
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
    /// whatever the store does.
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
    pub(crate) vary: Vary,
    pub(crate) response_time: SystemTime,
    pub(crate) fresh_until: SystemTime,
    pub(crate) directives: Directives,
}

/// The request header values a stored response was selected by.
#[derive(Clone, Debug)]
pub(crate) enum Vary {
    /// `Vary: *`: matches no later request.
    Star,
    /// The nominated headers and the (normalised) values the original
    /// request had.
    Headers(Box<[Selected]>),
}

/// One nominated header and its normalised value in the original request
/// (`None`: the request did not have it).
type Selected = (HeaderName, Option<Box<[u8]>>);

/// A header's lines as one list, without the whitespace around its
/// members: `a, b` and `a,b` on two lines select the same variant.
fn normalised(headers: &HeaderMap, name: &HeaderName) -> Option<Box<[u8]>> {
    let mut out: Vec<u8> = Vec::new();
    let mut any = false;
    for value in headers.get_all(name) {
        for member in value.as_bytes().split(|b| *b == b',') {
            let member = member.trim_ascii();
            if any {
                out.push(b',');
            }
            any = true;
            out.extend_from_slice(member);
        }
    }
    any.then(|| out.into_boxed_slice())
}

impl Vary {
    fn of(response: &HeaderMap, request: &HeaderMap) -> Vary {
        let mut selected: Vec<Selected> = Vec::new();
        for value in response.get_all(http::header::VARY) {
            let Ok(text) = value.to_str() else {
                return Vary::Star;
            };
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if name == "*" {
                    return Vary::Star;
                }
                let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                    return Vary::Star;
                };
                if selected.iter().any(|(n, _)| n == name) {
                    continue;
                }
                let values = normalised(request, &name);
                selected.push((name, values));
            }
        }
        Vary::Headers(selected.into())
    }

    /// Whether a request with `headers` selects this response.
    pub(crate) fn matches(&self, headers: &HeaderMap) -> bool {
        match self {
            Vary::Star => false,
            Vary::Headers(selected) => selected
                .iter()
                .all(|(name, values)| normalised(headers, name) == *values),
        }
    }

    /// `headers` with each header this Vary nominates in its normalised
    /// form, for `http-cache-semantics`, which compares nominated headers
    /// byte for byte: given normalised headers on both sides it agrees with
    /// [`Vary::matches`].
    pub(crate) fn normalise_request(&self, headers: &HeaderMap) -> HeaderMap {
        let mut out = headers.clone();
        if let Vary::Headers(selected) = self {
            for (name, _) in selected.iter() {
                if let Some(value) =
                    normalised(headers, name).and_then(|v| HeaderValue::from_bytes(&v).ok())
                {
                    out.insert(name.clone(), value);
                }
            }
        }
        out
    }

    /// Whether two requests select the same variant under this Vary.
    pub(crate) fn same_selection(&self, a: &HeaderMap, b: &HeaderMap) -> bool {
        match self {
            Vary::Star => false,
            Vary::Headers(selected) => selected
                .iter()
                .all(|(name, _)| normalised(a, name) == normalised(b, name)),
        }
    }
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

/// RFC 9111 §5.2.2.3: `must-understand` lets a cache that understands the
/// status code ignore `no-store`. The statuses are those
/// `http-cache-semantics` understands.
fn must_understand_honoured(status: StatusCode, line: &str) -> bool {
    UNDERSTOOD.contains(&status.as_u16())
        && line
            .split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("must-understand"))
}

/// The response headers as `http-cache-semantics` should read them:
/// directive names in lower case (they are case-insensitive), dates in
/// any of the three HTTP-date forms rewritten as IMF-fixdate (it reads
/// only that one), an invalid `Expires` as already expired, and `Age` as
/// its first member.
pub(crate) fn normalise_for_policy(status: StatusCode, headers: &HeaderMap) -> HeaderMap {
    use http::header::{AGE, CACHE_CONTROL, DATE, EXPIRES, LAST_MODIFIED};
    let mut out = headers.clone();
    if out.contains_key(CACHE_CONTROL) {
        let lines: Vec<HeaderValue> = headers
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|line| {
                let understood = must_understand_honoured(status, line);
                let parts: Vec<String> = line
                    .split(',')
                    .filter(|part| !(understood && part.trim().eq_ignore_ascii_case("no-store")))
                    .map(|part| match part.split_once('=') {
                        Some((name, value)) => {
                            format!("{}={}", name.trim().to_ascii_lowercase(), value.trim())
                        }
                        None => part.trim().to_ascii_lowercase(),
                    })
                    .collect();
                HeaderValue::from_str(&parts.join(", "))
                    .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
            })
            .collect();
        out.remove(CACHE_CONTROL);
        for line in lines {
            out.append(CACHE_CONTROL, line);
        }
    }
    let date = |value: Option<&HeaderValue>| {
        value
            .and_then(|v| v.to_str().ok())
            .and_then(crate::date::parse)
            .map(|t| {
                HeaderValue::from_str(&httpdate::fmt_http_date(t))
                    .expect("an HTTP date is a valid header value")
            })
    };
    if out.contains_key(EXPIRES) {
        let single = headers.get_all(EXPIRES).iter().count() == 1;
        let expires = date(headers.get(EXPIRES))
            .filter(|_| single)
            .unwrap_or_else(|| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
        out.insert(EXPIRES, expires);
    }
    for name in [DATE, LAST_MODIFIED] {
        if out.contains_key(&name) {
            match date(headers.get(&name)) {
                Some(value) => {
                    out.insert(name, value);
                }
                None => {
                    out.remove(name);
                }
            }
        }
    }
    if let Some(age) = headers.get(AGE) {
        let first = age
            .to_str()
            .ok()
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
        match first.and_then(|v| HeaderValue::from_str(v).ok()) {
            Some(value) => {
                out.insert(AGE, value);
            }
            None => {
                out.remove(AGE);
            }
        }
    }
    out
}

/// The statuses `http-cache-semantics` understands (it stores no other).
const UNDERSTOOD: [u16; 14] = [
    200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501,
];

/// The status the policy is computed for. RFC 9111 §3 lets a cache store a
/// final response of any status when it has explicit freshness (`max-age`,
/// `Expires`) or is marked `public` (which allows a heuristic lifetime,
/// §4.2.2); `http-cache-semantics` stores only the statuses it knows, so a
/// response of another status that qualifies is judged as a 200, which is
/// storable on exactly those grounds. 206 (partial content is never
/// combined here) and 304 (an answer to a conditional) keep their own.
fn policy_status(status: StatusCode, normalised: &HeaderMap) -> StatusCode {
    use http::header::{CACHE_CONTROL, EXPIRES};
    let code = status.as_u16();
    if UNDERSTOOD.contains(&code) || code < 200 || code == 206 || code == 304 {
        return status;
    }
    let explicit = normalised.contains_key(EXPIRES)
        || normalised
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|d| d.split('=').next().unwrap_or_default().trim())
            .any(|d| d == "max-age" || d == "public");
    if explicit { StatusCode::OK } else { status }
}

impl StoredResponse {
    /// Builds a stored response from an exchange. `policy_headers` are the
    /// response headers the freshness is computed from (the served ones,
    /// or those with the TTL override's `max-age`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        request: &http::request::Parts,
        status: StatusCode,
        version: Version,
        mut headers: HeaderMap,
        policy_headers: Option<HeaderMap>,
        body: Bytes,
        response_time: SystemTime,
        options: CacheOptions,
    ) -> StoredResponse {
        strip_hop_by_hop(&mut headers);
        let vary = Vary::of(&headers, &request.headers);
        let mut policy_request = http::Request::new(());
        *policy_request.method_mut() = request.method.clone();
        *policy_request.uri_mut() = request.uri.clone();
        *policy_request.headers_mut() = vary.normalise_request(&request.headers);
        let (policy_request, ()) = policy_request.into_parts();
        let mut head = http::Response::new(());
        let normalised = normalise_for_policy(status, policy_headers.as_ref().unwrap_or(&headers));
        *head.status_mut() = policy_status(status, &normalised);
        *head.headers_mut() = normalised;
        let (parts, ()) = head.into_parts();
        let policy = CachePolicy::new_options(&policy_request, &parts, response_time, options);
        let fresh_until = response_time + policy.time_to_live(response_time);
        StoredResponse {
            status,
            version,
            vary,
            directives: Directives::of(&headers),
            headers,
            body,
            policy: Arc::new(policy),
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
