//! CircuitBreakerLayer over the real transport against `TestServer` on
//! loopback: the server's log proves what reached it while the circuit was
//! open.

use std::time::Duration;

use girder::breaker::{BreakerPolicy, BreakerState, CircuitBreakerLayer, OpenDuration};
use girder::retry::{RetryLayer, RetryPolicy};
use girder::{Body, BoxError, CallRecord, CallRecordLayer, CircuitOpen, Transport};
use girder_test::{Reply, TestServer};
use http::{Request, Response};
use tower::{ServiceBuilder, ServiceExt};

const SEC: Duration = Duration::from_secs(1);

async fn get<S>(client: &S, url: String) -> Result<Response<Body>, BoxError>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone,
{
    client
        .clone()
        .oneshot(Request::get(url).body(Body::empty()).unwrap())
        .await
}

#[tokio::test(start_paused = true)]
async fn no_request_reaches_a_failing_upstream_while_the_circuit_is_open() {
    let server = TestServer::start().await;
    let mut script = vec![Reply::status(500); 5];
    script.push(Reply::ok().body("back"));
    server.route("/items", script);
    let layer = CircuitBreakerLayer::new(
        BreakerPolicy::builder()
            .open_duration(OpenDuration::fixed(30 * SEC))
            .build()
            .unwrap(),
    );
    let handle = layer.handle();
    let client = ServiceBuilder::new()
        .layer(layer)
        .service(Transport::new().unwrap());

    for _ in 0..5 {
        let response = get(&client, server.url("/items")).await.unwrap();
        assert_eq!(response.status(), 500);
    }
    let opened = tokio::time::Instant::now();
    // Open: twenty calls over the next 29 s are refused without a request.
    for _ in 0..20 {
        let err = get(&client, server.url("/items")).await.unwrap_err();
        let open = err.downcast_ref::<CircuitOpen>().expect("a refusal");
        assert!(open.retry_after().unwrap() <= 30 * SEC);
        tokio::time::advance(SEC + SEC / 2).await;
    }
    assert_eq!(server.request_count(), 5);

    tokio::time::advance(2 * SEC).await;
    for _ in 0..3 {
        let response = get(&client, server.url("/items")).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let metrics = handle.metrics_for(&Request::get(server.url("/")).body(()).unwrap());
    assert_eq!(metrics.unwrap().state, BreakerState::Closed);

    let seen = server.requests();
    assert_eq!(seen.len(), 8);
    assert!(
        seen.iter()
            .all(|r| r.at <= opened || r.at >= opened + 30 * SEC),
        "a request arrived while the circuit was open"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_counts_and_opens_the_circuit() {
    // A port with nothing listening: bind, note it, close.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::default())
        .service(Transport::new().unwrap());
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..5 {
        let err = get(&client, url.clone()).await.unwrap_err();
        assert_eq!(girder::ErrorKind::of(&*err), girder::ErrorKind::Connect);
    }
    let err = get(&client, url).await.unwrap_err();
    assert_eq!(girder::ErrorKind::of(&*err), girder::ErrorKind::CircuitOpen);
}

#[tokio::test(start_paused = true)]
async fn retry_after_from_the_server_holds_the_whole_host() {
    let server = TestServer::start().await;
    server.route(
        "/busy",
        [Reply::status(503).header("retry-after", "3"), Reply::ok()],
    );
    server.route("/other", Reply::ok());
    let client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::default())
        .service(Transport::new().unwrap());
    assert_eq!(
        get(&client, server.url("/busy")).await.unwrap().status(),
        503
    );
    let err = get(&client, server.url("/other")).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<CircuitOpen>().unwrap().retry_after(),
        Some(3 * SEC)
    );
    tokio::time::advance(3 * SEC).await;
    assert_eq!(
        get(&client, server.url("/busy")).await.unwrap().status(),
        200
    );
    assert_eq!(server.requests_to("/other").len(), 0);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn retry_above_the_breaker_waits_out_the_servers_pause() {
    let server = TestServer::start().await;
    server.route(
        "/items",
        [Reply::status(503).header("retry-after", "1"), Reply::ok()],
    );
    let client = ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .layer(RetryLayer::new(
            RetryPolicy::builder().seed(3).build().unwrap(),
        ))
        .layer(CircuitBreakerLayer::default())
        .service(Transport::new().unwrap());
    let response = get(&client, server.url("/items")).await.unwrap();
    assert_eq!(response.status(), 200);
    let record = response
        .extensions()
        .get::<CallRecord>()
        .unwrap()
        .to_string();
    // The retry waits at least the server's second, so the breaker's probe
    // is admitted rather than refused.
    assert!(
        record.contains("breaker: circuit closed, admitted"),
        "{record}"
    );
    assert!(
        record.contains("breaker: circuit half-open, admitted"),
        "{record}"
    );
    assert!(!record.contains("refused"), "{record}");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_rate_limiters_refusals_below_never_trip_the_breaker() {
    use girder::ratelimit::{Mode, Quota, RateLimitLayer, RateLimitPolicy};
    let server = TestServer::start().await;
    server.route("/items", Reply::ok());
    let breaker = CircuitBreakerLayer::new(
        BreakerPolicy::builder()
            .consecutive_failures(2)
            .build()
            .unwrap(),
    );
    let handle = breaker.handle();
    let limiter = RateLimitPolicy::builder()
        .quota(Quota::per_second(1).burst(1))
        .mode(Mode::Reject)
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(breaker)
        .map_response(|response: http::Response<_>| response.map(girder::Body::from))
        .layer(RateLimitLayer::new(limiter))
        .service(Transport::new().unwrap());
    assert_eq!(
        get(&client, server.url("/items")).await.unwrap().status(),
        200
    );
    for _ in 0..10 {
        let err = get(&client, server.url("/items")).await.unwrap_err();
        assert_eq!(girder::ErrorKind::of(&*err), girder::ErrorKind::RateLimited);
    }
    let metrics = handle
        .metrics_for(&Request::get(server.url("/")).body(()).unwrap())
        .unwrap();
    assert_eq!((metrics.state, metrics.calls), (BreakerState::Closed, 1));
    tokio::time::advance(SEC).await;
    assert_eq!(
        get(&client, server.url("/items")).await.unwrap().status(),
        200
    );
    assert_eq!(server.request_count(), 2);
}
