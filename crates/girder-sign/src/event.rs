//! [`SignEvent`]: the signing layer's entries in the call record.

use std::fmt;

use girder_core::record::Event;

/// What the signing layer did for a call, as its entries in the
/// [`CallRecord`](girder_core::CallRecord) (layer `"sign"`). Signing is
/// routine; a clock-skew re-sign is a resend.
///
/// ```
/// use girder_core::record::CallRecord;
/// use girder_sign::SignEvent;
///
/// # fn check(record: &CallRecord) -> Option<i64> {
/// // The clock offset a re-sign learned, if the call needed one.
/// record.entries().iter().find_map(|entry| match entry.event::<SignEvent>()? {
///     SignEvent::Resigned { offset_ms } => Some(*offset_ms),
///     _ => None,
/// })
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignEvent {
    /// The request was signed with `scheme`.
    Signed {
        /// The signing scheme (`"sigv4"`, `"rfc9421"`, …).
        scheme: &'static str,
    },
    /// The server rejected the request for clock skew; it was signed again
    /// at the server's time and sent again. A resend.
    Resigned {
        /// The clock offset learned, in milliseconds (server minus local).
        offset_ms: i64,
    },
}

impl Event for SignEvent {
    fn is_resend(&self) -> bool {
        matches!(self, SignEvent::Resigned { .. })
    }

    fn is_routine(&self) -> bool {
        matches!(self, SignEvent::Signed { .. })
    }
}

impl fmt::Display for SignEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignEvent::Signed { scheme } => write!(f, "signed with {scheme}"),
            SignEvent::Resigned { offset_ms } => write!(
                f,
                "clock offset of {offset_ms} ms learned from Date; re-signed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_it_did() {
        let signed = SignEvent::Signed { scheme: "sigv4" };
        assert_eq!(signed.to_string(), "signed with sigv4");
        assert!(signed.is_routine() && !signed.is_resend());
        let resigned = SignEvent::Resigned { offset_ms: -3000 };
        assert_eq!(
            resigned.to_string(),
            "clock offset of -3000 ms learned from Date; re-signed"
        );
        assert!(resigned.is_resend() && !resigned.is_routine());
        assert!(signed.attempt().is_none() && resigned.attempt().is_none());
    }

    /// NOTE: girder-core stores an event of up to four words in the entry
    /// itself (record/entry.rs).
    #[test]
    fn fits_in_a_record_entry() {
        assert!(size_of::<SignEvent>() <= 4 * size_of::<usize>());
    }
}
