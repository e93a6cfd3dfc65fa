//! The chaos soak: `girder::Client` with every layer on, driven by many
//! concurrent callers against a loopback `TestServer` that resets, stalls,
//! throttles and cuts, with the checks of issue 20 at the end.
//!
//! ```text
//! cargo run --release -p girder-bench --bin girder-soak -- --calls 100000
//! ```
//!
//! Each call's method, path and fault come from the seed and its number
//! ([`plan::Call::plan`]): GETs of shared cacheable resources, through a
//! redirect, of gzip bodies and of resources of their own; PUTs; POSTs,
//! half of them with an `Idempotency-Key`. The server counts the requests
//! of each call by its `x-soak-id`; a POST without a key that arrived
//! twice is a duplicate. After a warm-up (same mix) and again after the
//! run, the soak waits for the last stalled bodies to end and reads the
//! heap through a counting allocator ([`crate::memory::Heap`]).

pub mod plan;
pub mod server;
pub mod stack;

mod report;

pub use report::Report;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use girder::retry::{NoRetry, RetryDecision};
use girder::{CallRecord, Client};
use http::Method;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::BoxError;
use crate::memory::Heap;
use plan::{Call, Fault, Shape};
use server::{FAULT, ID, SoakServer, Timing};
use stack::{Layers, Timeouts};

/// What a soak run does.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Calls measured.
    pub calls: usize,
    /// Calls before the heap baseline (same mix).
    pub warmup: usize,
    /// Callers at once.
    pub concurrency: usize,
    /// Calls started per second, all callers together (a caller that is
    /// free waits for the next call's start time), so that calls failed
    /// at once by an open circuit do not make the callers spin through
    /// the plan.
    pub rate: u32,
    /// The share of calls with a fault.
    pub fault_rate: f64,
    /// Seeds the plan, the jitter and the faults.
    pub seed: u64,
    /// Each attempt's timeout.
    pub attempt_timeout: Duration,
    /// Each call's deadline.
    pub deadline: Duration,
    /// How long after its deadline a call counts as hung.
    pub margin: Duration,
    /// The largest heap growth from warm-up to the end, as a fraction.
    pub max_heap_growth: f64,
}

impl Default for Config {
    /// The short form: 10,000 calls, 64 callers, 30 % faulted.
    fn default() -> Self {
        Config {
            calls: 10_000,
            warmup: 2_000,
            concurrency: 64,
            rate: 1_000,
            fault_rate: 0.3,
            seed: 20,
            attempt_timeout: Duration::from_millis(300),
            deadline: Duration::from_secs(2),
            margin: Duration::from_secs(1),
            max_heap_growth: 0.05,
        }
    }
}

/// Counts the callers share, allocated before the warm-up.
#[derive(Debug, Default)]
struct Tally {
    outcomes: Mutex<BTreeMap<String, u64>>,
    hung: AtomicU64,
    retries: AtomicU64,
    deposits: AtomicU64,
    budget_refusals: AtomicU64,
}

/// Runs the soak; `heap` reads the process's counting allocator.
pub async fn run(config: Config, heap: &dyn Heap) -> Result<Report, BoxError> {
    let timing = Timing {
        slow_head: config.attempt_timeout * 2,
        stall: config.deadline + config.margin * 2,
        token_lifetime: 3,
    };
    let ids = config.warmup + config.calls + 1;
    let soak = SoakServer::start(ids, timing).await;
    let base = soak.server.url("/");
    let timeouts = Timeouts {
        attempt: config.attempt_timeout,
        call: config.deadline,
    };
    let (client, layers) = stack::build(&base, &soak.server.url("/token"), timeouts, config.seed)?;
    let built = Instant::now();
    let tally = Arc::new(Tally::default());

    drive(&client, &config, 0..config.warmup, &tally).await?;
    settle(timing).await;
    let heap_warm = heap.live_bytes();
    let warm_outcomes = tally.outcomes.lock().map_err(|_| "poisoned")?.clone();

    // The heap is read after each half of the run: a leak grows it in
    // both, while what happens to be alive when it is read (a connection
    // still closing, a timer wheel's slab, a task still finishing) does
    // not repeat.
    let half = config.warmup + config.calls / 2;
    let started = Instant::now();
    drive(&client, &config, config.warmup..half, &tally).await?;
    let mut wall = started.elapsed();
    settle(timing).await;
    let heap_half = heap.live_bytes();
    let started = Instant::now();
    drive(&client, &config, half..config.warmup + config.calls, &tally).await?;
    wall += started.elapsed();
    let since_built = built.elapsed();
    settle(timing).await;
    let heap_after = heap.live_bytes();

    let leaks = leaks(&layers);
    // Nothing stranded: a plain call still goes through.
    let last = config.warmup + config.calls;
    let later = client
        .get(format!("items/{last}"))
        .header(ID, last.to_string())
        .send()
        .await
        .map_err(|e| format!("the call after the run failed: {e}"))?;
    let later_status = later.status();
    later
        .bytes()
        .await
        .map_err(|e| format!("the call after the run: {e}"))?;

    let mut planned = BTreeMap::new();
    let mut duplicates = 0;
    for id in config.warmup..config.warmup + config.calls {
        let call = Call::plan(config.seed, id, config.fault_rate);
        if let Some(fault) = call.fault {
            *planned.entry(fault).or_insert(0u64) += 1;
        }
        let seen = soak.counts.per_call[id].load(Ordering::Relaxed);
        if call.shape == Shape::Post && seen > 1 {
            duplicates += 1;
        }
    }
    let mut injected: BTreeMap<Fault, u64> = Fault::ALL
        .iter()
        .zip(&soak.counts.injected)
        .map(|(f, n)| (*f, n.load(Ordering::Relaxed)))
        .collect();
    injected.insert(Fault::ResetBeforeSend, layers.reset.stats().errors);
    injected.insert(Fault::LostResponse, layers.lost.stats().dropped);

    let mut outcomes = tally.outcomes.lock().map_err(|_| "poisoned")?.clone();
    for (outcome, n) in warm_outcomes {
        if let Some(total) = outcomes.get_mut(&outcome) {
            *total -= n;
        }
    }
    outcomes.retain(|_, n| *n > 0);
    let deposits = tally.deposits.load(Ordering::Relaxed);
    Ok(Report {
        calls: config.calls,
        warmup: config.warmup,
        concurrency: config.concurrency,
        planned,
        injected,
        outcomes,
        hung: tally.hung.load(Ordering::Relaxed),
        duplicates,
        retries: tally.retries.load(Ordering::Relaxed),
        budget_refusals: tally.budget_refusals.load(Ordering::Relaxed),
        deposits,
        allowance: allowance(deposits, since_built),
        leaks,
        later_status: later_status.as_u16(),
        token_fetches: layers.auth.fetches(),
        server_requests: soak.server.request_count(),
        heap_warm,
        heap_half,
        heap_after,
        max_heap_growth: config.max_heap_growth,
        wall,
    })
}

/// The most retries the budget can have allowed over `elapsed` with
/// `deposits` calls: within one window (the budget's ttl, less its last
/// tenth, which rolls by slots) its share of the calls plus its reserve;
/// over several, each call counted in every window that can see it (at
/// most three) and a reserve per window.
fn allowance(deposits: u64, elapsed: Duration) -> u64 {
    let reserve = f64::from(stack::BUDGET_MIN_PER_SEC) * stack::BUDGET_TTL.as_secs_f64();
    let seen = stack::BUDGET_TTL.as_secs_f64() * 0.9;
    let windows = (elapsed.as_secs_f64() / seen).ceil().max(1.0);
    let share = stack::BUDGET_PERCENT * deposits as f64;
    let allowed = if windows <= 1.0 {
        share + reserve
    } else {
        3.0 * share + windows * reserve
    };
    allowed.floor() as u64
}

/// What is still held after the run, read through the layers.
fn leaks(layers: &Layers) -> Vec<String> {
    let mut leaks = Vec::new();
    let mut check = |what: &str, n: usize| {
        if n > 0 {
            leaks.push(format!("{what}: {n}"));
        }
    };
    check("rate limit: in-flight slots held", layers.limit.in_flight());
    check("rate limit: calls waiting", layers.limit.waiting());
    check("rate limit: lines held", layers.limit.lines_held());
    check("cache: fills in progress", layers.cache.fills_in_progress());
    check(
        "auth: token fetch under way",
        usize::from(layers.auth.is_fetching()),
    );
    for (key, metrics) in layers.breaker.handle().partitions() {
        check(
            &format!("breaker: half-open probes held ({key:?})"),
            metrics.probes_in_flight as usize,
        );
    }
    leaks
}

/// Waits for what the server still holds (stalled bodies) to end.
async fn settle(timing: Timing) {
    tokio::time::sleep(timing.stall + Duration::from_millis(500)).await;
}

/// Makes calls `ids` with `config.concurrency` callers.
async fn drive(
    client: &Client,
    config: &Config,
    ids: std::ops::Range<usize>,
    tally: &Arc<Tally>,
) -> Result<(), BoxError> {
    let next = Arc::new(AtomicUsize::new(ids.start));
    let started = Instant::now();
    let spacing = Duration::from_secs(1) / config.rate.max(1);
    let mut callers = JoinSet::new();
    for _ in 0..config.concurrency {
        let (client, next, tally, config) = (client.clone(), next.clone(), tally.clone(), *config);
        let (ids_start, end) = (ids.start, ids.end);
        callers.spawn(async move {
            loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id >= end {
                    break;
                }
                let nth = u32::try_from(id - ids_start).unwrap_or(u32::MAX);
                tokio::time::sleep_until(started + spacing * nth).await;
                let call = Call::plan(config.seed, id, config.fault_rate);
                one(&client, call, &config, &tally).await;
            }
        });
    }
    while let Some(done) = callers.join_next().await {
        done?;
    }
    Ok(())
}

/// One call, its outcome counted once.
async fn one(client: &Client, call: Call, config: &Config, tally: &Tally) {
    let method = match call.shape {
        Shape::Put => Method::PUT,
        Shape::PostKeyed | Shape::Post => Method::POST,
        _ => Method::GET,
    };
    let record = CallRecord::new();
    let mut request = client
        .request(method, call.path())
        .header(ID, call.id.to_string())
        .extension(record.clone())
        .timeout(config.deadline);
    if let Some(fault) = call.fault {
        request = request.header(FAULT, fault.name());
    }
    match call.shape {
        Shape::Put | Shape::Post => request = request.body(r#"{"soak":true}"#),
        Shape::PostKeyed => {
            request = request
                .body(r#"{"soak":true}"#)
                .idempotency_key(format!("soak-{}", call.id));
        }
        _ => {}
    }
    let work = async {
        let response = request.send().await.map_err(|e| ("send", e))?;
        let status = response.status();
        response.bytes().await.map_err(|e| ("body", e))?;
        Ok::<_, (&str, girder::Error)>(status)
    };
    let outcome = match tokio::time::timeout(config.deadline + config.margin, work).await {
        Err(_) => {
            tally.hung.fetch_add(1, Ordering::Relaxed);
            "hung".to_owned()
        }
        Ok(Ok(status)) => format!("status {}", status.as_u16()),
        Ok(Err((stage, error))) => format!("{stage} error: {:?}", error.kind()),
    };
    if let Ok(mut outcomes) = tally.outcomes.lock() {
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    record.any(|entry| {
        match entry.event::<RetryDecision>() {
            Some(RetryDecision::Attempt { number: 1 }) => {
                tally.deposits.fetch_add(1, Ordering::Relaxed);
            }
            Some(RetryDecision::Attempt { .. }) => {
                tally.retries.fetch_add(1, Ordering::Relaxed);
            }
            Some(RetryDecision::NotRetried {
                why: NoRetry::BudgetExhausted,
                ..
            }) => {
                tally.budget_refusals.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        false
    });
}
