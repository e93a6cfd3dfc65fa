//! [`ResponseFuture`]: wait for a credential if need be, send, and on a
//! refusal fetch a fresh one and send once more.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use girder_core::record::Replay;
use girder_core::{BoxError, CallRecord, Deadline, ReplayBody};
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::cache::{self, Lookup, Shared, WaitFuture};
use crate::config::Recovery;
use crate::hook::TokenEvent;
use crate::service::{note, says_invalid_token};
use crate::{AuthEvent, Credential};

pin_project! {
    /// The future of [`Auth`](crate::Auth).
    ///
    /// Dropping it at any point is safe: a fetch it started runs on
    /// without it, and the calls waiting for that fetch get its outcome.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S::Future, Request<B>>,
        shared: Arc<Shared>,
        record: Option<CallRecord>,
        // What a resend after a refusal is built from.
        replay: Option<Replay<B>>,
        // The service for the send after a wait, or for the resend.
        service: Option<S>,
        // The credential the request in flight went with.
        credential: Option<Arc<Credential>>,
        resent: bool,
    }
}

pin_project! {
    #[project = StateProj]
    // The request to send after a wait lives in the states that hold it,
    // not beside the inner future every layer above moves.
    enum State<F, R> {
        Waiting { wait: WaitFuture, request: Option<R> },
        // NOTE: service.rs swaps out the service poll_ready readied before a
        // wait; readiness is driven again here.
        Readying { request: Option<R> },
        Calling { #[pin] future: F },
        Failed { error: Option<BoxError> },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(crate) fn new(
        shared: Arc<Shared>,
        record: Option<CallRecord>,
        replay: Option<Replay<B>>,
    ) -> Self {
        ResponseFuture {
            state: State::Failed { error: None },
            shared,
            record,
            replay,
            service: None,
            credential: None,
            resent: false,
        }
    }

    pub(crate) fn note(&self, event: AuthEvent) {
        note(self.record.as_ref(), event);
    }

    pub(crate) fn wants_spare(&self) -> bool {
        self.replay.is_some()
    }

    pub(crate) fn calling(
        &mut self,
        future: S::Future,
        credential: Arc<Credential>,
        spare: Option<S>,
    ) {
        self.state = State::Calling { future };
        self.credential = Some(credential);
        self.service = spare;
    }

    /// Sends without a credential: the response is returned as it is.
    pub(crate) fn passing(&mut self, future: S::Future) {
        self.state = State::Calling { future };
    }

    pub(crate) fn waiting(&mut self, wait: WaitFuture, service: S, request: Request<B>) {
        self.state = State::Waiting {
            wait,
            request: Some(request),
        };
        self.service = Some(service);
    }

    pub(crate) fn fail(&mut self, error: BoxError) {
        self.state = State::Failed { error: Some(error) };
    }
}

fn spent() -> BoxError {
    "girder-auth: response future polled after completion".into()
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
                StateProj::Waiting { wait, request } => {
                    let credential = ready!(wait.as_mut().poll(cx))?;
                    if let Some(record) = this.record.as_ref() {
                        // The wait is over: a new reading for this attempt.
                        record.mark_now();
                    }
                    let Some(mut request) = request.take() else {
                        return Poll::Ready(Err(spent()));
                    };
                    credential.apply(&mut request);
                    *this.credential = Some(credential);
                    this.state.set(State::Readying {
                        request: Some(request),
                    });
                }
                StateProj::Readying { request } => {
                    let Some(service) = this.service.as_mut() else {
                        return Poll::Ready(Err(spent()));
                    };
                    ready!(service.poll_ready(cx)).map_err(Into::into)?;
                    let Some(request) = request.take() else {
                        return Poll::Ready(Err(spent()));
                    };
                    let future = service.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx)).map_err(Into::into)?;
                    let status = response.status();
                    let Some(credential) = this.credential.clone() else {
                        return Poll::Ready(Ok(response));
                    };
                    let source = &this.shared.config.source;
                    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
                        source.accepted(&credential);
                        return Poll::Ready(Ok(response));
                    }
                    let fresh_may_help = source.rejected(&credential, status);
                    let recovery = this.shared.config.recovery;
                    let refused = fresh_may_help
                        && (recovery != Recovery::InvalidToken
                            || status != StatusCode::UNAUTHORIZED
                            || says_invalid_token(response.headers()));
                    if !refused {
                        return Poll::Ready(Ok(response));
                    }
                    // The credential is spent, resent or not: the next call
                    // fetches a fresh one (a pool's next key).
                    this.shared.invalidate(&credential);
                    let record = this.record.as_ref();
                    if let Some(record) = record {
                        // What follows is noted when the refusal was seen.
                        record.mark_now();
                    }
                    let resent = recovery != Recovery::Off
                        && !*this.resent
                        && this.replay.is_some()
                        && this.service.is_some();
                    let event = TokenEvent::Refused { status, resent };
                    this.shared.config.on_event.on_event(&event);
                    if recovery == Recovery::Off {
                        return Poll::Ready(Ok(response));
                    }
                    if *this.resent {
                        note(record, AuthEvent::RejectedAgain);
                        tracing::debug!(
                            target: "girder::auth",
                            status = status.as_u16(),
                            "fresh credential refused too; not resent again"
                        );
                        return Poll::Ready(Ok(response));
                    }
                    let replay = this.replay.take().filter(|_| this.service.is_some());
                    // A body may replay fewer times than it said it could:
                    // then, as for a stream, the refusal is returned.
                    let Some(mut replay) = replay.and_then(|replay| replay.request()) else {
                        note(record, AuthEvent::NotReplayed);
                        tracing::debug!(
                            target: "girder::auth",
                            status = status.as_u16(),
                            "credential refused; the body is a stream, so the request is not resent"
                        );
                        return Poll::Ready(Ok(response));
                    };
                    *this.resent = true;
                    tracing::debug!(
                        target: "girder::auth",
                        status = status.as_u16(),
                        "credential refused; resending with a fresh one"
                    );
                    match this.shared.lookup() {
                        Lookup::Ready(fresh, _) => {
                            if fresh.id() != credential.id() {
                                note(record, AuthEvent::KeyRotated);
                            }
                            note(record, AuthEvent::RecoveredFrom401);
                            fresh.apply(&mut replay);
                            *this.credential = Some(fresh);
                            this.state.set(State::Readying {
                                request: Some(replay),
                            });
                        }
                        Lookup::Wait(rx, _) => {
                            note(record, AuthEvent::RecoveredFrom401);
                            let deadline = Deadline::of(&replay);
                            this.state.set(State::Waiting {
                                wait: cache::wait(rx, deadline),
                                request: Some(replay),
                            });
                        }
                        Lookup::Failed(error) => return Poll::Ready(Err(error.into())),
                    }
                }
                StateProj::Failed { error } => {
                    return Poll::Ready(Err(error.take().unwrap_or_else(spent)));
                }
            }
        }
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting for a credential",
            State::Readying { .. } => "readying",
            State::Calling { .. } => "calling",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("resent", &self.resent)
            .finish_non_exhaustive()
    }
}
