//! [`RedisRateLimitBackend`]: one quota for a fleet, in Redis.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use girder_core::{BoxError, PartitionKey};
use girder_ratelimit::backend::{Acquire, Decision, Feedback, Quotas, RateLimitBackend};
use girder_ratelimit::{GovernorBackend, Quota};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use crate::config::RedisConfig;
use crate::error::RedisUnavailable;
use crate::keys::{self, Keys};
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
    /// Made by the first call (it needs the tokio runtime), then re-made
    /// by redis whenever the connection is lost, and here when it stalls.
    manager: Mutex<Option<ConnectionManager>>,
    /// How many managers were made: 1, plus one per stall.
    managers: AtomicU64,
    /// Since when calls have timed out with no answer in between.
    stalled_since: Mutex<Option<Instant>>,
    /// This process's share of each quota, used while Redis is away.
    local: GovernorBackend,
    /// Whether the last call fell back: transitions are logged once.
    on_local: AtomicBool,
    /// Whether a call is asking Redis while it is away.
    probing: AtomicBool,
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
                manager: Mutex::new(None),
                managers: AtomicU64::new(0),
                stalled_since: Mutex::new(None),
                local: GovernorBackend::new(),
                on_local: AtomicBool::new(false),
                probing: AtomicBool::new(false),
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
        !self.inner.on_local.load(Ordering::Acquire)
    }

    /// One PING, bounded by the config's I/O timeout: to check at start-up
    /// that Redis answers, or to measure a round trip.
    pub async fn ping(&self) -> Result<(), RedisUnavailable> {
        let inner = &self.inner;
        inner
            .bounded(inner.config.io_timeout, async {
                let mut conn = inner.connection()?;
                redis::cmd("PING").query_async::<()>(&mut conn).await
            })
            .await
    }
}

impl Inner {
    fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = lock(&self.manager);
        if let Some(manager) = slot.as_ref() {
            return Ok(manager.clone());
        }
        let io = Some(self.config.io_timeout);
        // One attempt per reconnection: while Redis is down each call
        // learns it at once (connection refused) instead of waiting out a
        // backoff, and the next call tries again.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(io)
            .set_response_timeout(io)
            .set_number_of_retries(0);
        let manager = ConnectionManager::new_lazy_with_config(self.config.client.clone(), config)?;
        self.managers.fetch_add(1, Ordering::Relaxed);
        *slot = Some(manager.clone());
        Ok(manager)
    }

    /// `work`, for at most `limit`; a fault is described with every
    /// password of the URL masked.
    async fn bounded<T>(
        &self,
        limit: std::time::Duration,
        work: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, RedisUnavailable> {
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(value)) => {
                self.answered();
                Ok(value)
            }
            Ok(Err(error)) => {
                self.answered();
                Err(RedisUnavailable::new(self.mask(error.to_string())))
            }
            Err(_) => {
                self.stalled();
                Err(RedisUnavailable::new(format!("no answer within {limit:?}")))
            }
        }
    }

    fn answered(&self) {
        let mut since = lock(&self.stalled_since);
        *since = None;
    }

    /// A call timed out. redis re-makes a connection that fails or closes,
    /// but not one that stays open and silent (a frozen server, a
    /// black-holed network, a host gone without a reset): after an I/O
    /// timeout with no answer, the next call starts a new one. At most one
    /// per I/O timeout, so that a merely slow Redis is not flooded with
    /// connections.
    fn stalled(&self) {
        let now = Instant::now();
        let mut since = lock(&self.stalled_since);
        match *since {
            None => *since = Some(now),
            Some(first) if now.duration_since(first) >= self.config.io_timeout => {
                *lock(&self.manager) = None;
                *since = Some(now);
                tracing::debug!(target: "girder::redis", "no answer for an I/O timeout: reconnecting");
            }
            Some(_) => {}
        }
    }

    fn mask(&self, mut text: String) -> String {
        for password in self.config.password.iter().filter(|p| !p.is_empty()) {
            if text.contains(password.as_str()) {
                text = text.replace(password.as_str(), "***");
            }
        }
        text
    }

    async fn acquire(
        self: Arc<Self>,
        key: PartitionKey,
        quotas: Quotas,
    ) -> Result<Decision, BoxError> {
        // While Redis is away, one call at a time asks it (the probe) and
        // the others fall back at once: a hung Redis costs one call the
        // budget, not every call. Held across the round trip, so that a
        // probe dropped halfway frees the slot.
        let _probe = match self.on_local.load(Ordering::Acquire) {
            false => None,
            true => match Probe::start(&self.probing) {
                Some(probe) => Some(probe),
                None => {
                    let busy = RedisUnavailable::new(
                        "unavailable; another call is checking whether it is back".into(),
                    );
                    return self.fall_back(&key, &quotas, busy).await;
                }
            },
        };
        let partition = keys::partition(&key);
        let mut invocation = self.script.prepare_invoke();
        invocation.arg("acquire");
        script::gates(&mut invocation, &self.keys, &partition, &quotas);
        let reply = self
            .bounded(self.config.budget, async {
                let mut conn = self.connection()?;
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
        match self.local.acquire(key, &self.local_quotas(quotas)) {
            Acquire::Ready(decision) => decision,
            Acquire::Pending(decision) => decision.await,
        }
    }

    fn went_local(&self, fault: &RedisUnavailable) {
        if self.on_local.swap(true, Ordering::AcqRel) {
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
        if self.on_local.swap(false, Ordering::AcqRel) {
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
                .bounded(inner.config.io_timeout, async {
                    let mut conn = inner.connection()?;
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

/// The one call asking Redis while it is away; frees the slot when dropped.
struct Probe<'a>(&'a AtomicBool);

impl<'a> Probe<'a> {
    fn start(slot: &'a AtomicBool) -> Option<Self> {
        slot.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Probe(slot))
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Both values stay valid if a holder panicked.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        assert_eq!(backend.inner.managers.load(Ordering::Relaxed), 1);

        redis.freeze().expect("freeze");
        // Each call waits its 5 ms budget, then falls back; bounded.
        for _ in 0..200 {
            decide(&backend, &quotas).await;
            if backend.inner.managers.load(Ordering::Relaxed) > 1 {
                break;
            }
        }
        redis.thaw().expect("thaw");
        assert!(!backend.is_shared());
        assert!(
            backend.inner.managers.load(Ordering::Relaxed) > 1,
            "replaced"
        );
        for _ in 0..400 {
            if decide(&backend, &quotas).await == Decision::Granted && backend.is_shared() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("never back on shared state");
    }
}
