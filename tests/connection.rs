//! The connection settings that `TransportBuilder` and `ClientBuilder`
//! share (issue 23): HTTP versions, the pool, TCP keepalive, against
//! `TestServer` on loopback.

use std::time::Duration;

use girder::{Body, Client, Transport};
use girder_test::{Reply, TestServer};
use http::Version;
use tower::ServiceExt;

async fn version_through(transport: &Transport, url: String) -> Version {
    let request = http::Request::get(url).body(Body::empty()).unwrap();
    let response = transport.clone().oneshot(request).await.unwrap();
    response.version()
}

/// h2c: HTTP/2 from the first byte over plain TCP, which only a server
/// known to speak it accepts.
#[cfg(feature = "http2")]
#[tokio::test]
async fn http2_prior_knowledge_speaks_h2c_to_a_plain_server() {
    let server = TestServer::start().await;
    server.route("/h2", Reply::ok().body("h2"));
    let transport = Transport::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    assert_eq!(
        version_through(&transport, server.url("/h2")).await,
        Version::HTTP_2
    );
    let client = Client::builder()
        .base_url(server.url("/"))
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client.get("h2").send().await.unwrap();
    assert_eq!(response.into_http().version(), Version::HTTP_2);
    let versions: Vec<_> = server.requests().iter().map(|r| r.version).collect();
    assert_eq!(versions, [Version::HTTP_2, Version::HTTP_2]);
}

/// Without a setting, plain TCP is HTTP/1.1: prior knowledge is asked for.
#[tokio::test]
async fn plain_connections_speak_http1_by_default() {
    let server = TestServer::start().await;
    server.route("/", Reply::ok());
    let transport = Transport::new().unwrap();
    assert_eq!(
        version_through(&transport, server.url("/")).await,
        Version::HTTP_11
    );
    assert_eq!(server.requests()[0].version, Version::HTTP_11);
}

/// The TLS server offers h2 by ALPN: taken by default (feature `http2`),
/// declined with `http1_only`, on both builders.
#[cfg(all(feature = "http2", feature = "rustls-ring"))]
#[tokio::test]
async fn http1_only_declines_the_http2_a_tls_server_offers() {
    use girder::tls::Certificate;
    use girder_test::tls::{TestCa, TlsConfig};

    let ca = TestCa::new();
    let server = TestServer::start_tls(TlsConfig::new(&ca.server_cert())).await;
    server.route("/", Reply::ok());
    let root = || Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap();

    let negotiated = Transport::builder()
        .add_root_certificate(root())
        .build()
        .unwrap();
    assert_eq!(
        version_through(&negotiated, server.url("/")).await,
        Version::HTTP_2
    );
    let http1 = Transport::builder()
        .add_root_certificate(root())
        .http1_only()
        .build()
        .unwrap();
    assert_eq!(
        version_through(&http1, server.url("/")).await,
        Version::HTTP_11
    );
    let client = Client::builder()
        .base_url(server.url("/"))
        .add_root_certificate(root())
        .http1_only()
        .build()
        .unwrap();
    client.get("").send().await.unwrap();
    let versions: Vec<_> = server.requests().iter().map(|r| r.version).collect();
    assert_eq!(
        versions,
        [Version::HTTP_2, Version::HTTP_11, Version::HTTP_11]
    );
}

/// With no idle connection kept, every request opens its own; by default
/// one connection serves them all.
#[tokio::test]
async fn pool_max_idle_per_host_zero_keeps_no_connection() {
    let server = TestServer::start().await;
    server.route("/", Reply::ok().body("x"));
    let pooled = Client::builder().base_url(server.url("/")).build().unwrap();
    for _ in 0..3 {
        pooled.get("").send().await.unwrap().bytes().await.unwrap();
    }
    assert_eq!(server.connections(), 1);
    let unpooled = Client::builder()
        .base_url(server.url("/"))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for _ in 0..3 {
        unpooled
            .get("")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    assert_eq!(server.connections(), 4);
}

/// The client's idle timeout reaches its transport's pool (paused time).
#[tokio::test(start_paused = true)]
async fn the_clients_pool_idle_timeout_closes_idle_connections() {
    let server = TestServer::start().await;
    server.route("/", Reply::ok());
    let client = Client::builder()
        .base_url(server.url("/"))
        .pool_idle_timeout(Duration::from_secs(5))
        .tcp_keepalive(Duration::from_secs(30))
        .build()
        .unwrap();
    let call = || async { client.get("").send().await.unwrap().bytes().await.unwrap() };
    call().await;
    tokio::time::advance(Duration::from_secs(2)).await;
    call().await;
    assert_eq!(server.connections(), 1, "reused within the idle timeout");
    tokio::time::advance(Duration::from_secs(10)).await;
    call().await;
    assert_eq!(server.connections(), 2, "a new one after it");
}
