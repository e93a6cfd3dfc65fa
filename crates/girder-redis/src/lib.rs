//! Fleet-wide state for girder, on Redis: one API quota
//! ([`RedisRateLimitBackend`]), one cache ([`RedisCacheStore`]) and one
//! view of each circuit ([`RedisCircuitStore`]) shared by every process.
//!
//! Ten replicas that each keep a local quota of 100/s send 1,000/s to an
//! API that allows 100/s. Give their rate limiters one
//! [`RedisRateLimitBackend`] on the same Redis and the API sees 100/s,
//! however many replicas there are, and a `Retry-After` one of them hears
//! pauses them all.
//!
//! A breaker given one [`RedisCircuitStore`] shares its circuits the same
//! way: when one replica sees the API fail, the others stop calling it too
//! ([Shared circuits](#shared-circuits)).
//!
//! A cache layer given one [`RedisCacheStore`] shares its answers: what
//! one replica fetched the others serve, and when they all miss one key
//! at once, one of them asks the API ([Shared cache](#shared-cache)).
//!
//! ```
//! use girder_redis::{RedisConfig, RedisRateLimitBackend};
//! use girder_ratelimit::{Mode, Quota, RateLimitLayer, RateLimitPolicy};
//! use girder_test::{MockService, RedisServer, Reply};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let Some(redis) = RedisServer::start_or_skip("girder-redis crate docs") else { return Ok(()) };
//! # let redis_url = redis.url();
//! let api = MockService::new(Reply::ok());
//! // Two replicas of one fleet (here two backends, each with its own connection).
//! let replica = || -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
//!     let config = RedisConfig::builder(redis_url.as_str()) // redis://127.0.0.1:6379/0
//!         .prefix("example")
//!         .fleet_size(2) // each keeps half the quota while Redis is away
//!         .build()?;
//!     let policy = RateLimitPolicy::builder()
//!         .quota(Quota::per_minute(3))
//!         .mode(Mode::Reject)
//!         .backend(RedisRateLimitBackend::new(config))
//!         .build()?;
//!     Ok(ServiceBuilder::new()
//!         .layer(RateLimitLayer::new(policy))
//!         .service(api.clone()))
//! };
//! let (a, b) = (replica()?, replica()?);
//! let mut sent = 0;
//! for client in [&a, &b, &a, &b] {
//!     let request = http::Request::get("https://api.test/items").body(girder_core::Body::empty())?;
//!     if client.clone().oneshot(request).await.is_ok() {
//!         sent += 1;
//!     }
//! }
//! // Three per minute for the fleet, not for each replica.
//! assert_eq!(sent, 3);
//! assert_eq!(api.requests().len(), 3);
//! # Ok(())
//! # }
//! ```
//!
//! # How the quota is shared
//!
//! Each call is one round trip: one Lua script, loaded once and called by
//! `EVALSHA`, that runs GCRA over every quota that applies to the call
//! (the partition's, the global ones, and those the server announced),
//! granting only if all of them have a permit and then taking one from
//! each, or else answering how long until the quota that refused has one.
//! Time is Redis's (`TIME`, in microseconds), so the clocks of the
//! processes do not matter. Each quota is one key holding one number, and
//! expires once the quota is full again; see [`keys`](#keys).
//!
//! - **Server feedback**: a pause (`Retry-After` on a 429 or 503, or a
//!   `RateLimit` quota with nothing remaining) is stored with an expiry and
//!   checked by the same script, so every process holds back. A quota the
//!   server announced that is stricter than the configured ones is adopted
//!   for the partition, for the whole fleet, with the remaining count the
//!   server reported. Both are sent without waiting.
//! - **Release**: a call granted a permit but dropped before it was sent
//!   gives the permit back (the quota's state moves one interval back, never
//!   before now), without waiting.
//!
//! # When Redis is slow or away
//!
//! A call waits for Redis at most the [budget](RedisConfigBuilder::budget)
//! (20 ms by default), connecting included. Past it, or on an error, the
//! call falls back to this process's share of each quota, kept in a
//! [`GovernorBackend`](girder_ratelimit::GovernorBackend): `1/n` of the
//! fleet's quota for a [fleet of n](RedisConfigBuilder::fleet_size), or a
//! [fraction](RedisConfigBuilder::fallback_share), so that an outage never
//! multiplies the load on the API. While Redis is away one call at a time
//! asks it again (a probe) and the others fall back at once, so a hung
//! Redis costs one call the budget, not every call; the first answer puts
//! every call back on the shared quota. The
//! connection is re-made by itself when it fails or closes, and also when
//! it stays open but silent for the [I/O timeout](RedisConfigBuilder::io_timeout)
//! (a frozen server, a black-holed network). With
//! [`fail_closed`](RedisConfigBuilder::fail_closed) calls are refused with
//! [`RedisUnavailable`] instead.
//!
//! A value under one of this crate's keys that it did not write (another
//! type, not a number, a state no grant could leave) counts as absent and
//! is overwritten; it is never an error.
//!
//! What an outage costs, and what it does not:
//!
//! - A Redis that restarts without persistence has forgotten the spent
//!   permits and the pauses: the fleet may send one more burst. Turn
//!   persistence on if that matters.
//! - While Redis is away for every process, the fleet sends at most its
//!   quota (each process its share); while only some processes cannot
//!   reach it, at most the quota plus their shares. A round trip cut short
//!   by the budget after Redis took its permit loses that permit, which
//!   errs on the quota's side.
//! - The fallback is logged (see [Events](#events)); the call's
//!   [`CallRecord`](girder_core::CallRecord) does not show it, as the
//!   backend trait is not handed the request.
//!
//! # Shared circuits
//!
//! [`RedisCircuitStore`] is girder-breaker's
//! [`CircuitStore`](girder_breaker::CircuitStore) on Redis. Give it to
//! [`BreakerPolicyBuilder::store`](girder_breaker::BreakerPolicyBuilder::store)
//! and a circuit that opens in one process is open in every process on
//! the same Redis and prefix for its open period, and once that is over
//! at most `half_open_probes` probes are in flight across the fleet. Each
//! process keeps its own windows and counts; only these decisions are
//! shared.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use girder_breaker::{BreakerPolicy, CircuitBreaker, CircuitOpen, OpenDuration};
//! use girder_redis::{RedisCircuitStore, RedisConfig};
//! use girder_test::{MockService, RedisServer, Reply};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let Some(redis) = RedisServer::start_or_skip("girder-redis shared circuits") else { return Ok(()) };
//! # let redis_url = redis.url();
//! // Two replicas, each with its own store (its own connection).
//! let replica = |api: MockService| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
//!     let config = RedisConfig::builder(redis_url.as_str()).fleet_size(2).build()?;
//!     let policy = BreakerPolicy::builder()
//!         .consecutive_failures(2)
//!         .open_duration(OpenDuration::fixed(Duration::from_secs(30)))
//!         .store(Arc::new(RedisCircuitStore::new(config)))
//!         .build()?;
//!     Ok(CircuitBreaker::new(api, policy))
//! };
//! let (api_a, api_b) = (MockService::new(Reply::status(500)), MockService::new(Reply::ok()));
//! let (a, b) = (replica(api_a)?, replica(api_b.clone())?);
//! let get = || http::Request::get("https://api.test/items").body(girder_core::Body::empty());
//!
//! // A sees the API fail twice: its circuit opens, for the whole fleet.
//! for _ in 0..2 {
//!     a.clone().oneshot(get()?).await?;
//! }
//! # // A's opening is sent without waiting: let it reach Redis.
//! # let store = RedisCircuitStore::new(RedisConfig::builder(redis_url.as_str()).fleet_size(2).build()?);
//! # let key = girder_core::PartitionKey::authority("api.test".parse()?);
//! # for _ in 0..400 {
//! #     use girder_breaker::store::{CircuitStore, FleetState, ProbeToken};
//! #     let girder_breaker::store::Admit::Pending(answer) = store.admit(&key, ProbeToken::new(1), 1) else { break };
//! #     if matches!(answer.await, Ok(FleetState::Open { .. })) { break }
//! #     tokio::time::sleep(Duration::from_millis(5)).await;
//! # }
//! // B's next call is refused without reaching B's API.
//! let refused = b.clone().oneshot(get()?).await.unwrap_err();
//! assert!(refused.downcast_ref::<CircuitOpen>().is_some());
//! assert_eq!(api_b.request_count(), 0);
//! # Ok(())
//! # }
//! ```
//!
//! - **Opening**: the process whose circuit opens sets
//!   `{prefix}:b:{partition}` with `PX` = the open period (a later end
//!   already there is kept). Nothing crosses the wire as an instant: the
//!   marker's `PTTL` is the time left, on Redis's clock.
//! - **Admission** is one round trip, one script called by `EVALSHA`: an
//!   open circuit answers the time left (the call is refused with it as
//!   its retry-after, and the process keeps its own circuit open that
//!   long); a half-open one gives the call's token a probe slot if fewer
//!   than `half_open_probes` are held; otherwise the process's own circuit
//!   decides. A process whose own circuit is open does not ask.
//! - **Probe slots** are fields of `{prefix}:bp:{partition}`, the token
//!   and the end of its lease. A probe that ends, or whose call is dropped,
//!   deletes its own field (it can never free another's); a process that
//!   dies holding one loses it when the
//!   [lease](RedisCircuitStore::probe_lease) ends (30 s by default). A new
//!   open period frees every slot. The record outlives the open period by
//!   as long again, at least a minute.
//! - **Closing** (a probe succeeded, or
//!   [`reset`](girder_breaker::BreakerHandle::reset)) deletes both keys.
//! - Opening, closing and releasing are not waited for: they are queued
//!   (at most 1,024) and sent in order, one at a time, by a task of their
//!   own, each bounded by the [I/O timeout](RedisConfigBuilder::io_timeout).
//!
//! When Redis is slow or away, an admission waits at most the
//! [budget](RedisConfigBuilder::budget) (and the breaker's own
//! [`store_budget`](girder_breaker::BreakerPolicyBuilder::store_budget)
//! and the call's deadline), then the process's own circuit decides: a
//! slow store never refuses a call, and
//! [`fail_closed`](RedisConfigBuilder::fail_closed) does not apply. While
//! it is away one call at a time asks it and the others are decided
//! locally at once. The breaker notes the fallback in the call record
//! and traces it under `girder::breaker`. A value under these keys that
//! the store did not write (another type or text, no expiry, a lease that
//! is not a number) counts as absent, is deleted, and is written over.
//!
//! What it does not promise: a process learns of an opening at most one
//! round trip late, and one cut off from Redis neither learns nor tells;
//! a Redis restarted without persistence has forgotten the open circuits
//! (each process's own stay open); a message held up by a frozen Redis
//! may still be applied when it thaws; a probe that runs longer than its
//! lease may be joined by one more.
//!
//! # Shared cache
//!
//! [`RedisCacheStore`] is girder-cache's
//! [`CacheStore`](girder_cache::CacheStore) on Redis. Give it to
//! [`CacheLayer::with_store`](girder_cache::CacheLayer::with_store) in each
//! process, with the same
//! [`identity_secret`](girder_cache::CacheConfigBuilder::identity_secret)
//! (or authenticated calls never share an entry), and a response one
//! process stored is a hit in every process on the same Redis and prefix.
//!
//! ```
//! use girder_cache::{CacheConfig, CacheLayer, CacheStatus};
//! use girder_redis::{RedisCacheStore, RedisConfig};
//! use girder_test::{MockService, RedisServer, Reply};
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let Some(redis) = RedisServer::start_or_skip("girder-redis shared cache") else { return Ok(()) };
//! # let redis_url = redis.url();
//! let api = MockService::new(Reply::ok().header("cache-control", "max-age=60").body("[1,2,3]"));
//! // Two replicas, each with its own store (its own connection).
//! let replica = || -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
//!     let store = RedisCacheStore::new(RedisConfig::builder(redis_url.as_str()).fleet_size(2).build()?);
//!     let config = CacheConfig::builder()
//!         .identity_secret([7; 32]) // the same in every replica, from your secrets
//!         .build()?;
//!     Ok(CacheLayer::with_store(config, store).layer(api.clone()))
//! };
//! let (a, b) = (replica()?, replica()?);
//! let get = || http::Request::get("https://api.test/items").body(girder_core::Body::empty());
//!
//! let first = a.oneshot(get()?).await?;
//! let second = b.oneshot(get()?).await?;
//! assert_eq!(first.extensions().get(), Some(&CacheStatus::Miss));
//! assert_eq!(second.extensions().get(), Some(&CacheStatus::Hit));
//! assert_eq!(api.request_count(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! - **Entries** are girder-cache's [encoding](girder_cache::encoding)
//!   under `{prefix}:c:{storage key}` ([`CacheKey::to_storage_key`](girder_cache::CacheKey::to_storage_key):
//!   64 hex digits of a hash of the method, the URI and the keyed hash of
//!   the credentials, so no URI and no secret in clear), set with `PX` =
//!   the entry's [`retain_for`](girder_cache::CacheEntry::retain_for).
//!   One key holds every `Vary` variant of a URI, and each credential
//!   identity has keys of its own. A hit is one `GET`.
//! - **Size**: an entry whose encoding is over
//!   [`max_cache_entry_bytes`](RedisConfigBuilder::max_cache_entry_bytes)
//!   (1 MiB by default) is not stored (a debug event says so).
//! - **Fill coalescing**: the process leading a miss (or a revalidation)
//!   claims it for the fleet with `SET {prefix}:f:{storage key} <token> NX
//!   PX <hold>`. The others find it claimed and re-read the entry (after
//!   10 ms, doubling to 100 ms) until it appears, which they serve as
//!   [`Coalesced`](girder_cache::CacheStatus::Coalesced), or until they
//!   can claim the fill themselves: the holder releases it as soon as its
//!   fill ends, stored, failed or dropped (a script deletes the claim only
//!   if it still holds the holder's token). The hold is the cache's
//!   `max_coalesce_wait` or the time left to the call's deadline, at most
//!   [`max_fill_hold`](RedisConfigBuilder::max_fill_hold) (5 s by
//!   default), so a process that dies while fetching holds the others up
//!   no longer. A waiter's call deadline and `max_coalesce_wait` bound its
//!   wait as they bound a wait within one process. Calls that would not
//!   serve a stored answer (reload, `no-cache`, request directives) neither
//!   claim nor wait.
//! - **Faults**: every round trip waits at most the
//!   [budget](RedisConfigBuilder::budget). A read that Redis does not
//!   answer is a miss, a write that it does not answer is dropped, a claim
//!   that it does not answer counts as granted (the process fetches):
//!   never an error to the caller. While Redis is away only a read asks
//!   it, one call at a time, and the others miss at once; claims and
//!   writes are not sent until a read is answered, so a hung Redis costs a
//!   call one budget at most. Under an entry's key, bytes that
//!   do not decode (corrupt, foreign, from a newer girder) and values of
//!   another type are misses, and the next fill writes over them; a value
//!   without expiry under a claim key is deleted by the next claim.
//!   [`fail_closed`](RedisConfigBuilder::fail_closed) does not apply.
//!
//! What it does not promise: a claim whose round trip was cut short by the
//! budget after Redis granted it is not released, and holds the others up
//! until it expires unless the entry appears first; a fetch that outlasts
//! its hold lets one more process fetch; stale-while-revalidate refreshes
//! are made by each process (they are in the background); a Redis
//! restarted without persistence starts empty.
//!
//! # Keys
//!
//! | key | holds |
//! | --- | --- |
//! | `{prefix}:q:{partition}:{interval µs}/{burst}` | a partition quota's state |
//! | `{prefix}:g:{interval µs}/{burst}` | a global quota's state |
//! | `{prefix}:p:{partition}` | the partition's server pause |
//! | `{prefix}:a:{partition}` and `…:{interval µs}/{burst}` | quotas the server announced |
//! | `{prefix}:b:{partition}` | an open circuit: `open`, expiring with its open period |
//! | `{prefix}:bp:{partition}` | a circuit's probe slots (a hash: `t:<token>` → lease end, ms) |
//! | `{prefix}:c:{storage key}` | a cache entry (girder-cache's encoding), expiring after its `retain_for` |
//! | `{prefix}:f:{storage key}` | a cache fill claim: a token, expiring after the hold |
//!
//! `{partition}` is the partition key's text, as the layer logs it
//! (`api.test:8443`, `api.test GET /users/{id}`, a custom key), except that
//! an authority is stored lowercased and without userinfo, and any other
//! text holding `@`, a control character or more than 200 bytes is stored
//! as `#` and 32 hex digits of its SHA-256. A custom
//! [`Partition`](girder_core::Partition) must not put a secret into its
//! keys, and one whose text equals an authority's shares its state.
//! The scripts use keys they derive, so a Redis Cluster is not supported:
//! use one primary (with replicas or Sentinel as you like).
//!
//! # Events
//!
//! Under the target `girder::redis`: `redis is unavailable: calls use this
//! process's share of each quota` (or `calls are refused (fail_closed)`;
//! warn, once when calls start falling back, with the reason) and `redis is back: calls share the fleet's
//! quota again` (info, once when they stop); a release or observation that
//! did not reach Redis at debug level. No message holds the URL's password.
//! The circuit store traces nothing above debug (a publish or release
//! that did not reach Redis): the breaker traces its fallback under
//! `girder::breaker`, once each time the store stops or starts answering.
//! The cache store: `redis is unavailable: cache reads are misses and
//! nothing is stored` (warn, once when it stops answering) and `redis is
//! back: the cache is shared again` (info, once when it answers again);
//! entries not stored, garbage read, claims not released at debug level.

#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's example runs as a doctest, so that it follows the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod backend;
mod cache;
mod circuit;
mod config;
pub mod error;
mod keys;
mod link;
mod script;

pub use backend::RedisRateLimitBackend;
pub use cache::RedisCacheStore;
pub use circuit::RedisCircuitStore;
pub use config::{RedisConfig, RedisConfigBuilder};
pub use error::{InvalidRedisConfig, RedisUnavailable};
