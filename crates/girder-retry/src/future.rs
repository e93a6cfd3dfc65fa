//! [`ResponseFuture`], the future of [`Retry`](crate::Retry).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use girder_core::{BoxError, ReplayBody};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use crate::attempts::{Attempts, CallState, Decision};

pin_project! {
    /// The future of [`Retry`](crate::Retry).
    ///
    /// Dropping it at any point is safe: an attempt in flight is dropped
    /// with it, and a retry that was scheduled but not yet sent gives its
    /// share of the budget back.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S::Future, Request<B>>,
        call: CallState<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    // The next attempt's request lives in the states that wait to send
    // it, not beside the attempt future every layer above moves.
    enum State<F, R> {
        Calling { #[pin] future: F },
        Sleeping { #[pin] sleep: Sleep, next: Option<R> },
        // The backoff is over; the service must be ready before the resend.
        Readying { next: Option<R> },
    }
}

impl<S: Service<Request<B>>, B> ResponseFuture<S, B> {
    pub(crate) fn new(future: S::Future, call: CallState<S, B>) -> Self {
        ResponseFuture {
            state: State::Calling { future },
            call,
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
    B: ReplayBody,
{
    type Output = Result<Response<ResB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    let attempts = Attempts(this.call.attempt());
                    let with_attempts = |mut response: Response<ResB>| {
                        response.extensions_mut().insert(attempts);
                        response
                    };
                    match this.call.decide(&result) {
                        Decision::Done => return Poll::Ready(result.map(with_attempts)),
                        Decision::Deadline(exceeded) => {
                            return Poll::Ready(match result {
                                Ok(response) => Ok(with_attempts(response)),
                                // No response to return: the deadline error,
                                // with the last failure as its source.
                                Err(last) => Err(exceeded.with_source(last).into()),
                            });
                        }
                        Decision::Retry(delay, next) => {
                            // The failed response is dropped here, before the wait.
                            drop(result);
                            this.state.set(State::Sleeping {
                                sleep: tokio::time::sleep(delay),
                                next: Some(next),
                            });
                        }
                    }
                }
                StateProj::Sleeping { sleep, next } => {
                    ready!(sleep.poll(cx));
                    let next = next.take();
                    this.state.set(State::Readying { next });
                }
                StateProj::Readying { next } => {
                    ready!(this.call.service.poll_ready(cx)).map_err(Into::into)?;
                    // NOTE: only `Decision::Retry` leads here, with the
                    // request `decide` made; it is taken once.
                    let Some(request) = next.take() else {
                        return Poll::Ready(Err(NoRequest.into()));
                    };
                    let request = this.call.start_next(request);
                    let future = this.call.service.call(request);
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}

/// A resend without its request: a broken invariant of this crate, reported
/// as an error rather than a panic.
#[derive(Debug)]
struct NoRequest;

impl fmt::Display for NoRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("retry scheduled without a request to send")
    }
}

impl std::error::Error for NoRequest {}
