//! The driver end to end with a few hundred requests: the server process
//! starts, every client answers, the server's counts check out, and the
//! tables and the memory probe print what they should.

use std::path::Path;
use std::process::Command;

use girder_bench::clients::{Client, Kind};
use girder_bench::measure::{Plan, run_once, run_plan, server_counts};
use girder_bench::server::STATS;
use girder_bench::{ServerProcess, discarding_subscriber, report};

fn server() -> ServerProcess {
    ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_girder-bench-server")), None).unwrap()
}

#[test]
fn a_small_plan_runs_every_client_and_prints_the_tables() {
    discarding_subscriber();
    let server = server();
    let plan = Plan {
        requests: 200,
        reps: 2,
        concurrency: vec![1, 8],
        clients: Kind::ALL.to_vec(),
        warmup: 20,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut seen = 0;
    let runs = runtime
        .block_on(run_plan(server.addr(), &plan, |_| seen += 1))
        .unwrap();
    assert_eq!(runs.len(), 2 * 2 * 5);
    assert_eq!(seen, runs.len());
    for run in &runs {
        assert_eq!(run.latencies.len(), 200, "{:?}", run.kind);
        assert!(run.throughput() > 0.0 && run.latency_us(0.99) >= run.latency_us(0.5));
    }
    // Round-robin: each repetition starts with the next client.
    assert_eq!(runs[0].kind, Kind::Bare);
    assert_eq!(runs[5].kind, Kind::Girder);
    let table = report::markdown(&runs, &plan.clients, Kind::Bare);
    assert_eq!(table.matches("| client |").count(), 2);
    for kind in Kind::ALL {
        assert_eq!(table.matches(kind.label()).count(), 2, "{table}");
    }
    assert!(table.contains("| (1) hyper-util legacy client (bare) | "));

    // Warm-up, runs and the two checks per run, through the no-store path:
    // (2 levels x (20 warm-up + 2 reps x 200)) for each of four clients.
    let stats = Client::new(Kind::Bare, server.addr(), STATS).unwrap();
    let counts = runtime.block_on(server_counts(&stats)).unwrap();
    assert_eq!(counts[0], 4 * 2 * (20 + 2 * 200));
    // The cache-hit client reached the server once, for its first call.
    assert_eq!(counts[1], 1);
}

#[test]
fn an_error_status_fails_the_run() {
    let server = server();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lost = Client::new(Kind::Bare, server.addr(), "/nowhere").unwrap();
    let err = runtime.block_on(run_once(&lost, 5, 2)).unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let lost = Client::new(Kind::Girder, server.addr(), "/nowhere").unwrap();
    let err = runtime.block_on(run_once(&lost, 5, 2)).unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
}

#[test]
fn the_memory_probe_prints_one_line_per_client() {
    let server = server();
    let output = Command::new(env!("CARGO_BIN_EXE_girder-bench-memory"))
        .args(["--addr", &server.addr().to_string()])
        .args(["--calls", "100", "--inflight", "20"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (line, kind) in lines.iter().zip(Kind::ALL) {
        assert_eq!(line[0], kind.name());
        let allocations: f64 = line[2].parse().unwrap();
        assert!(allocations >= 1.0, "{text}");
        if kind == Kind::GirderCached {
            assert_eq!(line[1], "-");
        } else {
            // Each request in flight holds at least its connection.
            assert!(line[1].parse::<f64>().unwrap() > 1024.0, "{text}");
        }
    }
}
