//! Fuzz target for what the logging layer prints of requests and
//! responses: fuzzed query strings, header names and values, JSON and
//! form bodies, and a server echoing a registered credential anywhere in
//! its headers or body. Every secret placed where the configuration
//! redacts it (by query name, header name, field name or registered
//! value) stays out of the log. The long run: `GIRDER_FUZZ_ITERS=1000000
//! cargo test --release -p girder-trace --test fuzz -- --nocapture` (see
//! `girder_test::fuzz`).

mod common;

use std::sync::{Arc, Mutex};

use common::Capture;
use girder_core::Body;
use girder_core::secrets::SecretValues;
use girder_test::fuzz::{self, Gen};
use girder_test::{MockService, Reply, Script};
use girder_trace::{Level, LoggingConfig, LoggingLayer};
use http::{HeaderName, HeaderValue, Request};
use tower::layer::layer_fn;
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// Marks of the secrets, one per way of hiding them.
const QUERY_SECRET: &str = "QSECRETq7";
const HEADER_SECRET: &str = "HSECRETh7";
const FIELD_SECRET: &str = "FSECRETf7";
/// The credential the layer below registers, which the server echoes.
const REGISTERED: &str = "RSECRETr7";

const QUERY_NAMES: &[&str] = &[
    "api_key",
    "apiKey",
    "access_token",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "sig",
    "code",
    "key",
    "passwd",
    "page",
    "q",
    "per_page",
    "client-secret",
];

const HEADER_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-amz-security-token",
    "x-request-id",
    "accept",
    "x-custom",
];

const FIELD_NAMES: &[&str] = &[
    "password",
    "refreshToken",
    "client_secret",
    "access-token",
    "API_KEY",
    "session",
    "user",
    "id",
    "note",
    "tokens",
];

/// Characters a query parameter name may hold here: no `&`, `=`, `#` or
/// `%`, so that the test splits the query as the layer does.
fn query_name(g: &mut Gen) -> String {
    g.text(QUERY_NAMES, &["_", "-", ".", "~", "Token", "SECRET"])
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_-.~".contains(*c))
        .collect()
}

fn header_name(g: &mut Gen) -> HeaderName {
    if g.chance(70) {
        return HeaderName::from_static(g.pick(HEADER_NAMES));
    }
    HeaderName::from_bytes(&g.data(HEADER_NAMES, &["-", "token", "key", "auth"]))
        .unwrap_or(HeaderName::from_static("x-other"))
}

/// A JSON value whose masked fields (by `config`) hold the field secret.
fn json(g: &mut Gen, config: &LoggingConfig, depth: usize, out: &mut String) {
    match g.rng().u32(0..if depth == 0 { 3 } else { 5 }) {
        0 => out.push_str("17"),
        1 => out.push_str("\"plain \\\" text\""),
        2 => out.push_str(&format!("\"echo {REGISTERED} here\"")),
        3 => {
            out.push('[');
            for i in 0..g.rng().usize(0..3) {
                if i > 0 {
                    out.push(',');
                }
                json(g, config, depth - 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..g.rng().usize(0..4) {
                if i > 0 {
                    out.push(',');
                }
                let name: String = g
                    .text(FIELD_NAMES, &["_", "-", "Token"])
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || "_-".contains(*c))
                    .collect();
                out.push_str(&format!("\"{name}\":"));
                if config.is_masked_field(&name) {
                    out.push_str(&format!("\"{FIELD_SECRET}\""));
                } else {
                    json(g, config, depth - 1, out);
                }
            }
            out.push('}');
        }
    }
}

#[derive(Debug)]
struct Exchange {
    uri: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: String,
    form: bool,
    response_headers: Vec<(HeaderName, HeaderValue)>,
    response_body: String,
}

fn headers(g: &mut Gen, config: &LoggingConfig) -> Vec<(HeaderName, HeaderValue)> {
    (0..g.rng().usize(0..4))
        .map(|_| {
            let name = header_name(g);
            let value = if config.is_redacted_header(&name) {
                format!("Bearer {HEADER_SECRET}")
            } else if g.chance(30) {
                format!("echo={REGISTERED}")
            } else {
                "public".to_owned()
            };
            (name, HeaderValue::from_str(&value).unwrap())
        })
        .collect()
}

fn exchange(g: &mut Gen, config: &LoggingConfig) -> Exchange {
    let mut query = Vec::new();
    for _ in 0..g.rng().usize(0..4) {
        let name = query_name(g);
        let value = if config.is_redacted_query(&name) {
            QUERY_SECRET
        } else {
            "public"
        };
        query.push(format!("{name}={value}"));
    }
    let uri = if query.is_empty() {
        "https://api.test/items".to_owned()
    } else {
        format!("https://api.test/items?{}", query.join("&"))
    };
    let form = g.chance(30);
    let body = if form {
        let pairs: Vec<String> = (0..g.rng().usize(0..4))
            .map(|_| {
                let name = query_name(g);
                match config.is_masked_field(&name) {
                    true => format!("{name}={FIELD_SECRET}"),
                    false => format!("{name}=public+{REGISTERED}"),
                }
            })
            .collect();
        pairs.join("&")
    } else {
        let mut out = String::new();
        json(g, config, 3, &mut out);
        out
    };
    let mut response_body = String::new();
    json(g, config, 3, &mut response_body);
    Exchange {
        uri,
        headers: headers(g, config),
        body,
        form,
        response_headers: headers(g, config),
        response_body,
    }
}

#[test]
fn logs_never_show_a_redacted_secret() {
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let config = LoggingConfig::builder()
        .request_bodies(true)
        .response_bodies(true)
        .build()
        .unwrap();
    let slot: Arc<Mutex<Reply>> = Arc::new(Mutex::new(Reply::ok()));
    let reply = slot.clone();
    let api = MockService::new(Script::from_fn(move |_| reply.lock().unwrap().clone()));
    // A stand-in for auth: registers the credential it would send.
    let register = layer_fn(|inner: MockService| {
        service_fn(move |request: Request<Body>| {
            SecretValues::register_in(request.extensions(), REGISTERED);
            inner.clone().oneshot(request)
        })
    });
    let client = ServiceBuilder::new()
        .layer(LoggingLayer::new(config.clone()))
        .layer(register)
        .service(api);
    // The credential is registered by a first call: from then on the
    // layer masks it wherever it appears.
    rt.block_on(async {
        let request = Request::get("https://api.test/")
            .body(Body::empty())
            .unwrap();
        client.clone().oneshot(request).await.unwrap();
    });
    let (mut inputs, mut logged_secrets) = (0, 0);
    fuzz::check(
        "logging",
        1_000,
        |g| exchange(g, &config),
        |exchange| {
            let mut response = Reply::ok().json(exchange.response_body.clone());
            for (name, value) in &exchange.response_headers {
                response = response.header(name.as_str(), value.to_str().unwrap());
            }
            *slot.lock().unwrap() = response;
            let mut request = Request::post(&exchange.uri)
                .header(
                    "content-type",
                    if exchange.form {
                        "application/x-www-form-urlencoded"
                    } else {
                        "application/json"
                    },
                )
                .body(Body::from(exchange.body.clone()))
                .unwrap();
            for (name, value) in &exchange.headers {
                request.headers_mut().append(name, value.clone());
            }
            let (capture, _guard) = Capture::install(Level::TRACE);
            rt.block_on(async {
                let response = client.clone().oneshot(request).await.unwrap();
                http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .unwrap();
            });
            let text = capture.text();
            inputs += 1;
            logged_secrets += usize::from(text.contains("[redacted]") || text.contains("REDACTED"));
            for secret in [QUERY_SECRET, HEADER_SECRET, FIELD_SECRET, REGISTERED] {
                assert!(!text.contains(secret), "{secret} in the log:\n{text}");
            }
        },
    );
    assert!(
        logged_secrets * 2 > inputs,
        "{logged_secrets} of {inputs} redacted anything"
    );
}

/// Found by the `logging` target: the span's `http.request.id`, taken from
/// the caller's `x-request-id`, was not masked by value, so a registered
/// credential quoted in it was logged at INFO.
#[test]
fn regression_x_request_id_echo_rsecretr7() {
    for level in [Level::TRACE, Level::INFO] {
        request_id_echo_is_masked(level);
    }
}

/// Two calls with a caller-set `x-request-id`, the second quoting the
/// credential the first sent; with the subscriber at `max`.
fn request_id_echo_is_masked(max: Level) {
    let _serial = serial();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let register = layer_fn(|inner: MockService| {
        service_fn(move |request: Request<Body>| {
            SecretValues::register_in(request.extensions(), REGISTERED);
            inner.clone().oneshot(request)
        })
    });
    let client = ServiceBuilder::new()
        .layer(LoggingLayer::new(LoggingConfig::default()))
        .layer(register)
        .service(MockService::new(Reply::ok()));
    let (capture, _guard) = Capture::install(max);
    rt.block_on(async {
        for id in ["first", "echo=RSECRETr7"] {
            let request = Request::get("https://api.test/items")
                .header("x-request-id", id)
                .body(Body::empty())
                .unwrap();
            client.clone().oneshot(request).await.unwrap();
        }
    });
    let spans = capture.spans();
    assert_eq!(spans.len(), 2, "at {max}: {spans:#?}");
    assert_eq!(
        spans[1].fields["http.request.id"], "echo=[REDACTED]",
        "at {max}"
    );
    assert!(!capture.text().contains(REGISTERED), "at {max}");
}

/// Holds the tests of this file apart: a scoped subscriber on one test's
/// thread and a call made without one on another's can leave tracing's
/// cached callsite interest (global) at `never` for a while, which would
/// hide events from the capture of the other test.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}
