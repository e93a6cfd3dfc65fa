//! The per-request costs girder-core adds to every layer's hot path.
//!
//! `cargo bench -p girder-core`; medians are in
//! `target/criterion/<name>/new/estimates.json`.

#![allow(missing_docs)]

use std::error::Error;
use std::fmt;
use std::hint::black_box;
use std::io;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use girder_core::record::{CallRecord, Event};
use girder_core::{
    Body, Classify, DefaultClassifier, Idempotency, Outcome, Partition, ReplayBody, ServerHints,
};
use http::{HeaderMap, HeaderValue, Request, Response};

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

/// An attempt, as a layer would note it.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    number: u32,
}
impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {}", self.number)
    }
}
impl Event for Attempt {
    fn attempt(&self) -> Option<u32> {
        Some(self.number)
    }
}

#[derive(Debug)]
struct Wrap(Box<dyn Error + Send + Sync>);
impl fmt::Display for Wrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wrap")
    }
}
impl Error for Wrap {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

fn bench(c: &mut Criterion) {
    let mut req = Request::get("https://api.test/users/42")
        .body(Body::from("payload"))
        .unwrap();
    req.extensions_mut().insert(Idempotency::Idempotent);

    c.bench_function("record_note_absent", |b| {
        b.iter(|| {
            CallRecord::note(black_box(req.extensions()), "bench", || Attempt {
                number: 1,
            })
        })
    });
    c.bench_function("record_note_present", |b| {
        b.iter_batched(
            || {
                let mut r = Request::new(());
                CallRecord::ensure(&mut r);
                r
            },
            |r| CallRecord::note(r.extensions(), "bench", || Attempt { number: 1 }),
            BatchSize::SmallInput,
        )
    });

    let plain = headers(&[
        ("content-type", "application/json"),
        ("content-length", "512"),
        ("date", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ("server", "api"),
        ("cache-control", "no-store"),
    ]);
    let hinted = headers(&[
        ("content-type", "application/json"),
        ("retry-after", "3"),
        (
            "ratelimit-policy",
            r#""burst";q=100;w=60, "daily";q=1000;w=86400"#,
        ),
        ("ratelimit", r#""burst";r=0;t=30, "daily";r=500;t=7200"#),
        ("x-ratelimit-limit", "100"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "1445412510"),
    ]);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    c.bench_function("hints_parse_no_hints", |b| {
        b.iter(|| ServerHints::parse(black_box(&plain), now))
    });
    c.bench_function("hints_parse_all_fields", |b| {
        b.iter(|| ServerHints::parse(black_box(&hinted), now))
    });

    let res = Response::builder().status(503).body(()).unwrap();
    c.bench_function("classify_status", |b| {
        b.iter(|| DefaultClassifier.classify(Outcome::response(black_box(&res))))
    });
    let err: Box<dyn Error + Send + Sync> = Box::new(Wrap(Box::new(Wrap(Box::new(
        io::Error::from(io::ErrorKind::ConnectionReset),
    )))));
    c.bench_function("classify_error_chain_depth_3", |b| {
        b.iter(|| DefaultClassifier.classify(Outcome::error(black_box(&*err))))
    });

    let by_authority = Partition::by_authority();
    let by_route = Partition::by_route();
    c.bench_function("partition_by_authority", |b| {
        b.iter(|| by_authority.key(black_box(&req)))
    });
    c.bench_function("partition_by_route", |b| {
        b.iter(|| by_route.key(black_box(&req)))
    });
    c.bench_function("idempotency_of", |b| {
        b.iter(|| Idempotency::of(black_box(&req)))
    });
    c.bench_function("body_try_replay_buffered", |b| {
        b.iter(|| black_box(&req).body().try_replay())
    });
    c.bench_function("replay_request", |b| {
        b.iter(|| girder_core::replay_request(black_box(&req)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
