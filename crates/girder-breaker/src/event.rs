//! [`BreakerState`], and [`BreakerEvent`]: the breaker's entries in the
//! call record.

use std::fmt;

use girder_core::record::Event;

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

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        })
    }
}

/// The circuit breaker's state for an attempt, and whether it let the
/// attempt through: the breaker's entry in the
/// [`CallRecord`](girder_core::CallRecord) (layer `"breaker"`), one per
/// attempt it sees. A closed circuit that admits is routine.
///
/// ```
/// use girder_breaker::{BreakerEvent, BreakerState};
/// use girder_core::record::CallRecord;
///
/// # fn check(record: &CallRecord) -> bool {
/// // Whether a call was refused by an open circuit.
/// record.any(|entry| {
///     entry.event::<BreakerEvent>().is_some_and(|event| !event.admitted)
/// })
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerEvent {
    /// The circuit's state.
    pub state: BreakerState,
    /// Whether the attempt was let through.
    pub admitted: bool,
}

impl BreakerEvent {
    /// The entry for `state` and a verdict.
    pub fn new(state: BreakerState, admitted: bool) -> Self {
        BreakerEvent { state, admitted }
    }
}

impl Event for BreakerEvent {
    fn is_routine(&self) -> bool {
        self.state == BreakerState::Closed && self.admitted
    }
}

impl fmt::Display for BreakerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.admitted { "admitted" } else { "refused" };
        write!(f, "circuit {}, {verdict}", self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_it_did_and_only_closed_and_admitted_is_routine() {
        let cases = [
            (BreakerState::Closed, true, "circuit closed, admitted", true),
            (
                BreakerState::HalfOpen,
                true,
                "circuit half-open, admitted",
                false,
            ),
            (BreakerState::Open, false, "circuit open, refused", false),
            (
                BreakerState::Closed,
                false,
                "circuit closed, refused",
                false,
            ),
        ];
        for (state, admitted, text, routine) in cases {
            let event = BreakerEvent::new(state, admitted);
            assert_eq!(event.to_string(), text);
            assert_eq!(event.is_routine(), routine, "{text}");
            assert!(!event.is_resend() && event.attempt().is_none());
        }
    }

    /// NOTE: girder-core stores an event of up to four words in the entry
    /// itself (record/entry.rs).
    #[test]
    fn fits_in_a_record_entry() {
        assert!(size_of::<BreakerEvent>() <= 4 * size_of::<usize>());
    }
}
