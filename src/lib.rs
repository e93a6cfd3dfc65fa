//! girder: tower layers for resilient HTTP API clients.
//!
//! This is the facade crate. [`Client`] and [`ClientBuilder`] stack the
//! layers in the canonical order (logging, cache, retry, circuit breaker,
//! rate limit, redirects, cookies, auth, signing, then the per-attempt timeout and
//! decompression) over the [`transport`], each layer optional and
//! configured with its own type; requests and responses are typed, and
//! every failure is one [`Error`] with a [`Kind`]. The transport's TLS
//! (custom roots, mutual TLS, the lowest version) is set on the builder,
//! with the types of `tls`, and so are its proxies (feature `proxy`:
//! `HTTP_PROXY` and friends by default, or `Proxy`) and its connections
//! (HTTP versions, pool, keepalive). The layers live in their
//! own `girder-*` crates and are re-exported here ([`cache`], [`retry`],
//! [`breaker`], [`ratelimit`], [`trace`], [`auth`], `sign`) with the
//! shared vocabulary of [`girder_core`], so they can also be stacked by
//! hand ([`ServiceBuilderExt`]) and wrapped with [`Client::from_service`].
//!
//! On top of the [`Client`] sit the API patterns: [`paginate`] (lists as
//! streams), [`graphql`] (typed operations, errors and Relay connections),
//! [`resource`] (typed REST collections) and, with the `blocking`
//! feature, `blocking` (the same API for synchronous programs). With the
//! `redis` feature, `redis` shares the rate limit, the cache and the
//! circuit breaker of every process of a fleet (`ClientBuilder::redis`).
//!
//! ```
//! use std::time::Duration;
//! use girder::Client;
//! use girder::retry::RetryPolicy;
//!
//! # fn main() -> Result<(), girder::BoxError> {
//! let client = Client::builder()
//!     .base_url("https://api.example.com/v1")
//!     .total_timeout(Duration::from_secs(20))
//!     .retry(RetryPolicy::default())
//!     .build()?;
//! # let _ = client;
//! # Ok(())
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod config;
#[cfg(feature = "cookies")]
#[cfg_attr(docsrs, doc(cfg(feature = "cookies")))]
pub mod cookie;
#[cfg(any(
    feature = "gzip",
    feature = "deflate",
    feature = "br",
    feature = "zstd"
))]
mod decompress;
pub mod error;
mod ext;
#[cfg(feature = "redis")]
mod fleet;
pub mod graphql;
#[cfg(feature = "multipart")]
#[cfg_attr(docsrs, doc(cfg(feature = "multipart")))]
pub mod multipart;
pub mod paginate;
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod proxy;
pub mod redirect;
mod request;
pub mod resource;
mod response;
mod slots;
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc")))
)]
pub mod tls;
pub mod transport;
mod url;

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;

/// Safe retries: [`girder_retry`], re-exported.
#[cfg(feature = "retry")]
#[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
pub mod retry {
    pub use girder_retry::*;
}

/// The RFC 9111 private cache, with stale-while-revalidate, stale-if-error
/// and coalescing: [`girder_cache`], re-exported.
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache {
    pub use girder_cache::*;
}

/// The circuit breaker: [`girder_breaker`], re-exported.
#[cfg(feature = "breaker")]
#[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
pub mod breaker {
    pub use girder_breaker::*;
}

/// Credentials on every attempt, refreshed ahead of expiry, with 401
/// recovery: [`girder_auth`], re-exported.
#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
pub mod auth {
    pub use girder_auth::*;

    /// The default [`TokenClient`]: a new [`Transport`](crate::Transport)
    /// with a 10 s timeout on each token request.
    pub fn token_client() -> Result<TokenClient, crate::transport::BuildError> {
        let transport = crate::Transport::new()?;
        Ok(TokenClient::new(
            tower::ServiceBuilder::new()
                .timeout(std::time::Duration::from_secs(10))
                .service(transport),
        ))
    }
}

/// Client-side rate limits, paced by quotas and by the server's headers:
/// [`girder_ratelimit`], re-exported.
#[cfg(feature = "ratelimit")]
#[cfg_attr(docsrs, doc(cfg(feature = "ratelimit")))]
pub mod ratelimit {
    pub use girder_ratelimit::*;
}

/// Fleet-wide state on Redis (feature `redis`): one quota, one cache and
/// one set of circuits for every process that calls the API:
/// [`girder_redis`], re-exported. [`ClientBuilder::redis`] puts a
/// [`Client`]'s layers on it.
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis {
    pub use girder_redis::*;
}

/// Request logging and spans with OpenTelemetry conventions, secrets
/// redacted: [`girder_trace`], re-exported.
#[cfg(feature = "trace")]
#[cfg_attr(docsrs, doc(cfg(feature = "trace")))]
pub mod trace {
    pub use girder_trace::*;
}

pub use client::{Client, ClientBuilder, RequestBuilder, Response};
pub use config::{ClientConfig, ConfigError};
pub use error::{Error, Kind};
pub use ext::ServiceBuilderExt;
pub use girder_core::{
    AuthError, Body, BoxError, CallRecord, CallRecordLayer, CircuitOpen, Class, Classify, Deadline,
    DeadlineExceeded, ErrorKind, Idempotency, RateLimited, ReplayBody, ServerHints, SigningError,
    TlsError,
};
pub use response::BytesStream;

/// Request signing (HMAC schemes, RFC 9421, AWS SigV4), innermost:
/// [`girder_sign`], re-exported.
#[cfg(feature = "sign")]
#[cfg_attr(docsrs, doc(cfg(feature = "sign")))]
pub mod sign {
    pub use girder_sign::*;
}

pub use transport::{Transport, TransportBuilder};
pub use url::IntoUrl;

/// `url::Url` (feature `url`), accepted as a request URL.
#[cfg(feature = "url")]
#[cfg_attr(docsrs, doc(cfg(feature = "url")))]
pub use ::url::Url;
/// `http`'s header names, values and map, as reqwest re-exports them
/// (`girder::header::CONTENT_TYPE`).
pub use http::header;
/// `http`'s types a request or response names, as reqwest re-exports them.
pub use http::{Method, StatusCode, Version};

#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub use proxy::Proxy;

pub use girder_core as core;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
