//! Errors of girder-redis.

use std::fmt;

pub use crate::config::InvalidRedisConfig;

/// Redis did not answer a call within the budget, or answered with an
/// error, and the backend [fails closed](crate::RedisConfigBuilder::fail_closed):
/// the call is refused. Reach it with `downcast_ref` on the layer's
/// `BoxError`.
///
/// Its message never holds the password of the Redis URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUnavailable {
    reason: String,
}

impl RedisUnavailable {
    pub(crate) fn new(reason: String) -> Self {
        RedisUnavailable { reason }
    }

    /// What went wrong: `no answer within <budget>` or redis's error.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for RedisUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis is unavailable: {}", self.reason)
    }
}

impl std::error::Error for RedisUnavailable {}
