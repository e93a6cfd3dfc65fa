//! [`CircuitStore`]: circuits shared by every process of a fleet.
//!
//! Each process keeps its own circuits: its own windows, its own counts,
//! its own verdicts. A store shares only the decisions the whole fleet
//! must agree on:
//!
//! - a circuit that opens in one process is **published open** for its
//!   open period ([`publish_open`](CircuitStore::publish_open)); every
//!   other process learns it at its next call's admission
//!   ([`admit`](CircuitStore::admit)), refuses that call without sending
//!   it ([`CircuitOpen`](crate::CircuitOpen), with the time left as its
//!   retry-after) and keeps its own circuit open for the time left;
//! - once the open period is over the fleet's circuit is **half-open**
//!   until a process's probes close it
//!   ([`publish_closed`](CircuitStore::publish_closed)) or one fails and
//!   opens it again. Meanwhile every probe, in any process, first takes one
//!   of at most `half_open_probes` slots in the store, and gives it back
//!   when it ends or is dropped ([`release_probe`](CircuitStore::release_probe)).
//!
//! The in-process store is [`LocalCircuitStore`], which several breaker
//! layers of one process share through an [`Arc`](std::sync::Arc); a store
//! on Redis implements the same trait so that processes share it.
//!
//! # Time
//!
//! Nothing crosses the wire as an instant: the breaker publishes "open for
//! `d`" and the store answers "open for `d` more", each measured on the
//! store's own clock (Redis: `PEXPIRE`, `PTTL`). Client clocks need not
//! agree. A process learns of an opening at most one store round trip
//! late, and may keep its circuit open longer than the store does by as
//! much as the answer took to reach it.
//!
//! # Faults
//!
//! A call waits for [`admit`](CircuitStore::admit) at most the policy's
//! [`store_budget`](crate::BreakerPolicyBuilder::store_budget) (20 ms by
//! default) and never past its [`Deadline`](girder_core::Deadline). Past
//! that, or when the store fails, the call is decided by the process's
//! own circuit alone: a slow store never refuses a call. The fallback is
//! noted in the call record and traced under `girder::breaker` once each
//! time the store stops or starts answering.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use girder_breaker::store::{CircuitStore, FleetState, LocalCircuitStore, ProbeToken};
//! use girder_core::PartitionKey;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), girder_core::BoxError> {
//! let store: Arc<dyn CircuitStore> = Arc::new(LocalCircuitStore::new());
//! let key = PartitionKey::custom("api.test");
//! store.publish_open(&key, Duration::from_secs(30))?;
//!
//! let answer = store.admit(&key, ProbeToken::new(1), 1).now();
//! assert_eq!(answer.unwrap()?, FleetState::Open { remaining: Duration::from_secs(30) });
//!
//! // Open period over: one probe slot, then none.
//! tokio::time::advance(Duration::from_secs(30)).await;
//! let first = store.admit(&key, ProbeToken::new(1), 1).now().unwrap()?;
//! let second = store.admit(&key, ProbeToken::new(2), 1).now().unwrap()?;
//! assert_eq!((first, second), (FleetState::HalfOpen { probe: true }, FleetState::HalfOpen { probe: false }));
//! store.release_probe(&key, ProbeToken::new(1));
//! assert_eq!(store.admit(&key, ProbeToken::new(2), 1).now().unwrap()?, FleetState::HalfOpen { probe: true });
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use girder_core::{BoxError, PartitionKey};

pub(crate) mod link;
mod local;

pub use self::local::LocalCircuitStore;

/// What the fleet says about a circuit, answering [`CircuitStore::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetState {
    /// No process has the circuit open: the local circuit decides.
    Closed,
    /// A process opened the circuit; it stays open this much longer.
    Open {
        /// The open period left, on the store's clock.
        remaining: Duration,
    },
    /// The open period is over and the fleet is probing.
    HalfOpen {
        /// Whether the call's [`ProbeToken`] holds one of the probe slots
        /// (the call may probe) or they were all taken (it is refused).
        probe: bool,
    },
}

/// Names one call's claim on a fleet probe slot, so that giving the slot
/// back ([`CircuitStore::release_probe`]) can never free another call's.
///
/// The breaker draws tokens from a random 64-bit start per layer, so two
/// processes' tokens do not meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbeToken(u64);

impl ProbeToken {
    /// A token with value `value`.
    pub fn new(value: u64) -> Self {
        ProbeToken(value)
    }

    /// The token's value, to store.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// A [`FleetState`], now or later.
pub enum Admit {
    /// Answered without waiting (an in-process store).
    Ready(Result<FleetState, BoxError>),
    /// Answered by a round trip (a remote store). The future owns what it
    /// needs: it outlives the borrow of the store.
    ///
    /// The breaker drops it unread when the call is dropped or when the
    /// store budget or the call's deadline runs out first; it then calls
    /// [`release_probe`](CircuitStore::release_probe) with the call's
    /// token, in case the round trip took a slot.
    Pending(Pin<Box<dyn Future<Output = Result<FleetState, BoxError>> + Send>>),
}

impl Admit {
    /// The answer if it is already there, `None` for a round trip.
    pub fn now(self) -> Option<Result<FleetState, BoxError>> {
        match self {
            Admit::Ready(answer) => Some(answer),
            Admit::Pending(_) => None,
        }
    }
}

impl fmt::Debug for Admit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Admit::Ready(answer) => f.debug_tuple("Ready").field(answer).finish(),
            Admit::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// Where the fleet's circuit decisions live; see the [module docs](self).
///
/// Keys are the breaker's [`PartitionKey`]s; a store shared by several
/// services namespaces them itself. A key's text is whatever the partition
/// put in it (with [`Partition::by_authority`](girder_core::Partition::by_authority),
/// a URI's user-info if the caller wrote one): a remote store that must
/// not hold such text stores a digest of the key instead. Only [`admit`](Self::admit) is waited
/// for, and only on the call's path before it is sent. The other methods
/// run on a call's path too (after its outcome, or when it is dropped), so
/// none may block on I/O: a remote store sends them off without waiting
/// (on a connection that keeps their order, so that a release never
/// overtakes the admission it undoes) and returns an error only when it
/// cannot even do that. Errors must not carry credentials: the breaker
/// traces their `Display`.
///
/// A process can die holding a probe slot: a remote store should lease
/// slots (expire each some time after it was taken) and forget a record
/// some time after its open period ends, so that nothing stays stuck.
pub trait CircuitStore: fmt::Debug + Send + Sync + 'static {
    /// What the fleet says about `key`'s circuit, asked when the local
    /// circuit admitted a call (closed, or half-open as a probe). In one
    /// atomic step: an open circuit answers the time left; a half-open
    /// one gives `probe` a slot if fewer than `max_probes` are held (the
    /// same token asking again keeps its slot); otherwise
    /// [`FleetState::Closed`].
    fn admit(&self, key: &PartitionKey, probe: ProbeToken, max_probes: u32) -> Admit;

    /// Gives back the probe slot `probe` holds for `key`, if it holds one:
    /// its probe ended, or its call was dropped.
    fn release_probe(&self, key: &PartitionKey, probe: ProbeToken);

    /// `key`'s circuit opened in this process for `open_for`. The fleet's
    /// circuit is open until then (a period already published that ends
    /// later is kept), then half-open with every probe slot free.
    fn publish_open(&self, key: &PartitionKey, open_for: Duration) -> Result<(), BoxError>;

    /// `key`'s circuit closed in this process after its probes succeeded,
    /// or was reset: the fleet's circuit is closed.
    fn publish_closed(&self, key: &PartitionKey) -> Result<(), BoxError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _obj_safe(_: &dyn CircuitStore) {}

    #[test]
    fn a_pending_answer_is_not_there_yet() {
        let pending = Admit::Pending(Box::pin(std::future::pending()));
        assert_eq!(format!("{pending:?}"), "Pending");
        assert!(pending.now().is_none());
    }
}
