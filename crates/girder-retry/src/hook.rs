//! [`OnRetry`]: a hook for the retry layer's decisions.

use std::time::Duration;

use crate::{DelaySource, NoRetry};
use girder_core::Reason;

/// A decision of the retry layer that a user may want to count or alert on.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum RetryEvent {
    /// Attempt `failed` failed for `reason`; the next is sent after `delay`.
    Scheduled {
        /// The attempt that failed, from 1.
        failed: u32,
        /// Why it failed.
        reason: Reason,
        /// The wait before the next attempt.
        delay: Duration,
        /// What set the wait: the backoff or a server hint.
        source: DelaySource,
    },
    /// Attempt `attempt` failed for `reason` and is the call's last: `why`
    /// (not retryable, not idempotent, attempts or budget exhausted, the
    /// deadline, …). Not emitted for a success.
    GaveUp {
        /// The last attempt, from 1.
        attempt: u32,
        /// Why it failed.
        reason: Reason,
        /// Why it was not retried.
        why: NoRetry,
    },
}

/// Called for each [`RetryEvent`], on the task of the call it is about.
///
/// Implemented for `()` (the default: nothing; the `tracing` events under
/// `girder::retry` and the call record's entries are written either way)
/// and for closures.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use girder_retry::{RetryEvent, RetryPolicy};
///
/// let scheduled = Arc::new(AtomicU64::new(0));
/// let counter = scheduled.clone();
/// let policy = RetryPolicy::builder()
///     .on_retry(move |event: &RetryEvent| {
///         if let RetryEvent::Scheduled { .. } = event {
///             counter.fetch_add(1, Ordering::Relaxed);
///         }
///     })
///     .build()
///     .unwrap();
/// # let _ = policy;
/// ```
pub trait OnRetry: Send + Sync + 'static {
    /// Reacts to `event`. Keep it short: it runs inside the call.
    fn on_event(&self, event: &RetryEvent);
}

impl OnRetry for () {
    fn on_event(&self, _event: &RetryEvent) {}
}

impl<F> OnRetry for F
where
    F: Fn(&RetryEvent) + Send + Sync + 'static,
{
    fn on_event(&self, event: &RetryEvent) {
        self(event)
    }
}
