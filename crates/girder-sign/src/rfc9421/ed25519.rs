//! Ed25519 keys for `ed25519` (RFC 9421 §3.3.6, RFC 8032), on `ring`.

use std::fmt;
use std::sync::Arc;

use ring::signature::{Ed25519KeyPair, KeyPair as _};

/// An Ed25519 private key (RFC 8032).
///
/// `Debug` shows no key bytes.
///
/// # Clone
///
/// Clones share the key (an `Arc`).
///
/// # What it keeps in memory
///
/// `ring`'s key pair: the expanded private key and the public key. `ring`
/// does not overwrite them when the last clone is dropped.
#[derive(Clone)]
pub struct Ed25519Key(Arc<Ed25519KeyPair>);

impl Ed25519Key {
    /// A key from its 32-byte seed (the JWK `d`, or the last 32 bytes of
    /// a PKCS#8 `PRIVATE KEY`). Every seed is a valid key.
    pub fn from_seed(seed: [u8; 32]) -> Ed25519Key {
        // `from_seed_unchecked` refuses only a seed of another length,
        // which the type rules out; there is no public key to check
        // against.
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("a seed of 32 bytes");
        Ed25519Key(Arc::new(pair))
    }

    /// The public key, to hand to the verifier.
    pub fn public_key(&self) -> [u8; 32] {
        let mut public = [0u8; 32];
        public.copy_from_slice(self.0.public_key().as_ref());
        public
    }

    /// The 64-byte signature of `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut signature = [0u8; 64];
        signature.copy_from_slice(self.0.sign(message).as_ref());
        signature
    }
}

impl fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519Key([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 section 7.1, TEST 1: the empty message.
    #[test]
    fn rfc_8032_test_1() {
        let hex = |text: &str| -> Vec<u8> {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
                .collect()
        };
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let key = Ed25519Key::from_seed(seed.try_into().unwrap());
        assert_eq!(
            key.public_key().to_vec(),
            hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        assert_eq!(
            key.sign(b"").to_vec(),
            hex(concat!(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
                "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            ))
        );
        assert_eq!(format!("{key:?}"), "Ed25519Key([redacted])");
    }
}
