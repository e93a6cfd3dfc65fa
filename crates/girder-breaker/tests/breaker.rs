//! Behaviour of the circuit breaker over an in-memory API on paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use girder_breaker::{
    BreakerHandle, BreakerPolicy, BreakerPolicyBuilder, BreakerState, Cause, CircuitBreaker,
    CircuitBreakerLayer, CircuitOpen, Mode, OpenDuration, StateChange, Window,
};
use girder_core::{Body, BoxError, CallRecord, PartitionKey, RateLimited};
use girder_test::{MockService, Reply, poll_once};
use http::{Request, Response};
use tower::{Service, ServiceExt};

const SEC: Duration = Duration::from_secs(1);

/// `/ok` 200, `/fail` 500, `/slow` 200 after 2 s, `/hang` 200 after an
/// hour, `/busy` 429 with `Retry-After: 2`, `/gone` 404, anything else 200.
fn api() -> MockService {
    let api = MockService::new(Reply::ok());
    api.route("/fail", Reply::status(500))
        .route("/slow", Reply::ok().delay(2 * SEC))
        .route("/hang", Reply::ok().delay(3600 * SEC))
        .route("/busy", Reply::status(429).header("retry-after", "2"))
        .route(
            "/unavailable",
            Reply::status(503).header("retry-after", "4"),
        )
        .route("/gone", Reply::status(404));
    api
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

type Breaker = CircuitBreaker<MockService>;

fn breaker(policy: BreakerPolicyBuilder) -> (Breaker, BreakerHandle, MockService) {
    let api = api();
    let service = CircuitBreaker::new(api.clone(), policy.seed(7).build().unwrap());
    let handle = service.handle();
    (service, handle, api)
}

/// A policy that trips on rates only, with a fixed 10 s open period.
fn rates_only(window: Window) -> BreakerPolicyBuilder {
    BreakerPolicy::builder()
        .window(window)
        .minimum_calls(4)
        .failure_rate(0.5)
        .consecutive_failures(None)
        .open_duration(OpenDuration::fixed(10 * SEC))
        .half_open_probes(2)
}

async fn send(service: &mut Breaker, uri: &str) -> Result<Response<Body>, BoxError> {
    ServiceExt::<Request<Body>>::ready(service)
        .await?
        .call(get(uri))
        .await
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

fn state(handle: &BreakerHandle, host: &str) -> BreakerState {
    handle
        .metrics(&PartitionKey::authority(host.parse().unwrap()))
        .unwrap()
        .state
}

fn collect_changes() -> (
    Arc<Mutex<Vec<StateChange>>>,
    impl Fn(&StateChange) + Send + Sync,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    (seen, move |change: &StateChange| {
        log.lock().unwrap().push(change.clone())
    })
}

async fn failure_rate_trips(window: Window) {
    let (mut svc, handle, api) = breaker(rates_only(window));
    // 1 failure in 3 calls: under the minimum of 4, then 2 in 4 = 50 %.
    assert_eq!(status(&mut svc, "http://a.test/fail").await, 500);
    assert_eq!(status(&mut svc, "http://a.test/ok").await, 200);
    assert_eq!(status(&mut svc, "http://a.test/ok").await, 200);
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
    let metrics = handle
        .metrics(&PartitionKey::authority("a.test".parse().unwrap()))
        .unwrap();
    assert_eq!((metrics.calls, metrics.failures), (3, 1));
    assert_eq!(status(&mut svc, "http://a.test/fail").await, 500);
    assert_eq!(state(&handle, "a.test"), BreakerState::Open);

    let open = refusal(&mut svc, "http://a.test/ok").await;
    assert_eq!(open.retry_after(), Some(10 * SEC));
    assert_eq!(open.partition().to_string(), "a.test");
    tokio::time::advance(4 * SEC).await;
    assert_eq!(
        refusal(&mut svc, "http://a.test/ok").await.retry_after(),
        Some(6 * SEC)
    );
    assert_eq!(api.request_count(), 4, "refused calls never reach the API");

    // Open period over: a failed probe opens it again.
    tokio::time::advance(6 * SEC).await;
    assert_eq!(status(&mut svc, "http://a.test/fail").await, 500);
    assert_eq!(state(&handle, "a.test"), BreakerState::Open);
    assert_eq!(
        refusal(&mut svc, "http://a.test/ok").await.retry_after(),
        Some(10 * SEC)
    );

    // Over again: two probes close it.
    tokio::time::advance(10 * SEC).await;
    assert_eq!(status(&mut svc, "http://a.test/ok").await, 200);
    assert_eq!(state(&handle, "a.test"), BreakerState::HalfOpen);
    assert_eq!(status(&mut svc, "http://a.test/ok").await, 200);
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
    let metrics = handle
        .metrics(&PartitionKey::authority("a.test".parse().unwrap()))
        .unwrap();
    assert_eq!((metrics.calls, metrics.trips, metrics.refused), (0, 0, 3));
    assert_eq!(api.request_count(), 7);
}

#[tokio::test(start_paused = true)]
async fn failure_rate_trips_a_count_window() {
    failure_rate_trips(Window::count(10)).await;
}

#[tokio::test(start_paused = true)]
async fn failure_rate_trips_a_time_window() {
    failure_rate_trips(Window::time(10)).await;
}

#[tokio::test(start_paused = true)]
async fn a_count_window_forgets_calls_beyond_its_size() {
    let (mut svc, handle, _) = breaker(rates_only(Window::count(4)).failure_rate(0.75));
    for path in ["/fail", "/fail", "/ok", "/ok", "/fail"] {
        ServiceExt::<Request<Body>>::ready(&mut svc).await.unwrap();
        let _ = send(&mut svc, &format!("http://a.test{path}")).await;
    }
    // Window: fail ok ok fail = 50 %, under 75 %; the first failure is out.
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
    status(&mut svc, "http://a.test/fail").await;
    // ok ok fail fail = 50 %; then ok fail fail fail = 75 %.
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
    status(&mut svc, "http://a.test/fail").await;
    assert_eq!(state(&handle, "a.test"), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_time_window_forgets_old_seconds() {
    let (mut svc, handle, _) = breaker(rates_only(Window::time(10)));
    status(&mut svc, "http://a.test/fail").await;
    status(&mut svc, "http://a.test/fail").await;
    status(&mut svc, "http://a.test/fail").await;
    tokio::time::advance(11 * SEC).await;
    // Three failures eleven seconds ago are out of a ten-second window.
    status(&mut svc, "http://a.test/fail").await;
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
    let metrics = handle
        .metrics(&PartitionKey::authority("a.test".parse().unwrap()))
        .unwrap();
    assert_eq!((metrics.calls, metrics.failures), (1, 1));
    for _ in 0..3 {
        status(&mut svc, "http://a.test/fail").await;
    }
    assert_eq!(state(&handle, "a.test"), BreakerState::Open);
}

async fn slow_calls_trip(window: Window) {
    let policy = rates_only(window).slow_calls(SEC, 0.5);
    let (mut svc, handle, _) = breaker(policy);
    status(&mut svc, "http://a.test/slow").await;
    status(&mut svc, "http://a.test/ok").await;
    status(&mut svc, "http://a.test/ok").await;
    let metrics = handle
        .metrics(&PartitionKey::authority("a.test".parse().unwrap()))
        .unwrap();
    assert_eq!(
        (metrics.calls, metrics.slow_calls, metrics.failures),
        (3, 1, 0)
    );
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
    status(&mut svc, "http://a.test/slow").await;
    assert_eq!(state(&handle, "a.test"), BreakerState::Open);

    // A slow probe fails like a failed one.
    tokio::time::advance(10 * SEC).await;
    assert_eq!(status(&mut svc, "http://a.test/slow").await, 200);
    assert_eq!(state(&handle, "a.test"), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn slow_call_rate_trips_a_count_window() {
    slow_calls_trip(Window::count(10)).await;
}

#[tokio::test(start_paused = true)]
async fn slow_call_rate_trips_a_time_window() {
    slow_calls_trip(Window::time(10)).await;
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_trip_below_the_minimum_calls() {
    let (seen, hook) = collect_changes();
    let policy = BreakerPolicy::builder()
        .on_state_change(hook)
        .open_duration(OpenDuration::fixed(60 * SEC));
    let (mut svc, handle, _) = breaker(policy);
    for _ in 0..4 {
        status(&mut svc, "http://a.test/fail").await;
    }
    status(&mut svc, "http://a.test/ok").await;
    // A success restarts the count.
    for _ in 0..4 {
        status(&mut svc, "http://a.test/fail").await;
    }
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
    status(&mut svc, "http://a.test/fail").await;
    assert_eq!(state(&handle, "a.test"), BreakerState::Open);
    let changes = seen.lock().unwrap().clone();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].cause, Cause::ConsecutiveFailures(5));
    assert_eq!(changes[0].open_for, Some(60 * SEC));
    assert_eq!(
        changes[0].to_string(),
        "circuit a.test closed -> open: 5 failures in a row; open for 60000ms"
    );
}

#[tokio::test(start_paused = true)]
async fn failed_probes_reopen_for_longer_and_a_close_starts_over() {
    let (seen, hook) = collect_changes();
    let policy = BreakerPolicy::builder()
        .consecutive_failures(1)
        .half_open_probes(1)
        .open_duration(OpenDuration::exponential(10 * SEC, 35 * SEC))
        .on_state_change(hook);
    let (mut svc, handle, _) = breaker(policy);
    status(&mut svc, "http://a.test/fail").await;
    let mut waits = Vec::new();
    for _ in 0..4 {
        let wait = refusal(&mut svc, "http://a.test/ok")
            .await
            .retry_after()
            .unwrap();
        waits.push(wait);
        tokio::time::advance(wait).await;
        // The probe fails: open again, for longer.
        assert_eq!(status(&mut svc, "http://a.test/fail").await, 500);
    }
    assert_eq!(waits, [10 * SEC, 20 * SEC, 35 * SEC, 35 * SEC]);
    let wait = refusal(&mut svc, "http://a.test/ok")
        .await
        .retry_after()
        .unwrap();
    tokio::time::advance(wait).await;
    status(&mut svc, "http://a.test/ok").await;
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
    // Closed again: the next trip is back to the base.
    status(&mut svc, "http://a.test/fail").await;
    assert_eq!(
        refusal(&mut svc, "http://a.test/ok").await.retry_after(),
        Some(10 * SEC)
    );

    let causes: Vec<Cause> = seen.lock().unwrap().iter().map(|c| c.cause).collect();
    use Cause::*;
    assert_eq!(
        causes,
        [
            ConsecutiveFailures(1),
            OpenElapsed,
            ProbeFailed,
            OpenElapsed,
            ProbeFailed,
            OpenElapsed,
            ProbeFailed,
            OpenElapsed,
            ProbeFailed,
            OpenElapsed,
            ProbesSucceeded,
            ConsecutiveFailures(1),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn open_duration_jitter_spreads_trips() {
    let mut waits = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let policy = BreakerPolicy::builder()
            .consecutive_failures(1)
            .open_duration(OpenDuration::fixed(100 * SEC).jitter(0.1))
            .seed(seed)
            .build()
            .unwrap();
        let mut svc = CircuitBreaker::new(api(), policy);
        status(&mut svc, "http://a.test/fail").await;
        let wait = refusal(&mut svc, "http://a.test/ok")
            .await
            .retry_after()
            .unwrap();
        assert!(wait >= 90 * SEC && wait <= 110 * SEC, "{wait:?}");
        waits.insert(wait);
    }
    assert!(
        waits.len() >= 15,
        "jitter spreads the open periods: {waits:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_the_probes_and_dropped_probes_free_their_slots() {
    let policy = BreakerPolicy::builder()
        .consecutive_failures(1)
        .half_open_probes(5)
        .open_duration(OpenDuration::fixed(SEC));
    let (mut svc, handle, api) = breaker(policy);
    status(&mut svc, "http://a.test/fail").await;
    tokio::time::advance(SEC).await;

    let mut pending = Vec::new();
    let mut refused = 0;
    for _ in 0..1_000 {
        let mut future = ServiceExt::<Request<Body>>::ready(&mut svc)
            .await
            .unwrap()
            .call(get("http://a.test/hang"));
        match poll_once(&mut future) {
            std::task::Poll::Pending => pending.push(future),
            std::task::Poll::Ready(Err(err)) => {
                let open = err.downcast_ref::<CircuitOpen>().unwrap();
                assert_eq!(
                    open.retry_after(),
                    None,
                    "probes in flight: no time to give"
                );
                refused += 1;
            }
            std::task::Poll::Ready(Ok(_)) => panic!("a hung probe answered"),
        }
    }
    assert_eq!((pending.len(), refused), (5, 995));
    let metrics = handle.metrics_for(&get("http://a.test/")).unwrap();
    assert_eq!(
        (metrics.state, metrics.probes_in_flight),
        (BreakerState::HalfOpen, 5)
    );
    tokio::task::yield_now().await;
    assert_eq!(api.request_count(), 1 + 5);

    // Dropping the probes frees every slot; five new probes close it.
    drop(pending);
    let metrics = handle.metrics_for(&get("http://a.test/")).unwrap();
    assert_eq!(metrics.probes_in_flight, 0);
    for _ in 0..5 {
        assert_eq!(status(&mut svc, "http://a.test/ok").await, 200);
    }
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_admits_exactly_the_probes_under_real_concurrency() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let called = Arc::new(AtomicUsize::new(0));
    let inner = {
        let (gate, called) = (gate.clone(), called.clone());
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
    };
    let policy = BreakerPolicy::builder()
        .consecutive_failures(1)
        .half_open_probes(7)
        // Open for a nanosecond: the next call finds it half-open, with no
        // sleep in a test on real time.
        .open_duration(OpenDuration::fixed(Duration::from_nanos(1)))
        .build()
        .unwrap();
    let layer = CircuitBreakerLayer::new(policy);
    let handle = layer.handle();
    let svc = tower::ServiceBuilder::new().layer(layer).service(inner);
    let status = svc
        .clone()
        .oneshot(get("http://a.test/fail"))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 500);

    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move { svc.oneshot(get("http://a.test/ok")).await })
        })
        .collect();
    // Every refusal finishes on its own; the admitted calls wait at the gate.
    let mut refused = 0;
    while refused < 993 {
        refused = handle.metrics_for(&get("http://a.test/")).unwrap().refused as usize;
        tokio::task::yield_now().await;
    }
    gate.add_permits(1_000);
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(err) => assert!(err.is::<CircuitOpen>(), "{err}"),
        }
    }
    assert_eq!((ok, called.load(Ordering::SeqCst)), (7, 7));
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn partitions_are_isolated() {
    let (mut svc, handle, _) = breaker(BreakerPolicy::builder().consecutive_failures(2));
    status(&mut svc, "http://down.test/fail").await;
    status(&mut svc, "http://down.test/fail").await;
    assert_eq!(state(&handle, "down.test"), BreakerState::Open);
    assert_eq!(status(&mut svc, "http://up.test/ok").await, 200);
    assert_eq!(status(&mut svc, "http://down.test:8080/ok").await, 200);
    assert_eq!(state(&handle, "up.test"), BreakerState::Closed);
    refusal(&mut svc, "http://down.test/ok").await;
    assert_eq!(handle.partitions().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn by_route_partitions_isolate_routes_of_one_host() {
    let policy = BreakerPolicy::builder()
        .consecutive_failures(1)
        .partition(girder_core::Partition::by_route());
    let (mut svc, _, _) = breaker(policy);
    status(&mut svc, "http://a.test/fail").await;
    let open = refusal(&mut svc, "http://a.test/fail").await;
    assert_eq!(open.partition().to_string(), "a.test GET /fail");
    assert_eq!(status(&mut svc, "http://a.test/ok").await, 200);
}

#[tokio::test(start_paused = true)]
async fn the_partition_map_stays_bounded_and_keeps_open_circuits_longest() {
    let policy = BreakerPolicy::builder()
        .consecutive_failures(1)
        .max_partitions(64)
        .evict_idle_after(60 * SEC)
        .open_duration(OpenDuration::fixed(3600 * SEC));
    let (mut svc, handle, _) = breaker(policy);
    status(&mut svc, "http://down.test/fail").await;
    for i in 0..10_000 {
        status(&mut svc, &format!("http://host{i}.test/ok")).await;
        assert!(handle.partitions().len() <= 64);
    }
    // The open circuit, though least recently used, is kept: it protects.
    assert_eq!(state(&handle, "down.test"), BreakerState::Open);
    refusal(&mut svc, "http://down.test/ok").await;

    // Idle circuits go first: after a minute of silence, new keys replace
    // the idle ones and the open circuit (still refusing) stays.
    tokio::time::advance(61 * SEC).await;
    for i in 0..10 {
        status(&mut svc, &format!("http://fresh{i}.test/ok")).await;
    }
    let keys: Vec<String> = handle
        .partitions()
        .iter()
        .map(|(k, _)| k.to_string())
        .collect();
    assert_eq!(keys.len(), 11, "{keys:?}");
    assert!(keys.contains(&"down.test".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn retry_after_opens_the_circuit_until_then_instead_of_counting() {
    let (seen, hook) = collect_changes();
    let (mut svc, handle, api) = breaker(BreakerPolicy::builder().on_state_change(hook));
    assert_eq!(status(&mut svc, "http://a.test/busy").await, 429);
    assert_eq!(
        refusal(&mut svc, "http://a.test/ok").await.retry_after(),
        Some(2 * SEC)
    );
    let metrics = handle.metrics_for(&get("http://a.test/")).unwrap();
    assert_eq!(
        (metrics.failures, metrics.trips),
        (0, 0),
        "not counted as a failure"
    );
    tokio::time::advance(2 * SEC).await;
    assert_eq!(status(&mut svc, "http://a.test/ok").await, 200);
    assert_eq!(api.request_count(), 2);
    assert_eq!(seen.lock().unwrap()[0].cause, Cause::RetryAfter(2 * SEC));

    // 503 too; and a later pause extends an open circuit.
    let (mut svc, _, _) = breaker(BreakerPolicy::builder());
    let first = ServiceExt::<Request<Body>>::ready(&mut svc)
        .await
        .unwrap()
        .call(get("http://b.test/unavailable"));
    let second = ServiceExt::<Request<Body>>::ready(&mut svc)
        .await
        .unwrap()
        .call(get("http://b.test/busy"));
    assert_eq!(first.await.unwrap().status(), 503);
    assert_eq!(second.await.unwrap().status(), 429);
    assert_eq!(
        refusal(&mut svc, "http://b.test/ok").await.retry_after(),
        Some(4 * SEC)
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_capped_or_ignored_as_configured() {
    let api = MockService::new(Reply::status(503).header("retry-after", "86400"));
    let policy = BreakerPolicy::builder()
        .retry_after_cap(30 * SEC)
        .build()
        .unwrap();
    let mut svc = CircuitBreaker::new(api.clone(), policy);
    status(&mut svc, "http://a.test/").await;
    assert_eq!(
        refusal(&mut svc, "http://a.test/").await.retry_after(),
        Some(30 * SEC)
    );

    // Ignored: the 503 is an ordinary failure.
    let policy = BreakerPolicy::builder()
        .retry_after_cap(None)
        .consecutive_failures(2)
        .build()
        .unwrap();
    let mut svc = CircuitBreaker::new(api, policy);
    status(&mut svc, "http://a.test/").await;
    let handle = svc.handle();
    let metrics = handle.metrics_for(&get("http://a.test/")).unwrap();
    assert_eq!((metrics.state, metrics.failures), (BreakerState::Closed, 1));
}

#[tokio::test(start_paused = true)]
async fn client_errors_and_garbage_retry_after_are_not_failures() {
    let api = MockService::new(Reply::status(404));
    api.route("/429", Reply::status(429))
        .route("/garbage", Reply::status(429).header("retry-after", "soon"));
    let policy = BreakerPolicy::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    let mut svc = CircuitBreaker::new(api, policy);
    for path in ["/", "/429", "/garbage", "/", "/429"] {
        let code = status(&mut svc, &format!("http://a.test{path}")).await;
        assert!((400..500).contains(&code));
    }
    let metrics = svc.handle().metrics_for(&get("http://a.test/")).unwrap();
    assert_eq!(
        (metrics.state, metrics.calls, metrics.failures),
        (BreakerState::Closed, 5, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn refusals_from_below_count_as_nothing() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let inner = tower::service_fn(move |_: Request<Body>| {
        // Alternately refused by a limiter and failed for want of a token.
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            Err::<Response<Body>, BoxError>(if n.is_multiple_of(2) {
                RateLimited::new(girder_core::RateLimitCause::Quota, Some(SEC)).into()
            } else {
                girder_core::AuthError::new(
                    girder_core::AuthErrorKind::Transport,
                    "token endpoint down",
                )
                .into()
            })
        }
    });
    let policy = BreakerPolicy::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    let mut svc = CircuitBreaker::new(inner, policy);
    for _ in 0..5 {
        let err = ServiceExt::<Request<Body>>::ready(&mut svc)
            .await
            .unwrap()
            .call(get("http://a.test/"))
            .await
            .unwrap_err();
        assert!(err.is::<RateLimited>() || err.is::<girder_core::AuthError>());
    }
    let metrics = svc.handle().metrics_for(&get("http://a.test/")).unwrap();
    assert_eq!((metrics.state, metrics.calls), (BreakerState::Closed, 0));
}

#[tokio::test(start_paused = true)]
async fn transport_errors_are_failures() {
    let api = MockService::new(Reply::close());
    let policy = BreakerPolicy::builder()
        .consecutive_failures(3)
        .build()
        .unwrap();
    let mut svc = CircuitBreaker::new(api, policy);
    for _ in 0..3 {
        assert!(
            ServiceExt::<Request<Body>>::ready(&mut svc)
                .await
                .unwrap()
                .call(get("http://a.test/"))
                .await
                .is_err()
        );
    }
    assert!(refusal_of(&mut svc).await.is_some());
}

async fn refusal_of(svc: &mut CircuitBreaker<MockService>) -> Option<CircuitOpen> {
    let err = ServiceExt::<Request<Body>>::ready(svc)
        .await
        .ok()?
        .call(get("http://a.test/"))
        .await
        .err()?;
    err.downcast_ref::<CircuitOpen>().cloned()
}

#[tokio::test(start_paused = true)]
async fn outcomes_from_before_a_state_change_do_not_count() {
    // A slow failure admitted while closed lands after the circuit tripped,
    // recovered and closed: it must not count against the new circuit.
    let policy = BreakerPolicy::builder()
        .consecutive_failures(1)
        .half_open_probes(1)
        .open_duration(OpenDuration::fixed(SEC));
    let (mut svc, handle, api) = breaker(policy);
    api.route("/slow-fail", Reply::status(500).delay(5 * SEC));
    let late = tokio::spawn({
        let mut svc = svc.clone();
        async move {
            ServiceExt::<Request<Body>>::ready(&mut svc)
                .await
                .unwrap()
                .call(get("http://a.test/slow-fail"))
                .await
        }
    });
    tokio::task::yield_now().await;
    status(&mut svc, "http://a.test/fail").await;
    tokio::time::advance(SEC).await;
    status(&mut svc, "http://a.test/ok").await;
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
    assert_eq!(late.await.unwrap().unwrap().status(), 500);
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn dropped_calls_in_a_closed_circuit_count_as_nothing() {
    let (mut svc, handle, _) = breaker(BreakerPolicy::builder());
    for _ in 0..10 {
        let mut future = ServiceExt::<Request<Body>>::ready(&mut svc)
            .await
            .unwrap()
            .call(get("http://a.test/hang"));
        assert!(poll_once(&mut future).is_pending());
    }
    let metrics = handle.metrics_for(&get("http://a.test/")).unwrap();
    assert_eq!((metrics.state, metrics.calls), (BreakerState::Closed, 0));
}

#[tokio::test(start_paused = true)]
async fn shadow_mode_records_and_reports_but_never_refuses() {
    let (seen, hook) = collect_changes();
    let policy = BreakerPolicy::builder()
        .consecutive_failures(2)
        .on_state_change(hook);
    let (mut svc, handle, api) = breaker(policy);
    handle.set_mode(Mode::MetricsOnly);
    for _ in 0..2 {
        status(&mut svc, "http://a.test/fail").await;
    }
    let mut request = get("http://a.test/ok");
    let record = CallRecord::ensure(&mut request);
    let response = ServiceExt::<Request<Body>>::ready(&mut svc)
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(api.request_count(), 3);
    let metrics = handle.metrics_for(&get("http://a.test/")).unwrap();
    assert_eq!((metrics.state, metrics.refused), (BreakerState::Open, 1));
    assert_eq!(seen.lock().unwrap().len(), 1, "the trip is reported");
    assert!(
        record
            .to_string()
            .contains("breaker: circuit open, admitted"),
        "{record}"
    );

    // Back to automatic, the open circuit refuses.
    handle.set_mode(Mode::Automatic);
    refusal(&mut svc, "http://a.test/ok").await;
}

#[tokio::test(start_paused = true)]
async fn forced_open_refuses_and_disabled_passes_untracked() {
    let (mut svc, handle, api) = breaker(BreakerPolicy::builder().consecutive_failures(1));
    handle.set_mode(Mode::ForcedOpen);
    let open = refusal(&mut svc, "http://a.test/ok").await;
    assert_eq!(open.retry_after(), None);
    assert_eq!(api.request_count(), 0);

    handle.set_mode(Mode::Disabled);
    for _ in 0..3 {
        assert_eq!(status(&mut svc, "http://a.test/fail").await, 500);
    }
    assert!(
        handle.partitions().is_empty(),
        "disabled calls are not tracked"
    );

    handle.set_mode(Mode::Automatic);
    status(&mut svc, "http://a.test/fail").await;
    assert_eq!(state(&handle, "a.test"), BreakerState::Open);
    handle.reset();
    assert_eq!(state(&handle, "a.test"), BreakerState::Closed);
    assert_eq!(status(&mut svc, "http://a.test/ok").await, 200);
}

#[tokio::test(start_paused = true)]
async fn decisions_go_to_the_call_record() {
    let (mut svc, _, _) = breaker(
        BreakerPolicy::builder()
            .consecutive_failures(1)
            .half_open_probes(1)
            .open_duration(OpenDuration::fixed(SEC)),
    );
    let record = CallRecord::new();
    for (advance, path) in [(0, "/fail"), (0, "/ok"), (1, "/ok")] {
        tokio::time::advance(advance * SEC).await;
        let mut request = get(&format!("http://a.test{path}"));
        request.extensions_mut().insert(record.clone());
        let _ = ServiceExt::<Request<Body>>::ready(&mut svc)
            .await
            .unwrap()
            .call(request)
            .await;
    }
    let events: Vec<String> = record
        .entries()
        .iter()
        .map(|e| e.as_event().to_string())
        .collect();
    assert_eq!(
        events,
        [
            "circuit closed, admitted",
            "circuit open, refused",
            "circuit half-open, admitted"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_custom_classifier_decides_what_fails() {
    // Count 404 as a failure (an API that answers 404 when a backend is down).
    let classifier = |outcome: girder_core::Outcome<'_>| match outcome {
        girder_core::Outcome::Response(head) if head.status() == 404 => {
            girder_core::Class::Failure(girder_core::Reason::Status(head.status()))
        }
        other => girder_core::DefaultClassifier.classify(other),
    };
    let policy = BreakerPolicy::builder()
        .consecutive_failures(2)
        .classifier(classifier);
    let (mut svc, handle, _) = breaker(policy);
    status(&mut svc, "http://a.test/gone").await;
    status(&mut svc, "http://a.test/gone").await;
    assert_eq!(state(&handle, "a.test"), BreakerState::Open);
}

use girder_core::Classify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_probe_slot_leaks_under_concurrent_churn() {
    // Calls fail at random and some are dropped mid-flight while circuits
    // flip between states as fast as they can; afterwards no probe slot
    // may still be held, or half-open would be stuck.
    let inner = tower::service_fn(|req: Request<Body>| async move {
        tokio::task::yield_now().await;
        let mut response = Response::new(Body::empty());
        if req.uri().path() == "/fail" {
            *response.status_mut() = http::StatusCode::BAD_GATEWAY;
        }
        Ok::<_, std::io::Error>(response)
    });
    let policy = BreakerPolicy::builder()
        .consecutive_failures(2)
        .half_open_probes(3)
        .open_duration(OpenDuration::fixed(Duration::from_nanos(1)))
        .build()
        .unwrap();
    let layer = CircuitBreakerLayer::new(policy);
    let handle = layer.handle();
    let svc = tower::ServiceBuilder::new().layer(layer).service(inner);
    let tasks: Vec<_> = (0..8u64)
        .map(|task| {
            let svc = svc.clone();
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
    let partitions = handle.partitions();
    assert_eq!(partitions.len(), 2);
    for (key, metrics) in partitions {
        assert_eq!(metrics.probes_in_flight, 0, "{key}: {metrics:?}");
        assert!(metrics.refused > 0, "{key} never refused: {metrics:?}");
    }
}
