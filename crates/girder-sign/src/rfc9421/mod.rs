//! RFC 9421 HTTP Message Signatures, with RFC 9530 `Content-Digest`.
//!
//! The signer covers an ordered list of [`Component`]s (derived components
//! such as `@method` and `@target-uri`, and header fields), adds the
//! signature parameters (`created`, `expires`, `keyid`, `nonce`, `alg`,
//! `tag`), signs the signature base with `hmac-sha256` or `ed25519`, and
//! sends `Signature-Input` and `Signature`. A buffered body gets a
//! `Content-Digest` (`sha-256` by default, or `sha-512`), which the
//! signature then covers.
//!
//! With the parameters of RFC 9421 Appendix B.2.5 and B.2.6 (no nonce, no
//! `alg`, the covered components given there) it reproduces the RFC's
//! signatures byte for byte; the crate's conformance tests check that.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use girder_sign::rfc9421::{Component, HttpSignatureSigner, SignatureKey};
//! use girder_sign::{Payload, Signer};
//!
//! let key = SignatureKey::ed25519_seed([7; 32]);
//! let signer = HttpSignatureSigner::builder("my-key", key)
//!     .components([Component::Method, Component::Authority, Component::Path])
//!     .nonce(false)
//!     .build()
//!     .unwrap();
//! let (mut parts, body) = http::Request::post("https://api.test/orders")
//!     .body("{}")
//!     .unwrap()
//!     .into_parts();
//! let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_618_884_473);
//! signer.sign(&mut parts, Payload::Bytes(body.as_bytes()), at).unwrap();
//! assert_eq!(
//!     parts.headers["signature-input"],
//!     r#"sig1=("@method" "@authority" "@path" "content-digest");created=1618884473;keyid="my-key""#
//! );
//! assert!(parts.headers["content-digest"].to_str().unwrap().starts_with("sha-256=:"));
//! ```

mod component;
mod key;
mod params;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use girder_core::{SigningError, SigningErrorKind};
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use secrecy::ExposeSecret;

pub use component::{Component, signature_base};
pub use key::{DigestAlgorithm, SignatureKey, content_digest};
pub use params::SignatureParams;

use crate::encode::since_epoch;
use crate::error::InvalidSigningConfig;
use crate::signer::{Payload, Signer, nonce};

const SCHEME: &str = "rfc9421";

/// The `Signature-Input` header.
pub const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
/// The `Signature` header.
pub const SIGNATURE: HeaderName = HeaderName::from_static("signature");
/// The `Content-Digest` header (RFC 9530).
pub const CONTENT_DIGEST: HeaderName = HeaderName::from_static("content-digest");

/// Signs with RFC 9421 HTTP Message Signatures; see the [module docs](self).
///
/// # Clone
///
/// Clones share the key (an `Arc`).
#[derive(Debug, Clone)]
pub struct HttpSignatureSigner {
    key_id: String,
    key: SignatureKey,
    label: String,
    components: Vec<Component>,
    digest: Option<DigestAlgorithm>,
    created: bool,
    expires_in: Option<Duration>,
    nonce: bool,
    alg: bool,
    tag: Option<String>,
}

/// Builds an [`HttpSignatureSigner`].
#[derive(Debug)]
pub struct HttpSignatureSignerBuilder {
    inner: HttpSignatureSigner,
}

impl HttpSignatureSigner {
    /// A builder for a signer with key id `key_id` and `key`.
    pub fn builder(key_id: impl Into<String>, key: SignatureKey) -> HttpSignatureSignerBuilder {
        HttpSignatureSignerBuilder {
            inner: HttpSignatureSigner {
                key_id: key_id.into(),
                key,
                label: "sig1".into(),
                components: vec![Component::Method, Component::TargetUri],
                digest: Some(DigestAlgorithm::Sha256),
                created: true,
                expires_in: None,
                nonce: true,
                alg: false,
                tag: None,
            },
        }
    }

    /// The signature's label in `Signature-Input` and `Signature`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The signature parameters for a signing at `now` with `nonce`.
    pub fn params(&self, now: SystemTime, nonce: Option<String>) -> SignatureParams {
        let created = since_epoch(now).as_secs();
        SignatureParams {
            created: self.created.then_some(created),
            expires: self.expires_in.map(|d| created + d.as_secs()),
            keyid: Some(self.key_id.clone()),
            nonce,
            alg: self.alg.then(|| self.key.algorithm().to_owned()),
            tag: self.tag.clone(),
        }
    }

    /// Signs `parts` with the given parameters: sets `Content-Digest` (if
    /// configured and the body is buffered and not empty),
    /// `Signature-Input` and `Signature`. [`Signer::sign`] calls this with
    /// fresh parameters; known-answer tests call it with fixed ones.
    pub fn sign_with(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        params: &SignatureParams,
    ) -> Result<(), SigningError> {
        let mut components = std::borrow::Cow::Borrowed(&self.components[..]);
        if let Some(algorithm) = self.digest {
            let bytes = payload
                .bytes()
                .ok_or_else(|| SigningError::new(SigningErrorKind::StreamingBody, SCHEME))?;
            if !bytes.is_empty() {
                let digest = HeaderValue::try_from(content_digest(algorithm, bytes))
                    .expect("base64 is a valid header value");
                parts.headers.insert(CONTENT_DIGEST, digest);
                let covered = Component::Field(CONTENT_DIGEST);
                if !components.contains(&covered) {
                    components.to_mut().push(covered);
                }
            }
        }
        let serialized = params.serialize(&components);
        let base = signature_base(parts, &components, &serialized)?;
        let signature = self.key.sign(base.as_bytes());
        let mut input = String::with_capacity(self.label.len() + 1 + serialized.len());
        input.push_str(&self.label);
        input.push('=');
        input.push_str(&serialized);
        let mut value = String::with_capacity(self.label.len() + 92);
        value.push_str(&self.label);
        value.push_str("=:");
        B64.encode_string(&signature, &mut value);
        value.push(':');
        append(&mut parts.headers, SIGNATURE_INPUT, input)?;
        append(&mut parts.headers, SIGNATURE, value)?;
        Ok(())
    }
}

/// Adds `member` to a dictionary field, after any members already there
/// (another party's signature stays valid).
fn append(
    headers: &mut http::HeaderMap,
    name: HeaderName,
    member: String,
) -> Result<(), SigningError> {
    let joined = match headers.get(&name).map(|v| v.to_str()) {
        Some(Ok(existing)) if !existing.trim().is_empty() => format!("{existing}, {member}"),
        _ => member,
    };
    let value = HeaderValue::try_from(joined).map_err(|_| {
        SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
            .with_detail(name.as_str().to_owned())
    })?;
    headers.insert(name, value);
    Ok(())
}

impl Signer for HttpSignatureSigner {
    fn scheme(&self) -> &'static str {
        SCHEME
    }

    fn sign(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<(), SigningError> {
        let nonce = if self.nonce {
            Some(nonce(SCHEME)?)
        } else {
            None
        };
        let params = self.params(now, nonce);
        self.sign_with(parts, payload, &params)
    }
}

fn sf_key(text: &str) -> bool {
    let mut bytes = text.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'*'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'))
}

fn sf_string(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl HttpSignatureSignerBuilder {
    /// The signature's label.
    ///
    /// Default: `sig1`.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.inner.label = label.into();
        self
    }

    /// The covered components, in order. `content-digest` is added at the
    /// end when a digest is sent and not already listed.
    ///
    /// Default: `@method`, `@target-uri`.
    pub fn components(mut self, components: impl IntoIterator<Item = Component>) -> Self {
        self.inner.components = components.into_iter().collect();
        self
    }

    /// The `Content-Digest` hash for buffered, non-empty bodies, or `None`
    /// to send none (then a streamed body can be signed, without covering
    /// its content). The digest is computed from the bytes being sent and
    /// replaces any `Content-Digest` already on the request, so a stale
    /// one is never signed.
    ///
    /// Default: `Some(DigestAlgorithm::Sha256)`.
    pub fn content_digest(mut self, algorithm: Option<DigestAlgorithm>) -> Self {
        self.inner.digest = algorithm;
        self
    }

    /// Whether to send the `created` parameter.
    ///
    /// Default: `true`.
    pub fn created(mut self, created: bool) -> Self {
        self.inner.created = created;
        self
    }

    /// Sends `expires` this long after `created`, or none.
    ///
    /// Default: `None`.
    pub fn expires_in(mut self, expires_in: Option<Duration>) -> Self {
        self.inner.expires_in = expires_in;
        self
    }

    /// Whether to send a fresh random `nonce` with each signature.
    ///
    /// Default: `true`.
    pub fn nonce(mut self, nonce: bool) -> Self {
        self.inner.nonce = nonce;
        self
    }

    /// Whether to send the `alg` parameter. The RFC's examples leave it
    /// out (the key id implies the algorithm).
    ///
    /// Default: `false`.
    pub fn alg(mut self, alg: bool) -> Self {
        self.inner.alg = alg;
        self
    }

    /// A `tag` naming the application profile.
    ///
    /// Default: none.
    pub fn tag(mut self, tag: Option<&str>) -> Self {
        self.inner.tag = tag.map(str::to_owned);
        self
    }

    /// The signer, or why the configuration makes no sense.
    pub fn build(self) -> Result<HttpSignatureSigner, InvalidSigningConfig> {
        let signer = self.inner;
        if !sf_key(&signer.label) {
            return Err(InvalidSigningConfig::new(
                "label",
                "is not a structured-field key",
            ));
        }
        if !sf_string(&signer.key_id) {
            return Err(InvalidSigningConfig::new(
                "key_id",
                "is not printable ASCII",
            ));
        }
        if signer.tag.as_deref().is_some_and(|t| !sf_string(t)) {
            return Err(InvalidSigningConfig::new("tag", "is not printable ASCII"));
        }
        if let SignatureKey::HmacSha256(secret) = &signer.key
            && secret.expose_secret().is_empty()
        {
            return Err(InvalidSigningConfig::new("key", "is an empty secret"));
        }
        if signer.expires_in.is_some() && !signer.created {
            return Err(InvalidSigningConfig::new("expires_in", "needs created"));
        }
        for (i, c) in signer.components.iter().enumerate() {
            if signer.components[..i].contains(c) {
                return Err(InvalidSigningConfig::new(
                    "components",
                    "lists a component twice",
                ));
            }
            if let Component::QueryParam(name) = c
                && (!sf_string(name) || name.contains('"') || name.contains('\\'))
            {
                return Err(InvalidSigningConfig::new(
                    "components",
                    "has a query-param name that cannot be written",
                ));
            }
        }
        Ok(signer)
    }
}
