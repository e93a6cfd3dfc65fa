//! The entry encoding: what the cache stores round-trips exactly (every
//! status, `Vary` variants, binary header values, empty and large bodies),
//! and bytes that are not an entry are an error, never a panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use girder_cache::encoding::{MAGIC, MAX_ENCODED_LEN, VERSION};
use girder_cache::{CacheConfig, CacheEntry, CacheKey, CacheLayer, CacheStore, DecodeErrorKind};
use girder_core::{Body, BoxError, WallClock};
use girder_test::{MockService, Reply, Script};
use http::{HeaderValue, Request, Response};
use tower::{Layer, ServiceExt};

const T0: u64 = 1_700_000_000;

/// An in-memory store that also keeps every entry it was given.
#[derive(Clone, Default)]
struct Recording {
    map: Arc<Mutex<HashMap<CacheKey, CacheEntry>>>,
    puts: Arc<Mutex<Vec<CacheEntry>>>,
}

impl CacheStore for Recording {
    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, BoxError> {
        Ok(self.map.lock().unwrap().get(key).cloned())
    }
    async fn put(&self, key: CacheKey, entry: CacheEntry) -> Result<(), BoxError> {
        self.puts.lock().unwrap().push(entry.clone());
        self.map.lock().unwrap().insert(key, entry);
        Ok(())
    }
    async fn remove(&self, key: &CacheKey) -> Result<(), BoxError> {
        self.map.lock().unwrap().remove(key);
        Ok(())
    }
}

fn layer(store: Recording) -> CacheLayer<Recording> {
    let clock = WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(T0));
    let config = CacheConfig::builder().clock(clock).build().unwrap();
    CacheLayer::with_store(config, store)
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

/// Asserts that `entry` decodes to what it was, as the cache reads it, and
/// encodes again to the same bytes; returns its encoding.
fn assert_round_trip(entry: &CacheEntry) -> Bytes {
    let bytes = entry.encode().unwrap();
    let back = CacheEntry::decode(&bytes).unwrap();
    assert_eq!(back.encode().unwrap(), bytes);
    assert_eq!(back.retain_for(), entry.retain_for());
    assert_eq!(back.weight(), entry.weight());
    assert_eq!(back.variants().len(), entry.variants().len());
    for (a, b) in entry.variants().iter().zip(back.variants()) {
        assert_eq!(a.status(), b.status());
        let fields = |v: &girder_cache::StoredResponse| {
            v.headers()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone(), v.is_sensitive()))
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(a), fields(b));
        assert_eq!(a.body(), b.body());
        assert_eq!(a.response_time(), b.response_time());
        assert_eq!(a.fresh_until(), b.fresh_until());
        assert_eq!(a.has_validator(), b.has_validator());
        assert_eq!(a.policy().is_storable(), b.policy().is_storable());
        for later in [0, 1, 59, 61, 3600, 86_400 * 400] {
            let t = a.response_time() + Duration::from_secs(later);
            assert_eq!(a.policy().age(t), b.policy().age(t));
            assert_eq!(a.policy().time_to_live(t), b.policy().time_to_live(t));
            assert_eq!(a.staleness(t), b.staleness(t));
        }
    }
    bytes
}

fn recorded(store: &Recording) -> Vec<CacheEntry> {
    store.puts.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn every_status_round_trips() {
    let store = Recording::default();
    let origin = MockService::new(Script::from_fn(|req| {
        let code: u16 = req.uri.path()[2..].parse().unwrap();
        let reply = Reply::status(code).body(format!("s{code}"));
        // Explicit freshness for most; the heuristic (Last-Modified) or
        // nothing for some.
        match code % 3 {
            0 => reply.header("cache-control", "max-age=60, stale-if-error=30"),
            1 => reply
                .header("last-modified", "Tue, 14 Nov 2023 22:00:00 GMT")
                .header("cache-control", "public"),
            _ => reply
                .header("expires", "Tue, 14 Nov 2099 22:00:00 GMT")
                .header("etag", "\"e\""),
        }
    }));
    let svc = layer(store.clone()).layer(origin);
    for code in 200..=999u16 {
        svc.clone()
            .oneshot(get(&format!("/s{code}"), &[]))
            .await
            .unwrap();
    }
    let entries = recorded(&store);
    assert!(entries.len() > 700, "{} stored", entries.len());
    let mut statuses = std::collections::BTreeSet::new();
    for entry in &entries {
        assert_round_trip(entry);
        statuses.insert(entry.variants()[0].status().as_u16());
    }
    assert!(statuses.contains(&200) && statuses.contains(&404) && statuses.contains(&999));
}

/// An origin answering with a binary header value, repeated fields, a
/// sensitive one, and bodies of the size the path says.
fn binary_origin()
-> impl tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future: Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(|req: Request<Body>| async move {
        let size: usize = req.uri().path()[1..].parse().unwrap_or(0);
        let accept = req.headers().get("accept").cloned();
        let mut secret = HeaderValue::from_static("opaque");
        secret.set_sensitive(true);
        let mut res = Response::builder()
            .header("cache-control", "max-age=60")
            .header("vary", "Accept, Accept-Language")
            .header(
                "x-binary",
                HeaderValue::from_bytes(b"caf\xe9 \xff\x80").unwrap(),
            )
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .header("link", "</a>; rel=next")
            .header(
                "x-echo-accept",
                accept.unwrap_or(HeaderValue::from_static("-")),
            )
            .body(Body::from(vec![b'x'; size]))
            .unwrap();
        res.headers_mut().insert("x-token", secret);
        Ok::<_, BoxError>(res)
    })
}

#[tokio::test(start_paused = true)]
async fn variants_binary_values_and_bodies_round_trip() {
    let store = Recording::default();
    let svc = layer(store.clone()).layer(binary_origin());
    for size in [0usize, 1, 1000, 512 * 1024] {
        let path = format!("/{size}");
        for accept in [
            Some("application/json"),
            Some("text/plain,  text/html"),
            None,
        ] {
            let headers: Vec<_> = accept.map(|a| ("accept", a)).into_iter().collect();
            svc.clone().oneshot(get(&path, &headers)).await.unwrap();
        }
    }
    let entries = recorded(&store);
    let last = entries.last().unwrap();
    assert_eq!(last.variants().len(), 3);
    assert_eq!(last.variants()[0].body().len(), 512 * 1024);
    for entry in &entries {
        let bytes = assert_round_trip(entry);
        assert!(bytes.windows(6).any(|w| w == b"caf\xe9 \xff"));
    }
    // A decoded entry selects its variants as the original did.
    let back = CacheEntry::decode(&last.encode().unwrap()).unwrap();
    let bodies: Vec<_> = back
        .variants()
        .iter()
        .map(|v| v.headers()["x-echo-accept"].clone())
        .collect();
    assert_eq!(bodies, ["-", "text/plain,  text/html", "application/json"]);
}

#[tokio::test(start_paused = true)]
async fn vary_star_round_trips() {
    let store = Recording::default();
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=60")
            .header("vary", "*")
            .header("etag", "\"s\"")
            .body("star"),
    );
    layer(store.clone())
        .layer(origin)
        .oneshot(get("/star", &[]))
        .await
        .unwrap();
    let entries = recorded(&store);
    assert_eq!(entries.len(), 1);
    assert_round_trip(&entries[0]);
}

/// Encodings of a few real entries, for the tests that break them.
async fn samples() -> Vec<Bytes> {
    let store = Recording::default();
    let svc = layer(store.clone()).layer(binary_origin());
    for accept in ["a", "b"] {
        svc.clone()
            .oneshot(get("/40", &[("accept", accept), ("accept-language", "fr")]))
            .await
            .unwrap();
    }
    let entries = recorded(&store);
    entries.iter().map(|e| e.encode().unwrap()).collect()
}

#[tokio::test(start_paused = true)]
async fn each_failure_has_its_kind() {
    let sample = samples().await.pop().unwrap();
    let kind = |bytes: &[u8]| CacheEntry::decode(bytes).unwrap_err().kind();
    assert_eq!(kind(b""), DecodeErrorKind::Truncated);
    assert_eq!(kind(b"GRD"), DecodeErrorKind::Truncated);
    assert_eq!(kind(b"HTTP/1.1 200 OK\r\n"), DecodeErrorKind::BadMagic);
    assert_eq!(
        kind(&[&MAGIC[..], &[VERSION + 1]].concat()),
        DecodeErrorKind::UnknownVersion
    );
    assert_eq!(
        kind(&[&MAGIC[..], &[0]].concat()),
        DecodeErrorKind::UnknownVersion
    );
    assert_eq!(
        kind(&sample[..sample.len() - 1]),
        DecodeErrorKind::Truncated
    );
    assert_eq!(
        kind(&[&sample[..], b"!"].concat()),
        DecodeErrorKind::TrailingBytes
    );
    assert_eq!(
        kind(&vec![0; MAX_ENCODED_LEN + 1]),
        DecodeErrorKind::Oversized
    );
    // The first variant's status sits after magic, version, retain-for
    // (12 bytes) and the variant count (2).
    let patched = |at: usize, with: &[u8]| {
        let mut b = sample.to_vec();
        b[at..at + with.len()].copy_from_slice(with);
        b
    };
    assert_eq!(kind(&patched(19, &[0, 99])), DecodeErrorKind::InvalidStatus);
    assert_eq!(
        kind(&patched(19, &1000u16.to_be_bytes())),
        DecodeErrorKind::InvalidStatus
    );
    assert_eq!(kind(&patched(21, &[9])), DecodeErrorKind::InvalidField);
    assert_eq!(
        kind(&patched(17, &[0xff, 0xff])),
        DecodeErrorKind::Oversized
    );
    // retain-for's nanoseconds.
    assert_eq!(kind(&patched(13, &[0xff; 4])), DecodeErrorKind::InvalidTime);
    // The response time's seconds, far beyond any real date.
    assert_eq!(kind(&patched(22, &[0x7f; 8])), DecodeErrorKind::InvalidTime);
    // The header count, then the first header's flags and name length.
    assert_eq!(kind(&patched(34, &[0xff; 4])), DecodeErrorKind::Truncated);
    assert_eq!(kind(&patched(38, &[0x80])), DecodeErrorKind::InvalidField);
    assert_eq!(kind(&patched(39, &[0xff; 4])), DecodeErrorKind::Truncated);
    let name = 43;
    assert_eq!(kind(&patched(name, b" ")), DecodeErrorKind::InvalidHeader);
    // Errors say where, never what.
    let text = CacheEntry::decode(&patched(name, b" "))
        .unwrap_err()
        .to_string();
    assert!(
        text.starts_with("cache entry invalid header field at byte"),
        "{text}"
    );
}

/// Decoding never panics: every truncation, random byte changes, spliced
/// entries and noise behind a valid header, from a fixed seed. Whatever
/// decodes encodes again to the same bytes.
#[tokio::test(start_paused = true)]
async fn garbage_never_panics() {
    let samples = samples().await;
    for sample in &samples {
        for len in 0..sample.len() {
            assert_eq!(
                CacheEntry::decode(&sample[..len]).unwrap_err().kind(),
                DecodeErrorKind::Truncated,
                "prefix of {len}"
            );
        }
    }
    let mut rng = fastrand::Rng::with_seed(19);
    let mut decoded = 0;
    for round in 0..30_000 {
        let mut bytes = samples[round % samples.len()].to_vec();
        match round % 5 {
            0 | 1 => {
                for _ in 0..rng.usize(1..=4) {
                    let at = rng.usize(..bytes.len());
                    bytes[at] = rng.u8(..);
                }
            }
            2 => {
                let at = rng.usize(..bytes.len());
                bytes[at] ^= 1 << rng.u8(0..8);
            }
            3 => {
                let other = &samples[rng.usize(..samples.len())];
                let cut = rng.usize(5..bytes.len());
                bytes.truncate(cut);
                bytes.extend_from_slice(&other[rng.usize(5..other.len())..]);
            }
            _ => {
                bytes.truncate(rng.usize(5..40));
                let noise = rng.usize(0..200);
                bytes.extend((0..noise).map(|_| rng.u8(..)));
            }
        }
        if let Ok(entry) = CacheEntry::decode(&bytes) {
            decoded += 1;
            let again = entry.encode().unwrap();
            assert_eq!(CacheEntry::decode(&again).unwrap().encode().unwrap(), again);
        }
    }
    // Some changes leave a valid entry (a byte of the body, say).
    assert!(decoded > 0);
}
