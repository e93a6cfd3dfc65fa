//! The breaker's cost per call over a ready in-memory service: closed
//! (the hot path), closed with an in-process circuit store, refusing
//! (open), across many partitions, and under contention from many tasks.
//! `bare` is the same service without the layer, measured in the same run.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use girder_breaker::{BreakerPolicy, CircuitBreakerLayer, LocalCircuitStore, Mode, Window};
use girder_core::{Body, BoxError};
use girder_test::expect_ready;
use http::{Request, Response};
use tower::{Layer, Service, ServiceExt};

fn request(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("accept", "application/json")
        .body(Body::empty())
        .unwrap()
}

fn call<S>(service: &mut S, uri: &str) -> Result<Response<()>, BoxError>
where
    S: Service<Request<Body>, Response = Response<()>, Error = BoxError>,
{
    expect_ready(std::future::poll_fn(|cx| service.poll_ready(cx))).unwrap();
    expect_ready(service.call(request(uri)))
}

fn bench(c: &mut Criterion) {
    let inner = tower::service_fn(|_req: Request<Body>| {
        std::future::ready(Ok::<_, BoxError>(Response::new(())))
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let uri = "https://api.test/items/1";

    // What one clock read costs in this build: tokio's test-util feature
    // (on for the tests, so on here) routes it through the runtime's clock.
    c.bench_function("tokio_instant_now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()))
    });

    let mut bare = inner;
    c.bench_function("bare_service", |b| {
        b.iter(|| black_box(call(&mut bare, uri)).unwrap())
    });

    let mut closed = CircuitBreakerLayer::default().layer(inner);
    c.bench_function("breaker_closed_time_window", |b| {
        b.iter(|| black_box(call(&mut closed, uri)).unwrap())
    });

    let policy = BreakerPolicy::builder()
        .window(Window::count(100))
        .build()
        .unwrap();
    let mut closed = CircuitBreakerLayer::new(policy).layer(inner);
    c.bench_function("breaker_closed_count_window", |b| {
        b.iter(|| black_box(call(&mut closed, uri)).unwrap())
    });

    // The same closed circuit shared through an in-process store: what a
    // store adds per call (one lock and map lookup here; a round trip for
    // a remote store).
    let policy = BreakerPolicy::builder()
        .store(std::sync::Arc::new(LocalCircuitStore::new()))
        .build()
        .unwrap();
    let mut shared = CircuitBreakerLayer::new(policy).layer(inner);
    c.bench_function("breaker_closed_local_store", |b| {
        b.iter(|| black_box(call(&mut shared, uri)).unwrap())
    });

    let layer = CircuitBreakerLayer::default();
    let hosts: Vec<String> = (0..1_000)
        .map(|i| format!("https://host{i}.test/items"))
        .collect();
    let mut many = layer.layer(inner);
    let mut next = 0;
    c.bench_function("breaker_closed_1000_partitions", |b| {
        b.iter(|| {
            next = (next + 1) % hosts.len();
            black_box(call(&mut many, &hosts[next])).unwrap()
        })
    });

    let layer = CircuitBreakerLayer::default();
    layer.handle().set_mode(Mode::ForcedOpen);
    let mut forced = layer.layer(inner);
    c.bench_function("breaker_forced_open_refusal", |b| {
        b.iter(|| black_box(call(&mut forced, uri)).unwrap_err())
    });

    let failing = tower::service_fn(|_req: Request<Body>| {
        let mut response = Response::new(());
        *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        std::future::ready(Ok::<_, BoxError>(response))
    });
    let policy = BreakerPolicy::builder()
        .open_duration(girder_breaker::OpenDuration::fixed(Duration::from_secs(
            3600,
        )))
        .build()
        .unwrap();
    let mut open = CircuitBreakerLayer::new(policy).layer(failing);
    for _ in 0..5 {
        call(&mut open, uri).unwrap();
    }
    c.bench_function("breaker_open_refusal", |b| {
        b.iter(|| black_box(call(&mut open, uri)).unwrap_err())
    });
    drop(_guard);

    contention(c, inner);
}

/// 64 tasks on a two-thread runtime calling through one breaker (one
/// circuit), against the same tasks calling the bare service.
fn contention<S>(c: &mut Criterion, inner: S)
where
    S: Service<Request<Body>, Response = Response<()>, Error = BoxError>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    const TASKS: u64 = 64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let run = |service: tower::util::BoxCloneSyncService<Request<Body>, Response<()>, BoxError>,
               iters: u64| {
        runtime.block_on(async move {
            #[allow(clippy::disallowed_methods)]
            let start = std::time::Instant::now();
            let per_task = iters.div_ceil(TASKS);
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let mut service = service.clone();
                    tokio::spawn(async move {
                        for _ in 0..per_task {
                            let svc = service.ready().await.unwrap();
                            black_box(svc.call(request("https://api.test/items/1")).await).unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            start
                .elapsed()
                .div_f64((per_task * TASKS) as f64 / iters as f64)
        })
    };
    let bare = tower::util::BoxCloneSyncService::new(inner.clone());
    c.bench_function("contended_64_tasks_bare", |b| {
        b.iter_custom(|iters| run(bare.clone(), iters))
    });
    let guarded =
        tower::util::BoxCloneSyncService::new(CircuitBreakerLayer::default().layer(inner));
    c.bench_function("contended_64_tasks_breaker", |b| {
        b.iter_custom(|iters| run(guarded.clone(), iters))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
