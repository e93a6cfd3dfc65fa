//! [`ResponseFuture`], the future of [`CircuitBreaker`](crate::CircuitBreaker).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use girder_core::{BoxError, CircuitOpen};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::circuit::{Circuit, Ticket};
use crate::handle::Mode;
use crate::service::{Decided, verdict};
use crate::shared::Shared;
use crate::store::link::{Answer, decide};
use crate::store::{FleetState, ProbeToken};

type BoxAnswer = Pin<Box<dyn Future<Output = Result<FleetState, BoxError>> + Send>>;

pin_project! {
    /// The future of [`CircuitBreaker`](crate::CircuitBreaker).
    ///
    /// Dropping it before it finishes counts as neither success nor
    /// failure; a half-open probe gives its slot back, here and in the
    /// shared store, so another call can probe. Dropped while the shared
    /// store is deciding, it gives back any slot the store may have given.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S::Future, Pin<Box<Consult<S, B>>>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, C> {
        Called { #[pin] future: F, permit: Option<Permit> },
        // Admitted by the local circuit; the shared store is deciding.
        Consulting { consult: C },
        // The circuit refused: the inner service was never called.
        Refused { error: Option<CircuitOpen> },
    }
}

pin_project! {
    /// A call waiting for the shared store, boxed so that the common
    /// future stays small.
    pub(crate) struct Consult<S, B> {
        #[pin]
        budget: Sleep,
        answer: BoxAnswer,
        service: S,
        request: Option<Request<B>>,
        // Provisional: dropped with the call, it gives its slots back.
        permit: Option<Permit>,
        mode: Mode,
    }
}

impl<S: Service<Request<B>>, B> ResponseFuture<S, B> {
    pub(crate) fn called(future: S::Future, permit: Option<Permit>) -> Self {
        ResponseFuture {
            state: State::Called { future, permit },
        }
    }

    pub(crate) fn refused(error: CircuitOpen) -> Self {
        ResponseFuture {
            state: State::Refused { error: Some(error) },
        }
    }

    pub(crate) fn consulting(
        budget: Duration,
        answer: BoxAnswer,
        service: S,
        request: Request<B>,
        permit: Permit,
        mode: Mode,
    ) -> Self {
        let consult = Consult {
            budget: tokio::time::sleep(budget),
            answer,
            service,
            request: Some(request),
            permit: Some(permit),
            mode,
        };
        ResponseFuture {
            state: State::Consulting {
                consult: Box::pin(consult),
            },
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
{
    type Output = Result<Response<ResB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Called { future, permit } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    if let Some(permit) = permit.take() {
                        permit.finish(&result);
                    }
                    return Poll::Ready(result);
                }
                StateProj::Consulting { consult } => {
                    let consult = consult.as_mut().project();
                    let answer = match consult.answer.as_mut().poll(cx) {
                        Poll::Ready(Ok(fleet)) => Answer::Fleet(fleet),
                        Poll::Ready(Err(error)) => Answer::Failed(error),
                        Poll::Pending => {
                            ready!(consult.budget.poll(cx));
                            Answer::Slow
                        }
                    };
                    let (Some(request), Some(permit)) =
                        (consult.request.take(), consult.permit.take())
                    else {
                        panic!("ResponseFuture polled after completion");
                    };
                    match decide(&request, permit, answer, *consult.mode) {
                        Decided::Call(permit) => {
                            let future = consult.service.call(request);
                            state.set(State::Called { future, permit });
                        }
                        Decided::Refuse(error) => {
                            state.set(State::Refused { error: None });
                            return Poll::Ready(Err(error.into()));
                        }
                    }
                }
                StateProj::Refused { error } => {
                    let error = error
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Err(error.into()));
                }
            }
        }
    }
}

/// An admitted call's claim on its circuit. Dropped unfinished, it gives a
/// probe slot back.
#[derive(Debug)]
pub(crate) struct Permit {
    pub(crate) circuit: Arc<Circuit>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) ticket: Ticket,
    /// When the call was admitted; known only when slow calls count.
    pub(crate) started: Option<Instant>,
    /// The token of a probe slot this call holds, or may hold, in the
    /// shared store.
    pub(crate) slot: Option<ProbeToken>,
}

impl Permit {
    fn finish<B>(mut self, result: &Result<Response<B>, BoxError>) {
        let now = Instant::now();
        let policy = &self.shared.policy;
        let slow = match (policy.slow_calls, self.started) {
            (Some(slow), Some(started)) => now.saturating_duration_since(started) >= slow.threshold,
            _ => false,
        };
        let change = self.circuit.complete(
            &self.shared,
            self.ticket,
            verdict(policy, result),
            slow,
            now,
        );
        // The outcome is in; nothing is left for Drop to give back. The
        // fleet's slot goes back before a change is published, so that a
        // store keeps the order "probe over, circuit opened (or closed)".
        self.ticket.probe = false;
        self.release_slot();
        if let Some(change) = change {
            self.shared.announce(change);
        }
    }

    /// Gives back the shared store's probe slot this call may hold.
    pub(crate) fn release_slot(&mut self) {
        if let Some(token) = self.slot.take()
            && let Some(link) = &self.shared.link
        {
            link.store.release_probe(self.circuit.key(), token);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.ticket.probe {
            self.circuit.release(self.ticket);
        }
        self.release_slot();
    }
}
