//! The errors of the cache layer.

use std::fmt;
use std::sync::Arc;

use girder_core::BoxError;

pub use crate::config::InvalidCacheConfig;

/// The error of a call that was coalesced with others: every caller of the
/// flight gets one, sharing the leader's error as its
/// [`source`](std::error::Error::source), so
/// [`ErrorKind::of`](girder_core::ErrorKind::of) sees through it.
///
/// A leader that nobody waited for returns its own error unchanged.
#[derive(Clone)]
pub struct SharedError(pub(crate) Arc<BoxError>);

impl SharedError {
    /// The leader's error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &**self.0
    }
}

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedError").field(&self.0).finish()
    }
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "coalesced request failed: {}", self.0)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&**self.0)
    }
}

/// Why bytes could not be decoded as a [`CacheEntry`](crate::CacheEntry)
/// (see [`CacheEntry::decode`](crate::CacheEntry::decode)).
///
/// It says what is wrong and where, never what the bytes held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    kind: DecodeErrorKind,
    offset: usize,
}

/// What is wrong with an encoded entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The bytes end before the entry does.
    Truncated,
    /// The bytes do not start with [`MAGIC`](crate::encoding::MAGIC): not
    /// an entry (or another program's data).
    BadMagic,
    /// An entry of a format version this crate does not know (a newer one).
    UnknownVersion,
    /// Longer than [`MAX_ENCODED_LEN`](crate::encoding::MAX_ENCODED_LEN),
    /// or more variants or header fields than allowed.
    Oversized,
    /// A status code outside 100 to 999.
    InvalidStatus,
    /// A header name or value that HTTP does not allow.
    InvalidHeader,
    /// A request method that is not a token.
    InvalidMethod,
    /// A URI that does not parse.
    InvalidUri,
    /// A time or duration out of range.
    InvalidTime,
    /// Any other field out of range: an unknown tag or flag, a heuristic
    /// fraction outside 0 to 1.
    InvalidField,
    /// Bytes after the end of the entry.
    TrailingBytes,
}

impl DecodeError {
    pub(crate) fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        DecodeError { kind, offset }
    }

    /// What is wrong.
    pub fn kind(&self) -> DecodeErrorKind {
        self.kind
    }

    /// The byte offset at which the decoder noticed it.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            DecodeErrorKind::Truncated => "truncated",
            DecodeErrorKind::BadMagic => "not a girder cache entry",
            DecodeErrorKind::UnknownVersion => "unknown format version",
            DecodeErrorKind::Oversized => "too large",
            DecodeErrorKind::InvalidStatus => "invalid status code",
            DecodeErrorKind::InvalidHeader => "invalid header field",
            DecodeErrorKind::InvalidMethod => "invalid method",
            DecodeErrorKind::InvalidUri => "invalid uri",
            DecodeErrorKind::InvalidTime => "time out of range",
            DecodeErrorKind::InvalidField => "invalid field",
            DecodeErrorKind::TrailingBytes => "trailing bytes",
        };
        write!(f, "cache entry {what} at byte {}", self.offset)
    }
}

impl std::error::Error for DecodeError {}

/// An entry too large to encode: over
/// [`MAX_ENCODED_LEN`](crate::encoding::MAX_ENCODED_LEN) bytes or
/// [`MAX_VARIANTS`](crate::encoding::MAX_VARIANTS) variants. A store
/// reports it from `put` and keeps nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError {
    size: usize,
    unit: &'static str,
}

impl EncodeError {
    pub(crate) fn new(size: usize, unit: &'static str) -> Self {
        EncodeError { size, unit }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cache entry too large to encode ({} {})",
            self.size, self.unit
        )
    }
}

impl std::error::Error for EncodeError {}
