//! What is retried, how often and how long to wait.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use girder_core::{Class, Classify, DefaultClassifier, Outcome, Partition};
use http::StatusCode;

use crate::backoff::Backoff;
use crate::budget::RetryBudget;
use crate::error::InvalidRetryPolicy;
use crate::hook::OnRetry;

/// The most attempts a policy may allow.
const MAX_ATTEMPTS: u32 = 100;

/// The most budgets kept with [`RetryPolicyBuilder::budget_per_partition`],
/// unless the policy says otherwise: as many as girder-breaker keeps circuits.
const DEFAULT_MAX_BUDGET_PARTITIONS: usize = 1_024;

/// A validated retry policy; build one with [`RetryPolicy::builder`].
///
/// Default: 3 attempts in all, [`Backoff::default`], the girder-core
/// [`DefaultClassifier`], server hints honoured up to 60 s, idempotent
/// requests only, [`RetryBudget::default`] shared by every clone of the layer
/// (with a budget per partition, at most 1,024 budgets kept).
#[derive(Clone)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) classifier: Arc<dyn Classify>,
    pub(crate) max_hint: Duration,
    pub(crate) idempotency_keys: bool,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) budget_partition: Option<Partition>,
    pub(crate) max_budget_partitions: usize,
    pub(crate) seed: Option<u64>,
    pub(crate) on_retry: Arc<dyn OnRetry>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("max_hint", &self.max_hint)
            .field("idempotency_keys", &self.idempotency_keys)
            .field("budget", &self.budget)
            .field("budget_partition", &self.budget_partition)
            .field("max_budget_partitions", &self.max_budget_partitions)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            backoff: Backoff::default(),
            classifier: Arc::new(DefaultClassifier),
            max_hint: Duration::from_secs(60),
            idempotency_keys: false,
            budget: Some(RetryBudget::default()),
            budget_partition: None,
            max_budget_partitions: DEFAULT_MAX_BUDGET_PARTITIONS,
            seed: None,
            on_retry: Arc::new(()),
        }
    }
}

impl RetryPolicy {
    /// A builder starting from the defaults.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder(RetryPolicy::default())
    }
}

/// Builds a [`RetryPolicy`]; [`RetryPolicyBuilder::build`] checks it.
#[derive(Debug, Clone)]
pub struct RetryPolicyBuilder(RetryPolicy);

impl RetryPolicyBuilder {
    /// Attempts in all, the first included: 1 never retries. At most 100.
    ///
    /// Default: 3.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.0.max_attempts = attempts;
        self
    }

    /// The wait between attempts when the server gave no hint.
    ///
    /// Default: [`Backoff::default`], decorrelated jitter from 200 ms, capped at 20 s.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.0.backoff = backoff;
        self
    }

    /// Decides which outcomes are retried. Only [`Class::Retryable`] ones are.
    ///
    /// Default: [`DefaultClassifier`] (connect errors, resets, timeouts, 408,
    /// 429, 502, 503, 504).
    pub fn classifier(mut self, classifier: impl Classify + 'static) -> Self {
        self.0.classifier = Arc::new(classifier);
        self
    }

    /// Retries responses with exactly these statuses; errors are still
    /// classified by [`DefaultClassifier`].
    ///
    /// Default: 408, 429, 502, 503, 504.
    pub fn retry_statuses(self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        let statuses: Vec<StatusCode> = statuses.into_iter().collect();
        self.classifier(move |outcome: Outcome<'_>| match outcome {
            Outcome::Response(head) if statuses.contains(&head.status()) => {
                Class::Retryable(girder_core::Reason::Status(head.status()))
            }
            other => match DefaultClassifier.classify(other) {
                Class::Retryable(reason) if matches!(other, Outcome::Response(_)) => {
                    Class::Failure(reason)
                }
                class => class,
            },
        })
    }

    /// The longest server-requested wait (`Retry-After`, or an exhausted
    /// quota's reset) that is honoured. A longer one ends the retries and
    /// the response is returned as it is.
    ///
    /// Default: 60 s.
    pub fn max_hint(mut self, max: Duration) -> Self {
        self.0.max_hint = max;
        self
    }

    /// Gives each POST or PATCH without an `Idempotency-Key` a fresh key,
    /// the same on every attempt, which makes it safe to retry with servers
    /// that honour the key.
    ///
    /// Default: off.
    pub fn idempotency_keys(mut self, enabled: bool) -> Self {
        self.0.idempotency_keys = enabled;
        self
    }

    /// The retry budget, or `None` for none (every failure may be retried
    /// up to the attempt limit).
    ///
    /// Default: [`RetryBudget::default`].
    pub fn budget(mut self, budget: Option<RetryBudget>) -> Self {
        self.0.budget = budget;
        self
    }

    /// Keeps one budget per partition instead of one for everything, at
    /// most [`max_budget_partitions`](Self::max_budget_partitions) of them.
    ///
    /// Default: one shared budget.
    pub fn budget_per_partition(mut self, partition: Partition) -> Self {
        self.0.budget_partition = Some(partition);
        self
    }

    /// The most budgets [`budget_per_partition`](Self::budget_per_partition)
    /// keeps at once (at least 1). When a new partition would exceed it,
    /// budgets unused for the budget's whole ttl are forgotten first, which
    /// loses nothing (their deposits and withdrawals have all expired),
    /// else the least recently used. A forgotten partition seen again
    /// starts with a fresh budget.
    ///
    /// Default: 1,024.
    pub fn max_budget_partitions(mut self, partitions: usize) -> Self {
        self.0.max_budget_partitions = partitions;
        self
    }

    /// Called for each retry scheduled and each call given up on
    /// ([`RetryEvent`](crate::RetryEvent)): to count them, or to alert.
    ///
    /// Default: `()`, nothing.
    pub fn on_retry(mut self, hook: impl OnRetry) -> Self {
        self.0.on_retry = Arc::new(hook);
        self
    }

    /// Seeds the jitter, so that delays repeat from run to run (tests).
    ///
    /// Default: a random seed per call.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = Some(seed);
        self
    }

    /// The policy, or why it makes no sense.
    pub fn build(self) -> Result<RetryPolicy, InvalidRetryPolicy> {
        let attempts = self.0.max_attempts;
        if !(1..=MAX_ATTEMPTS).contains(&attempts) {
            return Err(InvalidRetryPolicy(format!(
                "max_attempts {attempts} must be between 1 and {MAX_ATTEMPTS}"
            )));
        }
        if self.0.max_budget_partitions == 0 {
            return Err(InvalidRetryPolicy(
                "max_budget_partitions must be at least 1".into(),
            ));
        }
        if self.0.max_hint > girder_core::hints::MAX_HINT {
            return Err(InvalidRetryPolicy(format!(
                "max_hint {:?} is above the longest hint girder-core reports ({:?})",
                self.0.max_hint,
                girder_core::hints::MAX_HINT
            )));
        }
        Ok(self.0)
    }
}
