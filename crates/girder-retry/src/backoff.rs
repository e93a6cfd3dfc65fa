//! How long to wait before the next attempt.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use girder_core::{Outcome, Reason};

use crate::error::InvalidRetryPolicy;

/// What a delay function sees: the attempt that failed and how.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DelayContext<'a> {
    /// The attempt that failed, from 1.
    pub attempt: u32,
    /// Why it failed.
    pub reason: Reason,
    /// The failed attempt's outcome.
    pub outcome: Outcome<'a>,
}

type DelayFn = dyn Fn(DelayContext<'_>) -> Duration + Send + Sync;

/// The wait between attempts when the server gave no hint.
///
/// Default: [`Backoff::decorrelated_jitter`] with a median first delay of
/// 200 ms and a cap of 20 s.
///
/// # Decorrelated jitter
///
/// The default is the "V2" decorrelated jitter used by Polly (`.NET`): the
/// k-th delay is `base / 1.4 × (f(k + r_k) − f(k − 1 + r_{k−1}))` with
/// `f(t) = 2^t · tanh(√(4t))`, `f` of the first term taken as 0, and each
/// `r` uniform in `[0, 1)`. The terms telescope: the time from the first
/// failure to retry k is `base / 1.4 × f(k − 1 + r)`, whose median is about
/// `base × 2^(k−1)` (0.9 × `base` for the first retry). Unlike full jitter
/// (`uniform(0, base · 2^k)`), consecutive delays are not independent, so
/// a fleet of clients spreads out instead of clumping at short delays.
/// Bounds, checked by the tests over many seeds: every delay is at most
/// `cap`, and the first is at most `1.38 × base`.
#[derive(Clone)]
pub struct Backoff(Kind);

#[derive(Clone)]
enum Kind {
    Decorrelated { base: Duration, cap: Duration },
    Constant(Duration),
    Fn(Arc<DelayFn>),
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Decorrelated { base, cap } => f
                .debug_struct("DecorrelatedJitter")
                .field("base", base)
                .field("cap", cap)
                .finish(),
            Kind::Constant(delay) => f.debug_tuple("Constant").field(delay).finish(),
            Kind::Fn(_) => f.write_str("Fn(..)"),
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff(Kind::Decorrelated {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
        })
    }
}

impl Backoff {
    /// Decorrelated jitter with median first delay `base`, each delay at
    /// most `cap`. `base` must be above zero and at most `cap`.
    pub fn decorrelated_jitter(base: Duration, cap: Duration) -> Result<Self, InvalidRetryPolicy> {
        if base.is_zero() || base > cap {
            return Err(InvalidRetryPolicy(format!(
                "backoff base {base:?} must be above zero and at most the cap {cap:?}"
            )));
        }
        Ok(Backoff(Kind::Decorrelated { base, cap }))
    }

    /// The same delay every time (zero retries at once).
    pub fn constant(delay: Duration) -> Self {
        Backoff(Kind::Constant(delay))
    }

    /// Delays computed by `f` from the failed attempt.
    pub fn from_fn<F>(f: F) -> Self
    where
        F: Fn(DelayContext<'_>) -> Duration + Send + Sync + 'static,
    {
        Backoff(Kind::Fn(Arc::new(f)))
    }

    /// The delay after `ctx.attempt` failed. `state` carries the previous
    /// term of the decorrelated sequence between calls; start it at 0.
    pub(crate) fn delay(
        &self,
        ctx: DelayContext<'_>,
        state: &mut f64,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        match &self.0 {
            Kind::Decorrelated { base, cap } => {
                let k = f64::from(ctx.attempt.saturating_sub(1));
                let t = k + rng.f64();
                let next = 2f64.powf(t) * (4.0 * t).sqrt().tanh();
                let secs = (next - *state) / 1.4 * base.as_secs_f64();
                *state = next;
                // Far into a long sequence the terms overflow; the cap holds.
                if secs.is_finite() && (0.0..cap.as_secs_f64()).contains(&secs) {
                    Duration::from_secs_f64(secs)
                } else {
                    *cap
                }
            }
            Kind::Constant(delay) => *delay,
            Kind::Fn(f) => f(ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(attempt: u32) -> (DelayContext<'static>, ()) {
        static ERR: std::sync::LazyLock<std::io::Error> =
            std::sync::LazyLock::new(|| std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        (
            DelayContext {
                attempt,
                reason: Reason::Other,
                outcome: Outcome::error(&*ERR),
            },
            (),
        )
    }

    fn sequence(backoff: &Backoff, seed: u64, n: u32) -> Vec<Duration> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut state = 0.0;
        (1..=n)
            .map(|attempt| backoff.delay(ctx(attempt).0, &mut state, &mut rng))
            .collect()
    }

    #[test]
    fn decorrelated_delays_stay_within_bounds_for_many_seeds() {
        let base = Duration::from_millis(200);
        let cap = Duration::from_secs(20);
        let backoff = Backoff::decorrelated_jitter(base, cap).unwrap();
        for seed in 0..5_000 {
            let delays = sequence(&backoff, seed, 12);
            assert!(
                delays[0] <= base.mul_f64(1.38),
                "seed {seed}: first {:?}",
                delays[0]
            );
            assert!(delays.iter().all(|d| *d <= cap), "seed {seed}: {delays:?}");
            // Exponential growth on average: attempt 8's delay is far above base.
            let total: Duration = delays[..8].iter().sum();
            assert!(total > base * 20, "seed {seed}: {delays:?}");
        }
    }

    #[test]
    fn the_median_time_before_retry_k_is_about_base_times_2_to_the_k_minus_1() {
        let base = Duration::from_millis(200);
        let backoff = Backoff::decorrelated_jitter(base, Duration::from_secs(60)).unwrap();
        let runs: Vec<Vec<Duration>> = (0..10_001)
            .map(|seed| sequence(&backoff, seed, 5))
            .collect();
        for k in 1..=5usize {
            let mut waited: Vec<Duration> = runs.iter().map(|d| d[..k].iter().sum()).collect();
            waited.sort();
            let median = waited[waited.len() / 2].as_secs_f64();
            let target = base.as_secs_f64() * 2f64.powi(k as i32 - 1);
            let ratio = median / target;
            // 0.90 for the first retry, then within 2 % of the target.
            assert!(
                (0.85..1.05).contains(&ratio),
                "retry {k}: median {median:.3}s, target {target:.3}s"
            );
        }
    }

    #[test]
    fn the_cap_holds_late_in_long_sequences() {
        let backoff =
            Backoff::decorrelated_jitter(Duration::from_millis(200), Duration::from_secs(5))
                .unwrap();
        let delays = sequence(&backoff, 3, 100);
        assert!(
            delays[20..].iter().all(|d| *d == Duration::from_secs(5)),
            "{:?}",
            &delays[20..]
        );
    }

    #[test]
    fn nonsense_bases_are_refused() {
        assert!(Backoff::decorrelated_jitter(Duration::ZERO, Duration::from_secs(1)).is_err());
        let err = Backoff::decorrelated_jitter(Duration::from_secs(2), Duration::from_secs(1))
            .unwrap_err();
        assert!(err.to_string().contains("at most the cap"), "{err}");
    }

    #[test]
    fn constant_and_custom_delays() {
        assert_eq!(
            sequence(&Backoff::constant(Duration::from_millis(7)), 0, 3),
            [Duration::from_millis(7); 3]
        );
        let custom = Backoff::from_fn(|ctx| Duration::from_secs(u64::from(ctx.attempt)));
        assert_eq!(sequence(&custom, 0, 3), [1, 2, 3].map(Duration::from_secs));
    }
}
