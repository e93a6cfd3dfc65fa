use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use girder_core::BoxError;
use http::Response;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use super::{Action, InjectedFault};

pin_project! {
    /// The future of [`Fault`](super::Fault).
    pub struct ResponseFuture<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        state: State<S, R, S::Future>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R, F> {
        // Latency first; the service and request wait here.
        Delaying {
            #[pin]
            sleep: Sleep,
            service: Option<S>,
            request: Option<R>,
            action: Action,
        },
        // The fault decided the outcome; the service is not called.
        Injected {
            action: Action,
        },
        Calling {
            #[pin]
            future: F,
            drop_response: bool,
        },
    }
}

impl<S: Service<R>, R> ResponseFuture<S, R> {
    pub(super) fn new(service: S, request: R, delay: Option<Duration>, action: Action) -> Self {
        let state = match delay {
            Some(delay) => State::Delaying {
                sleep: tokio::time::sleep(delay),
                service: Some(service),
                request: Some(request),
                action,
            },
            None => Self::start(service, request, action),
        };
        ResponseFuture { state }
    }

    fn start(mut service: S, request: R, action: Action) -> State<S, R, S::Future> {
        match action {
            Action::Pass => State::Calling {
                future: service.call(request),
                drop_response: false,
            },
            Action::DropResponse => State::Calling {
                future: service.call(request),
                drop_response: true,
            },
            Action::Error | Action::Status(_) => State::Injected { action },
        }
    }
}

impl<S, R> fmt::Debug for ResponseFuture<S, R>
where
    S: Service<R>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<S, R, B> Future for ResponseFuture<S, R>
where
    S: Service<R, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Default,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Delaying {
                    sleep,
                    service,
                    request,
                    action,
                } => {
                    ready!(sleep.poll(cx));
                    let service = service.take().expect("polled after the delay ended");
                    let request = request.take().expect("polled after the delay ended");
                    let next = Self::start(service, request, *action);
                    this.state.set(next);
                }
                StateProj::Injected { action } => {
                    return Poll::Ready(match *action {
                        Action::Status(status) => {
                            let mut response = Response::new(B::default());
                            *response.status_mut() = status;
                            Ok(response)
                        }
                        _ => Err(InjectedFault::new(false).into()),
                    });
                }
                StateProj::Calling {
                    future,
                    drop_response,
                } => {
                    let response = ready!(future.poll(cx)).map_err(Into::into)?;
                    if *drop_response {
                        drop(response);
                        return Poll::Ready(Err(InjectedFault::new(true).into()));
                    }
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}
