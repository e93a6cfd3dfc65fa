//! The sliding windows: O(1) per call, fixed memory per circuit.

use crate::policy::Window;

/// Calls, failures and slow calls, summed over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

impl Counts {
    fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failures += u32::from(failed);
        self.slow += u32::from(slow);
    }

    fn remove(&mut self, other: Counts) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }

    pub(crate) fn failure_rate(&self) -> f64 {
        rate(self.failures, self.calls)
    }

    pub(crate) fn slow_rate(&self) -> f64 {
        rate(self.slow, self.calls)
    }
}

fn rate(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

#[derive(Debug)]
pub(crate) enum Sliding {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Sliding {
    pub(crate) fn new(window: Window) -> Sliding {
        match window {
            Window::Count(n) => Sliding::Count(CountWindow::new(n as usize)),
            Window::Time(n) => Sliding::Time(TimeWindow::new(n as usize)),
        }
    }

    /// Records one call that completed in second `second` (counted from the
    /// breaker's creation).
    pub(crate) fn record(&mut self, second: u64, failed: bool, slow: bool) {
        match self {
            Sliding::Count(w) => w.record(failed, slow),
            Sliding::Time(w) => w.record(second, failed, slow),
        }
    }

    /// The totals as of second `second`.
    pub(crate) fn counts(&mut self, second: u64) -> Counts {
        match self {
            Sliding::Count(w) => w.totals,
            Sliding::Time(w) => {
                w.advance(second);
                w.totals
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        match self {
            Sliding::Count(w) => *w = CountWindow::new(w.slots.len()),
            Sliding::Time(w) => *w = TimeWindow::new(w.buckets.len()),
        }
    }
}

const FAILED: u8 = 1;
const SLOW: u8 = 2;

/// The last `n` calls in a ring of one byte each.
#[derive(Debug)]
pub(crate) struct CountWindow {
    slots: Box<[u8]>,
    next: usize,
    filled: usize,
    totals: Counts,
}

impl CountWindow {
    fn new(n: usize) -> Self {
        CountWindow {
            slots: vec![0; n].into_boxed_slice(),
            next: 0,
            filled: 0,
            totals: Counts::default(),
        }
    }

    fn record(&mut self, failed: bool, slow: bool) {
        if self.filled == self.slots.len() {
            let old = self.slots[self.next];
            self.totals.remove(Counts {
                calls: 1,
                failures: u32::from(old & FAILED != 0),
                slow: u32::from(old & SLOW != 0),
            });
        } else {
            self.filled += 1;
        }
        self.slots[self.next] = (u8::from(failed) * FAILED) | (u8::from(slow) * SLOW);
        self.totals.add(failed, slow);
        self.next = (self.next + 1) % self.slots.len();
    }
}

/// The calls of the last `n` seconds in one bucket per second. Moving
/// forward clears at most `n` buckets however long the circuit sat idle.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    buckets: Box<[Counts]>,
    /// The second of the newest bucket.
    head: u64,
    totals: Counts,
}

impl TimeWindow {
    fn new(n: usize) -> Self {
        TimeWindow {
            buckets: vec![Counts::default(); n].into_boxed_slice(),
            head: 0,
            totals: Counts::default(),
        }
    }

    fn record(&mut self, second: u64, failed: bool, slow: bool) {
        self.advance(second);
        // A call that finished a moment before another thread moved the
        // window on lands in the newest bucket: at most a second late.
        let index = (self.head % self.buckets.len() as u64) as usize;
        self.buckets[index].add(failed, slow);
        self.totals.add(failed, slow);
    }

    fn advance(&mut self, second: u64) {
        if second <= self.head {
            return;
        }
        let n = self.buckets.len() as u64;
        let steps = (second - self.head).min(n);
        for step in 1..=steps {
            let index = ((self.head + step) % n) as usize;
            let expired = std::mem::take(&mut self.buckets[index]);
            self.totals.remove(expired);
        }
        self.head = second;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_window_forgets_the_oldest_call() {
        let mut w = Sliding::new(Window::Count(3));
        w.record(0, true, false);
        w.record(0, true, true);
        w.record(0, false, false);
        let c = w.counts(0);
        assert_eq!((c.calls, c.failures, c.slow), (3, 2, 1));
        w.record(0, false, false);
        let c = w.counts(0);
        assert_eq!((c.calls, c.failures, c.slow), (3, 1, 1));
        w.record(0, false, false);
        w.record(0, false, false);
        assert_eq!(
            w.counts(0),
            Counts {
                calls: 3,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn time_window_forgets_old_seconds() {
        let mut w = Sliding::new(Window::Time(3));
        w.record(0, true, false);
        w.record(1, true, false);
        w.record(2, false, true);
        assert_eq!(
            w.counts(2),
            Counts {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // Second 3 pushes second 0 out.
        assert_eq!(
            w.counts(3),
            Counts {
                calls: 2,
                failures: 1,
                slow: 1
            }
        );
        assert_eq!(
            w.counts(4),
            Counts {
                calls: 1,
                failures: 0,
                slow: 1
            }
        );
        // A long idle gap clears everything in at most n steps.
        w.record(4, true, false);
        assert_eq!(w.counts(1_000_000), Counts::default());
        // A late call lands in the newest bucket.
        w.record(999_999, true, false);
        assert_eq!(w.counts(1_000_000).failures, 1);
    }

    #[test]
    fn rates_of_an_empty_window_are_zero() {
        let c = Counts::default();
        assert_eq!((c.failure_rate(), c.slow_rate()), (0.0, 0.0));
    }
}
