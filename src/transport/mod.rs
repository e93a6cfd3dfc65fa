//! The HTTP transport under every girder stack: hyper-util's pooled
//! client over rustls.
//!
//! [`Transport`] speaks HTTP/1.1 and HTTP/2 (chosen by ALPN on TLS
//! connections), trusts the Mozilla root store shipped in `webpki-roots`
//! (no system certificate store is read, so it behaves the same on every
//! machine), sets `TCP_NODELAY`, bounds the TCP connect with a timeout and
//! closes pooled connections left idle too long. It is a
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
//! [`girder_core::classify`] tells a refused connection from a reset one.

mod future;

pub use future::ResponseFuture;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use girder_core::{Body, BoxError};
use http::{Request, Response};
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

struct Inner {
    client: Client<HttpsConnector<HttpConnector>, Body>,
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

    /// The transport, or the error of a TLS configuration rustls refuses.
    pub fn build(self) -> Result<Transport, BuildError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(self.nodelay);
        http.set_connect_timeout(self.connect_timeout);

        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| BuildError(e.to_string()))?;
        let tls = if self.https_only {
            tls.https_only()
        } else {
            tls.https_or_http()
        };
        let tls = tls.enable_http1();
        let connector = if self.http2 {
            tls.enable_http2().wrap_connector(http)
        } else {
            tls.wrap_connector(http)
        };

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
