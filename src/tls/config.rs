//! From the builders' TLS settings to rustls's client configuration.

use std::sync::Arc;

use rustls::SupportedProtocolVersion;
use rustls::crypto::CryptoProvider;

use super::{Certificate, Identity, TlsVersion};
use crate::transport::BuildError;

/// The TLS settings that [`TransportBuilder`](crate::TransportBuilder) and
/// [`ClientBuilder`](crate::ClientBuilder) share; see the
/// [module docs](super).
#[derive(Debug, Clone)]
pub(crate) struct TlsOptions {
    pub(crate) roots: Vec<Certificate>,
    pub(crate) built_in_roots: bool,
    pub(crate) identity: Option<Identity>,
    pub(crate) min_version: TlsVersion,
    pub(crate) danger_accept_invalid_certs: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            roots: Vec::new(),
            built_in_roots: true,
            identity: None,
            min_version: TlsVersion::Tls1_2,
            danger_accept_invalid_certs: false,
        }
    }
}

static TLS12_AND_13: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];
static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// ring's provider, or aws-lc-rs's (ring when both features are on).
pub(crate) fn provider() -> CryptoProvider {
    #[cfg(feature = "rustls-ring")]
    return rustls::crypto::ring::default_provider();
    #[cfg(not(feature = "rustls-ring"))]
    return rustls::crypto::aws_lc_rs::default_provider();
}

impl TlsOptions {
    /// rustls's client configuration: the provider, the versions from the
    /// minimum up, the roots (built-in ones of the `webpki-roots` and
    /// `native-roots` features unless turned off, then those added) or the
    /// verifier that accepts anything, and the identity.
    pub(crate) fn client_config(&self) -> Result<rustls::ClientConfig, BuildError> {
        let provider = Arc::new(provider());
        let versions = match self.min_version {
            TlsVersion::Tls1_2 => TLS12_AND_13,
            TlsVersion::Tls1_3 => TLS13_ONLY,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| BuildError::new(e.to_string()))?;
        let builder = if self.danger_accept_invalid_certs {
            tracing::warn!(
                target: "girder::transport",
                "danger_accept_invalid_certs is on: server certificates are not verified, \
                 and anyone on the path can read and change this client's traffic; \
                 for tests only"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(
                    super::danger::AcceptAnyServerCert::new(&provider),
                ))
        } else {
            builder.with_root_certificates(self.root_store()?)
        };
        match &self.identity {
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                // Checked when the identity was read; the message names no key.
                .map_err(|e| BuildError::new(format!("the TLS identity: {e}"))),
            None => Ok(builder.with_no_client_auth()),
        }
    }

    fn root_store(&self) -> Result<rustls::RootCertStore, BuildError> {
        let mut roots = rustls::RootCertStore::empty();
        if self.built_in_roots {
            #[cfg(feature = "webpki-roots")]
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            #[cfg(feature = "native-roots")]
            {
                // Certificates the store holds but rustls cannot parse are
                // skipped, as are stores that cannot be read; none at all
                // is an error below.
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
            }
        }
        for root in &self.roots {
            // Each was checked when it was read.
            roots
                .add(root.der().clone())
                .map_err(|e| BuildError::new(format!("a root certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(BuildError::new(
                "no root certificates: add one with add_root_certificate, or turn on \
                 girder's webpki-roots feature, or native-roots with certificates in the \
                 operating system's store (tls_built_in_root_certs(false) leaves only the \
                 certificates added)",
            ));
        }
        Ok(roots)
    }
}
