//! Runs the clients against the server, interleaved, and keeps what each
//! run measured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cpu_time::ProcessTime;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::BoxError;
use crate::clients::{Client, Kind};
use crate::server::{JSON, STATS, parse_stats};

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Requests per run (one client, one concurrency, one repetition).
    pub requests: usize,
    /// Repetitions: each repetition runs every client once, in an order
    /// rotated by one each time.
    pub reps: usize,
    /// The concurrency levels.
    pub concurrency: Vec<usize>,
    /// The clients, in table order; the first is the baseline of the
    /// ratios.
    pub clients: Vec<Kind>,
    /// Requests each client sends at each concurrency before the measured
    /// runs (connections opened, caches filled, code paths warm).
    pub warmup: usize,
}

/// One measured run.
#[derive(Debug, Clone)]
pub struct Run {
    /// The client.
    pub kind: Kind,
    /// How many calls were in flight at once.
    pub concurrency: usize,
    /// The repetition, from 0.
    pub rep: usize,
    /// Calls made.
    pub requests: usize,
    /// Wall-clock time of the run.
    pub wall: Duration,
    /// CPU time (user + system, every thread) of the client process
    /// during the run.
    pub cpu: Duration,
    /// Each call's latency in nanoseconds, sorted.
    pub latencies: Vec<u64>,
}

impl Run {
    /// Calls per second.
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }

    /// The latency at quantile `q` (0..=1), in microseconds.
    pub fn latency_us(&self, q: f64) -> f64 {
        let n = self.latencies.len();
        let i = ((n as f64 * q) as usize).min(n.saturating_sub(1));
        self.latencies.get(i).copied().unwrap_or(0) as f64 / 1_000.0
    }

    /// Client CPU time per call, in microseconds.
    pub fn cpu_per_request_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.requests as f64
    }
}

/// Sends `requests` calls through `client`, `concurrency` at a time, on
/// the current runtime; every call must answer 200 with the whole JSON
/// body.
pub async fn run_once(
    client: &Client,
    requests: usize,
    concurrency: usize,
) -> Result<(Duration, Duration, Vec<u64>), BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = ProcessTime::now();
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let client = client.clone();
        let next = next.clone();
        workers.spawn(async move {
            let mut latencies = Vec::with_capacity(requests / concurrency.max(1) + 1);
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let sent = Instant::now();
                let len = client.call().await?;
                latencies.push(sent.elapsed().as_nanos() as u64);
                if len != JSON.len() {
                    return Err(format!("a body of {len} bytes, not {}", JSON.len()).into());
                }
            }
            Ok::<_, BoxError>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(requests);
    while let Some(done) = workers.join_next().await {
        latencies.extend(done??);
    }
    let wall = start.elapsed();
    let cpu = cpu.elapsed();
    latencies.sort_unstable();
    Ok((wall, cpu, latencies))
}

/// The server's per-route request counts (no-store, cacheable, slow),
/// asked through `stats`, a bare client made for the [`STATS`] path.
pub async fn server_counts(stats: &Client) -> Result<[u64; 3], BoxError> {
    let Client::Bare(client, uri) = stats else {
        return Err("the stats client must be the bare client".into());
    };
    let res = client
        .request(http::Request::get(uri.clone()).body(http_body_util::Empty::new())?)
        .await?;
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await?
        .to_bytes();
    let text = std::str::from_utf8(&body)?;
    parse_stats(text).ok_or_else(|| format!("bad stats {text:?}").into())
}

/// Runs `plan` against the server at `addr`: for each concurrency, every
/// client warms up, then the repetitions run the clients round-robin.
/// After each run the server's counts are checked: clients on the
/// no-store path must have reached it once per call, the cache-hit client
/// not at all. `progress` is told of each run.
pub async fn run_plan(
    addr: SocketAddr,
    plan: &Plan,
    mut progress: impl FnMut(&Run),
) -> Result<Vec<Run>, BoxError> {
    let stats = Client::new(Kind::Bare, addr, STATS)?;
    let clients = plan
        .clients
        .iter()
        .map(|&kind| Ok((kind, Client::new(kind, addr, kind.path())?)))
        .collect::<Result<Vec<_>, BoxError>>()?;
    let mut runs = Vec::new();
    for &concurrency in &plan.concurrency {
        for (_, client) in &clients {
            run_once(client, plan.warmup, concurrency).await?;
        }
        for rep in 0..plan.reps {
            for i in 0..clients.len() {
                let (kind, client) = &clients[(i + rep) % clients.len()];
                let before = server_counts(&stats).await?;
                let (wall, cpu, latencies) = run_once(client, plan.requests, concurrency).await?;
                let after = server_counts(&stats).await?;
                let (no_store, cacheable) = (after[0] - before[0], after[1] - before[1]);
                let expected = match kind {
                    Kind::GirderCached => (0, 0),
                    _ => (plan.requests as u64, 0),
                };
                if (no_store, cacheable) != expected {
                    return Err(format!(
                        "{kind}: the server saw {no_store} no-store and {cacheable} cacheable \
                         requests, expected {expected:?}"
                    )
                    .into());
                }
                let run = Run {
                    kind: *kind,
                    concurrency,
                    rep,
                    requests: plan.requests,
                    wall,
                    cpu,
                    latencies,
                };
                progress(&run);
                runs.push(run);
            }
        }
    }
    Ok(runs)
}
