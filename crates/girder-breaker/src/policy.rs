//! [`BreakerPolicy`]: when a circuit opens, for how long, and per what.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use girder_core::{Classify, Partition};

use crate::error::InvalidBreakerPolicy;
use crate::hook::OnStateChange;
use crate::store::CircuitStore;

/// The sliding window over which failure and slow-call rates are measured.
///
/// Both kinds cost O(1) per call and a fixed amount of memory per circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last `n` calls (1 to 10,000): one byte each.
    Count(u32),
    /// The calls of the last `n` seconds (1 to 3,600), in one-second
    /// buckets.
    Time(u32),
}

impl Window {
    /// The last `calls` calls.
    pub fn count(calls: u32) -> Window {
        Window::Count(calls)
    }

    /// The calls of the last `seconds` seconds.
    pub fn time(seconds: u32) -> Window {
        Window::Time(seconds)
    }
}

/// How long a circuit stays open before it lets probes through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenDuration {
    pub(crate) base: Duration,
    pub(crate) max: Duration,
    pub(crate) jitter: f64,
}

impl OpenDuration {
    /// Always `duration`.
    pub fn fixed(duration: Duration) -> OpenDuration {
        OpenDuration {
            base: duration,
            max: duration,
            jitter: 0.0,
        }
    }

    /// `base` after the first trip, doubling each time a probe fails and
    /// the circuit opens again, up to `max`. A circuit that closes starts
    /// over from `base`.
    pub fn exponential(base: Duration, max: Duration) -> OpenDuration {
        OpenDuration {
            base,
            max,
            jitter: 0.0,
        }
    }

    /// Spreads each duration uniformly over ±`fraction` of itself (0 to 1),
    /// so that many clients which tripped together do not probe together.
    pub fn jitter(mut self, fraction: f64) -> OpenDuration {
        self.jitter = fraction;
        self
    }

    /// The duration after `trips` consecutive trips (1 for the first), and
    /// `unit` a number in [0, 1) that picks the jitter.
    pub(crate) fn after(&self, trips: u32, unit: f64) -> Duration {
        let doublings = trips.saturating_sub(1).min(31);
        let grown = self
            .base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max);
        let spread = 1.0 + self.jitter * (2.0 * unit - 1.0);
        grown.mul_f64(spread.max(0.0))
    }

    fn validate(&self) -> Result<(), InvalidBreakerPolicy> {
        if self.base.is_zero() || self.max < self.base {
            return Err(InvalidBreakerPolicy::new(
                "open duration must be positive with max >= base",
            ));
        }
        if self.max > MAX_OPEN {
            return Err(InvalidBreakerPolicy::new("open duration is over one day"));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(InvalidBreakerPolicy::new(
                "open jitter must be within 0..=1",
            ));
        }
        Ok(())
    }
}

const MAX_OPEN: Duration = Duration::from_secs(24 * 3600);

/// Calls slower than `threshold` are slow; the circuit opens when at least
/// `rate` of the window's calls are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SlowCalls {
    pub(crate) threshold: Duration,
    pub(crate) rate: f64,
}

/// When a circuit opens, for how long, and how it recovers; see the
/// [crate docs](crate) for the defaults and why.
///
/// ```
/// use std::time::Duration;
/// use girder_breaker::{BreakerPolicy, OpenDuration, Window};
///
/// let policy = BreakerPolicy::builder()
///     .window(Window::count(50))
///     .failure_rate(0.25)
///     .minimum_calls(10)
///     .slow_calls(Duration::from_secs(2), 0.5)
///     .consecutive_failures(None)
///     .open_duration(OpenDuration::fixed(Duration::from_secs(10)))
///     .build()?;
/// # Ok::<(), girder_breaker::error::InvalidBreakerPolicy>(())
/// ```
#[derive(Clone)]
pub struct BreakerPolicy {
    pub(crate) window: Window,
    pub(crate) failure_rate: f64,
    pub(crate) slow_calls: Option<SlowCalls>,
    pub(crate) minimum_calls: u32,
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) open: OpenDuration,
    pub(crate) probes: u32,
    pub(crate) retry_after_cap: Option<Duration>,
    pub(crate) partition: Partition,
    pub(crate) max_partitions: usize,
    pub(crate) idle_after: Duration,
    pub(crate) classifier: Option<Arc<dyn Classify>>,
    pub(crate) on_state_change: Arc<dyn OnStateChange>,
    pub(crate) seed: Option<u64>,
    pub(crate) store: Option<Arc<dyn CircuitStore>>,
    pub(crate) store_budget: Duration,
}

impl BreakerPolicy {
    /// A builder starting from the defaults.
    pub fn builder() -> BreakerPolicyBuilder {
        BreakerPolicyBuilder {
            policy: BreakerPolicy::default(),
        }
    }

    /// This policy with its circuits shared through `store`, replacing the
    /// one it had (see [`BreakerPolicyBuilder::store`]): for code that
    /// receives a built policy and decides where its circuits live (the
    /// girder `Client` with a shared store).
    pub fn with_store(mut self, store: Arc<dyn CircuitStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Whether a [`CircuitStore`] was given.
    pub fn has_store(&self) -> bool {
        self.store.is_some()
    }
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            window: Window::Time(30),
            failure_rate: 0.5,
            slow_calls: None,
            minimum_calls: 20,
            consecutive_failures: Some(5),
            open: OpenDuration::exponential(Duration::from_secs(30), Duration::from_secs(300))
                .jitter(0.1),
            probes: 3,
            retry_after_cap: Some(Duration::from_secs(300)),
            partition: Partition::by_authority(),
            max_partitions: 1024,
            idle_after: Duration::from_secs(600),
            classifier: None,
            on_state_change: Arc::new(()),
            seed: None,
            store: None,
            store_budget: Duration::from_millis(20),
        }
    }
}

impl fmt::Debug for BreakerPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPolicy")
            .field("window", &self.window)
            .field("failure_rate", &self.failure_rate)
            .field("slow_calls", &self.slow_calls)
            .field("minimum_calls", &self.minimum_calls)
            .field("consecutive_failures", &self.consecutive_failures)
            .field("open", &self.open)
            .field("probes", &self.probes)
            .field("retry_after_cap", &self.retry_after_cap)
            .field("partition", &self.partition)
            .field("max_partitions", &self.max_partitions)
            .field("idle_after", &self.idle_after)
            .field("custom_classifier", &self.classifier.is_some())
            .field("store", &self.store)
            .field("store_budget", &self.store_budget)
            .finish_non_exhaustive()
    }
}

/// Builds a [`BreakerPolicy`]; [`build`](Self::build) checks it.
#[derive(Debug, Clone)]
pub struct BreakerPolicyBuilder {
    policy: BreakerPolicy,
}

impl BreakerPolicyBuilder {
    /// The window the rates are measured over.
    ///
    /// Default: [`Window::time(30)`](Window::time), the last 30 seconds.
    pub fn window(mut self, window: Window) -> Self {
        self.policy.window = window;
        self
    }

    /// Opens the circuit when at least this share (0 exclusive to 1) of the
    /// window's calls failed.
    ///
    /// Default: 0.5.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.policy.failure_rate = rate;
        self
    }

    /// Counts a call taking `threshold` or longer (until its response
    /// head) as slow, and opens the circuit when at least `rate` (0
    /// exclusive to 1) of the window's calls were slow. A slow probe fails.
    ///
    /// Default: off.
    pub fn slow_calls(mut self, threshold: Duration, rate: f64) -> Self {
        self.policy.slow_calls = Some(SlowCalls { threshold, rate });
        self
    }

    /// The rates are not judged until the window holds this many calls.
    ///
    /// Default: 20.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.policy.minimum_calls = calls;
        self
    }

    /// Opens the circuit after this many failures in a row, whatever the
    /// window says; `None` turns the rule off.
    ///
    /// Default: 5.
    pub fn consecutive_failures(mut self, failures: impl Into<Option<u32>>) -> Self {
        self.policy.consecutive_failures = failures.into();
        self
    }

    /// How long an open circuit stays open.
    ///
    /// Default: 30 s, doubling on each failed recovery up to 5 min, ±10 %.
    pub fn open_duration(mut self, open: OpenDuration) -> Self {
        self.policy.open = open;
        self
    }

    /// How many probe calls a half-open circuit lets through at once (1 to
    /// 1,000); that many successes close it, one failure reopens it.
    ///
    /// Default: 3.
    pub fn half_open_probes(mut self, probes: u32) -> Self {
        self.policy.probes = probes;
        self
    }

    /// A 429 or 503 response with `Retry-After` opens the circuit until
    /// then (at most `cap` ahead) instead of counting as a failure; `None`
    /// ignores `Retry-After`.
    ///
    /// Default: 5 min.
    pub fn retry_after_cap(mut self, cap: impl Into<Option<Duration>>) -> Self {
        self.policy.retry_after_cap = cap.into();
        self
    }

    /// How requests are split into circuits.
    ///
    /// Default: [`Partition::by_authority`], one circuit per host and port.
    pub fn partition(mut self, partition: Partition) -> Self {
        self.policy.partition = partition;
        self
    }

    /// The most circuits kept at once (at least 1). When a new partition
    /// would exceed it, idle circuits are dropped, else the least recently
    /// used one.
    ///
    /// Default: 1,024.
    pub fn max_partitions(mut self, partitions: usize) -> Self {
        self.policy.max_partitions = partitions;
        self
    }

    /// A closed circuit unused for this long (at least 1 s) is idle and the
    /// first to be dropped when room is needed.
    ///
    /// Default: 10 min.
    pub fn evict_idle_after(mut self, idle: Duration) -> Self {
        self.policy.idle_after = idle;
        self
    }

    /// What counts as a failure: a [`Class`](girder_core::Class) other than
    /// success. Refusals by layers below ([`RateLimited`](girder_core::RateLimited),
    /// [`CircuitOpen`](girder_core::CircuitOpen),
    /// [`DeadlineExceeded`](girder_core::DeadlineExceeded)) and client-side
    /// failures ([`AuthError`](girder_core::AuthError), signing errors) are
    /// never counted.
    ///
    /// Default: [`DefaultClassifier`](girder_core::DefaultClassifier), except
    /// that every 4xx response is a success: the server is up and answered.
    pub fn classifier(mut self, classifier: impl Classify + 'static) -> Self {
        self.policy.classifier = Some(Arc::new(classifier));
        self
    }

    /// Called on every state change, outside the breaker's locks.
    ///
    /// Default: `()`, nothing (state changes are always traced under
    /// `girder::breaker`).
    pub fn on_state_change(mut self, hook: impl OnStateChange + 'static) -> Self {
        self.policy.on_state_change = Arc::new(hook);
        self
    }

    /// Seeds the open-duration jitter, for reproducible tests.
    ///
    /// Default: seeded from the system.
    pub fn seed(mut self, seed: u64) -> Self {
        self.policy.seed = Some(seed);
        self
    }

    /// Shares the circuits' open periods and half-open probing with every
    /// breaker using `store`, in this process or others; see
    /// [`store`](crate::store). Each breaker keeps its own windows.
    ///
    /// Default: none; every circuit is this breaker's own, and a call pays
    /// nothing for the option.
    pub fn store(mut self, store: Arc<dyn CircuitStore>) -> Self {
        self.policy.store = Some(store);
        self
    }

    /// How long a call waits for the [`store`](Self::store) at most (1 ms
    /// to 1 s), never past the call's [`Deadline`](girder_core::Deadline).
    /// Past it, or when the store fails, the call is decided by this
    /// breaker's own circuit: a slow store never refuses a call.
    ///
    /// Default: 20 ms.
    pub fn store_budget(mut self, budget: Duration) -> Self {
        self.policy.store_budget = budget;
        self
    }

    /// Checks the policy.
    pub fn build(self) -> Result<BreakerPolicy, InvalidBreakerPolicy> {
        let p = self.policy;
        let capacity = match p.window {
            Window::Count(n) if (1..=10_000).contains(&n) => n,
            Window::Time(n) if (1..=3_600).contains(&n) => u32::MAX,
            Window::Count(_) => {
                return Err(InvalidBreakerPolicy::new(
                    "count window must hold 1 to 10000 calls",
                ));
            }
            Window::Time(_) => {
                return Err(InvalidBreakerPolicy::new(
                    "time window must span 1 to 3600 seconds",
                ));
            }
        };
        if !(p.failure_rate > 0.0 && p.failure_rate <= 1.0) {
            return Err(InvalidBreakerPolicy::new(
                "failure rate must be within (0, 1]",
            ));
        }
        if let Some(slow) = p.slow_calls {
            if !(slow.rate > 0.0 && slow.rate <= 1.0) {
                return Err(InvalidBreakerPolicy::new(
                    "slow-call rate must be within (0, 1]",
                ));
            }
            if slow.threshold.is_zero() {
                return Err(InvalidBreakerPolicy::new(
                    "slow-call threshold must be positive",
                ));
            }
        }
        if p.minimum_calls == 0 || p.minimum_calls > capacity {
            return Err(InvalidBreakerPolicy::new(
                "minimum calls must be at least 1 and fit in the count window",
            ));
        }
        if p.consecutive_failures == Some(0) {
            return Err(InvalidBreakerPolicy::new(
                "consecutive failures must be at least 1 (None turns the rule off)",
            ));
        }
        p.open.validate()?;
        if !(1..=1_000).contains(&p.probes) {
            return Err(InvalidBreakerPolicy::new(
                "half-open probes must be 1 to 1000",
            ));
        }
        if p.retry_after_cap.is_some_and(|cap| cap > MAX_OPEN) {
            return Err(InvalidBreakerPolicy::new("retry-after cap is over one day"));
        }
        if p.max_partitions == 0 {
            return Err(InvalidBreakerPolicy::new(
                "max partitions must be at least 1",
            ));
        }
        if p.idle_after < Duration::from_secs(1) {
            return Err(InvalidBreakerPolicy::new(
                "idle eviction must wait at least 1 second",
            ));
        }
        if !(Duration::from_millis(1)..=Duration::from_secs(1)).contains(&p.store_budget) {
            return Err(InvalidBreakerPolicy::new(
                "store budget must be 1 ms to 1 s",
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_duration_doubles_to_its_cap() {
        let open = OpenDuration::exponential(Duration::from_secs(30), Duration::from_secs(300));
        let secs: Vec<u64> = (1..=6).map(|t| open.after(t, 0.5).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 300, 300]);
        assert_eq!(open.after(u32::MAX, 0.5), Duration::from_secs(300));
        let fixed = OpenDuration::fixed(Duration::from_secs(7));
        assert_eq!(fixed.after(9, 0.99), Duration::from_secs(7));
    }

    #[test]
    fn open_duration_jitter_spreads_both_ways() {
        let open = OpenDuration::fixed(Duration::from_secs(100)).jitter(0.1);
        assert_eq!(open.after(1, 0.0), Duration::from_secs(90));
        assert_eq!(open.after(1, 0.5), Duration::from_secs(100));
        assert!(open.after(1, 0.999_999) <= Duration::from_secs(110));
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        let cases: Vec<(BreakerPolicyBuilder, &str)> = vec![
            (
                BreakerPolicy::builder().window(Window::count(0)),
                "count window",
            ),
            (
                BreakerPolicy::builder().window(Window::time(7200)),
                "time window",
            ),
            (BreakerPolicy::builder().failure_rate(0.0), "failure rate"),
            (
                BreakerPolicy::builder().failure_rate(f64::NAN),
                "failure rate",
            ),
            (
                BreakerPolicy::builder().slow_calls(Duration::ZERO, 0.5),
                "slow-call threshold",
            ),
            (
                BreakerPolicy::builder().slow_calls(Duration::from_secs(1), 1.5),
                "slow-call rate",
            ),
            (
                BreakerPolicy::builder()
                    .window(Window::count(10))
                    .minimum_calls(11),
                "minimum calls",
            ),
            (
                BreakerPolicy::builder().consecutive_failures(0),
                "consecutive",
            ),
            (
                BreakerPolicy::builder().open_duration(OpenDuration::fixed(Duration::ZERO)),
                "open duration",
            ),
            (
                BreakerPolicy::builder().open_duration(OpenDuration::exponential(
                    Duration::from_secs(10),
                    Duration::from_secs(5),
                )),
                "max >= base",
            ),
            (
                BreakerPolicy::builder()
                    .open_duration(OpenDuration::fixed(Duration::from_secs(1)).jitter(2.0)),
                "jitter",
            ),
            (BreakerPolicy::builder().half_open_probes(0), "probes"),
            (
                BreakerPolicy::builder().retry_after_cap(Duration::from_secs(90_000)),
                "retry-after cap",
            ),
            (BreakerPolicy::builder().max_partitions(0), "max partitions"),
            (
                BreakerPolicy::builder().evict_idle_after(Duration::from_millis(10)),
                "idle",
            ),
            (
                BreakerPolicy::builder().store_budget(Duration::ZERO),
                "store budget",
            ),
            (
                BreakerPolicy::builder().store_budget(Duration::from_secs(5)),
                "store budget",
            ),
        ];
        for (builder, words) in cases {
            let err = builder.build().unwrap_err();
            assert!(err.to_string().contains(words), "{err} lacks {words}");
        }
        assert!(BreakerPolicy::builder().build().is_ok());
    }
}
