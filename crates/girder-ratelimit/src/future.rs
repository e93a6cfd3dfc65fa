//! [`ResponseFuture`], the future of [`RateLimit`](crate::RateLimit): the
//! limiter's one state machine, its states, the edges between them and
//! the poll that drives them. What a waiting call holds is wait.rs's.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use girder_core::BoxError;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::sync::{AcquireError, OwnedSemaphorePermit};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::backend::{Acquire, Decision, Scope};
use crate::body::InFlightBody;
use crate::error::Cause;
use crate::policy::Mode;
use crate::service::After;
use crate::wait::Waiting;

type BoxAcquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;
type BoxDecision = Pin<Box<dyn Future<Output = Result<Decision, BoxError>> + Send>>;

/// Why a call left the fast path: the edge into the waiting states.
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
    /// The future of [`RateLimit`](crate::RateLimit).
    ///
    /// Dropping it at any point is safe. A call waiting in line leaves the
    /// line; one at its head passes it to the next; one granted a permit
    /// it has not used yet gives the permit back; one in flight frees its
    /// in-flight slot. A response hands the slot on to its body
    /// ([`InFlightBody`]); an error or a refusal holds nothing.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S::Future>,
        // Every waiting state has it; a call refused while waiting keeps it
        // until the future is dropped.
        wait: Option<Box<Waiting<S, B>>>,
        after: Option<After>,
    }
}

pin_project! {
    #[project = StateProj]
    /// Where a call stands. Each state's constructor below is an edge: it
    /// takes the call's [`Waiting`] to the state that comes next.
    enum State<F> {
        // The request is sent.
        Calling { #[pin] future: F },
        // Waiting for an in-flight slot, until the limit.
        Slot { acquire: BoxAcquire, #[pin] limit: Sleep },
        // Waiting in the partition's or the global line, until the limit.
        Line { acquire: BoxAcquire, scope: Scope, #[pin] limit: Sleep },
        // At the head of the lines: ask the backend.
        Ask,
        // A remote backend is deciding, until the limit.
        Acquiring { decision: BoxDecision, #[pin] limit: Sleep },
        // At the head of the line until a permit is due.
        Sleeping { #[pin] sleep: Sleep },
        // A permit is held; the service must be ready before the call.
        Readying,
        // The limiter refused, or the backend failed.
        Failed { error: Option<BoxError> },
    }
}

impl<F> State<F> {
    fn failed(error: impl Into<BoxError>) -> Self {
        State::Failed {
            error: Some(error.into()),
        }
    }

    /// The first state of a call that left the fast path.
    fn first<S, B>(wait: &mut Waiting<S, B>, first: First) -> Self {
        match first {
            First::Slot => match wait.lane.slots().cloned() {
                Some(slots) => State::Slot {
                    acquire: Box::pin(slots.acquire_owned()),
                    limit: wait.timer(),
                },
                None => State::enter_line(wait, Scope::Partition),
            },
            First::Line => {
                // The head's wait is unknown here: count it as one interval.
                let pace = wait.shared.pace;
                State::estimate(wait, pace, Cause::Quota)
            }
            First::Refused { retry_after, cause } => State::estimate(wait, retry_after, cause),
            First::Pending(decision) => State::pending(wait, decision),
        }
    }

    /// Counts the waiters ahead into a wait of `after`, then decides on it.
    fn estimate<S, B>(wait: &mut Waiting<S, B>, after: Duration, cause: Cause) -> Self {
        let ahead = u32::try_from(wait.lane.waiting()).unwrap_or(u32::MAX);
        let estimate = after.saturating_add(wait.shared.pace.saturating_mul(ahead));
        // The call holds no line yet: it is refused or joins its partition's.
        // It left the fast path just now: the clock reading taken then serves.
        let started = wait.started;
        State::wait_for(wait, estimate, Scope::Partition, cause, move || started)
    }

    /// The call must wait `retry_after` for `scope`'s quota: refused in
    /// reject mode or when the wait would cross a limit, else in line, or
    /// asleep at the head of it. The clock is read once, with `now`, and
    /// only when a limit is to be checked.
    fn wait_for<S, B>(
        wait: &mut Waiting<S, B>,
        retry_after: Duration,
        scope: Scope,
        cause: Cause,
        now: impl FnOnce() -> Instant,
    ) -> Self {
        if wait.shared.policy.mode == Mode::Reject {
            return State::refuse(wait, cause, Some(retry_after));
        }
        let now = now();
        if let Some(limit) = wait.crosses(now, retry_after) {
            return State::refuse(wait, limit, Some(retry_after));
        }
        // Hold the line of the state that refused, so that the waiters
        // behind stay behind; a partition's own wait does not hold up the
        // other partitions in the global line.
        if !wait.holds(Scope::Partition) {
            return State::enter_line(wait, Scope::Partition);
        }
        match scope {
            Scope::Partition => wait.leave_global_line(),
            Scope::Global if !wait.holds(Scope::Global) => {
                return State::enter_line(wait, Scope::Global);
            }
            Scope::Global => {}
        }
        // As `tokio::time::sleep(retry_after)`, without reading the clock again.
        State::Sleeping {
            sleep: tokio::time::sleep_until(crate::clock::later(now, retry_after)),
        }
    }

    fn enter_line<S, B>(wait: &mut Waiting<S, B>, scope: Scope) -> Self {
        let line = wait.line(scope);
        match line.clone().try_acquire_owned() {
            Ok(permit) => State::in_line(wait, permit, scope),
            Err(_) => {
                wait.queue(scope);
                State::Line {
                    acquire: Box::pin(line.acquire_owned()),
                    scope,
                    limit: wait.timer(),
                }
            }
        }
    }

    /// At the head of `scope`'s line: ask for a permit.
    fn in_line<S, B>(wait: &mut Waiting<S, B>, permit: OwnedSemaphorePermit, scope: Scope) -> Self {
        wait.hold(permit, scope);
        State::Ask
    }

    fn ask<S, B>(wait: &mut Waiting<S, B>) -> Self {
        match wait
            .shared
            .backend
            .acquire(&wait.key, &wait.shared.policy.quotas)
        {
            Acquire::Ready(decision) => State::decided(wait, decision),
            Acquire::Pending(decision) => State::pending(wait, decision),
        }
    }

    /// Waits for a remote backend's decision, for no longer than the limit:
    /// a store that never answers must not hold the call (or its place in
    /// line, or its in-flight slot) for ever.
    fn pending<S, B>(wait: &mut Waiting<S, B>, decision: BoxDecision) -> Self {
        State::Acquiring {
            decision,
            limit: wait.timer(),
        }
    }

    fn decided<S, B>(wait: &mut Waiting<S, B>, decision: Result<Decision, BoxError>) -> Self {
        match decision {
            Ok(Decision::Granted) => {
                wait.grant();
                State::Readying
            }
            Ok(Decision::Wait {
                retry_after,
                scope,
                cause,
            }) => State::wait_for(wait, retry_after, scope, cause, Instant::now),
            Err(error) => State::failed(error),
        }
    }

    fn refuse<S, B>(wait: &mut Waiting<S, B>, cause: Cause, retry_after: Option<Duration>) -> Self {
        State::failed(wait.refuse(cause, retry_after))
    }

    /// A wait of unknown length goes on, or is refused once the limit passed.
    fn limit_passed<S, B>(
        wait: &mut Waiting<S, B>,
        limit: Pin<&mut Sleep>,
        cx: &mut Context<'_>,
    ) -> Poll<Self> {
        ready!(limit.poll(cx));
        let cause = wait.limit().1;
        Poll::Ready(State::refuse(wait, cause, None))
    }
}

impl<S: Service<Request<B>>, B> ResponseFuture<S, B> {
    pub(crate) fn calling(future: S::Future, after: After) -> Self {
        ResponseFuture {
            state: State::Calling { future },
            wait: None,
            after: Some(after),
        }
    }

    pub(crate) fn waiting(mut wait: Box<Waiting<S, B>>, first: First, after: After) -> Self {
        ResponseFuture {
            state: State::first(&mut wait, first),
            wait: Some(wait),
            after: Some(after),
        }
    }

    pub(crate) fn failed(error: BoxError) -> Self {
        ResponseFuture {
            state: State::failed(error),
            wait: None,
            after: None,
        }
    }
}

impl<S: Service<Request<B>>, B> fmt::Debug for ResponseFuture<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<S, B, ResB> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    ResB: http_body::Body,
{
    type Output = Result<Response<InFlightBody<ResB>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    // An error frees the slot here; a response's body takes
                    // it, as the call is in flight until its body is done.
                    let slot = match (this.after.take(), &result) {
                        (Some(after), Ok(response)) => {
                            after.observe(response);
                            after.slot
                        }
                        _ => None,
                    };
                    return Poll::Ready(
                        result.map(|response| response.map(|body| InFlightBody::new(body, slot))),
                    );
                }
                StateProj::Failed { error } => {
                    *this.after = None;
                    let error = error
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Err(error));
                }
                StateProj::Slot { acquire, limit } => {
                    let wait = waiting(this.wait);
                    match acquire.as_mut().poll(cx) {
                        Poll::Ready(Ok(slot)) => {
                            if let Some(after) = this.after.as_mut() {
                                after.slot = Some(slot);
                            }
                            Poll::Ready(State::enter_line(wait, Scope::Partition))
                        }
                        Poll::Ready(Err(closed)) => Poll::Ready(State::failed(closed)),
                        Poll::Pending => State::limit_passed(wait, limit, cx),
                    }
                }
                StateProj::Line {
                    acquire,
                    scope,
                    limit,
                } => {
                    let wait = waiting(this.wait);
                    match acquire.as_mut().poll(cx) {
                        Poll::Ready(Ok(permit)) => {
                            Poll::Ready(State::in_line(wait, permit, *scope))
                        }
                        Poll::Ready(Err(closed)) => Poll::Ready(State::failed(closed)),
                        Poll::Pending => State::limit_passed(wait, limit, cx),
                    }
                }
                StateProj::Ask => Poll::Ready(State::ask(waiting(this.wait))),
                StateProj::Acquiring { decision, limit } => {
                    let wait = waiting(this.wait);
                    // The call's record is current while the backend
                    // decides, so that a shared one can note a fallback.
                    let polled = match wait.record() {
                        Some(record) => record.enter(|| decision.as_mut().poll(cx)),
                        None => decision.as_mut().poll(cx),
                    };
                    match polled {
                        Poll::Ready(decision) => Poll::Ready(State::decided(wait, decision)),
                        // A store that does not answer in time is a refusal,
                        // not a pass: letting calls through unmetered while
                        // the shared store is down would spend the quota
                        // the store exists to guard, for the whole fleet.
                        Poll::Pending => State::limit_passed(wait, limit, cx),
                    }
                }
                StateProj::Sleeping { sleep } => sleep.poll(cx).map(|()| State::Ask),
                StateProj::Readying => {
                    // NOTE: service.rs swapped this service in after its
                    // poll_ready; the wait may have outlasted that readiness.
                    let wait = waiting(this.wait);
                    match ready!(wait.service.poll_ready(cx)) {
                        Ok(()) => {
                            let request = wait.send().expect("a waiting call sends once");
                            let future = wait.service.call(request);
                            *this.wait = None;
                            Poll::Ready(State::Calling { future })
                        }
                        // The permit goes back when `wait` is dropped.
                        Err(error) => Poll::Ready(State::failed(error)),
                    }
                }
            };
            this.state.set(ready!(next));
        }
    }
}

fn waiting<S, B>(wait: &mut Option<Box<Waiting<S, B>>>) -> &mut Waiting<S, B> {
    wait.as_deref_mut()
        .expect("every waiting state has its Waiting")
}
