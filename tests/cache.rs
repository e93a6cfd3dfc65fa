//! CacheLayer over the real transport against `TestServer` on loopback:
//! coalescing, ETag and Last-Modified revalidation, and stale-if-error over
//! retries when the server goes down.

use std::time::Duration;

use girder::cache::{CacheConfig, CacheLayer, CacheStatus};
use girder::retry::{RetryLayer, RetryPolicy};
use girder::{Body, Transport};
use girder_test::{Reply, Script, TestServer};
use http::Request;
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};

fn get(url: String) -> Request<Body> {
    Request::get(url).body(Body::empty()).unwrap()
}

fn cached() -> CacheLayer {
    CacheLayer::new(CacheConfig::default())
}

async fn text(res: http::Response<Body>) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

fn status(res: &http::Response<Body>) -> CacheStatus {
    *res.extensions().get::<CacheStatus>().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_hundred_concurrent_misses_reach_the_server_once() {
    let server = TestServer::start().await;
    server.route(
        "/report",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .delay(Duration::from_millis(200))
            .body("{\"total\":42}"),
    );
    let client = ServiceBuilder::new()
        .layer(cached())
        .service(Transport::new().unwrap());
    let calls: Vec<_> = (0..100)
        .map(|_| tokio::spawn(client.clone().oneshot(get(server.url("/report")))))
        .collect();
    for call in calls {
        let res = call.await.unwrap().unwrap();
        assert_eq!(text(res).await, "{\"total\":42}");
    }
    assert_eq!(server.requests_to("/report").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn etag_and_last_modified_endpoints_revalidate_with_304s() {
    let server = TestServer::start().await;
    server.route(
        "/etag",
        Script::from_fn(|req| match req.header("if-none-match") {
            Some("\"rev-7\"") => Reply::status(304)
                .header("etag", "\"rev-7\"")
                .header("cache-control", "max-age=2"),
            _ => Reply::ok()
                .header("etag", "\"rev-7\"")
                .header("cache-control", "max-age=2")
                .body("etag body"),
        }),
    );
    let modified = "Wed, 01 Nov 2023 10:00:00 GMT";
    server.route(
        "/lm",
        Script::from_fn(move |req| {
            if req.header("if-modified-since") == Some(modified) {
                Reply::status(304)
            } else {
                Reply::ok()
                    .header("last-modified", modified)
                    .header("cache-control", "no-cache")
                    .body("lm body")
            }
        }),
    );
    let client = ServiceBuilder::new()
        .layer(cached())
        .service(Transport::new().unwrap());
    for (path, body) in [("/etag", "etag body"), ("/lm", "lm body")] {
        let first = client.clone().oneshot(get(server.url(path))).await.unwrap();
        assert_eq!(status(&first), CacheStatus::Miss);
        assert_eq!(text(first).await, body);
    }
    let hit = client
        .clone()
        .oneshot(get(server.url("/etag")))
        .await
        .unwrap();
    assert_eq!(status(&hit), CacheStatus::Hit);
    tokio::time::advance(Duration::from_secs(3)).await;
    for (path, body) in [("/etag", "etag body"), ("/lm", "lm body")] {
        let res = client.clone().oneshot(get(server.url(path))).await.unwrap();
        assert_eq!(status(&res), CacheStatus::Revalidated, "{path}");
        assert_eq!(res.status(), 200);
        assert_eq!(text(res).await, body);
    }
    let etag = server.requests_to("/etag");
    assert_eq!(etag.len(), 2);
    assert_eq!(etag[1].header("if-none-match"), Some("\"rev-7\""));
    let lm = server.requests_to("/lm");
    assert_eq!(lm.len(), 2);
    assert_eq!(lm[1].header("if-modified-since"), Some(modified));
}

#[tokio::test(start_paused = true)]
async fn a_stale_copy_outlives_the_servers_failures() {
    let server = TestServer::start().await;
    server.route(
        "/catalog",
        [
            Reply::ok()
                .header("cache-control", "max-age=1, stale-if-error=600")
                .body("catalog v1"),
            Reply::status(503),
        ],
    );
    let client = ServiceBuilder::new()
        .layer(cached())
        .layer(RetryLayer::new(RetryPolicy::default()))
        .service(Transport::new().unwrap());
    client
        .clone()
        .oneshot(get(server.url("/catalog")))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(5)).await;
    let res = client
        .clone()
        .oneshot(get(server.url("/catalog")))
        .await
        .unwrap();
    assert_eq!(status(&res), CacheStatus::Stale);
    assert_eq!(text(res).await, "catalog v1");
    // The retries below the cache ran their course first.
    let default_attempts = 3;
    assert_eq!(server.requests_to("/catalog").len(), 1 + default_attempts);
}
