//! Errors of girder-breaker.
//!
//! A refused call fails with [`CircuitOpen`], which lives in girder-core so
//! that other layers (the cache's `stale-if-error`, the facade's error
//! kinds) recognise it without depending on this crate.

use std::fmt;

pub use girder_core::CircuitOpen;

/// A breaker policy that makes no sense, refused when it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBreakerPolicy(&'static str);

impl InvalidBreakerPolicy {
    pub(crate) fn new(why: &'static str) -> Self {
        InvalidBreakerPolicy(why)
    }
}

impl fmt::Display for InvalidBreakerPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid breaker policy: {}", self.0)
    }
}

impl std::error::Error for InvalidBreakerPolicy {}
