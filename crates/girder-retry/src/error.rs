//! Errors of girder-retry.

use std::fmt;

/// A retry policy or budget that makes no sense, refused when it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRetryPolicy(pub(crate) String);

impl fmt::Display for InvalidRetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid retry policy: {}", self.0)
    }
}

impl std::error::Error for InvalidRetryPolicy {}
