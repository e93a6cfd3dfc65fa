//! The fallback of a breaker whose shared store fails, traced once per
//! transition. Alone in its binary: tracing caches each callsite's
//! interest process-wide, and a test on another thread that reaches a
//! callsite first, before this test's subscriber exists, would hide it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use girder_breaker::store::{Admit, ProbeToken};
use girder_breaker::{
    BreakerPolicy, CircuitBreaker, CircuitStore, LocalCircuitStore, OpenDuration,
};
use girder_core::{Body, BoxError, PartitionKey};
use girder_test::{MockService, Reply};
use http::Request;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

type Breaker = CircuitBreaker<MockService>;

fn process(store: Arc<dyn CircuitStore>) -> (Breaker, MockService) {
    let api = MockService::new(Reply::ok());
    api.route("/fail", Reply::status(500));
    let policy = BreakerPolicy::builder()
        .consecutive_failures(2)
        .open_duration(OpenDuration::fixed(Duration::from_secs(10)))
        .store(store)
        .build()
        .unwrap();
    (CircuitBreaker::new(api.clone(), policy), api)
}

async fn status(service: &mut Breaker, uri: &str) -> u16 {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let ready = ServiceExt::<Request<Body>>::ready(service).await.unwrap();
    let response = ready.call(request).await.unwrap();
    response.status().as_u16()
}

async fn trip(service: &mut Breaker) {
    for _ in 0..2 {
        assert_eq!(status(service, "http://a.test/fail").await, 500);
    }
}

/// Fails while `down`, else a [`LocalCircuitStore`].
#[derive(Debug, Default)]
struct Flaky {
    down: AtomicBool,
    store: LocalCircuitStore,
}

impl CircuitStore for Flaky {
    fn admit(&self, key: &PartitionKey, probe: ProbeToken, max: u32) -> Admit {
        if self.down.load(Ordering::Relaxed) {
            return Admit::Ready(Err("connection refused".into()));
        }
        self.store.admit(key, probe, max)
    }
    fn release_probe(&self, key: &PartitionKey, probe: ProbeToken) {
        self.store.release_probe(key, probe)
    }
    fn publish_open(&self, key: &PartitionKey, open_for: Duration) -> Result<(), BoxError> {
        if self.down.load(Ordering::Relaxed) {
            return Err("connection refused".into());
        }
        self.store.publish_open(key, open_for)
    }
    fn publish_closed(&self, key: &PartitionKey) -> Result<(), BoxError> {
        self.store.publish_closed(key)
    }
}

/// Keeps the `message` of every `girder::breaker` event at WARN or INFO.
#[derive(Default, Clone)]
struct Events(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Events {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "girder::breaker" && *metadata.level() <= tracing::Level::INFO
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    *self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        self.0.lock().unwrap().push(message);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Pins issue 19 item 4: a failing store must not fail calls, and its
/// fallback must be traced once per transition, not once per call.
#[tokio::test(start_paused = true)]
async fn a_failing_store_falls_back_to_local_state_traced_once_per_transition() {
    let events = Events::default();
    let _guard = tracing::subscriber::set_default(events.clone());
    let flaky = Arc::new(Flaky::default());
    let (mut a, _) = process(flaky.clone());
    let (mut b, b_api) = process(flaky.clone());
    let stored = || events.0.lock().unwrap().clone();

    flaky.down.store(true, Ordering::Relaxed);
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(status(&mut b, "http://a.test/ok").await, 200);
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "an error is no wait");
    // A trips while the store is down: its circuit opens all the same. A
    // is another process: it traces its own fallback, once; its failed
    // publication adds nothing (A already knows the store is down).
    trip(&mut a).await;
    let failed = "circuit store failed; circuits decided by this process alone";
    assert_eq!(stored(), [failed, failed, "circuit opened"]);

    flaky.down.store(false, Ordering::Relaxed);
    for _ in 0..2 {
        assert_eq!(status(&mut b, "http://a.test/ok").await, 200);
    }
    let back = "circuit store answering again; circuits shared with the fleet";
    assert_eq!(stored()[3..], [back]);
    flaky.down.store(true, Ordering::Relaxed);
    assert_eq!(status(&mut b, "http://a.test/ok").await, 200);
    assert_eq!(status(&mut b, "http://a.test/ok").await, 200);
    assert_eq!(stored()[3..], [back, failed]);
    assert_eq!(b_api.request_count(), 7);
}
