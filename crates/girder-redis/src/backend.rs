//! [`RedisRateLimitBackend`]: one quota for a fleet, in Redis.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use girder_core::record::Note;
use girder_core::{BoxError, CallRecord, PartitionKey};
use girder_ratelimit::backend::{Acquire, Decision, Feedback, Quotas, RateLimitBackend};
use girder_ratelimit::{GovernorBackend, Quota};

use crate::config::RedisConfig;
use crate::error::RedisUnavailable;
use crate::keys::{self, Keys};
use crate::link::{Availability, Link};
use crate::script;

/// A [`RateLimitBackend`] whose quota state lives in Redis, shared by
/// every process that points at the same Redis and key prefix; see the
/// [crate docs](crate).
///
/// Give it to [`RateLimitPolicyBuilder::backend`](girder_ratelimit::RateLimitPolicyBuilder::backend).
///
/// # Clone
///
/// Clones share everything: the connection, the local fallback state and
/// whether Redis is reachable.
#[derive(Clone)]
pub struct RedisRateLimitBackend {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    keys: Keys,
    script: redis::Script,
    link: Arc<Link>,
    /// This process's share of each quota, used while Redis is away.
    local: GovernorBackend,
    /// Whether the last call fell back, and the one call asking meanwhile.
    redis: Arc<Availability>,
}

impl fmt::Debug for RedisRateLimitBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimitBackend")
            .field("config", &self.inner.config)
            .field("shared", &self.is_shared())
            .finish_non_exhaustive()
    }
}

impl RedisRateLimitBackend {
    /// A backend on `config`. Does not connect: the first call does.
    pub fn new(config: RedisConfig) -> Self {
        RedisRateLimitBackend {
            inner: Arc::new(Inner {
                keys: Keys::new(&config.prefix),
                script: script::script(),
                link: config.link.clone(),
                local: GovernorBackend::new(),
                redis: Arc::default(),
                config,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// Whether the last call was decided by Redis (`true`), or fell back
    /// to this process's share of the quota (`false`).
    pub fn is_shared(&self) -> bool {
        !self.inner.redis.is_away()
    }

    /// One PING, bounded by the config's I/O timeout: to check at start-up
    /// that Redis answers, or to measure a round trip.
    pub async fn ping(&self) -> Result<(), RedisUnavailable> {
        let link = &self.inner.link;
        link.bounded(self.inner.config.io_timeout, async {
            let mut conn = link.connection()?;
            redis::cmd("PING").query_async::<()>(&mut conn).await
        })
        .await
    }
}

impl Inner {
    async fn acquire(
        self: Arc<Self>,
        key: PartitionKey,
        quotas: Quotas,
    ) -> Result<Decision, BoxError> {
        // While Redis is away, one call at a time asks it and the others
        // fall back at once: a hung Redis costs one call the budget, not
        // every call. Held across the round trip, so that a call dropped
        // halfway gives the turn back.
        let _turn = match self.redis.turn() {
            Ok(turn) => turn,
            Err(busy) => return self.fall_back(&key, &quotas, busy).await,
        };
        let partition = keys::partition(&key);
        let mut invocation = self.script.prepare_invoke();
        invocation.arg("acquire");
        script::gates(&mut invocation, &self.keys, &partition, &quotas);
        let reply = self
            .link
            .bounded(self.config.budget, async {
                let mut conn = self.link.connection()?;
                let reply: Vec<i64> = invocation.invoke_async(&mut conn).await?;
                script::decision(&reply).ok_or_else(|| {
                    redis::RedisError::from((
                        redis::ErrorKind::Parse,
                        "unexpected reply from the girder-redis script",
                    ))
                })
            })
            .await;
        match reply {
            Ok(decision) => {
                self.shared_again();
                Ok(decision)
            }
            Err(fault) => {
                self.went_local(&fault);
                self.fall_back(&key, &quotas, fault).await
            }
        }
    }

    /// This process's share decides, or the call is refused (fail_closed).
    async fn fall_back(
        &self,
        key: &PartitionKey,
        quotas: &Quotas,
        fault: RedisUnavailable,
    ) -> Result<Decision, BoxError> {
        if self.config.fail_closed {
            return Err(fault.into());
        }
        CallRecord::note_current("ratelimit", || {
            Note(Cow::Borrowed(
                "quota store (redis) unavailable: this process's share decided",
            ))
        });
        match self.local.acquire(key, &self.local_quotas(quotas)) {
            Acquire::Ready(decision) => decision,
            Acquire::Pending(decision) => decision.await,
        }
    }

    fn went_local(&self, fault: &RedisUnavailable) {
        if !self.redis.failed() {
            return;
        }
        if self.config.fail_closed {
            tracing::warn!(
                target: "girder::redis",
                reason = fault.reason(),
                "redis is unavailable: calls are refused (fail_closed)"
            );
        } else {
            tracing::warn!(
                target: "girder::redis",
                reason = fault.reason(),
                share = self.config.fallback_share(),
                "redis is unavailable: calls use this process's share of each quota"
            );
        }
    }

    fn shared_again(&self) {
        if self.redis.answered() {
            tracing::info!(
                target: "girder::redis",
                "redis is back: calls share the fleet's quota again"
            );
        }
    }

    /// This process's share of every quota: at least one call per period
    /// and a burst of one.
    fn local_quotas(&self, quotas: &Quotas) -> Quotas {
        let share = self.config.share.fraction();
        let scale = |q: &Quota| {
            let part = |n: u32| ((f64::from(n) * share).floor() as u32).clamp(1, n.max(1));
            Quota::new(part(q.count()), q.period()).burst(part(q.burst_size()))
        };
        Quotas::new(
            quotas.partition().iter().map(scale).collect(),
            quotas.global().iter().map(scale).collect(),
        )
    }

    /// Runs `work` on its own task, bounded by the I/O timeout: for
    /// `release` and `observe`, which the layer does not wait for.
    fn spawn(
        self: &Arc<Self>,
        what: &'static str,
        invocation: impl FnOnce(&Inner) -> redis::ScriptInvocation<'_> + Send + 'static,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = self.clone();
        runtime.spawn(async move {
            let invocation = invocation(&inner);
            let done = inner
                .link
                .bounded(inner.config.io_timeout, async {
                    let mut conn = inner.link.connection()?;
                    invocation.invoke_async::<()>(&mut conn).await
                })
                .await;
            if let Err(fault) = done {
                tracing::debug!(target: "girder::redis", op = what, reason = fault.reason(), "not sent to redis");
            }
        });
    }
}

impl RateLimitBackend for RedisRateLimitBackend {
    fn acquire(&self, key: &PartitionKey, quotas: &Quotas) -> Acquire {
        Acquire::Pending(Box::pin(
            self.inner.clone().acquire(key.clone(), quotas.clone()),
        ))
    }

    fn release(&self, key: &PartitionKey, quotas: &Quotas) {
        if !self.is_shared() {
            // The permit came from this process's share.
            let local = self.inner.local_quotas(quotas);
            self.inner.local.release(key, &local);
            return;
        }
        let partition = keys::partition(key);
        let quotas = quotas.clone();
        self.inner.spawn("release", move |inner| {
            let mut invocation = inner.script.prepare_invoke();
            invocation.arg("release");
            script::gates(&mut invocation, &inner.keys, &partition, &quotas);
            invocation
        });
    }

    fn observe(&self, key: &PartitionKey, quotas: &Quotas, feedback: &Feedback) {
        // The local share learns it too, for the calls made while Redis is away.
        let local = self.inner.local_quotas(quotas);
        self.inner.local.observe(key, &local, feedback);
        let partition = keys::partition(key);
        let configured = quotas.partition().to_vec();
        let feedback = feedback.clone();
        self.inner.spawn("observe", move |inner| {
            let mut invocation = inner.script.prepare_invoke();
            invocation
                .arg("observe")
                .key(inner.keys.pause(&partition))
                .key(inner.keys.adopted(&partition));
            script::observe_args(
                &mut invocation,
                &configured,
                feedback.pause,
                &feedback.announced,
            );
            invocation
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use girder_test::RedisServer;

    async fn decide(backend: &RedisRateLimitBackend, quotas: &Quotas) -> Decision {
        let key = PartitionKey::custom("api.test");
        match backend.acquire(&key, quotas) {
            Acquire::Ready(decision) => decision,
            Acquire::Pending(decision) => decision.await,
        }
        .expect("decided")
    }

    /// Pins the stall rule: a connection that stays open but answers
    /// nothing (here a frozen server) is replaced after an I/O timeout,
    /// which redis's manager alone would not do; calls fall back meanwhile.
    #[tokio::test]
    async fn a_silent_connection_is_replaced_after_an_io_timeout() {
        let Some(redis) = RedisServer::start_or_skip("a_silent_connection_is_replaced") else {
            return;
        };
        let config = RedisConfig::builder(redis.url())
            .fleet_size(1)
            .budget(Duration::from_millis(5))
            .io_timeout(Duration::from_millis(20))
            .build()
            .expect("config");
        let backend = RedisRateLimitBackend::new(config);
        let quotas = Quotas::new(vec![Quota::per_minute(100)], vec![]);
        assert_eq!(decide(&backend, &quotas).await, Decision::Granted);
        assert_eq!(backend.inner.link.managers(), 1);

        redis.freeze().expect("freeze");
        // Each call waits its 5 ms budget, then falls back; bounded.
        for _ in 0..200 {
            decide(&backend, &quotas).await;
            if backend.inner.link.managers() > 1 {
                break;
            }
        }
        redis.thaw().expect("thaw");
        assert!(!backend.is_shared());
        assert!(backend.inner.link.managers() > 1, "replaced");
        for _ in 0..400 {
            if decide(&backend, &quotas).await == Decision::Granted && backend.is_shared() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("never back on shared state");
    }
}
