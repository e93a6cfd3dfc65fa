//! SigningLayer under RetryLayer over the real transport, against
//! `TestServer` on loopback. The server side checks every request with a
//! verifier written here, from the bytes it received, independently of
//! girder-sign's own code.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use girder::retry::{RetryLayer, RetryPolicy};
use girder::sign::SigningLayer;
use girder::sign::SkewPolicy;
use girder::sign::hmac::{Component as HmacComponent, HmacSigner};
use girder::sign::rfc9421::{Component, HttpSignatureSigner, SignatureKey};
use girder::{Body, CallRecord, CallRecordLayer, ErrorKind, Transport};
use girder_test::{RecordedRequest, Reply, TestServer};
use hmac::{Hmac, Mac};
use http::Request;
use sha2::{Digest, Sha256};
use tower::{ServiceBuilder, ServiceExt};

const SECRET: &[u8] = b"end-to-end-secret";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The server's check of the HMAC scheme of [`hmac_signer`].
fn hmac_verifies(req: &RecordedRequest) -> bool {
    let (Some(ts), Some(sig)) = (req.header("x-timestamp"), req.header("x-signature")) else {
        return false;
    };
    let Some(nonce) = req.header("x-nonce") else {
        return false;
    };
    let canonical = format!(
        "{ts}\n{nonce}\n{}\n{}\n{}",
        req.method,
        req.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        hex(&Sha256::digest(&req.body))
    );
    req.header("x-api-key") == Some("client-7") && hex(&mac(canonical.as_bytes())) == sig
}

/// The server's check of an RFC 9421 hmac-sha256 signature labelled
/// `sig1` over `@method`, `@authority`, `@path`, `@query` and
/// `content-digest`, written from the RFC: it rebuilds the signature base
/// from the received request and the received `@signature-params`.
fn rfc9421_verifies(req: &RecordedRequest) -> bool {
    let Some(input) = req.header("signature-input") else {
        return false;
    };
    let Some(params) = input.strip_prefix("sig1=") else {
        return false;
    };
    let expected_list = r#"("@method" "@authority" "@path" "@query" "content-digest")"#;
    if !params.starts_with(expected_list) {
        return false;
    }
    let Some(digest) = req.header("content-digest") else {
        return false;
    };
    if digest != format!("sha-256=:{}:", B64.encode(Sha256::digest(&req.body))) {
        return false;
    }
    let base = format!(
        "\"@method\": {}\n\"@authority\": {}\n\"@path\": {}\n\"@query\": ?{}\n\"content-digest\": {digest}\n\"@signature-params\": {params}",
        req.method,
        req.header("host").unwrap_or(""),
        req.uri.path(),
        req.uri.query().unwrap_or(""),
    );
    let Some(signature) = req.header("signature") else {
        return false;
    };
    let expected = format!("sig1=:{}:", B64.encode(mac(base.as_bytes())));
    signature == expected
}

fn created(req: &RecordedRequest) -> u64 {
    let input = req.header("signature-input").unwrap();
    let at = input.find(";created=").unwrap() + ";created=".len();
    input[at..].split(';').next().unwrap().parse().unwrap()
}

/// Timestamp, nonce, method, path and query, body hash.
fn hmac_signer() -> HmacSigner {
    HmacSigner::builder("client-7", SECRET.to_vec())
        .components([
            HmacComponent::Timestamp,
            HmacComponent::Nonce,
            HmacComponent::Method,
            HmacComponent::PathAndQuery,
            HmacComponent::BodyHash,
        ])
        .build()
        .unwrap()
}

fn retry() -> RetryLayer {
    RetryLayer::new(RetryPolicy::builder().seed(7).build().unwrap())
}

#[tokio::test(start_paused = true)]
async fn every_retry_is_signed_anew_and_verifies_hmac() {
    let server = TestServer::start().await;
    server.route(
        "/orders",
        [
            Reply::status(503).header("retry-after", "1"),
            Reply::status(503).header("retry-after", "1"),
            Reply::ok().body("created"),
        ],
    );
    let signer = hmac_signer();
    let client = ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .layer(retry())
        .layer(SigningLayer::new(signer))
        .service(Transport::new().unwrap());
    let req = Request::put(server.url("/orders?id=42"))
        .body(Body::from(r#"{"qty":3}"#))
        .unwrap();
    let res = client.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let signed = res
        .extensions()
        .get::<CallRecord>()
        .unwrap()
        .entries()
        .into_iter()
        .filter(|e| e.layer == "sign")
        .count();
    assert_eq!(signed, 3, "one Signed event per attempt");

    let seen = server.requests_to("/orders");
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(hmac_verifies), "every attempt verifies");
    let stamps: Vec<u64> = seen
        .iter()
        .map(|r| r.header("x-timestamp").unwrap().parse().unwrap())
        .collect();
    assert!(
        stamps[0] < stamps[1] && stamps[1] < stamps[2],
        "fresh timestamps: {stamps:?}"
    );
    let nonces: std::collections::HashSet<_> =
        seen.iter().map(|r| r.header("x-nonce").unwrap()).collect();
    assert_eq!(nonces.len(), 3, "fresh nonces");

    // Tampering with what was received breaks verification.
    let mut tampered = seen[2].clone();
    tampered.body = bytes::Bytes::from_static(br#"{"qty":300}"#);
    assert!(!hmac_verifies(&tampered));
    let mut tampered = seen[2].clone();
    tampered.method = http::Method::DELETE;
    assert!(!hmac_verifies(&tampered));
    let mut tampered = seen[2].clone();
    tampered
        .headers
        .insert("x-timestamp", (stamps[2] + 1).to_string().parse().unwrap());
    assert!(!hmac_verifies(&tampered));
}

fn rfc9421_signer() -> HttpSignatureSigner {
    HttpSignatureSigner::builder("client-7", SignatureKey::hmac_sha256(SECRET.to_vec()))
        .components([
            Component::Method,
            Component::Authority,
            Component::Path,
            Component::Query,
        ])
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn every_retry_is_signed_anew_and_verifies_rfc9421() {
    let server = TestServer::start().await;
    server.route(
        "/items",
        [Reply::status(502).header("retry-after", "2"), Reply::ok()],
    );
    let client = ServiceBuilder::new()
        .layer(retry())
        .layer(SigningLayer::new(rfc9421_signer()))
        .service(Transport::new().unwrap());
    let req = Request::post(server.url("/items?sku=a%20b"))
        .header("idempotency-key", "k-1")
        .body(Body::from("hello"))
        .unwrap();
    assert_eq!(client.oneshot(req).await.unwrap().status(), 200);
    let seen = server.requests_to("/items");
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(rfc9421_verifies), "both attempts verify");
    assert!(
        created(&seen[1]) >= created(&seen[0]) + 2,
        "a new created time"
    );
    assert_ne!(seen[0].header("signature"), seen[1].header("signature"));

    let mut tampered = seen[1].clone();
    tampered.body = bytes::Bytes::from_static(b"hellO");
    assert!(
        !rfc9421_verifies(&tampered),
        "body change breaks the digest"
    );
    let mut tampered = seen[1].clone();
    tampered.uri = "/items?sku=other".parse().unwrap();
    assert!(
        !rfc9421_verifies(&tampered),
        "query change breaks the signature"
    );
    let mut tampered = seen[1].clone();
    let forged = tampered
        .header("signature-input")
        .unwrap()
        .replace(";created=", ";created=1");
    tampered
        .headers
        .insert("signature-input", forged.parse().unwrap());
    assert!(
        !rfc9421_verifies(&tampered),
        "a changed parameter breaks the signature"
    );
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_is_refused_before_anything_is_sent() {
    let server = TestServer::start().await;
    server.route("/upload", Reply::ok());
    let client = ServiceBuilder::new()
        .layer(SigningLayer::new(rfc9421_signer()))
        .service(Transport::new().unwrap());
    let stream = http_body_util::StreamBody::new(Once(Some(bytes::Bytes::from_static(b"chunk"))));
    let req = Request::post(server.url("/upload"))
        .body(Body::new(stream))
        .unwrap();
    let error = client.oneshot(req).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*error), ErrorKind::Signing);
    assert!(error.downcast_ref::<girder::SigningError>().is_some());
    assert_eq!(server.request_count(), 0);
}

struct Once(Option<bytes::Bytes>);
impl futures_core::Stream for Once {
    type Item = Result<http_body::Frame<bytes::Bytes>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[tokio::test(start_paused = true)]
async fn a_skewed_server_is_answered_with_one_re_signed_request() {
    let server = TestServer::start().await;
    let server_time = girder::core::WallClock::system().now() + Duration::from_secs(3_600);
    server.route(
        "/skewed",
        [
            Reply::status(401).header("date", &httpdate::fmt_http_date(server_time)),
            Reply::ok(),
        ],
    );
    let layer = SigningLayer::new(hmac_signer()).skew(SkewPolicy::default());
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(Transport::new().unwrap());
    let req = Request::post(server.url("/skewed"))
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(client.oneshot(req).await.unwrap().status(), 200);
    let seen = server.requests_to("/skewed");
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(hmac_verifies));
    let first: i64 = seen[0].header("x-timestamp").unwrap().parse().unwrap();
    let second: i64 = seen[1].header("x-timestamp").unwrap().parse().unwrap();
    assert!(
        (second - first - 3_600).abs() <= 2,
        "re-signed at the server's time: {first} -> {second}"
    );
    assert!((layer.learned_offset_ms() - 3_600_000).abs() <= 2_000);
}
