//! The slow path of a call: what it holds while it waits, and each step.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use girder_core::{BoxError, CallRecord, Deadline, Event, PartitionKey};
use http::Request;
use pin_project_lite::pin_project;
use tokio::sync::{AcquireError, OwnedSemaphorePermit};
use tokio::time::{Instant, Sleep};

use crate::backend::{Acquire, Decision, Scope};
use crate::error::{Cause, RateLimited};
use crate::hook::LimitEvent;
use crate::lane::{Lane, Queued};
use crate::policy::Mode;
use crate::service::Shared;

pub(crate) type BoxAcquire =
    Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;
pub(crate) type BoxDecision = Pin<Box<dyn Future<Output = Result<Decision, BoxError>> + Send>>;

/// Why a call left the fast path.
pub(crate) enum First {
    /// No in-flight slot was free.
    Slot,
    /// Others were waiting in line.
    Line,
    /// The backend refused.
    Refused { retry_after: Duration, cause: Cause },
    /// The backend is deciding remotely.
    Pending(BoxDecision),
}

pin_project! {
    #[project = StateProj]
    /// Where a call stands: the one state machine of the limiter's
    /// future. [`Waiting`]'s methods say which state comes next.
    pub(crate) enum State<F> {
        Calling { #[pin] future: F },
        // Waiting for an in-flight slot.
        Slot { acquire: BoxAcquire },
        // Waiting in the partition's or the global line.
        Line { acquire: BoxAcquire, scope: Scope },
        // At the head of the lines: ask the backend.
        Ask,
        // A remote backend is deciding.
        Acquiring { decision: BoxDecision },
        // At the head of the line until a permit is due.
        Sleeping { #[pin] sleep: Sleep },
        // A permit is held; the service must be ready before the call.
        Readying,
        // The limiter refused, or the backend failed.
        Failed { error: Option<BoxError> },
    }
}

/// What a waiting call holds. Dropping it drops its place in line and,
/// when it holds a permit it has not used, gives the permit back.
pub(crate) struct Waiting<S, B> {
    pub(crate) service: S,
    request: Option<Request<B>>,
    shared: Arc<Shared>,
    key: PartitionKey,
    lane: Arc<Lane>,
    started: Instant,
    max_at: Instant,
    deadline: Option<Instant>,
    line: Option<OwnedSemaphorePermit>,
    global_line: Option<OwnedSemaphorePermit>,
    queued: Option<Queued>,
    /// Ends a wait of unknown length (for a slot, in line) at the limit.
    timer: Option<Pin<Box<Sleep>>>,
    /// A permit was granted and the request not yet sent.
    granted: bool,
    /// Counted in `Shared::waiting`: not granted yet.
    counted: bool,
}

impl<S, B> Waiting<S, B> {
    pub(crate) fn start<F>(
        service: S,
        request: Request<B>,
        shared: Arc<Shared>,
        key: PartitionKey,
        lane: Arc<Lane>,
        first: First,
    ) -> (Self, State<F>) {
        let started = Instant::now();
        let max_at = crate::clock::later(started, shared.policy.max_wait);
        let deadline = Deadline::of(&request).map(|d| d.instant());
        shared.waiting.fetch_add(1, Ordering::AcqRel);
        let mut waiting = Waiting {
            service,
            request: Some(request),
            shared,
            key,
            lane,
            started,
            max_at,
            deadline,
            line: None,
            global_line: None,
            queued: None,
            timer: None,
            granted: false,
            counted: true,
        };
        let step = match first {
            First::Slot => {
                let slots = waiting.lane.slots().cloned();
                match slots {
                    Some(slots) => {
                        waiting.arm_timer();
                        State::Slot {
                            acquire: Box::pin(slots.acquire_owned()),
                        }
                    }
                    None => waiting.enter_line(Scope::Partition),
                }
            }
            // The head's wait is unknown here: count it as one interval.
            First::Line => waiting.estimate(waiting.shared.pace, Cause::Quota),
            First::Refused {
                retry_after, cause, ..
            } => waiting.estimate(retry_after, cause),
            First::Pending(decision) => waiting.pending(decision),
        };
        (waiting, step)
    }

    /// Refuses at once a wait that cannot end in time, counting the
    /// waiters ahead, else joins the line.
    fn estimate<F>(&mut self, wait: Duration, cause: Cause) -> State<F> {
        let ahead = u32::try_from(self.lane.waiting()).unwrap_or(u32::MAX);
        let estimate = wait.saturating_add(self.shared.pace.saturating_mul(ahead));
        if self.shared.policy.mode == Mode::Reject {
            return self.refuse(cause, Some(estimate));
        }
        if let Some(limit) = self.crosses(estimate) {
            return self.refuse(limit, Some(estimate));
        }
        self.enter_line(Scope::Partition)
    }

    /// Which limit a wait of `wait` from now would cross, if any. Compared
    /// as durations, so that a backend's `Duration::MAX` cannot overflow.
    fn crosses(&self, wait: Duration) -> Option<Cause> {
        let now = Instant::now();
        // As `Deadline::check_wait`: a wait ending on the deadline is refused.
        let to_deadline = self.deadline.map(|d| d.saturating_duration_since(now));
        if to_deadline.is_some_and(|left| wait >= left) {
            Some(Cause::Deadline)
        } else if wait > self.max_at.saturating_duration_since(now) {
            Some(Cause::MaxWait)
        } else {
            None
        }
    }

    fn limit(&self) -> (Instant, Cause) {
        match self.deadline {
            Some(deadline) if deadline <= self.max_at => (deadline, Cause::Deadline),
            _ => (self.max_at, Cause::MaxWait),
        }
    }

    fn arm_timer(&mut self) {
        if self.timer.is_none() {
            self.timer = Some(Box::pin(tokio::time::sleep_until(self.limit().0)));
        }
    }

    /// Waits for a remote backend's decision, for no longer than the limit:
    /// a store that never answers must not hold the call (or its place in
    /// line, or its in-flight slot) for ever.
    fn pending<F>(&mut self, decision: BoxDecision) -> State<F> {
        self.arm_timer();
        State::Acquiring { decision }
    }

    /// The step after the limit passed during a wait of unknown length.
    pub(crate) fn poll_timer<F>(&mut self, cx: &mut Context<'_>) -> Option<State<F>> {
        let timer = self.timer.as_mut()?;
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let cause = self.limit().1;
                Some(self.refuse(cause, None))
            }
            Poll::Pending => None,
        }
    }

    pub(crate) fn enter_line<F>(&mut self, scope: Scope) -> State<F> {
        let line = match scope {
            Scope::Partition => self.lane.line.clone(),
            Scope::Global => self.shared.lanes.global.line.clone(),
        };
        match line.clone().try_acquire_owned() {
            Ok(permit) => self.in_line(permit, scope),
            Err(_) => {
                if scope == Scope::Partition {
                    self.queued = Some(Queued::new(self.lane.clone()));
                }
                self.arm_timer();
                State::Line {
                    acquire: Box::pin(line.acquire_owned()),
                    scope,
                }
            }
        }
    }

    /// At the head of `scope`'s line: ask for a permit.
    pub(crate) fn in_line<F>(&mut self, permit: OwnedSemaphorePermit, scope: Scope) -> State<F> {
        match scope {
            Scope::Partition => {
                self.line = Some(permit);
                self.queued = None;
            }
            Scope::Global => self.global_line = Some(permit),
        }
        self.timer = None;
        State::Ask
    }

    /// The call's record, if it has one.
    pub(crate) fn record(&self) -> Option<&CallRecord> {
        self.request.as_ref()?.extensions().get::<CallRecord>()
    }

    pub(crate) fn ask<F>(&mut self) -> State<F> {
        match self
            .shared
            .backend
            .acquire(&self.key, &self.shared.policy.quotas)
        {
            Acquire::Ready(decision) => self.decided(decision),
            Acquire::Pending(decision) => self.pending(decision),
        }
    }

    pub(crate) fn decided<F>(&mut self, decision: Result<Decision, BoxError>) -> State<F> {
        match decision {
            Ok(Decision::Granted) => self.grant(),
            Ok(Decision::Wait {
                retry_after,
                scope,
                cause,
            }) => self.on_wait(retry_after, scope, cause),
            Err(error) => State::Failed { error: Some(error) },
        }
    }

    fn on_wait<F>(&mut self, retry_after: Duration, scope: Scope, cause: Cause) -> State<F> {
        if self.shared.policy.mode == Mode::Reject {
            return self.refuse(cause, Some(retry_after));
        }
        if let Some(limit) = self.crosses(retry_after) {
            return self.refuse(limit, Some(retry_after));
        }
        // Hold the line of the state that refused, so that the waiters
        // behind stay behind; a partition's own wait does not hold up the
        // other partitions in the global line.
        if self.line.is_none() {
            return self.enter_line(Scope::Partition);
        }
        match scope {
            Scope::Partition => self.global_line = None,
            Scope::Global if self.global_line.is_none() => return self.enter_line(Scope::Global),
            Scope::Global => {}
        }
        State::Sleeping {
            sleep: tokio::time::sleep(retry_after),
        }
    }

    fn uncount(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn grant<F>(&mut self) -> State<F> {
        self.uncount();
        self.line = None;
        self.global_line = None;
        self.queued = None;
        self.timer = None;
        self.granted = true;
        let waited = self.started.elapsed();
        if !waited.is_zero() {
            if let Some(request) = &self.request {
                CallRecord::note(request.extensions(), "ratelimit", || Event::QuotaWaited {
                    waited,
                });
            }
            tracing::debug!(
                target: "girder::ratelimit",
                partition = %self.key,
                waited = ?waited,
                "waited for quota"
            );
            self.shared.policy.on_limit.on_event(&LimitEvent::Waited {
                partition: &self.key,
                waited,
            });
        }
        State::Readying
    }

    fn refuse<F>(&mut self, cause: Cause, retry_after: Option<Duration>) -> State<F> {
        let error = RateLimited::new(cause, retry_after).with_partition(self.key.clone());
        if let Some(request) = &self.request {
            self.shared.refused(request.extensions(), &self.key, &error);
        }
        State::Failed {
            error: Some(error.into()),
        }
    }

    /// The request, to send now; the permit is used.
    pub(crate) fn send(&mut self) -> Option<Request<B>> {
        self.granted = false;
        self.request.take()
    }
}

impl<S, B> Drop for Waiting<S, B> {
    fn drop(&mut self) {
        self.uncount();
        if self.granted {
            // Dropped after its permit was granted but before the request
            // went out: the permit was not used.
            self.shared
                .backend
                .release(&self.key, &self.shared.policy.quotas);
            tracing::trace!(target: "girder::ratelimit", partition = %self.key, "unused permit given back");
        }
    }
}
