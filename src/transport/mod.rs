//! The HTTP transport under every girder stack: hyper-util's pooled
//! client over rustls.
//!
//! [`Transport`] speaks HTTP/1.1, and HTTP/2 where TLS's ALPN chooses it
//! (feature `http2`). Its TLS is rustls over ring (feature `rustls-ring`,
//! default) or aws-lc-rs (`rustls-aws-lc`); it trusts the Mozilla root store
//! shipped in `webpki-roots` (feature `webpki-roots`, default: no system
//! certificate store is read, so it behaves the same on every machine)
//! and, with `native-roots`, the operating system's store. A build with
//! neither rustls feature sends `http://` only and refuses `https://`
//! before connecting. Custom roots, a client certificate for mutual TLS and
//! the lowest TLS version are set on the builder; see [`crate::tls`]. It sets `TCP_NODELAY`, bounds the TCP connect with a
//! timeout and closes pooled connections left idle too long. It is a
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
//! handshake as a connect error.

mod future;

pub use future::ResponseFuture;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use girder_core::{Body, BoxError};
use http::{Request, Response};
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
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

/// TCP, with TLS when a rustls feature is on.
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
type Connector = HttpsConnector<HttpConnector>;
#[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
type Connector = HttpConnector;

struct Inner {
    client: Client<Connector, Body>,
    https_only: bool,
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

    fn call(&mut self, request: Request<Body>) -> ResponseFuture {
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
        ResponseFuture::sending(self.inner.client.request(request))
    }
}

/// Configures a [`Transport`].
#[derive(Debug, Clone)]
pub struct TransportBuilder {
    connect_timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
    pool_max_idle_per_host: usize,
    http2: bool,
    https_only: bool,
    nodelay: bool,
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    tls: crate::tls::TlsOptions,
}

impl Default for TransportBuilder {
    fn default() -> Self {
        TransportBuilder {
            connect_timeout: Some(Duration::from_secs(10)),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            pool_max_idle_per_host: 32,
            http2: true,
            https_only: false,
            nodelay: true,
            #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
            tls: crate::tls::TlsOptions::default(),
        }
    }
}

impl TransportBuilder {
    /// Time allowed for the TCP connect of each address tried; `None`
    /// waits as long as the OS does.
    ///
    /// Default: 10 s.
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.connect_timeout = timeout.into();
        self
    }

    /// How long an idle pooled connection is kept; `None` keeps it until
    /// the server closes it.
    ///
    /// Default: 90 s.
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.pool_idle_timeout = timeout.into();
        self
    }

    /// The most idle connections kept per host.
    ///
    /// Default: 32.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Whether HTTP/2 is offered by ALPN on TLS connections (HTTP/1.1
    /// always is; plain-text connections use HTTP/1.1).
    ///
    /// Default: `true`.
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Whether `http://` URIs are refused, so nothing leaves unencrypted.
    ///
    /// Default: `false`.
    pub fn https_only(mut self, enabled: bool) -> Self {
        self.https_only = enabled;
        self
    }

    /// Whether `TCP_NODELAY` is set on new connections. Leave it on: API
    /// calls are small writes that Nagle's algorithm would hold back.
    ///
    /// Default: `true`.
    pub fn nodelay(mut self, enabled: bool) -> Self {
        self.nodelay = enabled;
        self
    }

    /// Trusts `certificate` as a root, beside the built-in roots (or
    /// instead of them, with
    /// [`tls_built_in_root_certs(false)`](Self::tls_built_in_root_certs)):
    /// an internal CA. May be called more than once.
    ///
    /// Default: no root added.
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn add_root_certificate(mut self, certificate: crate::tls::Certificate) -> Self {
        self.tls.roots.push(certificate);
        self
    }

    /// Whether the built-in roots are trusted: Mozilla's (feature
    /// `webpki-roots`) and the operating system's (feature `native-roots`).
    /// `false` trusts only the certificates given to
    /// [`add_root_certificate`](Self::add_root_certificate); with none,
    /// [`build`](Self::build) fails.
    ///
    /// Default: `true`.
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn tls_built_in_root_certs(mut self, enabled: bool) -> Self {
        self.tls.built_in_roots = enabled;
        self
    }

    /// The client certificate and key presented to servers that ask for one
    /// (mutual TLS).
    ///
    /// Default: none.
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn identity(mut self, identity: crate::tls::Identity) -> Self {
        self.tls.identity = Some(identity);
        self
    }

    /// The lowest TLS version spoken: a server that offers only older ones
    /// fails the handshake ([`Kind::Tls`](crate::Kind::Tls)).
    ///
    /// Default: [`TlsVersion::Tls1_2`](crate::tls::TlsVersion::Tls1_2).
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn min_tls_version(mut self, version: crate::tls::TlsVersion) -> Self {
        self.tls.min_version = version;
        self
    }

    /// **For tests only.** Accepts any server certificate: self-signed,
    /// expired, issued by anyone, for any name. Anyone on the network path
    /// can then read and change the traffic, credentials included. The
    /// handshake's signatures are still checked against the certificate
    /// presented. [`build`](Self::build) logs a warning (`girder::transport`)
    /// each time it builds a transport with this on.
    ///
    /// Trust a test CA with
    /// [`add_root_certificate`](Self::add_root_certificate) instead where
    /// you can.
    ///
    /// Default: `false`.
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn danger_accept_invalid_certs(mut self, enabled: bool) -> Self {
        self.tls.danger_accept_invalid_certs = enabled;
        self
    }

    /// All the TLS settings at once, from the `ClientBuilder`.
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    pub(crate) fn tls_options(mut self, options: crate::tls::TlsOptions) -> Self {
        self.tls = options;
        self
    }

    /// The transport, or the error of a TLS configuration rustls refuses.
    pub fn build(self) -> Result<Transport, BuildError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(self.nodelay);
        http.set_connect_timeout(self.connect_timeout);

        #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
        let connector = {
            let tls = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(self.tls.client_config()?);
            let tls = if self.https_only {
                tls.https_only()
            } else {
                tls.https_or_http()
            };
            let tls = tls.enable_http1();
            #[cfg(feature = "http2")]
            let connector = if self.http2 {
                tls.enable_http2().wrap_connector(http)
            } else {
                tls.wrap_connector(http)
            };
            #[cfg(not(feature = "http2"))]
            let connector = tls.wrap_connector(http);
            connector
        };
        #[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
        let connector = http;
        #[cfg(not(all(
            feature = "http2",
            any(feature = "rustls-ring", feature = "rustls-aws-lc")
        )))]
        let _ = self.http2;

        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .build(connector);
        Ok(Transport {
            inner: Arc::new(Inner {
                client,
                https_only: self.https_only,
            }),
        })
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
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
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
