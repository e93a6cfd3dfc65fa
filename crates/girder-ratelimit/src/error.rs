//! Errors of girder-ratelimit.

use std::fmt;

/// The limiter refused a call, or would have had to wait too long for it;
/// [`Cause`] says why.
///
/// Both live in girder-core, so that other layers recognise the refusal
/// without depending on this crate: the circuit breaker does not count it
/// against the upstream, and [`ErrorKind::of`](girder_core::ErrorKind::of)
/// maps it to `RateLimited`. Reach it with `downcast_ref` on the service's
/// `BoxError`.
pub use girder_core::refusal::{RateLimitCause as Cause, RateLimited};

/// A rate-limit policy that makes no sense, refused when it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRateLimit(pub(crate) String);

impl fmt::Display for InvalidRateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid rate limit: {}", self.0)
    }
}

impl std::error::Error for InvalidRateLimit {}
