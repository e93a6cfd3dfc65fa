use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::classify::Reason;
use crate::hints::HintSource;

/// A decision a layer made for one call.
///
/// The vocabulary is shared so that the trace layer and users can read every
/// layer's decisions without depending on the layer crates.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Attempt `number` (from 1) is being sent.
    Attempt {
        /// The attempt number, from 1.
        number: u32,
    },
    /// Attempt `failed` failed for `reason`; the next starts after `delay`.
    RetryScheduled {
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
    /// The circuit breaker's state for this attempt.
    Breaker {
        /// The circuit's state.
        state: BreakerState,
        /// Whether the attempt was let through.
        admitted: bool,
    },
    /// The rate limiter held the attempt for `waited`.
    QuotaWaited {
        /// The wait.
        waited: Duration,
    },
    /// The rate limiter refused the attempt.
    QuotaRefused {
        /// When quota is expected back, if known.
        retry_after: Option<Duration>,
    },
    /// What the cache did.
    Cache(CacheStatus),
    /// What the auth layer did.
    Auth(AuthEvent),
    /// The request was signed with `scheme`.
    Signed {
        /// The signing scheme (`"sigv4"`, `"rfc9421"`, …).
        scheme: &'static str,
    },
    /// A redirect was followed: the request went again to the `Location`
    /// of a `status` answer. A resend.
    Redirected {
        /// The redirect's status (301, 302, 303, 307, 308).
        status: u16,
        /// Whether the hop left the call's first origin (credentials were
        /// withheld from it).
        cross_origin: bool,
    },
    /// The server rejected the request for clock skew; it was signed again
    /// at the server's time and sent again. A resend.
    Resigned {
        /// The clock offset learned, in milliseconds (server minus local).
        offset_ms: i64,
    },
    /// Free text, for decisions without a variant of their own.
    Note(Cow<'static, str>),
}

impl Event {
    /// Whether this decision sent the request again: a retry's attempt
    /// after the first, a 401 replay, a clock-skew re-sign or a followed
    /// redirect.
    pub fn is_resend(&self) -> bool {
        matches!(
            self,
            Event::Attempt { number: 2.. }
                | Event::Auth(AuthEvent::RecoveredFrom401)
                | Event::Redirected { .. }
                | Event::Resigned { .. }
        )
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

/// A circuit's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls fail fast.
    Open,
    /// A limited number of probe calls pass.
    HalfOpen,
}

/// What the cache did for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// Served a fresh stored response.
    Hit,
    /// Nothing usable was stored; the response came from the server.
    Miss,
    /// Served a stale response (stale-while-revalidate or stale-if-error).
    Stale,
    /// A stored response was revalidated with the server (304).
    Revalidated,
    /// Waited for another call's fill of the same entry.
    Coalesced,
    /// The request or response may not be cached.
    Bypass,
}

/// What the auth layer did for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthEvent {
    /// A token was fetched or refreshed before sending.
    TokenRefreshed,
    /// The server answered 401; the token was refreshed and the request sent again.
    RecoveredFrom401,
    /// The first credential was fetched before sending (nothing was cached).
    TokenFetched,
    /// The token was close to expiry: a refresh started in the background
    /// and this call went with the current token.
    BackgroundRefresh,
    /// A refresh in the background failed; this call went with the current,
    /// still valid token.
    RefreshFailed,
    /// The server refused the credential (401 or 403); the request body is
    /// a stream, so it was not sent again.
    NotReplayed,
    /// The server refused the fresh credential too; the response is
    /// returned as it is, without another attempt.
    RejectedAgain,
    /// A pool of API keys moved on to its next key.
    KeyRotated,
}

/// A duration as people read it: whole milliseconds, or seconds from a minute up.
pub(crate) struct Readable(pub(crate) Duration);

impl fmt::Display for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < Duration::from_secs(60) {
            write!(f, "{}ms", self.0.as_millis())
        } else {
            write!(f, "{}s", self.0.as_secs())
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Attempt { number } => write!(f, "attempt {number}"),
            Event::RetryScheduled {
                failed,
                reason,
                delay,
                source,
            } => {
                write!(
                    f,
                    "attempt {failed} failed ({reason}); next in {} ({source})",
                    Readable(*delay)
                )
            }
            Event::NotRetried {
                reason: Some(reason),
                why,
            } => write!(f, "not retried after {reason}: {why}"),
            Event::NotRetried { reason: None, why } => write!(f, "not retried: {why}"),
            Event::Breaker { state, admitted } => {
                let verdict = if *admitted { "admitted" } else { "refused" };
                write!(f, "circuit {state}, {verdict}")
            }
            Event::QuotaWaited { waited } => write!(f, "waited {} for quota", Readable(*waited)),
            Event::QuotaRefused {
                retry_after: Some(after),
            } => write!(f, "no quota; retry after {}", Readable(*after)),
            Event::QuotaRefused { retry_after: None } => f.write_str("no quota"),
            Event::Cache(status) => write!(f, "cache {status}"),
            Event::Auth(event) => fmt::Display::fmt(event, f),
            Event::Signed { scheme } => write!(f, "signed with {scheme}"),
            Event::Redirected {
                status,
                cross_origin,
            } => {
                write!(f, "followed a {status} redirect")?;
                if *cross_origin {
                    f.write_str(" to another origin; credentials withheld")?;
                }
                Ok(())
            }
            Event::Resigned { offset_ms } => write!(
                f,
                "clock offset of {offset_ms} ms learned from Date; re-signed"
            ),
            Event::Note(text) => f.write_str(text),
        }
    }
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

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        })
    }
}

impl fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Stale => "stale",
            CacheStatus::Revalidated => "revalidated",
            CacheStatus::Coalesced => "coalesced",
            CacheStatus::Bypass => "bypass",
        })
    }
}

impl fmt::Display for AuthEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthEvent::TokenRefreshed => "token refreshed",
            AuthEvent::RecoveredFrom401 => "401, token refreshed and request resent",
            AuthEvent::TokenFetched => "token fetched",
            AuthEvent::BackgroundRefresh => "token refreshing in the background",
            AuthEvent::RefreshFailed => "background refresh failed; current token kept",
            AuthEvent::NotReplayed => "credential refused; body is a stream, not resent",
            AuthEvent::RejectedAgain => "fresh credential refused too; not resent again",
            AuthEvent::KeyRotated => "moved to the next API key",
        })
    }
}
