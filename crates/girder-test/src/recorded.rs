use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};
use tokio::time::Instant;

/// A request as it arrived, for assertions on what went over the wire.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The URI as the server saw it (origin form over TCP: path and query).
    pub uri: Uri,
    /// The HTTP version.
    pub version: Version,
    /// The header fields.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// When the head arrived, on tokio's clock (paused in tests).
    pub at: Instant,
    /// Which connection carried it, numbered from 1 in accept order (0 for
    /// the in-memory [`MockService`](crate::MockService)).
    pub connection: u64,
}

impl RecordedRequest {
    /// The path of the URI.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// A header value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The shared, ordered log of recorded requests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Entries>>);

#[derive(Debug, Default)]
pub(crate) struct Entries {
    requests: Vec<RecordedRequest>,
    /// Requests received while recording was off.
    unrecorded: usize,
    off: bool,
}

impl Log {
    pub(crate) fn push(&self, request: RecordedRequest) {
        let mut log = self.lock();
        if log.off {
            log.unrecorded += 1;
        } else {
            log.requests.push(request);
        }
    }

    pub(crate) fn set_recording(&self, on: bool) {
        self.lock().off = !on;
    }

    pub(crate) fn all(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub(crate) fn len(&self) -> usize {
        let log = self.lock();
        log.requests.len() + log.unrecorded
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
