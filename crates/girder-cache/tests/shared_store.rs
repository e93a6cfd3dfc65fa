//! A store that keeps only bytes, as a shared store (Redis) does: every
//! entry is encoded on `put` and decoded afresh on `get`, and each call
//! goes through a new cache layer (a "second process") sharing the store.
//! The same scenarios run over the in-memory store; the caller must see
//! exactly the same thing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use girder_cache::{CacheConfig, CacheEntry, CacheKey, CacheLayer, CacheStatus, CacheStore};
use girder_core::{Body, BoxError, WallClock};
use girder_test::{MockService, Reply, Script};
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt};

const T0: u64 = 1_700_000_000;
const SECRET: [u8; 32] = [9; 32];

/// Keeps encoded entries only, under [`CacheKey::to_storage_key`].
#[derive(Clone, Default)]
struct BytesStore {
    map: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>>,
    decode_failures: Arc<AtomicUsize>,
}

impl BytesStore {
    fn name(key: &CacheKey) -> Vec<u8> {
        format!("girder:cache:{}", key.to_storage_key()).into_bytes()
    }

    fn corrupt_all(&self, with: impl Fn(&[u8]) -> Vec<u8>) {
        for value in self.map.lock().unwrap().values_mut() {
            *value = with(value);
        }
    }

    fn all_decode(&self) -> bool {
        let map = self.map.lock().unwrap();
        !map.is_empty() && map.values().all(|v| CacheEntry::decode(v).is_ok())
    }
}

impl CacheStore for BytesStore {
    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, BoxError> {
        let bytes = self.map.lock().unwrap().get(&Self::name(key)).cloned();
        match bytes.map(|b| CacheEntry::decode(&b)) {
            None => Ok(None),
            Some(Ok(entry)) => Ok(Some(entry)),
            Some(Err(error)) => {
                self.decode_failures.fetch_add(1, Ordering::SeqCst);
                Err(error.into())
            }
        }
    }

    async fn put(&self, key: CacheKey, entry: CacheEntry) -> Result<(), BoxError> {
        let bytes = entry.encode()?;
        self.map
            .lock()
            .unwrap()
            .insert(Self::name(&key), bytes.to_vec());
        Ok(())
    }

    async fn remove(&self, key: &CacheKey) -> Result<(), BoxError> {
        self.map.lock().unwrap().remove(&Self::name(key));
        Ok(())
    }
}

fn config(clock: WallClock) -> CacheConfig {
    CacheConfig::builder()
        .clock(clock)
        .identity_secret(SECRET)
        .build()
        .unwrap()
}

fn start() -> WallClock {
    WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(T0))
}

fn get(path: &str, headers: &[(&'static str, &str)]) -> Request<Body> {
    let mut req = Request::get(format!("http://api.test{path}"))
        .body(Body::empty())
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().append(*k, v.parse().unwrap());
    }
    req
}

/// What a caller saw of one call.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    cache: Option<CacheStatus>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

async fn seen(res: Result<Response<Body>, BoxError>) -> Seen {
    let res = res.expect("a cache never fails a call over a working origin");
    Seen {
        status: res.status().as_u16(),
        cache: res.extensions().get::<CacheStatus>().copied(),
        headers: res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
        body: res.into_body().collect().await.unwrap().to_bytes().to_vec(),
    }
}

/// One call: seconds to wait first, then the request.
type Step = (u64, Request<Body>);

/// Runs `steps` against `origin` twice: through one layer over the
/// in-memory store, then through a new layer per call over one
/// [`BytesStore`]; asserts that callers and the origin saw the same.
async fn same_as_in_memory<S>(
    make_origin: impl Fn() -> S,
    steps: impl Fn() -> Vec<Step>,
) -> BytesStore
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    let origin = make_origin();
    let clock = start();
    let mut memory = CacheLayer::new(config(clock)).layer(origin.clone());
    let mut expected = Vec::new();
    for (wait, req) in steps() {
        tokio::time::advance(Duration::from_secs(wait)).await;
        expected.push(seen(memory.ready().await.unwrap().call(req).await).await);
    }

    let origin2 = make_origin();
    let clock = start();
    let store = BytesStore::default();
    let mut got = Vec::new();
    for (wait, req) in steps() {
        tokio::time::advance(Duration::from_secs(wait)).await;
        let process = CacheLayer::with_store(config(clock), store.clone());
        let res = process.layer(origin2.clone()).oneshot(req).await;
        got.push(seen(res).await);
    }
    assert_eq!(got, expected);
    assert!(expected.iter().any(|s| s.cache != Some(CacheStatus::Miss)));
    assert_eq!(store.decode_failures.load(Ordering::SeqCst), 0);
    store
}

fn mock(
    f: impl Fn(&girder_test::RecordedRequest, usize) -> Reply + Send + Sync + 'static,
) -> MockService {
    let n = Arc::new(AtomicUsize::new(0));
    MockService::new(Script::from_fn(move |req| {
        f(req, n.fetch_add(1, Ordering::SeqCst) + 1)
    }))
}

#[tokio::test(start_paused = true)]
async fn a_hit_and_its_age() {
    let origin = || {
        mock(|_, n| {
            Reply::ok()
                .header("cache-control", "max-age=60")
                .body(format!("v{n}"))
        })
    };
    let steps = || {
        vec![
            (0, get("/a", &[])),
            (10, get("/a", &[])),
            (51, get("/a", &[])),
        ]
    };
    same_as_in_memory(origin, steps).await;
}

#[tokio::test(start_paused = true)]
async fn revalidation_with_a_304() {
    let origin = || {
        mock(|req, n| {
            if req.header("if-none-match") == Some("\"v1\"") {
                Reply::status(304)
                    .header("etag", "\"v1\"")
                    .header("x-generation", &n.to_string())
                    .header("cache-control", "max-age=5")
            } else {
                Reply::ok()
                    .header("etag", "\"v1\"")
                    .header("x-kept", "yes")
                    .header("cache-control", "max-age=1")
                    .body("body-1")
            }
        })
    };
    let steps = || {
        vec![
            (0, get("/r", &[])),
            (2, get("/r", &[])),
            (3, get("/r", &[])),
            (10, get("/r", &[])),
        ]
    };
    same_as_in_memory(origin, steps).await;
}

#[tokio::test(start_paused = true)]
async fn vary_variants_and_identities() {
    let origin = || {
        mock(|req, n| {
            let accept = req.header("accept").unwrap_or("none").to_owned();
            Reply::ok()
                .header("vary", "Accept, Authorization")
                .header("cache-control", "max-age=60")
                .body(format!("{accept} {n}"))
        })
    };
    let alpha = ("authorization", "Bearer alpha-s3cr3t");
    let beta = ("authorization", "Bearer beta-s3cr3t");
    let steps = || {
        vec![
            (0, get("/v", &[("accept", "application/json"), alpha])),
            (1, get("/v", &[("accept", "application/xml"), alpha])),
            (1, get("/v", &[("accept", "application/json"), alpha])),
            (1, get("/v", &[("accept", "application/xml"), alpha])),
            (1, get("/v", &[("accept", "application/json"), beta])),
            (
                1,
                get("/v", &[("accept", "application/json,  text/plain"), alpha]),
            ),
            (
                1,
                get("/v", &[("accept", "application/json, text/plain"), alpha]),
            ),
            (1, get("/v", &[alpha])),
            // A request directive takes the policy's exact path.
            (
                1,
                get(
                    "/v",
                    &[
                        ("accept", "application/json"),
                        alpha,
                        ("cache-control", "max-age=3"),
                    ],
                ),
            ),
            (
                1,
                get("/v?api_key=q-s3cr3t", &[("accept", "application/json")]),
            ),
            (
                1,
                get(
                    "/v?api_key=q-s3cr3t",
                    &[
                        ("accept", "application/json"),
                        ("cache-control", "max-age=3"),
                    ],
                ),
            ),
        ]
    };
    let store = same_as_in_memory(origin, steps).await;
    // What the shared store holds names no credential.
    for bytes in store.map.lock().unwrap().values() {
        assert!(
            !bytes.windows(6).any(|w| w == b"s3cr3t"),
            "a credential reached the store"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn stale_if_error() {
    let origin = || {
        mock(|_, n| match n {
            1 => Reply::ok()
                .header("cache-control", "max-age=1, stale-if-error=60")
                .body("good"),
            _ => Reply::status(503).body("down"),
        })
    };
    let steps = || {
        vec![
            (0, get("/s", &[])),
            (30, get("/s", &[])),
            (40, get("/s", &[])),
        ]
    };
    same_as_in_memory(origin, steps).await;
}

/// Turns an entry's bytes into garbage.
type Corruption = fn(&[u8]) -> Vec<u8>;

/// Garbage under a key (a corrupt, foreign or newer entry) is a miss, never
/// an error to the caller, and the next fill overwrites it.
#[tokio::test(start_paused = true)]
async fn corrupt_bytes_are_a_miss_and_are_overwritten() {
    let origin = mock(|_, n| {
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body(format!("v{n}"))
    });
    let clock = start();
    let store = BytesStore::default();
    let call = |path: &'static str| {
        let process = CacheLayer::with_store(config(clock), store.clone());
        process.layer(origin.clone()).oneshot(get(path, &[]))
    };
    assert_eq!(seen(call("/c").await).await.cache, Some(CacheStatus::Miss));
    assert_eq!(seen(call("/c").await).await.cache, Some(CacheStatus::Hit));
    let corruptions: [Corruption; 4] = [
        |b| b[..b.len() / 2].to_vec(),
        |_| b"{\"foreign\": true}".to_vec(),
        |b| [&b[..4], &[2], &b[5..]].concat(),
        |b| b.iter().map(|x| x ^ 0x5a).collect(),
    ];
    for (i, corrupt) in corruptions.into_iter().enumerate() {
        store.corrupt_all(corrupt);
        assert!(!store.all_decode());
        let res = seen(call("/c").await).await;
        assert_eq!(res.cache, Some(CacheStatus::Miss), "corruption {i}");
        assert_eq!(res.body, format!("v{}", i + 2).into_bytes());
        assert!(store.all_decode(), "corruption {i}: overwritten");
        assert_eq!(seen(call("/c").await).await.cache, Some(CacheStatus::Hit));
    }
    assert_eq!(store.decode_failures.load(Ordering::SeqCst), 4);
    assert_eq!(origin.request_count(), 5);
}

/// Whatever a shared store hands back, a call is answered: randomly
/// changed entries (from a fixed seed) are served, or are misses, through
/// the whole layer, never an error or a panic. Revalidation and request
/// directives run on what decodes.
#[tokio::test(start_paused = true)]
async fn mutated_entries_never_fail_a_call() {
    let origin = mock(|_, n| {
        Reply::ok()
            .header("cache-control", "max-age=2, stale-if-error=60")
            .header("etag", "\"e\"")
            .header("vary", "Accept")
            .header("last-modified", "Tue, 14 Nov 2023 22:00:00 GMT")
            .body(format!("v{n}"))
    });
    let clock = start();
    let store = BytesStore::default();
    let call = |req: Request<Body>| {
        let process = CacheLayer::with_store(config(clock), store.clone());
        process.layer(origin.clone()).oneshot(req)
    };
    seen(call(get("/m", &[("accept", "a")])).await).await;
    let valid = store.map.lock().unwrap().values().next().unwrap().clone();
    let mut rng = fastrand::Rng::with_seed(1919);
    let mut hits = 0;
    for round in 0..600 {
        let mut bytes = valid.clone();
        for _ in 0..rng.usize(1..=3) {
            let at = rng.usize(..bytes.len());
            bytes[at] = rng.u8(..);
        }
        store.corrupt_all(|_| bytes.clone());
        let req = match round % 3 {
            0 => get("/m", &[("accept", "a")]),
            1 => get("/m", &[("accept", "a"), ("cache-control", "max-stale=5")]),
            _ => get("/m", &[("accept", "a"), ("if-none-match", "\"e\"")]),
        };
        let res = seen(call(req).await).await;
        hits += usize::from(res.cache == Some(CacheStatus::Hit));
        tokio::time::advance(Duration::from_millis(rng.u64(0..3000))).await;
    }
    assert!(hits > 0 && store.decode_failures.load(Ordering::SeqCst) > 0);
}
