//! The error taxonomy the facade exposes.
//!
//! Each layer fails with its own public error type (`CircuitOpen`,
//! `RateLimited`, `AuthError`, …); the facade maps each to one
//! [`ErrorKind`], so that users match on one small enum instead of
//! downcasting. [`ErrorKind::of`] knows the errors girder-core can see:
//! [`DeadlineExceeded`], the refusals [`CircuitOpen`] and [`RateLimited`],
//! [`AuthError`], the signing layer's [`SigningError`], transport failures found in the
//! `source()` chain (a [`TlsError`](crate::classify::TlsError) the transport put there
//! among them), and (with the `hyper` feature) malformed HTTP from hyper.
//!
//! ```
//! use girder_core::{DeadlineExceeded, ErrorKind};
//!
//! assert_eq!(ErrorKind::of(&DeadlineExceeded::new()), ErrorKind::DeadlineExceeded);
//! let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
//! assert_eq!(ErrorKind::of(&refused), ErrorKind::Connect);
//! assert_eq!(ErrorKind::for_status(http::StatusCode::NOT_FOUND), Some(ErrorKind::ClientStatus));
//! ```

use std::error::Error;
use std::fmt;

use http::StatusCode;

use crate::DeadlineExceeded;
use crate::auth::AuthError;
use crate::classify::TransportError;
use crate::refusal::{CircuitOpen, RateLimited};
use crate::signing::SigningError;

/// What kind of failure a call ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No connection could be made; the request was not sent.
    Connect,
    /// The connection failed after it was made (reset, closed mid-message,
    /// canceled).
    Transport,
    /// An attempt took longer than its timeout.
    Timeout,
    /// TLS failed (an untrusted, expired or misnamed certificate, a refused
    /// client certificate, no common version): recognised by the transport,
    /// which wraps its error in a
    /// [`TlsError`](crate::classify::TlsError). Never retried.
    Tls,
    /// The call's end-to-end deadline passed.
    DeadlineExceeded,
    /// The circuit breaker refused the call.
    CircuitOpen,
    /// The client-side rate limiter refused the call.
    RateLimited,
    /// Credentials could not be obtained or were refused.
    Auth,
    /// The request could not be signed.
    Signing,
    /// The server answered with a 4xx status.
    ClientStatus,
    /// The server answered with a 5xx status.
    ServerStatus,
    /// A body could not be read.
    Body,
    /// A response body could not be decoded (JSON, GraphQL errors, …).
    Decode,
    /// The request was invalid before anything was sent.
    InvalidRequest,
    /// The peer broke the HTTP protocol.
    Protocol,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The kind of an error status, or `None` below 400.
    pub fn for_status(status: StatusCode) -> Option<ErrorKind> {
        if status.is_client_error() {
            Some(ErrorKind::ClientStatus)
        } else if status.is_server_error() {
            Some(ErrorKind::ServerStatus)
        } else {
            None
        }
    }

    /// The kind of the errors girder-core recognises in `error`'s
    /// `source()` chain; [`ErrorKind::Other`] for the rest.
    pub fn of(error: &(dyn Error + 'static)) -> ErrorKind {
        let mut next = Some(error);
        while let Some(err) = next {
            if err.is::<DeadlineExceeded>() {
                return ErrorKind::DeadlineExceeded;
            }
            if err.is::<CircuitOpen>() {
                return ErrorKind::CircuitOpen;
            }
            if err.is::<RateLimited>() {
                return ErrorKind::RateLimited;
            }
            if err.is::<AuthError>() {
                return ErrorKind::Auth;
            }
            if err.is::<SigningError>() {
                return ErrorKind::Signing;
            }
            next = err.source();
        }
        match TransportError::find(error) {
            Some(TransportError::Connect) => return ErrorKind::Connect,
            Some(TransportError::Timeout) => return ErrorKind::Timeout,
            Some(TransportError::Tls) => return ErrorKind::Tls,
            Some(_) => return ErrorKind::Transport,
            None => {}
        }
        #[cfg(feature = "hyper")]
        {
            let mut next = Some(error);
            while let Some(err) = next {
                if let Some(err) = err.downcast_ref::<hyper::Error>() {
                    if err.is_parse() || err.is_parse_status() {
                        return ErrorKind::Protocol;
                    }
                    if err.is_body_write_aborted() || err.is_user() {
                        return ErrorKind::Body;
                    }
                }
                next = err.source();
            }
        }
        ErrorKind::Other
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Connect => "connect error",
            ErrorKind::Transport => "transport error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Tls => "TLS error",
            ErrorKind::DeadlineExceeded => "deadline exceeded",
            ErrorKind::CircuitOpen => "circuit open",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Auth => "authentication error",
            ErrorKind::Signing => "signing error",
            ErrorKind::ClientStatus => "client error status",
            ErrorKind::ServerStatus => "server error status",
            ErrorKind::Body => "body error",
            ErrorKind::Decode => "decode error",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Other => "error",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn io_kinds_map_to_transport_kinds() {
        let kind = |k| ErrorKind::of(&io::Error::from(k));
        assert_eq!(kind(io::ErrorKind::ConnectionRefused), ErrorKind::Connect);
        assert_eq!(kind(io::ErrorKind::ConnectionReset), ErrorKind::Transport);
        assert_eq!(kind(io::ErrorKind::TimedOut), ErrorKind::Timeout);
        assert_eq!(kind(io::ErrorKind::PermissionDenied), ErrorKind::Other);
        let handshake = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            ErrorKind::of(&crate::classify::TlsError::new(handshake)),
            ErrorKind::Tls
        );
    }

    #[test]
    fn statuses_map_to_classes() {
        assert_eq!(ErrorKind::for_status(StatusCode::OK), None);
        assert_eq!(ErrorKind::for_status(StatusCode::FOUND), None);
        assert_eq!(
            ErrorKind::for_status(StatusCode::TOO_MANY_REQUESTS),
            Some(ErrorKind::ClientStatus)
        );
        assert_eq!(
            ErrorKind::for_status(StatusCode::BAD_GATEWAY),
            Some(ErrorKind::ServerStatus)
        );
    }

    #[test]
    fn display_is_lower_case() {
        assert_eq!(ErrorKind::CircuitOpen.to_string(), "circuit open");
    }
}
