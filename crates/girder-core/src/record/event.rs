//! The [`Event`] trait every entry of a record implements, and the one
//! event core defines itself, [`Note`].

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// A decision a layer made for one call, as it goes into a
/// [`CallRecord`](super::CallRecord).
///
/// Each layer defines its own event types (girder-retry's `RetryDecision`,
/// girder-breaker's `BreakerEvent`, …); core holds only the record and this
/// trait, so a new layer is heard without editing core. `Display` is the
/// readable account of the decision (`attempt 2`, `circuit half-open,
/// admitted`), shown after the layer's name in the record's own `Display`
/// and in the trace layer's events; `Debug` is for tests and dumps. A
/// reader that knows a layer's type gets it back with
/// [`Entry::event`](super::Entry::event).
///
/// An event is pushed by value and stored inline in the record's entry when
/// it fits in four machine words (32 bytes on 64-bit targets), on the heap
/// otherwise; a layer keeps its events small (`Copy` data, a
/// `&'static str`, a `Cow<'static, str>`) so that noting costs no
/// allocation. Pushing also needs `Clone`, as [`CallRecord::entries`]
/// copies entries out.
///
/// [`CallRecord::entries`]: super::CallRecord::entries
///
/// ```
/// use std::fmt;
/// use girder_core::record::{CallRecord, Event};
///
/// /// A layer's own decision.
/// #[derive(Debug, Clone, PartialEq)]
/// struct Hedged {
///     after_ms: u32,
/// }
///
/// impl fmt::Display for Hedged {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         write!(f, "hedged after {}ms", self.after_ms)
///     }
/// }
///
/// impl Event for Hedged {
///     // A hedge sends the request again.
///     fn is_resend(&self) -> bool {
///         true
///     }
/// }
///
/// let record = CallRecord::new();
/// record.push("hedge", Hedged { after_ms: 40 });
/// assert_eq!(record.resends(), 1);
/// let entry = &record.entries()[0];
/// assert_eq!(entry.event::<Hedged>(), Some(&Hedged { after_ms: 40 }));
/// assert_eq!(entry.as_event().to_string(), "hedged after 40ms");
/// ```
pub trait Event: Any + fmt::Display + fmt::Debug + Send + Sync {
    /// The attempt number, when this event is an attempt being sent (from
    /// 1). [`CallRecord::attempts`](super::CallRecord::attempts) counts
    /// the events that have one. Default: `None`.
    fn attempt(&self) -> Option<u32> {
        None
    }

    /// Whether this decision sent the request again: a retry's attempt
    /// after the first, auth's 401 replay, signing's clock-skew re-sign, a
    /// followed redirect. [`CallRecord::resends`](super::CallRecord::resends)
    /// counts them: OpenTelemetry's `http.request.resend_count`. Default:
    /// an [`attempt`](Event::attempt) numbered 2 or more.
    fn is_resend(&self) -> bool {
        self.attempt().is_some_and(|number| number > 1)
    }

    /// Whether the decision is what happens on every ordinary call (the
    /// first attempt, a closed circuit letting it through, a cache miss): the
    /// trace layer logs routine entries at `DEBUG` and the others at the
    /// level of the call's outcome, and a call with only routine entries
    /// costs the trace layer no copy of them. Default: `false`.
    fn is_routine(&self) -> bool {
        false
    }
}

impl dyn Event {
    /// Whether the event is a `T`.
    pub fn is<T: Event>(&self) -> bool {
        (self as &dyn Any).is::<T>()
    }

    /// The event as a `T`, if it is one.
    pub fn downcast_ref<T: Event>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref()
    }
}

/// Free text, for a decision without a type of its own: a backend that
/// fell back to local state, a store that could not be read.
///
/// ```
/// use girder_core::record::{CallRecord, Note};
///
/// let record = CallRecord::new();
/// record.push("quota", Note("shared store unreachable; local quota".into()));
/// assert!(record.to_string().ends_with("quota: shared store unreachable; local quota"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note(pub Cow<'static, str>);

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Event for Note {}

/// A duration as the record shows it: whole milliseconds below a minute,
/// whole seconds from a minute up (`400ms`, `90s`). Layers write their
/// events' waits and delays with it, so that every entry reads alike.
///
/// ```
/// use std::time::Duration;
/// use girder_core::record::Readable;
///
/// assert_eq!(Readable(Duration::from_millis(400)).to_string(), "400ms");
/// assert_eq!(Readable(Duration::from_secs(90)).to_string(), "90s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readable(pub Duration);

impl fmt::Display for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < Duration::from_secs(60) {
            write!(f, "{}ms", self.0.as_millis())
        } else {
            write!(f, "{}s", self.0.as_secs())
        }
    }
}
