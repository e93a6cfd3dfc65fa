//! girder: tower layers for resilient HTTP API clients.
//!
//! This is the facade crate. Today it holds the [`transport`] that every
//! girder stack sits on, re-exports the shared vocabulary of
//! [`girder_core`], and re-exports the layers that have landed ([`retry`],
//! [`breaker`], [`ratelimit`], [`sign`]).
//! The layers (retry, circuit breaker, rate limit, cache, auth, signing,
//! trace) each live in their own `girder-*` crate and are stacked here in
//! the canonical order as they land.
//!
//! ```
//! use girder::{Body, CallRecordLayer, Transport};
//! use tower::ServiceBuilder;
//!
//! # fn main() -> Result<(), girder::BoxError> {
//! let client = ServiceBuilder::new()
//!     .layer(CallRecordLayer::new())
//!     .service(Transport::new()?);
//! # let _ = client;
//! # Ok(())
//! # }
//! ```

pub mod transport;

/// Safe retries: [`girder_retry`], re-exported.
pub mod retry {
    pub use girder_retry::*;
}

/// The circuit breaker: [`girder_breaker`], re-exported.
pub mod breaker {
    pub use girder_breaker::*;
}

/// Client-side rate limits, paced by quotas and by the server's headers:
/// [`girder_ratelimit`], re-exported.
pub mod ratelimit {
    pub use girder_ratelimit::*;
}

/// Request signing (HMAC schemes, RFC 9421, AWS SigV4), innermost:
/// [`girder_sign`], re-exported.
pub mod sign {
    pub use girder_sign::*;
}

pub use girder_core::{
    Body, BoxError, CallRecord, CallRecordLayer, CircuitOpen, Class, Classify, Deadline,
    DeadlineExceeded, ErrorKind, Idempotency, RateLimited, ReplayBody, ServerHints, SigningError,
};
pub use transport::{Transport, TransportBuilder};

pub use girder_core as core;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
