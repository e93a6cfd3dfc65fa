//! The four clients, each sending `GET` and reading the whole body.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use bytes::Bytes;
use girder::auth::{AuthConfig, BearerToken};
use girder::breaker::BreakerPolicy;
use girder::cache::CacheConfig;
use girder::ratelimit::{Quota, RateLimitPolicy};
use girder::retry::RetryPolicy;
use girder::sign::hmac::HmacSigner;
use girder::trace::LoggingConfig;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reqwest_middleware::ClientWithMiddleware;
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_tracing::TracingMiddleware;

use crate::BoxError;
use crate::server::{CACHEABLE, NO_STORE};

/// Which client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// hyper-util's legacy client over `HttpConnector`, nothing on top:
    /// the limit.
    Bare,
    /// `girder::Client` with every layer on, none blocking; the server
    /// answers `no-store`, so every call reaches the network.
    Girder,
    /// The same stack with logging off (the call record is still kept):
    /// what the discarding `fmt` subscriber costs, by difference.
    GirderQuiet,
    /// The same stack on a path the server marks `max-age=3600`: after the
    /// first call, every call is a cache hit.
    GirderCached,
    /// reqwest + reqwest-middleware with reqwest-retry and
    /// reqwest-tracing: the peer stack.
    Reqwest,
}

impl Kind {
    /// Every client, in table order.
    pub const ALL: [Kind; 5] = [
        Kind::Bare,
        Kind::Girder,
        Kind::GirderQuiet,
        Kind::GirderCached,
        Kind::Reqwest,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bare => "bare",
            Kind::Girder => "girder",
            Kind::GirderQuiet => "girder-quiet",
            Kind::GirderCached => "girder-cached",
            Kind::Reqwest => "reqwest",
        }
    }

    /// The label in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Bare => "(1) hyper-util legacy client (bare)",
            Kind::Girder => "(2) girder full stack, no-store",
            Kind::GirderQuiet => "(2b) girder full stack, logging off",
            Kind::GirderCached => "(3) girder full stack, cache hits",
            Kind::Reqwest => "(4) reqwest + middleware, retry, tracing",
        }
    }

    /// The path this client calls.
    pub fn path(self) -> &'static str {
        match self {
            Kind::GirderCached => CACHEABLE,
            _ => NO_STORE,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown client {s:?} (bare, girder, girder-quiet, girder-cached, reqwest)")
            })
    }
}

/// A client ready to call one server.
// Made once per worker and never moved on the hot path; boxing the bare
// client would add a pointer chase to the baseline alone.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Client {
    /// See [`Kind::Bare`].
    Bare(HyperClient<HttpConnector, Empty<Bytes>>, Uri),
    /// See [`Kind::Girder`] and [`Kind::GirderCached`].
    Girder(girder::Client, &'static str),
    /// See [`Kind::Reqwest`].
    Reqwest(ClientWithMiddleware, String),
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::Bare(_, uri) => write!(f, "Bare({uri})"),
            Client::Girder(_, path) => write!(f, "Girder({path})"),
            Client::Reqwest(_, url) => write!(f, "Reqwest({url})"),
        }
    }
}

impl Client {
    /// Builds the client of `kind` for the server at `addr`, calling
    /// `path` (usually [`Kind::path`]).
    pub fn new(kind: Kind, addr: SocketAddr, path: &'static str) -> Result<Client, BoxError> {
        Ok(match kind {
            Kind::Bare => Client::Bare(bare(), format!("http://{addr}{path}").parse()?),
            Kind::Girder | Kind::GirderCached => Client::Girder(girder_full(addr, true)?, path),
            Kind::GirderQuiet => Client::Girder(girder_full(addr, false)?, path),
            Kind::Reqwest => Client::Reqwest(reqwest_stack()?, format!("http://{addr}{path}")),
        })
    }

    /// One call: sends `GET`, reads the whole body, and returns its length.
    /// Any status but 200 is an error.
    pub async fn call(&self) -> Result<usize, BoxError> {
        match self {
            Client::Bare(client, uri) => {
                let req = Request::get(uri.clone()).body(Empty::new())?;
                let res = client.request(req).await?;
                check(res.status())?;
                Ok(res.into_body().collect().await?.to_bytes().len())
            }
            Client::Girder(client, path) => {
                let res = client.get(*path).send().await?;
                check(res.status())?;
                Ok(res.bytes().await?.len())
            }
            Client::Reqwest(client, url) => {
                let res = client.get(url).send().await?;
                check(res.status())?;
                Ok(res.bytes().await?.len())
            }
        }
    }
}

fn check(status: StatusCode) -> Result<(), BoxError> {
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(format!("unexpected status {status}").into())
    }
}

/// hyper-util's legacy client with `TCP_NODELAY`, as girder's transport
/// and reqwest set it; otherwise its defaults.
fn bare() -> HyperClient<HttpConnector, Empty<Bytes>> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    HyperClient::builder(TokioExecutor::new()).build(http)
}

/// `girder::Client` with every layer on and configured so none blocks:
/// retry (default policy), circuit breaker (default), a rate limit of a
/// billion a second, a static bearer token, HMAC signing, logging (the
/// default config: an INFO span and an INFO event per call), the cache,
/// and the builder's default timeouts, redirects and decompression.
/// Without `logging`, the logging layer is left out (the call record is
/// still kept).
pub fn girder_full(addr: SocketAddr, logging: bool) -> Result<girder::Client, BoxError> {
    Ok(girder_builder(&format!("http://{addr}"), logging)?.build()?)
}

/// The builder behind [`girder_full`], for `base_url`: the criterion bench
/// builds it over an in-memory transport.
pub fn girder_builder(base_url: &str, logging: bool) -> Result<girder::ClientBuilder, BoxError> {
    let quota = Quota::per_second(1_000_000_000).burst(1_000_000_000);
    Ok(girder::Client::builder()
        .base_url(base_url)
        .retry(RetryPolicy::default())
        .circuit_breaker(BreakerPolicy::default())
        .rate_limit(RateLimitPolicy::builder().quota(quota).build()?)
        .auth(AuthConfig::new(BearerToken::new(
            "bench-token-0123456789abcdef".to_owned().into(),
        )?))
        .signing(HmacSigner::builder("bench", b"bench-secret-0123456789".to_vec()).build()?)
        .logging(logging.then(LoggingConfig::default))
        .cache(CacheConfig::default()))
}

/// reqwest (rustls, otherwise default features off) under
/// reqwest-middleware with reqwest-tracing's `TracingMiddleware` and
/// reqwest-retry's `RetryTransientMiddleware` (exponential backoff, 3
/// retries).
pub fn reqwest_stack() -> Result<ClientWithMiddleware, BoxError> {
    let client = reqwest::Client::builder().build()?;
    let retry = ExponentialBackoff::builder().build_with_max_retries(3);
    Ok(reqwest_middleware::ClientBuilder::new(client)
        .with(TracingMiddleware::default())
        .with(RetryTransientMiddleware::new_with_policy(retry))
        .build())
}
