//! Filling a key: one request per key at a time (local flights, fleet
//! fill claims).

use super::*;

/// A miss or a revalidation: one request per key at a time when coalescing.
pub(super) async fn fill<S, St, ReqB, ResB>(
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
pub(super) async fn lead<S, St, ReqB, ResB>(
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
