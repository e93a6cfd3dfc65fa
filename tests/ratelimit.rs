//! RateLimitLayer over the real transport against `TestServer` on loopback:
//! the server's log shows when each request arrived, on paused time.

use std::time::Duration;

use girder::ratelimit::{Quota, RateLimitLayer, RateLimitPolicy};
use girder::retry::{Attempts, RetryLayer, RetryPolicy};
use girder::{Body, CallRecord, CallRecordLayer, Transport};
use girder_test::{Reply, TestServer};
use http::Request;
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};

fn stack(
    policy: RateLimitPolicy,
) -> impl tower::Service<
    Request<Body>,
    Response = http::Response<Body>,
    Error = girder::BoxError,
    Future = impl Send,
> + Clone {
    ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .map_response(|response: http::Response<_>| response.map(Body::from))
        .layer(RateLimitLayer::new(policy))
        .service(Transport::new().unwrap())
}

fn get(url: String) -> Request<Body> {
    Request::get(url).body(Body::empty()).unwrap()
}

fn assert_near(gap: Duration, expected: Duration) {
    // Loopback I/O takes a few (paused-clock) milliseconds at most.
    assert!(
        gap >= expected && gap <= expected + Duration::from_millis(50),
        "{gap:?}, expected {expected:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_2_holds_every_request_to_the_host_for_2_s() {
    let server = TestServer::start().await;
    server.route(
        "/busy",
        [Reply::status(429).header("retry-after", "2"), Reply::ok()],
    );
    server.route("/items", Reply::ok());
    let other = TestServer::start().await;
    other.route("/items", Reply::ok());
    let policy = RateLimitPolicy::builder()
        .quota(Quota::per_second(50))
        .build()
        .unwrap();
    let client = stack(policy);

    let start = Instant::now();
    let response = client
        .clone()
        .oneshot(get(server.url("/busy")))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    // Another host is not paused.
    client
        .clone()
        .oneshot(get(other.url("/items")))
        .await
        .unwrap();
    assert_near(start.elapsed(), Duration::ZERO);

    let calls: Vec<_> = (0..4)
        .map(|i| {
            let path = if i % 2 == 0 { "/items" } else { "/busy" };
            tokio::spawn(client.clone().oneshot(get(server.url(path))))
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 5);
    for later in &seen[1..] {
        assert_near(later.at - seen[0].at, Duration::from_secs(2));
    }
    // Traffic resumes at the quota's pace.
    let start = Instant::now();
    client
        .clone()
        .oneshot(get(server.url("/items")))
        .await
        .unwrap();
    assert_near(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn retry_over_the_limiter_waits_once_for_the_server() {
    let server = TestServer::start().await;
    server.route(
        "/busy",
        [Reply::status(429).header("retry-after", "2"), Reply::ok()],
    );
    let client = ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .layer(RetryLayer::new(
            RetryPolicy::builder().seed(3).build().unwrap(),
        ))
        .layer(RateLimitLayer::default())
        .service(Transport::new().unwrap());
    let response = client.oneshot(get(server.url("/busy"))).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(2)));
    let seen = server.requests();
    // The retry's wait (Retry-After plus up to a tenth) covers the pause:
    // the limiter adds nothing on top.
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_secs(2) && gap <= Duration::from_millis(2250),
        "{gap:?}"
    );
    let record = response.extensions().get::<CallRecord>().unwrap();
    assert!(!record.to_string().contains("ratelimit"), "{record}");
}

#[tokio::test(start_paused = true)]
async fn a_ratelimit_policy_from_the_server_is_adopted() {
    let server = TestServer::start().await;
    server.route(
        "/items",
        [
            Reply::ok()
                .header("ratelimit-policy", r#""burst";q=2;w=10"#)
                .header("ratelimit", r#""burst";r=1;t=10"#),
            Reply::ok(),
        ],
    );
    let client = stack(RateLimitPolicy::default());
    for _ in 0..3 {
        client
            .clone()
            .oneshot(get(server.url("/items")))
            .await
            .unwrap();
    }
    let seen = server.requests();
    assert_near(seen[1].at - seen[0].at, Duration::ZERO);
    // One remained; then one permit every 5 s (2 per 10 s).
    assert_near(seen[2].at - seen[0].at, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_garbage_retry_after_changes_nothing() {
    let server = TestServer::start().await;
    server.route(
        "/busy",
        [
            Reply::status(429)
                .header("retry-after", "banana")
                .header("x-ratelimit-remaining", "none")
                .header("ratelimit", "¿?"),
            Reply::ok(),
        ],
    );
    let client = stack(RateLimitPolicy::default());
    let start = Instant::now();
    let response = client
        .clone()
        .oneshot(get(server.url("/busy")))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let response = client
        .clone()
        .oneshot(get(server.url("/busy")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_near(start.elapsed(), Duration::ZERO);
}
