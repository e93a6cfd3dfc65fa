//! [`Algorithm`], [`EncodingKey`], and the `ring` key each pair becomes.

use std::fmt;
use std::sync::Arc;

use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use ring::{error::KeyRejected, hmac};
use secrecy::{ExposeSecret, SecretSlice};

use crate::InvalidAuthConfig;

/// A JWS signing algorithm (RFC 7518 section 3, RFC 8037 for `EdDSA`):
/// the token's `alg` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(clippy::upper_case_acronyms)] // the names RFC 7518 registers
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    PS256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt.
    PS384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512 and a 64-byte salt.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// The name in the `alg` header (`"HS256"`, …, `"EdDSA"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    fn family(self) -> Family {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Family::Rsa,
            Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
            Algorithm::EdDSA => Family::Ed,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of key an algorithm signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

/// A key to sign JWTs with: an HMAC secret, or a private key as DER.
///
/// The constructors only keep the bytes (zeroed when the last clone is
/// dropped); [`JwtSourceBuilder::build`](super::JwtSourceBuilder::build)
/// parses them and refuses a malformed key, or one of the wrong kind for
/// the algorithm. `Debug` shows the kind, never the key.
///
/// # Clone
///
/// Clones share the bytes (an `Arc`).
#[derive(Clone)]
pub struct EncodingKey {
    family: Family,
    bytes: Arc<SecretSlice<u8>>,
}

impl EncodingKey {
    fn new(family: Family, bytes: Vec<u8>) -> EncodingKey {
        EncodingKey {
            family,
            bytes: Arc::new(SecretSlice::from(bytes)),
        }
    }

    /// An HMAC secret (`HS256/384/512`), as raw bytes: at least 32, 48 or
    /// 64 bytes, the hash's output size (RFC 7518 section 3.2).
    pub fn from_secret(secret: &[u8]) -> EncodingKey {
        EncodingKey::new(Family::Hmac, secret.to_vec())
    }

    /// An HMAC secret given in standard base64 (with padding).
    pub fn from_base64_secret(secret: &str) -> Result<EncodingKey, InvalidAuthConfig> {
        hmac_secret(&base64::engine::general_purpose::STANDARD, secret)
    }

    /// An HMAC secret given in base64url (with padding), as ACME's
    /// external account binding keys are.
    pub fn from_urlsafe_base64_secret(secret: &str) -> Result<EncodingKey, InvalidAuthConfig> {
        hmac_secret(&base64::engine::general_purpose::URL_SAFE, secret)
    }

    /// An RSA private key (`RS*`, `PS*`) as DER: PKCS#1 `RSAPrivateKey`
    /// (PEM's `RSA PRIVATE KEY`) or PKCS#8 `PrivateKeyInfo` with the
    /// `rsaEncryption` algorithm (PEM's `PRIVATE KEY`). The modulus must be
    /// 2048 to 4096 bits long, and the public exponent at least 65537.
    pub fn from_rsa_der(der: &[u8]) -> EncodingKey {
        EncodingKey::new(Family::Rsa, der.to_vec())
    }

    /// An ECDSA private key (`ES256`, `ES384`) as PKCS#8 DER, on the
    /// algorithm's curve (P-256, P-384). The key must carry its public key,
    /// as the ones OpenSSL writes (`openssl genpkey … | openssl pkcs8
    /// -topk8 -nocrypt -outform DER`) do.
    pub fn from_ec_der(der: &[u8]) -> EncodingKey {
        EncodingKey::new(Family::Ec, der.to_vec())
    }

    /// An Ed25519 private key (`EdDSA`) as PKCS#8 DER (RFC 8410), v1 (the
    /// seed alone, as OpenSSL writes it) or v2 (with the public key, which
    /// must match).
    pub fn from_ed_der(der: &[u8]) -> EncodingKey {
        EncodingKey::new(Family::Ed, der.to_vec())
    }
}

fn hmac_secret(
    engine: &impl base64::Engine,
    secret: &str,
) -> Result<EncodingKey, InvalidAuthConfig> {
    engine
        .decode(secret)
        .map(|bytes| EncodingKey::new(Family::Hmac, bytes))
        .map_err(|_| InvalidAuthConfig::new("the HMAC secret is not valid base64"))
}

impl fmt::Debug for EncodingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodingKey")
            .field("family", &self.family)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A key parsed by `ring`, for one algorithm.
pub(crate) enum SigningKey {
    Hmac(hmac::Key),
    Rsa(RsaKeyPair, &'static dyn sig::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A signature, as `ring` returns it.
pub(crate) enum Signature {
    Tag(hmac::Tag),
    Fixed(sig::Signature),
    Rsa(Vec<u8>),
}

impl AsRef<[u8]> for Signature {
    fn as_ref(&self) -> &[u8] {
        match self {
            Signature::Tag(tag) => tag.as_ref(),
            Signature::Fixed(signature) => signature.as_ref(),
            Signature::Rsa(bytes) => bytes,
        }
    }
}

/// The system's random source failed (RSA-PSS salts, ECDSA nonces).
#[derive(Debug)]
pub(crate) struct NoRandom;

impl SigningKey {
    /// Parses `key` for `algorithm`. The errors name the algorithm, the
    /// key's kind and `ring`'s reason, never the key's bytes.
    pub(crate) fn new(
        algorithm: Algorithm,
        key: &EncodingKey,
    ) -> Result<SigningKey, InvalidAuthConfig> {
        if key.family != algorithm.family() {
            return Err(InvalidAuthConfig::new(format!(
                "the key is not of the kind {algorithm:?} signs with"
            )));
        }
        let bytes = key.bytes.expose_secret();
        let signing = match algorithm {
            Algorithm::HS256 => hmac_key(algorithm, hmac::HMAC_SHA256, 32, bytes)?,
            Algorithm::HS384 => hmac_key(algorithm, hmac::HMAC_SHA384, 48, bytes)?,
            Algorithm::HS512 => hmac_key(algorithm, hmac::HMAC_SHA512, 64, bytes)?,
            Algorithm::RS256 => rsa_key(algorithm, &sig::RSA_PKCS1_SHA256, bytes)?,
            Algorithm::RS384 => rsa_key(algorithm, &sig::RSA_PKCS1_SHA384, bytes)?,
            Algorithm::RS512 => rsa_key(algorithm, &sig::RSA_PKCS1_SHA512, bytes)?,
            Algorithm::PS256 => rsa_key(algorithm, &sig::RSA_PSS_SHA256, bytes)?,
            Algorithm::PS384 => rsa_key(algorithm, &sig::RSA_PSS_SHA384, bytes)?,
            Algorithm::PS512 => rsa_key(algorithm, &sig::RSA_PSS_SHA512, bytes)?,
            // JWS wants the fixed-width `r || s`, not ASN.1 (RFC 7518
            // section 3.4).
            Algorithm::ES256 => ec_key(algorithm, &sig::ECDSA_P256_SHA256_FIXED_SIGNING, bytes)?,
            Algorithm::ES384 => ec_key(algorithm, &sig::ECDSA_P384_SHA384_FIXED_SIGNING, bytes)?,
            Algorithm::EdDSA => Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
                .map(SigningKey::Ed25519)
                .map_err(|e| {
                    refused(
                        algorithm,
                        "Ed25519",
                        e,
                        "expected PKCS#8 DER (RFC 8410), v1 or v2",
                    )
                })?,
        };
        Ok(signing)
    }

    /// The signature of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Signature, NoRandom> {
        match self {
            SigningKey::Hmac(key) => Ok(Signature::Tag(hmac::sign(key, message))),
            SigningKey::Rsa(key, padding) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(*padding, &SystemRandom::new(), message, &mut out)
                    .map_err(|_| NoRandom)?;
                Ok(Signature::Rsa(out))
            }
            SigningKey::Ecdsa(key) => key
                .sign(&SystemRandom::new(), message)
                .map(Signature::Fixed)
                .map_err(|_| NoRandom),
            SigningKey::Ed25519(key) => Ok(Signature::Fixed(key.sign(message))),
        }
    }
}

/// RFC 7518 section 3.2: "A key of the same size as the hash output (for
/// instance, 256 bits for "HS256") or larger MUST be used". A shorter
/// secret can be brute-forced from one token. The message names the
/// lengths, never the secret.
fn hmac_key(
    algorithm: Algorithm,
    hash: hmac::Algorithm,
    needed: usize,
    secret: &[u8],
) -> Result<SigningKey, InvalidAuthConfig> {
    let len = secret.len();
    if len == 0 {
        return Err(InvalidAuthConfig::new(format!(
            "the HMAC secret for {algorithm:?} is empty"
        )));
    }
    if len < needed {
        return Err(InvalidAuthConfig::new(format!(
            "the HMAC secret for {algorithm:?} is {len} bytes; RFC 7518 section 3.2 requires \
             at least {needed} (the hash output size)"
        )));
    }
    Ok(SigningKey::Hmac(hmac::Key::new(hash, secret)))
}

fn rsa_key(
    algorithm: Algorithm,
    padding: &'static dyn sig::RsaEncoding,
    der: &[u8],
) -> Result<SigningKey, InvalidAuthConfig> {
    // PKCS#1 first (what jsonwebtoken took), then PKCS#8. Of the two
    // reasons, the one that is not about the framing says more.
    let key = RsaKeyPair::from_der(der).or_else(|pkcs1| {
        RsaKeyPair::from_pkcs8(der).map_err(|pkcs8| {
            if pkcs1.to_string() == "InvalidEncoding" {
                pkcs8
            } else {
                pkcs1
            }
        })
    });
    key.map(|key| SigningKey::Rsa(key, padding)).map_err(|e| {
        refused(
            algorithm,
            "RSA",
            e,
            "expected PKCS#1 or PKCS#8 DER, 2048 to 4096 bits, exponent at least 65537",
        )
    })
}

fn ec_key(
    algorithm: Algorithm,
    curve: &'static sig::EcdsaSigningAlgorithm,
    der: &[u8],
) -> Result<SigningKey, InvalidAuthConfig> {
    let name = match algorithm {
        Algorithm::ES384 => "P-384",
        _ => "P-256",
    };
    EcdsaKeyPair::from_pkcs8(curve, der, &SystemRandom::new())
        .map(SigningKey::Ecdsa)
        .map_err(|e| {
            let hint = format!("expected PKCS#8 DER on {name}, with its public key");
            refused(algorithm, "ECDSA", e, &hint)
        })
}

fn refused(algorithm: Algorithm, kind: &str, e: KeyRejected, hint: &str) -> InvalidAuthConfig {
    // `KeyRejected` says why in a word ("InvalidEncoding", "TooSmall",
    // "WrongAlgorithm", …), never with the key's bytes.
    InvalidAuthConfig::new(format!(
        "the {kind} key for {algorithm:?} was refused ({e}): {hint}"
    ))
}
