//! [`Entry`]: one decision in a record, its event stored inline.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use smallbox::space::S4;
use smallbox::{SmallBox, smallbox};

use super::Event;

/// One decision in a [`CallRecord`](super::CallRecord).
///
/// The event is type-erased: [`event`](Entry::event) gets it back as the
/// layer's own type, [`as_event`](Entry::as_event) as a `dyn Event` (its
/// text, its `Debug`, whether it is an attempt or a resend).
///
/// ```
/// use girder_core::record::{CallRecord, Note};
///
/// let record = CallRecord::new();
/// record.push("store", Note("fell back".into()));
/// let entry = &record.entries()[0];
/// assert_eq!(entry.layer, "store");
/// assert_eq!(entry.event::<Note>(), Some(&Note("fell back".into())));
/// assert_eq!(entry.as_event().to_string(), "fell back");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Entry {
    /// When it was decided, as time since the record was created: the
    /// call's latest clock reading ([`CallRecord::now`](super::CallRecord::now))
    /// when it was noted.
    pub at: Duration,
    /// The layer that decided (`"retry"`, `"breaker"`, …).
    pub layer: &'static str,
    event: Stored,
}

impl Entry {
    pub(crate) fn new<E: Event + Clone>(at: Duration, layer: &'static str, event: E) -> Self {
        Entry {
            at,
            layer,
            event: Stored::new(event),
        }
    }

    /// What was decided, if it is a `T` (the event type of the layer that
    /// decided).
    pub fn event<T: Event>(&self) -> Option<&T> {
        self.as_event().downcast_ref()
    }

    /// What was decided, whatever its type.
    pub fn as_event(&self) -> &dyn Event {
        (**self.event.0).as_event()
    }

    /// Whether the event is stored in the entry itself, not on the heap.
    #[cfg(test)]
    pub(crate) fn is_inline(&self) -> bool {
        !self.event.0.is_heap()
    }
}

/// An event behind a trait object, inline when it fits in four words.
///
/// NOTE: `S4` is four machine words, 32 bytes on 64-bit targets: enough for
/// every girder layer's events (each crate's tests check its own), so that
/// a note does not allocate; a larger event is boxed by smallbox.
///
/// `AssertUnwindSafe` keeps `Entry`, and so `CallRecord`, unwind safe as
/// they were with a closed enum of plain data (a trait object, and
/// smallbox's inline space, are not): an entry is never changed after it
/// is written, so a panic cannot leave one half-changed.
struct Stored(AssertUnwindSafe<SmallBox<dyn Erased, S4>>);

impl Stored {
    fn new<E: Event + Clone>(event: E) -> Self {
        Stored(AssertUnwindSafe(smallbox!(event)))
    }
}

impl Clone for Stored {
    fn clone(&self) -> Self {
        (**self.0).clone_stored()
    }
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt((**self.0).as_event(), f)
    }
}

/// What a stored event needs beyond [`Event`]: a clone through the trait
/// object. Implemented for every `Event + Clone`, so layers never see it.
trait Erased: Event {
    fn clone_stored(&self) -> Stored;
    fn as_event(&self) -> &dyn Event;
}

impl<T: Event + Clone> Erased for T {
    fn clone_stored(&self) -> Stored {
        Stored::new(self.clone())
    }

    fn as_event(&self) -> &dyn Event {
        self
    }
}
