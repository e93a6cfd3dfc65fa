//! The facade's `Client` against `TestServer` on loopback: every error
//! kind, the request builder, the response API and the stack order.
// The signing tests and their helpers need the `sign` feature.
#![cfg_attr(not(feature = "sign"), allow(dead_code))]

use std::time::Duration;

use girder::breaker::{BreakerPolicy, OpenDuration};
use girder::cache::{CacheConfig, CacheMode, CacheStatus};
use girder::ratelimit::{Mode, Quota, RateLimitPolicy};
use girder::retry::RetryPolicy;
use girder::{Client, Kind};
use girder_test::{Reply, Script, TestServer};
use serde::{Deserialize, Serialize};

mod common;

fn client(server: &TestServer) -> girder::ClientBuilder {
    Client::builder().base_url(server.url("/api/"))
}

async fn error_of(client: &Client, path: &str) -> girder::Error {
    let response = client.get(path).send().await.expect("a response");
    response
        .error_for_status_with_message()
        .await
        .expect_err("an error status")
}

#[tokio::test(start_paused = true)]
async fn error_statuses_map_to_kinds_with_the_servers_message() {
    let server = TestServer::start().await;
    let problem = |status: u16, title: &str| {
        Reply::status(status)
            .header("content-type", "application/problem+json")
            .body(format!(r#"{{"title":"{title}","detail":"see docs"}}"#))
    };
    server.route("/api/v", problem(400, "Bad input"));
    server.route(
        "/api/u",
        Reply::status(422).json(r#"{"message":"name is required"}"#),
    );
    server.route(
        "/api/a",
        Reply::status(401).json(r#"{"error":"invalid_token","error_description":"expired"}"#),
    );
    server.route(
        "/api/f",
        Reply::status(403).json(r#"{"error":{"message":"no scope"}}"#),
    );
    server.route("/api/n", Reply::status(404));
    server.route("/api/c", problem(409, "Version conflict"));
    server.route("/api/r", Reply::status(429).header("retry-after", "120"));
    server.route("/api/s", Reply::status(500).body("<html>oops</html>"));
    let client = client(&server).retry(None).build().unwrap();
    for (path, kind, message) in [
        ("v", Kind::Validation, Some("Bad input: see docs")),
        ("u", Kind::Validation, Some("name is required")),
        ("a", Kind::Unauthorized, Some("invalid_token: expired")),
        ("f", Kind::Forbidden, Some("no scope")),
        ("n", Kind::NotFound, None),
        ("c", Kind::Conflict, Some("Version conflict: see docs")),
        ("r", Kind::RateLimited, None),
        ("s", Kind::Server, None),
    ] {
        let error = error_of(&client, path).await;
        assert_eq!(error.kind(), kind, "{path}: {error}");
        assert_eq!(error.message(), message, "{path}");
        assert!(error.url().unwrap().ends_with(&format!("/api/{path}")));
        assert!(error.status().is_some() && error.headers().is_some());
    }
    let limited = error_of(&client, "r").await;
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(120)));
    assert!(limited.is_retryable());
    let server_error = error_of(&client, "s").await;
    assert_eq!(server_error.body().unwrap(), "<html>oops</html>");
    assert!(server_error.is_retryable());
    assert!(!error_of(&client, "v").await.is_retryable());
}

/// The total timeout runs from when the call is sent, even when the
/// caller made the call record (the client's clock reading) long before.
#[tokio::test(start_paused = true)]
async fn the_total_timeout_runs_from_the_send_with_a_callers_old_record() {
    let server = TestServer::start().await;
    server.route("/api/quick", Reply::ok().delay(Duration::from_secs(1)));
    server.route("/api/slow", Reply::ok().delay(Duration::from_secs(6)));
    let c = client(&server)
        .retry(None)
        .total_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let early = girder::CallRecord::new();
    tokio::time::advance(Duration::from_secs(10)).await;
    let response = c
        .get("quick")
        .extension(early.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let late = girder::CallRecord::new();
    tokio::time::advance(Duration::from_secs(10)).await;
    let e = c.get("slow").extension(late).send().await.unwrap_err();
    assert_eq!(e.kind(), Kind::DeadlineExceeded, "{e}");
}

#[tokio::test(start_paused = true)]
async fn failures_below_map_to_kinds() {
    let server = TestServer::start().await;
    server.route("/api/slow", Reply::ok().delay(Duration::from_secs(20)));
    server.route("/api/down", Reply::status(503));
    server.route("/api/ok", Reply::ok().body("not json"));

    // Timeout: one attempt longer than the attempt timeout.
    let c = client(&server)
        .retry(None)
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let e = c.get("slow").send().await.unwrap_err();
    assert_eq!(e.kind(), Kind::Timeout, "{e}");
    assert!(e.is_retryable());

    // Deadline: the total timeout ends the call first.
    let c = client(&server)
        .retry(None)
        .total_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let e = c.get("slow").send().await.unwrap_err();
    assert_eq!(e.kind(), Kind::DeadlineExceeded, "{e}");
    let e = c
        .get("slow")
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Kind::DeadlineExceeded, "{e}");

    // Circuit open: one failure opens it for a minute.
    let breaker = BreakerPolicy::builder()
        .consecutive_failures(1)
        .open_duration(OpenDuration::fixed(Duration::from_secs(60)))
        .build()
        .unwrap();
    let c = client(&server)
        .retry(None)
        .circuit_breaker(breaker)
        .build()
        .unwrap();
    assert_eq!(c.get("down").send().await.unwrap().status(), 503);
    let e = c.get("down").send().await.unwrap_err();
    assert_eq!(e.kind(), Kind::CircuitOpen, "{e}");
    assert!(
        e.retry_after()
            .is_some_and(|d| d <= Duration::from_secs(60))
    );

    // Rate limited by the client's own quota.
    let limit = RateLimitPolicy::builder()
        .quota(Quota::per_minute(1))
        .mode(Mode::Reject)
        .build()
        .unwrap();
    let c = client(&server).rate_limit(limit).build().unwrap();
    assert_eq!(c.get("ok").send().await.unwrap().status(), 200);
    let e = c.get("ok").send().await.unwrap_err();
    assert_eq!(e.kind(), Kind::RateLimited, "{e}");
    assert!(e.retry_after().is_some());

    // Decode: the body is not the JSON asked for.
    let c = client(&server).build().unwrap();
    #[derive(Deserialize, Debug)]
    struct Thing {
        #[allow(dead_code)]
        id: u64,
    }
    let e = c
        .get("ok")
        .send()
        .await
        .unwrap()
        .json::<Thing>()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Decode, "{e}");

    // Builder: a bad header, a URL on another origin.
    let e = c
        .get("ok")
        .header("bad header", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Builder, "{e}");
    let e = c.get("https://elsewhere.test/x").send().await.unwrap_err();
    assert_eq!(e.kind(), Kind::Builder, "{e}");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
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
    assert!(e.is_retryable());
}

#[derive(Serialize)]
struct Query<'a> {
    page: u32,
    q: &'a str,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Item {
    id: u64,
    name: String,
}

#[tokio::test(start_paused = true)]
async fn requests_carry_query_json_form_headers_and_defaults() {
    let server = TestServer::start().await;
    server.route(
        "/api/items",
        Reply::status(201).json(r#"{"id":7,"name":"widget"}"#),
    );
    let c = client(&server).build().unwrap();
    let created: Item = c
        .post("items?v=1")
        .query(&Query {
            page: 2,
            q: "a b&c",
        })
        .header("x-trace", "t1")
        .idempotency_key("key-1")
        .json(&Item {
            id: 0,
            name: "widget".into(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        created,
        Item {
            id: 7,
            name: "widget".into()
        }
    );
    c.put("items")
        .form(&[("a", "1"), ("b", "x y")])
        .send()
        .await
        .unwrap();
    let seen = server.requests_to("/api/items");
    assert_eq!(seen[0].uri.query(), Some("v=1&page=2&q=a+b%26c"));
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(seen[0].header("idempotency-key"), Some("key-1"));
    assert_eq!(seen[0].header("x-trace"), Some("t1"));
    assert_eq!(seen[0].header("accept"), Some("application/json"));
    assert!(seen[0].header("user-agent").unwrap().starts_with("girder/"));
    assert_eq!(seen[0].body, r#"{"id":0,"name":"widget"}"#);
    assert_eq!(seen[1].body, "a=1&b=x+y");
    assert_eq!(
        seen[1].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test(start_paused = true)]
async fn responses_expose_hints_records_and_text() {
    let server = TestServer::start().await;
    server.route(
        "/api/flaky",
        [
            Reply::status(503),
            Reply::ok()
                .header("x-ratelimit-remaining", "9")
                .header("x-ratelimit-limit", "10")
                .body("fine"),
        ],
    );
    let c = client(&server).build().unwrap();
    let response = c.get("flaky").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.call_record().attempts(), 2);
    let quota = response
        .rate_limit()
        .quotas()
        .next()
        .cloned()
        .expect("a quota");
    assert_eq!((quota.remaining, quota.limit), (Some(9), Some(10)));
    assert_eq!(response.text().await.unwrap(), "fine");
}

#[tokio::test(start_paused = true)]
async fn a_cache_hit_spends_no_quota_and_no_attempt() {
    let server = TestServer::start().await;
    server.route(
        "/api/cfg",
        Reply::ok().header("cache-control", "max-age=60").body("{}"),
    );
    let limit = RateLimitPolicy::builder()
        .quota(Quota::per_minute(1))
        .mode(Mode::Reject)
        .build()
        .unwrap();
    let c = client(&server)
        .cache(CacheConfig::default())
        .rate_limit(limit)
        .retry(RetryPolicy::default())
        .build()
        .unwrap();
    for expected in [CacheStatus::Miss, CacheStatus::Hit, CacheStatus::Hit] {
        let response = c.get("cfg").send().await.unwrap();
        assert_eq!(response.cache_status(), Some(expected));
    }
    // The one permit per minute went to the miss; hits needed none.
    assert_eq!(server.requests_to("/api/cfg").len(), 1);
    // Reload goes below the cache, and the quota is spent.
    let e = c
        .get("cfg")
        .cache_mode(CacheMode::Reload)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Kind::RateLimited);
}

#[tokio::test(start_paused = true)]
async fn from_service_keeps_the_api_over_any_stack() {
    let server = TestServer::start().await;
    server.route(
        "/raw",
        Script::from_fn(|r| Reply::ok().body(r.header("user-agent").unwrap_or("").to_owned())),
    );
    let c = Client::from_service(girder::Transport::new().unwrap());
    let text = c
        .get(server.url("/raw"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("girder/"), "{text}");
    let service = c.into_service();
    let _: &girder::client::ClientService = &service;
}

#[tokio::test(start_paused = true)]
async fn redirects_are_followed_and_credentials_stay_home() {
    let home = TestServer::start().await;
    let elsewhere = TestServer::start().await;
    elsewhere.route("/landing", Reply::ok().body("elsewhere"));
    home.route(
        "/api/old",
        Reply::status(301).header("location", "/api/new"),
    );
    home.route("/api/new", Reply::ok().body("new"));
    home.route(
        "/api/away",
        Reply::status(302).header("location", &elsewhere.url("/landing")),
    );
    home.route(
        "/api/loop",
        Reply::status(302).header("location", "/api/loop"),
    );
    let c = client(&home)
        .secret_header("x-secret-token", "s3cr3t")
        .redirects(3)
        .build()
        .unwrap();
    let same = c
        .get("old")
        .header("authorization", "Bearer t")
        .send()
        .await
        .unwrap();
    assert_eq!(same.text().await.unwrap(), "new");
    let new = &home.requests_to("/api/new")[0];
    assert_eq!(new.header("authorization"), Some("Bearer t"));
    assert_eq!(new.header("x-secret-token"), Some("s3cr3t"));

    let away = c
        .get("away")
        .header("authorization", "Bearer t")
        .header("x-api-key", "k")
        .header("cookie", "session=1")
        .send()
        .await
        .unwrap();
    assert_eq!(away.text().await.unwrap(), "elsewhere");
    let landed = &elsewhere.requests_to("/landing")[0];
    for name in ["authorization", "x-api-key", "cookie", "x-secret-token"] {
        assert_eq!(landed.header(name), None, "{name} crossed origins");
    }
    // At most 3 hops; a fourth redirect is an error (as in reqwest), never
    // retried, and the record has the three hops.
    let looped = c.get("loop").send().await.unwrap_err();
    assert_eq!(looped.kind(), Kind::Redirect, "{looped}");
    assert!(looped.is_redirect() && !looped.is_retryable());
    assert_eq!(looped.call_record().map(|r| r.resends()), Some(3));
    assert_eq!(home.requests_to("/api/loop").len(), 4);
}

#[cfg(feature = "gzip")]
#[tokio::test(start_paused = true)]
async fn gzip_bodies_arrive_decompressed() {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(br#"{"id":7,"name":"zipped"}"#).unwrap();
    let zipped = encoder.finish().unwrap();
    let server = TestServer::start().await;
    server.route(
        "/api/z",
        Reply::ok()
            .header("content-encoding", "gzip")
            .header("content-type", "application/json")
            .body(zipped),
    );
    let c = client(&server).build().unwrap();
    let item: Item = c.get("z").send().await.unwrap().json().await.unwrap();
    assert_eq!(
        item,
        Item {
            id: 7,
            name: "zipped".into()
        }
    );
    let accept = server.requests_to("/api/z")[0]
        .header("accept-encoding")
        .map(str::to_owned);
    assert!(accept.is_some_and(|a| a.contains("gzip")));
}

#[tokio::test(start_paused = true)]
async fn every_attempt_is_authorised_and_a_dead_token_endpoint_is_an_auth_error() {
    use girder::auth::{AuthConfig, ClientCredentials};
    let server = TestServer::start().await;
    server.route(
        "/token",
        Script::from_fn({
            let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            move |_| {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                Reply::ok().json(format!(
                    r#"{{"access_token":"tok-{i}","token_type":"Bearer","expires_in":3600}}"#
                ))
            }
        }),
    );
    // 503, then a 401 (the token was revoked), then fine.
    server.route(
        "/api/items",
        [
            Reply::status(503),
            Reply::status(401),
            Reply::ok().body("[]"),
        ],
    );
    let source = ClientCredentials::builder(&server.url("/token"), "app", "s3cret".into())
        .client(girder::auth::token_client().unwrap())
        .build()
        .unwrap();
    let c = client(&server)
        .auth(AuthConfig::new(source))
        .build()
        .unwrap();
    let response = c.get("items").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let seen: Vec<_> = server
        .requests_to("/api/items")
        .iter()
        .map(|r| r.header("authorization").unwrap_or("none").to_owned())
        .collect();
    assert_eq!(seen, ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]);

    let dead = TestServer::start().await;
    dead.route("/token", Reply::status(500).body("down"));
    dead.route("/api/items", Reply::ok());
    let source = ClientCredentials::builder(&dead.url("/token"), "app", "s3cret".into())
        .client(girder::auth::token_client().unwrap())
        .build()
        .unwrap();
    let c = client(&dead).auth(AuthConfig::new(source)).build().unwrap();
    let e = c.get("items").send().await.unwrap_err();
    assert_eq!(e.kind(), Kind::CredentialSource, "{e}");
    assert!(!e.to_string().contains("s3cret"), "{e}");
    assert!(dead.requests_to("/api/items").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_client_from_the_environment() {
    let server = TestServer::start().await;
    server.route("/v2/me", Reply::ok().body("me"));
    let base = server.url("/v2");
    let env = move |name: &str| match name {
        "SHOP_BASE_URL" => Some(base.clone()),
        "SHOP_KEY" => Some("k-123".to_owned()),
        "SHOP_KEY_HEADER" => Some("X-API-Key".to_owned()),
        "SHOP_MAX_RETRIES" => Some("0".to_owned()),
        _ => None,
    };
    let config = girder::ClientConfig::from_lookup("SHOP", env).unwrap();
    let c = config.builder().unwrap().build().unwrap();
    assert_eq!(
        c.get("me").send().await.unwrap().text().await.unwrap(),
        "me"
    );
    assert_eq!(
        server.requests_to("/v2/me")[0].header("x-api-key"),
        Some("k-123")
    );
}

#[tokio::test(start_paused = true)]
async fn user_info_in_a_url_is_refused_not_sent_or_logged() {
    let server = TestServer::start().await;
    let url = server.url("/x").replace("http://", "http://ann:pa55word@");
    let c = Client::builder().allow_absolute_urls(true).build().unwrap();
    let e = c.get(&url).send().await.unwrap_err();
    assert_eq!(e.kind(), Kind::Builder, "{e}");
    assert!(!e.to_string().contains("pa55word"), "{e}");
    assert_eq!(server.request_count(), 0);
}

/// The server's check of the HMAC scheme in the stack-order test: the
/// signature covers the timestamp, the method, the path and query and the
/// `Authorization` header that auth set, so signing must come after auth.
#[cfg(feature = "sign")]
fn signed_over_authorization(req: &girder_test::RecordedRequest) -> bool {
    common::hmac_signed(req, b"stack-secret", &["authorization"])
}

#[cfg(feature = "sign")]
#[tokio::test(start_paused = true)]
async fn the_signature_covers_the_final_headers_and_each_attempt_is_re_signed() {
    use girder::auth::{AuthConfig, ClientCredentials};
    use girder::sign::hmac::{Component, HmacSigner};
    let server = TestServer::start().await;
    server.route(
        "/token",
        Reply::ok().json(r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}"#),
    );
    server.route(
        "/api/orders",
        Script::from_fn({
            let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            move |req| {
                if !signed_over_authorization(req) {
                    return Reply::status(401).body("bad signature");
                }
                match n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                    0 => Reply::status(503).header("retry-after", "2"),
                    _ => Reply::status(201).body("ok"),
                }
            }
        }),
    );
    let source = ClientCredentials::builder(&server.url("/token"), "app", "s3cret".into())
        .client(girder::auth::token_client().unwrap())
        .build()
        .unwrap();
    let signer = HmacSigner::builder("app", b"stack-secret".to_vec())
        .components([
            Component::Timestamp,
            Component::Method,
            Component::PathAndQuery,
            Component::Header(http::header::AUTHORIZATION),
        ])
        .build()
        .unwrap();
    let c = client(&server)
        .auth(AuthConfig::new(source))
        .signing(signer)
        .build()
        .unwrap();
    let response = c.put("orders?id=9").json(&[1, 2]).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let seen = server.requests_to("/api/orders");
    assert_eq!(seen.len(), 2);
    for attempt in &seen {
        assert!(signed_over_authorization(attempt));
        assert_eq!(attempt.header("authorization"), Some("Bearer tok-1"));
    }
    let ts: Vec<u64> = seen
        .iter()
        .map(|r| r.header("x-timestamp").unwrap().parse().unwrap())
        .collect();
    assert!(ts[1] >= ts[0] + 2, "the retry was signed anew: {ts:?}");
    assert_ne!(seen[0].header("x-signature"), seen[1].header("x-signature"));
}

#[cfg(feature = "sign")]
#[tokio::test(start_paused = true)]
async fn a_streamed_body_that_must_be_signed_is_a_signing_error() {
    use girder::sign::hmac::{Component, HmacSigner};
    let server = TestServer::start().await;
    server.route("/api/upload", Reply::ok());
    let signer = HmacSigner::builder("app", b"k".to_vec())
        .components([Component::Timestamp, Component::BodyHash])
        .build()
        .unwrap();
    let c = client(&server).signing(signer).build().unwrap();
    let stream =
        http_body_util::StreamBody::new(OneChunk(Some(bytes::Bytes::from_static(b"data"))));
    let e = c
        .post("upload")
        .body(girder::Body::new(stream))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Signing, "{e}");
    assert!(!e.is_retryable());
    assert_eq!(server.request_count(), 0);
}

/// A body streamed in one chunk.
struct OneChunk(Option<bytes::Bytes>);

impl futures_core::Stream for OneChunk {
    type Item = Result<http_body::Frame<bytes::Bytes>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[test]
fn clients_are_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    fn assert_clone<T: Clone>() {}
    assert_send_sync::<Client>();
    assert_clone::<Client>();
    assert_send_sync::<girder::Error>();
    assert_eq!(std::mem::size_of::<Client>(), std::mem::size_of::<usize>());
}

#[tokio::test]
async fn layers_given_built_are_the_ones_the_client_uses() {
    use girder::auth::{AuthConfig, AuthLayer, BearerToken};
    use girder::breaker::CircuitBreakerLayer;
    use girder::cache::CacheLayer;
    use girder::ratelimit::RateLimitLayer;

    let server = TestServer::start().await;
    server.route(
        "/api/items",
        Reply::ok().header("cache-control", "max-age=60").json("[]"),
    );
    let breaker = CircuitBreakerLayer::new(BreakerPolicy::default());
    let limit = RateLimitLayer::new(
        RateLimitPolicy::builder()
            .quota(Quota::per_second(1000))
            .max_in_flight(4)
            .build()
            .unwrap(),
    );
    let cache = CacheLayer::new(CacheConfig::default());
    let auth = AuthLayer::new(AuthConfig::new(BearerToken::new("t0ken".into()).unwrap()));
    let stack = client(&server)
        .circuit_breaker_layer(breaker.clone())
        .rate_limit_layer(limit.clone())
        .cache_layer(cache.clone())
        .auth_layer(auth.clone())
        .build()
        .unwrap();

    server.route("/api/stream", Reply::ok().body("abc"));
    let bare = client(&server)
        .rate_limit_layer(limit.clone())
        .build()
        .unwrap();
    let response = bare.get("stream").send().await.unwrap();
    assert_eq!(limit.in_flight(), 1, "the slot is held until the body ends");
    response.bytes().await.unwrap();
    assert_eq!(limit.in_flight(), 0);
    stack.get("items").send().await.unwrap();
    let hit = stack.get("items").send().await.unwrap();
    assert_eq!(hit.cache_status(), Some(CacheStatus::Hit));
    assert_eq!(server.request_count(), 2, "the given cache answered");
    assert_eq!(limit.in_flight(), 0);
    assert_eq!(cache.fills_in_progress(), 0);
    assert_eq!(auth.fetches(), 1);
    assert!(
        (server.requests_to("/api/items").iter())
            .all(|r| r.header("authorization") == Some("Bearer t0ken"))
    );
    let circuits = breaker.handle().partitions();
    assert_eq!(circuits.len(), 1, "the given breaker saw the calls");
    assert_eq!(circuits[0].1.calls, 1);

    // A policy set afterwards replaces the layer given before.
    let other = client(&server)
        .rate_limit_layer(limit.clone())
        .rate_limit(RateLimitPolicy::builder().max_in_flight(4).build().unwrap())
        .build()
        .unwrap();
    let response = other.get("items").send().await.unwrap();
    assert_eq!(limit.in_flight(), 0, "not this layer");
    drop(response);
}

// Regression (found by the chaos soak): a body that stalled after its head
// held `Response::bytes` (and `json`, `text`) past the call's deadline,
// forever if the server never finished it.
#[tokio::test(start_paused = true)]
async fn a_stalled_body_fails_at_the_calls_deadline() {
    let server = TestServer::start().await;
    server.route(
        "/api/stall",
        Reply::ok()
            .json(r#"{"id":1,"name":"a body that stalls"}"#)
            .stall_body_after(8, Duration::from_secs(3600)),
    );
    let client = client(&server)
        .total_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let response = client.get("stall").send().await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(600), response.bytes()).await;
    let error = read.expect("the body read ended").unwrap_err();
    assert_eq!(error.kind(), Kind::DeadlineExceeded, "{error}");

    // The snippet `error_for_status_with_message` reads is bounded the same way.
    server.route(
        "/api/stall-500",
        Reply::status(500)
            .body("internal error, and then nothing")
            .stall_body_after(8, Duration::from_secs(3600)),
    );
    let response = client.get("stall-500").send().await.unwrap();
    let read = tokio::time::timeout(
        Duration::from_secs(600),
        response.error_for_status_with_message(),
    )
    .await;
    let error = read.expect("the snippet read ended").unwrap_err();
    assert_eq!(error.kind(), Kind::Server);
}
