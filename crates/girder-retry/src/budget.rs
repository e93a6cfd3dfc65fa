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
//!
//! With one budget per partition, the map of budgets is bounded like the
//! circuit breaker's circuits: when a new partition would make more than
//! the policy's maximum, budgets unused for a whole `ttl` are forgotten
//! first (all their deposits and withdrawals have expired, so a fresh
//! budget is the same budget), else the least recently used.

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

type Map = HashMap<PartitionKey, Arc<Budget>, foldhash::fast::RandomState>;

#[derive(Debug)]
enum Scope {
    Shared(Arc<Budget>),
    PerPartition {
        partition: Partition,
        map: Mutex<Map>,
        max: usize,
    },
}

impl Budgets {
    /// One budget, or with `partition` one per partition, at most
    /// `max_partitions` of them at once.
    pub(crate) fn new(
        config: RetryBudget,
        partition: Option<Partition>,
        max_partitions: usize,
    ) -> Self {
        let scope = match partition {
            None => Scope::Shared(Arc::new(Budget::new(config))),
            Some(partition) => Scope::PerPartition {
                partition,
                map: Mutex::new(HashMap::default()),
                max: max_partitions.max(1),
            },
        };
        Budgets { config, scope }
    }

    /// The budget `request` draws on.
    pub(crate) fn for_request<B>(&self, request: &Request<B>) -> Arc<Budget> {
        let (partition, map, max) = match &self.scope {
            Scope::Shared(budget) => return budget.clone(),
            Scope::PerPartition {
                partition,
                map,
                max,
            } => (partition, map, *max),
        };
        let key = partition.key(request);
        let mut map = lock(map);
        if let Some(budget) = map.get(&key) {
            return budget.clone();
        }
        if map.len() >= max {
            self.evict(&mut map, max);
        }
        let budget = Arc::new(Budget::new(self.config));
        map.insert(key, budget.clone());
        budget
    }

    /// Makes room for one more budget.
    fn evict(&self, map: &mut Map, max: usize) {
        let now = Instant::now();
        // Nothing is lost by forgetting these: every slot has expired, and
        // no call holds the budget to draw on it later.
        map.retain(|_, budget| !(Arc::strong_count(budget) == 1 && budget.is_idle(now)));
        if map.len() < max {
            return;
        }
        // Nothing idle: forget a sixteenth at once, so that a stream of new
        // keys pays for this scan once per many keys. Budgets no call holds
        // go first, least recently used first. NOTE: the same rule as
        // girder-breaker's `Shared::evict`.
        let mut ranked: Vec<((bool, Instant), PartitionKey)> = map
            .iter()
            .map(|(key, budget)| {
                let held = Arc::strong_count(budget) > 1;
                ((held, budget.last_used()), key.clone())
            })
            .collect();
        let batch = (ranked.len() / 16).max(1);
        ranked.select_nth_unstable_by_key(batch - 1, |(rank, _)| *rank);
        for (_, key) in &ranked[..batch] {
            map.remove(key);
        }
        tracing::debug!(
            target: "girder::retry",
            forgotten = batch,
            "budget map full; forgot the least recently used budgets"
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        match &self.scope {
            Scope::Shared(_) => 1,
            Scope::PerPartition { map, .. } => lock(map).len(),
        }
    }
}

/// One sliding-window budget.
#[derive(Debug)]
pub(crate) struct Budget {
    deposit: i64,
    reserve: i64,
    slot: Duration,
    ttl: Duration,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    slots: [i64; SLOTS],
    current: usize,
    current_start: Instant,
    /// The last deposit, withdrawal or refund.
    last_used: Instant,
}

impl Budget {
    fn new(config: RetryBudget) -> Self {
        let now = Instant::now();
        let ttl_secs = config.ttl.as_secs_f64();
        Budget {
            deposit: (config.percent * RETRY as f64).round() as i64,
            reserve: (f64::from(config.min_per_sec) * ttl_secs * RETRY as f64).round() as i64,
            slot: config.ttl / SLOTS as u32,
            ttl: config.ttl,
            window: Mutex::new(Window {
                slots: [0; SLOTS],
                current: 0,
                current_start: now,
                last_used: now,
            }),
        }
    }

    /// Unused for a whole ttl: every slot has expired.
    fn is_idle(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_used()) >= self.ttl
    }

    fn last_used(&self) -> Instant {
        lock(&self.window).last_used
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
            // `steps` slots fit in `elapsed`, so this cannot pass `now`;
            // saturate anyway rather than trust the arithmetic with a panic.
            let advance = self
                .slot
                .saturating_mul(u32::try_from(steps).unwrap_or(u32::MAX));
            window.current_start = window.current_start.checked_add(advance).unwrap_or(now);
        }
        window.last_used = now;
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
            1_024,
        );
        let a = Request::get("http://a.test/").body(()).unwrap();
        let b = Request::get("http://b.test/").body(()).unwrap();
        budgets.for_request(&a).deposit();
        assert!(budgets.for_request(&b).withdraw().is_none());
        assert!(budgets.for_request(&a).withdraw().is_some());
    }

    fn per_partition(max: usize) -> Budgets {
        // One retry per second over 10 s: 10 retries for a fresh budget.
        Budgets::new(
            RetryBudget::new(Duration::from_secs(10), 1, 0.0).unwrap(),
            Some(Partition::by_authority()),
            max,
        )
    }

    fn to(host: &str) -> Request<()> {
        Request::get(format!("http://{host}/")).body(()).unwrap()
    }

    /// Pins issue 18: the per-partition map grew by one budget for every
    /// partition ever seen, without bound.
    #[tokio::test(start_paused = true)]
    async fn many_partitions_keep_the_map_at_its_bound() {
        let budgets = per_partition(64);
        for i in 0..10_000 {
            let budget = budgets.for_request(&to(&format!("h{i}.test")));
            budget.deposit();
            if let Some(ticket) = budget.withdraw() {
                ticket.spend();
            }
            assert!(budgets.len() <= 64, "{} budgets after {i}", budgets.len());
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert!(budgets.len() >= 60, "room is made a sixteenth at a time");
    }

    /// Pins issue 18: a forgotten partition must not come back with the
    /// state of another, nor keep its old one.
    #[tokio::test(start_paused = true)]
    async fn an_evicted_partition_starts_fresh() {
        let budgets = per_partition(2);
        assert_eq!(retries_allowed(&budgets.for_request(&to("a.test"))), 10);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(retries_allowed(&budgets.for_request(&to("b.test"))), 10);
        tokio::time::advance(Duration::from_millis(1)).await;
        // The map is full and nothing is idle: "a", used least recently, goes.
        assert_eq!(retries_allowed(&budgets.for_request(&to("c.test"))), 10);
        assert_eq!(budgets.len(), 2);
        assert_eq!(
            retries_allowed(&budgets.for_request(&to("b.test"))),
            0,
            "kept"
        );
        assert_eq!(
            retries_allowed(&budgets.for_request(&to("a.test"))),
            10,
            "fresh"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_budgets_go_first_and_held_ones_last() {
        let budgets = per_partition(3);
        let held = budgets.for_request(&to("held.test"));
        assert_eq!(retries_allowed(&held), 10);
        assert_eq!(retries_allowed(&budgets.for_request(&to("idle.test"))), 10);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(retries_allowed(&budgets.for_request(&to("busy.test"))), 10);
        tokio::time::advance(Duration::from_millis(1)).await;
        // "idle" has been unused for a whole ttl: it goes, and nothing else.
        drop(budgets.for_request(&to("new.test")));
        assert_eq!(budgets.len(), 3);
        assert_eq!(
            retries_allowed(&budgets.for_request(&to("busy.test"))),
            0,
            "kept"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        budgets.for_request(&to("new.test")).deposit();
        // Nothing idle now: "held" is the least recently used, but a call
        // still draws on it, so "busy", the next, goes instead.
        tokio::time::advance(Duration::from_millis(1)).await;
        drop(budgets.for_request(&to("newer.test")));
        assert!(Arc::ptr_eq(&held, &budgets.for_request(&to("held.test"))));
        assert_eq!(
            retries_allowed(&budgets.for_request(&to("busy.test"))),
            10,
            "fresh"
        );
    }

    #[test]
    fn nonsense_budgets_are_refused() {
        assert!(RetryBudget::new(Duration::from_millis(500), 10, 0.2).is_err());
        assert!(RetryBudget::new(Duration::from_secs(61), 10, 0.2).is_err());
        assert!(RetryBudget::new(Duration::from_secs(10), 10, -0.1).is_err());
        assert!(RetryBudget::new(Duration::from_secs(10), 10, f64::NAN).is_err());
    }
}
