//! The per-call state of a retried request, and the decision after each
//! attempt.

use std::sync::Arc;
use std::time::Duration;

use girder_core::classify::TransportError;
use girder_core::record::Replay;
use girder_core::{
    BoxError, CallRecord, Class, Deadline, DeadlineExceeded, Outcome, Reason, ReplayBody,
    ServerHints,
};
use http::{Request, Response};

use crate::backoff::DelayContext;
use crate::budget::{Budget, Ticket};
use crate::hook::RetryEvent;
use crate::service::Shared;
use crate::{DelaySource, NoRetry, RetryDecision};

/// The number of attempts a call took, in the extensions of the response
/// it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts(pub u32);

/// What to do after an attempt.
pub(crate) enum Decision<B> {
    /// Return the outcome as it is.
    Done,
    /// Send this request again after this delay. The copy is made when
    /// the retry is decided: a body that cannot be copied again ends the
    /// retries while the last outcome is still there to return.
    Retry(Duration, Request<B>),
    /// The next attempt cannot start before the deadline.
    Deadline(DeadlineExceeded),
}

pub(crate) struct CallState<S, B> {
    pub(crate) service: S,
    replay: Option<Replay<B>>,
    idempotent: bool,
    attempt: u32,
    shared: Arc<Shared>,
    budget: Option<Arc<Budget>>,
    deadline: Option<Deadline>,
    record: Option<CallRecord>,
    backoff_state: f64,
    rng: Option<fastrand::Rng>,
    ticket: Option<Ticket>,
}

impl<S, B: ReplayBody> CallState<S, B> {
    pub(crate) fn new(
        service: S,
        replay: Option<Replay<B>>,
        idempotent: bool,
        shared: Arc<Shared>,
        budget: Option<Arc<Budget>>,
        deadline: Option<Deadline>,
        record: Option<CallRecord>,
    ) -> Self {
        CallState {
            service,
            replay,
            idempotent,
            attempt: 1,
            shared,
            budget,
            deadline,
            record,
            backoff_state: 0.0,
            rng: None,
            ticket: None,
        }
    }

    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Starts the attempt [`decide`](Self::decide) scheduled with
    /// `request`: spends the budget's ticket, counts and notes it.
    pub(crate) fn start_next(&mut self, request: Request<B>) -> Request<B> {
        if let Some(ticket) = self.ticket.take() {
            ticket.spend();
        }
        self.attempt += 1;
        if let Some(record) = &self.record {
            // The attempt starts after its wait: a new reading for the
            // layers below and for the entries of this attempt.
            record.mark_now();
        }
        self.note(RetryDecision::Attempt {
            number: self.attempt,
        });
        request
    }

    /// Decides what follows the outcome of the current attempt.
    pub(crate) fn decide<R>(&mut self, result: &Result<Response<R>, BoxError>) -> Decision<B> {
        let outcome = match result {
            Ok(response) => Outcome::response(response),
            Err(error) => Outcome::error(&**error),
        };
        let policy = &self.shared.policy;
        let reason = match policy.classifier.classify(outcome) {
            Class::Success => return Decision::Done,
            Class::Failure(reason) => return self.stop(reason, NoRetry::NotRetryable),
            Class::Retryable(reason) => reason,
        };
        if let Some(record) = &self.record {
            // A failed outcome is noted below: stamped when it was seen.
            record.mark_now();
        }
        // A request that never reached the server is safe to send again
        // whatever its method.
        let unsent = reason == Reason::Transport(TransportError::Connect);
        if !self.idempotent && !unsent {
            return self.stop(reason, NoRetry::NotIdempotent);
        }
        let Some(replay) = &self.replay else {
            return self.stop(reason, NoRetry::BodyNotReplayable);
        };
        if self.attempt >= policy.max_attempts {
            return self.stop(reason, NoRetry::AttemptsExhausted);
        }

        let hint = match result {
            Ok(response) => ServerHints::from_headers(response.headers()).delay(),
            Err(_) => None,
        };
        let rng = self.rng.get_or_insert_with(|| self.shared.rng());
        let (delay, source) = match hint {
            Some((wait, _)) if wait > policy.max_hint => {
                return self.stop(reason, NoRetry::HintTooLong(wait));
            }
            Some((wait, source)) => {
                // Up to a tenth more (at most 1 s), so that the clients told
                // the same instant do not all return at it.
                let spread = (wait / 10).min(Duration::from_secs(1));
                (
                    wait.saturating_add(spread.mul_f64(rng.f64())),
                    DelaySource::Hint(source),
                )
            }
            None => {
                let ctx = DelayContext {
                    attempt: self.attempt,
                    reason,
                    outcome,
                };
                (
                    policy.backoff.delay(ctx, &mut self.backoff_state, rng),
                    DelaySource::Backoff,
                )
            }
        };

        if let Some(deadline) = self.deadline
            && let Err(exceeded) = deadline.check_wait(delay)
        {
            self.stop(reason, NoRetry::Deadline);
            return Decision::Deadline(exceeded);
        }
        // A user's body may replay fewer times than it said it could; then
        // the retries end here, with this outcome, before the budget pays.
        let Some(next) = replay.request() else {
            return self.stop(reason, NoRetry::BodyNotReplayable);
        };
        if let Some(budget) = &self.budget {
            match budget.withdraw() {
                Some(ticket) => self.ticket = Some(ticket),
                None => return self.stop(reason, NoRetry::BudgetExhausted),
            }
        }

        tracing::debug!(
            target: "girder::retry",
            attempt = self.attempt,
            delay_ms = delay.as_millis() as u64,
            %reason,
            %source,
            "retry scheduled"
        );
        self.note(RetryDecision::Scheduled {
            failed: self.attempt,
            reason,
            delay,
            source,
        });
        self.shared
            .policy
            .on_retry
            .on_event(&RetryEvent::Scheduled {
                failed: self.attempt,
                reason,
                delay,
                source,
            });
        Decision::Retry(delay, next)
    }

    fn stop(&self, reason: Reason, why: NoRetry) -> Decision<B> {
        tracing::debug!(target: "girder::retry", attempt = self.attempt, %reason, %why, "not retried");
        self.note(RetryDecision::NotRetried {
            reason: Some(reason),
            why,
        });
        self.shared.policy.on_retry.on_event(&RetryEvent::GaveUp {
            attempt: self.attempt,
            reason,
            why,
        });
        Decision::Done
    }

    fn note(&self, event: RetryDecision) {
        if let Some(record) = &self.record {
            record.push("retry", event);
        }
    }
}
