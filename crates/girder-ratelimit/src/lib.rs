//! Client-side rate limits for tower: [`RateLimitLayer`].
//!
//! An API's quota belongs to the API, so a client should pace itself
//! before the server says 429, and listen when the server does speak.
//! [`RateLimitLayer`] does both:
//!
//! - **Quotas** ([`Quota`]): so many calls per second, minute or hour,
//!   with a burst, enforced with `governor`'s GCRA; several at once
//!   (10 per second *and* 1,000 per hour), one set per partition (by
//!   default per authority, `host:port`), plus optional global quotas
//!   shared by all partitions.
//! - **Waiting or refusing** ([`Mode`]): by default a call waits in line
//!   for its permit. A wait that would be longer than the max wait (60 s
//!   by default) or end after the call's [`Deadline`](girder_core::Deadline)
//!   fails at once with [`RateLimited`], which says when to come back.
//!   [`Mode::Reject`] fails at once whenever no permit is free. A remote
//!   backend's round trip is bounded the same way: a store that does not
//!   answer by the max wait or the deadline refuses the call rather than
//!   let it through unmetered, which would spend the quota the store
//!   guards for every client sharing it.
//! - **Server feedback**, per partition: a 429 or 503 with `Retry-After`
//!   pauses the partition until then; a `RateLimit`/`X-RateLimit-*`
//!   quota with nothing remaining holds calls until its reset; a quota
//!   announced in `RateLimit-Policy` that is stricter than the configured
//!   ones is adopted, with the remaining count the server reports.
//!   Headers are parsed by girder-core's [`ServerHints`](girder_core::ServerHints):
//!   a malformed one is ignored, never an error.
//! - **An in-flight limit** (bulkhead), per partition:
//!   [`max_in_flight`](RateLimitPolicyBuilder::max_in_flight), waiting or
//!   refusing like quotas. A call is in flight until its response body
//!   ends or is dropped: responses come with an [`InFlightBody`] holding
//!   the slot, transparent otherwise.
//!
//! ```
//! use std::time::Duration;
//! use girder_core::{Body, CallRecord, CallRecordLayer};
//! use girder_ratelimit::{Quota, RateLimitLayer, RateLimitPolicy};
//! use girder_test::{MockService, Reply};
//! use tokio::time::Instant;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let api = MockService::new([
//!     Reply::ok(),
//!     Reply::ok(),
//!     Reply::status(429).header("retry-after", "2"),
//!     Reply::ok(),
//! ]);
//! let policy = RateLimitPolicy::builder()
//!     .quota(Quota::per_second(2).burst(1))
//!     .quota(Quota::per_hour(1_000))
//!     .build()?;
//! let client = ServiceBuilder::new()
//!     .layer(CallRecordLayer::new())
//!     .layer(RateLimitLayer::new(policy))
//!     .service(api.clone());
//! let get = || http::Request::get("https://api.test/items").body(Body::empty());
//!
//! let start = Instant::now();
//! client.clone().oneshot(get()?).await?;
//! // Two per second, one at a time: the second call waits 500 ms.
//! let response = client.clone().oneshot(get()?).await?;
//! let record = response.extensions().get::<CallRecord>().unwrap();
//! assert!(record.to_string().contains("ratelimit: waited 500ms for quota"), "{record}");
//! // The server asks for a 2 s pause; the next call to api.test waits for it.
//! assert_eq!(client.clone().oneshot(get()?).await?.status(), 429);
//! client.clone().oneshot(get()?).await?;
//! let sent: Vec<Duration> = api.requests().iter().map(|r| r.at - start).collect();
//! assert_eq!(sent, [0, 500, 1000, 3000].map(Duration::from_millis));
//! # Ok(())
//! # }
//! ```
//!
//! # Where it goes
//!
//! Under retry and the circuit breaker, above auth and signing (the
//! facade's canonical order): every attempt spends quota, and a retry
//! after a 429 finds the partition paused for exactly the server's
//! `Retry-After`.
//!
//! # Waiting, fairly
//!
//! Each partition has a line, first in, first out (a tokio semaphore of
//! one permit, which is fair). A call asks the backend directly only while
//! nobody waits; otherwise it joins the line. The head of the line sleeps
//! until the backend says a permit is due, takes it, and passes the line
//! on, so no waiter is overtaken and none starves. With global quotas the
//! head also takes the global line, and only while the global quota is
//! what it waits for, so that one partition's pause does not hold up the
//! others.
//!
//! Dropping a waiting call is always safe: it leaves the line (a waiter
//! holds a place, not a permit, so the quota is untouched); the head
//! passes the line on; a call waiting on a remote backend drops the
//! round trip; a call that was granted a permit but dropped
//! before it was sent (its service was not ready yet) gives the permit
//! back; a call in flight frees its in-flight slot, and so does a
//! response body, read to its end or dropped.
//!
//! # Time
//!
//! governor's clocks and its `until_ready` do not see a paused tokio
//! clock. Here governor runs on [`clock::TokioClock`], which reads
//! [`tokio::time::Instant`], and waits are tokio sleeps, so tests run with
//! `#[tokio::test(start_paused = true)]` and never sleep for real.
//!
//! # State and its bound
//!
//! Quota state lives in a [`RateLimitBackend`]: by default a
//! [`GovernorBackend`] made by the layer, or one given to
//! [`RateLimitPolicyBuilder::backend`] (a shared store for a fleet that
//! shares one quota). Both it and the layer's lines keep at most
//! [`max_partitions`](RateLimitPolicyBuilder::max_partitions) partitions
//! (10,000 by default): idle ones are evicted first, which loses nothing;
//! see [`GovernorBackend`] for the rest.
//!
//! # Events
//!
//! Under the target `girder::ratelimit`, at debug level: `waited for
//! quota` (partition, wait), `call refused` (partition, cause,
//! retry_after), `the server paused the partition` (partition, status,
//! pause), `adopted the quota the server announced` and `partitions
//! evicted`. Waits and refusals also go into the
//! [`CallRecord`](girder_core::CallRecord) as [`QuotaEvent`]s, and to the
//! [`OnLimit`] hook. Partition keys are
//! logged: a custom [`Partition`](girder_core::Partition) must not put a
//! secret into its keys.
//!
//! # Differences from `tower::limit::RateLimit`
//!
//! - tower's limiter is one fixed window for the whole service, and waits
//!   in `poll_ready`, so a caller cannot bound the wait; here each
//!   partition has GCRA quotas, the wait happens in the call's future,
//!   bounded by the max wait and the deadline, and dropping it is safe.
//! - tower's limiter does not hear the server; this one pauses on
//!   `Retry-After` and learns the server's quota.

#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's example runs as a doctest, so that it follows the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod backend;
mod body;
pub mod clock;
pub mod error;
mod event;
pub mod future;
mod hook;
mod lane;
mod layer;
mod policy;
mod quota;
mod service;
mod wait;

pub use backend::{GovernorBackend, RateLimitBackend};
pub use body::InFlightBody;
pub use error::{Cause, InvalidRateLimit, RateLimited};
pub use event::QuotaEvent;
pub use hook::{LimitEvent, OnLimit};
pub use layer::RateLimitLayer;
pub use policy::{Mode, RateLimitPolicy, RateLimitPolicyBuilder};
pub use quota::Quota;
pub use service::RateLimit;
