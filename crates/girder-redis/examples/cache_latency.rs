//! Per-call latency of a cache hit on loopback: through a `CacheLayer` on
//! the shared `RedisCacheStore`, next to the in-process `MokaStore` and a
//! bare Redis PING.
//!
//! ```text
//! cargo run --release -p girder-redis --example cache_latency [calls]
//! ```
//!
//! Starts a redis-server of its own (girder-test's `RedisServer`), or uses
//! `REDIS_URL` when set. The origin is an in-memory mock, so the figures
//! are the cache's own cost. Calls are made one after another from one
//! task: round trips, not throughput. On a shared machine, run it a few
//! times and read the medians.

use std::time::Duration;

use girder_cache::{CacheConfig, CacheLayer, CacheStatus, CacheStore, MokaStore};
use girder_core::Body;
use girder_redis::{RedisCacheStore, RedisConfig};
use girder_test::{MockService, RedisServer, Reply};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn hits<St: CacheStore + Clone>(store: St, calls: usize) -> Result<Vec<Duration>, Error> {
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=3600")
            .body(vec![b'x'; 1024]),
    );
    let client = CacheLayer::with_store(CacheConfig::default(), store).layer(origin.clone());
    let get = || http::Request::get("https://api.test/items").body(Body::empty());
    client.clone().oneshot(get()?).await?;
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        let response = client.clone().oneshot(get()?).await?;
        times.push(start.elapsed());
        if response.extensions().get() != Some(&CacheStatus::Hit) {
            return Err("not a hit".into());
        }
    }
    if origin.request_count() != 1 {
        return Err("the origin was asked more than once".into());
    }
    Ok(times)
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!(
        "{name:<28} p50 {:>8.1} µs   p99 {:>8.1} µs",
        at(0.50),
        at(0.99)
    );
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
    let ping = girder_redis::RedisRateLimitBackend::new(config.clone());
    ping.ping().await?;
    let mut pings = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        ping.ping().await?;
        pings.push(start.elapsed());
    }

    report("redis PING", pings);
    report(
        "hit, MokaStore",
        hits(MokaStore::new(64 << 20), calls).await?,
    );
    report(
        "hit, RedisCacheStore (1 KiB)",
        hits(RedisCacheStore::new(config), calls).await?,
    );
    Ok(())
}
