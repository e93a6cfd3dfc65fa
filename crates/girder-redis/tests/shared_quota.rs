//! The shared quota against a real redis-server (girder-test's
//! `RedisServer`). Redis keeps time with `TIME`, which tokio's paused clock
//! cannot move, so these tests count grants and never assert a duration;
//! every real wait is bounded and short.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use girder_core::{Body, PartitionKey};
use girder_ratelimit::backend::{Acquire, Decision, Feedback, Quotas, RateLimitBackend, Scope};
use girder_ratelimit::{Cause, Mode, Quota, RateLimitLayer, RateLimitPolicy, RateLimited};
use girder_redis::{RedisConfig, RedisRateLimitBackend, RedisUnavailable};
use girder_test::{RedisServer, Reply, TestServer};
use tower::{ServiceBuilder, ServiceExt};

fn backend(redis: &RedisServer, fleet: u32) -> RedisRateLimitBackend {
    let config = RedisConfig::builder(redis.url())
        .fleet_size(fleet)
        .build()
        .expect("config");
    RedisRateLimitBackend::new(config)
}

async fn decide(backend: &RedisRateLimitBackend, key: &PartitionKey, quotas: &Quotas) -> Decision {
    let decision = match backend.acquire(key, quotas) {
        Acquire::Ready(decision) => decision,
        // A bound for the test only: the budget keeps a call far shorter.
        Acquire::Pending(decision) => tokio::time::timeout(Duration::from_secs(5), decision)
            .await
            .expect("decided"),
    };
    decision.expect("no error")
}

async fn grants(
    backend: &RedisRateLimitBackend,
    key: &PartitionKey,
    quotas: &Quotas,
    calls: usize,
) -> usize {
    let mut granted = 0;
    for _ in 0..calls {
        if decide(backend, key, quotas).await == Decision::Granted {
            granted += 1;
        }
    }
    granted
}

/// Polls `check` every 5 ms, at most 400 times (2 s): for effects sent
/// without waiting (observe, release) and for reconnection.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never: {what}");
}

/// A quota that does not refill during a test: one permit a minute.
fn per_minute(burst: u32) -> Quotas {
    Quotas::new(vec![Quota::per_minute(burst).burst(burst)], vec![])
}

async fn redis_command(redis: &RedisServer, args: &[&str]) -> redis::Value {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut conn).await.expect("command")
}

/// Two processes over one Redis share one burst: together they are
/// granted exactly B, not 2B.
#[tokio::test]
async fn two_backends_are_granted_one_burst_together() {
    let Some(redis) = RedisServer::start_or_skip("two_backends_are_granted_one_burst_together")
    else {
        return;
    };
    let (a, b) = (backend(&redis, 2), backend(&redis, 2));
    let key = PartitionKey::custom("api.test");
    let quotas = Quotas::new(
        vec![Quota::per_minute(5).burst(5), Quota::per_hour(100)],
        vec![],
    );
    let mut granted = 0;
    for _ in 0..10 {
        granted += grants(&a, &key, &quotas, 1).await;
        granted += grants(&b, &key, &quotas, 1).await;
    }
    assert_eq!(granted, 5);
    assert!(a.is_shared() && b.is_shared());
    match decide(&b, &key, &quotas).await {
        Decision::Wait {
            retry_after,
            scope,
            cause,
        } => {
            assert_eq!((scope, cause), (Scope::Partition, Cause::Quota));
            // One permit a minute: the next is some seconds away.
            assert!(retry_after > Duration::from_secs(1), "{retry_after:?}");
        }
        other => panic!("{other:?}"),
    }
    // Another partition has its own quota.
    assert_eq!(
        grants(&a, &PartitionKey::custom("other.test"), &quotas, 6).await,
        5
    );
}

/// A global quota binds all partitions, across processes, atomically with
/// the partition quotas: a refusal by the global quota takes nothing from
/// the partition's.
#[tokio::test]
async fn a_global_quota_binds_every_partition_of_every_process() {
    let Some(redis) = RedisServer::start_or_skip("global quota") else {
        return;
    };
    let (a, b) = (backend(&redis, 2), backend(&redis, 2));
    let quotas = Quotas::new(
        vec![Quota::per_minute(3).burst(3)],
        vec![Quota::per_minute(4).burst(4)],
    );
    let (x, y) = (PartitionKey::custom("x"), PartitionKey::custom("y"));
    assert_eq!(grants(&a, &x, &quotas, 3).await, 3);
    assert_eq!(
        grants(&b, &y, &quotas, 3).await,
        1,
        "the global quota has one left"
    );
    match decide(&b, &y, &quotas).await {
        Decision::Wait { scope, .. } => assert_eq!(scope, Scope::Global),
        other => panic!("{other:?}"),
    }
}

/// A server pause observed by one process holds back the other.
#[tokio::test]
async fn a_pause_observed_by_one_process_holds_back_the_other() {
    let Some(redis) = RedisServer::start_or_skip("pause") else {
        return;
    };
    let (a, b) = (backend(&redis, 2), backend(&redis, 2));
    let key = PartitionKey::custom("api.test");
    let quotas = per_minute(100);
    assert_eq!(decide(&b, &key, &quotas).await, Decision::Granted);
    a.observe(&key, &quotas, &Feedback::pause(Duration::from_secs(30)));
    eventually("b sees a's pause", || async {
        matches!(
            decide(&b, &key, &quotas).await,
            Decision::Wait {
                cause: Cause::ServerPause,
                scope: Scope::Partition,
                retry_after,
            } if retry_after > Duration::from_secs(20)
        )
    })
    .await;
    // Other partitions are not paused.
    assert_eq!(
        decide(&b, &PartitionKey::custom("other.test"), &quotas).await,
        Decision::Granted
    );
}

/// A stricter quota the server announced to one process binds the other.
#[tokio::test]
async fn an_announced_quota_is_adopted_by_the_fleet() {
    let Some(redis) = RedisServer::start_or_skip("announced") else {
        return;
    };
    let (a, b) = (backend(&redis, 2), backend(&redis, 2));
    let key = PartitionKey::custom("api.test");
    let quotas = per_minute(100);
    let mut announced = girder_core::hints::Quota::default();
    announced.limit = Some(10);
    announced.window = Some(Duration::from_secs(60));
    announced.remaining = Some(2);
    a.observe(&key, &quotas, &Feedback::announced(vec![announced]));
    // Sent without waiting: wait until it is stored (asking for permits
    // meanwhile would spend them).
    eventually("a's observation stored", || async {
        redis_command(&redis, &["EXISTS", "girder:a:api.test"]).await == redis::Value::Int(1)
    })
    .await;
    // The two permits the server said remain, then nothing, for both.
    assert_eq!(grants(&b, &key, &quotas, 3).await, 2);
    assert_eq!(grants(&a, &key, &quotas, 5).await, 0);
}

/// Release gives a permit back, once.
#[tokio::test]
async fn release_gives_a_permit_back() {
    let Some(redis) = RedisServer::start_or_skip("release") else {
        return;
    };
    let (a, b) = (backend(&redis, 2), backend(&redis, 2));
    let key = PartitionKey::custom("api.test");
    let quotas = per_minute(2);
    assert_eq!(grants(&a, &key, &quotas, 3).await, 2);
    a.release(&key, &quotas);
    eventually("the permit is back", || async {
        decide(&b, &key, &quotas).await == Decision::Granted
    })
    .await;
    assert_eq!(grants(&b, &key, &quotas, 3).await, 0);
}

/// Garbage under the crate's keys (another type, not a number, a number
/// no grant could leave, a pause without expiry) is a miss and is
/// overwritten, never an error.
#[tokio::test]
async fn garbage_under_a_key_is_absent_and_overwritten() {
    let Some(redis) = RedisServer::start_or_skip("garbage") else {
        return;
    };
    let a = backend(&redis, 2);
    let key = PartitionKey::custom("api.test");
    let quotas = Quotas::new(
        vec![Quota::per_minute(2).burst(2), Quota::per_hour(2).burst(2)],
        vec![Quota::per_minute(3).burst(3)],
    );
    // The keys, as the crate docs name them.
    let minute = "girder:q:api.test:30000000/2";
    let hour = "girder:q:api.test:1800000000/2";
    redis_command(&redis, &["SET", minute, "not a number"]).await;
    redis_command(&redis, &["RPUSH", hour, "a", "list"]).await;
    redis_command(
        &redis,
        &["SET", "girder:g:20000000/3", "99999999999999999999"],
    )
    .await;
    redis_command(&redis, &["SET", "girder:p:api.test", "99999999999999999"]).await;
    redis_command(&redis, &["SET", "girder:a:api.test", "not a hash"]).await;
    assert_eq!(grants(&a, &key, &quotas, 3).await, 2);
    for written in [minute, hour] {
        let value = redis_command(&redis, &["GET", written]).await;
        let redis::Value::BulkString(bytes) = value else {
            panic!("{written}: {value:?}");
        };
        let text = String::from_utf8(bytes).expect("text");
        assert!(text.parse::<u64>().is_ok(), "{written} overwritten: {text}");
    }
    let ttl = redis_command(&redis, &["PTTL", minute]).await;
    assert!(
        matches!(ttl, redis::Value::Int(ms) if ms > 0 && ms <= 60_000),
        "expires once the quota is full again: {ttl:?}"
    );
    // The pause without expiry was not ours: deleted.
    assert_eq!(
        redis_command(&redis, &["EXISTS", "girder:p:api.test"]).await,
        redis::Value::Int(0)
    );
}

/// Collects what the crate logs under `girder::redis`.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Redis stopped: every call completes on this process's share (1/4 of
/// the fleet's quota), with one event for the transition; Redis back: the
/// calls are on shared state again, with one event.
#[tokio::test(flavor = "current_thread")]
async fn an_outage_falls_back_to_the_local_share_and_recovers() {
    let Some(mut redis) = RedisServer::start_or_skip("outage") else {
        return;
    };
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let a = backend(&redis, 4);
    let key = PartitionKey::custom("api.test");
    let quotas = per_minute(8);
    assert_eq!(grants(&a, &key, &quotas, 1).await, 1);

    redis.stop();
    // 8 per minute for the fleet: 2 for this process while Redis is away.
    assert_eq!(grants(&a, &key, &quotas, 10).await, 2);
    assert!(!a.is_shared());
    let text = logs.text();
    assert_eq!(text.matches("redis is unavailable").count(), 1, "{text}");

    redis.restart().expect("restart");
    eventually("back on shared state", || async {
        decide(&a, &key, &quotas).await;
        a.is_shared()
    })
    .await;
    let text = logs.text();
    assert_eq!(text.matches("redis is back").count(), 1, "{text}");
    assert!(text.contains("girder::redis"), "{text}");
}

/// A Redis that accepts but never answers (frozen): the call falls back
/// when the budget runs out, and the local share applies.
#[tokio::test]
async fn a_frozen_redis_costs_a_call_the_budget_then_the_local_share() {
    let Some(redis) = RedisServer::start_or_skip("frozen") else {
        return;
    };
    let a = backend(&redis, 2);
    let key = PartitionKey::custom("api.test");
    let quotas = per_minute(6);
    assert_eq!(grants(&a, &key, &quotas, 1).await, 1);
    redis.freeze().expect("freeze");
    let granted = grants(&a, &key, &quotas, 5).await;
    redis.thaw().expect("thaw");
    assert_eq!(granted, 3, "half of 6");
    assert!(!a.is_shared());
}

/// fail_closed: with Redis away a call is refused with RedisUnavailable,
/// and no message holds the URL's password.
#[tokio::test]
async fn fail_closed_refuses_and_never_shows_the_password() {
    let Some(mut redis) = RedisServer::start_or_skip("fail closed") else {
        return;
    };
    let url = format!("redis://:hunter2@127.0.0.1:{}/0", redis.port());
    let config = RedisConfig::builder(url)
        .fail_closed(true)
        .build()
        .expect("config");
    let closed = RedisRateLimitBackend::new(config);
    let key = PartitionKey::custom("api.test");
    let quotas = per_minute(5);
    // The server has no password: AUTH fails, which is a fault too.
    for _ in 0..2 {
        let Acquire::Pending(decision) = closed.acquire(&key, &quotas) else {
            panic!("a round trip");
        };
        let error = decision.await.expect_err("refused");
        let unavailable = error
            .downcast_ref::<RedisUnavailable>()
            .expect("RedisUnavailable");
        assert!(
            !unavailable.to_string().contains("hunter2"),
            "{unavailable}"
        );
        redis.stop();
    }
    assert!(!format!("{closed:?}").contains("hunter2"));
}

/// End to end: two RateLimitLayers (two processes) over one Redis in
/// front of a real TestServer: the server sees the burst once, and a 429
/// with Retry-After heard by one pauses the other.
#[tokio::test]
async fn two_layers_in_front_of_a_test_server_share_quota_and_pauses() {
    let Some(redis) = RedisServer::start_or_skip("end to end") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/items", Reply::ok());
    server.route("/busy", Reply::status(429).header("retry-after", "30"));
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Body>();
    let layer = |prefix: &str, per_minute: u32| {
        let config = RedisConfig::builder(redis.url())
            .prefix(prefix)
            .fleet_size(2)
            .build()
            .expect("config");
        let policy = RateLimitPolicy::builder()
            .quota(Quota::per_minute(per_minute))
            .mode(Mode::Reject)
            .backend(RedisRateLimitBackend::new(config))
            .build()
            .expect("policy");
        ServiceBuilder::new()
            .layer(RateLimitLayer::new(policy))
            .service(http.clone())
    };
    let get = |path: &str| {
        http::Request::get(server.uri(path))
            .body(Body::empty())
            .expect("request")
    };
    let cause = |error: girder_core::BoxError| {
        error
            .downcast_ref::<RateLimited>()
            .expect("RateLimited")
            .cause()
    };

    let (a, b) = (layer("quota", 4), layer("quota", 4));
    let mut refused = 0;
    for client in [&a, &b, &a, &b, &a, &b, &a, &b] {
        match client.clone().oneshot(get("/items")).await {
            Ok(response) => assert_eq!(response.status(), 200),
            Err(error) => {
                assert_eq!(cause(error), Cause::Quota);
                refused += 1;
            }
        }
    }
    assert_eq!((server.requests_to("/items").len(), refused), (4, 4));

    // Fresh quota state under another prefix, for the pause.
    let (c, d) = (layer("pause", 100), layer("pause", 100));
    let busy = c.clone().oneshot(get("/busy")).await.expect("response");
    assert_eq!(busy.status(), 429);
    eventually("d holds back for c's 429", || async {
        match d.clone().oneshot(get("/items")).await {
            Ok(_) => false,
            Err(error) => cause(error) == Cause::ServerPause,
        }
    })
    .await;
    let sent = server.requests_to("/items").len();
    assert!(d.clone().oneshot(get("/items")).await.is_err());
    assert!(c.clone().oneshot(get("/items")).await.is_err());
    assert_eq!(server.requests_to("/items").len(), sent);
}

/// Cancellation: an acquire dropped while its round trip is under way
/// leaves the backend (its connection, its state) usable.
#[tokio::test]
async fn a_dropped_acquire_leaves_the_backend_usable() {
    let Some(redis) = RedisServer::start_or_skip("dropped acquire") else {
        return;
    };
    let a = backend(&redis, 2);
    let key = PartitionKey::custom("api.test");
    let quotas = per_minute(3);
    for _ in 0..3 {
        let Acquire::Pending(mut decision) = a.acquire(&key, &quotas) else {
            panic!("a round trip");
        };
        assert!(girder_test::poll_once(&mut decision).is_pending());
        drop(decision);
    }
    // A dropped round trip may have taken its permit (the layer's docs say
    // so): what is left is at most the burst, and the backend still answers.
    let left = grants(&a, &key, &quotas, 4).await;
    assert!(left <= 3, "{left}");
    assert!(a.is_shared());
}

fn evalsha_calls(info: &redis::Value) -> u64 {
    let text = match info {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        redis::Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    text.lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// While Redis is away one call at a time asks it and the others fall
/// back at once: a frozen Redis receives one round trip per probe, not
/// one per call (counted by Redis itself once it thaws). Without the rule
/// the 10 calls below would each have sent one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_away_one_call_at_a_time_asks_it() {
    let Some(redis) = RedisServer::start_or_skip("probe") else {
        return;
    };
    let a = backend(&redis, 2);
    let key = PartitionKey::custom("api.test");
    let quotas = per_minute(100);
    assert_eq!(decide(&a, &key, &quotas).await, Decision::Granted);
    redis_command(&redis, &["CONFIG", "RESETSTAT"]).await;

    redis.freeze().expect("freeze");
    assert_eq!(decide(&a, &key, &quotas).await, Decision::Granted);
    assert!(!a.is_shared(), "fell back");
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (a, key, quotas) = (a.clone(), key.clone(), quotas.clone());
            tokio::spawn(async move { decide(&a, &key, &quotas).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.expect("task"), Decision::Granted);
    }
    redis.thaw().expect("thaw");

    let mut seen = 0;
    for _ in 0..400 {
        seen = evalsha_calls(&redis_command(&redis, &["INFO", "commandstats"]).await);
        if seen >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The call that fell back, then a probe (a few, on a loaded machine).
    assert!((2..=5).contains(&seen), "{seen} round trips reached Redis");
}
