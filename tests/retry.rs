//! RetryLayer over the real transport against `TestServer` on loopback:
//! the server's log shows exactly the attempts and bodies that went out.

use std::time::Duration;

use girder::retry::{Attempts, RetryLayer, RetryPolicy};
use girder::{Body, CallRecord, CallRecordLayer, Transport};
use girder_test::{Reply, TestServer};
use http::Request;
use tower::{ServiceBuilder, ServiceExt};

fn stack(
    policy: RetryPolicy,
) -> impl tower::Service<
    Request<Body>,
    Response = http::Response<Body>,
    Error = girder::BoxError,
    Future = impl Send,
> + Clone {
    ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .layer(RetryLayer::new(policy))
        .service(Transport::new().unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_put_through_503_503_200_sends_the_same_body_three_times() {
    let server = TestServer::start().await;
    server.route(
        "/items/1",
        [
            Reply::status(503),
            Reply::status(503),
            Reply::ok().body("saved"),
        ],
    );
    let client = stack(RetryPolicy::builder().seed(1).build().unwrap());
    let request = Request::put(server.url("/items/1"))
        .body(Body::from(r#"{"name":"girder"}"#))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(3)));
    let record = response.extensions().get::<CallRecord>().unwrap().clone();
    assert_eq!(record.attempts(), 3);
    assert_eq!(
        response.into_body().collect_limited(64).await.unwrap(),
        "saved"
    );

    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|r| r.method == http::Method::PUT && r.body == r#"{"name":"girder"}"#)
    );
    assert!(
        seen[1].at > seen[0].at && seen[2].at > seen[1].at,
        "backoff between attempts"
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_connections_are_retried_on_fresh_connections() {
    let server = TestServer::start().await;
    server.route("/flaky", [Reply::close(), Reply::close(), Reply::ok()]);
    let client = stack(RetryPolicy::builder().seed(2).build().unwrap());
    let response = client
        .oneshot(
            Request::get(server.url("/flaky"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(server.connections(), 3);
    let connections: Vec<u64> = seen.iter().map(|r| r.connection).collect();
    assert_eq!(connections, [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_post_goes_out_once_and_its_503_comes_back() {
    let server = TestServer::start().await;
    server.route("/orders", [Reply::status(503), Reply::ok()]);
    let client = stack(RetryPolicy::default());
    let request = Request::post(server.url("/orders"))
        .body(Body::from("order"))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(server.request_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_from_the_server_paces_the_retry() {
    let server = TestServer::start().await;
    server.route(
        "/busy",
        [Reply::status(429).header("retry-after", "2"), Reply::ok()],
    );
    let client = stack(RetryPolicy::default());
    let response = client
        .oneshot(
            Request::get(server.url("/busy"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = server.requests();
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_secs(2) && gap <= Duration::from_millis(2201),
        "{gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_post_with_a_generated_key_carries_the_same_key_on_every_attempt_on_the_wire() {
    let server = TestServer::start().await;
    server.route(
        "/orders",
        [Reply::status(503), Reply::close(), Reply::status(201)],
    );
    let client = stack(
        RetryPolicy::builder()
            .idempotency_keys(true)
            .build()
            .unwrap(),
    );
    let request = Request::post(server.url("/orders"))
        .body(Body::from(r#"{"sku":"A1"}"#))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 201);
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    let key = seen[0]
        .header("idempotency-key")
        .expect("a key on the wire");
    assert!(
        seen.iter()
            .all(|r| r.header("idempotency-key") == Some(key))
    );
    assert!(seen.iter().all(|r| r.body == r#"{"sku":"A1"}"#));
}
