//! [`SigningError`], the failure of the signing layer.
//!
//! It lives here rather than in `girder-sign` so that the breaker and the
//! facade recognise it (it is a local failure: nothing was sent, the
//! upstream is not to blame) and [`ErrorKind::of`](crate::ErrorKind::of)
//! maps it to [`ErrorKind::Signing`](crate::ErrorKind::Signing) without
//! depending on the layer crate. `girder-sign` re-exports it.
//!
//! A `SigningError` never carries key material: its parts are a kind, the
//! scheme's name and a short static or request-derived detail (a header
//! name, never a header value).
//!
//! ```
//! use girder_core::{BoxError, ErrorKind, SigningError, SigningErrorKind};
//!
//! let err: BoxError = SigningError::new(SigningErrorKind::StreamingBody, "rfc9421").into();
//! assert_eq!(
//!     err.to_string(),
//!     "cannot sign request (rfc9421): the body is a stream and the scheme must hash it"
//! );
//! assert_eq!(ErrorKind::of(&*err), ErrorKind::Signing);
//! ```

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

/// The request could not be signed; it was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningError {
    kind: SigningErrorKind,
    scheme: &'static str,
    detail: Option<Cow<'static, str>>,
}

/// Why a request could not be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SigningErrorKind {
    /// The body is a stream, and the scheme needs its bytes (digest or
    /// payload hash) and was not told to leave the payload unsigned.
    StreamingBody,
    /// A component the signature must cover is missing from the request
    /// (a header, the authority, a query parameter).
    MissingComponent,
    /// A value cannot be put into the signature or the header it goes in
    /// (not visible ASCII, a line break, a path that is not valid).
    InvalidValue,
    /// The signer itself failed (a key that cannot sign).
    Key,
    /// A covered component occurs more than once where the scheme signs
    /// exactly one value (RFC 9421 §2.2.8: a query parameter named twice).
    AmbiguousComponent,
}

impl SigningError {
    /// An error of `kind` for `scheme` (`"hmac"`, `"rfc9421"`, `"sigv4"`, …).
    pub fn new(kind: SigningErrorKind, scheme: &'static str) -> Self {
        SigningError {
            kind,
            scheme,
            detail: None,
        }
    }

    /// The same error with a detail: which component or header. Never put
    /// a header value or key material here.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Why signing failed.
    pub fn kind(&self) -> SigningErrorKind {
        self.kind
    }

    /// The scheme that failed.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The component or header concerned, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl fmt::Display for SigningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot sign request ({}): {}", self.scheme, self.kind)?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for SigningErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SigningErrorKind::StreamingBody => "the body is a stream and the scheme must hash it",
            SigningErrorKind::MissingComponent => "a covered component is missing",
            SigningErrorKind::InvalidValue => "a value cannot be signed",
            SigningErrorKind::Key => "the key cannot sign",
            SigningErrorKind::AmbiguousComponent => {
                "a covered component occurs more than once and cannot be signed by name"
            }
        })
    }
}

impl Error for SigningError {}
