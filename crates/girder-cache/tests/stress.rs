//! Concurrency stress: coalesced cache fills on a multi-thread runtime,
//! with many tasks yielding at random points and dropped at random
//! mid-flight (leaders included). Exact counts at the end.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use girder_cache::{CacheConfig, CacheLayer, CacheStatus};
use girder_core::{Body, BoxError};
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};

const KEYS: usize = 8;
const TASKS_PER_KEY: usize = 60;

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

/// The origin: counts, per path, the requests it answered to the end
/// (a request whose caller was dropped mid-way is not counted).
#[derive(Default)]
struct Origin {
    answered: Mutex<HashMap<String, usize>>,
    started: AtomicUsize,
}

fn origin(
    state: Arc<Origin>,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |request: Request<Body>| {
        let state = state.clone();
        async move {
            state.started.fetch_add(1, Ordering::SeqCst);
            let mut rng = fastrand::Rng::new();
            random_yields(&mut rng).await;
            let path = request.uri().path().to_owned();
            *state
                .answered
                .lock()
                .unwrap()
                .entry(path.clone())
                .or_insert(0) += 1;
            let response = Response::builder()
                .header("cache-control", "max-age=3600")
                .body(Body::from(format!("body of {path}")))
                .unwrap();
            Ok::<_, BoxError>(response)
        }
    })
}

fn get(path: &str) -> Request<Body> {
    Request::get(format!("http://api.test{path}"))
        .body(Body::empty())
        .unwrap()
}

async fn call<S>(service: S, path: &str) -> (Option<CacheStatus>, String)
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    let response = service.oneshot(get(path)).await.unwrap();
    let status = response.extensions().get::<CacheStatus>().copied();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// `TASKS_PER_KEY` callers for each of `KEYS` paths under `prefix`, at
/// once; some dropped mid-flight when `drops`.
async fn storm<S>(service: &S, prefix: &str, drops: bool, seed: u64) -> usize
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let completed = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..KEYS * TASKS_PER_KEY {
        let (service, completed) = (service.clone(), completed.clone());
        let path = format!("/{prefix}/{}", n % KEYS);
        tasks.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed + n as u64);
            random_yields(&mut rng).await;
            let outcome = if drops {
                maybe_dropped(call(service, &path), &mut rng).await
            } else {
                Some(call(service, &path).await)
            };
            if let Some((_, body)) = outcome {
                assert_eq!(body, format!("body of {path}"));
                completed.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    // A waiter stranded by its leader would hang here: bounded, so that
    // the test fails instead.
    let joined = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    })
    .await;
    assert!(joined.is_ok(), "callers still waiting after a minute");
    completed.load(Ordering::SeqCst)
}

#[test]
fn one_origin_request_per_fill_and_no_waiter_stranded() {
    runtime().block_on(async {
        let layer = CacheLayer::new(CacheConfig::default());
        let state = Arc::new(Origin::default());
        let service = layer.layer(origin(state.clone()));

        // No drops: every key is filled by exactly one origin request,
        // however many callers asked at once.
        let completed = storm(&service, "calm", false, 0).await;
        assert_eq!(completed, KEYS * TASKS_PER_KEY);
        {
            let answered = state.answered.lock().unwrap();
            for key in 0..KEYS {
                assert_eq!(
                    answered.get(&format!("/calm/{key}")),
                    Some(&1),
                    "{answered:?}"
                );
            }
        }
        assert_eq!(state.started.load(Ordering::SeqCst), KEYS);
        assert_eq!(layer.fills_in_progress(), 0);

        // Drops, leaders included: a dropped leader hands over; every
        // caller not dropped gets the body, and nothing stays in flight.
        let completed = storm(&service, "stormy", true, 1_000).await;
        assert!(completed > KEYS * TASKS_PER_KEY / 2);
        assert_eq!(layer.fills_in_progress(), 0, "a fill is still led");
        for key in 0..KEYS {
            let path = format!("/stormy/{key}");
            // Filled (or, if every caller that got an answer was dropped
            // before storing it, filled now), then a hit.
            call(service.clone(), &path).await;
            let before = state.started.load(Ordering::SeqCst);
            let (status, _) = call(service.clone(), &path).await;
            assert_eq!(status, Some(CacheStatus::Hit), "{path}");
            assert_eq!(state.started.load(Ordering::SeqCst), before);
        }
        assert_eq!(layer.fills_in_progress(), 0);
    });
}
