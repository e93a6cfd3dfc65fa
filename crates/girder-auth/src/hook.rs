//! [`OnAuth`]: a hook for the layer's decisions about credentials.

use std::time::Duration;

use http::StatusCode;

use crate::AuthError;

/// A decision of the auth layer that a user may want to count or alert on.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum TokenEvent<'a> {
    /// A fetch succeeded.
    Fetched {
        /// The new credential's lifetime, if it expires.
        expires_in: Option<Duration>,
        /// Whether this replaced an earlier credential (a refresh).
        refresh: bool,
    },
    /// A fetch failed; the next may start after `retry_in`.
    FetchFailed {
        /// The error.
        error: &'a AuthError,
        /// The backoff before the next fetch.
        retry_in: Duration,
        /// Whether a still valid credential remains in use meanwhile.
        current_valid: bool,
    },
    /// The server refused a credential, which was dropped.
    Refused {
        /// 401 or 403.
        status: StatusCode,
        /// Whether the request is sent again with a fresh credential.
        resent: bool,
    },
}

/// Called for each [`TokenEvent`]: `Fetched` and `FetchFailed` on the task
/// that ran the fetch, `Refused` on the task of the refused call.
///
/// Implemented for `()` (the default: nothing; the `tracing` events under
/// `girder::auth` are emitted either way) and for closures.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use girder_auth::{AuthConfig, BearerToken, TokenEvent};
///
/// let failures = Arc::new(AtomicU64::new(0));
/// let counter = failures.clone();
/// let config = AuthConfig::builder(BearerToken::new("t".into())?)
///     .on_event(move |event: &TokenEvent<'_>| {
///         if let TokenEvent::FetchFailed { .. } = event {
///             counter.fetch_add(1, Ordering::Relaxed);
///         }
///     })
///     .build()?;
/// # let _ = config;
/// # Ok::<_, girder_auth::InvalidAuthConfig>(())
/// ```
pub trait OnAuth: Send + Sync + 'static {
    /// Reacts to `event`. Keep it short: it runs inside a fetch or a call.
    fn on_event(&self, event: &TokenEvent<'_>);
}

impl OnAuth for () {
    fn on_event(&self, _event: &TokenEvent<'_>) {}
}

impl<F> OnAuth for F
where
    F: Fn(&TokenEvent<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &TokenEvent<'_>) {
        self(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_auth_obj_safe() {
        fn _take(_: &dyn OnAuth) {}
    }
}
