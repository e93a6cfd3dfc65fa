//! The errors of the signing layer.
//!
//! [`SigningError`] (a request could not be signed; it was not sent) lives
//! in `girder-core` so that other layers and the facade recognise it;
//! it is re-exported here. [`InvalidSigningConfig`] is a builder's refusal
//! of a configuration that makes no sense.

use std::error::Error;
use std::fmt;

pub use girder_core::{SigningError, SigningErrorKind};

/// A signer's configuration makes no sense (an empty secret, a signed
/// timestamp that is never sent, a header name that is not one). It names
/// the setting, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSigningConfig {
    field: &'static str,
    reason: &'static str,
}

impl InvalidSigningConfig {
    pub(crate) fn new(field: &'static str, reason: &'static str) -> Self {
        InvalidSigningConfig { field, reason }
    }

    /// The setting at fault.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for InvalidSigningConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid signing configuration: {} {}",
            self.field, self.reason
        )
    }
}

impl Error for InvalidSigningConfig {}
