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

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::PartitionKey;
use crate::record::event::Readable;

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
    partition: Option<PartitionKey>,
    retry_after: Option<Duration>,
    detail: Option<Cow<'static, str>>,
}

impl RateLimited {
    /// A refusal after which quota is expected back in `retry_after`, if
    /// known.
    pub fn new(retry_after: Option<Duration>) -> Self {
        RateLimited {
            partition: None,
            retry_after,
            detail: None,
        }
    }

    /// Names the partition whose quota ran out.
    pub fn with_partition(mut self, partition: PartitionKey) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Says why, in a few lower-case words ("wait exceeds max wait").
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// How long until quota is expected back, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The partition whose quota ran out, if named.
    pub fn partition(&self) -> Option<&PartitionKey> {
        self.partition.as_ref()
    }

    /// Why, if said.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rate limited")?;
        if let Some(partition) = &self.partition {
            write!(f, " for {partition}")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(wait) = self.retry_after {
            write!(f, "; quota back in {}", Readable(wait))?;
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
        let bare = RateLimited::new(None);
        assert_eq!(bare.to_string(), "rate limited");
        let full = RateLimited::new(Some(Duration::from_millis(1500)))
            .with_partition(PartitionKey::custom("a.test"))
            .with_detail("wait exceeds max wait");
        assert_eq!(
            full.to_string(),
            "rate limited for a.test: wait exceeds max wait; quota back in 1500ms"
        );
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
