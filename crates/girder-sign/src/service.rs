use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use girder_core::origin::CredentialScope;
use girder_core::{BoxError, CallRecord, SigningError};
use http::Request;
use http::request::Parts;
use tower_service::Service;

use crate::SignEvent;
use crate::future::{Resign, ResponseFuture};
use crate::layer::SigningLayer;
use crate::signer::{SignableBody, Signer};
use crate::skew::{Clock, SkewPolicy};

pub(crate) struct Shared<G> {
    pub(crate) signer: Arc<G>,
    pub(crate) clock: Arc<Clock>,
    pub(crate) skew: Option<SkewPolicy>,
    /// The origins this layer signs for; see [`SigningLayer::scope`].
    pub(crate) scope: CredentialScope,
}

impl<G> Clone for Shared<G> {
    fn clone(&self) -> Self {
        Shared {
            signer: self.signer.clone(),
            clock: self.clock.clone(),
            skew: self.skew.clone(),
            scope: self.scope.clone(),
        }
    }
}

impl<G> fmt::Debug for Shared<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signer holds keys. The built-in signers redact them in
        // Debug, but a user's signer may not, so it is left out here.
        f.debug_struct("Shared")
            .field("clock", &self.clock)
            .field("skew", &self.skew)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl<G: Signer> Shared<G> {
    /// Signs `parts` now, notes it in the call record and the trace;
    /// returns the time it signed at.
    pub(crate) fn sign<B: SignableBody>(
        &self,
        parts: &mut Parts,
        body: &B,
    ) -> Result<SystemTime, SigningError> {
        let scheme = self.signer.scheme();
        // Signing time is a new reading; with a record it becomes the
        // attempt's, stamped on what is noted after it.
        let now = match parts.extensions.get::<CallRecord>() {
            Some(record) => self.clock.at(record.mark_now()),
            None => self.clock.now(),
        };
        match self.signer.sign(parts, body.payload(), now) {
            Ok(()) => {
                tracing::debug!(
                    target: "girder::sign",
                    scheme,
                    method = %parts.method,
                    path = parts.uri.path(),
                    "request signed"
                );
                CallRecord::note(&parts.extensions, "sign", || SignEvent::Signed { scheme });
                Ok(now)
            }
            Err(error) => {
                tracing::warn!(target: "girder::sign", scheme, %error, "request not signed; not sent");
                Err(error)
            }
        }
    }
}

/// Signs each request, then calls the inner service; see the
/// [crate docs](crate).
///
/// The inner service must be `Clone`: after a clock-skew rejection the
/// re-signed request goes to a clone made at the first call (the
/// readiness of the original was spent on the first request).
///
/// A request outside the layer's credential scope, or marked
/// [`CrossOriginHop`](girder_core::origin::CrossOriginHop), is passed on
/// unsigned and untouched (see [`SigningLayer::scope`]).
///
/// # Clone
///
/// Clones share the signer, the clock and the learned offset (`Arc`s).
pub struct Signing<S, G> {
    inner: S,
    shared: Shared<G>,
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
        tower_layer::Layer::layer(&SigningLayer::new(signer), inner)
    }

    /// A [`SigningLayer`] with `signer`.
    pub fn layer(signer: G) -> SigningLayer<G> {
        SigningLayer::new(signer)
    }
}

impl<S, G> Signing<S, G> {
    pub(crate) fn from_shared(inner: S, shared: Shared<G>) -> Self {
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

/// A copy of the request head as given (before signing).
fn copy_parts(parts: &Parts) -> Parts {
    let mut copy = Request::new(()).into_parts().0;
    copy.method = parts.method.clone();
    copy.uri = parts.uri.clone();
    copy.version = parts.version;
    copy.headers = parts.headers.clone();
    copy.extensions = parts.extensions.clone();
    copy
}

impl<S, G, B, ResB> Service<Request<B>> for Signing<S, G>
where
    S: Service<Request<B>, Response = http::Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    G: Signer,
    B: SignableBody,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, G, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // A request for an origin outside the scope (or a redirect hop
        // that left the call's first origin) goes on untouched: a
        // signature, a session token or a key id would hand a credential
        // to a server it was not meant for. No re-sign either: a skew
        // re-sign would sign it.
        if !self.shared.scope.permits(&req) {
            tracing::debug!(
                target: "girder::sign",
                scheme = self.shared.signer.scheme(),
                "request not signed: its origin is outside the credential scope"
            );
            return ResponseFuture::called(self.inner.call(req), None);
        }
        let (mut parts, body) = req.into_parts();
        // Keep what a re-sign needs, only when skew recovery is on and the
        // body can be sent again.
        let copy = match &self.shared.skew {
            Some(_) => body.try_replay().map(|body| (copy_parts(&parts), body)),
            None => None,
        };
        match self.shared.sign(&mut parts, &body) {
            Ok(signed_at) => {
                let resign = copy.map(|(parts, body)| {
                    Box::new(Resign {
                        service: self.inner.clone(),
                        parts,
                        body,
                        signed_at,
                        shared: self.shared.clone(),
                    })
                });
                ResponseFuture::called(self.inner.call(Request::from_parts(parts, body)), resign)
            }
            Err(error) => ResponseFuture::failed(error.into()),
        }
    }
}
