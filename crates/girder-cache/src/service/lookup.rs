//! The boxed call: what the request asks (method, mode, conditionals),
//! what the store holds for it, and whether it is served from there or
//! goes to the server.

use super::*;

pub(super) async fn run<S, St, ReqB, ResB>(
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
pub(super) async fn bypass<S, ReqB, ResB>(
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
