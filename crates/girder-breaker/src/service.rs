use std::sync::Arc;
use std::task::{Context, Poll};

use girder_core::{
    BoxError, CallRecord, CircuitOpen, Class, Classify, Deadline, DefaultClassifier, ErrorKind,
    Outcome, ServerHints,
};
use http::{Request, Response, StatusCode};
use tokio::time::Instant;
use tower_service::Service;

use crate::{BreakerEvent, BreakerState};

use crate::circuit::{Admission, Circuit, Verdict};
use crate::future::{Permit, ResponseFuture};
use crate::handle::{BreakerHandle, Mode};
use crate::layer::CircuitBreakerLayer;
use crate::policy::BreakerPolicy;
use crate::shared::{LazyNow, Shared};
use crate::store::link::{Answer, decide};
use crate::store::{Admit, ProbeToken};

/// Fails calls fast while their partition's circuit is open; see the
/// [crate docs](crate).
///
/// # Clone
///
/// Clones share the circuits. There is no per-clone state: a call's claim
/// on its circuit (a probe slot) lives in its future.
///
/// The inner service must be `Clone`: a call that waits for a remote
/// [`CircuitStore`](crate::CircuitStore) takes the service `poll_ready`
/// readied with it, and the breaker keeps a clone.
#[derive(Debug, Clone)]
pub struct CircuitBreaker<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> CircuitBreaker<S> {
    /// Wraps `inner` with `policy`, with circuits of its own.
    pub fn new(inner: S, policy: BreakerPolicy) -> Self {
        tower_layer::Layer::layer(&CircuitBreakerLayer::new(policy), inner)
    }

    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        CircuitBreaker { inner, shared }
    }

    /// A [`CircuitBreakerLayer`] with `policy`.
    pub fn layer(policy: BreakerPolicy) -> CircuitBreakerLayer {
        CircuitBreakerLayer::new(policy)
    }

    /// A handle on the circuits: modes, reset, metrics.
    pub fn handle(&self) -> BreakerHandle {
        BreakerHandle::new(self.shared.clone())
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

impl<S, B, ResB> Service<Request<B>> for CircuitBreaker<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // An open circuit still waits for the inner service: a refusal
        // spends the readiness without calling, as tower's load-shed does.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = &self.shared;
        let mode = shared.mode();
        match mode {
            Mode::Disabled => return ResponseFuture::called(self.inner.call(request), None),
            Mode::ForcedOpen => {
                CallRecord::note(request.extensions(), "breaker", || {
                    BreakerEvent::new(BreakerState::Open, false)
                });
                let key = shared.policy.partition.key(&request);
                return ResponseFuture::refused(CircuitOpen::new(key, None));
            }
            Mode::Automatic | Mode::MetricsOnly => {}
        }
        let mut now = LazyNow::default();
        let started = shared.policy.slow_calls.map(|_| now.get());
        let circuit = shared.circuit(shared.policy.partition.key(&request), &mut now);
        let (admission, change) = circuit.admit(shared, &mut now);
        if let Some(change) = change {
            shared.announce(change);
        }
        if let (Some(_), Admission::Admitted(ticket)) = (&shared.link, admission) {
            let permit = Permit {
                circuit,
                shared: shared.clone(),
                ticket,
                started,
                slot: None,
            };
            return self.consult(request, permit, mode);
        }
        match conclude(&request, circuit, shared, admission, started, None, mode) {
            Decided::Call(permit) => ResponseFuture::called(self.inner.call(request), permit),
            Decided::Refuse(error) => ResponseFuture::refused(error),
        }
    }
}

impl<S> CircuitBreaker<S> {
    /// Asks the shared store about a call its local circuit admitted:
    /// at once if the store answers at once, else in the call's future,
    /// with the service `poll_ready` readied.
    fn consult<B, ResB>(
        &mut self,
        request: Request<B>,
        mut permit: Permit,
        mode: Mode,
    ) -> ResponseFuture<S, B>
    where
        S: Service<Request<B>, Response = Response<ResB>> + Clone,
    {
        // `call` consults only with a store: the `else` is never taken.
        let Some(link) = &self.shared.link else {
            return ResponseFuture::called(self.inner.call(request), Some(permit));
        };
        // From here on the permit names the token, so that however the
        // call ends, a slot the store gave it goes back.
        let token = link.token();
        permit.slot = Some(token);
        let key = permit.circuit.key();
        let answer = match link.store.admit(key, token, self.shared.policy.probes) {
            Admit::Ready(Ok(fleet)) => Answer::Fleet(fleet),
            Admit::Ready(Err(error)) => Answer::Failed(error),
            Admit::Pending(answer) => {
                let budget = match Deadline::of(&request) {
                    Some(deadline) => deadline.remaining().min(link.budget),
                    None => link.budget,
                };
                if budget.is_zero() {
                    Answer::Slow
                } else {
                    // The service poll_ready readied goes with the call,
                    // which stays ready until called (tower's contract), so
                    // the future calls it without polling again; this
                    // breaker keeps a clone, readied before its next call.
                    let fresh = self.inner.clone();
                    let service = std::mem::replace(&mut self.inner, fresh);
                    return ResponseFuture::consulting(
                        budget, answer, service, request, permit, mode,
                    );
                }
            }
        };
        match decide(&request, permit, answer, mode) {
            Decided::Call(permit) => ResponseFuture::called(self.inner.call(request), permit),
            Decided::Refuse(error) => ResponseFuture::refused(error),
        }
    }
}

/// Where a call stands once its circuit decided.
#[derive(Debug)]
pub(crate) enum Decided {
    /// Send it, holding the permit if the circuit tracks it.
    Call(Option<Permit>),
    Refuse(CircuitOpen),
}

/// Notes and traces `admission` of `request` on `circuit`, and says what
/// to do with the call. A refused call holds nothing: its probe slots are
/// already given back.
pub(crate) fn conclude<B>(
    request: &Request<B>,
    circuit: Arc<Circuit>,
    shared: &Arc<Shared>,
    admission: Admission,
    started: Option<Instant>,
    slot: Option<ProbeToken>,
    mode: Mode,
) -> Decided {
    let note = |state, admitted| {
        CallRecord::note(request.extensions(), "breaker", || {
            BreakerEvent::new(state, admitted)
        })
    };
    match admission {
        Admission::Admitted(ticket) => {
            note(ticket.state, true);
            Decided::Call(Some(Permit {
                circuit,
                shared: shared.clone(),
                ticket,
                started,
                slot,
            }))
        }
        Admission::Refused { state, .. } if mode == Mode::MetricsOnly => {
            note(state, true);
            tracing::debug!(
                target: "girder::breaker",
                partition = %circuit.key(),
                %state,
                "shadow mode: call let through that would have been refused"
            );
            Decided::Call(None)
        }
        Admission::Refused { state, retry_after } => {
            note(state, false);
            tracing::debug!(
                target: "girder::breaker",
                partition = %circuit.key(),
                %state,
                "call refused"
            );
            Decided::Refuse(CircuitOpen::new(circuit.key().clone(), retry_after))
        }
    }
}

/// What an outcome means to the circuit; see
/// [`BreakerPolicyBuilder::classifier`](crate::BreakerPolicyBuilder::classifier).
pub(crate) fn verdict<B>(
    policy: &BreakerPolicy,
    result: &Result<Response<B>, BoxError>,
) -> Verdict {
    let outcome = match result {
        Ok(response) => {
            let status = response.status();
            if let Some(cap) = policy.retry_after_cap
                && (status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::SERVICE_UNAVAILABLE)
                && let Some(wait) = ServerHints::from_headers(response.headers()).retry_after()
                && !wait.is_zero()
            {
                return Verdict::Pause(wait.min(cap));
            }
            if policy.classifier.is_none() && status.is_client_error() {
                return Verdict::Success;
            }
            Outcome::response(response)
        }
        Err(error) => {
            // Refused below before anything was sent (or failed on the
            // client's side: no credentials, no signature): says nothing
            // about the upstream.
            let kind = ErrorKind::of(&**error);
            if matches!(
                kind,
                ErrorKind::CircuitOpen
                    | ErrorKind::RateLimited
                    | ErrorKind::DeadlineExceeded
                    | ErrorKind::Auth
                    | ErrorKind::Signing
            ) {
                return Verdict::Ignored;
            }
            Outcome::error(&**error)
        }
    };
    let class = match &policy.classifier {
        Some(classifier) => classifier.classify(outcome),
        None => DefaultClassifier.classify(outcome),
    };
    match class {
        Class::Success => Verdict::Success,
        _ => Verdict::Failure,
    }
}
