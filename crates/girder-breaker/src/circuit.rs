//! One partition's circuit: the state machine, behind one short lock.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use girder_core::PartitionKey;
use tokio::time::Instant;

use crate::BreakerState;
use crate::handle::Metrics;
use crate::hook::{Cause, StateChange};
use crate::shared::{LazyNow, Shared};
use crate::store::FleetState;
use crate::window::Sliding;

#[derive(Debug)]
pub(crate) struct Circuit {
    key: PartitionKey,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    window: Sliding,
    consecutive: u32,
    /// Trips since the circuit last closed: drives the growing open period.
    trips: u32,
    /// Bumped on every state change. A call admitted under an older
    /// generation no longer speaks for the circuit: its outcome is dropped.
    generation: u64,
    last_used: Instant,
    refused: u64,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, succeeded: u32 },
}

impl Phase {
    fn state(&self) -> BreakerState {
        match self {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// What [`Circuit::admit`] decided.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Admission {
    Admitted(Ticket),
    Refused {
        state: BreakerState,
        retry_after: Option<Duration>,
    },
}

/// Proof of admission, handed back with the outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    pub(crate) generation: u64,
    pub(crate) probe: bool,
    pub(crate) state: BreakerState,
}

/// What a call's outcome means to the circuit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    Success,
    Failure,
    /// Never reached the upstream (a refusal below), or was canceled.
    Ignored,
    /// The server asked for a pause of this long.
    Pause(Duration),
}

impl Circuit {
    pub(crate) fn new(key: PartitionKey, shared: &Shared, now: Instant) -> Self {
        Circuit {
            key,
            inner: Mutex::new(Inner {
                phase: Phase::Closed,
                window: Sliding::new(shared.policy.window),
                consecutive: 0,
                trips: 0,
                generation: 0,
                last_used: now,
                refused: 0,
            }),
        }
    }

    pub(crate) fn key(&self) -> &PartitionKey {
        &self.key
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing user-supplied runs under this lock, so a poisoned lock
        // only means a panic between two plain field updates.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn admit(
        &self,
        shared: &Shared,
        now: &mut LazyNow,
    ) -> (Admission, Option<StateChange>) {
        let mut inner = self.lock();
        self.admit_locked(&mut inner, shared, now)
    }

    fn admit_locked(
        &self,
        inner: &mut Inner,
        shared: &Shared,
        now: &mut LazyNow,
    ) -> (Admission, Option<StateChange>) {
        let mut change = None;
        if let Phase::Open { until } = inner.phase {
            let now = now.get();
            inner.last_used = now;
            if now < until {
                inner.refused += 1;
                return (
                    Admission::Refused {
                        state: BreakerState::Open,
                        retry_after: Some(until - now),
                    },
                    None,
                );
            }
            inner.phase = Phase::HalfOpen {
                in_flight: 0,
                succeeded: 0,
            };
            inner.generation += 1;
            change = Some(self.change(BreakerState::Open, inner, Cause::OpenElapsed, None));
        }
        let generation = inner.generation;
        let admission = match &mut inner.phase {
            Phase::Closed => Admission::Admitted(Ticket {
                generation,
                probe: false,
                state: BreakerState::Closed,
            }),
            Phase::HalfOpen {
                in_flight,
                succeeded,
            } if *in_flight + *succeeded < shared.policy.probes => {
                *in_flight += 1;
                Admission::Admitted(Ticket {
                    generation,
                    probe: true,
                    state: BreakerState::HalfOpen,
                })
            }
            Phase::HalfOpen { .. } | Phase::Open { .. } => {
                inner.refused += 1;
                Admission::Refused {
                    state: BreakerState::HalfOpen,
                    retry_after: None,
                }
            }
        };
        (admission, change)
    }

    /// Decides again, with what the shared store said, a call that
    /// [`admit`](Self::admit) admitted under `ticket` before the store
    /// answered. The circuit follows the fleet: open there, it opens here
    /// for the time left; probing there, a closed circuit here starts
    /// probing too, and a probe needs one of the fleet's slots. A fleet
    /// that says closed changes nothing: the caller keeps its ticket and
    /// does not settle.
    ///
    /// NOTE: every process's own trips and windows stay its own; only the
    /// fleet's open period and probe slots are adopted (see `store.rs`).
    pub(crate) fn settle(
        &self,
        shared: &Shared,
        ticket: Ticket,
        fleet: FleetState,
        now: &mut LazyNow,
    ) -> (Admission, Option<StateChange>) {
        let mut inner = self.lock();
        // The call is decided again below: its provisional probe slot
        // goes back first (unless the circuit has moved on since).
        if ticket.probe
            && ticket.generation == inner.generation
            && let Phase::HalfOpen { in_flight, .. } = &mut inner.phase
        {
            *in_flight -= 1;
        }
        let fleet = match fleet {
            // Open for no more time: half-open, but no slot was given.
            FleetState::Open { remaining } if remaining.is_zero() => {
                FleetState::HalfOpen { probe: false }
            }
            fleet => fleet,
        };
        let mut adopted = None;
        match fleet {
            FleetState::Closed => {}
            FleetState::Open { remaining } => {
                let until = now.get() + remaining;
                if !matches!(inner.phase, Phase::Open { until: current } if current >= until) {
                    adopted = Some(self.open(&mut inner, until, Cause::Shared, remaining));
                }
            }
            FleetState::HalfOpen { probe } => {
                if let Phase::Closed = inner.phase {
                    inner.phase = Phase::HalfOpen {
                        in_flight: 0,
                        succeeded: 0,
                    };
                    inner.generation += 1;
                    adopted = Some(self.change(BreakerState::Closed, &inner, Cause::Shared, None));
                }
                if !probe {
                    // Every fleet slot is taken: refused as by a full
                    // half-open circuit (or by this one, if it opened).
                    inner.refused += 1;
                    let now = now.get();
                    let refusal = match inner.phase {
                        Phase::Open { until } if until > now => Admission::Refused {
                            state: BreakerState::Open,
                            retry_after: Some(until - now),
                        },
                        _ => Admission::Refused {
                            state: BreakerState::HalfOpen,
                            retry_after: None,
                        },
                    };
                    return (refusal, adopted);
                }
            }
        }
        let (admission, change) = self.admit_locked(&mut inner, shared, now);
        (admission, adopted.or(change))
    }

    /// Gives back a probe slot whose call was dropped before it finished.
    pub(crate) fn release(&self, ticket: Ticket) {
        let mut inner = self.lock();
        let current = ticket.generation == inner.generation;
        if ticket.probe
            && current
            && let Phase::HalfOpen { in_flight, .. } = &mut inner.phase
        {
            *in_flight -= 1;
        }
    }

    pub(crate) fn complete(
        &self,
        shared: &Shared,
        ticket: Ticket,
        verdict: Verdict,
        slow: bool,
        now: Instant,
    ) -> Option<StateChange> {
        let mut inner = self.lock();
        inner.last_used = now;
        // The server's request for a pause holds whatever state the call
        // was admitted under: it is news about the upstream now.
        if let Verdict::Pause(wait) = verdict {
            let until = now + wait;
            if let Phase::Open { until: current } = inner.phase
                && current >= until
            {
                return None;
            }
            return Some(self.open(&mut inner, until, Cause::RetryAfter(wait), wait));
        }
        if ticket.generation != inner.generation {
            return None;
        }
        let policy = &shared.policy;
        let failed = verdict == Verdict::Failure;
        match inner.phase {
            Phase::Closed => {
                if verdict == Verdict::Ignored {
                    return None;
                }
                inner.window.record(shared.second(now), failed, slow);
                inner.consecutive = if failed { inner.consecutive + 1 } else { 0 };
                let cause = self.trip_cause(shared, &mut inner, now)?;
                inner.trips += 1;
                let open_for = policy.open.after(inner.trips, shared.unit());
                Some(self.open(&mut inner, now + open_for, cause, open_for))
            }
            Phase::HalfOpen {
                in_flight,
                succeeded,
            } => {
                let in_flight = in_flight - 1;
                match verdict {
                    Verdict::Success if !slow && succeeded + 1 < policy.probes => {
                        inner.phase = Phase::HalfOpen {
                            in_flight,
                            succeeded: succeeded + 1,
                        };
                        None
                    }
                    Verdict::Success if !slow => {
                        inner.phase = Phase::Closed;
                        inner.generation += 1;
                        inner.trips = 0;
                        inner.consecutive = 0;
                        inner.window.clear();
                        Some(self.change(
                            BreakerState::HalfOpen,
                            &inner,
                            Cause::ProbesSucceeded,
                            None,
                        ))
                    }
                    Verdict::Ignored => {
                        inner.phase = Phase::HalfOpen {
                            in_flight,
                            succeeded,
                        };
                        None
                    }
                    _ => {
                        inner.trips += 1;
                        let open_for = policy.open.after(inner.trips, shared.unit());
                        Some(self.open(&mut inner, now + open_for, Cause::ProbeFailed, open_for))
                    }
                }
            }
            Phase::Open { .. } => None,
        }
    }

    fn trip_cause(&self, shared: &Shared, inner: &mut Inner, now: Instant) -> Option<Cause> {
        let policy = &shared.policy;
        if let Some(limit) = policy.consecutive_failures
            && inner.consecutive >= limit
        {
            return Some(Cause::ConsecutiveFailures(inner.consecutive));
        }
        let counts = inner.window.counts(shared.second(now));
        if counts.calls < policy.minimum_calls {
            return None;
        }
        let failure_rate = counts.failure_rate();
        if failure_rate >= policy.failure_rate {
            return Some(Cause::FailureRate(failure_rate));
        }
        let slow_rate = counts.slow_rate();
        match policy.slow_calls {
            Some(slow) if slow_rate >= slow.rate => Some(Cause::SlowCallRate(slow_rate)),
            _ => None,
        }
    }

    fn open(
        &self,
        inner: &mut Inner,
        until: Instant,
        cause: Cause,
        open_for: Duration,
    ) -> StateChange {
        let from = inner.phase.state();
        inner.phase = Phase::Open { until };
        inner.generation += 1;
        inner.consecutive = 0;
        inner.window.clear();
        self.change(from, inner, cause, Some(open_for))
    }

    fn change(
        &self,
        from: BreakerState,
        inner: &Inner,
        cause: Cause,
        open_for: Option<Duration>,
    ) -> StateChange {
        StateChange {
            partition: self.key.clone(),
            from,
            to: inner.phase.state(),
            cause,
            open_for,
        }
    }

    /// Closes the circuit and forgets its history.
    pub(crate) fn reset(&self) -> Option<StateChange> {
        let mut inner = self.lock();
        let from = inner.phase.state();
        inner.phase = Phase::Closed;
        inner.generation += 1;
        inner.trips = 0;
        inner.consecutive = 0;
        inner.window.clear();
        (from != BreakerState::Closed).then(|| self.change(from, &inner, Cause::Reset, None))
    }

    /// Whether the circuit may be forgotten: nothing in flight, not holding
    /// callers back, unused for `idle`.
    pub(crate) fn is_idle(&self, now: Instant, idle: Duration) -> bool {
        let inner = self.lock();
        let quiet = match inner.phase {
            Phase::Closed => true,
            Phase::Open { until } => until <= now,
            Phase::HalfOpen { in_flight, .. } => in_flight == 0,
        };
        quiet && now.saturating_duration_since(inner.last_used) >= idle
    }

    /// Eviction order when nothing is idle: circuits holding callers back
    /// (open or half-open) last, then least recently used first.
    pub(crate) fn eviction_rank(&self, now: Instant) -> (bool, Instant) {
        let inner = self.lock();
        let holding = match inner.phase {
            Phase::Closed => false,
            Phase::Open { until } => until > now,
            Phase::HalfOpen { .. } => true,
        };
        (holding, inner.last_used)
    }

    pub(crate) fn metrics(&self, shared: &Shared, now: Instant) -> Metrics {
        let mut inner = self.lock();
        let counts = inner.window.counts(shared.second(now));
        let (probes_in_flight, next_probe_in) = match inner.phase {
            Phase::Closed => (0, None),
            Phase::Open { until } => (0, Some(until.saturating_duration_since(now))),
            Phase::HalfOpen { in_flight, .. } => (in_flight, None),
        };
        Metrics {
            state: inner.phase.state(),
            calls: counts.calls,
            failures: counts.failures,
            slow_calls: counts.slow,
            failure_rate: counts.failure_rate(),
            slow_call_rate: counts.slow_rate(),
            consecutive_failures: inner.consecutive,
            probes_in_flight,
            next_probe_in,
            trips: inner.trips,
            refused: inner.refused,
        }
    }
}
