//! Fleet-wide state for girder, on Redis: one API quota shared by every
//! process, [`RedisRateLimitBackend`].
//!
//! Ten replicas that each keep a local quota of 100/s send 1,000/s to an
//! API that allows 100/s. Give their rate limiters one
//! [`RedisRateLimitBackend`] on the same Redis and the API sees 100/s,
//! however many replicas there are, and a `Retry-After` one of them hears
//! pauses them all.
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
//! # Keys
//!
//! | key | holds |
//! | --- | --- |
//! | `{prefix}:q:{partition}:{interval µs}/{burst}` | a partition quota's state |
//! | `{prefix}:g:{interval µs}/{burst}` | a global quota's state |
//! | `{prefix}:p:{partition}` | the partition's server pause |
//! | `{prefix}:a:{partition}` and `…:{interval µs}/{burst}` | quotas the server announced |
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

mod backend;
mod circuit;
mod config;
pub mod error;
mod keys;
mod link;
mod script;

pub use backend::RedisRateLimitBackend;
pub use circuit::RedisCircuitStore;
pub use config::{RedisConfig, RedisConfigBuilder};
pub use error::{InvalidRedisConfig, RedisUnavailable};
