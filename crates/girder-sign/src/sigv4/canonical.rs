//! The canonical request's parts (AWS SigV4), written to any [`Sink`]:
//! a `String` for [`SigV4Output`](super::SigV4Output), or straight into
//! the hash when signing a request.

use std::borrow::Cow;

use ::hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::encode::{Sink, percent_decode, percent_encode, unreserved};

/// One signed header line: the lower-case name and the value as sent.
pub(super) type Line<'a> = (Cow<'a, str>, &'a str);

/// The canonical URI: normalised (dot segments and empty segments
/// removed, a trailing slash kept) unless `normalize` is off, then each
/// segment percent-encoded.
pub(super) fn canonical_uri(out: &mut impl Sink, path: &str, normalize: bool) {
    if path.is_empty() {
        out.put("/");
        return;
    }
    if !normalize || is_normal(path) {
        percent_encode(out, path.as_bytes(), true);
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let last = path.rsplit('/').next().unwrap_or("");
    let trailing = path.ends_with('/') || last == "." || last == "..";
    out.put("/");
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.put("/");
        }
        percent_encode(out, segment.as_bytes(), false);
    }
    if trailing && !segments.is_empty() {
        out.put("/");
    }
}

/// Whether normalising `path` leaves it as it is: it starts with `/` and
/// has no empty, `.` or `..` segment (but may end with `/`).
fn is_normal(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "." | ".." => return false,
            "" if !last => return false,
            _ => {}
        }
    }
    true
}

pub(super) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Appends the header value with spaces trimmed and runs of spaces (and
/// folds) collapsed to one space.
fn write_canonical_value(out: &mut impl Sink, value: &str) {
    for (i, word) in value.split_ascii_whitespace().enumerate() {
        if i > 0 {
            out.put(" ");
        }
        out.put(word);
    }
}

/// `name:value[,value…]\n` per name; `lines` sorted by name, lines of
/// one name in the order sent.
pub(super) fn write_canonical_headers(out: &mut impl Sink, lines: &[Line<'_>]) {
    for (i, (name, value)) in lines.iter().enumerate() {
        let first = i == 0 || lines[i - 1].0 != *name;
        let last = lines.get(i + 1).is_none_or(|next| next.0 != *name);
        if first {
            out.put(name);
            out.put(":");
        } else {
            out.put(",");
        }
        write_canonical_value(out, value);
        if last {
            out.put("\n");
        }
    }
}

/// The names of `lines` (sorted), each once, joined by `;`.
pub(super) fn write_signed_headers(out: &mut impl Sink, lines: &[Line<'_>]) {
    let mut previous: Option<&str> = None;
    for (name, _) in lines {
        if previous == Some(name) {
            continue;
        }
        if previous.is_some() {
            out.put(";");
        }
        out.put(name);
        previous = Some(name);
    }
}

/// A query key or value as signed: decoded, then encoded again; one with
/// unreserved characters only is that already, and is not copied.
fn canonical_component(text: &str) -> Cow<'_, str> {
    if text.bytes().all(unreserved) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    percent_encode(&mut out, &percent_decode(text), false);
    Cow::Owned(out)
}

pub(super) fn canonical_query(out: &mut impl Sink, query: &str) {
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (canonical_component(k), canonical_component(v))
        })
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.put("&");
        }
        out.put(k);
        out.put("=");
        out.put(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general normalisation, for comparison with the shortcut.
    fn normalized(path: &str) -> String {
        let mut out = String::new();
        let mut segments: Vec<&str> = Vec::new();
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => segments.push(s),
            }
        }
        let last = path.rsplit('/').next().unwrap_or("");
        let trailing = path.ends_with('/') || last == "." || last == "..";
        out.push('/');
        for (i, segment) in segments.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            percent_encode(&mut out, segment.as_bytes(), false);
        }
        if trailing && !segments.is_empty() {
            out.push('/');
        }
        out
    }

    #[test]
    fn paths_already_normal_are_encoded_as_they_are() {
        for path in [
            "/",
            "/a",
            "/a/",
            "/a/b",
            "/a b/c%20d",
            "a/b",
            "//",
            "/a//b",
            "/./a",
            "/a/.",
            "/a/..",
            "/../a",
            "/a/./b/",
            "/.a/b.",
            "/...",
            "/a/b//",
        ] {
            let mut out = String::new();
            canonical_uri(&mut out, path, true);
            assert_eq!(out, normalized(path), "{path}");
        }
    }

    #[test]
    fn query_components_are_copied_only_when_they_change() {
        assert!(matches!(canonical_component("abc-1.2_~"), Cow::Borrowed(_)));
        assert_eq!(canonical_component("a b+%2f%zz"), "a%20b%2B%2F%25zz");
        let mut out = String::new();
        canonical_query(&mut out, "b=2&a=%7e&&a=1&c");
        assert_eq!(out, "a=1&a=~&b=2&c=");
    }
}
