use std::sync::Arc;
use std::task::{Context, Poll};

use girder_core::{BoxError, CallRecord};
use http::{HeaderValue, Request, Response};
use tower_service::Service;
use tracing::Level;

use crate::config::LoggingConfig;
use crate::future::{Finish, ResponseFuture};
use crate::layer::LoggingLayer;
use crate::level::enabled;
use crate::span::{Head, make_span, on_request};

/// The service of [`LoggingLayer`]: one span and a few events per call.
///
/// # Clone
///
/// Clones share the configuration (an `Arc`) and with it the registry of
/// credential values to mask; there is no other state.
#[derive(Debug, Clone)]
pub struct Logging<S> {
    inner: S,
    config: Arc<LoggingConfig>,
}

impl<S> Logging<S> {
    /// Wraps `inner` with `config` (and a registry of credential values to
    /// mask of its own).
    pub fn new(inner: S, config: LoggingConfig) -> Self {
        Logging::from_shared(inner, Arc::new(config.with_own_secrets()))
    }

    pub(crate) fn from_shared(inner: S, config: Arc<LoggingConfig>) -> Self {
        Logging { inner, config }
    }

    /// A [`LoggingLayer`] with `config`.
    pub fn layer(config: LoggingConfig) -> LoggingLayer {
        LoggingLayer::new(config)
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for Logging<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    ReqB: 'static,
    ResB: 'static,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let config = &*self.config;
        // Outermost: the record of every decision below starts here, unless
        // the caller made one to keep a handle on it.
        let record = CallRecord::ensure(&mut request);
        let mut caller_id = false;
        if let Some(name) = &config.request_id {
            if request.headers().contains_key(name) {
                caller_id = true;
            } else {
                request.headers_mut().insert(name.clone(), new_request_id());
            }
        }
        // The layers below (auth, signing) register the credential values
        // they send here, so that an echo of one is masked in the headers
        // and bodies logged at DEBUG and in a request id the caller chose
        // (it may quote anything; ours is random hex); when neither is
        // logged, nobody pays for the handle.
        let masked_debug = config.masks_values() && enabled(Level::DEBUG);
        let masked_id = caller_id && enabled(config.span_level);
        if masked_debug || masked_id {
            request.extensions_mut().insert(config.secrets.clone());
        }
        let span = make_span(&request, config);
        let head = config.on_call_end.is_some().then(|| Head::of(&request));
        #[cfg(feature = "opentelemetry")]
        if config.propagate {
            crate::otel::inject(&span, request.headers_mut());
        }
        let inner = {
            let _entered = span.enter();
            on_request(&request, config);
            self.inner.call(request)
        };
        ResponseFuture::new(
            inner,
            Finish {
                span,
                record,
                head,
                config: self.config.clone(),
            },
        )
    }
}

/// A random 128-bit id in lower-case hex: unique enough to find one call
/// in the logs of both sides; not a secret, so not from a CSPRNG.
fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = fastrand::u128(..);
    let mut text = [0u8; 32];
    for digit in text.iter_mut().rev() {
        *digit = HEX[(id & 0xf) as usize];
        id >>= 4;
    }
    HeaderValue::from_bytes(&text).expect("hex digits are a valid header value")
}
