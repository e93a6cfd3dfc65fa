//! An HTTP-aware circuit breaker for tower: [`CircuitBreakerLayer`].
//!
//! Each partition of requests (by default each `host:port`; or each route,
//! tenant, anything [`Partition`](girder_core::Partition) can key on) has
//! its own circuit:
//!
//! - **closed**: calls pass; their outcomes fill a sliding [`Window`]
//!   (the last N calls, or the last N seconds in one-second buckets, O(1)
//!   per call either way). The circuit opens when, once the window holds
//!   `minimum_calls`, the failure rate or the slow-call rate reaches its
//!   threshold, or after `consecutive_failures` failures in a row;
//! - **open**: calls fail at once with [`CircuitOpen`], naming the
//!   partition and the time until the next probe; the inner service is
//!   never called. The open period is fixed or grows on each failed
//!   recovery ([`OpenDuration`]);
//! - **half-open**: a bounded number of probe calls pass, the rest are
//!   refused. That many successful probes close the circuit; one failed
//!   (or slow) probe opens it again. A probe whose future is dropped gives
//!   its slot back, so half-open never gets stuck.
//!
//! The breaker understands HTTP. A 429 or 503 carrying `Retry-After` opens
//! the circuit until then (capped, 5 min by default): the server said
//! "back off", which is not a failure to count but an instruction. Other
//! 4xx responses are successes (the server is up and answered). Refusals
//! by layers below ([`RateLimited`](girder_core::RateLimited), another
//! [`CircuitOpen`], [`DeadlineExceeded`](girder_core::DeadlineExceeded))
//! count as nothing: they never reached the upstream; nor do failures on
//! the client's own side ([`AuthError`](girder_core::AuthError): no token
//! could be had, or errors of kind `Signing`), which say nothing about the
//! API's health.
//!
//! ```
//! use std::time::Duration;
//! use girder_breaker::{BreakerPolicy, CircuitBreakerLayer, CircuitOpen, OpenDuration};
//! use girder_core::{BoxError, Body};
//! use girder_test::{MockService, Reply};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let api = MockService::new([Reply::status(500), Reply::status(500), Reply::ok()]);
//! let policy = BreakerPolicy::builder()
//!     .consecutive_failures(2)
//!     .open_duration(OpenDuration::fixed(Duration::from_secs(10)))
//!     .half_open_probes(1)
//!     .build()?;
//! let layer = CircuitBreakerLayer::new(policy);
//! let handle = layer.handle();
//! let client = ServiceBuilder::new().layer(layer).service(api.clone());
//! let get = || http::Request::get("https://api.test/items").body(Body::empty()).unwrap();
//!
//! for _ in 0..2 {
//!     let response = client.clone().oneshot(get()).await?;
//!     assert_eq!(response.status(), 500);
//! }
//! // Two failures in a row: open. The API is not called.
//! let refused = client.clone().oneshot(get()).await.unwrap_err();
//! let open = refused.downcast_ref::<CircuitOpen>().unwrap();
//! assert_eq!(open.partition().to_string(), "api.test");
//! assert_eq!(open.retry_after(), Some(Duration::from_secs(10)));
//! assert_eq!(api.request_count(), 2);
//!
//! // Ten seconds on, one probe passes, succeeds and closes the circuit.
//! tokio::time::advance(Duration::from_secs(10)).await;
//! assert_eq!(client.clone().oneshot(get()).await?.status(), 200);
//! assert_eq!(handle.metrics_for(&get()).unwrap().state.to_string(), "closed");
//! # Ok(())
//! # }
//! ```
//!
//! # Defaults, and why
//!
//! | setting | default | why |
//! | --- | --- | --- |
//! | window | last 30 s | an API client's traffic is bursty and often thin; a count window of N calls can hold outcomes from an hour ago, a time window only recent ones |
//! | minimum calls | 20 | a rate over fewer calls is noise; resilience4j's 100 would never judge a client sending a few calls a second |
//! | failure rate | 50 % | as resilience4j: an upstream failing half its calls is not serving |
//! | consecutive failures | 5 | catches a dead upstream at low traffic, where the window never reaches its minimum (the Python patterns' rule) |
//! | slow calls | off | what is slow depends on the API; a per-attempt timeout already turns a hung call into a failure |
//! | open duration | 30 s, doubling to 5 min, ±10 % | a first trip is often a deploy or a blip; an upstream that keeps failing its probes is probed less and less; the jitter keeps a fleet from probing in step |
//! | half-open probes | 3 | enough to tell luck from recovery without sending a crowd at a recovering server |
//! | `Retry-After` cap | 5 min | the server's pause is honoured, but a typo of a day does not take a host out for a day |
//! | partition | by authority, at most 1,024 circuits, idle after 10 min | one bad host must not open the circuit of another; the map stays bounded whatever the keys |
//!
//! # Modes
//!
//! A [`BreakerHandle`] (from [`CircuitBreakerLayer::handle`]) switches all
//! circuits between [`Mode::Automatic`], [`Mode::ForcedOpen`] (refuse
//! everything, as for maintenance), [`Mode::Disabled`] (pass everything,
//! untracked) and [`Mode::MetricsOnly`] (shadow: run the circuits and
//! report what they would do, refuse nothing), resets them, and reads each
//! circuit's [`Metrics`].
//!
//! # When the hook fires
//!
//! [`OnStateChange`] is called after every state change, outside the
//! breaker's locks, on the task of the call that caused it: the call whose
//! outcome tripped the circuit, the first call after the open period (open
//! to half-open), the probe that closed or reopened it, the call that
//! learned from the shared store that the fleet's circuit is open or
//! probing ([`Cause::Shared`]), or the [`BreakerHandle::reset`] caller. Every change is also traced under the
//! target `girder::breaker` (opening at `WARN`, the others at `INFO`).
//!
//! # Call record
//!
//! Every admission or refusal appends a [`BreakerEvent`] (`circuit <state>,
//! admitted|refused`) to the request's
//! [`CallRecord`](girder_core::CallRecord). A call the
//! shared store did not answer in time (or failed) first notes
//! `circuit store too slow; local circuit decided` (or `failed`).
//!
//! # Sharing circuits across processes
//!
//! Replicas of a service calling one API share its health: when one sees
//! it fail, the others should stop too. Give the policy a
//! [`CircuitStore`] ([`BreakerPolicyBuilder::store`]) and every breaker on
//! that store shares the open decisions of its circuits (see the
//! [`store`] module):
//!
//! - a circuit that opens in one process is open in all of them for its
//!   open period: another process's next call is refused without being
//!   sent, with the time left as its retry-after;
//! - once that period is over, at most `half_open_probes` probes are in
//!   flight across the fleet (a dropped probe gives its slot back), and
//!   the process whose probes succeed closes the circuit for everyone.
//!
//! Each process keeps its own windows and counts, and a process whose own
//! circuit is open refuses without asking the store. A call waits for the
//! store at most 20 ms ([`BreakerPolicyBuilder::store_budget`]) and never
//! past its [`Deadline`](girder_core::Deadline); past that, or when the
//! store fails, the process's own circuit decides: a slow store never
//! refuses a call. A shadow breaker ([`Mode::MetricsOnly`]) reads the
//! store but publishes nothing; [`Mode::ForcedOpen`] refuses in this
//! process only; [`BreakerHandle::reset`] closes the fleet's circuits too.
//!
//! [`LocalCircuitStore`] shares circuits between layers of one process
//! (as below); a store on Redis shares them between processes.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use girder_breaker::{BreakerPolicy, CircuitBreaker, CircuitOpen, LocalCircuitStore, OpenDuration};
//! use girder_core::{BoxError, Body};
//! use girder_test::{MockService, Reply};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let store = Arc::new(LocalCircuitStore::new());
//! let policy = BreakerPolicy::builder()
//!     .consecutive_failures(2)
//!     .open_duration(OpenDuration::fixed(Duration::from_secs(30)))
//!     .store(store)
//!     .build()?;
//! // Two replicas: A sees the API fail, B has not called it yet.
//! let (api_a, api_b) = (MockService::new(Reply::status(500)), MockService::new(Reply::ok()));
//! let replica_a = CircuitBreaker::new(api_a, policy.clone());
//! let replica_b = CircuitBreaker::new(api_b.clone(), policy);
//! let get = || http::Request::get("https://api.test/items").body(Body::empty()).unwrap();
//!
//! for _ in 0..2 {
//!     replica_a.clone().oneshot(get()).await?;
//! }
//! // A's circuit opened: B's next call is refused without being sent.
//! let refused = replica_b.clone().oneshot(get()).await.unwrap_err();
//! let open = refused.downcast_ref::<CircuitOpen>().unwrap();
//! assert_eq!(open.retry_after(), Some(Duration::from_secs(30)));
//! assert_eq!(api_b.request_count(), 0);
//! # Ok(())
//! # }
//! ```
//!
//! # Differences from tower-resilience and from resilience4j
//!
//! - One circuit per partition with bounded memory, where
//!   tower-resilience's breaker is one circuit per layer.
//! - HTTP outcomes are classified by girder-core's classifier shared with
//!   girder-retry, and `Retry-After` is obeyed rather than counted.
//! - Calls admitted before a state change do not count after it: a slow
//!   failure from before the circuit closed cannot reopen it.
//! - Half-open closes after the configured number of successful probes and
//!   reopens on the first failure, rather than judging a rate over the
//!   probes; a refused caller learns the time until the next probe.
//! - A probe that hangs holds its slot until its future ends: put a
//!   per-attempt timeout below the breaker (the facade does).
//! - Circuits can be shared by a fleet of processes, through a
//!   [`CircuitStore`], each process keeping its own windows.

#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's example runs as a doctest, so that it follows the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod circuit;
pub mod error;
mod event;
pub mod future;
mod handle;
mod hook;
mod layer;
mod policy;
mod service;
mod shared;
pub mod store;
mod window;

pub use error::{CircuitOpen, InvalidBreakerPolicy};
pub use event::{BreakerEvent, BreakerState};
pub use handle::{BreakerHandle, Metrics, Mode};
pub use hook::{Cause, OnStateChange, StateChange};
pub use layer::CircuitBreakerLayer;
pub use policy::{BreakerPolicy, BreakerPolicyBuilder, OpenDuration, Window};
pub use service::CircuitBreaker;
pub use store::{CircuitStore, LocalCircuitStore};
