//! [`RedisCacheStore`]: one HTTP cache for a fleet, in Redis.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use girder_cache::{CacheEntry, CacheKey, CacheStore, FillClaim, FillToken};
use girder_core::record::Note;
use girder_core::{BoxError, CallRecord};
use redis::aio::ConnectionManager;

use crate::config::RedisConfig;
use crate::error::RedisUnavailable;
use crate::keys::micros_up;
use crate::link::{Availability, Link};

/// Claims a fill: `SET NX PX`, after deleting a value under the claim key
/// that has no expiry (not a claim of ours: left there, it would make
/// every process wait for ever).
const CLAIM: &str = r"
if redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('DEL', KEYS[1])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return 1
end
return 0
";

/// Deletes a fill claim only if it still holds the releasing process's
/// token: a claim that expired meanwhile may belong to another process.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
";

/// A [`CacheStore`] whose entries live in Redis, shared by every process
/// that points at the same Redis and key prefix (and shares the cache's
/// [`identity_secret`](girder_cache::CacheConfigBuilder::identity_secret));
/// see [Shared cache](crate#shared-cache) in the crate docs.
///
/// Give it to [`CacheLayer::with_store`](girder_cache::CacheLayer::with_store).
///
/// # Clone
///
/// Clones share everything: the connection and whether Redis is reachable.
#[derive(Clone)]
pub struct RedisCacheStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    link: Arc<Link>,
    claim: redis::Script,
    release: redis::Script,
    /// Whether the last round trip failed, and the one read asking meanwhile.
    redis: Arc<Availability>,
    /// Fill tokens: a random start (distinct across processes) counted up.
    tokens: AtomicU64,
}

impl fmt::Debug for RedisCacheStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCacheStore")
            .field("config", &self.inner.config)
            .field("shared", &self.is_shared())
            .finish_non_exhaustive()
    }
}

impl RedisCacheStore {
    /// A store on `config`. Does not connect: the first call does.
    pub fn new(config: RedisConfig) -> Self {
        RedisCacheStore {
            inner: Arc::new(Inner {
                link: config.link.clone(),
                claim: redis::Script::new(CLAIM),
                release: redis::Script::new(RELEASE),
                redis: Arc::default(),
                tokens: AtomicU64::new(RandomState::new().hash_one(0u8)),
                config,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// Whether the last round trip reached Redis (`true`), or failed, so
    /// that reads are misses and nothing is stored (`false`).
    pub fn is_shared(&self) -> bool {
        !self.inner.redis.is_away()
    }

    /// The Redis key of `key`'s entry: `{prefix}:c:{storage key}`.
    pub fn entry_key(&self, key: &CacheKey) -> String {
        format!("{}:c:{}", self.inner.config.prefix, key.to_storage_key())
    }

    /// The Redis key of `key`'s fill claim: `{prefix}:f:{storage key}`.
    pub fn claim_key(&self, key: &CacheKey) -> String {
        format!("{}:f:{}", self.inner.config.prefix, key.to_storage_key())
    }
}

impl Inner {
    /// One round trip, bounded by the budget. While Redis is away only a
    /// read may ask it (`probe`), one call at a time, and everything else
    /// fails at once: a hung Redis costs one call one budget (its read),
    /// not every call, nor a budget for each of a call's round trips.
    async fn ask<T, Fut>(
        &self,
        probe: bool,
        work: impl FnOnce(ConnectionManager) -> Fut,
    ) -> Result<T, RedisUnavailable>
    where
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !probe && self.redis.is_away() {
            return Err(RedisUnavailable::new(
                "unavailable; only a read asks whether it is back".into(),
            ));
        }
        let _turn = self.redis.turn()?;
        let reply = self
            .link
            .bounded(self.config.budget, async {
                let conn = self.link.connection()?;
                work(conn).await
            })
            .await;
        match &reply {
            Ok(_) => self.back(),
            Err(fault) => self.gone(fault),
        }
        reply
    }

    fn gone(&self, fault: &RedisUnavailable) {
        if self.redis.failed() {
            tracing::warn!(
                target: "girder::redis",
                reason = fault.reason(),
                "redis is unavailable: cache reads are misses and nothing is stored"
            );
        }
    }

    fn back(&self) {
        if self.redis.answered() {
            tracing::info!(target: "girder::redis", "redis is back: the cache is shared again");
        }
    }

    fn token(&self) -> FillToken {
        FillToken::new(self.tokens.fetch_add(1, Ordering::Relaxed))
    }
}

/// A duration as Redis's `PX`: whole milliseconds, rounded up, at least 1.
fn px(duration: Duration) -> u64 {
    micros_up(duration).div_ceil(1000).max(1)
}

impl CacheStore for RedisCacheStore {
    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, BoxError> {
        let name = self.entry_key(key);
        let read = self
            .inner
            .ask(true, |mut conn| async move {
                match redis::cmd("GET")
                    .arg(&name)
                    .query_async::<Option<Vec<u8>>>(&mut conn)
                    .await
                {
                    // Another type under the key: not ours, so a miss,
                    // and the next fill's SET replaces it.
                    Err(error) if error.code() == Some("WRONGTYPE") => {
                        tracing::debug!(target: "girder::redis", "a value of another type under a cache key: a miss");
                        Ok(None)
                    }
                    other => other,
                }
            })
            .await;
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(fault) => {
                tracing::debug!(target: "girder::redis", reason = fault.reason(), "cache read not answered: a miss");
                CallRecord::note_current("cache", || {
                    Note(Cow::Borrowed(
                        "cache store (redis) unavailable: read as a miss",
                    ))
                });
                return Ok(None);
            }
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        match CacheEntry::decode(&bytes) {
            Ok(entry) => Ok(Some(entry)),
            Err(error) => {
                // Corrupt, foreign, or from a newer version of girder: a
                // miss, overwritten by the next fill.
                tracing::debug!(target: "girder::redis", %error, "an entry that does not decode: a miss");
                Ok(None)
            }
        }
    }

    async fn put(&self, key: CacheKey, entry: CacheEntry) -> Result<(), BoxError> {
        if entry.retain_for().is_zero() {
            return Ok(());
        }
        let bytes = entry.encode()?;
        let limit = self.inner.config.max_cache_entry_bytes;
        if bytes.len() > limit {
            tracing::debug!(
                target: "girder::redis",
                bytes = bytes.len(),
                limit,
                "cache entry over max_cache_entry_bytes: not stored"
            );
            return Ok(());
        }
        let name = self.entry_key(&key);
        let ttl = px(entry.retain_for());
        let written = self
            .inner
            .ask(false, |mut conn| async move {
                redis::cmd("SET")
                    .arg(&name)
                    .arg(bytes.as_ref())
                    .arg("PX")
                    .arg(ttl)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
        if let Err(fault) = written {
            tracing::debug!(target: "girder::redis", reason = fault.reason(), "cache entry not stored");
        }
        Ok(())
    }

    async fn remove(&self, key: &CacheKey) -> Result<(), BoxError> {
        let name = self.entry_key(key);
        let removed = self
            .inner
            .ask(false, |mut conn| async move {
                redis::cmd("DEL")
                    .arg(&name)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
        if let Err(fault) = removed {
            tracing::debug!(target: "girder::redis", reason = fault.reason(), "cache entry not removed");
        }
        Ok(())
    }

    async fn claim_fill(&self, key: &CacheKey, hold: Duration) -> Result<FillClaim, BoxError> {
        let token = self.inner.token();
        let hold = hold.min(self.inner.config.max_fill_hold);
        let name = self.claim_key(key);
        let inner = &self.inner;
        // An error reaches the cache, which then fetches as if alone.
        let claimed: bool = inner
            .ask(false, |mut conn| async move {
                let mut invocation = inner.claim.key(&name);
                invocation.arg(token.get()).arg(px(hold));
                invocation.invoke_async(&mut conn).await
            })
            .await?;
        Ok(if claimed {
            FillClaim::Claimed(token)
        } else {
            FillClaim::Busy
        })
    }

    fn release_fill(&self, key: &CacheKey, token: FillToken) {
        // Called from Drop: sent on its own task, without waiting. Without
        // a runtime (one shutting down) the claim expires by itself.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = self.inner.clone();
        let name = self.claim_key(key);
        runtime.spawn(async move {
            let mut invocation = inner.release.key(name);
            invocation.arg(token.get());
            let done = inner
                .link
                .bounded(inner.config.io_timeout, async {
                    let mut conn = inner.link.connection()?;
                    invocation.invoke_async::<()>(&mut conn).await
                })
                .await;
            if let Err(fault) = done {
                tracing::debug!(target: "girder::redis", reason = fault.reason(), "fill claim not released: it expires");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use girder_test::RedisServer;

    async fn ping(inner: &Inner, probe: bool) -> Result<(), RedisUnavailable> {
        inner
            .ask(probe, |mut conn| async move {
                redis::cmd("PING").query_async::<()>(&mut conn).await
            })
            .await
    }

    /// Pins a call paying a budget for each of its round trips (read,
    /// claim, write) while Redis hangs: once Redis is away only a read
    /// asks it, and a write or a claim fails at once.
    #[tokio::test]
    async fn while_redis_is_away_only_a_read_waits_for_it() {
        let Some(redis) = RedisServer::start_or_skip("only_a_read_waits") else {
            return;
        };
        let config = RedisConfig::builder(redis.url())
            .fleet_size(1)
            .budget(Duration::from_millis(500))
            .build()
            .expect("config");
        let store = RedisCacheStore::new(config);
        let inner = &store.inner;
        assert!(ping(inner, false).await.is_ok());
        redis.freeze().expect("freeze");
        assert!(
            ping(inner, true).await.is_err(),
            "no answer within the budget"
        );
        assert!(!store.is_shared());
        // Not asked at all: refused before any round trip.
        for _ in 0..3 {
            let refused = ping(inner, false).await.expect_err("away");
            assert!(refused.reason().contains("only a read"), "{refused}");
        }
        redis.thaw().expect("thaw");
        for _ in 0..400 {
            if ping(inner, true).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(store.is_shared(), "a read brings the store back");
        assert!(ping(inner, false).await.is_ok());
    }
}
