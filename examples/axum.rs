//! One girder layer used alone, inside an axum handler's outbound client.
//!
//! An axum service answers `/forecast/{city}` by asking an upstream API
//! (here a `TestServer`). Its outbound client is `CacheLayer` and
//! `RetryLayer` over girder's `Transport`, a plain tower service kept in the
//! router's state: no girder `Client` needed. The example then calls its own
//! server three times and shows that the upstream was asked once, its
//! first 503 retried away.
//!
//! Run it with `cargo run --example axum`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use girder::cache::{CacheConfig, CacheLayer};
use girder::retry::{RetryLayer, RetryPolicy};
use girder::{Body, BoxError, Transport};
use girder_test::{Reply, TestServer};
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};

/// The outbound client in the router's state: cache over retry over the
/// transport, boxed so the state has a nameable type.
type Outbound = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, BoxError>;

#[derive(Clone)]
struct AppState {
    upstream: String,
    outbound: Outbound,
}

async fn forecast(
    State(state): State<AppState>,
    Path(city): Path<String>,
) -> Result<String, (StatusCode, String)> {
    let url = format!("{}/forecast/{city}", state.upstream);
    let request = http::Request::get(url)
        .body(Body::empty())
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let bad_gateway = |e: BoxError| (StatusCode::BAD_GATEWAY, e.to_string());
    let response = state.outbound.oneshot(request).await.map_err(bad_gateway)?;
    if !response.status().is_success() {
        return Err((
            StatusCode::BAD_GATEWAY,
            format!("upstream answered {}", response.status()),
        ));
    }
    let body = response
        .into_body()
        .collect_limited(64 * 1024)
        .await
        .map_err(bad_gateway)?;
    Ok(format!("{city}: {}", String::from_utf8_lossy(&body)))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let upstream = TestServer::start().await;
    upstream.route(
        "/forecast/oslo",
        [
            Reply::status(503),
            Reply::ok()
                .header("cache-control", "max-age=300")
                .body("snow, -4 °C"),
        ],
    );

    let outbound = ServiceBuilder::new()
        .layer(CacheLayer::new(CacheConfig::default()))
        .layer(RetryLayer::new(RetryPolicy::default()))
        .service(Transport::new()?);
    let state = AppState {
        upstream: upstream.url(""),
        outbound: BoxCloneSyncService::new(outbound),
    };
    let app = Router::new()
        .route("/forecast/{city}", get(forecast))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = girder::Client::builder()
        .base_url(format!("http://{addr}"))
        .logging(None)
        .build()?;
    for _ in 0..3 {
        let text = client.get("forecast/oslo").send().await?.text().await?;
        println!("axum answered: {text}");
    }
    println!(
        "the upstream saw {} requests (one 503 retried, then cached for 300 s)",
        upstream.requests_to("/forecast/oslo").len()
    );
    Ok(())
}
