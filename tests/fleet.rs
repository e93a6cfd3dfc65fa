//! Two `Client`s over one real redis-server and one TestServer share their
//! state (feature `redis`): as two processes of a fleet would, each client
//! has its own connections to Redis and to the server.
//!
//! Real time: Redis's clock is the wall clock, so these tests cannot pause
//! it. Quotas are per hour (nothing refills while a test runs) and the
//! tests count requests, never time them.

use std::time::Duration;

use girder::breaker::store::{Admit, CircuitStore, FleetState, ProbeToken};
use girder::breaker::{BreakerPolicy, OpenDuration};
use girder::cache::{CacheConfig, CacheStatus};
use girder::core::PartitionKey;
use girder::ratelimit::{Mode, Quota, RateLimitPolicy};
use girder::redis::{RedisCircuitStore, RedisConfig};
use girder::{Client, ClientConfig, Kind};
use girder_test::{RedisServer, Reply, TestServer};

const BURST: u32 = 5;

/// A client of a fleet of two, on `redis`, with keys under `prefix` (one
/// per test: tests of this binary share no Redis, but keep them apart
/// all the same).
fn config(redis: &RedisServer, prefix: &str) -> RedisConfig {
    RedisConfig::builder(redis.url())
        .prefix(prefix)
        .fleet_size(2)
        // Loopback answers in well under a millisecond; a loaded CI machine
        // may not, and a fallback would make the counts below local.
        .budget(Duration::from_millis(500))
        .build()
        .expect("a valid config")
}

fn quota() -> girder::ratelimit::RateLimitPolicyBuilder {
    RateLimitPolicy::builder()
        .quota(Quota::per_hour(BURST).burst(BURST))
        .mode(Mode::Reject)
}

/// Two clients with a rate limit and Redis take turns: the server sees the
/// burst once for both, not once each (pins: the facade puts the rate
/// limit's quotas on Redis, issue 19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_share_one_quota() {
    let Some(redis) = RedisServer::start_or_skip("two_clients_share_one_quota") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/items", Reply::ok());
    let client = || {
        Client::builder()
            .base_url(server.url("/"))
            .retry(None)
            .rate_limit(quota().build().unwrap())
            .redis(config(&redis, "fleet-quota"))
            .build()
            .expect("a client")
    };
    let (a, b) = (client(), client());
    let mut refused = 0;
    for client in [&a, &b].into_iter().cycle().take(4 * BURST as usize) {
        match client.get("items").send().await {
            Ok(response) => assert_eq!(response.status(), 200),
            Err(error) => {
                assert_eq!(error.kind(), Kind::RateLimited, "{error}");
                refused += 1;
            }
        }
    }
    assert_eq!(server.request_count(), BURST as usize);
    assert_eq!(refused, 3 * BURST as usize);
}

/// The same two clients without Redis each have the whole burst: the
/// control for the test above (a shared quota is not merely a small one).
#[tokio::test]
async fn without_redis_each_client_has_its_own_quota() {
    let server = TestServer::start().await;
    server.route("/items", Reply::ok());
    let client = || {
        Client::builder()
            .base_url(server.url("/"))
            .retry(None)
            .rate_limit(quota().build().unwrap())
            .build()
            .expect("a client")
    };
    let (a, b) = (client(), client());
    for client in [&a, &b].into_iter().cycle().take(4 * BURST as usize) {
        let _ = client.get("items").send().await;
    }
    assert_eq!(server.request_count(), 2 * BURST as usize);
}

/// A policy given a backend of its own keeps it, Redis or not: each
/// client's own backend grants it the whole burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_with_its_own_backend_keeps_it() {
    let Some(redis) = RedisServer::start_or_skip("a_policy_with_its_own_backend_keeps_it") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/items", Reply::ok());
    let client = || {
        Client::builder()
            .base_url(server.url("/"))
            .retry(None)
            .rate_limit(
                quota()
                    .backend(girder::ratelimit::GovernorBackend::new())
                    .build()
                    .unwrap(),
            )
            .redis(config(&redis, "fleet-own-backend"))
            .build()
            .expect("a client")
    };
    let (a, b) = (client(), client());
    for client in [&a, &b].into_iter().cycle().take(4 * BURST as usize) {
        let _ = client.get("items").send().await;
    }
    assert_eq!(server.request_count(), 2 * BURST as usize);
}

/// A Redis URL that does not parse, or a fleet of 0, is a builder error
/// naming the option, and the URL's password is in neither its message nor
/// its Debug (pins: bad input to `redis_url`, issue 19 "Bad input").
#[test]
fn a_bad_redis_url_is_a_builder_error_without_the_password() {
    for (url, size, option) in [
        ("redis//:hunter2@127.0.0.1:6379/0", 2, "redis_url"),
        ("http://:hunter2@127.0.0.1:6379/0", 2, "redis_url"),
        ("redis://:hunter2@127.0.0.1:6379/x", 2, "redis_url"),
        ("redis://:hunter2@127.0.0.1:6379/0", 0, "fleet_size"),
    ] {
        let error = Client::builder()
            .redis_url(url, size)
            .build()
            .expect_err("refused");
        assert_eq!(error.kind(), Kind::Builder, "{error}");
        let (text, debug) = (error.to_string(), format!("{error:?}"));
        assert!(text.contains(option), "{url}: {text}");
        assert!(
            !text.contains("hunter2") && !debug.contains("hunter2"),
            "{text} / {debug}"
        );
    }
    // A good one builds, and Debug of the builder hides the password.
    let builder = Client::builder().redis_url("redis://:hunter2@127.0.0.1:6379/0", 2);
    assert!(!format!("{builder:?}").contains("hunter2"));
    assert!(builder.build().is_ok());
}

/// `ClientConfig`'s Redis settings make a client on the shared quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_config_reads_the_redis_url() {
    let Some(redis) = RedisServer::start_or_skip("client_config_reads_the_redis_url") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/items", Reply::ok());
    let url = redis.url();
    let config = ClientConfig::from_lookup("API", |name| match name {
        "API_REDIS_URL" => Some(url.clone()),
        "API_REDIS_FLEET_SIZE" => Some("2".into()),
        _ => None,
    })
    .expect("a config");
    let client = || {
        config
            .builder()
            .expect("a builder")
            .base_url(server.url("/"))
            .retry(None)
            .rate_limit(quota().build().unwrap())
            .build()
            .expect("a client")
    };
    let (a, b) = (client(), client());
    for client in [&a, &b].into_iter().cycle().take(4 * BURST as usize) {
        let _ = client.get("items").send().await;
    }
    assert_eq!(server.request_count(), BURST as usize);
}

/// Whether the fleet's circuit for `key` is open, as a third process would
/// see it.
async fn fleet_open(store: &RedisCircuitStore, key: &PartitionKey) -> bool {
    let answer = match store.admit(key, ProbeToken::new(u64::MAX), 1) {
        Admit::Ready(answer) => answer,
        Admit::Pending(answer) => answer.await,
    };
    matches!(answer, Ok(FleetState::Open { .. }))
}

/// Client A's circuit opens on three 503s in a row; client B, which has
/// seen nothing fail, is refused without reaching the server (pins: the
/// facade puts the circuit breaker's circuits on Redis, issue 19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_is_open_for_the_other_client() {
    let Some(redis) = RedisServer::start_or_skip("an_open_circuit_is_open_for_the_other_client")
    else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/down", Reply::status(503));
    let client = || {
        Client::builder()
            .base_url(server.url("/"))
            .retry(None)
            .circuit_breaker(
                BreakerPolicy::builder()
                    .consecutive_failures(3)
                    .open_duration(OpenDuration::fixed(Duration::from_secs(60)))
                    .store_budget(Duration::from_millis(500))
                    .build()
                    .unwrap(),
            )
            .redis(config(&redis, "fleet-circuit"))
            .build()
            .expect("a client")
    };
    let (a, b) = (client(), client());
    for _ in 0..3 {
        let response = a.get("down").send().await.expect("a response");
        assert_eq!(response.status(), 503);
    }
    let error = a.get("down").send().await.expect_err("open");
    assert_eq!(error.kind(), Kind::CircuitOpen, "{error}");
    assert_eq!(server.request_count(), 3);
    // A publishes without waiting: wait (bounded) until Redis has it, as
    // the "within one round trip" allows.
    let observer = RedisCircuitStore::new(config(&redis, "fleet-circuit"));
    let key = PartitionKey::authority(server.addr().to_string().parse().expect("authority"));
    let mut published = false;
    for _ in 0..200 {
        if fleet_open(&observer, &key).await {
            published = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(published, "A's open circuit never reached Redis");
    for _ in 0..3 {
        let error = b.get("down").send().await.expect_err("refused");
        assert_eq!(error.kind(), Kind::CircuitOpen, "{error}");
    }
    assert_eq!(server.request_count(), 3, "B reached the server");
}

/// Without Redis the same B sends: the control for the test above.
#[tokio::test]
async fn without_redis_each_client_has_its_own_circuit() {
    let server = TestServer::start().await;
    server.route("/down", Reply::status(503));
    let client = || {
        Client::builder()
            .base_url(server.url("/"))
            .retry(None)
            .circuit_breaker(
                BreakerPolicy::builder()
                    .consecutive_failures(3)
                    .build()
                    .unwrap(),
            )
            .build()
            .expect("a client")
    };
    let (a, b) = (client(), client());
    for _ in 0..4 {
        let _ = a.get("down").send().await;
    }
    assert_eq!(server.request_count(), 3);
    let response = b.get("down").send().await.expect("sent");
    assert_eq!(response.status(), 503);
    assert_eq!(server.request_count(), 4);
}

/// Client B gets a hit for what client A fetched: the server sees one
/// request (pins: with redis the facade's cache keeps its entries in Redis,
/// issue 19).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_answer_is_a_hit_for_the_other_client() {
    let Some(redis) = RedisServer::start_or_skip("a_cached_answer_is_a_hit_for_the_other_client")
    else {
        return;
    };
    let server = TestServer::start().await;
    server.route(
        "/report",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body("the answer"),
    );
    let client = || {
        Client::builder()
            .base_url(server.url("/"))
            .retry(None)
            .cache(CacheConfig::default())
            .redis(config(&redis, "fleet-cache"))
            .build()
            .expect("a client")
    };
    let (a, b) = (client(), client());
    let first = a.get("report").send().await.expect("a response");
    assert_eq!(first.cache_status(), Some(CacheStatus::Miss));
    assert_eq!(first.text().await.expect("a body"), "the answer");
    let second = b.get("report").send().await.expect("a response");
    assert_eq!(second.cache_status(), Some(CacheStatus::Hit));
    assert_eq!(second.text().await.expect("a body"), "the answer");
    assert_eq!(server.request_count(), 1);
}

/// Without Redis B has a cache of its own and misses: the control.
#[tokio::test]
async fn without_redis_each_client_has_its_own_cache() {
    let server = TestServer::start().await;
    server.route("/report", Reply::ok().header("cache-control", "max-age=60"));
    let client = || {
        Client::builder()
            .base_url(server.url("/"))
            .retry(None)
            .cache(CacheConfig::default())
            .build()
            .expect("a client")
    };
    let (a, b) = (client(), client());
    for client in [&a, &b, &a, &b] {
        client.get("report").send().await.expect("a response");
    }
    assert_eq!(server.request_count(), 2);
}

/// With redis-server stopped every call still completes or is refused by
/// the process's share of the quota, never failed by Redis: each client
/// sends its share (2 of the burst of 5, for a fleet of 2), the cache
/// misses instead of failing, and the breaker decides locally; each says
/// so in the call record (pins: the facade's layers fall back together,
/// issue 19 item 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_away_calls_use_this_process_share() {
    let Some(mut redis) =
        RedisServer::start_or_skip("with_redis_away_calls_use_this_process_share")
    else {
        return;
    };
    let server = TestServer::start().await;
    server.route(
        "/report",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body("the answer"),
    );
    let client = || {
        Client::builder()
            .base_url(server.url("/"))
            .retry(None)
            .rate_limit(quota().build().unwrap())
            .circuit_breaker(BreakerPolicy::builder().build().unwrap())
            .cache(CacheConfig::default())
            .redis(config(&redis, "fleet-away"))
            .build()
            .expect("a client")
    };
    let (a, b) = (client(), client());
    redis.stop();
    let (mut sent, mut refused) = (0, 0);
    for client in [&a, &b].into_iter().cycle().take(6) {
        match client.get("report").send().await {
            Ok(response) => {
                assert_eq!(response.cache_status(), Some(CacheStatus::Miss));
                // Each layer says in the call record that it fell back.
                let record = response.call_record().to_string();
                for fallback in [
                    "quota store (redis) unavailable: this process's share decided",
                    "cache store (redis) unavailable: read as a miss",
                    "local circuit decided",
                ] {
                    assert!(record.contains(fallback), "{fallback:?} not in {record}");
                }
                assert_eq!(response.text().await.expect("a body"), "the answer");
                sent += 1;
            }
            Err(error) => {
                assert_eq!(error.kind(), Kind::RateLimited, "{error}");
                refused += 1;
            }
        }
    }
    assert_eq!((sent, refused), (4, 2));
    assert_eq!(server.request_count(), 4);
}

/// With `fail_closed` and Redis away, a call is refused before it is sent,
/// as a rate-limit refusal whose message says why (pins: the facade maps
/// the shared quota's `RedisUnavailable` to `Kind::RateLimited`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_away_fail_closed_refuses_as_rate_limited() {
    let Some(mut redis) =
        RedisServer::start_or_skip("with_redis_away_fail_closed_refuses_as_rate_limited")
    else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/report", Reply::ok());
    let client = Client::builder()
        .base_url(server.url("/"))
        .retry(None)
        .rate_limit(quota().build().unwrap())
        .redis(
            RedisConfig::builder(redis.url())
                .prefix("fleet-closed")
                .fail_closed(true)
                .build()
                .expect("a valid config"),
        )
        .build()
        .expect("a client");
    client
        .get("report")
        .send()
        .await
        .expect("sent while Redis is up");
    redis.stop();
    let error = client.get("report").send().await.expect_err("refused");
    assert_eq!(error.kind(), Kind::RateLimited, "{error}");
    assert!(error.to_string().contains("redis"), "{error}");
    assert_eq!(server.request_count(), 1);
}
