use super::entries::INLINE;
use super::*;
use crate::BoxError;
use crate::classify::Reason;
use crate::hints::HintSource;
use http::{Method, StatusCode};
use tower::{ServiceBuilder, ServiceExt};

// Events as the layers define them, for core's own tests (the layer
// crates' own tests check their real types and texts): an attempt, a
// scheduled retry, a cache status, and resends of each kind.

#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug, Clone, PartialEq)]
struct Scheduled {
    failed: u32,
    reason: Reason,
    delay: Duration,
    source: HintSource,
}

impl fmt::Display for Scheduled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            HintSource::RetryAfter => "Retry-After",
            _ => "another hint",
        };
        write!(
            f,
            "attempt {} failed ({}); next in {} ({source})",
            self.failed,
            self.reason,
            Readable(self.delay)
        )
    }
}

impl Event for Scheduled {}

#[derive(Debug, Clone, Copy, PartialEq)]
struct CacheMiss;

impl fmt::Display for CacheMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cache miss")
    }
}

impl Event for CacheMiss {
    fn is_routine(&self) -> bool {
        true
    }
}

/// A resend other than an attempt: a 401 replay, a re-sign, a redirect.
#[derive(Debug, Clone, PartialEq)]
struct Resent(&'static str);

impl fmt::Display for Resent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Event for Resent {
    fn is_resend(&self) -> bool {
        true
    }
}

fn attempt_number(entry: &Entry) -> Option<u32> {
    entry.event::<Attempt>().map(|a| a.number)
}

#[test]
fn note_without_a_record_does_not_build_the_event() {
    let req = Request::new(());
    CallRecord::note(req.extensions(), "test", || -> Note {
        panic!("built an event nobody reads")
    });
}

#[tokio::test(start_paused = true)]
async fn entries_carry_layer_and_time_since_start() {
    let record = CallRecord::new();
    record.push("retry", Attempt { number: 1 });
    tokio::time::advance(Duration::from_millis(250)).await;
    // Entries are stamped with the call's latest clock reading: the layer
    // that saw the outcome read the clock.
    record.mark_now();
    record.push(
        "retry",
        Scheduled {
            failed: 1,
            reason: Reason::Status(StatusCode::SERVICE_UNAVAILABLE),
            delay: Duration::from_millis(400),
            source: HintSource::RetryAfter,
        },
    );
    record.push("retry", Attempt { number: 2 });
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
    CallRecord::note(copy.extensions(), "a", || Note("from the copy".into()));
    CallRecord::note(req.extensions(), "b", || Note("from the original".into()));
    assert_eq!(record.entries().len(), 2);
    // `ensure` on a request that has one returns the same record.
    let again = CallRecord::ensure(&mut req);
    again.push("c", Attempt { number: 1 });
    assert_eq!(record.entries().len(), 3);
}

#[tokio::test]
async fn the_layer_returns_the_record_in_the_response() {
    let inner = tower::service_fn(|req: Request<()>| async move {
        CallRecord::note(req.extensions(), "inner", || CacheMiss);
        Ok::<_, BoxError>(http::Response::new(()))
    });
    let svc = ServiceBuilder::new()
        .layer(CallRecordLayer::new())
        .service(inner);
    let res = svc.oneshot(Request::new(())).await.unwrap();
    let record = res.extensions().get::<CallRecord>().unwrap();
    assert_eq!(record.entries()[0].event(), Some(&CacheMiss));
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
        .push("x", Attempt { number: 1 });
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
    record.push("retry", Attempt { number: 1 });
    record.push("retry", Attempt { number: 2 });
    assert!(record.any(|e| attempt_number(e) == Some(2)));
    assert!(!record.any(|e| attempt_number(e) == Some(3)));
    assert!(!record.any(|e| e.layer != "retry"));
}

#[test]
fn resends_count_every_kind_of_resend() {
    let record = CallRecord::new();
    record.push("retry", Attempt { number: 1 });
    assert_eq!(record.resends(), 0);
    record.push("auth", Resent("401, token refreshed and request resent"));
    record.push(
        "sign",
        Resent("clock offset of -3000 ms learned from Date; re-signed"),
    );
    record.push(
        "redirect",
        Resent("followed a 302 redirect to another origin; credentials withheld"),
    );
    record.push("retry", Attempt { number: 2 });
    record.push("auth", Note("token refreshed".into()));
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
        record.push("retry", Attempt { number });
    }
    let numbers: Vec<u32> = record
        .entries()
        .iter()
        .map(|e| attempt_number(e).unwrap_or_else(|| panic!("{e:?}")))
        .collect();
    assert_eq!(numbers, (1..=(INLINE as u32 * 2 + 1)).collect::<Vec<_>>());
    assert_eq!(record.attempts(), INLINE as u32 * 2 + 1);
    assert_eq!(record.to_string().lines().count(), INLINE * 2 + 1);
    assert!(record.any(|e| e.event() == Some(&Attempt { number: 13 })));
}

#[test]
fn counts_are_kept_as_entries_are_pushed() {
    let record = CallRecord::new();
    assert_eq!((record.attempts(), record.resends()), (1, 0));
    record.push("breaker", Note("not an attempt".into()));
    assert_eq!((record.attempts(), record.resends()), (1, 0));
    record.push("retry", Attempt { number: 1 });
    record.push("retry", Attempt { number: 2 });
    record.push("redirect", Resent("followed a 302 redirect"));
    record.push("auth", Resent("401, token refreshed and request resent"));
    record.push(
        "sign",
        Resent("clock offset of 4 ms learned from Date; re-signed"),
    );
    assert_eq!(record.attempts(), 2);
    assert_eq!(record.resends(), 4);
    // The counts agree with the entries they summarise.
    let entries = record.entries();
    assert_eq!(
        entries.iter().filter(|e| e.as_event().is_resend()).count(),
        4
    );
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
    record.push("breaker", Note("admitted".into()));
    assert_eq!(record.now(), started);
    assert_eq!(record.mark_now(), started + Duration::from_millis(40));
    tokio::time::advance(Duration::from_millis(10)).await;
    record.push("retry", Note("failed".into()));
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

/// A layer's event that core has never heard of, as a layer crate would
/// define it.
#[derive(Debug, Clone, PartialEq)]
enum Hedge {
    Sent { number: u32 },
    Cancelled { loser: u32 },
}

impl fmt::Display for Hedge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hedge::Sent { number } => write!(f, "hedge {number} sent"),
            Hedge::Cancelled { loser } => write!(f, "hedge {loser} cancelled"),
        }
    }
}

impl Event for Hedge {
    fn attempt(&self) -> Option<u32> {
        match self {
            Hedge::Sent { number } => Some(*number),
            Hedge::Cancelled { .. } => None,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_foreign_event_is_counted_read_back_and_shown() {
    let record = CallRecord::new();
    record.push("hedge", Hedge::Sent { number: 1 });
    record.push("hedge", Hedge::Sent { number: 2 });
    record.push("hedge", Hedge::Cancelled { loser: 1 });
    // Counted by its own trait methods: two attempts, one of them a resend
    // (the default `is_resend`: an attempt numbered 2 or more).
    assert_eq!(record.attempts(), 2);
    assert_eq!(record.resends(), 1);
    let entries = record.entries();
    assert_eq!(entries[1].event(), Some(&Hedge::Sent { number: 2 }));
    assert_eq!(entries[2].event(), Some(&Hedge::Cancelled { loser: 1 }));
    // Not some other type.
    assert_eq!(entries[0].event::<Note>(), None);
    assert_eq!(entries[0].event::<Attempt>(), None);
    assert!(entries[0].as_event().is::<Hedge>());
    assert!(!entries[0].as_event().is_routine());
    assert_eq!(
        record.to_string(),
        "+0ms hedge: hedge 1 sent\n+0ms hedge: hedge 2 sent\n+0ms hedge: hedge 1 cancelled"
    );
    assert_eq!(
        format!("{:?}", entries[2]),
        "Entry { at: 0ns, layer: \"hedge\", event: Cancelled { loser: 1 } }"
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

    // A request whose only extension is the record (the client's): the
    // resend's extensions are made when it is sent, with that record.
    let mut lone = Request::get("https://api.test/lone")
        .body(bytes::Bytes::new())
        .unwrap();
    let record = CallRecord::ensure(&mut lone);
    let replay = Replay::keep(&lone, false).unwrap();
    let resend = replay.request().unwrap();
    assert_eq!(resend.extensions().len(), 1);
    resend
        .extensions()
        .get::<CallRecord>()
        .unwrap()
        .push("test", Note("from the resend".into()));
    assert_eq!(record.entries().len(), 1, "the same record, not a copy");

    // A stream cannot be replayed.
    let mut streamed = Request::new(crate::Body::new(http_body_util::BodyExt::map_err(
        http_body_util::Empty::<bytes::Bytes>::new(),
        |never| -> BoxError { match never {} },
    )));
    streamed.extensions_mut().insert(CallRecord::new());
    assert!(Replay::keep(&streamed, false).is_none());
}

#[test]
fn entries_of_several_types_keep_their_order_across_the_slots_and_the_spill() {
    let record = CallRecord::new();
    let total = INLINE * 2 + 1;
    for i in 0..total {
        let number = i as u32 + 1;
        match i % 3 {
            0 => record.push("retry", Attempt { number }),
            1 => record.push("hedge", Hedge::Cancelled { loser: number }),
            _ => record.push("note", Note(format!("note {number}").into())),
        }
    }
    let shown: Vec<String> = record
        .entries()
        .iter()
        .map(|e| format!("{}: {}", e.layer, e.as_event()))
        .collect();
    let expected: Vec<String> = (0..total)
        .map(|i| {
            let number = i + 1;
            match i % 3 {
                0 => format!("retry: attempt {number}"),
                1 => format!("hedge: hedge {number} cancelled"),
                _ => format!("note: note {number}"),
            }
        })
        .collect();
    assert_eq!(shown, expected);
    assert_eq!(record.to_string().lines().count(), total);
    // `any` sees the spilled entries too.
    assert!(record.any(|e| e.event() == Some(&Hedge::Cancelled { loser: 11 })));
    assert_eq!(format!("{record:?}").matches("Entry {").count(), total);
}

#[test]
fn pushes_from_several_threads_all_land_once_with_the_counts_right() {
    const THREADS: u32 = 4;
    const EACH: u32 = 50;
    let record = CallRecord::new();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let record = &record;
            scope.spawn(move || {
                for i in 0..EACH {
                    // Every other push is an attempt: attempt 1 from thread
                    // 0 only, so that the resends are the other attempts.
                    if i % 2 == 0 {
                        let number = thread * EACH + i + 1;
                        record.push("retry", Attempt { number });
                    } else {
                        record.push("t", Note(format!("{thread}/{i}").into()));
                    }
                }
            });
        }
    });
    let entries = record.entries();
    assert_eq!(entries.len(), (THREADS * EACH) as usize);
    let mut attempts: Vec<u32> = entries.iter().filter_map(attempt_number).collect();
    attempts.sort_unstable();
    let expected: Vec<u32> = (0..THREADS)
        .flat_map(|t| (0..EACH).step_by(2).map(move |i| t * EACH + i + 1))
        .collect();
    assert_eq!(attempts, expected);
    let mut notes: Vec<String> = entries
        .iter()
        .filter_map(|e| e.event::<Note>().map(|n| n.0.to_string()))
        .collect();
    notes.sort_unstable();
    notes.dedup();
    assert_eq!(notes.len(), (THREADS * EACH / 2) as usize);
    assert_eq!(record.attempts(), THREADS * EACH / 2);
    // Only attempt 1 (thread 0's first) is not a resend.
    assert_eq!(record.resends(), THREADS * EACH / 2 - 1);
    // Each thread's own pushes keep their order.
    for thread in 0..THREADS {
        let own: Vec<u32> = entries
            .iter()
            .filter_map(attempt_number)
            .filter(|n| (n - 1) / EACH == thread)
            .collect();
        assert!(own.is_sorted(), "{own:?}");
    }
}

/// An event over the entry's inline space.
#[derive(Debug, Clone, PartialEq)]
struct Large {
    words: [u64; 16],
}

impl fmt::Display for Large {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "large, summing to {}", self.words.iter().sum::<u64>())
    }
}

impl Event for Large {
    fn attempt(&self) -> Option<u32> {
        Some(7)
    }
}

#[test]
fn an_event_larger_than_the_inline_space_is_kept_on_the_heap() {
    let record = CallRecord::new();
    record.push("small", Attempt { number: 1 });
    let large = Large {
        words: std::array::from_fn(|i| i as u64),
    };
    record.push("large", large.clone());
    let entries = record.entries();
    assert!(entries[0].is_inline());
    assert!(!entries[1].is_inline());
    assert_eq!(entries[1].event(), Some(&large));
    assert_eq!(entries[1].clone().event(), Some(&large));
    assert_eq!(record.attempts(), 2);
    assert_eq!(record.resends(), 1);
    assert!(record.to_string().ends_with("large: large, summing to 120"));
}

#[test]
fn core_events_fit_inline() {
    let record = CallRecord::new();
    record.push("note", Note("text".into()));
    record.push("note", Note(String::from("owned text").into()));
    assert!(record.entries().iter().all(Entry::is_inline));
}

#[test]
fn the_record_stays_send_sync_and_unwind_safe() {
    fn check<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    check::<CallRecord>();
    check::<Entry>();
}

#[allow(dead_code)]
fn _obj_safe(_: &dyn Event) {}
