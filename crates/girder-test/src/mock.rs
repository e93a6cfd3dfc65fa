//! [`MockService`]: scripted replies in memory, as a `tower::Service`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use girder_core::{Body, BoxError};
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use tokio::time::Instant;
use tower_service::Service;

use crate::recorded::Log;
use crate::router::Router;
use crate::{RecordedRequest, Script};

/// An in-memory service that answers from a [`Script`] and records every
/// request it is given: a stand-in for the transport, or for whatever sits
/// below the layer under test. No sockets, so it is exact under paused time.
///
/// Scripted replies behave as over TCP: [`Reply::close`](crate::Reply::close)
/// fails the call with an `io::ErrorKind::ConnectionReset` error,
/// [`Reply::cut_body_after`](crate::Reply::cut_body_after) gives a body that
/// fails part way, and delays sleep on tokio's clock.
///
/// ```
/// use girder_test::{MockService, Reply};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), girder_core::BoxError> {
/// let mock = MockService::new([Reply::status(503), Reply::ok().body("done")]);
/// let req = || http::Request::post("http://api.test/jobs").body(girder_core::Body::from("job")).unwrap();
///
/// assert_eq!(mock.clone().oneshot(req()).await?.status(), 503);
/// assert_eq!(mock.clone().oneshot(req()).await?.status(), 200);
/// let seen = mock.requests();
/// assert_eq!(seen.len(), 2);
/// assert_eq!(seen[1].body, "job");
/// # Ok(())
/// # }
/// ```
///
/// # Clone
///
/// Clones share the script position and the request log.
#[derive(Debug, Clone)]
pub struct MockService {
    router: Router,
    log: Log,
}

impl MockService {
    /// A mock answering every request from `script`.
    pub fn new(script: impl Into<Script>) -> Self {
        let router = Router::default();
        router.add(None, None, script.into());
        MockService {
            router,
            log: Log::default(),
        }
    }

    /// Answers requests for `path`, any method, from `script` instead.
    pub fn route(&self, path: &str, script: impl Into<Script>) -> &Self {
        self.router.add(None, Some(path), script.into());
        self
    }

    /// Answers `method` requests for `path` from `script` instead.
    pub fn route_method(&self, method: Method, path: &str, script: impl Into<Script>) -> &Self {
        self.router.add(Some(method), Some(path), script.into());
        self
    }

    /// Every request given so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.all()
    }

    /// The number of requests given so far.
    pub fn request_count(&self) -> usize {
        self.log.len()
    }
}

impl<B> Service<Request<B>> for MockService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let (router, log) = (self.router.clone(), self.log.clone());
        let at = Instant::now();
        // Boxed: this is a test double, not a hot path, and its steps
        // (read the body, sleep) read best as one async block.
        ResponseFuture(Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.map_err(Into::into)?.to_bytes();
            Ok(router.answer(&log, parts, body, at, 0).await?)
        }))
    }
}

/// The future of [`MockService`].
pub struct ResponseFuture(Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>);

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}
