//! What failed: one classification shared by retry and the circuit breaker.
//!
//! A [`Classify`] looks at the outcome of one attempt, a response or an
//! error, and answers [`Class::Success`], [`Class::Retryable`] or
//! [`Class::Failure`], each failure with a [`Reason`]. Retry resends on
//! `Retryable` (if the request is also safe to resend); the breaker counts
//! both failure classes against the circuit. Because both read the same
//! classifier, they never disagree about what failed.
//!
//! [`DefaultClassifier`] follows the design contract: connect errors, resets,
//! incomplete messages, canceled requests and per-attempt timeouts, and the
//! statuses 408, 429, 502, 503 and 504, are retryable; other 5xx statuses,
//! TLS failures and unrecognised errors are failures; everything else is a
//! success.
//!
//! A TLS failure (an unknown CA, an expired or misnamed certificate, a
//! client certificate the server refused, no common protocol version) is
//! never retried: another attempt meets the same certificate. girder-core
//! knows no TLS library, so the transport that recognises one in its own
//! errors wraps it in [`TlsError`], which [`TransportError::find`] reports as
//! [`TransportError::Tls`]. The breaker counts it, as it counts a connect
//! error: calls to an upstream whose certificate fails cannot succeed until
//! someone changes the certificate or the client.
//!
//! ```
//! use girder_core::classify::{Class, Classify, DefaultClassifier, Outcome, Reason};
//! use http::{Response, StatusCode};
//!
//! let res = Response::builder().status(503).body(()).unwrap();
//! let class = DefaultClassifier.classify(Outcome::response(&res));
//! assert_eq!(class, Class::Retryable(Reason::Status(StatusCode::SERVICE_UNAVAILABLE)));
//!
//! let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
//! assert!(DefaultClassifier.classify(Outcome::error(&refused)).is_retryable());
//!
//! // A closure is a classifier too: here a GraphQL-style API that sends 200
//! // with an `x-error` header for failures.
//! let custom = |outcome: Outcome<'_>| match outcome {
//!     Outcome::Response(head) if head.headers().contains_key("x-error") => {
//!         Class::Failure(Reason::Status(head.status()))
//!     }
//!     other => DefaultClassifier.classify(other),
//! };
//! let ok = Response::builder().header("x-error", "1").body(()).unwrap();
//! assert!(custom.classify(Outcome::response(&ok)).is_failure());
//! ```
//!
//! # Why not tower-http's `classify`
//!
//! tower-http's [`ClassifyResponse`] was the first candidate, and it does not
//! serve here, for three reasons:
//!
//! - Its `classify_error` receives `E: Display`, so it cannot walk an
//!   error's `source()` chain. Telling a refused connection (nothing was
//!   sent) from a parse error needs the chain: the `io::ErrorKind` sits
//!   several wrappers deep under hyper-util's and hyper's errors (which
//!   girder-core recognises with its `hyper` feature).
//! - It answers success or failure. Retry needs a third answer, "failed but
//!   worth another attempt", and the reason, for the call record.
//! - It classifies by consuming the classifier and carries end-of-stream
//!   classification for gRPC, which neither retry nor breaker uses.
//!
//! So girder has its own small, object-safe trait over a borrowed view of
//! the outcome. Nothing stops a user from calling tower-http's classifiers
//! from inside a closure.
//!
//! [`ClassifyResponse`]: https://docs.rs/tower-http/latest/tower_http/classify/trait.ClassifyResponse.html

use std::error::Error;
use std::fmt;
use std::io;

use http::{Extensions, HeaderMap, Response, StatusCode, Version};

use crate::{BoxError, DeadlineExceeded};

/// The outcome of one attempt, borrowed: a response's head or an error.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// The server answered.
    Response(ResponseHead<'a>),
    /// The attempt failed without a response.
    Error(&'a (dyn Error + 'static)),
}

impl<'a> Outcome<'a> {
    /// The outcome of an attempt that produced `response`.
    pub fn response<B>(response: &'a Response<B>) -> Self {
        Outcome::Response(ResponseHead::of(response))
    }

    /// The outcome of an attempt that failed with `error`. A
    /// [`BoxError`] is passed as `&*error`.
    pub fn error(error: &'a (dyn Error + 'static)) -> Self {
        Outcome::Error(error)
    }
}

/// A borrowed view of a response without its body.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'a> {
    status: StatusCode,
    version: Version,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> ResponseHead<'a> {
    /// The head of `response`.
    pub fn of<B>(response: &'a Response<B>) -> Self {
        ResponseHead {
            status: response.status(),
            version: response.version(),
            headers: response.headers(),
            extensions: response.extensions(),
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The response extensions.
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }
}

/// What an attempt's outcome means for retry and the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// It worked, or failed in a way that says nothing about the server's
    /// health (a 404, a 400). Not retried; a success for the breaker.
    Success,
    /// It failed and another attempt may succeed. Retried when the request
    /// is safe to resend; a failure for the breaker.
    Retryable(Reason),
    /// It failed and another attempt would not help. Not retried; a failure
    /// for the breaker.
    Failure(Reason),
}

impl Class {
    /// `true` for [`Class::Success`].
    pub fn is_success(&self) -> bool {
        matches!(self, Class::Success)
    }

    /// `true` for [`Class::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, Class::Retryable(_))
    }

    /// `true` for both failure classes: what the breaker counts.
    pub fn is_failure(&self) -> bool {
        !self.is_success()
    }

    /// The reason of a failure class.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Class::Success => None,
            Class::Retryable(reason) | Class::Failure(reason) => Some(*reason),
        }
    }
}

/// Why an attempt was classified as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The server answered with this status.
    Status(StatusCode),
    /// The transport failed in a recognised way.
    Transport(TransportError),
    /// The call's [`Deadline`](crate::Deadline) passed.
    DeadlineExceeded,
    /// An error the classifier does not recognise.
    Other,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Status(status) => write!(f, "status {status}"),
            Reason::Transport(kind) => fmt::Display::fmt(kind, f),
            Reason::DeadlineExceeded => f.write_str("deadline exceeded"),
            Reason::Other => f.write_str("error"),
        }
    }
}

/// A transport failure recognised in an error's `source()` chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportError {
    /// No connection was made (refused, unreachable, DNS, connect timeout):
    /// the request was not sent.
    Connect,
    /// The connection was reset, aborted or broken after it was made.
    Reset,
    /// The connection closed before a whole message arrived.
    IncompleteMessage,
    /// The request was canceled before it completed, for example because a
    /// pooled connection closed under it.
    Canceled,
    /// An attempt timed out (tower's or tokio's `Elapsed`, hyper's timeout,
    /// an I/O timeout).
    Timeout,
    /// TLS failed: the server's certificate was not trusted (unknown CA,
    /// expired, issued for another name), the server refused the client's
    /// certificate, or no protocol version was common. Found where the
    /// transport put a [`TlsError`]; never retried by the
    /// [`DefaultClassifier`].
    Tls,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportError::Connect => "connect error",
            TransportError::Reset => "connection reset",
            TransportError::IncompleteMessage => "incomplete message",
            TransportError::Canceled => "request canceled",
            TransportError::Timeout => "timed out",
            TransportError::Tls => "TLS failure",
        })
    }
}

impl TransportError {
    /// Walks `error` and its `source()` chain, outermost first, and returns
    /// the first transport failure recognised, or `None`.
    pub fn find(error: &(dyn Error + 'static)) -> Option<TransportError> {
        let mut next = Some(error);
        while let Some(err) = next {
            if let Some(kind) = Self::recognise(err) {
                return Some(kind);
            }
            next = err.source();
        }
        None
    }

    fn recognise(err: &(dyn Error + 'static)) -> Option<TransportError> {
        // Before hyper-util's error, which the transport's TlsError wraps:
        // a failed handshake is also a connect error to hyper-util.
        if err.is::<TlsError>() {
            return Some(TransportError::Tls);
        }
        #[cfg(feature = "hyper")]
        if let Some(kind) = Self::recognise_hyper(err) {
            return kind;
        }
        if let Some(err) = err.downcast_ref::<io::Error>() {
            return match err.kind() {
                io::ErrorKind::ConnectionRefused
                | io::ErrorKind::AddrNotAvailable
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable => Some(TransportError::Connect),
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::NotConnected => Some(TransportError::Reset),
                io::ErrorKind::UnexpectedEof => Some(TransportError::IncompleteMessage),
                io::ErrorKind::TimedOut => Some(TransportError::Timeout),
                _ => None,
            };
        }
        if err.is::<tower::timeout::error::Elapsed>() || err.is::<tokio::time::error::Elapsed>() {
            return Some(TransportError::Timeout);
        }
        None
    }

    /// hyper-util's and hyper's errors: `Some(answer)` when `err` is one
    /// (the answer may be `None`: the cause is further down the chain).
    #[cfg(feature = "hyper")]
    fn recognise_hyper(err: &(dyn Error + 'static)) -> Option<Option<TransportError>> {
        if let Some(err) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
            // Only the connect kind is decided here: for the other kinds
            // the cause (a hyper or I/O error) is further down the chain.
            return Some(err.is_connect().then_some(TransportError::Connect));
        }
        let err = err.downcast_ref::<hyper::Error>()?;
        Some(if err.is_incomplete_message() {
            Some(TransportError::IncompleteMessage)
        } else if err.is_canceled() {
            Some(TransportError::Canceled)
        } else if err.is_timeout() {
            Some(TransportError::Timeout)
        } else {
            None
        })
    }
}

/// A TLS failure, recognised by the transport that raised it and wrapped
/// around its error; see the [module docs](self).
///
/// girder-core depends on no TLS library, so it cannot tell a certificate
/// error from another I/O error; girder's transport can (it finds rustls's
/// error in the chain) and returns this type, whose
/// [`source()`](Error::source) is the transport's own error. A transport of
/// your own can do the same.
///
/// ```
/// use girder_core::classify::{Class, Classify, DefaultClassifier, Outcome, Reason, TlsError, TransportError};
///
/// let handshake = std::io::Error::new(std::io::ErrorKind::InvalidData, "invalid peer certificate");
/// let err = TlsError::new(handshake);
/// assert_eq!(TransportError::find(&err), Some(TransportError::Tls));
/// assert_eq!(
///     DefaultClassifier.classify(Outcome::error(&err)),
///     Class::Failure(Reason::Transport(TransportError::Tls)),
/// );
/// ```
#[derive(Debug)]
pub struct TlsError {
    source: BoxError,
}

impl TlsError {
    /// Marks `source`, a transport's error, as a TLS failure.
    pub fn new(source: impl Into<BoxError>) -> Self {
        TlsError {
            source: source.into(),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TLS failure")
    }
}

impl Error for TlsError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}

/// Classifies the outcome of one attempt.
///
/// Object safe, and implemented for closures
/// `Fn(Outcome<'_>) -> Class + Send + Sync`.
pub trait Classify: Send + Sync {
    /// The class of `outcome`.
    fn classify(&self, outcome: Outcome<'_>) -> Class;
}

impl<F> Classify for F
where
    F: Fn(Outcome<'_>) -> Class + Send + Sync,
{
    fn classify(&self, outcome: Outcome<'_>) -> Class {
        self(outcome)
    }
}

impl<C: Classify + ?Sized> Classify for std::sync::Arc<C> {
    fn classify(&self, outcome: Outcome<'_>) -> Class {
        (**self).classify(outcome)
    }
}

/// The classification of the design contract; see the [module docs](self).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl DefaultClassifier {
    /// The class of a status code alone.
    pub fn classify_status(status: StatusCode) -> Class {
        match status.as_u16() {
            408 | 429 | 502 | 503 | 504 => Class::Retryable(Reason::Status(status)),
            500..=599 => Class::Failure(Reason::Status(status)),
            _ => Class::Success,
        }
    }

    /// The class of an error, found by walking its `source()` chain.
    pub fn classify_error(error: &(dyn Error + 'static)) -> Class {
        let mut next = Some(error);
        while let Some(err) = next {
            if err.is::<DeadlineExceeded>() {
                return Class::Failure(Reason::DeadlineExceeded);
            }
            next = err.source();
        }
        match TransportError::find(error) {
            Some(TransportError::Tls) => Class::Failure(Reason::Transport(TransportError::Tls)),
            Some(kind) => Class::Retryable(Reason::Transport(kind)),
            None => Class::Failure(Reason::Other),
        }
    }
}

impl Classify for DefaultClassifier {
    fn classify(&self, outcome: Outcome<'_>) -> Class {
        match outcome {
            Outcome::Response(head) => Self::classify_status(head.status()),
            Outcome::Error(error) => Self::classify_error(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxError;

    fn status(code: u16) -> Class {
        let res = Response::builder().status(code).body(()).unwrap();
        DefaultClassifier.classify(Outcome::response(&res))
    }

    #[test]
    fn statuses_follow_the_contract() {
        for code in [408, 429, 502, 503, 504] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [500, 501, 505, 599] {
            assert_eq!(
                status(code),
                Class::Failure(Reason::Status(StatusCode::from_u16(code).unwrap()))
            );
        }
        for code in [200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 422] {
            assert_eq!(status(code), Class::Success, "{code}");
        }
    }

    #[derive(Debug)]
    struct Wrapper(BoxError);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapper")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    fn error_class(err: BoxError) -> Class {
        DefaultClassifier.classify(Outcome::error(&*err))
    }

    #[test]
    fn io_errors_are_found_deep_in_the_chain() {
        let deep: BoxError = Box::new(Wrapper(Box::new(Wrapper(Box::new(io::Error::from(
            io::ErrorKind::ConnectionRefused,
        ))))));
        assert_eq!(
            error_class(deep),
            Class::Retryable(Reason::Transport(TransportError::Connect))
        );
        for (kind, expected) in [
            (io::ErrorKind::ConnectionReset, TransportError::Reset),
            (io::ErrorKind::ConnectionAborted, TransportError::Reset),
            (io::ErrorKind::BrokenPipe, TransportError::Reset),
            (io::ErrorKind::TimedOut, TransportError::Timeout),
            (
                io::ErrorKind::UnexpectedEof,
                TransportError::IncompleteMessage,
            ),
        ] {
            let err: BoxError = Box::new(Wrapper(Box::new(io::Error::from(kind))));
            assert_eq!(
                error_class(err),
                Class::Retryable(Reason::Transport(expected)),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn unrecognised_errors_are_failures_not_retries() {
        let err: BoxError = "something odd".into();
        assert_eq!(error_class(err), Class::Failure(Reason::Other));
        let perm: BoxError = Box::new(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(error_class(perm), Class::Failure(Reason::Other));
    }

    #[test]
    fn timeouts_from_tower_and_tokio_are_retryable() {
        let tower_elapsed: BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(
            error_class(tower_elapsed),
            Class::Retryable(Reason::Transport(TransportError::Timeout))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_elapsed_is_a_timeout() {
        let elapsed = tokio::time::timeout(
            std::time::Duration::from_millis(1),
            std::future::pending::<()>(),
        )
        .await
        .unwrap_err();
        let err: BoxError = Box::new(Wrapper(Box::new(elapsed)));
        assert_eq!(
            error_class(err),
            Class::Retryable(Reason::Transport(TransportError::Timeout))
        );
    }

    /// Issue 23: a certificate failure was a connect error (hyper-util's
    /// `is_connect`) and retried.
    #[test]
    fn tls_failures_are_failures_found_before_the_connect_error_they_wrap() {
        let connect: BoxError = Box::new(Wrapper(Box::new(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "a connect error, as hyper-util calls a failed handshake",
        ))));
        let err: BoxError = Box::new(Wrapper(Box::new(TlsError::new(connect))));
        assert_eq!(
            error_class(err),
            Class::Failure(Reason::Transport(TransportError::Tls))
        );
        let tls = TlsError::new("unknown issuer");
        assert_eq!(tls.to_string(), "TLS failure");
        assert_eq!(tls.source().unwrap().to_string(), "unknown issuer");
    }

    #[test]
    fn deadline_exceeded_is_not_retried() {
        let err: BoxError = Box::new(Wrapper(Box::new(DeadlineExceeded::new())));
        assert_eq!(error_class(err), Class::Failure(Reason::DeadlineExceeded));
    }

    #[test]
    fn classify_is_object_safe() {
        fn _obj_safe(_: &dyn Classify) {}
        let boxed: Box<dyn Classify> = Box::new(DefaultClassifier);
        assert!(
            boxed
                .classify(Outcome::error(&io::Error::from(
                    io::ErrorKind::ConnectionReset
                )))
                .is_retryable()
        );
    }
}
