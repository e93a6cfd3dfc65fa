//! Behaviour of the auth layer over in-memory services, on paused time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
#[cfg(feature = "jwt")]
use girder_auth::JwtSource;
use girder_auth::{
    ApiKey, ApiKeyPool, AuthConfig, AuthError, AuthErrorKind, AuthEvent, AuthLayer, BasicAuth,
    BearerToken, ClientAuth, ClientCredentials, Credential, FnSource, MemoryTokenStore, Recovery,
    RefreshToken, TokenClient,
};
use girder_core::{Body, BoxError, CallRecord, Deadline, DeadlineExceeded, ErrorKind};
use girder_test::{MockService, Reply, Script, poll_once};
use http::{Request, Response};
use tokio::time::{Instant, advance};
use tower::{Service, ServiceBuilder, ServiceExt};

#[cfg(feature = "jwt")]
#[path = "support/jws.rs"]
mod jws;

type Client = tower::util::BoxCloneService<Request<Body>, Response<Body>, BoxError>;

fn token(access: &str, expires_in: u64) -> Reply {
    Reply::ok().json(format!(
        r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{expires_in}}}"#
    ))
}

fn oauth(idp: &MockService) -> ClientCredentials {
    ClientCredentials::builder("https://idp.test/token", "client-1", "s3cret-x".into())
        .client(TokenClient::new(idp.clone()))
        .build()
        .unwrap()
}

fn client(config: AuthConfig, api: &MockService) -> Client {
    tower::util::BoxCloneService::new(
        ServiceBuilder::new()
            .layer(AuthLayer::new(config))
            .service(api.clone()),
    )
}

fn get() -> Request<Body> {
    Request::get("https://api.test/items")
        .body(Body::empty())
        .unwrap()
}

/// A request with a call record, and the record.
fn recorded(mut request: Request<Body>) -> (Request<Body>, CallRecord) {
    let record = CallRecord::ensure(&mut request);
    (request, record)
}

fn auth_events(record: &CallRecord) -> Vec<AuthEvent> {
    record
        .entries()
        .into_iter()
        .filter_map(|e| e.event::<AuthEvent>().copied())
        .collect()
}

fn tokens_seen(api: &MockService) -> Vec<String> {
    api.requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or("-").to_owned())
        .collect()
}

/// Lets spawned fetches run.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn one_token_request_for_many_concurrent_callers_at_expiry() {
    let idp = MockService::new([
        token("t1", 3600),
        token("t2", 3600).delay(Duration::from_millis(200)),
    ]);
    let api = MockService::new(Reply::ok());
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    svc.clone().oneshot(get()).await.unwrap();
    advance(Duration::from_secs(3600)).await;

    let calls: Vec<_> = (0..200)
        .map(|_| tokio::spawn(svc.clone().oneshot(get())))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(idp.request_count(), 2);
    let seen = tokens_seen(&api);
    assert_eq!(seen.len(), 201);
    assert!(seen[1..].iter().all(|t| t == "Bearer t2"), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn proactive_refresh_falls_within_skew_and_jitter() {
    // skew 60 s, jitter 30 s: the second fetch of a one-hour token starts
    // between 3510 s and 3540 s after the first.
    let mut starts = Vec::new();
    for _ in 0..12 {
        let fetched = Arc::new(Mutex::new(Vec::new()));
        let log = fetched.clone();
        let source = FnSource::new(move || {
            log.lock().unwrap().push(Instant::now());
            let n = log.lock().unwrap().len();
            async move {
                Ok(Credential::bearer(&format!("t{n}"))
                    .unwrap()
                    .expires_in(Duration::from_secs(3600)))
            }
        });
        let api = MockService::new(Reply::ok());
        let svc = client(AuthConfig::new(source), &api);
        let start = Instant::now();
        svc.clone().oneshot(get()).await.unwrap();
        advance(Duration::from_secs(3500)).await;
        while fetched.lock().unwrap().len() < 2 {
            svc.clone().oneshot(get()).await.unwrap();
            advance(Duration::from_millis(250)).await;
        }
        let second = fetched.lock().unwrap()[1] - start;
        assert!(
            second >= Duration::from_secs(3510) && second <= Duration::from_millis(3_540_250),
            "{second:?}"
        );
        starts.push(second.as_millis() / 1000);
    }
    starts.sort();
    starts.dedup();
    assert!(starts.len() > 1, "jitter spreads refreshes: {starts:?}");
}

#[tokio::test(start_paused = true)]
async fn a_short_lived_token_is_refreshed_at_half_its_lifetime_at_the_earliest() {
    let idp = MockService::new([token("t1", 30), token("t2", 30)]);
    let api = MockService::new(Reply::ok());
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    svc.clone().oneshot(get()).await.unwrap();
    advance(Duration::from_secs(14)).await;
    svc.clone().oneshot(get()).await.unwrap();
    settle().await;
    assert_eq!(idp.request_count(), 1, "not stale before 15 s");
    advance(Duration::from_secs(1)).await;
    svc.clone().oneshot(get()).await.unwrap();
    settle().await;
    assert_eq!(idp.request_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_stale_window_keeps_serving_the_old_token_until_the_new_one_arrives() {
    let idp = MockService::new([
        token("old", 3600),
        token("new", 3600).delay(Duration::from_secs(5)),
    ]);
    let api = MockService::new(Reply::ok());
    let config = AuthConfig::builder(oauth(&idp))
        .jitter(Duration::ZERO)
        .build()
        .unwrap();
    let svc = client(config, &api);
    svc.clone().oneshot(get()).await.unwrap();
    advance(Duration::from_secs(3545)).await;

    let (request, record) = recorded(get());
    svc.clone().oneshot(request).await.unwrap();
    assert_eq!(auth_events(&record), [AuthEvent::BackgroundRefresh]);
    for _ in 0..4 {
        advance(Duration::from_secs(1)).await;
        svc.clone().oneshot(get()).await.unwrap();
    }
    assert_eq!(
        idp.request_count(),
        2,
        "one background refresh, not one per call"
    );
    advance(Duration::from_secs(1)).await;
    settle().await;
    svc.clone().oneshot(get()).await.unwrap();
    let seen = tokens_seen(&api);
    assert_eq!(seen[..6], ["Bearer old"; 6]);
    assert_eq!(seen[6], "Bearer new");
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_waits_for_the_refresh_within_the_deadline() {
    let idp = MockService::new([
        token("t1", 120),
        token("t2", 3600).delay(Duration::from_secs(10)),
    ]);
    let api = MockService::new(Reply::ok());
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    svc.clone().oneshot(get()).await.unwrap();
    advance(Duration::from_secs(121)).await;

    let mut request = get();
    Deadline::after(Duration::from_secs(2)).apply(&mut request);
    let started = Instant::now();
    let err = svc.clone().oneshot(request).await.unwrap_err();
    assert!(err.downcast_ref::<DeadlineExceeded>().is_some(), "{err}");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(api.request_count(), 1);

    // The refresh went on; a call without a deadline gets its token.
    let (request, record) = recorded(get());
    svc.clone().oneshot(request).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(auth_events(&record), [AuthEvent::TokenRefreshed]);
    assert_eq!(idp.request_count(), 2);
    assert_eq!(tokens_seen(&api)[1], "Bearer t2");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_caller_that_started_the_fetch_strands_nobody() {
    let idp = MockService::new(token("t1", 3600).delay(Duration::from_secs(1)));
    let api = MockService::new(Reply::ok());
    let svc = client(AuthConfig::new(oauth(&idp)), &api);

    let mut leader = svc.clone().oneshot(get());
    assert!(poll_once(&mut leader).is_pending());
    drop(leader);
    let waiters: Vec<_> = (0..10)
        .map(|_| tokio::spawn(svc.clone().oneshot(get())))
        .collect();
    for waiter in waiters {
        waiter.await.unwrap().unwrap();
    }
    assert_eq!(idp.request_count(), 1);
    assert_eq!(api.request_count(), 10);
    assert!(tokens_seen(&api).iter().all(|t| t == "Bearer t1"));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_waiter_leaves_the_fetch_and_the_other_waiters_alone() {
    let idp = MockService::new(token("t1", 3600).delay(Duration::from_secs(1)));
    let api = MockService::new(Reply::ok());
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    let keep = tokio::spawn(svc.clone().oneshot(get()));
    let mut dropped = svc.clone().oneshot(get());
    assert!(poll_once(&mut dropped).is_pending());
    drop(dropped);
    keep.await.unwrap().unwrap();
    assert_eq!((idp.request_count(), api.request_count()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_401_refreshes_and_replays_once_with_the_same_body() {
    let idp = MockService::new([token("t1", 3600), token("t2", 3600)]);
    let api = MockService::new([Reply::status(401), Reply::ok().body("done")]);
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    let (request, record) = recorded(
        Request::post("https://api.test/jobs")
            .body(Body::from("payload"))
            .unwrap(),
    );
    let response = svc.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(tokens_seen(&api), ["Bearer t1", "Bearer t2"]);
    assert!(api.requests().iter().all(|r| r.body == "payload"));
    assert_eq!(
        auth_events(&record),
        [AuthEvent::TokenFetched, AuthEvent::RecoveredFrom401]
    );
}

#[tokio::test(start_paused = true)]
async fn a_second_401_is_returned_without_a_loop() {
    let idp = MockService::new([token("t1", 3600), token("t2", 3600), token("t3", 3600)]);
    let api = MockService::new(Reply::status(401));
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    let (request, record) = recorded(get());
    let response = svc.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(api.request_count(), 2);
    assert_eq!(idp.request_count(), 2);
    assert_eq!(
        auth_events(&record)[1..],
        [AuthEvent::RecoveredFrom401, AuthEvent::RejectedAgain]
    );
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_is_not_replayed() {
    let idp = MockService::new([token("t1", 3600), token("t2", 3600)]);
    let api = MockService::new([Reply::status(401), Reply::ok()]);
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    let stream = http_body_util::StreamBody::new(Once(Some(Bytes::from_static(b"chunk"))));
    let (request, record) = recorded(
        Request::post("https://api.test/upload")
            .body(Body::new(stream))
            .unwrap(),
    );
    let response = svc.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(api.request_count(), 1);
    assert_eq!(api.requests()[0].body, "chunk");
    assert_eq!(auth_events(&record)[1..], [AuthEvent::NotReplayed]);
}

struct Once(Option<Bytes>);

impl futures_core::Stream for Once {
    type Item = Result<http_body::Frame<Bytes>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[tokio::test(start_paused = true)]
async fn invalid_token_recovery_ignores_other_401s() {
    let idp = MockService::new([token("t1", 3600), token("t2", 3600)]);
    let api = MockService::new([
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="x", error="insufficient_scope""#,
        ),
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="x", error="invalid_token""#,
        ),
        Reply::ok(),
    ]);
    let config = AuthConfig::builder(oauth(&idp))
        .recovery(Recovery::InvalidToken)
        .build()
        .unwrap();
    let svc = client(config, &api);
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 401);
    assert_eq!(idp.request_count(), 1);
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 200);
    assert_eq!(idp.request_count(), 2);
    assert_eq!(tokens_seen(&api), ["Bearer t1", "Bearer t1", "Bearer t2"]);
}

#[tokio::test(start_paused = true)]
async fn a_fixed_token_is_not_resent_after_a_401() {
    let api = MockService::new(Reply::status(401));
    let source = BearerToken::new("fixed".into()).unwrap();
    let svc = client(AuthConfig::new(source), &api);
    assert_eq!(svc.oneshot(get()).await.unwrap().status(), 401);
    assert_eq!(api.request_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_background_refresh_keeps_the_valid_token_and_retries_later() {
    let idp = MockService::new([
        token("t1", 3600),
        Reply::status(503).body("down"),
        token("t2", 3600),
    ]);
    let api = MockService::new(Reply::ok());
    let config = AuthConfig::builder(oauth(&idp))
        .jitter(Duration::ZERO)
        .build()
        .unwrap();
    let svc = client(config, &api);
    svc.clone().oneshot(get()).await.unwrap();
    advance(Duration::from_secs(3550)).await;
    svc.clone().oneshot(get()).await.unwrap(); // starts the refresh, which fails
    settle().await;
    assert_eq!(idp.request_count(), 2);
    let (request, record) = recorded(get());
    svc.clone().oneshot(request).await.unwrap();
    assert_eq!(auth_events(&record), [AuthEvent::RefreshFailed]);
    assert_eq!(idp.request_count(), 2, "no new fetch inside the backoff");
    advance(Duration::from_secs(1)).await;
    svc.clone().oneshot(get()).await.unwrap();
    settle().await;
    assert_eq!(idp.request_count(), 3);
    svc.clone().oneshot(get()).await.unwrap();
    assert_eq!(tokens_seen(&api)[..3], ["Bearer t1"; 3]);
    assert_eq!(tokens_seen(&api).last().unwrap(), "Bearer t2");
}

#[tokio::test(start_paused = true)]
async fn a_provider_error_names_code_and_description_and_backs_off() {
    let idp = MockService::new([
        Reply::status(401)
            .json(r#"{"error":"invalid_client","error_description":"unknown client"}"#),
        token("t1", 3600),
    ]);
    let api = MockService::new(Reply::ok());
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    let err = svc.clone().oneshot(get()).await.unwrap_err();
    let auth = err.downcast_ref::<AuthError>().expect("an AuthError");
    assert_eq!(auth.kind(), AuthErrorKind::Provider);
    assert_eq!(auth.code(), Some("invalid_client"));
    assert_eq!(auth.description(), Some("unknown client"));
    assert_eq!(ErrorKind::of(&*err), ErrorKind::Auth);
    assert!(!format!("{err} {err:?}").contains("s3cret"));

    // Within the backoff: the same error at once, no token request.
    let again = svc.clone().oneshot(get()).await.unwrap_err();
    assert_eq!(again.to_string(), err.to_string());
    assert_eq!(idp.request_count(), 1);
    advance(Duration::from_secs(1)).await;
    svc.clone().oneshot(get()).await.unwrap();
    assert_eq!(idp.request_count(), 2);
    assert_eq!(api.request_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn garbage_token_responses_fail_with_a_clear_error() {
    let cases: [(Reply, &str); 8] = [
        (
            Reply::ok().json(r#"{"access_token":"SECRET-TOKEN\nx","token_type":"Bearer"}"#),
            "not a valid header value",
        ),
        (
            Reply::ok().json(r#"{"access_token":"SECRET-TOKEN","token_type":"mac"}"#),
            "token_type \"mac\" is not supported",
        ),
        (
            Reply::ok()
                .header("content-type", "text/html")
                .body("<html>login</html>"),
            "not JSON (content-type text/html)",
        ),
        (
            Reply::ok().json(r#"{"token_type":"Bearer"}"#),
            "no access_token",
        ),
        (
            Reply::ok()
                .json(r#"{"access_token":"SECRET-TOKEN","token_type":"Bearer","expires_in":-1}"#),
            "negative",
        ),
        (
            Reply::ok().json(
                r#"{"access_token":"SECRET-TOKEN","token_type":"Bearer","expires_in":99999999999}"#,
            ),
            "out of range",
        ),
        (
            Reply::status(500)
                .header("content-type", "text/html")
                .body("<h1>oops</h1>"),
            "answered 500 (text/html)",
        ),
        (
            Reply::ok().json(format!(
                r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
                "x".repeat(70_000)
            )),
            "over 65536 bytes",
        ),
    ];
    for (reply, wanted) in cases {
        let idp = MockService::new(reply);
        let api = MockService::new(Reply::ok());
        let err = client(AuthConfig::new(oauth(&idp)), &api)
            .oneshot(get())
            .await
            .unwrap_err();
        let shown = format!("{err} / {err:?}");
        assert!(shown.contains(wanted), "{wanted}: {shown}");
        assert!(
            !shown.contains("SECRET-TOKEN") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert_eq!(ErrorKind::of(&*err), ErrorKind::Auth);
        assert_eq!(api.request_count(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn a_hung_token_endpoint_times_out() {
    let idp = MockService::new(token("t1", 3600).delay(Duration::from_secs(60)));
    let api = MockService::new(Reply::ok());
    let source = ClientCredentials::builder("https://idp.test/token", "c", "s".into())
        .client(TokenClient::new(idp.clone()))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client(AuthConfig::new(source), &api)
        .oneshot(get())
        .await
        .unwrap_err();
    let auth = err.downcast_ref::<AuthError>().unwrap();
    assert_eq!(auth.kind(), AuthErrorKind::Timeout);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn client_credentials_requests_follow_rfc_6749() {
    let idp = MockService::new(token("t1", 3600));
    let api = MockService::new(Reply::ok());
    let source =
        ClientCredentials::builder("https://idp.test/token", "client:1", "p@ss word".into())
            .client(TokenClient::new(idp.clone()))
            .scope("items:read")
            .scope("items:write")
            .audience("https://api.test")
            .build()
            .unwrap();
    client(AuthConfig::new(source), &api)
        .oneshot(get())
        .await
        .unwrap();
    let sent = &idp.requests()[0];
    assert_eq!(sent.method, http::Method::POST);
    assert_eq!(
        sent.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        sent.body,
        "grant_type=client_credentials&scope=items%3Aread+items%3Awrite&audience=https%3A%2F%2Fapi.test"
    );
    // RFC 6749 2.3.1: id and secret form-encoded, then Basic.
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("client%3A1:p%40ss+word");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );

    let idp = MockService::new(token("t1", 3600));
    let source = ClientCredentials::builder("https://idp.test/token", "c1", "sec".into())
        .client(TokenClient::new(idp.clone()))
        .client_auth(ClientAuth::RequestBody)
        .build()
        .unwrap();
    client(AuthConfig::new(source), &api)
        .oneshot(get())
        .await
        .unwrap();
    let sent = &idp.requests()[0];
    assert_eq!(
        sent.body,
        "grant_type=client_credentials&client_id=c1&client_secret=sec"
    );
    assert_eq!(sent.header("authorization"), None);
}

#[tokio::test(start_paused = true)]
async fn a_rotated_refresh_token_is_saved_through_the_store() {
    let idp = MockService::new([
        Reply::ok().json(r#"{"access_token":"a1","token_type":"bearer","expires_in":600,"refresh_token":"rt-2"}"#),
        Reply::ok().json(r#"{"access_token":"a2","token_type":"bearer","expires_in":600,"refresh_token":"rt-3"}"#),
    ]);
    let api = MockService::new(Reply::ok());
    // A restart: the store holds the token rotated by the last run.
    let store = MemoryTokenStore::with_token("rt-stored".into());
    let source = RefreshToken::builder("https://idp.test/token", "app", "rt-initial".into())
        .client(TokenClient::new(idp.clone()))
        .store(store.clone())
        .build()
        .unwrap();
    let svc = client(AuthConfig::new(source), &api);
    svc.clone().oneshot(get()).await.unwrap();
    assert_eq!(
        idp.requests()[0].body,
        "grant_type=refresh_token&refresh_token=rt-stored&client_id=app"
    );
    use secrecy::ExposeSecret;
    assert_eq!(store.get().unwrap().expose_secret(), "rt-2");
    advance(Duration::from_secs(601)).await;
    svc.clone().oneshot(get()).await.unwrap();
    assert_eq!(
        idp.requests()[1].body,
        "grant_type=refresh_token&refresh_token=rt-2&client_id=app"
    );
    assert_eq!(store.get().unwrap().expose_secret(), "rt-3");
    assert_eq!(tokens_seen(&api), ["Bearer a1", "Bearer a2"]);
}

#[tokio::test(start_paused = true)]
async fn an_api_key_pool_rotates_on_refusal() {
    let api = MockService::new(Script::from_fn(|r| match r.header("x-api-key") {
        Some("k-good") => Reply::ok(),
        _ => Reply::status(403),
    }));
    let pool = ApiKeyPool::header("x-api-key", ["k-bad".into(), "k-good".into()])
        .max_failures(1)
        .build()
        .unwrap();
    let svc = client(AuthConfig::new(pool.clone()), &api);
    let (request, record) = recorded(get());
    assert_eq!(svc.clone().oneshot(request).await.unwrap().status(), 200);
    assert_eq!(
        auth_events(&record),
        [
            AuthEvent::TokenFetched,
            AuthEvent::KeyRotated,
            AuthEvent::RecoveredFrom401
        ]
    );
    assert_eq!((pool.live_keys(), pool.current_key()), (1, Some(1)));
    svc.clone().oneshot(get()).await.unwrap();
    let keys: Vec<_> = api
        .requests()
        .iter()
        .map(|r| r.header("x-api-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["k-bad", "k-good", "k-good"]);
}

#[tokio::test(start_paused = true)]
async fn an_api_key_pool_drops_failing_keys_and_says_when_none_is_left() {
    let api = MockService::new(Reply::status(401));
    let pool = ApiKeyPool::query("key", ["a".into(), "b".into()])
        .max_failures(2)
        .build()
        .unwrap();
    let svc = client(AuthConfig::new(pool.clone()), &api);
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 401);
    assert_eq!(pool.live_keys(), 2, "one refusal each so far");
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 401);
    assert_eq!(pool.live_keys(), 0);
    let queries: Vec<_> = api
        .requests()
        .iter()
        .map(|r| r.uri.query().unwrap().to_owned())
        .collect();
    // Each refusal moves on: a, b (resent), then a again, b (resent).
    assert_eq!(queries, ["key=a", "key=b", "key=a", "key=b"]);

    let err = svc.clone().oneshot(get()).await.unwrap_err();
    let auth = err.downcast_ref::<AuthError>().unwrap();
    assert_eq!(auth.kind(), AuthErrorKind::NoCredential);
    assert!(
        err.to_string().contains("all 2 API keys were dropped"),
        "{err}"
    );
    assert_eq!(api.request_count(), 4);
}

#[tokio::test(start_paused = true)]
async fn an_accepted_request_resets_a_keys_failures() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    // Refuses every other request.
    let api = MockService::new(Script::from_fn(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Reply::status(401)
        } else {
            Reply::ok()
        }
    }));
    let pool = ApiKeyPool::header("x-api-key", ["only".into()])
        .max_failures(2)
        .build()
        .unwrap();
    let svc = client(AuthConfig::new(pool.clone()), &api);
    for _ in 0..5 {
        assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 200);
    }
    assert_eq!(pool.live_keys(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 10);
}

#[tokio::test(start_paused = true)]
async fn api_key_in_the_query_and_basic_in_the_header() {
    let api = MockService::new(Reply::ok());
    let key = ApiKey::query("api_key", "k 1&2".into()).unwrap();
    let request = Request::get("https://api.test/items?page=2")
        .body(Body::empty())
        .unwrap();
    client(AuthConfig::new(key), &api)
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(
        api.requests()[0].uri.query(),
        Some("page=2&api_key=k+1%262")
    );

    let basic = BasicAuth::new("user", "pa:ss".into()).unwrap();
    client(AuthConfig::new(basic), &api)
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!(
        api.requests()[1].header("authorization"),
        Some("Basic dXNlcjpwYTpzcw==")
    );
}

#[cfg(feature = "jwt")]
#[tokio::test(start_paused = true)]
async fn jwt_claims_check_out_when_decoded() {
    use girder_auth::jwt::{Algorithm, EncodingKey};
    use girder_core::WallClock;
    use ring::hmac;
    use std::time::SystemTime;
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let api = MockService::new(Reply::ok());
    let source = JwtSource::builder(
        Algorithm::HS256,
        EncodingKey::from_secret(b"shared-secret-of-at-least-32-bytes"),
    )
    .issuer("client-42")
    .subject("svc")
    .audience("https://api.test")
    .claim("tenant", 7)
    .key_id("k1")
    .lifetime(Duration::from_secs(300))
    .clock(WallClock::starting_at(start))
    .build()
    .unwrap();
    let svc = client(
        AuthConfig::builder(source)
            .jitter(Duration::ZERO)
            .build()
            .unwrap(),
        &api,
    );
    svc.clone().oneshot(get()).await.unwrap();
    // Stale at 240 s (the 60 s skew before expiry): a new token, minted then.
    advance(Duration::from_secs(240)).await;
    svc.clone().oneshot(get()).await.unwrap();
    svc.clone().oneshot(get()).await.unwrap();

    let key = hmac::Key::new(hmac::HMAC_SHA256, b"shared-secret-of-at-least-32-bytes");
    let claims: Vec<serde_json::Value> = tokens_seen(&api)
        .iter()
        .map(|t| {
            let jwt = jws::parse(t.strip_prefix("Bearer ").unwrap());
            assert_eq!(jwt.header_text, r#"{"typ":"JWT","alg":"HS256","kid":"k1"}"#);
            hmac::verify(&key, jwt.signing_input.as_bytes(), &jwt.signature)
                .expect("the HMAC verifies");
            // What a verifier configured for this client checks (the
            // expiry aside: the clock is in 2023).
            assert_eq!(jwt.claims["aud"], "https://api.test");
            assert_eq!(jwt.claims["iss"], "client-42");
            jwt.claims
        })
        .collect();
    assert_eq!(claims[0]["iat"], 1_700_000_000);
    assert_eq!(claims[0]["exp"], 1_700_000_300);
    assert_eq!(claims[0]["sub"], "svc");
    assert_eq!(claims[0]["tenant"], 7);
    assert_eq!(
        claims[1]["iat"], 1_700_000_000,
        "the stale token is still sent"
    );
    assert_eq!(claims[2]["iat"], 1_700_000_240);
    assert_eq!(claims[2]["exp"], 1_700_000_540);
}

#[cfg(feature = "jwt")]
#[tokio::test(start_paused = true)]
async fn eddsa_jwts_verify_with_the_public_key() {
    use girder_auth::jwt::{Algorithm, EncodingKey};
    use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
    let seed = [7u8; 32];
    // PKCS#8 v1 for Ed25519 (RFC 8410): a fixed prefix and the seed.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    let public = Ed25519KeyPair::from_seed_unchecked(&seed)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    let api = MockService::new(Reply::ok());
    let source = JwtSource::builder(Algorithm::EdDSA, EncodingKey::from_ed_der(&der))
        .subject("svc")
        .build()
        .unwrap();
    client(AuthConfig::new(source), &api)
        .oneshot(get())
        .await
        .unwrap();
    let jwt = jws::parse(tokens_seen(&api)[0].strip_prefix("Bearer ").unwrap());
    assert_eq!(jwt.header_text, r#"{"typ":"JWT","alg":"EdDSA"}"#);
    UnparsedPublicKey::new(&ED25519, &public)
        .verify(jwt.signing_input.as_bytes(), &jwt.signature)
        .expect("the signature verifies with the public key");
    assert_eq!(jwt.claims["sub"], "svc");
    let exp = jwt.claims["exp"].as_u64().unwrap();
    assert_eq!(exp - jwt.claims["iat"].as_u64().unwrap(), 600);

    // A key of the wrong kind is refused when the source is built.
    let wrong = JwtSource::builder(Algorithm::RS256, EncodingKey::from_secret(b"x")).build();
    assert!(wrong.unwrap_err().to_string().contains("RS256"));
}

#[test]
fn debug_output_never_shows_a_secret() {
    let idp = MockService::new(Reply::ok());
    let shown = [
        format!("{:?}", BearerToken::new("SECRET-1".into()).unwrap()),
        format!(
            "{:?}",
            ApiKey::header("x-api-key", "SECRET-1".into()).unwrap()
        ),
        format!("{:?}", ApiKey::query("k", "SECRET-1".into()).unwrap()),
        format!("{:?}", BasicAuth::new("u", "SECRET-1".into()).unwrap()),
        format!("{:?}", oauth(&idp)),
        format!(
            "{:?}",
            RefreshToken::builder("https://idp.test/t", "app", "SECRET-1".into())
                .client_secret("SECRET-1".into())
                .client(TokenClient::new(idp.clone()))
                .build()
                .unwrap()
        ),
        format!(
            "{:?}",
            RefreshToken::builder("https://idp.test/t", "app", "SECRET-1".into())
        ),
        format!(
            "{:?}",
            ClientCredentials::builder("https://idp.test/t", "app", "SECRET-1".into())
        ),
        format!(
            "{:?}",
            ApiKeyPool::header("x", ["SECRET-1".into()])
                .build()
                .unwrap()
        ),
        format!("{:?}", MemoryTokenStore::with_token("SECRET-1".into())),
        format!("{:?}", Credential::bearer("SECRET-1").unwrap()),
        format!(
            "{:?}",
            AuthLayer::new(AuthConfig::new(
                BearerToken::new("SECRET-1".into()).unwrap()
            ))
        ),
    ];
    #[cfg(feature = "jwt")]
    let shown = {
        use girder_auth::jwt::{Algorithm, EncodingKey};
        let mut shown = shown.to_vec();
        shown.push(format!(
            "{:?}",
            JwtSource::builder(Algorithm::HS256, EncodingKey::from_secret(b"SECRET-1"))
        ));
        shown
    };
    for text in shown {
        assert!(
            !text.contains("SECRET-1") && !text.contains("s3cret"),
            "{text}"
        );
    }
    assert!(format!("{:?}", oauth(&idp)).contains("client-1"));
}

#[tokio::test(start_paused = true)]
async fn the_service_made_ready_is_the_one_called_after_a_wait() {
    // A service that is ready once per poll_ready: calling a clone that was
    // never made ready would fail.
    #[derive(Clone)]
    struct Strict {
        ready: bool,
        api: MockService,
    }
    impl Service<Request<Body>> for Strict {
        type Response = Response<Body>;
        type Error = BoxError;
        type Future = <MockService as Service<Request<Body>>>::Future;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), BoxError>> {
            self.ready = true;
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, request: Request<Body>) -> Self::Future {
            assert!(std::mem::take(&mut self.ready), "called without poll_ready");
            self.api.call(request)
        }
    }
    let idp = MockService::new([
        token("t1", 3600).delay(Duration::from_millis(10)),
        token("t2", 3600),
    ]);
    let api = MockService::new([Reply::status(401), Reply::ok()]);
    let strict = Strict {
        ready: false,
        api: api.clone(),
    };
    let mut svc = ServiceBuilder::new()
        .layer(AuthLayer::new(AuthConfig::new(oauth(&idp))))
        .service(strict);
    let future = svc.ready().await.unwrap().call(get());
    assert_eq!(future.await.unwrap().status(), 200);
    assert_eq!(api.request_count(), 2);
}

#[test]
fn nonsense_layer_settings_are_refused() {
    let source = || BearerToken::new("t".into()).unwrap();
    let zero = AuthConfig::builder(source())
        .refresh_timeout(Duration::ZERO)
        .build();
    assert!(zero.unwrap_err().to_string().contains("refresh_timeout"));
    let backwards = AuthConfig::builder(source())
        .retry_backoff(Duration::from_secs(10), Duration::from_secs(1))
        .build();
    assert!(backwards.is_err());
    let skew = AuthConfig::builder(source())
        .skew(Duration::from_secs(90_000))
        .build();
    assert!(skew.is_err());
    assert!(
        ApiKeyPool::header("x", Vec::<girder_auth::SecretString>::new())
            .build()
            .is_err()
    );
    assert!(
        ApiKeyPool::header("x", ["k".into()])
            .max_failures(0)
            .build()
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_401s_share_one_refresh() {
    let idp = MockService::new([
        token("t1", 3600),
        token("t2", 3600).delay(Duration::from_millis(50)),
    ]);
    let api = MockService::new(Script::from_fn(|r| match r.header("authorization") {
        Some("Bearer t2") => Reply::ok(),
        _ => Reply::status(401),
    }));
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    svc.clone().oneshot(get()).await.unwrap(); // t1, refused, resent with t2
    assert_eq!(idp.request_count(), 2);

    let idp = MockService::new([
        token("t1", 3600),
        token("t2", 3600).delay(Duration::from_millis(50)),
    ]);
    let api = MockService::new(Script::from_fn(|r| match r.header("authorization") {
        Some("Bearer t2") => Reply::ok(),
        _ => Reply::status(401).delay(Duration::from_millis(10)),
    }));
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    let calls: Vec<_> = (0..20)
        .map(|_| tokio::spawn(svc.clone().oneshot(get())))
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(idp.request_count(), 2, "twenty refusals, one refresh");
    assert_eq!(api.request_count(), 40);
}

#[tokio::test(start_paused = true)]
async fn a_fetch_that_dies_fails_its_waiters_and_the_next_call_starts_afresh() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let source = FnSource::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if n == 0 {
                panic!("the source broke");
            }
            Ok(Credential::bearer("t2").unwrap())
        }
    });
    let api = MockService::new(Reply::ok());
    let svc = client(AuthConfig::new(source), &api);
    let waiters: Vec<_> = (0..5)
        .map(|_| tokio::spawn(svc.clone().oneshot(get())))
        .collect();
    for waiter in waiters {
        let err = waiter.await.unwrap().unwrap_err();
        let auth = err.downcast_ref::<AuthError>().unwrap();
        assert_eq!(auth.kind(), AuthErrorKind::Abandoned, "{err}");
    }
    // Nobody is left waiting on the dead fetch: the next call fetches anew.
    svc.clone().oneshot(get()).await.unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(tokens_seen(&api), ["Bearer t2"]);
}

#[tokio::test(start_paused = true)]
async fn without_recovery_a_pool_still_moves_to_its_next_key() {
    let api = MockService::new(Script::from_fn(|r| match r.header("x-api-key") {
        Some("k-good") => Reply::ok(),
        _ => Reply::status(401),
    }));
    let pool = ApiKeyPool::header("x-api-key", ["k-bad".into(), "k-good".into()])
        .build()
        .unwrap();
    let config = AuthConfig::builder(pool)
        .recovery(Recovery::Off)
        .build()
        .unwrap();
    let svc = client(config, &api);
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 401);
    assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), 200);
    assert_eq!(api.request_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failing_closure_source_gives_an_auth_error() {
    let source = FnSource::new(|| async {
        Err(AuthError::new(AuthErrorKind::Source, "the vault is sealed"))
    });
    let api = MockService::new(Reply::ok());
    let err = client(AuthConfig::new(source), &api)
        .oneshot(get())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "credential source failed: the vault is sealed"
    );
    assert_eq!(api.request_count(), 0);
}

/// A tracing subscriber that writes every event's target and fields.
struct Capture(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{}:", event.metadata().target());
        event.record(&mut Fields(&mut line));
        let mut log = self.0.lock().unwrap();
        log.push_str(&line);
        log.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(start_paused = true)]
async fn logs_name_decisions_never_secrets() {
    let log = Arc::new(Mutex::new(String::new()));
    let _guard = tracing::subscriber::set_default(Capture(log.clone()));
    let idp = MockService::new([
        token("TOKEN-A", 3600),
        token("TOKEN-B", 3600),
        Reply::status(400).json(r#"{"error":"invalid_client"}"#),
    ]);
    let api = MockService::new([Reply::status(401), Reply::ok()]);
    let svc = client(AuthConfig::new(oauth(&idp)), &api);
    svc.clone().oneshot(get()).await.unwrap();
    advance(Duration::from_secs(3600)).await;
    svc.clone().oneshot(get()).await.unwrap_err();
    let pool_api = MockService::new(Reply::status(403));
    let pool = ApiKeyPool::header("x-api-key", ["KEY-1".into(), "KEY-2".into()])
        .max_failures(1)
        .build()
        .unwrap();
    client(AuthConfig::new(pool), &pool_api)
        .oneshot(get())
        .await
        .unwrap();

    let log = log.lock().unwrap().clone();
    for wanted in [
        "token fetched",
        "resending with a fresh one",
        "token fetch failed",
        "invalid_client",
        "API key dropped",
        "no API key left",
    ] {
        assert!(log.contains(wanted), "{wanted} missing from\n{log}");
    }
    assert!(log.lines().all(|l| l.starts_with("girder::auth:")), "{log}");
    for secret in ["TOKEN-A", "TOKEN-B", "s3cret-x", "KEY-1", "KEY-2"] {
        assert!(!log.contains(secret), "{secret} in\n{log}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_hook_hears_fetches_failures_and_refusals() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    let idp = MockService::new([
        token("t1", 3600),
        Reply::status(400).json(r#"{"error":"invalid_client"}"#),
    ]);
    let api = MockService::new(Reply::status(401));
    let config = AuthConfig::builder(oauth(&idp))
        .on_event(move |event: &girder_auth::TokenEvent<'_>| {
            log.lock().unwrap().push(format!("{event:?}"));
        })
        .build()
        .unwrap();
    let err = client(config, &api).oneshot(get()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<AuthError>().unwrap().code(),
        Some("invalid_client")
    );
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 3, "{heard:?}");
    assert!(
        heard[0].starts_with("Fetched { expires_in: Some(3600s), refresh: false"),
        "{heard:?}"
    );
    assert!(
        heard[1].starts_with("Refused { status: 401, resent: true"),
        "{heard:?}"
    );
    assert!(
        heard[2].starts_with("FetchFailed") && heard[2].contains("current_valid: false"),
        "{heard:?}"
    );
}

/// A store whose loads or saves fail.
struct BrokenStore {
    load_fails: bool,
}

impl girder_auth::TokenStore for BrokenStore {
    fn load(&self) -> girder_auth::StoreFuture<Option<girder_auth::SecretString>> {
        let fails = self.load_fails;
        Box::pin(async move {
            if fails {
                Err("disk unreadable".into())
            } else {
                Ok(None)
            }
        })
    }
    fn save(&self, _: girder_auth::SecretString) -> girder_auth::StoreFuture<()> {
        Box::pin(async { Err("disk full".into()) })
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_token_store_is_reported_or_survived() {
    let rotating = || {
        MockService::new(Reply::ok().json(
            r#"{"access_token":"a1","token_type":"bearer","expires_in":600,"refresh_token":"rt-2"}"#,
        ))
    };
    let source = |idp: &MockService, load_fails| {
        RefreshToken::builder("https://idp.test/token", "app", "rt-1".into())
            .client(TokenClient::new(idp.clone()))
            .store(BrokenStore { load_fails })
            .build()
            .unwrap()
    };
    let api = MockService::new(Reply::ok());

    // Nothing can be loaded: no token request with a possibly stale token.
    let idp = rotating();
    let err = client(AuthConfig::new(source(&idp, true)), &api)
        .oneshot(get())
        .await
        .unwrap_err();
    let auth = err.downcast_ref::<AuthError>().unwrap();
    assert_eq!(auth.kind(), AuthErrorKind::Store);
    assert!(format!("{err:?}").contains("disk unreadable"));
    assert_eq!(idp.request_count(), 0);

    // The rotated token cannot be saved: the call still succeeds.
    let idp = rotating();
    client(AuthConfig::new(source(&idp, false)), &api)
        .oneshot(get())
        .await
        .unwrap();
    assert_eq!(tokens_seen(&api), ["Bearer a1"]);
}
