//! A tour of girder: a local test server, called through the stack, with
//! an account of what each piece decided.
//!
//! Run it with `cargo run --example tour`. Each layer that lands adds its
//! part; today: the call record, retry and the transport, then the circuit
//! breaker opening and recovering, then the rate limiter pacing calls and
//! pausing when the server asks, then the cache (a hit, a revalidation, a
//! stale copy while the server is down), then an OAuth2 token expiring and
//! being refreshed once for many callers, then signed requests checked by
//! the server, a retry re-signed and a tampered request refused, and last
//! the facade's `girder::Client` with the whole stack, and its API
//! patterns (a paginated stream, a GraphQL error with partial data). The
//! `→` / `←` lines and the decisions under them are girder-trace's `LoggingLayer` in its compact format,
//! outermost in every stack, printed by a tracing-subscriber fmt
//! subscriber; the rest is the tour's own commentary.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;

use girder::auth::{AuthConfig, AuthLayer, ClientCredentials, TokenClient};
use girder::breaker::{BreakerPolicy, CircuitBreakerLayer, OpenDuration, StateChange};
use girder::cache::{CacheConfig, CacheLayer, CacheStatus};
use girder::core::classify::{Classify, DefaultClassifier, Outcome};
use girder::ratelimit::{Quota, RateLimitLayer, RateLimitPolicy};
use girder::retry::{RetryLayer, RetryPolicy};
use girder::sign::SigningLayer;
use girder::sign::rfc9421::{self, Component, HttpSignatureSigner, SignatureKey};
use girder::trace::{Format, LoggingConfig, LoggingLayer};
use girder::{Body, BoxError, CallRecord, ServerHints, Transport};
use girder_test::{Reply, Script, TestServer};
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    print_traces();
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

    // The trace layer logs each call (`→` out, `←` back) and the call
    // record's decisions; it also makes the record the layers below fill.
    let mut client = ServiceBuilder::new()
        .layer(logging())
        .layer(RetryLayer::new(RetryPolicy::default()))
        .service(Transport::new()?);

    for path in ["/hello", "/busy", "/flaky", "/hang-up"] {
        let request = http::Request::get(server.url(path)).body(Body::empty())?;
        let outcome = client.ready().await?.call(request).await;
        match outcome {
            Ok(response) => {
                let class = DefaultClassifier.classify(Outcome::response(&response));
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
                // The `←` line gave the error and its causes.
                let class = DefaultClassifier.classify(Outcome::error(&*error));
                println!("  class      {class:?}");
            }
        }
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
    cache().await?;
    println!();
    auth().await?;
    println!();
    signing().await?;
    println!();
    facade().await?;
    println!();
    patterns().await
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
        .layer(logging())
        .layer(layer)
        .service(Transport::new()?);
    let before = server.requests_to("/down").len();
    for round in 0..6 {
        if round == 5 {
            println!("  (waiting out the open period)");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let request = http::Request::get(server.url("/down")).body(Body::empty())?;
        // The trace layer reports the status or the refusal.
        let _ = client.ready().await?.call(request).await;
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
        .layer(logging())
        .layer(RateLimitLayer::new(policy))
        .service(Transport::new()?);
    println!("rate limit: 5 per second, bursts of 2, on {}", api.addr());
    for path in [
        "/items",
        "/items",
        "/items",
        "/items",
        "/slow-down",
        "/items",
    ] {
        let request = http::Request::get(api.url(path)).body(Body::empty())?;
        limited.ready().await?.call(request).await?;
    }
    Ok(())
}

/// The cache: a fresh hit costs no request, a stale entry is revalidated
/// with its ETag (304: the stored body is served), and while the server is
/// down a stale copy is served (stale-if-error).
async fn cache() -> Result<(), BoxError> {
    let api = TestServer::start().await;
    api.route(
        "/settings",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .json(r#"{"theme":"dark"}"#),
    );
    api.route(
        "/prices",
        [
            Reply::ok()
                .header("cache-control", "max-age=0, stale-if-error=600")
                .header("etag", "\"p1\"")
                .json(r#"{"eur":1999}"#),
            Reply::status(304).header("etag", "\"p1\""),
            Reply::status(503),
        ],
    );
    let mut cached = ServiceBuilder::new()
        .layer(logging())
        .layer(CacheLayer::new(CacheConfig::default()))
        .service(Transport::new()?);
    println!(
        "cache: private, keyed by credentials, stale-if-error on {}",
        api.addr()
    );
    for path in ["/settings", "/settings", "/prices", "/prices", "/prices"] {
        let request = http::Request::get(api.url(path)).body(Body::empty())?;
        let response = cached.ready().await?.call(request).await?;
        let status = response.status();
        let cache = response.extensions().get::<CacheStatus>().copied();
        let age = response
            .headers()
            .get("age")
            .map(|a| format!(" age {}s", a.to_str().unwrap_or("?")));
        let body = response.into_body().collect_limited(1 << 16).await?;
        println!(
            "  GET {path:<10} {status}  cache {}{}  {}",
            cache.map_or("-".to_owned(), |c| c.to_string()),
            age.unwrap_or_default(),
            String::from_utf8_lossy(&body)
        );
    }
    println!(
        "  the server saw {} requests: /settings once; /prices fetched, revalidated (304), then down (503)",
        api.request_count()
    );
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
        .layer(girder::CallRecordLayer::new())
        .layer(AuthLayer::new(AuthConfig::new(source)))
        .service(Transport::new()?);
    println!("auth: OAuth2 client credentials, a token that lives 1 s");
    let request = http::Request::get(server.url("/items")).body(Body::empty())?;
    let response = client.clone().oneshot(request).await?;
    let record = response.extensions().get::<girder::CallRecord>().unwrap();
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
        .and_then(|r| r.extensions().get::<girder::CallRecord>())
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

/// Signing: RFC 9421 with Ed25519, innermost under retry. The server
/// verifies each request with the public key; a retry carries a new
/// `created` and nonce; a body changed after signing is refused.
async fn signing() -> Result<(), BoxError> {
    let key = SignatureKey::ed25519_seed([7; 32]);
    let public = key.ed25519_public_key().expect("an ed25519 key");
    let api = TestServer::start().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    api.route(
        "/orders",
        Script::from_fn(move |req| {
            let verdict = verify(req, &public);
            let input = req.header("signature-input").unwrap_or("-");
            println!("  server     {verdict:<9} {input}");
            if verdict != "verified" {
                return Reply::status(401).body(verdict);
            }
            // The first attempt meets a busy server: retry re-signs.
            match seen.fetch_add(1, Ordering::Relaxed) {
                0 => Reply::status(503).header("retry-after", "1"),
                _ => Reply::ok().body("order accepted"),
            }
        }),
    );
    let signer = HttpSignatureSigner::builder("tour-key", key)
        .components([
            Component::Method,
            Component::Authority,
            Component::Path,
            Component::Query,
        ])
        .build()?;
    let signing = SigningLayer::new(signer);
    println!(
        "signing: RFC 9421, ed25519, under retry; the server verifies on {}",
        api.addr()
    );
    let mut client = ServiceBuilder::new()
        .layer(logging())
        .layer(RetryLayer::new(RetryPolicy::default()))
        .layer(signing.clone())
        .service(Transport::new()?);
    let mut request =
        http::Request::put(api.url("/orders?id=7")).body(Body::from(r#"{"qty":3}"#))?;
    let record = CallRecord::ensure(&mut request);
    let response = client.ready().await?.call(request).await?;
    println!(
        "  client     {} after {} attempt(s)",
        response.status(),
        record.attempts()
    );
    println!("  record     {}", record.to_string().replace('\n', "; "));

    // A proxy below the signer that rewrites the body: the digest no
    // longer matches and the server refuses.
    let mut tampering = ServiceBuilder::new()
        .layer(signing)
        .map_request(|req: http::Request<Body>| req.map(|_| Body::from(r#"{"qty":300}"#)))
        .service(Transport::new()?);
    let request = http::Request::put(api.url("/orders?id=7")).body(Body::from(r#"{"qty":3}"#))?;
    let response = tampering.ready().await?.call(request).await?;
    println!("  tampered   {}", response.status());
    Ok(())
}

/// The server's check: the digest of the body received, then the
/// Ed25519 signature over the signature base rebuilt from the request.
fn verify(req: &girder_test::RecordedRequest, public: &[u8; 32]) -> &'static str {
    use ed25519_dalek::{Signature, VerifyingKey};
    let digest = rfc9421::content_digest(rfc9421::DigestAlgorithm::Sha256, &req.body);
    if req.header("content-digest") != Some(digest.as_str()) {
        return "bad digest";
    }
    let (Some(input), Some(signature)) = (req.header("signature-input"), req.header("signature"))
    else {
        return "unsigned";
    };
    let Some(params) = input.strip_prefix("sig1=") else {
        return "unsigned";
    };
    let mut head = http::Request::builder()
        .method(req.method.clone())
        .uri(req.uri.clone());
    for (name, value) in &req.headers {
        head = head.header(name, value);
    }
    let Ok((head, ())) = head.body(()).map(http::Request::into_parts) else {
        return "malformed";
    };
    let components = [
        Component::Method,
        Component::Authority,
        Component::Path,
        Component::Query,
        Component::Field(rfc9421::CONTENT_DIGEST),
    ];
    let Ok(base) = rfc9421::signature_base(&head, &components, params) else {
        return "malformed";
    };
    let bytes = signature
        .strip_prefix("sig1=:")
        .and_then(|s| s.strip_suffix(':'))
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
    let (Some(bytes), Ok(key)) = (bytes, VerifyingKey::from_bytes(public)) else {
        return "malformed";
    };
    match Signature::from_slice(&bytes) {
        Ok(sig) if key.verify_strict(base.as_bytes(), &sig).is_ok() => "verified",
        _ => "forged",
    }
}

/// The facade: `girder::Client` with the whole canonical stack (logging,
/// cache, retry, breaker, rate limit, auth, signing, timeouts) and typed
/// requests, responses and errors.
async fn facade() -> Result<(), BoxError> {
    use girder::auth::{AuthConfig, BearerToken};
    use girder::sign::hmac::HmacSigner;

    let api = TestServer::start().await;
    api.route(
        "/v1/products/42",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .json(r#"{"id":42,"name":"lamp"}"#),
    );
    api.route(
        "/v1/orders",
        [
            Reply::status(503).header("retry-after", "1"),
            Reply::status(201).json(r#"{"order":"A-1"}"#),
        ],
    );
    api.route(
        "/v1/products/0",
        Reply::status(404)
            .header("content-type", "application/problem+json")
            .body(r#"{"title":"No such product","detail":"id 0"}"#),
    );
    let client = girder::Client::builder()
        .base_url(api.url("/v1"))
        .logging(LoggingConfig::builder().format(Format::Compact).build()?)
        .cache(CacheConfig::default())
        .circuit_breaker(BreakerPolicy::default())
        .rate_limit(
            RateLimitPolicy::builder()
                .quota(Quota::per_second(50))
                .build()?,
        )
        .auth(AuthConfig::new(BearerToken::new(
            "tour-token".to_owned().into(),
        )?))
        .signing(HmacSigner::builder("tour", b"tour-secret".to_vec()).build()?)
        .build()?;
    println!("girder::Client: every layer, over {}", api.addr());

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Product {
        id: u64,
        name: String,
    }
    for _ in 0..2 {
        let response = client.get("products/42").send().await?;
        let cache = response.cache_status();
        let product: Product = response.json().await?;
        println!(
            "  product    {product:?} (cache {})",
            cache.map_or("-".into(), |c| c.to_string())
        );
    }
    let created = client
        .post("orders")
        .idempotency_key("tour-order-1")
        .json(&serde_json::json!({"product": 42, "qty": 1}))
        .send()
        .await?
        .error_for_status()?;
    println!(
        "  order      {} {}",
        created.status(),
        created.text().await?
    );
    let missing = client
        .get("products/0")
        .send()
        .await?
        .error_for_status_with_message()
        .await;
    if let Err(error) = missing {
        println!("  error      kind {:?}: {error}", error.kind());
    }
    let orders = api.requests_to("/v1/orders");
    println!(
        "  the API saw {} product request(s) and {} order attempts, each signed ({}) and authorised ({})",
        api.requests_to("/v1/products/42").len(),
        orders.len(),
        orders.iter().all(|r| r.header("x-signature").is_some()),
        orders
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer tour-token")),
    );
    Ok(())
}

/// API patterns on the Client: a cursor-paginated list as a stream, each
/// page a logged call through the whole stack, then a GraphQL query whose
/// `errors` come back typed with the partial data.
async fn patterns() -> Result<(), BoxError> {
    use girder::paginate::Cursor;

    println!("API patterns: pagination and GraphQL through the Client");
    let api = TestServer::start().await;
    api.route(
        "/v1/tickets",
        Script::from_fn(|r| match r.uri.query() {
            None => Reply::ok().json(r#"{"data":[{"id":1},{"id":2}],"next":"t2"}"#),
            Some(_) => Reply::ok().json(r#"{"data":[{"id":3}],"next":null}"#),
        }),
    );
    api.route(
        "/v1/graphql",
        Reply::ok().json(
            r#"{"data":{"me":{"login":"ada"},"plan":null},"errors":[{"message":"billing unavailable","path":["plan"]}]}"#,
        ),
    );
    let client = girder::Client::builder()
        .base_url(api.url("/v1"))
        .logging(LoggingConfig::builder().format(Format::Compact).build()?)
        .build()?;
    let mut tickets = client
        .paginate("tickets")
        .strategy(Cursor::new("/next", "cursor"))
        .items::<serde_json::Value>();
    while let Some(ticket) = tickets.next().await {
        println!("  ticket     {}", ticket?["id"]);
    }
    println!("  pages      {}", tickets.pages_fetched());
    let result = client
        .graphql("graphql")
        .query("{ me { login } plan { name } }")
        .send::<serde_json::Value>()
        .await;
    if let Err(error) = result {
        let graphql = error.graphql().expect("a GraphQL error");
        println!("  error      kind {:?}: {error}", error.kind());
        println!("  partial    {}", graphql.data().expect("partial data"));
    }
    Ok(())
}

/// girder-trace's LoggingLayer in its compact format, as every stack of
/// the tour puts it outermost.
fn logging() -> LoggingLayer {
    let config = LoggingConfig::builder()
        .format(Format::Compact)
        .build()
        .expect("a valid logging config");
    LoggingLayer::new(config)
}

/// A fmt subscriber printing girder-trace's events (target
/// `girder::trace`, INFO and up) as bare indented lines.
fn print_traces() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;

    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().event_format(Lines))
        .with(Targets::new().with_target("girder::trace", tracing::Level::INFO));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
}

/// An event as its message alone: the tour's spans and timestamps would
/// only crowd the lines.
struct Lines;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Lines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        writer.write_str("  ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
