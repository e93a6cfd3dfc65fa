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

/// Unsafe methods go through; a non-error response invalidates the target
/// URI (and same-origin `Location` / `Content-Location`).
async fn pass_unsafe<S, St, ReqB, ResB>(
    shared: &Shared<St>,
    mut inner: S,
    request: Request<ReqB>,
) -> Result<Response<Body>, BoxError>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    St: CacheStore,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let invalidates = !matches!(
        *request.method(),
        Method::OPTIONS | Method::TRACE | Method::CONNECT
    );
    let target = invalidates.then(|| {
        (
            shared
                .keys
                .key(&Method::GET, request.uri(), request.headers()),
            request.uri().clone(),
        )
    });
    ready(&mut inner, Deadline::of(&request)).await?;
    let response = inner.call(request).await.map_err(Into::into)?;
    let status = response.status();
    if let Some((key, uri)) = target
        && (status.is_success() || status.is_redirection())
    {
        shared.invalidate(&key).await;
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            for value in response.headers().get_all(&name) {
                if let Some(other) = same_origin(&uri, value) {
                    shared.invalidate(&key.with_uri(other)).await;
                }
            }
        }
    }
    Ok(response.map(Body::new))
}

/// `value` resolved against `base`, when it names the same origin.
fn same_origin(base: &Uri, value: &HeaderValue) -> Option<Uri> {
    let text = value.to_str().ok()?.trim();
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    if let Ok(uri) = text.parse::<Uri>()
        && uri.scheme().is_some()
    {
        return (uri.scheme_str() == Some(scheme)
            && uri.authority().map(|a| a.as_str()) == Some(authority))
        .then_some(uri);
    }
    if text.starts_with("//") {
        return None;
    }
    let path = if text.starts_with('/') {
        text.to_owned()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{text}")
    };
    format!("{scheme}://{authority}{path}").parse().ok()
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

    fn refresh_in_background<S, ReqB, ResB>(
        this: &Arc<Self>,
        key: CacheKey,
        inner: S,
        request: &Request<ReqB>,
        entry: CacheEntry,
        index: usize,
    ) where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        ReqB: ReplayBody + Send + 'static,
        ResB: http_body::Body<Data = Bytes> + Send + 'static,
        ResB::Error: Into<BoxError>,
    {
        let Some(mut copy) = girder_core::replay_request(request) else {
            return;
        };
        if !this
            .refreshing
            .lock()
            .expect("refresh set poisoned")
            .insert(key.clone())
        {
            return;
        }
        // The caller has its answer; the refresh is on its own, so it must
        // not write into the caller's record or inherit its deadline.
        copy.extensions_mut().remove::<CallRecord>();
        copy.extensions_mut().remove::<Deadline>();
        let shared = this.clone();
        tracing::debug!(target: "girder::cache", ?key, "stale-while-revalidate: refreshing in the background");
        // Made before the task, so that a task dropped unrun (a runtime
        // shutting down) still frees the key for a later refresh.
        let done = RefreshDone {
            shared: shared.clone(),
            key: key.clone(),
        };
        tokio::spawn(async move {
            let _ = fetch(&shared, key, inner, copy, Some(&entry), Some(index), None).await;
            drop(done);
        });
    }
}

/// Takes a key out of the refreshing set however the refresh ends.
struct RefreshDone<St> {
    shared: Arc<Shared<St>>,
    key: CacheKey,
}

impl<St> Drop for RefreshDone<St> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.shared.refreshing.lock() {
            set.remove(&self.key);
        }
    }
}

/// A miss or a revalidation: one request per key at a time when coalescing.
async fn fill<S, St, ReqB, ResB>(
    shared: &Arc<Shared<St>>,
    key: CacheKey,
    mut inner: S,
    request: Request<ReqB>,
    entry: Option<CacheEntry>,
    stale: Option<(CacheEntry, usize)>,
    coalesce: Option<u64>,
) -> Result<Response<Body>, BoxError>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    St: CacheStore,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let index = stale.as_ref().map(|(_, i)| *i);
    let Some(landings) = coalesce.filter(|_| !shared.is_pass(&key, shared.clock.now())) else {
        return fetch(shared, key, inner, request, entry.as_ref(), index, None).await;
    };
    loop {
        let rx = match shared.flights.join(&key) {
            Role::Leader(leader) => {
                // A miss looked the store up before it joined: another
                // leader may have stored the response and landed between
                // the two, leaving no flight to wait for. When a flight
                // landed since (`landings` was read before the lookup),
                // look again before asking the server; the waiters that
                // joined meanwhile are handed over and look again too.
                if entry.is_none()
                    && shared.flights.landings() != landings
                    && CacheMode::of(&request) == CacheMode::Default
                    && let Some(now_stored) = shared.get(&key).await
                    && let Some(i) = (now_stored.variants().iter())
                        .position(|v| v.vary.matches(request.headers()))
                {
                    let stored = &now_stored.variants()[i];
                    let now = shared.clock.now();
                    if shared.is_fresh_for(stored, &request, now) {
                        drop(leader);
                        return Ok(shared.serve(stored, now, CacheStatus::Hit, &request));
                    }
                }
                return lead(shared, key, inner, request, entry, index, leader).await;
            }
            Role::Waiter(rx) => rx,
        };
        tracing::debug!(target: "girder::cache", ?key, "waiting for a request in flight");
        // A waiter may never call the service: it gives back what its
        // readiness holds (a concurrency permit, a buffer slot) rather
        // than sit on it while the leader needs capacity, and drives
        // readiness again if it calls after all.
        // NOTE: `fetch` and `bypass` drive readiness before calling.
        let unready = inner.clone();
        drop(std::mem::replace(&mut inner, unready));
        // Bounded twice: the layer's maximum, after which the waiter asks
        // the server itself (a leader stuck on a hung connection holds no
        // one up for longer), and the call's deadline, which fails the
        // call as it would anywhere else.
        let bounded = tokio::time::timeout(shared.config.max_coalesce_wait, flight::wait(rx));
        let landing = match Deadline::of(&request) {
            Some(deadline) => match tokio::time::timeout_at(deadline.instant(), bounded).await {
                Ok(landing) => landing,
                Err(_) => return Err(DeadlineExceeded::new().into()),
            },
            None => bounded.await,
        };
        let Ok(landing) = landing else {
            tracing::debug!(target: "girder::cache", ?key, "the request in flight is taking too long: asking alone");
            return fetch(shared, key, inner, request, entry.as_ref(), index, None).await;
        };
        let now = shared.clock.now();
        let stored = stale.as_ref().map(|(e, i)| &e.variants()[*i]);
        match landing {
            Landing::Abandoned => continue,
            Landing::Response(shared_response)
                if shared_response
                    .vary
                    .same_selection(&shared_response.request_headers, request.headers()) =>
            {
                if let Some(stored) = stored
                    && shared
                        .config
                        .stale_if_error_statuses
                        .contains(&shared_response.status)
                    && shared.may_serve_if_error(stored, request.headers(), now)
                {
                    return Ok(shared.serve(stored, now, CacheStatus::Stale, &request));
                }
                note(&request, CacheStatus::Coalesced);
                let r = &*shared_response;
                return Ok(response_of(
                    (r.status, r.version, &r.headers, &r.body),
                    request.method(),
                    None,
                    CacheStatus::Coalesced,
                ));
            }
            Landing::Failed(error) => {
                if let Some(stored) = stored
                    && (shared.may_serve_if_error(stored, request.headers(), now)
                        || shared.may_serve_if_unreachable(stored, &**error, now))
                {
                    return Ok(shared.serve(stored, now, CacheStatus::Stale, &request));
                }
                note(&request, CacheStatus::Coalesced);
                return Err(SharedError(error).into());
            }
            Landing::Response(_) | Landing::Pass => {
                return fetch(shared, key, inner, request, entry.as_ref(), index, None).await;
            }
        }
    }
}

/// The local leader of a flight. With a store shared by several processes
/// it first claims the fill for the fleet; when another process holds the
/// claim it waits for that process's entry instead of asking the server
/// (see [`CacheStore::claim_fill`]), and fetches itself if the claim is
/// released or expires without a usable entry, or after
/// `max_coalesce_wait`. Its local waiters wait for it throughout.
async fn lead<S, St, ReqB, ResB>(
    shared: &Arc<Shared<St>>,
    key: CacheKey,
    mut inner: S,
    request: Request<ReqB>,
    mut entry: Option<CacheEntry>,
    mut index: Option<usize>,
    leader: Leader,
) -> Result<Response<Body>, BoxError>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    St: CacheStore,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    // Only a call that would serve a fresh stored response may be served
    // another process's entry (not a reload, not `no-cache`, no request
    // directives such as `max-age=0`).
    let fleet =
        CacheMode::of(&request) == CacheMode::Default && !directives::in_request(request.headers());
    let mut claim = None;
    if fleet {
        let max_wait = shared.config.max_coalesce_wait;
        let deadline = Deadline::of(&request);
        // The claim outlives neither this call nor the layer's bound on a
        // wait, so that a process that dies holding it stalls no one for
        // longer.
        let hold = deadline.map_or(max_wait, |d| d.remaining().min(max_wait));
        match fleet::claim(&shared.store, &key, hold).await {
            fleet::Claim::Fetch(guard) => claim = guard,
            fleet::Claim::Busy => {
                tracing::debug!(target: "girder::cache", ?key, "another process is fetching: waiting for its entry");
                // As a local waiter does: readiness is given back while
                // waiting, and `fetch` drives it again.
                // NOTE: `fetch` drives readiness before calling.
                let unready = inner.clone();
                drop(std::mem::replace(&mut inner, unready));
                // A copy: the wait must not hold the request across an
                // await (bodies need not be `Sync`).
                let headers = request.headers().clone();
                let usable = |e: &CacheEntry| {
                    let now = shared.clock.now();
                    e.variants()
                        .iter()
                        .any(|v| v.vary.matches(&headers) && v.is_fresh(now))
                };
                let waiting =
                    tokio::time::timeout(max_wait, fleet::wait(&shared.store, &key, hold, usable));
                let waited = match deadline {
                    Some(deadline) => {
                        match tokio::time::timeout_at(deadline.instant(), waiting).await {
                            Ok(waited) => waited,
                            Err(_) => return Err(DeadlineExceeded::new().into()),
                        }
                    }
                    None => waiting.await,
                };
                match waited {
                    Ok(fleet::Waited::Found(found)) => {
                        let now = shared.clock.now();
                        if let Some(stored) = found
                            .variants()
                            .iter()
                            .find(|v| v.vary.matches(request.headers()) && v.is_fresh(now))
                        {
                            leader.land(Landing::Response(Arc::new(SharedResponse {
                                status: stored.status,
                                version: stored.version,
                                headers: stored.headers.clone(),
                                body: stored.body.clone(),
                                request_headers: request.headers().clone(),
                                vary: stored.vary.clone(),
                            })));
                            return Ok(shared.serve(stored, now, CacheStatus::Coalesced, &request));
                        }
                    }
                    Ok(fleet::Waited::Fetch(guard, latest)) => {
                        claim = guard;
                        // What the store holds now, to revalidate and to
                        // keep the variants other processes stored.
                        if let Some(latest) = latest {
                            index = latest
                                .variants()
                                .iter()
                                .position(|v| v.vary.matches(request.headers()));
                            entry = Some(latest);
                        }
                    }
                    Err(_) => {
                        tracing::debug!(target: "girder::cache", ?key, "the other process's fill is taking too long: asking alone");
                    }
                }
            }
        }
    }
    let result = fetch(
        shared,
        key,
        inner,
        request,
        entry.as_ref(),
        index,
        Some(leader),
    )
    .await;
    // Released once the entry is stored (or the fetch failed); dropping
    // this future releases it too.
    drop(claim);
    result
}

/// One request to the server: a miss, or the revalidation of
/// `entry.variants()[index]`. Stores what may be stored and lands the
/// flight when leading one.
async fn fetch<S, St, ReqB, ResB>(
    shared: &Shared<St>,
    key: CacheKey,
    mut inner: S,
    mut request: Request<ReqB>,
    entry: Option<&CacheEntry>,
    index: Option<usize>,
    leader: Option<Leader>,
) -> Result<Response<Body>, BoxError>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    St: CacheStore,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let stale = index.and_then(|i| entry.map(|e| &e.variants()[i]));
    // The request as the policy must see it: before the validators.
    let mut head = Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.uri().clone();
    *head.version_mut() = request.version();
    *head.headers_mut() = request.headers().clone();
    let (head, ()) = head.into_parts();
    let record = request.extensions().get::<CallRecord>().cloned();
    let note_status = |status: CacheStatus| {
        if let Some(record) = &record {
            record.push(LAYER, girder_core::record::Event::Cache(status));
        }
    };
    if let Some(stale) = stale {
        add_validators(request.headers_mut(), stale);
    }
    let result = match ready(&mut inner, Deadline::of(&request)).await {
        Ok(()) => inner.call(request).await.map_err(Into::into),
        Err(error) => Err(error),
    };
    let now = shared.clock.now();
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            if let Some(stale) = stale
                && (shared.may_serve_if_error(stale, &head.headers, now)
                    || shared.may_serve_if_unreachable(stale, &*error, now))
            {
                tracing::info!(target: "girder::cache", %error, "server unreachable: serving stale");
                if let Some(leader) = leader {
                    leader.land(Landing::Failed(Arc::new(error)));
                }
                note_status(CacheStatus::Stale);
                return Ok(from_stored(stale, now, CacheStatus::Stale, &head.method));
            }
            return Err(match leader {
                Some(leader) if leader.has_waiters() => {
                    let error = Arc::new(error);
                    leader.land(Landing::Failed(error.clone()));
                    SharedError(error).into()
                }
                _ => error,
            });
        }
    };
    let (mut parts, body) = response.into_parts();

    if let Some(stale) = stale {
        if parts.status == StatusCode::NOT_MODIFIED {
            let merged = merge_304(&stale.headers, &parts.headers);
            let updated = StoredResponse::new(
                &head,
                &shared.store_context(&key),
                stale.status,
                stale.version,
                merged,
                stale.body.clone(),
                now,
            );
            note_status(CacheStatus::Revalidated);
            let response = from_stored(&updated, now, CacheStatus::Revalidated, &head.method);
            if let Some(leader) = leader {
                leader.land(Landing::Response(Arc::new(share(&updated, &head))));
            }
            tracing::debug!(target: "girder::cache", ?key, "revalidated (304)");
            shared
                .store_variant(key, entry, updated, &head.headers, now)
                .await;
            return Ok(response);
        }
        if shared
            .config
            .stale_if_error_statuses
            .contains(&parts.status)
            && shared.may_serve_if_error(stale, &head.headers, now)
        {
            tracing::info!(target: "girder::cache", status = %parts.status, "server failed: serving stale (stale-if-error)");
            note_status(CacheStatus::Stale);
            let response = from_stored(stale, now, CacheStatus::Stale, &head.method);
            if let Some(leader) = leader {
                leader.land(Landing::Pass);
            }
            return Ok(response);
        }
    }

    let directives = Directives::of(&parts.headers);
    if directives.no_store && !directives.must_understand {
        // Nothing to keep or share: no policy to build, and the body
        // streams through unbuffered.
        shared.mark_pass(&key, now);
        note_status(CacheStatus::Bypass);
        if let Some(leader) = leader {
            leader.land(Landing::Pass);
        }
        if stale.is_some() {
            // What we had must not be served again.
            shared.invalidate_exact(&key).await;
        }
        parts.extensions.insert(CacheStatus::Bypass);
        return Ok(Response::from_parts(parts, Body::new(body)));
    }
    let buffered = match buffer(Body::new(body), shared.config.max_entry_bytes).await {
        Ok(buffered) => buffered,
        Err(error) => {
            if let Some(leader) = leader {
                leader.land(Landing::Pass);
            }
            return Err(error);
        }
    };
    let bytes = match buffered {
        Buffered::Streamed(body) => {
            shared.mark_pass(&key, now);
            note_status(CacheStatus::Bypass);
            tracing::debug!(target: "girder::cache", "response over max_entry_bytes: streamed, not stored");
            if let Some(leader) = leader {
                leader.land(Landing::Pass);
            }
            return Ok(with_status(
                Response::from_parts(parts, body),
                CacheStatus::Bypass,
            ));
        }
        Buffered::Full(bytes) => bytes,
    };
    let stored = StoredResponse::new(
        &head,
        &shared.store_context(&key),
        parts.status,
        parts.version,
        parts.headers.clone(),
        bytes.clone(),
        now,
    );
    let worth_storing = stored.policy.is_storable()
        && (stored.is_fresh(now)
            || stored.has_validator()
            || directives.stale_while_revalidate.is_some()
            || directives.stale_if_error.is_some()
            || shared.config.stale_if_error.is_some());
    let status = if worth_storing {
        CacheStatus::Miss
    } else {
        CacheStatus::Bypass
    };
    note_status(status);
    if directives.no_store {
        shared.mark_pass(&key, now);
    } else {
        shared.clear_pass(&key);
    }
    // The waiters have their answer at once; the flight lands (leaves the
    // map) only once the entry is stored, so that a caller that missed the
    // store meanwhile joins it instead of asking the server again.
    let landing = leader.as_ref().map(|leader| {
        let landing = if directives.no_store {
            Landing::Pass
        } else {
            Landing::Response(Arc::new(share(&stored, &head)))
        };
        leader.announce(landing.clone());
        landing
    });
    if worth_storing {
        tracing::debug!(target: "girder::cache", ?key, status = %parts.status, "stored");
        shared
            .store_variant(key.clone(), entry, stored, &head.headers, now)
            .await;
    } else if stale.is_some() {
        // The server sent something we may not keep in place of what we
        // had: the old response must not be served again.
        shared.invalidate_exact(&key).await;
    }
    if let (Some(leader), Some(landing)) = (leader, landing) {
        leader.land(landing);
    }
    parts.extensions.insert(status);
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

impl<St: CacheStore> Shared<St> {
    async fn invalidate_exact(&self, key: &CacheKey) {
        if let Err(error) = self.store.remove(key).await {
            tracing::warn!(target: "girder::cache", %error, "store remove failed");
        }
    }
}

impl<St> Shared<St> {
    /// What a response stored under `key` is built with.
    fn store_context<'a>(&'a self, key: &'a CacheKey) -> StoreContext<'a> {
        StoreContext {
            uri: key.uri(),
            keyed: self.keys.credential_headers(),
            ttl_override: self.config.ttl_override,
            options: self.options,
        }
    }
}

/// A stored response served to a request (`method`), with its `Age`.
fn from_stored(
    stored: &StoredResponse,
    now: SystemTime,
    status: CacheStatus,
    method: &Method,
) -> Response<Body> {
    let age = stored.policy.age(now).as_secs();
    response_of(
        (stored.status, stored.version, &stored.headers, &stored.body),
        method,
        Some(age),
        status,
    )
}

/// A response from a stored head and body: no body for HEAD, `Age` when
/// given, the cache status in the extensions.
fn response_of(
    (code, version, headers, body): (StatusCode, http::Version, &HeaderMap, &Bytes),
    method: &Method,
    age: Option<u64>,
    status: CacheStatus,
) -> Response<Body> {
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body.clone())
    };
    let mut response = Response::new(body);
    *response.status_mut() = code;
    *response.version_mut() = version;
    *response.headers_mut() = headers.clone();
    if let Some(age) = age {
        response
            .headers_mut()
            .insert(header::AGE, HeaderValue::from(age));
    }
    with_status(response, status)
}

fn share(stored: &StoredResponse, head: &http::request::Parts) -> SharedResponse {
    SharedResponse {
        status: stored.status,
        version: stored.version,
        headers: stored.headers.clone(),
        body: stored.body.clone(),
        request_headers: head.headers.clone(),
        vary: stored.vary.clone(),
    }
}

/// Adds `If-None-Match` (the stored `ETag`) and `If-Modified-Since` (the
/// stored `Last-Modified`, unchanged) for a revalidation.
fn add_validators(headers: &mut HeaderMap, stored: &StoredResponse) {
    if let Some(etag) = stored.headers.get(header::ETAG) {
        headers.insert(header::IF_NONE_MATCH, etag.clone());
    }
    if let Some(modified) = stored.headers.get(header::LAST_MODIFIED) {
        headers.insert(header::IF_MODIFIED_SINCE, modified.clone());
    }
}

/// RFC 9111 §3.2: the stored headers, with every field the 304 carries
/// replaced by the 304's lines, except those describing the stored body.
fn merge_304(stored: &HeaderMap, fresh: &HeaderMap) -> HeaderMap {
    const KEEP: [header::HeaderName; 4] = [
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
        header::CONTENT_RANGE,
    ];
    let mut merged = stored.clone();
    for name in fresh.keys() {
        if KEEP.contains(name) {
            continue;
        }
        merged.remove(name);
        for value in fresh.get_all(name) {
            merged.append(name.clone(), value.clone());
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_every_line_but_body_fields() {
        let mut stored = HeaderMap::new();
        stored.append("x-a", HeaderValue::from_static("1"));
        stored.append("x-a", HeaderValue::from_static("2"));
        stored.append("set-cookie", HeaderValue::from_static("a=1"));
        stored.append("set-cookie", HeaderValue::from_static("b=2"));
        stored.insert("content-length", HeaderValue::from_static("10"));
        let mut fresh = HeaderMap::new();
        fresh.insert("x-a", HeaderValue::from_static("3"));
        fresh.insert("content-length", HeaderValue::from_static("0"));
        let merged = merge_304(&stored, &fresh);
        assert_eq!(merged.get_all("x-a").iter().collect::<Vec<_>>(), ["3"]);
        assert_eq!(merged.get_all("set-cookie").iter().count(), 2);
        assert_eq!(merged["content-length"], "10");
    }

    #[test]
    fn locations_resolve_within_the_origin_only() {
        let base: Uri = "https://api.test/v1/items".parse().unwrap();
        let resolved = |s: &'static str| {
            same_origin(&base, &HeaderValue::from_static(s)).map(|u| u.to_string())
        };
        assert_eq!(
            resolved("/v1/items/9").as_deref(),
            Some("https://api.test/v1/items/9")
        );
        assert_eq!(
            resolved("items/9").as_deref(),
            Some("https://api.test/v1/items/9")
        );
        assert_eq!(
            resolved("https://api.test/x").as_deref(),
            Some("https://api.test/x")
        );
        assert_eq!(resolved("https://evil.test/x"), None);
        assert_eq!(resolved("//evil.test/x"), None);
    }
}
