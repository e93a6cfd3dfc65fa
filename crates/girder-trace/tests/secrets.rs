//! Masking by value (issue 18, security defect 4) and the resend count
//! (issue 18, "resend count").

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use common::Capture;
use common::events::{RecoveredFrom401, Redirected};
use girder_core::secrets::{MASK, SecretValues};
use girder_core::{Body, BoxError, CallRecord};
use girder_test::{MockService, Reply, Script, TestServer};
use girder_trace::{CallSummary, Level, LoggingConfig, LoggingLayer};
use http::{HeaderValue, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::layer::layer_fn;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

const KEY: &str = "k3y-4f9a-77QZ";
/// Needs escaping in JSON (`"`, `\`) and in a URL (`/`, space).
const PASSWORD: &str = r#"pa"ss\w0rd/ 1"#;

/// A stand-in for auth, which girder-trace may not depend on: adds an API
/// key header and registers the key and a password with the registry the
/// logging layer put into the request, as girder-auth does.
fn credentials<S>(
    inner: S,
) -> impl Service<Request<Body>, Response = S::Response, Error = S::Error> + Clone
where
    S: Service<Request<Body>> + Clone,
{
    service_fn(move |mut request: Request<Body>| {
        let mut value = HeaderValue::from_static(KEY);
        value.set_sensitive(true);
        request.headers_mut().insert("x-api-key", value);
        SecretValues::register_in(request.extensions(), KEY);
        SecretValues::register_in(request.extensions(), PASSWORD);
        inner.clone().oneshot(request)
    })
}

/// Every value the subscriber saw: messages, event fields, span fields.
fn logged(capture: &Capture) -> String {
    let mut out = String::new();
    for event in capture.events() {
        out.push_str(&event.message);
        out.push('\n');
        for value in event.fields.values() {
            out.push_str(value);
            out.push('\n');
        }
    }
    for span in capture.spans() {
        for value in span.fields.values() {
            out.push_str(value);
            out.push('\n');
        }
    }
    out
}

/// The forms a secret may take in a log: as it is, JSON-escaped (once or
/// twice, with or without `\/`) and percent- or form-encoded.
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let json = json.trim_matches('"').to_owned();
    let twice = serde_json::to_string(&json).unwrap();
    let twice = twice.trim_matches('"').to_owned();
    let slashed = json.replace('/', "\\/");
    let percent: String = secret
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let form = percent.replace("%20", "+");
    vec![secret.to_owned(), json, twice, slashed, percent, form]
}

fn assert_hidden(text: &str, secret: &str) {
    for form in forms(secret) {
        assert!(!text.contains(&form), "{form:?} leaked in:\n{text}");
    }
}

/// What httpbin's `/anything` does with a request, reduced to what leaks:
/// the API key echoed under another name (in the body and a header), and
/// the password (as a server decoding a credential would have it) inside
/// JSON text nested in a string field.
fn echo(request: &girder_test::RecordedRequest) -> Reply {
    let key = request.header("x-api-key").unwrap_or("-");
    let data =
        serde_json::json!({ "login": { "user": "ann", "pass_phrase": PASSWORD } }).to_string();
    let body = serde_json::json!({
        "headers": { "X-Echoed-Key": key },
        "data": data,
        "url": format!("http://127.0.0.1/anything?k={key}"),
    });
    Reply::ok()
        .header("x-echoed", &format!("key={key}"))
        .json(body.to_string())
}

/// Pins issue 18, security defect 4: with body logging on, an echoing
/// server put the API key (under another field name) and the password
/// (inside a JSON string nested in a JSON field) in the logs, since masking
/// by field name cannot catch either. Over real TCP, the response body
/// streamed (teed).
#[tokio::test]
async fn echoed_credentials_are_masked_by_value_in_headers_and_bodies() {
    let server = TestServer::start().await;
    server.route("/anything", Script::from_fn(echo));
    let transport = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let transport = service_fn(move |request: Request<Body>| {
        let call = transport.request(request);
        async move {
            let response = call.await.map_err(BoxError::from)?;
            Ok::<_, BoxError>(response.map(Body::new))
        }
    });
    let config = LoggingConfig::builder()
        .request_bodies(true)
        .response_bodies(true)
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(LoggingLayer::new(config))
        .layer(layer_fn(credentials))
        .service(transport);

    let (capture, _guard) = Capture::install(Level::DEBUG);
    for _ in 0..2 {
        let request = Request::post(server.uri("/anything"))
            .header("content-type", "application/json")
            .body(Body::from(r#"{"hello":"world"}"#))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        // The caller reads the body whole, as the server sent it.
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert!(std::str::from_utf8(&body).unwrap().contains(KEY));
    }
    assert_eq!(server.request_count(), 2);

    let text = logged(&capture);
    assert!(text.contains("response body"), "{text}");
    assert_hidden(&text, KEY);
    assert_hidden(&text, PASSWORD);
    assert!(text.contains(MASK), "{text}");
    // Name-based masking is still there.
    let headers = capture
        .events()
        .into_iter()
        .filter(|e| e.message == "response headers")
        .map(|e| e.fields["headers"].clone())
        .collect::<Vec<_>>();
    assert_eq!(headers.len(), 2);
    assert!(
        headers[0].contains(&format!("x-echoed: key={MASK}")),
        "{headers:?}"
    );
}

/// A buffered request body carrying a value registered on an earlier call,
/// and the URL, are masked too; the registry lives as long as the layer.
#[tokio::test(start_paused = true)]
async fn values_registered_once_are_masked_for_the_layers_lifetime() {
    let api = MockService::new(Reply::ok());
    let config = LoggingConfig::builder()
        .request_bodies(true)
        .build()
        .unwrap();
    let layer = LoggingLayer::new(config);
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .layer(layer_fn(credentials))
        .service(api.clone());
    let (capture, _guard) = Capture::install(Level::DEBUG);
    let first = Request::get("https://api.test/a")
        .body(Body::empty())
        .unwrap();
    client.clone().oneshot(first).await.unwrap();

    // A second service from a clone of the layer shares its registry.
    let other = ServiceBuilder::new().layer(layer).service(api.clone());
    let second = Request::post(format!("https://api.test/b?note={KEY}"))
        .header("content-type", "text/plain")
        .body(Body::from(format!("copied the key {KEY} here")))
        .unwrap();
    other.oneshot(second).await.unwrap();

    let text = logged(&capture);
    assert_hidden(&text, KEY);
    let body = capture.event("request body").fields["body"].clone();
    assert_eq!(body, format!("copied the key {MASK} here"));
    let url = capture.spans()[1].fields["url.full"].clone();
    assert_eq!(url, format!("https://api.test/b?note={MASK}"));
}

/// The registry is handed down only when headers or bodies are logged at
/// `DEBUG`, or the span logs a request id the caller set; otherwise the
/// layers below have nothing to register with.
#[tokio::test(start_paused = true)]
async fn the_registry_is_handed_down_only_when_something_is_logged_at_debug() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let inner = service_fn(move |request: Request<Body>| {
        log.lock()
            .unwrap()
            .push(request.extensions().get::<SecretValues>().is_some());
        async { Ok::<_, Infallible>(Response::new(Body::empty())) }
    });
    let quiet = LoggingConfig::builder().headers(false).build().unwrap();
    let no_id = LoggingConfig::builder().no_request_id().build().unwrap();
    for (config, level, caller_id) in [
        (LoggingConfig::default(), Level::DEBUG, false),
        (LoggingConfig::default(), Level::INFO, false),
        (quiet.clone(), Level::DEBUG, false),
        (quiet, Level::INFO, true),
        (LoggingConfig::default(), Level::WARN, true),
        (no_id, Level::INFO, true),
    ] {
        let (_capture, _guard) = Capture::install(level);
        let svc = LoggingLayer::new(config).layer(inner.clone());
        let mut request = Request::get("https://api.test/");
        if caller_id {
            request = request.header("x-request-id", "from-the-caller");
        }
        svc.oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [true, false, false, true, false, false]
    );
}

/// Pins issue 18, "resend count": `http.request.resend_count` and the
/// hook's `resends` counted only retry's attempts, so a 401 replay and a
/// followed redirect were not counted.
#[tokio::test(start_paused = true)]
async fn the_resend_count_counts_401_replays_and_redirects() {
    let inner = service_fn(|request: Request<Body>| {
        let record = request.extensions().get::<CallRecord>().unwrap();
        record.push("auth", RecoveredFrom401);
        record.push("redirect", Redirected { status: 302 });
        async { Ok::<_, Infallible>(Response::new(Body::empty())) }
    });
    let resends = Arc::new(Mutex::new(None));
    let sink = resends.clone();
    let config = LoggingConfig::builder()
        .on_call_end(move |call: &CallSummary<'_>| *sink.lock().unwrap() = Some(call.resends))
        .build()
        .unwrap();
    let (capture, _guard) = Capture::install(Level::INFO);
    let svc = LoggingLayer::new(config).layer(inner);
    let request = Request::get("https://api.test/")
        .body(Body::empty())
        .unwrap();
    svc.oneshot(request).await.unwrap();
    assert_eq!(capture.span().fields["http.request.resend_count"], "2");
    assert_eq!(
        capture.event("response").fields["http.request.resend_count"],
        "2"
    );
    assert_eq!(*resends.lock().unwrap(), Some(2));
}
