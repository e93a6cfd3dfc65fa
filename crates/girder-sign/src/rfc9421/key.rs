//! Keys, algorithms and `Content-Digest` (RFC 9530).

use std::fmt;
use std::sync::Arc;

use ::hmac::{Hmac, Mac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use girder_core::{SigningError, SigningErrorKind};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256, Sha512};

use super::ed25519::Ed25519Key;
use super::rsa::RsaPssKey;
use crate::error::InvalidSigningConfig;

/// The hash of `Content-Digest` (RFC 9530).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `sha-256`.
    Sha256,
    /// `sha-512`.
    Sha512,
}

/// The `Content-Digest` field value of `body` with `algorithm`
/// (`sha-256=:…:`).
pub fn content_digest(algorithm: DigestAlgorithm, body: &[u8]) -> String {
    let mut buf = [0u8; DIGEST_VALUE_MAX];
    let text = content_digest_into(algorithm, body, &mut buf);
    std::str::from_utf8(text)
        .expect("base64 is ASCII")
        .to_owned()
}

/// The longest `Content-Digest` value: `sha-512=:`, 88 base64
/// characters, `:`.
pub(crate) const DIGEST_VALUE_MAX: usize = 98;

/// [`content_digest`] into the start of `out`, on the stack.
pub(crate) fn content_digest_into<'a>(
    algorithm: DigestAlgorithm,
    body: &[u8],
    out: &'a mut [u8; DIGEST_VALUE_MAX],
) -> &'a [u8] {
    let mut hash = [0u8; 64];
    let (prefix, len): (&[u8], usize) = match algorithm {
        DigestAlgorithm::Sha256 => {
            hash[..32].copy_from_slice(&Sha256::digest(body));
            (b"sha-256=:", 32)
        }
        DigestAlgorithm::Sha512 => {
            hash.copy_from_slice(&Sha512::digest(body));
            (b"sha-512=:", 64)
        }
    };
    out[..prefix.len()].copy_from_slice(prefix);
    let n = B64
        .encode_slice(&hash[..len], &mut out[prefix.len()..])
        .expect("sized for SHA-512");
    let end = prefix.len() + n;
    out[end] = b':';
    &out[..=end]
}

/// Checks the `Content-Digest` in `headers` (if any) against `body`:
/// when a member with a known algorithm (`sha-256`, `sha-512`) does not
/// match, the field is replaced by the correct digests of the known
/// algorithms it named. Members of other algorithms cannot be checked and
/// go with it. A field naming no known algorithm is left as it is; one
/// that is not text is dropped (it cannot be vouched for).
pub(crate) fn refresh_content_digest(headers: &mut http::HeaderMap, body: &[u8]) {
    let mut named: [Option<DigestAlgorithm>; 2] = [None, None];
    let mut stale = false;
    for value in headers.get_all(super::CONTENT_DIGEST) {
        let Ok(text) = value.to_str() else {
            stale = true;
            continue;
        };
        for member in text.split(',') {
            let member = member.trim();
            let algorithm = match member.split_once('=').map(|(k, _)| k.trim()) {
                Some("sha-256") => DigestAlgorithm::Sha256,
                Some("sha-512") => DigestAlgorithm::Sha512,
                _ => continue,
            };
            let slot = usize::from(algorithm == DigestAlgorithm::Sha512);
            named[slot] = Some(algorithm);
            let mut buf = [0u8; DIGEST_VALUE_MAX];
            if content_digest_into(algorithm, body, &mut buf) != member.as_bytes() {
                stale = true;
            }
        }
    }
    if !stale {
        return;
    }
    let mut fresh = String::new();
    for algorithm in named.into_iter().flatten() {
        if !fresh.is_empty() {
            fresh.push_str(", ");
        }
        fresh.push_str(&content_digest(algorithm, body));
    }
    if fresh.is_empty() {
        // Nothing known to recompute (an unreadable field): drop it
        // rather than send a digest that cannot be vouched for.
        headers.remove(super::CONTENT_DIGEST);
        return;
    }
    if let Ok(value) = http::HeaderValue::try_from(fresh) {
        headers.insert(super::CONTENT_DIGEST, value);
    }
}

/// A signing key and its algorithm.
///
/// `Debug` shows the algorithm only.
#[derive(Clone)]
#[non_exhaustive]
pub enum SignatureKey {
    /// `hmac-sha256` with a shared secret.
    HmacSha256(Arc<SecretSlice<u8>>),
    /// `ed25519` (RFC 8032).
    Ed25519(Ed25519Key),
    /// `rsa-pss-sha512` (RFC 9421 §3.3.1): RSASSA-PSS with SHA-512,
    /// MGF1-SHA-512 and a 64-byte salt. Randomised: each signature differs.
    RsaPssSha512(RsaPssKey),
}

/// A signature: short ones (HMAC, Ed25519) on the stack, RSA's on the heap.
pub(crate) enum SignatureBytes {
    Short([u8; 64], usize),
    Long(Vec<u8>),
}

impl SignatureBytes {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            SignatureBytes::Short(bytes, len) => &bytes[..*len],
            SignatureBytes::Long(bytes) => bytes,
        }
    }
}

impl SignatureKey {
    /// An `hmac-sha256` key from the secret's raw bytes.
    pub fn hmac_sha256(secret: impl Into<Vec<u8>>) -> SignatureKey {
        SignatureKey::HmacSha256(Arc::new(SecretSlice::from(secret.into())))
    }

    /// An `ed25519` key from its 32-byte seed (the JWK `d`, or the last 32
    /// bytes of a PKCS#8 `PRIVATE KEY`).
    pub fn ed25519_seed(seed: [u8; 32]) -> SignatureKey {
        SignatureKey::Ed25519(Ed25519Key::from_seed(seed))
    }

    /// An `rsa-pss-sha512` key from DER: PKCS#8 (`rsaEncryption` or
    /// `id-RSASSA-PSS`) or PKCS#1. See [`RsaPssKey::from_der`].
    pub fn rsa_pss_sha512_der(der: &[u8]) -> Result<SignatureKey, InvalidSigningConfig> {
        RsaPssKey::from_der(der).map(SignatureKey::RsaPssSha512)
    }

    /// An `rsa-pss-sha512` key from PEM (`PRIVATE KEY` or
    /// `RSA PRIVATE KEY`). See [`RsaPssKey::from_pem`].
    pub fn rsa_pss_sha512_pem(pem: &str) -> Result<SignatureKey, InvalidSigningConfig> {
        RsaPssKey::from_pem(pem).map(SignatureKey::RsaPssSha512)
    }

    /// The public key of an `ed25519` key, to hand to the verifier.
    pub fn ed25519_public_key(&self) -> Option<[u8; 32]> {
        match self {
            SignatureKey::Ed25519(key) => Some(key.public_key()),
            SignatureKey::HmacSha256(_) | SignatureKey::RsaPssSha512(_) => None,
        }
    }

    /// The algorithm's name in the RFC 9421 registry.
    pub fn algorithm(&self) -> &'static str {
        match self {
            SignatureKey::HmacSha256(_) => "hmac-sha256",
            SignatureKey::Ed25519(_) => "ed25519",
            SignatureKey::RsaPssSha512(_) => "rsa-pss-sha512",
        }
    }

    /// The signature of `base`: 32 bytes for HMAC-SHA256, 64 for
    /// Ed25519, the modulus's length for RSA-PSS. Fails only when the
    /// system's random source (RSA-PSS's salt) fails.
    pub(crate) fn sign(&self, base: &[u8]) -> Result<SignatureBytes, SigningError> {
        let mut out = [0u8; 64];
        match self {
            SignatureKey::HmacSha256(secret) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret())
                    .expect("HMAC takes any key length");
                mac.update(base);
                out[..32].copy_from_slice(&mac.finalize().into_bytes());
                Ok(SignatureBytes::Short(out, 32))
            }
            SignatureKey::Ed25519(key) => {
                out.copy_from_slice(&key.sign(base));
                Ok(SignatureBytes::Short(out, 64))
            }
            SignatureKey::RsaPssSha512(key) => {
                key.sign(base).map(SignatureBytes::Long).ok_or_else(|| {
                    SigningError::new(SigningErrorKind::Key, super::SCHEME)
                        .with_detail("no random source for the RSA-PSS salt")
                })
            }
        }
    }
}

impl fmt::Debug for SignatureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureKey({}, [redacted])", self.algorithm())
    }
}
