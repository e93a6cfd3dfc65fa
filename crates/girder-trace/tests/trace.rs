//! LoggingLayer's spans, fields, levels, redaction and bodies, read back
//! from a capturing subscriber.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use common::Capture;
use common::events::{Attempt, Scheduled};
use girder_core::partition::PathTemplate;
use girder_core::{Body, BoxError, CallRecord, Reason};
use girder_test::{MockService, Reply};
use girder_trace::{Format, Level, LoggingConfig, LoggingLayer};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use tower::{Layer, ServiceExt, service_fn};

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn layer() -> LoggingLayer {
    LoggingLayer::default()
}

fn compact() -> LoggingLayer {
    LoggingLayer::new(
        LoggingConfig::builder()
            .format(Format::Compact)
            .build()
            .unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn the_span_carries_the_otel_client_attributes() {
    let (capture, _guard) = Capture::install(Level::INFO);
    let api = MockService::new(Reply::ok());
    let response = layer()
        .layer(api.clone())
        .oneshot(get(
            "https://ann:pw@api.test:8443/users/17?page=2&api_key=K3Y",
        ))
        .await
        .unwrap();

    let span = capture.span();
    assert_eq!(span.level, Level::INFO);
    let field = |name: &str| span.fields.get(name).cloned();
    assert_eq!(field("otel.name").as_deref(), Some("GET /users/{id}"));
    assert_eq!(field("otel.kind").as_deref(), Some("client"));
    assert_eq!(field("http.request.method").as_deref(), Some("GET"));
    assert_eq!(
        field("url.full").as_deref(),
        Some("https://REDACTED:REDACTED@api.test:8443/users/17?page=2&api_key=REDACTED")
    );
    assert_eq!(field("server.address").as_deref(), Some("api.test"));
    assert_eq!(field("server.port").as_deref(), Some("8443"));
    assert_eq!(field("http.response.status_code").as_deref(), Some("200"));
    assert_eq!(field("error.type"), None);
    assert_eq!(field("otel.status_code"), None);
    assert_eq!(field("http.request.resend_count"), None, "sent once");
    // The duration is the completion event's, not repeated on the span
    // (which has its own start and end).
    assert_eq!(field("duration_s"), None);
    let event = capture.event("response");
    assert!(event.fields["duration_s"].parse::<f64>().is_ok());
    assert_eq!(event.fields["http.response.status_code"], "200");
    assert!(!event.fields.contains_key("http.request.resend_count"));
    let sent = api.requests()[0].header("x-request-id").unwrap().to_owned();
    assert_eq!(field("http.request.id"), Some(sent.clone()));
    assert!(sent.len() == 32 && sent.bytes().all(|b| b.is_ascii_hexdigit()));
    // The record the layer created comes back with the response.
    assert!(response.extensions().get::<CallRecord>().is_some());
    assert!(!capture.text().contains("K3Y") && !capture.text().contains(":pw@"));
}

#[tokio::test(start_paused = true)]
async fn a_path_template_names_the_span() {
    let (capture, _guard) = Capture::install(Level::INFO);
    let mut request = get("https://api.test/repos/tokio-rs/tower");
    request
        .extensions_mut()
        .insert(PathTemplate::new("/repos/{owner}/{repo}"));
    let api = MockService::new(Reply::ok());
    layer().layer(api).oneshot(request).await.unwrap();
    let span = capture.span();
    assert_eq!(span.fields["otel.name"], "GET /repos/{owner}/{repo}");
    assert_eq!(span.fields["url.template"], "/repos/{owner}/{repo}");
}

#[tokio::test(start_paused = true)]
async fn levels_follow_the_outcome() {
    for (status, level) in [(200, Level::INFO), (404, Level::WARN), (503, Level::WARN)] {
        let (capture, _guard) = Capture::install(Level::TRACE);
        let api = MockService::new(Reply::status(status));
        layer()
            .layer(api)
            .oneshot(get("https://api.test/x"))
            .await
            .unwrap();
        let event = capture.event("response");
        assert_eq!(event.level, level, "{status}");
        assert_eq!(
            event.fields["http.response.status_code"],
            status.to_string()
        );
        assert_eq!(event.target, "girder::trace");
        assert!(event.span.is_some(), "the event is in the call's span");
        let span = capture.span();
        if status >= 400 {
            assert_eq!(span.fields["error.type"], status.to_string());
            assert_eq!(span.fields["otel.status_code"], "ERROR");
        } else {
            assert!(!span.fields.contains_key("error.type"));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_end_of_a_call_is_recorded_on_the_span_in_one_dispatch() {
    for status in [200, 503] {
        let (capture, _guard) = Capture::install(Level::INFO);
        layer()
            .layer(retried_then(status))
            .oneshot(get("https://api.test/x"))
            .await
            .unwrap();
        let span = capture.span();
        assert_eq!(span.fields["http.response.status_code"], status.to_string());
        assert_eq!(span.fields["http.request.resend_count"], "1");
        assert_eq!(span.fields.contains_key("error.type"), status >= 400);
        assert_eq!(capture.record_calls(), 1, "{status}");
    }
}

/// Two attempts noted in the record, then `status`.
fn retried_then(
    status: u16,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>>,
> + Clone {
    service_fn(move |req: Request<Body>| async move {
        for number in 1..=2 {
            CallRecord::note(req.extensions(), "retry", || Attempt { number });
        }
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        Ok(response)
    })
}

#[tokio::test(start_paused = true)]
async fn a_filtered_out_span_leaves_the_outcome_on_the_event() {
    // The span at DEBUG under an INFO filter: the completion event alone
    // must still say how the call went and how long it took.
    let (capture, _guard) = Capture::install(Level::INFO);
    let config = LoggingConfig::builder()
        .span_level(Level::DEBUG)
        .build()
        .unwrap();
    LoggingLayer::new(config)
        .layer(retried_then(200))
        .oneshot(get("https://api.test/x"))
        .await
        .unwrap();
    assert!(capture.spans().is_empty());
    let event = capture.event("response");
    assert_eq!(event.fields["http.response.status_code"], "200");
    assert_eq!(event.fields["http.request.resend_count"], "1");
    assert!(event.fields["duration_s"].parse::<f64>().is_ok());
}

#[tokio::test(start_paused = true)]
async fn levels_are_configurable() {
    let (capture, _guard) = Capture::install(Level::TRACE);
    let config = LoggingConfig::builder()
        .client_error_level(Level::DEBUG)
        .span_level(Level::DEBUG)
        .build()
        .unwrap();
    let api = MockService::new(Reply::status(404));
    LoggingLayer::new(config)
        .layer(api)
        .oneshot(get("https://api.test/x"))
        .await
        .unwrap();
    assert_eq!(capture.event("response").level, Level::DEBUG);
    assert_eq!(capture.span().level, Level::DEBUG);
}

#[tokio::test(start_paused = true)]
async fn a_transport_error_is_logged_at_error_with_its_kind() {
    let (capture, _guard) = Capture::install(Level::INFO);
    let refused = service_fn(|_req: Request<Body>| async {
        Err::<Response<Body>, _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
    });
    let err = layer()
        .layer(refused)
        .oneshot(get("https://api.test/x"))
        .await
        .unwrap_err();
    assert!(
        err.downcast_ref::<std::io::Error>().is_some(),
        "the error passes unchanged"
    );
    let event = capture.event("request failed");
    assert_eq!(event.level, Level::ERROR);
    assert_eq!(event.fields["error.type"], "connect");
    let span = capture.span();
    assert_eq!(span.fields["error.type"], "connect");
    assert_eq!(span.fields["otel.status_code"], "ERROR");
    assert!(!span.fields.contains_key("http.response.status_code"));
}

/// A stand-in for retry: three attempts noted in the record, the first two
/// failing with 503.
fn retried() -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>>,
> + Clone {
    // Notes as the retry layer does: it reads the clock (`mark_now`) when
    // an attempt starts and when it sees an outcome, and entries are
    // stamped with the call's latest reading.
    let mark = |req: &Request<Body>| {
        if let Some(record) = req.extensions().get::<CallRecord>() {
            record.mark_now();
        }
    };
    service_fn(move |req: Request<Body>| async move {
        for number in 1..=3 {
            mark(&req);
            CallRecord::note(req.extensions(), "retry", || Attempt { number });
            if number < 3 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                mark(&req);
                CallRecord::note(req.extensions(), "retry", || Scheduled {
                    failed: number,
                    reason: Reason::Status(StatusCode::SERVICE_UNAVAILABLE),
                    delay: Duration::from_millis(200),
                });
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(Response::new(Body::from("ok")))
    })
}

#[tokio::test(start_paused = true)]
async fn the_call_record_becomes_span_events_and_the_resend_count() {
    let (capture, _guard) = Capture::install(Level::INFO);
    layer()
        .layer(retried())
        .oneshot(get("https://api.test/x"))
        .await
        .unwrap();
    assert_eq!(capture.span().fields["http.request.resend_count"], "2");
    assert_eq!(
        capture.event("response").fields["http.request.resend_count"],
        "2"
    );
    let retries: Vec<_> = capture
        .events()
        .into_iter()
        .filter(|e| e.fields.get("girder.layer").map(String::as_str) == Some("retry"))
        .collect();
    // At INFO: the two retries and attempts 2 and 3; attempt 1 is routine.
    let messages: Vec<_> = retries.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "attempt 1 failed (status 503 Service Unavailable); next in 200ms (backoff)",
            "attempt 2",
            "attempt 2 failed (status 503 Service Unavailable); next in 200ms (backoff)",
            "attempt 3"
        ]
    );
    assert_eq!(retries[0].fields["at_ms"], "100");
    assert!(retries.iter().all(|e| e.span.is_some()));
}

#[tokio::test(start_paused = true)]
async fn the_compact_format_reads_as_two_lines() {
    let (capture, _guard) = Capture::install(Level::INFO);
    let slow = service_fn(|_req: Request<Body>| async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    compact()
        .layer(slow)
        .oneshot(get("https://api.test/items?token=T0K&page=1"))
        .await
        .unwrap();
    assert_eq!(
        capture.messages(),
        [
            "→ GET https://api.test/items?token=REDACTED&page=1",
            "← 200 OK (0.25s)"
        ]
    );

    let (capture, _guard) = Capture::install(Level::INFO);
    compact()
        .layer(retried())
        .oneshot(get("https://api.test/x"))
        .await
        .unwrap();
    let messages = capture.messages();
    assert_eq!(messages.first().unwrap(), "→ GET https://api.test/x");
    assert!(
        messages.contains(&"  retry: attempt 2 (+300ms)".to_owned()),
        "{messages:?}"
    );
    assert_eq!(messages.last().unwrap(), "← 200 OK (0.60s, 2 resends)");
}

#[tokio::test(start_paused = true)]
async fn the_request_id_is_set_kept_renamed_or_off() {
    let _capture = Capture::install(Level::INFO);
    let api = MockService::new(Reply::ok());
    let sent = |layer: LoggingLayer, request: Request<Body>| {
        let api = api.clone();
        async move {
            layer.layer(api.clone()).oneshot(request).await.unwrap();
            api.requests().last().unwrap().headers.clone()
        }
    };
    let first = sent(layer(), get("https://api.test/")).await;
    let second = sent(layer(), get("https://api.test/")).await;
    assert_ne!(first["x-request-id"], second["x-request-id"]);

    let mut own = get("https://api.test/");
    own.headers_mut()
        .insert("x-request-id", "mine".parse().unwrap());
    assert_eq!(sent(layer(), own).await["x-request-id"], "mine");

    let renamed = LoggingConfig::builder()
        .request_id_header("x-correlation-id")
        .build()
        .unwrap();
    let headers = sent(LoggingLayer::new(renamed), get("https://api.test/")).await;
    assert_eq!(headers["x-correlation-id"].len(), 32);
    assert!(!headers.contains_key("x-request-id"));

    let off = LoggingConfig::builder().no_request_id().build().unwrap();
    let headers = sent(LoggingLayer::new(off), get("https://api.test/")).await;
    assert!(!headers.contains_key("x-request-id"));
}

#[tokio::test(start_paused = true)]
async fn headers_are_logged_only_at_debug_with_credentials_redacted() {
    let request = || {
        Request::get("https://api.test/")
            .header("accept", "application/json")
            .header("authorization", "Bearer B34RER")
            .header("x-auth-token", "T0KEN")
            .body(Body::empty())
            .unwrap()
    };
    let api = MockService::new(Reply::ok().header("set-cookie", "sid=C00KIE"));

    let (capture, guard) = Capture::install(Level::INFO);
    layer().layer(api.clone()).oneshot(request()).await.unwrap();
    assert!(!capture.messages().iter().any(|m| m.contains("headers")));
    drop(guard);

    let (capture, _guard) = Capture::install(Level::DEBUG);
    layer().layer(api.clone()).oneshot(request()).await.unwrap();
    let sent = &capture.event("request headers").fields["headers"];
    assert!(sent.contains("accept: application/json"), "{sent}");
    assert!(sent.contains("authorization: [redacted]"), "{sent}");
    assert!(sent.contains("x-auth-token: [redacted]"), "{sent}");
    let received = &capture.event("response headers").fields["headers"];
    assert!(received.contains("set-cookie: [redacted]"), "{received}");
    let text = capture.text();
    for secret in ["B34RER", "T0KEN", "C00KIE"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    // The server still got the credentials: redaction is for the log only.
    assert_eq!(
        api.requests()[1].header("authorization"),
        Some("Bearer B34RER")
    );
}

fn bodies() -> LoggingLayer {
    LoggingLayer::new(
        LoggingConfig::builder()
            .request_bodies(true)
            .response_bodies(true)
            .build()
            .unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn buffered_bodies_are_logged_masked_and_sent_whole() {
    let (capture, _guard) = Capture::install(Level::DEBUG);
    let json = r#"{"user":"ann","password":"PW1","tokens":[{"refresh_token":"RT2"}]}"#;
    let api = MockService::new(Reply::ok().json(r#"{"access_token":"AT3","expires_in":60}"#));
    let request = Request::post("https://api.test/login")
        .header("content-type", "application/json")
        .body(Body::from(json))
        .unwrap();
    let response = bodies().layer(api.clone()).oneshot(request).await.unwrap();
    let received = response.into_body().collect_limited(1024).await.unwrap();
    assert_eq!(received, r#"{"access_token":"AT3","expires_in":60}"#);
    assert_eq!(api.requests()[0].body, json);

    let sent = &capture.event("request body").fields["body"];
    assert_eq!(
        sent,
        r#"{"password":"[redacted]","tokens":[{"refresh_token":"[redacted]"}],"user":"ann"}"#
    );
    let got = &capture.event("response body").fields["body"];
    assert_eq!(got, r#"{"access_token":"[redacted]","expires_in":60}"#);
    let text = capture.text();
    for secret in ["PW1", "RT2", "AT3"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

fn stream(chunks: &'static [&'static str]) -> Body {
    let frames = chunks
        .iter()
        .map(|c| Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(c.as_bytes()))));
    Body::new(StreamBody::new(futures_iter(frames)))
}

/// A `Stream` over an iterator, without futures-util.
fn futures_iter<I: Iterator + Unpin>(iter: I) -> impl futures_core::Stream<Item = I::Item> {
    struct Iter<I>(I);
    impl<I: Iterator + Unpin> futures_core::Stream for Iter<I> {
        type Item = I::Item;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<I::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(iter)
}

#[tokio::test(start_paused = true)]
async fn streamed_bodies_are_not_consumed_and_responses_are_teed() {
    let (capture, _guard) = Capture::install(Level::DEBUG);
    let echo = service_fn(|req: Request<Body>| async move {
        // The request stream arrives untouched; the reply streams too.
        let got = req.into_body().collect_limited(1024).await?;
        assert_eq!(got, "part one, part two");
        let mut response = Response::new(stream(&[r#"{"secret":"#, r#""S3C","ok":true}"#]));
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        Ok::<_, BoxError>(response)
    });
    let request = Request::post("https://api.test/upload")
        .header("content-type", "text/plain")
        .body(stream(&["part one, ", "part two"]))
        .unwrap();
    let response = bodies().layer(echo).oneshot(request).await.unwrap();
    assert_eq!(
        capture.event("request body").fields["body"],
        "[streamed body, not logged]"
    );
    assert!(
        !capture.messages().contains(&"response body".to_owned()),
        "nothing is logged before the caller reads"
    );
    let received = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(received, r#"{"secret":"S3C","ok":true}"#);
    let event = capture.event("response body");
    assert_eq!(event.fields["body"], r#"{"ok":true,"secret":"[redacted]"}"#);
    assert_eq!(event.fields["bytes"], "26");
    assert!(event.span.is_some(), "logged in the call's span");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_is_logged_as_canceled_with_its_record() {
    let (capture, _guard) = Capture::install(Level::INFO);
    let mut call = Box::pin(
        compact()
            .layer(retried())
            .oneshot(get("https://api.test/x")),
    );
    assert!(girder_test::poll_once(&mut call).is_pending());
    tokio::time::advance(Duration::from_millis(150)).await;
    assert!(girder_test::poll_once(&mut call).is_pending());
    drop(call);
    let messages = capture.messages();
    assert_eq!(
        messages[1..],
        [
            "  retry: attempt 1 failed (status 503 Service Unavailable); next in 200ms (backoff) (+150ms)".to_owned(),
            "← canceled (0.15s)".to_owned()
        ],
        "{messages:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_subscriber_the_call_passes_unchanged() {
    let api = MockService::new(Reply::ok().body("hello"));
    let response = bodies()
        .layer(api.clone())
        .oneshot(get("https://api.test/"))
        .await
        .unwrap();
    assert_eq!(
        response.into_body().collect_limited(64).await.unwrap(),
        "hello"
    );
    assert!(api.requests()[0].header("x-request-id").is_some());
}

#[cfg(feature = "opentelemetry")]
#[tokio::test(start_paused = true)]
async fn traceparent_is_injected_from_the_span() {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let inner = {
        let seen = seen.clone();
        service_fn(move |req: Request<Body>| {
            let span = tracing::Span::current();
            let trace_id = span.context().span().span_context().trace_id();
            *seen.lock().unwrap() = Some((req.headers().clone(), trace_id));
            async { Ok::<_, Infallible>(Response::new(Body::empty())) }
        })
    };
    layer()
        .layer(inner.clone())
        .oneshot(get("https://api.test/"))
        .await
        .unwrap();
    let (headers, trace_id) = seen.lock().unwrap().take().unwrap();
    let traceparent = headers["traceparent"].to_str().unwrap().to_owned();
    let parts: Vec<_> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], trace_id.to_string());
    assert_eq!(parts[2].len(), 16);
    assert_eq!(parts[3], "01", "sampled");

    // A caller's own traceparent is kept.
    let own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut request = get("https://api.test/");
    request
        .headers_mut()
        .insert("traceparent", own.parse().unwrap());
    layer().layer(inner).oneshot(request).await.unwrap();
    let (headers, _) = seen.lock().unwrap().take().unwrap();
    assert_eq!(headers["traceparent"], own);
}

#[tokio::test(start_paused = true)]
async fn the_call_end_hook_gets_a_summary_even_without_a_subscriber() {
    use std::sync::{Arc, Mutex};

    let seen = Arc::new(Mutex::new(Vec::new()));
    let config = LoggingConfig::builder()
        .on_call_end({
            let seen = seen.clone();
            move |call: &girder_trace::CallSummary<'_>| {
                assert_eq!(call.method, http::Method::GET);
                assert_eq!(call.server_address, Some("api.test"));
                assert_eq!(call.server_port, Some(443));
                let attempts = call.record.attempts();
                seen.lock()
                    .unwrap()
                    .push((call.to_string(), call.error_type(), attempts));
            }
        })
        .build()
        .unwrap();
    let layer = LoggingLayer::new(config);

    layer
        .layer(retried())
        .oneshot(get("https://api.test/users/7"))
        .await
        .unwrap();
    let refused = service_fn(|_req: Request<Body>| async {
        Err::<Response<Body>, _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
    });
    let _ = layer
        .layer(refused)
        .oneshot(get("https://api.test/x"))
        .await;
    let mut call = Box::pin(layer.layer(retried()).oneshot(get("https://api.test/x")));
    assert!(girder_test::poll_once(&mut call).is_pending());
    drop(call);

    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "GET /users/{id}: 200 OK in 600ms, 2 resends");
    assert_eq!((seen[0].1.clone(), seen[0].2), (None, 3));
    assert_eq!(seen[1].0, "GET /x: connect error in 0ms");
    assert_eq!(seen[1].1.as_deref(), Some("connect"));
    assert_eq!(seen[2].0, "GET /x: canceled in 0ms");
    assert_eq!(seen.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_response_body_dropped_midway_is_logged_as_such() {
    let (capture, _guard) = Capture::install(Level::DEBUG);
    let chatty = service_fn(|_req: Request<Body>| async {
        let mut response = Response::new(stream(&["first line\n", "second line\n"]));
        response
            .headers_mut()
            .insert("content-type", "text/plain".parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    let response = bodies()
        .layer(chatty)
        .oneshot(get("https://api.test/lines"))
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "first line\n");
    drop(body);
    let event = capture.event("response body dropped before its end");
    assert_eq!(event.fields["body"], "first line\n");
    assert_eq!(event.fields["bytes"], "11");
}

#[cfg(feature = "opentelemetry")]
#[tokio::test(start_paused = true)]
async fn without_an_opentelemetry_layer_no_traceparent_is_invented() {
    let (_capture, _guard) = Capture::install(Level::TRACE);
    let api = MockService::new(Reply::ok());
    layer()
        .layer(api.clone())
        .oneshot(get("https://api.test/"))
        .await
        .unwrap();
    let sent = &api.requests()[0];
    assert!(sent.header("x-request-id").is_some());
    assert!(sent.header("traceparent").is_none());
}

#[test]
fn the_service_and_its_future_are_send_and_clone() {
    fn send<T: Send>(_: &T) {}
    let mut service = layer().layer(MockService::new(Reply::ok()));
    let _copy = service.clone();
    let future = tower::Service::call(&mut service, get("https://api.test/"));
    send(&service);
    send(&future);
}
