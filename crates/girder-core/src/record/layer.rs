use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::CallRecord;

/// Creates a [`CallRecord`] for each call (unless the request already has
/// one) and returns it in the response extensions.
///
/// Put it outermost. The facade's trace layer does the same job, so this is
/// for stacks built without it. (The service is `CallRecordService`, not
/// `CallRecord<S>` as the naming contract would have it, because
/// `CallRecord` is the record itself.)
#[derive(Debug, Clone, Copy, Default)]
pub struct CallRecordLayer(());

impl CallRecordLayer {
    /// The layer.
    pub fn new() -> Self {
        CallRecordLayer(())
    }
}

impl<S> Layer<S> for CallRecordLayer {
    type Service = CallRecordService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallRecordService::new(inner)
    }
}

/// The service of [`CallRecordLayer`].
///
/// # Clone
///
/// Stateless: clones share nothing; each call gets its own record.
#[derive(Debug, Clone)]
pub struct CallRecordService<S> {
    inner: S,
}

impl<S> CallRecordService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        CallRecordService { inner }
    }

    /// A [`CallRecordLayer`].
    pub fn layer() -> CallRecordLayer {
        CallRecordLayer::new()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for CallRecordService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let record = CallRecord::ensure(&mut request);
        ResponseFuture {
            inner: self.inner.call(request),
            record: Some(record),
        }
    }
}

pin_project! {
    /// The future of [`CallRecordService`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        record: Option<CallRecord>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(record) = this.record.take() {
            response.extensions_mut().insert(record);
        }
        Poll::Ready(Ok(response))
    }
}
