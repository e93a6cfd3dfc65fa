//! Cookies (feature `cookies`): a store that keeps what responses set with
//! `Set-Cookie` and sends it back in `Cookie`, as reqwest's
//! `cookie_store(true)` and `cookie_provider(..)` do, with reqwest's
//! [`CookieStore`] trait and [`Jar`] (the `cookie_store` crate underneath).
//!
//! ```
//! use std::sync::Arc;
//! use girder::Client;
//! use girder::cookie::{CookieStore, Jar};
//! use girder_test::{Reply, TestServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), girder::BoxError> {
//! let server = TestServer::start().await;
//! server.route("/login", Reply::ok().header("set-cookie", "session=s3ss10n; Path=/; HttpOnly"));
//! server.route("/me", Reply::ok().json(r#"{"name":"ann"}"#));
//!
//! let jar = Arc::new(Jar::default());
//! let client = Client::builder()
//!     .base_url(server.url("/"))
//!     .cookie_provider(jar.clone()) // or `.cookie_store(true)` for a jar of its own
//!     .build()?;
//! client.post("login").send().await?;
//! client.get("me").send().await?;
//!
//! assert_eq!(server.requests_to("/me")[0].header("cookie"), Some("session=s3ss10n"));
//! let me = girder::Url::parse(&server.url("/me"))?;
//! assert_eq!(jar.cookies(&me).unwrap(), "session=s3ss10n");
//! # Ok(())
//! # }
//! ```
//!
//! # Where the store is read and written
//!
//! The `Client` stacks the store's layer just inside redirects and above
//! auth and signing (ARCHITECTURE.md, "Canonical order"), so it runs for
//! every request that goes out: each attempt and each redirect hop gets
//! the cookies of its own URL, and a `Set-Cookie` on a `3xx` is stored
//! before the next hop is sent; a signer sees the `Cookie` header and
//! covers it. A response the cache answers never reaches the store: a
//! cache hit stores its `Set-Cookie` fields no second time. The cache
//! sits above, so it does not see the store's cookies either: it keys an
//! entry on the caller's own `Cookie` header only, and a response that
//! depends on the session should not be stored (`no-store`) when the
//! session can change under one client.
//!
//! As in reqwest, a request that carries a `Cookie` header of its own (or
//! a default header named `Cookie`) is sent with that header alone: the
//! store adds nothing to it. Every response's `Set-Cookie` fields are
//! given to the store all the same.
//!
//! # Credentials
//!
//! The `Cookie` header the store adds is marked sensitive where it is
//! added (never logged, never indexed by HTTP/2). Which cookies go where
//! is [RFC 6265]'s matching, done by the `cookie_store` crate: a cookie
//! goes only to the host that set it (or the domain its `Domain`
//! attribute names, which must contain that host), under its `Path`, and
//! a `Secure` one only over HTTPS or to a loopback host (as browsers
//! treat `localhost`). A redirect to another host therefore carries none
//! of the first host's cookies, but cookies do not tell ports apart
//! (RFC 6265 §8.5): a cookie of `127.0.0.1` goes to every port of it.
//! Public suffixes are not refused (as in reqwest: a `Domain=co.uk`
//! cookie is kept); a [`CookieStore`] of your own can refuse them.
//!
//! A `Set-Cookie` field that does not parse, names another domain or sets
//! an expiry in the past is ignored, never an error, as browsers and
//! reqwest do; `Max-Age=0` or a past `Expires` deletes the stored cookie.
//!
//! [RFC 6265]: https://www.rfc-editor.org/rfc/rfc6265

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use cookie_store::RawCookie;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::Layer;
use tower_service::Service;
use url::Url;

/// Where a client keeps its cookies: given the `Set-Cookie` fields of each
/// response, asked for the `Cookie` header of each request. reqwest's
/// trait, so that a store written for reqwest (reqwest_cookie_store's, a
/// persistent one) ports with a change of path.
///
/// ```
/// use std::sync::Arc;
/// use girder::Url;
/// use girder::cookie::CookieStore;
/// use girder::header::HeaderValue;
///
/// /// Sends one fixed session cookie and keeps nothing.
/// struct Fixed(HeaderValue);
///
/// impl CookieStore for Fixed {
///     fn set_cookies(&self, _: &mut dyn Iterator<Item = &HeaderValue>, _: &Url) {}
///     fn cookies(&self, url: &Url) -> Option<HeaderValue> {
///         (url.host_str() == Some("api.example.com")).then(|| self.0.clone())
///     }
/// }
///
/// let client = girder::Client::builder()
///     .cookie_provider(Arc::new(Fixed(HeaderValue::from_static("session=abc"))))
///     .build();
/// # let _ = client;
/// ```
pub trait CookieStore: Send + Sync {
    /// Stores the `Set-Cookie` fields of a response to `url`.
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url);

    /// The `Cookie` header for a request to `url`, or `None` to send none.
    fn cookies(&self, url: &Url) -> Option<HeaderValue>;
}

/// The default [`CookieStore`]: an RFC 6265 store in memory (the
/// `cookie_store` crate's, behind a lock), as reqwest's `Jar`. Cookies
/// live as long as the jar; a session cookie (no `Max-Age`, no
/// `Expires`) is not dropped until then. Share one between clients with
/// an `Arc` and [`cookie_provider`](crate::ClientBuilder::cookie_provider).
///
/// `Debug` prints how many cookies it holds, never a name or a value.
#[derive(Default)]
pub struct Jar(RwLock<cookie_store::CookieStore>);

impl Jar {
    /// Adds a cookie, written as a `Set-Cookie` field would be, as if
    /// `url` had set it (so the same rules apply: a `Domain` that does not
    /// contain `url`'s host is refused). A cookie that does not parse is
    /// ignored, as in reqwest.
    ///
    /// ```
    /// use girder::Url;
    /// use girder::cookie::{CookieStore, Jar};
    ///
    /// let jar = Jar::default();
    /// let url = Url::parse("https://api.example.com/")?;
    /// jar.add_cookie_str("session=abc; Domain=example.com", &url);
    /// let other = Url::parse("https://www.example.com/")?;
    /// assert_eq!(jar.cookies(&other).unwrap(), "session=abc");
    /// # Ok::<_, girder::BoxError>(())
    /// ```
    pub fn add_cookie_str(&self, cookie: &str, url: &Url) {
        let cookie = RawCookie::parse(cookie).ok().map(RawCookie::into_owned);
        self.write().store_response_cookies(cookie.into_iter(), url);
    }

    // A writer that panicked left the map whole (cookie_store changes it
    // one insert at a time), so a poisoned lock is used as it is.
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, cookie_store::CookieStore> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, cookie_store::CookieStore> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CookieStore for Jar {
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        let cookies = cookie_headers.filter_map(|value| {
            let text = std::str::from_utf8(value.as_bytes()).ok()?;
            RawCookie::parse(text).ok().map(RawCookie::into_owned)
        });
        self.write().store_response_cookies(cookies, url);
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        let header = self
            .read()
            .get_request_values(url)
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        if header.is_empty() {
            return None;
        }
        HeaderValue::try_from(header).ok()
    }
}

impl fmt::Debug for Jar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jar")
            .field("cookies", &self.read().iter_unexpired().count())
            .finish()
    }
}

/// Cookie store settings (feature `cookies`).
impl crate::ClientBuilder {
    #[cfg_attr(docsrs, doc(cfg(feature = "cookies")))]
    /// Keeps cookies in a [`Jar`] of the client's own (`true`), or none
    /// (`false`), as reqwest's `cookie_store`. `true` after
    /// [`cookie_provider`](Self::cookie_provider) replaces the provider
    /// with a new jar. See [`crate::cookie`].
    ///
    /// Default: no cookie store; `Set-Cookie` fields are ignored.
    pub fn cookie_store(mut self, enable: bool) -> Self {
        self.cookies = enable.then(|| Arc::new(Jar::default()) as Arc<dyn CookieStore>);
        self
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "cookies")))]
    /// Keeps cookies in `store` (a [`Jar`] you share between clients or
    /// fill beforehand, or a store of your own), as reqwest's
    /// `cookie_provider`. See [`crate::cookie`].
    ///
    /// Default: no cookie store.
    pub fn cookie_provider<C: CookieStore + 'static>(mut self, store: Arc<C>) -> Self {
        self.cookies = Some(store);
        self
    }
}

/// Adds the store's cookies to each request and stores each response's:
/// see [`Cookies`].
#[derive(Clone)]
pub(crate) struct CookieLayer {
    store: Arc<dyn CookieStore>,
}

impl CookieLayer {
    pub(crate) fn new(store: Arc<dyn CookieStore>) -> Self {
        CookieLayer { store }
    }
}

impl fmt::Debug for CookieLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for CookieLayer {
    type Service = Cookies<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Cookies {
            inner,
            store: self.store.clone(),
        }
    }
}

/// A request without a `Cookie` header gets the store's cookies for its
/// URL (marked sensitive); a response's `Set-Cookie` fields go to the
/// store under the URL of the request that got it. A request whose URI is
/// not an absolute URL is sent as it is.
///
/// # Clone
///
/// Clones share the store.
#[derive(Clone)]
pub(crate) struct Cookies<S> {
    inner: S,
    store: Arc<dyn CookieStore>,
}

impl<S: fmt::Debug> fmt::Debug for Cookies<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cookies")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for Cookies<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let Ok(url) = Url::parse(&request.uri().to_string()) else {
            return ResponseFuture {
                inner: self.inner.call(request),
                store: None,
            };
        };
        if !request.headers().contains_key(COOKIE)
            && let Some(mut cookies) = self.store.cookies(&url)
        {
            cookies.set_sensitive(true);
            request.headers_mut().insert(COOKIE, cookies);
        }
        ResponseFuture {
            inner: self.inner.call(request),
            store: Some((self.store.clone(), url)),
        }
    }
}

pin_project! {
    /// The response future of [`Cookies`]: the inner future, then the
    /// response's `Set-Cookie` fields stored.
    pub(crate) struct ResponseFuture<F> {
        #[pin]
        inner: F,
        store: Option<(Arc<dyn CookieStore>, Url)>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some((store, url))) = (&result, this.store.take()) {
            let mut fields = response.headers().get_all(SET_COOKIE).iter().peekable();
            if fields.peek().is_some() {
                store.set_cookies(&mut fields, &url);
            }
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use girder_core::Body;
    use girder_test::{MockService, Reply};
    use tower::ServiceExt;

    use super::*;

    fn _obj_safe(_: &dyn CookieStore) {}

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    /// The pairs of a `Cookie` header, in order (a jar's is unordered).
    fn sorted(header: &HeaderValue) -> Vec<&str> {
        let mut pairs: Vec<_> = header.to_str().unwrap().split("; ").collect();
        pairs.sort_unstable();
        pairs
    }

    #[test]
    fn a_jar_keeps_what_parses_and_matches_and_prints_no_value() {
        let jar = Jar::default();
        let home = url("https://api.test/v1/items");
        let fields = [
            HeaderValue::from_static("sid=s3cr3t-value; Path=/; Secure; HttpOnly"),
            HeaderValue::from_static("no equals sign"),
            HeaderValue::from_static("x=1; Domain=other.test"),
            HeaderValue::from_bytes(b"bin=\xff").unwrap(),
        ];
        jar.set_cookies(&mut fields.iter(), &home);
        jar.add_cookie_str("; =", &home);
        assert_eq!(jar.cookies(&home).unwrap(), "sid=s3cr3t-value");
        assert_eq!(jar.cookies(&url("http://api.test/")), None, "Secure");
        assert_eq!(jar.cookies(&url("https://other.test/")), None);
        let debug = format!("{jar:?}");
        assert_eq!(debug, "Jar { cookies: 1 }");

        jar.add_cookie_str("sid=gone; Path=/; Max-Age=0", &home);
        assert_eq!(jar.cookies(&home), None);
    }

    #[tokio::test]
    async fn the_callers_cookie_header_is_kept_and_the_stores_is_sensitive() {
        let jar = Arc::new(Jar::default());
        jar.add_cookie_str("a=1", &url("http://api.test/"));
        let mock = MockService::new(Reply::ok().header("set-cookie", "b=2"));
        let service = CookieLayer::new(jar.clone()).layer(mock.clone());

        let mut own = Request::get("http://api.test/x")
            .body(Body::empty())
            .unwrap();
        own.headers_mut()
            .insert(COOKIE, HeaderValue::from_static("mine=0"));
        service.clone().oneshot(own).await.unwrap();
        assert_eq!(mock.requests()[0].header("cookie"), Some("mine=0"));
        // The response's cookie is stored all the same.
        let stored = jar.cookies(&url("http://api.test/")).unwrap();
        assert_eq!(sorted(&stored), ["a=1", "b=2"]);

        let plain = Request::get("http://api.test/x")
            .body(Body::empty())
            .unwrap();
        service.clone().oneshot(plain).await.unwrap();
        let sent = &mock.requests()[1].headers[COOKIE];
        assert!(sent.is_sensitive());
        assert_eq!(sorted(sent), ["a=1", "b=2"]);

        // A URI that is not an absolute URL goes as it is.
        let relative = Request::get("/x").body(Body::empty()).unwrap();
        service.oneshot(relative).await.unwrap();
        assert_eq!(mock.requests()[2].header("cookie"), None);
    }
}
