//! The *current* record: the one a layer enters while it polls a backend
//! or store that never sees the request (a shared quota, a cache store),
//! so that the backend can still note what it did for the call.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{CallRecord, Event};

thread_local! {
    static CURRENT: RefCell<Option<CallRecord>> = const { RefCell::new(None) };
}

impl CallRecord {
    /// Runs `f` with this record as the current one on this thread, and
    /// the previous one (if any) current again afterwards, even if `f`
    /// panics. A backend or store polled inside `f` notes in it with
    /// [`note_current`](CallRecord::note_current).
    ///
    /// ```
    /// use girder_core::record::{CallRecord, Note};
    ///
    /// let record = CallRecord::new();
    /// record.enter(|| {
    ///     // Deep inside a store that was given no request:
    ///     CallRecord::note_current("quota", || Note("fell back".into()));
    /// });
    /// CallRecord::note_current("quota", || -> Note { unreachable!("no current record here") });
    /// assert_eq!(record.entries().len(), 1);
    /// ```
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<CallRecord>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|current| *current.borrow_mut() = previous);
            }
        }
        let previous = CURRENT.with(|current| current.replace(Some(self.clone())));
        let _restore = Restore(previous);
        f()
    }

    /// Appends the event `make` builds to the current record (see
    /// [`enter`](CallRecord::enter)); does nothing, and does not call
    /// `make`, when no record is current.
    pub fn note_current<E: Event + Clone>(layer: &'static str, make: impl FnOnce() -> E) {
        let record = CURRENT.with(|current| current.borrow().clone());
        if let Some(record) = record {
            record.push(layer, make());
        }
    }

    /// `future`, polled with `record` current (see
    /// [`enter`](CallRecord::enter)); with `None`, polled as it is.
    pub fn instrument<F: Future>(record: Option<&CallRecord>, future: F) -> InRecord<F> {
        InRecord {
            record: record.cloned(),
            future,
        }
    }
}

pin_project! {
    /// A future polled with a record current; see [`CallRecord::instrument`].
    #[derive(Debug)]
    pub struct InRecord<F> {
        record: Option<CallRecord>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for InRecord<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        match this.record {
            Some(record) => record.enter(|| this.future.poll(cx)),
            None => this.future.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Note;

    #[test]
    fn entries_go_to_the_innermost_record_and_the_outer_one_comes_back() {
        let (outer, inner) = (CallRecord::new(), CallRecord::new());
        outer.enter(|| {
            inner.enter(|| CallRecord::note_current("t", || Note("inner".into())));
            CallRecord::note_current("t", || Note("outer".into()));
        });
        CallRecord::note_current("t", || Note("nowhere".into()));
        assert_eq!(inner.entries()[0].event(), Some(&Note("inner".into())));
        assert_eq!(outer.entries().len(), 1);
        assert_eq!(outer.entries()[0].event(), Some(&Note("outer".into())));
    }

    #[test]
    fn a_panic_inside_leaves_no_record_current() {
        let record = CallRecord::new();
        let caught = std::panic::catch_unwind(|| record.enter(|| panic!("inside")));
        assert!(caught.is_err());
        CallRecord::note_current("t", || Note("after".into()));
        assert!(record.entries().is_empty());
    }

    #[tokio::test]
    async fn an_instrumented_future_notes_on_every_poll_and_only_then() {
        let record = CallRecord::new();
        let future = async {
            CallRecord::note_current("t", || Note("first poll".into()));
            tokio::task::yield_now().await;
            CallRecord::note_current("t", || Note("second poll".into()));
        };
        CallRecord::instrument(Some(&record), future).await;
        CallRecord::note_current("t", || Note("outside".into()));
        assert_eq!(record.entries().len(), 2);
    }
}
