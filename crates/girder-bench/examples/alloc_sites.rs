//! A driver for allocation and instruction profiles: the full stack
//! (logging off, or on with `--logging`) over a ready in-memory transport,
//! `N` calls (default 10,000) on a current-thread runtime. Under
//! `valgrind --tool=dhat` each allocation site's block count divided by
//! `N` is what one call allocates there (setup sites round to zero);
//! under `--tool=callgrind` the instructions per call. See BENCHMARKS.md:
//!
//! ```sh
//! cargo build --release -p girder-bench --example alloc_sites
//! valgrind --tool=dhat target/release/examples/alloc_sites 10000
//! ```

#![allow(missing_docs)]

use girder::core::{Body, BoxError};
use girder_bench::clients::girder_builder;
use girder_bench::discarding_subscriber;
use girder_bench::server::JSON;
use http::{Request, Response};

fn main() {
    let logging = std::env::args().any(|a| a == "--logging");
    let calls: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    discarding_subscriber();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let transport = tower::service_fn(|_req: Request<Body>| {
        std::future::ready(Ok::<_, BoxError>(
            Response::builder()
                .header("content-type", "application/json")
                .header("cache-control", "no-store")
                .body(Body::from(JSON))
                .unwrap(),
        ))
    });
    let client = girder_builder("http://api.test", logging)
        .unwrap()
        .build_with_transport(transport)
        .unwrap();
    let call = || async {
        let response = client.get("items").send().await.unwrap();
        response.bytes().await.unwrap()
    };
    runtime.block_on(async {
        for _ in 0..calls {
            call().await;
        }
    });
}
