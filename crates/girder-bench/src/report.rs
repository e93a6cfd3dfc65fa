//! Medians and paired ratios, as markdown.

use std::fmt::Write as _;

use crate::clients::Kind;
use crate::measure::Run;

/// The median of `values` (the mean of the middle two for an even count);
/// NaN when empty.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// How a metric reads from a run.
type Metric = fn(&Run) -> f64;

/// The metrics of a table, with how each reads from a run.
const METRICS: [(&str, Metric); 4] = [
    ("req/s", Run::throughput),
    ("p50 µs", |r| r.latency_us(0.50)),
    ("p99 µs", |r| r.latency_us(0.99)),
    ("CPU µs/req", Run::cpu_per_request_us),
];

/// One table per concurrency: for each client the median of each metric
/// over the repetitions, and the median of its per-repetition ratio to
/// `baseline` measured in the same repetition (a paired ratio).
pub fn markdown(runs: &[Run], clients: &[Kind], baseline: Kind) -> String {
    let mut out = String::new();
    let mut levels: Vec<usize> = runs.iter().map(|r| r.concurrency).collect();
    levels.dedup();
    for concurrency in levels {
        let at: Vec<&Run> = runs
            .iter()
            .filter(|r| r.concurrency == concurrency)
            .collect();
        let reps = at.iter().map(|r| r.rep).max().map_or(0, |m| m + 1);
        let requests = at.first().map_or(0, |r| r.requests);
        let _ = writeln!(
            out,
            "\nConcurrency {concurrency} ({reps} repetitions of {requests} requests per client; \
             medians, and the median of the paired ratios to {}):\n",
            baseline.name()
        );
        out.push_str("| client |");
        for (name, _) in METRICS {
            let _ = write!(out, " {name} | × bare |");
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(METRICS.len() * 2));
        out.push('\n');
        for &kind in clients {
            let _ = write!(out, "| {} |", kind.label());
            for (_, metric) in METRICS {
                let mut values: Vec<f64> = at
                    .iter()
                    .filter(|r| r.kind == kind)
                    .map(|r| metric(r))
                    .collect();
                let mut ratios: Vec<f64> = at
                    .iter()
                    .filter(|r| r.kind == kind)
                    .filter_map(|r| {
                        at.iter()
                            .find(|b| b.kind == baseline && b.rep == r.rep)
                            .map(|b| metric(r) / metric(b))
                    })
                    .collect();
                let _ = write!(
                    out,
                    " {} | {:.2} |",
                    figure(median(&mut values)),
                    median(&mut ratios)
                );
            }
            out.push('\n');
        }
    }
    out
}

/// A figure with about three significant digits.
fn figure(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn run(kind: Kind, rep: usize, wall_ms: u64) -> Run {
        Run {
            kind,
            concurrency: 1,
            rep,
            requests: 1_000,
            wall: Duration::from_millis(wall_ms),
            cpu: Duration::from_millis(wall_ms / 2),
            latencies: vec![1_000; 1_000],
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn ratios_are_paired_by_repetition() {
        // The machine slowed down in repetition 1 for both clients: paired
        // ratios stay at 0.5 where unpaired medians would not.
        let runs = [
            run(Kind::Bare, 0, 100),
            run(Kind::Girder, 0, 200),
            run(Kind::Bare, 1, 400),
            run(Kind::Girder, 1, 800),
            run(Kind::Bare, 2, 100),
            run(Kind::Girder, 2, 200),
        ];
        let table = markdown(&runs, &[Kind::Bare, Kind::Girder], Kind::Bare);
        let girder = table
            .lines()
            .find(|l| l.starts_with("| (2)"))
            .expect("girder's row");
        // req/s: median 5000, ratio 0.50; CPU per request: 100 µs, ×2.00.
        assert!(
            girder.starts_with("| (2) girder full stack, no-store | 5000 | 0.50 |"),
            "{girder}"
        );
        assert!(girder.ends_with("| 100 | 2.00 |"), "{girder}");
    }
}
