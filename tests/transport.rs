//! The transport against `TestServer` over real TCP on loopback.

use std::time::Duration;

use bytes::Bytes;
use girder::Transport;
use girder::transport::InvalidRequest;
use girder_core::classify::{Class, Classify, DefaultClassifier, Outcome, Reason, TransportError};
use girder_core::{Body, BoxError, ErrorKind};
use girder_test::{Reply, Script, TestServer};
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{Service, ServiceExt};

async fn send(transport: &Transport, request: Request<Body>) -> Result<Response<Body>, BoxError> {
    transport.clone().oneshot(request).await
}

/// Sends a GET and reads the whole response, so the connection goes back to the pool.
async fn round_trip(transport: &Transport, url: String) {
    let response = send(transport, get(url)).await.unwrap();
    response.into_body().collect().await.unwrap();
}

fn get(url: String) -> Request<Body> {
    Request::get(url).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_get_returns_status_headers_and_body() {
    let server = TestServer::start().await;
    server.route(
        "/hello",
        Reply::ok()
            .header("x-served-by", "test")
            .json(r#"{"hi":true}"#),
    );
    let transport = Transport::new().unwrap();
    let res = send(&transport, get(server.url("/hello"))).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-served-by"], "test");
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        res.into_body().collect_limited(1024).await.unwrap(),
        r#"{"hi":true}"#
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].version, http::Version::HTTP_11);
}

#[tokio::test]
async fn buffered_and_streamed_request_bodies_arrive_whole() {
    let server = TestServer::start().await;
    server.route(
        "/upload",
        Script::from_fn(|r| Reply::ok().body(r.body.len().to_string())),
    );
    let transport = Transport::new().unwrap();

    let buffered = Request::post(server.url("/upload"))
        .body(Body::from("0123456789"))
        .unwrap();
    let res = send(&transport, buffered).await.unwrap();
    assert_eq!(res.into_body().collect_limited(64).await.unwrap(), "10");

    let chunks: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = (0..50)
        .map(|i| {
            Ok(http_body::Frame::data(Bytes::from(format!(
                "chunk-{i:02};"
            ))))
        })
        .collect();
    let streamed = Body::new(http_body_util::StreamBody::new(Chunks(chunks.into_iter())));
    let res = send(
        &transport,
        Request::post(server.url("/upload")).body(streamed).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(res.into_body().collect_limited(64).await.unwrap(), "450");
    let seen = server.requests();
    assert_eq!(seen[1].header("transfer-encoding"), Some("chunked"));
    assert!(seen[1].body.starts_with(b"chunk-00;chunk-01;"));
}

struct Chunks<I>(I);
impl<I: Iterator + Unpin> futures_core::Stream for Chunks<I> {
    type Item = I::Item;
    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.get_mut().0.next())
    }
}

#[tokio::test]
async fn a_dropped_connection_is_a_retryable_transport_error() {
    let server = TestServer::start().await;
    server.route("/drop", [Reply::close(), Reply::ok()]);
    let transport = Transport::new().unwrap();
    let err = send(&transport, get(server.url("/drop")))
        .await
        .unwrap_err();
    assert_eq!(
        DefaultClassifier.classify(Outcome::error(&*err)),
        Class::Retryable(Reason::Transport(TransportError::IncompleteMessage)),
        "{err:?}"
    );
    assert_eq!(ErrorKind::of(&*err), ErrorKind::Transport);
    // The pool does not hand out the dead connection again.
    assert_eq!(
        send(&transport, get(server.url("/drop")))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn a_body_cut_short_fails_while_reading_it() {
    let server = TestServer::start().await;
    server.route(
        "/cut",
        Reply::ok().body(vec![b'x'; 10_000]).cut_body_after(1_000),
    );
    let transport = Transport::new().unwrap();
    let res = send(&transport, get(server.url("/cut"))).await.unwrap();
    assert_eq!(res.status(), 200);
    let err = res.into_body().collect().await.unwrap_err();
    assert_eq!(
        TransportError::find(&*err),
        Some(TransportError::IncompleteMessage),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let transport = Transport::new().unwrap();
    let err = send(&transport, get(format!("http://127.0.0.1:{port}/")))
        .await
        .unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::Connect, "{err:?}");
    assert!(
        DefaultClassifier
            .classify(Outcome::error(&*err))
            .is_retryable()
    );
}

#[tokio::test]
async fn connections_are_pooled() {
    let server = TestServer::start().await;
    server.route("/", Reply::ok().body("x"));
    let transport = Transport::new().unwrap();
    for _ in 0..5 {
        round_trip(&transport, server.url("/")).await;
    }
    assert_eq!(server.connections(), 1);
}

#[tokio::test(start_paused = true)]
async fn idle_connections_are_closed_after_the_pool_idle_timeout() {
    let server = TestServer::start().await;
    server.route("/", Reply::ok());
    let transport = Transport::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    round_trip(&transport, server.url("/")).await;
    tokio::time::advance(Duration::from_secs(2)).await;
    round_trip(&transport, server.url("/")).await;
    assert_eq!(server.connections(), 1, "reused within the idle timeout");
    tokio::time::advance(Duration::from_secs(10)).await;
    round_trip(&transport, server.url("/")).await;
    assert_eq!(
        server.connections(),
        2,
        "a new connection after the idle timeout"
    );
}

#[tokio::test]
async fn https_only_refuses_plain_http() {
    let server = TestServer::start().await;
    server.route("/", Reply::ok());
    let transport = Transport::builder().https_only(true).build().unwrap();
    let err = send(&transport, get(server.url("/"))).await.unwrap_err();
    assert_eq!(
        server.request_count(),
        0,
        "nothing went out unencrypted: {err:?}"
    );
    assert!(err.downcast_ref::<InvalidRequest>().is_some(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid request: https_only is set and the URI is not https"
    );
    assert!(
        !DefaultClassifier
            .classify(Outcome::error(&*err))
            .is_retryable()
    );
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn a_relative_uri_is_refused_with_a_clear_error() {
    let transport = Transport::new().unwrap();
    let err = send(&transport, get("/no-host".to_owned()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid request: the URI needs a scheme and a host"
    );
}

#[tokio::test]
async fn a_dropped_call_leaves_the_transport_usable() {
    let server = TestServer::start().await;
    server.route("/slow", Reply::ok().delay(Duration::from_millis(200)));
    server.route("/fast", Reply::ok());
    let mut transport = Transport::new().unwrap();
    let call = transport
        .ready()
        .await
        .unwrap()
        .call(get(server.url("/slow")));
    let dropped = tokio::time::timeout(Duration::from_millis(20), call).await;
    assert!(dropped.is_err());
    assert_eq!(
        send(&transport, get(server.url("/fast")))
            .await
            .unwrap()
            .status(),
        200
    );
}
