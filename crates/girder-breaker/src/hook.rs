//! [`OnStateChange`]: react when a circuit opens, probes or closes.

use std::fmt;
use std::time::Duration;

use girder_core::PartitionKey;

use crate::BreakerState;

/// One circuit changed state.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StateChange {
    /// The circuit's partition.
    pub partition: PartitionKey,
    /// The state it left.
    pub from: BreakerState,
    /// The state it entered.
    pub to: BreakerState,
    /// Why.
    pub cause: Cause,
    /// For how long it opened, when it opened.
    pub open_for: Option<Duration>,
}

impl fmt::Display for StateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit {} {} -> {}: {}",
            self.partition, self.from, self.to, self.cause
        )?;
        if let Some(open) = self.open_for {
            write!(f, "; open for {}ms", open.as_millis())?;
        }
        Ok(())
    }
}

/// Why a circuit changed state.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Cause {
    /// The window's failure rate reached the threshold.
    FailureRate(f64),
    /// The window's slow-call rate reached the threshold.
    SlowCallRate(f64),
    /// This many failures in a row.
    ConsecutiveFailures(u32),
    /// The server answered 429 or 503 with `Retry-After`.
    RetryAfter(Duration),
    /// The open period ended; probes may pass.
    OpenElapsed,
    /// A probe failed.
    ProbeFailed,
    /// Every probe succeeded.
    ProbesSucceeded,
    /// [`BreakerHandle::reset`](crate::BreakerHandle::reset).
    Reset,
    /// The shared [`CircuitStore`](crate::CircuitStore) said another
    /// process opened the circuit (this one opens for the time left), or
    /// is probing it (this one probes too, within the fleet's slots).
    Shared,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::FailureRate(rate) => write!(f, "failure rate {:.0}%", rate * 100.0),
            Cause::SlowCallRate(rate) => write!(f, "slow-call rate {:.0}%", rate * 100.0),
            Cause::ConsecutiveFailures(n) => write!(f, "{n} failures in a row"),
            Cause::RetryAfter(wait) => {
                write!(f, "server asked to retry after {}ms", wait.as_millis())
            }
            Cause::OpenElapsed => f.write_str("open period over"),
            Cause::ProbeFailed => f.write_str("probe failed"),
            Cause::ProbesSucceeded => f.write_str("probes succeeded"),
            Cause::Reset => f.write_str("reset"),
            Cause::Shared => f.write_str("following the shared store"),
        }
    }
}

/// Called on every [`StateChange`], outside the breaker's locks, on the
/// task whose call caused it. Keep it short; hand slow work to a channel.
///
/// Implemented for `()` (nothing) and for closures:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use girder_breaker::{BreakerPolicy, StateChange};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let policy = BreakerPolicy::builder()
///     .on_state_change(move |change: &StateChange| log.lock().unwrap().push(change.to))
///     .build()?;
/// # Ok::<(), girder_breaker::error::InvalidBreakerPolicy>(())
/// ```
pub trait OnStateChange: Send + Sync {
    /// Reacts to `change`.
    fn on_state_change(&self, change: &StateChange);
}

impl OnStateChange for () {
    fn on_state_change(&self, _: &StateChange) {}
}

impl<F> OnStateChange for F
where
    F: Fn(&StateChange) + Send + Sync,
{
    fn on_state_change(&self, change: &StateChange) {
        self(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _obj_safe(_: &dyn OnStateChange) {}

    #[test]
    fn changes_read_well() {
        let change = StateChange {
            partition: PartitionKey::custom("api.test"),
            from: BreakerState::Closed,
            to: BreakerState::Open,
            cause: Cause::FailureRate(0.6),
            open_for: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            change.to_string(),
            "circuit api.test closed -> open: failure rate 60%; open for 30000ms"
        );
    }
}
