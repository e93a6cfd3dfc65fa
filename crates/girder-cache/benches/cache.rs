//! The cache's cost per call over a ready in-memory service (a fresh hit,
//! with and without credentials; a miss whose response may not be stored),
//! next to a real loopback round trip to a hyper server with a bare
//! hyper-util client, measured in the same run: the issue's target is a hit
//! at least 30x cheaper than the round trip.

#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use girder_cache::{CacheConfig, CacheLayer};
use girder_core::{Body, BoxError};
use girder_test::{Reply, TestServer, expect_ready};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use tower::{Layer, Service};

const JSON: &str = r#"{"id":42,"name":"widget","tags":["a","b","c"],"price":{"amount":1999,"currency":"EUR"},"stock":17,"updated_at":"2026-11-21T06:00:00Z","links":{"self":"/items/42","owner":"/users/7"}}"#;

fn request(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut req = Request::get(uri).header("accept", "application/json");
    if let Some(token) = token {
        req = req.header("authorization", token);
    }
    req.body(Body::empty()).unwrap()
}

fn call<S>(service: &mut S, req: Request<Body>) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    expect_ready(std::future::poll_fn(|cx| service.poll_ready(cx))).unwrap();
    expect_ready(service.call(req)).unwrap()
}

fn origin(
    cache_control: &'static str,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |_req: Request<Body>| {
        std::future::ready(Ok::<_, BoxError>(
            Response::builder()
                .header("content-type", "application/json")
                .header("cache-control", cache_control)
                .header("etag", "\"v1\"")
                .body(Body::from(JSON))
                .unwrap(),
        ))
    })
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let uri = "https://api.test/items/42";

    let mut bare = origin("max-age=3600");
    c.bench_function("bare_service", |b| {
        b.iter(|| black_box(call(&mut bare, request(uri, Some("Bearer abc")))))
    });

    let config = || CacheConfig::builder().build().unwrap();
    let mut hit = CacheLayer::new(config()).layer(origin("max-age=3600"));
    call(&mut hit, request(uri, None));
    c.bench_function("cache_hit_anonymous", |b| {
        b.iter(|| black_box(call(&mut hit, request(uri, None))))
    });

    let token = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ";
    let mut hit = CacheLayer::new(config()).layer(origin("max-age=3600"));
    call(&mut hit, request(uri, Some(token)));
    c.bench_function("cache_hit_bearer_token", |b| {
        b.iter(|| black_box(call(&mut hit, request(uri, Some(token)))))
    });

    let mut miss = CacheLayer::new(config()).layer(origin("no-store"));
    c.bench_function("cache_miss_no_store", |b| {
        b.iter(|| black_box(call(&mut miss, request(uri, Some(token)))))
    });

    // The yardstick: one loopback round trip, bare hyper-util client.
    let server = runtime.block_on(TestServer::start());
    server.route(
        "/items/42",
        Reply::ok()
            .header("content-type", "application/json")
            .body(JSON),
    );
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let target = server.uri("/items/42");
    c.bench_function("loopback_round_trip", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let res = client.get(target.clone()).await.unwrap();
                black_box(res.into_body().collect().await.unwrap().to_bytes())
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
