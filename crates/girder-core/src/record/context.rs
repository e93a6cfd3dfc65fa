//! What the record holds as the call's context besides its entries: the
//! head every resend is built from, and the clock reading of the current
//! attempt.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::{Extensions, HeaderMap, Method, Request, Uri, Version};
use tokio::time::Instant;

use super::CallRecord;

/// The head of the request a call was first sent with — method, URI,
/// version and headers — kept once in the [`CallRecord`] so that every
/// layer that may send the request again builds its resend from this one
/// copy instead of taking its own (see [`CallRecord::keep_head`]).
///
/// Its `Debug` shows the method and the URI's path only: the headers may
/// carry a caller's credential, and the query an API key.
pub struct ReplayHead {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl ReplayHead {
    /// A copy of `request`'s head.
    pub fn of<B>(request: &Request<B>) -> Self {
        ReplayHead {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A request with this head, `body` and `extensions`.
    pub fn to_request<B>(&self, body: B, extensions: Extensions) -> Request<B> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers.clone();
        *request.extensions_mut() = extensions;
        request
    }
}

impl fmt::Debug for ReplayHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayHead")
            .field("method", &self.method)
            .field("path", &self.uri.path())
            .finish_non_exhaustive()
    }
}

impl CallRecord {
    /// Keeps `request`'s head as the call's [`ReplayHead`] if none is kept
    /// yet; returns the head when this call kept it, `None` when one was
    /// already kept (by a layer further out, for a request that may differ
    /// from `request` by what the layers between changed: the caller then
    /// takes its own copy).
    ///
    /// The layer that keeps the head owns the right to build resends from
    /// it; a layer further in may build its resends from it only when it
    /// knows nothing between them changes the head (the `Client`, which
    /// composes the stack, tells its redirect layer so).
    ///
    /// ```
    /// use girder_core::CallRecord;
    ///
    /// let record = CallRecord::new();
    /// let first = http::Request::get("https://api.test/a").body(()).unwrap();
    /// let later = http::Request::get("https://api.test/b").body(()).unwrap();
    /// assert!(record.keep_head(&first).is_some());
    /// assert!(record.keep_head(&later).is_none());
    /// assert_eq!(record.head().unwrap().uri().path(), "/a");
    /// ```
    pub fn keep_head<B>(&self, request: &Request<B>) -> Option<&ReplayHead> {
        let mut kept = false;
        let head = self.0.head.get_or_init(|| {
            kept = true;
            ReplayHead::of(request)
        });
        kept.then_some(head)
    }

    /// The call's [`ReplayHead`], if a layer kept one.
    pub fn head(&self) -> Option<&ReplayHead> {
        self.0.head.get()
    }

    /// The clock reading of the current attempt (tokio's clock): taken when
    /// the record was created, and again by each layer that starts an
    /// attempt or a hop, ends a wait, or sees an outcome
    /// ([`mark_now`](CallRecord::mark_now)). A layer that needs "now"
    /// within an attempt, and does not wait, uses it instead of reading the
    /// clock again; entries are stamped with it. A record made before its
    /// call was sent (by a caller, say) carries its creation reading until
    /// a layer marks one: the `Client` marks it when it sends such a call.
    pub fn now(&self) -> Instant {
        self.0.started + Duration::from_nanos(self.0.now.load(Ordering::Relaxed))
    }

    /// Reads tokio's clock, keeps the reading as the current attempt's
    /// (readings only move forward), and returns it.
    pub fn mark_now(&self) -> Instant {
        let now = Instant::now();
        let since = now.saturating_duration_since(self.0.started).as_nanos();
        self.0
            .now
            .fetch_max(u64::try_from(since).unwrap_or(u64::MAX), Ordering::Relaxed);
        now
    }

    /// The attempt's reading as time since the record was created.
    pub(super) fn now_offset(&self) -> Duration {
        Duration::from_nanos(self.0.now.load(Ordering::Relaxed))
    }
}

/// A request kept to send it again: its body and extensions, and its head
/// — the call's, kept once in its [`CallRecord`] for every layer that
/// resends, or a copy of its own.
///
/// Retry keeps one for its later attempts, auth for its 401 replay. The
/// first layer that keeps one for a call with a record keeps the head in
/// the record ([`CallRecord::keep_head`]); a layer further in shares it
/// only when told it may (`matching`, see [`Replay::keep`]), and then only
/// for a request with the head's method, URI and number of headers.
pub struct Replay<B> {
    body: B,
    /// The call's record, when the request had one.
    record: Option<CallRecord>,
    /// The request's extensions; `None` when the record was the only one
    /// (the client's stack): a resend gets a map with the record alone,
    /// made when it is sent instead of copied for every call.
    extensions: Option<Extensions>,
    /// `None` when the head is the call's. Boxed: the common case is the
    /// call's head, and this sits in the futures every layer above moves.
    head: Option<Box<ReplayHead>>,
}

impl<B: crate::ReplayBody> Replay<B> {
    /// What `request` needs to be sent again, or `None` when its body
    /// cannot be replayed.
    ///
    /// With `matching`, a head already kept in the record is taken for
    /// this request's when the method, URI and number of headers agree: a
    /// layer may ask for this only when every layer between it and the one
    /// that kept the head changes a head by removing headers or by changing
    /// the method or URI, never by adding or replacing a header (so that
    /// agreeing on those three means agreeing on all). Without it, a head
    /// kept further out is never used.
    pub fn keep(request: &Request<B>, matching: bool) -> Option<Self> {
        let body = request.body().try_replay()?;
        let record = request.extensions().get::<CallRecord>();
        let shared = record.is_some_and(|record| match record.head() {
            None => record.keep_head(request).is_some(),
            Some(head) => {
                matching
                    && head.method == *request.method()
                    && head.uri == *request.uri()
                    && head.headers.len() == request.headers().len()
            }
        });
        let record_alone = record.is_some() && request.extensions().len() == 1;
        Some(Replay {
            body,
            record: record.cloned(),
            extensions: (!record_alone).then(|| request.extensions().clone()),
            head: (!shared).then(|| Box::new(ReplayHead::of(request))),
        })
    }

    /// Whether the head is the call's rather than a copy of its own.
    pub fn shares_head(&self) -> bool {
        self.head.is_none()
    }

    /// A request to send again, or `None` when the body would not copy
    /// again (a body may replay fewer times than it said it could).
    pub fn request(&self) -> Option<Request<B>> {
        let head = match &self.head {
            Some(head) => head,
            None => self.record.as_ref()?.head()?,
        };
        let body = self.body.try_replay()?;
        let extensions = match (&self.extensions, &self.record) {
            (Some(extensions), _) => extensions.clone(),
            (None, record) => {
                let mut extensions = Extensions::new();
                if let Some(record) = record {
                    extensions.insert(record.clone());
                }
                extensions
            }
        };
        Some(head.to_request(body, extensions))
    }
}

impl<B> fmt::Debug for Replay<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}
