//! `memory::live_bytes` under the counting allocator the probes install.

use std::alloc::System;

use girder_bench::memory::live_bytes;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

// Regression: growth by reallocation was counted twice (stats_alloc's
// `bytes_reallocated` added to totals that already held it), so a heap
// that held still seemed to grow with every Vec or String that grew.
#[test]
fn a_buffer_grown_by_reallocation_counts_once() {
    let before = live_bytes(&GLOBAL.stats());
    let mut buffer: Vec<u8> = Vec::with_capacity(1_000);
    buffer.reserve_exact(1_000_000);
    let held = live_bytes(&GLOBAL.stats()) - before;
    assert!(buffer.capacity() >= 1_000_000);
    // Other threads of the harness may allocate a little meanwhile.
    assert!(
        (1_000_000..1_100_000).contains(&held),
        "{held} bytes held for a buffer of {}",
        buffer.capacity()
    );
    drop(buffer);
    let after = live_bytes(&GLOBAL.stats()) - before;
    assert!(after < 100_000, "{after} bytes still held");
}
