use super::*;
use crate::{MockService, Reply};
use girder_core::{Body, Class, Classify, DefaultClassifier, Outcome};
use tower::ServiceExt;

fn request(method: http::Method) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri("http://api.test/x")
        .body(Body::empty())
        .unwrap()
}

/// The outcome of each of `n` calls, as a short string.
async fn run(layer: &FaultLayer, n: usize) -> Vec<String> {
    let svc = layer.layer(MockService::new(Reply::ok()));
    let mut outcomes = Vec::with_capacity(n);
    for _ in 0..n {
        let started = tokio::time::Instant::now();
        let outcome = match svc.clone().oneshot(request(http::Method::GET)).await {
            Ok(res) => res.status().as_str().to_owned(),
            Err(e) => e.to_string(),
        };
        outcomes.push(format!("{outcome}@{}ms", started.elapsed().as_millis()));
    }
    outcomes
}

fn chaos(seed: u64) -> FaultLayer {
    FaultLayer::builder(seed)
        .error(0.1)
        .status(StatusCode::SERVICE_UNAVAILABLE, 0.2)
        .drop_response(0.1)
        .latency(Duration::from_millis(30), 0.25)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_faults() {
    let a = run(&chaos(7), 300).await;
    let b = run(&chaos(7), 300).await;
    assert_eq!(a, b);
    let c = run(&chaos(8), 300).await;
    assert_ne!(a, c, "a different seed should give a different sequence");
    // Every kind of fault occurred, so the comparison above means something.
    for needle in [
        "503",
        "request failed",
        "response dropped",
        "200",
        "@30ms",
        "@0ms",
    ] {
        assert!(
            a.iter().any(|o| o.contains(needle)),
            "no {needle:?} in {a:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn rates_match_the_configuration() {
    let layer = chaos(1);
    run(&layer, 10_000).await;
    let stats = layer.stats();
    assert_eq!(stats.total(), 10_000);
    let near = |count: u64, p: f64| ((count as f64 / 10_000.0) - p).abs() < 0.02;
    assert!(near(stats.errors, 0.1), "{stats:?}");
    assert!(near(stats.statuses, 0.2), "{stats:?}");
    assert!(near(stats.dropped, 0.1), "{stats:?}");
    assert!(near(stats.delayed, 0.25), "{stats:?}");
}

#[tokio::test]
async fn injected_errors_do_not_reach_the_service() {
    let mock = MockService::new(Reply::ok());
    let layer = FaultLayer::builder(0).error(1.0).build().unwrap();
    let err = layer
        .layer(mock.clone())
        .oneshot(request(http::Method::GET))
        .await
        .unwrap_err();
    let fault = err.downcast_ref::<InjectedFault>().unwrap();
    assert!(!fault.response_dropped());
    assert_eq!(mock.request_count(), 0);
    assert!(
        DefaultClassifier
            .classify(Outcome::error(&*err))
            .is_retryable()
    );
}

#[tokio::test]
async fn dropped_responses_reached_the_service() {
    let mock = MockService::new(Reply::ok());
    let layer = FaultLayer::builder(0).drop_response(1.0).build().unwrap();
    let err = layer
        .layer(mock.clone())
        .oneshot(request(http::Method::POST))
        .await
        .unwrap_err();
    assert!(
        err.downcast_ref::<InjectedFault>()
            .unwrap()
            .response_dropped()
    );
    assert_eq!(mock.request_count(), 1, "the side effect happened");
    assert!(matches!(
        DefaultClassifier.classify(Outcome::error(&*err)),
        Class::Retryable(_)
    ));
}

#[tokio::test]
async fn the_predicate_selects_requests() {
    let mock = MockService::new(Reply::ok());
    let layer = FaultLayer::builder(3)
        .status(StatusCode::BAD_GATEWAY, 1.0)
        .when(|head| head.method() == http::Method::POST)
        .build()
        .unwrap();
    let svc = layer.layer(mock.clone());
    assert_eq!(
        svc.clone()
            .oneshot(request(http::Method::GET))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        svc.clone()
            .oneshot(request(http::Method::POST))
            .await
            .unwrap()
            .status(),
        502
    );
    assert_eq!(mock.request_count(), 1);
    let stats = layer.stats();
    assert_eq!((stats.passed, stats.statuses), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_future_dropped_during_latency_never_calls_the_service() {
    let mock = MockService::new(Reply::ok());
    let layer = FaultLayer::builder(0)
        .latency(Duration::from_secs(1), 1.0)
        .build()
        .unwrap();
    let mut svc = layer.layer(mock.clone());
    let ready = ServiceExt::<Request<Body>>::ready(&mut svc).await.unwrap();
    let mut future = Box::pin(ready.call(request(http::Method::GET)));
    assert!(poll_once(&mut future).await.is_none(), "should be pending");
    tokio::time::advance(Duration::from_millis(500)).await;
    assert!(
        poll_once(&mut future).await.is_none(),
        "still waiting at 500ms"
    );
    drop(future);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(mock.request_count(), 0);

    let started = tokio::time::Instant::now();
    let res = svc.oneshot(request(http::Method::GET)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}

async fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut *future).poll(cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

#[test]
fn nonsense_configurations_are_refused() {
    let cases = [
        FaultLayer::builder(0).error(1.5),
        FaultLayer::builder(0).error(-0.1),
        FaultLayer::builder(0).error(f64::NAN),
        FaultLayer::builder(0).latency(Duration::from_secs(1), 2.0),
        FaultLayer::builder(0)
            .error(0.5)
            .status(StatusCode::BAD_GATEWAY, 0.4)
            .drop_response(0.2),
    ];
    for case in cases {
        let shown = format!("{case:?}");
        let err = case.build().unwrap_err();
        assert!(
            err.to_string().starts_with("invalid fault configuration"),
            "{shown}: {err}"
        );
    }
    assert!(
        FaultLayer::builder(0)
            .error(0.5)
            .drop_response(0.5)
            .build()
            .is_ok()
    );
}
