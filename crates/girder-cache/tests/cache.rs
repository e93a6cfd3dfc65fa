//! Behaviour of the cache layer over an in-memory origin, on paused time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use girder_cache::{
    CacheConfig, CacheConfigBuilder, CacheEntry, CacheKey, CacheLayer, CacheMode, CacheStatus,
    CacheStore,
};
use girder_core::{
    Body, BoxError, CallRecord, CircuitOpen, Deadline, ErrorKind, PartitionKey, RateLimitCause,
    RateLimited, WallClock,
};
use girder_test::{MockService, Reply, Script};
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt};

const T0: u64 = 1_700_000_000;

fn config() -> CacheConfigBuilder {
    CacheConfig::builder().clock(WallClock::starting_at(
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
    ))
}

fn layer() -> CacheLayer {
    CacheLayer::new(config().build().unwrap())
}

fn get(path: &str) -> Request<Body> {
    Request::get(format!("http://api.test{path}"))
        .body(Body::empty())
        .unwrap()
}

fn with(mut req: Request<Body>, name: &'static str, value: &str) -> Request<Body> {
    req.headers_mut().append(name, value.parse().unwrap());
    req
}

fn mode(mut req: Request<Body>, mode: CacheMode) -> Request<Body> {
    mode.apply(&mut req);
    req
}

async fn send<S>(svc: &mut S, req: Request<Body>) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    svc.ready().await.unwrap().call(req).await.unwrap()
}

fn status(res: &Response<Body>) -> CacheStatus {
    *res.extensions().get::<CacheStatus>().expect("cache status")
}

async fn text(res: Response<Body>) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

async fn advance(secs: u64) {
    tokio::time::advance(Duration::from_secs(secs)).await;
}

/// An origin whose nth reply (from 1) says "v<n>".
fn counting(headers: &'static [(&'static str, &'static str)]) -> MockService {
    let n = Arc::new(AtomicUsize::new(0));
    MockService::new(Script::from_fn(move |_| {
        let i = n.fetch_add(1, Ordering::SeqCst) + 1;
        let mut reply = Reply::ok().body(format!("v{i}"));
        for (k, v) in headers {
            reply = reply.header(k, v);
        }
        reply
    }))
}

#[tokio::test(start_paused = true)]
async fn max_age_is_served_until_stale_with_its_age() {
    let origin = counting(&[("cache-control", "max-age=60")]);
    let mut svc = layer().layer(origin.clone());
    let first = send(&mut svc, get("/a")).await;
    assert_eq!(status(&first), CacheStatus::Miss);
    assert_eq!(text(first).await, "v1");
    advance(10).await;
    let hit = send(&mut svc, get("/a")).await;
    assert_eq!(status(&hit), CacheStatus::Hit);
    assert_eq!(hit.headers()["age"], "10");
    assert_eq!(text(hit).await, "v1");
    assert_eq!(origin.request_count(), 1);
    advance(51).await;
    let stale = send(&mut svc, get("/a")).await;
    assert_eq!(status(&stale), CacheStatus::Miss);
    assert_eq!(text(stale).await, "v2");
    assert_eq!(origin.request_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn expires_and_heuristic_freshness_follow_the_clock() {
    let clock = WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(T0));
    let expires = httpdate::fmt_http_date(clock.now() + Duration::from_secs(30));
    let date = httpdate::fmt_http_date(clock.now());
    let modified = httpdate::fmt_http_date(clock.now() - Duration::from_secs(100 * 86_400));
    let origin = MockService::new(Reply::ok().body("x"));
    origin.route(
        "/expires",
        Reply::ok()
            .header("expires", &expires)
            .header("date", &date)
            .body("e"),
    );
    origin.route(
        "/heuristic",
        Reply::ok()
            .header("last-modified", &modified)
            .header("date", &date)
            .body("h"),
    );
    let mut svc = layer().layer(origin.clone());
    send(&mut svc, get("/expires")).await;
    send(&mut svc, get("/heuristic")).await;
    advance(29).await;
    assert_eq!(
        status(&send(&mut svc, get("/expires")).await),
        CacheStatus::Hit
    );
    advance(2).await;
    assert_eq!(
        status(&send(&mut svc, get("/expires")).await),
        CacheStatus::Miss
    );
    // 10 % of 100 days: fresh for 10 days.
    advance(9 * 86_400).await;
    assert_eq!(
        status(&send(&mut svc, get("/heuristic")).await),
        CacheStatus::Hit
    );
    advance(2 * 86_400).await;
    assert_eq!(
        status(&send(&mut svc, get("/heuristic")).await),
        CacheStatus::Miss
    );
    assert_eq!(origin.request_count(), 4);
}

#[tokio::test(start_paused = true)]
async fn no_store_is_never_stored_and_private_is() {
    let origin = MockService::new(Reply::ok().body("x"));
    origin.route(
        "/no-store",
        Reply::ok().header("cache-control", "no-store, max-age=60"),
    );
    origin.route(
        "/private",
        Reply::ok().header("cache-control", "private, max-age=60"),
    );
    let mut svc = layer().layer(origin.clone());
    for _ in 0..2 {
        let res = send(&mut svc, get("/no-store")).await;
        assert_eq!(status(&res), CacheStatus::Bypass);
    }
    // A request that says no-store is not stored either.
    let no_store_req = || with(get("/private"), "cache-control", "no-store");
    assert_ne!(
        status(&send(&mut svc, no_store_req()).await),
        CacheStatus::Hit
    );
    assert_eq!(
        status(&send(&mut svc, get("/private")).await),
        CacheStatus::Miss
    );
    assert_eq!(
        status(&send(&mut svc, get("/private")).await),
        CacheStatus::Hit
    );
    assert_eq!(origin.request_count(), 4);
}

#[tokio::test(start_paused = true)]
async fn no_cache_revalidates_every_time_and_a_304_merges_headers() {
    let origin = MockService::new(Script::from_fn(|req| {
        if req.header("if-none-match") == Some("\"v1\"") {
            Reply::status(304)
                .header("etag", "\"v1\"")
                .header("x-generation", "2")
                .header("cache-control", "no-cache")
        } else {
            Reply::ok()
                .header("etag", "\"v1\"")
                .header("x-generation", "1")
                .header("x-kept", "yes")
                .header("cache-control", "no-cache")
                .body("body-1")
        }
    }));
    let mut svc = layer().layer(origin.clone());
    assert_eq!(text(send(&mut svc, get("/nc")).await).await, "body-1");
    for _ in 0..3 {
        let res = send(&mut svc, get("/nc")).await;
        assert_eq!(status(&res), CacheStatus::Revalidated);
        assert_eq!(res.headers()["x-generation"], "2");
        assert_eq!(res.headers()["x-kept"], "yes");
        assert_eq!(text(res).await, "body-1");
    }
    let seen = origin.requests();
    assert_eq!(seen.len(), 4);
    assert!(
        seen[1..]
            .iter()
            .all(|r| r.header("if-none-match") == Some("\"v1\""))
    );
    assert_eq!(seen[0].header("if-none-match"), None);
}

#[tokio::test(start_paused = true)]
async fn last_modified_revalidation_sends_the_stored_string() {
    let modified = "Tue, 14 Nov 2023 22:00:00 GMT";
    let origin = MockService::new(Script::from_fn(move |req| {
        if req.header("if-modified-since") == Some(modified) {
            Reply::status(304).header("cache-control", "max-age=100")
        } else {
            Reply::ok()
                .header("last-modified", modified)
                .header("cache-control", "max-age=1")
                .body("lm")
        }
    }));
    let mut svc = layer().layer(origin.clone());
    send(&mut svc, get("/lm")).await;
    advance(2).await;
    let res = send(&mut svc, get("/lm")).await;
    assert_eq!(status(&res), CacheStatus::Revalidated);
    assert_eq!(res.headers()["cache-control"], "max-age=100");
    assert_eq!(text(res).await, "lm");
    // Freshened by the 304's max-age.
    advance(50).await;
    assert_eq!(status(&send(&mut svc, get("/lm")).await), CacheStatus::Hit);
    assert_eq!(origin.request_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn vary_variants_coexist() {
    let origin = MockService::new(Script::from_fn(|req| {
        let accept = req.header("accept").unwrap_or("none").to_owned();
        Reply::ok()
            .header("vary", "Accept")
            .header("cache-control", "max-age=60")
            .body(accept)
    }));
    let mut svc = layer().layer(origin.clone());
    let json = || with(get("/v"), "accept", "application/json");
    let xml = || with(get("/v"), "accept", "application/xml");
    assert_eq!(text(send(&mut svc, json()).await).await, "application/json");
    assert_eq!(text(send(&mut svc, xml()).await).await, "application/xml");
    for _ in 0..2 {
        let a = send(&mut svc, json()).await;
        assert_eq!(status(&a), CacheStatus::Hit);
        assert_eq!(text(a).await, "application/json");
        let b = send(&mut svc, xml()).await;
        assert_eq!(status(&b), CacheStatus::Hit);
        assert_eq!(text(b).await, "application/xml");
    }
    assert_eq!(status(&send(&mut svc, get("/v")).await), CacheStatus::Miss);
    assert_eq!(origin.request_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn unsafe_methods_invalidate_the_target_and_its_location() {
    let origin = counting(&[("cache-control", "max-age=600")]);
    origin.route_method(
        http::Method::POST,
        "/items",
        Reply::status(201).header("location", "/items/7"),
    );
    origin.route_method(http::Method::DELETE, "/items/8", Reply::status(500));
    let mut svc = layer().layer(origin.clone());
    for path in ["/items", "/items/7", "/items/8"] {
        send(&mut svc, get(path)).await;
        assert_eq!(status(&send(&mut svc, get(path)).await), CacheStatus::Hit);
    }
    let post = Request::post("http://api.test/items")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&mut svc, post).await.status(), 201);
    assert_eq!(
        status(&send(&mut svc, get("/items")).await),
        CacheStatus::Miss
    );
    assert_eq!(
        status(&send(&mut svc, get("/items/7")).await),
        CacheStatus::Miss
    );
    // An error response invalidates nothing.
    let delete = Request::delete("http://api.test/items/8")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&mut svc, delete).await.status(), 500);
    assert_eq!(
        status(&send(&mut svc, get("/items/8")).await),
        CacheStatus::Hit
    );
}

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_serves_stale_and_refreshes_once() {
    let origin = counting(&[
        ("cache-control", "max-age=1, stale-while-revalidate=60"),
        ("etag", "\"e\""),
    ]);
    let mut svc = layer().layer(origin.clone());
    send(&mut svc, get("/swr")).await;
    advance(5).await;
    for _ in 0..5 {
        let res = send(&mut svc, get("/swr")).await;
        assert_eq!(status(&res), CacheStatus::Stale);
        assert_eq!(text(res).await, "v1");
    }
    // The background refresh runs once for all five.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(origin.request_count(), 2);
    assert_eq!(origin.requests()[1].header("if-none-match"), Some("\"e\""));
    let res = send(&mut svc, get("/swr")).await;
    assert_eq!(status(&res), CacheStatus::Hit);
    assert_eq!(text(res).await, "v2");
    // Past the window: a synchronous request.
    advance(120).await;
    let res = send(&mut svc, get("/swr")).await;
    assert_eq!(status(&res), CacheStatus::Miss);
    assert_eq!(text(res).await, "v3");
}

/// An origin that answers /sie with a stale-if-error response once, then
/// fails in the way `fail` says.
fn failing_after_first(
    fail: impl Fn() -> Result<Response<Body>, BoxError> + Send + Sync + Clone + 'static,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future: Send>
+ Clone
+ Send
+ 'static {
    let calls = Arc::new(AtomicUsize::new(0));
    tower::service_fn(move |_req: Request<Body>| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        let fail = fail.clone();
        async move {
            if n == 0 {
                Ok(Response::builder()
                    .header("cache-control", "max-age=1, stale-if-error=60")
                    .body(Body::from("good"))
                    .unwrap())
            } else {
                fail()
            }
        }
    })
}

/// How the origin fails after its first answer.
type Failure = Box<dyn Fn() -> Result<Response<Body>, BoxError> + Send + Sync>;

#[tokio::test(start_paused = true)]
async fn stale_if_error_covers_5xx_transport_errors_and_refusals() {
    let failures: Vec<(&str, Failure)> = vec![
        (
            "503",
            Box::new(|| {
                Ok(Response::builder()
                    .status(503)
                    .body(Body::from("down"))
                    .unwrap())
            }),
        ),
        (
            "reset",
            Box::new(|| {
                Err(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)) as BoxError)
            }),
        ),
        (
            "circuit",
            Box::new(|| Err(Box::new(CircuitOpen::new(PartitionKey::global(), None)) as BoxError)),
        ),
        (
            "quota",
            Box::new(|| Err(Box::new(RateLimited::new(RateLimitCause::Quota, None)) as BoxError)),
        ),
    ];
    for (name, fail) in failures {
        let fail = Arc::new(fail);
        let origin = failing_after_first(move || fail());
        let mut svc = layer().layer(origin);
        send(&mut svc, get("/sie")).await;
        advance(30).await;
        let res = send(&mut svc, get("/sie")).await;
        assert_eq!(status(&res), CacheStatus::Stale, "{name}");
        assert_eq!(text(res).await, "good", "{name}");
        // Beyond the window the failure comes through, except when the
        // server cannot be reached at all (`stale_if_unreachable`).
        advance(40).await;
        let late = svc.ready().await.unwrap().call(get("/sie")).await;
        if name == "reset" {
            let res = late.unwrap();
            assert_eq!(status(&res), CacheStatus::Stale, "{name}");
            continue;
        }
        match late {
            Ok(res) => assert_eq!(res.status(), 503, "{name}"),
            Err(e) => assert!(
                !matches!(ErrorKind::of(&*e), ErrorKind::Other) || name == "reset",
                "{name}: {e}"
            ),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn must_revalidate_forbids_stale_even_with_a_configured_window() {
    let origin = MockService::new([
        Reply::ok()
            .header("cache-control", "max-age=1, must-revalidate")
            .body("a"),
        Reply::status(503),
    ]);
    let mut svc = CacheLayer::new(
        config()
            .stale_if_error(Duration::from_secs(600))
            .build()
            .unwrap(),
    )
    .layer(origin);
    send(&mut svc, get("/mr")).await;
    advance(5).await;
    assert_eq!(send(&mut svc, get("/mr")).await.status(), 503);
}

#[tokio::test(start_paused = true)]
async fn modes_only_if_cached_force_cache_reload_no_store() {
    let origin = counting(&[("cache-control", "max-age=1")]);
    let mut svc = layer().layer(origin.clone());
    let miss = send(&mut svc, mode(get("/m"), CacheMode::OnlyIfCached)).await;
    assert_eq!(miss.status(), 504);
    assert_eq!(origin.request_count(), 0);
    send(&mut svc, get("/m")).await;
    advance(10).await;
    // Stale, but these modes take it without asking.
    for m in [CacheMode::OnlyIfCached, CacheMode::ForceCache] {
        let res = send(&mut svc, mode(get("/m"), m)).await;
        assert_eq!(status(&res), CacheStatus::Stale);
        assert_eq!(text(res).await, "v1");
    }
    assert_eq!(origin.request_count(), 1);
    let reload = send(&mut svc, mode(get("/m"), CacheMode::Reload)).await;
    assert_eq!(text(reload).await, "v2");
    let hit = send(&mut svc, get("/m")).await;
    assert_eq!(text(hit).await, "v2");
    let bypass = send(&mut svc, mode(get("/m"), CacheMode::NoStore)).await;
    assert_eq!(status(&bypass), CacheStatus::Bypass);
    assert_eq!(text(bypass).await, "v3");
    // NoStore did not replace the stored v2.
    assert_eq!(text(send(&mut svc, get("/m")).await).await, "v2");
    assert_eq!(origin.request_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn ttl_override_caches_silent_apis_only() {
    let origin = counting(&[]);
    origin.route(
        "/explicit",
        Reply::ok().header("cache-control", "no-cache").body("e"),
    );
    let mut plain = layer().layer(origin.clone());
    send(&mut plain, get("/silent")).await;
    assert_eq!(
        status(&send(&mut plain, get("/silent")).await),
        CacheStatus::Bypass
    );
    let mut svc = CacheLayer::new(
        config()
            .ttl_override(Duration::from_secs(300))
            .build()
            .unwrap(),
    )
    .layer(origin.clone());
    send(&mut svc, get("/silent")).await;
    advance(299).await;
    let hit = send(&mut svc, get("/silent")).await;
    assert_eq!(status(&hit), CacheStatus::Hit);
    assert!(
        hit.headers().get("cache-control").is_none(),
        "served headers are the origin's"
    );
    advance(2).await;
    let again = send(&mut svc, get("/silent")).await;
    assert_eq!(status(&again), CacheStatus::Miss);
    assert_eq!(text(again).await, "v4");
    send(&mut svc, get("/explicit")).await;
    assert_ne!(
        status(&send(&mut svc, get("/explicit")).await),
        CacheStatus::Hit
    );
}

#[tokio::test(start_paused = true)]
async fn identities_never_share_entries() {
    let origin = MockService::new(Script::from_fn(|req| {
        let who = req
            .header("authorization")
            .unwrap_or("anonymous")
            .to_owned();
        Reply::ok().header("cache-control", "max-age=600").body(who)
    }));
    let mut svc = layer().layer(origin.clone());
    let as_user = |token: &str| with(get("/me"), "authorization", token);
    assert_eq!(
        text(send(&mut svc, as_user("Bearer alice")).await).await,
        "Bearer alice"
    );
    let bob = send(&mut svc, as_user("Bearer bob")).await;
    assert_eq!(status(&bob), CacheStatus::Miss);
    assert_eq!(text(bob).await, "Bearer bob");
    assert_eq!(text(send(&mut svc, get("/me")).await).await, "anonymous");
    for (req, who) in [
        (as_user("Bearer alice"), "Bearer alice"),
        (as_user("Bearer bob"), "Bearer bob"),
        (get("/me"), "anonymous"),
    ] {
        let res = send(&mut svc, req).await;
        assert_eq!(status(&res), CacheStatus::Hit);
        assert_eq!(text(res).await, who);
    }
    // An API key in the query is an identity too.
    let keyed = |k: &str| get(&format!("/me?api_key={k}"));
    send(&mut svc, keyed("k1")).await;
    assert_eq!(
        status(&send(&mut svc, keyed("k2")).await),
        CacheStatus::Miss
    );
    assert_eq!(status(&send(&mut svc, keyed("k1")).await), CacheStatus::Hit);
    assert_eq!(origin.request_count(), 5);
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_make_one_request() {
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=60")
            .delay(Duration::from_millis(100))
            .body("shared"),
    );
    let svc = layer().layer(origin.clone());
    let calls: Vec<_> = (0..100)
        .map(|_| tokio::spawn(svc.clone().oneshot(get("/c"))))
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        let res = call.await.unwrap().unwrap();
        statuses.push(status(&res));
        assert_eq!(text(res).await, "shared");
    }
    assert_eq!(origin.request_count(), 1);
    assert_eq!(
        statuses.iter().filter(|s| **s == CacheStatus::Miss).count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == CacheStatus::Coalesced)
            .count(),
        99
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_leader_hands_over_to_a_waiter() {
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=60")
            .delay(Duration::from_millis(100))
            .body("late"),
    );
    let svc = layer().layer(origin.clone());
    let mut leader = Box::pin(svc.clone().oneshot(get("/d")));
    assert!(girder_test::poll_once(&mut leader).is_pending());
    let waiter = tokio::spawn(svc.clone().oneshot(get("/d")));
    tokio::task::yield_now().await;
    drop(leader);
    let res = waiter.await.unwrap().unwrap();
    assert_eq!(status(&res), CacheStatus::Miss);
    assert_eq!(text(res).await, "late");
    assert_eq!(origin.request_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_obeys_its_deadline_and_errors_are_shared() {
    let origin = MockService::new(Reply::close().delay(Duration::from_secs(1)));
    let svc = layer().layer(origin.clone());
    let leader = tokio::spawn(svc.clone().oneshot(get("/e")));
    tokio::task::yield_now().await;
    let mut hurried = get("/e");
    Deadline::after(Duration::from_millis(50)).apply(&mut hurried);
    let err = svc.clone().oneshot(hurried).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::DeadlineExceeded);
    let patient = tokio::spawn(svc.clone().oneshot(get("/e")));
    tokio::task::yield_now().await;
    let leader_err = leader.await.unwrap().unwrap_err();
    let patient_err = patient.await.unwrap().unwrap_err();
    assert!(
        patient_err.is::<girder_cache::SharedError>(),
        "{patient_err}"
    );
    assert_eq!(ErrorKind::of(&*patient_err), ErrorKind::of(&*leader_err));
    assert_eq!(origin.request_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn large_bodies_stream_through_uncached() {
    let big = "x".repeat(5_000);
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body(big.clone()),
    );
    let mut svc =
        CacheLayer::new(config().max_entry_bytes(1_000).build().unwrap()).layer(origin.clone());
    for _ in 0..2 {
        let res = send(&mut svc, get("/big")).await;
        assert_eq!(status(&res), CacheStatus::Bypass);
        assert_eq!(text(res).await, big);
    }
    assert_eq!(origin.request_count(), 2);
}

/// A store that always fails.
#[derive(Debug)]
struct BrokenStore(Arc<AtomicUsize>);

impl CacheStore for BrokenStore {
    async fn get(&self, _: &CacheKey) -> Result<Option<CacheEntry>, BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err("store down".into())
    }
    async fn put(&self, _: CacheKey, _: CacheEntry) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err("store down".into())
    }
    async fn remove(&self, _: &CacheKey) -> Result<(), BoxError> {
        Err("store down".into())
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_never_fails_a_call() {
    let origin = counting(&[("cache-control", "max-age=60")]);
    let touched = Arc::new(AtomicUsize::new(0));
    let mut svc = CacheLayer::with_store(config().build().unwrap(), BrokenStore(touched.clone()))
        .layer(origin.clone());
    assert_eq!(text(send(&mut svc, get("/s")).await).await, "v1");
    assert_eq!(text(send(&mut svc, get("/s")).await).await, "v2");
    assert_eq!(touched.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn the_call_record_says_what_the_cache_did() {
    let origin = counting(&[("cache-control", "max-age=60")]);
    let mut svc = layer().layer(origin);
    for expected in ["miss", "hit"] {
        let mut req = get("/r");
        let record = CallRecord::ensure(&mut req);
        send(&mut svc, req).await;
        let entries = record.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].layer, "cache");
        assert_eq!(
            entries[0].as_event().to_string(),
            format!("cache {expected}"),
            "{entries:?}"
        );
    }
}

#[test]
fn config_is_checked_and_debug_hides_the_secret() {
    assert!(CacheConfig::builder().max_entry_bytes(0).build().is_err());
    assert!(
        CacheConfig::builder()
            .max_bytes(10)
            .max_entry_bytes(11)
            .build()
            .is_err()
    );
    assert!(CacheConfig::builder().max_variants(0).build().is_err());
    assert!(
        CacheConfig::builder()
            .heuristic_fraction(1.5)
            .build()
            .is_err()
    );
    let err = CacheConfig::builder()
        .ttl_override(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("ttl_override"), "{err}");
    let config = CacheConfig::builder()
        .identity_secret([0xAB; 32])
        .build()
        .unwrap();
    let debug = format!("{config:?}");
    assert!(
        debug.contains("[redacted]") && !debug.contains("171"),
        "{debug}"
    );
}

/// Ten concurrent calls to `path`; how long they took together.
/// Ten concurrent GETs of `path`, each body read to the end (the pass
/// path decides on a body of undeclared length once it has been read).
async fn burst<S>(svc: &S, path: &str) -> Duration
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    let start = tokio::time::Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(svc.clone().oneshot(get(path))))
        .collect();
    for call in calls {
        let res = call.await.unwrap().unwrap();
        res.into_body().collect().await.unwrap();
    }
    start.elapsed()
}

#[tokio::test(start_paused = true)]
async fn no_store_keys_skip_coalescing_for_a_while() {
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "no-store")
            .delay(Duration::from_millis(100))
            .body("fresh every time"),
    );
    let svc = layer().layer(origin.clone());
    // Unknown key: one leader, then the nine waiters learn it was
    // no-store and go out together.
    assert_eq!(burst(&svc, "/n").await, Duration::from_millis(200));
    assert_eq!(origin.request_count(), 10);
    // Known no-store key: all ten at once, none queued.
    assert_eq!(burst(&svc, "/n").await, Duration::from_millis(100));
    assert_eq!(origin.request_count(), 20);
    // Another key is not affected.
    assert_eq!(burst(&svc, "/m").await, Duration::from_millis(200));
    // The pass runs out after a minute: one leader again.
    advance(61).await;
    assert_eq!(burst(&svc, "/n").await, Duration::from_millis(200));
    assert_eq!(origin.request_count(), 40);
}

#[tokio::test(start_paused = true)]
async fn a_key_keeps_passing_while_it_answers_no_store_or_too_large() {
    let n = Arc::new(AtomicUsize::new(0));
    let origin = MockService::new(Script::from_fn(move |_| {
        let reply = Reply::ok().delay(Duration::from_millis(100));
        if n.fetch_add(1, Ordering::SeqCst) < 30 {
            reply.header("cache-control", "no-store").body("v")
        } else {
            // Storable, but declared over max_entry_bytes.
            reply
                .header("cache-control", "max-age=60")
                .header("content-length", "5000")
                .body("x".repeat(5_000))
        }
    }));
    let svc =
        CacheLayer::new(config().max_entry_bytes(1_000).build().unwrap()).layer(origin.clone());
    assert_eq!(burst(&svc, "/p").await, Duration::from_millis(200));
    // 45 s and 90 s after the pass began: still side by side, because
    // answers past half of the pass extend it.
    for _ in 0..2 {
        advance(45).await;
        assert_eq!(burst(&svc, "/p").await, Duration::from_millis(100));
    }
    assert_eq!(origin.request_count(), 30);
    // Too large to store: the pass goes on.
    for _ in 0..2 {
        advance(45).await;
        assert_eq!(burst(&svc, "/p").await, Duration::from_millis(100));
    }
    assert_eq!(origin.request_count(), 50);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_on_a_passing_key_leaves_nothing_behind() {
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "no-store")
            .delay(Duration::from_millis(100))
            .body("v"),
    );
    let mut svc = layer().layer(origin.clone());
    assert_eq!(
        status(&send(&mut svc, get("/d")).await),
        CacheStatus::Bypass
    );
    let mut call = ServiceExt::<Request<Body>>::ready(&mut svc)
        .await
        .unwrap()
        .call(get("/d"));
    assert!(girder_test::poll_once(&mut call).is_pending());
    drop(call);
    // Still passing: ten at once go out side by side.
    assert_eq!(burst(&svc, "/d").await, Duration::from_millis(100));
    assert_eq!(origin.request_count(), 12);
}

#[tokio::test(start_paused = true)]
async fn large_answers_without_a_length_keep_the_pass() {
    // Chunked, or decompressed below the cache (which drops the length):
    // the pass path measures the body as it streams.
    let n = Arc::new(AtomicUsize::new(0));
    let origin = MockService::new(Script::from_fn(move |_| {
        let reply = Reply::ok().delay(Duration::from_millis(100));
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            reply.header("cache-control", "no-store").body("v")
        } else {
            reply
                .header("cache-control", "max-age=60")
                .body("x".repeat(5_000))
        }
    }));
    let svc =
        CacheLayer::new(config().max_entry_bytes(1_000).build().unwrap()).layer(origin.clone());
    assert_eq!(burst(&svc, "/big").await, Duration::from_millis(200));
    for _ in 0..3 {
        advance(45).await;
        assert_eq!(burst(&svc, "/big").await, Duration::from_millis(100));
    }
}

#[tokio::test(start_paused = true)]
async fn a_small_answer_without_a_length_ends_the_pass_once_read() {
    let n = Arc::new(AtomicUsize::new(0));
    let origin = MockService::new(Script::from_fn(move |_| {
        let cache_control = if n.fetch_add(1, Ordering::SeqCst) == 0 {
            "no-store"
        } else {
            "max-age=60"
        };
        Reply::ok()
            .header("cache-control", cache_control)
            .body("small")
    }));
    let mut svc = layer().layer(origin.clone());
    assert_eq!(
        status(&send(&mut svc, get("/s")).await),
        CacheStatus::Bypass
    );
    let passing = send(&mut svc, get("/s")).await;
    assert_eq!(status(&passing), CacheStatus::Bypass);
    assert_eq!(text(passing).await, "small");
    assert_eq!(status(&send(&mut svc, get("/s")).await), CacheStatus::Miss);
    assert_eq!(status(&send(&mut svc, get("/s")).await), CacheStatus::Hit);
    assert_eq!(origin.request_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_head_key_is_stored_again_after_its_pass() {
    // A HEAD answer's Content-Length is the GET body's: no reason to pass.
    let n = Arc::new(AtomicUsize::new(0));
    let origin = MockService::new(Script::from_fn(move |_| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::ok().header("cache-control", "no-store")
        } else {
            Reply::ok()
                .header("cache-control", "max-age=600")
                .header("content-length", "5000")
        }
    }));
    let mut svc =
        CacheLayer::new(config().max_entry_bytes(1_000).build().unwrap()).layer(origin.clone());
    let head = || {
        Request::head("http://api.test/h")
            .body(Body::empty())
            .unwrap()
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(status(&send(&mut svc, head()).await));
    }
    use CacheStatus::{Bypass, Hit, Miss};
    assert_eq!(statuses, [Bypass, Bypass, Miss, Hit]);
}

#[tokio::test(start_paused = true)]
async fn must_understand_no_store_keeps_passing() {
    let origin = MockService::new(
        Reply::ok()
            .delay(Duration::from_millis(100))
            .header("cache-control", "no-store, must-understand")
            .body("v"),
    );
    let svc = layer().layer(origin.clone());
    assert_eq!(burst(&svc, "/mu").await, Duration::from_millis(200));
    for _ in 0..3 {
        advance(45).await;
        assert_eq!(burst(&svc, "/mu").await, Duration::from_millis(100));
    }
}

#[tokio::test(start_paused = true)]
async fn equal_uris_share_an_entry_and_its_invalidation() {
    // `http://api.test?x=1` and `http://api.test/?x=1` are equal URIs.
    let origin = counting(&[("cache-control", "max-age=600")]);
    let mut svc = layer().layer(origin.clone());
    let abs = |method: &str, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap()
    };
    let first = send(&mut svc, abs("GET", "http://API.test?x=1")).await;
    assert_eq!(status(&first), CacheStatus::Miss);
    let second = send(&mut svc, abs("GET", "http://api.test/?x=1")).await;
    assert_eq!(status(&second), CacheStatus::Hit);
    send(&mut svc, abs("PUT", "http://api.test/?x=1")).await;
    let third = send(&mut svc, abs("GET", "http://api.test?x=1")).await;
    assert_ne!(status(&third), CacheStatus::Hit);
}

#[tokio::test(start_paused = true)]
async fn a_storable_answer_ends_the_pass() {
    let n = Arc::new(AtomicUsize::new(0));
    let origin = MockService::new(Script::from_fn(move |_| {
        let cache_control = if n.fetch_add(1, Ordering::SeqCst) == 0 {
            "no-store"
        } else {
            "max-age=1"
        };
        Reply::ok()
            .header("cache-control", cache_control)
            .delay(Duration::from_millis(100))
            .body("v")
    }));
    let mut svc = layer().layer(origin.clone());
    assert_eq!(
        status(&send(&mut svc, get("/s")).await),
        CacheStatus::Bypass
    );
    // The pass's fast path keeps no copy of the request for a policy: the
    // storable answer ends the pass unstored (once its body, of unknown
    // length, has been read within max_entry_bytes), and the next miss
    // stores.
    let passing = send(&mut svc, get("/s")).await;
    assert_eq!(status(&passing), CacheStatus::Bypass);
    assert_eq!(text(passing).await, "v");
    assert_eq!(status(&send(&mut svc, get("/s")).await), CacheStatus::Miss);
    assert_eq!(status(&send(&mut svc, get("/s")).await), CacheStatus::Hit);
    advance(2).await;
    // Stale, and no longer a pass: ten concurrent misses make one request.
    burst(&svc, "/s").await;
    assert_eq!(origin.request_count(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_no_store_body_streams_through_unbuffered() {
    // A no-store body that fails halfway: the cache hands it over as it
    // comes (Bypass) instead of reading it first, so the caller gets the
    // head and then the body's own error.
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "no-store")
            .body("partial")
            .cut_body_after(3),
    );
    let mut svc = layer().layer(origin.clone());
    let res = send(&mut svc, get("/ns")).await;
    assert_eq!(status(&res), CacheStatus::Bypass);
    assert!(res.into_body().collect().await.is_err());
    assert_eq!(origin.request_count(), 1);
}

/// Pins the defect where a request `Cache-Control` or `Pragma` with no
/// known directive in it (`nothing-to-see-here`, `foo`, as the cache-tests
/// client sends) switched stale-while-revalidate off (a synchronous fetch
/// reported as Bypass) and lost the `Vary` whitespace normalisation.
#[tokio::test(start_paused = true)]
async fn unknown_request_directives_change_nothing() {
    let plumbing = |req| {
        with(
            with(req, "cache-control", "nothing-to-see-here"),
            "pragma",
            "foo",
        )
    };
    let origin = counting(&[("cache-control", "max-age=1, stale-while-revalidate=60")]);
    let mut svc = layer().layer(origin.clone());
    send(&mut svc, plumbing(get("/u"))).await;
    advance(5).await;
    let res = send(&mut svc, plumbing(get("/u"))).await;
    assert_eq!(status(&res), CacheStatus::Stale);
    assert_eq!(text(res).await, "v1");

    let origin = counting(&[("cache-control", "max-age=60"), ("vary", "accept")]);
    let mut svc = layer().layer(origin.clone());
    send(&mut svc, with(plumbing(get("/v")), "accept", "a/b,c/d")).await;
    let res = send(&mut svc, with(plumbing(get("/v")), "accept", "a/b, c/d")).await;
    assert_eq!(status(&res), CacheStatus::Hit);
    assert_eq!(origin.request_count(), 1);
    // A known directive still counts.
    let res = send(
        &mut svc,
        with(plumbing(get("/v")), "cache-control", "max-age=0"),
    )
    .await;
    assert_ne!(status(&res), CacheStatus::Hit);
}

/// Pins the old refusal to store statuses `http-cache-semantics` does not
/// know (RFC 9111 §3 allows any final status with explicit freshness).
#[tokio::test(start_paused = true)]
async fn any_status_with_explicit_freshness_is_stored() {
    for code in [299, 400, 500, 599] {
        let origin = MockService::new(
            Reply::status(code)
                .header("cache-control", "max-age=60")
                .body("err"),
        );
        let mut svc = layer().layer(origin.clone());
        send(&mut svc, get("/s")).await;
        let res = send(&mut svc, get("/s")).await;
        assert_eq!(
            (res.status().as_u16(), status(&res)),
            (code, CacheStatus::Hit)
        );
        assert_eq!(origin.request_count(), 1, "{code}");
    }
    // Without explicit freshness such a status is still not stored.
    let origin = MockService::new(
        Reply::status(500).header("last-modified", "Mon, 01 Jan 2001 00:00:00 GMT"),
    );
    let mut svc = layer().layer(origin.clone());
    send(&mut svc, get("/n")).await;
    send(&mut svc, get("/n")).await;
    assert_eq!(origin.request_count(), 2);
}

/// Pins serving stale when the server cannot be reached (RFC 9111 §4.2.4),
/// which needed a `stale-if-error` window before; `must-revalidate` still
/// forbids it.
#[tokio::test(start_paused = true)]
async fn stale_is_served_when_the_server_cannot_be_reached() {
    for (cc, served) in [("max-age=1", true), ("max-age=1, must-revalidate", false)] {
        let origin = MockService::new([
            Reply::ok().header("cache-control", cc).body("old"),
            Reply::close(),
        ]);
        let mut svc = layer().layer(origin.clone());
        send(&mut svc, get("/x")).await;
        advance(30).await;
        let res = ServiceExt::<Request<Body>>::ready(&mut svc)
            .await
            .unwrap()
            .call(get("/x"))
            .await;
        match res {
            Ok(res) if served => {
                assert_eq!(status(&res), CacheStatus::Stale);
                assert_eq!(text(res).await, "old");
            }
            Err(_) if !served => {}
            other => panic!("{cc}: {:?}", other.map(|r| r.status())),
        }
    }
    // Off when asked.
    let origin = MockService::new([
        Reply::ok().header("cache-control", "max-age=1").body("old"),
        Reply::close(),
    ]);
    let mut svc = CacheLayer::new(
        config()
            .stale_if_unreachable(Duration::ZERO)
            .build()
            .unwrap(),
    )
    .layer(origin);
    send(&mut svc, get("/x")).await;
    advance(30).await;
    assert!(
        ServiceExt::<Request<Body>>::ready(&mut svc)
            .await
            .unwrap()
            .call(get("/x"))
            .await
            .is_err()
    );
}

/// Pins the old bypass of every caller conditional: a fresh stored
/// response now answers `If-None-Match` / `If-Modified-Since` itself.
#[tokio::test(start_paused = true)]
async fn the_callers_conditionals_are_answered_from_a_fresh_response() {
    let origin = counting(&[
        ("cache-control", "max-age=60"),
        ("etag", "\"e1\""),
        ("last-modified", "Mon, 01 Jan 2001 00:00:00 GMT"),
    ]);
    let mut svc = layer().layer(origin.clone());
    send(&mut svc, get("/c")).await;
    let res = send(&mut svc, with(get("/c"), "if-none-match", "W/\"e1\"")).await;
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["etag"], "\"e1\"");
    assert_eq!(text(res).await, "");
    // If-None-Match wins over an If-Modified-Since that says "modified".
    let both = with(
        with(get("/c"), "if-none-match", "\"e1\""),
        "if-modified-since",
        "Sun, 01 Jan 1995 00:00:00 GMT",
    );
    assert_eq!(send(&mut svc, both).await.status(), 304);
    let ims = with(
        get("/c"),
        "if-modified-since",
        "Tue, 01 Jan 2002 00:00:00 GMT",
    );
    assert_eq!(send(&mut svc, ims).await.status(), 304);
    let other = send(&mut svc, with(get("/c"), "if-none-match", "\"e2\"")).await;
    assert_eq!(other.status(), 200);
    assert_eq!(text(other).await, "v1");
    assert_eq!(origin.request_count(), 1);
    // Stale: the server answers the caller's conditional.
    advance(120).await;
    let res = send(&mut svc, with(get("/c"), "if-none-match", "\"e1\"")).await;
    assert_eq!(status(&res), CacheStatus::Bypass);
    assert_eq!(origin.request_count(), 2);
}

/// Pins the old bypass of every `Range`: one byte range of a fresh stored
/// complete response is served from it as a 206.
#[tokio::test(start_paused = true)]
async fn a_byte_range_is_served_from_a_stored_complete_response() {
    let origin = MockService::new(
        Reply::ok()
            .header("cache-control", "max-age=60")
            .body("01234567890"),
    );
    let mut svc = layer().layer(origin.clone());
    send(&mut svc, get("/r")).await;
    let res = send(&mut svc, with(get("/r"), "range", "bytes=0-1")).await;
    assert_eq!(res.status(), 206);
    assert_eq!(res.headers()["content-range"], "bytes 0-1/11");
    assert_eq!(text(res).await, "01");
    let res = send(&mut svc, with(get("/r"), "range", "bytes=-3")).await;
    assert_eq!(text(res).await, "890");
    assert_eq!(origin.request_count(), 1);
    // Several ranges, or one past the end: the server's to answer.
    send(&mut svc, with(get("/r"), "range", "bytes=0-1,3-4")).await;
    send(&mut svc, with(get("/r"), "range", "bytes=50-")).await;
    assert_eq!(origin.request_count(), 3);
}

/// Pins `immutable` (RFC 8246): a fresh immutable response answers a
/// no-cache (reload-style) request without revalidation; a stale one is
/// revalidated, and no-cache sends `Cache-Control: max-age=0` as Fetch does.
#[tokio::test(start_paused = true)]
async fn immutable_is_not_revalidated_while_fresh() {
    let origin = counting(&[("cache-control", "max-age=2, immutable"), ("etag", "\"i\"")]);
    let mut svc = layer().layer(origin.clone());
    send(&mut svc, get("/i")).await;
    let res = send(&mut svc, mode(get("/i"), CacheMode::NoCache)).await;
    assert_eq!(status(&res), CacheStatus::Hit);
    assert_eq!(origin.request_count(), 1);
    advance(3).await;
    send(&mut svc, mode(get("/i"), CacheMode::NoCache)).await;
    assert_eq!(origin.request_count(), 2);
    let sent = &origin.requests()[1];
    assert_eq!(sent.header("cache-control"), Some("max-age=0"));
    assert_eq!(sent.header("if-none-match"), Some("\"i\""));
}

/// An origin that never answers its first request and answers the others.
fn first_hangs()
-> impl Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future: Send>
+ Clone
+ Send
+ 'static {
    let calls = Arc::new(AtomicUsize::new(0));
    tower::service_fn(move |_req: Request<Body>| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                std::future::pending::<()>().await;
            }
            Ok::<_, BoxError>(
                Response::builder()
                    .header("cache-control", "max-age=60")
                    .body(Body::from(format!("r{n}")))
                    .unwrap(),
            )
        }
    })
}

/// Pins the unbounded wait of a coalesced waiter without a `Deadline`: it
/// now asks the server itself after `max_coalesce_wait`; a deadline that
/// comes first fails it; a dropped waiter leaves the flight intact.
#[tokio::test(start_paused = true)]
async fn a_waiter_on_a_leader_that_never_finishes_gives_up_in_time() {
    let svc = CacheLayer::new(
        config()
            .max_coalesce_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
    )
    .layer(first_hangs());
    let mut leader = Box::pin(svc.clone().oneshot(get("/h")));
    assert!(girder_test::poll_once(&mut leader).is_pending());
    // A waiter dropped mid-wait.
    let mut dropped = Box::pin(svc.clone().oneshot(get("/h")));
    assert!(girder_test::poll_once(&mut dropped).is_pending());
    drop(dropped);
    let mut hurried = get("/h");
    Deadline::after(Duration::from_secs(1)).apply(&mut hurried);
    let hurried = tokio::spawn(svc.clone().oneshot(hurried));
    let patient = tokio::spawn(svc.clone().oneshot(get("/h")));
    let err = hurried.await.unwrap().unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::DeadlineExceeded);
    let res = tokio::time::timeout(Duration::from_secs(10), patient)
        .await
        .expect("the waiter gave up waiting after max_coalesce_wait")
        .unwrap()
        .unwrap();
    assert_eq!(text(res).await, "r1");
    assert!(girder_test::poll_once(&mut leader).is_pending());
    assert!(
        CacheConfig::builder()
            .max_coalesce_wait(Duration::ZERO)
            .build()
            .is_err()
    );
}

/// Pins waiters holding the readiness they were given (here a
/// `ConcurrencyLimit` permit) while they wait on a leader, starving other
/// keys; and calling after a wait without driving readiness again (an
/// unready `ConcurrencyLimit` panics when called).
#[tokio::test(start_paused = true)]
async fn waiters_give_readiness_back_and_drive_it_again() {
    let origin = MockService::new(Script::from_fn(|r| {
        let reply = Reply::ok().body(r.uri.path().to_owned());
        if r.uri.path() == "/slow" {
            // Nothing to share: the waiter must call the service itself.
            reply
                .header("cache-control", "no-store")
                .delay(Duration::from_secs(10))
        } else {
            reply.header("cache-control", "max-age=60")
        }
    }));
    let svc = layer().layer(tower::limit::ConcurrencyLimit::new(origin.clone(), 2));
    let leader = tokio::spawn(svc.clone().oneshot(get("/slow")));
    tokio::task::yield_now().await;
    let waiter = tokio::spawn(svc.clone().oneshot(get("/slow")));
    tokio::task::yield_now().await;
    // The waiter holds no permit: another key gets the second one now.
    let other = tokio::time::timeout(Duration::from_secs(1), svc.clone().oneshot(get("/fast")))
        .await
        .expect("a waiting call held a permit")
        .unwrap();
    assert_eq!(text(other).await, "/fast");
    assert_eq!(text(leader.await.unwrap().unwrap()).await, "/slow");
    assert_eq!(text(waiter.await.unwrap().unwrap()).await, "/slow");
    assert_eq!(origin.request_count(), 3);
}

/// Pins `Vary` losing its whitespace normalisation whenever the request
/// carried a real request directive (`http-cache-semantics` compares the
/// nominated headers byte for byte).
#[tokio::test(start_paused = true)]
async fn vary_normalisation_holds_with_request_directives() {
    let origin = counting(&[("cache-control", "max-age=60"), ("vary", "accept")]);
    let mut svc = layer().layer(origin.clone());
    send(&mut svc, with(get("/vd"), "accept", "a/b,c/d")).await;
    let req = with(
        with(get("/vd"), "accept", "a/b, c/d"),
        "cache-control",
        "min-fresh=1",
    );
    let res = send(&mut svc, req).await;
    assert_eq!(status(&res), CacheStatus::Hit);
    // The directive is still applied.
    let req = with(
        with(get("/vd"), "accept", "a/b, c/d"),
        "cache-control",
        "min-fresh=600",
    );
    assert_ne!(status(&send(&mut svc, req).await), CacheStatus::Hit);
    // And a different value is still a different variant.
    let req = with(
        with(get("/vd"), "accept", "a/b"),
        "cache-control",
        "min-fresh=1",
    );
    assert_ne!(status(&send(&mut svc, req).await), CacheStatus::Hit);
}

/// Pins the defect where a delta-seconds value too large for the cache
/// (RFC 9111 §1.2.2 says: take it as 2^31) panicked the call (`max-age`,
/// `Age` or `stale-if-error` of `u64::MAX` overflowed a time) or, beyond
/// `u64`, made the response stale at once.
#[tokio::test(start_paused = true)]
async fn huge_delta_seconds_are_taken_as_2_pow_31() {
    let huge = "18446744073709551615";
    let beyond = "99999999999999999999999";
    let cases = [
        ("/max-age", format!("max-age={huge}"), None),
        ("/max-age-beyond", format!("max-age={beyond}"), None),
        ("/quoted", format!("max-age=\"{huge}\""), None),
        ("/age", "max-age=60".to_owned(), Some(huge)),
        ("/sie", format!("max-age=60, stale-if-error={huge}"), None),
        (
            "/swr",
            format!("max-age=60, stale-while-revalidate={huge}"),
            None,
        ),
    ];
    for (path, cc, age) in cases {
        let mut reply = Reply::ok().header("cache-control", &cc).body("x");
        if let Some(age) = age {
            reply = reply.header("age", age);
        }
        let origin = MockService::new(reply);
        let mut svc = layer().layer(origin.clone());
        // An `Age` of 2^31 seconds is stale at once: nothing to store.
        let first = if path == "/age" {
            CacheStatus::Bypass
        } else {
            CacheStatus::Miss
        };
        assert_eq!(status(&send(&mut svc, get(path)).await), first, "{path}");
        advance(3600).await;
        let again = send(&mut svc, get(path)).await;
        let expected = match path {
            "/age" => CacheStatus::Bypass,
            "/sie" => CacheStatus::Miss,
            "/swr" => CacheStatus::Stale,
            _ => CacheStatus::Hit,
        };
        assert_eq!(status(&again), expected, "{path}");
        if expected == CacheStatus::Hit {
            assert_eq!(again.headers()["age"], "3600", "{path}");
        }
    }
}

/// Pins the defect where, under `ttl_override`, a 304 that brought
/// freshness of its own (`Cache-Control: max-age=5`) was ignored: the
/// refreshed response was judged by the stored headers plus the override
/// (fresh for 60 s) while it was served saying `max-age=5`.
#[tokio::test(start_paused = true)]
async fn a_304s_freshness_counts_under_the_ttl_override() {
    let origin = MockService::new(Script::from_fn(|req| {
        if req.header("if-none-match") == Some("\"e1\"") {
            Reply::status(304).header("cache-control", "max-age=5")
        } else {
            Reply::ok().header("etag", "\"e1\"").body("silent")
        }
    }));
    let config = config()
        .ttl_override(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut svc = CacheLayer::new(config).layer(origin.clone());
    send(&mut svc, get("/t")).await;
    advance(30).await;
    assert_eq!(status(&send(&mut svc, get("/t")).await), CacheStatus::Hit);
    advance(31).await;
    let res = send(&mut svc, get("/t")).await;
    assert_eq!(status(&res), CacheStatus::Revalidated);
    assert_eq!(res.headers()["cache-control"], "max-age=5");
    advance(4).await;
    assert_eq!(status(&send(&mut svc, get("/t")).await), CacheStatus::Hit);
    advance(2).await;
    let res = send(&mut svc, get("/t")).await;
    assert_eq!(
        status(&res),
        CacheStatus::Revalidated,
        "max-age=5 has run out"
    );
    assert_eq!(origin.request_count(), 3);
}
