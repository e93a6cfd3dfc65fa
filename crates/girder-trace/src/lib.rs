//! Request logging and tracing spans for HTTP API clients: [`LoggingLayer`].
//!
//! Put it outermost. Each logical request (however many times the layers
//! below resend it) gets one span, `http.client.request`, carrying the
//! OpenTelemetry HTTP client attributes, and a few events:
//!
//! - the span's `otel.name` is `{method} {route}`: the request's
//!   [`PathTemplate`](girder_core::partition::PathTemplate) when the caller
//!   set one (also recorded as `url.template`), else the path with
//!   identifier-like segments as `{id}` (`GET /users/{id}`);
//! - attributes `http.request.method`, `url.full` (user info and sensitive
//!   query values as `REDACTED`), `server.address`, `server.port`,
//!   `http.response.status_code`, `error.type` (the status code from 400
//!   up, else a short name of the [`ErrorKind`](girder_core::ErrorKind)),
//!   `http.request.resend_count` (the call record's
//!   [`resends`](girder_core::CallRecord::resends): retries, 401 replays,
//!   clock-skew re-signs and followed redirects; set only when the request
//!   was resent), `otel.kind = "client"`,
//!   `otel.status_code = "ERROR"` on failure, and `http.request.id`; the
//!   attributes known only at the end are recorded in one go when the call
//!   ends;
//! - a completion event: `INFO` below 400, `WARN` for 4xx and 5xx, `ERROR`
//!   for a call that ended in an error (all configurable), carrying
//!   `duration_s` (on the event only: the span has its own start and end,
//!   and a subscriber that prints the span's fields with each event would
//!   print it twice), `http.response.status_code` or `error.type`, and
//!   `http.request.resend_count` when the request was resent; with
//!   [`Format::Compact`] the lines read `→ GET https://api.test/items` and
//!   `← 200 OK (0.12s)`;
//! - the [`CallRecord`](girder_core::CallRecord)'s decisions as events in
//!   the span when the call ends: retries, waits for quota, the breaker,
//!   the cache, token refresh, signing. The layer creates the record when
//!   the request has none and returns it in the response extensions;
//! - headers at `DEBUG`, bodies at `DEBUG` when opted in;
//! - an optional [`OnCallEnd`] hook with a [`CallSummary`] of each call,
//!   for metrics.
//!
//! The layer sets `x-request-id` to a random 128-bit hex id when the
//! request has none (the same id on every resend), and with the
//! `opentelemetry` feature injects `traceparent` from the span.
//!
//! ```
//! use girder_core::{Body, BoxError};
//! use girder_test::{MockService, Reply};
//! use girder_trace::{Format, LoggingConfig, LoggingLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let api = MockService::new(Reply::ok().json(r#"{"id":1}"#));
//! let config = LoggingConfig::builder()
//!     .format(Format::Compact)
//!     .redact_header("x-tenant-secret")
//!     .build()?;
//! let client = ServiceBuilder::new()
//!     .layer(LoggingLayer::new(config))
//!     .service(api.clone());
//!
//! let request = http::Request::get("https://api.test/items/1?api_key=k")
//!     .header("authorization", "Bearer t0ken")
//!     .body(Body::empty())?;
//! // Logs `→ GET https://api.test/items/1?api_key=REDACTED` and
//! // `← 200 OK (0.00s)` in a span named `GET /items/{id}`.
//! let response = client.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(api.requests()[0].headers["x-request-id"].len(), 32);
//! # Ok(())
//! # }
//! ```
//!
//! # Defaults, and why
//!
//! | setting | default | why |
//! | --- | --- | --- |
//! | format | structured | fields for log pipelines; the compact lines are for people at a terminal |
//! | span level | `INFO` | the span is the call's unit in a trace; at `DEBUG` most production filters would drop it |
//! | completed below 400 | `INFO` | one line per call is what an API client's log is for |
//! | 4xx | `WARN` | in the server's eyes the request was wrong; lower it where 404 is an ordinary answer |
//! | 5xx | `WARN` | the server failed, and retry may still save the call; the call's error, if it comes, is logged at `ERROR` |
//! | error (transport, timeout, refusal) | `ERROR` | the caller gets no response at all |
//! | headers | on, at `DEBUG` | the first thing asked when a call misbehaves; off at `INFO` so that they cost nothing by default |
//! | masked values | every credential value the layers below register (tokens, API keys, passwords), wherever it occurs in a logged header, body, URL or error | an echoing server puts a key under any name, or inside JSON nested in a string |
//! | redacted headers | any value marked sensitive, `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-API-Key`, and names containing `auth`, `token`, `secret`, `password`, `api-key`, `signature`, `cookie`, `session`, `credential` | credentials hide under many names (`X-Auth-Token`, `X-Hub-Signature-256`, `X-Amz-Security-Token`); printing one is worse than hiding a harmless header |
//! | redacted query values | OpenTelemetry's (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`), `key`, `api_key`, `auth`, `code`, and names containing `token`, `secret`, `password`, `signature`, `credential` | API keys and pre-signed URLs travel in the query |
//! | bodies | off; 4 KiB; JSON, forms and `text/*` | bodies are large and personal: opt in per need; binary bodies say only their size |
//! | masked body fields | `password`, `passwd`, `token`, `secret`, `client_secret`, `refresh_token`, `access_token`, `id_token`, `api_key`, `private_key`, `authorization`, `session`, any case, `-`/`_` ignored | OAuth token requests and responses, login forms; `refreshToken` is the same field as `refresh_token` |
//! | request id | `x-request-id`, random 128-bit hex | lets a call be found in the server's logs; kept when the caller set one |
//!
//! # Bodies
//!
//! Logging never consumes or changes a body. A request body is shown only
//! when its bytes are at hand (a buffered [`Body`](girder_core::Body),
//! `Bytes`, `String`); a streamed body is noted as such and sent untouched.
//! A buffered response body is shown at once. A streamed response
//! [`Body`](girder_core::Body) is wrapped in a tee that copies the first
//! `body_limit` bytes (and up to 4 KiB more, so that a credential value
//! straddling the limit is masked whole before the text is cut) as the
//! caller reads them and logs the copy when the
//! body ends (or fails, or is dropped), inside the call's span; the caller
//! reads the same frames. Other response body types are not logged.
//!
//! Path segments are printed as they are: an API that puts a key in the
//! path (rather than a header or the query) needs a
//! [`PathTemplate`](girder_core::partition::PathTemplate) for the span
//! name and a `url.full` it can live with.
//!
//! JSON is parsed and the masked fields replaced at any depth before it is
//! printed, then cut to the limit; JSON that does not parse, or that was
//! longer than the limit when streamed (so only a prefix was kept), is not
//! printed at all, since it cannot be masked with certainty. Form bodies
//! are masked pair by pair. `text/*` is printed as it is.
//!
//! # Masking by value
//!
//! Masking by name cannot catch a server that echoes a credential under
//! another name (httpbin's `/anything` returns the request's headers in its
//! body), or inside JSON text nested in a string field. So the layer
//! creates one [`SecretValues`](girder_core::secrets::SecretValues)
//! registry for its lifetime (shared by its clones and every service it
//! wraps) and, when it logs headers or bodies at `DEBUG`, puts a handle to
//! it into each request's extensions before calling the layer below. The
//! layers below that add credentials (girder-auth, girder-sign) register
//! the values they send there, and this layer replaces every registered
//! value with `[REDACTED]` wherever it occurs in what it logs: header
//! values, request and response bodies (every JSON string at any depth,
//! JSON text nested in a string parsed and masked in turn, whatever its
//! escaping; form and text bodies as printed, before they are cut to the
//! limit, so that a value straddling the limit is not left half shown),
//! `url.full` and error messages. Masking by name stays as it was. A
//! header value marked sensitive is printed as `[redacted]` whatever its
//! name.
//!
//! ```
//! use girder_core::secrets::SecretValues;
//! use girder_core::{Body, BoxError};
//! use girder_test::{MockService, Reply};
//! use girder_trace::{LoggingConfig, LoggingLayer};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // The server echoes the key under another name.
//! let api = MockService::new(Reply::ok().json(r#"{"seen":"k3y-123"}"#));
//! let config = LoggingConfig::builder().response_bodies(true).build()?;
//! let client = ServiceBuilder::new()
//!     .layer(LoggingLayer::new(config))
//!     // What an auth layer does with the key it adds.
//!     .map_request(|request: http::Request<Body>| {
//!         SecretValues::register_in(request.extensions(), "k3y-123");
//!         request
//!     })
//!     .service(api);
//! let request = http::Request::get("https://api.test/items").body(Body::empty())?;
//! // At DEBUG, logs `response body` with `{"seen":"[REDACTED]"}`.
//! client.oneshot(request).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The values registered on one call are masked on every later call; the
//! registry holds the 64 most recent values. A request body is logged
//! before the layers below run, so a value is masked there from the call
//! after the one that first sent it. Without headers or bodies logged at
//! `DEBUG`, no handle is put into the requests and nothing is registered.
//! A registry the caller put into a request is replaced by the layer's.
//!
//! # When the events fire
//!
//! | event | level | when |
//! | --- | --- | --- |
//! | `→ GET url` (compact only) | success level | in `call`, before the inner service is called |
//! | `request headers`, `request body` | `DEBUG` | in `call` |
//! | call-record entries | success level, or `DEBUG` for routine ones (first attempt, closed circuit, cache miss) | when the call ends, before the completion event |
//! | `response` / `← 200 OK (0.12s)` | by status | when the response head arrives |
//! | `request failed` / `← connect error: …` | failure level | when the call ends in an error |
//! | `request canceled` | success level | when the future is dropped before it ends |
//! | `response headers` | `DEBUG` | with the response |
//! | `response body` | `DEBUG` | with the response (buffered) or at the end of the stream |
//!
//! # When the hook fires
//!
//! [`OnCallEnd`] (set with [`LoggingConfigBuilder::on_call_end`]) is
//! called once per logical call, inside its span, right after the
//! call-record events: when the response head arrives, when the call fails,
//! or when its future is dropped. It fires whatever the subscriber's
//! filter, so metrics do not depend on log levels. Its [`CallSummary`]
//! carries the method, route, server address and port, the outcome and
//! `error.type`, the duration, the resend count and the call record.
//!
//! The inner service's future is polled inside the span, so the events of
//! the layers below (`girder::retry`, `girder::breaker`, …) are its
//! children. Events and the span use the target `girder::trace`.
//!
//! # The `opentelemetry` feature
//!
//! With it, and a `tracing_opentelemetry` layer in the subscriber, the
//! layer sets `traceparent` (and `tracestate`) from the span's
//! OpenTelemetry context when the request has none, so the server's spans
//! join the client's trace. It writes the W3C header from the span context
//! itself; no global propagator is needed. Without a valid context (no
//! such layer, or the span filtered out) no header is set. Versions:
//! `opentelemetry` 0.33 with `tracing-opentelemetry` 0.34.
//!
//! # Differences from tower-http's `TraceLayer`
//!
//! tower-http's trace module is built around a server: its hooks see one
//! request and one response, and classification into failures is its own
//! (`ServerErrorsAsFailures`). An API client needs what sits between:
//! the resend count and decisions of the layers below (from the call
//! record), OpenTelemetry's client attributes, redaction of credentials in
//! the URL, headers and bodies, and a request id and trace context
//! injected into the request. Fitting those through `MakeSpan` /
//! `OnRequest` / `OnResponse` would have meant reimplementing each hook and
//! still wrapping the body type, so this layer is its own, in the same
//! spirit: a configurable span, events at configurable levels, the body
//! wrapped only to tee it. Unlike `TraceLayer`, it keeps the response body
//! type: a streamed [`Body`](girder_core::Body) stays a `Body`.

#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's example runs as a doctest, so that it follows the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod body;
mod config;
pub mod error;
pub mod future;
mod hook;
mod layer;
mod level;
#[cfg(feature = "opentelemetry")]
mod otel;
mod redact;
mod service;
mod span;

pub use config::{Format, LoggingConfig, LoggingConfigBuilder};
pub use error::InvalidLoggingConfig;
pub use hook::{CallOutcome, CallSummary, OnCallEnd};
pub use layer::LoggingLayer;
pub use service::Logging;
pub use tracing::Level;
