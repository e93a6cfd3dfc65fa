//! Concurrency stress: the token cache's single flight on a multi-thread
//! runtime, with many tasks yielding at random points and dropped at
//! random mid-flight (the caller that started a fetch included). Each
//! round revokes the current token; every call of the round meets a 401
//! and needs the next one: exactly one fetch per round.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use girder_auth::{AuthConfig, AuthLayer, Credential, FnSource};
use girder_core::{Body, BoxError};
use http::{Request, Response, StatusCode};
use tower::{Layer, ServiceExt};

const ROUNDS: usize = 20;
const TASKS: usize = 100;

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

/// The API: accepts `Bearer tok-N` for N above the last revoked.
fn api(
    revoked: Arc<AtomicUsize>,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future: Send>
+ Clone
+ Send {
    tower::service_fn(move |request: Request<Body>| {
        let revoked = revoked.clone();
        async move {
            let mut rng = fastrand::Rng::new();
            random_yields(&mut rng).await;
            let token = (request.headers().get("authorization"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer tok-"))
                .and_then(|n| n.parse::<usize>().ok());
            let mut response = Response::new(Body::empty());
            if token.is_none_or(|n| n <= revoked.load(Ordering::SeqCst)) {
                *response.status_mut() = StatusCode::UNAUTHORIZED;
            }
            Ok::<_, BoxError>(response)
        }
    })
}

fn get() -> Request<Body> {
    Request::get("http://api.test/items")
        .body(Body::empty())
        .unwrap()
}

#[test]
fn one_token_fetch_per_revocation_and_no_caller_stranded() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fetched = Arc::new(AtomicUsize::new(0));
        let counter = fetched.clone();
        let source = FnSource::new(move || {
            let counter = counter.clone();
            async move {
                // Not ready at once, so the fetch runs on its own task.
                let mut rng = fastrand::Rng::new();
                tokio::task::yield_now().await;
                random_yields(&mut rng).await;
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(Credential::bearer(&format!("tok-{n}")).unwrap())
            }
        });
        let layer = AuthLayer::new(AuthConfig::new(source));
        let revoked = Arc::new(AtomicUsize::new(0));
        let service = layer.layer(api(revoked.clone()));
        for round in 0..ROUNDS {
            let mut tasks = tokio::task::JoinSet::new();
            for n in 0..TASKS {
                let service = service.clone();
                tasks.spawn(async move {
                    let mut rng = fastrand::Rng::with_seed((round * TASKS + n) as u64);
                    random_yields(&mut rng).await;
                    if let Some(response) = maybe_dropped(service.oneshot(get()), &mut rng).await {
                        // A 401 is sent once more with the new token: never
                        // a 401 here, whoever fetched it.
                        assert_eq!(response.unwrap().status(), StatusCode::OK);
                    }
                });
            }
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
            // A call after the round proceeds (and makes the round's fetch
            // if every caller that would have was dropped first).
            let response = service.clone().oneshot(get()).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                fetched.load(Ordering::SeqCst),
                round + 1,
                "one fetch per round, round {round}"
            );
            assert!(!layer.is_fetching(), "a fetch still under way");
            // The next round starts with the current token revoked.
            revoked.store(round + 1, Ordering::SeqCst);
        }
        assert_eq!(layer.fetches(), ROUNDS as u64);
    });
}
