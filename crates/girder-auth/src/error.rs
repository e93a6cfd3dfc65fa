//! Errors of girder-auth.

use std::fmt;

/// Credentials could not be obtained: the token endpoint refused or
/// answered garbage, could not be reached, a key pool ran dry.
///
/// It lives in girder-core so that other layers and the facade recognise
/// it without depending on this crate;
/// [`ErrorKind::of`](girder_core::ErrorKind::of) maps it to `Auth`. Reach
/// it with `downcast_ref` on the service's `BoxError`. It never holds a
/// secret.
pub use girder_core::auth::{AuthError, AuthErrorKind};

/// A configuration that makes no sense (a zero timeout, a token URL that
/// is not a URL, an empty key pool, …), refused when it is built. The
/// message names the setting, never a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidAuthConfig(String);

impl InvalidAuthConfig {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        InvalidAuthConfig(what.into())
    }
}

impl fmt::Display for InvalidAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid auth configuration: {}", self.0)
    }
}

impl std::error::Error for InvalidAuthConfig {}
