use super::*;
use crate::BoxError;
use crate::classify::Reason;
use http::StatusCode;
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
