//! [`RateLimitBackend`]: where quota state lives.
//!
//! The layer owns everything local to one process: partition keys, the
//! line waiters stand in, the in-flight limit, the deadline and max-wait
//! checks, the call record. A backend owns the quota state: which permits
//! are left per partition, server pauses, quotas the server announced.
//! The in-process backend is [`GovernorBackend`]; a shared store (Redis,
//! so that a fleet shares one API quota) implements the same trait.
//!
//! The trait is shaped for a remote store: [`acquire`](RateLimitBackend::acquire)
//! is one atomic test-and-take over every quota that applies to a call
//! (the partition's, the server's, the global ones), so a Redis backend
//! runs it as one script, GCRA state in one round trip. A refusal takes
//! nothing and says how long until the quota that refused has a permit.
//! A local backend answers at once with [`Acquire::Ready`], without
//! allocating; a remote one returns [`Acquire::Pending`].
//!
//! ```
//! use girder_core::PartitionKey;
//! use girder_ratelimit::backend::{Acquire, Decision, Feedback, GovernorBackend, Quotas, RateLimitBackend};
//! use girder_ratelimit::Quota;
//!
//! /// Counts calls and delegates to the in-process backend.
//! #[derive(Debug, Default)]
//! struct Counting(GovernorBackend, std::sync::atomic::AtomicU64);
//!
//! impl RateLimitBackend for Counting {
//!     fn acquire(&self, key: &PartitionKey, quotas: &Quotas) -> Acquire {
//!         self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
//!         self.0.acquire(key, quotas)
//!     }
//!     fn release(&self, key: &PartitionKey, quotas: &Quotas) {
//!         self.0.release(key, quotas)
//!     }
//!     fn observe(&self, key: &PartitionKey, quotas: &Quotas, feedback: &Feedback) {
//!         self.0.observe(key, quotas, feedback)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let backend = Counting::default();
//! let quotas = Quotas::new(vec![Quota::per_second(1).burst(1)], vec![]);
//! let key = PartitionKey::custom("api.test");
//! assert!(matches!(backend.acquire(&key, &quotas), Acquire::Ready(Ok(Decision::Granted))));
//! assert!(matches!(backend.acquire(&key, &quotas), Acquire::Ready(Ok(Decision::Wait { .. }))));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use girder_core::hints::Quota as Announced;
use girder_core::{BoxError, PartitionKey};

use crate::error::Cause;
use crate::quota::Quota;

mod governor;

pub use self::governor::GovernorBackend;

pub(crate) fn governor_default_max_partitions() -> usize {
    self::governor::DEFAULT_MAX_PARTITIONS
}

/// The configured quotas a backend enforces for a call: the partition's
/// own and the global ones shared by all partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quotas {
    pub(crate) partition: Vec<Quota>,
    pub(crate) global: Vec<Quota>,
}

impl Quotas {
    /// `partition` quotas for each partition, `global` ones for all.
    pub fn new(partition: Vec<Quota>, global: Vec<Quota>) -> Self {
        Quotas { partition, global }
    }

    /// The quotas each partition has for itself.
    pub fn partition(&self) -> &[Quota] {
        &self.partition
    }

    /// The quotas all partitions share.
    pub fn global(&self) -> &[Quota] {
        &self.global
    }
}

/// Which quota state refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The call's partition (its quotas, the server's pause or announced quotas).
    Partition,
    /// The global quotas.
    Global,
}

/// The answer to [`RateLimitBackend::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A permit was taken from every quota that applies.
    Granted,
    /// Nothing was taken; ask again after `retry_after`.
    Wait {
        /// How long until the quota that refused has a permit.
        retry_after: Duration,
        /// Which state refused: the layer keeps its line for that scope.
        scope: Scope,
        /// [`Cause::Quota`] or [`Cause::ServerPause`].
        cause: Cause,
    },
}

/// A [`Decision`], now or later.
pub enum Acquire {
    /// Decided without waiting (an in-process backend).
    Ready(Result<Decision, BoxError>),
    /// Decided by a round trip (a remote backend). The future owns what it
    /// needs: it outlives the borrow of the backend.
    ///
    /// The layer drops it unfinished when the call is dropped, or when the
    /// call's max wait or deadline passes first (the call is then refused).
    /// A permit the round trip took in the meantime is not given back: the
    /// layer cannot know it was taken, and that errs on the quota's side.
    Pending(Pin<Box<dyn Future<Output = Result<Decision, BoxError>> + Send>>),
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Acquire::Ready(decision) => f.debug_tuple("Ready").field(decision).finish(),
            Acquire::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// What a response said about its partition's quota.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Feedback {
    /// Hold the partition this long: `Retry-After` on a 429 or 503, or the
    /// reset of an announced quota with nothing remaining; already capped
    /// by the policy's `max_server_pause`.
    pub pause: Option<Duration>,
    /// Quotas the server announced (`RateLimit-Policy`, `RateLimit`,
    /// `X-RateLimit-*`), as girder-core parsed them.
    pub announced: Vec<Announced>,
}

impl Feedback {
    /// Feedback that pauses the partition for `pause`.
    pub fn pause(pause: Duration) -> Self {
        Feedback {
            pause: Some(pause),
            announced: Vec::new(),
        }
    }

    /// Feedback announcing `quotas`.
    pub fn announced(quotas: Vec<Announced>) -> Self {
        Feedback {
            pause: None,
            announced: quotas,
        }
    }
}

/// Where quota state lives; see the [module docs](self).
///
/// Every method is called on the hot path or right after a response, so
/// none may block on I/O: a remote backend does its round trip in the
/// future of [`Acquire::Pending`], and sends `release` and `observe` off
/// without waiting for them.
///
/// The layer polls that future with the call's record
/// [current](girder_core::CallRecord::enter): a backend that decides
/// otherwise than it should (a shared one falling back to local state)
/// says so with [`CallRecord::note_current`](girder_core::CallRecord::note_current).
pub trait RateLimitBackend: fmt::Debug + Send + Sync + 'static {
    /// Atomically takes one permit from every quota that applies to `key`
    /// (`quotas`, the server's pause and announced quotas), or none.
    fn acquire(&self, key: &PartitionKey, quotas: &Quotas) -> Acquire;

    /// Gives back a permit [`acquire`](Self::acquire) granted for `key` to a
    /// call that was dropped before it was sent. Best effort: the permit
    /// returns if the quota has not moved on in the meantime.
    fn release(&self, key: &PartitionKey, quotas: &Quotas);

    /// Applies what a response said about `key`'s quota: pause the
    /// partition, adopt an announced quota stricter than `quotas`, keep no
    /// more permits than the server says remain. Malformed values never
    /// reach here: girder-core drops them when it parses.
    fn observe(&self, key: &PartitionKey, quotas: &Quotas, feedback: &Feedback);
}
