//! TLS settings of the [`Transport`](crate::Transport) and the
//! [`Client`](crate::Client): which servers are trusted, the client's own
//! certificate for mutual TLS, the lowest protocol version.
//!
//! By default the transport trusts the roots of the `webpki-roots` feature
//! (Mozilla's, built in) and, with `native-roots`, the operating system's
//! store; it speaks TLS 1.2 and 1.3 and presents no client certificate.
//! The same five settings sit on [`TransportBuilder`](crate::TransportBuilder)
//! and [`ClientBuilder`](crate::ClientBuilder):
//!
//! | setting | what it does | default |
//! | --- | --- | --- |
//! | `add_root_certificate(Certificate)` | trusts one more CA (an internal one) | none added |
//! | `tls_built_in_root_certs(bool)` | keeps or drops the built-in roots, so that only the CAs added are trusted | `true` |
//! | `identity(Identity)` | presents a client certificate (mutual TLS) | none |
//! | `min_tls_version(TlsVersion)` | refuses servers below this version | TLS 1.2 |
//! | `danger_accept_invalid_certs(bool)` | accepts any server certificate: **tests only** | `false` |
//!
//! [`Certificate`] reads a CA's certificate from PEM ([`from_pem`],
//! [`from_pem_bundle`]) or DER ([`from_der`]); [`Identity`] reads a
//! certificate chain and its private key from PEM. Both check what they read
//! and say what is wrong, never quoting it; `Identity`'s `Debug` shows no
//! key.
//!
//! ```
//! use girder::tls::{Certificate, Identity, TlsVersion};
//! use girder::Client;
//! # use girder_test::tls::{TestCa, TlsConfig};
//! # use girder_test::{Reply, TestServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let ca = TestCa::new();
//! # let server = TestServer::start_tls(TlsConfig::new(&ca.server_cert()).require_client_cert(&ca)).await;
//! # server.route("/v1/health", Reply::ok().body("up"));
//! # let base_url = server.url("/v1/");
//! # let ca_pem = ca.cert_pem().to_owned();
//! # let identity_pem = ca.client_cert("billing").identity_pem();
//! // The internal CA's certificate, and this service's certificate and key.
//! let internal_ca = Certificate::from_pem(ca_pem.as_bytes())?;
//! let identity = Identity::from_pem(identity_pem.as_bytes())?;
//!
//! let client = Client::builder()
//!     .base_url(base_url)
//!     .add_root_certificate(internal_ca)
//!     .tls_built_in_root_certs(false) // trust the internal CA only
//!     .identity(identity)
//!     .min_tls_version(TlsVersion::Tls1_3)
//!     .build()?;
//! let res = client.get("health").send().await?;
//! assert_eq!(res.text().await?, "up");
//! # Ok(())
//! # }
//! ```
//!
//! # When TLS fails
//!
//! A server certificate that is not trusted (unknown CA, expired, issued
//! for another name), a client certificate the server refuses and a
//! protocol version below the minimum all fail the call with
//! [`Kind::Tls`](crate::Kind::Tls). The transport finds rustls's error in
//! the chain and wraps it in [`TlsError`](girder_core::TlsError), so that
//! retry never resends (another attempt meets the same certificate) and the
//! circuit breaker counts the failure as it counts a connect error.
//!
//! [`from_pem`]: Certificate::from_pem
//! [`from_pem_bundle`]: Certificate::from_pem_bundle
//! [`from_der`]: Certificate::from_der

mod builder;
mod config;
mod danger;

use std::error::Error;
use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub(crate) use config::TlsOptions;

/// A certificate to trust as a root: a CA's, usually an internal one.
///
/// `Debug` shows its size only.
#[derive(Clone)]
pub struct Certificate {
    der: CertificateDer<'static>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("der_bytes", &self.der.len())
            .finish()
    }
}

impl Certificate {
    /// The first certificate (`-----BEGIN CERTIFICATE-----`) of `pem`;
    /// other sections are skipped.
    pub fn from_pem(pem: &[u8]) -> Result<Certificate, ParseError> {
        match CertificateDer::pem_slice_iter(pem).next() {
            Some(der) => Certificate::checked(der.map_err(|e| pem_error("certificate", &e))?),
            None => Err(ParseError::new(
                "certificate",
                "no CERTIFICATE section in the PEM",
            )),
        }
    }

    /// Every certificate of a PEM bundle (a CA file with several roots);
    /// at least one, and all readable.
    pub fn from_pem_bundle(pem: &[u8]) -> Result<Vec<Certificate>, ParseError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .map(|der| Certificate::checked(der.map_err(|e| pem_error("certificate", &e))?))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(ParseError::new(
                "certificate",
                "no CERTIFICATE section in the PEM bundle",
            ));
        }
        Ok(certs)
    }

    /// A certificate in DER.
    pub fn from_der(der: &[u8]) -> Result<Certificate, ParseError> {
        Certificate::checked(CertificateDer::from(der.to_vec()))
    }

    /// Checks that `der` can be a trust anchor, as rustls will want it.
    fn checked(der: CertificateDer<'static>) -> Result<Certificate, ParseError> {
        rustls::RootCertStore::empty()
            .add(der.clone())
            .map_err(|_| {
                ParseError::new("certificate", "not an X.509 certificate rustls can read")
            })?;
        Ok(Certificate { der })
    }

    pub(crate) fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }
}

/// A client certificate chain and its private key, for mutual TLS.
///
/// `Debug` shows how many certificates it holds, never the key; no error
/// quotes the key either.
#[derive(Clone)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    // Shared: `PrivateKeyDer` is not `Clone`, and the builders are.
    key: Arc<PrivateKeyDer<'static>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.chain.len())
            .field("key", &format_args!("[redacted]"))
            .finish()
    }
}

impl Identity {
    /// Reads PEM holding the client's certificate, then any intermediate
    /// certificates, and its private key (`PRIVATE KEY`, `RSA PRIVATE KEY`
    /// or `EC PRIVATE KEY`), in one buffer (concatenate a certificate file
    /// and a key file). Checks that the key is one rustls can sign with and
    /// that it belongs to the first certificate.
    pub fn from_pem(pem: &[u8]) -> Result<Identity, ParseError> {
        let chain = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error("identity", &e))?;
        if chain.is_empty() {
            return Err(ParseError::new(
                "identity",
                "no CERTIFICATE section in the PEM",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
            pem::Error::NoItemsFound => ParseError::new(
                "identity",
                "no private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY section) in the PEM",
            ),
            other => pem_error("identity", &other),
        })?;
        rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &config::provider())
            .map_err(|e| {
            // rustls's errors here name the problem, not the key.
            let why = match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the private key does not belong to the first certificate"
                }
                _ => "the private key is not one rustls can sign with (RSA, ECDSA or Ed25519)",
            };
            ParseError::new("identity", why)
        })?;
        Ok(Identity {
            chain,
            key: Arc::new(key),
        })
    }
}

/// A protocol version, for
/// [`min_tls_version`](crate::TransportBuilder::min_tls_version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls1_2,
    /// TLS 1.3.
    Tls1_3,
}

/// A [`Certificate`] or [`Identity`] could not be read. It says what is
/// wrong and never quotes the input, which may hold a private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    what: &'static str,
    why: &'static str,
}

impl ParseError {
    fn new(what: &'static str, why: &'static str) -> Self {
        ParseError { what, why }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.what, self.why)
    }
}

impl Error for ParseError {}

/// The PEM parser's error, in words of our own: its own `Display` may
/// quote a line of the input.
fn pem_error(what: &'static str, error: &pem::Error) -> ParseError {
    let why = match error {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64",
        pem::Error::SectionTooLarge => "a PEM section is too large",
        _ => "the PEM cannot be read",
    };
    ParseError::new(what, why)
}

/// Whether hyper-util's `error` is a TLS failure: how the transport tells
/// one from another connect or I/O error.
///
/// tokio-rustls reports a failed handshake, and a TLS alert read later (a
/// client certificate refused after a TLS 1.3 handshake), as
/// `io::Error::new(InvalidData, rustls::Error)`; hyper-rustls returns that
/// `io::Error` from its connector, which hyper-util wraps as a connect error,
/// and hyper wraps one read after the handshake on an HTTP/1 connection.
///
/// On an HTTP/2 connection, h2 keeps only the kind and the text of an I/O
/// error (rustls's error is gone by the time hyper sees it). There, an
/// `InvalidData` I/O error is taken for a TLS failure: it is the kind
/// tokio-rustls gives rustls's errors, h2 makes none of its own (its
/// protocol errors are resets and GOAWAYs), and the transport's HTTP/2
/// connections are all TLS ones (ALPN).
pub(crate) fn is_tls_failure(error: &hyper_util::client::legacy::Error) -> bool {
    if has_rustls_error(error) {
        return true;
    }
    let http2 = error
        .connect_info()
        .is_some_and(hyper_util::client::legacy::connect::Connected::is_negotiated_h2);
    http2 && has_io_kind(error, io::ErrorKind::InvalidData)
}

/// Whether `error`'s chain holds a rustls error. `io::Error::source` skips
/// the error it carries (it returns that error's own source), so each
/// `io::Error` is opened with `get_ref`.
fn has_rustls_error(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(err) = next {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(io::Error::get_ref)
            && has_rustls_error(inner)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// Whether `error`'s chain holds an `io::Error` of `kind`.
fn has_io_kind(error: &(dyn Error + 'static), kind: io::ErrorKind) -> bool {
    let mut next = Some(error);
    while let Some(err) = next {
        if err
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == kind)
        {
            return true;
        }
        next = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_errors_are_found_inside_io_errors() {
        let handshake = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(has_rustls_error(&handshake));
        let wrapped = io::Error::other(handshake);
        assert!(has_rustls_error(&wrapped));
        assert!(!has_rustls_error(&io::Error::from(
            io::ErrorKind::ConnectionRefused
        )));
        assert!(!has_rustls_error(&io::Error::other("plain")));
        assert!(has_io_kind(&wrapped, io::ErrorKind::Other));
        assert!(!has_io_kind(&wrapped, io::ErrorKind::InvalidData));
    }

    #[test]
    fn garbage_is_refused_without_being_quoted() {
        let secret =
            b"-----BEGIN CERTIFICATE-----\nc2VjcmV0LXNhdWNl!!\n-----END CERTIFICATE-----\n";
        let err = Certificate::from_pem(secret).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid certificate: a PEM section is not valid base64"
        );
        let err = Certificate::from_pem(b"hello").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid certificate: no CERTIFICATE section in the PEM"
        );
        assert!(Certificate::from_pem_bundle(b"").is_err());
        let err = Certificate::from_der(b"\x30\x03\x02\x01\x00").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid certificate: not an X.509 certificate rustls can read"
        );
        let unterminated = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n";
        let err = Identity::from_pem(unterminated).unwrap_err();
        assert!(!err.to_string().contains("MC4C"), "{err}");
    }

    #[test]
    fn versions_are_ordered() {
        assert!(TlsVersion::Tls1_2 < TlsVersion::Tls1_3);
    }
}
