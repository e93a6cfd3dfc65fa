//! Several OS processes share one quota through Redis: this test binary
//! runs itself as workers (the `worker` test, which does nothing unless
//! the parent set `GIRDER_REDIS_WORKER_URL`).

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use girder_core::PartitionKey;
use girder_ratelimit::Quota;
use girder_ratelimit::backend::{Acquire, Decision, Quotas, RateLimitBackend};
use girder_redis::{RedisConfig, RedisRateLimitBackend};
use girder_test::RedisServer;

const URL_VAR: &str = "GIRDER_REDIS_WORKER_URL";
const WORKERS: usize = 3;
const CALLS: usize = 20;
const BURST: u32 = 10;

/// Ten calls an hour, all at once: nothing refills while the test runs.
fn quotas() -> Quotas {
    Quotas::new(vec![Quota::per_hour(BURST).burst(BURST)], vec![])
}

/// A worker: `CALLS` acquires, then `granted=<n>` on stdout.
#[tokio::test]
async fn worker() {
    let Ok(url) = std::env::var(URL_VAR) else {
        return; // Not a worker: the parent test below runs the workers.
    };
    // Redis decides every call: a call waits up to 5 s for it (a loaded
    // CI machine once took more than the default 20 ms, and the calls
    // that fell back to this process's share were granted on top of the
    // fleet's burst), and is refused rather than decided locally.
    let config = RedisConfig::builder(url)
        .budget(Duration::from_secs(5))
        .fail_closed(true)
        .build()
        .expect("config");
    let backend = RedisRateLimitBackend::new(config);
    let key = PartitionKey::custom("api.test");
    let mut granted = 0;
    for _ in 0..CALLS {
        let decision = match backend.acquire(&key, &quotas()) {
            Acquire::Ready(decision) => decision,
            Acquire::Pending(decision) => decision.await,
        };
        if decision.expect("decided by Redis") == Decision::Granted {
            granted += 1;
        }
    }
    assert!(backend.is_shared(), "every call was decided by Redis");
    println!("granted={granted}");
}

fn output(mut child: Child) -> String {
    // Bounded: a worker makes 20 round trips on loopback.
    for _ in 0..3000 {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                stdout.read_to_string(&mut out).expect("stdout");
            }
            assert!(status.success(), "worker failed: {out}");
            return out;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!("a worker did not finish within 30 s");
}

/// Three processes, 20 calls each, against a burst of 10: the fleet is
/// granted exactly 10.
#[test]
fn three_processes_are_granted_one_burst_together() {
    if std::env::var(URL_VAR).is_ok() {
        return; // A worker does not start workers.
    }
    let Some(redis) = RedisServer::start_or_skip("three_processes_are_granted_one_burst_together")
    else {
        return;
    };
    let exe = std::env::current_exe().expect("this test binary");
    let workers: Vec<Child> = (0..WORKERS)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "worker", "--nocapture", "--test-threads=1"])
                .env(URL_VAR, redis.url())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("a worker process")
        })
        .collect();
    let granted: Vec<u32> = workers
        .into_iter()
        .map(|worker| {
            let out = output(worker);
            out.lines()
                // libtest may print `test worker ... ` on the same line.
                .find_map(|line| line.split_once("granted=").map(|(_, n)| n))
                .and_then(|n| n.split_whitespace().next()?.parse().ok())
                .unwrap_or_else(|| panic!("no count in: {out}"))
        })
        .collect();
    eprintln!("granted per process: {granted:?}");
    assert_eq!(granted.iter().sum::<u32>(), BURST, "{granted:?}");
}
