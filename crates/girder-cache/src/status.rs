//! [`CacheStatus`], in the response extensions, and [`CacheEvent`], the
//! cache's entry in the call record.

use std::fmt;

use girder_core::record::Event;

/// What the cache did for a call: in the response extensions of every
/// call through the cache, and in its [`CacheEvent`].
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

/// What the cache did for a call, as its entry in the
/// [`CallRecord`](girder_core::CallRecord) (layer `"cache"`): `cache hit`,
/// `cache revalidated`, … A miss and a bypass are routine.
///
/// ```
/// use girder_cache::{CacheEvent, CacheStatus};
/// use girder_core::record::CallRecord;
///
/// # fn check(record: &CallRecord) -> bool {
/// // Whether the answer came from the cache.
/// record.any(|entry| entry.event() == Some(&CacheEvent(CacheStatus::Hit)))
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheEvent(pub CacheStatus);

impl Event for CacheEvent {
    fn is_routine(&self) -> bool {
        matches!(self.0, CacheStatus::Miss | CacheStatus::Bypass)
    }
}

impl fmt::Display for CacheEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cache {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_it_did_and_only_a_miss_or_a_bypass_is_routine() {
        let cases = [
            (CacheStatus::Hit, "cache hit", false),
            (CacheStatus::Miss, "cache miss", true),
            (CacheStatus::Stale, "cache stale", false),
            (CacheStatus::Revalidated, "cache revalidated", false),
            (CacheStatus::Coalesced, "cache coalesced", false),
            (CacheStatus::Bypass, "cache bypass", true),
        ];
        for (status, text, routine) in cases {
            let event = CacheEvent(status);
            assert_eq!(event.to_string(), text);
            assert_eq!(event.is_routine(), routine, "{text}");
            assert!(!event.is_resend() && event.attempt().is_none());
        }
    }

    /// NOTE: girder-core stores an event of up to four words in the entry
    /// itself (record/entry.rs).
    #[test]
    fn fits_in_a_record_entry() {
        assert!(size_of::<CacheEvent>() <= 4 * size_of::<usize>());
    }
}
