//! A fleet of OS processes sharing one quota, one cache and one circuit
//! through Redis, and what the API saw: issue 19's measurement as a
//! command.
//!
//! ```text
//! cargo run --release --example fleet --features redis [-- <workers>]
//! ```
//!
//! It needs `redis-server` (Debian: `apt-get install -y redis-server`) and
//! takes about a minute. The parent starts a redis-server and a
//! girder-test `TestServer` (the API), then runs itself again as worker
//! processes (`fleet worker <scenario>`), which learn the API's and
//! Redis's URLs from the environment, start together at an agreed wall
//! clock instant and print what they did; the parent prints what the API
//! saw. Scenarios:
//!
//! 1. `quota`: N workers × 16 callers share 200/s (burst 20) for 10 s.
//! 2. `quotas`: the same with 200/s and 1,500/min.
//! 3. `cache`: worker A fetches, worker B hits; then 8 workers miss one
//!    key at once.
//! 4. `circuit`: worker A's circuit opens; worker B is refused without
//!    reaching the API.
//! 5. `outage`: as 1 for 12 s; redis-server is killed at 3 s and
//!    restarted at 7 s.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use girder::breaker::{BreakerPolicy, OpenDuration};
use girder::cache::CacheConfig;
use girder::ratelimit::{Mode, Quota, RateLimitPolicy};
use girder::redis::RedisConfig;
use girder::{Client, Kind};
use girder_test::{RedisServer, Reply, TestServer};
use tokio::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const CALLERS: usize = 16;
const RATE: u32 = 200;
const BURST: u32 = 20;
const PER_MINUTE: u32 = 1_500;

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if args.get(1).map(String::as_str) == Some("worker") {
        let scenario = args.get(2).cloned().unwrap_or_default();
        return runtime.block_on(worker(&scenario));
    }
    let workers = match args.get(1) {
        Some(n) => n
            .parse()
            .map_err(|_| format!("{n:?} is not a number of workers"))?,
        None => 4,
    };
    runtime.block_on(parent(workers))
}

// ---------------------------------------------------------------- parent

struct Fleet {
    redis: RedisServer,
    api: TestServer,
    workers: usize,
    urls: Urls,
}

/// What a worker is told.
struct Urls {
    api: String,
    redis: String,
    workers: usize,
}

async fn parent(workers: usize) -> Result<(), BoxError> {
    let redis = match RedisServer::start() {
        Ok(redis) => redis,
        Err(error) => {
            eprintln!("fleet: {error}");
            return Ok(());
        }
    };
    let api = TestServer::start().await;
    for scenario in ["/quota", "/quotas", "/outage"] {
        api.route(scenario, Reply::ok());
    }
    api.route("/probe", Reply::ok());
    api.route(
        "/cached",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body("the one answer"),
    );
    api.route(
        "/slow",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body("worth the wait")
            .delay(Duration::from_millis(300)),
    );
    api.route("/down", Reply::status(503));
    let urls = Urls {
        api: api.url("/"),
        redis: redis.url(),
        workers,
    };
    let mut fleet = Fleet {
        redis,
        api,
        workers,
        urls,
    };
    println!(
        "fleet: {workers} worker processes × {CALLERS} callers, one redis-server, one API \
         (girder-test TestServer) on loopback"
    );
    quota(&mut fleet, "quota", 10, RATE as f64 * 10.0 + BURST as f64).await?;
    // GCRA over both: 200/s until the minute's burst of 1,500 is spent
    // (about 7.4 s), then 25/s: 1,500 + 25 × 10 in 10 s.
    quota(
        &mut fleet,
        "quotas",
        10,
        PER_MINUTE as f64 + PER_MINUTE as f64 / 60.0 * 10.0,
    )
    .await?;
    cache(&mut fleet).await?;
    circuit(&mut fleet).await?;
    outage(&mut fleet).await?;
    Ok(())
}

/// The wall clock: the only one several processes share.
#[allow(clippy::disallowed_methods)]
fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// Runs `count` workers of `scenario` starting together `lead` from now
/// (process start-up included), waits for them and returns their outputs
/// and the start as an `Instant`.
async fn run_workers(
    urls: &Urls,
    scenario: &str,
    count: usize,
    lead: Duration,
    extra: &[(&str, String)],
) -> Result<(Instant, Vec<String>), BoxError> {
    let exe = std::env::current_exe()?;
    let start_at = unix_ms() + lead.as_millis();
    let start = Instant::now() + lead;
    let mut children = Vec::new();
    for id in 0..count {
        let mut command = Command::new(&exe);
        command
            .args(["worker", scenario])
            .env("FLEET_API", &urls.api)
            .env("FLEET_REDIS", &urls.redis)
            .env("FLEET_START_AT", start_at.to_string())
            .env("FLEET_WORKERS", urls.workers.to_string())
            .env("FLEET_ID", id.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in extra {
            command.env(name, value);
        }
        children.push(command.spawn()?);
    }
    let mut outputs = Vec::new();
    for child in children {
        // The child runs on its own; wait for it off the runtime's threads
        // so that the API keeps answering.
        let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
        if !output.status.success() {
            return Err(format!("a {scenario} worker failed: {}", output.status).into());
        }
        outputs.push(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Ok((start, outputs))
}

/// `key=value` from a worker's output.
fn field(output: &str, key: &str) -> Option<String> {
    output.split_whitespace().find_map(|word| {
        word.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::to_owned)
    })
}

/// Requests to `path` per 1-s window from `start`.
fn windows(api: &TestServer, path: &str, start: Instant, seconds: u64) -> Vec<usize> {
    let mut counts = vec![0; seconds as usize];
    for request in api.requests_to(path) {
        let Some(offset) = request.at.checked_duration_since(start) else {
            continue;
        };
        if let Some(count) = counts.get_mut(offset.as_secs() as usize) {
            *count += 1;
        }
    }
    counts
}

async fn quota(
    fleet: &mut Fleet,
    scenario: &str,
    seconds: u64,
    expected: f64,
) -> Result<(), BoxError> {
    let path = format!("/{scenario}");
    let (start, outputs) = run_workers(
        &fleet.urls,
        scenario,
        fleet.workers,
        Duration::from_millis(1500),
        &[("FLEET_SECONDS", seconds.to_string())],
    )
    .await?;
    let total = fleet.api.requests_to(&path).len();
    let windows = windows(&fleet.api, &path, start, seconds);
    let sent: Vec<String> = outputs
        .iter()
        .map(|o| field(o, "sent").unwrap_or_default())
        .collect();
    let shared: Vec<String> = outputs
        .iter()
        .map(|o| field(o, "fallbacks").unwrap_or_default())
        .collect();
    println!(
        "\n== {scenario}: {} processes × {CALLERS} callers, {seconds} s",
        fleet.workers
    );
    match scenario {
        "quota" => println!("quota: {RATE}/s, burst {BURST}, shared through Redis"),
        _ => {
            println!("quotas: {RATE}/s (burst {BURST}) and {PER_MINUTE}/min, shared through Redis")
        }
    }
    println!("API saw per 1-s window: {windows:?}");
    println!(
        "API saw {total} in total: {:.1}/s; expected {expected:.0} ({:+.2}%); busiest window {} \
         (limit {RATE} + burst {BURST} = {})",
        total as f64 / seconds as f64,
        (total as f64 - expected) / expected * 100.0,
        windows.iter().max().copied().unwrap_or(0),
        RATE + BURST
    );
    println!("sent per process: {sent:?}; falls back to local state per process: {shared:?}");
    Ok(())
}

async fn cache(fleet: &mut Fleet) -> Result<(), BoxError> {
    println!("\n== cache: RedisCacheStore");
    let (_, a) = run_workers(
        &fleet.urls,
        "cache",
        1,
        Duration::from_millis(800),
        &[("FLEET_PATH", "/cached".into())],
    )
    .await?;
    let (_, b) = run_workers(
        &fleet.urls,
        "cache",
        1,
        Duration::from_millis(800),
        &[("FLEET_PATH", "/cached".into())],
    )
    .await?;
    println!(
        "process A: {}; process B: {}; the API saw {} request(s) for /cached",
        field(&a[0], "cache").unwrap_or_default(),
        field(&b[0], "cache").unwrap_or_default(),
        fleet.api.requests_to("/cached").len()
    );
    let (_, all) = run_workers(
        &fleet.urls,
        "cache",
        8,
        Duration::from_millis(1500),
        &[("FLEET_PATH", "/slow".into())],
    )
    .await?;
    let statuses: Vec<String> = all
        .iter()
        .map(|o| field(o, "cache").unwrap_or_default())
        .collect();
    println!(
        "8 processes missing /slow at once (the API takes 300 ms): the API saw {} request(s); \
         cache status per process: {statuses:?}",
        fleet.api.requests_to("/slow").len()
    );
    Ok(())
}

async fn circuit(fleet: &mut Fleet) -> Result<(), BoxError> {
    println!("\n== circuit: RedisCircuitStore");
    let (_, a) = run_workers(&fleet.urls, "circuit", 1, Duration::from_millis(800), &[]).await?;
    let seen = fleet.api.requests_to("/down").len();
    let (_, b) = run_workers(&fleet.urls, "circuit", 1, Duration::from_millis(800), &[]).await?;
    println!(
        "process A: {} call(s) reached the API before its circuit opened ({}); process B: {} \
         call(s), {} reached the API ({})",
        seen,
        field(&a[0], "outcomes").unwrap_or_default(),
        field(&b[0], "calls").unwrap_or_default(),
        fleet.api.requests_to("/down").len() - seen,
        field(&b[0], "outcomes").unwrap_or_default(),
    );
    Ok(())
}

async fn outage(fleet: &mut Fleet) -> Result<(), BoxError> {
    const SECONDS: u64 = 12;
    const STOP: u64 = 3;
    const RESTART: u64 = 7;
    let lead = Duration::from_millis(1500);
    let start = Instant::now() + lead;
    let start_ms = unix_ms() + lead.as_millis();
    let extra = [("FLEET_SECONDS", SECONDS.to_string())];
    let run = run_workers(&fleet.urls, "outage", fleet.workers, lead, &extra);
    let redis = &mut fleet.redis;
    let kill = async {
        tokio::time::sleep_until(start + Duration::from_secs(STOP)).await;
        redis.stop();
        let stopped = unix_ms();
        tokio::time::sleep_until(start + Duration::from_secs(RESTART)).await;
        let restarted = unix_ms();
        let result = redis.restart();
        (stopped, restarted, result)
    };
    let (run, (stopped, restarted, result)) = tokio::join!(run, kill);
    result?;
    let (start, outputs) = run?;
    let total = fleet.api.requests_to("/outage").len();
    let windows = windows(&fleet.api, "/outage", start, SECONDS);
    println!(
        "\n== outage: {} processes × {CALLERS} callers, {RATE}/s shared (each keeps 1/{} while \
         Redis is away), {SECONDS} s; redis-server killed at {STOP} s, restarted at {RESTART} s",
        fleet.workers, fleet.workers
    );
    println!("API saw per 1-s window: {windows:?} ({total} in total)");
    let end_ms = start_ms + u128::from(SECONDS) * 1000;
    let mut back = Vec::new();
    let mut errors = Vec::new();
    let mut all = Vec::new();
    for output in &outputs {
        let events: Vec<(char, u128)> = field(output, "transitions")
            .unwrap_or_default()
            .split(',')
            .filter_map(|e| Some((e.chars().next()?, e.get(1..)?.parse().ok()?)))
            .collect();
        // Both backends of the process back: the last "back" after the
        // restart.
        let last_back = events
            .iter()
            // Up to the end of the run: a call cut by its deadline at the
            // very end may note a fallback and a return of its own.
            .filter(|(kind, at)| *kind == 'B' && *at >= restarted && *at < end_ms)
            .map(|(_, at)| *at)
            .max();
        back.push(
            last_back
                .map(|ms| format!("{} ms", ms - restarted))
                .unwrap_or("never".into()),
        );
        all.push(
            events
                .iter()
                .map(|(kind, at)| format!("{kind}@{}", at.saturating_sub(start_ms)))
                .collect::<Vec<_>>()
                .join(" "),
        );
        errors.push(field(output, "errors").unwrap_or_default());
    }
    println!(
        "killed {} ms and restarted {} ms after the start; every backend of the process back on \
         shared state after the restart: {back:?}",
        stopped.saturating_sub(start_ms),
        restarted.saturating_sub(start_ms)
    );
    println!("transitions per process (L: falls back, B: back; ms from the start): {all:?}");
    println!("failed calls per process: {errors:?}");
    for phase in ["before", "during", "after"] {
        let figures: Vec<String> = outputs
            .iter()
            .map(|o| field(o, &format!("probe_{phase}")).unwrap_or_default())
            .collect();
        println!("probe call p50/p99 µs {phase} the outage, per process: {figures:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------- worker

fn env(name: &str) -> Result<String, BoxError> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set: run `fleet`, not `fleet worker`").into())
}

fn env_num<T: std::str::FromStr>(name: &str) -> Result<T, BoxError> {
    env(name)?
        .parse()
        .map_err(|_| format!("{name} is not a number").into())
}

fn redis_config(prefix: &str) -> Result<RedisConfig, BoxError> {
    Ok(RedisConfig::builder(env("FLEET_REDIS")?)
        .prefix(prefix)
        .fleet_size(env_num("FLEET_WORKERS")?)
        .build()?)
}

/// Sleeps until the agreed start (wall clock), returned as an `Instant`.
async fn start_line() -> Result<Instant, BoxError> {
    let start_at: u128 = env_num("FLEET_START_AT")?;
    let wait = start_at.saturating_sub(unix_ms());
    let start = Instant::now() + Duration::from_millis(wait as u64);
    tokio::time::sleep_until(start).await;
    Ok(start)
}

async fn worker(scenario: &str) -> Result<(), BoxError> {
    let api = env("FLEET_API")?;
    match scenario {
        "quota" | "quotas" | "outage" => quota_worker(scenario, &api).await,
        "cache" => cache_worker(&api).await,
        "circuit" => circuit_worker(&api).await,
        other => Err(format!("unknown scenario {other:?}").into()),
    }
}

/// Records when `girder::redis` said it went local and came back.
#[derive(Clone, Default)]
struct Transitions(Arc<Mutex<Vec<(char, u128)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Transitions {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "girder::redis" {
            return;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if message.0.starts_with("redis is unavailable") {
            state.push(('L', unix_ms()));
        } else if message.0.starts_with("redis is back") {
            state.push(('B', unix_ms()));
        }
    }
}

fn percentiles(mut samples: Vec<u128>) -> String {
    if samples.is_empty() {
        return "-".into();
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!("{}/{}", at(0.5), at(0.99))
}

async fn quota_worker(scenario: &str, api: &str) -> Result<(), BoxError> {
    use tracing_subscriber::layer::SubscriberExt;
    let transitions = Transitions::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(transitions.clone()),
    )?;
    let seconds: u64 = env_num("FLEET_SECONDS")?;
    let mut policy = RateLimitPolicy::builder()
        .quota(Quota::per_second(RATE).burst(BURST))
        .mode(Mode::Wait);
    if scenario == "quotas" {
        policy = policy.quota(Quota::per_minute(PER_MINUTE));
    }
    let client = Client::builder()
        .base_url(api)
        .retry(None)
        .logging(None)
        .rate_limit(policy.build()?)
        .redis(redis_config(scenario)?)
        .build()?;
    // A light probe on a quota that never binds: what a call costs before,
    // during and after the outage, without the wait for a permit.
    let probe = Client::builder()
        .base_url(api)
        .retry(None)
        .logging(None)
        .rate_limit(
            RateLimitPolicy::builder()
                .quota(Quota::per_second(100_000))
                .build()?,
        )
        .redis(redis_config(&format!("{scenario}-probe"))?)
        .build()?;
    let start = start_line().await?;
    let end = start + Duration::from_secs(seconds);
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let client = client.clone();
        let path = scenario.to_owned();
        callers.push(tokio::spawn(async move {
            let (mut sent, mut errors) = (0u64, 0u64);
            while Instant::now() < end {
                // Nothing waits past the end: a call that would is refused
                // without being sent.
                match client.get(&path).deadline(end).send().await {
                    Ok(_) => sent += 1,
                    Err(e)
                        if e.kind() == Kind::RateLimited || e.kind() == Kind::DeadlineExceeded => {}
                    Err(_) => errors += 1,
                }
            }
            (sent, errors)
        }));
    }
    let probing = tokio::spawn(async move {
        let mut phases: [Vec<u128>; 3] = Default::default();
        while Instant::now() < end {
            let t = Instant::now();
            let ok = probe.get("probe").send().await.is_ok();
            let elapsed = t.elapsed().as_micros();
            let at = t.saturating_duration_since(start).as_secs();
            let phase = match at {
                0..3 => 0,
                3..7 => 1,
                _ => 2,
            };
            if ok {
                phases[phase].push(elapsed);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        phases
    });
    let (mut sent, mut errors) = (0, 0);
    for caller in callers {
        let (s, e) = caller.await?;
        sent += s;
        errors += e;
    }
    let [before, during, after] = probing.await?;
    let events = transitions
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let fallbacks = events.iter().filter(|(kind, _)| *kind == 'L').count();
    let mut line = format!("sent={sent} errors={errors} fallbacks={fallbacks}");
    // Two backends (the load's and the probe's), each says when it goes
    // local and when it is back: every transition, as wall-clock ms.
    let list: Vec<String> = events
        .iter()
        .map(|(kind, at)| format!("{kind}{at}"))
        .collect();
    line += &format!(" transitions={}", list.join(","));
    line += &format!(
        " probe_before={} probe_during={} probe_after={}",
        percentiles(before),
        percentiles(during),
        percentiles(after)
    );
    println!("{line}");
    Ok(())
}

async fn cache_worker(api: &str) -> Result<(), BoxError> {
    let path = env("FLEET_PATH")?;
    let client = Client::builder()
        .base_url(api)
        .retry(None)
        .logging(None)
        .cache(CacheConfig::default())
        .redis(redis_config("cache")?)
        .build()?;
    start_line().await?;
    let response = client.get(path.trim_start_matches('/')).send().await?;
    let status = response.cache_status();
    let body = response.text().await?;
    println!(
        "cache={} bytes={}",
        status.map(|s| format!("{s:?}")).unwrap_or("none".into()),
        body.len()
    );
    Ok(())
}

async fn circuit_worker(api: &str) -> Result<(), BoxError> {
    let client = Client::builder()
        .base_url(api)
        .retry(None)
        .logging(None)
        .circuit_breaker(
            BreakerPolicy::builder()
                .consecutive_failures(3)
                .open_duration(OpenDuration::fixed(Duration::from_secs(30)))
                .build()?,
        )
        .redis(redis_config("circuit")?)
        .build()?;
    start_line().await?;
    let mut outcomes = Vec::new();
    // Until the circuit refuses (at most 10 calls).
    for _ in 0..10 {
        match client.get("down").send().await {
            Ok(response) => outcomes.push(response.status().as_u16().to_string()),
            Err(error) if error.kind() == Kind::CircuitOpen => {
                outcomes.push("open".into());
                break;
            }
            Err(error) => outcomes.push(format!("{:?}", error.kind())),
        }
    }
    // The store publishes an opening without waiting: a process that
    // exits at once may take the message with it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!("calls={} outcomes={}", outcomes.len(), outcomes.join(","));
    Ok(())
}
