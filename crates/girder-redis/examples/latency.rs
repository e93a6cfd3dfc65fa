//! Per-acquire latency of the shared quota on loopback, next to the
//! in-process `GovernorBackend` and a bare Redis PING.
//!
//! ```text
//! cargo run --release -p girder-redis --example latency [calls]
//! ```
//!
//! Starts a redis-server of its own (girder-test's `RedisServer`), or uses
//! `REDIS_URL` when set. Calls are made one after another from one task,
//! so the figures are round trips, not throughput. On a shared machine,
//! run it a few times and read the medians.

use std::time::Duration;

use girder_core::PartitionKey;
use girder_ratelimit::backend::{Acquire, Decision, Quotas, RateLimitBackend};
use girder_ratelimit::{GovernorBackend, Quota};
use girder_redis::{RedisConfig, RedisRateLimitBackend};
use girder_test::RedisServer;
use tokio::time::Instant;

type Error = Box<dyn std::error::Error + Send + Sync>;

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
    let redis = RedisRateLimitBackend::new(config);
    redis.ping().await?;

    // Never refuses: the figures are the cost of a grant.
    let one = Quotas::new(vec![Quota::per_second(1_000_000_000)], vec![]);
    let three = Quotas::new(
        vec![
            Quota::per_second(1_000_000_000),
            Quota::per_hour(1_000_000_000),
        ],
        vec![Quota::per_second(1_000_000_000)],
    );
    let key = PartitionKey::custom("api.test");

    let mut pings = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        redis.ping().await?;
        pings.push(start.elapsed());
    }
    report("redis PING round trip", &mut pings);

    // The floor of any script: EVALSHA of one that only reads the clock.
    let mut conn = redis::Client::open(url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let clock = redis::Script::new("return redis.call('TIME')[2]");
    let mut evals = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        let _: i64 = clock.invoke_async(&mut conn).await?;
        evals.push(start.elapsed());
    }
    report("redis EVALSHA, TIME only", &mut evals);

    let governor = GovernorBackend::new();
    for (name, backend, quotas) in [
        (
            "GovernorBackend, 1 quota",
            &governor as &dyn RateLimitBackend,
            &one,
        ),
        ("GovernorBackend, 3 quotas", &governor, &three),
        ("RedisRateLimitBackend, 1 quota", &redis, &one),
        ("RedisRateLimitBackend, 3 quotas", &redis, &three),
    ] {
        let mut took = Vec::with_capacity(calls);
        for _ in 0..calls {
            let start = Instant::now();
            let decision = match backend.acquire(&key, quotas) {
                Acquire::Ready(decision) => decision,
                Acquire::Pending(decision) => decision.await,
            };
            took.push(start.elapsed());
            if decision? != Decision::Granted {
                return Err("refused: the quota is meant never to bind".into());
            }
        }
        report(name, &mut took);
    }
    if !redis.is_shared() {
        return Err("some calls fell back: Redis was slower than the budget".into());
    }
    Ok(())
}

fn report(name: &str, took: &mut [Duration]) {
    took.sort_unstable();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<34} p50 {:>8.1} µs  p99 {:>8.1} µs  ({} calls)",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        took.len()
    );
}
