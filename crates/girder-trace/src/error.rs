//! Errors of girder-trace.

use std::fmt;

/// A logging configuration that makes no sense, refused by
/// [`LoggingConfigBuilder::build`](crate::LoggingConfigBuilder::build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLoggingConfig(pub(crate) String);

impl fmt::Display for InvalidLoggingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid logging config: {}", self.0)
    }
}

impl std::error::Error for InvalidLoggingConfig {}
