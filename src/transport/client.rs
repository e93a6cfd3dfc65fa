//! The connection settings of [`ClientBuilder`], forwarded to the
//! [`TransportBuilder`](crate::TransportBuilder) of the transport it builds.

use std::time::Duration;

use crate::ClientBuilder;

/// Connections, as on [`TransportBuilder`](crate::TransportBuilder), for
/// the transport that [`build`](ClientBuilder::build) makes (a transport
/// given to [`build_with_transport`](ClientBuilder::build_with_transport)
/// keeps its own). The defaults are the transport's.
///
/// ```
/// use std::time::Duration;
/// use girder::Client;
///
/// # fn main() -> Result<(), girder::Error> {
/// let client = Client::builder()
///     .base_url("https://api.example.com/v1")
///     .connect_timeout(Duration::from_secs(2))
///     .pool_max_idle_per_host(4)
///     .tcp_keepalive(Duration::from_secs(60))
///     .http1_only()
///     .build()?;
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
impl ClientBuilder {
    /// Time allowed for the TCP connect of each address tried (to the
    /// destination, or to the proxy), and, through a proxy's tunnel, for
    /// its answer to `CONNECT`; `None` waits as long as the OS does (the
    /// attempt timeout still applies).
    ///
    /// Default: 5 s.
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.transport = self.transport.connect_timeout(timeout);
        self
    }

    /// How long an idle pooled connection is kept; `None` keeps it until
    /// the server closes it.
    ///
    /// Default: 90 s.
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.transport = self.transport.pool_idle_timeout(timeout);
        self
    }

    /// The most idle connections kept per host; 0 keeps none, so that
    /// every request opens a connection of its own.
    ///
    /// Default: 32.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.transport = self.transport.pool_max_idle_per_host(max);
        self
    }

    /// Sends TCP keepalive probes on a connection that has been silent for
    /// this long, so that one a NAT or a load balancer dropped without a
    /// word is found dead rather than waited on; `None` sends none.
    ///
    /// Default: `None` (the operating system's setting, usually off).
    pub fn tcp_keepalive(mut self, idle: impl Into<Option<Duration>>) -> Self {
        self.transport = self.transport.tcp_keepalive(idle);
        self
    }

    /// Speaks HTTP/1.1 only: TLS connections offer nothing else by ALPN.
    /// Replaces `http2_prior_knowledge` (feature `http2`).
    ///
    /// Default: off; with the `http2` feature, HTTP/2 where TLS's ALPN
    /// chooses it and HTTP/1.1 elsewhere (without it, HTTP/1.1 only).
    pub fn http1_only(mut self) -> Self {
        self.transport = self.transport.http1_only();
        self
    }

    /// Speaks HTTP/2 from the first byte on every connection: h2c with
    /// prior knowledge on plain TCP, only `h2` offered by ALPN over TLS;
    /// see [`TransportBuilder::http2_prior_knowledge`](crate::TransportBuilder::http2_prior_knowledge).
    /// Replaces [`http1_only`](Self::http1_only).
    ///
    /// Default: off (see [`http1_only`](Self::http1_only)).
    #[cfg(feature = "http2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http2")))]
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.transport = self.transport.http2_prior_knowledge();
        self
    }
}
