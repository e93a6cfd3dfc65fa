//! The auth layer's cost per call over a ready in-memory service: a fixed
//! bearer token, and a cached OAuth2 token (which also keeps a copy of the
//! request and a clone of the service for a resend after a 401). `bare`
//! is the same service without the layer, measured in the same run.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use girder_auth::{AuthConfig, AuthLayer, BearerToken, ClientCredentials, TokenClient};
use girder_core::{Body, BoxError};
use girder_test::{MockService, Reply, expect_ready};
use http::{Request, Response};
use tower::{Layer, Service, ServiceExt};

fn request() -> Request<Body> {
    Request::get("https://api.test/items/1")
        .header("accept", "application/json")
        .body(Body::empty())
        .unwrap()
}

fn call<S>(service: &mut S) -> Result<Response<()>, BoxError>
where
    S: Service<Request<Body>, Response = Response<()>, Error = BoxError>,
{
    expect_ready(std::future::poll_fn(|cx| service.poll_ready(cx))).unwrap();
    expect_ready(service.call(request()))
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
        b.iter(|| black_box(call(&mut bare)).unwrap())
    });

    let source = BearerToken::new("tok-static".into()).unwrap();
    let mut fixed = AuthLayer::new(AuthConfig::new(source)).layer(inner);
    c.bench_function("auth_static_bearer", |b| {
        b.iter(|| black_box(call(&mut fixed)).unwrap())
    });

    let idp = MockService::new(
        Reply::ok()
            .json(r#"{"access_token":"tok-oauth","token_type":"Bearer","expires_in":86400}"#),
    );
    let source = ClientCredentials::builder("https://idp.test/token", "bench", "s".into())
        .client(TokenClient::new(idp.clone()))
        .build()
        .unwrap();
    let mut cached = AuthLayer::new(AuthConfig::new(source)).layer(inner);
    // The first call fetches the token; the bench measures the cached path.
    runtime.block_on(cached.ready()).unwrap();
    runtime.block_on(cached.call(request())).unwrap();
    c.bench_function("auth_cached_oauth_token", |b| {
        b.iter(|| black_box(call(&mut cached)).unwrap())
    });
    assert_eq!(idp.request_count(), 1, "the token stayed cached");
}

criterion_group!(benches, bench);
criterion_main!(benches);
