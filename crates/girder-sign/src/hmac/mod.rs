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

use std::fmt;
use std::time::SystemTime;

use ::hmac::{Hmac, Mac};
use base64::Engine as _;
use girder_core::{SigningError, SigningErrorKind};
use http::HeaderName;
use http::HeaderValue;
use http::request::Parts;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256, Sha512};

use crate::encode::{Civil, hex, since_epoch};
use crate::signer::{Payload, Signer, nonce};

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
/// # Clone
///
/// Clones share the secret (an `Arc`).
#[derive(Clone)]
pub struct HmacSigner {
    key_id: HeaderValue,
    secret: std::sync::Arc<SecretSlice<u8>>,
    components: Vec<Component>,
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
        f.debug_struct("HmacSigner")
            .field("key_id", &self.key_id)
            .field("secret", &"[redacted]")
            .field("components", &self.components)
            .field("hash", &self.hash)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
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
    pub fn canonical_string(
        &self,
        parts: &Parts,
        payload: Payload<'_>,
        timestamp: &str,
        nonce: &str,
    ) -> Result<Vec<u8>, SigningError> {
        let mut out = Vec::with_capacity(128);
        for (i, component) in self.components.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(self.separator.as_bytes());
            }
            match component {
                Component::Method => out.extend_from_slice(parts.method.as_str().as_bytes()),
                Component::Path => out.extend_from_slice(path(parts).as_bytes()),
                Component::PathAndQuery => {
                    let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
                    out.extend_from_slice(if pq.is_empty() { b"/" } else { pq.as_bytes() });
                }
                Component::Timestamp => out.extend_from_slice(timestamp.as_bytes()),
                Component::Nonce => out.extend_from_slice(nonce.as_bytes()),
                Component::KeyId => out.extend_from_slice(self.key_id.as_bytes()),
                Component::Literal(text) => out.extend_from_slice(text.as_bytes()),
                Component::Body => out.extend_from_slice(body(payload)?),
                Component::BodyHash => {
                    let bytes = body(payload)?;
                    let digest = match self.hash {
                        HmacHash::Sha256 => hex(&Sha256::digest(bytes)),
                        HmacHash::Sha512 => hex(&Sha512::digest(bytes)),
                    };
                    out.extend_from_slice(digest.as_bytes());
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
                            out.extend_from_slice(b", ");
                        }
                        out.extend_from_slice(value.as_bytes());
                    }
                }
            }
        }
        Ok(out)
    }

    fn mac(&self, message: &[u8]) -> Vec<u8> {
        let key = self.secret.expose_secret();
        match self.hash {
            HmacHash::Sha256 => {
                let mut mac =
                    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            HmacHash::Sha512 => {
                let mut mac =
                    Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn timestamp(&self, now: SystemTime) -> String {
        match self.timestamp_format {
            TimestampFormat::UnixSeconds => since_epoch(now).as_secs().to_string(),
            TimestampFormat::UnixMillis => since_epoch(now).as_millis().to_string(),
            TimestampFormat::Rfc3339 => Civil::of(now).rfc3339(),
        }
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
        let timestamp = self.timestamp(now);
        // A nonce only when it is signed: an unsigned one could be changed
        // by anyone and would protect nothing.
        let signs_nonce = self.components.contains(&Component::Nonce);
        let nonce = if signs_nonce {
            nonce(SCHEME)?
        } else {
            String::new()
        };
        let canonical = self.canonical_string(parts, payload, &timestamp, &nonce)?;
        let mac = self.mac(&canonical);
        let mut signature = self.signature_prefix.clone();
        match self.encoding {
            Encoding::Hex => signature.push_str(&hex(&mac)),
            Encoding::Base64 => {
                base64::engine::general_purpose::STANDARD.encode_string(&mac, &mut signature)
            }
        }
        let headers = &mut parts.headers;
        if let Some(name) = &self.key_id_header {
            headers.insert(name.clone(), self.key_id.clone());
        }
        if let Some(name) = &self.timestamp_header {
            headers.insert(name.clone(), value(timestamp)?);
        }
        if let (Some(name), true) = (&self.nonce_header, signs_nonce) {
            headers.insert(name.clone(), value(nonce)?);
        }
        headers.insert(self.signature_header.clone(), value(signature)?);
        Ok(())
    }
}

fn value(text: String) -> Result<HeaderValue, SigningError> {
    HeaderValue::try_from(text)
        .map_err(|_| SigningError::new(SigningErrorKind::InvalidValue, SCHEME))
}
