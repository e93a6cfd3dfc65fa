//! What [`ClientBuilder::redis`](crate::ClientBuilder::redis) changes: each
//! configured layer's state moves to Redis.

use std::sync::Arc;

use girder_breaker::BreakerPolicy;
use girder_ratelimit::RateLimitPolicy;
use girder_redis::{RedisCacheStore, RedisCircuitStore, RedisConfig, RedisRateLimitBackend};

/// The cache store of a client with a cache and Redis.
pub(crate) type CacheStore = RedisCacheStore;

/// The layers' settings once the fleet's are applied.
pub(crate) struct Resolved {
    pub(crate) rate_limit: Option<RateLimitPolicy>,
    pub(crate) breaker: Option<BreakerPolicy>,
    /// The shared store, when the client has a cache and Redis.
    pub(crate) cache_store: Option<CacheStore>,
}

/// The rate limit's quotas on a [`RedisRateLimitBackend`], the breaker's
/// circuits on a [`RedisCircuitStore`] and the cache's entries in a
/// [`RedisCacheStore`], each when that layer is configured and the user
/// gave it no backend or store of its own.
pub(crate) fn resolve(
    redis: Option<&RedisConfig>,
    rate_limit: Option<RateLimitPolicy>,
    breaker: Option<BreakerPolicy>,
    cache: bool,
) -> Resolved {
    let Some(config) = redis else {
        return Resolved {
            rate_limit,
            breaker,
            cache_store: None,
        };
    };
    let rate_limit = rate_limit.map(|policy| {
        if policy.has_backend() {
            policy
        } else {
            policy.with_backend(RedisRateLimitBackend::new(config.clone()))
        }
    });
    // The breaker bounds its wait by its own store budget (20 ms unless the
    // policy says otherwise); the store bounds each round trip by the
    // config's.
    let breaker = breaker.map(|policy| {
        if policy.has_store() {
            policy
        } else {
            policy.with_store(Arc::new(RedisCircuitStore::new(config.clone())))
        }
    });
    Resolved {
        rate_limit,
        breaker,
        cache_store: cache.then(|| RedisCacheStore::new(config.clone())),
    }
}
