//! The vocabulary shared by the girder layers.
//!
//! girder is a set of `tower` layers for resilient HTTP API clients. Each
//! layer crate depends on this one and on no other layer crate; what two or
//! more layers must agree on lives here:
//!
//! | module | what |
//! | --- | --- |
//! | [`auth`] | [`AuthError`], the error of calls that could not get credentials |
//! | [`body`] | [`Body`] (buffered or streamed) and [`ReplayBody`] for bodies that can be sent again |
//! | [`clock`] | [`WallClock`]: the time of day, following tokio's (pausable) clock |
//! | [`classify`] | success / retryable failure / failure, shared by retry and the breaker |
//! | [`hints`] | `Retry-After`, `RateLimit`, `X-RateLimit-*` parsed into [`ServerHints`] |
//! | [`idempotency`] | whether a request is safe to resend |
//! | [`deadline`] | the end-to-end [`Deadline`] every waiting layer obeys |
//! | [`partition`] | keys for per-host or per-route state |
//! | [`error`] | the [`ErrorKind`] taxonomy |
//! | [`record`] | the per-call [`CallRecord`] of decisions |
//! | [`origin`] | [`Origin`](origin::Origin)s and the [`CredentialScope`](origin::CredentialScope) auth and signing obey |
//! | [`refusal`] | [`CircuitOpen`] and [`RateLimited`], the errors of calls refused before sending |
//! | [`secrets`] | [`SecretValues`](secrets::SecretValues): credential values in use, masked in logs wherever they occur |
//! | [`signing`] | [`SigningError`], the failure of the signing layer |
//!
//! # Features
//!
//! - `hyper` (off): [`TransportError::find`](classify::TransportError::find)
//!   and [`ErrorKind::of`] also recognise hyper-util's and hyper's client
//!   errors (connect failures, incomplete messages, canceled requests,
//!   hyper's timeouts, parse errors). Without it girder-core depends on
//!   neither, and recognises the I/O errors and timeouts beneath them. The
//!   layer crates that classify errors (retry, breaker, cache, trace) turn
//!   it on by default; the `girder` facade always does.
//!
//! ```
//! use std::time::Duration;
//! use girder_core::{Body, CallRecord, Deadline, Idempotency, ServerHints};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut req = http::Request::put("https://api.test/items/1").body(Body::from("{}")).unwrap();
//! Deadline::after(Duration::from_secs(5)).apply(&mut req);
//! let record = CallRecord::ensure(&mut req);
//! assert!(Idempotency::of(&req).is_idempotent());
//!
//! let res = http::Response::builder().status(429).header("retry-after", "2").body(()).unwrap();
//! let hints = ServerHints::from_headers(res.headers());
//! assert_eq!(hints.retry_after(), Some(Duration::from_secs(2)));
//! assert!(Deadline::of(&req).unwrap().check_wait(Duration::from_secs(2)).is_ok());
//! assert!(record.entries().is_empty());
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's example runs as a doctest, so that it follows the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod auth;
pub mod body;
pub mod classify;
pub mod clock;
pub mod deadline;
pub mod error;
pub mod hints;
pub mod idempotency;
pub mod origin;
pub mod partition;
pub mod record;
pub mod refusal;
pub mod secrets;
pub mod signing;

/// Not part of the API: girder-core's structured-field parser (RFC 9651),
/// reachable only for its conformance test (`tests/structured_fields.rs`)
/// and girder-test's fuzz target. It may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::hints::sf::*;
}

pub use auth::{AuthError, AuthErrorKind};
pub use body::{Body, ReplayBody, replay_request};
pub use classify::{Class, Classify, DefaultClassifier, Outcome, Reason, TlsError};
pub use clock::WallClock;
pub use deadline::{Deadline, DeadlineExceeded};
pub use error::ErrorKind;
pub use hints::ServerHints;
pub use idempotency::{IDEMPOTENCY_KEY, Idempotency};
pub use partition::{Partition, PartitionKey};
pub use record::{CallRecord, CallRecordLayer, Event};
pub use refusal::{CircuitOpen, RateLimitCause, RateLimited};
pub use signing::{SigningError, SigningErrorKind};

/// The boxed error type of girder services, as in tower.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
