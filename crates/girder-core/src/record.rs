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

mod context;
mod current;
pub(crate) mod event;
mod layer;

pub use context::{Replay, ReplayHead};
pub use current::InRecord;

pub use event::{AuthEvent, BreakerState, CacheStatus, DelaySource, Event, NoRetry};
pub use layer::{CallRecordLayer, CallRecordService, ResponseFuture};

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use http::{Extensions, Request};
use tokio::time::Instant;

use crate::Deadline;

/// One decision in a [`CallRecord`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Entry {
    /// When it was decided, as time since the record was created: the
    /// call's latest clock reading ([`CallRecord::now`]) when it was noted.
    pub at: Duration,
    /// The layer that decided (`"retry"`, `"breaker"`, …).
    pub layer: &'static str,
    /// What it decided.
    pub event: Event,
}

/// The per-call record of decisions; see the [module docs](self).
///
/// It is also the call's context: one shared value in the request
/// extensions that holds what every copy of the request needs, taken once
/// per call — the entries, the attempt and resend counts, and the call's
/// [`Deadline`] when it was set after the record
/// ([`Deadline::apply`] writes it here rather than into a separate
/// extension of each copy).
///
/// # Clone
///
/// Clones share one record: the copies of a request that retry sends all
/// append to the record the outermost layer created, and all see its
/// deadline.
#[derive(Clone)]
pub struct CallRecord(Arc<Inner>);

/// How many entries a record holds without allocating: a call through the
/// full stack notes about four (attempt, breaker, signing, cache).
const INLINE: usize = 6;

/// No deadline, in [`Inner::deadline`].
const NO_DEADLINE: i64 = i64::MAX;

struct Inner {
    started: Instant,
    entries: Mutex<Entries>,
    /// Entries that are [`Event::Attempt`]s.
    attempts: AtomicU32,
    /// Entries that are resends ([`Event::is_resend`]).
    resends: AtomicU32,
    /// The call's deadline in nanoseconds from `started` (negative when it
    /// had passed before the record began), or [`NO_DEADLINE`]; only ever
    /// lowered.
    deadline: AtomicI64,
    /// The clock reading of the current attempt, in nanoseconds from
    /// `started` ([`CallRecord::now`]); only ever raised.
    now: AtomicU64,
    /// The head resends are built from ([`CallRecord::keep_head`]).
    head: OnceLock<ReplayHead>,
}

/// The entries, the first [`INLINE`] in the record's own allocation.
struct Entries {
    inline: [Option<Entry>; INLINE],
    len: usize,
    spilled: Vec<Entry>,
}

impl Entries {
    const fn new() -> Self {
        Entries {
            inline: [const { None }; INLINE],
            len: 0,
            spilled: Vec::new(),
        }
    }

    fn push(&mut self, entry: Entry) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = Some(entry),
            None => self.spilled.push(entry),
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.inline.iter().flatten().chain(&self.spilled)
    }
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
            entries: Mutex::new(Entries::new()),
            attempts: AtomicU32::new(0),
            resends: AtomicU32::new(0),
            deadline: AtomicI64::new(NO_DEADLINE),
            now: AtomicU64::new(0),
            head: OnceLock::new(),
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
        let at = self.now_offset();
        if matches!(event, Event::Attempt { .. }) {
            self.0.attempts.fetch_add(1, Ordering::Relaxed);
        }
        if event.is_resend() {
            self.0.resends.fetch_add(1, Ordering::Relaxed);
        }
        self.lock().push(Entry { at, layer, event });
    }

    /// The call's deadline held by this record (see [`Deadline::apply`]),
    /// if one was set.
    pub fn deadline(&self) -> Option<Deadline> {
        let nanos = self.0.deadline.load(Ordering::Relaxed);
        if nanos == NO_DEADLINE {
            return None;
        }
        let offset = Duration::from_nanos(nanos.unsigned_abs());
        let started = self.0.started;
        Some(Deadline::at(if nanos >= 0 {
            started + offset
        } else {
            started.checked_sub(offset).unwrap_or(started)
        }))
    }

    /// Sets the call's deadline to `deadline`, unless an earlier one is
    /// already set: deadlines only ever tighten.
    pub fn tighten_deadline(&self, deadline: Deadline) {
        let started = self.0.started;
        let instant = deadline.instant();
        let nanos = if instant >= started {
            let ahead = instant.duration_since(started).as_nanos();
            // Beyond about 292 years: as good as none, but still a deadline.
            i64::try_from(ahead).unwrap_or(NO_DEADLINE - 1)
        } else {
            let behind = started.duration_since(instant).as_nanos();
            i64::try_from(behind).map_or(i64::MIN, |b| -b)
        };
        self.0.deadline.fetch_min(nanos, Ordering::Relaxed);
    }

    /// Whether any entry so far satisfies `predicate`, without copying
    /// the entries (the lock is held while `predicate` runs).
    pub fn any(&self, predicate: impl FnMut(&Entry) -> bool) -> bool {
        self.lock().iter().any(predicate)
    }

    /// A copy of the entries so far, oldest first.
    pub fn entries(&self) -> Vec<Entry> {
        self.lock().iter().cloned().collect()
    }

    /// The number of attempts recorded; 1 when no layer counted attempts.
    pub fn attempts(&self) -> u32 {
        self.0.attempts.load(Ordering::Relaxed).max(1)
    }

    /// How many times the request was sent again after the first: retries,
    /// 401 replays, clock-skew re-signs and followed redirects
    /// ([`Event::is_resend`]). This is OpenTelemetry's
    /// `http.request.resend_count`.
    pub fn resends(&self) -> u32 {
        self.0.resends.load(Ordering::Relaxed)
    }

    /// Time since the record was created.
    pub fn elapsed(&self) -> Duration {
        self.0.started.elapsed()
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves valid entries behind.
        self.0
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for CallRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallRecord")
            .field("entries", &self.lock().iter().collect::<Vec<_>>())
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
