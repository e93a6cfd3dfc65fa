//! The signing layer's trace events carry no key material. Alone in its
//! test binary: a `tracing` callsite first hit by a test on another
//! thread, while this one was installing its subscriber, could keep the
//! interest computed without that subscriber, and the "signed" events
//! went missing (seen in several runs of tests/sign.rs on a loaded
//! machine).

use std::time::{Duration, SystemTime};

use girder_core::{Body, WallClock};
use girder_sign::hmac::HmacSigner;
use girder_sign::sigv4::SigV4Signer;
use girder_sign::{SigningLayer, SkewPolicy};
use girder_test::{MockService, Reply};
use http::Request;
use tower::{Layer, ServiceExt};

const T0: u64 = 1_700_000_000;

fn clock() -> WallClock {
    WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(T0))
}

fn post(body: &'static str) -> Request<Body> {
    Request::post("https://api.test/orders?id=7")
        .body(Body::from(body))
        .unwrap()
}

fn streaming() -> Body {
    Body::new(http_body_util::StreamBody::new(Empty))
}

struct Empty;
impl futures_core::Stream for Empty {
    type Item = Result<http_body::Frame<bytes::Bytes>, std::io::Error>;
    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(None)
    }
}

fn http_date(unix: u64) -> String {
    httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(unix))
}

/// Collects every event's target and fields as text.
#[derive(Default, Clone)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Text(String);
        impl tracing::field::Visit for Text {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
        }
        let mut text = Text(event.metadata().target().to_owned());
        event.record(&mut text);
        self.0.lock().unwrap().push(text.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn trace_events_carry_no_key_material() {
    let secret = "TRACE-SECRET-KEY";
    let token = "TRACE-SESSION-TOKEN";
    let capture = Capture::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(capture.clone(), || {
        runtime.block_on(async {
            let sigv4 = SigV4Signer::builder("AKID", secret, "us-east-1", "svc")
                .session_token(token)
                .build()
                .unwrap();
            let mock = MockService::new(Reply::ok());
            let svc = SigningLayer::with_clock(sigv4, clock()).layer(mock.clone());
            svc.clone().oneshot(post("{}")).await.unwrap();
            let req = Request::post("https://api.test/x")
                .body(streaming())
                .unwrap();
            svc.oneshot(req).await.unwrap_err();
            let hmac = HmacSigner::builder("k", secret.as_bytes().to_vec())
                .build()
                .unwrap();
            let svc = SigningLayer::with_clock(hmac, clock())
                .skew(SkewPolicy::default())
                .layer(MockService::new([
                    Reply::status(401).header("date", &http_date(T0 + 600)),
                    Reply::ok(),
                ]));
            svc.oneshot(post("{}")).await.unwrap();
        })
    });
    let events = capture.0.lock().unwrap().clone();
    let ours: Vec<_> = events
        .iter()
        .filter(|e| e.starts_with("girder::sign"))
        .collect();
    assert!(
        ours.len() >= 4,
        "signed, refused, skew, re-signed: {ours:?}"
    );
    assert!(ours.iter().any(|e| e.contains("scheme=\"sigv4\"")));
    assert!(ours.iter().any(|e| e.contains("stream")));
    assert!(ours.iter().any(|e| e.contains("offset_ms=600000")));
    for event in &events {
        assert!(
            !event.contains(secret) && !event.contains(token),
            "leaked: {event}"
        );
    }
}
