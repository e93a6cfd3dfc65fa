//! The whole `girder::Client` stack per call over a ready in-memory
//! transport (no network): what girder adds to a call, next to the same
//! `block_on` around the bare transport. With logging, the process's
//! subscriber is the load benchmark's (fmt to `io::sink`, INFO).

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use girder::core::{Body, BoxError};
use girder_bench::clients::girder_builder;
use girder_bench::discarding_subscriber;
use girder_bench::server::JSON;
use http::{Request, Response};
use tower::{Service, ServiceExt};

fn transport(
    cache_control: &'static str,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |_req: Request<Body>| {
        std::future::ready(Ok::<_, BoxError>(
            Response::builder()
                .header("content-type", "application/json")
                .header("cache-control", cache_control)
                .body(Body::from(JSON))
                .unwrap(),
        ))
    })
}

fn bench(c: &mut Criterion) {
    discarding_subscriber();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let bare = transport("no-store");
    c.bench_function("block_on_bare_transport", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let req = Request::get("http://api.test/items")
                    .body(Body::empty())
                    .unwrap();
                let res = bare.clone().oneshot(req).await.unwrap();
                black_box(res.into_body().collect_limited(1 << 20).await.unwrap())
            })
        })
    });

    let minimal = girder::Client::builder()
        .base_url("http://api.test")
        .retry(None)
        .logging(None)
        .redirects(0)
        .attempt_timeout(None)
        .total_timeout(None)
        .build_with_transport(transport("no-store"))
        .unwrap();
    c.bench_function("client_no_layers", |b| {
        b.iter(|| {
            runtime.block_on(async {
                black_box(
                    minimal
                        .get("items")
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap(),
                )
            })
        })
    });

    for (name, logging, cache_control) in [
        ("client_full_stack_no_store", true, "no-store"),
        ("client_full_stack_no_store_logging_off", false, "no-store"),
        ("client_full_stack_cache_hit", true, "max-age=3600"),
    ] {
        let client = girder_builder("http://api.test", logging)
            .unwrap()
            .build_with_transport(transport(cache_control))
            .unwrap();
        c.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    black_box(
                        client
                            .get("items")
                            .send()
                            .await
                            .unwrap()
                            .bytes()
                            .await
                            .unwrap(),
                    )
                })
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
