//! Credentials stay home: every hop of a redirect is authorised and signed
//! anew, a hop that leaves the origin carries no credential of any kind,
//! and auth and signing add nothing for an origin they were not given.

use girder::auth::{ApiKey, AuthConfig};
use girder::redirect::Redirected;
use girder::sign::hmac::{Component, HmacSigner};
use girder::sign::sigv4::SigV4Signer;
use girder::{CallRecord, Client, Kind};
use girder_test::{RecordedRequest, Reply, Script, TestServer};

mod common;

/// Headers that carry a credential or a signature in these tests.
const CREDENTIALS: [&str; 6] = [
    "authorization",
    "x-amz-security-token",
    "x-api-key",
    "x-signature",
    "signature",
    "x-secret-token",
];

fn assert_no_credential(request: &RecordedRequest) {
    for name in CREDENTIALS {
        assert_eq!(request.header(name), None, "{name} crossed origins");
    }
    for (name, value) in &request.headers {
        let value = value.to_str().unwrap_or_default();
        for secret in ["SESSIONTOKEN", "wJalrXUtnFEMI", "k3y-k3y-k3y", "s3cr3t"] {
            assert!(!value.contains(secret), "{name}: {value}");
        }
    }
}

fn sigv4() -> SigV4Signer {
    SigV4Signer::builder(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "us-east-1",
        "service",
    )
    .session_token("SESSIONTOKEN-abcdef")
    .build()
    .unwrap()
}

/// Pins issue 18, security defect 1: a SigV4 session token (and every
/// other credential) followed a 302 to another origin.
#[tokio::test(start_paused = true)]
async fn a_sigv4_session_token_does_not_follow_a_redirect_to_another_origin() {
    let home = TestServer::start().await;
    let elsewhere = TestServer::start().await;
    elsewhere.route("/landing", Reply::ok().body("elsewhere"));
    home.route(
        "/api/away",
        Reply::status(302).header("location", &elsewhere.url("/landing")),
    );
    let c = Client::builder()
        .base_url(home.url("/api/"))
        .secret_header("x-secret-token", "s3cr3t")
        .auth(AuthConfig::new(
            ApiKey::header("x-api-key", "k3y-k3y-k3y".into()).unwrap(),
        ))
        .signing(sigv4())
        .build()
        .unwrap();
    let response = c.get("away").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let record = response.extensions().get::<CallRecord>().unwrap().clone();
    assert_eq!(response.text().await.unwrap(), "elsewhere");

    let first = &home.requests_to("/api/away")[0];
    assert!(first.header("x-amz-security-token").is_some());
    assert!(first.header("authorization").is_some());
    assert_eq!(first.header("x-api-key"), Some("k3y-k3y-k3y"));
    let landed = &elsewhere.requests_to("/landing")[0];
    assert_no_credential(landed);
    assert!(record.entries().iter().any(|e| matches!(
        e.event(),
        Some(Redirected {
            status: 302,
            cross_origin: true,
            ..
        })
    )));
    assert_eq!(record.resends(), 1);
}

/// The server's check of an HMAC signature over the timestamp, the method
/// and the path: a hop that carried the first request's signature fails it.
fn signed_for_its_path(req: &RecordedRequest) -> bool {
    common::hmac_signed(req, b"hop-secret", &[])
}

/// Pins issue 18, security defect 1 (related): redirects sat below
/// signing, so a same-origin hop carried the first hop's signature.
#[tokio::test(start_paused = true)]
async fn every_same_origin_hop_is_signed_and_authorised_anew() {
    let server = TestServer::start().await;
    server.route(
        "/api/old",
        Reply::status(301).header("location", "/api/new?x=1"),
    );
    server.route(
        "/api/new",
        Script::from_fn(|req| {
            if signed_for_its_path(req) && req.header("x-api-key") == Some("k3y-k3y-k3y") {
                Reply::ok().body("new")
            } else {
                Reply::status(401)
            }
        }),
    );
    let signer = HmacSigner::builder("app", b"hop-secret".to_vec())
        .key_id_header(Some("x-key-id"))
        .components([
            Component::Timestamp,
            Component::Method,
            Component::PathAndQuery,
        ])
        .build()
        .unwrap();
    let c = Client::builder()
        .base_url(server.url("/api/"))
        .auth(AuthConfig::new(
            ApiKey::header("x-api-key", "k3y-k3y-k3y".into()).unwrap(),
        ))
        .signing(signer)
        .build()
        .unwrap();
    let response = c.get("old").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let record = response.extensions().get::<CallRecord>().unwrap().clone();
    assert_eq!(record.resends(), 1);
    assert!(record.entries().iter().any(|e| matches!(
        e.event(),
        Some(Redirected {
            status: 301,
            cross_origin: false,
            ..
        })
    )));
    let old = &server.requests_to("/api/old")[0];
    let new = &server.requests_to("/api/new")[0];
    assert!(signed_for_its_path(old));
    assert!(signed_for_its_path(new));
    assert_ne!(old.header("x-signature"), new.header("x-signature"));
}

/// A hop that left the origin stays without credentials even when the
/// foreign origin sends it back home: the foreign origin chose the URL.
#[tokio::test(start_paused = true)]
async fn a_hop_back_home_through_a_foreign_origin_gets_no_credential() {
    let home = TestServer::start().await;
    let elsewhere = TestServer::start().await;
    home.route(
        "/api/start",
        Reply::status(302).header("location", &elsewhere.url("/bounce")),
    );
    elsewhere.route(
        "/bounce",
        Reply::status(307).header("location", &home.url("/api/delete-everything")),
    );
    home.route("/api/delete-everything", Reply::ok());
    let c = Client::builder()
        .base_url(home.url("/api/"))
        .auth(AuthConfig::new(
            ApiKey::header("x-api-key", "k3y-k3y-k3y".into()).unwrap(),
        ))
        .signing(sigv4())
        .build()
        .unwrap();
    let response = c.get("start").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_no_credential(&elsewhere.requests_to("/bounce")[0]);
    assert_no_credential(&home.requests_to("/api/delete-everything")[0]);
}

/// Auth and signing add nothing for an origin outside their scope, even
/// when the caller names it in an absolute URL.
#[tokio::test(start_paused = true)]
async fn credentials_are_scoped_to_the_base_urls_origin_or_the_given_list() {
    let home = TestServer::start().await;
    let partner = TestServer::start().await;
    let other = TestServer::start().await;
    for server in [&home, &partner, &other] {
        server.route("/x", Reply::ok());
    }
    let build = |origins: Option<Vec<String>>| {
        let builder = Client::builder()
            .base_url(home.url("/"))
            .allow_absolute_urls(true)
            .auth(AuthConfig::new(
                ApiKey::header("x-api-key", "k3y-k3y-k3y".into()).unwrap(),
            ))
            .signing(sigv4());
        match origins {
            Some(origins) => builder.credential_origins(origins),
            None => builder,
        }
        .build()
        .unwrap()
    };

    let c = build(None);
    c.get(home.url("/x")).send().await.unwrap();
    c.get(other.url("/x")).send().await.unwrap();
    assert_eq!(home.requests()[0].header("x-api-key"), Some("k3y-k3y-k3y"));
    assert!(home.requests()[0].header("authorization").is_some());
    assert_no_credential(&other.requests()[0]);

    let c = build(Some(vec![home.url(""), partner.url("")]));
    c.get(partner.url("/x")).send().await.unwrap();
    c.get(other.url("/x")).send().await.unwrap();
    assert_eq!(
        partner.requests()[0].header("x-api-key"),
        Some("k3y-k3y-k3y")
    );
    assert_no_credential(&other.requests()[1]);
}

#[test]
fn a_credential_origin_that_is_not_an_origin_is_a_builder_error() {
    let e = Client::builder()
        .credential_origins(["api.example.com"])
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Builder);
    assert!(e.to_string().contains("invalid origin"), "{e}");
}

/// Pins issue 18 ("Error's Display prints only the first source"): the
/// root cause was only in `Debug`.
#[tokio::test]
async fn an_errors_display_names_the_root_cause_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::builder()
        .base_url(format!("http://{addr}/"))
        .retry(None)
        .build()
        .unwrap();
    let e = c.get("x").send().await.unwrap_err();
    assert_eq!(e.kind(), Kind::Connect, "{e}");
    let text = e.to_string();
    let root = {
        let mut source: &dyn std::error::Error = &e;
        while let Some(next) = source.source() {
            source = next;
        }
        source.to_string()
    };
    assert!(text.ends_with(&root), "{text} does not end with {root}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert_eq!(text.matches(&root).count(), 1, "{text}");
}
