use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use girder_core::record::Replay;
use girder_core::{BoxError, CallRecord, Deadline, ReplayBody};
use http::{Request, Response};
use tower_service::Service;

use crate::AuthEvent;
use crate::cache::{self, Lookup, Shared};
use crate::config::{AuthConfig, Recovery};
use crate::future::ResponseFuture;
use crate::layer::AuthLayer;

/// Puts the current credential on each request to the inner service,
/// refreshes it and recovers from 401s; see the [crate docs](crate).
///
/// # Clone
///
/// Clones share the token cache created by the [`AuthLayer`]. A call that
/// must wait for a credential takes the service `poll_ready` made ready and
/// leaves a clone in its place; it drives readiness again after the wait.
/// A call that may be sent again after a 401 keeps a clone of the inner
/// service for that resend.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    shared: Arc<Shared>,
    /// See [`AuthLayer::share_call_head`].
    call_head: bool,
}

impl<S> Auth<S> {
    /// Wraps `inner` with `config`, with a token cache of its own.
    pub fn new(inner: S, config: AuthConfig) -> Self {
        tower_layer::Layer::layer(&AuthLayer::new(config), inner)
    }

    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>, call_head: bool) -> Self {
        Auth {
            inner,
            shared,
            call_head,
        }
    }

    /// An [`AuthLayer`] with `config`.
    pub fn layer(config: AuthConfig) -> AuthLayer {
        AuthLayer::new(config)
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

impl<S: fmt::Debug> fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S, B, ResB> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    B: ReplayBody,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let shared = &self.shared;
        if !shared.config.scope.permits(&request) {
            // Another origin (or a redirect hop that left the first one):
            // no lookup, no fetch, no copy for a 401 replay; the request
            // goes on as it came.
            tracing::debug!(
                target: "girder::auth",
                "request outside the credential scope; sent without a credential"
            );
            let mut future = ResponseFuture::new(shared.clone(), None, None);
            future.passing(self.inner.call(request));
            return future;
        }
        let record = request.extensions().get::<CallRecord>().cloned();
        let recovers =
            shared.config.recovery != Recovery::Off && shared.config.source.refreshable();
        // A copy to send again after a 401, taken before the credential
        // goes on (a key in the query must not be appended twice). A
        // streamed body has none; its 401 is returned as it is.
        let replay = if recovers {
            Replay::keep(&request, self.call_head)
        } else {
            None
        };
        let mut future = ResponseFuture::new(shared.clone(), record, replay);
        match shared.lookup() {
            Lookup::Ready(credential, event) => {
                if let Some(event) = event {
                    future.note(event);
                }
                credential.apply(&mut request);
                // The spare serves the resend; this call uses the service
                // poll_ready made ready.
                let spare = future.wants_spare().then(|| self.inner.clone());
                let sent = self.inner.call(request);
                future.calling(sent, credential, spare);
            }
            Lookup::Wait(rx, event) => {
                // NOTE: future.rs's Readying state drives readiness again
                // for the service taken here.
                let clone = self.inner.clone();
                let service = std::mem::replace(&mut self.inner, clone);
                let deadline = Deadline::of(&request);
                future.note(event);
                future.waiting(cache::wait(rx, deadline), service, request);
            }
            Lookup::Failed(error) => future.fail(error.into()),
        }
        future
    }
}

/// Whether a 401's `WWW-Authenticate` fields say `error="invalid_token"`.
pub(crate) fn says_invalid_token(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            let v = v.to_ascii_lowercase();
            v.split([',', ' ']).any(|param| {
                let param = param.trim();
                param == "error=\"invalid_token\"" || param == "error=invalid_token"
            })
        })
}

pub(crate) fn note(record: Option<&CallRecord>, event: AuthEvent) {
    if let Some(record) = record {
        record.push("auth", event);
    }
}
