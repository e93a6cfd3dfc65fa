//! Concurrency stress: the limiter's lines, in-flight slots and permits
//! on a multi-thread runtime, with many tasks yielding at random points
//! and dropped at random mid-flight. Exact counts at the end.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use girder_core::{Body, BoxError};
use girder_ratelimit::{Mode, Quota, RateLimitLayer, RateLimitPolicy};
use http::{Request, Response};
use tower::{Layer, ServiceExt};

const TASKS: usize = 400;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .enable_all()
        .build()
        .unwrap()
}

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

/// The upstream: counts calls and the most in flight at once.
#[derive(Default)]
struct Upstream {
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    most: AtomicUsize,
}

fn upstream(
    state: Arc<Upstream>,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future: Send>
+ Clone
+ Send {
    tower::service_fn(move |_request: Request<Body>| {
        let state = state.clone();
        async move {
            state.calls.fetch_add(1, Ordering::SeqCst);
            let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            state.most.fetch_max(now, Ordering::SeqCst);
            let mut rng = fastrand::Rng::new();
            random_yields(&mut rng).await;
            state.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, BoxError>(Response::new(Body::from("ok")))
        }
    })
}

fn request() -> Request<Body> {
    Request::get("http://api.test/items")
        .body(Body::empty())
        .unwrap()
}

#[test]
fn the_line_and_the_slots_hold_under_contention_and_nothing_is_stranded() {
    runtime().block_on(async {
        let layer = RateLimitLayer::new(
            RateLimitPolicy::builder()
                .quota(Quota::per_second(5_000).burst(1))
                .mode(Mode::Wait)
                .max_wait(Duration::from_secs(30))
                .max_in_flight(4)
                .build()
                .unwrap(),
        );
        let state = Arc::new(Upstream::default());
        let service = layer.layer(upstream(state.clone()));
        let completed = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for seed in 0..TASKS as u64 {
            let (service, completed) = (service.clone(), completed.clone());
            tasks.spawn(async move {
                let mut rng = fastrand::Rng::with_seed(seed);
                random_yields(&mut rng).await;
                let call = async {
                    let response = service.oneshot(request()).await.unwrap();
                    // The slot is held until the body is gone.
                    let mut rng = fastrand::Rng::with_seed(seed + 1);
                    random_yields(&mut rng).await;
                    drop(response);
                };
                if maybe_dropped(call, &mut rng).await.is_some() {
                    completed.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert!(
            state.most.load(Ordering::SeqCst) <= 4,
            "more than 4 in flight"
        );
        assert!(completed.load(Ordering::SeqCst) > TASKS / 2);
        // Every call that completed reached the upstream once; a dropped
        // one at most once.
        let calls = state.calls.load(Ordering::SeqCst);
        assert!(
            calls >= completed.load(Ordering::SeqCst) && calls <= TASKS,
            "{calls}"
        );
        assert_eq!(layer.in_flight(), 0, "slots stranded");
        assert_eq!(layer.waiting(), 0, "waiters stranded");
        assert_eq!(layer.lines_held(), 0, "a line is still held");
        // Nothing stranded: a later call proceeds.
        layer
            .layer(upstream(state.clone()))
            .oneshot(request())
            .await
            .unwrap();
    });
}

#[test]
fn permits_never_exceed_the_quota() {
    runtime().block_on(async {
        // 50 calls a day: the test never sees a permit come back.
        let layer = RateLimitLayer::new(
            RateLimitPolicy::builder()
                .quota(Quota::new(50, Duration::from_secs(86_400)))
                .mode(Mode::Reject)
                .build()
                .unwrap(),
        );
        let state = Arc::new(Upstream::default());
        let service = layer.layer(upstream(state.clone()));
        let (granted, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = tokio::task::JoinSet::new();
        for seed in 0..TASKS as u64 {
            let (service, granted, refused) = (service.clone(), granted.clone(), refused.clone());
            tasks.spawn(async move {
                let mut rng = fastrand::Rng::with_seed(seed);
                random_yields(&mut rng).await;
                let call = service.oneshot(request());
                match maybe_dropped(call, &mut rng).await {
                    Some(Ok(_)) => granted.fetch_add(1, Ordering::SeqCst),
                    Some(Err(e)) => {
                        assert!(
                            e.downcast_ref::<girder_core::RateLimited>().is_some(),
                            "{e}"
                        );
                        refused.fetch_add(1, Ordering::SeqCst)
                    }
                    None => 0,
                };
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        let sent = state.calls.load(Ordering::SeqCst);
        // Every permit used once: none twice, and none lost with a call
        // dropped after its permit and before sending (it gives it back).
        assert_eq!(sent, 50, "calls sent on a quota of 50");
        assert!(granted.load(Ordering::SeqCst) <= sent);
        assert!(refused.load(Ordering::SeqCst) >= TASKS / 2);
        assert_eq!(
            (layer.in_flight(), layer.waiting(), layer.lines_held()),
            (0, 0, 0)
        );
    });
}
