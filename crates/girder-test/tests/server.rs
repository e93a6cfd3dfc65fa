//! `TestServer` over real TCP on loopback, through hyper-util's client.

use std::time::Duration;

use bytes::Bytes;
use girder_core::classify::TransportError;
use girder_test::{MockService, Reply, Script, TestServer};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;
use tower::ServiceExt;

type TestClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn get(server: &TestServer, path: &str) -> Request<Full<Bytes>> {
    Request::get(server.uri(path))
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn a_script_plays_in_order_then_repeats_its_last_reply() {
    let server = TestServer::start().await;
    server.route(
        "/flaky",
        [
            Reply::status(503),
            Reply::status(503),
            Reply::ok().body("fine"),
        ],
    );
    let client = client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            client
                .request(get(&server, "/flaky"))
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [503, 503, 200, 200]);
    assert_eq!(server.requests_to("/flaky").len(), 4);
}

#[tokio::test]
async fn requests_are_recorded_as_they_went_over_the_wire() {
    let server = TestServer::start().await;
    server.route_method(
        Method::POST,
        "/items",
        Reply::status(201).header("location", "/items/1"),
    );
    let req = Request::post(server.uri("/items?dry=1"))
        .header("content-type", "application/json")
        .header("x-request-id", "abc")
        .body(Full::new(Bytes::from_static(br#"{"name":"x"}"#)))
        .unwrap();
    let res = client().request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["location"], "/items/1");

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.uri, "/items?dry=1");
    assert_eq!(r.path(), "/items");
    assert_eq!(r.header("x-request-id"), Some("abc"));
    assert_eq!(r.body, r#"{"name":"x"}"#);
    assert_eq!(r.connection, 1);
}

#[tokio::test]
async fn method_routes_win_and_unmatched_requests_get_a_404_naming_them() {
    let server = TestServer::start().await;
    server.route("/r", Reply::status(200));
    server.route_method(Method::DELETE, "/r", Reply::status(204));
    let client = client();
    assert_eq!(
        client.request(get(&server, "/r")).await.unwrap().status(),
        200
    );
    let delete = Request::delete(server.uri("/r"))
        .body(Full::default())
        .unwrap();
    assert_eq!(client.request(delete).await.unwrap().status(), 204);
    let missing = client.request(get(&server, "/nope")).await.unwrap();
    assert_eq!(missing.status(), 404);
    let body = missing.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "girder-test: no route for GET /nope");

    server.fallback(Reply::status(418));
    assert_eq!(
        client
            .request(get(&server, "/nope"))
            .await
            .unwrap()
            .status(),
        418
    );
}

#[tokio::test]
async fn a_closure_route_sees_the_request() {
    let server = TestServer::start().await;
    server.route(
        "/echo",
        Script::from_fn(|req| {
            Reply::ok()
                .body(req.body.clone())
                .header("x-method", req.method.as_str())
        }),
    );
    let req = Request::put(server.uri("/echo"))
        .body(Full::new(Bytes::from("ping")))
        .unwrap();
    let res = client().request(req).await.unwrap();
    assert_eq!(res.headers()["x-method"], "PUT");
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "ping");
}

#[tokio::test]
async fn a_connection_closed_before_the_response_fails_the_call_and_the_next_uses_a_new_connection()
{
    let server = TestServer::start().await;
    server.route("/drop", [Reply::close(), Reply::ok()]);
    let client = client();
    let err = client.request(get(&server, "/drop")).await.unwrap_err();
    let kind = TransportError::find(&err);
    assert!(
        matches!(
            kind,
            Some(TransportError::IncompleteMessage | TransportError::Reset)
        ),
        "{err:?} classified as {kind:?}"
    );
    assert_eq!(
        client
            .request(get(&server, "/drop"))
            .await
            .unwrap()
            .status(),
        200
    );
    let seen = server.requests_to("/drop");
    assert_eq!(seen.len(), 2, "the dropped request did arrive");
    assert_ne!(seen[0].connection, seen[1].connection);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn a_body_cut_in_the_middle_gives_the_head_then_a_body_error() {
    let server = TestServer::start().await;
    server.route("/cut", Reply::ok().body("0123456789").cut_body_after(4));
    let res = client().request(get(&server, "/cut")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], "10");
    let mut body = res.into_body();
    let mut received = Vec::new();
    let err = loop {
        match body.frame().await {
            Some(Ok(frame)) => received.extend_from_slice(frame.data_ref().unwrap()),
            Some(Err(e)) => break e,
            None => panic!("the body ended cleanly after {received:?}"),
        }
    };
    assert_eq!(received, b"0123");
    assert_eq!(
        TransportError::find(&err),
        Some(TransportError::IncompleteMessage),
        "{err:?}"
    );
}

#[tokio::test]
async fn connections_are_reused_between_calls() {
    let server = TestServer::start().await;
    server.route("/", Reply::ok());
    let client = client();
    for _ in 0..3 {
        client
            .request(get(&server, "/"))
            .await
            .unwrap()
            .into_body()
            .collect()
            .await
            .unwrap();
    }
    assert_eq!(server.connections(), 1);
    assert!(server.requests().iter().all(|r| r.connection == 1));
}

#[tokio::test(start_paused = true)]
async fn delays_run_on_the_paused_clock_and_arrival_times_are_recorded() {
    let server = TestServer::start().await;
    server.route("/slow", Reply::ok().delay(Duration::from_secs(30)));
    let client = client();
    let started = Instant::now();
    client.request(get(&server, "/slow")).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(31),
        "{took:?}"
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    client.request(get(&server, "/slow")).await.unwrap();
    let seen = server.requests();
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_secs(35) && gap < Duration::from_secs(36),
        "{gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_timeout_shorter_than_the_delay_fires_first() {
    let server = TestServer::start().await;
    server.route("/slow", Reply::ok().delay(Duration::from_secs(10)));
    let call = client().request(get(&server, "/slow"));
    let outcome = tokio::time::timeout(Duration::from_secs(2), call).await;
    assert!(outcome.is_err(), "timed out on virtual time");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let server = TestServer::start().await;
    server.route("/h2", Reply::ok());
    let client: TestClient = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let res = client.request(get(&server, "/h2")).await.unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(server.requests()[0].version, http::Version::HTTP_2);
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = TestServer::start().await;
    server.route("/", Reply::ok());
    let uri = server.uri("/");
    drop(server);
    tokio::task::yield_now().await;
    let fresh = client(); // no pooled connection to fall back on
    let err = fresh
        .request(Request::get(uri).body(Full::default()).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        TransportError::find(&err),
        Some(TransportError::Connect),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_mock_follows_the_same_scripts_in_memory() {
    let mock = MockService::new([Reply::close(), Reply::ok().body("abcdef").cut_body_after(2)]);
    mock.route(
        "/other",
        Reply::status(202).delay(Duration::from_millis(300)),
    );
    let req = |path: &str| {
        Request::get(format!("http://api.test{path}"))
            .body(girder_core::Body::empty())
            .unwrap()
    };

    let err = mock.clone().oneshot(req("/")).await.unwrap_err();
    assert_eq!(
        TransportError::find(&*err),
        Some(TransportError::Reset),
        "{err}"
    );
    let res = mock.clone().oneshot(req("/")).await.unwrap();
    let err = res.into_body().collect().await.unwrap_err();
    assert_eq!(
        TransportError::find(&*err),
        Some(TransportError::IncompleteMessage),
        "{err}"
    );

    let started = Instant::now();
    assert_eq!(
        mock.clone().oneshot(req("/other")).await.unwrap().status(),
        202
    );
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    let paths: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(paths, ["/", "/", "/other"]);
}

#[test]
#[should_panic(expected = "girder-test: 1000 is not a valid status code")]
fn an_invalid_status_is_reported_where_it_is_written() {
    let _ = Reply::status(1000);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_gives_the_head_then_nothing_until_the_stall_ends() {
    let server = TestServer::start().await;
    server.route(
        "/stall",
        Reply::ok()
            .body("0123456789")
            .stall_body_after(4, Duration::from_secs(60)),
    );
    let started = Instant::now();
    let res = client().request(get(&server, "/stall")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], "10");
    let mut body = res.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.data_ref().unwrap(), &b"0123"[..]);
    // Nothing more for 59 s of the stall...
    let next = tokio::time::timeout(Duration::from_secs(59), body.frame()).await;
    assert!(next.is_err(), "the body went on during the stall");
    // ...then the connection drops and the body fails.
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(
        TransportError::find(&err),
        Some(TransportError::IncompleteMessage),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(60));
}

#[tokio::test]
async fn a_stalled_body_in_the_mock_yields_its_head_and_then_waits() {
    let mock = MockService::new(
        Reply::ok()
            .body("0123456789")
            .stall_body_after(3, Duration::from_secs(3600)),
    );
    let res = mock
        .oneshot(
            Request::get("http://api.test/")
                .body(girder_core::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = res.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.data_ref().unwrap(), &b"012"[..]);
    assert!(girder_test::poll_once(&mut Box::pin(body.frame())).is_pending());
}

#[tokio::test]
async fn with_recording_off_requests_are_counted_but_not_kept() {
    let server = TestServer::start().await;
    server.route("/", Reply::ok());
    let client = client();
    client.request(get(&server, "/")).await.unwrap();
    server.set_recording(false);
    for _ in 0..3 {
        client.request(get(&server, "/")).await.unwrap();
    }
    assert_eq!(server.requests().len(), 1, "only the request before");
    assert_eq!(server.request_count(), 4);
    server.set_recording(true);
    client.request(get(&server, "/")).await.unwrap();
    assert_eq!(server.requests().len(), 2);
    assert_eq!(server.request_count(), 5);
}

// Regression: a fallback added after a route answered that route's
// requests too, although it is documented to answer only what no other
// route matches (found by the soak, which adds its fallback last).
#[tokio::test]
async fn a_fallback_added_after_a_route_leaves_the_route_its_requests() {
    let server = TestServer::start().await;
    server.route("/token", Reply::status(201));
    server.fallback(Reply::status(418));
    let client = client();
    let token = client.request(get(&server, "/token")).await.unwrap();
    let other = client.request(get(&server, "/other")).await.unwrap();
    assert_eq!(
        (token.status().as_u16(), other.status().as_u16()),
        (201, 418)
    );
}
