//! [`Cache`], the service, and the state its clones share.
//!
//! The logic of one call is split by concern:
//! - `call`: the `Service` impl and the fast paths `Cache::call` answers
//!   without a boxed future ([`ResponseFuture`]'s other states);
//! - `lookup`: the boxed call: modes, the store's answer, fresh and stale
//!   hits, and what goes to the server;
//! - `serve`: reading and writing the store, and responses built from it;
//! - `fill`: coalescing a miss or a revalidation (local flights, fleet
//!   claims);
//! - `fetch`: one request to the server, a miss or a revalidation (the
//!   validators, a `304`, stale served on failure);
//! - `miss`: the miss path, `Miss`: the request sent, the answer judged,
//!   stored and shared, or handed over unstored with the key passing; the
//!   pass path, `fetch` (so every fill) and the background refresh take it;
//! - `refresh`: the background refresh of stale-while-revalidate;
//! - `invalidation`: unsafe methods and what they invalidate.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use girder_core::{Body, BoxError, CallRecord, Deadline, DeadlineExceeded, ReplayBody, WallClock};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_cache_semantics::CacheOptions;
use tower_service::Service;

use crate::answer::{self, Special};
use crate::body::{Buffered, buffer};
use crate::directives::{self, Directives};
use crate::entry::{CacheEntry, StoreContext, StoredResponse};
use crate::fleet;
use crate::flight::{self, Flights, Landing, Leader, Role, SharedResponse};
use crate::key::{CacheKey, KeyMaker};
use crate::pass::{PASS_TTL, Passes};
use crate::store::CacheStore;
use crate::{CacheConfig, CacheMode, SharedError};
use crate::{CacheEvent, CacheStatus};

mod call;
mod fetch;
mod fill;
mod invalidation;
mod lookup;
mod miss;
mod refresh;
mod serve;

use self::call::*;
use self::fetch::*;
use self::fill::*;
use self::invalidation::*;
use self::lookup::*;
use self::miss::*;
use self::serve::*;

/// An RFC 9111 private cache in front of `S`. Made by
/// [`CacheLayer`](crate::CacheLayer); see the [crate docs](crate).
pub struct Cache<S, St> {
    inner: S,
    shared: Arc<Shared<St>>,
}

impl<S: Clone, St> Clone for Cache<S, St> {
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, St> fmt::Debug for Cache<S, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S, St> Cache<S, St> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared<St>>) -> Self {
        Cache { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Cache`]: ready at once for a fresh hit from a store
    /// that answers synchronously; the service's own future for a key that
    /// is passing (its last answer was `no-store`) with nothing stored;
    /// otherwise boxed, because the call awaits the store (a trait with
    /// async methods), possibly a coalesced fill, and the body.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Kind<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Ready { response: Option<Response<Body>> },
        // A miss on a passing key: nothing to look up, coalesce or store
        // unless the answer turns out shareable, so no boxed state machine
        // (which holds a copy of the request head for the policy).
        Pass { #[pin] future: F, miss: Option<Miss> },
        Boxed { future: Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>> },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
    E: Into<BoxError>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().inner.project() {
            KindProj::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            KindProj::Pass { future, miss } => {
                let response = std::task::ready!(future.poll(cx)).map_err(Into::into)?;
                let miss = miss.take().expect("polled after completion");
                Poll::Ready(Ok(miss.finish_pass(response)))
            }
            KindProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

/// The state every clone of one cache shares.
pub(crate) struct Shared<St> {
    pub(crate) config: CacheConfig,
    options: CacheOptions,
    pub(crate) store: St,
    keys: KeyMaker,
    clock: WallClock,
    flights: Arc<Flights>,
    refreshing: Mutex<HashSet<CacheKey, foldhash::fast::RandomState>>,
    /// Keys whose last answer could not be shared: see [`Passes`].
    passes: Arc<Passes>,
}

impl<St> fmt::Debug for Shared<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<St> Shared<St> {
    /// Misses and revalidations led now, and background refreshes under way.
    pub(crate) fn fills_in_progress(&self) -> usize {
        let refreshing = self.refreshing.lock().map_or(0, |set| set.len());
        self.flights.len() + refreshing
    }

    pub(crate) fn new(config: CacheConfig, store: St) -> Self {
        let clock = config.clock.unwrap_or_else(WallClock::system);
        let max_entry_bytes = config.max_entry_bytes;
        Shared {
            options: config.options(),
            keys: config.key_maker(),
            clock,
            store,
            config,
            flights: Arc::default(),
            refreshing: Mutex::default(),
            passes: Arc::new(Passes::new(clock, max_entry_bytes)),
        }
    }

    /// Whether `key`'s misses skip coalescing (see [`Passes`]).
    fn is_pass(&self, key: &CacheKey, now: SystemTime) -> bool {
        self.passes.until(key, now).is_some()
    }
}

const LAYER: &str = "cache";

fn note<B>(request: &Request<B>, status: CacheStatus) {
    CallRecord::note(request.extensions(), LAYER, || CacheEvent(status));
}

/// Drives `inner`'s readiness before a call made after a wait (a store
/// lookup, a coalesced wait): a service given readiness and then left
/// waiting, or an unready clone, is made ready again first. A service
/// still ready answers at once. The call's deadline bounds the wait.
// NOTE: `Cache::call` swaps out the service `poll_ready` readied, and
// `fill` gives a waiter's readiness back while it waits; both rely on
// this being driven before every `call`.
async fn ready<S, R>(inner: &mut S, deadline: Option<Deadline>) -> Result<(), BoxError>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    let readiness = std::future::poll_fn(|cx| inner.poll_ready(cx));
    let result = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline.instant(), readiness)
            .await
            .map_err(|_| BoxError::from(DeadlineExceeded::new()))?,
        None => readiness.await,
    };
    result.map_err(Into::into)
}

fn with_status(mut response: Response<Body>, status: CacheStatus) -> Response<Body> {
    response.extensions_mut().insert(status);
    response
}
