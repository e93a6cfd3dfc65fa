//! Fleet-wide fill coalescing through the layer, over an in-process store
//! that grants fill claims as a shared store does (one holder at a time,
//! each claim expiring after its hold), on paused time. Each cache layer
//! stands for one process. girder-redis runs the same scenarios against a
//! real Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use girder_cache::{
    CacheConfig, CacheEntry, CacheKey, CacheLayer, CacheMode, CacheStatus, CacheStore, FillClaim,
    FillToken,
};
use girder_core::{Body, BoxError, Deadline, ErrorKind, WallClock};
use girder_test::{MockService, Reply};
use http::{Request, Response};
use http_body_util::BodyExt;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

const T0: u64 = 1_700_000_000;

/// Entries and claims shared by every "process"; claims expire on tokio
/// time.
#[derive(Clone, Default)]
struct FleetStore {
    entries: Arc<Mutex<HashMap<String, CacheEntry>>>,
    claims: Arc<Mutex<HashMap<String, (u64, Instant)>>>,
    next: Arc<AtomicU64>,
    granted: Arc<AtomicU64>,
    released: Arc<AtomicU64>,
}

impl CacheStore for FleetStore {
    async fn get(&self, key: &CacheKey) -> Result<Option<CacheEntry>, BoxError> {
        Ok(self
            .entries
            .lock()
            .unwrap()
            .get(&key.to_storage_key())
            .cloned())
    }

    async fn put(&self, key: CacheKey, entry: CacheEntry) -> Result<(), BoxError> {
        // Through the encoding, as a shared store keeps it.
        let entry = CacheEntry::decode(&entry.encode()?)?;
        self.entries
            .lock()
            .unwrap()
            .insert(key.to_storage_key(), entry);
        Ok(())
    }

    async fn remove(&self, key: &CacheKey) -> Result<(), BoxError> {
        self.entries.lock().unwrap().remove(&key.to_storage_key());
        Ok(())
    }

    async fn claim_fill(&self, key: &CacheKey, hold: Duration) -> Result<FillClaim, BoxError> {
        let mut claims = self.claims.lock().unwrap();
        let now = Instant::now();
        let name = key.to_storage_key();
        if claims.get(&name).is_some_and(|(_, until)| *until > now) {
            return Ok(FillClaim::Busy);
        }
        let token = self.next.fetch_add(1, Ordering::SeqCst);
        claims.insert(name, (token, now + hold));
        self.granted.fetch_add(1, Ordering::SeqCst);
        Ok(FillClaim::Claimed(FillToken::new(token)))
    }

    fn release_fill(&self, key: &CacheKey, token: FillToken) {
        let mut claims = self.claims.lock().unwrap();
        let name = key.to_storage_key();
        if claims.get(&name).is_some_and(|(t, _)| *t == token.get()) {
            claims.remove(&name);
            self.released.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn process(store: &FleetStore) -> CacheLayer<FleetStore> {
    let config = CacheConfig::builder()
        .clock(WallClock::starting_at(
            SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
        ))
        .identity_secret([3; 32])
        .build()
        .unwrap();
    CacheLayer::with_store(config, store.clone())
}

fn get(path: &str) -> Request<Body> {
    Request::get(format!("http://api.test{path}"))
        .body(Body::empty())
        .unwrap()
}

fn status(res: &Response<Body>) -> CacheStatus {
    *res.extensions().get::<CacheStatus>().expect("cache status")
}

async fn text(res: Response<Body>) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

fn slow_origin(delay: Duration) -> MockService {
    MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=60")
            .delay(delay)
            .body("fleet"),
    )
}

/// Pins the fleet-wide miss storm: eight processes (each with its own
/// cache, so local coalescing cannot help) missing one key at once made
/// eight requests; now one fetches and the others read its entry.
#[tokio::test(start_paused = true)]
async fn eight_processes_missing_one_key_make_one_request() {
    let store = FleetStore::default();
    let origin = slow_origin(Duration::from_millis(300));
    let calls: Vec<_> = (0..8)
        .map(|_| tokio::spawn(process(&store).layer(origin.clone()).oneshot(get("/k"))))
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        let res = call.await.unwrap().unwrap();
        statuses.push(status(&res));
        assert_eq!(text(res).await, "fleet");
    }
    assert_eq!(origin.request_count(), 1);
    statuses.sort_by_key(|s| *s != CacheStatus::Miss);
    assert_eq!(statuses[0], CacheStatus::Miss);
    assert!(statuses[1..].iter().all(|s| *s == CacheStatus::Coalesced));
    assert_eq!(store.granted.load(Ordering::SeqCst), 1);
    assert_eq!(store.released.load(Ordering::SeqCst), 1);
}

/// Pins a dropped fleet leader stranding the others until its claim
/// expires: its claim is released on drop, so a waiting process fetches
/// within a poll, not after the hold (30 s here).
#[tokio::test(start_paused = true)]
async fn a_dropped_leader_releases_its_claim() {
    let store = FleetStore::default();
    let origin = slow_origin(Duration::from_secs(1));
    let mut leader = Box::pin(process(&store).layer(origin.clone()).oneshot(get("/d")));
    assert!(girder_test::poll_once(&mut leader).is_pending());
    assert_eq!(store.granted.load(Ordering::SeqCst), 1);
    let started = Instant::now();
    let waiter = tokio::spawn(process(&store).layer(origin.clone()).oneshot(get("/d")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(leader);
    assert_eq!(store.released.load(Ordering::SeqCst), 1);
    let res = waiter.await.unwrap().unwrap();
    assert_eq!(status(&res), CacheStatus::Miss);
    // A poll (at most 100 ms) and the origin's second: not the 30 s hold.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(origin.request_count(), 2);
}

/// A waiting process is bounded by its call's deadline (it fails as a
/// local waiter does) and, without one, by `max_coalesce_wait`, after
/// which it asks the server itself.
#[tokio::test(start_paused = true)]
async fn a_fleet_waiter_is_bounded_by_its_deadline_and_max_coalesce_wait() {
    let store = FleetStore::default();
    let origin = slow_origin(Duration::from_secs(3600));
    let mut leader = Box::pin(process(&store).layer(origin.clone()).oneshot(get("/w")));
    assert!(girder_test::poll_once(&mut leader).is_pending());

    let mut hurried = get("/w");
    Deadline::after(Duration::from_secs(1)).apply(&mut hurried);
    let err = process(&store)
        .layer(origin.clone())
        .oneshot(hurried)
        .await
        .unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::DeadlineExceeded);

    let fast = MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body("own"),
    );
    let config = CacheConfig::builder()
        .max_coalesce_wait(Duration::from_secs(2))
        .build()
        .unwrap();
    let started = Instant::now();
    let res = CacheLayer::with_store(config, store.clone())
        .layer(fast.clone())
        .oneshot(get("/w"))
        .await
        .unwrap();
    assert_eq!(text(res).await, "own");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(fast.request_count(), 1);
    drop(leader);
}

/// A process whose entry does not suit a waiter (another `Vary` variant)
/// does not serve it: the waiter fetches its own once the claim is
/// released, and both variants stay stored.
#[tokio::test(start_paused = true)]
async fn a_waiter_serves_only_its_own_variant() {
    let store = FleetStore::default();
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=60")
            .header("vary", "accept-language")
            .delay(Duration::from_millis(200))
            .body("v"),
    );
    let lang = |l: &str| {
        let mut r = get("/v");
        r.headers_mut()
            .insert("accept-language", l.parse().unwrap());
        r
    };
    let en = tokio::spawn(process(&store).layer(origin.clone()).oneshot(lang("en")));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let fr = tokio::spawn(process(&store).layer(origin.clone()).oneshot(lang("fr")));
    assert_eq!(status(&en.await.unwrap().unwrap()), CacheStatus::Miss);
    assert_eq!(status(&fr.await.unwrap().unwrap()), CacheStatus::Miss);
    assert_eq!(origin.request_count(), 2);
    for l in ["en", "fr"] {
        let res = process(&store)
            .layer(origin.clone())
            .oneshot(lang(l))
            .await
            .unwrap();
        assert_eq!(status(&res), CacheStatus::Hit, "{l}");
    }
}

/// Calls that must not be served another's entry (a reload, request
/// directives) do not claim or wait.
#[tokio::test(start_paused = true)]
async fn a_reload_does_not_wait_for_the_fleet() {
    let store = FleetStore::default();
    let origin = slow_origin(Duration::from_millis(200));
    let mut leader = Box::pin(process(&store).layer(origin.clone()).oneshot(get("/r")));
    assert!(girder_test::poll_once(&mut leader).is_pending());
    let mut reload = get("/r");
    CacheMode::Reload.apply(&mut reload);
    let started = Instant::now();
    let res = process(&store)
        .layer(origin.clone())
        .oneshot(reload)
        .await
        .unwrap();
    assert_eq!(text(res).await, "fleet");
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    assert_eq!(store.granted.load(Ordering::SeqCst), 1);
    drop(leader);
}
