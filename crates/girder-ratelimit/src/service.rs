use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use girder_core::{BoxError, CallRecord, PartitionKey, ServerHints};
use http::{Request, Response, StatusCode};
use tokio::sync::OwnedSemaphorePermit;
use tower_service::Service;

use crate::backend::{Acquire, Decision, Feedback, RateLimitBackend};
use crate::body::InFlightBody;
use crate::error::{Cause, RateLimited};
use crate::event::QuotaEvent;
use crate::future::{First, ResponseFuture};
use crate::hook::LimitEvent;
use crate::lane::Lanes;
use crate::layer::RateLimitLayer;
use crate::policy::{Mode, RateLimitPolicy};
use crate::wait::Waiting;

/// State shared by a layer and every service it makes.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) policy: RateLimitPolicy,
    pub(crate) backend: Arc<dyn RateLimitBackend>,
    pub(crate) lanes: Lanes,
    /// The shortest spacing of any quota, to estimate a wait in line. It
    /// errs short: a quota with a long interval usually has a large burst
    /// (1,000 per hour), and over-estimating would refuse calls that fit;
    /// a call that was let into the line and cannot make it in time is
    /// refused when its limit passes.
    pub(crate) pace: Duration,
    /// Calls on the slow path not yet granted. While there are none, no
    /// line has anyone in it and a call may skip looking at its lane.
    pub(crate) waiting: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(policy: RateLimitPolicy) -> Self {
        let backend = policy.make_backend();
        let lanes = Lanes::new(policy.max_partitions, policy.max_in_flight);
        let quotas = &policy.quotas;
        let pace = (quotas.partition().iter())
            .chain(quotas.global())
            .map(|q| q.interval())
            .min()
            .unwrap_or_default();
        Shared {
            policy,
            backend,
            lanes,
            pace,
            waiting: AtomicUsize::new(0),
        }
    }

    /// Notes a refusal everywhere it is reported.
    pub(crate) fn refused(
        &self,
        extensions: &http::Extensions,
        key: &PartitionKey,
        error: &RateLimited,
    ) {
        CallRecord::note(extensions, "ratelimit", || QuotaEvent::Refused {
            retry_after: error.retry_after(),
        });
        tracing::debug!(
            target: "girder::ratelimit",
            partition = %key,
            cause = ?error.cause(),
            retry_after = ?error.retry_after(),
            "call refused"
        );
        self.policy.on_limit.on_event(&LimitEvent::Refused {
            partition: key,
            error,
        });
    }
}

/// Limits the calls of the inner service; see the [crate docs](crate).
///
/// Its responses carry the inner body in an [`InFlightBody`], which holds
/// the call's in-flight slot until the body ends or is dropped.
///
/// # Clone
///
/// Clones share the quota state (the backend), the lines and the
/// in-flight slots, all created by the [`RateLimitLayer`]. A call that
/// must wait takes the service `poll_ready` made ready and leaves a clone
/// in its place; it drives readiness again once it has its permit.
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> RateLimit<S> {
    /// Wraps `inner` with `policy`, with state of its own.
    pub fn new(inner: S, policy: RateLimitPolicy) -> Self {
        tower_layer::Layer::layer(&RateLimitLayer::new(policy), inner)
    }

    pub(crate) fn from_shared(inner: S, shared: Arc<Shared>) -> Self {
        RateLimit { inner, shared }
    }

    /// A [`RateLimitLayer`] with `policy`.
    pub fn layer(policy: RateLimitPolicy) -> RateLimitLayer {
        RateLimitLayer::new(policy)
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

impl<S, B, ResB> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    ResB: http_body::Body,
{
    type Response = Response<InFlightBody<ResB>>;
    type Error = BoxError;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = &self.shared;
        let key = shared.policy.partition.key(&request);
        // The fast path looks at the partition's lane only when it must:
        // for an in-flight slot, or when someone may be waiting in line.
        let quiet = shared.waiting.load(Ordering::Acquire) == 0;
        let (lane, slot) = if quiet && shared.policy.max_in_flight.is_none() {
            (None, None)
        } else {
            let lane = shared.lanes.get(&key);
            let slot = match lane.try_slot() {
                Ok(slot) => slot,
                Err(()) => return self.slow(request, key, lane, None, First::Slot),
            };
            let global_clear =
                shared.policy.quotas.global().is_empty() || shared.lanes.global.is_clear();
            if !(lane.is_clear() && global_clear) {
                return self.slow(request, key, lane, slot, First::Line);
            }
            (Some(lane), slot)
        };
        let first = match shared.backend.acquire(&key, &shared.policy.quotas) {
            Acquire::Ready(Ok(Decision::Granted)) => {
                // The service poll_ready made ready is called now.
                let future = self.inner.call(request);
                return ResponseFuture::calling(future, After::new(shared.clone(), key, slot));
            }
            Acquire::Ready(Ok(Decision::Wait {
                retry_after, cause, ..
            })) => First::Refused { retry_after, cause },
            Acquire::Ready(Err(error)) => return ResponseFuture::failed(error),
            Acquire::Pending(decision) => First::Pending(decision),
        };
        let lane = lane.unwrap_or_else(|| shared.lanes.get(&key));
        self.slow(request, key, lane, slot, first)
    }
}

impl<S> RateLimit<S> {
    /// A call that cannot go at once: refused in [`Mode::Reject`], else
    /// bounded by the max wait and the deadline, then waiting.
    fn slow<B, ResB>(
        &mut self,
        request: Request<B>,
        key: PartitionKey,
        lane: Arc<crate::lane::Lane>,
        slot: Option<OwnedSemaphorePermit>,
        first: First,
    ) -> ResponseFuture<S, B>
    where
        S: Service<Request<B>, Response = Response<ResB>> + Clone,
    {
        let shared = &self.shared;
        if shared.policy.mode == Mode::Reject {
            let error = match first {
                First::Slot => Some(RateLimited::new(Cause::InFlight, None)),
                First::Refused { retry_after, cause } => {
                    Some(RateLimited::new(cause, Some(retry_after)))
                }
                // Nobody waits in reject mode, so the lines are clear; a
                // remote decision is awaited like any other.
                First::Line | First::Pending(_) => None,
            };
            if let Some(error) = error {
                let error = error.with_partition(key.clone());
                shared.refused(request.extensions(), &key, &error);
                return ResponseFuture::failed(error.into());
            }
        }
        // The service made ready by poll_ready goes with this call, which
        // drives its readiness again after the wait; the clone serves the
        // next call. NOTE: future.rs's Readying state relies on this.
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let waiting = Waiting::new(service, request, shared.clone(), key.clone(), lane);
        ResponseFuture::waiting(Box::new(waiting), first, After::new(shared, key, slot))
    }
}

/// What a call keeps until its response: the in-flight slot, and what it
/// needs to learn from the response.
#[derive(Debug)]
pub(crate) struct After {
    shared: Arc<Shared>,
    key: PartitionKey,
    pub(crate) slot: Option<OwnedSemaphorePermit>,
}

impl After {
    fn new(shared: Arc<Shared>, key: PartitionKey, slot: Option<OwnedSemaphorePermit>) -> Self {
        After { shared, key, slot }
    }

    /// Feeds what the response says about the quota to the backend.
    pub(crate) fn observe<B>(&self, response: &Response<B>) {
        let policy = &self.shared.policy;
        if !policy.server_hints {
            return;
        }
        // Most responses carry no hint; skip the parse (and its read of
        // the wall clock) unless a field it reads is there.
        if !response.headers().keys().any(is_hint) {
            return;
        }
        let hints = ServerHints::from_headers(response.headers());
        if hints.is_empty() {
            return;
        }
        let status = response.status();
        let asked = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        );
        let retry_after = hints.retry_after().filter(|_| asked);
        let pause = retry_after
            .into_iter()
            .chain(hints.exhausted_for())
            .max()
            .map(|pause| pause.min(policy.max_server_pause))
            .filter(|pause| !pause.is_zero());
        let announced: Vec<_> = hints
            .quotas()
            .filter(|q| q.limit.is_some() && q.window.is_some())
            .cloned()
            .collect();
        if pause.is_none() && announced.is_empty() {
            return;
        }
        let feedback = Feedback { pause, announced };
        self.shared
            .backend
            .observe(&self.key, &policy.quotas, &feedback);
        if let Some(pause) = pause {
            tracing::debug!(
                target: "girder::ratelimit",
                partition = %self.key,
                status = status.as_u16(),
                pause = ?pause,
                "the server paused the partition"
            );
            policy.on_limit.on_event(&LimitEvent::Paused {
                partition: &self.key,
                pause,
            });
        }
    }
}

/// A field [`ServerHints`] reads. NOTE: the same prefixes as girder-core's
/// `ServerHints::parse`.
fn is_hint(name: &http::HeaderName) -> bool {
    let name = name.as_str();
    name == "retry-after"
        || name.starts_with("ratelimit")
        || name.starts_with("x-ratelimit-")
        || name.starts_with("x-rate-limit-")
}
