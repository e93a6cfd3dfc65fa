//! A test kit for HTTP clients built from tower layers: for girder's own
//! tests, and for its users'.
//!
//! - [`TestServer`]: a real hyper server on `127.0.0.1:0` whose routes
//!   follow [`Script`]s of [`Reply`]s (status, headers, body, delay, a
//!   connection closed before the response or in the middle of the body, a
//!   body that stalls)
//!   and which records every request, with its arrival time on tokio's
//!   clock, so tests assert exactly what went over the wire.
//! - `tls` (feature `tls`): a CA, server and client certificates made at
//!   test time, for a `TestServer::start_tls` that speaks HTTPS (mutual
//!   TLS, one TLS version, expired or misnamed certificates).
//! - [`MockService`]: the same scripts and the same request log, in memory,
//!   as a `tower::Service`: a stand-in for the transport or for any layer.
//! - [`FaultLayer`]: errors, statuses, latency and lost responses injected
//!   at rates drawn from a seeded RNG, for requests a predicate selects.
//! - [`fuzz`] (feature `fuzz`): seeded random and mutation inputs for
//!   property tests of parsers, on the stable toolchain.
//! - [`RedisServer`]: a real `redis-server` on a free loopback port, for
//!   tests of shared state (skipped where it is not installed, except in CI).
//! - [`ProxyServer`]: a real forward proxy (`tinyproxy`) on a free loopback
//!   port, optionally asking for Basic credentials, for tests of a client's
//!   proxy support (skipped where it is not installed, except in CI).
//!
//! ```
//! use girder_test::{Reply, TestServer};
//! use http_body_util::{BodyExt, Empty};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let server = TestServer::start().await;
//! server.route("/hello", [Reply::status(503), Reply::ok().body("hi")]);
//!
//! let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
//! let first = client.get(server.uri("/hello")).await?;
//! let second = client.get(server.uri("/hello")).await?;
//! assert_eq!((first.status().as_u16(), second.status().as_u16()), (503, 200));
//! assert_eq!(second.into_body().collect().await?.to_bytes(), "hi");
//! assert_eq!(server.requests_to("/hello").len(), 2);
//! # Ok(())
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's example runs as a doctest, so that it follows the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod fault;
#[cfg(feature = "fuzz")]
#[cfg_attr(docsrs, doc(cfg(feature = "fuzz")))]
pub mod fuzz;
pub mod mock;
pub mod proxy;
mod recorded;
pub mod redis;
mod reply;
mod router;
mod server;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use fault::{FaultLayer, InjectedFault};
pub use mock::MockService;
pub use proxy::{ProxyConfig, ProxyServer, ProxyServerError};
pub use recorded::RecordedRequest;
pub use redis::{RedisServer, RedisServerError};
pub use reply::{Reply, Script};
pub use server::TestServer;

/// Polls `future` once, without a runtime's waker, and keeps it: for tests
/// that must see a future pending before they drop it.
///
/// ```
/// let mut pending = std::future::pending::<()>();
/// assert!(girder_test::poll_once(&mut pending).is_pending());
/// ```
pub fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(future).poll(&mut cx)
}

/// The output of a future that is ready at its first poll, without a
/// runtime: for benchmarks over services that answer at once.
///
/// # Panics
///
/// If the future is pending.
///
/// ```
/// assert_eq!(girder_test::expect_ready(async { 7 }), 7);
/// ```
pub fn expect_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("expect_ready: the future is pending"),
    }
}

/// Whether the tests run in CI (`CI=true` or `CI=1`), where a missing
/// `redis-server` or `tinyproxy` fails the test instead of skipping it.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}
