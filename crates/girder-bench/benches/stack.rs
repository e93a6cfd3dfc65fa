//! The whole `girder::Client` stack per call over a ready in-memory
//! transport (no network): what girder adds to a call, next to the same
//! `block_on` around the bare transport. With logging, the process's
//! subscriber is the load benchmark's (fmt to `io::sink`, INFO). The
//! `ladder_*` benches add the stack's pieces one at a time, bottom up: the
//! difference between two rungs is what a piece adds inside the stack.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

use girder::ClientBuilder;
use girder::auth::{AuthConfig, BearerToken};
use girder::breaker::BreakerPolicy;
use girder::cache::CacheConfig;
use girder::core::{Body, BoxError};
use girder::ratelimit::{Quota, RateLimitPolicy};
use girder::retry::RetryPolicy;
use girder::sign::hmac::HmacSigner;
use girder::trace::LoggingConfig;
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

/// Adds one piece of the stack to a builder.
type Rung = fn(ClientBuilder, &Quota) -> ClientBuilder;

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
    bench_client(c, &runtime, "client_no_layers", &minimal);

    // The ladder: the same call with one more piece of the stack at each
    // rung (in stack order, bottom up), so the differences between rungs
    // are what each piece adds inside the whole stack.
    let quota = Quota::per_second(1_000_000_000).burst(1_000_000_000);
    let rungs: [(&str, Rung); 11] = [
        ("ladder_00_decompression_only", |b, _| b),
        ("ladder_01_attempt_timeout", |b, _| {
            b.attempt_timeout(Duration::from_secs(10))
        }),
        ("ladder_02_total_timeout", |b, _| {
            b.total_timeout(Duration::from_secs(30))
        }),
        ("ladder_03_redirects", |b, _| b.redirects(10)),
        ("ladder_04_retry", |b, _| b.retry(RetryPolicy::default())),
        ("ladder_05_breaker", |b, _| {
            b.circuit_breaker(BreakerPolicy::default())
        }),
        ("ladder_06_rate_limit", |b, quota| {
            b.rate_limit(RateLimitPolicy::builder().quota(*quota).build().unwrap())
        }),
        ("ladder_07_auth_bearer", |b, _| {
            b.auth(AuthConfig::new(
                BearerToken::new("bench-token-0123456789abcdef".to_owned().into()).unwrap(),
            ))
        }),
        ("ladder_08_hmac_signing", |b, _| {
            b.signing(
                HmacSigner::builder("bench", b"bench-secret-0123456789".to_vec())
                    .build()
                    .unwrap(),
            )
        }),
        ("ladder_09_cache_no_store", |b, _| {
            b.cache(CacheConfig::default())
        }),
        ("ladder_10_logging_fmt", |b, _| {
            b.logging(LoggingConfig::default())
        }),
    ];
    let builder = || {
        girder::Client::builder()
            .base_url("http://api.test")
            .retry(None)
            .logging(None)
            .redirects(0)
            .attempt_timeout(None)
            .total_timeout(None)
    };
    for rung in 0..rungs.len() {
        let client = rungs[..=rung]
            .iter()
            .fold(builder(), |b, (_, add)| add(b, &quota))
            .build_with_transport(transport("no-store"))
            .unwrap();
        bench_client(c, &runtime, rungs[rung].0, &client);
    }

    for (name, logging, cache_control) in [
        ("client_full_stack_no_store", true, "no-store"),
        ("client_full_stack_no_store_logging_off", false, "no-store"),
        ("client_full_stack_cache_hit", true, "max-age=3600"),
    ] {
        let client = girder_builder("http://api.test", logging)
            .unwrap()
            .build_with_transport(transport(cache_control))
            .unwrap();
        bench_client(c, &runtime, name, &client);
    }
}

/// One `send` and the body read, per iteration, on `runtime`.
fn bench_client(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    client: &girder::Client,
) {
    c.bench_function(name, |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = client.get("items").send().await.unwrap();
                black_box(response.bytes().await.unwrap())
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
