//! RFC 9421 HTTP Message Signatures, with RFC 9530 `Content-Digest`.
//!
//! The signer covers an ordered list of [`Component`]s (derived components
//! such as `@method` and `@target-uri`, and header fields), adds the
//! signature parameters (`created`, `expires`, `keyid`, `nonce`, `alg`,
//! `tag`), signs the signature base with `hmac-sha256`, `ed25519` or
//! `rsa-pss-sha512`, and sends `Signature-Input` and `Signature` (marked
//! sensitive). A buffered body gets a `Content-Digest` (`sha-256` by
//! default, or `sha-512`), which the signature then covers; a
//! `Content-Digest` already on the request that does not match the body
//! (the empty body included) is replaced, never signed or sent stale.
//!
//! `@authority` is normalised (lower-case host, default port left out);
//! `@target-uri` is the target URI as sent. Neither ever carries the
//! URI's userinfo. A `@query-param` whose parameter occurs more than once
//! is refused ([`SigningErrorKind::AmbiguousComponent`], §2.2.8).
//!
//! With the parameters of RFC 9421 Appendix B.2.5 and B.2.6 (no nonce, no
//! `alg`, the covered components given there) it reproduces the RFC's
//! signatures byte for byte; for B.2.1 (`rsa-pss-sha512`, randomised) the
//! signature base matches byte for byte and the signatures verify. The
//! crate's conformance tests check all three.
//!
//! # RSA-PSS and Ed25519
//!
//! `rsa-pss-sha512` (RSASSA-PSS, SHA-512, MGF1-SHA-512, 64-byte salt)
//! and `ed25519` run on `ring`, whose RSA is constant-time. Keys load from PKCS#8 (the
//! `rsaEncryption` or `id-RSASSA-PSS` algorithm) or PKCS#1, as DER or PEM;
//! [`RsaPssPublicKey`] verifies.
//!
//! ```
//! use std::time::SystemTime;
//! use girder_sign::rfc9421::{Component, HttpSignatureSigner, RsaPssPublicKey, SignatureKey};
//! use girder_sign::{Payload, Signer};
//!
//! # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
//! # let pem = std::fs::read_to_string(format!("{dir}/rfc9421-test-key-rsa-pss.pem")).unwrap();
//! # let public_pem = std::fs::read_to_string(format!("{dir}/rfc9421-test-key-rsa-pss.pub.pem")).unwrap();
//! // `pem` holds `-----BEGIN PRIVATE KEY-----…` (RFC 9421's test-key-rsa-pss here).
//! let key = SignatureKey::rsa_pss_sha512_pem(&pem).unwrap();
//! let signer = HttpSignatureSigner::builder("test-key-rsa-pss", key)
//!     .components([Component::Method, Component::Authority])
//!     .nonce(false)
//!     .build()
//!     .unwrap();
//! let (mut parts, ()) = http::Request::get("https://example.com/").body(()).unwrap().into_parts();
//! signer.sign(&mut parts, Payload::Bytes(b""), SystemTime::UNIX_EPOCH).unwrap();
//!
//! // The verifier rebuilds the base from Signature-Input and checks.
//! let input = parts.headers["signature-input"].to_str().unwrap();
//! let base = girder_sign::rfc9421::signature_base(
//!     &parts,
//!     &[Component::Method, Component::Authority],
//!     input.strip_prefix("sig1=").unwrap(),
//! )
//! .unwrap();
//! use base64::Engine as _;
//! let signature = parts.headers["signature"].to_str().unwrap();
//! let bytes = base64::engine::general_purpose::STANDARD
//!     .decode(signature.trim_start_matches("sig1=:").trim_end_matches(':'))
//!     .unwrap();
//! let public = RsaPssPublicKey::from_pem(&public_pem).unwrap();
//! assert!(public.verify(base.as_bytes(), &bytes));
//! ```
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
mod ed25519;
mod key;
mod params;
mod rsa;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use girder_core::{SigningError, SigningErrorKind};
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use secrecy::ExposeSecret;

pub use component::{Component, signature_base};
pub use ed25519::Ed25519Key;
pub use key::{DigestAlgorithm, SignatureKey, content_digest};
pub use params::SignatureParams;
pub use rsa::{RsaPssKey, RsaPssPublicKey};

use component::{Covered, write_base};
use key::{DIGEST_VALUE_MAX, SignatureBytes, content_digest_into};
use params::ParamsRef;

use crate::encode::{Count, since_epoch};
use crate::error::InvalidSigningConfig;
use crate::keyed::{KeySchedule, Keyed};
use crate::signer::{Payload, Signer, nonce_hex};

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
///
/// # What it keeps in memory
///
/// With an `hmac-sha256` key, [`build`](HttpSignatureSignerBuilder::build)
/// also runs the HMAC key schedule once (the hash state after the key XOR
/// `ipad` and after the key XOR `opad`); each signature starts from a copy
/// of it instead of keying HMAC again. That state signs as well as the
/// secret does, so it is kept as carefully: `Debug` never shows it, and
/// the last clone overwrites it when dropped (best effort).
#[derive(Clone)]
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
    // The HMAC key schedule of an `hmac-sha256` key, set by `build`.
    keyed: Option<Arc<KeySchedule>>,
}

impl fmt::Debug for HttpSignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keyed state signs like the secret: never shown (the key
        // shows its algorithm only).
        f.debug_struct("HttpSignatureSigner")
            .field("key_id", &self.key_id)
            .field("key", &self.key)
            .field("label", &self.label)
            .field("components", &self.components)
            .field("digest", &self.digest)
            .field("created", &self.created)
            .field("expires_in", &self.expires_in)
            .field("nonce", &self.nonce)
            .field("alg", &self.alg)
            .field("tag", &self.tag)
            .finish()
    }
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
                keyed: None,
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
        self.sign_params(parts, payload, &params.as_ref())
    }

    fn sign_params(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        params: &ParamsRef<'_>,
    ) -> Result<(), SigningError> {
        let digest_covered = Component::Field(CONTENT_DIGEST);
        let mut covered = Covered {
            listed: &self.components,
            extra: None,
        };
        if let Some(algorithm) = self.digest {
            let bytes = payload
                .bytes()
                .ok_or_else(|| SigningError::new(SigningErrorKind::StreamingBody, SCHEME))?;
            // An empty body gets no digest of its own, but a digest the
            // request already carries is replaced by the empty body's:
            // a stale one is never signed, nor sent.
            if !bytes.is_empty() || parts.headers.contains_key(CONTENT_DIGEST) {
                let mut buf = [0u8; DIGEST_VALUE_MAX];
                let digest =
                    HeaderValue::from_bytes(content_digest_into(algorithm, bytes, &mut buf))
                        .expect("base64 is a valid header value");
                parts.headers.insert(CONTENT_DIGEST, digest);
                if !self.components.contains(&digest_covered) {
                    covered.extra = Some(&digest_covered);
                }
            }
        } else if let Some(bytes) = payload.bytes() {
            // No digest of our own, but one the request carries must
            // still match the bytes sent.
            key::refresh_content_digest(&mut parts.headers, bytes);
        }
        // `Signature-Input`'s member `label=(…);…`, built once at its
        // exact size; the signature base ends with its value.
        let mut size = Count(self.label.len() + 1);
        params.write(&mut size, covered);
        let mut input = String::with_capacity(size.0);
        input.push_str(&self.label);
        input.push('=');
        params.write(&mut input, covered);
        let serialized = &input[self.label.len() + 1..];
        let signature = match &self.keyed {
            // The base goes straight into the keyed MAC, never into a
            // buffer of its own.
            Some(keyed) => {
                let mut mac = keyed.0.clone();
                write_base(&mut mac, parts, covered, serialized)?;
                let (tag, len) = mac.finalize();
                SignatureBytes::Short(tag, len)
            }
            // Ed25519 and RSA-PSS sign the whole message at once.
            None => {
                let mut base = String::with_capacity(256);
                write_base(&mut base, parts, covered, serialized)?;
                self.key.sign(base.as_bytes())?
            }
        };
        let signature = signature.as_slice();
        let len = signature.len();
        let encoded = base64::encoded_len(len, true).expect("a short signature");
        let mut value = String::with_capacity(self.label.len() + 3 + encoded);
        value.push_str(&self.label);
        value.push_str("=:");
        B64.encode_string(signature, &mut value);
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
        // `member` was built at its exact size: the header value takes
        // its buffer without a copy.
        _ => member,
    };
    let mut value = HeaderValue::try_from(joined).map_err(|_| {
        SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
            .with_detail(name.as_str().to_owned())
    })?;
    // `Signature` is this request's credential; `Signature-Input` only
    // names what it covers, and stays visible for debugging.
    value.set_sensitive(name == SIGNATURE);
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
            Some(nonce_hex(SCHEME)?)
        } else {
            None
        };
        // As `params`, borrowed: nothing copied for the parameters.
        let created = since_epoch(now).as_secs();
        let params = ParamsRef {
            created: self.created.then_some(created),
            expires: self.expires_in.map(|d| created + d.as_secs()),
            keyid: Some(&self.key_id),
            nonce: nonce
                .as_ref()
                .map(|n| std::str::from_utf8(n).expect("hex digits are ASCII")),
            alg: self.alg.then(|| self.key.algorithm()),
            tag: self.tag.as_deref(),
        };
        self.sign_params(parts, payload, &params)
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
        let mut signer = self.inner;
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
        if let SignatureKey::HmacSha256(secret) = &signer.key {
            signer.keyed = Some(Arc::new(KeySchedule(Keyed::sha256(secret.expose_secret()))));
        }
        Ok(signer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Parts {
        http::Request::post("https://API.test:443/v1/orders?expand=items&x=%20y")
            .header("content-type", "application/json")
            .header("x-multi", " a ")
            .header("x-multi", "b")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn debug_shows_neither_the_secret_nor_the_keyed_state() {
        let signer = HttpSignatureSigner::builder(
            "key-1",
            SignatureKey::hmac_sha256(b"correct horse battery staple".to_vec()),
        )
        .build()
        .unwrap();
        assert!(signer.keyed.is_some());
        let text = format!("{signer:?}");
        // Exactly these fields: one added later (the keyed state, say)
        // makes this fail and must be looked at.
        assert_eq!(
            text,
            "HttpSignatureSigner { key_id: \"key-1\", key: SignatureKey(hmac-sha256, [redacted]), \
             label: \"sig1\", components: [Method, TargetUri], digest: Some(Sha256), \
             created: true, expires_in: None, nonce: true, alg: false, tag: None }"
        );
        assert_eq!(
            format!("{:?}", signer.keyed.as_deref().unwrap()),
            "KeySchedule([redacted])"
        );
    }

    #[test]
    fn the_keyed_mac_and_the_streamed_base_sign_like_the_built_base() {
        let key = SignatureKey::hmac_sha256(b"0123456789abcdef".to_vec());
        let components = [
            Component::Method,
            Component::TargetUri,
            Component::Authority,
            Component::Scheme,
            Component::RequestTarget,
            Component::Path,
            Component::Query,
            Component::QueryParam("x".into()),
            Component::Field(HeaderName::from_static("x-multi")),
        ];
        let signer = HttpSignatureSigner::builder("k\"1\\", key.clone())
            .components(components.clone())
            .nonce(false)
            .alg(true)
            .tag(Some("t\"g"))
            .expires_in(Some(Duration::from_secs(300)))
            .build()
            .unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut via_sign = request();
        signer
            .sign(&mut via_sign, Payload::Bytes(b"{}"), at)
            .unwrap();

        // The same signature the slow way: every text built, HMAC keyed
        // from the secret.
        let mut parts = request();
        parts.headers.insert(
            CONTENT_DIGEST,
            HeaderValue::try_from(content_digest(DigestAlgorithm::Sha256, b"{}")).unwrap(),
        );
        let mut covered = components.to_vec();
        covered.push(Component::Field(CONTENT_DIGEST));
        let params = signer.params(at, None).serialize(&covered);
        let base = signature_base(&parts, &covered, &params).unwrap();
        // The target URI as sent; the authority lower case without the
        // default port; a query parameter decoded and encoded again.
        assert!(base.starts_with(
            "\"@method\": POST\n\"@target-uri\": https://API.test:443/v1/orders?expand=items&x=%20y\n\
             \"@authority\": api.test\n\"@scheme\": https\n"
        ));
        assert!(base.contains("\n\"@query-param\";name=\"x\": %20y\n\"x-multi\": a, b\n"));
        let tag = key.sign(base.as_bytes()).unwrap();
        assert_eq!(via_sign.headers[SIGNATURE_INPUT], format!("sig1={params}"));
        assert_eq!(
            via_sign.headers[SIGNATURE],
            format!("sig1=:{}:", B64.encode(tag.as_slice()))
        );
        assert_eq!(
            via_sign.headers[CONTENT_DIGEST],
            parts.headers[CONTENT_DIGEST]
        );
        assert!(params.contains(r#";keyid="k\"1\\";alg="hmac-sha256";tag="t\"g""#));
    }
}
