//! Fuzz target for the cache path: responses with fuzzed `Cache-Control`,
//! `Expires`, `Date`, `Last-Modified`, `Age`, `Vary` and `ETag`, stored and
//! then served, revalidated or refetched for a second request with fuzzed
//! `Cache-Control`, `Pragma`, conditionals and varying headers, after a
//! fuzzed wait. The long run: `GIRDER_FUZZ_ITERS=1000000 cargo test
//! --release -p girder-cache --test fuzz -- --nocapture` (see
//! `girder_test::fuzz`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use girder_cache::{CacheConfig, CacheEntry, CacheKey, CacheLayer, CacheStatus, CacheStore};
use girder_core::{Body, BoxError, WallClock};
use girder_test::fuzz::{self, Gen};
use girder_test::{MockService, Reply, Script};
use http::{HeaderMap, HeaderName, Request, Response};
use http_body_util::BodyExt;
use tower::{Layer, ServiceBuilder, ServiceExt};

const T0: u64 = 1_700_000_000;

const CACHE_CONTROL: &[&str] = &[
    "max-age=60",
    "public, max-age=3600, stale-while-revalidate=30, stale-if-error=86400",
    "no-cache",
    "no-store, must-understand",
    "private, max-age=0, must-revalidate",
    "s-maxage=10, max-age=\"20\"",
    "immutable, max-age=31536000",
    "max-age=99999999999999999999",
    "max-stale, min-fresh=5, only-if-cached",
    "no-transform, proxy-revalidate, community=\"UCI\"",
    "max-age=60, max-age=0",
    ",,=,max-age=",
];

const DATES: &[&str] = &[
    "Tue, 14 Nov 2023 22:13:20 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "SUN, 06 NOV 1994 08:49:37 gmt",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Fri, 31 Dec 9999 23:59:60 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "0",
    "-1",
];

const VARY: &[&str] = &[
    "Accept",
    "accept-encoding, accept-language",
    "*",
    "Authorization",
    "X-Tenant, , Accept",
    "Cookie",
];

const ETAGS: &[&str] = &["\"v1\"", "W/\"v1\"", "\"\"", "*", "\"a\", W/\"b\""];

const CACHE_DICT: &[&str] = &[
    ",",
    "=",
    "\"",
    " ",
    "max-age",
    "s-maxage",
    "no-cache",
    "no-store",
    "private",
    "public",
    "must-revalidate",
    "stale-while-revalidate",
    "stale-if-error",
    "immutable",
    "only-if-cached",
    "must-understand",
    "GMT",
    "Dec",
    "-",
    ":",
];

/// One fuzzed header of a response or a request, from its seeds.
fn fuzzed(g: &mut Gen, headers: &mut HeaderMap, name: &'static str, seeds: &[&str]) {
    headers.append(
        HeaderName::from_static(name),
        g.header_value(seeds, CACHE_DICT),
    );
}

fn response_headers(g: &mut Gen) -> HeaderMap {
    let mut h = HeaderMap::new();
    for _ in 0..g.rng().usize(0..3) {
        fuzzed(g, &mut h, "cache-control", CACHE_CONTROL);
    }
    let dated: [(&'static str, &[&str]); 6] = [
        ("expires", DATES),
        ("date", DATES),
        ("last-modified", DATES),
        ("age", &["0", "30", "4294967296", "1, 2"]),
        ("vary", VARY),
        ("etag", ETAGS),
    ];
    for (name, seeds) in dated {
        if g.chance(40) {
            fuzzed(g, &mut h, name, seeds);
        }
    }
    if g.chance(10) {
        fuzzed(g, &mut h, "pragma", &["no-cache", "foo"]);
    }
    h
}

fn request_headers(g: &mut Gen) -> HeaderMap {
    let mut h = HeaderMap::new();
    let fields: [(&'static str, &[&str]); 8] = [
        ("cache-control", CACHE_CONTROL),
        ("pragma", &["no-cache", "foo"]),
        ("if-none-match", ETAGS),
        ("if-modified-since", DATES),
        (
            "accept",
            &["application/json", "*/*", "text/html;q=0.9, */*;q=0.1"],
        ),
        ("accept-encoding", &["gzip", "gzip, br", "identity"]),
        ("x-tenant", &["a", "b", ""]),
        ("authorization", &["Bearer t1", "Bearer t2"]),
    ];
    for (name, seeds) in fields {
        if g.chance(20) {
            fuzzed(g, &mut h, name, seeds);
        }
    }
    h
}

/// One origin reply: status, headers and body.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: &'static str,
}

fn answer(g: &mut Gen, second: bool) -> Answer {
    let statuses: &[u16] = if second {
        &[200, 200, 304, 304, 500, 503, 404]
    } else {
        &[200, 200, 200, 203, 204, 301, 404, 410, 500, 206]
    };
    Answer {
        status: statuses[g.below(statuses.len())],
        headers: response_headers(g),
        body: ["", "v1", "{\"a\":1}"][g.below(3)],
    }
}

#[derive(Debug)]
struct Exchange {
    first: (Request<()>, Answer),
    wait: Duration,
    second: (Request<()>, Answer),
}

fn request(g: &mut Gen) -> Request<()> {
    let method = ["GET", "GET", "GET", "HEAD", "POST"][g.below(5)];
    let mut request = Request::builder()
        .method(method)
        .uri("http://api.test/items")
        .body(())
        .unwrap();
    *request.headers_mut() = request_headers(g);
    request
}

fn exchange(g: &mut Gen) -> Exchange {
    // Paused time adds up over the run: a million inputs stay well
    // before the year 9999, past which http-cache-semantics cannot format
    // `now` (a clock no system has; the dates the server sends go
    // further, and are fuzzed).
    let wait = match g.rng().u32(0..20) {
        0..=4 => Duration::ZERO,
        5..=9 => Duration::from_millis(g.rng().u64(0..5_000)),
        10..=18 => Duration::from_secs(g.rng().u64(0..100_000)),
        _ => Duration::from_secs(g.rng().u64(0..1_000_000)),
    };
    Exchange {
        first: (request(g), answer(g, false)),
        wait,
        second: (request(g), answer(g, true)),
    }
}

/// `request` for a path of its own (each input starts with an empty
/// cache entry) with an empty body.
fn sendable(request: &Request<()>, n: u64) -> Request<Body> {
    let mut out = Request::builder()
        .method(request.method().clone())
        .uri(format!("http://api.test/items/{n}"))
        .body(Body::empty())
        .unwrap();
    *out.headers_mut() = request.headers().clone();
    out
}

#[test]
fn the_cache_path_survives_any_headers() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let slot: Arc<Mutex<Option<Answer>>> = Arc::default();
    let reply = slot.clone();
    let origin = MockService::new(Script::from_fn(move |_| {
        let answer = reply.lock().unwrap().clone().expect("an answer");
        Reply::status(answer.status).body(answer.body)
    }));
    let headers = slot.clone();
    // Reply::header takes text; the fuzzed values (obs-text included) go
    // on the response as they are.
    let origin = ServiceBuilder::new()
        .map_response(move |mut response: Response<Body>| {
            if let Some(answer) = headers.lock().unwrap().as_ref() {
                for (name, value) in &answer.headers {
                    response.headers_mut().append(name, value.clone());
                }
            }
            response
        })
        .service(origin);
    let config = CacheConfig::builder()
        .max_bytes(4 << 20)
        .clock(WallClock::starting_at(
            SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
        ))
        .build()
        .unwrap();
    let cache = CacheLayer::new(config).layer(origin);
    let (mut n, mut hits) = (0u64, 0usize);
    fuzz::check("cache", 2_000, exchange, |exchange| {
        n += 1;
        let steps = [
            (&exchange.first, Duration::ZERO),
            (&exchange.second, exchange.wait),
        ];
        rt.block_on(async {
            for ((request, origin_answer), wait) in steps {
                tokio::time::advance(wait).await;
                *slot.lock().unwrap() = Some(origin_answer.clone());
                let response = cache
                    .clone()
                    .oneshot(sendable(request, n))
                    .await
                    .expect("the origin answers");
                let status = response.extensions().get::<CacheStatus>().copied();
                hits += usize::from(status == Some(CacheStatus::Hit));
                response
                    .into_body()
                    .collect()
                    .await
                    .expect("a stored or passed body reads to its end");
            }
        });
    });
    assert!(hits > 0, "no input was served from the cache");
}

/// A leap second at the last second of the year 9999: one past the last
/// instant an HTTP-date can be formatted in.
#[test]
fn regression_expires_fri_31_dec_9999_23_59_60_gmt() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    for name in ["expires", "date", "last-modified"] {
        let origin = MockService::new(
            Reply::ok()
                .header("cache-control", "max-age=60")
                .header(name, "Fri, 31 Dec 9999 23:59:60 GMT")
                .body("v1"),
        );
        let cache = CacheLayer::new(CacheConfig::default()).layer(origin.clone());
        rt.block_on(async {
            for _ in 0..2 {
                let request = Request::get("http://api.test/x")
                    .body(Body::empty())
                    .unwrap();
                let response = cache.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), 200);
            }
        });
    }
}

/// A store that keeps every entry the cache puts, for their encodings.
#[derive(Clone, Default)]
struct Recording {
    map: Arc<Mutex<HashMap<CacheKey, CacheEntry>>>,
}

impl CacheStore for Recording {
    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, BoxError> {
        Ok(self.map.lock().unwrap().get(key).cloned())
    }
    async fn put(&self, key: CacheKey, entry: CacheEntry) -> Result<(), BoxError> {
        self.map.lock().unwrap().insert(key, entry);
        Ok(())
    }
    async fn remove(&self, key: &CacheKey) -> Result<(), BoxError> {
        self.map.lock().unwrap().remove(key);
        Ok(())
    }
}

/// Encodings of entries the cache made from fuzzed exchanges: the seeds
/// of the decoder's target.
fn encoded_entries() -> Vec<Vec<u8>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let store = Recording::default();
    let config = CacheConfig::builder()
        .clock(WallClock::starting_at(
            SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
        ))
        .build()
        .unwrap();
    let layer = CacheLayer::with_store(config, store.clone());
    let mut g = Gen::new(fuzz::seed());
    rt.block_on(async {
        for n in 0..300 {
            let mut reply = Reply::ok()
                .header("cache-control", "max-age=600")
                .body(["", "v1", "{\"a\":1}"][n % 3]);
            for (name, value) in &response_headers(&mut g) {
                if let Ok(text) = value.to_str() {
                    reply = reply.header(name.as_str(), text);
                }
            }
            let mut request = Request::get(format!("http://api.test/e/{n}"))
                .body(Body::empty())
                .unwrap();
            *request.headers_mut() = request_headers(&mut g);
            let svc = layer.layer(MockService::new(reply));
            let _ = svc.oneshot(request).await;
        }
    });
    let entries = store.map.lock().unwrap();
    assert!(entries.len() > 30, "only {} entries stored", entries.len());
    entries
        .values()
        .map(|e| e.encode().unwrap().to_vec())
        .collect()
}

#[test]
fn stored_entries_decode_or_fail_and_round_trip() {
    let seeds = encoded_entries();
    let (mut inputs, mut decoded) = (0, 0);
    fuzz::check(
        "cache_entry_decode",
        3_000,
        |g| {
            if g.chance(5) {
                return g.bytes(64);
            }
            let mut data = seeds[g.below(seeds.len())].clone();
            g.mutate(
                &mut data,
                &[],
                &["GRDC", "\u{1}", "\0\0\0\0", "\u{ff}\u{ff}"],
            );
            data
        },
        |bytes| {
            inputs += 1;
            let Ok(entry) = CacheEntry::decode(bytes) else {
                return;
            };
            decoded += 1;
            let again = entry.encode().expect("a decoded entry encodes");
            let back = CacheEntry::decode(&again).expect("its encoding decodes");
            assert_eq!(back.encode().unwrap(), again, "encoding is stable");
        },
    );
    assert!(
        decoded * 10 > inputs,
        "{decoded} of {inputs} inputs decoded"
    );
}
