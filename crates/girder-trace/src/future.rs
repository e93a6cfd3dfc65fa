//! The response future of [`Logging`](crate::Logging).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use girder_core::{Body, BoxError, CallRecord, ErrorKind};
use http::Response;
use pin_project_lite::pin_project;
use tracing::field::Value;
use tracing::{Level, Span};

use crate::body::{Tee, content_type, render};
use crate::config::{Format, LoggingConfig};
use crate::hook::{CallOutcome, CallSummary, error_type};
use crate::level::{TARGET, enabled, event_at};
use crate::redact::{Headers, Masked};
use crate::span::Head;

pin_project! {
    /// The future of [`Logging`](crate::Logging): polls the inner future
    /// inside the request's span, then records the outcome on the span and
    /// logs it.
    ///
    /// Dropping it before it ends logs the call as canceled, with the
    /// decisions recorded so far.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        finish: Option<Finish>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(finish) = this.project().finish.take() {
                finish.canceled();
            }
        }
    }
}

impl<F: std::fmt::Debug> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, finish: Finish) -> Self {
        ResponseFuture {
            inner,
            finish: Some(finish),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: 'static,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            // Events of the layers below belong to this call's span.
            let _entered = this.finish.as_ref().map(|f| f.span.enter());
            ready!(this.inner.poll(cx))
        };
        let Some(finish) = this.finish.take() else {
            return Poll::Ready(result.map_err(Into::into));
        };
        Poll::Ready(match result {
            Ok(mut response) => {
                finish.response(&mut response);
                Ok(response)
            }
            Err(error) => {
                let error = error.into();
                finish.error(&*error);
                Err(error)
            }
        })
    }
}

/// What the future needs to log the end of the call.
pub(crate) struct Finish {
    pub(crate) span: Span,
    /// Its creation is the call's start (a record the caller made before
    /// the call starts a little earlier), so the clock is read once.
    pub(crate) record: CallRecord,
    /// Set when a hook will want a summary.
    pub(crate) head: Option<Box<Head>>,
    pub(crate) config: Arc<LoggingConfig>,
}

impl Finish {
    fn response<B: 'static>(self, response: &mut Response<B>) {
        let config = &*self.config;
        let status = response.status();
        let level = status_level(config, status);
        // Nobody listens: skip the clock and the record's lock.
        if self.head.is_none()
            && self.span.is_disabled()
            && !enabled(level.min(config.success_level).min(Level::DEBUG))
        {
            response.extensions_mut().insert(self.record);
            return;
        }
        let elapsed = self.record.elapsed();
        let resends = self.resends();
        // A client span's status is an error for 4xx too.
        let failed = status.is_client_error() || status.is_server_error();
        self.record_end(
            Some(status.as_u16()),
            failed.then(|| status.as_str()),
            resends,
        );
        let _entered = self.span.enter();
        self.entries(config.success_level);
        self.hook(CallOutcome::Status(status), elapsed, resends);
        if enabled(level) {
            match config.format {
                Format::Structured => event_at!(
                    level,
                    http.response.status_code = status.as_u16(),
                    http.request.resend_count = resent(resends),
                    duration_s = elapsed.as_secs_f64(),
                    "response"
                ),
                Format::Compact => event_at!(
                    level,
                    "← {} {} ({}{})",
                    status.as_str(),
                    status.canonical_reason().unwrap_or(""),
                    Seconds(elapsed),
                    Resent(resends)
                ),
            }
        }
        if !enabled(Level::DEBUG) {
            response.extensions_mut().insert(self.record);
            return;
        }
        if config.headers {
            let headers = Headers {
                headers: response.headers(),
                config,
            };
            tracing::debug!(target: TARGET, headers = %headers, "response headers");
        }
        if config.response_bodies {
            self.tee_body(response);
        }
        response.extensions_mut().insert(self.record);
    }

    /// Logs a response body: at once when its bytes are at hand, else as
    /// it streams to the caller. The caller gets the same bytes either way.
    fn tee_body<B: 'static>(&self, response: &mut Response<B>) {
        let content_type = content_type(response.headers());
        let body = response.body_mut() as &mut dyn Any;
        let Some(body) = body.downcast_mut::<Body>() else {
            tracing::debug!(
                target: TARGET,
                "response body of type {} not logged",
                std::any::type_name::<B>()
            );
            return;
        };
        match body.as_bytes() {
            Some(bytes) if bytes.is_empty() => {}
            Some(bytes) => {
                let text = render(bytes, bytes.len(), content_type.as_deref(), &self.config);
                tracing::debug!(target: TARGET, body = %text, bytes = bytes.len() as u64, "response body");
            }
            None => {
                let streamed = std::mem::take(body);
                *body = Body::new(Tee::new(
                    streamed,
                    content_type,
                    self.span.clone(),
                    self.config.clone(),
                ));
            }
        }
    }

    fn error(self, error: &(dyn std::error::Error + 'static)) {
        let config = &*self.config;
        let elapsed = self.record.elapsed();
        let kind = ErrorKind::of(error);
        let resends = self.resends();
        self.record_end(None, Some(error_type(kind)), resends);
        let _entered = self.span.enter();
        self.entries(config.success_level);
        self.hook(CallOutcome::Error(kind, error), elapsed, resends);
        let level = config.failure_level;
        match config.format {
            Format::Structured => event_at!(
                level,
                error.type = error_type(kind),
                error.message = %Masked { inner: Chain(error), secrets: &config.secrets },
                http.request.resend_count = resent(resends),
                duration_s = elapsed.as_secs_f64(),
                "request failed"
            ),
            Format::Compact => event_at!(
                level,
                "← {kind}: {} ({}{})",
                Masked {
                    inner: Chain(error),
                    secrets: &config.secrets
                },
                Seconds(elapsed),
                Resent(resends)
            ),
        }
    }

    fn canceled(self) {
        let level = self.config.success_level;
        let elapsed = self.record.elapsed();
        let _entered = self.span.enter();
        self.entries(level);
        self.hook(CallOutcome::Canceled, elapsed, self.resends());
        match self.config.format {
            Format::Structured => event_at!(
                level,
                duration_s = elapsed.as_secs_f64(),
                "request canceled"
            ),
            Format::Compact => event_at!(level, "← canceled ({})", Seconds(elapsed)),
        }
    }

    fn hook(&self, outcome: CallOutcome<'_>, duration: Duration, resends: u32) {
        let (Some(hook), Some(head)) = (&self.config.on_call_end, &self.head) else {
            return;
        };
        hook.on_call_end(&CallSummary {
            method: &head.method,
            route: &head.route,
            server_address: head.server_address.as_deref(),
            server_port: head.server_port,
            outcome,
            duration,
            resends,
            record: &self.record,
        });
    }

    /// Every resend the layers below recorded: retries, 401 replays,
    /// clock-skew re-signs and followed redirects.
    fn resends(&self) -> u32 {
        self.record.resends()
    }

    /// Records the attributes known at the end on the span, in one
    /// dispatch: each `Span::record` is a registry lookup, a lock and, under
    /// fmt, an append to the span's text. A value that is `None` is not
    /// recorded (the resend count only when the request was resent;
    /// `error.type` and `otel.status_code` only on failure).
    fn record_end(&self, status: Option<u16>, error_type: Option<&str>, resends: u32) {
        if self.span.is_disabled() {
            return;
        }
        let Some(meta) = self.span.metadata() else {
            return;
        };
        let fields = meta.fields();
        // Declared by `make_span`; a logging layer never panics over one.
        let (Some(status_code), Some(resend_count), Some(error_field), Some(otel_status)) = (
            fields.field("http.response.status_code"),
            fields.field("http.request.resend_count"),
            fields.field("error.type"),
            fields.field("otel.status_code"),
        ) else {
            debug_assert!(false, "make_span declares the end attributes");
            return;
        };
        let resends = resent(resends);
        let otel_error = error_type.map(|_| "ERROR");
        self.span.record_all(&fields.value_set(&[
            (&status_code, status.as_ref().map(|v| v as &dyn Value)),
            (&resend_count, resends.as_ref().map(|v| v as &dyn Value)),
            (&error_field, error_type.as_ref().map(|v| v as &dyn Value)),
            (&otel_status, otel_error.as_ref().map(|v| v as &dyn Value)),
        ]));
    }

    /// The call record's decisions as events: the notable ones at `notable`,
    /// routine ones (as each event's `Event::is_routine` says: attempt 1,
    /// circuit closed and admitted, …) at `DEBUG`.
    fn entries(&self, notable: Level) {
        if !enabled(Level::DEBUG)
            && (!enabled(notable) || !self.record.any(|entry| !entry.as_event().is_routine()))
        {
            // Nothing to show at the enabled levels: no copy of the entries.
            return;
        }
        for entry in self.record.entries() {
            let (at, layer, event) = (entry.at, entry.layer, entry.as_event());
            let level = if event.is_routine() {
                Level::DEBUG
            } else {
                notable
            };
            match self.config.format {
                Format::Structured => event_at!(
                    level,
                    girder.layer = layer,
                    at_ms = at.as_millis() as u64,
                    "{event}"
                ),
                Format::Compact => {
                    event_at!(level, "  {layer}: {event} (+{}ms)", at.as_millis())
                }
            }
        }
    }
}

fn status_level(config: &LoggingConfig, status: http::StatusCode) -> Level {
    if status.is_server_error() {
        config.server_error_level
    } else if status.is_client_error() {
        config.client_error_level
    } else {
        config.success_level
    }
}

/// An error and its sources, outermost first, `: `-separated; a source
/// whose text its parent already ends with is skipped.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut last = self.0.to_string();
        f.write_str(&last)?;
        let mut next = self.0.source();
        while let Some(source) = next {
            let text = source.to_string();
            if !last.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            next = source.source();
        }
        Ok(())
    }
}

/// `http.request.resend_count`'s value: set only when the request was
/// resent, as OpenTelemetry asks.
fn resent(resends: u32) -> Option<u32> {
    (resends > 0).then_some(resends)
}

/// `0.12s`.
struct Seconds(Duration);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}s", self.0.as_secs_f64())
    }
}

/// `, 2 resends` when the request was sent more than once.
struct Resent(u32);

impl std::fmt::Display for Resent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => Ok(()),
            1 => f.write_str(", 1 resend"),
            n => write!(f, ", {n} resends"),
        }
    }
}
