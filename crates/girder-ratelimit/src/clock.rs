//! A governor [`Clock`] on tokio's clock, so that paused-time tests move it.
//!
//! governor's own clocks read the system's monotonic clock (or `quanta`),
//! which `tokio::time::pause` does not stop, and its `until_ready` sleeps
//! on a timer tokio does not drive. [`TokioClock`] reads
//! [`tokio::time::Instant::now`] instead, so a limiter built on it sees
//! exactly the time a `#[tokio::test(start_paused = true)]` test sets.
//!
//! ```
//! use std::num::NonZeroU32;
//! use std::time::Duration;
//! use girder_ratelimit::clock::TokioClock;
//! use governor::{Quota, RateLimiter};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let limiter = RateLimiter::direct_with_clock(Quota::per_second(NonZeroU32::MIN), TokioClock);
//! assert!(limiter.check().is_ok());
//! assert!(limiter.check().is_err());
//! tokio::time::advance(Duration::from_secs(1)).await;
//! assert!(limiter.check().is_ok());
//! # }
//! ```

use std::ops::Add;
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::nanos::Nanos;
use tokio::time::Instant;

/// A governor clock reading [`tokio::time::Instant::now`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokioClock;

/// A reading of [`TokioClock`]: a [`tokio::time::Instant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokioInstant(Instant);

impl TokioInstant {
    /// The tokio instant.
    pub fn into_inner(self) -> Instant {
        self.0
    }
}

impl From<Instant> for TokioInstant {
    fn from(instant: Instant) -> Self {
        TokioInstant(instant)
    }
}

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, nanos: Nanos) -> TokioInstant {
        TokioInstant(later(self.0, Duration::from_nanos(nanos.as_u64())))
    }
}

/// `instant + wait`, or a far-future instant (30 years on, as tokio's own
/// far future) where the sum does not fit: never a panic, and never an
/// instant earlier than the sum. Every instant this crate computes from a
/// duration it did not choose goes through here.
pub(crate) fn later(instant: Instant, wait: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    instant
        .checked_add(wait)
        .or_else(|| instant.checked_add(FAR))
        .unwrap_or(instant)
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        nanos(self.0.saturating_duration_since(earlier.0))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        let earlier = self.0.checked_sub(Duration::from_nanos(duration.as_u64()));
        TokioInstant(earlier.unwrap_or(self.0))
    }
}

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

/// `duration` in governor's nanoseconds, saturating instead of panicking
/// past 584 years.
pub(crate) fn nanos(duration: Duration) -> Nanos {
    Nanos::from(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn readings_follow_paused_time() {
        let start = TokioClock.now();
        tokio::time::advance(Duration::from_millis(1500)).await;
        let later = TokioClock.now();
        assert_eq!(
            Duration::from(later.duration_since(start)),
            Duration::from_millis(1500)
        );
        assert_eq!(start.duration_since(later), Nanos::from(0u64));
        assert_eq!(start + nanos(Duration::from_millis(1500)), later);
        assert_eq!(
            later.saturating_sub(nanos(Duration::from_millis(1500))),
            start
        );
        assert_eq!(
            later.into_inner() - start.into_inner(),
            Duration::from_millis(1500)
        );
    }
}
