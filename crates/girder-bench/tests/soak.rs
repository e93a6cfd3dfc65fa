//! A small chaos soak in the test suite: the whole `Client` through every
//! fault, every check of the full soak (`girder-soak`, 10,000 calls, runs
//! in CI's `.ci/run`).

use std::alloc::System;

use girder_bench::memory::{Heap, live_bytes};
use girder_bench::soak::{self, Config};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

struct Counting;

impl Heap for Counting {
    fn live_bytes(&self) -> i64 {
        live_bytes(&GLOBAL.stats())
    }

    fn allocations(&self) -> u64 {
        let s = GLOBAL.stats();
        (s.allocations + s.reallocations) as u64
    }

    fn allocated_bytes(&self) -> u64 {
        GLOBAL.stats().bytes_allocated as u64
    }
}

#[test]
fn a_short_soak_passes_every_check() {
    let config = Config {
        calls: 1_500,
        warmup: 1_000,
        // A few hundred calls are too few for the heap to settle within
        // 5 %; the full soak checks that.
        max_heap_growth: 0.25,
        ..Config::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(soak::run(config, &Counting)).unwrap();
    println!("{report}");
    assert_eq!(report.failures(), Vec::<String>::new(), "{report}");
    // Every kind of fault was met, and every call had an outcome.
    for fault in soak::plan::Fault::ALL {
        assert!(report.injected[&fault] > 0, "no {fault} injected: {report}");
    }
    assert_eq!(report.outcomes.values().sum::<u64>(), 1_500);
    assert!(report.retries > 0 && report.token_fetches > 1, "{report}");
}
