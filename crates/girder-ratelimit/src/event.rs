//! [`QuotaEvent`]: the rate limiter's entries in the call record.

use std::fmt;
use std::time::Duration;

use girder_core::record::{Event, Readable};

/// What the rate limiter did to a call, as its entry in the
/// [`CallRecord`](girder_core::CallRecord) (layer `"ratelimit"`): held it
/// for quota, or refused it. A call let through at once notes nothing.
///
/// ```
/// use girder_core::record::CallRecord;
/// use girder_ratelimit::QuotaEvent;
/// use std::time::Duration;
///
/// # fn check(record: &CallRecord) -> Duration {
/// // How long a call waited for quota.
/// record
///     .entries()
///     .iter()
///     .filter_map(|entry| match entry.event::<QuotaEvent>()? {
///         QuotaEvent::Waited { waited } => Some(*waited),
///         _ => None,
///     })
///     .sum::<Duration>()
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaEvent {
    /// The rate limiter held the attempt for `waited`.
    Waited {
        /// The wait.
        waited: Duration,
    },
    /// The rate limiter refused the attempt.
    Refused {
        /// When quota is expected back, if known.
        retry_after: Option<Duration>,
    },
}

impl Event for QuotaEvent {}

impl fmt::Display for QuotaEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuotaEvent::Waited { waited } => write!(f, "waited {} for quota", Readable(*waited)),
            QuotaEvent::Refused {
                retry_after: Some(after),
            } => write!(f, "no quota; retry after {}", Readable(*after)),
            QuotaEvent::Refused { retry_after: None } => f.write_str("no quota"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_it_did() {
        let ms = Duration::from_millis;
        let cases = [
            (
                QuotaEvent::Waited { waited: ms(250) },
                "waited 250ms for quota",
            ),
            (
                QuotaEvent::Refused {
                    retry_after: Some(Duration::from_secs(61)),
                },
                "no quota; retry after 61s",
            ),
            (QuotaEvent::Refused { retry_after: None }, "no quota"),
        ];
        for (event, text) in cases {
            assert_eq!(event.to_string(), text);
            assert!(!event.is_routine() && !event.is_resend() && event.attempt().is_none());
        }
    }

    /// NOTE: girder-core stores an event of up to four words in the entry
    /// itself (record/entry.rs).
    #[test]
    fn fits_in_a_record_entry() {
        assert!(size_of::<QuotaEvent>() <= 4 * size_of::<usize>());
    }
}
