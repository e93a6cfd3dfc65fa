//! Keys, algorithms and `Content-Digest` (RFC 9530).

use std::fmt;
use std::sync::Arc;

use ::hmac::{Hmac, Mac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256, Sha512};

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

/// A signing key and its algorithm.
///
/// `Debug` shows the algorithm only.
#[derive(Clone)]
pub enum SignatureKey {
    /// `hmac-sha256` with a shared secret.
    HmacSha256(Arc<SecretSlice<u8>>),
    /// `ed25519` (RFC 8032).
    Ed25519(Arc<ed25519_dalek::SigningKey>),
}

impl SignatureKey {
    /// An `hmac-sha256` key from the secret's raw bytes.
    pub fn hmac_sha256(secret: impl Into<Vec<u8>>) -> SignatureKey {
        SignatureKey::HmacSha256(Arc::new(SecretSlice::from(secret.into())))
    }

    /// An `ed25519` key from its 32-byte seed (the JWK `d`, or the last 32
    /// bytes of a PKCS#8 `PRIVATE KEY`).
    pub fn ed25519_seed(seed: [u8; 32]) -> SignatureKey {
        SignatureKey::Ed25519(Arc::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The public key of an `ed25519` key, to hand to the verifier.
    pub fn ed25519_public_key(&self) -> Option<[u8; 32]> {
        match self {
            SignatureKey::Ed25519(key) => Some(key.verifying_key().to_bytes()),
            SignatureKey::HmacSha256(_) => None,
        }
    }

    /// The algorithm's name in the RFC 9421 registry.
    pub fn algorithm(&self) -> &'static str {
        match self {
            SignatureKey::HmacSha256(_) => "hmac-sha256",
            SignatureKey::Ed25519(_) => "ed25519",
        }
    }

    /// The signature of `base` in the first bytes of the array, and its
    /// length (32 for HMAC-SHA256, 64 for Ed25519).
    pub(crate) fn sign(&self, base: &[u8]) -> ([u8; 64], usize) {
        let mut out = [0u8; 64];
        match self {
            SignatureKey::HmacSha256(secret) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret())
                    .expect("HMAC takes any key length");
                mac.update(base);
                out[..32].copy_from_slice(&mac.finalize().into_bytes());
                (out, 32)
            }
            SignatureKey::Ed25519(key) => {
                out.copy_from_slice(&key.sign(base).to_bytes());
                (out, 64)
            }
        }
    }
}

impl fmt::Debug for SignatureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureKey({}, [redacted])", self.algorithm())
    }
}
