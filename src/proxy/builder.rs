//! The proxy settings of [`TransportBuilder`] and of [`ClientBuilder`], which
//! forwards them to the default [`Transport`](crate::Transport) it builds.

use super::Proxy;
use crate::{ClientBuilder, TransportBuilder};

/// Proxies: see [`crate::proxy`].
impl TransportBuilder {
    /// Sends the destinations `proxy` carries through it. May be called
    /// more than once: the first proxy that carries a destination is used.
    /// Once a proxy is given, the environment is not read.
    ///
    /// Default: the proxies of `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY` (read by [`build`](Self::build); see [`crate::proxy`]).
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxies.add(proxy);
        self
    }

    /// Sends every request directly: forgets the proxies given so far and
    /// does not read the environment's. A proxy given afterwards is used.
    ///
    /// Default: the environment's proxies (see [`proxy`](Self::proxy)).
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub fn no_proxy(mut self) -> Self {
        self.proxies.clear();
        self
    }
}

/// Proxies, as on [`TransportBuilder`], for the transport that
/// [`build`](ClientBuilder::build) makes (a transport given to
/// [`build_with_transport`](ClientBuilder::build_with_transport) keeps its
/// own). See [`crate::proxy`].
impl ClientBuilder {
    /// Sends the destinations `proxy` carries through it. May be called
    /// more than once: the first proxy that carries a destination is used.
    /// Once a proxy is given, the environment is not read.
    ///
    /// Default: the proxies of `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY` (read by [`build`](Self::build); see [`crate::proxy`]).
    ///
    /// ```
    /// use girder::{Client, Proxy};
    ///
    /// # fn main() -> Result<(), girder::BoxError> {
    /// let client = Client::builder()
    ///     .proxy(Proxy::https("http://proxy.corp.example:3128")?.basic_auth("svc", "s3cret"))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.transport = self.transport.proxy(proxy);
        self
    }

    /// Sends every request directly: forgets the proxies given so far and
    /// does not read the environment's. A proxy given afterwards is used.
    ///
    /// Default: the environment's proxies (see [`proxy`](Self::proxy)).
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub fn no_proxy(mut self) -> Self {
        self.transport = self.transport.no_proxy();
        self
    }
}
