//! The call record: what each layer decided for one logical call, and why.
//!
//! The outermost layer (the trace layer in the facade, or
//! [`CallRecordLayer`] on its own) puts a [`CallRecord`] into the request
//! extensions. Each layer below appends a typed [`Event`] with
//! [`CallRecord::note`]: attempt 2 after 400 ms because of `Retry-After`,
//! waited 120 ms for quota, circuit half-open and admitted as a probe, cache
//! revalidated, token refreshed. The record comes back in the response
//! extensions.
//!
//! A backend or store that never sees the request (a shared quota, a cache
//! store) notes with [`CallRecord::note_current`]: the layer that polls it
//! makes the call's record current ([`CallRecord::enter`],
//! [`CallRecord::instrument`]).
//!
//! When no record was created, [`CallRecord::note`] is one extension lookup
//! and returns without building the event: layers pay next to nothing for
//! a record nobody reads.
//!
//! ```
//! use girder_core::record::{CallRecord, CallRecordLayer, Event};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), girder_core::BoxError> {
//! let inner = tower::service_fn(|req: http::Request<()>| async move {
//!     CallRecord::note(req.extensions(), "example", || Event::Attempt { number: 1 });
//!     Ok::<_, girder_core::BoxError>(http::Response::new(()))
//! });
//! let mut svc = ServiceBuilder::new().layer(CallRecordLayer::new()).service(inner);
//!
//! let res = svc.ready().await?.call(http::Request::new(())).await?;
//! let record = res.extensions().get::<CallRecord>().unwrap();
//! assert_eq!(record.attempts(), 1);
//! assert!(record.to_string().contains("example: attempt 1"));
//! # Ok(())
//! # }
//! ```

mod current;
pub(crate) mod event;
mod layer;

pub use current::InRecord;

pub use event::{AuthEvent, BreakerState, CacheStatus, DelaySource, Event, NoRetry};
pub use layer::{CallRecordLayer, CallRecordService, ResponseFuture};

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::{Extensions, Request};
use tokio::time::Instant;

/// One decision in a [`CallRecord`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Entry {
    /// Time since the record was created.
    pub at: Duration,
    /// The layer that decided (`"retry"`, `"breaker"`, …).
    pub layer: &'static str,
    /// What it decided.
    pub event: Event,
}

/// The per-call record of decisions; see the [module docs](self).
///
/// # Clone
///
/// Clones share one record: the copies of a request that retry sends all
/// append to the record the outermost layer created.
#[derive(Clone)]
pub struct CallRecord(Arc<Inner>);

struct Inner {
    started: Instant,
    entries: Mutex<Vec<Entry>>,
}

impl Default for CallRecord {
    fn default() -> Self {
        Self::new()
    }
}

impl CallRecord {
    /// An empty record, started now on tokio's clock.
    pub fn new() -> Self {
        CallRecord(Arc::new(Inner {
            started: Instant::now(),
            entries: Mutex::new(Vec::new()),
        }))
    }

    /// The record of `request`, creating and inserting one if it has none.
    pub fn ensure<B>(request: &mut Request<B>) -> CallRecord {
        if let Some(record) = request.extensions().get::<CallRecord>() {
            return record.clone();
        }
        let record = CallRecord::new();
        request.extensions_mut().insert(record.clone());
        record
    }

    /// Appends the event `make` builds to the record in `extensions`; does
    /// nothing (and does not call `make`) when there is no record.
    pub fn note(extensions: &Extensions, layer: &'static str, make: impl FnOnce() -> Event) {
        if let Some(record) = extensions.get::<CallRecord>() {
            record.push(layer, make());
        }
    }

    /// Appends `event` from `layer`.
    pub fn push(&self, layer: &'static str, event: Event) {
        let at = self.0.started.elapsed();
        self.lock().push(Entry { at, layer, event });
    }

    /// Whether any entry so far satisfies `predicate`, without copying
    /// the entries (the lock is held while `predicate` runs).
    pub fn any(&self, predicate: impl FnMut(&Entry) -> bool) -> bool {
        self.lock().iter().any(predicate)
    }

    /// A copy of the entries so far, oldest first.
    pub fn entries(&self) -> Vec<Entry> {
        self.lock().clone()
    }

    /// The number of attempts recorded; 1 when no layer counted attempts.
    pub fn attempts(&self) -> u32 {
        let counted = self
            .lock()
            .iter()
            .filter(|e| matches!(e.event, Event::Attempt { .. }))
            .count();
        u32::try_from(counted).unwrap_or(u32::MAX).max(1)
    }

    /// How many times the request was sent again after the first: retries,
    /// 401 replays, clock-skew re-signs and followed redirects
    /// ([`Event::is_resend`]). This is OpenTelemetry's
    /// `http.request.resend_count`.
    pub fn resends(&self) -> u32 {
        let counted = self.lock().iter().filter(|e| e.event.is_resend()).count();
        u32::try_from(counted).unwrap_or(u32::MAX)
    }

    /// Time since the record was created.
    pub fn elapsed(&self) -> Duration {
        self.0.started.elapsed()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        // A panic while holding the lock leaves a valid Vec behind.
        self.0
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for CallRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallRecord")
            .field("entries", &*self.lock())
            .finish()
    }
}

impl fmt::Display for CallRecord {
    /// One line per entry: `+12ms retry: retry after attempt 1 (status 503) in 200ms (backoff)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.lock().iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(
                f,
                "+{}ms {}: {}",
                entry.at.as_millis(),
                entry.layer,
                entry.event
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
