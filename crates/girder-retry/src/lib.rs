//! Safe HTTP retries for tower: [`RetryLayer`].
//!
//! A failed attempt is sent again when all of these hold, and the call
//! record says which one did not when one does not:
//!
//! 1. the outcome is [`Class::Retryable`](girder_core::Class) for the
//!    policy's classifier (by default connect errors, resets, incomplete
//!    messages, timeouts, and 408, 429, 502, 503, 504);
//! 2. the request is idempotent ([`girder_core::Idempotency`]: the method,
//!    an `Idempotency-Key` header or an explicit extension), or the attempt
//!    failed to connect, so nothing reached the server;
//! 3. its body can be replayed ([`girder_core::ReplayBody`]): a streamed
//!    body is sent once, never resent empty or partial, and a body whose
//!    `try_replay` stops giving copies ends the retries with the last
//!    outcome (the copy for a retry is made when the retry is decided);
//! 4. attempts are left (3 in all by default);
//! 5. a server-requested wait (`Retry-After`, or the reset of an exhausted
//!    `RateLimit`/`X-RateLimit` quota) is within the cap (60 s by default);
//!    a longer one returns the response as it is;
//! 6. the wait ends before the call's [`Deadline`](girder_core::Deadline);
//!    if it would not, the last response is returned, or, when there is
//!    none, a [`DeadlineExceeded`](girder_core::DeadlineExceeded) error
//!    whose source is the last failure;
//! 7. the retry budget (20 % of requests plus 10 retries per second, over
//!    10 s, shared by every clone of the layer) has a retry to spend.
//!
//! The wait is the server's hint plus up to a tenth of jitter (at most
//! 1 s), or else the [`Backoff`] (decorrelated jitter by default). The
//! final response or error is returned, never swallowed; the response
//! carries [`Attempts`] in its extensions.
//!
//! ```
//! use std::time::Duration;
//! use girder_core::{Body, CallRecord, CallRecordLayer};
//! use girder_retry::{Attempts, Backoff, RetryLayer, RetryPolicy};
//! use girder_test::{MockService, Reply};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let api = MockService::new([Reply::status(503).header("retry-after", "1"), Reply::ok()]);
//! let policy = RetryPolicy::builder()
//!     .max_attempts(4)
//!     .backoff(Backoff::decorrelated_jitter(Duration::from_millis(100), Duration::from_secs(5))?)
//!     .build()?;
//! let client = ServiceBuilder::new()
//!     .layer(CallRecordLayer::new())
//!     .layer(RetryLayer::new(policy))
//!     .service(api.clone());
//!
//! let response = client.oneshot(http::Request::get("https://api.test/items").body(Body::empty())?).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(2)));
//! let record = response.extensions().get::<CallRecord>().unwrap();
//! assert!(record.to_string().contains("attempt 1 failed (status 503 Service Unavailable); next in 1"));
//! assert!(record.to_string().contains("ms (Retry-After)"), "{record}");
//! assert_eq!(api.request_count(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Differences from `tower::retry`
//!
//! - tower's `Retry` takes a `Policy` you write; girder-retry is that policy
//!   for HTTP, with the safety rules above built in.
//! - tower's `Policy::clone_request` returning `None` silently skips the
//!   retry; here a non-replayable body is a documented outcome, noted in the
//!   call record and a `tracing` event.
//! - tower's `TpsBudget` truncates fractional percentages (tower issue
//!   857); this budget counts in millionths of a retry, so 0.25 means 25 %.
//! - Server hints and the call's deadline are honoured; tower knows neither.
//! - Readiness is driven again before every resend, as tower does.
//!
//! # Differences from reqwest-retry
//!
//! reqwest-retry retries POST on a 5xx, ignores `Retry-After` and has no
//! budget. girder-retry does not resend a non-idempotent request unless it
//! carries an `Idempotency-Key` (which [`RetryPolicyBuilder::idempotency_keys`]
//! can add, the same key on every attempt) or never reached the server.
//!
//! # Events
//!
//! Under the target `girder::retry`, at debug level: `retry scheduled`
//! (attempt, delay, reason, what set the delay) and `not retried` (attempt,
//! reason, why). The same decisions go into the [`CallRecord`](girder_core::CallRecord)
//! as [`RetryDecision`]s.

#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's example runs as a doctest, so that it follows the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod attempts;
mod backoff;
mod budget;
mod decision;
pub mod error;
pub mod future;
mod hook;
mod layer;
mod policy;
mod service;

pub use attempts::Attempts;
pub use backoff::{Backoff, DelayContext};
pub use budget::RetryBudget;
pub use decision::{DelaySource, NoRetry, RetryDecision};
pub use error::InvalidRetryPolicy;
pub use hook::{OnRetry, RetryEvent};
pub use layer::RetryLayer;
pub use policy::{RetryPolicy, RetryPolicyBuilder};
pub use service::Retry;
