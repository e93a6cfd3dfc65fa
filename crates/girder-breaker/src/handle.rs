//! [`BreakerHandle`]: modes, reset and metrics from outside the stack.

use std::sync::Arc;
use std::time::Duration;

use girder_core::PartitionKey;
use http::Request;
use tokio::time::Instant;

use crate::BreakerState;
use crate::shared::Shared;

/// How every circuit of a layer behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Mode {
    /// The circuits open and close by the policy.
    Automatic = 0,
    /// Every call is refused with [`CircuitOpen`](crate::CircuitOpen)
    /// (without a retry time), whatever the circuits say.
    ForcedOpen = 1,
    /// Every call passes, untracked; the circuits keep their last state.
    Disabled = 2,
    /// Shadow mode: the circuits record, change state and report as in
    /// [`Automatic`](Mode::Automatic), but every call passes. A call that
    /// would have been refused counts in [`Metrics::refused`] and shows in
    /// the call record as admitted by an open circuit.
    MetricsOnly = 3,
}

impl Mode {
    pub(crate) fn from_u8(value: u8) -> Mode {
        match value {
            1 => Mode::ForcedOpen,
            2 => Mode::Disabled,
            3 => Mode::MetricsOnly,
            _ => Mode::Automatic,
        }
    }
}

/// A circuit's state and window, as of one moment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// The state. An open circuit whose time is up shows as open until the
    /// next call moves it to half-open.
    pub state: BreakerState,
    /// Calls in the window (closed state only; cleared on every change).
    pub calls: u32,
    /// Failed calls in the window.
    pub failures: u32,
    /// Slow calls in the window.
    pub slow_calls: u32,
    /// `failures / calls`, 0 when the window is empty.
    pub failure_rate: f64,
    /// `slow_calls / calls`, 0 when the window is empty.
    pub slow_call_rate: f64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Probes in flight (half-open only).
    pub probes_in_flight: u32,
    /// Time until an open circuit lets a probe through.
    pub next_probe_in: Option<Duration>,
    /// Trips since the circuit last closed.
    pub trips: u32,
    /// Calls refused since the circuit was made (in shadow mode: calls that
    /// would have been).
    pub refused: u64,
}

/// Controls and observes the circuits of one [`CircuitBreakerLayer`](crate::CircuitBreakerLayer).
///
/// ```
/// use girder_breaker::{BreakerHandle, CircuitBreakerLayer, Mode};
/// use girder_core::PartitionKey;
///
/// let layer = CircuitBreakerLayer::default();
/// let handle: BreakerHandle = layer.handle();
/// handle.set_mode(Mode::MetricsOnly);
/// assert_eq!(handle.mode(), Mode::MetricsOnly);
/// assert!(handle.metrics(&PartitionKey::custom("api.test:443")).is_none());
/// ```
///
/// # Clone
///
/// Clones control the same circuits.
#[derive(Debug, Clone)]
pub struct BreakerHandle {
    shared: Arc<Shared>,
}

impl BreakerHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        BreakerHandle { shared }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// Switches every circuit to `mode`; calls admitted before keep going.
    pub fn set_mode(&self, mode: Mode) {
        tracing::info!(target: "girder::breaker", ?mode, "breaker mode set");
        self.shared.set_mode(mode);
    }

    /// Closes every circuit and clears its history. Calls in flight from
    /// before the reset no longer count. With a shared
    /// [`store`](crate::BreakerPolicyBuilder::store), the fleet's circuits
    /// that were open here are published closed (another process whose
    /// own circuit is open stays open for its own time).
    pub fn reset(&self) {
        for circuit in self.shared.all() {
            if let Some(change) = circuit.reset() {
                self.shared.announce(change);
            }
        }
    }

    /// The metrics of the circuit for `key`, if there is one.
    pub fn metrics(&self, key: &PartitionKey) -> Option<Metrics> {
        let circuit = self.shared.existing(key)?;
        Some(circuit.metrics(&self.shared, Instant::now()))
    }

    /// The metrics of the circuit `request` would use, if there is one.
    pub fn metrics_for<B>(&self, request: &Request<B>) -> Option<Metrics> {
        self.metrics(&self.shared.policy.partition.key(request))
    }

    /// Every circuit's key and metrics.
    pub fn partitions(&self) -> Vec<(PartitionKey, Metrics)> {
        let now = Instant::now();
        self.shared
            .all()
            .into_iter()
            .map(|c| (c.key().clone(), c.metrics(&self.shared, now)))
            .collect()
    }
}
