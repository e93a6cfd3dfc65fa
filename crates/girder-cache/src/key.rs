//! Cache keys: method, URI and the caller's credential identity.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

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
#[derive(Clone, PartialEq, Eq)]
pub struct CacheKey {
    method: Method,
    uri: Uri,
    identity: Option<[u8; 16]>,
}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // What `Uri`'s `PartialEq` compares, in a few writes: its own
        // `Hash` feeds the authority to the hasher a byte at a time,
        // several hundred instructions a key, and a call hashes its key up
        // to three times. The authority is compared ignoring ASCII case, so
        // it is hashed folded; `path()` is "/" for an empty path, as `Eq`
        // sees it.
        self.method.hash(state);
        match self.uri.authority() {
            Some(authority) => {
                let bytes = authority.as_str().as_bytes();
                state.write_usize(bytes.len());
                let mut folded = [0u8; 64];
                for chunk in bytes.chunks(folded.len()) {
                    let folded = &mut folded[..chunk.len()];
                    folded.copy_from_slice(chunk);
                    folded.make_ascii_lowercase();
                    state.write(folded);
                }
            }
            None => state.write_u8(0),
        }
        state.write(self.uri.path().as_bytes());
        match self.uri.query() {
            Some(query) => {
                state.write_u8(b'?');
                state.write(query.as_bytes());
            }
            None => state.write_u8(0),
        }
        self.identity.hash(state);
    }
}

impl CacheKey {
    /// The request method of the entry.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URI of the entry, without credential query parameters.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The keyed hash of the credentials, if the request had any.
    pub fn identity(&self) -> Option<&[u8; 16]> {
        self.identity.as_ref()
    }

    /// The key as one readable string: method, URI and the identity hash
    /// in hex. For logs and tests; a store names entries by
    /// [`to_storage_key`](CacheKey::to_storage_key), which equal keys share
    /// (this string keeps the host's case, which `==` ignores).
    pub fn to_key_string(&self) -> String {
        let mut out = format!("{} {}", self.method, self.uri);
        if let Some(id) = &self.identity {
            out.push_str(" #");
            push_hex(&mut out, id);
        }
        out
    }

    /// A name for the entry in a shared store: 64 lower-case hex digits,
    /// the SHA-256 of the key's parts (method, scheme and authority in
    /// lower case, path, query, identity hash), each length-prefixed after
    /// a format tag.
    ///
    /// Equal keys give equal names (the authority's case does not count,
    /// as for `==`), in every process and on every platform, and the name
    /// changes only with a major version of this crate. It holds no secret
    /// (the identity is already a keyed hash, and credential query
    /// parameters are not part of the key) and no URI in clear either, so
    /// a store's key listing shows nothing of the calls. A store adds its
    /// own prefix. Processes that share entries must share
    /// [`identity_secret`](crate::CacheConfigBuilder::identity_secret), or
    /// authenticated calls get different names in each.
    pub fn to_storage_key(&self) -> String {
        use sha2::Digest;
        let mut hash = Sha256::new();
        let mut field = |tag: u8, bytes: &[u8]| {
            hash.update([tag]);
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        field(b'v', b"girder-cache storage key 1");
        field(b'm', self.method.as_str().as_bytes());
        if let Some(scheme) = self.uri.scheme_str() {
            field(b's', scheme.to_ascii_lowercase().as_bytes());
        }
        if let Some(authority) = self.uri.authority() {
            field(b'a', authority.as_str().to_ascii_lowercase().as_bytes());
        }
        field(b'p', self.uri.path().as_bytes());
        if let Some(query) = self.uri.query() {
            field(b'q', query.as_bytes());
        }
        if let Some(identity) = &self.identity {
            field(b'i', identity);
        }
        let mut out = String::with_capacity(64);
        push_hex(&mut out, &hash.finalize());
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
    pub(crate) fn with_uri(&self, uri: Uri) -> CacheKey {
        CacheKey {
            method: self.method.clone(),
            uri,
            identity: self.identity,
        }
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.uri.path();
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
///
/// A client sends the same few credentials over and over, so the identity
/// of each recent credential is remembered (up to [`MEMO_CAPACITY`]),
/// keyed by the credential bytes themselves and compared in full: an HMAC
/// per hit would cost more than the rest of the hit. The memo lives in
/// memory only and is never printed.
pub(crate) struct KeyMaker {
    /// The HMAC, keyed once (its inner and outer pads already hashed).
    keyed: Hmac<Sha256>,
    headers: Vec<HeaderName>,
    query: Vec<String>,
    memo: Mutex<HashMap<Box<[u8]>, [u8; 16], foldhash::fast::RandomState>>,
}

/// How many credentials' identities are remembered; the memo starts over
/// when full.
const MEMO_CAPACITY: usize = 256;

impl fmt::Debug for KeyMaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaker")
            .field("keyed", &"[redacted]")
            .field("headers", &self.headers)
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

impl KeyMaker {
    pub(crate) fn new(secret: [u8; 32], headers: Vec<HeaderName>, query: Vec<String>) -> Self {
        KeyMaker {
            keyed: <Hmac<Sha256> as Mac>::new_from_slice(&secret).expect("HMAC takes any key"),
            headers,
            query,
            memo: Mutex::default(),
        }
    }

    /// The credential headers, whose values the identity covers.
    pub(crate) fn credential_headers(&self) -> &[HeaderName] {
        &self.headers
    }

    /// The key of a request.
    pub(crate) fn key(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> CacheKey {
        // The credential material, length-prefixed so boundaries count.
        let mut material: Vec<u8> = Vec::new();
        let mut add = |tag: u8, parts: &[&[u8]]| {
            material.push(tag);
            for part in parts {
                material.extend_from_slice(&(part.len() as u64).to_be_bytes());
                material.extend_from_slice(part);
            }
        };
        for name in &self.headers {
            for value in headers.get_all(name) {
                add(b'h', &[name.as_str().as_bytes(), value.as_bytes()]);
            }
        }
        let uri = match (uri.query(), self.query.is_empty()) {
            (Some(query), false) => {
                let mut kept = String::with_capacity(query.len());
                let mut stripped = false;
                for pair in query.split('&') {
                    let name = pair.split('=').next().unwrap_or_default();
                    if self.query.iter().any(|q| q == name) {
                        add(b'q', &[pair.as_bytes()]);
                        stripped = true;
                    } else {
                        if !kept.is_empty() {
                            kept.push('&');
                        }
                        kept.push_str(pair);
                    }
                }
                if stripped {
                    let path = uri.path();
                    let path_and_query = if kept.is_empty() {
                        path.to_owned()
                    } else {
                        format!("{path}?{kept}")
                    };
                    let mut parts = uri.clone().into_parts();
                    parts.path_and_query = path_and_query.parse().ok();
                    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
                } else {
                    uri.clone()
                }
            }
            _ => uri.clone(),
        };
        let identity = (!material.is_empty()).then(|| self.identity(material));
        CacheKey {
            method: method.clone(),
            uri,
            identity,
        }
    }

    fn identity(&self, material: Vec<u8>) -> [u8; 16] {
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = memo.get(material.as_slice()) {
            return *id;
        }
        let mut mac = self.keyed.clone();
        mac.update(&material);
        let full = mac.finalize().into_bytes();
        let mut id = [0u8; 16];
        id.copy_from_slice(&full[..16]);
        if memo.len() >= MEMO_CAPACITY {
            memo.clear();
        }
        memo.insert(material.into_boxed_slice(), id);
        id
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
        assert_eq!(
            maker()
                .key(
                    &Method::GET,
                    &"https://api.test/x?api_key=1".parse().unwrap(),
                    &HeaderMap::new()
                )
                .uri(),
            "https://api.test/x"
        );
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

    /// Pins the storage key's stability: a shared store's entries must be
    /// found by every process and every later version, so this value may
    /// change only with a major version. Pins too that equal keys (the
    /// host's case differs) get one name, which `to_key_string` does not.
    #[test]
    fn the_storage_key_is_stable_and_follows_equality() {
        let maker = KeyMaker::new(
            [7; 32],
            vec![HeaderName::from_static("x-api-key")],
            vec!["api_key".into()],
        );
        let h = headers(&[("x-api-key", "k1")]);
        let key = |uri: &str| maker.key(&Method::GET, &uri.parse().unwrap(), &h);
        let a = key("https://API.test/items?page=2&api_key=s3cr3t");
        let b = key("https://api.test/items?page=2&api_key=s3cr3t");
        assert_eq!(a, b);
        assert_ne!(a.to_key_string(), b.to_key_string());
        assert_eq!(a.to_storage_key(), b.to_storage_key());
        assert_eq!(
            a.to_storage_key(),
            "6d1d2c7778d647e907e8e16789f44cecb50afdb8399ea4148ea40e5b9af1690e"
        );
        let name = a.to_storage_key();
        assert!(name.len() == 64 && name.bytes().all(|c| c.is_ascii_hexdigit()));
        // Every part counts.
        let others = [
            key("https://api.test/items?page=3&api_key=s3cr3t"),
            key("http://api.test/items?page=2&api_key=s3cr3t"),
            key("https://api.test/items/?page=2&api_key=s3cr3t"),
            key("https://api.test/items?page=2&api_key=other"),
            key("https://api.test/items?page=2"),
            a.with_method(Method::HEAD),
        ];
        for other in &others {
            assert_ne!(other.to_storage_key(), name, "{other:?}");
        }
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

    #[test]
    fn the_memo_gives_the_same_identities_as_the_hash_and_stays_bounded() {
        let memo = maker();
        let uri: Uri = "https://api.test/a".parse().unwrap();
        let key_for = |m: &KeyMaker, i: usize| {
            let mut h = HeaderMap::new();
            h.insert("x-api-key", format!("key-{i}").parse().unwrap());
            m.key(&Method::GET, &uri, &h)
        };
        let first: Vec<_> = (0..600).map(|i| key_for(&memo, i)).collect();
        assert!(memo.memo.lock().unwrap().len() <= MEMO_CAPACITY);
        for (i, key) in first.iter().enumerate() {
            // A fresh maker with the same secret has no memo: same answers.
            assert_eq!(&key_for(&maker(), i), key);
            assert_eq!(&key_for(&memo, i), key);
        }
        let distinct: std::collections::HashSet<_> = first.iter().collect();
        assert_eq!(distinct.len(), 600);
    }
}
