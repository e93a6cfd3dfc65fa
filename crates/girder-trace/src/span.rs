//! The per-request span and what the layer logs when a request leaves.

use std::any::Any;
use std::fmt;

use bytes::Bytes;
use girder_core::Body;
use girder_core::partition::PathTemplate;
use http::{Method, Request};
use tracing::{Level, Span};

use crate::body::{content_type, render};
use crate::config::{Format, LoggingConfig};
use crate::level::{TARGET, enabled, event_at};
use crate::redact::{FullUrl, Headers, Masked, server_address, server_port};

/// The span name OpenTelemetry asks for: `{method} {template}`. The
/// template is the request's [`PathTemplate`] when the caller set one;
/// otherwise the path with identifier-like segments as `{id}`, which keeps
/// the number of distinct names bounded.
struct SpanName<'a> {
    method: &'a Method,
    template: Option<&'a PathTemplate>,
    path: &'a str,
}

impl fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.template {
            Some(template) => write!(f, "{} {}", self.method, template.as_str()),
            None => write!(
                f,
                "{} {}",
                self.method,
                PathTemplate::display_inferred(self.path)
            ),
        }
    }
}

macro_rules! client_span {
    ($level:expr, $($fields:tt)+) => {
        match $level {
            Level::ERROR => tracing::span!(target: TARGET, Level::ERROR, "http.client.request", $($fields)+),
            Level::WARN => tracing::span!(target: TARGET, Level::WARN, "http.client.request", $($fields)+),
            Level::INFO => tracing::span!(target: TARGET, Level::INFO, "http.client.request", $($fields)+),
            Level::DEBUG => tracing::span!(target: TARGET, Level::DEBUG, "http.client.request", $($fields)+),
            _ => tracing::span!(target: TARGET, Level::TRACE, "http.client.request", $($fields)+),
        }
    };
}

/// The span of one logical request. Fields known only at the end are
/// declared empty and recorded by the response future.
pub(crate) fn make_span<B>(request: &Request<B>, config: &LoggingConfig) -> Span {
    let uri = request.uri();
    let headers = request.headers();
    let template = request.extensions().get::<PathTemplate>();
    let request_id = config
        .request_id
        .as_ref()
        .and_then(|name| headers.get(name))
        .and_then(|value| value.to_str().ok());
    client_span!(
        config.span_level,
        otel.name = %SpanName { method: request.method(), template, path: uri.path() },
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = request.method().as_str(),
        url.full = %FullUrl { uri, headers, config },
        url.template = template.map(PathTemplate::as_str),
        server.address = server_address(uri, headers),
        server.port = server_port(uri, headers),
        // Masked: the caller's id may quote a credential sent before.
        http.request.id = request_id.map(|id| tracing::field::display(Masked {
            inner: id,
            secrets: &config.secrets,
        })),
        http.response.status_code = tracing::field::Empty,
        http.request.resend_count = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// What the [`CallSummary`](crate::CallSummary) needs from the request,
/// kept only when a hook will read it.
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) route: String,
    pub(crate) server_address: Option<String>,
    pub(crate) server_port: Option<u16>,
}

impl Head {
    pub(crate) fn of<B>(request: &Request<B>) -> Box<Head> {
        let uri = request.uri();
        let route = match request.extensions().get::<PathTemplate>() {
            Some(template) => template.as_str().to_owned(),
            None => PathTemplate::infer(uri.path()).as_str().to_owned(),
        };
        Box::new(Head {
            method: request.method().clone(),
            route,
            server_address: server_address(uri, request.headers()).map(str::to_owned),
            server_port: server_port(uri, request.headers()),
        })
    }
}

/// The events of a request leaving, inside its span: the compact `→` line,
/// headers and body at `DEBUG`.
pub(crate) fn on_request<B: 'static>(request: &Request<B>, config: &LoggingConfig) {
    if config.format == Format::Compact && enabled(config.success_level) {
        let url = FullUrl {
            uri: request.uri(),
            headers: request.headers(),
            config,
        };
        event_at!(config.success_level, "→ {} {url}", request.method());
    }
    if !enabled(Level::DEBUG) {
        return;
    }
    if config.headers {
        let headers = Headers {
            headers: request.headers(),
            config,
        };
        tracing::debug!(target: TARGET, headers = %headers, "request headers");
    }
    if config.request_bodies {
        let text = request_body_text(request, config);
        if let Some(text) = text {
            tracing::debug!(target: TARGET, body = %text, "request body");
        }
    }
}

/// The excerpt of a request body; `None` for an empty one. Only bodies
/// whose bytes are at hand are read, so logging never consumes a stream.
fn request_body_text<B: 'static>(request: &Request<B>, config: &LoggingConfig) -> Option<String> {
    let body = request.body() as &dyn Any;
    let bytes: &[u8] = if let Some(body) = body.downcast_ref::<Body>() {
        match body.as_bytes() {
            Some(bytes) => bytes,
            None => return Some("[streamed body, not logged]".to_owned()),
        }
    } else if let Some(bytes) = body.downcast_ref::<Bytes>() {
        bytes
    } else if let Some(text) = body.downcast_ref::<String>() {
        text.as_bytes()
    } else if body.is::<()>() {
        return None;
    } else {
        return Some(format!(
            "[a {} body, not logged]",
            std::any::type_name::<B>()
        ));
    };
    if bytes.is_empty() {
        return None;
    }
    // The whole body is at hand: JSON is parsed whole and masked, then cut.
    let content_type = content_type(request.headers());
    Some(render(bytes, bytes.len(), content_type.as_deref(), config))
}
