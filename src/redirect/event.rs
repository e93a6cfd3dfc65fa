//! [`Redirected`]: the redirect layer's entry in the call record.

use std::fmt;

use girder_core::record::Event;

/// A redirect was followed: the request went again to the `Location` of a
/// `status` answer. The redirect layer's entry in the call's
/// [`CallRecord`](crate::CallRecord) (layer `"redirect"`), one per hop; a
/// resend, counted in `http.request.resend_count`.
///
/// ```
/// use girder::CallRecord;
/// use girder::redirect::Redirected;
///
/// # fn check(record: &CallRecord) -> bool {
/// // Whether a hop of the call left its first origin.
/// record.any(|entry| entry.event::<Redirected>().is_some_and(|hop| hop.cross_origin))
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Redirected {
    /// The redirect's status (301, 302, 303, 307, 308).
    pub status: u16,
    /// Whether the hop left the call's first origin (credentials were
    /// withheld from it).
    pub cross_origin: bool,
}

impl Event for Redirected {
    fn is_resend(&self) -> bool {
        true
    }
}

impl fmt::Display for Redirected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "followed a {} redirect", self.status)?;
        if self.cross_origin {
            f.write_str(" to another origin; credentials withheld")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_it_did_and_is_a_resend() {
        let same = Redirected {
            status: 302,
            cross_origin: false,
        };
        let other = Redirected {
            status: 307,
            cross_origin: true,
        };
        assert_eq!(same.to_string(), "followed a 302 redirect");
        assert_eq!(
            other.to_string(),
            "followed a 307 redirect to another origin; credentials withheld"
        );
        for hop in [same, other] {
            assert!(hop.is_resend() && !hop.is_routine() && hop.attempt().is_none());
        }
    }

    /// NOTE: girder-core stores an event of up to four words in the entry
    /// itself (record/entry.rs).
    #[test]
    fn fits_in_a_record_entry() {
        assert!(size_of::<Redirected>() <= 4 * size_of::<usize>());
    }
}
