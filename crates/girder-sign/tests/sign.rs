//! SigningLayer's behaviour over in-memory services, on paused time.

use std::time::{Duration, SystemTime};

use girder_core::{Body, BoxError, CallRecord, ErrorKind, WallClock};
use girder_sign::hmac::{Component, Encoding, HmacHash, HmacSigner, TimestampFormat};
use girder_sign::rfc9421::{self, HttpSignatureSigner, SignatureKey};
use girder_sign::sigv4::{PayloadMode, SigV4Signer};
use girder_sign::{SignEvent, Signer, SigningError, SigningErrorKind, SigningLayer, SkewPolicy};
use girder_test::{MockService, Reply};
use hmac::{Hmac, Mac};
use http::{Request, Response};
use sha2::{Digest, Sha256};
use tower::{Layer, ServiceExt};

const T0: u64 = 1_700_000_000;
const SECRET: &[u8] = b"a-very-secret-key";

fn clock() -> WallClock {
    WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(T0))
}

/// The default components plus a nonce.
fn hmac_signer() -> HmacSigner {
    HmacSigner::builder("key-1", SECRET.to_vec())
        .components([
            Component::Timestamp,
            Component::Nonce,
            Component::Method,
            Component::PathAndQuery,
            Component::BodyHash,
        ])
        .build()
        .unwrap()
}

fn post(body: &'static str) -> Request<Body> {
    Request::post("https://api.test/orders?id=7")
        .body(Body::from(body))
        .unwrap()
}

fn streaming() -> Body {
    Body::new(http_body_util::StreamBody::new(Empty))
}

struct Empty;
impl futures_core::Stream for Empty {
    type Item = Result<http_body::Frame<bytes::Bytes>, std::io::Error>;
    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(None)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// [`hmac_signer`]'s scheme, recomputed from what the service received.
fn hmac_valid(req: &girder_test::RecordedRequest) -> bool {
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}",
        req.header("x-timestamp").unwrap(),
        req.header("x-nonce").unwrap(),
        req.method,
        req.uri.path_and_query().unwrap(),
        hex(&Sha256::digest(&req.body)),
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(canonical.as_bytes());
    hex(&mac.finalize().into_bytes()) == req.header("x-signature").unwrap()
}

#[tokio::test(start_paused = true)]
async fn each_call_is_signed_anew_with_its_own_time_and_nonce() {
    let mock = MockService::new(Reply::ok());
    let svc = SigningLayer::with_clock(hmac_signer(), clock()).layer(mock.clone());
    svc.clone().oneshot(post("{\"a\":1}")).await.unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    svc.clone().oneshot(post("{\"a\":1}")).await.unwrap();

    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("x-timestamp"), Some("1700000000"));
    assert_eq!(seen[1].header("x-timestamp"), Some("1700000005"));
    assert_eq!(seen[0].header("x-api-key"), Some("key-1"));
    assert_ne!(seen[0].header("x-nonce"), seen[1].header("x-nonce"));
    assert_ne!(seen[0].header("x-signature"), seen[1].header("x-signature"));
    assert!(seen.iter().all(hmac_valid));
}

#[tokio::test(start_paused = true)]
async fn a_changed_body_or_path_no_longer_verifies() {
    let mock = MockService::new(Reply::ok());
    let svc = SigningLayer::with_clock(hmac_signer(), clock()).layer(mock.clone());
    svc.oneshot(post("{\"amount\":10}")).await.unwrap();
    let mut seen = mock.requests().remove(0);
    assert!(hmac_valid(&seen));
    let original = seen.clone();
    seen.body = bytes::Bytes::from_static(b"{\"amount\":99}");
    assert!(!hmac_valid(&seen));
    let mut seen = original;
    seen.uri = "/orders?id=8".parse().unwrap();
    assert!(!hmac_valid(&seen));
}

#[tokio::test(start_paused = true)]
async fn hmac_options_change_the_canonical_string_and_headers() {
    let signer = HmacSigner::builder("k", SECRET.to_vec())
        .components([
            Component::Method,
            Component::Path,
            Component::Header(http::header::CONTENT_TYPE),
            Component::Nonce,
            Component::Timestamp,
            Component::Body,
        ])
        .separator("|")
        .hash(HmacHash::Sha512)
        .encoding(Encoding::Base64)
        .timestamp_format(TimestampFormat::Rfc3339)
        .key_id_header(None)
        .signature_header("authorization")
        .signature_prefix("HMAC ")
        .build()
        .unwrap();
    let mock = MockService::new(Reply::ok());
    let svc = SigningLayer::with_clock(signer, clock()).layer(mock.clone());
    let mut req = post("hello");
    req.headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    svc.oneshot(req).await.unwrap();
    let seen = &mock.requests()[0];
    assert_eq!(seen.header("x-timestamp"), Some("2023-11-14T22:13:20Z"));
    assert!(seen.header("x-api-key").is_none());
    let nonce = seen.header("x-nonce").unwrap();
    let canonical = format!("POST|/orders|text/plain|{nonce}|2023-11-14T22:13:20Z|hello");
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(SECRET).unwrap();
    mac.update(canonical.as_bytes());
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(
        seen.header("authorization").unwrap(),
        format!("HMAC {expected}")
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_scheme_sends_no_unsigned_nonce() {
    let signer = HmacSigner::builder("key-1", SECRET.to_vec())
        .build()
        .unwrap();
    let mock = MockService::new(Reply::ok());
    let svc = SigningLayer::with_clock(signer, clock()).layer(mock.clone());
    svc.oneshot(post("{}")).await.unwrap();
    let seen = &mock.requests()[0];
    assert!(seen.header("x-nonce").is_none());
    let canonical = format!(
        "1700000000\nPOST\n/orders?id=7\n{}",
        hex(&Sha256::digest(b"{}"))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(canonical.as_bytes());
    assert_eq!(
        seen.header("x-signature").unwrap(),
        hex(&mac.finalize().into_bytes())
    );
}

#[tokio::test(start_paused = true)]
async fn unix_millis_timestamps() {
    let signer = HmacSigner::builder("k", SECRET.to_vec())
        .timestamp_format(TimestampFormat::UnixMillis)
        .build()
        .unwrap();
    let mock = MockService::new(Reply::ok());
    let svc = SigningLayer::with_clock(signer, clock()).layer(mock.clone());
    tokio::time::advance(Duration::from_millis(1_250)).await;
    svc.oneshot(post("")).await.unwrap();
    assert_eq!(
        mock.requests()[0].header("x-timestamp"),
        Some("1700000001250")
    );
}

fn signing_error(result: Result<Response<Body>, BoxError>) -> SigningError {
    let error = result.expect_err("signing should fail");
    assert_eq!(ErrorKind::of(&*error), ErrorKind::Signing);
    error
        .downcast_ref::<SigningError>()
        .unwrap_or_else(|| panic!("not a SigningError: {error}"))
        .clone()
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_is_refused_when_the_scheme_must_hash_it_and_nothing_is_sent() {
    let mock = MockService::new(Reply::ok());
    let key = SignatureKey::hmac_sha256(SECRET.to_vec());
    let rfc = HttpSignatureSigner::builder("k", key.clone())
        .build()
        .unwrap();
    let svc = SigningLayer::with_clock(rfc, clock()).layer(mock.clone());
    let req = Request::post("https://api.test/up")
        .body(streaming())
        .unwrap();
    let err = signing_error(svc.oneshot(req).await);
    assert_eq!(err.kind(), SigningErrorKind::StreamingBody);
    assert_eq!(err.scheme(), "rfc9421");

    let svc = SigningLayer::with_clock(hmac_signer(), clock()).layer(mock.clone());
    let req = Request::post("https://api.test/up")
        .body(streaming())
        .unwrap();
    assert_eq!(
        signing_error(svc.oneshot(req).await).kind(),
        SigningErrorKind::StreamingBody
    );
    assert_eq!(
        mock.request_count(),
        0,
        "an unsigned request must not be sent"
    );

    // Without a digest (RFC 9421) or with UNSIGNED-PAYLOAD (SigV4) it goes.
    let rfc = HttpSignatureSigner::builder("k", key)
        .content_digest(None)
        .build()
        .unwrap();
    let svc = SigningLayer::with_clock(rfc, clock()).layer(mock.clone());
    let req = Request::post("https://api.test/up")
        .body(streaming())
        .unwrap();
    svc.oneshot(req).await.unwrap();
    let sigv4 = SigV4Signer::builder("AKID", "secret", "eu-west-1", "s3")
        .payload(PayloadMode::Unsigned)
        .content_sha256_header(true)
        .build()
        .unwrap();
    let svc = SigningLayer::with_clock(sigv4, clock()).layer(mock.clone());
    let req = Request::put("https://bucket.s3.test/key")
        .body(streaming())
        .unwrap();
    svc.oneshot(req).await.unwrap();
    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].header("content-digest").is_none());
    assert!(seen[0].header("signature").is_some());
    assert_eq!(
        seen[1].header("x-amz-content-sha256"),
        Some("UNSIGNED-PAYLOAD")
    );
    assert!(
        seen[1]
            .header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKID/20231114/eu-west-1/s3/aws4_request")
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_covered_header_names_the_header_not_any_value() {
    let mock = MockService::new(Reply::ok());
    let signer = HttpSignatureSigner::builder("k", SignatureKey::hmac_sha256(SECRET.to_vec()))
        .components([
            rfc9421::Component::Method,
            rfc9421::Component::parse("x-account").unwrap(),
        ])
        .build()
        .unwrap();
    let svc = SigningLayer::with_clock(signer, clock()).layer(mock.clone());
    let err = signing_error(svc.oneshot(post("x")).await);
    assert_eq!(err.kind(), SigningErrorKind::MissingComponent);
    assert_eq!(err.detail(), Some("header x-account"));
    assert_eq!(mock.request_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn rfc9421_signatures_verify_with_the_public_key_and_cover_the_digest() {
    let key = SignatureKey::ed25519_seed([42; 32]);
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ED25519,
        key.ed25519_public_key().unwrap(),
    );
    let signer = HttpSignatureSigner::builder("ed-key", key)
        .expires_in(Some(Duration::from_secs(300)))
        .alg(true)
        .tag(Some("girder"))
        .build()
        .unwrap();
    let mock = MockService::new(Reply::ok());
    let svc = SigningLayer::with_clock(signer, clock()).layer(mock.clone());
    svc.oneshot(post("{\"a\":1}")).await.unwrap();
    let seen = &mock.requests()[0];
    let input = seen.header("signature-input").unwrap();
    let params = input.strip_prefix("sig1=").unwrap();
    assert!(params.starts_with(r#"("@method" "@target-uri" "content-digest");created=1700000000;expires=1700000300;keyid="ed-key";nonce=""#));
    assert!(params.ends_with(r#";alg="ed25519";tag="girder""#));
    assert_eq!(
        seen.header("content-digest").unwrap(),
        rfc9421::content_digest(rfc9421::DigestAlgorithm::Sha256, b"{\"a\":1}")
    );
    // Rebuild the base from what the service got (its URI is absolute in memory).
    let mut head = Request::post(seen.uri.clone())
        .body(())
        .unwrap()
        .into_parts()
        .0;
    head.headers = seen.headers.clone();
    let components = [
        rfc9421::Component::Method,
        rfc9421::Component::TargetUri,
        rfc9421::Component::Field(http::HeaderName::from_static("content-digest")),
    ];
    let base = rfc9421::signature_base(&head, &components, params).unwrap();
    assert!(base.starts_with("\"@method\": POST\n\"@target-uri\": https://api.test/orders?id=7\n"));
    let signature = seen.header("signature").unwrap();
    let b64 = signature
        .strip_prefix("sig1=:")
        .unwrap()
        .strip_suffix(':')
        .unwrap();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert!(public.verify(base.as_bytes(), &bytes).is_ok());
    // A different method breaks it.
    head.method = http::Method::PUT;
    let base = rfc9421::signature_base(&head, &components, params).unwrap();
    assert!(public.verify(base.as_bytes(), &bytes).is_err());
}

#[tokio::test(start_paused = true)]
async fn query_param_and_other_derived_components() {
    let signer = HttpSignatureSigner::builder("k", SignatureKey::hmac_sha256(SECRET.to_vec()))
        .components(
            [
                "@scheme",
                "@authority",
                "@request-target",
                "@path",
                "@query",
                r#""@query-param";name="q""#,
            ]
            .map(|c| rfc9421::Component::parse(c).unwrap()),
        )
        .nonce(false)
        .build()
        .unwrap();
    let (mut parts, ()) = Request::get("https://API.test:8443/a%20b?q=x+y%2Fz&r=1")
        .body(())
        .unwrap()
        .into_parts();
    signer
        .sign(
            &mut parts,
            girder_sign::Payload::Bytes(b""),
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
    let components: Vec<_> = [
        "@scheme",
        "@authority",
        "@request-target",
        "@path",
        "@query",
        r#""@query-param";name="q""#,
    ]
    .iter()
    .map(|c| rfc9421::Component::parse(c).unwrap())
    .collect();
    let input = parts.headers["signature-input"]
        .to_str()
        .unwrap()
        .strip_prefix("sig1=")
        .unwrap()
        .to_owned();
    let base = rfc9421::signature_base(&parts, &components, &input).unwrap();
    let expected = "\"@scheme\": https\n\"@authority\": api.test:8443\n\"@request-target\": /a%20b?q=x+y%2Fz&r=1\n\"@path\": /a%20b\n\"@query\": ?q=x+y%2Fz&r=1\n\"@query-param\";name=\"q\": x%20y%2Fz\n";
    assert!(base.starts_with(expected), "{base}");
    // A missing parameter is a missing component.
    let err = rfc9421::signature_base(
        &parts,
        &[rfc9421::Component::QueryParam("nope".into())],
        "()",
    )
    .unwrap_err();
    assert_eq!(err.kind(), SigningErrorKind::MissingComponent);
}

#[tokio::test(start_paused = true)]
async fn another_partys_signature_is_kept() {
    let signer = HttpSignatureSigner::builder("k", SignatureKey::hmac_sha256(SECRET.to_vec()))
        .label("proxy")
        .build()
        .unwrap();
    let mock = MockService::new(Reply::ok());
    let svc = SigningLayer::with_clock(signer, clock()).layer(mock.clone());
    let mut req = post("");
    req.headers_mut().insert(
        "signature-input",
        r#"app=("@method");created=1"#.parse().unwrap(),
    );
    req.headers_mut()
        .insert("signature", "app=:AAAA:".parse().unwrap());
    svc.oneshot(req).await.unwrap();
    let seen = &mock.requests()[0];
    assert!(
        seen.header("signature-input")
            .unwrap()
            .starts_with(r#"app=("@method");created=1, proxy=("#)
    );
    assert!(
        seen.header("signature")
            .unwrap()
            .starts_with("app=:AAAA:, proxy=:")
    );
}

#[tokio::test(start_paused = true)]
async fn the_call_record_notes_each_signing() {
    let mock = MockService::new(Reply::ok());
    let svc = SigningLayer::with_clock(hmac_signer(), clock()).layer(mock.clone());
    let mut req = post("");
    let record = CallRecord::ensure(&mut req);
    svc.oneshot(req).await.unwrap();
    let entries = record.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].layer, "sign");
    assert_eq!(
        entries[0].event(),
        Some(&SignEvent::Signed { scheme: "hmac" })
    );
}

#[test]
fn secrets_never_reach_debug_or_errors() {
    let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
    let token = "SESSION-TOKEN-VALUE";
    let sigv4 = SigV4Signer::builder("AKID", secret, "us-east-1", "svc")
        .session_token(token)
        .build()
        .unwrap();
    let hmac = HmacSigner::builder("k", secret.as_bytes().to_vec())
        .build()
        .unwrap();
    let rfc =
        HttpSignatureSigner::builder("k", SignatureKey::hmac_sha256(secret.as_bytes().to_vec()))
            .build()
            .unwrap();
    let ed = SignatureKey::ed25519_seed([9; 32]);
    let layer = SigningLayer::with_clock(
        sigv4.clone(),
        WallClock::starting_at(SystemTime::UNIX_EPOCH),
    );
    let texts = [
        format!("{sigv4:?}"),
        format!("{hmac:?}"),
        format!("{rfc:?}"),
        format!("{ed:?}"),
        format!("{layer:?}"),
        format!("{:?}", HmacSigner::builder("k", secret.as_bytes().to_vec())),
    ];
    for text in &texts {
        assert!(
            !text.contains(secret) && !text.contains(token),
            "leaked: {text}"
        );
        assert!(!text.contains("9, 9, 9"), "seed leaked: {text}");
    }
    assert!(texts[0].contains("[redacted]"));
    // An error names the header, never its value.
    let (mut parts, ()) = Request::get("/relative").body(()).unwrap().into_parts();
    parts.headers.insert(
        "x-amz-meta",
        http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
    );
    let err = sigv4
        .sign(
            &mut parts,
            girder_sign::Payload::Bytes(b""),
            SystemTime::UNIX_EPOCH,
        )
        .unwrap_err();
    assert_eq!(err.kind(), SigningErrorKind::MissingComponent, "{err}");
    parts.headers.insert("host", "h.test".parse().unwrap());
    let err = sigv4
        .sign(
            &mut parts,
            girder_sign::Payload::Bytes(b""),
            SystemTime::UNIX_EPOCH,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot sign request (sigv4): a value cannot be signed: header x-amz-meta is not visible ASCII"
    );
}

#[test]
fn nonsense_configurations_are_refused_with_the_setting_named() {
    let field = |r: Result<HmacSigner, girder_sign::InvalidSigningConfig>| r.unwrap_err().field();
    assert_eq!(
        field(HmacSigner::builder("k", Vec::new()).build()),
        "secret"
    );
    assert_eq!(
        field(
            HmacSigner::builder("k", SECRET.to_vec())
                .components([])
                .build()
        ),
        "components"
    );
    assert_eq!(
        field(
            HmacSigner::builder("k", SECRET.to_vec())
                .timestamp_header(None)
                .build()
        ),
        "timestamp_header"
    );
    assert_eq!(
        field(
            HmacSigner::builder("k", SECRET.to_vec())
                .components([Component::Nonce])
                .nonce_header(None)
                .build()
        ),
        "nonce_header"
    );
    assert_eq!(
        field(HmacSigner::builder("k\n", SECRET.to_vec()).build()),
        "key_id"
    );
    assert_eq!(
        field(
            HmacSigner::builder("k", SECRET.to_vec())
                .signature_header("bad header")
                .build()
        ),
        "signature_header"
    );
    assert_eq!(
        field(
            HmacSigner::builder("k", SECRET.to_vec())
                .signature_header("x-api-key")
                .build()
        ),
        "signature_header"
    );
    // Without a timestamp header, a scheme that does not sign the time is fine.
    assert!(
        HmacSigner::builder("k", SECRET.to_vec())
            .components([Component::Method])
            .timestamp_header(None)
            .build()
            .is_ok()
    );

    let key = || SignatureKey::hmac_sha256(SECRET.to_vec());
    let rfc = |b: girder_sign::rfc9421::HttpSignatureSignerBuilder| b.build().unwrap_err().field();
    assert_eq!(
        rfc(HttpSignatureSigner::builder("k", key()).label("Sig")),
        "label"
    );
    assert_eq!(rfc(HttpSignatureSigner::builder("ké", key())), "key_id");
    assert_eq!(
        rfc(HttpSignatureSigner::builder(
            "k",
            SignatureKey::hmac_sha256(Vec::new())
        )),
        "key"
    );
    assert_eq!(
        rfc(HttpSignatureSigner::builder("k", key())
            .created(false)
            .expires_in(Some(Duration::from_secs(1)))),
        "expires_in"
    );
    assert_eq!(
        rfc(HttpSignatureSigner::builder("k", key())
            .components([rfc9421::Component::Method, rfc9421::Component::Method])),
        "components"
    );
    assert!(rfc9421::Component::parse("@nonsense").is_err());
    assert!(rfc9421::Component::parse(r#""content-type";sf"#).is_err());
    assert!(rfc9421::Component::parse(r#""@query-param""#).is_err());
    assert!(rfc9421::Component::parse("bad header").is_err());

    let v4 = |b: girder_sign::sigv4::SigV4SignerBuilder| b.build().unwrap_err().field();
    assert_eq!(v4(SigV4Signer::builder("", "s", "r", "s")), "access_key_id");
    assert_eq!(
        v4(SigV4Signer::builder("a", "", "r", "s")),
        "secret_access_key"
    );
    assert_eq!(v4(SigV4Signer::builder("a", "s", "us/east", "s")), "region");
    assert_eq!(v4(SigV4Signer::builder("a", "s", "r", "")), "service");
    assert_eq!(
        v4(SigV4Signer::builder("a", "s", "r", "s").session_token("a\nb")),
        "session_token"
    );

    assert_eq!(
        SkewPolicy::builder()
            .threshold(Duration::from_millis(500))
            .build()
            .unwrap_err()
            .field(),
        "threshold"
    );
    assert_eq!(
        SkewPolicy::builder()
            .max_offset(Duration::from_secs(10))
            .build()
            .unwrap_err()
            .field(),
        "max_offset"
    );
}

// ------------------------------------------------------------ clock skew

fn http_date(unix: u64) -> String {
    httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(unix))
}

fn skewed_layer() -> SigningLayer<HmacSigner> {
    SigningLayer::with_clock(hmac_signer(), clock()).skew(SkewPolicy::default())
}

#[tokio::test(start_paused = true)]
async fn a_time_rejection_teaches_the_offset_and_the_request_is_re_signed_once() {
    let server_time = T0 + 600; // the server is ten minutes ahead
    let mock = MockService::new([
        Reply::status(401).header("date", &http_date(server_time)),
        Reply::ok(),
        Reply::ok(),
    ]);
    let layer = skewed_layer();
    let svc = layer.layer(mock.clone());
    let mut req = post("{\"a\":1}");
    let record = CallRecord::ensure(&mut req);
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("x-timestamp"), Some("1700000000"));
    assert_eq!(seen[1].header("x-timestamp"), Some("1700000600"));
    assert_eq!(seen[1].body, "{\"a\":1}");
    assert!(hmac_valid(&seen[1]));
    assert_eq!(layer.learned_offset_ms(), 600_000);
    let events = record.entries();
    assert_eq!(events.len(), 3, "{events:?}");
    // Issue 18: the re-sign is a resend the trace layer counts (it was a
    // free-text note, invisible to `CallRecord::resends`).
    assert_eq!(
        events[1].event(),
        Some(&SignEvent::Resigned { offset_ms: 600_000 })
    );
    assert_eq!(record.resends(), 1);

    // The next call starts at the server's time.
    svc.oneshot(post("")).await.unwrap();
    assert_eq!(mock.requests()[2].header("x-timestamp"), Some("1700000600"));
}

#[tokio::test(start_paused = true)]
async fn never_more_than_one_re_sign_per_call() {
    let mock = MockService::new(Reply::status(403).header("date", &http_date(T0 - 3_600)));
    let layer = skewed_layer();
    let res = layer.layer(mock.clone()).oneshot(post("")).await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(mock.request_count(), 2);
    assert_eq!(layer.learned_offset_ms(), -3_600_000);
}

#[tokio::test(start_paused = true)]
async fn no_re_sign_without_a_usable_skewed_date() {
    let cases = [
        Reply::status(401).header("date", &http_date(T0 + 30)), // within the threshold
        Reply::status(401).header("date", "yesterday-ish"),     // garbage
        Reply::status(401),                                     // no Date
        Reply::status(401).header("date", &http_date(T0 + 3 * 86_400)), // beyond max_offset
        Reply::status(500).header("date", &http_date(T0 + 600)), // not a time rejection
    ];
    for reply in cases {
        let mock = MockService::new(reply);
        let layer = skewed_layer();
        layer.layer(mock.clone()).oneshot(post("")).await.unwrap();
        assert_eq!(mock.request_count(), 1);
        assert_eq!(layer.learned_offset_ms(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn aws_skew_error_type_is_recognised_and_predicates_can_be_replaced() {
    let mock = MockService::new([
        Reply::status(400)
            .header(
                "x-amzn-errortype",
                "RequestTimeTooSkewed:http://internal.amazon.com/",
            )
            .header("date", &http_date(T0 + 900)),
        Reply::ok(),
    ]);
    let layer = skewed_layer();
    layer.layer(mock.clone()).oneshot(post("")).await.unwrap();
    assert_eq!(mock.request_count(), 2);

    let policy = SkewPolicy::builder()
        .rejected_when(|status, _| status == http::StatusCode::UNPROCESSABLE_ENTITY)
        .build()
        .unwrap();
    let mock = MockService::new([
        Reply::status(422).header("date", &http_date(T0 + 900)),
        Reply::ok(),
    ]);
    let layer = SigningLayer::with_clock(hmac_signer(), clock()).skew(policy);
    layer.layer(mock.clone()).oneshot(post("")).await.unwrap();
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_is_never_re_sent_after_a_skew_rejection() {
    let signer = HttpSignatureSigner::builder("k", SignatureKey::hmac_sha256(SECRET.to_vec()))
        .content_digest(None)
        .build()
        .unwrap();
    let mock = MockService::new([
        Reply::status(401).header("date", &http_date(T0 + 600)),
        Reply::ok(),
    ]);
    let layer = SigningLayer::with_clock(signer, clock()).skew(SkewPolicy::default());
    let req = Request::post("https://api.test/up")
        .body(streaming())
        .unwrap();
    let res = layer.layer(mock.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_during_the_re_sent_attempt_is_safe() {
    let mock = MockService::new([
        Reply::status(401).header("date", &http_date(T0 + 600)),
        Reply::ok().delay(Duration::from_secs(10)),
        Reply::ok(),
    ]);
    let layer = skewed_layer();
    let svc = layer.layer(mock.clone());
    let mut future = Box::pin(svc.clone().oneshot(post("x")));
    for _ in 0..10 {
        assert!(girder_test::poll_once(&mut future).is_pending());
        tokio::task::yield_now().await;
        if mock.request_count() == 2 {
            break;
        }
    }
    assert_eq!(
        mock.request_count(),
        2,
        "the re-signed attempt is in flight"
    );
    drop(future);
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(
        mock.request_count(),
        2,
        "nothing more is sent after the drop"
    );
    assert_eq!(
        layer.learned_offset_ms(),
        600_000,
        "the offset stays learned"
    );
    svc.oneshot(post("")).await.unwrap();
    assert_eq!(mock.requests()[2].header("x-timestamp"), Some("1700000620"));
}

#[tokio::test(start_paused = true)]
async fn skew_recovery_is_off_by_default() {
    let mock = MockService::new([
        Reply::status(401).header("date", &http_date(T0 + 600)),
        Reply::ok(),
    ]);
    let svc = SigningLayer::with_clock(hmac_signer(), clock()).layer(mock.clone());
    assert_eq!(svc.oneshot(post("")).await.unwrap().status(), 401);
    assert_eq!(mock.request_count(), 1);
}

#[test]
fn sigv4_day_key_follows_the_date() {
    let signer = || {
        SigV4Signer::builder("AKID", "secret", "us-east-1", "svc")
            .build()
            .unwrap()
    };
    let shared = signer();
    let day = 86_400;
    for at in [T0, T0 + day, T0, T0 + 2 * day] {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(at);
        let sign = |s: &SigV4Signer| {
            let (mut parts, ()) = Request::get("https://h.test/")
                .body(())
                .unwrap()
                .into_parts();
            s.sign(&mut parts, girder_sign::Payload::Bytes(b""), at)
                .unwrap();
            parts.headers["authorization"].clone()
        };
        // A signer that has signed on other days agrees with a fresh one.
        assert_eq!(sign(&shared), sign(&signer()));
    }
}

#[test]
fn authority_leaves_out_the_default_port_and_falls_back_to_host() {
    let base = |uri: &str, host: Option<&str>| {
        let mut req = Request::get(uri);
        if let Some(host) = host {
            req = req.header("host", host);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        rfc9421::signature_base(&parts, &[rfc9421::Component::Authority], "()").unwrap()
    };
    assert!(base("https://Example.COM:443/x", None).starts_with("\"@authority\": example.com\n"));
    assert!(base("http://example.com:80/x", None).starts_with("\"@authority\": example.com\n"));
    assert!(base("https://example.com:80/x", None).starts_with("\"@authority\": example.com:80\n"));
    assert!(base("/x", Some("Origin.test:8080")).starts_with("\"@authority\": origin.test:8080\n"));
}

#[test]
fn presigned_urls_carry_the_signature_in_the_query() {
    let signer = SigV4Signer::builder("AKID", "secret", "us-east-1", "s3")
        .session_token("tok/en+")
        .payload(PayloadMode::Unsigned)
        .build()
        .unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(T0);
    let (mut parts, ()) = Request::get("https://bucket.s3.test/a/key.txt?versionId=3")
        .body(())
        .unwrap()
        .into_parts();
    signer
        .presign(
            &mut parts,
            girder_sign::Payload::Streaming,
            at,
            Duration::from_secs(600),
        )
        .unwrap();
    let query = parts.uri.query().unwrap();
    assert!(query.starts_with("versionId=3&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20231114%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20231114T221320Z&X-Amz-SignedHeaders=host&X-Amz-Expires=600&X-Amz-Security-Token=tok%2Fen%2B&X-Amz-Signature="), "{query}");
    assert!(parts.headers.get("authorization").is_none());
    for bad in [Duration::ZERO, Duration::from_secs(7 * 86_400 + 1)] {
        let (mut parts, ()) = Request::get("https://h.test/")
            .body(())
            .unwrap()
            .into_parts();
        let err = signer
            .presign(&mut parts, girder_sign::Payload::Bytes(b""), at, bad)
            .unwrap_err();
        assert_eq!(err.kind(), SigningErrorKind::InvalidValue);
    }
}

// Pins a bug of the first version, which added each learned delta to the
// offset and compared Date with the time of the answer: the second call
// saw no skew (the first had corrected the clock) and returned its 401.
#[tokio::test(start_paused = true)]
async fn concurrent_rejections_agree_on_one_offset_and_each_call_re_signs() {
    let rejected = Reply::status(401)
        .header("date", &http_date(T0 + 600))
        .delay(Duration::from_secs(1));
    let mock = MockService::new([rejected.clone(), rejected, Reply::ok()]);
    let layer = skewed_layer();
    let svc = layer.layer(mock.clone());
    let (a, b) = tokio::join!(
        svc.clone().oneshot(post("a")),
        svc.clone().oneshot(post("b"))
    );
    assert_eq!(a.unwrap().status(), 200);
    assert_eq!(b.unwrap().status(), 200);
    let seen = mock.requests();
    assert_eq!(seen.len(), 4);
    // Both first attempts at our time; both re-signs at the server's
    // (the Date is from 1 s before the answers came).
    assert_eq!(seen[0].header("x-timestamp"), Some("1700000000"));
    assert_eq!(seen[1].header("x-timestamp"), Some("1700000000"));
    assert_eq!(seen[2].header("x-timestamp"), Some("1700000600"));
    assert_eq!(seen[3].header("x-timestamp"), Some("1700000600"));
    assert_eq!(layer.learned_offset_ms(), 599_000);
}

#[test]
fn a_stale_content_digest_is_replaced_by_the_real_one() {
    let signer = HttpSignatureSigner::builder("k", SignatureKey::hmac_sha256(SECRET.to_vec()))
        .content_digest(Some(rfc9421::DigestAlgorithm::Sha512))
        .build()
        .unwrap();
    let (mut parts, ()) = Request::post("https://api.test/x")
        .header("content-digest", "sha-256=:AAAA:")
        .body(())
        .unwrap()
        .into_parts();
    signer
        .sign(
            &mut parts,
            girder_sign::Payload::Bytes(b"real"),
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
    assert_eq!(parts.headers.get_all("content-digest").iter().count(), 1);
    assert_eq!(
        parts.headers["content-digest"],
        rfc9421::content_digest(rfc9421::DigestAlgorithm::Sha512, b"real")
    );
    assert!(
        parts.headers["content-digest"]
            .to_str()
            .unwrap()
            .starts_with("sha-512=:")
    );
}
