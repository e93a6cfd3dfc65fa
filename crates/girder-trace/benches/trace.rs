//! The layer's cost per call over a ready in-memory service: with no
//! subscriber, with a fmt subscriber writing to `io::sink` at INFO (the
//! span and one completion event formatted), at DEBUG (headers too), and
//! without the request id. `bare` is the same service without the layer;
//! `call_record_layer` is girder-core's layer that only creates the call
//! record, which this layer also does.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use girder_core::{Body, BoxError};
use girder_test::expect_ready;
use girder_trace::{LoggingConfig, LoggingLayer};
use http::{Request, Response};
use tower::{Layer, Service};
use tracing::Level;

fn request() -> Request<Body> {
    Request::get("https://api.test/users/17?page=2&api_key=k")
        .header("accept", "application/json")
        .header("authorization", "Bearer t0ken")
        .body(Body::empty())
        .unwrap()
}

fn call<S, E>(service: &mut S) -> Result<Response<Body>, E>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = E>,
{
    expect_ready(std::future::poll_fn(|cx| service.poll_ready(cx)))?;
    expect_ready(service.call(request()))
}

fn sink(level: Level) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::sink)
        .finish()
}

fn bench(c: &mut Criterion) {
    let inner = tower::service_fn(|_req: Request<Body>| {
        std::future::ready(Ok::<_, BoxError>(Response::new(Body::empty())))
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = runtime.enter();

    let mut bare = inner;
    c.bench_function("bare_service", |b| {
        b.iter(|| black_box(call(&mut bare)).unwrap())
    });

    // The floor: what creating and returning the call record costs alone.
    let mut recorded = girder_core::CallRecordLayer::new().layer(inner);
    c.bench_function("call_record_layer", |b| {
        b.iter(|| black_box(call(&mut recorded)).unwrap())
    });

    let mut logged = LoggingLayer::default().layer(inner);
    c.bench_function("logging_no_subscriber", |b| {
        b.iter(|| black_box(call(&mut logged)).unwrap())
    });

    let quiet = LoggingConfig::builder().no_request_id().build().unwrap();
    let mut no_id = LoggingLayer::new(quiet).layer(inner);
    c.bench_function("logging_no_subscriber_no_request_id", |b| {
        b.iter(|| black_box(call(&mut no_id)).unwrap())
    });

    tracing::subscriber::with_default(sink(Level::WARN), || {
        c.bench_function("logging_sink_warn", |b| {
            b.iter(|| black_box(call(&mut logged)).unwrap())
        });
    });

    tracing::subscriber::with_default(sink(Level::INFO), || {
        c.bench_function("logging_sink_info", |b| {
            b.iter(|| black_box(call(&mut logged)).unwrap())
        });
    });

    tracing::subscriber::with_default(sink(Level::DEBUG), || {
        c.bench_function("logging_sink_debug_headers", |b| {
            b.iter(|| black_box(call(&mut logged)).unwrap())
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
