//! Requests the cache answers itself from a fresh stored response: the
//! caller's own conditionals (RFC 9111 §4.3.2) and a single byte range of
//! a stored complete response (RFC 9111 §3.4, RFC 9110 §14).

use girder_core::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::entry::StoredResponse;

/// What a request asks beyond "the response".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    /// Nothing: the ordinary path.
    Plain,
    /// `If-None-Match`, `If-Modified-Since` and/or one byte range: answered
    /// from a fresh stored response, forwarded otherwise.
    Answerable,
    /// Preconditions the cache does not evaluate (`If-Match`,
    /// `If-Unmodified-Since`, `If-Range`) or ranges it does not serve
    /// (several, or on another method): straight to the server, and the
    /// answer is not stored.
    Forward,
}

impl Special {
    pub(crate) fn of(method: &Method, headers: &HeaderMap) -> Special {
        if headers.contains_key(header::IF_MATCH)
            || headers.contains_key(header::IF_UNMODIFIED_SINCE)
            || headers.contains_key(header::IF_RANGE)
        {
            return Special::Forward;
        }
        let mut special = Special::Plain;
        if headers.contains_key(header::RANGE) {
            if method != Method::GET || range_spec(headers).is_none() {
                return Special::Forward;
            }
            special = Special::Answerable;
        }
        if headers.contains_key(header::IF_NONE_MATCH)
            || headers.contains_key(header::IF_MODIFIED_SINCE)
        {
            special = Special::Answerable;
        }
        special
    }
}

/// One `bytes=` range: `first-last`, `first-` or `-suffix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeSpec {
    From(u64, Option<u64>),
    Suffix(u64),
}

fn range_spec(headers: &HeaderMap) -> Option<RangeSpec> {
    let mut values = headers.get_all(header::RANGE).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (first, last) = set.trim().split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if first.trim().is_empty() {
        return number(last).filter(|n| *n > 0).map(RangeSpec::Suffix);
    }
    let first = number(first)?;
    let last = if last.trim().is_empty() {
        None
    } else {
        Some(number(last).filter(|l| *l >= first)?)
    };
    Some(RangeSpec::From(first, last))
}

/// The inclusive byte span `spec` selects of a body of `len` bytes, when
/// satisfiable.
fn span(spec: RangeSpec, len: u64) -> Option<(u64, u64)> {
    if len == 0 {
        return None;
    }
    match spec {
        RangeSpec::From(first, _) if first >= len => None,
        RangeSpec::From(first, last) => Some((first, last.map_or(len - 1, |l| l.min(len - 1)))),
        RangeSpec::Suffix(n) => Some((len.saturating_sub(n), len - 1)),
    }
}

/// Whether the stored response can answer the request itself: every
/// conditional can be evaluated, and a range only from a complete `200`
/// whose range is satisfiable (anything else goes to the server).
pub(crate) fn can_answer(stored: &StoredResponse, headers: &HeaderMap) -> bool {
    match range_spec(headers) {
        None if headers.contains_key(header::RANGE) => false,
        None => true,
        Some(spec) => {
            stored.status == StatusCode::OK
                && !stored.headers.contains_key(header::CONTENT_ENCODING)
                && span(spec, stored.body.len() as u64).is_some()
        }
    }
}

/// RFC 9110 §13.1.2 / RFC 9111 §4.3.2: whether the caller's conditional
/// says its copy is current, so a `304` answers it. `If-None-Match` takes
/// precedence over `If-Modified-Since`.
fn not_modified(stored: &StoredResponse, headers: &HeaderMap) -> bool {
    if headers.contains_key(header::IF_NONE_MATCH) {
        let Some(etag) = stored
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
        return headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|tag| tag.trim() == "*" || opaque(tag) == opaque(etag));
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::date::parse);
    let modified = [header::LAST_MODIFIED, header::DATE]
        .iter()
        .find_map(|name| stored.headers.get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(crate::date::parse);
    match (since, modified) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// The answer to an [`Special::Answerable`] request from `full`, the
/// stored response as it would be served (with its `Age`): a `304`, a
/// `206` with the range, or `full` itself.
pub(crate) fn answer(
    stored: &StoredResponse,
    headers: &HeaderMap,
    mut full: Response<Body>,
) -> Response<Body> {
    if not_modified(stored, headers) {
        *full.status_mut() = StatusCode::NOT_MODIFIED;
        *full.body_mut() = Body::empty();
        // RFC 9110 §15.4.5: the fields a 200 would carry, without those
        // describing a body the 304 does not have.
        for name in [header::CONTENT_LENGTH, header::CONTENT_RANGE] {
            full.headers_mut().remove(name);
        }
        return full;
    }
    let len = stored.body.len() as u64;
    if let Some((first, last)) = range_spec(headers).and_then(|spec| span(spec, len))
        && stored.status == StatusCode::OK
    {
        // Indices fit: `last < len`, the body's length as a usize.
        let body = stored.body.slice(first as usize..=last as usize);
        *full.status_mut() = StatusCode::PARTIAL_CONTENT;
        let head = full.headers_mut();
        head.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        if let Ok(range) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")) {
            head.insert(header::CONTENT_RANGE, range);
        }
        *full.body_mut() = Body::from(body);
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn ranges_parse_and_clamp() {
        let spec = |v| range_spec(&h(&[("range", v)]));
        assert_eq!(spec("bytes=0-1"), Some(RangeSpec::From(0, Some(1))));
        assert_eq!(spec("Bytes = 5-"), Some(RangeSpec::From(5, None)));
        assert_eq!(spec("bytes=-3"), Some(RangeSpec::Suffix(3)));
        for bad in [
            "bytes=0-1,3-4",
            "bytes=2-1",
            "bytes=-0",
            "items=0-1",
            "bytes=a-b",
        ] {
            assert_eq!(spec(bad), None, "{bad}");
        }
        assert_eq!(span(RangeSpec::From(0, Some(99)), 11), Some((0, 10)));
        assert_eq!(span(RangeSpec::Suffix(99), 11), Some((0, 10)));
        assert_eq!(span(RangeSpec::From(11, None), 11), None);
        assert_eq!(span(RangeSpec::From(0, None), 0), None);
    }

    #[test]
    fn classification() {
        let get = Method::GET;
        assert_eq!(Special::of(&get, &h(&[])), Special::Plain);
        assert_eq!(
            Special::of(&get, &h(&[("if-none-match", "\"a\"")])),
            Special::Answerable
        );
        assert_eq!(
            Special::of(&get, &h(&[("range", "bytes=0-1")])),
            Special::Answerable
        );
        assert_eq!(
            Special::of(&Method::HEAD, &h(&[("range", "bytes=0-1")])),
            Special::Forward
        );
        assert_eq!(
            Special::of(&get, &h(&[("if-match", "\"a\"")])),
            Special::Forward
        );
        assert_eq!(
            Special::of(&get, &h(&[("range", "bytes=0-1,4-5")])),
            Special::Forward
        );
    }
}
