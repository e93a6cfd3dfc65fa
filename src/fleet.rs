//! What [`ClientBuilder::redis`](crate::ClientBuilder::redis) changes: each
//! configured layer's state moves to Redis.

use girder_breaker::{BreakerPolicy, BreakerPolicyBuilder};
use girder_ratelimit::{RateLimitPolicy, RateLimitPolicyBuilder};
use std::sync::Arc;

use girder_redis::{RedisCacheStore, RedisCircuitStore, RedisConfig, RedisRateLimitBackend};

use crate::error::{Error, Kind};

/// The builder's fleet settings.
#[derive(Default)]
pub(crate) struct Fleet {
    pub(crate) redis: Option<RedisConfig>,
    /// Built at [`resolve`](Fleet::resolve), once the backend is known:
    /// a built policy's backend cannot be replaced.
    pub(crate) rate_limit: Option<RateLimitPolicyBuilder>,
    pub(crate) breaker: Option<BreakerPolicyBuilder>,
}

/// The cache store of a client with a cache and Redis.
pub(crate) type CacheStore = RedisCacheStore;

/// The layers' settings once the fleet's are applied.
pub(crate) struct Resolved {
    pub(crate) rate_limit: Option<RateLimitPolicy>,
    pub(crate) breaker: Option<BreakerPolicy>,
    /// The shared store, when the client has a cache and Redis.
    pub(crate) cache_store: Option<CacheStore>,
}

impl Fleet {
    /// The rate limit and breaker policies, with the shared ones built on
    /// Redis (or locally without it), and the cache's shared store when
    /// the client has a cache and Redis.
    pub(crate) fn resolve(
        self,
        rate_limit: Option<RateLimitPolicy>,
        breaker: Option<BreakerPolicy>,
        cache: bool,
    ) -> Result<Resolved, Error> {
        let rate_limit = match self.rate_limit {
            Some(policy) => {
                let policy = match &self.redis {
                    Some(config) => policy.backend(RedisRateLimitBackend::new(config.clone())),
                    None => policy,
                };
                Some(policy.build().map_err(|e| {
                    Error::with_message(Kind::Builder, "shared_rate_limit", Some(Box::new(e)))
                })?)
            }
            None => rate_limit,
        };
        let breaker = match self.breaker {
            Some(policy) => {
                let policy = match &self.redis {
                    // The breaker bounds its wait by its own store budget
                    // (20 ms unless the policy says otherwise); the store
                    // bounds each round trip by the config's.
                    Some(config) => policy.store(Arc::new(RedisCircuitStore::new(config.clone()))),
                    None => policy,
                };
                Some(policy.build().map_err(|e| {
                    Error::with_message(Kind::Builder, "shared_circuit_breaker", Some(Box::new(e)))
                })?)
            }
            None => breaker,
        };
        let cache_store = match &self.redis {
            Some(config) if cache => Some(RedisCacheStore::new(config.clone())),
            _ => None,
        };
        Ok(Resolved {
            rate_limit,
            breaker,
            cache_store,
        })
    }
}
