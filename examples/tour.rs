//! A tour of girder: a local test server, called through the stack, with
//! an account of what each piece decided.
//!
//! Run it with `cargo run --example tour`. Each layer that lands adds its
//! part; today: the call record, retry and the transport, then the circuit
//! breaker opening and recovering, then the rate limiter pacing calls and
//! pausing when the server asks, then an OAuth2 token expiring and being
//! refreshed once for many callers.

use std::time::Duration;

use girder::auth::{AuthConfig, AuthLayer, ClientCredentials, TokenClient};
use girder::breaker::{BreakerPolicy, CircuitBreakerLayer, OpenDuration, StateChange};
use girder::core::classify::{Classify, DefaultClassifier, Outcome};
use girder::ratelimit::{Quota, RateLimitLayer, RateLimitPolicy};
use girder::retry::{Attempts, RetryLayer, RetryPolicy};
use girder::{Body, BoxError, CallRecord, CallRecordLayer, ErrorKind, ServerHints, Transport};
use girder_test::{Reply, TestServer};
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let server = TestServer::start().await;
    server.route("/hello", Reply::ok().json(r#"{"greeting":"hello"}"#));
    // Busy for 90 s: longer than retry's 60 s cap, so it comes back as it is.
    server.route(
        "/busy",
        Reply::status(429)
            .header("retry-after", "90")
            .header("ratelimit-policy", r#""hourly";q=1000;w=3600"#)
            .header("ratelimit", r#""hourly";r=0;t=90"#),
    );
    // Down, then a dropped connection, then up: retry rides it out.
    server.route(
        "/flaky",
        [
            Reply::status(503).header("retry-after", "1"),
            Reply::close(),
            Reply::ok().body("third time lucky"),
        ],
    );
    // Always hangs up: three attempts, then the last error.
    server.route("/hang-up", Reply::close());
    // Fails three times, then recovers: the breaker's part.
    server.route(
        "/down",
        [
            Reply::status(500),
            Reply::status(500),
            Reply::status(500),
            Reply::ok().body("recovered"),
        ],
    );
    println!("test server listening on {}\n", server.addr());

    let mut client = ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .layer(RetryLayer::new(RetryPolicy::default()))
        .service(Transport::new()?);

    for path in ["/hello", "/busy", "/flaky", "/hang-up"] {
        let mut request = http::Request::get(server.url(path)).body(Body::empty())?;
        // CallRecordLayer would make one; making it here keeps a handle to
        // it even when the call ends in an error.
        let record = CallRecord::ensure(&mut request);
        println!("GET {path}");
        let outcome = client.ready().await?.call(request).await;
        match outcome {
            Ok(response) => {
                let class = DefaultClassifier.classify(Outcome::response(&response));
                let attempts = response.extensions().get::<Attempts>().map_or(1, |a| a.0);
                println!(
                    "  status     {} after {attempts} attempt(s)",
                    response.status()
                );
                println!("  class      {class:?}");
                let hints = ServerHints::from_headers(response.headers());
                if let Some((delay, source)) = hints.delay() {
                    println!("  hint       wait {delay:?} (from {source:?})");
                }
                for quota in hints.quotas() {
                    let show = |n: Option<u64>| n.map_or("?".to_owned(), |n| n.to_string());
                    println!(
                        "  quota      {}: {} of {} left, resets in {:?}",
                        quota.name.as_deref().unwrap_or("(unnamed)"),
                        show(quota.remaining),
                        show(quota.limit),
                        quota.reset.unwrap_or_default()
                    );
                }
                let body = response.into_body().collect_limited(64 * 1024).await?;
                if !body.is_empty() {
                    println!("  body       {}", String::from_utf8_lossy(&body));
                }
            }
            Err(error) => {
                let class = DefaultClassifier.classify(Outcome::error(&*error));
                println!("  error      {}", chain(&*error));
                println!("  kind       {}", ErrorKind::of(&*error));
                println!("  class      {class:?}");
            }
        }
        println!(
            "  record     {}",
            record.to_string().replace('\n', "\n             ")
        );
        println!();
    }

    println!(
        "the server saw {} requests on {} connections:",
        server.request_count(),
        server.connections()
    );
    for request in server.requests() {
        println!(
            "  {} {} (connection {})",
            request.method, request.uri, request.connection
        );
    }
    println!();
    breaker(&server).await?;
    println!();
    rate_limit().await?;
    println!();
    auth().await
}

/// The circuit breaker: three failures open it, calls fail fast without
/// reaching the server, and after the open period a probe closes it.
async fn breaker(server: &TestServer) -> Result<(), BoxError> {
    println!("circuit breaker: 3 failures in a row open it for 1 s; 1 probe closes it");
    let policy = BreakerPolicy::builder()
        .consecutive_failures(3)
        .open_duration(OpenDuration::fixed(Duration::from_secs(1)))
        .half_open_probes(1)
        .on_state_change(|change: &StateChange| println!("  change     {change}"))
        .build()?;
    let layer = CircuitBreakerLayer::new(policy);
    let handle = layer.handle();
    let mut client = ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .layer(layer)
        .service(Transport::new()?);
    let before = server.requests_to("/down").len();
    for round in 0..6 {
        if round == 5 {
            println!("  (waiting out the open period)");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let request = http::Request::get(server.url("/down")).body(Body::empty())?;
        match client.ready().await?.call(request).await {
            Ok(response) => println!("  GET /down  {}", response.status()),
            Err(error) => println!("  GET /down  {error}"),
        }
    }
    let probe = http::Request::get(server.url("/down")).body(())?;
    if let Some(metrics) = handle.metrics_for(&probe) {
        println!(
            "  metrics    state {}, refused {}, trips {}",
            metrics.state, metrics.refused, metrics.trips
        );
    }
    println!(
        "  the server saw {} of those 6 calls",
        server.requests_to("/down").len() - before
    );
    Ok(())
}

/// The rate limiter: the client paces itself to its quota, and pauses the
/// host when the server asks (here for 1 s, with a 429 and Retry-After).
async fn rate_limit() -> Result<(), BoxError> {
    let api = TestServer::start().await;
    api.route("/items", Reply::ok());
    api.route("/slow-down", Reply::status(429).header("retry-after", "1"));
    let policy = RateLimitPolicy::builder()
        .quota(Quota::per_second(5).burst(2))
        .build()?;
    let mut limited = ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .layer(RateLimitLayer::new(policy))
        .service(Transport::new()?);
    println!("rate limit: 5 per second, bursts of 2, on {}", api.addr());
    let start = tokio::time::Instant::now();
    for path in [
        "/items",
        "/items",
        "/items",
        "/items",
        "/slow-down",
        "/items",
    ] {
        let mut request = http::Request::get(api.url(path)).body(Body::empty())?;
        let record = CallRecord::ensure(&mut request);
        let response = limited.ready().await?.call(request).await?;
        println!(
            "  +{:>4} ms  GET {path:<10} {}  {}",
            start.elapsed().as_millis(),
            response.status(),
            record.to_string().replace('\n', "; ")
        );
    }
    Ok(())
}

/// Auth: an OAuth2 token that expires after a second; fifty calls arrive
/// together after that, and the token endpoint sees one refresh.
async fn auth() -> Result<(), BoxError> {
    let server = TestServer::start().await;
    server.route(
        "/token",
        [
            Reply::ok().json(r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":1}"#),
            Reply::ok()
                .json(r#"{"access_token":"tok-2","token_type":"Bearer","expires_in":3600}"#)
                .delay(Duration::from_millis(50)),
        ],
    );
    server.route("/items", Reply::ok());
    let source = ClientCredentials::builder(&server.url("/token"), "tour", "s3cret".into())
        .client(TokenClient::new(Transport::new()?))
        .build()?;
    let client = ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .layer(AuthLayer::new(AuthConfig::new(source)))
        .service(Transport::new()?);
    println!("auth: OAuth2 client credentials, a token that lives 1 s");
    let request = http::Request::get(server.url("/items")).body(Body::empty())?;
    let response = client.clone().oneshot(request).await?;
    let record = response.extensions().get::<CallRecord>().unwrap();
    println!("  first call     {}  {record}", response.status());
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let request = http::Request::get(server.url("/items")).body(Body::empty());
            tokio::spawn(client.clone().oneshot(request.expect("a valid request")))
        })
        .collect();
    let mut last = None;
    for call in calls {
        last = Some(call.await??);
    }
    if let Some(record) = last
        .as_ref()
        .and_then(|r| r.extensions().get::<CallRecord>())
    {
        println!("  after expiry   50 calls at once; one of them: {record}");
    }
    let tokens = server.requests_to("/items");
    let fresh = tokens
        .iter()
        .filter(|r| r.header("authorization") == Some("Bearer tok-2"));
    println!(
        "  token endpoint asked {} times; {} of 51 API calls carried the refreshed token",
        server.requests_to("/token").len(),
        fresh.count()
    );
    Ok(())
}

/// An error and its sources, outermost first.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        text.push_str(": ");
        text.push_str(&source.to_string());
        next = source.source();
    }
    text
}
