//! Errors of girder-ratelimit.

use std::fmt;
use std::time::Duration;

/// The limiter refused a call, or would have had to wait too long for it.
///
/// Reach it with `downcast_ref` on the service's `BoxError`; the facade
/// maps it to [`ErrorKind::RateLimited`](girder_core::ErrorKind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    pub(crate) retry_after: Option<Duration>,
    pub(crate) cause: Cause,
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// A configured or server-announced quota has no permit now.
    Quota,
    /// The server asked this partition to pause (`Retry-After`, or a
    /// quota with nothing remaining until its reset).
    ServerPause,
    /// The partition has as many calls in flight as allowed.
    InFlight,
    /// The wait would have ended after the call's
    /// [`Deadline`](girder_core::Deadline).
    Deadline,
    /// The wait would have been longer than the policy's `max_wait`.
    MaxWait,
}

impl RateLimited {
    pub(crate) fn new(cause: Cause, retry_after: Option<Duration>) -> Self {
        RateLimited { retry_after, cause }
    }

    /// When a permit is expected, counted from the refusal, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Why the call was refused.
    pub fn cause(&self) -> Cause {
        self.cause
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rate limited: ")?;
        f.write_str(match self.cause {
            Cause::Quota => "no quota left",
            Cause::ServerPause => "the server asked to pause",
            Cause::InFlight => "too many calls in flight",
            Cause::Deadline => "the wait for quota would cross the deadline",
            Cause::MaxWait => "the wait for quota would exceed the maximum wait",
        })?;
        if let Some(after) = self.retry_after {
            write!(f, "; retry after {after:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RateLimited {}

/// A rate-limit policy that makes no sense, refused when it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRateLimit(pub(crate) String);

impl fmt::Display for InvalidRateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid rate limit: {}", self.0)
    }
}

impl std::error::Error for InvalidRateLimit {}
