//! The client under test: `girder::Client` with every layer on, built
//! from layers the soak keeps, so that their state can be read after the
//! run, over a transport with `FaultLayer`s for the faults injected on
//! the client's side.

use std::time::Duration;

use girder::auth::{AuthConfig, AuthLayer, ClientCredentials};
use girder::breaker::{BreakerPolicy, CircuitBreakerLayer, OpenDuration, Window};
use girder::cache::{CacheConfig, CacheLayer};
use girder::core::Partition;
use girder::core::partition::RequestHead;
use girder::ratelimit::{Mode, Quota, RateLimitLayer, RateLimitPolicy};
use girder::retry::{Backoff, RetryBudget, RetryPolicy};
use girder::sign::hmac::HmacSigner;
use girder::trace::LoggingConfig;
use girder::{CallRecord, Client, Transport};
use girder_test::FaultLayer;
use tower::Layer;

use super::plan::Fault;
use super::server::FAULT;
use crate::BoxError;

/// The retry budget the soak's client uses: 20 % of calls plus 10 a
/// second, over 60 s.
pub fn budget() -> RetryBudget {
    RetryBudget::new(Duration::from_secs(60), 10, 0.2).expect("a valid budget")
}

/// The budget's numbers again, for the allowance (the type keeps them
/// private).
pub const BUDGET_TTL: Duration = Duration::from_secs(60);
/// Retries a second the budget always allows.
pub const BUDGET_MIN_PER_SEC: u32 = 10;
/// The share of calls the budget allows as retries.
pub const BUDGET_PERCENT: f64 = 0.2;

/// The layers whose state the soak reads after the run.
#[derive(Debug, Clone)]
pub struct Layers {
    /// The circuit breaker.
    pub breaker: CircuitBreakerLayer,
    /// The rate limit.
    pub limit: RateLimitLayer,
    /// The cache.
    pub cache: CacheLayer,
    /// Auth.
    pub auth: AuthLayer,
    /// The transport's fault layer for requests failed before sending.
    pub reset: FaultLayer,
    /// The transport's fault layer for lost responses.
    pub lost: FaultLayer,
}

/// The timeouts of the client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Each attempt.
    pub attempt: Duration,
    /// Each call, from start to its response head (and, with the body
    /// deadline, to the end of its body).
    pub call: Duration,
}

/// Builds the client for a server at `base` (ending in `/`), with its
/// token endpoint at `token_url`.
pub fn build(
    base: &str,
    token_url: &str,
    timeouts: Timeouts,
    seed: u64,
) -> Result<(Client, Layers), BoxError> {
    let breaker = CircuitBreakerLayer::new(
        BreakerPolicy::builder()
            .window(Window::count(50))
            .minimum_calls(20)
            .failure_rate(0.5)
            .open_duration(OpenDuration::fixed(Duration::from_millis(20)))
            .half_open_probes(2)
            // A Retry-After of 1 s would hold a circuit open for a second
            // at every 429: ten milliseconds is enough to go through open
            // and half-open.
            .retry_after_cap(Duration::from_millis(10))
            // One circuit per route (items, cached, orders, ...): several
            // circuits, each opening and probing on its own.
            .partition(Partition::by_route())
            .seed(seed)
            .build()?,
    );
    let limit = RateLimitLayer::new(
        RateLimitPolicy::builder()
            .quota(Quota::per_second(4_000).burst(200))
            .mode(Mode::Wait)
            .max_wait(Duration::from_millis(500))
            .max_in_flight(48)
            .max_server_pause(Duration::from_millis(10))
            .build()?,
    );
    let cache = CacheLayer::new(CacheConfig::default());
    let source = ClientCredentials::builder(token_url, "soak", "soak-secret".to_owned().into())
        .client(girder::auth::token_client()?)
        .build()?;
    let auth = AuthLayer::new(
        AuthConfig::builder(source)
            .skew(Duration::from_secs(1))
            .jitter(Duration::from_millis(200))
            .build()?,
    );
    let retry = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::decorrelated_jitter(
            Duration::from_millis(5),
            Duration::from_millis(50),
        )?)
        .max_hint(Duration::from_secs(2))
        .budget(Some(budget()))
        .seed(seed)
        .build()?;
    let signer = HmacSigner::builder("soak-key", b"soak-signing-secret".to_vec()).build()?;

    // The transport's faults hit the first attempt of the calls that ask
    // for them, as the server's do.
    let first_attempt_of = |fault: Fault| {
        move |head: RequestHead<'_>| {
            head.headers().get(FAULT).and_then(|v| v.to_str().ok()) == Some(fault.name())
                && head
                    .extensions()
                    .get::<CallRecord>()
                    .is_none_or(|r| r.attempts() <= 1)
        }
    };
    let reset = FaultLayer::builder(seed)
        .error(1.0)
        .when(first_attempt_of(Fault::ResetBeforeSend))
        .build()?;
    let lost = FaultLayer::builder(seed)
        .drop_response(1.0)
        .when(first_attempt_of(Fault::LostResponse))
        .build()?;
    // Idle connections close within a second, so that the heap is read
    // with none held (each holds its buffers) after the warm-up and after
    // the run alike.
    let transport = Transport::builder()
        .connect_timeout(Duration::from_secs(1))
        .pool_idle_timeout(Duration::from_secs(1))
        .build()?;
    let transport = reset.layer(lost.layer(transport));

    let client = Client::builder()
        .base_url(base)
        .attempt_timeout(timeouts.attempt)
        .total_timeout(timeouts.call)
        .retry(retry)
        .circuit_breaker_layer(breaker.clone())
        .rate_limit_layer(limit.clone())
        .cache_layer(cache.clone())
        .auth_layer(auth.clone())
        .signing(signer)
        .logging(LoggingConfig::default())
        .redirects(5)
        .build_with_transport(transport)?;
    let layers = Layers {
        breaker,
        limit,
        cache,
        auth,
        reset,
        lost,
    };
    Ok((client, layers))
}
