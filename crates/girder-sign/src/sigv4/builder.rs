//! [`SigV4SignerBuilder`].

use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

use super::{PayloadMode, SigV4Signer};
use crate::error::InvalidSigningConfig;

/// Builds a [`SigV4Signer`].
#[derive(Debug)]
pub struct SigV4SignerBuilder {
    pub(super) inner: SigV4Signer,
}

impl SigV4SignerBuilder {
    /// A session token (temporary credentials), sent as
    /// `X-Amz-Security-Token`.
    ///
    /// Default: none.
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        self.inner.session_token = Some(Arc::new(SecretString::from(token.into())));
        self
    }

    /// Whether the session token is signed (most services) or added after
    /// signing (a few older ones).
    ///
    /// Default: `true`.
    pub fn sign_session_token(mut self, sign: bool) -> Self {
        self.inner.sign_session_token = sign;
        self
    }

    /// How the payload is signed.
    ///
    /// Default: [`PayloadMode::Signed`].
    pub fn payload(mut self, mode: PayloadMode) -> Self {
        self.inner.payload = mode;
        self
    }

    /// Whether to send (and sign) `X-Amz-Content-Sha256`, which S3
    /// requires.
    ///
    /// Default: `false`.
    pub fn content_sha256_header(mut self, send: bool) -> Self {
        self.inner.content_sha256_header = send;
        self
    }

    /// S3's path rules: no dot-segment or slash normalisation, and the
    /// path encoded once (off, the AWS default for other services:
    /// normalised and encoded twice).
    ///
    /// Default: `false`.
    pub fn s3_paths(mut self, s3: bool) -> Self {
        self.inner.normalize_path = !s3;
        self.inner.double_encode = !s3;
        self
    }

    /// The signer, or why the configuration makes no sense.
    pub fn build(self) -> Result<SigV4Signer, InvalidSigningConfig> {
        let s = self.inner;
        let word = |text: &str| {
            !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !word(&s.access_key_id) {
            return Err(InvalidSigningConfig::new(
                "access_key_id",
                "is empty or not alphanumeric",
            ));
        }
        if s.secret.expose_secret().is_empty() {
            return Err(InvalidSigningConfig::new("secret_access_key", "is empty"));
        }
        if !word(&s.region) {
            return Err(InvalidSigningConfig::new(
                "region",
                "is empty or not a region name",
            ));
        }
        if !word(&s.service) {
            return Err(InvalidSigningConfig::new(
                "service",
                "is empty or not a service name",
            ));
        }
        if let Some(token) = &s.session_token
            && (token.expose_secret().is_empty()
                || HeaderValue::from_str(token.expose_secret()).is_err())
        {
            return Err(InvalidSigningConfig::new(
                "session_token",
                "is empty or cannot go in a header",
            ));
        }
        Ok(s)
    }
}
