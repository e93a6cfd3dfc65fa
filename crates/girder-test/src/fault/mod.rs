//! [`FaultLayer`]: seeded chaos for tests.
//!
//! Each request that passes the predicate draws from a seeded RNG: with the
//! configured probabilities it is failed without reaching the service
//! ([`FaultBuilder::error`]), answered with a status instead
//! ([`FaultBuilder::status`]), sent but its response lost
//! ([`FaultBuilder::drop_response`], the case that tests idempotency), and,
//! independently, delayed ([`FaultBuilder::latency`]). The same seed and the
//! same sequence of calls give the same faults, run after run.
//!
//! ```
//! use std::time::Duration;
//! use girder_test::{FaultLayer, MockService, Reply};
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), girder_core::BoxError> {
//! let faults = FaultLayer::builder(42)
//!     .status(http::StatusCode::SERVICE_UNAVAILABLE, 0.3)
//!     .error(0.1)
//!     .latency(Duration::from_millis(200), 0.5)
//!     .when(|head| head.method() == http::Method::GET)
//!     .build()?;
//! let svc = faults.layer(MockService::new(Reply::ok()));
//!
//! for _ in 0..100 {
//!     let req = http::Request::get("http://api.test/").body(girder_core::Body::empty())?;
//!     let _ = svc.clone().oneshot(req).await;
//! }
//! let stats = faults.stats();
//! assert_eq!(stats.total(), 100);
//! assert!(stats.statuses > 10 && stats.errors > 0);
//! # Ok(())
//! # }
//! ```

mod future;

pub use future::ResponseFuture;

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use girder_core::BoxError;
use girder_core::partition::RequestHead;
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

type Predicate = dyn Fn(RequestHead<'_>) -> bool + Send + Sync;

/// Builds a [`FaultLayer`]; every probability defaults to 0.
pub struct FaultBuilder {
    seed: u64,
    error: f64,
    status: Option<(StatusCode, f64)>,
    drop_response: f64,
    latency: Option<(Duration, f64)>,
    predicate: Option<Box<Predicate>>,
}

impl fmt::Debug for FaultBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultBuilder")
            .field("seed", &self.seed)
            .field("error", &self.error)
            .field("status", &self.status)
            .field("drop_response", &self.drop_response)
            .field("latency", &self.latency)
            .field("predicate", &self.predicate.is_some())
            .finish()
    }
}

impl FaultBuilder {
    /// Fails a request with probability `p` without calling the service;
    /// the error is an [`InjectedFault`] whose source is an
    /// `io::ErrorKind::ConnectionReset` error. Default: 0.
    pub fn error(mut self, p: f64) -> Self {
        self.error = p;
        self
    }

    /// Answers with `status` (and an empty body) with probability `p`
    /// without calling the service. Default: none.
    pub fn status(mut self, status: StatusCode, p: f64) -> Self {
        self.status = Some((status, p));
        self
    }

    /// Calls the service, then loses its response with probability `p`:
    /// the request had its effect but the caller sees an [`InjectedFault`].
    /// Default: 0.
    pub fn drop_response(mut self, p: f64) -> Self {
        self.drop_response = p;
        self
    }

    /// Delays a request by `delay` (tokio time) with probability `p`,
    /// independently of the other faults. Default: none.
    pub fn latency(mut self, delay: Duration, p: f64) -> Self {
        self.latency = Some((delay, p));
        self
    }

    /// Injects faults only into requests for which `predicate` is true.
    /// Default: every request.
    pub fn when<F>(mut self, predicate: F) -> Self
    where
        F: Fn(RequestHead<'_>) -> bool + Send + Sync + 'static,
    {
        self.predicate = Some(Box::new(predicate));
        self
    }

    /// The layer, or an error if a probability is outside 0 to 1 or the
    /// error, status and drop probabilities add up to more than 1.
    pub fn build(self) -> Result<FaultLayer, InvalidFaults> {
        let status_p = self.status.map_or(0.0, |(_, p)| p);
        let latency_p = self.latency.map_or(0.0, |(_, p)| p);
        for (what, p) in [
            ("error", self.error),
            ("status", status_p),
            ("drop_response", self.drop_response),
            ("latency", latency_p),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(InvalidFaults(format!(
                    "{what} probability {p} is not between 0 and 1"
                )));
            }
        }
        let exclusive = self.error + status_p + self.drop_response;
        if exclusive > 1.0 + f64::EPSILON {
            return Err(InvalidFaults(format!(
                "error, status and drop_response probabilities add up to {exclusive}, more than 1"
            )));
        }
        Ok(FaultLayer {
            shared: Arc::new(Shared {
                rng: Mutex::new(fastrand::Rng::with_seed(self.seed)),
                stats: Mutex::new(FaultStats::default()),
                config: self,
            }),
        })
    }
}

/// A [`FaultBuilder`] configuration that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFaults(String);

impl fmt::Display for InvalidFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid fault configuration: {}", self.0)
    }
}

impl std::error::Error for InvalidFaults {}

/// The error of an injected fault.
#[derive(Debug)]
pub struct InjectedFault {
    response_dropped: bool,
    source: io::Error,
}

impl InjectedFault {
    fn new(response_dropped: bool) -> Self {
        let message = if response_dropped {
            "connection reset after the request was sent"
        } else {
            "connection reset before the request was sent"
        };
        InjectedFault {
            response_dropped,
            source: io::Error::new(io::ErrorKind::ConnectionReset, message),
        }
    }

    /// Whether the service was called and its response lost.
    pub fn response_dropped(&self) -> bool {
        self.response_dropped
    }
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.response_dropped {
            f.write_str("injected fault: response dropped")
        } else {
            f.write_str("injected fault: request failed")
        }
    }
}

impl std::error::Error for InjectedFault {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// How many requests met each fault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultStats {
    /// Requests outside the predicate, or that drew no fault.
    pub passed: u64,
    /// Requests failed with an error.
    pub errors: u64,
    /// Requests answered with the fault status.
    pub statuses: u64,
    /// Requests whose response was dropped.
    pub dropped: u64,
    /// Requests delayed (counted also under their other outcome).
    pub delayed: u64,
}

impl FaultStats {
    /// Requests seen: passed, errors, statuses and dropped.
    pub fn total(&self) -> u64 {
        self.passed + self.errors + self.statuses + self.dropped
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Pass,
    Error,
    Status(StatusCode),
    DropResponse,
}

#[derive(Debug)]
struct Shared {
    config: FaultBuilder,
    rng: Mutex<fastrand::Rng>,
    stats: Mutex<FaultStats>,
}

impl Shared {
    fn decide(&self, head: RequestHead<'_>) -> (Option<Duration>, Action) {
        let config = &self.config;
        let mut stats = lock(&self.stats);
        if config.predicate.as_ref().is_some_and(|p| !p(head)) {
            stats.passed += 1;
            return (None, Action::Pass);
        }
        let (roll, latency_roll) = {
            let mut rng = lock(&self.rng);
            (rng.f64(), rng.f64())
        };
        let delay = config
            .latency
            .filter(|(_, p)| latency_roll < *p)
            .map(|(d, _)| d);
        if delay.is_some() {
            stats.delayed += 1;
        }
        let status_p = config.status.map_or(0.0, |(_, p)| p);
        let action = if roll < config.error {
            stats.errors += 1;
            Action::Error
        } else if roll < config.error + status_p {
            stats.statuses += 1;
            Action::Status(config.status.expect("status_p > 0 implies a status").0)
        } else if roll < config.error + status_p + config.drop_response {
            stats.dropped += 1;
            Action::DropResponse
        } else {
            stats.passed += 1;
            Action::Pass
        };
        (delay, action)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Injects faults into the requests it passes on; see the [module docs](self).
///
/// # Clone
///
/// The RNG and the stats are created by the builder and shared by the
/// layer, every service it makes and their clones, so a seed fixes the
/// faults of the whole sequence of calls.
#[derive(Debug, Clone)]
pub struct FaultLayer {
    shared: Arc<Shared>,
}

impl FaultLayer {
    /// A builder seeded with `seed`.
    pub fn builder(seed: u64) -> FaultBuilder {
        FaultBuilder {
            seed,
            error: 0.0,
            status: None,
            drop_response: 0.0,
            latency: None,
            predicate: None,
        }
    }

    /// How many requests met each fault so far.
    pub fn stats(&self) -> FaultStats {
        *lock(&self.shared.stats)
    }
}

impl<S> Layer<S> for FaultLayer {
    type Service = Fault<S>;

    fn layer(&self, inner: S) -> Fault<S> {
        Fault {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service of [`FaultLayer`].
///
/// # Clone
///
/// Clones share the RNG and stats of the layer that made them.
#[derive(Debug, Clone)]
pub struct Fault<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Fault<S> {
    /// How many requests met each fault so far.
    pub fn stats(&self) -> FaultStats {
        *lock(&self.shared.stats)
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

impl<S, ReqB, ResB> Service<Request<ReqB>> for Fault<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S, Request<ReqB>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let (delay, action) = self.shared.decide(RequestHead::of(&request));
        // The service made ready by poll_ready is the one that must be
        // called, even after a delay: take it and leave a clone behind.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(ready, request, delay, action)
    }
}

#[cfg(test)]
mod tests;
