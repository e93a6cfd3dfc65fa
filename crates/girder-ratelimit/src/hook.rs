//! [`OnLimit`]: a hook for the limiter's decisions.

use std::time::Duration;

use girder_core::PartitionKey;

use crate::error::RateLimited;

/// A decision of the limiter that a user may want to count or alert on.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum LimitEvent<'a> {
    /// A call waited `waited` for an in-flight slot or a quota permit.
    Waited {
        /// The call's partition.
        partition: &'a PartitionKey,
        /// The time spent waiting.
        waited: Duration,
    },
    /// A call was refused.
    Refused {
        /// The call's partition.
        partition: &'a PartitionKey,
        /// The error the call fails with.
        error: &'a RateLimited,
    },
    /// The server asked the partition to pause (`Retry-After` on a 429 or
    /// 503, or a quota with nothing remaining until its reset).
    Paused {
        /// The partition paused.
        partition: &'a PartitionKey,
        /// The pause, after the policy's cap.
        pause: Duration,
    },
}

/// Called for each [`LimitEvent`], on the task of the call it is about.
///
/// Implemented for `()` (the default: nothing; the `tracing` events under
/// `girder::ratelimit` are emitted either way) and for closures.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use girder_ratelimit::{LimitEvent, RateLimitPolicy};
///
/// let refused = Arc::new(AtomicU64::new(0));
/// let counter = refused.clone();
/// let policy = RateLimitPolicy::builder()
///     .on_limit(move |event: &LimitEvent<'_>| {
///         if let LimitEvent::Refused { .. } = event {
///             counter.fetch_add(1, Ordering::Relaxed);
///         }
///     })
///     .build()
///     .unwrap();
/// # let _ = policy;
/// ```
pub trait OnLimit: Send + Sync + 'static {
    /// Reacts to `event`. Keep it short: it runs inside the call.
    fn on_event(&self, event: &LimitEvent<'_>);
}

impl OnLimit for () {
    fn on_event(&self, _event: &LimitEvent<'_>) {}
}

impl<F> OnLimit for F
where
    F: Fn(&LimitEvent<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &LimitEvent<'_>) {
        self(event)
    }
}
