//! `girder-soak [--calls N] [--warmup N] [--concurrency N] [--seed N]
//! [--fault-rate F] [--rate CALLS_PER_SEC] [--threads N]`: the chaos soak (see
//! `girder_bench::soak`). Prints its figures and exits with status 1 when
//! a check fails.
//!
//! ```text
//! cargo run --release -p girder-bench --bin girder-soak                  # short form, 10,000 calls
//! cargo run --release -p girder-bench --bin girder-soak -- --calls 100000 # long form
//! ```

use std::alloc::System;
use std::process::ExitCode;

use girder_bench::memory::Heap;
use girder_bench::soak::{self, Config};
use girder_bench::{BoxError, discarding_subscriber};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

struct Counting;

impl Heap for Counting {
    fn live_bytes(&self) -> i64 {
        girder_bench::memory::live_bytes(&GLOBAL.stats())
    }

    fn allocations(&self) -> u64 {
        let s = GLOBAL.stats();
        (s.allocations + s.reallocations) as u64
    }

    fn allocated_bytes(&self) -> u64 {
        GLOBAL.stats().bytes_allocated as u64
    }
}

fn main() -> Result<ExitCode, BoxError> {
    let mut config = Config::default();
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--calls" => config.calls = value.parse()?,
            "--warmup" => config.warmup = value.parse()?,
            "--concurrency" => config.concurrency = value.parse()?,
            "--rate" => config.rate = value.parse()?,
            "--seed" => config.seed = value.parse()?,
            "--fault-rate" => config.fault_rate = value.parse()?,
            "--threads" => threads = Some(value.parse::<usize>()?),
            _ => return Err(format!("unknown argument {arg}").into()),
        }
    }
    discarding_subscriber();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.enable_all().build()?;
    let report = runtime.block_on(soak::run(config, &Counting))?;
    println!("{report}");
    let failures = report.failures();
    if failures.is_empty() {
        println!("soak: every check passed");
        Ok(ExitCode::SUCCESS)
    } else {
        for failure in &failures {
            println!("soak: FAILED: {failure}");
        }
        Ok(ExitCode::FAILURE)
    }
}
