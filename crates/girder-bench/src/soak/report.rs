//! What a soak run counted, and which of its checks failed.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::plan::Fault;

/// A soak run's figures.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Report {
    /// Calls measured (after the warm-up).
    pub calls: usize,
    /// Warm-up calls.
    pub warmup: usize,
    /// Callers at once.
    pub concurrency: usize,
    /// Faults planned for the measured calls, by kind.
    pub planned: BTreeMap<Fault, u64>,
    /// Faults injected (warm-up included): by the server on the first
    /// request it saw of a call (a cache hit never reaches it), and by the
    /// transport's `FaultLayer`s.
    pub injected: BTreeMap<Fault, u64>,
    /// Outcomes of the measured calls: `status N` (body read whole) or
    /// the stage and kind of the error.
    pub outcomes: BTreeMap<String, u64>,
    /// Calls with no outcome by their deadline plus the margin (warm-up
    /// included).
    pub hung: u64,
    /// POSTs without an idempotency key the server received more than once.
    pub duplicates: u64,
    /// Attempts after the first (warm-up included).
    pub retries: u64,
    /// Retries the budget refused.
    pub budget_refusals: u64,
    /// Calls that reached the retry layer (its deposits).
    pub deposits: u64,
    /// The most retries the budget can allow for those calls.
    pub allowance: u64,
    /// What a layer still held after the run.
    pub leaks: Vec<String>,
    /// The status of a plain call made after the run.
    pub later_status: u16,
    /// Token fetches the auth layer started.
    pub token_fetches: u64,
    /// Requests the server received (token requests included).
    pub server_requests: usize,
    /// Live heap bytes after the warm-up.
    pub heap_warm: i64,
    /// Live heap bytes after the first half of the run.
    pub heap_half: i64,
    /// Live heap bytes after the run.
    pub heap_after: i64,
    /// The largest growth allowed from warm-up to the end, as a fraction;
    /// a run fails when each half grew by more than half of it (a leak
    /// grows the heap in both halves alike).
    pub max_heap_growth: f64,
    /// The measured calls' wall time.
    pub wall: Duration,
}

impl Report {
    /// Heap growth from warm-up to the end, as a fraction of the former.
    pub fn heap_growth(&self) -> f64 {
        (self.heap_after - self.heap_warm) as f64 / self.heap_warm.max(1) as f64
    }

    /// Heap growth in the first and in the second half of the run, each as
    /// a fraction of the heap after the warm-up.
    pub fn heap_growth_by_half(&self) -> (f64, f64) {
        let base = self.heap_warm.max(1) as f64;
        (
            (self.heap_half - self.heap_warm) as f64 / base,
            (self.heap_after - self.heap_half) as f64 / base,
        )
    }

    /// The checks that failed; empty when the run passed.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let answered: u64 = self.outcomes.values().sum();
        if answered != self.calls as u64 {
            failures.push(format!("{answered} outcomes for {} calls", self.calls));
        }
        if self.hung > 0 {
            failures.push(format!("{} calls hung past their deadline", self.hung));
        }
        if self.duplicates > 0 {
            failures.push(format!(
                "{} POSTs without an idempotency key were sent twice",
                self.duplicates
            ));
        }
        if self.retries > self.allowance {
            failures.push(format!(
                "{} retries, more than the budget's {}",
                self.retries, self.allowance
            ));
        }
        failures.extend(self.leaks.iter().map(|l| format!("still held: {l}")));
        if !(200..300).contains(&self.later_status) {
            failures.push(format!("a call after the run got {}", self.later_status));
        }
        let (first, second) = self.heap_growth_by_half();
        let per_half = self.max_heap_growth / 2.0;
        if first > per_half && second > per_half {
            failures.push(format!(
                "heap grew {:.1} % and then {:.1} % in the two halves of the run (at most {:.1} % in either)",
                first * 100.0,
                second * 100.0,
                per_half * 100.0
            ));
        }
        failures
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "calls {} (+{} warm-up), {} callers, wall {:.1} s ({:.0} calls/s)",
            self.calls,
            self.warmup,
            self.concurrency,
            self.wall.as_secs_f64(),
            self.calls as f64 / self.wall.as_secs_f64()
        )?;
        let planned: u64 = self.planned.values().sum();
        writeln!(
            f,
            "faults planned {planned} ({:.1} %); planned / injected (warm-up included):",
            100.0 * planned as f64 / self.calls as f64
        )?;
        for fault in Fault::ALL {
            writeln!(
                f,
                "  {:<20} {:>7} {:>7}",
                fault.name(),
                self.planned.get(&fault).unwrap_or(&0),
                self.injected.get(&fault).unwrap_or(&0)
            )?;
        }
        writeln!(f, "outcomes:")?;
        for (outcome, n) in &self.outcomes {
            writeln!(f, "  {outcome:<32} {n:>7}")?;
        }
        writeln!(f, "hung {}", self.hung)?;
        writeln!(f, "duplicate non-idempotent requests {}", self.duplicates)?;
        writeln!(
            f,
            "retries {} for {} calls through retry (allowance {}, refused by the budget {})",
            self.retries, self.deposits, self.allowance, self.budget_refusals
        )?;
        if self.leaks.is_empty() {
            writeln!(
                f,
                "held after the run: nothing (slots, waiters, lines, fills, token fetch, probes)"
            )?;
        } else {
            writeln!(f, "held after the run: {}", self.leaks.join("; "))?;
        }
        writeln!(f, "a call after the run: {}", self.later_status)?;
        writeln!(
            f,
            "token fetches {}, server requests {}",
            self.token_fetches, self.server_requests
        )?;
        write!(
            f,
            "heap after warm-up {} B, after half the run {} B ({:+.2} %), after the run {} B ({:+.2} %; {:+.2} % in all)",
            self.heap_warm,
            self.heap_half,
            self.heap_growth_by_half().0 * 100.0,
            self.heap_after,
            self.heap_growth_by_half().1 * 100.0,
            self.heap_growth() * 100.0
        )
    }
}
