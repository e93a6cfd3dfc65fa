//! The breaker's side of a [`CircuitStore`]: probe tokens, the fallback to
//! local circuits and its traces, publishing state changes, and settling a
//! call with the store's answer.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use girder_core::record::Note;
use girder_core::{BoxError, CallRecord};
use http::Request;
use tokio::time::Instant;

use super::{CircuitStore, FleetState, ProbeToken};
use crate::circuit::Admission;
use crate::future::Permit;
use crate::handle::Mode;
use crate::hook::{Cause, StateChange};
use crate::service::{Decided, conclude};
use crate::shared::LazyNow;
use crate::{BreakerEvent, BreakerState};

/// A layer's connection to its store, made with the layer's shared state.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) store: Arc<dyn CircuitStore>,
    pub(crate) budget: Duration,
    /// Whether the store answered last time: the fallback is traced only
    /// when this flips.
    answering: AtomicBool,
    next_token: AtomicU64,
}

/// What a call learned from the store.
#[derive(Debug)]
pub(crate) enum Answer {
    Fleet(FleetState),
    Failed(BoxError),
    /// No answer within the budget or before the call's deadline.
    Slow,
}

impl Link {
    pub(crate) fn new(store: Arc<dyn CircuitStore>, budget: Duration) -> Self {
        Link {
            store,
            budget,
            answering: AtomicBool::new(true),
            next_token: AtomicU64::new(fastrand::u64(..)),
        }
    }

    pub(crate) fn token(&self) -> ProbeToken {
        ProbeToken::new(self.next_token.fetch_add(1, Ordering::Relaxed))
    }

    fn answered(&self) {
        if !self.answering.load(Ordering::Relaxed) && !self.answering.swap(true, Ordering::AcqRel) {
            tracing::info!(
                target: "girder::breaker",
                "circuit store answering again; circuits shared with the fleet"
            );
        }
    }

    fn fell_back(&self, error: Option<&BoxError>) {
        if self.answering.swap(false, Ordering::AcqRel) {
            match error {
                Some(error) => tracing::warn!(
                    target: "girder::breaker",
                    %error,
                    "circuit store failed; circuits decided by this process alone"
                ),
                None => tracing::warn!(
                    target: "girder::breaker",
                    budget_ms = self.budget.as_millis() as u64,
                    "circuit store too slow; circuits decided by this process alone"
                ),
            }
        }
    }

    /// Tells the store about a change this process made. Changes adopted
    /// from the store go no further; half-open is the store's own doing.
    pub(crate) fn publish(&self, change: &StateChange) {
        let result = match (change.to, change.cause) {
            (_, Cause::Shared) => return,
            (BreakerState::Open, _) => self
                .store
                .publish_open(&change.partition, change.open_for.unwrap_or_default()),
            (BreakerState::Closed, _) => self.store.publish_closed(&change.partition),
            _ => return,
        };
        // A success only means the store took the message (a remote one
        // sends it off): it does not say the store is answering again.
        if let Err(error) = result {
            self.fell_back(Some(&error));
        }
    }
}

/// Decides a call the local circuit admitted under `permit` (its `slot`
/// the token the store was asked with), given what the store answered.
pub(crate) fn decide<B>(
    request: &Request<B>,
    mut permit: Permit,
    answer: Answer,
    mode: Mode,
) -> Decided {
    // A slow call is slow upstream: the wait for the store is not its.
    if permit.started.is_some() {
        permit.started = Some(Instant::now());
    }
    let shared = permit.shared.clone();
    let Some(link) = &shared.link else {
        return Decided::Call(Some(permit));
    };
    let fleet = match answer {
        Answer::Fleet(fleet) => {
            link.answered();
            fleet
        }
        Answer::Failed(error) => return fall_back(request, link, permit, Some(&error)),
        Answer::Slow => return fall_back(request, link, permit, None),
    };
    if fleet == FleetState::Closed {
        // The call goes as the local circuit admitted it; the claim moves
        // to the permit `conclude` makes, so this one must not give back.
        let ticket = permit.ticket;
        permit.ticket.probe = false;
        permit.slot = None;
        return conclude(
            request,
            permit.circuit.clone(),
            &shared,
            Admission::Admitted(ticket),
            permit.started,
            None,
            mode,
        );
    }
    let (admission, change) =
        permit
            .circuit
            .settle(&shared, permit.ticket, fleet, &mut LazyNow::default());
    // Settling took the provisional probe slot back.
    permit.ticket.probe = false;
    if let Some(change) = change {
        shared.announce(change);
    }
    let granted = fleet == FleetState::HalfOpen { probe: true };
    let slot = match admission {
        Admission::Admitted(ticket) if ticket.probe && granted => permit.slot.take(),
        _ => None,
    };
    // A slot the store gave that the call does not probe with goes back.
    permit.release_slot();
    conclude(
        request,
        permit.circuit.clone(),
        &shared,
        admission,
        permit.started,
        slot,
        mode,
    )
}

fn fall_back<B>(
    request: &Request<B>,
    link: &Link,
    mut permit: Permit,
    error: Option<&BoxError>,
) -> Decided {
    link.fell_back(error);
    let why = if error.is_some() {
        "circuit store failed; local circuit decided"
    } else {
        "circuit store too slow; local circuit decided"
    };
    CallRecord::note(request.extensions(), "breaker", || Note(Cow::Borrowed(why)));
    // The store may have given the token a slot in an answer never read.
    permit.release_slot();
    CallRecord::note(request.extensions(), "breaker", || {
        BreakerEvent::new(permit.ticket.state, true)
    });
    Decided::Call(Some(permit))
}
