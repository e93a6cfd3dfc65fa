//! One circuit for a fleet: breaker layers with their own
//! [`RedisCircuitStore`]s (their own connections) over one real
//! redis-server stand for processes. No mocks of Redis.
//!
//! Real time throughout (the I/O is real); waits are short polls of Redis
//! bounded by a couple of seconds, and the tests assert what was sent and
//! refused, never how long it took.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use girder_breaker::store::{Admit, CircuitStore, FleetState, ProbeToken};
use girder_breaker::{
    BreakerPolicy, BreakerPolicyBuilder, BreakerState, CircuitBreaker, CircuitOpen, OpenDuration,
};
use girder_core::{Body, BoxError, CallRecord, PartitionKey};
use girder_redis::{RedisCircuitStore, RedisConfig};
use girder_test::{MockService, RedisServer, Reply};
use http::{Request, Response};
use redis::aio::MultiplexedConnection;
use tower::{Service, ServiceExt};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

/// The keys of the partition `a.test` under the prefix `t`.
const MARKER: &str = "t:b:a.test";
const RECORD: &str = "t:bp:a.test";

type Breaker = CircuitBreaker<MockService>;
type Call = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

fn store(redis: &RedisServer, budget: Duration) -> RedisCircuitStore {
    let config = RedisConfig::builder(redis.url())
        .prefix("t")
        .fleet_size(2)
        .budget(budget)
        .build()
        .expect("config");
    RedisCircuitStore::new(config)
}

/// Opens after two failures in a row for `open`; one probe at a time,
/// fleet-wide. The budget is generous: these tests are about outcomes,
/// and a loaded test machine must not make Redis "slow".
fn policy(store: RedisCircuitStore, open: Duration, budget: Duration) -> BreakerPolicyBuilder {
    BreakerPolicy::builder()
        .consecutive_failures(2)
        .open_duration(OpenDuration::fixed(open))
        .half_open_probes(1)
        .seed(7)
        .store(Arc::new(store))
        .store_budget(budget)
}

/// `/fail` 500, `/hang` 200 after an hour, anything else 200.
fn process(policy: BreakerPolicyBuilder) -> (Breaker, MockService) {
    let api = MockService::new(Reply::ok());
    api.route("/fail", Reply::status(500))
        .route("/hang", Reply::ok().delay(3600 * SEC));
    let breaker = CircuitBreaker::new(api.clone(), policy.build().expect("policy"));
    (breaker, api)
}

fn get(path: &str) -> Request<Body> {
    Request::get(format!("http://a.test{path}"))
        .body(Body::empty())
        .expect("request")
}

async fn start(service: &mut Breaker, request: Request<Body>) -> Call {
    let ready = ServiceExt::<Request<Body>>::ready(service)
        .await
        .expect("ready");
    Box::pin(ready.call(request))
}

/// Sends, and bounds the whole call: a store must never hang a call.
async fn send(service: &mut Breaker, request: Request<Body>) -> Result<Response<Body>, BoxError> {
    let call = start(service, request).await;
    tokio::time::timeout(5 * SEC, call)
        .await
        .expect("the call hung")
}

async fn status(service: &mut Breaker, path: &str) -> u16 {
    send(service, get(path))
        .await
        .expect("sent")
        .status()
        .as_u16()
}

async fn refusal(service: &mut Breaker, path: &str) -> CircuitOpen {
    let err = send(service, get(path)).await.expect_err("refused");
    err.downcast_ref::<CircuitOpen>()
        .unwrap_or_else(|| panic!("not a refusal: {err}"))
        .clone()
}

fn state(service: &Breaker) -> BreakerState {
    let key = PartitionKey::authority("a.test".parse().expect("authority"));
    service.handle().metrics(&key).expect("circuit").state
}

async fn trip(service: &mut Breaker) {
    for _ in 0..2 {
        assert_eq!(status(service, "/fail").await, 500);
    }
    assert_eq!(state(service), BreakerState::Open);
}

async fn connect(redis: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection")
}

/// Polls `cmd` until its integer reply passes `ok`: for what a store sends
/// without waiting. At most 2 s.
async fn wait_until(conn: &mut MultiplexedConnection, cmd: &redis::Cmd, ok: impl Fn(i64) -> bool) {
    for _ in 0..400 {
        let reply: i64 = cmd.query_async(conn).await.expect("reply");
        if ok(reply) {
            return;
        }
        tokio::time::sleep(5 * MS).await;
    }
    panic!("redis never got there");
}

fn cmd(name: &str, key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd(name);
    cmd.arg(key);
    cmd
}

/// Waits until everything `store` sent so far has reached Redis: the
/// store sends in order, so once a marker published after them exists,
/// they are applied.
async fn flush(store: &RedisCircuitStore, conn: &mut MultiplexedConnection, n: u32) {
    let key = PartitionKey::custom(format!("flush-{n}"));
    store.publish_open(&key, 60 * SEC).expect("queued");
    wait_until(conn, &cmd("EXISTS", &format!("t:b:flush-{n}")), |n| n == 1).await;
}

async fn ask(store: &RedisCircuitStore, key: &PartitionKey, token: u64, max: u32) -> FleetState {
    match store.admit(key, ProbeToken::new(token), max) {
        Admit::Ready(answer) => answer,
        Admit::Pending(answer) => answer.await,
    }
    .expect("answered")
}

fn notes(record: &CallRecord) -> Vec<String> {
    record
        .entries()
        .iter()
        .map(|e| e.as_event().to_string())
        .collect()
}

/// Pins issue 19 item 3 on Redis: a circuit that opened in one process
/// did not stop the others, which kept sending to an API already seen
/// failing. B's first call after A's opening reached Redis is refused
/// without reaching B's API, with the time left as its retry-after.
#[tokio::test]
async fn a_circuit_opened_in_one_process_refuses_the_next_call_of_another() {
    let Some(redis) = RedisServer::start_or_skip("a_circuit_opened_in_one_process") else {
        return;
    };
    let mut conn = connect(&redis).await;
    let (mut a, _) = process(policy(store(&redis, SEC), 30 * SEC, SEC));
    let (mut b, b_api) = process(policy(store(&redis, SEC), 30 * SEC, SEC));
    assert_eq!(status(&mut b, "/ok").await, 200);

    trip(&mut a).await;
    wait_until(&mut conn, &cmd("EXISTS", MARKER), |n| n == 1).await;
    let open = refusal(&mut b, "/ok").await;
    let left = open.retry_after().expect("the open time left");
    assert!(left > 20 * SEC && left <= 30 * SEC, "{left:?}");
    assert_eq!(b_api.request_count(), 1, "B's call never reached its API");
    // B's own circuit is open for the time left: refused without asking.
    assert_eq!(state(&b), BreakerState::Open);
    // Other partitions are not touched.
    let other = Request::get("http://b.test/ok")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&mut b, other).await.unwrap().status(), 200);
}

/// Pins issue 19 item 3 on Redis: half-open probing was bounded per
/// process only, so a fleet sent a recovering API a probe per process;
/// and a probe dropped halfway must give its fleet slot back, or probing
/// stalls for the whole fleet until its lease ends.
#[tokio::test]
async fn half_open_probes_are_bounded_across_processes_and_freed_when_dropped() {
    let Some(redis) = RedisServer::start_or_skip("half_open_probes_are_bounded") else {
        return;
    };
    let mut conn = connect(&redis).await;
    let open = 300 * MS;
    let (mut a, a_api) = process(policy(store(&redis, SEC), open, SEC));
    let (mut b, b_api) = process(policy(store(&redis, SEC), open, SEC));
    trip(&mut a).await;
    wait_until(&mut conn, &cmd("EXISTS", MARKER), |n| n == 1).await;
    // The open period ends (A's own ended before: it opened first).
    wait_until(&mut conn, &cmd("EXISTS", MARKER), |n| n == 0).await;

    // A's probe hangs and holds the fleet's only slot.
    let probe = start(&mut a, get("/hang")).await;
    let probe = tokio::spawn(probe);
    wait_until(&mut conn, &cmd("HLEN", RECORD), |n| n == 2).await;
    let refused = refusal(&mut b, "/ok").await;
    assert_eq!(refused.retry_after(), None, "a probe is in flight");
    assert_eq!(state(&b), BreakerState::HalfOpen, "B follows the fleet");
    assert_eq!(b_api.request_count(), 0);

    // Dropped, the probe frees the slot: B probes, succeeds and closes the
    // fleet's circuit; A follows.
    probe.abort();
    assert!(probe.await.expect_err("aborted").is_cancelled());
    wait_until(&mut conn, &cmd("HLEN", RECORD), |n| n == 1).await;
    assert_eq!(status(&mut b, "/ok").await, 200);
    assert_eq!(state(&b), BreakerState::Closed);
    wait_until(&mut conn, &cmd("EXISTS", RECORD), |n| n == 0).await;
    assert_eq!(status(&mut a, "/ok").await, 200);
    assert_eq!(state(&a), BreakerState::Closed);
    assert_eq!(
        (a_api.request_count(), b_api.request_count()),
        (2 + 1 + 1, 1)
    );
}

/// Pins the leases: a process that dies holding a probe slot (it never
/// gives it back) must not wedge the fleet's probing. Also the script's
/// rules: the same token keeps its slot, a release frees only its own
/// token's slot, a new open period frees every slot and keeps a later
/// end already published, and a close forgets the circuit.
#[tokio::test]
async fn probe_slots_are_leased_and_released_by_token() {
    let Some(redis) = RedisServer::start_or_skip("probe_slots_are_leased") else {
        return;
    };
    let mut conn = connect(&redis).await;
    let store = store(&redis, SEC).probe_lease(SEC);
    let key = PartitionKey::custom("api.test");
    assert_eq!(ask(&store, &key, 1, 1).await, FleetState::Closed);

    // A later end already published is kept.
    store.publish_open(&key, 30 * SEC).unwrap();
    store.publish_open(&key, MS).unwrap();
    flush(&store, &mut conn, 1).await;
    match ask(&store, &key, 1, 1).await {
        FleetState::Open { remaining } => assert!(remaining > 20 * SEC, "{remaining:?}"),
        other => panic!("{other:?}"),
    }
    // Cut short by hand, as if 30 s had passed.
    let _: () = cmd("PEXPIRE", "t:b:api.test")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    wait_until(&mut conn, &cmd("EXISTS", "t:b:api.test"), |n| n == 0).await;

    assert_eq!(
        ask(&store, &key, 1, 1).await,
        FleetState::HalfOpen { probe: true }
    );
    assert_eq!(
        ask(&store, &key, 1, 1).await,
        FleetState::HalfOpen { probe: true }
    );
    assert_eq!(
        ask(&store, &key, 2, 1).await,
        FleetState::HalfOpen { probe: false }
    );
    // Token 9 holds nothing: its release frees nothing.
    store.release_probe(&key, ProbeToken::new(9));
    flush(&store, &mut conn, 2).await;
    assert_eq!(
        ask(&store, &key, 2, 1).await,
        FleetState::HalfOpen { probe: false }
    );

    // Token 1's holder dies: its lease ends and token 2 gets the slot.
    let mut refused = 0;
    loop {
        match ask(&store, &key, 2, 1).await {
            FleetState::HalfOpen { probe: true } => break,
            FleetState::HalfOpen { probe: false } if refused < 500 => refused += 1,
            other => panic!("{other:?} after {refused} refusals"),
        }
        tokio::time::sleep(10 * MS).await;
    }

    // A new open period frees every slot; a stale release cannot free one
    // of the next period.
    store.publish_open(&key, MS).unwrap();
    flush(&store, &mut conn, 3).await;
    wait_until(&mut conn, &cmd("EXISTS", "t:b:api.test"), |n| n == 0).await;
    assert_eq!(
        ask(&store, &key, 3, 1).await,
        FleetState::HalfOpen { probe: true }
    );
    store.release_probe(&key, ProbeToken::new(2));
    flush(&store, &mut conn, 4).await;
    assert_eq!(
        ask(&store, &key, 4, 1).await,
        FleetState::HalfOpen { probe: false }
    );

    store.publish_closed(&key).unwrap();
    flush(&store, &mut conn, 5).await;
    assert_eq!(ask(&store, &key, 4, 1).await, FleetState::Closed);
}

/// Pins issue 19 item 4 for circuits: with Redis gone (stopped, then
/// frozen) calls go on, decided by each process's own circuit, without an
/// error and without hanging; once it is back the fleet shares again.
#[tokio::test]
async fn without_redis_calls_are_decided_by_the_local_circuit() {
    let Some(mut redis) = RedisServer::start_or_skip("without_redis_calls") else {
        return;
    };
    let budget = 50 * MS;
    let b_store = store(&redis, budget);
    let (mut a, a_api) = process(policy(store(&redis, budget), 30 * SEC, budget));
    let (mut b, b_api) = process(policy(b_store.clone(), 30 * SEC, budget));
    assert_eq!(status(&mut b, "/ok").await, 200);

    redis.stop();
    let record = CallRecord::new();
    let mut request = get("/ok");
    request.extensions_mut().insert(record.clone());
    assert_eq!(send(&mut b, request).await.unwrap().status(), 200);
    let fell_back = notes(&record);
    assert!(
        fell_back[0].starts_with("circuit store")
            && fell_back[0].ends_with("local circuit decided"),
        "{fell_back:?}"
    );
    assert!(!b_store.is_shared());
    // A's own circuit still opens and refuses; B's is not told.
    trip(&mut a).await;
    refusal(&mut a, "/ok").await;
    for _ in 0..5 {
        assert_eq!(status(&mut b, "/ok").await, 200);
    }

    // A frozen server answers nothing: each call waits at most the budget.
    redis.restart().expect("restart");
    assert_eq!(status(&mut b, "/ok").await, 200);
    redis.freeze().expect("freeze");
    for _ in 0..3 {
        assert_eq!(status(&mut b, "/ok").await, 200);
    }
    redis.thaw().expect("thaw");

    // Back: B shares the fleet's circuits again within a few calls.
    let mut calls = 0;
    while !(b_store.is_shared() && calls > 0) {
        assert!(calls < 200, "never back on shared state");
        assert_eq!(status(&mut b, "/ok").await, 200);
        calls += 1;
        tokio::time::sleep(10 * MS).await;
    }
    assert_eq!(a_api.request_count(), 2);
    assert_eq!(b_api.request_count(), 1 + 1 + 5 + 1 + 3 + calls);
}

/// Pins: the breaker drops an admission when its own store budget runs
/// out, which may come before this crate's; such a drop did not count as
/// Redis not answering, so with Redis hung every call waited a budget,
/// instead of one call at a time while the others fall back at once.
#[tokio::test]
async fn an_admission_dropped_for_slowness_counts_as_redis_not_answering() {
    let Some(redis) = RedisServer::start_or_skip("an_admission_dropped_for_slowness") else {
        return;
    };
    let store = store(&redis, 400 * MS);
    let key = PartitionKey::custom("api.test");
    assert_eq!(ask(&store, &key, 1, 1).await, FleetState::Closed);

    redis.freeze().expect("freeze");
    let Admit::Pending(answer) = store.admit(&key, ProbeToken::new(2), 1) else {
        panic!("an admission is a round trip");
    };
    // The breaker's budget (here 250 ms) runs out before the store's.
    assert!(tokio::time::timeout(250 * MS, answer).await.is_err());
    assert!(!store.is_shared());
    // One call asks whether Redis is back; the others are answered at once.
    let Admit::Pending(asking) = store.admit(&key, ProbeToken::new(3), 1) else {
        panic!("the first call asks");
    };
    let at_once = store.admit(&key, ProbeToken::new(4), 1).now();
    let error = at_once.expect("answered at once").expect_err("unavailable");
    assert!(
        error.to_string().contains("another call is checking"),
        "{error}"
    );

    redis.thaw().expect("thaw");
    assert_eq!(asking.await.expect("answered"), FleetState::Closed);
    assert!(store.is_shared());
}

/// Pins: a value under the store's keys that it did not write (another
/// type, another text, a marker without expiry, a lease that is no
/// number) is absent and overwritten, never an error or a refusal.
#[tokio::test]
async fn garbage_under_the_keys_counts_as_absent() {
    let Some(redis) = RedisServer::start_or_skip("garbage_under_the_keys") else {
        return;
    };
    let mut conn = connect(&redis).await;
    let b_store = store(&redis, SEC);
    let (mut a, _) = process(policy(store(&redis, SEC), 30 * SEC, SEC));
    let (mut b, b_api) = process(policy(b_store.clone(), 30 * SEC, SEC));
    let garbage: [&[&str]; 4] = [
        &["SET", MARKER, "garbage"],
        &["SET", MARKER, "open"],
        &["RPUSH", RECORD, "x"],
        &["HSET", MARKER, "v", "1"],
    ];
    for (i, command) in garbage.iter().enumerate() {
        let _: () = redis::cmd("DEL")
            .arg(MARKER)
            .arg(RECORD)
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut write = redis::cmd(command[0]);
        write.arg(&command[1..]);
        let _: () = write.query_async(&mut conn).await.unwrap();
        let record = CallRecord::new();
        let mut request = get("/ok");
        request.extensions_mut().insert(record.clone());
        assert_eq!(send(&mut b, request).await.unwrap().status(), 200, "{i}");
        assert_eq!(notes(&record), ["circuit closed, admitted"], "{i}");
        assert!(b_store.is_shared());
    }
    // A half-open record whose lease is no number: the slot is free.
    let _: () = redis::cmd("HSET")
        .arg(RECORD)
        .arg(&["v", "1", "t:1", "soon", "t:2", "1e400"])
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = cmd("PEXPIRE", RECORD)
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(status(&mut b, "/ok").await, 200);
    assert_eq!(state(&b), BreakerState::Closed);

    // Garbage left under the marker is written over by an opening.
    let _: () = cmd("SET", MARKER)
        .arg("garbage")
        .query_async(&mut conn)
        .await
        .unwrap();
    trip(&mut a).await;
    wait_until(&mut conn, &cmd("PTTL", MARKER), |ms| ms > 0).await;
    refusal(&mut b, "/ok").await;
    assert_eq!(b_api.request_count(), 4 + 1);
}

/// Not a test: the cost of an admission, Redis on loopback next to
/// `LocalCircuitStore`. Run with
/// `cargo test -p girder-redis --release --test shared_circuit -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement"]
async fn admission_cost() {
    use girder_breaker::LocalCircuitStore;
    let Some(redis) = RedisServer::start_or_skip("admission_cost") else {
        return;
    };
    let redis_store = store(&redis, SEC);
    let local = LocalCircuitStore::new();
    let key = PartitionKey::custom("api.test");
    let stores: [(&str, &dyn CircuitStore); 2] = [("local", &local), ("redis", &redis_store)];
    for (name, store) in stores {
        let mut times = Vec::with_capacity(20_000);
        for i in 0..22_000u64 {
            #[allow(clippy::disallowed_methods)]
            let started = std::time::Instant::now();
            let answer = match store.admit(&key, ProbeToken::new(i), 1) {
                Admit::Ready(answer) => answer,
                Admit::Pending(answer) => answer.await,
            };
            assert_eq!(answer.expect("answered"), FleetState::Closed);
            if i >= 2_000 {
                times.push(started.elapsed());
            }
        }
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!(
            "{name}: admission p50 {:?}, p99 {:?} ({} calls)",
            at(0.50),
            at(0.99),
            times.len()
        );
    }
}
