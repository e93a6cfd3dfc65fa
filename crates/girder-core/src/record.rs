//! The call record: what each layer decided for one logical call, and why.
//!
//! The outermost layer (the trace layer in the facade, or
//! [`CallRecordLayer`] on its own) puts a [`CallRecord`] into the request
//! extensions. Each layer below appends what it decided with
//! [`CallRecord::note`]: attempt 2 after 400 ms because of `Retry-After`,
//! waited 120 ms for quota, circuit half-open and admitted as a probe, cache
//! revalidated, token refreshed. The record comes back in the response
//! extensions.
//!
//! The record is open: each layer defines its own event types and
//! implements [`Event`] for them (its text, and whether it is an attempt, a
//! resend, or routine); core defines only [`Note`], free text. A reader
//! gets a layer's event back with [`Entry::event`], or reads any entry as a
//! `dyn Event` with [`Entry::as_event`].
//!
//! A backend or store that never sees the request (a shared quota, a cache
//! store) notes with [`CallRecord::note_current`]: the layer that polls it
//! makes the call's record current ([`CallRecord::enter`],
//! [`CallRecord::instrument`]).
//!
//! # Cost
//!
//! When no record was created, [`CallRecord::note`] is one extension lookup
//! and returns without building the event: layers pay next to nothing for
//! a record nobody reads. With a record, appending takes no lock for a
//! call's first six entries (an atomic add reserves the place; the entry is
//! written into the record's own allocation) and one uncontended lock for
//! each entry after them, and stores an event of up to four words inline,
//! without allocating.
//!
//! # A layer's own event
//!
//! ```
//! use std::fmt;
//!
//! use girder_core::record::{CallRecord, CallRecordLayer, Event};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! /// What a (made-up) hedging layer decided.
//! #[derive(Debug, Clone, Copy, PartialEq)]
//! enum HedgeEvent {
//!     /// Attempt `number` (from 1) is being sent.
//!     Sent { number: u32 },
//!     /// No hedge: the first answer came in time.
//!     InTime,
//! }
//!
//! impl fmt::Display for HedgeEvent {
//!     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!         match self {
//!             HedgeEvent::Sent { number } => write!(f, "attempt {number}"),
//!             HedgeEvent::InTime => f.write_str("answered in time"),
//!         }
//!     }
//! }
//!
//! impl Event for HedgeEvent {
//!     fn attempt(&self) -> Option<u32> {
//!         match self {
//!             HedgeEvent::Sent { number } => Some(*number),
//!             HedgeEvent::InTime => None,
//!         }
//!     }
//!
//!     fn is_routine(&self) -> bool {
//!         matches!(self, HedgeEvent::Sent { number: 1 } | HedgeEvent::InTime)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), girder_core::BoxError> {
//! let inner = tower::service_fn(|req: http::Request<()>| async move {
//!     CallRecord::note(req.extensions(), "hedge", || HedgeEvent::Sent { number: 1 });
//!     Ok::<_, girder_core::BoxError>(http::Response::new(()))
//! });
//! let mut svc = ServiceBuilder::new().layer(CallRecordLayer::new()).service(inner);
//!
//! let res = svc.ready().await?.call(http::Request::new(())).await?;
//! let record = res.extensions().get::<CallRecord>().unwrap();
//! assert_eq!(record.attempts(), 1);
//! assert_eq!(record.resends(), 0);
//! assert!(record.to_string().contains("hedge: attempt 1"));
//! let entry = &record.entries()[0];
//! assert_eq!(entry.event::<HedgeEvent>(), Some(&HedgeEvent::Sent { number: 1 }));
//! assert!(entry.as_event().is_routine());
//! # Ok(())
//! # }
//! ```

mod context;
mod current;
mod entries;
mod entry;
mod event;
mod layer;

pub use context::{Replay, ReplayHead};
pub use current::InRecord;
pub use entry::Entry;
pub use event::{Event, Note, Readable};
pub use layer::{CallRecordLayer, CallRecordService, ResponseFuture};

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Extensions, Request};
use tokio::time::Instant;

use crate::Deadline;
use entries::Entries;

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

/// No deadline, in [`Inner::deadline`].
const NO_DEADLINE: i64 = i64::MAX;

struct Inner {
    started: Instant,
    entries: Entries,
    /// Entries that are attempts ([`Event::attempt`]).
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
            entries: Entries::new(),
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
    pub fn note<E: Event + Clone>(
        extensions: &Extensions,
        layer: &'static str,
        make: impl FnOnce() -> E,
    ) {
        if let Some(record) = extensions.get::<CallRecord>() {
            record.push(layer, make());
        }
    }

    /// Appends `event` from `layer`, counting it as an attempt or a resend
    /// as [`Event::attempt`] and [`Event::is_resend`] say.
    ///
    /// Lock-free for a call's first six entries (one atomic add reserves
    /// the place, then the entry is written into it), one uncontended lock
    /// for each entry after them; an event up to four words is stored
    /// without allocating.
    pub fn push<E: Event + Clone>(&self, layer: &'static str, event: E) {
        let at = self.now_offset();
        if event.attempt().is_some() {
            self.0.attempts.fetch_add(1, Ordering::Relaxed);
        }
        if event.is_resend() {
            self.0.resends.fetch_add(1, Ordering::Relaxed);
        }
        self.0.entries.push(Entry::new(at, layer, event));
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
    /// the entries (and without a lock unless more than six were noted).
    pub fn any(&self, mut predicate: impl FnMut(&Entry) -> bool) -> bool {
        self.0
            .entries
            .try_for_each(|entry| if predicate(entry) { Err(()) } else { Ok(()) })
            .is_err()
    }

    /// A copy of the entries so far, oldest first.
    pub fn entries(&self) -> Vec<Entry> {
        let mut entries = Vec::new();
        let _ = self.0.entries.try_for_each(|entry| {
            entries.push(entry.clone());
            Ok::<_, ()>(())
        });
        entries
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
}

impl fmt::Debug for CallRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct List<'a>(&'a Entries);
        impl fmt::Debug for List<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut list = f.debug_list();
                let _ = self.0.try_for_each(|entry| {
                    list.entry(entry);
                    Ok::<_, ()>(())
                });
                list.finish()
            }
        }
        f.debug_struct("CallRecord")
            .field("entries", &List(&self.0.entries))
            .finish()
    }
}

impl fmt::Display for CallRecord {
    /// One line per entry: `+12ms retry: retry after attempt 1 (status 503) in 200ms (backoff)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        self.0.entries.try_for_each(|entry| {
            if !std::mem::take(&mut first) {
                f.write_str("\n")?;
            }
            write!(
                f,
                "+{}ms {}: {}",
                entry.at.as_millis(),
                entry.layer,
                entry.as_event()
            )
        })
    }
}

#[cfg(test)]
mod tests;
