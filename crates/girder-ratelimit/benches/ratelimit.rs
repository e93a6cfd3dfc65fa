//! The hot path: a permit is free, over a ready in-memory service, without
//! a call record. `bare_service` is the same service without the layer,
//! measured in the same run. `ratelimit_remote_backend_granted` is the
//! waiting path's shortest trip: a remote backend that grants at once, so
//! that every call goes through the future's waiting states.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use girder_core::{Body, BoxError, PartitionKey};
use girder_ratelimit::backend::{Acquire, Decision, Feedback, Quotas};
use girder_ratelimit::{GovernorBackend, Quota, RateLimitBackend, RateLimitLayer, RateLimitPolicy};
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
        // An empty body: the layer's response body must be an HTTP body.
        std::future::ready(Ok::<_, BoxError>(Response::new(Body::empty())))
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    // A quota no benchmark run can spend: every call finds a permit.
    let quota = Quota::per_second(1_000_000_000).burst(1_000_000_000);

    bench_calls(c, "bare_service", inner);
    let limited = |policy: RateLimitPolicy| RateLimitLayer::new(policy).layer(inner);

    let policy = RateLimitPolicy::builder().quota(quota).build().unwrap();
    bench_calls(c, "ratelimit_permit_available", limited(policy));

    let policy = RateLimitPolicy::builder()
        .quota(quota)
        .quota(Quota::per_hour(u32::MAX))
        .max_in_flight(1_000)
        .build()
        .unwrap();
    bench_calls(
        c,
        "ratelimit_two_quotas_and_in_flight_limit",
        limited(policy),
    );

    let policy = RateLimitPolicy::builder()
        .quota(quota)
        .backend(GrantsRemotely)
        .build()
        .unwrap();
    bench_calls(c, "ratelimit_remote_backend_granted", limited(policy));

    // The permit check alone: the backend's acquire for a known partition.
    let backend = GovernorBackend::new();
    let quotas = Quotas::new(vec![quota], vec![]);
    let key = PartitionKey::custom("api.test");
    c.bench_function("governor_backend_acquire", |b| {
        b.iter(|| match backend.acquire(black_box(&key), &quotas) {
            Acquire::Ready(decision) => black_box(decision).unwrap(),
            Acquire::Pending(_) => unreachable!(),
        })
    });
}

/// One call after another, each on a ready service, answered at once.
fn bench_calls<S>(c: &mut Criterion, name: &str, mut service: S)
where
    S: Service<Request<Body>>,
    S::Error: std::fmt::Debug,
{
    c.bench_function(name, |b| {
        b.iter(|| {
            expect_ready(std::future::poll_fn(|cx| service.poll_ready(cx))).unwrap();
            black_box(expect_ready(service.call(request()))).unwrap()
        })
    });
}

/// A remote backend whose round trip is already done: it grants every call.
#[derive(Debug)]
struct GrantsRemotely;

impl RateLimitBackend for GrantsRemotely {
    fn acquire(&self, _: &PartitionKey, _: &Quotas) -> Acquire {
        Acquire::Pending(Box::pin(std::future::ready(Ok(Decision::Granted))))
    }
    fn release(&self, _: &PartitionKey, _: &Quotas) {}
    fn observe(&self, _: &PartitionKey, _: &Quotas, _: &Feedback) {}
}

criterion_group!(benches, bench);
criterion_main!(benches);
