use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use girder_core::{BoxError, CallRecord, Event, WallClock};
use http::Request;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::layer::SigningLayer;
use crate::signer::{SignableBody, Signer};

pub(crate) struct Shared<G> {
    pub(crate) signer: G,
    pub(crate) clock: WallClock,
}

impl<G> fmt::Debug for Shared<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signer holds keys; its own Debug redacts them, but a user's
        // signer may not, so it is left out here.
        f.debug_struct("Shared")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Signs each request, then calls the inner service; see the
/// [crate docs](crate).
///
/// # Clone
///
/// Clones share the signer and the clock (an `Arc`); cloning costs one
/// reference count and a clone of the inner service.
pub struct Signing<S, G> {
    inner: S,
    shared: Arc<Shared<G>>,
}

impl<S: Clone, G> Clone for Signing<S, G> {
    fn clone(&self) -> Self {
        Signing {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, G> fmt::Debug for Signing<S, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signing")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}

impl<S, G: Signer> Signing<S, G> {
    /// Wraps `inner`, signing with `signer` at the system time.
    pub fn new(inner: S, signer: G) -> Self {
        Signing::from_shared(
            inner,
            Arc::new(Shared {
                signer,
                clock: WallClock::system(),
            }),
        )
    }

    /// A [`SigningLayer`] with `signer`.
    pub fn layer(signer: G) -> SigningLayer<G> {
        SigningLayer::new(signer)
    }
}

impl<S, G> Signing<S, G> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared<G>>) -> Self {
        Signing { inner, shared }
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

impl<S, G, B, ResB> Service<Request<B>> for Signing<S, G>
where
    S: Service<Request<B>, Response = http::Response<ResB>>,
    S::Error: Into<BoxError>,
    G: Signer,
    B: SignableBody,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let signer = &self.shared.signer;
        let scheme = signer.scheme();
        let now = self.shared.clock.now();
        match signer.sign(&mut parts, body.payload(), now) {
            Ok(()) => {
                tracing::debug!(target: "girder::sign", scheme, method = %parts.method, path = parts.uri.path(), "request signed");
                CallRecord::note(&parts.extensions, "sign", || Event::Signed { scheme });
                ResponseFuture::called(self.inner.call(Request::from_parts(parts, body)))
            }
            Err(error) => {
                tracing::warn!(target: "girder::sign", scheme, %error, "request not signed; not sent");
                ResponseFuture::failed(error.into())
            }
        }
    }
}
