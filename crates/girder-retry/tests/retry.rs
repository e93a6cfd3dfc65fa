//! RetryLayer's behaviour over in-memory services, on paused time.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use girder_core::{Body, BoxError, CallRecord, Deadline, DeadlineExceeded, Idempotency};
use girder_retry::{
    Attempts, Backoff, DelaySource, NoRetry, RetryBudget, RetryDecision, RetryEvent, RetryLayer,
    RetryPolicy,
};
use girder_test::{MockService, Reply};
use http::{Request, Response, StatusCode};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

fn policy() -> girder_retry::RetryPolicyBuilder {
    RetryPolicy::builder().seed(7)
}

fn get() -> Request<Body> {
    with_record(
        Request::get("https://api.test/items")
            .body(Body::empty())
            .unwrap(),
    )
}

fn with_record(mut request: Request<Body>) -> Request<Body> {
    CallRecord::ensure(&mut request);
    request
}

fn record_of(request: &Request<Body>) -> CallRecord {
    request.extensions().get::<CallRecord>().unwrap().clone()
}

fn not_retried(record: &CallRecord) -> Vec<NoRetry> {
    record
        .entries()
        .into_iter()
        .filter_map(|e| match e.event::<RetryDecision>()? {
            RetryDecision::NotRetried { why, .. } => Some(*why),
            _ => None,
        })
        .collect()
}

fn delays(record: &CallRecord) -> Vec<(Duration, DelaySource)> {
    record
        .entries()
        .into_iter()
        .filter_map(|e| match e.event::<RetryDecision>()? {
            RetryDecision::Scheduled { delay, source, .. } => Some((*delay, *source)),
            _ => None,
        })
        .collect()
}

/// tokio's timer rounds a sleep up to the next millisecond.
fn assert_waited(gap: Duration, delay: Duration) {
    assert!(
        gap >= delay && gap <= delay + Duration::from_millis(1),
        "waited {gap:?} for a delay of {delay:?}"
    );
}

async fn call<S>(svc: S, request: Request<Body>) -> Result<Response<Body>, BoxError>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    svc.oneshot(request).await
}

/// The hook sees what the record holds: each retry scheduled (with its
/// delay) and each call given up on, with why; nothing for a success.
#[tokio::test(start_paused = true)]
async fn the_hook_sees_each_retry_and_each_give_up() {
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let policy = policy()
        .on_retry(move |event: &RetryEvent| seen.lock().unwrap().push(*event))
        .build()
        .unwrap();
    let mock = MockService::new([
        Reply::status(503),
        Reply::status(503),
        Reply::ok(),
        Reply::status(503),
        Reply::status(500),
        Reply::status(404),
    ]);
    let svc = RetryLayer::new(policy).layer(mock.clone());

    let request = get();
    let record = record_of(&request);
    call(svc.clone(), request).await.unwrap();
    let post = with_record(
        Request::post("https://api.test/items")
            .body(Body::from("{}"))
            .unwrap(),
    );
    assert_eq!(call(svc.clone(), post).await.unwrap().status(), 503);
    assert_eq!(call(svc.clone(), get()).await.unwrap().status(), 500);
    // A 404 is not a failure to the default classifier: no event.
    assert_eq!(call(svc, get()).await.unwrap().status(), 404);

    let events = events.lock().unwrap().clone();
    let scheduled: Vec<Duration> = events
        .iter()
        .filter_map(|e| match e {
            RetryEvent::Scheduled { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    let recorded: Vec<Duration> = delays(&record).into_iter().map(|(d, _)| d).collect();
    assert_eq!(scheduled, recorded, "the hook's delays are the record's");
    let gave_up: Vec<(u32, NoRetry)> = events
        .iter()
        .filter_map(|e| match e {
            RetryEvent::GaveUp { attempt, why, .. } => Some((*attempt, *why)),
            _ => None,
        })
        .collect();
    assert_eq!(
        gave_up,
        [(1, NoRetry::NotIdempotent), (1, NoRetry::NotRetryable)]
    );
    assert_eq!(events.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_503_503_200_script_takes_three_attempts() {
    let mock = MockService::new([Reply::status(503), Reply::status(503), Reply::ok()]);
    let svc = RetryLayer::new(policy().build().unwrap()).layer(mock.clone());
    let request = get();
    let record = record_of(&request);
    let res = call(svc, request).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.extensions().get::<Attempts>(), Some(&Attempts(3)));
    assert_eq!(mock.request_count(), 3);
    assert_eq!(record.attempts(), 3);
    let waits = delays(&record);
    assert_eq!(waits.len(), 2);
    assert!(
        waits
            .iter()
            .all(|(_, source)| *source == DelaySource::Backoff)
    );
    // The wire shows the waits the record announced.
    let seen = mock.requests();
    assert_waited(seen[1].at - seen[0].at, waits[0].0);
    assert_waited(seen[2].at - seen[1].at, waits[1].0);
}

#[tokio::test(start_paused = true)]
async fn the_final_failure_is_returned_not_swallowed() {
    let mock = MockService::new(Reply::status(503).body("still down"));
    let svc = RetryLayer::new(policy().build().unwrap()).layer(mock.clone());
    let request = get();
    let record = record_of(&request);
    let res = call(svc, request).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.extensions().get::<Attempts>(), Some(&Attempts(3)));
    assert_eq!(
        res.into_body().collect_limited(64).await.unwrap(),
        "still down"
    );
    assert_eq!(not_retried(&record), [NoRetry::AttemptsExhausted]);
}

#[tokio::test(start_paused = true)]
async fn the_last_error_is_returned_after_dropped_connections() {
    let mock = MockService::new(Reply::close());
    let svc = RetryLayer::new(policy().max_attempts(4).build().unwrap()).layer(mock.clone());
    let err = call(svc, get()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<io::Error>().unwrap().kind(),
        io::ErrorKind::ConnectionReset
    );
    assert_eq!(mock.request_count(), 4);
}

#[tokio::test(start_paused = true)]
async fn non_retryable_outcomes_are_returned_at_once() {
    let mock = MockService::new([Reply::status(500), Reply::ok()]);
    let svc = RetryLayer::new(policy().build().unwrap()).layer(mock.clone());
    let request = get();
    let record = record_of(&request);
    assert_eq!(call(svc.clone(), request).await.unwrap().status(), 500);
    assert_eq!(not_retried(&record), [NoRetry::NotRetryable]);
    let mock = MockService::new(Reply::status(404));
    let svc = RetryLayer::new(policy().build().unwrap()).layer(mock.clone());
    assert_eq!(call(svc, get()).await.unwrap().status(), 404);
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_in_seconds_sets_the_delay_with_a_little_jitter() {
    let mut waits = Vec::new();
    for seed in 0..40 {
        let mock = MockService::new([Reply::status(429).header("retry-after", "10"), Reply::ok()]);
        let svc =
            RetryLayer::new(RetryPolicy::builder().seed(seed).build().unwrap()).layer(mock.clone());
        let request = get();
        let record = record_of(&request);
        assert_eq!(call(svc, request).await.unwrap().status(), 200);
        let (delay, source) = delays(&record)[0];
        assert_eq!(
            source,
            DelaySource::Hint(girder_core::hints::HintSource::RetryAfter)
        );
        assert!(
            delay >= Duration::from_secs(10) && delay <= Duration::from_secs(11),
            "{delay:?}"
        );
        let seen = mock.requests();
        assert_waited(seen[1].at - seen[0].at, delay);
        waits.push(delay);
    }
    waits.sort();
    waits.dedup();
    assert!(
        waits.len() > 30,
        "hinted delays are spread, not in lockstep: {waits:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date() {
    #[allow(clippy::disallowed_methods)] // an HTTP-date is wall-clock time
    let at = std::time::SystemTime::now() + Duration::from_secs(3);
    let date = httpdate::fmt_http_date(at);
    let mock = MockService::new([Reply::status(503).header("retry-after", &date), Reply::ok()]);
    let svc = RetryLayer::new(policy().build().unwrap()).layer(mock.clone());
    assert_eq!(call(svc, get()).await.unwrap().status(), 200);
    let seen = mock.requests();
    let gap = seen[1].at - seen[0].at;
    // The date has one-second resolution; jitter adds up to a tenth.
    assert!(
        gap > Duration::from_secs(1) && gap <= Duration::from_millis(3300),
        "{gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hint_beyond_the_cap_returns_the_response_as_it_is() {
    let mock = MockService::new([Reply::status(503).header("retry-after", "120"), Reply::ok()]);
    let svc = RetryLayer::new(policy().build().unwrap()).layer(mock.clone());
    let request = get();
    let record = record_of(&request);
    let started = Instant::now();
    let res = call(svc, request).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(
        not_retried(&record),
        [NoRetry::HintTooLong(Duration::from_secs(120))]
    );

    let mock = MockService::new([Reply::status(503).header("retry-after", "120"), Reply::ok()]);
    let svc = RetryLayer::new(policy().max_hint(Duration::from_secs(300)).build().unwrap())
        .layer(mock.clone());
    assert_eq!(call(svc, get()).await.unwrap().status(), 200);
    assert!(started.elapsed() >= Duration::from_secs(120));
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_quota_reset_sets_the_delay() {
    let busy = Reply::status(429)
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset", "4");
    let mock = MockService::new([busy, Reply::ok()]);
    let svc = RetryLayer::new(policy().build().unwrap()).layer(mock.clone());
    let request = get();
    let record = record_of(&request);
    assert_eq!(call(svc, request).await.unwrap().status(), 200);
    let (delay, source) = delays(&record)[0];
    assert_eq!(
        source,
        DelaySource::Hint(girder_core::hints::HintSource::XRateLimit)
    );
    assert!(
        delay >= Duration::from_secs(4) && delay <= Duration::from_millis(4400),
        "{delay:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn post_is_not_retried() {
    let mock = MockService::new([Reply::status(503), Reply::ok()]);
    let svc = RetryLayer::new(policy().build().unwrap()).layer(mock.clone());
    let request = with_record(
        Request::post("https://api.test/orders")
            .body(Body::from("{}"))
            .unwrap(),
    );
    let record = record_of(&request);
    assert_eq!(call(svc, request).await.unwrap().status(), 503);
    assert_eq!(mock.request_count(), 1);
    assert_eq!(not_retried(&record), [NoRetry::NotIdempotent]);
}

#[tokio::test(start_paused = true)]
async fn post_with_a_generated_key_is_retried_with_the_same_key() {
    let mock = MockService::new([Reply::status(503), Reply::close(), Reply::ok()]);
    let svc = RetryLayer::new(policy().idempotency_keys(true).build().unwrap()).layer(mock.clone());
    let request = Request::post("https://api.test/orders")
        .body(Body::from(r#"{"qty":1}"#))
        .unwrap();
    assert_eq!(call(svc, request).await.unwrap().status(), 200);
    let seen = mock.requests();
    assert_eq!(seen.len(), 3);
    let key = seen[0]
        .header("idempotency-key")
        .expect("a key was added")
        .to_owned();
    assert_eq!(key.len(), 32);
    assert!(
        seen.iter()
            .all(|r| r.header("idempotency-key") == Some(&key))
    );
    assert!(
        seen.iter().all(|r| r.body == r#"{"qty":1}"#),
        "never an empty or partial resend"
    );

    // Each logical call gets its own key.
    let mock2 = MockService::new(Reply::ok());
    let svc =
        RetryLayer::new(policy().idempotency_keys(true).build().unwrap()).layer(mock2.clone());
    call(
        svc,
        Request::post("https://api.test/orders")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_ne!(
        mock2.requests()[0].header("idempotency-key"),
        Some(key.as_str())
    );
}

/// With a call record, the head resends are built from is kept once in
/// it (the call's context); a head kept further out, for a request that a
/// layer between may have changed, is never used for this layer's resends.
#[tokio::test(start_paused = true)]
async fn resends_are_built_from_the_head_kept_in_the_record_and_only_their_own() {
    let svc = |mock: &MockService| {
        RetryLayer::new(policy().idempotency_keys(true).build().unwrap()).layer(mock.clone())
    };
    let post = || {
        Request::post("https://api.test/orders?page=2")
            .header("x-trace", "t1")
            .body(Body::from("qty=1"))
            .unwrap()
    };

    let mock = MockService::new([Reply::status(503), Reply::status(503), Reply::ok()]);
    let request = with_record(post());
    let record = record_of(&request);
    assert_eq!(call(svc(&mock), request).await.unwrap().status(), 200);
    let head = record.head().expect("retry kept the call's head");
    assert_eq!(head.uri().path(), "/orders");
    let key = head.headers()["idempotency-key"]
        .to_str()
        .unwrap()
        .to_owned();
    let seen = mock.requests();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.method, "POST");
        assert_eq!(request.uri, "https://api.test/orders?page=2");
        assert_eq!(request.header("x-trace"), Some("t1"));
        assert_eq!(request.header("idempotency-key"), Some(key.as_str()));
        assert_eq!(request.body, "qty=1");
    }

    // A layer further out kept the head of the request it saw; a layer
    // between then changed it. This layer resends what it was given.
    let mock = MockService::new([Reply::status(503), Reply::ok()]);
    let mut outer = with_record(
        Request::get("https://api.test/elsewhere")
            .header("x-trace", "outer")
            .body(Body::empty())
            .unwrap(),
    );
    let record = record_of(&outer);
    assert!(record.keep_head(&outer).is_some());
    *outer.uri_mut() = "https://api.test/items".parse().unwrap();
    outer
        .headers_mut()
        .insert("x-trace", "changed".parse().unwrap());
    assert_eq!(call(svc(&mock), outer).await.unwrap().status(), 200);
    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.uri, "https://api.test/items");
        assert_eq!(request.header("x-trace"), Some("changed"));
    }
    assert_eq!(record.head().unwrap().uri().path(), "/elsewhere");
}

#[tokio::test(start_paused = true)]
async fn post_with_the_callers_key_is_retried_and_explicit_choices_are_kept() {
    let mock = MockService::new([Reply::status(502), Reply::ok()]);
    let svc = RetryLayer::new(policy().idempotency_keys(true).build().unwrap()).layer(mock.clone());
    let request = Request::post("https://api.test/pay")
        .header("idempotency-key", "mine")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(svc.clone(), request).await.unwrap().status(), 200);
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.header("idempotency-key") == Some("mine"))
    );

    let mock = MockService::new([Reply::status(502), Reply::ok()]);
    let svc = RetryLayer::new(policy().idempotency_keys(true).build().unwrap()).layer(mock.clone());
    let mut request = Request::post("https://api.test/pay")
        .body(Body::empty())
        .unwrap();
    request.extensions_mut().insert(Idempotency::NotIdempotent);
    assert_eq!(call(svc, request).await.unwrap().status(), 502);
    assert_eq!(mock.requests()[0].header("idempotency-key"), None);
}

#[tokio::test(start_paused = true)]
async fn a_post_that_never_connected_is_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let inner = tower::service_fn(move |_req: Request<Body>| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err::<Response<Body>, BoxError>(Box::new(io::Error::from(
                    io::ErrorKind::ConnectionRefused,
                )))
            } else {
                Ok(Response::new(Body::empty()))
            }
        }
    });
    let svc = RetryLayer::new(policy().build().unwrap()).layer(inner);
    let request = Request::post("https://api.test/orders")
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(call(svc, request).await.unwrap().status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

struct Chunks(Vec<Bytes>);
impl futures_core::Stream for Chunks {
    type Item = Result<http_body::Frame<Bytes>, io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        Poll::Ready(if self.0.is_empty() {
            None
        } else {
            Some(Ok(http_body::Frame::data(self.0.remove(0))))
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_is_sent_once() {
    let mock = MockService::new([Reply::status(503), Reply::ok()]);
    let svc = RetryLayer::new(policy().build().unwrap()).layer(mock.clone());
    let body = Body::new(http_body_util::StreamBody::new(Chunks(vec![
        Bytes::from("ab"),
        Bytes::from("cd"),
    ])));
    let request = with_record(Request::put("https://api.test/blob").body(body).unwrap());
    let record = record_of(&request);
    assert_eq!(call(svc, request).await.unwrap().status(), 503);
    let seen = mock.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, "abcd");
    assert_eq!(not_retried(&record), [NoRetry::BodyNotReplayable]);
}

/// A user's body that says it can be copied `copies` times and then no
/// more, like one backed by a one-shot source.
struct ReplaysLimited {
    copies: Arc<AtomicUsize>,
}

impl girder_core::ReplayBody for ReplaysLimited {
    fn try_replay(&self) -> Option<Self> {
        let left = self
            .copies
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        left.ok().map(|_| ReplaysLimited {
            copies: self.copies.clone(),
        })
    }
}

/// Pins issue 18: a `ReplayBody` that replayed once (the copy taken at the
/// call) and then returned `None` panicked in retry's `expect` before the
/// resend. Now the retries end with the last outcome, recorded as
/// `BodyNotReplayable`.
#[tokio::test(start_paused = true)]
async fn a_body_that_stops_replaying_ends_the_retries_with_the_last_outcome() {
    for (copies, attempts) in [(1, 1), (2, 2), (5, 3)] {
        let calls = Arc::new(AtomicUsize::new(0));
        let inner = tower::service_fn({
            let calls = calls.clone();
            move |_: Request<ReplaysLimited>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    Ok::<_, BoxError>(Response::builder().status(503).body(Body::empty()).unwrap())
                }
            }
        });
        let svc = RetryLayer::new(policy().build().unwrap()).layer(inner);
        let body = ReplaysLimited {
            copies: Arc::new(AtomicUsize::new(copies)),
        };
        let mut request = Request::get("https://api.test/items").body(body).unwrap();
        let record = CallRecord::ensure(&mut request);
        let response = svc.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(
            response.extensions().get::<Attempts>(),
            Some(&Attempts(attempts))
        );
        assert_eq!(calls.load(Ordering::SeqCst), attempts as usize);
        let why = if attempts == 3 {
            NoRetry::AttemptsExhausted
        } else {
            NoRetry::BodyNotReplayable
        };
        assert_eq!(not_retried(&record), [why], "{copies} copies");
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_is_never_slept_past() {
    // A response: returned as it is when the hinted wait would cross the deadline.
    let mock = MockService::new([Reply::status(503).header("retry-after", "2"), Reply::ok()]);
    let svc = RetryLayer::new(policy().build().unwrap()).layer(mock.clone());
    let mut request = get();
    Deadline::after(Duration::from_secs(1)).apply(&mut request);
    let record = record_of(&request);
    let started = Instant::now();
    assert_eq!(call(svc, request).await.unwrap().status(), 503);
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(not_retried(&record), [NoRetry::Deadline]);

    // An error: DeadlineExceeded, with the last failure as its source.
    let mock = MockService::new(Reply::close());
    let backoff = Backoff::constant(Duration::from_millis(400));
    let svc = RetryLayer::new(policy().max_attempts(10).backoff(backoff).build().unwrap())
        .layer(mock.clone());
    let mut request = get();
    Deadline::after(Duration::from_secs(1)).apply(&mut request);
    let err = call(svc, request).await.unwrap_err();
    let exceeded = err
        .downcast_ref::<DeadlineExceeded>()
        .expect("a deadline error");
    let source = std::error::Error::source(exceeded).unwrap();
    assert_eq!(
        source.downcast_ref::<io::Error>().unwrap().kind(),
        io::ErrorKind::ConnectionReset
    );
    assert_eq!(
        mock.request_count(),
        3,
        "attempts at 0, 400 and 800 ms; 1200 ms is past the deadline"
    );
    assert_eq!(started.elapsed(), Duration::from_millis(800));
}

#[tokio::test(start_paused = true)]
async fn under_sustained_failure_retries_stay_within_the_budget() {
    let mock = MockService::new(Reply::status(503));
    let policy = policy()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::ZERO))
        .build()
        .unwrap();
    let svc = RetryLayer::new(policy).layer(mock.clone());
    let requests = 10_000;
    for _ in 0..requests {
        call(
            svc.clone(),
            Request::get("https://api.test/")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
        tokio::time::advance(Duration::from_millis(1)).await;
    }
    let retries = mock.request_count() - requests;
    let ratio = retries as f64 / requests as f64;
    println!(
        "sustained failure: {retries} retries for {requests} requests over 10 s, ratio {ratio:.4}"
    );
    // 20 % of 10,000 requests plus 10/s over the 10 s window.
    assert!(retries <= 2_000 + 100, "{retries}");
    assert!(
        retries >= 1_900,
        "the budget is spent, not left idle: {retries}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_dropped_during_its_backoff_gives_its_budget_back() {
    let budget = RetryBudget::new(Duration::from_secs(1), 1, 0.0).unwrap(); // one retry in all
    let policy = policy()
        .budget(Some(budget))
        .backoff(Backoff::constant(Duration::from_secs(5)))
        .build()
        .unwrap();
    let layer = RetryLayer::new(policy);
    let mock = MockService::new([Reply::status(503), Reply::status(503), Reply::ok()]);
    let mut svc = layer.layer(mock.clone());

    let mut future = Box::pin(
        ServiceExt::<Request<Body>>::ready(&mut svc)
            .await
            .unwrap()
            .call(get()),
    );
    tokio::select! {
        _ = &mut future => panic!("should be waiting out its backoff"),
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
    drop(future);
    assert_eq!(mock.request_count(), 1);

    // The refunded retry is there for the next call.
    let res = call(svc, get()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.extensions().get::<Attempts>(), Some(&Attempts(2)));
}

/// Counts readiness checks, to show each resend drives readiness again.
#[derive(Clone)]
struct CountReady<S> {
    inner: S,
    ready: Arc<AtomicUsize>,
}

impl<S: Service<Request<Body>>> Service<Request<Body>> for CountReady<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.ready.fetch_add(1, Ordering::SeqCst);
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: Request<Body>) -> S::Future {
        self.inner.call(req)
    }
}

#[tokio::test(start_paused = true)]
async fn readiness_is_driven_before_every_resend() {
    let ready = Arc::new(AtomicUsize::new(0));
    let mock = MockService::new([Reply::status(503), Reply::status(503), Reply::ok()]);
    let svc = RetryLayer::new(policy().build().unwrap()).layer(CountReady {
        inner: mock,
        ready: ready.clone(),
    });
    call(svc, get()).await.unwrap();
    assert_eq!(
        ready.load(Ordering::SeqCst),
        3,
        "once by the caller, once before each of two resends"
    );
}

#[tokio::test(start_paused = true)]
async fn a_status_set_replaces_the_default() {
    let mock = MockService::new([Reply::status(500), Reply::status(503), Reply::ok()]);
    let policy = policy()
        .retry_statuses([StatusCode::INTERNAL_SERVER_ERROR])
        .build()
        .unwrap();
    let svc = RetryLayer::new(policy).layer(mock.clone());
    assert_eq!(call(svc, get()).await.unwrap().status(), 503);
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_delay_function_sees_the_outcome() {
    let backoff = Backoff::from_fn(|ctx| match ctx.outcome {
        girder_core::Outcome::Response(head) if head.status() == 502 => Duration::from_secs(7),
        _ => Duration::from_secs(1),
    });
    let mock = MockService::new([Reply::status(502), Reply::close(), Reply::ok()]);
    let svc = RetryLayer::new(policy().backoff(backoff).build().unwrap()).layer(mock.clone());
    let started = Instant::now();
    assert_eq!(call(svc, get()).await.unwrap().status(), 200);
    assert_eq!(started.elapsed(), Duration::from_secs(8));
}

#[test]
fn nonsense_policies_are_refused() {
    for (builder, needle) in [
        (RetryPolicy::builder().max_attempts(0), "max_attempts 0"),
        (RetryPolicy::builder().max_attempts(101), "max_attempts 101"),
        (
            RetryPolicy::builder().max_hint(Duration::from_secs(90_000)),
            "max_hint",
        ),
        (
            RetryPolicy::builder().max_budget_partitions(0),
            "max_budget_partitions",
        ),
    ] {
        let err = builder.build().unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
}
