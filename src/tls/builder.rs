//! The TLS settings of [`TransportBuilder`] and of [`ClientBuilder`], which
//! forwards them to the default [`Transport`](crate::Transport) it builds.

use super::{Certificate, Identity, TlsVersion};
use crate::{ClientBuilder, TransportBuilder};

/// TLS: see [`crate::tls`].
impl TransportBuilder {
    /// Trusts `certificate` as a root, beside the built-in roots (or
    /// instead of them, with
    /// [`tls_built_in_root_certs(false)`](Self::tls_built_in_root_certs)):
    /// an internal CA. May be called more than once.
    ///
    /// Default: no root added.
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn add_root_certificate(mut self, certificate: Certificate) -> Self {
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
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn identity(mut self, identity: Identity) -> Self {
        self.tls.identity = Some(identity);
        self
    }

    /// The lowest TLS version spoken: a server that offers only older ones
    /// fails the handshake ([`Kind::Tls`](crate::Kind::Tls)).
    ///
    /// Default: [`TlsVersion::Tls1_2`](TlsVersion::Tls1_2).
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn min_tls_version(mut self, version: TlsVersion) -> Self {
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
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn danger_accept_invalid_certs(mut self, enabled: bool) -> Self {
        self.tls.danger_accept_invalid_certs = enabled;
        self
    }
}

/// TLS, as on [`TransportBuilder`], for the
/// transport that [`build`](ClientBuilder::build) makes (a transport given
/// to [`build_with_transport`](ClientBuilder::build_with_transport) keeps
/// its own). See [`crate::tls`].
impl ClientBuilder {
    /// Trusts `certificate` as a root, beside the built-in roots (or
    /// instead of them, with
    /// [`tls_built_in_root_certs(false)`](Self::tls_built_in_root_certs)):
    /// an internal CA. May be called more than once.
    ///
    /// Default: no root added.
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn add_root_certificate(mut self, certificate: Certificate) -> Self {
        self.transport = self.transport.add_root_certificate(certificate);
        self
    }

    /// Whether the built-in roots are trusted: Mozilla's (feature
    /// `webpki-roots`) and the operating system's (feature `native-roots`).
    /// `false` trusts only the certificates given to
    /// [`add_root_certificate`](Self::add_root_certificate); with none,
    /// [`build`](Self::build) fails.
    ///
    /// Default: `true`.
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn tls_built_in_root_certs(mut self, enabled: bool) -> Self {
        self.transport = self.transport.tls_built_in_root_certs(enabled);
        self
    }

    /// The client certificate and key presented to servers that ask for one
    /// (mutual TLS).
    ///
    /// Default: none.
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn identity(mut self, identity: Identity) -> Self {
        self.transport = self.transport.identity(identity);
        self
    }

    /// The lowest TLS version spoken: a server that offers only older ones
    /// fails the call with [`Kind::Tls`](crate::Kind::Tls).
    ///
    /// Default: [`TlsVersion::Tls1_2`].
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn min_tls_version(mut self, version: TlsVersion) -> Self {
        self.transport = self.transport.min_tls_version(version);
        self
    }

    /// **For tests only.** Accepts any server certificate: self-signed,
    /// expired, issued by anyone, for any name. Anyone on the network path
    /// can then read and change the traffic, credentials included; see
    /// [`TransportBuilder::danger_accept_invalid_certs`](crate::TransportBuilder::danger_accept_invalid_certs).
    /// [`build`](Self::build) logs a warning each time.
    ///
    /// Default: `false`.
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
    )]
    pub fn danger_accept_invalid_certs(mut self, enabled: bool) -> Self {
        self.transport = self.transport.danger_accept_invalid_certs(enabled);
        self
    }
}
