//! What each fleet backend costs a call on loopback, next to its
//! in-process counterpart and a bare Redis PING: one call after another
//! (p50 / p99, round trips) and 32 callers at once in one process on one
//! core (calls per second), each through its layer over an in-memory API.
//!
//! ```text
//! cargo run --release -p girder-redis --example costs [calls]
//! ```
//!
//! Starts a redis-server of its own (girder-test's `RedisServer`), or uses
//! `REDIS_URL` when set. Prints a Markdown table with Redis's own time per
//! call (`INFO commandstats` over the one-after-another calls), which
//! splits a round trip into the server's part and the rest (network,
//! client, the layer). On a shared machine, run it a few times and read the
//! medians.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use girder_breaker::{BreakerPolicy, CircuitBreakerLayer};
use girder_cache::{CacheConfig, CacheLayer, CacheStatus, MokaStore};
use girder_core::Body;
use girder_ratelimit::{Quota, RateLimitLayer, RateLimitPolicy};
use girder_redis::{RedisCacheStore, RedisCircuitStore, RedisConfig, RedisRateLimitBackend};
use girder_test::{MockService, RedisServer, Reply};
use http::Request;
use redis::aio::MultiplexedConnection;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Callers at once in the throughput runs.
const CALLERS: usize = 32;

fn get() -> Request<Body> {
    Request::get("https://api.test/items")
        .body(Body::empty())
        .expect("a request")
}

/// One row: `calls` made one after another, then `calls` by 32 callers.
async fn row<S>(
    admin: &mut MultiplexedConnection,
    name: &str,
    service: S,
    calls: usize,
) -> Result<(), Error>
where
    S: Service<Request<Body>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<Error>,
{
    let call =
        |service: S| async move { service.oneshot(get()).await.map(drop).map_err(Into::into) };
    // Warm: connections made, scripts loaded, the cache filled.
    for _ in 0..100 {
        call(service.clone()).await?;
    }
    reset(admin).await?;
    let mut took = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        call(service.clone()).await?;
        took.push(start.elapsed());
    }
    let server = server_time(admin).await? / calls as f64;
    let rate = throughput(calls, || call(service.clone())).await?;
    took.sort_unstable();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    println!(
        "| {name} | {:.1} | {:.1} | {server:.1} | {rate:.0} |",
        at(0.50),
        at(0.99),
    );
    Ok(())
}

async fn reset(admin: &mut MultiplexedConnection) -> Result<(), Error> {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(admin)
        .await?;
    Ok(())
}

/// Redis's own time (µs) on every command since the last [`reset`], the
/// admin's CONFIG and INFO left out.
async fn server_time(admin: &mut MultiplexedConnection) -> Result<f64, Error> {
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(admin)
        .await?;
    let mut total = 0.0;
    for line in stats.lines() {
        let Some((command, fields)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        if command == "config" || command == "info" {
            continue;
        }
        let usec = fields
            .split(',')
            .find_map(|f| f.strip_prefix("usec="))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        total += usec;
    }
    Ok(total)
}

/// Calls per second with [`CALLERS`] callers sharing `calls` calls.
async fn throughput<F, Fut>(calls: usize, call: F) -> Result<f64, Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    let start = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..CALLERS {
        let mine: Vec<Fut> = (0..calls)
            .filter(|i| i % CALLERS == caller)
            .map(|_| call())
            .collect();
        callers.spawn(async move {
            for one in mine {
                one.await?;
            }
            Ok::<_, Error>(())
        });
    }
    while let Some(done) = callers.join_next().await {
        done??;
    }
    Ok(calls as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let calls: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 5_000,
    };
    let _server;
    let url = match std::env::var("REDIS_URL") {
        Ok(url) => url,
        Err(_) => {
            let server = RedisServer::start()?;
            let url = server.url();
            _server = server;
            url
        }
    };
    let config = RedisConfig::builder(url.as_str()).fleet_size(1).build()?;
    let mut admin = redis::Client::open(url.as_str())?
        .get_multiplexed_async_connection()
        .await?;

    println!(
        "| per call, loopback | p50 µs | p99 µs | Redis's own µs | calls/s, {CALLERS} callers |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");

    // The floors: a PING, and a script that only reads Redis's clock.
    let pings = RedisRateLimitBackend::new(config.clone());
    let ping = tower::service_fn(move |_: Request<Body>| {
        let pings = pings.clone();
        async move { pings.ping().await }
    });
    row(&mut admin, "redis PING", ping, calls).await?;
    let clock = Arc::new(redis::Script::new("return redis.call('TIME')[2]"));
    let conn = admin.clone();
    let eval = tower::service_fn(move |_: Request<Body>| {
        let (clock, mut conn) = (clock.clone(), conn.clone());
        async move { clock.invoke_async::<_, i64>(&mut conn).await.map(drop) }
    });
    row(&mut admin, "redis EVALSHA, TIME only", eval, calls).await?;

    // The quota: one that never binds, so every call costs a grant.
    let api = MockService::new(Reply::ok());
    let never = || Quota::per_second(1_000_000_000);
    let quotas = |backend: Option<RedisRateLimitBackend>| {
        let builder = RateLimitPolicy::builder()
            .quota(never())
            .quota(Quota::per_hour(1_000_000_000))
            .global_quota(never());
        match backend {
            Some(backend) => builder.backend(backend),
            None => builder,
        }
        .build()
    };
    let local = RateLimitLayer::new(quotas(None)?).layer(api.clone());
    row(
        &mut admin,
        "rate limit, GovernorBackend (3 quotas)",
        local,
        calls,
    )
    .await?;
    let shared = RateLimitLayer::new(quotas(Some(RedisRateLimitBackend::new(config.clone())))?)
        .layer(api.clone());
    row(
        &mut admin,
        "rate limit, RedisRateLimitBackend (3 quotas)",
        shared,
        calls,
    )
    .await?;

    // The cache: a fresh 1 KiB hit.
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=3600")
            .body(vec![b'x'; 1024]),
    );
    let moka = CacheLayer::with_store(CacheConfig::default(), MokaStore::new(64 << 20))
        .layer(origin.clone());
    row(&mut admin, "cache hit, MokaStore (1 KiB)", moka, calls).await?;
    let redis_cache =
        CacheLayer::with_store(CacheConfig::default(), RedisCacheStore::new(config.clone()))
            .layer(origin.clone());
    redis_cache.clone().oneshot(get()).await?;
    let hit = redis_cache.clone().oneshot(get()).await?;
    if hit.extensions().get::<CacheStatus>() != Some(&CacheStatus::Hit) {
        return Err("the shared cache does not hit".into());
    }
    row(
        &mut admin,
        "cache hit, RedisCacheStore (1 KiB)",
        redis_cache,
        calls,
    )
    .await?;
    if origin.request_count() != 2 {
        return Err("the origin was asked for more than one fill per store".into());
    }

    // The circuit: closed, every call admitted.
    let local = CircuitBreakerLayer::new(BreakerPolicy::builder().build()?).layer(api.clone());
    row(&mut admin, "breaker, own circuits", local, calls).await?;
    let store = Arc::new(RedisCircuitStore::new(config.clone()));
    let shared = CircuitBreakerLayer::new(
        BreakerPolicy::builder()
            .store(store.clone())
            // Generous: the figures are the cost of an answer, not of a fallback.
            .store_budget(Duration::from_secs(1))
            .build()?,
    )
    .layer(api.clone());
    row(&mut admin, "breaker, RedisCircuitStore", shared, calls).await?;
    if !store.is_shared() {
        return Err("some admissions fell back: Redis was slower than the budget".into());
    }

    Ok(())
}
