//! The HTTP transport under every girder stack: hyper-util's pooled
//! client over rustls.
//!
//! [`Transport`] speaks HTTP/1.1, and HTTP/2 where TLS's ALPN chooses it
//! (feature `http2`); [`http1_only`](TransportBuilder::http1_only) and
//! `http2_prior_knowledge` (h2c, feature `http2`) fix the version. With the
//! `proxy` feature (default) it goes through the proxies of `HTTP_PROXY`,
//! `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`, or those given to
//! `TransportBuilder::proxy`: `http://` requests in absolute form,
//! `https://` ones in `CONNECT` tunnels (see `girder::proxy`). Its TLS is
//! rustls over ring (feature `rustls-ring`, default) or aws-lc-rs
//! (`rustls-aws-lc`); it trusts the Mozilla root store
//! shipped in `webpki-roots` (feature `webpki-roots`, default: no system
//! certificate store is read, so it behaves the same on every machine)
//! and, with `native-roots`, the operating system's store. A build with
//! neither rustls feature sends `http://` only and refuses `https://`
//! before connecting. Custom roots, a client certificate for mutual TLS and
//! the lowest TLS version are set on the builder; see [`crate::tls`]. It
//! sets `TCP_NODELAY`, bounds the TCP connect with a timeout (5 s), keeps
//! up to 32 idle connections per host and closes those left idle for
//! 90 s, each a [`TransportBuilder`] setting. It is a
//! `Service<Request<Body>>` whose responses carry a [`Body`], so the
//! girder layers stack on it directly.
//!
//! ```
//! use girder::transport::Transport;
//! use girder_core::Body;
//! use girder_test::{Reply, TestServer};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), girder_core::BoxError> {
//! # let server = TestServer::start().await;
//! # server.route("/status", Reply::ok().body("up"));
//! # let url = server.url("/status");
//! let transport = Transport::builder()
//!     .connect_timeout(std::time::Duration::from_secs(3))
//!     .build()?;
//! let res = transport.oneshot(http::Request::get(url).body(Body::empty())?).await?;
//! assert_eq!(res.status(), 200);
//! let body = res.into_body().collect_limited(1 << 20).await?;
//! assert_eq!(body, "up");
//! # Ok(())
//! # }
//! ```
//!
//! Errors are hyper-util's, boxed, with their whole `source()` chain, so
//! [`girder_core::classify`] tells a refused connection from a reset one. A
//! TLS failure (rustls's error somewhere in that chain: a certificate not
//! trusted, a client certificate refused, no common version) comes wrapped
//! in [`TlsError`](girder_core::TlsError), which the classifier never
//! retries and [`Error::kind`](crate::Error::kind) calls
//! [`Kind::Tls`](crate::Kind::Tls): hyper-util alone reports a failed
//! handshake as a connect error. For the same reason a proxy's refusal of
//! a tunnel (a 4xx answer to `CONNECT`) comes bare, as the proxy module's
//! `ProxyError`: never retried, [`Kind::Proxy`](crate::Kind::Proxy).

mod builder;
mod client;
mod future;

pub use builder::TransportBuilder;
pub use future::ResponseFuture;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use girder_core::{Body, BoxError};
use http::{Request, Response};
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
#[cfg(not(feature = "proxy"))]
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

/// hyper-util's pooled client over rustls; see the [module docs](self).
///
/// # Clone
///
/// Clones share one connection pool. Cloning is one reference count: every
/// layer that replays a request (retry, auth, signing, redirects, the cache)
/// keeps a clone of the service below it for each call, and hyper-util's
/// client is a few hundred bytes and half a dozen reference counts.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

/// TCP, through proxies with the `proxy` feature.
#[cfg(feature = "proxy")]
type Tcp = crate::proxy::connector::ProxyConnector;
#[cfg(not(feature = "proxy"))]
type Tcp = HttpConnector;

/// TCP, with TLS when a rustls feature is on.
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
type Connector = HttpsConnector<Tcp>;
#[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
type Connector = Tcp;

struct Inner {
    client: Client<Connector, Body>,
    https_only: bool,
    /// Shared with the connector, which connects through them; the
    /// transport adds their credentials to the `http://` requests they
    /// forward.
    #[cfg(feature = "proxy")]
    proxies: Arc<crate::proxy::Proxies>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport with the defaults of [`TransportBuilder`].
    pub fn new() -> Result<Transport, BuildError> {
        Transport::builder().build()
    }

    /// A builder with the defaults.
    pub fn builder() -> TransportBuilder {
        TransportBuilder::default()
    }
}

impl Service<Request<Body>> for Transport {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The pool hands out connections inside the call; it is always ready.
        Poll::Ready(Ok(()))
    }

    #[cfg_attr(not(feature = "proxy"), allow(unused_mut))]
    fn call(&mut self, mut request: Request<Body>) -> ResponseFuture {
        // Checked here rather than left to the connector, whose refusal
        // would look like a (retryable) connect error.
        let uri = request.uri();
        if uri.scheme().is_none() || uri.host().is_none() {
            return ResponseFuture::refused(InvalidRequest("the URI needs a scheme and a host"));
        }
        // hyper-util's pool logs the authority, user info included, and
        // would not send it as credentials anyway: refuse rather than leak.
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return ResponseFuture::refused(InvalidRequest(
                "credentials in the URL are neither sent nor logged; use girder::auth (BasicAuth)",
            ));
        }
        #[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
        if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
            return ResponseFuture::refused(InvalidRequest(
                "this build of girder has no TLS (features rustls-ring, rustls-aws-lc): only http:// is sent",
            ));
        }
        if self.inner.https_only && uri.scheme() != Some(&http::uri::Scheme::HTTPS) {
            return ResponseFuture::refused(InvalidRequest(
                "https_only is set and the URI is not https",
            ));
        }
        #[cfg(feature = "proxy")]
        self.inner.proxies.authorize(&mut request);
        ResponseFuture::sending(self.inner.client.request(request))
    }
}

/// The transport could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot build the transport: {}", self.0)
    }
}

impl BuildError {
    #[cfg_attr(
        not(any(feature = "rustls-ring", feature = "rustls-aws-lc", feature = "proxy")),
        allow(dead_code)
    )]
    pub(crate) fn new(why: impl Into<String>) -> Self {
        BuildError(why.into())
    }
}

impl std::error::Error for BuildError {}

/// The transport refused a request before sending anything; retrying it
/// cannot help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidRequest(&'static str);

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid request: {}", self.0)
    }
}

impl std::error::Error for InvalidRequest {}

#[cfg(test)]
mod tests {
    use tower::ServiceExt;

    use super::*;

    /// A loopback listener that is never served, and its port.
    fn listener() -> (std::net::TcpListener, u16) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    fn get(url: &str) -> Request<Body> {
        Request::get(url).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn credentials_in_the_url_are_refused_before_connecting() {
        let (listener, port) = listener();
        let url = format!("http://user:hunter2@127.0.0.1:{port}/");
        let err = Transport::new()
            .unwrap()
            .oneshot(get(&url))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("credentials in the URL"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        // Not a connect error, so nothing retries it.
        assert_eq!(girder_core::classify::TransportError::find(&*err), None);
        let accepted = listener.accept().map_err(|e| e.kind());
        assert_eq!(accepted.err(), Some(std::io::ErrorKind::WouldBlock));
    }

    #[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
    #[tokio::test]
    async fn a_build_without_tls_refuses_https_before_connecting() {
        let (listener, port) = listener();
        let url = format!("https://127.0.0.1:{port}/");
        let err = Transport::new()
            .unwrap()
            .oneshot(get(&url))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no TLS"), "{err}");
        assert_eq!(girder_core::classify::TransportError::find(&*err), None);
        let accepted = listener.accept().map_err(|e| e.kind());
        assert_eq!(accepted.err(), Some(std::io::ErrorKind::WouldBlock));
    }
}
