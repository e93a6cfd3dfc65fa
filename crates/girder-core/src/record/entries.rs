//! The entries of a record: appended without a lock while they fit in the
//! record's own slots, behind one mutex past them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::Entry;

/// How many entries a record holds in its own allocation, each appended
/// without a lock: a call through the full stack notes about four
/// (attempt, breaker, signing, cache).
///
/// NOTE: the docs of `CallRecord::push` and of the record module say "six".
pub(super) const INLINE: usize = 6;

/// The entries, in the order their places were reserved.
///
/// An append reserves the next index with one atomic add and writes the
/// entry into that place: one of the [`INLINE`] slots (a `OnceLock` set
/// once), or the spill, a vector behind a mutex, for the rare call that
/// notes more. Readers walk the slots in index order, then the spill; a
/// place reserved but not written yet (an append under way on another
/// thread) is skipped.
pub(super) struct Entries {
    reserved: AtomicUsize,
    inline: [OnceLock<Entry>; INLINE],
    /// The entries from index [`INLINE`] on, with their indexes, kept in
    /// index order: appends on two threads may take the lock out of order.
    spill: Mutex<Vec<(usize, Entry)>>,
}

impl Entries {
    pub(super) const fn new() -> Self {
        Entries {
            reserved: AtomicUsize::new(0),
            inline: [const { OnceLock::new() }; INLINE],
            spill: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn push(&self, entry: Entry) {
        // Relaxed: the index need only be unique; each slot's `OnceLock`
        // (or the spill's mutex) publishes the entry to readers.
        let index = self.reserved.fetch_add(1, Ordering::Relaxed);
        match self.inline.get(index) {
            Some(slot) => {
                let set = slot.set(entry);
                debug_assert!(set.is_ok(), "slot {index} reserved twice");
            }
            None => {
                let mut spill = self.lock_spill();
                let at = spill.partition_point(|(i, _)| *i < index);
                spill.insert(at, (index, entry));
            }
        }
    }

    /// Calls `f` on each entry, oldest first, until it returns an error.
    /// The spill's lock is taken only when something was spilled, and held
    /// while `f` runs on the spilled entries.
    pub(super) fn try_for_each<E>(
        &self,
        mut f: impl FnMut(&Entry) -> Result<(), E>,
    ) -> Result<(), E> {
        for entry in self.inline.iter().filter_map(OnceLock::get) {
            f(entry)?;
        }
        if self.reserved.load(Ordering::Relaxed) > INLINE {
            for (_, entry) in self.lock_spill().iter() {
                f(entry)?;
            }
        }
        Ok(())
    }

    fn lock_spill(&self) -> MutexGuard<'_, Vec<(usize, Entry)>> {
        // A panic while holding the lock leaves valid entries behind.
        self.spill
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
