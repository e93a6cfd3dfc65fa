//! [`Quota`]: how many calls per period, with what burst.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::error::InvalidRateLimit;

/// The longest period a quota may have: a quota per day is the longest any
/// API publishes, and a week leaves room.
const MAX_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);

/// `count` calls per `period`, up to `burst` of them at once: a GCRA
/// (generic cell rate algorithm) quota, enforced with `governor`.
///
/// One permit comes back every `period / count`, and up to `burst`
/// unused permits are kept. Unlike a fixed window, calls are spread
/// evenly: `Quota::per_second(10).burst(1)` sends one call every 100 ms.
///
/// The values are checked when the policy is built
/// ([`RateLimitPolicyBuilder::build`](crate::RateLimitPolicyBuilder::build)):
/// a zero count, period or burst is an [`InvalidRateLimit`].
///
/// ```
/// use std::time::Duration;
/// use girder_ratelimit::Quota;
///
/// let quota = Quota::per_minute(120).burst(10);
/// assert_eq!(quota.interval(), Duration::from_millis(500));
/// assert_eq!(quota.burst_size(), 10);
/// assert_eq!(Quota::per_hour(1_000).burst_size(), 1_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    count: u32,
    period: Duration,
    burst: Option<u32>,
}

impl Quota {
    /// `count` calls per `period`.
    pub fn new(count: u32, period: Duration) -> Self {
        Quota {
            count,
            period,
            burst: None,
        }
    }

    /// `count` calls per second.
    pub fn per_second(count: u32) -> Self {
        Quota::new(count, Duration::from_secs(1))
    }

    /// `count` calls per minute.
    pub fn per_minute(count: u32) -> Self {
        Quota::new(count, Duration::from_secs(60))
    }

    /// `count` calls per hour.
    pub fn per_hour(count: u32) -> Self {
        Quota::new(count, Duration::from_secs(3600))
    }

    /// How many calls may go at once after a quiet spell.
    ///
    /// Default: the count, so a whole period's calls may go at once, as a
    /// server counting fixed windows allows. Set 1 to spread every call.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// Calls per period.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The burst: calls allowed at once.
    pub fn burst_size(&self) -> u32 {
        self.burst.unwrap_or(self.count)
    }

    /// The time for one permit to come back: `period / count`.
    pub fn interval(&self) -> Duration {
        self.period / self.count.max(1)
    }

    /// The most calls this quota lets through in any `window`.
    pub(crate) fn allowance(&self, window: Duration) -> u128 {
        let refilled = window.as_nanos() / self.interval().as_nanos().max(1);
        u128::from(self.burst_size()) + refilled
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidRateLimit> {
        let bad = |why: String| Err(InvalidRateLimit(format!("{self:?}: {why}")));
        if self.count == 0 {
            return bad("the count must be at least 1".into());
        }
        if self.burst == Some(0) {
            return bad("the burst must be at least 1".into());
        }
        if self.period.is_zero() || self.period > MAX_PERIOD {
            return bad(format!(
                "the period must be above zero and at most {MAX_PERIOD:?}"
            ));
        }
        if self.interval().is_zero() {
            return bad("more than one call per nanosecond".into());
        }
        Ok(())
    }

    /// The governor quota; only for validated quotas.
    pub(crate) fn to_governor(self) -> governor::Quota {
        let burst = NonZeroU32::new(self.burst_size()).unwrap_or(NonZeroU32::MIN);
        governor::Quota::with_period(self.interval())
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_is_refused() {
        assert!(Quota::per_second(0).validate().is_err());
        assert!(Quota::per_second(5).burst(0).validate().is_err());
        assert!(Quota::new(5, Duration::ZERO).validate().is_err());
        assert!(
            Quota::new(5, Duration::from_secs(8 * 24 * 3600))
                .validate()
                .is_err()
        );
        assert!(
            Quota::new(u32::MAX, Duration::from_nanos(1))
                .validate()
                .is_err()
        );
        let err = Quota::per_second(0).validate().unwrap_err();
        assert!(
            err.to_string().contains("count must be at least 1"),
            "{err}"
        );
        assert!(Quota::per_hour(1).burst(1).validate().is_ok());
    }

    #[test]
    fn governor_quota_matches() {
        let q = Quota::per_minute(30).burst(3).to_governor();
        assert_eq!(q.replenish_interval(), Duration::from_secs(2));
        assert_eq!(q.burst_size().get(), 3);
    }

    #[test]
    fn allowance_counts_burst_and_refill() {
        assert_eq!(
            Quota::per_second(10).allowance(Duration::from_secs(60)),
            610
        );
        assert_eq!(
            Quota::per_hour(1000)
                .burst(1)
                .allowance(Duration::from_secs(36)),
            11
        );
    }
}
