//! One request to the server, a miss or a revalidation, and turning its
//! answer into what is stored and what is served.

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
