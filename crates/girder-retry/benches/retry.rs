//! The hot path: the first attempt succeeds, over a ready in-memory service.
//! `bare` is the same service without the layer, measured in the same run.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use girder_core::{Body, BoxError, CallRecord};
use girder_retry::{RetryLayer, RetryPolicy};
use girder_test::expect_ready;
use http::{Request, Response};
use tower::{Layer, Service};

fn request() -> Request<Body> {
    Request::get("https://api.test/items/1")
        .header("accept", "application/json")
        .body(Body::from("q"))
        .unwrap()
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

    let mut bare = inner;
    c.bench_function("bare_service", |b| {
        b.iter(|| {
            expect_ready(std::future::poll_fn(|cx| bare.poll_ready(cx))).unwrap();
            black_box(expect_ready(bare.call(request()))).unwrap()
        })
    });

    let mut retry = RetryLayer::new(RetryPolicy::default()).layer(inner);
    c.bench_function("retry_first_attempt_ok", |b| {
        b.iter(|| {
            expect_ready(std::future::poll_fn(|cx| retry.poll_ready(cx))).unwrap();
            black_box(expect_ready(retry.call(request()))).unwrap()
        })
    });

    let mut retry = RetryLayer::new(RetryPolicy::default()).layer(inner);
    c.bench_function("retry_first_attempt_ok_with_record", |b| {
        b.iter(|| {
            let mut req = request();
            CallRecord::ensure(&mut req);
            expect_ready(std::future::poll_fn(|cx| retry.poll_ready(cx))).unwrap();
            black_box(expect_ready(retry.call(req))).unwrap()
        })
    });

    let mut bare_record = inner;
    c.bench_function("bare_service_with_record", |b| {
        b.iter(|| {
            let mut req = request();
            CallRecord::ensure(&mut req);
            expect_ready(std::future::poll_fn(|cx| bare_record.poll_ready(cx))).unwrap();
            black_box(expect_ready(bare_record.call(req))).unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
