//! TLS end to end: the client and the transport against girder-test's TLS
//! server on loopback, with a CA and certificates made for each test
//! (issue 23). Each refusal is `Kind::Tls`, sends no request and is never
//! retried.

use std::sync::{Arc, Mutex};

use girder::breaker::BreakerPolicy;
use girder::core::classify::{Class, Classify, DefaultClassifier, Outcome, Reason, TransportError};
use girder::retry::RetryPolicy;
use girder::retry::{NoRetry, RetryDecision};
use girder::tls::{Certificate, Identity, TlsVersion};
use girder::{Body, CallRecord, Client, ClientBuilder, Error, Kind, Transport};
use girder_test::tls::{TestCa, TestCert, TlsConfig};
use girder_test::{Reply, TestServer};
use rustls::CertificateError;
use tower::ServiceExt;

/// A TLS server presenting `config`'s certificate, answering `/hello`.
async fn server(config: TlsConfig) -> TestServer {
    let server = TestServer::start_tls(config).await;
    server.route("/hello", Reply::ok().body("hi"));
    server
}

fn trusting(ca: &TestCa) -> ClientBuilder {
    Client::builder()
        .add_root_certificate(Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
        // Four attempts if the classifier allowed them.
        .retry(RetryPolicy::builder().max_attempts(4).build().unwrap())
}

/// GETs `/hello` with a call record of the test's own, and returns both.
async fn get(client: &Client, server: &TestServer) -> (Result<String, Error>, CallRecord) {
    let mut request = http::Request::get(server.url("/hello"))
        .body(Body::empty())
        .unwrap();
    let record = CallRecord::ensure(&mut request);
    let result = match client.execute(request).await {
        Ok(response) => response.text().await,
        Err(e) => Err(e),
    };
    (result, record)
}

/// rustls's error in `error`'s chain (tokio-rustls carries it inside an
/// `io::Error`, whose `source()` skips it).
fn rustls_error(error: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    let mut next = Some(error);
    while let Some(err) = next {
        if let Some(found) = err.downcast_ref::<rustls::Error>() {
            return Some(found.clone());
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && let Some(found) = rustls_error(inner)
        {
            return Some(found);
        }
        next = err.source();
    }
    None
}

/// The call failed with `Kind::Tls`, not retried, and the server saw one
/// connection and no request.
fn assert_refused(
    result: Result<String, Error>,
    record: &CallRecord,
    server: &TestServer,
) -> Error {
    let error = result.unwrap_err();
    assert_eq!(error.kind(), Kind::Tls, "{error}");
    assert!(!error.is_retryable());
    // A connect error to reqwest's predicates, as in reqwest.
    assert!(error.is_connect() && error.is_request());
    assert!(server.requests().is_empty());
    assert_eq!(server.connections(), 1, "the handshake was tried again");
    assert_eq!(record.attempts(), 1);
    assert!(
        record.any(|entry| matches!(
            entry.event(),
            Some(RetryDecision::NotRetried {
                reason: Some(Reason::Transport(TransportError::Tls)),
                why: NoRetry::NotRetryable,
            })
        )),
        "{record}"
    );
    error
}

#[tokio::test]
async fn a_custom_root_is_trusted() {
    let ca = TestCa::new();
    let server = server(TlsConfig::new(&ca.server_cert())).await;
    let client = trusting(&ca).build().unwrap();
    let (result, _) = get(&client, &server).await;
    assert_eq!(result.unwrap(), "hi");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unknown_ca_is_refused_as_tls_and_not_retried() {
    let ca = TestCa::new();
    let server = server(TlsConfig::new(&ca.server_cert())).await;
    let client = trusting(&TestCa::new()).build().unwrap();
    let (result, record) = get(&client, &server).await;
    let error = assert_refused(result, &record, &server);
    assert_eq!(
        rustls_error(&error),
        Some(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        ))
    );
    assert!(
        error
            .to_string()
            .starts_with("TLS error for https://127.0.0.1:")
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let ca = TestCa::new();
    let server = server(TlsConfig::new(&ca.expired_server_cert())).await;
    let (result, record) = get(&trusting(&ca).build().unwrap(), &server).await;
    let error = assert_refused(result, &record, &server);
    assert!(
        matches!(
            rustls_error(&error),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::ExpiredContext { .. }
            ))
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let ca = TestCa::new();
    let server = server(TlsConfig::new(&ca.server_cert_for(&["example.invalid"]))).await;
    let (result, record) = get(&trusting(&ca).build().unwrap(), &server).await;
    let error = assert_refused(result, &record, &server);
    assert!(
        matches!(
            rustls_error(&error),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{error}"
    );
}

#[tokio::test]
async fn mutual_tls_is_refused_without_an_identity_and_satisfied_with_one() {
    let ca = TestCa::new();
    let refusing = server(TlsConfig::new(&ca.server_cert()).require_client_cert(&ca)).await;
    let (result, record) = get(&trusting(&ca).build().unwrap(), &refusing).await;
    // TLS 1.3: the client's handshake is over before the server reads its
    // (empty) certificate, so the refusal is an alert read with the
    // response; it is a TLS failure all the same. (Over HTTP/2, feature
    // `http2`, h2 keeps only the text of rustls's error, not its type.)
    let error = assert_refused(result, &record, &refusing);
    assert!(
        error
            .to_string()
            .ends_with("received fatal alert: CertificateRequired"),
        "{error}"
    );

    let accepting = server(TlsConfig::new(&ca.server_cert()).require_client_cert(&ca)).await;
    let identity = Identity::from_pem(ca.client_cert("billing").identity_pem().as_bytes()).unwrap();
    let client = trusting(&ca).identity(identity).build().unwrap();
    let (result, _) = get(&client, &accepting).await;
    assert_eq!(result.unwrap(), "hi");
    assert_eq!(accepting.requests().len(), 1);
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let ca = TestCa::new();
    let server = server(TlsConfig::new(&ca.server_cert()).require_client_cert(&ca)).await;
    let stranger = TestCa::new().client_cert("intruder");
    let identity = Identity::from_pem(stranger.identity_pem().as_bytes()).unwrap();
    let client = trusting(&ca).identity(identity).build().unwrap();
    let (result, record) = get(&client, &server).await;
    assert_refused(result, &record, &server);
}

#[tokio::test]
async fn without_the_built_in_roots_only_the_added_ones_are_trusted() {
    let ca = TestCa::new();
    let server = server(TlsConfig::new(&ca.server_cert())).await;
    let client = trusting(&ca)
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    let (result, _) = get(&client, &server).await;
    assert_eq!(result.unwrap(), "hi");

    let error = Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), Kind::Builder);
    assert!(
        error.to_string().contains("no root certificates"),
        "{error}"
    );
}

#[tokio::test]
async fn a_ca_file_from_the_config_is_trusted() {
    let ca = TestCa::new();
    let server = server(TlsConfig::new(&ca.server_cert())).await;
    let path = std::env::temp_dir().join(format!("girder-tls-ca-{}.pem", std::process::id()));
    std::fs::write(&path, ca.cert_pem()).unwrap();
    let config = girder::ClientConfig::from_lookup("API", |name| {
        (name == "API_CA_FILE").then(|| path.display().to_string())
    })
    .unwrap();
    let client = config.builder().unwrap().build().unwrap();
    std::fs::remove_file(&path).unwrap();
    let (result, _) = get(&client, &server).await;
    assert_eq!(result.unwrap(), "hi");
}

#[tokio::test]
async fn a_minimum_of_tls_1_3_refuses_a_tls_1_2_server() {
    let ca = TestCa::new();
    let server = server(TlsConfig::new(&ca.server_cert()).tls12_only()).await;
    let strict = trusting(&ca)
        .min_tls_version(TlsVersion::Tls1_3)
        .build()
        .unwrap();
    let (result, record) = get(&strict, &server).await;
    let error = assert_refused(result, &record, &server);
    assert!(rustls_error(&error).is_some(), "{error}");

    // The same server is fine at the default minimum, 1.2.
    let (result, _) = get(&trusting(&ca).build().unwrap(), &server).await;
    assert_eq!(result.unwrap(), "hi");
}

#[tokio::test]
async fn danger_accept_invalid_certs_reaches_a_self_signed_server_and_warns() {
    let server = server(TlsConfig::new(&TestCert::self_signed())).await;
    let (result, record) = get(&Client::builder().build().unwrap(), &server).await;
    assert_refused(result, &record, &server);

    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let client = tracing::subscriber::with_default(subscriber, || {
        Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap()
    });
    let warnings = logs.text();
    assert_eq!(warnings.matches("danger_accept_invalid_certs").count(), 1);
    assert!(warnings.contains("WARN"), "{warnings}");
    let (result, _) = get(&client, &server).await;
    assert_eq!(result.unwrap(), "hi");
}

#[tokio::test]
async fn tls_failures_open_the_circuit_like_connect_errors() {
    let ca = TestCa::new();
    let server = server(TlsConfig::new(&ca.expired_server_cert())).await;
    let client = trusting(&ca)
        .circuit_breaker(
            BreakerPolicy::builder()
                .consecutive_failures(2)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    for _ in 0..2 {
        let (result, _) = get(&client, &server).await;
        assert_eq!(result.unwrap_err().kind(), Kind::Tls);
    }
    let (result, _) = get(&client, &server).await;
    assert_eq!(result.unwrap_err().kind(), Kind::CircuitOpen);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn the_transport_alone_marks_tls_failures_for_any_classifier() {
    let ca = TestCa::new();
    let server = server(TlsConfig::new(&ca.server_cert())).await;
    let root = Certificate::from_der(TestCa::new().cert_der()).unwrap();
    let transport = Transport::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let request = http::Request::get(server.url("/hello"))
        .body(Body::empty())
        .unwrap();
    let error = transport.oneshot(request).await.unwrap_err();
    assert!(error.is::<girder::TlsError>());
    assert!(error.source().is_some());
    assert_eq!(
        DefaultClassifier.classify(Outcome::error(&*error)),
        Class::Failure(Reason::Transport(TransportError::Tls))
    );
    assert_eq!(girder::ErrorKind::of(&*error), girder::ErrorKind::Tls);
}

#[test]
fn an_identity_never_shows_its_key() {
    let cert = TestCa::new().client_cert("billing");
    let identity = Identity::from_pem(cert.identity_pem().as_bytes()).unwrap();
    let builder = Transport::builder().identity(identity.clone());
    let shown = format!("{identity:?} {builder:?}");
    assert!(
        shown.contains("Identity { certificates: 1, key: [redacted] }"),
        "{shown}"
    );
    for line in cert.key_pem().lines().filter(|l| !l.starts_with("-----")) {
        assert!(!shown.contains(line), "key material in {shown}");
    }

    // A key that belongs to another certificate: refused, and not quoted.
    let other = TestCa::new().client_cert("other");
    let mismatched = format!("{}{}", cert.cert_pem(), other.key_pem());
    let error = Identity::from_pem(mismatched.as_bytes()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid identity: the private key does not belong to the first certificate"
    );
    let error = Identity::from_pem(cert.cert_pem().as_bytes()).unwrap_err();
    assert!(error.to_string().contains("no private key"), "{error}");
    let error = Certificate::from_pem(
        b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid certificate: a PEM section is not valid base64"
    );
    let bundle = format!("{}{}", cert.cert_pem(), other.cert_pem());
    assert_eq!(
        Certificate::from_pem_bundle(bundle.as_bytes())
            .unwrap()
            .len(),
        2
    );
}

/// What a `tracing` subscriber wrote.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}
