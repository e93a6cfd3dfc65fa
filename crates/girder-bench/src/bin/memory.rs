//! `girder-bench-memory --addr <server> [--calls N] [--inflight N]
//! [--cpu N] [--clients a,b]`: heap held per in-flight request and
//! allocations per call for each client, under a counting global
//! allocator. Prints one line per client:
//! `<client> <bytes per in-flight request or -> <allocations per call> <bytes allocated per call>`.

use std::alloc::System;
use std::net::SocketAddr;

use girder_bench::clients::Kind;
use girder_bench::memory::{Heap, footprint};
use girder_bench::{BoxError, discarding_subscriber, pin_to_cpu};
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

fn main() -> Result<(), BoxError> {
    let mut addr: Option<SocketAddr> = None;
    let mut calls = 10_000;
    let mut inflight = 1_000;
    let mut cpu = None;
    let mut clients = Kind::ALL.to_vec();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--addr" => addr = Some(value.parse()?),
            "--calls" => calls = value.parse()?,
            "--inflight" => inflight = value.parse()?,
            "--cpu" => cpu = Some(value.parse::<usize>()?),
            "--clients" => {
                clients = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            _ => return Err(format!("unknown argument {arg}").into()),
        }
    }
    let addr = addr.ok_or("--addr is required")?;
    if let Some(cpu) = cpu
        && !pin_to_cpu(cpu)
    {
        return Err(format!("cannot pin to CPU {cpu}").into());
    }
    discarding_subscriber();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for kind in clients {
            let f = footprint(kind, addr, calls, inflight, &Counting).await?;
            let held = f
                .bytes_per_in_flight
                .map_or("-".to_owned(), |b| format!("{b:.0}"));
            println!(
                "{} {held} {:.1} {:.0}",
                kind.name(),
                f.allocations_per_call,
                f.bytes_allocated_per_call
            );
        }
        Ok(())
    })
}
