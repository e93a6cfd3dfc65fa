//! One request to the server for a key: a miss, or the revalidation of a
//! stale variant (its validators sent, a `304` merged into the stored
//! response, the stale response served when the server fails). Everything
//! else its answer comes to is the miss path's ([`Miss`]).

use super::*;

/// One request to the server: a miss, or the revalidation of
/// `entry.variants()[index]`. Stores what may be stored and lands the
/// flight when leading one.
pub(super) async fn fetch<S, St, ReqB, ResB>(
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
    let mut miss = Miss::new(&shared.passes, key, &request, leader);
    if let Some(stale) = stale {
        add_validators(request.headers_mut(), stale);
    }
    let result = match ready(&mut inner, Deadline::of(&request)).await {
        Ok(()) => miss.send(&mut inner, request).await.map_err(Into::into),
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
                miss.land(Landing::Failed(Arc::new(error)));
                miss.note(CacheStatus::Stale);
                return Ok(from_stored(stale, now, CacheStatus::Stale, &head.method));
            }
            return Err(miss.failed(error));
        }
    };

    if let Some(stale) = stale {
        if response.status() == StatusCode::NOT_MODIFIED {
            let merged = merge_304(&stale.headers, response.headers());
            let updated = StoredResponse::new(
                &head,
                &shared.store_context(miss.key()),
                stale.status,
                stale.version,
                merged,
                stale.body.clone(),
                now,
            );
            miss.note(CacheStatus::Revalidated);
            let response = from_stored(&updated, now, CacheStatus::Revalidated, &head.method);
            miss.land(Landing::Response(Arc::new(share(&updated, &head))));
            let key = miss.into_key();
            tracing::debug!(target: "girder::cache", ?key, "revalidated (304)");
            shared
                .store_variant(key, entry, updated, &head.headers, now)
                .await;
            return Ok(response);
        }
        if shared
            .config
            .stale_if_error_statuses
            .contains(&response.status())
            && shared.may_serve_if_error(stale, &head.headers, now)
        {
            tracing::info!(target: "girder::cache", status = %response.status(), "server failed: serving stale (stale-if-error)");
            miss.note(CacheStatus::Stale);
            let response = from_stored(stale, now, CacheStatus::Stale, &head.method);
            miss.land(Landing::Pass);
            return Ok(response);
        }
    }
    miss.answered(shared, &head, response, entry, stale.is_some(), now)
        .await
}

/// Adds `If-None-Match` (the stored `ETag`) and `If-Modified-Since` (the
/// stored `Last-Modified`, unchanged) for a revalidation.
pub(super) fn add_validators(headers: &mut HeaderMap, stored: &StoredResponse) {
    if let Some(etag) = stored.headers.get(header::ETAG) {
        headers.insert(header::IF_NONE_MATCH, etag.clone());
    }
    if let Some(modified) = stored.headers.get(header::LAST_MODIFIED) {
        headers.insert(header::IF_MODIFIED_SINCE, modified.clone());
    }
}

/// RFC 9111 §3.2: the stored headers, with every field the 304 carries
/// replaced by the 304's lines, except those describing the stored body.
pub(super) fn merge_304(stored: &HeaderMap, fresh: &HeaderMap) -> HeaderMap {
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
}
