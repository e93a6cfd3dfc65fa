//! The end-to-end deadline of a logical call.
//!
//! A [`Deadline`] in the request extensions tells every layer that would
//! wait (retry backoff, quota wait, token refresh, a coalesced cache fill)
//! when the caller stops caring. A layer that cannot finish its wait before
//! the deadline fails at once with [`DeadlineExceeded`] instead of sleeping
//! into a timeout.
//!
//! ```
//! use std::time::Duration;
//! use girder_core::Deadline;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut req = http::Request::new(());
//! Deadline::after(Duration::from_secs(2)).apply(&mut req);
//!
//! let deadline = Deadline::of(&req).unwrap();
//! assert!(deadline.check_wait(Duration::from_secs(1)).is_ok());
//! assert!(deadline.check_wait(Duration::from_secs(3)).is_err());
//!
//! // A later, looser deadline never loosens the one already set.
//! Deadline::after(Duration::from_secs(10)).apply(&mut req);
//! assert_eq!(Deadline::of(&req), Some(deadline));
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// The instant, on tokio's clock, by which a logical call must finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline at `instant`.
    pub fn at(instant: Instant) -> Self {
        Deadline(instant)
    }

    /// A deadline `timeout` from now. A timeout too large to represent
    /// saturates to about thirty years from now.
    pub fn after(timeout: Duration) -> Self {
        Deadline::after_from(Instant::now(), timeout)
    }

    /// A deadline `timeout` after `now`, a clock reading taken already (a
    /// call's [`CallRecord::now`](crate::CallRecord::now)); saturates as
    /// [`after`](Deadline::after) does.
    pub fn after_from(now: Instant, timeout: Duration) -> Self {
        Deadline(
            now.checked_add(timeout)
                .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 24 * 3600)),
        )
    }

    /// The deadline of `request`: the earlier of the one in its extensions
    /// and the one its [`CallRecord`](crate::CallRecord) holds, if any.
    pub fn of<B>(request: &http::Request<B>) -> Option<Deadline> {
        Deadline::in_extensions(request.extensions())
    }

    /// The deadline in `extensions` (see [`of`](Deadline::of)).
    pub fn in_extensions(extensions: &http::Extensions) -> Option<Deadline> {
        let own = extensions.get::<Deadline>().copied();
        let held = extensions
            .get::<crate::CallRecord>()
            .and_then(crate::CallRecord::deadline);
        match (own, held) {
            (Some(own), Some(held)) => Some(own.min(held)),
            (own, held) => own.or(held),
        }
    }

    /// Sets this deadline on `request`, unless an earlier one is already
    /// set: deadlines only ever tighten. A request with a
    /// [`CallRecord`](crate::CallRecord) keeps it there, shared by every
    /// copy of the call (no extension of its own); one without keeps it in
    /// its extensions.
    pub fn apply<B>(self, request: &mut http::Request<B>) {
        if let Some(record) = request.extensions().get::<crate::CallRecord>() {
            record.tighten_deadline(self);
            return;
        }
        let extensions = request.extensions_mut();
        match extensions.get::<Deadline>() {
            Some(existing) if *existing <= self => {}
            _ => {
                extensions.insert(self);
            }
        }
    }

    /// The instant of the deadline.
    pub fn instant(&self) -> Instant {
        self.0
    }

    /// Time left before the deadline; zero once it has passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.0
    }

    /// `Ok` if a wait of `wait` starting now ends before the deadline, else
    /// the error a layer returns instead of starting the wait.
    pub fn check_wait(&self, wait: Duration) -> Result<(), DeadlineExceeded> {
        let remaining = self.remaining();
        if wait < remaining {
            Ok(())
        } else {
            Err(DeadlineExceeded {
                wanted: Some(wait),
                remaining: Some(remaining),
                source: None,
            })
        }
    }
}

/// A call's [`Deadline`] passed, or a wait would have crossed it.
///
/// When a layer gives up because of the deadline after an attempt failed,
/// that failure is the [`source`](std::error::Error::source).
#[derive(Debug, Default)]
pub struct DeadlineExceeded {
    wanted: Option<Duration>,
    remaining: Option<Duration>,
    source: Option<crate::BoxError>,
}

impl DeadlineExceeded {
    /// The error for a deadline that has passed.
    pub fn new() -> Self {
        DeadlineExceeded::default()
    }

    /// This error, caused by `source`: the last failure before the layer
    /// gave up.
    pub fn with_source(mut self, source: impl Into<crate::BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The wait that was refused, when the error came from
    /// [`Deadline::check_wait`].
    pub fn wanted(&self) -> Option<Duration> {
        self.wanted
    }

    /// The time that was left when the wait was refused.
    pub fn remaining(&self) -> Option<Duration> {
        self.remaining
    }
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.wanted, self.remaining) {
            (Some(wanted), Some(remaining)) => write!(
                f,
                "deadline exceeded: a wait of {wanted:?} does not fit in the {remaining:?} left"
            ),
            _ => f.write_str("deadline exceeded"),
        }
    }
}

impl std::error::Error for DeadlineExceeded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn remaining_counts_down_on_tokio_time() {
        let deadline = Deadline::after(Duration::from_secs(5));
        assert_eq!(deadline.remaining(), Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(deadline.remaining(), Duration::from_secs(3));
        assert!(!deadline.is_expired());
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(deadline.remaining(), Duration::ZERO);
        assert!(deadline.is_expired());
        let err = deadline.check_wait(Duration::ZERO).unwrap_err();
        assert_eq!(err.remaining(), Some(Duration::ZERO));
        let caused = err.with_source(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let source = std::error::Error::source(&caused).unwrap();
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_that_ends_on_the_deadline_is_refused() {
        let deadline = Deadline::after(Duration::from_secs(1));
        assert!(deadline.check_wait(Duration::from_millis(999)).is_ok());
        let err = deadline.check_wait(Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.wanted(), Some(Duration::from_secs(1)));
        assert!(err.to_string().contains("does not fit"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn apply_keeps_the_earliest_deadline() {
        let mut req = http::Request::new(());
        let late = Deadline::after(Duration::from_secs(10));
        let early = Deadline::after(Duration::from_secs(1));
        late.apply(&mut req);
        early.apply(&mut req);
        assert_eq!(Deadline::of(&req), Some(early));
        late.apply(&mut req);
        assert_eq!(Deadline::of(&req), Some(early));
    }

    #[tokio::test(start_paused = true)]
    async fn huge_timeouts_saturate() {
        let deadline = Deadline::after(Duration::MAX);
        assert!(deadline.remaining() > Duration::from_secs(365 * 24 * 3600));
    }
}
