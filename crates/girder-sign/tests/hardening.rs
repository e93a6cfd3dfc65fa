//! Issue 18 (signing parts): each test pins one defect found by the
//! hardening review, and fails on the code before its fix.

use std::time::{Duration, SystemTime};

use girder_core::origin::{CredentialScope, CrossOriginHop, Origin};
use girder_core::secrets::{MASK, SecretValues};
use girder_core::{Body, WallClock};
use girder_sign::hmac::HmacSigner;
use girder_sign::rfc9421::{self, Component, DigestAlgorithm, HttpSignatureSigner, SignatureKey};
use girder_sign::sigv4::SigV4Signer;
use girder_sign::{Payload, Signer, SigningErrorKind, SigningLayer, SkewPolicy};
use girder_test::{MockService, Reply};
use http::Request;
use http::request::Parts;
use tower::{Layer, ServiceExt};

const T0: u64 = 1_700_000_000;
const TOKEN: &str = "FQoGZXIvYXdzEXAMPLE-session-token";

fn clock() -> WallClock {
    WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(T0))
}

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0)
}

fn sigv4() -> SigV4Signer {
    SigV4Signer::builder(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "us-east-1",
        "svc",
    )
    .session_token(TOKEN)
    .build()
    .unwrap()
}

fn hmac() -> HmacSigner {
    HmacSigner::builder("api-key-0123", b"a-very-secret-key".to_vec())
        .build()
        .unwrap()
}

fn rfc9421_signer() -> HttpSignatureSigner {
    HttpSignatureSigner::builder("k", SignatureKey::hmac_sha256(b"secret".to_vec()))
        .build()
        .unwrap()
}

fn parts(uri: &str) -> Parts {
    Request::get(uri).body(()).unwrap().into_parts().0
}

// ------------------------------------------------ 1. sensitive headers

/// Defect: the headers signing added were not marked sensitive, so the
/// redirect policy (which strips sensitive headers off-origin) sent
/// `x-amz-security-token` to another origin, and logs could show them.
#[tokio::test(start_paused = true)]
async fn every_credential_header_the_signers_add_is_sensitive() {
    let secrets = SecretValues::new();
    let call = |signer: Box<dyn Signer>, secrets: SecretValues| async move {
        let mock = MockService::new(Reply::ok());
        let svc = SigningLayer::with_clock(signer, clock()).layer(mock.clone());
        let mut req = Request::post("https://api.test/orders")
            .body(Body::from("{}"))
            .unwrap();
        req.extensions_mut().insert(secrets);
        svc.oneshot(req).await.unwrap();
        mock.requests().remove(0)
    };

    let seen = call(Box::new(sigv4()), secrets.clone()).await;
    assert!(seen.headers["authorization"].is_sensitive());
    assert!(seen.headers["x-amz-security-token"].is_sensitive());
    assert!(!seen.headers["x-amz-date"].is_sensitive());
    // The session token is registered for masking by value.
    assert_eq!(
        secrets.mask(&format!("echo: {TOKEN}")),
        format!("echo: {MASK}")
    );

    let seen = call(Box::new(hmac()), secrets.clone()).await;
    assert!(seen.headers["x-signature"].is_sensitive());
    assert!(seen.headers["x-api-key"].is_sensitive());
    assert!(!seen.headers["x-timestamp"].is_sensitive());
    // The API key header's value is registered; the signature (derived)
    // is not.
    assert_eq!(secrets.mask("k=api-key-0123"), format!("k={MASK}"));
    let signature = seen.header("x-signature").unwrap();
    assert_eq!(secrets.mask(signature), signature);

    let seen = call(Box::new(rfc9421_signer()), secrets.clone()).await;
    assert!(seen.headers["signature"].is_sensitive());
    assert!(!seen.headers["signature-input"].is_sensitive());
}

/// Defect: the SigV4 session token went unsigned-and-unregistered into a
/// presigned URL's query, where no log could mask it.
#[test]
fn a_presigned_urls_session_token_is_registered() {
    let secrets = SecretValues::new();
    let mut p = parts("https://bucket.test/key");
    p.extensions.insert(secrets.clone());
    sigv4()
        .presign(&mut p, Payload::Bytes(b""), at(), Duration::from_secs(60))
        .unwrap();
    let url = p.uri.to_string();
    assert!(!secrets.mask(&url).contains(TOKEN), "{url}");
}

// ------------------------------------------------ 2. credential scope

fn scoped(
    mock: &MockService,
) -> impl tower::Service<Request<Body>, Response = http::Response<Body>, Error = girder_core::BoxError>
+ Clone {
    SigningLayer::with_clock(sigv4(), clock())
        .scope(CredentialScope::only([
            Origin::parse("https://api.test").unwrap()
        ]))
        .layer(mock.clone())
}

/// Defect: the layer signed whatever reached it, so a request for
/// another origin (a redirect followed below signing, a changed host)
/// carried the signature and the session token there.
#[tokio::test(start_paused = true)]
async fn a_scoped_layer_leaves_a_foreign_origin_request_untouched() {
    let mock = MockService::new(Reply::ok());
    let req = Request::get("https://evil.test/steal")
        .header("x-custom", "1")
        .body(Body::empty())
        .unwrap();
    let before = req.headers().clone();
    scoped(&mock).oneshot(req).await.unwrap();
    let seen = mock.requests().remove(0);
    assert_eq!(seen.headers, before, "nothing added, nothing changed");

    // In scope (default port written or not, any case): signed.
    for uri in ["https://api.test/ok", "https://API.test:443/ok"] {
        let mock = MockService::new(Reply::ok());
        scoped(&mock)
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let seen = mock.requests().remove(0);
        assert!(seen.header("authorization").is_some(), "{uri}");
        assert_eq!(seen.header("x-amz-security-token"), Some(TOKEN));
    }
}

/// Defect: a redirect hop that left the call's first origin was signed
/// like any other request, whatever the scope.
#[tokio::test(start_paused = true)]
async fn any_scope_leaves_a_cross_origin_hop_untouched() {
    for signer in [
        Box::new(sigv4()) as Box<dyn Signer>,
        Box::new(hmac()),
        Box::new(rfc9421_signer()),
    ] {
        let mock = MockService::new(Reply::ok());
        let layer = SigningLayer::with_clock(signer, clock());
        assert_eq!(layer.credential_scope(), &CredentialScope::any());
        let mut req = Request::post("https://elsewhere.test/")
            .body(Body::from("{}"))
            .unwrap();
        req.extensions_mut().insert(CrossOriginHop);
        layer.layer(mock.clone()).oneshot(req).await.unwrap();
        let seen = mock.requests().remove(0);
        assert!(seen.headers.is_empty(), "{:?}", seen.headers);
    }
}

/// Defect (with the above): the clock-skew re-sign would have signed a
/// request the scope refuses. No re-sign for it either.
#[tokio::test(start_paused = true)]
async fn no_skew_re_sign_for_an_out_of_scope_request() {
    let date = httpdate::fmt_http_date(at() + Duration::from_secs(600));
    let mock = MockService::new([Reply::status(401).header("date", &date), Reply::ok()]);
    let layer = SigningLayer::with_clock(sigv4(), clock())
        .skew(SkewPolicy::default())
        .scope(CredentialScope::only([
            Origin::parse("https://api.test").unwrap()
        ]));
    let res = layer
        .layer(mock.clone())
        .oneshot(
            Request::get("https://other.test/")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(mock.request_count(), 1);
    assert_eq!(layer.learned_offset_ms(), 0);
}

// ------------------------------------------------ 3. SigV4 Host

/// Defect: `ensure_host` used the whole authority, so
/// `https://user:pw@host/` sent and signed `Host: user:pw@host`.
#[test]
fn sigv4_host_never_carries_userinfo() {
    let signer = sigv4();
    let mut with_userinfo = parts("https://user:pw@example.amazonaws.com/x");
    let mut plain = parts("https://example.amazonaws.com/x");
    signer
        .sign(&mut with_userinfo, Payload::Bytes(b""), at())
        .unwrap();
    signer.sign(&mut plain, Payload::Bytes(b""), at()).unwrap();
    assert_eq!(with_userinfo.headers["host"], "example.amazonaws.com");
    for (name, value) in &with_userinfo.headers {
        assert!(!value.as_bytes().windows(2).any(|w| w == b"pw"), "{name}");
    }
    // The same signature as without userinfo: it was never signed.
    assert_eq!(
        with_userinfo.headers["authorization"],
        plain.headers["authorization"]
    );

    // The port only when it is not the scheme's default.
    for (uri, host) in [
        ("https://u@h.test:8443/", "h.test:8443"),
        ("https://h.test:443/", "h.test"),
        ("http://h.test:80/", "h.test"),
        ("http://u:p@h.test:443/", "h.test:443"),
    ] {
        let mut p = parts(uri);
        signer.sign(&mut p, Payload::Bytes(b""), at()).unwrap();
        assert_eq!(p.headers["host"], host, "{uri}");
    }
}

// ------------------------------------------------ 4. RFC 9421

fn base(uri: &str, components: &[Component]) -> Result<String, girder_sign::SigningError> {
    rfc9421::signature_base(&parts(uri), components, "()")
}

/// Defect: `@authority` with a non-default port used the whole authority,
/// userinfo included (§2.2.3); `@target-uri` too.
#[test]
fn rfc9421_components_never_carry_userinfo() {
    let text = base(
        "https://user:pw@API.test:8443/p?q=1",
        &[Component::Authority, Component::TargetUri],
    )
    .unwrap();
    assert!(!text.contains("pw") && !text.contains("user"), "{text}");
    assert!(text.starts_with(
        "\"@authority\": api.test:8443\n\"@target-uri\": https://API.test:8443/p?q=1\n"
    ));
}

/// Defect: `@target-uri` was normalised like `@authority` (host lower
/// case, default port dropped); §2.2.2 signs the target URI as sent.
#[test]
fn rfc9421_target_uri_is_as_sent_and_only_authority_is_normalised() {
    let text = base(
        "https://Example.COM:443/a%20b?x=Y",
        &[Component::TargetUri, Component::Authority],
    )
    .unwrap();
    assert!(text.starts_with(
        "\"@target-uri\": https://Example.COM:443/a%20b?x=Y\n\"@authority\": example.com\n"
    ));
}

/// Defect: `@query-param` named twice signed the first value (§2.2.8:
/// it must be refused).
#[test]
fn rfc9421_a_repeated_query_param_is_refused() {
    let component = Component::QueryParam("a".into());
    let error = base(
        "https://h.test/?a=1&b=2&a=3",
        std::slice::from_ref(&component),
    )
    .unwrap_err();
    assert_eq!(error.kind(), SigningErrorKind::AmbiguousComponent);
    assert!(error.to_string().contains("@query-param a"), "{error}");
    // Through a signer: not signed, nothing sent.
    let signer = HttpSignatureSigner::builder("k", SignatureKey::hmac_sha256(b"s".to_vec()))
        .components([component.clone()])
        .build()
        .unwrap();
    let mut p = parts("https://h.test/?a=1&a=3");
    let error = signer.sign(&mut p, Payload::Bytes(b""), at()).unwrap_err();
    assert_eq!(error.kind(), SigningErrorKind::AmbiguousComponent);
    assert!(!p.headers.contains_key("signature"));
    // Once is fine (encoded the same way spelled `%61`).
    assert!(base("https://h.test/?%61=1&b=2", &[component]).is_ok());
}

/// Defect: with an empty body, a `Content-Digest` already on the request
/// was left as it was (stale), and signed when covered.
#[test]
fn rfc9421_a_stale_digest_on_an_empty_body_is_replaced_and_signed() {
    let signer = rfc9421_signer();
    let mut p = Request::post("https://h.test/")
        .header("content-digest", "sha-256=:c3RhbGU=:")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    signer.sign(&mut p, Payload::Bytes(b""), at()).unwrap();
    let fresh = rfc9421::content_digest(DigestAlgorithm::Sha256, b"");
    assert_eq!(p.headers["content-digest"], fresh.as_str());
    assert_eq!(p.headers.get_all("content-digest").iter().count(), 1);
    let input = p.headers["signature-input"].to_str().unwrap();
    assert!(input.contains("\"content-digest\""), "covered: {input}");

    // An empty body without a digest still gets none.
    let mut p = parts("https://h.test/");
    signer.sign(&mut p, Payload::Bytes(b""), at()).unwrap();
    assert!(!p.headers.contains_key("content-digest"));
}

/// Defect: with the signer's digest off, a stale `Content-Digest` on the
/// request was signed (when covered) and sent.
#[test]
fn rfc9421_with_the_digest_off_a_stale_digest_is_still_corrected() {
    let signer = HttpSignatureSigner::builder("k", SignatureKey::hmac_sha256(b"s".to_vec()))
        .components([
            Component::Method,
            Component::Field("content-digest".parse().unwrap()),
        ])
        .content_digest(None)
        .build()
        .unwrap();
    let stale = rfc9421::content_digest(DigestAlgorithm::Sha512, b"old body");
    let mut p = Request::post("https://h.test/")
        .header("content-digest", stale.as_str())
        .body(())
        .unwrap()
        .into_parts()
        .0;
    signer
        .sign(&mut p, Payload::Bytes(b"new body"), at())
        .unwrap();
    let fresh = rfc9421::content_digest(DigestAlgorithm::Sha512, b"new body");
    assert_eq!(p.headers["content-digest"], fresh.as_str());

    // A matching digest is left exactly as it was.
    let mut p = Request::post("https://h.test/")
        .header("content-digest", fresh.as_str())
        .body(())
        .unwrap()
        .into_parts()
        .0;
    signer
        .sign(&mut p, Payload::Bytes(b"new body"), at())
        .unwrap();
    assert_eq!(p.headers["content-digest"], fresh.as_str());
}

// ------------------------------------------------ 5. SigV4 unsigned headers

/// Defect: W3C trace-context headers were signed, and a mesh that
/// rewrites them after signing broke every signature.
#[test]
fn sigv4_leaves_trace_context_headers_unsigned() {
    let signer = sigv4();
    let mut p = Request::get("https://example.amazonaws.com/")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("tracestate", "vendor=1")
        .header("baggage", "user=alice")
        .header("x-amz-meta-kept", "1")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    signer.sign(&mut p, Payload::Bytes(b""), at()).unwrap();
    let authorization = p.headers["authorization"].to_str().unwrap().to_owned();
    assert!(
        authorization
            .contains("SignedHeaders=host;x-amz-date;x-amz-meta-kept;x-amz-security-token,"),
        "{authorization}"
    );
    // Rewriting them after signing leaves the signature valid: the same
    // request with other values signs the same.
    let mut q = Request::get("https://example.amazonaws.com/")
        .header(
            "traceparent",
            "00-00000000000000000000000000000001-0000000000000001-00",
        )
        .header("x-amz-meta-kept", "1")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    signer.sign(&mut q, Payload::Bytes(b""), at()).unwrap();
    assert_eq!(q.headers["authorization"], authorization.as_str());
}
