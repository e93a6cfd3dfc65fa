//! [`RedisCircuitStore`]: the fleet's circuits in Redis, for the breaker's
//! [`CircuitStore`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use girder_breaker::store::{Admit, CircuitStore, FleetState, ProbeToken};
use girder_core::{BoxError, PartitionKey};
use tokio::time::Instant;

use crate::config::RedisConfig;
use crate::error::RedisUnavailable;
use crate::keys;
use crate::link::{Availability, Link};

mod sender;

use self::sender::{NotQueued, Op, Sender};

/// How long a probe slot is leased by default.
const DEFAULT_LEASE: Duration = Duration::from_secs(30);
const MIN_LEASE: Duration = Duration::from_millis(10);
/// NOTE: `MAX_LEASE_MS` in circuit.lua reads a lease ending further ahead
/// as foreign; the two change together.
const MAX_LEASE: Duration = Duration::from_secs(3600);
/// The longest open period stored (the breaker's own cap is far below).
const MAX_OPEN: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long the half-open record outlives its open period, at least (as
/// `LocalCircuitStore`): long enough for a quiet fleet to come back and
/// probe under the shared bound.
const MIN_LINGER: Duration = Duration::from_secs(60);

/// A [`CircuitStore`] in Redis: the circuits of every process that points
/// at the same Redis and key prefix are shared; see the
/// [crate docs](crate#shared-circuits).
///
/// Give it to [`BreakerPolicyBuilder::store`](girder_breaker::BreakerPolicyBuilder::store)
/// in an `Arc`. Each admission is one round trip (one script, by
/// `EVALSHA`) bounded by the config's [budget](crate::RedisConfigBuilder::budget);
/// publishing and releasing are queued and sent in order by a task of
/// their own, never waited for. The config's
/// [`fail_closed`](crate::RedisConfigBuilder::fail_closed) does not apply
/// here: without Redis, each process's own circuits decide.
///
/// # Clone
///
/// Clones share the connection, the queue of messages for Redis and
/// whether Redis is answering.
#[derive(Clone)]
pub struct RedisCircuitStore {
    inner: Arc<Inner>,
    lease: Duration,
}

struct Inner {
    shared: Arc<Shared>,
    sender: Sender,
}

/// What the admissions and the sending task share.
struct Shared {
    prefix: String,
    budget: Duration,
    io_timeout: Duration,
    link: Arc<Link>,
    script: redis::Script,
    /// Whether the last admission failed, and the one call asking meanwhile.
    redis: Arc<Availability>,
}

impl fmt::Debug for RedisCircuitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCircuitStore")
            .field("prefix", &self.inner.shared.prefix)
            .field("budget", &self.inner.shared.budget)
            .field("probe_lease", &self.lease)
            .field("shared", &self.is_shared())
            .finish_non_exhaustive()
    }
}

impl RedisCircuitStore {
    /// A store on `config`. Does not connect: the first call does.
    pub fn new(config: RedisConfig) -> Self {
        let shared = Shared {
            prefix: config.prefix.clone(),
            budget: config.budget,
            io_timeout: config.io_timeout,
            link: config.link.clone(),
            script: redis::Script::new(include_str!("circuit/circuit.lua")),
            redis: Arc::default(),
        };
        RedisCircuitStore {
            inner: Arc::new(Inner {
                shared: Arc::new(shared),
                sender: Sender::new(),
            }),
            lease: DEFAULT_LEASE,
        }
    }

    /// How long a probe slot stays taken if its holder never gives it back
    /// (its process died, or the release was lost): then another process
    /// may probe. A probe that runs longer than this may share the
    /// fleet's bound with one more: keep it above the per-attempt timeout
    /// under the breaker (the `girder` client's is 10 s by default).
    /// Clamped to 10 ms ..= 1 h. Set it on a new store: clones made before
    /// keep theirs.
    ///
    /// Default: 30 s.
    pub fn probe_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.clamp(MIN_LEASE, MAX_LEASE);
        self
    }

    /// Whether the last admission was answered by Redis (`true`), or
    /// failed and the breaker decided on its own circuit (`false`).
    pub fn is_shared(&self) -> bool {
        !self.inner.shared.redis.is_away()
    }

    fn send(&self, op: Op) -> Result<(), RedisUnavailable> {
        let what = op.name();
        self.inner
            .sender
            .send(&self.inner.shared, op)
            .map_err(|not| {
                RedisUnavailable::new(match not {
                    NotQueued::NoRuntime => format!("{what} not sent: no tokio runtime"),
                    NotQueued::Full => format!("{what} not sent: too many messages waiting"),
                })
            })
    }
}

impl Shared {
    fn marker(&self, partition: &str) -> String {
        format!("{}:b:{partition}", self.prefix)
    }

    fn record(&self, partition: &str) -> String {
        format!("{}:bp:{partition}", self.prefix)
    }

    async fn admit(
        &self,
        partition: &str,
        probe: ProbeToken,
        max_probes: u32,
        lease_ms: u64,
    ) -> Result<FleetState, BoxError> {
        let (marker, record) = (self.marker(partition), self.record(partition));
        let reply = self
            .link
            .bounded(self.budget, async {
                let mut conn = self.link.connection()?;
                let mut invocation = self.script.prepare_invoke();
                invocation
                    .key(marker)
                    .key(record)
                    .arg("admit")
                    .arg(probe.get())
                    .arg(max_probes)
                    .arg(lease_ms);
                let reply: Vec<i64> = invocation.invoke_async(&mut conn).await?;
                fleet_state(&reply).ok_or_else(|| {
                    redis::RedisError::from((
                        redis::ErrorKind::Parse,
                        "unexpected reply from the girder-redis circuit script",
                    ))
                })
            })
            .await;
        // Not logged here: the breaker logs each transition of its store.
        match &reply {
            Ok(_) => self.redis.answered(),
            Err(_) => self.redis.failed(),
        };
        Ok(reply?)
    }
}

/// An admission's round trip under way. The breaker drops it unanswered
/// when its own [store budget](girder_breaker::BreakerPolicyBuilder::store_budget)
/// runs out, which may be before this crate's: dropped after half of
/// this crate's budget or more, it counts as Redis not answering, as the
/// crate's own timeout would, so that a hung Redis costs one call at a
/// time the budget, whichever budget ran out. A call dropped sooner (its
/// caller gave up) says nothing about Redis.
struct InFlight<'a> {
    shared: &'a Shared,
    since: Instant,
    answered: bool,
}

impl<'a> InFlight<'a> {
    fn new(shared: &'a Shared) -> Self {
        InFlight {
            shared,
            since: Instant::now(),
            answered: false,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.answered && self.since.elapsed() >= self.shared.budget / 2 {
            self.shared.redis.failed();
        }
    }
}

impl CircuitStore for RedisCircuitStore {
    fn admit(&self, key: &PartitionKey, probe: ProbeToken, max_probes: u32) -> Admit {
        // While Redis is away, one call at a time asks it and the others
        // are answered at once: a hung Redis costs one call at a time the
        // budget, not every call.
        let turn = match self.inner.shared.redis.turn() {
            Ok(turn) => turn,
            Err(busy) => return Admit::Ready(Err(busy.into())),
        };
        let shared = self.inner.shared.clone();
        let partition = keys::partition(key);
        let lease_ms = millis_up(self.lease);
        Admit::Pending(Box::pin(async move {
            let _turn = turn;
            let mut in_flight = InFlight::new(&shared);
            let answer = shared.admit(&partition, probe, max_probes, lease_ms).await;
            in_flight.answered = true;
            answer
        }))
    }

    fn release_probe(&self, key: &PartitionKey, probe: ProbeToken) {
        let partition = keys::partition(key);
        let op = Op::Release {
            record: self.inner.shared.record(&partition),
            field: format!("t:{}", probe.get()),
        };
        // Lost, the slot is given back when its lease ends.
        if let Err(fault) = self.send(op) {
            tracing::debug!(target: "girder::redis", reason = fault.reason(), "probe slot not released");
        }
    }

    fn publish_open(&self, key: &PartitionKey, open_for: Duration) -> Result<(), BoxError> {
        let partition = keys::partition(key);
        let open_ms = millis_up(open_for.min(MAX_OPEN)).max(1);
        let linger_ms = open_ms.max(millis_up(MIN_LINGER));
        let shared = &self.inner.shared;
        self.send(Op::Open {
            marker: shared.marker(&partition),
            record: shared.record(&partition),
            open_ms,
            keep_ms: open_ms + linger_ms,
        })?;
        Ok(())
    }

    fn publish_closed(&self, key: &PartitionKey) -> Result<(), BoxError> {
        let partition = keys::partition(key);
        let shared = &self.inner.shared;
        self.send(Op::Closed {
            marker: shared.marker(&partition),
            record: shared.record(&partition),
        })?;
        Ok(())
    }
}

/// The script's answer to `admit`: `[0]`, `[1, ms left]` or `[2, 1|0]`.
fn fleet_state(reply: &[i64]) -> Option<FleetState> {
    match *reply {
        [0] => Some(FleetState::Closed),
        [1, left] if left > 0 => Some(FleetState::Open {
            remaining: Duration::from_millis(u64::try_from(left).ok()?),
        }),
        [2, held @ (0 | 1)] => Some(FleetState::HalfOpen { probe: held == 1 }),
        _ => None,
    }
}

/// Whole milliseconds, rounded up: Redis's expiries are in ms.
fn millis_up(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_decode_and_nonsense_is_none() {
        assert_eq!(fleet_state(&[0]), Some(FleetState::Closed));
        assert_eq!(
            fleet_state(&[1, 1500]),
            Some(FleetState::Open {
                remaining: Duration::from_millis(1500)
            })
        );
        assert_eq!(
            fleet_state(&[2, 1]),
            Some(FleetState::HalfOpen { probe: true })
        );
        assert_eq!(
            fleet_state(&[2, 0]),
            Some(FleetState::HalfOpen { probe: false })
        );
        for bad in [&[][..], &[3], &[1, 0], &[1, -5], &[2, 2], &[0, 1]] {
            assert_eq!(fleet_state(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn periods_round_up_to_whole_milliseconds() {
        assert_eq!(millis_up(Duration::from_micros(1)), 1);
        assert_eq!(millis_up(Duration::from_millis(30)), 30);
        assert_eq!(millis_up(Duration::MAX), u64::MAX);
    }

    #[test]
    fn the_lease_is_clamped_and_debug_shows_no_secret() {
        let config = RedisConfig::builder("redis://:hunter2@127.0.0.1:1/0")
            .fleet_size(2)
            .build()
            .expect("config");
        let store = RedisCircuitStore::new(config);
        assert_eq!(store.lease, DEFAULT_LEASE);
        assert_eq!(store.clone().probe_lease(Duration::ZERO).lease, MIN_LEASE);
        assert_eq!(store.clone().probe_lease(Duration::MAX).lease, MAX_LEASE);
        let debug = format!("{store:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(store.is_shared());
    }
}
