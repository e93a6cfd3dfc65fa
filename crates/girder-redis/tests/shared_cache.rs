//! The shared cache against a real redis-server (girder-test's
//! `RedisServer`) in front of a real TestServer. Each `CacheLayer` with
//! its own `RedisCacheStore` (its own connection) stands for one process.
//! Redis runs on real time: every wait here is bounded and short, and the
//! tests count requests rather than time them.

use std::future::Future;
use std::time::Duration;

use girder_cache::{CacheConfig, CacheLayer, CacheStatus};
use girder_core::{Body, BoxError};
use girder_redis::{RedisCacheStore, RedisConfig, RedisConfigBuilder};
use girder_test::{RedisServer, Reply, Script, TestServer};
use http::{Request, Response};
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

type Client = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;
type Http =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

fn http() -> Http {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Body>()
}

fn redis_config(redis: &RedisServer, prefix: &str) -> RedisConfigBuilder {
    RedisConfig::builder(redis.url())
        .prefix(prefix)
        .fleet_size(8)
        // Generous for a loaded test machine; the figure is not asserted.
        .budget(Duration::from_millis(200))
}

fn cache_config() -> CacheConfig {
    // Processes that share a store share the identity secret.
    CacheConfig::builder()
        .identity_secret([7; 32])
        .build()
        .expect("cache config")
}

/// One "process": a cache layer with a store of its own over `http`.
fn process_with(store: RedisCacheStore, config: CacheConfig, http: &Http) -> Client {
    let layer = CacheLayer::with_store(config, store);
    BoxCloneSyncService::new(layer.layer(http.clone()))
}

fn process(redis: &RedisServer, prefix: &str, http: &Http) -> Client {
    let store = RedisCacheStore::new(redis_config(redis, prefix).build().expect("config"));
    process_with(store, cache_config(), http)
}

fn get(server: &TestServer, path: &str) -> Request<Body> {
    Request::get(server.uri(path))
        .body(Body::empty())
        .expect("request")
}

fn with(mut request: Request<Body>, name: &'static str, value: &str) -> Request<Body> {
    request
        .headers_mut()
        .insert(name, value.parse().expect("header value"));
    request
}

/// A call, bounded for the test's sake (the store keeps far shorter).
async fn call(client: &Client, request: Request<Body>) -> Response<Body> {
    tokio::time::timeout(Duration::from_secs(10), client.clone().oneshot(request))
        .await
        .expect("answered in time")
        .expect("no error")
}

fn status(response: &Response<Body>) -> CacheStatus {
    *response
        .extensions()
        .get::<CacheStatus>()
        .expect("cache status")
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

async fn keys(redis: &RedisServer, pattern: &str) -> Vec<String> {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let mut found: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    found.sort();
    found
}

/// Polls `check` every 10 ms, at most 300 times (3 s).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

fn fresh(body: &'static str) -> Reply {
    Reply::ok().header("cache-control", "max-age=60").body(body)
}

/// Process B gets a hit for what process A fetched: the origin sees one
/// request. The entry sits under `{prefix}:c:{64 hex}` with a TTL, and no
/// claim is left behind.
#[tokio::test]
async fn process_b_hits_what_process_a_fetched() {
    let Some(redis) = RedisServer::start_or_skip("process_b_hits_what_process_a_fetched") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/items", fresh("[1,2,3]"));
    let http = http();
    let (a, b) = (process(&redis, "app", &http), process(&redis, "app", &http));
    assert_eq!(
        status(&call(&a, get(&server, "/items")).await),
        CacheStatus::Miss
    );
    let hit = call(&b, get(&server, "/items")).await;
    assert_eq!(status(&hit), CacheStatus::Hit);
    assert_eq!(hit.status(), 200);
    assert_eq!(server.requests_to("/items").len(), 1);

    eventually("the claim is released", || async {
        keys(&redis, "app:f:*").await.is_empty()
    })
    .await;
    let entries = keys(&redis, "app:*").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let name = &entries[0];
    let hex = name.strip_prefix("app:c:").expect("entry key");
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    // The TTL is the entry's retain_for: its minute of freshness plus the
    // default day of stale_if_unreachable.
    let redis::Value::Int(ttl) = redis_command(&redis, &["PTTL", name]).await else {
        panic!("PTTL")
    };
    assert!(
        ttl > 24 * 3600 * 1000 && ttl <= (24 * 3600 + 60) * 1000,
        "{ttl}"
    );
}

/// Eight processes missing one key at once (the origin answers slowly, so
/// their misses overlap): the origin sees one request, one process reports
/// a miss and seven a coalesced answer.
#[tokio::test]
async fn eight_processes_missing_one_key_make_one_request() {
    let Some(redis) = RedisServer::start_or_skip("eight_processes_missing_one_key") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/slow", fresh("shared").delay(Duration::from_millis(300)));
    let http = http();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = process(&redis, "fleet", &http);
            let request = get(&server, "/slow");
            tokio::spawn(async move { call(&client, request).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in calls {
        let response = task.await.expect("task");
        assert_eq!(response.status(), 200);
        statuses.push(status(&response));
    }
    assert_eq!(server.requests_to("/slow").len(), 1, "{statuses:?}");
    // One miss; the others coalesced (or, on a slow machine, a plain hit
    // for one that looked after the entry was stored).
    let misses = statuses.iter().filter(|s| **s == CacheStatus::Miss).count();
    let shared = statuses
        .iter()
        .filter(|s| matches!(s, CacheStatus::Coalesced | CacheStatus::Hit))
        .count();
    assert_eq!((misses, shared), (1, 7), "{statuses:?}");
}

/// `Vary` variants and credential identities stay apart across processes,
/// and neither the keys nor the stored bytes hold a credential.
#[tokio::test]
async fn variants_and_identities_stay_apart_across_processes() {
    let Some(redis) = RedisServer::start_or_skip("variants_and_identities") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/v", fresh("v").header("vary", "accept-language"));
    server.route(
        "/me",
        Reply::ok()
            .header("cache-control", "private, max-age=60")
            .body("me"),
    );
    let http = http();
    let (a, b) = (process(&redis, "iso", &http), process(&redis, "iso", &http));
    let lang = |l: &str| with(get(&server, "/v"), "accept-language", l);
    assert_eq!(status(&call(&a, lang("en")).await), CacheStatus::Miss);
    assert_eq!(status(&call(&b, lang("fr")).await), CacheStatus::Miss);
    assert_eq!(status(&call(&b, lang("en")).await), CacheStatus::Hit);
    assert_eq!(status(&call(&a, lang("fr")).await), CacheStatus::Hit);
    assert_eq!(server.requests_to("/v").len(), 2);

    let me = |token: &str| {
        with(
            get(&server, "/me"),
            "authorization",
            &format!("Bearer {token}"),
        )
    };
    assert_eq!(
        status(&call(&a, me("alice-s3cret")).await),
        CacheStatus::Miss
    );
    assert_eq!(status(&call(&b, me("bob-s3cret")).await), CacheStatus::Miss);
    assert_eq!(
        status(&call(&b, me("alice-s3cret")).await),
        CacheStatus::Hit
    );
    assert_eq!(
        status(&call(&a, get(&server, "/me")).await),
        CacheStatus::Miss
    );
    assert_eq!(server.requests_to("/me").len(), 3);

    for name in keys(&redis, "*").await {
        assert!(!name.contains("s3cret") && !name.contains("/me"), "{name}");
        if let redis::Value::BulkString(bytes) = redis_command(&redis, &["GET", &name]).await {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("s3cret"), "a credential stored under {name}");
        }
    }
}

/// Garbage under an entry's key (bytes that do not decode, a value of
/// another type) is a miss, never an error, and the fill overwrites it; a
/// foreign value without expiry under a claim key does not make the fleet
/// wait.
#[tokio::test]
async fn garbage_under_a_key_is_a_miss_and_is_overwritten() {
    let Some(redis) = RedisServer::start_or_skip("garbage_under_a_key") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/g", fresh("good"));
    let http = http();
    let (a, b) = (
        process(&redis, "junk", &http),
        process(&redis, "junk", &http),
    );
    assert_eq!(
        status(&call(&a, get(&server, "/g")).await),
        CacheStatus::Miss
    );
    let name = keys(&redis, "junk:c:*").await.pop().expect("stored");
    let claim = name.replace(":c:", ":f:");

    let garbage: [&[&str]; 3] = [
        &["SET", &name, "not a girder entry"],
        &["SET", &name, "GRDC\u{7f}from the future"],
        &["HSET", &name, "field", "value"],
    ];
    let mut sent = 1;
    for write in garbage {
        redis_command(&redis, &["DEL", &name]).await;
        redis_command(&redis, write).await;
        assert_eq!(
            status(&call(&b, get(&server, "/g")).await),
            CacheStatus::Miss,
            "{write:?}"
        );
        sent += 1;
        assert_eq!(server.requests_to("/g").len(), sent);
        // Overwritten: the next process hits.
        assert_eq!(
            status(&call(&a, get(&server, "/g")).await),
            CacheStatus::Hit,
            "{write:?}"
        );
    }

    redis_command(&redis, &["DEL", &name]).await;
    redis_command(&redis, &["SET", &claim, "foreign, no expiry"]).await;
    assert_eq!(
        status(&call(&b, get(&server, "/g")).await),
        CacheStatus::Miss
    );
    assert_eq!(server.requests_to("/g").len(), sent + 1);
}

/// An entry over `max_cache_entry_bytes` is not stored: the next process
/// misses too.
#[tokio::test]
async fn entries_over_the_size_bound_are_not_stored() {
    let Some(redis) = RedisServer::start_or_skip("entries_over_the_size_bound") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/big", fresh("x").body(vec![b'x'; 4096]));
    server.route("/small", fresh("x"));
    let http = http();
    let small_store = || {
        let config = redis_config(&redis, "size")
            .max_cache_entry_bytes(2048)
            .build()
            .expect("config");
        process_with(RedisCacheStore::new(config), cache_config(), &http)
    };
    let (a, b) = (small_store(), small_store());
    assert_eq!(
        status(&call(&a, get(&server, "/big")).await),
        CacheStatus::Miss
    );
    assert_eq!(
        status(&call(&b, get(&server, "/big")).await),
        CacheStatus::Miss
    );
    assert_eq!(server.requests_to("/big").len(), 2);
    assert_eq!(
        status(&call(&a, get(&server, "/small")).await),
        CacheStatus::Miss
    );
    assert_eq!(
        status(&call(&b, get(&server, "/small")).await),
        CacheStatus::Hit
    );
}

/// Redis stopped, then frozen (it accepts connections but answers
/// nothing): every call still completes (a miss, from the origin) and
/// none fails; the store says it is not shared, and once Redis is back
/// the fleet shares entries again.
#[tokio::test]
async fn a_stopped_redis_costs_misses_never_errors() {
    let Some(mut redis) = RedisServer::start_or_skip("a_stopped_redis") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/o", fresh("o"));
    let http = http();
    let store = RedisCacheStore::new(redis_config(&redis, "out").build().expect("config"));
    let a = process_with(store.clone(), cache_config(), &http);
    let b = process(&redis, "out", &http);
    assert_eq!(
        status(&call(&a, get(&server, "/o")).await),
        CacheStatus::Miss
    );
    redis.stop();
    for i in 0..10 {
        let client = if i % 2 == 0 { &a } else { &b };
        let response = call(client, get(&server, &format!("/o?n={i}"))).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(server.requests_to("/o").len(), 11);
    assert!(!store.is_shared());

    redis.restart().expect("restart");
    eventually("the fleet shares entries again", || async {
        call(&a, get(&server, "/o?back")).await;
        status(&call(&b, get(&server, "/o?back")).await) == CacheStatus::Hit
    })
    .await;
    assert!(store.is_shared());

    redis.freeze().expect("freeze");
    let sent = server.requests_to("/o").len();
    for i in 0..6 {
        let client = if i % 2 == 0 { &a } else { &b };
        let response = call(client, get(&server, &format!("/o?frozen={i}"))).await;
        assert_eq!(response.status(), 200);
    }
    redis.thaw().expect("thaw");
    assert_eq!(server.requests_to("/o").len(), sent + 6);
    assert!(!store.is_shared());
}

/// Pins a dropped fleet leader keeping the others waiting for its claim's
/// expiry (60 s here): its claim is released on drop, so a waiting process
/// fetches at once.
#[tokio::test]
async fn a_dropped_leader_releases_its_claim() {
    let Some(redis) = RedisServer::start_or_skip("a_dropped_leader_releases_its_claim") else {
        return;
    };
    let server = TestServer::start().await;
    server.route(
        "/d",
        Script::sequence([
            fresh("never").delay(Duration::from_secs(120)),
            fresh("second"),
        ]),
    );
    let http = http();
    let patient = || {
        let config = redis_config(&redis, "drop")
            .max_fill_hold(Duration::from_secs(60))
            .build()
            .expect("config");
        let cache = CacheConfig::builder()
            .identity_secret([7; 32])
            .max_coalesce_wait(Duration::from_secs(60))
            .build()
            .expect("cache config");
        process_with(RedisCacheStore::new(config), cache, &http)
    };
    let (a, b) = (patient(), patient());
    let request = get(&server, "/d");
    let leader = tokio::spawn(async move { a.oneshot(request).await });
    eventually("the leader reached the origin", || async {
        server.requests_to("/d").len() == 1
    })
    .await;
    assert_eq!(keys(&redis, "drop:f:*").await.len(), 1);
    let request = get(&server, "/d");
    let waiter = tokio::spawn(async move { call(&b, request).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        server.requests_to("/d").len(),
        1,
        "the second process waits"
    );

    leader.abort();
    let response = waiter
        .await
        .expect("the waiter fetched long before the claim's expiry");
    assert_eq!(status(&response), CacheStatus::Miss);
    assert_eq!(server.requests_to("/d").len(), 2);
}
