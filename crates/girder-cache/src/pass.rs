//! Hit-for-pass: keys whose last answer could not be shared.
//!
//! Their misses go out side by side instead of queueing behind a leader
//! only to be told to pass (Varnish's "hit-for-pass"), and a passing key
//! with nothing stored goes straight to the service from `Cache::call`
//! ([`PassCall`]): no boxed miss path, no copy of the request head.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use girder_core::record::{CacheStatus, Event};
use girder_core::{Body, BoxError, CallRecord, WallClock};
use http::header::CONTENT_LENGTH;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;

use crate::directives::Directives;
use crate::key::CacheKey;

/// How long a key whose answer could not be shared skips coalescing.
pub(crate) const PASS_TTL: Duration = Duration::from_secs(60);
/// The most such keys remembered; past it, expired ones are dropped, and
/// if none has expired, all of them.
const MAX_PASSES: usize = 4096;

/// Keys whose last answer could not be shared (`no-store`, or too large to
/// buffer), and until when.
pub(crate) struct Passes {
    // foldhash: SipHash over a URI, twice a call, cost more than the rest
    // of the pass path.
    map: Mutex<HashMap<CacheKey, SystemTime, foldhash::fast::RandomState>>,
    clock: WallClock,
    /// A body over it keeps the pass (the full path would stream it through
    /// unstored anyway).
    max_entry_bytes: u64,
    /// Passes ended so far: a call that started before one ended renews
    /// its key's pass whatever `until` it saw.
    ended: AtomicU64,
}

impl Passes {
    pub(crate) fn new(clock: WallClock, max_entry_bytes: usize) -> Passes {
        Passes {
            map: Mutex::default(),
            clock,
            max_entry_bytes: max_entry_bytes as u64,
            ended: AtomicU64::new(0),
        }
    }

    /// Until when `key`'s misses skip coalescing, if they do.
    pub(crate) fn until(&self, key: &CacheKey, now: SystemTime) -> Option<SystemTime> {
        let passes = self.map.lock().expect("pass map poisoned");
        passes.get(key).copied().filter(|until| now < *until)
    }

    /// Remembers that `key`'s answer could not be shared.
    pub(crate) fn mark(&self, key: &CacheKey, now: SystemTime) {
        let mut passes = self.map.lock().expect("pass map poisoned");
        if let Some(until) = passes.get_mut(key) {
            *until = now + PASS_TTL;
            return;
        }
        if passes.len() >= MAX_PASSES {
            passes.retain(|_, until| now < *until);
            if passes.len() >= MAX_PASSES {
                passes.clear();
            }
        }
        passes.insert(key.clone(), now + PASS_TTL);
    }

    /// Forgets a pass: `key` answered something shareable again.
    pub(crate) fn clear(&self, key: &CacheKey) {
        let mut passes = self.map.lock().expect("pass map poisoned");
        if passes.remove(key).is_some() {
            self.ended.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One call on a passing key with nothing stored, from `Cache::call` to
/// the end of its answer.
pub(crate) struct PassCall {
    passes: Arc<Passes>,
    key: CacheKey,
    /// When the call started: the pass is extended from there (one clock
    /// read per call, not two).
    started: SystemTime,
    until: SystemTime,
    ended: u64,
    bodiless_request: bool,
    record: Option<CallRecord>,
}

impl PassCall {
    /// The call, if `key` is passing; the key back if not.
    #[allow(clippy::result_large_err)] // moved once; boxing would cost the allocation we avoid
    pub(crate) fn start<B>(
        passes: &Arc<Passes>,
        key: CacheKey,
        request: &Request<B>,
    ) -> Result<PassCall, CacheKey> {
        let ended = passes.ended.load(Ordering::Relaxed);
        let started = passes.clock.now();
        match passes.until(&key, started) {
            Some(until) => Ok(PassCall {
                passes: passes.clone(),
                key,
                started,
                until,
                ended,
                bodiless_request: request.method() == Method::HEAD,
                record: request.extensions().get::<CallRecord>().cloned(),
            }),
            None => Err(key),
        }
    }

    /// Decides what the answer means for the pass, and hands it over as
    /// `Bypass`. `no-store` (with or without `must-understand`, as on the
    /// full path) and a body over `max_entry_bytes` keep the pass; anything
    /// else ends it, unstored: the next miss takes the full path, which
    /// stores it. A body of unknown length is measured as it streams.
    pub(crate) fn finish<B>(self, response: Response<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        if let Some(record) = &self.record {
            record.push("cache", Event::Cache(CacheStatus::Bypass));
        }
        let (mut parts, body) = response.into_parts();
        parts.extensions.insert(CacheStatus::Bypass);
        let status = parts.status;
        let bodiless = self.bodiless_request
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let body = if Directives::of(&parts.headers).no_store {
            self.keep();
            Body::new(body)
        } else if bodiless {
            self.passes.clear(&self.key);
            Body::new(body)
        } else {
            match declared {
                Some(length) if length > self.passes.max_entry_bytes => {
                    self.keep();
                    Body::new(body)
                }
                Some(_) => {
                    self.passes.clear(&self.key);
                    Body::new(body)
                }
                None => Body::new(Measured {
                    inner: Body::new(body),
                    seen: 0,
                    call: Some(self),
                }),
            }
        };
        Response::from_parts(parts, body)
    }

    /// Keeps the pass: extended once half of it has run (not on every
    /// call), or at once if a pass ended since this call started.
    fn keep(self) {
        let half_run = self.until.duration_since(self.started).unwrap_or_default() < PASS_TTL / 2;
        if half_run || self.passes.ended.load(Ordering::Relaxed) != self.ended {
            self.passes.mark(&self.key, self.started);
        }
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
        call: Option<PassCall>,
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
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    *this.seen += data.len() as u64;
                }
                let over = this
                    .call
                    .as_ref()
                    .is_some_and(|call| *this.seen > call.passes.max_entry_bytes);
                if over {
                    this.call.take().expect("checked above").keep();
                } else if this.inner.is_end_stream()
                    && let Some(call) = this.call.take()
                {
                    call.passes.clear(&call.key);
                }
            }
            None => {
                if let Some(call) = this.call.take() {
                    call.passes.clear(&call.key);
                }
            }
            // A failed body says nothing about the next answer.
            Some(Err(_)) => *this.call = None,
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
