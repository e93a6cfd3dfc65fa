use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use girder_core::{Body, BoxError};
use http::Response;
use hyper::body::Incoming;
use hyper_util::client::legacy;
use pin_project_lite::pin_project;

use super::InvalidRequest;

pin_project! {
    /// The future of [`Transport`](super::Transport).
    pub struct ResponseFuture {
        #[pin]
        state: State,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Sending { #[pin] inner: legacy::ResponseFuture },
        Refused { error: Option<InvalidRequest> },
    }
}

impl ResponseFuture {
    pub(super) fn sending(inner: legacy::ResponseFuture) -> Self {
        ResponseFuture {
            state: State::Sending { inner },
        }
    }

    pub(super) fn refused(error: InvalidRequest) -> Self {
        ResponseFuture {
            state: State::Refused { error: Some(error) },
        }
    }
}

/// hyper-util's error, wrapped in [`TlsError`](girder_core::TlsError) when
/// rustls's error is in its chain: hyper-util calls a failed handshake a
/// connect error, which the classifier would retry. A proxy's refusal of a
/// tunnel is returned bare, for the same reason (see
/// `ProxyError::refusal_in`).
fn classify(error: legacy::Error) -> BoxError {
    #[cfg(feature = "proxy")]
    if let Some(refusal) = crate::proxy::ProxyError::refusal_in(&error) {
        return Box::new(refusal);
    }
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    if crate::tls::is_tls_failure(&error) {
        return Box::new(girder_core::TlsError::new(error));
    }
    Box::new(error)
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Sending { inner } => {
                let response: Response<Incoming> = ready!(inner.poll(cx)).map_err(classify)?;
                Poll::Ready(Ok(response.map(Body::new)))
            }
            StateProj::Refused { error } => {
                let error = error.take().expect("polled after completion");
                Poll::Ready(Err(error.into()))
            }
        }
    }
}
