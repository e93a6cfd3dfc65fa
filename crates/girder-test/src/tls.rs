//! Certificates made at test time, and the TLS settings of
//! [`TestServer::start_tls`](crate::TestServer::start_tls) (feature `tls`).
//!
//! A [`TestCa`] issues server certificates for `127.0.0.1` and `localhost`
//! (valid, expired, or for other names) and client certificates for mutual
//! TLS; [`TestCert::self_signed`] makes one no CA vouches for. Keys are
//! ECDSA P-256, made with rcgen on ring; nothing is read from disk and
//! nothing outlives the test. [`TlsConfig`] says what the server presents
//! and asks for.
//!
//! ```
//! use girder_test::tls::{TestCa, TlsConfig};
//! use girder_test::{Reply, TestServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let ca = TestCa::new();
//! let server = TestServer::start_tls(
//!     TlsConfig::new(&ca.server_cert()).require_client_cert(&ca),
//! )
//! .await;
//! server.route("/hello", Reply::ok().body("hi"));
//! assert!(server.url("/hello").starts_with("https://127.0.0.1:"));
//! // A client trusts `ca.cert_pem()` and presents
//! // `ca.client_cert("billing").identity_pem()`.
//! assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

/// The names every server certificate of a [`TestCa`] is valid for, but
/// those of [`TestCa::server_cert_for`].
const LOOPBACK_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

static TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// A certificate authority made at test time: it issues server and client
/// certificates, and a client that trusts [`cert_pem`](TestCa::cert_pem)
/// accepts the servers it vouches for.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl TestCa {
    /// A new CA, with a key and a name of its own (`girder-test CA`
    /// and a random suffix: a client that trusts another `TestCa` finds no
    /// issuer of this one's certificates, rather than a bad signature).
    ///
    /// # Panics
    ///
    /// If rcgen cannot make a key or a certificate (it does not fail on
    /// these parameters).
    pub fn new() -> TestCa {
        let key = new_key();
        let mut params = CertificateParams::default();
        params.distinguished_name =
            common_name(&format!("girder-test CA {:016x}", fastrand::u64(..)));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("girder-test: cannot make a CA certificate: {e}"));
        TestCa {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA's certificate, PEM: what a client adds to its roots.
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// The CA's certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.der
    }

    /// A server certificate for `127.0.0.1` and `localhost`, valid from
    /// 1975 to 4096.
    pub fn server_cert(&self) -> TestCert {
        self.issue(server_params(&LOOPBACK_NAMES))
    }

    /// A server certificate for `127.0.0.1` and `localhost` that expired
    /// on 1 January 2001.
    pub fn expired_server_cert(&self) -> TestCert {
        let mut params = server_params(&LOOPBACK_NAMES);
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
        self.issue(params)
    }

    /// A server certificate for `names` (DNS names or IP addresses) only:
    /// for `&["example.invalid"]`, a client that dials `127.0.0.1` sees a
    /// name mismatch.
    pub fn server_cert_for(&self, names: &[&str]) -> TestCert {
        self.issue(server_params(names))
    }

    /// A client certificate for mutual TLS, with `name` as its common name.
    pub fn client_cert(&self, name: &str) -> TestCert {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> TestCert {
        let key = new_key();
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("girder-test: cannot issue a certificate: {e}"));
        TestCert::new(cert, &key)
    }
}

/// A certificate and its private key, made at test time.
///
/// `Debug` shows neither the key nor the certificate.
#[derive(Clone)]
pub struct TestCert {
    der: CertificateDer<'static>,
    /// PKCS #8 DER.
    key: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

impl fmt::Debug for TestCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCert").finish_non_exhaustive()
    }
}

impl TestCert {
    /// A certificate for `127.0.0.1` and `localhost` that signs itself, so
    /// that no client trusts it unless told to.
    pub fn self_signed() -> TestCert {
        let key = new_key();
        let cert = server_params(&LOOPBACK_NAMES)
            .self_signed(&key)
            .unwrap_or_else(|e| panic!("girder-test: cannot make a certificate: {e}"));
        TestCert::new(cert, &key)
    }

    fn new(cert: rcgen::Certificate, key: &KeyPair) -> TestCert {
        TestCert {
            der: cert.der().clone(),
            key: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.der
    }

    /// The private key, PKCS #8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate followed by its key, PEM: what a client loads as
    /// its identity for mutual TLS.
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

/// What a TLS [`TestServer`](crate::TestServer) presents and asks for.
///
/// The server offers HTTP/2 and HTTP/1.1 by ALPN, and TLS 1.3 and 1.2
/// unless told otherwise.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    cert: TestCert,
    client_roots: Option<CertificateDer<'static>>,
    versions: &'static [&'static SupportedProtocolVersion],
}

impl TlsConfig {
    /// A server that presents `cert` and asks for no client certificate.
    pub fn new(cert: &TestCert) -> TlsConfig {
        TlsConfig {
            cert: cert.clone(),
            client_roots: None,
            versions: rustls::ALL_VERSIONS,
        }
    }

    /// Refuses every client that does not present a certificate issued by
    /// `ca` (mutual TLS).
    pub fn require_client_cert(mut self, ca: &TestCa) -> TlsConfig {
        self.client_roots = Some(ca.der.clone());
        self
    }

    /// Speaks TLS 1.2 only.
    pub fn tls12_only(mut self) -> TlsConfig {
        self.versions = TLS12_ONLY;
        self
    }

    /// Speaks TLS 1.3 only.
    pub fn tls13_only(mut self) -> TlsConfig {
        self.versions = TLS13_ONLY;
        self
    }

    /// rustls's server configuration.
    pub(crate) fn server_config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(self.versions)
            .unwrap_or_else(|e| panic!("girder-test: TLS versions: {e}"));
        let builder = match &self.client_roots {
            Some(root) => {
                let mut roots = RootCertStore::empty();
                roots
                    .add(root.clone())
                    .unwrap_or_else(|e| panic!("girder-test: the client CA: {e}"));
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap_or_else(|e| panic!("girder-test: the client verifier: {e}"));
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(
                vec![self.cert.der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.cert.key.clone())),
            )
            .unwrap_or_else(|e| panic!("girder-test: the server certificate: {e}"));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

fn new_key() -> KeyPair {
    KeyPair::generate().unwrap_or_else(|e| panic!("girder-test: cannot make a key: {e}"))
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

fn server_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names)
        .unwrap_or_else(|e| panic!("girder-test: not a DNS name or IP address: {e}"));
    params.distinguished_name = common_name("girder-test server");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};
    use rustls::{CertificateError, Error};

    /// What a client that trusts `ca` says of `cert` presented for 127.0.0.1.
    fn verify(ca: &TestCa, cert: &TestCert) -> Result<(), Error> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.der.clone())?;
        let verifier = WebPkiServerVerifier::builder_with_provider(
            roots.into(),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        verifier
            .verify_server_cert(&cert.der, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn each_server_certificate_fails_the_way_it_says() {
        let ca = TestCa::new();
        assert_eq!(verify(&ca, &ca.server_cert()), Ok(()));
        assert!(matches!(
            verify(&ca, &ca.expired_server_cert()),
            Err(Error::InvalidCertificate(
                CertificateError::ExpiredContext { .. }
            ))
        ));
        assert!(matches!(
            verify(&ca, &ca.server_cert_for(&["example.invalid"])),
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForNameContext { .. }
            ))
        ));
        assert_eq!(
            verify(&TestCa::new(), &ca.server_cert()),
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        );
        assert_eq!(
            verify(&ca, &TestCert::self_signed()),
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        );
    }

    #[test]
    fn pem_holds_the_certificate_and_debug_holds_no_key() {
        let cert = TestCa::new().client_cert("billing");
        assert!(cert.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(cert.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(cert.identity_pem().ends_with(cert.key_pem()));
        assert_eq!(format!("{cert:?}"), "TestCert { .. }");
        let config = TlsConfig::new(&cert);
        assert!(!format!("{config:?}").contains("PRIVATE"));
        let _ = config.tls12_only().server_config();
    }
}
