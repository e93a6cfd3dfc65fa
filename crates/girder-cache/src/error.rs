//! The errors of the cache layer.

use std::fmt;
use std::sync::Arc;

use girder_core::BoxError;

pub use crate::config::InvalidCacheConfig;

/// The error of a call that was coalesced with others: every caller of the
/// flight gets one, sharing the leader's error as its
/// [`source`](std::error::Error::source), so
/// [`ErrorKind::of`](girder_core::ErrorKind::of) sees through it.
///
/// A leader that nobody waited for returns its own error unchanged.
#[derive(Clone)]
pub struct SharedError(pub(crate) Arc<BoxError>);

impl SharedError {
    /// The leader's error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &**self.0
    }
}

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedError").field(&self.0).finish()
    }
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "coalesced request failed: {}", self.0)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&**self.0)
    }
}
