//! [`ResponseFuture`], the future of [`RateLimit`](crate::RateLimit).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use girder_core::BoxError;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::backend::Scope;
use crate::body::InFlightBody;
use crate::service::After;
use crate::wait::{State, StateProj, Waiting};

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
        wait: Option<Box<Waiting<S, B>>>,
        after: Option<After>,
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

    pub(crate) fn waiting(wait: Box<Waiting<S, B>>, state: State<S::Future>, after: After) -> Self {
        ResponseFuture {
            state,
            wait: Some(wait),
            after: Some(after),
        }
    }

    pub(crate) fn failed(error: BoxError) -> Self {
        ResponseFuture {
            state: State::Failed { error: Some(error) },
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
            let step = match this.state.as_mut().project() {
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
                StateProj::Slot { acquire } => {
                    let wait = waiting(this.wait);
                    match acquire.as_mut().poll(cx) {
                        Poll::Ready(Ok(slot)) => {
                            if let Some(after) = this.after.as_mut() {
                                after.slot = Some(slot);
                            }
                            wait.enter_line(Scope::Partition)
                        }
                        Poll::Ready(Err(closed)) => State::Failed {
                            error: Some(closed.into()),
                        },
                        Poll::Pending => match wait.poll_timer(cx) {
                            Some(step) => step,
                            None => return Poll::Pending,
                        },
                    }
                }
                StateProj::Line { acquire, scope } => {
                    let wait = waiting(this.wait);
                    match acquire.as_mut().poll(cx) {
                        Poll::Ready(Ok(permit)) => wait.in_line(permit, *scope),
                        Poll::Ready(Err(closed)) => State::Failed {
                            error: Some(closed.into()),
                        },
                        Poll::Pending => match wait.poll_timer(cx) {
                            Some(step) => step,
                            None => return Poll::Pending,
                        },
                    }
                }
                StateProj::Ask => waiting(this.wait).ask(),
                StateProj::Acquiring { decision } => {
                    let wait = waiting(this.wait);
                    // The call's record is current while the backend
                    // decides, so that a shared one can note a fallback.
                    let polled = match wait.record() {
                        Some(record) => record.enter(|| decision.as_mut().poll(cx)),
                        None => decision.as_mut().poll(cx),
                    };
                    match polled {
                        Poll::Ready(decision) => wait.decided(decision),
                        // NOTE: wait.rs armed the timer with this state. A
                        // store that does not answer in time is a refusal,
                        // not a pass: letting calls through unmetered while
                        // the shared store is down would spend the quota
                        // the store exists to guard, for the whole fleet.
                        Poll::Pending => match wait.poll_timer(cx) {
                            Some(step) => step,
                            None => return Poll::Pending,
                        },
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    State::Ask
                }
                StateProj::Readying => {
                    // NOTE: service.rs swapped this service in after its
                    // poll_ready; the wait may have outlasted that readiness.
                    let wait = waiting(this.wait);
                    match ready!(wait.service.poll_ready(cx)) {
                        Ok(()) => {
                            let request = wait.send().expect("a waiting call sends once");
                            let future = wait.service.call(request);
                            *this.wait = None;
                            this.state.set(State::Calling { future });
                            continue;
                        }
                        // The permit goes back when `wait` is dropped.
                        Err(error) => State::Failed {
                            error: Some(error.into()),
                        },
                    }
                }
            };
            this.state.set(step);
        }
    }
}

fn waiting<S, B>(wait: &mut Option<Box<Waiting<S, B>>>) -> &mut Waiting<S, B> {
    wait.as_deref_mut()
        .expect("every waiting state has its Waiting")
}
