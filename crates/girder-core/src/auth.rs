//! [`AuthError`]: credentials could not be obtained.
//!
//! The auth layer fails a call with an [`AuthError`] when it has no
//! credential to send: the token endpoint refused (with its RFC 6749
//! `error` code and description), answered something that is not a token
//! response, could not be reached, or every API key of a pool was dropped.
//! It lives here, not in girder-auth, so that the breaker, the retry layer
//! and the facade recognise it without depending on that crate;
//! [`ErrorKind::of`](crate::ErrorKind::of) maps it to
//! [`ErrorKind::Auth`](crate::ErrorKind::Auth).
//!
//! An `AuthError` never holds a secret: no client secret, refresh token,
//! access token or API key reaches its message, its `Debug` or its source.
//!
//! ```
//! use girder_core::{AuthError, AuthErrorKind, BoxError, ErrorKind};
//!
//! let err = AuthError::provider(400, "invalid_client", Some("unknown client"), None);
//! assert_eq!(
//!     err.to_string(),
//!     "token endpoint refused the request (400): invalid_client: unknown client"
//! );
//! assert_eq!(err.kind(), AuthErrorKind::Provider);
//! assert_eq!(err.code(), Some("invalid_client"));
//! let boxed: BoxError = err.into();
//! assert_eq!(ErrorKind::of(&*boxed), ErrorKind::Auth);
//! ```

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// What went wrong while obtaining a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// The token endpoint answered with an RFC 6749 error (`error`,
    /// `error_description`, `error_uri`).
    Provider,
    /// The token endpoint answered an error status without an RFC 6749
    /// error body (a 500, an HTML error page, …).
    Status,
    /// The token endpoint answered something that is not a valid token
    /// response (not JSON, no `access_token`, a bad `expires_in`, …).
    InvalidResponse,
    /// The token request could not be sent or its response not read.
    Transport,
    /// The token request took longer than its timeout.
    Timeout,
    /// A pool of API keys has no key left.
    NoCredential,
    /// A token store could not load or save.
    Store,
    /// A credential source (a closure, a JWT signer, …) failed.
    Source,
    /// The refresh stopped before it answered (its task was cancelled, or
    /// panicked).
    Abandoned,
}

impl fmt::Display for AuthErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthErrorKind::Provider => "token endpoint refused the request",
            AuthErrorKind::Status => "token endpoint failed",
            AuthErrorKind::InvalidResponse => "invalid token response",
            AuthErrorKind::Transport => "token request failed",
            AuthErrorKind::Timeout => "token request timed out",
            AuthErrorKind::NoCredential => "no credential left",
            AuthErrorKind::Store => "token store failed",
            AuthErrorKind::Source => "credential source failed",
            AuthErrorKind::Abandoned => "token refresh abandoned",
        })
    }
}

/// Credentials could not be obtained; see the [module docs](self).
///
/// # Clone
///
/// Cheap: one failed refresh is handed to every call that waited for it.
#[derive(Clone)]
pub struct AuthError {
    kind: AuthErrorKind,
    status: Option<u16>,
    code: Option<Box<str>>,
    detail: Option<Box<str>>,
    uri: Option<Box<str>>,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

/// Provider texts are shown, but bounded: an error page must not flood a log.
const MAX_TEXT: usize = 200;

fn bounded(text: &str) -> Box<str> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TEXT)
        .collect();
    cleaned.into_boxed_str()
}

impl AuthError {
    /// An error of `kind` with a short description of what was wrong
    /// (never a secret).
    pub fn new(kind: AuthErrorKind, detail: impl AsRef<str>) -> Self {
        AuthError {
            kind,
            status: None,
            code: None,
            detail: Some(bounded(detail.as_ref())),
            uri: None,
            source: None,
        }
    }

    /// An RFC 6749 (section 5.2) error answered with `status`: the `error`
    /// code, `error_description` and `error_uri`.
    pub fn provider(status: u16, code: &str, description: Option<&str>, uri: Option<&str>) -> Self {
        AuthError {
            kind: AuthErrorKind::Provider,
            status: Some(status),
            code: Some(bounded(code)),
            detail: description.map(bounded),
            uri: uri.map(bounded),
            source: None,
        }
    }

    /// This error, caused by `source`. The source must not hold a secret.
    pub fn with_source(mut self, source: impl Into<crate::BoxError>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// This error, naming the HTTP status the token endpoint answered.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// The HTTP status of the token endpoint's answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The provider's RFC 6749 `error` code (`invalid_grant`, …).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The provider's `error_description`, or what was wrong.
    pub fn description(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The provider's `error_uri`.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)?;
        if let Some(status) = self.status {
            write!(f, " ({status})")?;
        }
        if let Some(code) = &self.code {
            write!(f, ": {code}")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(uri) = &self.uri {
            write!(f, " (see {uri})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthError")
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("code", &self.code)
            .field("detail", &self.detail)
            .field("uri", &self.uri)
            .field("source", &self.source)
            .finish()
    }
}

impl Error for AuthError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn messages_name_what_was_wrong() {
        let err =
            AuthError::new(AuthErrorKind::InvalidResponse, "no access_token").with_status(200);
        assert_eq!(
            err.to_string(),
            "invalid token response (200): no access_token"
        );
        let err = AuthError::provider(400, "invalid_grant", None, Some("https://a.test/e"));
        assert_eq!(
            err.to_string(),
            "token endpoint refused the request (400): invalid_grant (see https://a.test/e)"
        );
        assert_eq!(err.uri(), Some("https://a.test/e"));
    }

    #[test]
    fn provider_text_is_bounded_and_stripped_of_control_characters() {
        let long = "x".repeat(10_000);
        let err = AuthError::provider(400, "e", Some(&format!("a\nb{long}")), None);
        let shown = err.to_string();
        assert!(!shown.contains('\n'));
        assert!(shown.len() < 300, "{}", shown.len());
    }

    #[test]
    fn found_behind_a_source_chain() {
        #[derive(Debug)]
        struct Wrapper(AuthError);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Wrapper(AuthError::new(AuthErrorKind::NoCredential, "none"));
        assert_eq!(ErrorKind::of(&err), ErrorKind::Auth);
    }
}
