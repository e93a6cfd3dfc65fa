//! Heap held per in-flight request and allocations per call, read from a
//! counting global allocator (the `girder-bench-memory` binary installs
//! one; this module only reads it through [`Heap`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::BoxError;
use crate::clients::{Client, Kind};
use crate::measure::{run_once, server_counts};
use crate::server::{SLOW, SLOW_DELAY, STATS};

/// What a counting allocator tells.
pub trait Heap {
    /// Bytes allocated and not yet freed.
    fn live_bytes(&self) -> i64;
    /// Allocations made so far (reallocations included).
    fn allocations(&self) -> u64;
    /// Bytes allocated so far.
    fn allocated_bytes(&self) -> u64;
}

/// Bytes allocated and not yet freed, from a counting allocator's totals.
///
/// stats_alloc counts a reallocation's growth in `bytes_allocated` and its
/// shrinking in `bytes_deallocated`; `bytes_reallocated` is that same net
/// change again, so it is not added (it was: every `Vec` or `String` that
/// grew by reallocation counted twice, and the live heap seemed to grow).
pub fn live_bytes(stats: &stats_alloc::Stats) -> i64 {
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
}

/// What one client holds and allocates.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    /// The client.
    pub kind: Kind,
    /// Heap bytes held per in-flight request, with `inflight` requests
    /// outstanding (connections and their buffers included: HTTP/1.1
    /// needs one connection per request in flight); `None` for the
    /// cache-hit client, which holds nothing in flight.
    pub bytes_per_in_flight: Option<f64>,
    /// Allocations per call at concurrency 1.
    pub allocations_per_call: f64,
    /// Bytes allocated per call at concurrency 1.
    pub bytes_allocated_per_call: f64,
}

/// Measures `kind` against the server at `addr`: `calls` sequential calls
/// on its own path for the allocation counts, then `inflight` calls to
/// the slow path at once, holding until the server has seen them all,
/// for the heap per in-flight request.
pub async fn footprint(
    kind: Kind,
    addr: SocketAddr,
    calls: usize,
    inflight: usize,
    heap: &impl Heap,
) -> Result<Footprint, BoxError> {
    let client = Client::new(kind, addr, kind.path())?;
    run_once(&client, 100, 1).await?;
    let (allocs, bytes) = (heap.allocations(), heap.allocated_bytes());
    run_once(&client, calls, 1).await?;
    let allocations_per_call = (heap.allocations() - allocs) as f64 / calls as f64;
    let bytes_allocated_per_call = (heap.allocated_bytes() - bytes) as f64 / calls as f64;
    drop(client);

    let bytes_per_in_flight = if kind == Kind::GirderCached {
        None
    } else {
        Some(in_flight(kind, addr, inflight, heap).await?)
    };
    Ok(Footprint {
        kind,
        bytes_per_in_flight,
        allocations_per_call,
        bytes_allocated_per_call,
    })
}

async fn in_flight(
    kind: Kind,
    addr: SocketAddr,
    inflight: usize,
    heap: &impl Heap,
) -> Result<f64, BoxError> {
    let stats = Client::new(Kind::Bare, addr, STATS)?;
    let client = Client::new(kind, addr, SLOW)?;
    // One call first: the pool, the layers' state and tracing's callsites
    // exist before the baseline.
    client.call().await?;
    let seen = server_counts(&stats).await?[2];
    let baseline = heap.live_bytes();
    let mut calls = JoinSet::new();
    for _ in 0..inflight {
        let client = client.clone();
        calls.spawn(async move { client.call().await });
    }
    // Until the server holds every request (it answers after SLOW_DELAY).
    let give_up = tokio::time::Instant::now() + SLOW_DELAY;
    let mut peak = heap.live_bytes();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        peak = peak.max(heap.live_bytes());
        if server_counts(&stats).await?[2] - seen >= inflight as u64 {
            peak = peak.max(heap.live_bytes());
            break;
        }
        if tokio::time::Instant::now() > give_up {
            return Err(
                format!("{kind}: {inflight} requests were not all in flight in time").into(),
            );
        }
    }
    while let Some(done) = calls.join_next().await {
        done??;
    }
    Ok((peak - baseline) as f64 / inflight as f64)
}
