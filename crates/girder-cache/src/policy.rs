//! The RFC 9111 policy of a stored response (`http-cache-semantics`): what
//! it is built from, and the headers as it must read them.
//!
//! A stored response keeps the policy's inputs ([`PolicyInputs`]) rather
//! than only the policy, so that an encoded entry rebuilds exactly the
//! policy the in-memory one had, and so that the policy never sees a
//! credential: it is built from the key's URI (credential query parameters
//! taken out) and from the few request headers it reads (`Host`,
//! `Cache-Control` and the headers `Vary` nominates, credentials excepted).

use std::time::SystemTime;

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_cache_semantics::{CacheOptions, CachePolicy};

use crate::directives::clamp_delta_seconds;
use crate::vary::Vary;

/// What the policy of a stored response is built from.
#[derive(Clone, Debug)]
pub(crate) struct PolicyInputs {
    /// The request method.
    pub(crate) method: Method,
    /// The key's URI: the request's, without credential query parameters.
    pub(crate) uri: Uri,
    /// The request headers the policy reads (see [`request_headers`]).
    pub(crate) headers: HeaderMap,
    /// The TTL override's `max-age`, in seconds, for a response that says
    /// nothing about caching.
    pub(crate) ttl_override: Option<u64>,
    pub(crate) options: CacheOptions,
}

/// The request headers the policy reads: `Host`, `Cache-Control` (for
/// `no-store`) and the values `Vary` remembered. Nothing else, so no
/// credential: `http-cache-semantics` reads `Authorization` only as a
/// shared cache, and this one is private.
pub(crate) fn request_headers(request: &HeaderMap, vary: &Vary) -> HeaderMap {
    use http::header::{CACHE_CONTROL, HOST};
    let mut out = HeaderMap::new();
    if let Some(host) = request.get(HOST) {
        out.insert(HOST, host.clone());
    }
    for line in request.get_all(CACHE_CONTROL) {
        out.append(CACHE_CONTROL, line.clone());
    }
    vary.remembered(&mut out);
    out
}

impl PolicyInputs {
    /// The policy of a response with `status` and (stored) `headers`
    /// received at `response_time`.
    pub(crate) fn policy(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        response_time: SystemTime,
    ) -> CachePolicy {
        use http::header::{CACHE_CONTROL, EXPIRES, PRAGMA};
        let with_ttl;
        let source = match self.ttl_override {
            Some(secs)
                if !(headers.contains_key(CACHE_CONTROL)
                    || headers.contains_key(EXPIRES)
                    || headers.contains_key(PRAGMA)) =>
            {
                let mut with = headers.clone();
                with.insert(
                    CACHE_CONTROL,
                    HeaderValue::from_str(&format!("max-age={secs}"))
                        .unwrap_or_else(|_| HeaderValue::from_static("no-cache")),
                );
                with_ttl = with;
                &with_ttl
            }
            _ => headers,
        };
        let normalised = normalise_for_policy(status, source);
        let mut head = http::Response::new(());
        *head.status_mut() = policy_status(status, &normalised);
        *head.headers_mut() = normalised;
        let (response, ()) = head.into_parts();
        let mut request = http::Request::new(());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        let (request, ()) = request.into_parts();
        CachePolicy::new_options(&request, &response, response_time, self.options)
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
/// only that one), an invalid `Expires` as already expired, `Age` as
/// its first member, and delta-seconds (`max-age`, `Age`, …) over 2^31 as
/// 2^31, as RFC 9111 §1.2.2 says: it adds them to a `SystemTime`.
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
                            let value = clamp_delta_seconds(value.trim());
                            format!("{}={}", name.trim().to_ascii_lowercase(), value)
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
        match first.and_then(|v| HeaderValue::from_str(&clamp_delta_seconds(v)).ok()) {
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
