//! The HMAC key schedule every scheme signs from: the hash states after
//! the key XOR `ipad` and after the key XOR `opad`, derived once from a
//! secret. The HMAC schemes, RFC 9421's `hmac-sha256` and SigV4's day key
//! each start every signature from a copy of one, which saves hashing two
//! blocks per request.

use std::fmt;

use ::hmac::{Hmac, Mac};
use sha2::Sha256;
#[cfg(feature = "hmac")]
use sha2::Sha512;

/// The key schedule of a signer, run once from the secret; see
/// `HmacSigner`'s "What it keeps in memory". Overwritten when dropped.
pub(crate) struct KeySchedule(pub(crate) Keyed);

/// A keyed HMAC state: the signer's, or a per-call copy of it.
#[derive(Clone)]
pub(crate) enum Keyed {
    Sha256(Hmac<Sha256>),
    // Only the configurable HMAC schemes offer SHA-512.
    #[cfg(feature = "hmac")]
    Sha512(Hmac<Sha512>),
}

impl Keyed {
    pub(crate) fn sha256(secret: &[u8]) -> Keyed {
        Keyed::Sha256(Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length"))
    }

    #[cfg(feature = "hmac")]
    pub(crate) fn sha512(secret: &[u8]) -> Keyed {
        Keyed::Sha512(Hmac::<Sha512>::new_from_slice(secret).expect("HMAC takes any key length"))
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Keyed::Sha256(mac) => mac.update(bytes),
            #[cfg(feature = "hmac")]
            Keyed::Sha512(mac) => mac.update(bytes),
        }
    }

    /// The tag, in the first 32 (SHA-256) or 64 (SHA-512) bytes of the
    /// array, and its length.
    pub(crate) fn finalize(self) -> ([u8; 64], usize) {
        let mut out = [0u8; 64];
        let len = match self {
            Keyed::Sha256(mac) => copy_tag(&mac.finalize().into_bytes(), &mut out),
            #[cfg(feature = "hmac")]
            Keyed::Sha512(mac) => copy_tag(&mac.finalize().into_bytes(), &mut out),
        };
        (out, len)
    }
}

impl crate::encode::Sink for Keyed {
    fn put(&mut self, text: &str) {
        self.update(text.as_bytes());
    }
}

/// Never shows the keyed state: it signs like the secret.
impl fmt::Debug for KeySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySchedule([redacted])")
    }
}

fn copy_tag(tag: &[u8], out: &mut [u8; 64]) -> usize {
    out[..tag.len()].copy_from_slice(tag);
    tag.len()
}

impl Drop for KeySchedule {
    fn drop(&mut self) {
        // Overwrite the key schedule with one derived from no secret;
        // `black_box` keeps the write from being optimised away as dead.
        self.0 = match self.0 {
            Keyed::Sha256(_) => Keyed::sha256(&[]),
            #[cfg(feature = "hmac")]
            Keyed::Sha512(_) => Keyed::sha512(&[]),
        };
        std::hint::black_box(&self.0);
    }
}
