//! What is limited, how, and what the server may change.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use girder_core::Partition;

use crate::backend::{GovernorBackend, Quotas, RateLimitBackend};
use crate::error::InvalidRateLimit;
use crate::hook::OnLimit;
use crate::quota::Quota;

/// The most quotas of one kind (per partition, or global) a policy may have.
const MAX_QUOTAS: usize = 16;

/// What a call does when no permit is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Wait in line until a permit is free, unless the wait would be
    /// longer than the policy's `max_wait` or cross the call's
    /// [`Deadline`](girder_core::Deadline); then fail at once.
    #[default]
    Wait,
    /// Fail at once with [`RateLimited`](crate::RateLimited).
    Reject,
}

/// A validated rate-limit policy; build one with [`RateLimitPolicy::builder`].
///
/// Default: no quota of its own (the limiter then only follows the
/// server's `Retry-After` and `RateLimit` headers), one partition per
/// authority, [`Mode::Wait`] for at most 60 s, no in-flight limit, server
/// hints honoured with pauses of at most 1 hour, at most 10,000
/// partitions kept, state in a [`GovernorBackend`] of the layer's own.
#[derive(Clone)]
pub struct RateLimitPolicy {
    pub(crate) quotas: Quotas,
    pub(crate) partition: Partition,
    pub(crate) mode: Mode,
    pub(crate) max_wait: Duration,
    pub(crate) max_in_flight: Option<usize>,
    pub(crate) server_hints: bool,
    pub(crate) max_server_pause: Duration,
    pub(crate) max_partitions: usize,
    pub(crate) backend: Option<Arc<dyn RateLimitBackend>>,
    pub(crate) on_limit: Arc<dyn OnLimit>,
}

impl fmt::Debug for RateLimitPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitPolicy")
            .field("quotas", &self.quotas)
            .field("partition", &self.partition)
            .field("mode", &self.mode)
            .field("max_wait", &self.max_wait)
            .field("max_in_flight", &self.max_in_flight)
            .field("server_hints", &self.server_hints)
            .field("max_server_pause", &self.max_server_pause)
            .field("max_partitions", &self.max_partitions)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Default for RateLimitPolicy {
    fn default() -> Self {
        RateLimitPolicy {
            quotas: Quotas::default(),
            partition: Partition::by_authority(),
            mode: Mode::Wait,
            max_wait: Duration::from_secs(60),
            max_in_flight: None,
            server_hints: true,
            max_server_pause: Duration::from_secs(3600),
            max_partitions: crate::backend::governor_default_max_partitions(),
            backend: None,
            on_limit: Arc::new(()),
        }
    }
}

impl RateLimitPolicy {
    /// A builder starting from the defaults.
    pub fn builder() -> RateLimitPolicyBuilder {
        RateLimitPolicyBuilder(RateLimitPolicy::default())
    }

    /// This policy with its quota state kept in `backend`, replacing the
    /// one it had (see [`RateLimitPolicyBuilder::backend`]): for code that
    /// receives a built policy and decides where its state lives (the
    /// girder `Client` with a shared store).
    pub fn with_backend(mut self, backend: impl RateLimitBackend) -> Self {
        self.backend = Some(Arc::new(backend));
        self
    }

    /// Whether a backend was given; `false` means each layer keeps its
    /// own in-process [`GovernorBackend`].
    pub fn has_backend(&self) -> bool {
        self.backend.is_some()
    }

    /// The backend of a layer built from this policy: the one given, or a
    /// new [`GovernorBackend`].
    pub(crate) fn make_backend(&self) -> Arc<dyn RateLimitBackend> {
        match &self.backend {
            Some(backend) => backend.clone(),
            None => Arc::new(GovernorBackend::with_max_partitions(self.max_partitions)),
        }
    }
}

/// Builds a [`RateLimitPolicy`]; [`RateLimitPolicyBuilder::build`] checks it.
#[derive(Debug, Clone)]
pub struct RateLimitPolicyBuilder(RateLimitPolicy);

impl RateLimitPolicyBuilder {
    /// Adds a quota each partition has for itself. Several may be given
    /// (10 per second and 1,000 per hour); a call needs a permit from each.
    ///
    /// Default: none.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.0.quotas.partition.push(quota);
        self
    }

    /// Adds a quota shared by all partitions, on top of their own.
    ///
    /// Default: none.
    pub fn global_quota(mut self, quota: Quota) -> Self {
        self.0.quotas.global.push(quota);
        self
    }

    /// How calls are split into partitions, each with its own quotas,
    /// in-flight limit and server pauses. An API's quota usually belongs
    /// to its host.
    ///
    /// Default: [`Partition::by_authority`].
    pub fn partition(mut self, partition: Partition) -> Self {
        self.0.partition = partition;
        self
    }

    /// Wait for a permit, or fail at once.
    ///
    /// Default: [`Mode::Wait`]: pacing calls is the point of a client-side limit.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.0.mode = mode;
        self
    }

    /// The longest a call waits in [`Mode::Wait`], for an in-flight slot,
    /// its turn in line, a remote backend's decisions and a permit
    /// together. A call whose wait would be longer fails at once with
    /// [`RateLimited`](crate::RateLimited), telling when to come back. A
    /// remote backend's round trip is bounded by it in either mode: one
    /// that has not answered by then fails the call with
    /// [`Cause::MaxWait`](crate::Cause::MaxWait) (or
    /// [`Cause::Deadline`](crate::Cause::Deadline) when the call's deadline
    /// comes first).
    ///
    /// Default: 60 s, as long as girder-retry honours a server's hint: past
    /// that, a caller is better told when to come back than kept waiting.
    pub fn max_wait(mut self, max: Duration) -> Self {
        self.0.max_wait = max;
        self
    }

    /// At most `max` calls of a partition in flight at once (a bulkhead),
    /// from the call until its response body ends or is dropped (see
    /// [`InFlightBody`](crate::InFlightBody)): a streamed download is in
    /// flight until it is done. Others wait or are refused, as
    /// [`mode`](Self::mode) says.
    ///
    /// Default: no limit.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.0.max_in_flight = Some(max);
        self
    }

    /// Whether responses teach the limiter: `Retry-After` on a 429 or 503,
    /// or a `RateLimit`/`X-RateLimit-*` quota with nothing remaining,
    /// pauses the partition; a `RateLimit-Policy` quota stricter than the
    /// configured ones is adopted for the partition.
    ///
    /// Default: on.
    pub fn server_hints(mut self, enabled: bool) -> Self {
        self.0.server_hints = enabled;
        self
    }

    /// The longest pause a server can impose; a longer hint pauses this
    /// long. The server is asked again after it and may pause again.
    ///
    /// Default: 1 hour, the longest window public APIs reset on; a longer
    /// hint is more likely a broken server than a quota.
    pub fn max_server_pause(mut self, max: Duration) -> Self {
        self.0.max_server_pause = max;
        self
    }

    /// The most partitions the in-process backend keeps; idle ones are
    /// evicted first (see [`GovernorBackend`]'s eviction). Also bounds the
    /// layer's own per-partition lines and in-flight counters.
    ///
    /// Default: 10,000.
    pub fn max_partitions(mut self, max: usize) -> Self {
        self.0.max_partitions = max;
        self
    }

    /// Keeps quota state in `backend` instead of a [`GovernorBackend`] of
    /// the layer's own: a shared store, or one backend for several layers.
    ///
    /// Default: a new [`GovernorBackend`] per layer.
    pub fn backend(mut self, backend: impl RateLimitBackend) -> Self {
        self.0.backend = Some(Arc::new(backend));
        self
    }

    /// Calls `hook` for each wait, refusal and server pause.
    ///
    /// Default: `()`, nothing.
    pub fn on_limit(mut self, hook: impl OnLimit) -> Self {
        self.0.on_limit = Arc::new(hook);
        self
    }

    /// The policy, or why it makes no sense.
    pub fn build(self) -> Result<RateLimitPolicy, InvalidRateLimit> {
        let policy = self.0;
        for (kind, quotas) in [
            ("quotas", policy.quotas.partition()),
            ("global quotas", policy.quotas.global()),
        ] {
            if quotas.len() > MAX_QUOTAS {
                return Err(InvalidRateLimit(format!(
                    "{} {kind}; at most {MAX_QUOTAS} are allowed",
                    quotas.len()
                )));
            }
            for quota in quotas {
                quota.validate()?;
            }
        }
        if policy.max_in_flight == Some(0) {
            return Err(InvalidRateLimit(
                "max_in_flight 0 would refuse every call".into(),
            ));
        }
        if policy.max_partitions == 0 {
            return Err(InvalidRateLimit("max_partitions must be at least 1".into()));
        }
        Ok(policy)
    }
}
