//! [`RetryDecision`]: the retry layer's entries in the call record, and the
//! reasons they (and [`RetryEvent`](crate::RetryEvent)) carry.

use std::fmt;
use std::time::Duration;

use girder_core::Reason;
use girder_core::hints::HintSource;
use girder_core::record::{Event, Readable};

/// What the retry layer decided for a call, as its entries in the
/// [`CallRecord`](girder_core::CallRecord) (layer `"retry"`).
///
/// ```
/// use girder_core::record::CallRecord;
/// use girder_retry::RetryDecision;
///
/// # fn check(record: &CallRecord) {
/// // The attempts a call's record shows, in order.
/// let attempts: Vec<u32> = record
///     .entries()
///     .iter()
///     .filter_map(|entry| match entry.event::<RetryDecision>()? {
///         RetryDecision::Attempt { number } => Some(*number),
///         _ => None,
///     })
///     .collect();
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Attempt `number` (from 1) is being sent; from 2 on, a resend.
    Attempt {
        /// The attempt number, from 1.
        number: u32,
    },
    /// Attempt `failed` failed for `reason`; the next starts after `delay`.
    Scheduled {
        /// The attempt that failed.
        failed: u32,
        /// Why it failed.
        reason: Reason,
        /// The wait before the next attempt.
        delay: Duration,
        /// What set the wait.
        source: DelaySource,
    },
    /// The call was not (or no longer) retried.
    NotRetried {
        /// Why the last attempt failed, if it did.
        reason: Option<Reason>,
        /// Why no further attempt was made.
        why: NoRetry,
    },
}

impl Event for RetryDecision {
    fn attempt(&self) -> Option<u32> {
        match self {
            RetryDecision::Attempt { number } => Some(*number),
            _ => None,
        }
    }

    /// The first attempt, and "not retryable" without a failure.
    fn is_routine(&self) -> bool {
        matches!(
            self,
            RetryDecision::Attempt { number: 1 }
                | RetryDecision::NotRetried {
                    reason: None,
                    why: NoRetry::NotRetryable
                }
        )
    }
}

impl fmt::Display for RetryDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryDecision::Attempt { number } => write!(f, "attempt {number}"),
            RetryDecision::Scheduled {
                failed,
                reason,
                delay,
                source,
            } => write!(
                f,
                "attempt {failed} failed ({reason}); next in {} ({source})",
                Readable(*delay)
            ),
            RetryDecision::NotRetried {
                reason: Some(reason),
                why,
            } => write!(f, "not retried after {reason}: {why}"),
            RetryDecision::NotRetried { reason: None, why } => write!(f, "not retried: {why}"),
        }
    }
}

/// What set a retry's delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DelaySource {
    /// The retry policy's backoff.
    Backoff,
    /// A server hint.
    Hint(HintSource),
}

impl fmt::Display for DelaySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DelaySource::Backoff => f.write_str("backoff"),
            DelaySource::Hint(HintSource::RetryAfter) => f.write_str("Retry-After"),
            DelaySource::Hint(HintSource::RateLimit) => f.write_str("RateLimit reset"),
            DelaySource::Hint(HintSource::XRateLimit) => f.write_str("X-RateLimit reset"),
        }
    }
}

/// Why a failed call was not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoRetry {
    /// The outcome is not retryable.
    NotRetryable,
    /// The request is not idempotent.
    NotIdempotent,
    /// The request body cannot be replayed (a stream).
    BodyNotReplayable,
    /// The attempts allowed are used up.
    AttemptsExhausted,
    /// The retry budget is spent.
    BudgetExhausted,
    /// The next attempt could not start before the call's deadline.
    Deadline,
    /// The server asked for a wait longer than the retry policy allows.
    HintTooLong(Duration),
}

impl fmt::Display for NoRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoRetry::NotRetryable => f.write_str("not retryable"),
            NoRetry::NotIdempotent => f.write_str("request is not idempotent"),
            NoRetry::BodyNotReplayable => f.write_str("body cannot be replayed"),
            NoRetry::AttemptsExhausted => f.write_str("attempts exhausted"),
            NoRetry::BudgetExhausted => f.write_str("retry budget spent"),
            NoRetry::Deadline => f.write_str("deadline too close"),
            NoRetry::HintTooLong(wait) => {
                write!(f, "server asked for {}, over the cap", Readable(*wait))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use girder_core::CallRecord;
    use http::StatusCode;

    #[tokio::test(start_paused = true)]
    async fn the_record_reads_as_it_did() {
        let record = CallRecord::new();
        record.push("retry", RetryDecision::Attempt { number: 1 });
        tokio::time::advance(Duration::from_millis(250)).await;
        // The retry layer reads the clock when it sees an outcome; later
        // entries carry that reading.
        record.mark_now();
        record.push(
            "retry",
            RetryDecision::Scheduled {
                failed: 1,
                reason: Reason::Status(StatusCode::SERVICE_UNAVAILABLE),
                delay: Duration::from_millis(400),
                source: DelaySource::Hint(HintSource::RetryAfter),
            },
        );
        record.push("retry", RetryDecision::Attempt { number: 2 });
        record.push(
            "retry",
            RetryDecision::NotRetried {
                reason: Some(Reason::Status(StatusCode::BAD_GATEWAY)),
                why: NoRetry::HintTooLong(Duration::from_secs(90)),
            },
        );
        record.push(
            "retry",
            RetryDecision::NotRetried {
                reason: None,
                why: NoRetry::BudgetExhausted,
            },
        );
        assert_eq!(
            record.to_string(),
            "+0ms retry: attempt 1\n\
             +250ms retry: attempt 1 failed (status 503 Service Unavailable); next in 400ms (Retry-After)\n\
             +250ms retry: attempt 2\n\
             +250ms retry: not retried after status 502 Bad Gateway: server asked for 90s, over the cap\n\
             +250ms retry: not retried: retry budget spent"
        );
        assert_eq!((record.attempts(), record.resends()), (2, 1));
    }

    #[test]
    fn only_the_first_attempt_and_a_bare_not_retryable_are_routine() {
        let routine = |d: RetryDecision| Event::is_routine(&d);
        assert!(routine(RetryDecision::Attempt { number: 1 }));
        assert!(!routine(RetryDecision::Attempt { number: 2 }));
        assert!(routine(RetryDecision::NotRetried {
            reason: None,
            why: NoRetry::NotRetryable
        }));
        assert!(!routine(RetryDecision::NotRetried {
            reason: Some(Reason::Other),
            why: NoRetry::NotRetryable
        }));
        assert!(!routine(RetryDecision::Scheduled {
            failed: 1,
            reason: Reason::Other,
            delay: Duration::ZERO,
            source: DelaySource::Backoff,
        }));
    }

    /// NOTE: girder-core stores an event of up to four words in the entry
    /// itself (record/entry.rs); a larger one would cost an allocation per
    /// note.
    #[test]
    fn fits_in_a_record_entry() {
        assert!(size_of::<RetryDecision>() <= 4 * size_of::<usize>());
    }
}
