//! The errors of layers that refuse a call before it is sent.
//!
//! The circuit breaker refuses with [`CircuitOpen`], the rate limiter with
//! [`RateLimited`]. They live here rather than in their layer crates
//! because other layers must recognise them without depending on those
//! crates: the breaker does not count a rate limiter's refusal against the
//! upstream, the cache serves stale content on either (`stale-if-error`),
//! and [`ErrorKind::of`](crate::ErrorKind::of) maps both. Each layer crate
//! re-exports its own.
//!
//! ```
//! use std::time::Duration;
//! use girder_core::{BoxError, CircuitOpen, ErrorKind, PartitionKey};
//!
//! let key = PartitionKey::custom("api.test");
//! let err: BoxError = CircuitOpen::new(key, Some(Duration::from_secs(12))).into();
//! assert_eq!(err.to_string(), "circuit open for api.test; next probe in 12000ms");
//! let open = err.downcast_ref::<CircuitOpen>().unwrap();
//! assert_eq!(open.retry_after(), Some(Duration::from_secs(12)));
//! assert_eq!(ErrorKind::of(&*err), ErrorKind::CircuitOpen);
//! ```

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::PartitionKey;
use crate::record::Readable;

/// The circuit breaker refused the call: its partition's circuit is open,
/// or half-open with every probe slot taken. The request was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitOpen {
    partition: PartitionKey,
    retry_after: Option<Duration>,
}

impl CircuitOpen {
    /// A refusal for `partition`, whose next probe is `retry_after` away
    /// (`None` when that is not known: a forced-open circuit, or probes in
    /// flight).
    pub fn new(partition: PartitionKey, retry_after: Option<Duration>) -> Self {
        CircuitOpen {
            partition,
            retry_after,
        }
    }

    /// The partition whose circuit is open.
    pub fn partition(&self) -> &PartitionKey {
        &self.partition
    }

    /// How long until the circuit lets a probe through, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit open for {}", self.partition)?;
        match self.retry_after {
            Some(wait) => write!(f, "; next probe in {}", Readable(wait)),
            None => Ok(()),
        }
    }
}

impl Error for CircuitOpen {}

/// The rate limiter refused the call: no quota now, or a wait longer than
/// allowed. The request was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    cause: RateLimitCause,
    retry_after: Option<Duration>,
    partition: Option<PartitionKey>,
}

/// Why the rate limiter refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitCause {
    /// A configured or server-announced quota has no permit now.
    Quota,
    /// The server asked this partition to pause (`Retry-After`, or a
    /// quota with nothing remaining until its reset).
    ServerPause,
    /// The partition has as many calls in flight as allowed.
    InFlight,
    /// The wait would have ended after the call's
    /// [`Deadline`](crate::Deadline).
    Deadline,
    /// The wait would have been longer than the limiter's maximum wait.
    MaxWait,
}

impl fmt::Display for RateLimitCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateLimitCause::Quota => "no quota left",
            RateLimitCause::ServerPause => "the server asked to pause",
            RateLimitCause::InFlight => "too many calls in flight",
            RateLimitCause::Deadline => "the wait for quota would cross the deadline",
            RateLimitCause::MaxWait => "the wait for quota would exceed the maximum wait",
        })
    }
}

impl RateLimited {
    /// A refusal for `cause`, after which quota is expected back in
    /// `retry_after`, if known.
    pub fn new(cause: RateLimitCause, retry_after: Option<Duration>) -> Self {
        RateLimited {
            cause,
            retry_after,
            partition: None,
        }
    }

    /// Names the partition whose quota ran out.
    pub fn with_partition(mut self, partition: PartitionKey) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Why.
    pub fn cause(&self) -> RateLimitCause {
        self.cause
    }

    /// How long until quota is expected back, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The partition whose quota ran out, if named.
    pub fn partition(&self) -> Option<&PartitionKey> {
        self.partition.as_ref()
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rate limited")?;
        if let Some(partition) = &self.partition {
            write!(f, " for {partition}")?;
        }
        write!(f, ": {}", self.cause)?;
        if let Some(wait) = self.retry_after {
            write!(f, "; retry after {}", Readable(wait))?;
        }
        Ok(())
    }
}

impl Error for RateLimited {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn rate_limited_says_what_it_knows() {
        let bare = RateLimited::new(RateLimitCause::InFlight, None);
        assert_eq!(bare.to_string(), "rate limited: too many calls in flight");
        let full = RateLimited::new(RateLimitCause::MaxWait, Some(Duration::from_millis(1500)))
            .with_partition(PartitionKey::custom("a.test"));
        assert_eq!(
            full.to_string(),
            "rate limited for a.test: the wait for quota would exceed the maximum wait; retry after 1500ms"
        );
        assert_eq!(full.cause(), RateLimitCause::MaxWait);
        assert_eq!(ErrorKind::of(&full), ErrorKind::RateLimited);
    }

    #[test]
    fn refusals_are_found_behind_a_wrapper() {
        #[derive(Debug)]
        struct Wrapper(CircuitOpen);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let open = CircuitOpen::new(PartitionKey::global(), None);
        assert_eq!(open.to_string(), "circuit open for *");
        assert_eq!(ErrorKind::of(&Wrapper(open)), ErrorKind::CircuitOpen);
    }
}
