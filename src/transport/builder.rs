//! [`TransportBuilder`]: connections, pool, HTTP versions, TLS and proxies.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::{BuildError, Inner, Transport};

/// The connect timeout of [`TransportBuilder`] and
/// [`ClientBuilder`](crate::ClientBuilder) alike.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which HTTP versions the transport speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Versions {
    /// HTTP/2 where TLS's ALPN chooses it (feature `http2`), HTTP/1.1
    /// elsewhere.
    Negotiated,
    /// HTTP/1.1 only; ALPN offers nothing else.
    Http1Only,
    /// HTTP/2 from the first byte, on plain TCP (h2c) and over TLS.
    #[cfg(feature = "http2")]
    Http2PriorKnowledge,
}

/// Configures a [`Transport`].
///
/// The same settings sit on [`ClientBuilder`](crate::ClientBuilder), with
/// the same defaults, for the transport its `build` makes.
///
/// ```
/// use std::time::Duration;
/// use girder::Transport;
///
/// # fn main() -> Result<(), girder::BoxError> {
/// let transport = Transport::builder()
///     .connect_timeout(Duration::from_secs(2))
///     .pool_idle_timeout(Duration::from_secs(30))
///     .pool_max_idle_per_host(8)
///     .tcp_keepalive(Duration::from_secs(60))
///     .http1_only()
///     .build()?;
/// # let _ = transport;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TransportBuilder {
    connect_timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
    pool_max_idle_per_host: usize,
    versions: Versions,
    https_only: bool,
    nodelay: bool,
    tcp_keepalive: Option<Duration>,
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    pub(crate) tls: crate::tls::TlsOptions,
    /// Set by the methods of `proxy/builder.rs`.
    #[cfg(feature = "proxy")]
    pub(crate) proxies: crate::proxy::ProxySettings,
}

impl Default for TransportBuilder {
    fn default() -> Self {
        TransportBuilder {
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            pool_max_idle_per_host: 32,
            versions: Versions::Negotiated,
            https_only: false,
            nodelay: true,
            tcp_keepalive: None,
            #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
            tls: crate::tls::TlsOptions::default(),
            #[cfg(feature = "proxy")]
            proxies: crate::proxy::ProxySettings::default(),
        }
    }
}

impl TransportBuilder {
    /// Time allowed for the TCP connect of each address tried (to the
    /// destination, or to the proxy), and, through a proxy's tunnel, for
    /// its answer to `CONNECT`; `None` waits as long as the OS does.
    ///
    /// Default: 5 s.
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

    /// The most idle connections kept per host; 0 keeps none, so that
    /// every request opens a connection of its own.
    ///
    /// Default: 32.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Sends TCP keepalive probes on a connection that has been silent for
    /// this long, so that one a NAT or a load balancer dropped without a
    /// word is found dead rather than waited on; `None` sends none.
    ///
    /// Default: `None` (the operating system's setting, usually off).
    pub fn tcp_keepalive(mut self, idle: impl Into<Option<Duration>>) -> Self {
        self.tcp_keepalive = idle.into();
        self
    }

    /// Speaks HTTP/1.1 only: TLS connections offer nothing else by ALPN,
    /// so a server that prefers HTTP/2 answers over HTTP/1.1. Replaces
    /// `http2_prior_knowledge` (feature `http2`).
    ///
    /// Default: off; with the `http2` feature, HTTP/2 where TLS's ALPN
    /// chooses it and HTTP/1.1 elsewhere (without it, HTTP/1.1 only).
    pub fn http1_only(mut self) -> Self {
        self.versions = Versions::Http1Only;
        self
    }

    /// Speaks HTTP/2 from the first byte on every connection: on plain TCP
    /// without an upgrade (h2c with prior knowledge, for a server known to
    /// speak it), and over TLS with only `h2` offered by ALPN. A server
    /// that speaks HTTP/1 only fails the call. Not for `http://` URLs sent
    /// through an HTTP proxy, which forwards HTTP/1.1. Replaces
    /// [`http1_only`](Self::http1_only).
    ///
    /// Default: off (see [`http1_only`](Self::http1_only)).
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.versions = Versions::Http2PriorKnowledge;
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

    /// The transport, or the error of a configuration that cannot be
    /// honoured: a TLS configuration rustls refuses, a proxy variable of
    /// the environment that girder cannot use (see [`crate::proxy`]).
    pub fn build(self) -> Result<Transport, BuildError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(self.nodelay);
        http.set_connect_timeout(self.connect_timeout);
        http.set_keepalive(self.tcp_keepalive);
        #[cfg(feature = "proxy")]
        let proxies = Arc::new(self.proxies.resolve()?);
        #[cfg(feature = "proxy")]
        let http = crate::proxy::connector::ProxyConnector::new(
            http,
            proxies.clone(),
            self.connect_timeout,
        );

        #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
        let connector = {
            let tls = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(self.tls.client_config()?);
            let tls = if self.https_only {
                tls.https_only()
            } else {
                tls.https_or_http()
            };
            // What ALPN offers.
            match self.versions {
                #[cfg(feature = "http2")]
                Versions::Negotiated => tls.enable_http1().enable_http2().wrap_connector(http),
                #[cfg(not(feature = "http2"))]
                Versions::Negotiated => tls.enable_http1().wrap_connector(http),
                Versions::Http1Only => tls.enable_http1().wrap_connector(http),
                #[cfg(feature = "http2")]
                Versions::Http2PriorKnowledge => tls.enable_http2().wrap_connector(http),
            }
        };
        #[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
        let connector = http;

        let mut client = Client::builder(TokioExecutor::new());
        client
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host);
        #[cfg(feature = "http2")]
        client.http2_only(self.versions == Versions::Http2PriorKnowledge);
        Ok(Transport {
            inner: Arc::new(Inner {
                client: client.build(connector),
                https_only: self.https_only,
                #[cfg(feature = "proxy")]
                proxies,
            }),
        })
    }
}
