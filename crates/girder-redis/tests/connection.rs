//! Every backend and store made from one `RedisConfig` (or its clones)
//! shares one connection, against a real redis-server: a client with a
//! shared quota, cache and circuits costs Redis one connection per
//! process, not one per layer.

use std::time::Duration;

use girder_breaker::store::{Admit, CircuitStore, ProbeToken};
use girder_cache::{CacheConfig, CacheLayer};
use girder_core::{Body, PartitionKey};
use girder_ratelimit::Quota;
use girder_ratelimit::backend::{Acquire, Decision, Quotas, RateLimitBackend};
use girder_redis::{RedisCacheStore, RedisCircuitStore, RedisConfig, RedisRateLimitBackend};
use girder_test::{MockService, RedisServer, Reply};
use tower::{Layer, ServiceExt};

/// How many clients Redis has, the asking one left out.
async fn clients(observer: &mut redis::aio::MultiplexedConnection) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(observer)
        .await
        .expect("CLIENT LIST");
    list.lines().filter(|line| !line.trim().is_empty()).count() - 1
}

#[tokio::test]
async fn the_stores_of_one_config_share_one_connection() {
    let Some(redis) = RedisServer::start_or_skip("the_stores_of_one_config_share_one_connection")
    else {
        return;
    };
    let mut observer = redis::Client::open(redis.url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("observer");
    assert_eq!(clients(&mut observer).await, 0);

    let config = RedisConfig::builder(redis.url())
        .fleet_size(2)
        .build()
        .expect("config");
    let quota = RedisRateLimitBackend::new(config.clone());
    let cache = RedisCacheStore::new(config.clone());
    let circuits = RedisCircuitStore::new(config);

    let key = PartitionKey::custom("api.test");
    let quotas = Quotas::new(vec![Quota::per_minute(10)], vec![]);
    let Acquire::Pending(decision) = quota.acquire(&key, &quotas) else {
        panic!("a remote backend answers later");
    };
    assert_eq!(decision.await.expect("granted"), Decision::Granted);
    let api = MockService::new(Reply::ok().header("cache-control", "max-age=60"));
    let cached = CacheLayer::with_store(CacheConfig::default(), cache.clone()).layer(api.clone());
    let get = http::Request::get("https://api.test/items").body(Body::empty());
    cached
        .oneshot(get.expect("request"))
        .await
        .expect("answered");
    match circuits.admit(&key, ProbeToken::new(1), 1) {
        Admit::Pending(admission) => {
            tokio::time::timeout(Duration::from_secs(5), admission)
                .await
                .expect("answered")
                .expect("admitted");
        }
        Admit::Ready(answer) => panic!("a remote store answers later: {answer:?}"),
    }
    assert!(quota.is_shared() && cache.is_shared() && circuits.is_shared());
    assert_eq!(
        clients(&mut observer).await,
        1,
        "one connection for the three"
    );

    // A config built on its own has a connection of its own.
    let other = RedisConfig::builder(redis.url())
        .fleet_size(2)
        .build()
        .expect("config");
    let second = RedisRateLimitBackend::new(other);
    second.ping().await.expect("pong");
    assert_eq!(clients(&mut observer).await, 2);
    drop(second);
}
