//! Circuits shared through a [`CircuitStore`]: several breaker layers on
//! one [`LocalCircuitStore`] stand for several processes on one remote
//! store. Paused time throughout.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use girder_breaker::store::{Admit, FleetState, ProbeToken};
use girder_breaker::{
    BreakerPolicy, BreakerPolicyBuilder, BreakerState, Cause, CircuitBreaker, CircuitOpen,
    CircuitStore, LocalCircuitStore, Mode, OpenDuration, StateChange,
};
use girder_core::{Body, BoxError, CallRecord, Deadline, PartitionKey};
use girder_test::{MockService, Reply, poll_once};
use http::{Request, Response};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

type Breaker = CircuitBreaker<MockService>;
type Call = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

/// `/fail` 500, `/hang` 200 after an hour, anything else 200.
fn api() -> MockService {
    let api = MockService::new(Reply::ok());
    api.route("/fail", Reply::status(500))
        .route("/hang", Reply::ok().delay(3600 * SEC));
    api
}

/// Opens after two failures in a row, for 10 s; one probe at a time.
fn policy(store: Arc<dyn CircuitStore>) -> BreakerPolicyBuilder {
    BreakerPolicy::builder()
        .consecutive_failures(2)
        .open_duration(OpenDuration::fixed(10 * SEC))
        .half_open_probes(1)
        .seed(7)
        .store(store)
}

/// One "process": a breaker over its own API.
fn process(policy: BreakerPolicyBuilder) -> (Breaker, MockService) {
    let api = api();
    let breaker = CircuitBreaker::new(api.clone(), policy.build().unwrap());
    (breaker, api)
}

async fn start(service: &mut Breaker, request: Request<Body>) -> Call {
    let ready = ServiceExt::<Request<Body>>::ready(service).await.unwrap();
    Box::pin(ready.call(request))
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

async fn send(service: &mut Breaker, uri: &str) -> Result<Response<Body>, BoxError> {
    start(service, get(uri)).await.await
}

async fn status(service: &mut Breaker, uri: &str) -> u16 {
    send(service, uri).await.unwrap().status().as_u16()
}

async fn refusal(service: &mut Breaker, uri: &str) -> CircuitOpen {
    let err = send(service, uri).await.unwrap_err();
    err.downcast_ref::<CircuitOpen>()
        .unwrap_or_else(|| panic!("not a refusal: {err}"))
        .clone()
}

fn state(service: &Breaker) -> BreakerState {
    service
        .handle()
        .metrics(&PartitionKey::authority("a.test".parse().unwrap()))
        .unwrap()
        .state
}

async fn trip(service: &mut Breaker) {
    for _ in 0..2 {
        assert_eq!(status(service, "http://a.test/fail").await, 500);
    }
    assert_eq!(state(service), BreakerState::Open);
}

/// Pins issue 19 item 3: a circuit that opened in one process did not stop
/// the others, which kept sending to an API already seen failing.
#[tokio::test(start_paused = true)]
async fn a_circuit_opened_in_one_process_refuses_the_next_call_of_another() {
    let store = Arc::new(LocalCircuitStore::new());
    let changes = Arc::new(Mutex::new(Vec::<StateChange>::new()));
    let log = changes.clone();
    let (mut a, _) = process(policy(store.clone()));
    let (mut b, b_api) = process(
        policy(store.clone())
            .on_state_change(move |change: &StateChange| log.lock().unwrap().push(change.clone())),
    );

    trip(&mut a).await;
    tokio::time::advance(4 * SEC).await;
    let open = refusal(&mut b, "http://a.test/ok").await;
    assert_eq!(open.retry_after(), Some(6 * SEC), "the open time left");
    assert_eq!(b_api.request_count(), 0, "B's call never reached its API");

    // B's own circuit is open for the time left: refused without asking.
    assert_eq!(state(&b), BreakerState::Open);
    tokio::time::advance(2 * SEC).await;
    assert_eq!(
        refusal(&mut b, "http://a.test/ok").await.retry_after(),
        Some(4 * SEC)
    );
    let seen = changes.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].from, seen[0].to, seen[0].cause, seen[0].open_for),
        (
            BreakerState::Closed,
            BreakerState::Open,
            Cause::Shared,
            Some(6 * SEC)
        )
    );
    // Other partitions are not touched.
    assert_eq!(status(&mut b, "http://b.test/ok").await, 200);
}

/// Pins issue 19 item 3: half-open probing bounded per process only, so a
/// fleet of N sent N times the probes at a recovering API; and a dropped
/// probe must give its fleet slot back.
#[tokio::test(start_paused = true)]
async fn half_open_probes_are_bounded_across_processes_and_freed_when_dropped() {
    let store = Arc::new(LocalCircuitStore::new());
    let (mut a, a_api) = process(policy(store.clone()));
    let (mut b, b_api) = process(policy(store.clone()));
    // C makes no call while the circuit is open: it never adopts it.
    let (mut c, c_api) = process(policy(store.clone()));
    trip(&mut a).await;
    assert!(send(&mut b, "http://a.test/ok").await.is_err());
    tokio::time::advance(10 * SEC).await;

    // A's probe hangs and holds the fleet's only slot.
    let mut probe = start(&mut a, get("http://a.test/hang")).await;
    assert!(poll_once(&mut probe).is_pending());
    for process in [&mut b, &mut c] {
        let open = refusal(process, "http://a.test/ok").await;
        assert_eq!(open.retry_after(), None, "a probe is in flight");
    }
    assert_eq!(state(&c), BreakerState::HalfOpen, "C follows the fleet");
    assert_eq!((b_api.request_count(), c_api.request_count()), (0, 0));

    // Dropped, the probe frees the slot: C probes, succeeds and closes the
    // fleet's circuit; A and B follow at their next calls.
    drop(probe);
    assert_eq!(status(&mut c, "http://a.test/ok").await, 200);
    assert_eq!(state(&c), BreakerState::Closed);
    assert_eq!(status(&mut b, "http://a.test/ok").await, 200);
    assert_eq!(status(&mut a, "http://a.test/ok").await, 200);
    assert_eq!(status(&mut b, "http://a.test/ok").await, 200);
    assert_eq!(
        (state(&a), state(&b)),
        (BreakerState::Closed, BreakerState::Closed)
    );
    assert_eq!(a_api.request_count(), 2 + 1 + 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_opens_the_fleet_circuit_again() {
    let store = Arc::new(LocalCircuitStore::new());
    let (mut a, _) = process(policy(store.clone()));
    let (mut b, b_api) = process(policy(store.clone()));
    trip(&mut a).await;
    tokio::time::advance(10 * SEC).await;
    assert_eq!(status(&mut b, "http://a.test/fail").await, 500);
    assert_eq!(state(&b), BreakerState::Open, "B's probe failed");
    let open = refusal(&mut a, "http://a.test/ok").await;
    assert_eq!(open.retry_after(), Some(10 * SEC));
    assert_eq!(b_api.request_count(), 1);
}

/// Pins: shadow mode would have refused the fleet's calls through the
/// store, which is not what a shadow breaker is for.
#[tokio::test(start_paused = true)]
async fn a_shadow_breaker_does_not_open_the_fleet_circuit() {
    let store = Arc::new(LocalCircuitStore::new());
    let (mut a, _) = process(policy(store.clone()));
    let (mut b, _) = process(policy(store.clone()));
    a.handle().set_mode(Mode::MetricsOnly);
    trip(&mut a).await;
    assert_eq!(status(&mut b, "http://a.test/ok").await, 200);
}

/// Answers nothing, ever.
#[derive(Debug)]
struct Stuck;

impl CircuitStore for Stuck {
    fn admit(&self, _: &PartitionKey, _: ProbeToken, _: u32) -> Admit {
        Admit::Pending(Box::pin(std::future::pending()))
    }
    fn release_probe(&self, _: &PartitionKey, _: ProbeToken) {}
    fn publish_open(&self, _: &PartitionKey, _: Duration) -> Result<(), BoxError> {
        Ok(())
    }
    fn publish_closed(&self, _: &PartitionKey) -> Result<(), BoxError> {
        Ok(())
    }
}

fn notes(record: &CallRecord) -> Vec<String> {
    record
        .entries()
        .iter()
        .map(|e| e.as_event().to_string())
        .collect()
}

/// Pins issue 19 item 4: a store that does not answer must cost a call at
/// most the budget (or what is left of its deadline), then the local
/// circuit decides; it must never hold or refuse the call.
#[tokio::test(start_paused = true)]
async fn a_store_that_never_answers_costs_at_most_the_budget() {
    let (mut b, api) = process(policy(Arc::new(Stuck)));
    let record = CallRecord::new();
    let mut request = get("http://a.test/ok");
    request.extensions_mut().insert(record.clone());
    let started = Instant::now();
    let response = start(&mut b, request).await.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(started.elapsed(), 20 * MS, "the default budget");
    assert_eq!(
        notes(&record),
        [
            "circuit store too slow; local circuit decided",
            "circuit closed, admitted"
        ]
    );

    let mut request = get("http://a.test/ok");
    Deadline::after(5 * MS).apply(&mut request);
    let started = Instant::now();
    start(&mut b, request).await.await.unwrap();
    assert_eq!(started.elapsed(), 5 * MS, "the deadline is nearer");

    // The local circuit still works, and once open refuses without asking.
    trip(&mut b).await;
    let started = Instant::now();
    assert!(send(&mut b, "http://a.test/ok").await.is_err());
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(api.request_count(), 4);
}

/// Answers what `store` decided at once, `delay` later: a remote store
/// whose script ran but whose reply is still on the wire.
#[derive(Debug)]
struct Late {
    store: Arc<LocalCircuitStore>,
    delay: Duration,
    released: AtomicUsize,
}

impl CircuitStore for Late {
    fn admit(&self, key: &PartitionKey, probe: ProbeToken, max: u32) -> Admit {
        let answer = self.store.admit(key, probe, max).now().unwrap();
        let delay = self.delay;
        Admit::Pending(Box::pin(async move {
            tokio::time::sleep(delay).await;
            answer
        }))
    }
    fn release_probe(&self, key: &PartitionKey, probe: ProbeToken) {
        self.released.fetch_add(1, Ordering::Relaxed);
        self.store.release_probe(key, probe)
    }
    fn publish_open(&self, key: &PartitionKey, open_for: Duration) -> Result<(), BoxError> {
        self.store.publish_open(key, open_for)
    }
    fn publish_closed(&self, key: &PartitionKey) -> Result<(), BoxError> {
        self.store.publish_closed(key)
    }
}

/// Pins the cancellation safety of a round trip: a call dropped while the
/// store answers (or whose answer comes too late) may hold a fleet probe
/// slot without knowing it; the slot must go back, or probing stalls for
/// the whole fleet.
#[tokio::test(start_paused = true)]
async fn a_slot_taken_by_an_unread_answer_goes_back() {
    let store = Arc::new(LocalCircuitStore::new());
    for (delay, drop_it) in [(5 * MS, true), (50 * MS, false)] {
        let late = Arc::new(Late {
            store: store.clone(),
            delay,
            released: AtomicUsize::new(0),
        });
        let (mut a, a_api) = process(policy(late.clone()));
        let (mut b, _) = process(policy(store.clone()));
        trip(&mut b).await;
        tokio::time::advance(10 * SEC).await;

        let mut call = start(&mut a, get("http://a.test/ok")).await;
        assert!(poll_once(&mut call).is_pending(), "the store is answering");
        if drop_it {
            drop(call);
            assert_eq!(a_api.request_count(), 0);
        } else {
            // Too late: A's call goes on A's own (closed) circuit.
            assert_eq!(call.await.unwrap().status(), 200);
        }
        assert_eq!(late.released.load(Ordering::Relaxed), 1);
        assert_eq!(status(&mut b, "http://a.test/ok").await, 200, "B probes");
        assert_eq!(state(&b), BreakerState::Closed);
    }
}

/// A dropped call settled by the store holds nothing in it afterwards.
#[tokio::test(start_paused = true)]
async fn a_dropped_probe_gives_its_fleet_slot_back_through_a_slow_store() {
    let store = Arc::new(LocalCircuitStore::new());
    let late = Arc::new(Late {
        store: store.clone(),
        delay: 5 * MS,
        released: AtomicUsize::new(0),
    });
    let (mut a, _) = process(policy(late.clone()));
    let (mut b, _) = process(policy(store.clone()));
    trip(&mut b).await;
    tokio::time::advance(10 * SEC).await;
    let mut probe = start(&mut a, get("http://a.test/hang")).await;
    tokio::select! {
        _ = &mut probe => panic!("the probe hangs"),
        () = tokio::time::sleep(SEC) => {}
    }
    assert_eq!(state(&a), BreakerState::HalfOpen, "A probes");
    assert!(matches!(poll_once(&mut probe), Poll::Pending));
    assert!(send(&mut b, "http://a.test/ok").await.is_err());
    drop(probe);
    assert_eq!(status(&mut b, "http://a.test/ok").await, 200);
    let answer = store
        .admit(
            &PartitionKey::authority("a.test".parse().unwrap()),
            ProbeToken::new(0),
            1,
        )
        .now()
        .unwrap()
        .unwrap();
    assert_eq!(answer, FleetState::Closed);
}

/// Always answers `answer`.
#[derive(Debug)]
struct Fixed(FleetState);

impl CircuitStore for Fixed {
    fn admit(&self, _: &PartitionKey, _: ProbeToken, _: u32) -> Admit {
        Admit::Ready(Ok(self.0))
    }
    fn release_probe(&self, _: &PartitionKey, _: ProbeToken) {}
    fn publish_open(&self, _: &PartitionKey, _: Duration) -> Result<(), BoxError> {
        Ok(())
    }
    fn publish_closed(&self, _: &PartitionKey) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Pins: a store answering "open for no more time" (a remote TTL at its
/// boundary) let a call probe without a fleet slot. It is half-open with
/// no slot given: refused, and the next call asks again.
#[tokio::test(start_paused = true)]
async fn open_for_no_more_time_is_half_open_without_a_slot() {
    let store = Fixed(FleetState::Open {
        remaining: Duration::ZERO,
    });
    let (mut b, api) = process(policy(Arc::new(store)));
    let open = refusal(&mut b, "http://a.test/ok").await;
    assert_eq!(open.retry_after(), None);
    assert_eq!(state(&b), BreakerState::HalfOpen);
    assert_eq!(api.request_count(), 0);
}

/// A service that fails `/fail` at once and holds every other call at
/// `gate`, counting the calls that reached it.
fn gated(
    gate: Arc<tokio::sync::Semaphore>,
    called: Arc<AtomicUsize>,
) -> impl Service<
    Request<Body>,
    Response = Response<Body>,
    Error = std::io::Error,
    Future = impl Future + Send,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |req: Request<Body>| {
        let (gate, called) = (gate.clone(), called.clone());
        async move {
            let mut response = Response::new(Body::empty());
            if req.uri().path() == "/fail" {
                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                return Ok::<_, std::io::Error>(response);
            }
            called.fetch_add(1, Ordering::SeqCst);
            gate.acquire().await.expect("the gate stays open").forget();
            Ok(response)
        }
    })
}

/// Pins issue 19 item 3 under real concurrency: with two processes on one
/// store, probes in flight stay within the fleet's bound (each process's
/// own bound would let twice as many through, and a process that never saw
/// the failure every call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_probes_stay_bounded_under_real_concurrency() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let called = Arc::new(AtomicUsize::new(0));
    let store = Arc::new(LocalCircuitStore::new());
    let policy = BreakerPolicy::builder()
        .consecutive_failures(1)
        .half_open_probes(7)
        // Open for a nanosecond: the next calls find it half-open, with no
        // sleep in a test on real time.
        .open_duration(OpenDuration::fixed(Duration::from_nanos(1)))
        .store(store)
        .build()
        .unwrap();
    let a = CircuitBreaker::new(gated(gate.clone(), called.clone()), policy.clone());
    let b = CircuitBreaker::new(gated(gate.clone(), called.clone()), policy);
    let status = a.clone().oneshot(get("http://a.test/fail")).await.unwrap();
    assert_eq!(status.status(), 500);

    let tasks: Vec<_> = (0..1_000)
        .map(|i| {
            let (a, b) = (a.clone(), b.clone());
            tokio::spawn(async move {
                if i % 2 == 0 {
                    a.oneshot(get("http://a.test/ok")).await
                } else {
                    b.oneshot(get("http://a.test/ok")).await
                }
            })
        })
        .collect();
    // Every call is refused or waits at the gate.
    let refused = |breaker: &CircuitBreaker<_>| {
        breaker
            .handle()
            .metrics_for(&get("http://a.test/"))
            .map_or(0, |m| m.refused as usize)
    };
    while refused(&a) + refused(&b) + called.load(Ordering::SeqCst) < 1_000 {
        tokio::task::yield_now().await;
    }
    let in_flight = called.load(Ordering::SeqCst);
    assert!((1..=7).contains(&in_flight), "{in_flight} probes in flight");
    gate.add_permits(1_000);
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(err) => assert!(err.is::<CircuitOpen>(), "{err}"),
        }
    }
    assert_eq!(ok, in_flight);
}

/// Pins the fleet side of slot accounting: after calls that fail at
/// random and are dropped mid-flight on two processes, no fleet probe
/// slot may still be held, or the fleet's half-open would be stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fleet_probe_slot_leaks_under_concurrent_churn() {
    let inner = tower::service_fn(|req: Request<Body>| async move {
        tokio::task::yield_now().await;
        let mut response = Response::new(Body::empty());
        if req.uri().path() == "/fail" {
            *response.status_mut() = http::StatusCode::BAD_GATEWAY;
        }
        Ok::<_, std::io::Error>(response)
    });
    let store = Arc::new(LocalCircuitStore::new());
    let policy = BreakerPolicy::builder()
        .consecutive_failures(2)
        .half_open_probes(3)
        .open_duration(OpenDuration::fixed(Duration::from_nanos(1)))
        .store(store.clone())
        .build()
        .unwrap();
    let processes = [
        CircuitBreaker::new(inner, policy.clone()),
        CircuitBreaker::new(inner, policy),
    ];
    let tasks: Vec<_> = (0..8u64)
        .map(|task| {
            let svc = processes[task as usize % 2].clone();
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(task);
                for _ in 0..2_000 {
                    let path = if rng.bool() { "/fail" } else { "/ok" };
                    let host = if rng.u8(..4) == 0 { "b.test" } else { "a.test" };
                    let call = svc.clone().oneshot(get(&format!("http://{host}{path}")));
                    if rng.u8(..10) == 0 {
                        // Dropped before it finishes.
                        let mut call = Box::pin(call);
                        let _ = poll_once(&mut call);
                    } else {
                        let _ = call.await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for process in &processes {
        for (key, metrics) in process.handle().partitions() {
            assert_eq!(metrics.probes_in_flight, 0, "{key}: {metrics:?}");
        }
    }
    // Every slot is free: three new tokens all get one (or the fleet's
    // circuit is closed).
    for host in ["a.test", "b.test"] {
        let key = PartitionKey::authority(host.parse().unwrap());
        for token in 0..3 {
            let answer = store.admit(&key, ProbeToken::new(u64::MAX - token), 3);
            let answer = answer.now().unwrap().unwrap();
            assert!(
                matches!(
                    answer,
                    FleetState::Closed | FleetState::HalfOpen { probe: true }
                ),
                "{host}: {answer:?}"
            );
        }
    }
}

/// Pins: the wait for the store counted in the call's time, so a store
/// near its budget made fast calls slow and opened circuits on the
/// slow-call rule.
#[tokio::test(start_paused = true)]
async fn the_wait_for_the_store_does_not_make_a_call_slow() {
    let policy = policy(Arc::new(Stuck))
        .slow_calls(15 * MS, 1.0)
        .minimum_calls(1)
        .consecutive_failures(None);
    let (mut b, _) = process(policy);
    let started = Instant::now();
    assert_eq!(status(&mut b, "http://a.test/ok").await, 200);
    assert_eq!(started.elapsed(), 20 * MS);
    assert_eq!(state(&b), BreakerState::Closed);
}
