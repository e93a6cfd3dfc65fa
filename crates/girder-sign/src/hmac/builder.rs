//! [`HmacSignerBuilder`].

use std::fmt;

use http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretSlice};

use super::{Component, Encoding, HmacHash, HmacSigner, TimestampFormat};
use crate::error::InvalidSigningConfig;
use crate::keyed::KeySchedule;

/// Builds an [`HmacSigner`].
pub struct HmacSignerBuilder {
    key_id: String,
    secret: SecretSlice<u8>,
    components: Vec<Component>,
    separator: String,
    hash: HmacHash,
    encoding: Encoding,
    timestamp_format: TimestampFormat,
    key_id_header: Option<String>,
    timestamp_header: Option<String>,
    nonce_header: Option<String>,
    signature_header: String,
    signature_prefix: String,
}

impl fmt::Debug for HmacSignerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSignerBuilder")
            .field("key_id", &self.key_id)
            .field("secret", &"[redacted]")
            .field("components", &self.components)
            .finish_non_exhaustive()
    }
}

fn header_name(field: &'static str, name: &str) -> Result<HeaderName, InvalidSigningConfig> {
    HeaderName::try_from(name)
        .map_err(|_| InvalidSigningConfig::new(field, "not a valid header name"))
}

impl HmacSignerBuilder {
    pub(super) fn new(key_id: String, secret: Vec<u8>) -> Self {
        HmacSignerBuilder {
            key_id,
            secret: SecretSlice::from(secret),
            components: vec![
                Component::Timestamp,
                Component::Method,
                Component::PathAndQuery,
                Component::BodyHash,
            ],
            separator: "\n".into(),
            hash: HmacHash::Sha256,
            encoding: Encoding::Hex,
            timestamp_format: TimestampFormat::UnixSeconds,
            key_id_header: Some("x-api-key".into()),
            timestamp_header: Some("x-timestamp".into()),
            nonce_header: Some("x-nonce".into()),
            signature_header: "x-signature".into(),
            signature_prefix: String::new(),
        }
    }

    /// The components of the canonical string, in order.
    ///
    /// Default: `[Timestamp, Method, PathAndQuery, BodyHash]`.
    pub fn components(mut self, components: impl IntoIterator<Item = Component>) -> Self {
        self.components = components.into_iter().collect();
        self
    }

    /// The text between components.
    ///
    /// Default: `"\n"`.
    pub fn separator(mut self, separator: impl Into<String>) -> Self {
        self.separator = separator.into();
        self
    }

    /// The hash function.
    ///
    /// Default: [`HmacHash::Sha256`].
    pub fn hash(mut self, hash: HmacHash) -> Self {
        self.hash = hash;
        self
    }

    /// The signature's encoding.
    ///
    /// Default: [`Encoding::Hex`].
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The timestamp's format.
    ///
    /// Default: [`TimestampFormat::UnixSeconds`].
    pub fn timestamp_format(mut self, format: TimestampFormat) -> Self {
        self.timestamp_format = format;
        self
    }

    /// The header carrying the key id, or `None` to send none.
    ///
    /// Default: `X-API-Key`.
    pub fn key_id_header(mut self, name: Option<&str>) -> Self {
        self.key_id_header = name.map(str::to_owned);
        self
    }

    /// The header carrying the timestamp, or `None` to send none (then the
    /// canonical string may not contain [`Component::Timestamp`]).
    ///
    /// Default: `X-Timestamp`.
    pub fn timestamp_header(mut self, name: Option<&str>) -> Self {
        self.timestamp_header = name.map(str::to_owned);
        self
    }

    /// The header carrying the nonce, when [`Component::Nonce`] is signed;
    /// `None` is refused then (the server could not check it).
    ///
    /// Default: `X-Nonce`.
    pub fn nonce_header(mut self, name: Option<&str>) -> Self {
        self.nonce_header = name.map(str::to_owned);
        self
    }

    /// The header carrying the signature.
    ///
    /// Default: `X-Signature`.
    pub fn signature_header(mut self, name: &str) -> Self {
        self.signature_header = name.to_owned();
        self
    }

    /// Text put before the encoded signature (`"sha256="` for GitHub-style
    /// webhooks, say).
    ///
    /// Default: none.
    pub fn signature_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.signature_prefix = prefix.into();
        self
    }

    /// The signer, or why the configuration makes no sense.
    pub fn build(self) -> Result<HmacSigner, InvalidSigningConfig> {
        if self.secret.expose_secret().is_empty() {
            return Err(InvalidSigningConfig::new("secret", "is empty"));
        }
        if self.components.is_empty() {
            return Err(InvalidSigningConfig::new(
                "components",
                "is empty: nothing would be signed",
            ));
        }
        if self.timestamp_header.is_none() && self.components.contains(&Component::Timestamp) {
            return Err(InvalidSigningConfig::new(
                "timestamp_header",
                "is off, but the timestamp is signed: the server could not check it",
            ));
        }
        if self.nonce_header.is_none() && self.components.contains(&Component::Nonce) {
            return Err(InvalidSigningConfig::new(
                "nonce_header",
                "is off, but the nonce is signed: the server could not check it",
            ));
        }
        let key_id = HeaderValue::try_from(self.key_id.as_str())
            .map_err(|_| InvalidSigningConfig::new("key_id", "cannot go in a header"))?;
        let signature_prefix = self.signature_prefix;
        HeaderValue::try_from(signature_prefix.as_str())
            .map_err(|_| InvalidSigningConfig::new("signature_prefix", "cannot go in a header"))?;
        let opt = |field, name: Option<String>| name.map(|n| header_name(field, &n)).transpose();
        let key_id_header = opt("key_id_header", self.key_id_header)?;
        let timestamp_header = opt("timestamp_header", self.timestamp_header)?;
        let nonce_header = opt("nonce_header", self.nonce_header)?;
        let signature_header = header_name("signature_header", &self.signature_header)?;
        let headers = [&key_id_header, &timestamp_header, &nonce_header];
        if headers
            .iter()
            .any(|h| h.as_ref() == Some(&signature_header))
        {
            return Err(InvalidSigningConfig::new(
                "signature_header",
                "is also used for another value",
            ));
        }
        // The key schedule runs once, here; the secret is zeroed when
        // `self.secret` drops at the end of this function.
        let keyed = KeySchedule(self.hash.key(self.secret.expose_secret()));
        Ok(HmacSigner {
            key_id,
            keyed: std::sync::Arc::new(keyed),
            signs_nonce: self.components.contains(&Component::Nonce),
            components: self.components,
            separator: self.separator,
            hash: self.hash,
            encoding: self.encoding,
            timestamp_format: self.timestamp_format,
            key_id_header,
            timestamp_header,
            nonce_header,
            signature_header,
            signature_prefix,
        })
    }
}
