//! [`OnCallEnd`]: react when a logical call ends (metrics, audit).

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::time::Duration;

use girder_core::{CallRecord, ErrorKind};
use http::{Method, StatusCode};

/// How a call ended.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum CallOutcome<'a> {
    /// A response arrived with this status.
    Status(StatusCode),
    /// The call failed with this error (of this kind).
    Error(ErrorKind, &'a (dyn Error + 'static)),
    /// The caller dropped the call before it ended.
    Canceled,
}

/// One logical call, as it ended: what OpenTelemetry's
/// `http.client.request.duration` metric is recorded with, and the call
/// record.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CallSummary<'a> {
    /// `http.request.method`.
    pub method: &'a Method,
    /// The route: the request's `PathTemplate`, or the path with
    /// identifier-like segments as `{id}`.
    pub route: &'a str,
    /// `server.address`.
    pub server_address: Option<&'a str>,
    /// `server.port`.
    pub server_port: Option<u16>,
    /// How it ended.
    pub outcome: CallOutcome<'a>,
    /// From the call's start to its end (the response head, the error, or
    /// the drop).
    pub duration: Duration,
    /// How many times the request was sent again: retries, 401 replays,
    /// clock-skew re-signs and followed redirects
    /// ([`CallRecord::resends`]).
    pub resends: u32,
    /// Every layer's decisions.
    pub record: &'a CallRecord,
}

impl CallSummary<'_> {
    /// `error.type`: the status code from 400 up, a short name of the
    /// error's kind, `canceled`, or `None` for a success.
    pub fn error_type(&self) -> Option<Cow<'static, str>> {
        match self.outcome {
            CallOutcome::Status(status) if status.as_u16() >= 400 => {
                Some(Cow::Owned(status.as_str().to_owned()))
            }
            CallOutcome::Status(_) => None,
            CallOutcome::Error(kind, _) => Some(Cow::Borrowed(error_type(kind))),
            CallOutcome::Canceled => Some(Cow::Borrowed("canceled")),
        }
    }
}

impl fmt::Display for CallSummary<'_> {
    /// `GET /users/{id}: 200 OK in 120ms, 1 resend`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.method, self.route)?;
        match self.outcome {
            CallOutcome::Status(status) => write!(f, "{status}")?,
            CallOutcome::Error(kind, _) => write!(f, "{kind}")?,
            CallOutcome::Canceled => f.write_str("canceled")?,
        }
        write!(f, " in {}ms", self.duration.as_millis())?;
        match self.resends {
            0 => Ok(()),
            1 => f.write_str(", 1 resend"),
            n => write!(f, ", {n} resends"),
        }
    }
}

/// Called once per logical call when it ends, inside the call's span, on
/// the task that polled it (or dropped it). Keep it short; hand slow work
/// to a channel.
///
/// Implemented for closures:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use girder_trace::{CallSummary, LoggingConfig};
///
/// let durations = Arc::new(Mutex::new(Vec::new()));
/// let sink = durations.clone();
/// let config = LoggingConfig::builder()
///     .on_call_end(move |call: &CallSummary<'_>| {
///         let labels = (call.method.clone(), call.route.to_owned(), call.error_type());
///         sink.lock().unwrap().push((labels, call.duration));
///     })
///     .build()?;
/// # Ok::<(), girder_trace::InvalidLoggingConfig>(())
/// ```
pub trait OnCallEnd: Send + Sync {
    /// Reacts to the end of `call`.
    fn on_call_end(&self, call: &CallSummary<'_>);
}

impl<F> OnCallEnd for F
where
    F: Fn(&CallSummary<'_>) + Send + Sync,
{
    fn on_call_end(&self, call: &CallSummary<'_>) {
        self(call)
    }
}

/// `error.type` for an error: a short, low-cardinality identifier, or
/// OpenTelemetry's `_OTHER`.
pub(crate) fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Connect => "connect",
        ErrorKind::Transport => "transport",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Tls => "tls",
        ErrorKind::DeadlineExceeded => "deadline_exceeded",
        ErrorKind::CircuitOpen => "circuit_open",
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::Auth => "auth",
        ErrorKind::Signing => "signing",
        ErrorKind::ClientStatus => "client_status",
        ErrorKind::ServerStatus => "server_status",
        ErrorKind::Body => "body",
        ErrorKind::Decode => "decode",
        ErrorKind::InvalidRequest => "invalid_request",
        ErrorKind::Protocol => "protocol",
        _ => "_OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _obj_safe(_: &dyn OnCallEnd) {}

    #[test]
    fn summaries_read_well() {
        let record = CallRecord::new();
        let mut call = CallSummary {
            method: &Method::GET,
            route: "/users/{id}",
            server_address: Some("api.test"),
            server_port: Some(443),
            outcome: CallOutcome::Status(StatusCode::OK),
            duration: Duration::from_millis(120),
            resends: 1,
            record: &record,
        };
        assert_eq!(
            call.to_string(),
            "GET /users/{id}: 200 OK in 120ms, 1 resend"
        );
        assert_eq!(call.error_type(), None);
        call.outcome = CallOutcome::Status(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(call.error_type().as_deref(), Some("429"));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        call.outcome = CallOutcome::Error(ErrorKind::Connect, &refused);
        assert_eq!(call.error_type().as_deref(), Some("connect"));
        call.outcome = CallOutcome::Canceled;
        assert_eq!(
            call.to_string(),
            "GET /users/{id}: canceled in 120ms, 1 resend"
        );
    }
}
