//! What a call holds while it waits, and the limits of its wait. The
//! states it goes through, and which comes next, are the future's
//! (future.rs); this file keeps the holdings consistent and gives them
//! back when the call is dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use girder_core::{BoxError, CallRecord, Deadline, PartitionKey};
use http::Request;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::backend::Scope;
use crate::error::{Cause, RateLimited};
use crate::event::QuotaEvent;
use crate::hook::LimitEvent;
use crate::lane::{Lane, Queued};
use crate::service::Shared;

/// What a waiting call holds. Dropping it drops its place in line and,
/// when it holds a permit it has not used, gives the permit back.
pub(crate) struct Waiting<S, B> {
    pub(crate) service: S,
    request: Option<Request<B>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: PartitionKey,
    pub(crate) lane: Arc<Lane>,
    /// When the call left the fast path; its first decision is taken at
    /// this reading of the clock.
    pub(crate) started: Instant,
    max_at: Instant,
    deadline: Option<Instant>,
    line: Option<OwnedSemaphorePermit>,
    global_line: Option<OwnedSemaphorePermit>,
    queued: Option<Queued>,
    /// A permit was granted and the request not yet sent.
    granted: bool,
    /// Counted in `Shared::waiting`: not granted yet.
    counted: bool,
}

impl<S, B> Waiting<S, B> {
    pub(crate) fn new(
        service: S,
        request: Request<B>,
        shared: Arc<Shared>,
        key: PartitionKey,
        lane: Arc<Lane>,
    ) -> Self {
        let started = Instant::now();
        let max_at = crate::clock::later(started, shared.policy.max_wait);
        let deadline = Deadline::of(&request).map(|d| d.instant());
        shared.waiting.fetch_add(1, Ordering::AcqRel);
        Waiting {
            service,
            request: Some(request),
            shared,
            key,
            lane,
            started,
            max_at,
            deadline,
            line: None,
            global_line: None,
            queued: None,
            granted: false,
            counted: true,
        }
    }

    /// Which limit a wait of `wait` from `now` would cross, if any.
    /// Compared as durations, so that a backend's `Duration::MAX` cannot
    /// overflow.
    pub(crate) fn crosses(&self, now: Instant, wait: Duration) -> Option<Cause> {
        // As `Deadline::check_wait`: a wait ending on the deadline is refused.
        let to_deadline = self.deadline.map(|d| d.saturating_duration_since(now));
        if to_deadline.is_some_and(|left| wait >= left) {
            Some(Cause::Deadline)
        } else if wait > self.max_at.saturating_duration_since(now) {
            Some(Cause::MaxWait)
        } else {
            None
        }
    }

    /// The first limit the call meets, and when: the deadline or the max
    /// wait. It does not move while the call waits.
    pub(crate) fn limit(&self) -> (Instant, Cause) {
        match self.deadline {
            Some(deadline) if deadline <= self.max_at => (deadline, Cause::Deadline),
            _ => (self.max_at, Cause::MaxWait),
        }
    }

    /// Ends a wait of unknown length (for a slot, in line, for a remote
    /// decision) at the limit. Made without reading the clock or
    /// allocating; it registers with the timer when first polled.
    pub(crate) fn timer(&self) -> Sleep {
        tokio::time::sleep_until(self.limit().0)
    }

    /// `scope`'s line.
    pub(crate) fn line(&self, scope: Scope) -> Arc<Semaphore> {
        match scope {
            Scope::Partition => self.lane.line.clone(),
            Scope::Global => self.shared.lanes.global.line.clone(),
        }
    }

    /// Whether the call is at the head of `scope`'s line.
    pub(crate) fn holds(&self, scope: Scope) -> bool {
        match scope {
            Scope::Partition => self.line.is_some(),
            Scope::Global => self.global_line.is_some(),
        }
    }

    /// Waits in `scope`'s line, counted in the partition's.
    pub(crate) fn queue(&mut self, scope: Scope) {
        if scope == Scope::Partition {
            self.queued = Some(Queued::new(self.lane.clone()));
        }
    }

    /// At the head of `scope`'s line: the wait in line is over.
    pub(crate) fn hold(&mut self, permit: OwnedSemaphorePermit, scope: Scope) {
        match scope {
            Scope::Partition => {
                self.line = Some(permit);
                self.queued = None;
            }
            Scope::Global => self.global_line = Some(permit),
        }
    }

    /// Passes the global line on: a partition's own wait does not hold up
    /// the other partitions.
    pub(crate) fn leave_global_line(&mut self) {
        self.global_line = None;
    }

    /// The call's record, if it has one.
    pub(crate) fn record(&self) -> Option<&CallRecord> {
        self.request.as_ref()?.extensions().get::<CallRecord>()
    }

    fn uncount(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.shared.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// A permit is granted: passes the lines on and reports the wait.
    pub(crate) fn grant(&mut self) {
        self.uncount();
        self.line = None;
        self.global_line = None;
        self.queued = None;
        self.granted = true;
        // The wait is over: with a record, its reading is the attempt's
        // from here on (the layers below sign and note with it).
        let record = (self.request.as_ref()).and_then(|r| r.extensions().get::<CallRecord>());
        let now = record.map_or_else(Instant::now, CallRecord::mark_now);
        let waited = now.saturating_duration_since(self.started);
        if !waited.is_zero() {
            if let Some(request) = &self.request {
                CallRecord::note(request.extensions(), "ratelimit", || QuotaEvent::Waited {
                    waited,
                });
            }
            tracing::debug!(
                target: "girder::ratelimit",
                partition = %self.key,
                waited = ?waited,
                "waited for quota"
            );
            self.shared.policy.on_limit.on_event(&LimitEvent::Waited {
                partition: &self.key,
                waited,
            });
        }
    }

    /// The call's refusal, reported.
    pub(crate) fn refuse(&self, cause: Cause, retry_after: Option<Duration>) -> BoxError {
        let error = RateLimited::new(cause, retry_after).with_partition(self.key.clone());
        if let Some(request) = &self.request {
            self.shared.refused(request.extensions(), &self.key, &error);
        }
        error.into()
    }

    /// The request, to send now; the permit is used.
    pub(crate) fn send(&mut self) -> Option<Request<B>> {
        self.granted = false;
        self.request.take()
    }
}

impl<S, B> Drop for Waiting<S, B> {
    fn drop(&mut self) {
        self.uncount();
        if self.granted {
            // Dropped after its permit was granted but before the request
            // went out: the permit was not used.
            self.shared
                .backend
                .release(&self.key, &self.shared.policy.quotas);
            tracing::trace!(target: "girder::ratelimit", partition = %self.key, "unused permit given back");
        }
    }
}
