//! [`ResponseFuture`], the future of [`Signing`](crate::Signing).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use girder_core::{BoxError, CallRecord};
use http::request::Parts;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::SignEvent;
use crate::service::Shared;
use crate::signer::{SignableBody, Signer};

/// What a re-sign after a clock-skew rejection needs: a clone of the
/// service, the request as given, and the signer and clock.
pub(crate) struct Resign<S, G, B> {
    pub(crate) service: S,
    pub(crate) parts: Parts,
    pub(crate) body: B,
    /// When the first attempt was signed: the `Date` of a rejection is
    /// compared with this, not with the time the answer came.
    pub(crate) signed_at: SystemTime,
    pub(crate) shared: Shared<G>,
}

pin_project! {
    /// The future of [`Signing`](crate::Signing): the inner service's
    /// future; after a clock-skew rejection (when a
    /// [`SkewPolicy`](crate::SkewPolicy) is set) the future of the one
    /// re-signed attempt; or the signing error when the request could not
    /// be signed (then nothing was sent).
    ///
    /// Dropping it at any point is safe: it drops the inner future, or
    /// the copy kept for a re-sign. A learned offset stays learned.
    pub struct ResponseFuture<S, G, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S::Future>,
        resign: Option<Box<Resign<S, G, B>>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] future: F },
        // A skew was learned; the clone of the service must be ready.
        Readying,
        Failed { error: Option<BoxError> },
    }
}

impl<S: Service<Request<B>>, G, B> ResponseFuture<S, G, B> {
    pub(crate) fn called(future: S::Future, resign: Option<Box<Resign<S, G, B>>>) -> Self {
        ResponseFuture {
            state: State::Called { future },
            resign,
        }
    }

    pub(crate) fn failed(error: BoxError) -> Self {
        ResponseFuture {
            state: State::Failed { error: Some(error) },
            resign: None,
        }
    }
}

impl<S, G, B, ResB> Future for ResponseFuture<S, G, B>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    G: Signer,
    B: SignableBody,
{
    type Output = Result<Response<ResB>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let response = ready!(future.poll(cx)).map_err(Into::into)?;
                    let Some(resign) = this.resign.as_ref() else {
                        return Poll::Ready(Ok(response));
                    };
                    let skew = resign
                        .shared
                        .skew
                        .as_ref()
                        .expect("kept only with a policy");
                    let server =
                        skew.server_time(response.status(), response.headers(), resign.signed_at);
                    let Some(server) = server else {
                        *this.resign = None;
                        return Poll::Ready(Ok(response));
                    };
                    let offset = resign.shared.clock.adopt(server);
                    tracing::info!(
                        target: "girder::sign",
                        status = response.status().as_u16(),
                        offset_ms = offset,
                        "rejected for clock skew; re-signing once at the server's time"
                    );
                    // A resend: the trace layer counts it through
                    // `CallRecord::resends`.
                    CallRecord::note(&resign.parts.extensions, "sign", || SignEvent::Resigned {
                        offset_ms: offset,
                    });
                    // The rejection's body is dropped unread: a rejected
                    // request was not acted on.
                    drop(response);
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    let resign = this.resign.as_mut().expect("kept for the re-sign");
                    ready!(resign.service.poll_ready(cx)).map_err(Into::into)?;
                    let Resign {
                        mut service,
                        mut parts,
                        body,
                        shared,
                        ..
                    } = *this.resign.take().expect("kept for the re-sign");
                    match shared.sign(&mut parts, &body) {
                        Ok(_) => {
                            let future = service.call(Request::from_parts(parts, body));
                            this.state.set(State::Called { future });
                        }
                        Err(error) => this.state.set(State::Failed {
                            error: Some(error.into()),
                        }),
                    }
                }
                StateProj::Failed { error } => {
                    return Poll::Ready(Err(error
                        .take()
                        .expect("ResponseFuture polled after completion")));
                }
            }
        }
    }
}

impl<S: Service<Request<B>>, G, B> fmt::Debug for ResponseFuture<S, G, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Readying => "readying",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("can_resign", &self.resign.is_some())
            .finish()
    }
}
