//! The entry encoding's cost for a typical API answer: a 1 KiB JSON body
//! with the usual headers, stored for a caller with credentials and
//! `Vary: Accept, Authorization`. Prints the encoded size; criterion gives
//! encode and decode times (decode rebuilds the RFC 9111 policy).

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Mutex;

use criterion::{Criterion, criterion_group, criterion_main};
use girder_cache::{CacheConfig, CacheEntry, CacheKey, CacheLayer, CacheStore};
use girder_core::{Body, BoxError};
use girder_test::expect_ready;
use http::{Request, Response};
use tower::{Layer, Service};

/// Keeps the last entry it was given.
#[derive(Default)]
struct Last(Mutex<Option<CacheEntry>>);

impl CacheStore for Last {
    async fn get(&self, _: &CacheKey) -> Result<Option<CacheEntry>, BoxError> {
        Ok(None)
    }
    async fn put(&self, _: CacheKey, entry: CacheEntry) -> Result<(), BoxError> {
        *self.0.lock().unwrap() = Some(entry);
        Ok(())
    }
    async fn remove(&self, _: &CacheKey) -> Result<(), BoxError> {
        Ok(())
    }
}

fn typical_entry() -> CacheEntry {
    let mut json = String::from(r#"{"items":["#);
    let mut i = 0;
    while json.len() < 1000 {
        json.push_str(&format!(r#"{{"id":{i},"name":"widget {i}"}},"#));
        i += 1;
    }
    json.pop();
    json.push_str("]}");
    let json = format!("{json:<1024}");
    let origin = tower::service_fn(move |_req: Request<Body>| {
        let json = json.clone();
        std::future::ready(Ok::<_, BoxError>(
            Response::builder()
                .header("content-type", "application/json; charset=utf-8")
                .header("content-length", "1024")
                .header("cache-control", "private, max-age=60, stale-if-error=300")
                .header("etag", "W/\"5f3a-1a2b3c4d\"")
                .header("date", "Fri, 04 Dec 2026 18:00:00 GMT")
                .header("last-modified", "Fri, 04 Dec 2026 17:00:00 GMT")
                .header("vary", "Accept, Authorization")
                .header("x-request-id", "7d1c2b9e-8f4a-4c3e-9b1d-2a6f0e5c4b3a")
                .header("x-ratelimit-remaining", "4999")
                .body(Body::from(json))
                .unwrap(),
        ))
    });
    let layer = CacheLayer::with_store(CacheConfig::default(), Last::default());
    let mut svc = layer.layer(origin);
    let req = Request::get("https://api.example.com/v1/items?page=2")
        .header("accept", "application/json")
        .header("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig")
        .body(Body::empty())
        .unwrap();
    expect_ready(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
    drop(expect_ready(svc.call(req)).unwrap());
    let entry = layer.store().0.lock().unwrap().take();
    entry.expect("a fresh 200 is stored")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let entry = typical_entry();
    let bytes = entry.encode().unwrap();
    println!(
        "encoded entry: {} bytes (body {} bytes, weight {})",
        bytes.len(),
        entry.variants()[0].body().len(),
        entry.weight()
    );
    c.bench_function("encode 1 KiB JSON entry", |b| {
        b.iter(|| black_box(&entry).encode().unwrap())
    });
    c.bench_function("decode 1 KiB JSON entry", |b| {
        b.iter(|| CacheEntry::decode(black_box(&bytes)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
