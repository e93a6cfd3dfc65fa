//! The miss path, once for every caller: a request for a key with no
//! usable entry sent to the server, and what its answer comes to — stored
//! and shared with a flight's waiters, or handed over unstored (`Bypass`)
//! with the key passing for a while (see [`Passes`]).
//!
//! [`Miss`] owns it. Its callers: the pass path of `Cache::call` (a
//! passing key with nothing stored: no boxed future and no copy of the
//! request head, so it ends a pass but stores nothing), and `fetch`, which
//! a fill's leader, a waiter asking alone and the background refresh call.

use std::task::ready as ready_frame;

use http_body::Frame;

use super::*;

/// One miss: the call's record, which gets the miss's cache status, and
/// the key's pass, kept or ended by what the answer says.
pub(crate) struct Miss {
    passes: Arc<Passes>,
    key: CacheKey,
    record: Option<CallRecord>,
    /// The pass the miss started under, if it did.
    pass: Option<Pass>,
    /// A `HEAD`: its answer has no body, whatever its `Content-Length`.
    bodiless_request: bool,
    /// The flight the miss leads, if it leads one: its waiters get what
    /// the answer comes to. Dropped unlanded (the call dropped), it hands
    /// over to a waiter.
    leader: Option<Leader>,
}

/// A miss started under a pass.
struct Pass {
    /// When the miss started: a pass kept is extended from there (one
    /// clock read per call, not two).
    started: SystemTime,
    until: SystemTime,
    /// Passes ended before the miss started: a call that started before
    /// one ended renews its key's pass whatever `until` it saw.
    ended: u64,
}

impl Miss {
    /// A miss on `key` for `request`, leading a flight or not.
    pub(super) fn new<B>(
        passes: &Arc<Passes>,
        key: CacheKey,
        request: &Request<B>,
        leader: Option<Leader>,
    ) -> Miss {
        Miss {
            passes: passes.clone(),
            key,
            record: request.extensions().get::<CallRecord>().cloned(),
            pass: None,
            bodiless_request: request.method() == Method::HEAD,
            leader,
        }
    }

    /// A miss on `key` if it is passing (see [`Miss::finish_pass`]); the
    /// key back if not.
    #[allow(clippy::result_large_err)] // moved once; boxing would cost the allocation we avoid
    pub(super) fn passing<B>(
        passes: &Arc<Passes>,
        key: CacheKey,
        request: &Request<B>,
    ) -> Result<Miss, CacheKey> {
        let ended = passes.ended();
        let started = passes.clock().now();
        match passes.until(&key, started) {
            Some(until) => Ok(Miss {
                pass: Some(Pass {
                    started,
                    until,
                    ended,
                }),
                ..Miss::new(passes, key, request, None)
            }),
            None => Err(key),
        }
    }

    /// Sends the miss's request to `inner`, which is ready: the service
    /// `poll_ready` readied (the pass path), or one [`ready`] drove again
    /// after a wait (`fetch`).
    pub(super) fn send<S, R>(&self, inner: &mut S, request: R) -> S::Future
    where
        S: Service<R>,
    {
        inner.call(request)
    }

    /// The key missed.
    pub(super) fn key(&self) -> &CacheKey {
        &self.key
    }

    /// The key, once the miss has nothing left to do with it.
    pub(super) fn into_key(self) -> CacheKey {
        self.key
    }

    /// Lands the flight the miss leads, if it leads one.
    pub(super) fn land(&mut self, landing: Landing) {
        if let Some(leader) = self.leader.take() {
            leader.land(landing);
        }
    }

    /// The error the request failed with, as the caller gets it: shared
    /// with the flight's waiters when any wait.
    pub(super) fn failed(mut self, error: BoxError) -> BoxError {
        match self.leader.take() {
            Some(leader) if leader.has_waiters() => {
                let error = Arc::new(error);
                leader.land(Landing::Failed(error.clone()));
                SharedError(error).into()
            }
            _ => error,
        }
    }

    /// Tells the call's record what the miss came to.
    pub(super) fn note(&self, status: CacheStatus) {
        if let Some(record) = &self.record {
            record.push(LAYER, CacheEvent(status));
        }
    }

    /// The answer cannot be shared (`no-store`, or too large to keep): the
    /// key passes. A miss that started under a pass extends it once half of
    /// it has run (not on every call), or at once if a pass ended since it
    /// started; any other miss marks the key from `now`.
    fn keep_pass(&self, now: SystemTime) {
        match &self.pass {
            None => self.passes.mark(&self.key, now),
            Some(pass) => {
                let half_run =
                    pass.until.duration_since(pass.started).unwrap_or_default() < PASS_TTL / 2;
                if half_run || self.passes.ended() != pass.ended {
                    self.passes.mark(&self.key, pass.started);
                }
            }
        }
    }

    /// When a pass kept by the pass path is dated from: when the miss
    /// started under it, which saves a clock read.
    fn started(&self) -> SystemTime {
        self.pass
            .as_ref()
            .map_or_else(|| self.passes.clock().now(), |pass| pass.started)
    }

    /// The key answered something shareable again: its pass ends.
    fn end_pass(&self) {
        self.passes.clear(&self.key);
    }

    /// Hands over an answer that is not shared, streamed: noted and
    /// tagged `Bypass`, the key passing from `now`.
    fn unshared(
        &self,
        parts: http::response::Parts,
        body: Body,
        now: SystemTime,
    ) -> Response<Body> {
        self.keep_pass(now);
        self.note(CacheStatus::Bypass);
        with_status(Response::from_parts(parts, body), CacheStatus::Bypass)
    }

    /// What a full answer comes to (a miss's, or a revalidation's that is
    /// not a `304`): `no-store` streams through unbuffered; a body over
    /// `max_entry_bytes` streams through after what was read; anything
    /// else is buffered, stored when the policy allows and it is worth
    /// keeping, and shared with the flight's waiters. `replaces`: the
    /// request revalidated a stored variant, which must not be served
    /// again when the answer is not stored.
    pub(super) async fn answered<St, B>(
        mut self,
        shared: &Shared<St>,
        head: &http::request::Parts,
        response: Response<B>,
        entry: Option<&CacheEntry>,
        replaces: bool,
        now: SystemTime,
    ) -> Result<Response<Body>, BoxError>
    where
        St: CacheStore,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = response.into_parts();
        let directives = Directives::of(&parts.headers);
        if directives.no_store && !directives.must_understand {
            // Nothing to keep or share: no policy to build, and the body
            // streams through unbuffered.
            let response = self.unshared(parts, Body::new(body), now);
            self.land(Landing::Pass);
            if replaces {
                // What we had must not be served again.
                shared.invalidate_exact(&self.key).await;
            }
            return Ok(response);
        }
        let buffered = match buffer(Body::new(body), shared.config.max_entry_bytes).await {
            Ok(buffered) => buffered,
            Err(error) => {
                self.land(Landing::Pass);
                return Err(error);
            }
        };
        let bytes = match buffered {
            Buffered::Streamed(body) => {
                let response = self.unshared(parts, body, now);
                tracing::debug!(target: "girder::cache", "response over max_entry_bytes: streamed, not stored");
                self.land(Landing::Pass);
                return Ok(response);
            }
            Buffered::Full(bytes) => bytes,
        };
        let stored = StoredResponse::new(
            head,
            &shared.store_context(&self.key),
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
        self.note(status);
        if directives.no_store {
            self.keep_pass(now);
        } else {
            self.end_pass();
        }
        // The waiters have their answer at once; the flight lands (leaves
        // the map) only once the entry is stored, so that a caller that
        // missed the store meanwhile joins it instead of asking the server
        // again.
        let landing = self.leader.as_ref().map(|leader| {
            let landing = if directives.no_store {
                Landing::Pass
            } else {
                Landing::Response(Arc::new(share(&stored, head)))
            };
            leader.announce(landing.clone());
            landing
        });
        if worth_storing {
            tracing::debug!(target: "girder::cache", key = ?self.key, status = %parts.status, "stored");
            shared
                .store_variant(self.key.clone(), entry, stored, &head.headers, now)
                .await;
        } else if replaces {
            // The server sent something we may not keep in place of what
            // we had: the old response must not be served again.
            shared.invalidate_exact(&self.key).await;
        }
        if let Some(landing) = landing {
            self.land(landing);
        }
        parts.extensions.insert(status);
        Ok(Response::from_parts(parts, Body::from(bytes)))
    }

    /// The pass path's end: what the answer means for the pass, the answer
    /// handed over as `Bypass`. `no-store` (with or without
    /// `must-understand`, as in [`Miss::answered`]) and a body over
    /// `max_entry_bytes` keep the pass; anything else ends it, unstored:
    /// the next miss takes `fetch`, which stores it. A body of unknown
    /// length is measured as it streams.
    pub(super) fn finish_pass<B>(self, response: Response<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = response.into_parts();
        let status = parts.status;
        let bodiless = self.bodiless_request
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let max = self.passes.max_entry_bytes();
        let started = self.started();
        if Directives::of(&parts.headers).no_store {
            return self.unshared(parts, Body::new(body), started);
        }
        match declared {
            _ if bodiless => {}
            Some(length) if length > max => {
                return self.unshared(parts, Body::new(body), started);
            }
            Some(_) => {}
            None => {
                self.note(CacheStatus::Bypass);
                let body = Body::new(Measured {
                    inner: Body::new(body),
                    seen: 0,
                    miss: Some(self),
                });
                return with_status(Response::from_parts(parts, body), CacheStatus::Bypass);
            }
        }
        self.end_pass();
        self.note(CacheStatus::Bypass);
        with_status(
            Response::from_parts(parts, Body::new(body)),
            CacheStatus::Bypass,
        )
    }
}

pin_project_lite::pin_project! {
    /// A storable answer of unknown length on a passing key: over
    /// `max_entry_bytes` the pass goes on; ended within it, the pass ends.
    /// Dropped before either, the pass runs out on its own.
    struct Measured {
        #[pin]
        inner: Body,
        seen: u64,
        miss: Option<Miss>,
    }
}

impl http_body::Body for Measured {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let frame = ready_frame!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    *this.seen += data.len() as u64;
                }
                let over = this
                    .miss
                    .as_ref()
                    .is_some_and(|miss| *this.seen > miss.passes.max_entry_bytes());
                if over {
                    let miss = this.miss.take().expect("checked above");
                    miss.keep_pass(miss.started());
                } else if this.inner.is_end_stream()
                    && let Some(miss) = this.miss.take()
                {
                    miss.end_pass();
                }
            }
            None => {
                if let Some(miss) = this.miss.take() {
                    miss.end_pass();
                }
            }
            // A failed body says nothing about the next answer.
            Some(Err(_)) => *this.miss = None,
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
