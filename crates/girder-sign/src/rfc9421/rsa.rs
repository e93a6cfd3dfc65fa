//! RSA-PSS keys for `rsa-pss-sha512` (RFC 9421 §3.3.1), on `ring`.
//!
//! `ring`'s RSA is constant-time and is already in the graph through
//! rustls. The `rsa` crate is not used: it has an unfixed timing
//! side channel (RUSTSEC-2023-0071, "Marvin").

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{RSA_PSS_2048_8192_SHA512, RSA_PSS_SHA512, RsaKeyPair, UnparsedPublicKey};
use secrecy::{ExposeSecret, SecretSlice};

use crate::error::InvalidSigningConfig;

/// `rsaEncryption` (1.2.840.113549.1.1.1), the usual PKCS#8 / SPKI OID.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// `id-RSASSA-PSS` (1.2.840.113549.1.1.10): a key restricted to PSS, as
/// RFC 9421's `test-key-rsa-pss` is.
const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;

/// An RSA private key that signs with RSASSA-PSS, SHA-512, MGF1-SHA-512
/// and a 64-byte salt (`rsa-pss-sha512`). 2048 to 4096 bits.
///
/// `Debug` shows the modulus size only.
///
/// # Clone
///
/// Clones share the key (an `Arc`).
#[derive(Clone)]
pub struct RsaPssKey(Arc<RsaKeyPair>);

impl RsaPssKey {
    /// A key from PKCS#8 DER (`PRIVATE KEY`, with the `rsaEncryption` or
    /// the `id-RSASSA-PSS` algorithm) or PKCS#1 DER (`RSA PRIVATE KEY`).
    pub fn from_der(der: &[u8]) -> Result<RsaPssKey, InvalidSigningConfig> {
        let rejected =
            || InvalidSigningConfig::new("key", "is not an RSA private key ring accepts");
        let pkcs1 = match pkcs8_private_key(der) {
            Some(inner) => inner,
            None => der,
        };
        RsaKeyPair::from_der(pkcs1)
            .map(|key| RsaPssKey(Arc::new(key)))
            .map_err(|_| rejected())
    }

    /// A key from PEM: `-----BEGIN PRIVATE KEY-----` (PKCS#8) or
    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<RsaPssKey, InvalidSigningConfig> {
        let der = pem_body(pem, &["PRIVATE KEY", "RSA PRIVATE KEY"])
            .ok_or(InvalidSigningConfig::new("key", "is not a PEM private key"))?;
        // The decoded key is zeroed when dropped.
        let der = SecretSlice::from(der);
        RsaPssKey::from_der(der.expose_secret())
    }

    /// The public key, to hand to the verifier.
    pub fn public_key(&self) -> RsaPssPublicKey {
        RsaPssPublicKey(self.0.public().as_ref().into())
    }

    /// The signature of `message` (as long as the modulus), or `None` if
    /// the system's random source failed.
    pub(crate) fn sign(&self, message: &[u8]) -> Option<Vec<u8>> {
        let rng = ring::rand::SystemRandom::new();
        let mut signature = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(&RSA_PSS_SHA512, &rng, message, &mut signature)
            .ok()?;
        Some(signature)
    }
}

impl fmt::Debug for RsaPssKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RsaPssKey({} bits, [redacted])",
            self.0.public().modulus_len() * 8
        )
    }
}

/// An RSA public key that verifies `rsa-pss-sha512` signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPssPublicKey(Box<[u8]>);

impl RsaPssPublicKey {
    /// A key from DER: `SubjectPublicKeyInfo` (`PUBLIC KEY`) or PKCS#1
    /// `RSAPublicKey` (`RSA PUBLIC KEY`).
    pub fn from_der(der: &[u8]) -> Result<RsaPssPublicKey, InvalidSigningConfig> {
        let bad = InvalidSigningConfig::new("public key", "is not an RSA public key");
        let (tag, body, rest) = tlv(der).ok_or(bad.clone())?;
        if tag != SEQUENCE || !rest.is_empty() {
            return Err(bad);
        }
        let (first, _, _) = tlv(body).ok_or(bad.clone())?;
        if first == INTEGER {
            return Ok(RsaPssPublicKey(der.into()));
        }
        spki_public_key(body)
            .map(|key| RsaPssPublicKey(key.into()))
            .ok_or(bad)
    }

    /// A key from PEM: `-----BEGIN PUBLIC KEY-----` or
    /// `-----BEGIN RSA PUBLIC KEY-----`.
    pub fn from_pem(pem: &str) -> Result<RsaPssPublicKey, InvalidSigningConfig> {
        let der = pem_body(pem, &["PUBLIC KEY", "RSA PUBLIC KEY"]).ok_or(
            InvalidSigningConfig::new("public key", "is not a PEM public key"),
        )?;
        RsaPssPublicKey::from_der(&der)
    }

    /// Whether `signature` is a valid `rsa-pss-sha512` signature of
    /// `message` (a signature base) under this key (2048 to 8192 bits).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA512, &self.0)
            .verify(message, signature)
            .is_ok()
    }

    /// The key as PKCS#1 `RSAPublicKey` DER.
    pub fn as_pkcs1_der(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for RsaPssPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaPssPublicKey(..)")
    }
}

/// One DER element: its tag, its contents and what follows it. `None`
/// for a truncated or over-long element (never a panic on bad input).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    let (value, rest) = rest.split_at_checked(len)?;
    Some((tag, value, rest))
}

/// The `AlgorithmIdentifier`'s OID is one of RSA's.
fn rsa_algorithm(algorithm: &[u8]) -> bool {
    matches!(tlv(algorithm), Some((OID, oid, _)) if oid == RSA_ENCRYPTION || oid == RSASSA_PSS)
}

/// The PKCS#1 key inside a PKCS#8 `PrivateKeyInfo` with an RSA algorithm,
/// or `None` when `der` is not one.
fn pkcs8_private_key(der: &[u8]) -> Option<&[u8]> {
    let (SEQUENCE, body, []) = tlv(der)? else {
        return None;
    };
    let (INTEGER, _version, rest) = tlv(body)? else {
        return None;
    };
    let (SEQUENCE, algorithm, rest) = tlv(rest)? else {
        return None;
    };
    if !rsa_algorithm(algorithm) {
        return None;
    }
    let (OCTET_STRING, key, _attributes) = tlv(rest)? else {
        return None;
    };
    Some(key)
}

/// The PKCS#1 key inside a `SubjectPublicKeyInfo`'s contents.
fn spki_public_key(body: &[u8]) -> Option<&[u8]> {
    let (SEQUENCE, algorithm, rest) = tlv(body)? else {
        return None;
    };
    if !rsa_algorithm(algorithm) {
        return None;
    }
    let (BIT_STRING, bits, []) = tlv(rest)? else {
        return None;
    };
    // No unused bits in a DER-encoded key.
    bits.strip_prefix(&[0])
}

/// The bytes of the first PEM block labelled with one of `labels`.
fn pem_body(pem: &str, labels: &[&str]) -> Option<Vec<u8>> {
    for label in labels {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let Some(start) = pem.find(&begin) else {
            continue;
        };
        let body = &pem[start + begin.len()..];
        let stop = body.find(&end)?;
        let text: String = body[..stop]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        return B64.decode(text).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for der in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x03, 0x02, 0x01],
            &[0x30, 0x02, 0x02, 0x00],
        ] {
            assert!(RsaPssKey::from_der(der).is_err(), "{der:?}");
            // Only checked for not panicking: a bare SEQUENCE of an INTEGER
            // reads as PKCS#1 and then verifies nothing.
            let _ = RsaPssPublicKey::from_der(der);
        }
        assert!(
            RsaPssKey::from_pem("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----")
                .is_err()
        );
        assert!(RsaPssPublicKey::from_pem("no pem here").is_err());
    }
}
