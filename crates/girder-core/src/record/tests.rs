use super::*;
use crate::BoxError;
use crate::classify::Reason;
use http::{Method, StatusCode};
use tower::{ServiceBuilder, ServiceExt};

#[test]
fn note_without_a_record_does_not_build_the_event() {
    let req = Request::new(());
    CallRecord::note(req.extensions(), "test", || {
        panic!("built an event nobody reads")
    });
}

#[tokio::test(start_paused = true)]
async fn entries_carry_layer_and_time_since_start() {
    let record = CallRecord::new();
    record.push("retry", Event::Attempt { number: 1 });
    tokio::time::advance(Duration::from_millis(250)).await;
    // Entries are stamped with the call's latest clock reading: the layer
    // that saw the outcome read the clock.
    record.mark_now();
    record.push(
        "retry",
        Event::RetryScheduled {
            failed: 1,
            reason: Reason::Status(StatusCode::SERVICE_UNAVAILABLE),
            delay: Duration::from_millis(400),
            source: DelaySource::Hint(crate::hints::HintSource::RetryAfter),
        },
    );
    record.push("retry", Event::Attempt { number: 2 });
    let entries = record.entries();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[1].at, Duration::from_millis(250));
    assert_eq!(record.attempts(), 2);
    assert_eq!(
        record.to_string(),
        "+0ms retry: attempt 1\n\
         +250ms retry: attempt 1 failed (status 503 Service Unavailable); next in 400ms (Retry-After)\n\
         +250ms retry: attempt 2"
    );
}

#[test]
fn clones_of_a_request_share_the_record() {
    let mut req = Request::new(crate::Body::from("x"));
    let record = CallRecord::ensure(&mut req);
    let copy = crate::replay_request(&req).unwrap();
    CallRecord::note(copy.extensions(), "a", || {
        Event::Note("from the copy".into())
    });
    CallRecord::note(req.extensions(), "b", || {
        Event::Note("from the original".into())
    });
    assert_eq!(record.entries().len(), 2);
    // `ensure` on a request that has one returns the same record.
    let again = CallRecord::ensure(&mut req);
    again.push("c", Event::Attempt { number: 1 });
    assert_eq!(record.entries().len(), 3);
}

#[tokio::test]
async fn the_layer_returns_the_record_in_the_response() {
    let inner = tower::service_fn(|req: Request<()>| async move {
        CallRecord::note(req.extensions(), "inner", || {
            Event::Cache(CacheStatus::Miss)
        });
        Ok::<_, BoxError>(http::Response::new(()))
    });
    let svc = ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .service(inner);
    let res = svc.oneshot(Request::new(())).await.unwrap();
    let record = res.extensions().get::<CallRecord>().unwrap();
    assert_eq!(record.entries()[0].event, Event::Cache(CacheStatus::Miss));
    assert_eq!(record.to_string(), "+0ms inner: cache miss");
}

#[tokio::test]
async fn the_layer_keeps_a_record_the_caller_made() {
    let inner =
        tower::service_fn(|_req: Request<()>| async { Ok::<_, BoxError>(http::Response::new(())) });
    let svc = ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .service(inner);
    let mine = CallRecord::new();
    let mut req = Request::new(());
    req.extensions_mut().insert(mine.clone());
    let res = svc.oneshot(req).await.unwrap();
    res.extensions()
        .get::<CallRecord>()
        .unwrap()
        .push("x", Event::Attempt { number: 1 });
    assert_eq!(mine.entries().len(), 1);
}

#[test]
fn attempts_is_at_least_one() {
    assert_eq!(CallRecord::new().attempts(), 1);
}

#[test]
fn any_looks_at_every_entry_without_a_copy() {
    let record = CallRecord::new();
    assert!(!record.any(|_| true));
    record.push("retry", Event::Attempt { number: 1 });
    record.push("retry", Event::Attempt { number: 2 });
    assert!(record.any(|e| matches!(e.event, Event::Attempt { number: 2 })));
    assert!(!record.any(|e| matches!(e.event, Event::Attempt { number: 3 })));
    assert!(!record.any(|e| e.layer != "retry"));
}

#[test]
fn resends_count_every_kind_of_resend() {
    use crate::record::AuthEvent;
    let record = CallRecord::new();
    record.push("retry", Event::Attempt { number: 1 });
    assert_eq!(record.resends(), 0);
    record.push("auth", Event::Auth(AuthEvent::RecoveredFrom401));
    record.push("sign", Event::Resigned { offset_ms: -3000 });
    record.push(
        "redirect",
        Event::Redirected {
            status: 302,
            cross_origin: true,
        },
    );
    record.push("retry", Event::Attempt { number: 2 });
    record.push("auth", Event::Auth(AuthEvent::TokenRefreshed));
    assert_eq!(record.resends(), 4);
    assert_eq!(record.attempts(), 2);
    let text = record.to_string();
    assert!(text.contains("followed a 302 redirect to another origin; credentials withheld"));
    assert!(text.contains("clock offset of -3000 ms learned from Date; re-signed"));
}

#[test]
fn entries_past_the_inline_ones_are_kept_in_order() {
    let record = CallRecord::new();
    for number in 1..=(INLINE as u32 * 2 + 1) {
        record.push("retry", Event::Attempt { number });
    }
    let numbers: Vec<u32> = record
        .entries()
        .iter()
        .map(|e| match e.event {
            Event::Attempt { number } => number,
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(numbers, (1..=(INLINE as u32 * 2 + 1)).collect::<Vec<_>>());
    assert_eq!(record.attempts(), INLINE as u32 * 2 + 1);
    assert_eq!(record.to_string().lines().count(), INLINE * 2 + 1);
    assert!(record.any(|e| e.event == Event::Attempt { number: 13 }));
}

#[test]
fn counts_are_kept_as_entries_are_pushed() {
    let record = CallRecord::new();
    assert_eq!((record.attempts(), record.resends()), (1, 0));
    record.push("breaker", Event::Note("not an attempt".into()));
    assert_eq!((record.attempts(), record.resends()), (1, 0));
    record.push("retry", Event::Attempt { number: 1 });
    record.push("retry", Event::Attempt { number: 2 });
    record.push(
        "redirect",
        Event::Redirected {
            status: 302,
            cross_origin: false,
        },
    );
    record.push("auth", Event::Auth(AuthEvent::RecoveredFrom401));
    record.push("sign", Event::Resigned { offset_ms: 4 });
    assert_eq!(record.attempts(), 2);
    assert_eq!(record.resends(), 4);
    // The counts agree with the entries they summarise.
    let entries = record.entries();
    assert_eq!(entries.iter().filter(|e| e.event.is_resend()).count(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_set_after_the_record_is_held_by_it_and_shared_by_copies() {
    let mut request = Request::new(());
    let record = CallRecord::ensure(&mut request);
    assert_eq!(Deadline::of(&request), None);
    let deadline = Deadline::after(Duration::from_secs(2));
    deadline.apply(&mut request);
    // In the record, not in an extension of its own.
    assert_eq!(request.extensions().get::<Deadline>(), None);
    assert_eq!(record.deadline(), Some(deadline));
    assert_eq!(Deadline::of(&request), Some(deadline));
    // Only ever tightened.
    Deadline::after(Duration::from_secs(9)).apply(&mut request);
    assert_eq!(Deadline::of(&request), Some(deadline));
    let sooner = Deadline::after(Duration::from_secs(1));
    sooner.apply(&mut request);
    assert_eq!(Deadline::of(&request), Some(sooner));
    // A copy of the request (retry's, a redirect's) sees it through the
    // shared record.
    let mut copy = Request::new(());
    copy.extensions_mut().insert(record.clone());
    assert_eq!(Deadline::of(&copy), Some(sooner));
    // Without the record (the cache's background refresh drops it) there
    // is no deadline.
    copy.extensions_mut().remove::<CallRecord>();
    assert_eq!(Deadline::of(&copy), None);
}

#[tokio::test(start_paused = true)]
async fn the_earlier_of_an_own_and_a_held_deadline_counts() {
    let mut request = Request::new(());
    let own = Deadline::after(Duration::from_secs(3));
    own.apply(&mut request);
    let record = CallRecord::ensure(&mut request);
    assert_eq!(request.extensions().get::<Deadline>(), Some(&own));
    Deadline::after(Duration::from_secs(5)).apply(&mut request);
    assert_eq!(Deadline::of(&request), Some(own));
    let sooner = Deadline::after(Duration::from_secs(1));
    sooner.apply(&mut request);
    assert_eq!(record.deadline(), Some(sooner));
    assert_eq!(Deadline::of(&request), Some(sooner));
}

#[tokio::test(start_paused = true)]
async fn deadlines_before_the_record_and_far_ahead_round_trip() {
    tokio::time::advance(Duration::from_secs(60)).await;
    let past = Deadline::at(Instant::now() - Duration::from_secs(30));
    let record = CallRecord::new();
    record.tighten_deadline(Deadline::after(Duration::from_secs(3600 * 24 * 365 * 20)));
    assert_eq!(
        record.deadline(),
        Some(Deadline::after(Duration::from_secs(3600 * 24 * 365 * 20)))
    );
    record.tighten_deadline(past);
    assert_eq!(record.deadline(), Some(past));
    assert!(record.deadline().unwrap().is_expired());
}

#[tokio::test(start_paused = true)]
async fn entries_take_the_latest_clock_reading_without_reading_the_clock() {
    let record = CallRecord::new();
    let started = record.now();
    tokio::time::advance(Duration::from_millis(40)).await;
    // Nobody marked: the entry carries the reading the record began with.
    record.push("breaker", Event::Note("admitted".into()));
    assert_eq!(record.now(), started);
    assert_eq!(record.mark_now(), started + Duration::from_millis(40));
    tokio::time::advance(Duration::from_millis(10)).await;
    record.push("retry", Event::Note("failed".into()));
    let at: Vec<Duration> = record.entries().iter().map(|e| e.at).collect();
    assert_eq!(at, [Duration::ZERO, Duration::from_millis(40)]);
    // The real elapsed time is still there for whoever needs it.
    assert_eq!(record.elapsed(), Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn readings_only_move_forward() {
    let record = CallRecord::new();
    let copy = record.clone();
    tokio::time::advance(Duration::from_millis(30)).await;
    let later = copy.mark_now();
    // A reading taken earlier elsewhere and marked late does not go back.
    record
        .0
        .now
        .fetch_max(5_000_000, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(record.now(), later);
    assert_eq!(copy.now(), later, "copies share the reading");
}

#[test]
fn the_first_head_kept_is_the_calls() {
    let record = CallRecord::new();
    let mut first = Request::post("https://api.test/orders?page=2")
        .header("x-request-id", "r1")
        .header("authorization", "Bearer caller-secret")
        .body(())
        .unwrap();
    first.extensions_mut().insert(record.clone());
    let kept = record.keep_head(&first).expect("the first keeper keeps it");
    assert_eq!(kept.method(), Method::POST);
    assert_eq!(kept.uri(), first.uri());
    assert_eq!(kept.headers(), first.headers());

    // A later keeper (a layer further in, which may see a changed
    // request) is told to keep its own copy.
    first.headers_mut().insert("cookie", "a=1".parse().unwrap());
    assert!(record.keep_head(&first).is_none());
    assert!(record.head().unwrap().headers().get("cookie").is_none());

    // A resend built from it has the head and the extensions given.
    let mut extensions = http::Extensions::new();
    extensions.insert(record.clone());
    let resend = record.head().unwrap().to_request("body", extensions);
    assert_eq!(resend.method(), Method::POST);
    assert_eq!(resend.uri().query(), Some("page=2"));
    assert_eq!(resend.headers()["x-request-id"], "r1");
    assert_eq!(resend.headers().len(), 2);
    assert!(resend.extensions().get::<CallRecord>().is_some());
    assert_eq!(*resend.body(), "body");

    // Debug shows neither headers nor the query.
    let debug = format!("{:?}", record.head().unwrap());
    assert!(debug.contains("/orders"), "{debug}");
    assert!(
        !debug.contains("caller-secret") && !debug.contains("page=2"),
        "{debug}"
    );
}

#[test]
fn a_replay_shares_the_calls_head_only_when_it_may_and_it_matches() {
    let post = |uri: &str| {
        let mut request = Request::post(uri)
            .header("x-trace", "t1")
            .body(bytes::Bytes::from_static(b"qty=1"))
            .unwrap();
        request.extensions_mut().insert(7u8);
        request
    };
    // Without a record: a copy of its own.
    let alone = Replay::keep(&post("https://api.test/a"), true).unwrap();
    assert!(!alone.shares_head());
    assert_eq!(alone.request().unwrap().uri(), "https://api.test/a");

    // The first keeper keeps the head in the record and shares it.
    let mut first = post("https://api.test/a");
    let record = CallRecord::ensure(&mut first);
    let outer = Replay::keep(&first, false).unwrap();
    assert!(outer.shares_head());
    assert!(record.head().is_some());

    // Further in: shared only when allowed and method, URI and header
    // count agree.
    assert!(!Replay::keep(&first, false).unwrap().shares_head());
    let inner = Replay::keep(&first, true).unwrap();
    assert!(inner.shares_head());
    let mut hop = post("https://api.test/b");
    hop.extensions_mut().insert(record.clone());
    assert!(!Replay::keep(&hop, true).unwrap().shares_head());
    let mut fewer = post("https://api.test/a");
    fewer.extensions_mut().insert(record.clone());
    fewer.headers_mut().remove("x-trace");
    let fewer = Replay::keep(&fewer, true).unwrap();
    assert!(!fewer.shares_head());
    assert!(fewer.request().unwrap().headers().is_empty());

    // Every resend is whole: head, body and extensions.
    for replay in [&outer, &inner] {
        let resend = replay.request().unwrap();
        assert_eq!(resend.method(), Method::POST);
        assert_eq!(resend.uri(), "https://api.test/a");
        assert_eq!(resend.headers()["x-trace"], "t1");
        assert_eq!(resend.body(), "qty=1");
        assert_eq!(resend.extensions().get::<u8>(), Some(&7));
    }

    // A stream cannot be replayed.
    let mut streamed = Request::new(crate::Body::new(http_body_util::BodyExt::map_err(
        http_body_util::Empty::<bytes::Bytes>::new(),
        |never| -> BoxError { match never {} },
    )));
    streamed.extensions_mut().insert(CallRecord::new());
    assert!(Replay::keep(&streamed, false).is_none());
}
