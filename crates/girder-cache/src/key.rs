//! Cache keys: method, URI and the caller's credential identity.

use std::fmt;

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, Method, Uri};
use sha2::Sha256;

/// The key of one stored entry: method, URI and credential identity.
///
/// The identity is a keyed hash (HMAC-SHA-256, truncated to 128 bits) of the
/// request's credential headers (`Authorization`, `X-API-Key`, …) and
/// credential query parameters, so two identities never share an entry and
/// the key holds no secret: credential query parameters are taken out of the
/// URI before it goes into the key. A request without credentials has no
/// identity.
///
/// `Debug` shows the method, the path and the first bytes of the identity
/// hash, never the query (which may carry other secrets).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    method: Method,
    uri: Box<str>,
    identity: Option<[u8; 16]>,
}

impl CacheKey {
    /// The request method of the entry.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URI of the entry, without credential query parameters.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The keyed hash of the credentials, if the request had any.
    pub fn identity(&self) -> Option<&[u8; 16]> {
        self.identity.as_ref()
    }

    /// The key as one string, for stores keyed by strings (Redis): method,
    /// URI and the identity hash in hex.
    pub fn to_key_string(&self) -> String {
        let mut out = format!("{} {}", self.method, self.uri);
        if let Some(id) = &self.identity {
            out.push_str(" #");
            push_hex(&mut out, id);
        }
        out
    }

    /// The same key for another method (the HEAD twin of a GET entry).
    pub(crate) fn with_method(&self, method: Method) -> CacheKey {
        CacheKey {
            method,
            uri: self.uri.clone(),
            identity: self.identity,
        }
    }

    /// The same key for another URI (a `Location` to invalidate).
    pub(crate) fn with_uri(&self, uri: &str) -> CacheKey {
        CacheKey {
            method: self.method.clone(),
            uri: uri.into(),
            identity: self.identity,
        }
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.uri.split('?').next().unwrap_or_default();
        let mut id = String::new();
        if let Some(bytes) = &self.identity {
            push_hex(&mut id, &bytes[..4]);
        }
        f.debug_struct("CacheKey")
            .field("method", &self.method)
            .field("path", &path)
            .field("identity", &id)
            .finish()
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

/// Computes keys: which headers and query parameters carry credentials,
/// and the secret the identity hash is keyed with.
#[derive(Clone)]
pub(crate) struct KeyMaker {
    secret: [u8; 32],
    headers: Vec<HeaderName>,
    query: Vec<String>,
}

impl fmt::Debug for KeyMaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaker")
            .field("secret", &"[redacted]")
            .field("headers", &self.headers)
            .field("query", &self.query)
            .finish()
    }
}

impl KeyMaker {
    pub(crate) fn new(secret: [u8; 32], headers: Vec<HeaderName>, query: Vec<String>) -> Self {
        KeyMaker {
            secret,
            headers,
            query,
        }
    }

    /// The key of a request.
    pub(crate) fn key(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> CacheKey {
        let mut mac: Option<Hmac<Sha256>> = None;
        let mut feed = |part: &[u8]| {
            mac.get_or_insert_with(|| {
                <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).expect("HMAC takes any key")
            })
            .update(part);
        };
        for name in &self.headers {
            for value in headers.get_all(name) {
                feed(name.as_str().as_bytes());
                feed(b":");
                feed(&(value.len() as u64).to_be_bytes());
                feed(value.as_bytes());
            }
        }
        let uri_text = match (uri.query(), self.query.is_empty()) {
            (Some(query), false) => {
                let mut kept = String::with_capacity(query.len());
                for pair in query.split('&') {
                    let name = pair.split('=').next().unwrap_or_default();
                    if self.query.iter().any(|q| q == name) {
                        feed(b"?");
                        feed(&(pair.len() as u64).to_be_bytes());
                        feed(pair.as_bytes());
                    } else {
                        if !kept.is_empty() {
                            kept.push('&');
                        }
                        kept.push_str(pair);
                    }
                }
                let base = uri.to_string();
                let base = base.split('?').next().unwrap_or_default();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{kept}")
                }
            }
            _ => uri.to_string(),
        };
        let identity = mac.map(|mac| {
            let full = mac.finalize().into_bytes();
            let mut id = [0u8; 16];
            id.copy_from_slice(&full[..16]);
            id
        });
        CacheKey {
            method: method.clone(),
            uri: uri_text.into_boxed_str(),
            identity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maker() -> KeyMaker {
        KeyMaker::new(
            [7; 32],
            vec![
                http::header::AUTHORIZATION,
                HeaderName::from_static("x-api-key"),
            ],
            vec!["api_key".into()],
        )
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, http::HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn identities_differ_and_hold_no_secret() {
        let uri: Uri = "https://api.test/items?page=2&api_key=s3cr3t"
            .parse()
            .unwrap();
        let a = maker().key(
            &Method::GET,
            &uri,
            &headers(&[("authorization", "Bearer alpha")]),
        );
        let b = maker().key(
            &Method::GET,
            &uri,
            &headers(&[("authorization", "Bearer beta")]),
        );
        let none = maker().key(
            &Method::GET,
            &"https://api.test/items?page=2".parse().unwrap(),
            &HeaderMap::new(),
        );
        assert_ne!(a, b);
        assert!(a.identity().is_some() && none.identity().is_none());
        assert_eq!(a.uri(), "https://api.test/items?page=2");
        for text in [a.to_key_string(), format!("{a:?}")] {
            assert!(
                !text.contains("s3cr3t") && !text.contains("alpha"),
                "{text}"
            );
        }
        // The query key alone is an identity too, and differs from none.
        let q = maker().key(&Method::GET, &uri, &HeaderMap::new());
        assert!(q.identity().is_some());
        assert_eq!(q.uri(), none.uri());
        assert_ne!(q, none);
    }

    #[test]
    fn same_credentials_same_key_and_secret_matters() {
        let uri: Uri = "https://api.test/a".parse().unwrap();
        let h = headers(&[("x-api-key", "k1")]);
        assert_eq!(
            maker().key(&Method::GET, &uri, &h),
            maker().key(&Method::GET, &uri, &h)
        );
        let other = KeyMaker::new([8; 32], vec![HeaderName::from_static("x-api-key")], vec![]);
        assert_ne!(
            maker().key(&Method::GET, &uri, &h),
            other.key(&Method::GET, &uri, &h)
        );
        // Header boundaries are length-prefixed: "ab"+"c" differs from "a"+"bc".
        let split1 = headers(&[("x-api-key", "ab"), ("x-api-key", "c")]);
        let split2 = headers(&[("x-api-key", "a"), ("x-api-key", "bc")]);
        assert_ne!(
            maker().key(&Method::GET, &uri, &split1),
            maker().key(&Method::GET, &uri, &split2)
        );
    }
}
