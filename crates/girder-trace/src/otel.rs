//! `traceparent` from the span's OpenTelemetry context (the
//! `opentelemetry` feature).

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::trace::TraceContextExt;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Sets W3C `traceparent` (and `tracestate` when there is one) to the
/// OpenTelemetry context of `span`, unless the request carries its own.
/// Does nothing when the span has no valid context (no
/// tracing-opentelemetry layer, or the span is disabled).
pub(crate) fn inject(span: &Span, headers: &mut HeaderMap) {
    if headers.contains_key(TRACEPARENT) {
        return;
    }
    let context = span.context();
    let otel_span = context.span();
    let span_context = otel_span.span_context();
    if !span_context.is_valid() {
        return;
    }
    let traceparent = format!(
        "00-{}-{}-{:02x}",
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags().to_u8()
    );
    if let Ok(value) = HeaderValue::try_from(traceparent) {
        headers.insert(TRACEPARENT, value);
    }
    let state = span_context.trace_state().header();
    if !state.is_empty()
        && let Ok(value) = HeaderValue::try_from(state)
    {
        headers.insert(TRACESTATE, value);
    }
}
