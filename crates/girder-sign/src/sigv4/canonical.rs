//! The canonical request's parts (AWS SigV4).

use ::hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::encode::{percent_decode, percent_encode};

/// The canonical URI: normalised (dot segments and empty segments
/// removed, a trailing slash kept) unless `normalize` is off, then each
/// segment percent-encoded.
pub(super) fn canonical_uri(out: &mut String, path: &str, normalize: bool) {
    if path.is_empty() {
        out.push('/');
        return;
    }
    if !normalize {
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
    out.push('/');
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        percent_encode(out, segment.as_bytes(), false);
    }
    if trailing && !segments.is_empty() {
        out.push('/');
    }
}

pub(super) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Trims and collapses runs of spaces (and folds) to one space.
pub(super) fn canonical_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split_ascii_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

pub(super) fn canonical_query(out: &mut String, query: &str) {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let mut key = String::new();
            percent_encode(&mut key, &percent_decode(k), false);
            let mut value = String::new();
            percent_encode(&mut value, &percent_decode(v), false);
            (key, value)
        })
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}
