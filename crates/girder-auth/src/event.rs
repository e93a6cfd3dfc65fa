//! [`AuthEvent`]: the auth layer's entries in the call record.

use std::fmt;

use girder_core::record::Event;

/// What the auth layer did for a call, as its entries in the
/// [`CallRecord`](girder_core::CallRecord) (layer `"auth"`). A 401 replay
/// ([`RecoveredFrom401`](AuthEvent::RecoveredFrom401)) is a resend.
///
/// ```
/// use girder_auth::AuthEvent;
/// use girder_core::record::CallRecord;
///
/// # fn check(record: &CallRecord) -> bool {
/// // Whether the call was sent again with a fresh credential.
/// record.any(|entry| entry.event() == Some(&AuthEvent::RecoveredFrom401))
/// # }
/// ```
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

impl Event for AuthEvent {
    fn is_resend(&self) -> bool {
        *self == AuthEvent::RecoveredFrom401
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_401_replay_is_a_resend_and_none_is_routine_or_an_attempt() {
        let all = [
            AuthEvent::TokenRefreshed,
            AuthEvent::RecoveredFrom401,
            AuthEvent::TokenFetched,
            AuthEvent::BackgroundRefresh,
            AuthEvent::RefreshFailed,
            AuthEvent::NotReplayed,
            AuthEvent::RejectedAgain,
            AuthEvent::KeyRotated,
        ];
        for event in all {
            assert_eq!(event.is_resend(), event == AuthEvent::RecoveredFrom401);
            assert!(!event.is_routine() && event.attempt().is_none());
        }
        assert_eq!(
            AuthEvent::RecoveredFrom401.to_string(),
            "401, token refreshed and request resent"
        );
    }

    /// NOTE: girder-core stores an event of up to four words in the entry
    /// itself (record/entry.rs).
    #[test]
    fn fits_in_a_record_entry() {
        assert!(size_of::<AuthEvent>() <= 4 * size_of::<usize>());
    }
}
