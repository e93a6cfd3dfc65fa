//! Partition keys: which share of per-host or per-route state a request uses.
//!
//! The circuit breaker keeps one circuit per key and the rate limiter one
//! quota per key. A [`Partition`] turns a request into a [`PartitionKey`]:
//!
//! - [`Partition::by_authority`] (the default): one partition per
//!   `host:port`, from the URI or else the `Host` header;
//! - [`Partition::by_route`]: authority, method and path template. The
//!   template comes from a [`PathTemplate`] extension when the caller set
//!   one; otherwise path segments that look like identifiers (all digits,
//!   UUIDs, long hex strings) are replaced by `{id}`, so that `/users/17`
//!   and `/users/18` share a partition and the key space stays bounded;
//! - [`Partition::by_fn`]: any function of the request head;
//! - [`Partition::global`]: one partition for everything.
//!
//! ```
//! use girder_core::partition::{Partition, PartitionKey, PathTemplate};
//!
//! let req = |uri: &str| http::Request::get(uri).body(()).unwrap();
//!
//! let by_host = Partition::default();
//! assert_eq!(by_host.key(&req("https://a.test/x")), by_host.key(&req("https://a.test/y")));
//! assert_ne!(by_host.key(&req("https://a.test/x")), by_host.key(&req("https://b.test/x")));
//!
//! let by_route = Partition::by_route();
//! assert_eq!(by_route.key(&req("https://a.test/users/17")), by_route.key(&req("https://a.test/users/18")));
//! assert_eq!(by_route.key(&req("https://a.test/users/17")).to_string(), "a.test GET /users/{id}");
//!
//! let mut templated = req("https://a.test/repos/tokio-rs/tower");
//! templated.extensions_mut().insert(PathTemplate::new("/repos/{owner}/{repo}"));
//! assert_eq!(by_route.key(&templated).to_string(), "a.test GET /repos/{owner}/{repo}");
//!
//! let by_tenant = Partition::by_fn(|head| {
//!     let tenant = head.headers().get("x-tenant").and_then(|v| v.to_str().ok()).unwrap_or("none");
//!     PartitionKey::custom(tenant)
//! });
//! let tenant_req = http::Request::get("/").header("x-tenant", "acme").body(()).unwrap();
//! assert_eq!(by_tenant.key(&tenant_req), PartitionKey::custom("acme"));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use http::uri::Authority;
use http::{Extensions, HeaderMap, Method, Request, Uri, Version};

/// A borrowed view of a request without its body, for functions that must
/// not depend on the body type (partition functions, fault predicates).
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    method: &'a Method,
    uri: &'a Uri,
    version: Version,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RequestHead<'a> {
    /// The head of `request`.
    pub fn of<B>(request: &'a Request<B>) -> Self {
        RequestHead {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    /// The method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions.
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// The authority from the URI, or else from the `Host` header;
    /// userinfo (`user:password@`) is never part of it.
    pub fn authority(&self) -> Option<Authority> {
        if let Some(authority) = self.uri.authority() {
            return Some(without_userinfo(authority));
        }
        let host = self.headers.get(http::header::HOST)?;
        Authority::try_from(host.as_bytes())
            .ok()
            .map(|a| without_userinfo(&a))
    }
}

/// `authority` without its userinfo: a partition key's text reaches error
/// messages, logs and shared stores, so a password in a URL must not.
fn without_userinfo(authority: &Authority) -> Authority {
    match authority.as_str().rsplit_once('@') {
        None => authority.clone(),
        // No host after the userinfo: a key of its own that holds nothing.
        Some((_, host)) => {
            Authority::try_from(host).unwrap_or_else(|_| Authority::from_static("-"))
        }
    }
}

/// The route a request belongs to, set by the caller that built it (for
/// example `/repos/{owner}/{repo}`), used by [`Partition::by_route`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathTemplate(Cow<'static, str>);

impl PathTemplate {
    /// A path template.
    pub fn new(template: impl Into<Cow<'static, str>>) -> Self {
        PathTemplate(template.into())
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The template [`Partition::by_route`] infers for `path` when the
    /// caller set none: segments that look like identifiers (all digits,
    /// UUIDs, long hex strings) become `{id}`.
    ///
    /// ```
    /// use girder_core::partition::PathTemplate;
    /// assert_eq!(PathTemplate::infer("/users/17/posts").as_str(), "/users/{id}/posts");
    /// ```
    pub fn infer(path: &str) -> Self {
        PathTemplate(Cow::Owned(normalize_path(path)))
    }

    /// What [`infer`](Self::infer) would give, written straight to a
    /// formatter (no allocation): for span names and log lines.
    ///
    /// ```
    /// use girder_core::partition::PathTemplate;
    /// let shown = PathTemplate::display_inferred("/users/17/posts").to_string();
    /// assert_eq!(shown, PathTemplate::infer("/users/17/posts").as_str());
    /// ```
    pub fn display_inferred(path: &str) -> impl fmt::Display + '_ {
        Inferred(path)
    }
}

struct Inferred<'a>(&'a str);

impl fmt::Display for Inferred<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_inferred(self.0, f)
    }
}

fn write_inferred(path: &str, out: &mut impl fmt::Write) -> fmt::Result {
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.write_char('/')?;
        }
        out.write_str(if looks_like_id(segment) {
            "{id}"
        } else {
            segment
        })?;
    }
    Ok(())
}

/// The key of one partition. Cheap to clone and hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey(Repr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    Global,
    // `Authority` compares and hashes case-insensitively.
    Authority(Option<Authority>),
    Route {
        authority: Option<Authority>,
        method: Method,
        template: Arc<str>,
    },
    Custom(Arc<str>),
}

impl Hash for Repr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Repr::Global => {}
            Repr::Authority(authority) => hash_authority(authority.as_ref(), state),
            Repr::Route {
                authority,
                method,
                template,
            } => {
                hash_authority(authority.as_ref(), state);
                method.hash(state);
                template.hash(state);
            }
            Repr::Custom(key) => key.hash(state),
        }
    }
}

/// Hashes an authority as `Authority`'s `Eq` compares it (ASCII case
/// folded), in a few writes: `Authority`'s own `Hash` writes it a byte at a
/// time, which a call paid several times over (breaker, rate limit, retry
/// budget).
fn hash_authority<H: Hasher>(authority: Option<&Authority>, state: &mut H) {
    let Some(authority) = authority else {
        state.write_u8(0);
        return;
    };
    let bytes = authority.as_str().as_bytes();
    state.write_usize(bytes.len());
    let mut buffer = [0u8; 64];
    for chunk in bytes.chunks(buffer.len()) {
        let folded = &mut buffer[..chunk.len()];
        folded.copy_from_slice(chunk);
        folded.make_ascii_lowercase();
        state.write(folded);
    }
}

impl PartitionKey {
    /// The key of [`Partition::global`].
    pub fn global() -> Self {
        PartitionKey(Repr::Global)
    }

    /// A key of the caller's making.
    pub fn custom(key: impl Into<Arc<str>>) -> Self {
        PartitionKey(Repr::Custom(key.into()))
    }

    /// The key for one authority (its userinfo, if any, left out).
    pub fn authority(authority: Authority) -> Self {
        PartitionKey(Repr::Authority(Some(without_userinfo(&authority))))
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = |a: &Option<Authority>| a.as_ref().map_or("-", |a| a.as_str()).to_owned();
        match &self.0 {
            Repr::Global => f.write_str("*"),
            Repr::Authority(authority) => f.write_str(&host(authority)),
            Repr::Route {
                authority,
                method,
                template,
            } => {
                write!(f, "{} {method} {template}", host(authority))
            }
            Repr::Custom(key) => f.write_str(key),
        }
    }
}

type KeyFn = dyn Fn(RequestHead<'_>) -> PartitionKey + Send + Sync;

/// How requests are split into partitions; see the [module docs](self).
///
/// Default: [`Partition::by_authority`].
#[derive(Clone, Default)]
pub struct Partition(Strategy);

#[derive(Clone, Default)]
enum Strategy {
    Global,
    #[default]
    Authority,
    Route,
    Fn(Arc<KeyFn>),
}

impl fmt::Debug for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            Strategy::Global => "global",
            Strategy::Authority => "by_authority",
            Strategy::Route => "by_route",
            Strategy::Fn(_) => "by_fn",
        };
        f.debug_tuple("Partition").field(&name).finish()
    }
}

impl Partition {
    /// One partition for all requests.
    pub fn global() -> Self {
        Partition(Strategy::Global)
    }

    /// One partition per authority (`host:port`).
    pub fn by_authority() -> Self {
        Partition(Strategy::Authority)
    }

    /// One partition per authority, method and path template.
    pub fn by_route() -> Self {
        Partition(Strategy::Route)
    }

    /// Partitions chosen by `f`.
    pub fn by_fn<F>(f: F) -> Self
    where
        F: Fn(RequestHead<'_>) -> PartitionKey + Send + Sync + 'static,
    {
        Partition(Strategy::Fn(Arc::new(f)))
    }

    /// The partition key of `request`.
    pub fn key<B>(&self, request: &Request<B>) -> PartitionKey {
        self.key_of(RequestHead::of(request))
    }

    /// The partition key of a request head.
    pub fn key_of(&self, head: RequestHead<'_>) -> PartitionKey {
        match &self.0 {
            Strategy::Global => PartitionKey::global(),
            Strategy::Authority => PartitionKey(Repr::Authority(head.authority())),
            Strategy::Route => {
                let template: Arc<str> = match head.extensions().get::<PathTemplate>() {
                    Some(template) => template.as_str().into(),
                    None => normalize_path(head.uri().path()).into(),
                };
                PartitionKey(Repr::Route {
                    authority: head.authority(),
                    method: head.method().clone(),
                    template,
                })
            }
            Strategy::Fn(f) => f(head),
        }
    }
}

/// Replaces path segments that look like identifiers by `{id}`.
fn normalize_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    write_inferred(path, &mut out).expect("writing to a String cannot fail");
    out
}

fn looks_like_id(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let all_digits = bytes.iter().all(u8::is_ascii_digit);
    let uuid = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    let long_hex = bytes.len() >= 16 && bytes.iter().all(u8::is_ascii_hexdigit);
    all_digits || uuid || long_hex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    /// Pins a leak: a URL's password was part of the key's text, which
    /// reaches `CircuitOpen` messages and would reach a shared store.
    #[test]
    fn userinfo_never_reaches_a_key() {
        for p in [Partition::by_authority(), Partition::by_route()] {
            let with = p.key(&get("https://ann:pa55word@API.test:8443/x"));
            let without = p.key(&get("https://API.test:8443/x"));
            assert_eq!(with, without);
            assert!(!with.to_string().contains("pa55word"), "{with}");
        }
        let key = PartitionKey::authority("ann:pa55word@api.test".parse().unwrap());
        assert_eq!(key.to_string(), "api.test");
    }

    #[test]
    fn keys_that_are_equal_hash_equal() {
        use std::hash::BuildHasher;
        let hasher = std::collections::hash_map::RandomState::new();
        let long = format!("http://{}.TEST/", "Ab".repeat(70));
        for p in [Partition::by_authority(), Partition::by_route()] {
            for (a, b) in [
                ("http://API.test/a", "http://api.test/a"),
                (long.as_str(), long.to_lowercase().as_str()),
            ] {
                let (a, b) = (p.key(&get(a)), p.key(&get(b)));
                assert_eq!(a, b);
                assert_eq!(hasher.hash_one(&a), hasher.hash_one(&b));
            }
        }
        let by_authority = Partition::by_authority();
        assert_ne!(
            hasher.hash_one(by_authority.key(&get("http://a.test/"))),
            hasher.hash_one(by_authority.key(&get("http://b.test/")))
        );
    }

    #[test]
    fn authority_is_case_insensitive_and_falls_back_to_host() {
        let p = Partition::by_authority();
        assert_eq!(
            p.key(&get("http://API.test/a")),
            p.key(&get("http://api.test/b"))
        );
        let relative = Request::get("/a")
            .header("host", "api.test")
            .body(())
            .unwrap();
        assert_eq!(p.key(&relative), p.key(&get("http://api.test/")));
        assert_ne!(
            p.key(&get("http://api.test:8080/")),
            p.key(&get("http://api.test/"))
        );
    }

    #[test]
    fn no_authority_and_no_host_share_one_partition() {
        let p = Partition::by_authority();
        assert_eq!(p.key(&get("/a")), p.key(&get("/b")));
        assert_eq!(p.key(&get("/a")).to_string(), "-");
    }

    #[test]
    fn route_keys_separate_methods_and_normalise_ids() {
        let p = Partition::by_route();
        let post = Request::post("http://a.test/users/1").body(()).unwrap();
        assert_ne!(p.key(&post), p.key(&get("http://a.test/users/1")));
        for (path, expected) in [
            ("/users/123/posts/9", "/users/{id}/posts/{id}"),
            ("/o/550e8400-e29b-41d4-a716-446655440000", "/o/{id}"),
            ("/blobs/deadbeefdeadbeef", "/blobs/{id}"),
            ("/v2/users/me", "/v2/users/me"),
            ("/", "/"),
            ("/cafe", "/cafe"),
        ] {
            let key = p.key(&get(&format!("http://a.test{path}")));
            assert_eq!(key.to_string(), format!("a.test GET {expected}"), "{path}");
        }
    }

    #[test]
    fn global_puts_everything_together() {
        let p = Partition::global();
        assert_eq!(
            p.key(&get("http://a.test/")),
            p.key(&get("http://b.test/x"))
        );
        assert_eq!(format!("{p:?}"), "Partition(\"global\")");
    }
}
