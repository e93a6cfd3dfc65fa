//! Fuzz targets for what girder-auth reads from the network: OAuth token
//! endpoint responses (RFC 6749 5.1 and 5.2), read by a
//! [`ClientCredentials`] source through a scripted token endpoint, and
//! `WWW-Authenticate` challenges on a 401, read by the layer's
//! [`Recovery::InvalidToken`]. The long run:
//! `GIRDER_FUZZ_ITERS=1000000 cargo test --release -p girder-auth --test
//! fuzz -- --nocapture` (see `girder_test::fuzz`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use girder_auth::{
    AuthConfig, AuthLayer, ClientCredentials, Credential, CredentialSource, FnSource, Recovery,
    TokenClient,
};
use girder_core::Body;
use girder_test::fuzz::{self, Gen};
use girder_test::{MockService, Reply, Script};
use http::Request;
use tower::{ServiceBuilder, ServiceExt};

/// The client secret: never in an error.
const CLIENT_SECRET: &str = "s3cret-CLIENT";
/// The marker of the access token in the seeds.
const TOKEN_MARK: &str = "SECRET-TOKEN";

const TOKEN_BODIES: &[&str] = &[
    r#"{"access_token":"SECRET-TOKEN","token_type":"Bearer","expires_in":3600}"#,
    r#"{"access_token":"SECRET-TOKEN","token_type":"bearer","expires_in":"3599","refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","scope":"a b"}"#,
    r#"{"access_token":"SECRET-TOKEN","token_type":"BEARER","expires_in":59.9}"#,
    r#"{"access_token":"SECRET-TOKEN","token_type":"example","expires_in":3600}"#,
    r#"{"error":"invalid_grant","error_description":"refresh token revoked","error_uri":"https://idp.test/e"}"#,
    r#"{"error":"slow_down"}"#,
    r#"{"access_token":"SECRET-TOKEN","token_type":"Bearer","expires_in":315360000}"#,
    "<html>login</html>",
    "[1]",
];

const TOKEN_KEYS: &[&str] = &[
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "error",
    "error_description",
    "error_uri",
];

const JSON_DICT: &[&str] = &[
    "{", "}", "[", "]", ":", ",", "\"", "null", "true", "\\u0000", "\\n", "\\ud800", "Bearer",
    "e-7", "e400", "-",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Whether `body` holds the token marker once, as the access token:
/// then an error must not show it (elsewhere, a message may quote it).
fn only_as_access_token(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    if text.matches(TOKEN_MARK).count() != 1 {
        return false;
    }
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        v.get("access_token")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t.contains(TOKEN_MARK))
    })
}

#[test]
fn token_responses_give_a_credential_or_an_error_without_secrets() {
    let rt = runtime();
    let slot = Arc::new(Mutex::new(Reply::ok()));
    let reply = slot.clone();
    let idp = MockService::new(Script::from_fn(move |_| reply.lock().unwrap().clone()));
    let source =
        ClientCredentials::builder("https://idp.test/token", "client-1", CLIENT_SECRET.into())
            .client(TokenClient::new(idp))
            .build()
            .unwrap();
    let (mut inputs, mut tokens) = (0, 0);
    fuzz::check(
        "token_response",
        3_000,
        |g: &mut Gen| {
            let body = if g.chance(30) {
                g.json(
                    2,
                    TOKEN_KEYS,
                    &[TOKEN_MARK, "Bearer", "3600", "", "invalid_grant"],
                )
                .into_bytes()
            } else {
                g.data(TOKEN_BODIES, JSON_DICT)
            };
            let status = [200, 200, 200, 200, 200, 201, 400, 503][g.below(8)];
            let json = g.chance(80);
            (status, json, body)
        },
        |(status, json, body)| {
            let mut reply = Reply::status(*status).body(body.clone());
            if *json {
                reply = reply.header("content-type", "application/json");
            }
            *slot.lock().unwrap() = reply;
            let started = tokio::time::Instant::now();
            let result = rt.block_on(source.fetch());
            inputs += 1;
            let shown = match &result {
                Ok(credential) => {
                    tokens += 1;
                    if let Some(expiry) = credential.expiry() {
                        assert!(expiry <= started + Duration::from_secs(10 * 366 * 86_400));
                    }
                    format!("{credential:?}")
                }
                Err(e) => format!("{e} {e:?}"),
            };
            assert!(!shown.contains(CLIENT_SECRET), "{shown}");
            if only_as_access_token(body) {
                assert!(!shown.contains(TOKEN_MARK), "the token is shown: {shown}");
            }
        },
    );
    assert!(
        tokens * 20 > inputs,
        "{tokens} of {inputs} inputs gave a token"
    );
}

const CHALLENGES: &[&str] = &[
    r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#,
    r#"Bearer realm="x", error="insufficient_scope", scope="a b""#,
    "Bearer error=invalid_token",
    r#"Basic realm="simple", Bearer realm="x", error="invalid_token""#,
    r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#,
    r#"DPoP algs="ES256 PS256", error="invalid_token""#,
    "Bearer",
];

#[test]
fn www_authenticate_challenges_resend_at_most_once() {
    let rt = runtime();
    let (mut inputs, mut resent) = (0, 0);
    fuzz::check(
        "www_authenticate",
        2_000,
        |g| {
            let mut values = Vec::new();
            for _ in 0..g.rng().usize(1..3) {
                // Reply::header takes text: visible ASCII, space and tab.
                let value = g.header_value(CHALLENGES, &["\"", ",", "=", " ", "\\", "error"]);
                values.push(
                    value
                        .as_bytes()
                        .iter()
                        .filter(|b| **b == b'\t' || (b' '..=b'~').contains(*b))
                        .map(|&b| char::from(b))
                        .collect::<String>(),
                );
            }
            values
        },
        |challenges| {
            let mut refused = Reply::status(401);
            for value in challenges {
                refused = refused.header("www-authenticate", value);
            }
            let api = MockService::new([refused, Reply::ok()]);
            let source = FnSource::new(|| async { Ok(Credential::bearer("t").unwrap()) });
            let config = AuthConfig::builder(source)
                .recovery(Recovery::InvalidToken)
                .build()
                .unwrap();
            let svc = ServiceBuilder::new()
                .layer(AuthLayer::new(config))
                .service(api.clone());
            let request = Request::get("https://api.test/items")
                .body(Body::empty())
                .unwrap();
            let status = rt
                .block_on(svc.oneshot(request))
                .expect("the mock answers")
                .status();
            let sent = api.request_count();
            inputs += 1;
            resent += usize::from(sent == 2);
            assert!(sent <= 2, "sent {sent} times");
            assert_eq!(status, if sent == 2 { 200 } else { 401 });
            let said = challenges
                .iter()
                .any(|c| c.to_ascii_lowercase().contains("invalid_token"));
            if !said {
                assert_eq!(sent, 1, "resent without invalid_token: {challenges:?}");
            }
        },
    );
    assert!(
        resent * 10 > inputs,
        "{resent} of {inputs} inputs were resent"
    );
}
