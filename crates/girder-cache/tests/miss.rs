//! The miss path is one for every caller: a miss on a passing key (the
//! pass path), a coalesced fill and a background refresh record the same
//! events in the call record and store the same entry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use girder_cache::{
    CacheConfig, CacheEntry, CacheKey, CacheLayer, CacheStatus, CacheStore, MokaStore,
};
use girder_core::{Body, BoxError, CallRecord, WallClock};
use girder_test::{MockService, Reply, Script};
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};

const T0: u64 = 1_700_000_000;

/// A `MokaStore` that also keeps every entry it is given; `sync`: it
/// answers at once (`get_now`), as `MokaStore` does, which lets a miss on
/// a passing key with nothing stored take the pass path.
#[derive(Clone)]
struct Puts {
    store: MokaStore,
    entries: Arc<Mutex<Vec<CacheEntry>>>,
    sync: bool,
}

impl CacheStore for Puts {
    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, BoxError> {
        self.store.get(key).await
    }
    async fn put(&self, key: CacheKey, entry: CacheEntry) -> Result<(), BoxError> {
        self.entries.lock().unwrap().push(entry.clone());
        self.store.put(key, entry).await
    }
    async fn remove(&self, key: &CacheKey) -> Result<(), BoxError> {
        self.store.remove(key).await
    }
    fn get_now(&self, key: &CacheKey) -> Option<Option<CacheEntry>> {
        self.store.get_now(key).filter(|_| self.sync)
    }
}

fn layer(sync: bool) -> (CacheLayer<Puts>, Arc<Mutex<Vec<CacheEntry>>>) {
    let clock = WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(T0));
    let config = CacheConfig::builder().clock(clock).build().unwrap();
    let entries = Arc::new(Mutex::new(Vec::new()));
    let store = Puts {
        store: MokaStore::new(1 << 20),
        entries: entries.clone(),
        sync,
    };
    (CacheLayer::with_store(config, store), entries)
}

/// A GET of `path` with a call record; the record.
fn get(path: &str) -> (Request<Body>, CallRecord) {
    let mut req = Request::get(format!("http://api.test{path}"))
        .body(Body::empty())
        .unwrap();
    let record = CallRecord::ensure(&mut req);
    (req, record)
}

fn events(record: &CallRecord) -> Vec<String> {
    record
        .entries()
        .iter()
        .map(|e| format!("{}: {}", e.layer, e.as_event()))
        .collect()
}

fn status(res: &Response<Body>) -> CacheStatus {
    *res.extensions().get::<CacheStatus>().expect("cache status")
}

async fn text(res: Response<Body>) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

/// What an entry says, less when it was stored.
fn gist(entry: &CacheEntry) -> Vec<String> {
    entry
        .variants()
        .iter()
        .map(|v| {
            format!(
                "{} {:?} {:?} lifetime={:?} validator={} retain={:?}",
                v.status(),
                v.headers(),
                v.body(),
                v.fresh_until().duration_since(v.response_time()),
                v.has_validator(),
                entry.retain_for(),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_coalesced_fill_and_a_background_refresh_store_the_same_entry() {
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=1, stale-while-revalidate=60")
            .header("content-type", "text/plain")
            .delay(Duration::from_millis(100))
            .body("same"),
    );
    let (layer, entries) = layer(true);
    let svc = layer.layer(origin.clone());

    // A fill: the leader asks, the waiter is handed its answer.
    let (leader, leader_record) = get("/e");
    let (waiter, waiter_record) = get("/e");
    let (led, waited) = tokio::join!(svc.clone().oneshot(leader), svc.clone().oneshot(waiter));
    let (led, waited) = (led.unwrap(), waited.unwrap());
    assert_eq!(status(&led), CacheStatus::Miss);
    assert_eq!(status(&waited), CacheStatus::Coalesced);
    assert_eq!(text(led).await, "same");
    assert_eq!(text(waited).await, "same");
    assert_eq!(events(&leader_record), ["cache: cache miss"]);
    assert_eq!(events(&waiter_record), ["cache: cache coalesced"]);
    assert_eq!(origin.request_count(), 1);
    assert_eq!(entries.lock().unwrap().len(), 1);

    // Stale: served at once, refreshed in the background, which writes
    // nothing into the caller's record.
    tokio::time::advance(Duration::from_secs(2)).await;
    let (stale, stale_record) = get("/e");
    let res = svc.clone().oneshot(stale).await.unwrap();
    assert_eq!(status(&res), CacheStatus::Stale);
    while layer.fills_in_progress() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(origin.request_count(), 2);
    assert_eq!(events(&stale_record), ["cache: cache stale"]);

    let entries = entries.lock().unwrap();
    assert_eq!(entries.len(), 2, "the refresh stored its answer");
    assert_eq!(gist(&entries[0]), gist(&entries[1]));
}

/// Four calls to a key whose first two answers are `no-store` and the
/// next ones `max-age=60`: their statuses, call-record events, and how
/// many entries were stored after each.
async fn passing(sync: bool) -> Vec<(CacheStatus, Vec<String>, usize)> {
    let n = Arc::new(AtomicUsize::new(0));
    let origin = MockService::new(Script::from_fn(move |_| {
        let cache_control = if n.fetch_add(1, Ordering::SeqCst) < 2 {
            "no-store"
        } else {
            "max-age=60"
        };
        Reply::ok().header("cache-control", cache_control).body("v")
    }));
    let (layer, entries) = layer(sync);
    let svc = layer.layer(origin.clone());
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (req, record) = get("/p");
        let res = svc.clone().oneshot(req).await.unwrap();
        seen.push((status(&res), events(&record), entries.lock().unwrap().len()));
        assert_eq!(text(res).await, "v");
    }
    seen
}

fn bypass(stored: usize) -> (CacheStatus, Vec<String>, usize) {
    let event = "cache: cache bypass".to_owned();
    (CacheStatus::Bypass, vec![event], stored)
}

#[tokio::test(start_paused = true)]
async fn a_miss_on_a_passing_key_records_what_a_full_miss_records() {
    let miss = |stored| {
        (
            CacheStatus::Miss,
            vec!["cache: cache miss".to_owned()],
            stored,
        )
    };
    let hit = |stored| {
        (
            CacheStatus::Hit,
            vec!["cache: cache hit".to_owned()],
            stored,
        )
    };
    // The full path (no-store: the key passes), then the pass path twice
    // (no-store again; then a storable answer, which ends the pass
    // unstored), then the full path again, which stores.
    assert_eq!(
        passing(true).await,
        [bypass(0), bypass(0), bypass(0), miss(1)]
    );
    // A store that cannot answer at once: every miss takes `fetch`, which
    // stores the first storable answer on a passing key.
    assert_eq!(
        passing(false).await,
        [bypass(0), bypass(0), miss(1), hit(1)]
    );
}
