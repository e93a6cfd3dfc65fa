//! Concurrency stress: the half-open probe slots on a multi-thread
//! runtime, with many tasks yielding at random points and dropped at
//! random mid-flight. The circuit trips on every failure and opens for a
//! nanosecond, so it goes through open and half-open all the time.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use girder_breaker::{
    BreakerEvent, BreakerHandle, BreakerPolicy, BreakerState, CircuitBreakerLayer, OpenDuration,
};
use girder_core::{Body, BoxError, CallRecord};
use http::{Request, Response, StatusCode};
use tower::{Layer, ServiceExt};

const TASKS: usize = 2_000;
const PROBES: u32 = 3;

async fn random_yields(rng: &mut fastrand::Rng) {
    for _ in 0..rng.usize(..4) {
        tokio::task::yield_now().await;
    }
}

/// Runs `future` to the end, or (one time in three) polls it a few times
/// and drops it mid-flight.
async fn maybe_dropped<F: Future>(future: F, rng: &mut fastrand::Rng) -> Option<F::Output> {
    if rng.usize(..3) > 0 {
        return Some(future.await);
    }
    let mut future = pin!(future);
    for _ in 0..rng.usize(1..6) {
        let polled = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
        if let Poll::Ready(output) = polled {
            return Some(output);
        }
        tokio::task::yield_now().await;
    }
    None
}

#[derive(Default)]
struct Upstream {
    failing: AtomicBool,
    probes_seen: AtomicUsize,
    /// Probes whose caller was dropped while the upstream had them: each
    /// gives its slot back, so another probe may go in its place.
    probes_dropped: AtomicUsize,
    most_held: AtomicUsize,
}

/// Counts a probe as dropped unless disarmed.
struct DropWatch(Option<Arc<Upstream>>);

impl Drop for DropWatch {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            state.probes_dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn upstream(
    state: Arc<Upstream>,
    handle: BreakerHandle,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future: Send>
+ Clone
+ Send {
    tower::service_fn(move |request: Request<Body>| {
        let (state, handle) = (state.clone(), handle.clone());
        async move {
            let probe = request.extensions().get::<CallRecord>().is_some_and(|r| {
                r.any(|e| {
                    e.event::<BreakerEvent>()
                        == Some(&BreakerEvent::new(BreakerState::HalfOpen, true))
                })
            });
            if probe {
                state.probes_seen.fetch_add(1, Ordering::SeqCst);
            }
            let mut watch = DropWatch(probe.then(|| state.clone()));
            // The breaker's own count of probes, read while calls run.
            if let Some(metrics) = handle.metrics_for(&request) {
                state
                    .most_held
                    .fetch_max(metrics.probes_in_flight as usize, Ordering::SeqCst);
            }
            let mut rng = fastrand::Rng::new();
            random_yields(&mut rng).await;
            let fail = state.failing.load(Ordering::SeqCst) && rng.usize(..10) < 3;
            let status = if fail {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            watch.0 = None;
            Ok::<_, BoxError>(response)
        }
    })
}

fn request() -> Request<Body> {
    let mut request = Request::get("http://api.test/items")
        .body(Body::empty())
        .unwrap();
    request.extensions_mut().insert(CallRecord::new());
    request
}

#[test]
fn never_more_probes_than_slots_and_none_stranded() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let half_opened = Arc::new(AtomicUsize::new(0));
        let counter = half_opened.clone();
        let layer = CircuitBreakerLayer::new(
            BreakerPolicy::builder()
                .consecutive_failures(1)
                .open_duration(OpenDuration::fixed(Duration::from_nanos(1)))
                .half_open_probes(PROBES)
                .on_state_change(move |change: &girder_breaker::StateChange| {
                    if change.to == BreakerState::HalfOpen {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .build()
                .unwrap(),
        );
        let handle = layer.handle();
        let state = Arc::new(Upstream::default());
        state.failing.store(true, Ordering::SeqCst);
        let service = layer.layer(upstream(state.clone(), handle.clone()));
        let mut tasks = tokio::task::JoinSet::new();
        for seed in 0..TASKS as u64 {
            let service = service.clone();
            tasks.spawn(async move {
                let mut rng = fastrand::Rng::with_seed(seed);
                random_yields(&mut rng).await;
                let _ = maybe_dropped(service.oneshot(request()), &mut rng).await;
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        let half_opened = half_opened.load(Ordering::SeqCst);
        let probes = state.probes_seen.load(Ordering::SeqCst);
        assert!(
            half_opened > 2,
            "the circuit half-opened {half_opened} times only"
        );
        assert!(probes > 0);
        let dropped = state.probes_dropped.load(Ordering::SeqCst);
        assert!(
            probes <= half_opened * PROBES as usize + dropped,
            "{probes} probes over {half_opened} half-open periods of {PROBES} slots, \
             {dropped} dropped"
        );
        assert!(state.most_held.load(Ordering::SeqCst) <= PROBES as usize);
        let metrics = handle.metrics_for(&request()).unwrap();
        assert_eq!(
            metrics.probes_in_flight, 0,
            "probe slots stranded: {metrics:?}"
        );

        // Nothing stranded: with the upstream well, later calls close it.
        state.failing.store(false, Ordering::SeqCst);
        for _ in 0..PROBES + 1 {
            let _ = service.clone().oneshot(request()).await;
        }
        let metrics = handle.metrics_for(&request()).unwrap();
        assert_eq!(metrics.state, BreakerState::Closed, "{metrics:?}");
        service.clone().oneshot(request()).await.unwrap();
    });
}
