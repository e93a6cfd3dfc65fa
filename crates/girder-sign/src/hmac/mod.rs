//! Configurable HMAC signing: the scheme most vendor APIs hand-roll.
//!
//! A canonical string is built from an ordered list of [`Component`]s
//! joined by a separator, MACed with HMAC-SHA256 or HMAC-SHA512 and
//! encoded as hex or base64. The key id, the timestamp, the nonce (when
//! [`Component::Nonce`] is signed) and the signature travel in headers (by
//! default `X-API-Key`, `X-Timestamp`, `X-Nonce`, `X-Signature`).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use girder_sign::hmac::{Component, HmacSigner};
//! use girder_sign::{Payload, Signer};
//!
//! let signer = HmacSigner::builder("key-1", b"secret".to_vec())
//!     .components([Component::Timestamp, Component::Method, Component::PathAndQuery, Component::Body])
//!     .build()
//!     .unwrap();
//! let (mut parts, body) = http::Request::post("https://api.test/orders?x=1")
//!     .body("{}")
//!     .unwrap()
//!     .into_parts();
//! let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! signer.sign(&mut parts, Payload::Bytes(body.as_bytes()), at).unwrap();
//! assert_eq!(parts.headers["x-api-key"], "key-1");
//! assert_eq!(parts.headers["x-timestamp"], "1700000000");
//! // hex(HMAC-SHA256("secret", "1700000000\nPOST\n/orders?x=1\n{}"))
//! assert_eq!(parts.headers["x-signature"].len(), 64);
//! ```

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use girder_core::{SigningError, SigningErrorKind};
use http::HeaderName;
use http::HeaderValue;
use http::request::Parts;

use crate::encode::{Civil, StackText, hex_into, sha256_hex_into, sha512_hex_into, since_epoch};
use crate::keyed::{KeySchedule, Keyed};
use crate::signer::{Payload, Signer, nonce_hex};

mod builder;

pub use builder::HmacSignerBuilder;

const SCHEME: &str = "hmac";

/// One part of the canonical string.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Component {
    /// The method, upper case (`POST`).
    Method,
    /// The path (`/orders`).
    Path,
    /// The path and query as sent (`/orders?x=1`).
    PathAndQuery,
    /// The timestamp, formatted as configured (it is also sent).
    Timestamp,
    /// The body's bytes, as they are.
    Body,
    /// Hex of the body's hash with the scheme's hash function.
    BodyHash,
    /// A header's value (several lines joined with `", "`); fails with
    /// [`SigningErrorKind::MissingComponent`] when absent.
    Header(HeaderName),
    /// A fresh unpredictable nonce (sent in the nonce header; a nonce is
    /// made and sent only when this component is listed).
    Nonce,
    /// The key id.
    KeyId,
    /// Fixed text.
    Literal(String),
}

/// The hash of the HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacHash {
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How the signature (and the body hash) is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Lower-case hex.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// How the timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    /// Whole seconds since the Unix epoch.
    UnixSeconds,
    /// Milliseconds since the Unix epoch.
    UnixMillis,
    /// RFC 3339 in UTC, whole seconds (`2023-11-14T22:13:20Z`).
    Rfc3339,
}

/// Signs with a configurable HMAC scheme; see the [module docs](self).
///
/// # What it keeps in memory
///
/// Not the secret itself: [`build`](HmacSignerBuilder::build) runs the
/// HMAC key schedule once (the hash function's state after the key XOR
/// `ipad`, and after the key XOR `opad`), then the builder's copy of the
/// secret is zeroed as it is dropped. Each signature starts from a copy of
/// that keyed state, which saves hashing two blocks per request. The keyed
/// state cannot give the secret back, but it signs as well as the secret
/// does, so it is kept as carefully: `Debug` never shows it, no error or
/// trace carries it, and the last clone overwrites it (best effort: the
/// `hmac` crate offers no zeroize) when dropped. The per-call copies live
/// on the stack for the duration of one signature.
///
/// # Clone
///
/// Clones share the keyed state (an `Arc`).
#[derive(Clone)]
pub struct HmacSigner {
    key_id: HeaderValue,
    keyed: Arc<KeySchedule>,
    components: Vec<Component>,
    signs_nonce: bool,
    separator: String,
    hash: HmacHash,
    encoding: Encoding,
    timestamp_format: TimestampFormat,
    key_id_header: Option<HeaderName>,
    timestamp_header: Option<HeaderName>,
    nonce_header: Option<HeaderName>,
    signature_header: HeaderName,
    signature_prefix: String,
}

impl fmt::Debug for HmacSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keyed state signs like the secret: never shown.
        f.debug_struct("HmacSigner")
            .field("key_id", &self.key_id)
            .field("secret", &"[redacted]")
            .field("components", &self.components)
            .field("hash", &self.hash)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl HmacHash {
    /// The keyed HMAC state for `secret`.
    pub(crate) fn key(self, secret: &[u8]) -> Keyed {
        match self {
            HmacHash::Sha256 => Keyed::sha256(secret),
            HmacHash::Sha512 => Keyed::sha512(secret),
        }
    }
}

impl HmacSigner {
    /// A builder for a signer with key id `key_id` and the shared secret
    /// `secret` (raw bytes; decode a base64 or hex secret first).
    pub fn builder(key_id: impl Into<String>, secret: impl Into<Vec<u8>>) -> HmacSignerBuilder {
        HmacSignerBuilder::new(key_id.into(), secret.into())
    }

    /// The canonical string this signer MACs for a request, with the given
    /// timestamp and nonce text. Exposed so that a server (or a test) can
    /// check a signature without re-implementing the rules.
    ///
    /// Signing itself does not build it: it feeds the same bytes to the
    /// MAC piece by piece.
    pub fn canonical_string(
        &self,
        parts: &Parts,
        payload: Payload<'_>,
        timestamp: &str,
        nonce: &str,
    ) -> Result<Vec<u8>, SigningError> {
        let mut out = Vec::with_capacity(128);
        self.write_canonical(
            parts,
            payload,
            timestamp.as_bytes(),
            nonce.as_bytes(),
            |bytes| out.extend_from_slice(bytes),
        )?;
        Ok(out)
    }

    /// Hands the canonical string to `out` piece by piece.
    fn write_canonical(
        &self,
        parts: &Parts,
        payload: Payload<'_>,
        timestamp: &[u8],
        nonce: &[u8],
        mut out: impl FnMut(&[u8]),
    ) -> Result<(), SigningError> {
        for (i, component) in self.components.iter().enumerate() {
            if i > 0 {
                out(self.separator.as_bytes());
            }
            match component {
                Component::Method => out(parts.method.as_str().as_bytes()),
                Component::Path => out(path(parts).as_bytes()),
                Component::PathAndQuery => {
                    let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
                    out(if pq.is_empty() { b"/" } else { pq.as_bytes() });
                }
                Component::Timestamp => out(timestamp),
                Component::Nonce => out(nonce),
                Component::KeyId => out(self.key_id.as_bytes()),
                Component::Literal(text) => out(text.as_bytes()),
                Component::Body => out(body(payload)?),
                Component::BodyHash => {
                    let bytes = body(payload)?;
                    let mut text = [0u8; 128];
                    out(match self.hash {
                        HmacHash::Sha256 => sha256_hex_into(bytes, &mut text),
                        HmacHash::Sha512 => sha512_hex_into(bytes, &mut text),
                    });
                }
                Component::Header(name) => {
                    let mut values = parts.headers.get_all(name).iter().peekable();
                    if values.peek().is_none() {
                        return Err(
                            SigningError::new(SigningErrorKind::MissingComponent, SCHEME)
                                .with_detail(format!("header {name}")),
                        );
                    }
                    for (j, value) in values.enumerate() {
                        if j > 0 {
                            out(b", ");
                        }
                        out(value.as_bytes());
                    }
                }
            }
        }
        Ok(())
    }

    /// The timestamp's text, on the stack.
    fn timestamp(&self, now: SystemTime) -> Result<StackText<40>, SigningError> {
        let mut text = StackText::new();
        // At most 23 digits of milliseconds, or a 12-digit year in RFC 3339:
        // the buffer has room for any time, but a cut timestamp must never
        // be signed, so a failure is an error rather than an assumption.
        match self.timestamp_format {
            TimestampFormat::UnixSeconds => write!(text, "{}", since_epoch(now).as_secs()),
            TimestampFormat::UnixMillis => write!(text, "{}", since_epoch(now).as_millis()),
            TimestampFormat::Rfc3339 => Civil::of(now).write_rfc3339(&mut text),
        }
        .map_err(|_| invalid_value())?;
        Ok(text)
    }

    /// `prefix || encoding(tag)`, in one buffer of the exact size.
    fn signature_value(&self, tag: &[u8]) -> Result<HeaderValue, SigningError> {
        let prefix = self.signature_prefix.as_bytes();
        let encoded_len = match self.encoding {
            Encoding::Hex => tag.len() * 2,
            Encoding::Base64 => base64::encoded_len(tag.len(), true).expect("a short tag"),
        };
        let mut out = vec![0u8; prefix.len() + encoded_len];
        let (head, tail) = out.split_at_mut(prefix.len());
        head.copy_from_slice(prefix);
        match self.encoding {
            Encoding::Hex => {
                hex_into(tag, tail);
            }
            Encoding::Base64 => {
                base64::engine::general_purpose::STANDARD
                    .encode_slice(tag, tail)
                    .expect("sized for the tag");
            }
        }
        HeaderValue::from_maybe_shared(Bytes::from(out)).map_err(|_| invalid_value())
    }
}

fn path(parts: &Parts) -> &str {
    match parts.uri.path() {
        "" => "/",
        path => path,
    }
}

fn body(payload: Payload<'_>) -> Result<&[u8], SigningError> {
    payload
        .bytes()
        .ok_or_else(|| SigningError::new(SigningErrorKind::StreamingBody, SCHEME))
}

impl Signer for HmacSigner {
    fn scheme(&self) -> &'static str {
        SCHEME
    }

    fn sign(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<(), SigningError> {
        let timestamp = self.timestamp(now)?;
        // A nonce only when it is signed: an unsigned one could be changed
        // by anyone and would protect nothing.
        let nonce = if self.signs_nonce {
            Some(nonce_hex(SCHEME)?)
        } else {
            None
        };
        let nonce_text: &[u8] = nonce.as_ref().map_or(&[], |n| n.as_slice());
        // The canonical string goes straight into the MAC, never into a
        // buffer of its own.
        let mut mac = self.keyed.0.clone();
        self.write_canonical(parts, payload, timestamp.as_bytes(), nonce_text, |bytes| {
            mac.update(bytes)
        })?;
        let (tag, len) = mac.finalize();
        let signature = self.signature_value(&tag[..len])?;
        let headers = &mut parts.headers;
        if let Some(name) = &self.key_id_header {
            // The key id header is the scheme's API key (`X-API-Key`):
            // sensitive, so a redirect to another origin drops it and
            // logs hide it, and registered so a logged echo of it is
            // masked wherever it appears.
            let mut key_id = self.key_id.clone();
            key_id.set_sensitive(true);
            headers.insert(name.clone(), key_id);
            if let Ok(text) = self.key_id.to_str() {
                girder_core::secrets::SecretValues::register_in(&parts.extensions, text);
            }
        }
        if let Some(name) = &self.timestamp_header {
            headers.insert(name.clone(), value(timestamp.as_bytes())?);
        }
        if let (Some(name), Some(nonce)) = (&self.nonce_header, &nonce) {
            headers.insert(name.clone(), value(nonce)?);
        }
        // Derived, so not registered as a secret; sensitive all the same,
        // as a credential for this request.
        let mut signature = signature;
        signature.set_sensitive(true);
        headers.insert(self.signature_header.clone(), signature);
        Ok(())
    }
}

fn invalid_value() -> SigningError {
    SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
}

fn value(text: &[u8]) -> Result<HeaderValue, SigningError> {
    HeaderValue::from_bytes(text).map_err(|_| invalid_value())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::hmac::{Hmac, Mac};
    use sha2::{Sha256, Sha512};

    #[test]
    fn debug_shows_neither_the_secret_nor_the_keyed_state() {
        let secret = b"correct horse battery staple";
        let signer = HmacSigner::builder("key-1", secret.to_vec())
            .build()
            .unwrap();
        let text = format!("{signer:?}");
        // Exactly the fields below: a field added later (the keyed state,
        // say) makes this fail and must be looked at.
        assert_eq!(
            text,
            "HmacSigner { key_id: \"key-1\", secret: \"[redacted]\", components: \
             [Timestamp, Method, PathAndQuery, BodyHash], hash: Sha256, encoding: Hex, .. }"
        );
        assert!(!text.contains("correct horse"));
    }

    #[test]
    fn timestamps_of_any_time_fit_on_the_stack() {
        use std::time::Duration;
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::MAX / 2);
        for format in [
            TimestampFormat::UnixSeconds,
            TimestampFormat::UnixMillis,
            TimestampFormat::Rfc3339,
        ] {
            let signer = HmacSigner::builder("k", b"s".to_vec())
                .timestamp_format(format)
                .build()
                .unwrap();
            assert!(signer.timestamp(far).is_ok(), "{format:?}");
            let known = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
            let text = signer.timestamp(known).unwrap();
            let expected: &[u8] = match format {
                TimestampFormat::UnixSeconds => b"1700000000",
                TimestampFormat::UnixMillis => b"1700000000250",
                TimestampFormat::Rfc3339 => b"2023-11-14T22:13:20Z",
            };
            assert_eq!(text.as_bytes(), expected);
        }
    }

    #[test]
    fn a_signer_keyed_once_signs_like_one_keyed_per_call() {
        let secret = b"0123456789abcdef0123456789abcdef";
        for hash in [HmacHash::Sha256, HmacHash::Sha512] {
            let keyed = hash.key(secret);
            for message in [&b""[..], b"abc", &[b'x'; 300]] {
                // Twice from the same keyed state: a copy is used up, not
                // the state itself.
                for _ in 0..2 {
                    let mut mac = keyed.clone();
                    mac.update(message);
                    let (tag, len) = mac.finalize();
                    let expected = match hash {
                        HmacHash::Sha256 => {
                            let mut fresh = Hmac::<Sha256>::new_from_slice(secret).unwrap();
                            fresh.update(message);
                            fresh.finalize().into_bytes().to_vec()
                        }
                        HmacHash::Sha512 => {
                            let mut fresh = Hmac::<Sha512>::new_from_slice(secret).unwrap();
                            fresh.update(message);
                            fresh.finalize().into_bytes().to_vec()
                        }
                    };
                    assert_eq!(&tag[..len], expected.as_slice());
                }
            }
        }
    }
}
