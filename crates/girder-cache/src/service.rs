//! [`Cache`], the service, and the logic of one call.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use girder_core::record::CacheStatus;
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
use crate::pass::{PassCall, Passes};
use crate::store::CacheStore;
use crate::{CacheConfig, CacheMode, SharedError};

mod fetch;
mod fill;
mod invalidation;

use self::fetch::*;
use self::fill::*;
use self::invalidation::*;

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

    /// Remembers that `key`'s answer could not be shared.
    fn mark_pass(&self, key: &CacheKey, now: SystemTime) {
        self.passes.mark(key, now);
    }

    /// Forgets a pass: `key` answered something shareable again.
    fn clear_pass(&self, key: &CacheKey) {
        self.passes.clear(key);
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
        Pass { #[pin] future: F, call: Option<PassCall> },
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
            KindProj::Pass { future, call } => {
                let response = std::task::ready!(future.poll(cx)).map_err(Into::into)?;
                let call = call.take().expect("polled after completion");
                Poll::Ready(Ok(call.finish(response)))
            }
            KindProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S, St, ReqB, ResB> Service<Request<ReqB>> for Cache<S, St>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    St: CacheStore,
    ReqB: ReplayBody + Send + 'static,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        // Read before the store is: see `fill`.
        let landings = self.shared.flights.landings();
        let looked_up = match self.shared.try_hit(&request) {
            Ok(response) => {
                return ResponseFuture {
                    inner: Kind::Ready {
                        response: Some(response),
                    },
                };
            }
            Err(looked_up) => looked_up,
        };
        let looked_up = match looked_up {
            Some((key, Some(None))) => match PassCall::start(&self.shared.passes, key, &request) {
                Ok(call) => {
                    return ResponseFuture {
                        inner: Kind::Pass {
                            future: self.inner.call(request),
                            call: Some(call),
                        },
                    };
                }
                Err(key) => Some((key, Some(None))),
            },
            other => other,
        };
        // Clone and swap: the service polled ready is the one we call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            inner: Kind::Boxed {
                future: Box::pin(run(
                    self.shared.clone(),
                    inner,
                    request,
                    looked_up,
                    landings,
                )),
            },
        }
    }
}

const LAYER: &str = "cache";

fn note<B>(request: &Request<B>, status: CacheStatus) {
    CallRecord::note(request.extensions(), LAYER, || {
        girder_core::record::Event::Cache(status)
    });
}

/// What the synchronous attempt found: the key, and the entry if the store
/// answered at once.
type LookedUp = Option<(CacheKey, Option<Option<CacheEntry>>)>;

impl<St: CacheStore> Shared<St> {
    /// A fresh hit answered without a future, when the store can answer at
    /// once; otherwise what was learnt on the way.
    #[allow(clippy::result_large_err)] // moved once; boxing would cost the allocation we avoid
    fn try_hit<B>(&self, request: &Request<B>) -> Result<Response<Body>, LookedUp> {
        let method = request.method();
        if (method != Method::GET && method != Method::HEAD)
            || CacheMode::of(request) != CacheMode::Default
            || Special::of(method, request.headers()) != Special::Plain
        {
            return Err(None);
        }
        let key = self.keys.key(method, request.uri(), request.headers());
        let Some(found) = self.store.get_now(&key) else {
            return Err(Some((key, None)));
        };
        if let Some(entry) = &found
            && !directives::in_request(request.headers())
            && let Some(stored) = entry
                .variants()
                .iter()
                .find(|v| v.vary.matches(request.headers()))
        {
            let now = self.clock.now();
            if stored.is_fresh(now) {
                return Ok(self.serve(stored, now, CacheStatus::Hit, request));
            }
        }
        Err(Some((key, Some(found))))
    }
}

async fn run<S, St, ReqB, ResB>(
    shared: Arc<Shared<St>>,
    inner: S,
    request: Request<ReqB>,
    looked_up: LookedUp,
    landings: u64,
) -> Result<Response<Body>, BoxError>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    St: CacheStore,
    ReqB: ReplayBody + Send + 'static,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let method = request.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return pass_unsafe(&shared, inner, request).await;
    }
    let mode = CacheMode::of(&request);
    let special = Special::of(&method, request.headers());
    if mode == CacheMode::NoStore
        || special == Special::Forward
        || (special == Special::Answerable && mode != CacheMode::Default)
    {
        return bypass(inner, request).await;
    }
    let (key, found) = match looked_up {
        Some((key, found)) => (key, found),
        None => (
            shared.keys.key(&method, request.uri(), request.headers()),
            None,
        ),
    };
    let entry = match (mode, found) {
        (CacheMode::Reload, _) => None,
        (_, Some(found)) => found,
        // With the call's record current, so that a shared store can note
        // a read it could not make.
        (_, None) => {
            let record = request.extensions().get::<CallRecord>();
            CallRecord::instrument(record, shared.get(&key)).await
        }
    };
    let selected = entry.as_ref().and_then(|e| {
        e.variants()
            .iter()
            .position(|v| v.vary.matches(request.headers()))
    });
    if special == Special::Answerable {
        // The caller's own conditional or range: answered from a fresh
        // stored response, otherwise the server's to answer (and nothing
        // is stored from a 304 or 206 made for the caller).
        let now = shared.clock.now();
        if let (Some(entry), Some(index)) = (&entry, selected) {
            let stored = &entry.variants()[index];
            if shared.is_fresh_for(stored, &request, now)
                && answer::can_answer(stored, request.headers())
            {
                let full = shared.serve(stored, now, CacheStatus::Hit, &request);
                return Ok(answer::answer(stored, request.headers(), full));
            }
        }
        return bypass(inner, request).await;
    }
    if let (Some(entry), Some(index)) = (&entry, selected) {
        let stored = &entry.variants()[index];
        let now = shared.clock.now();
        let fresh = shared.is_fresh_for(stored, &request, now);
        match mode {
            // RFC 8246: an `immutable` response does not change while
            // fresh, so a reload-style request need not ask (as browsers
            // treat it).
            CacheMode::NoCache if fresh && stored.directives.immutable => {
                return Ok(shared.serve(stored, now, CacheStatus::Hit, &request));
            }
            CacheMode::ForceCache | CacheMode::OnlyIfCached => {
                let status = if fresh {
                    CacheStatus::Hit
                } else {
                    CacheStatus::Stale
                };
                return Ok(shared.serve(stored, now, status, &request));
            }
            CacheMode::NoCache => {}
            _ if fresh => return Ok(shared.serve(stored, now, CacheStatus::Hit, &request)),
            _ if shared.may_serve_while_revalidating(stored, &request, now) => {
                let response = shared.serve(stored, now, CacheStatus::Stale, &request);
                Shared::refresh_in_background(&shared, key, inner, &request, entry.clone(), index);
                return Ok(response);
            }
            _ => {}
        }
    } else if mode == CacheMode::OnlyIfCached {
        note(&request, CacheStatus::Miss);
        tracing::debug!(target: "girder::cache", %method, "only-if-cached miss: 504");
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        return Ok(with_status(response, CacheStatus::Miss));
    }
    let mut request = request;
    if mode == CacheMode::NoCache && !request.headers().contains_key(header::CACHE_CONTROL) {
        // The Fetch standard's no-cache mode: intermediaries revalidate too.
        request
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
    }
    let stale = selected.and_then(|i| entry.as_ref().map(|e| (e.clone(), i)));
    let coalesce = shared.config.coalesce && mode != CacheMode::Reload;
    let coalescing = coalesce.then_some(landings);
    fill(&shared, key, inner, request, entry, stale, coalescing).await
}

/// Straight to the server; nothing read or stored.
async fn bypass<S, ReqB, ResB>(
    mut inner: S,
    request: Request<ReqB>,
) -> Result<Response<Body>, BoxError>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    note(&request, CacheStatus::Bypass);
    tracing::trace!(target: "girder::cache", method = %request.method(), "bypass");
    ready(&mut inner, Deadline::of(&request)).await?;
    let response = inner.call(request).await.map_err(Into::into)?;
    Ok(with_status(response.map(Body::new), CacheStatus::Bypass))
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

impl<St: CacheStore> Shared<St> {
    async fn get(&self, key: &CacheKey) -> Option<CacheEntry> {
        match self.store.get(key).await {
            Ok(entry) => entry,
            Err(error) => {
                tracing::warn!(target: "girder::cache", %error, "store get failed; treated as a miss");
                None
            }
        }
    }

    async fn put(&self, key: CacheKey, entry: CacheEntry) {
        if let Err(error) = self.store.put(key, entry).await {
            tracing::warn!(target: "girder::cache", %error, "store put failed; nothing stored");
        }
    }

    async fn invalidate(&self, key: &CacheKey) {
        for method in [Method::GET, Method::HEAD] {
            let key = key.with_method(method);
            tracing::debug!(target: "girder::cache", ?key, "invalidated");
            if let Err(error) = self.store.remove(&key).await {
                tracing::warn!(target: "girder::cache", %error, "store remove failed");
            }
        }
    }

    /// A response built from a stored one, with its `Age`.
    fn serve<B>(
        &self,
        stored: &StoredResponse,
        now: SystemTime,
        status: CacheStatus,
        request: &Request<B>,
    ) -> Response<Body> {
        note(request, status);
        tracing::debug!(target: "girder::cache", %status, method = %request.method(), "served from cache");
        from_stored(stored, now, status, request.method())
    }

    /// Stores `new` in front of the variants of `existing` it does not
    /// replace.
    async fn store_variant(
        &self,
        key: CacheKey,
        existing: Option<&CacheEntry>,
        new: StoredResponse,
        request_headers: &HeaderMap,
        now: SystemTime,
    ) {
        let mut variants = vec![new];
        if let Some(existing) = existing {
            variants.extend(
                existing
                    .variants()
                    .iter()
                    .filter(|v| !v.vary.matches(request_headers))
                    .take(self.config.max_variants - 1)
                    .cloned(),
            );
        }
        let retain = self.retain_for(&variants, now);
        self.put(key, CacheEntry::new(variants, retain)).await;
    }
}
