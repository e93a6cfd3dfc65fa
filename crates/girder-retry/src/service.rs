use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use girder_core::{BoxError, CallRecord, Deadline, IDEMPOTENCY_KEY, Idempotency, ReplayBody};
use http::{HeaderValue, Method, Request, Response};
use tower_service::Service;

use crate::RetryDecision;
use crate::attempts::CallState;
use crate::budget::Budgets;
use crate::future::ResponseFuture;
use crate::layer::RetryLayer;
use crate::policy::RetryPolicy;
use girder_core::record::Replay;

/// State shared by a layer and every service it makes.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) policy: RetryPolicy,
    pub(crate) budgets: Option<Budgets>,
    calls: AtomicU64,
}

impl Shared {
    pub(crate) fn new(policy: RetryPolicy, budgets: Option<Budgets>) -> Self {
        Shared {
            policy,
            budgets,
            calls: AtomicU64::new(0),
        }
    }

    /// The jitter source of one call: reproducible when the policy is seeded.
    pub(crate) fn rng(&self) -> fastrand::Rng {
        match self.policy.seed {
            Some(seed) => {
                let call = self.calls.fetch_add(1, Ordering::Relaxed);
                fastrand::Rng::with_seed(seed ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            }
            None => fastrand::Rng::new(),
        }
    }
}

/// Retries failed attempts of the inner service; see the [crate docs](crate).
///
/// # Clone
///
/// Clones share the policy and the retry budget. Each call works on its
/// own clone of the inner service, made ready again before every resend.
#[derive(Debug, Clone)]
pub struct Retry<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Retry<S> {
    /// Wraps `inner` with `policy`, with a budget of its own.
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        tower_layer::Layer::layer(&RetryLayer::new(policy), inner)
    }

    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        Retry { inner, shared }
    }

    /// A [`RetryLayer`] with `policy`.
    pub fn layer(policy: RetryPolicy) -> RetryLayer {
        RetryLayer::new(policy)
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

impl<S, B, ResB> Service<Request<B>> for Retry<S>
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
        let policy = &self.shared.policy;
        if policy.idempotency_keys {
            add_idempotency_key(&mut request);
        }
        let idempotent = Idempotency::of(&request).is_idempotent();
        // The copy for later attempts is taken before the first is sent:
        // the original body is consumed by sending it.
        let replay = if policy.max_attempts > 1 {
            // The first layer to keep one keeps the call's head in its
            // record; one kept further out is never taken for this request.
            Replay::keep(&request, false)
        } else {
            None
        };
        let budget = self
            .shared
            .budgets
            .as_ref()
            .map(|budgets| budgets.for_request(&request));
        if let Some(budget) = &budget {
            budget.deposit();
        }
        let record = request.extensions().get::<CallRecord>().cloned();
        if let Some(record) = &record {
            record.push("retry", RetryDecision::Attempt { number: 1 });
        }
        let deadline = Deadline::of(&request);

        // The service made ready by poll_ready is the one to call; the clone
        // left behind serves the next call. This call keeps the ready one
        // and drives its readiness again before each resend.
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        let future = service.call(request);
        let state = CallState::new(
            service,
            replay,
            idempotent,
            self.shared.clone(),
            budget,
            deadline,
            record,
        );
        ResponseFuture::new(future, state)
    }
}

fn add_idempotency_key<B>(request: &mut Request<B>) {
    let unsafe_method = matches!(*request.method(), Method::POST | Method::PATCH);
    if !unsafe_method || request.headers().contains_key(IDEMPOTENCY_KEY) {
        return;
    }
    if request.extensions().get::<Idempotency>().is_some() {
        // The caller decided explicitly; leave the request as it is.
        return;
    }
    let key = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let value = HeaderValue::from_str(&key).expect("hex digits are a valid header value");
    request.headers_mut().insert(IDEMPOTENCY_KEY, value);
}
