//! The few `Cache-Control` directives girder reads itself:
//! `http-cache-semantics` covers RFC 9111 but not RFC 5861's
//! `stale-while-revalidate` and `stale-if-error`.

use std::time::Duration;

use http::HeaderMap;
use http::header::{CACHE_CONTROL, PRAGMA};

/// Stale-serving permissions and prohibitions of one message.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Directives {
    pub(crate) stale_while_revalidate: Option<Duration>,
    pub(crate) stale_if_error: Option<Duration>,
    /// `must-revalidate`, `no-cache` (or `Pragma: no-cache`): no stale serving.
    pub(crate) forbids_stale: bool,
    /// `no-store`.
    pub(crate) no_store: bool,
    /// `must-understand`: with it, a cache that knows the status code may
    /// store in spite of `no-store` (RFC 9111 §5.2.2.3).
    pub(crate) must_understand: bool,
    /// `immutable` (RFC 8246): the response will not change while fresh.
    pub(crate) immutable: bool,
    /// A request directive that changes what may be served (`max-age`,
    /// `min-fresh`, `max-stale`, `no-cache`, `no-store`, `only-if-cached`,
    /// or `Pragma: no-cache` without `Cache-Control`): the slow, exact
    /// path. Directives nobody knows do not count: RFC 9111 §5.2.3 says to
    /// ignore them, so `Cache-Control: nothing-to-see-here` or `Pragma:
    /// foo` must not change what is served.
    pub(crate) any: bool,
}

impl Directives {
    pub(crate) fn of(headers: &HeaderMap) -> Directives {
        let mut d = Directives::default();
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(text) = value.to_str() else {
                continue;
            };
            for part in text.split(',') {
                let mut kv = part.splitn(2, '=');
                let name = kv.next().unwrap_or_default().trim();
                if name.is_empty() {
                    continue;
                }
                d.any |= REQUEST_DIRECTIVES
                    .iter()
                    .any(|known| name.eq_ignore_ascii_case(known));
                let secs = kv
                    .next()
                    .map(|v| v.trim().trim_matches('"'))
                    .and_then(delta_seconds)
                    .map(Duration::from_secs);
                if name.eq_ignore_ascii_case("stale-while-revalidate") {
                    d.stale_while_revalidate = secs;
                } else if name.eq_ignore_ascii_case("stale-if-error") {
                    d.stale_if_error = secs;
                } else if name.eq_ignore_ascii_case("must-revalidate")
                    || name.eq_ignore_ascii_case("no-cache")
                {
                    d.forbids_stale = true;
                } else if name.eq_ignore_ascii_case("no-store") {
                    d.no_store = true;
                } else if name.eq_ignore_ascii_case("must-understand") {
                    d.must_understand = true;
                } else if name.eq_ignore_ascii_case("immutable") {
                    d.immutable = true;
                }
            }
        }
        if !headers.contains_key(CACHE_CONTROL) {
            // RFC 9111 §5.4: only `Pragma: no-cache` means anything, and
            // only without `Cache-Control`.
            let no_cache = headers.get_all(PRAGMA).iter().any(|value| {
                value.to_str().is_ok_and(|v| {
                    v.split(',')
                        .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
                })
            });
            if no_cache {
                d.any = true;
                d.forbids_stale = true;
            }
        }
        d
    }
}

/// RFC 9111 §1.2.2: a delta-seconds value too large to represent is
/// taken as 2^31; larger values would overflow when added to a time.
pub(crate) const MAX_DELTA_SECONDS: u64 = 1 << 31;

/// A delta-seconds value (digits only), at most [`MAX_DELTA_SECONDS`].
pub(crate) fn delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        text.parse::<u64>()
            .map_or(MAX_DELTA_SECONDS, |v| v.min(MAX_DELTA_SECONDS)),
    )
}

/// A directive value with delta-seconds over 2^31 written as 2^31 (quotes
/// kept); any other value unchanged.
pub(crate) fn clamp_delta_seconds(value: &str) -> std::borrow::Cow<'_, str> {
    let (quoted, inner) = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => (true, inner),
        None => (false, value),
    };
    match delta_seconds(inner) {
        Some(secs) if secs == MAX_DELTA_SECONDS => {
            if quoted {
                format!("\"{secs}\"").into()
            } else {
                secs.to_string().into()
            }
        }
        _ => value.into(),
    }
}

/// The request directives that change what may be served.
const REQUEST_DIRECTIVES: [&str; 6] = [
    "max-age",
    "max-stale",
    "min-fresh",
    "no-cache",
    "no-store",
    "only-if-cached",
];

/// Whether a request's headers carry a directive that changes what may be
/// served (see [`Directives::any`]). Cheap when there is no
/// `Cache-Control` or `Pragma` at all, the common case.
pub(crate) fn in_request(headers: &HeaderMap) -> bool {
    (headers.contains_key(CACHE_CONTROL) || headers.contains_key(PRAGMA))
        && Directives::of(headers).any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stale_windows_and_prohibitions() {
        let mut h = HeaderMap::new();
        h.append(
            CACHE_CONTROL,
            "max-age=1, stale-while-revalidate=30".parse().unwrap(),
        );
        h.append(CACHE_CONTROL, "Stale-If-Error=\"600\"".parse().unwrap());
        let d = Directives::of(&h);
        assert_eq!(d.stale_while_revalidate, Some(Duration::from_secs(30)));
        assert_eq!(d.stale_if_error, Some(Duration::from_secs(600)));
        assert!(!d.forbids_stale && !d.no_store && d.any);

        let mut h = HeaderMap::new();
        h.insert(
            CACHE_CONTROL,
            "no-store, must-revalidate, stale-if-error=x"
                .parse()
                .unwrap(),
        );
        let d = Directives::of(&h);
        assert!(d.forbids_stale && d.no_store && !d.must_understand);
        assert_eq!(d.stale_if_error, None);
        h.insert(CACHE_CONTROL, "must-understand, no-store".parse().unwrap());
        let d = Directives::of(&h);
        assert!(d.no_store && d.must_understand);

        let mut h = HeaderMap::new();
        h.insert(PRAGMA, "no-cache".parse().unwrap());
        assert!(Directives::of(&h).forbids_stale);
        assert!(!Directives::of(&HeaderMap::new()).any);
    }

    /// Pins the defect where any request `Cache-Control` or `Pragma`, even
    /// one with no known directive, sent the call down the exact path
    /// (no stale-while-revalidate, no `Vary` normalisation).
    #[test]
    fn unknown_request_directives_are_ignored() {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, "nothing-to-see-here".parse().unwrap());
        h.insert(PRAGMA, "foo".parse().unwrap());
        assert!(!Directives::of(&h).any && !in_request(&h));
        h.remove(CACHE_CONTROL);
        assert!(!in_request(&h));
        h.insert(PRAGMA, "No-Cache".parse().unwrap());
        assert!(in_request(&h));
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, "nothing, Max-Age=0".parse().unwrap());
        assert!(in_request(&h));
        h.insert(CACHE_CONTROL, "max-age=1, immutable".parse().unwrap());
        assert!(Directives::of(&h).immutable);
    }
}
