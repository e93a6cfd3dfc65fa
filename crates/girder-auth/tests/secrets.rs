//! What auth does so that its secrets stay secret (issue 18): headers
//! marked sensitive, values registered for masking in logs, HMAC keys long
//! enough, and the 401 replay counted as a resend.

use girder_auth::jwt::{Algorithm, EncodingKey};
use girder_auth::{
    ApiKey, ApiKeyPool, AuthConfig, AuthLayer, BasicAuth, BearerToken, ClientCredentials,
    Credential, CredentialSource, FnSource, JwtSource, RefreshToken, TokenClient,
};
use girder_core::secrets::{MASK, SecretValues};
use girder_core::{Body, CallRecord};
use girder_test::{MockService, Reply};
use http::Request;
use tower::{ServiceBuilder, ServiceExt};

fn token(access: &str, refresh: Option<&str>) -> Reply {
    let refresh = refresh
        .map(|r| format!(r#","refresh_token":"{r}""#))
        .unwrap_or_default();
    Reply::ok().json(format!(
        r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":3600{refresh}}}"#
    ))
}

/// Sends one request through an auth layer over `source`, with a
/// `SecretValues` registry in its extensions as a logging layer above
/// would put there; returns the registry and what the API received.
async fn send(source: impl CredentialSource) -> (SecretValues, girder_test::RecordedRequest) {
    let api = MockService::new(Reply::ok());
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::new(AuthConfig::new(source)))
        .service(api.clone());
    let secrets = SecretValues::new();
    let mut request = Request::get("https://api.test/items?page=2")
        .body(Body::empty())
        .unwrap();
    request.extensions_mut().insert(secrets.clone());
    svc.oneshot(request).await.unwrap();
    (secrets, api.requests().remove(0))
}

fn masks(secrets: &SecretValues, value: &str) -> bool {
    let echoed = format!(r#"{{"echo":"{value}"}}"#);
    secrets.mask(&echoed) == format!(r#"{{"echo":"{MASK}"}}"#)
}

/// Every header auth adds is sensitive (not indexed by HPACK, shown as
/// `Sensitive` in `Debug`, stripped by the redirect policy off-origin),
/// whatever the source: fixed, pooled, minted or from a closure.
#[tokio::test(start_paused = true)]
async fn every_header_auth_adds_is_marked_sensitive() {
    let jwt = JwtSource::builder(Algorithm::HS256, EncodingKey::from_secret(&[7u8; 32]))
        .build()
        .unwrap();
    let custom = FnSource::new(|| async {
        Ok(Credential::new()
            .header_secret(http::HeaderName::from_static("x-custom-auth"), "c-123456")
            .unwrap()
            .header_secret(http::HeaderName::from_static("x-tenant"), "tenant-9")
            .unwrap())
    });
    let idp = MockService::new(token("at-123456", None));
    let oauth = ClientCredentials::builder("https://idp.test/t", "c", "cs-123456".into())
        .client(TokenClient::new(idp))
        .build()
        .unwrap();
    let cases: Vec<(&str, Box<dyn CredentialSource>)> = vec![
        (
            "bearer",
            Box::new(BearerToken::new("tok-123456".into()).unwrap()),
        ),
        (
            "api key",
            Box::new(ApiKey::header("x-api-key", "k-123456".into()).unwrap()),
        ),
        (
            "basic",
            Box::new(BasicAuth::new("u", "pw-123456".into()).unwrap()),
        ),
        (
            "pool",
            Box::new(
                ApiKeyPool::header("x-key", ["p-123456".into()])
                    .build()
                    .unwrap(),
            ),
        ),
        ("jwt", Box::new(jwt)),
        ("closure", Box::new(custom)),
        ("oauth", Box::new(oauth)),
    ];
    for (name, source) in cases {
        let (_, sent) = send(Boxed(source)).await;
        let added: Vec<_> = sent
            .headers
            .iter()
            .filter(|(n, _)| !matches!(n.as_str(), "host"))
            .collect();
        assert!(!added.is_empty(), "{name}");
        for (header, value) in added {
            assert!(value.is_sensitive(), "{name}: {header} is not sensitive");
        }
    }
}

/// A boxed source is a source.
struct Boxed(Box<dyn CredentialSource>);

impl CredentialSource for Boxed {
    fn fetch(&self) -> girder_auth::FetchFuture {
        self.0.fetch()
    }
    fn refreshable(&self) -> bool {
        self.0.refreshable()
    }
}

/// Pins issue 18, security defect 4: the values auth sends were unknown to
/// the logging layer, so a server echoing them under another field name
/// put them in the logs. Each is now registered with the registry in the
/// request's extensions.
#[tokio::test(start_paused = true)]
async fn the_values_auth_sends_are_registered_for_masking() {
    let (secrets, _) = send(BearerToken::new("tok-123456".into()).unwrap()).await;
    assert!(masks(&secrets, "tok-123456"));
    assert!(!masks(&secrets, "Bearer"), "the scheme is no secret");

    let (secrets, _) = send(ApiKey::header("x-api-key", "k-123456".into()).unwrap()).await;
    assert!(masks(&secrets, "k-123456"));

    // A key in the query cannot be marked sensitive: it is registered raw
    // and as the query carries it, form-encoded.
    let (secrets, sent) = send(ApiKey::query("api_key", "k 1&2/xyz".into()).unwrap()).await;
    assert_eq!(sent.uri.query(), Some("page=2&api_key=k+1%262%2Fxyz"));
    assert!(masks(&secrets, "k 1&2/xyz"));
    assert!(masks(&secrets, "k+1%262%2Fxyz"));

    // Basic: the password as it is, and the base64 credential.
    let (secrets, sent) = send(BasicAuth::new("user", "pa:ss-word".into()).unwrap()).await;
    let header = sent.header("authorization").unwrap();
    let base64 = header.strip_prefix("Basic ").unwrap();
    assert!(masks(&secrets, "pa:ss-word"));
    assert!(masks(&secrets, base64));
    assert!(!masks(&secrets, "user"));

    // OAuth: the access token, and the client secret and refresh tokens
    // that only the token endpoint should ever see.
    let idp = MockService::new(token("at-123456", Some("rt-rotated")));
    let refresh = RefreshToken::builder("https://idp.test/t", "app", "rt-first".into())
        .client_secret("cs-123456".into())
        .client(TokenClient::new(idp))
        .build()
        .unwrap();
    let (secrets, _) = send(refresh).await;
    for value in ["at-123456", "rt-first", "rt-rotated", "cs-123456"] {
        assert!(masks(&secrets, value), "{value}");
    }

    // A JWT: the token as sent.
    let jwt = JwtSource::builder(Algorithm::HS384, EncodingKey::from_secret(&[9u8; 48]))
        .build()
        .unwrap();
    let (secrets, sent) = send(jwt).await;
    let jwt = sent
        .header("authorization")
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap();
    assert!(masks(&secrets, jwt));

    // A closure's credential: its header values, and what it asks to mask.
    let custom = FnSource::new(|| async {
        Ok(Credential::new()
            .header_secret(http::HeaderName::from_static("x-custom-auth"), "c-123456")
            .unwrap()
            .also_mask("derived-secret"))
    });
    let (secrets, _) = send(custom).await;
    assert!(masks(&secrets, "c-123456") && masks(&secrets, "derived-secret"));
}

/// Without a registry in the extensions, registering is a no-op (and
/// costs one extension lookup).
#[tokio::test(start_paused = true)]
async fn without_a_registry_nothing_is_registered_and_nothing_fails() {
    let api = MockService::new(Reply::ok());
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::new(AuthConfig::new(
            BearerToken::new("tok-123456".into()).unwrap(),
        )))
        .service(api.clone());
    let request = Request::get("https://api.test/")
        .body(Body::empty())
        .unwrap();
    assert_eq!(svc.oneshot(request).await.unwrap().status(), 200);
}

/// Pins issue 18, security defect 5: an empty HMAC secret, or one shorter
/// than the hash output (RFC 7518 section 3.2), was accepted.
#[test]
fn hmac_secrets_shorter_than_the_hash_output_are_refused() {
    let build =
        |alg, secret: &[u8]| JwtSource::builder(alg, EncodingKey::from_secret(secret)).build();
    let short = [b'S'; 63];
    for (alg, needed) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        let empty = build(alg, b"").unwrap_err().to_string();
        assert!(
            empty.contains("empty") && empty.contains(&format!("{alg:?}")),
            "{empty}"
        );
        let error = build(alg, &short[..needed - 1]).unwrap_err().to_string();
        assert!(
            error.contains("RFC 7518") && error.contains(&format!("at least {needed}")),
            "{error}"
        );
        assert!(
            !error.contains("SSSS"),
            "the secret is never shown: {error}"
        );
        assert!(build(alg, &[b'S'; 64][..needed]).is_ok(), "{alg:?}");
    }
    // Other families are checked as before.
    assert!(build(Algorithm::RS256, b"").is_err());
}

/// Issue 18, "resend count": the 401 replay is a resend, and the call
/// record counts it.
#[tokio::test(start_paused = true)]
async fn the_401_replay_counts_as_a_resend() {
    let idp = MockService::new([token("t1", None), token("t2", None)]);
    let source = ClientCredentials::builder("https://idp.test/t", "c", "cs-123456".into())
        .client(TokenClient::new(idp))
        .build()
        .unwrap();
    let api = MockService::new([Reply::status(401), Reply::ok()]);
    let svc = ServiceBuilder::new()
        .layer(AuthLayer::new(AuthConfig::new(source)))
        .service(api.clone());
    let mut request = Request::get("https://api.test/")
        .body(Body::empty())
        .unwrap();
    let record = CallRecord::ensure(&mut request);
    assert_eq!(svc.oneshot(request).await.unwrap().status(), 200);
    assert_eq!(api.request_count(), 2);
    assert_eq!(record.resends(), 1, "{record}");
}
