//! [`ResponseFuture`], the future of [`CircuitBreaker`](crate::CircuitBreaker).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use girder_core::{BoxError, CircuitOpen};
use http::Response;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::circuit::{Circuit, Ticket};
use crate::service::verdict;
use crate::shared::Shared;

pin_project! {
    /// The future of [`CircuitBreaker`](crate::CircuitBreaker).
    ///
    /// Dropping it before it finishes counts as neither success nor
    /// failure; a half-open probe gives its slot back, so another call can
    /// probe.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] future: F, permit: Option<Permit> },
        // The circuit refused: the inner service was never called.
        Refused { error: Option<CircuitOpen> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn called(future: F, permit: Option<Permit>) -> Self {
        ResponseFuture {
            state: State::Called { future, permit },
        }
    }

    pub(crate) fn refused(error: CircuitOpen) -> Self {
        ResponseFuture {
            state: State::Refused { error: Some(error) },
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future, permit } => {
                let result = ready!(future.poll(cx)).map_err(Into::into);
                if let Some(permit) = permit.take() {
                    permit.finish(&result);
                }
                Poll::Ready(result)
            }
            StateProj::Refused { error } => {
                let error = error
                    .take()
                    .expect("ResponseFuture polled after completion");
                Poll::Ready(Err(error.into()))
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
        // The outcome is in; nothing is left for Drop to give back.
        self.ticket.probe = false;
        if let Some(change) = change {
            self.shared.announce(change);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.ticket.probe {
            self.circuit.release(self.ticket);
        }
    }
}
