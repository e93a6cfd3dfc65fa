//! The retry budget: retries limited to a share of the traffic.
//!
//! Every request deposits `percent` of a retry into the budget; every retry
//! withdraws one. On top, `min_per_sec` retries per second are always
//! allowed, so that a client with little traffic can still retry. Deposits
//! and withdrawals expire after `ttl`, in ten slots of `ttl / 10`, so the
//! budget follows the recent traffic. These are Finagle's numbers and
//! tower's `TpsBudget` design; unlike `TpsBudget`, the accounting is in
//! millionths of a retry, so a fractional percentage such as 0.25 or 0.3 is
//! kept exactly instead of truncated (tower issue 857).
//!
//! A retry that was scheduled but never sent (its future was dropped during
//! the backoff) is refunded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use girder_core::{Partition, PartitionKey};
use http::Request;
use tokio::time::Instant;

use crate::error::InvalidRetryPolicy;

/// One retry, in budget units.
const RETRY: i64 = 1_000_000;
const SLOTS: usize = 10;

/// The retry budget's settings.
///
/// Default: 20 % of requests plus 10 retries per second, over 10 s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudget {
    ttl: Duration,
    min_per_sec: u32,
    percent: f64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            ttl: Duration::from_secs(10),
            min_per_sec: 10,
            percent: 0.2,
        }
    }
}

impl RetryBudget {
    /// Retries up to `percent` of requests (0.2 is 20 %) plus
    /// `min_per_sec` per second, counted over the last `ttl`. `ttl` must be
    /// between 1 s and 60 s, `percent` between 0 and 10 (1,000 %).
    pub fn new(ttl: Duration, min_per_sec: u32, percent: f64) -> Result<Self, InvalidRetryPolicy> {
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&ttl) {
            return Err(InvalidRetryPolicy(format!(
                "budget ttl {ttl:?} must be between 1 s and 60 s"
            )));
        }
        if !(0.0..=10.0).contains(&percent) {
            return Err(InvalidRetryPolicy(format!(
                "budget percent {percent} must be between 0 and 10"
            )));
        }
        Ok(RetryBudget {
            ttl,
            min_per_sec,
            percent,
        })
    }
}

/// The budgets of one layer: one shared, or one per partition.
#[derive(Debug)]
pub(crate) struct Budgets {
    config: RetryBudget,
    scope: Scope,
}

#[derive(Debug)]
enum Scope {
    Shared(Arc<Budget>),
    PerPartition(
        Partition,
        Mutex<HashMap<PartitionKey, Arc<Budget>, foldhash::fast::RandomState>>,
    ),
}

impl Budgets {
    pub(crate) fn new(config: RetryBudget, partition: Option<Partition>) -> Self {
        let scope = match partition {
            None => Scope::Shared(Arc::new(Budget::new(config))),
            Some(partition) => Scope::PerPartition(partition, Mutex::new(HashMap::default())),
        };
        Budgets { config, scope }
    }

    /// The budget `request` draws on.
    pub(crate) fn for_request<B>(&self, request: &Request<B>) -> Arc<Budget> {
        match &self.scope {
            Scope::Shared(budget) => budget.clone(),
            Scope::PerPartition(partition, map) => {
                let key = partition.key(request);
                lock(map)
                    .entry(key)
                    .or_insert_with(|| Arc::new(Budget::new(self.config)))
                    .clone()
            }
        }
    }
}

/// One sliding-window budget.
#[derive(Debug)]
pub(crate) struct Budget {
    deposit: i64,
    reserve: i64,
    slot: Duration,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    slots: [i64; SLOTS],
    current: usize,
    current_start: Instant,
}

impl Budget {
    fn new(config: RetryBudget) -> Self {
        let ttl_secs = config.ttl.as_secs_f64();
        Budget {
            deposit: (config.percent * RETRY as f64).round() as i64,
            reserve: (f64::from(config.min_per_sec) * ttl_secs * RETRY as f64).round() as i64,
            slot: config.ttl / SLOTS as u32,
            window: Mutex::new(Window {
                slots: [0; SLOTS],
                current: 0,
                current_start: Instant::now(),
            }),
        }
    }

    /// Records one request.
    pub(crate) fn deposit(&self) {
        let mut window = self.roll();
        let current = window.current;
        window.slots[current] += self.deposit;
    }

    /// Takes one retry from the budget, or `None` if it is spent.
    pub(crate) fn withdraw(self: &Arc<Self>) -> Option<Ticket> {
        let mut window = self.roll();
        let balance: i64 = window.slots.iter().sum::<i64>() + self.reserve;
        if balance < RETRY {
            return None;
        }
        let current = window.current;
        window.slots[current] -= RETRY;
        Some(Ticket {
            budget: Some(self.clone()),
        })
    }

    fn refund(&self) {
        let mut window = self.roll();
        let current = window.current;
        window.slots[current] += RETRY;
    }

    /// The window, with slots older than the ttl cleared.
    fn roll(&self) -> MutexGuard<'_, Window> {
        let mut window = lock(&self.window);
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(window.current_start);
        if elapsed >= self.slot {
            let steps = (elapsed.as_nanos() / self.slot.as_nanos()) as u64;
            if steps as usize >= SLOTS {
                window.slots = [0; SLOTS];
                window.current = (window.current + steps as usize % SLOTS) % SLOTS;
            } else {
                for _ in 0..steps {
                    window.current = (window.current + 1) % SLOTS;
                    let current = window.current;
                    window.slots[current] = 0;
                }
            }
            window.current_start += self.slot * u32::try_from(steps).unwrap_or(u32::MAX);
        }
        window
    }
}

/// A withdrawn retry, refunded if dropped before [`Ticket::spend`].
#[derive(Debug)]
pub(crate) struct Ticket {
    budget: Option<Arc<Budget>>,
}

impl Ticket {
    /// The retry was sent: the withdrawal stands.
    pub(crate) fn spend(mut self) {
        self.budget = None;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(budget) = self.budget.take() {
            budget.refund();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(percent: f64, min_per_sec: u32) -> Arc<Budget> {
        Arc::new(Budget::new(
            RetryBudget::new(Duration::from_secs(10), min_per_sec, percent).unwrap(),
        ))
    }

    fn retries_allowed(budget: &Arc<Budget>) -> usize {
        std::iter::from_fn(|| budget.withdraw())
            .map(Ticket::spend)
            .count()
    }

    #[tokio::test(start_paused = true)]
    async fn fractional_percentages_are_exact() {
        for (percent, expected) in [
            (0.2, 200),
            (0.25, 250),
            (0.3, 300),
            (0.125, 125),
            (1.5, 1500),
        ] {
            let b = budget(percent, 0);
            for _ in 0..1000 {
                b.deposit();
            }
            assert_eq!(retries_allowed(&b), expected, "percent {percent}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_reserve_allows_min_per_sec_times_ttl() {
        let b = budget(0.0, 10);
        assert_eq!(retries_allowed(&b), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn spent_retries_come_back_after_the_ttl() {
        let b = budget(0.0, 1);
        assert_eq!(retries_allowed(&b), 10);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(retries_allowed(&b), 0);
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(retries_allowed(&b), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn deposits_expire_after_the_ttl() {
        let b = budget(0.5, 0);
        for _ in 0..100 {
            b.deposit();
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(retries_allowed(&b), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_ticket_is_refunded() {
        let b = budget(0.0, 1);
        let ticket = b.withdraw().unwrap();
        assert_eq!(retries_allowed(&b), 9);
        drop(ticket);
        assert_eq!(retries_allowed(&b), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn partitions_have_their_own_budgets() {
        let budgets = Budgets::new(
            RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap(),
            Some(Partition::by_authority()),
        );
        let a = Request::get("http://a.test/").body(()).unwrap();
        let b = Request::get("http://b.test/").body(()).unwrap();
        budgets.for_request(&a).deposit();
        assert!(budgets.for_request(&b).withdraw().is_none());
        assert!(budgets.for_request(&a).withdraw().is_some());
    }

    #[test]
    fn nonsense_budgets_are_refused() {
        assert!(RetryBudget::new(Duration::from_millis(500), 10, 0.2).is_err());
        assert!(RetryBudget::new(Duration::from_secs(61), 10, 0.2).is_err());
        assert!(RetryBudget::new(Duration::from_secs(10), 10, -0.1).is_err());
        assert!(RetryBudget::new(Duration::from_secs(10), 10, f64::NAN).is_err());
    }
}
