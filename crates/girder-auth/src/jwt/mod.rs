//! JSON Web Tokens the client signs itself (feature `jwt`, on by
//! default): [`JwtSource`], its [`Algorithm`]s and [`EncodingKey`]s.
//!
//! ```
//! use girder_auth::jwt::{Algorithm, EncodingKey, JwtSource};
//!
//! # let der = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/jwt-test-ec-p256.pkcs8.der")).unwrap();
//! // `der`: a P-256 private key, PKCS#8 DER.
//! let source = JwtSource::builder(Algorithm::ES256, EncodingKey::from_ec_der(&der))
//!     .issuer("service-account@example.test")
//!     .audience("https://idp.example.test/token")
//!     .key_id("2024-01")
//!     .build()?;
//! # Ok::<_, girder_auth::InvalidAuthConfig>(())
//! ```
//!
//! | algorithms | key | formats |
//! | --- | --- | --- |
//! | `HS256`, `HS384`, `HS512` | [`EncodingKey::from_secret`] | raw bytes, at least the hash's output size |
//! | `RS256/384/512`, `PS256/384/512` | [`EncodingKey::from_rsa_der`] | PKCS#1 or PKCS#8 DER, 2048 to 4096 bits |
//! | `ES256`, `ES384` | [`EncodingKey::from_ec_der`] | PKCS#8 DER with the public key |
//! | `EdDSA` (Ed25519) | [`EncodingKey::from_ed_der`] | PKCS#8 DER, v1 or v2 |
//!
//! Signing runs on `ring`, the constant-time cryptography rustls uses, so
//! the feature adds no crate to a client that speaks TLS with rustls and
//! ring. The token is written here (RFC 7515's compact serialisation is
//! three base64url parts and two dots).
//!
//! # Differences from `jsonwebtoken`
//!
//! Earlier builds of girder-auth took `jsonwebtoken`'s `Algorithm` and
//! `EncodingKey` (version 11, over RustCrypto), which brought the `rsa`
//! crate: its private-key operations leak timing (RUSTSEC-2023-0071,
//! unfixed). These types replace them with the same names, variants and
//! constructors; only the import changes. The key formats taken then are
//! still taken, with three differences, all `ring`'s: an RSA key must have
//! 2048 to 4096 bits and an exponent of at least 65537; an ECDSA key must
//! carry its public key (OpenSSL's do); and an RSA key may also come as
//! PKCS#8. Keys are parsed once, when the source is built, rather than at
//! every signature.

mod jws;
mod key;
mod source;
#[cfg(test)]
mod tests;

pub use key::{Algorithm, EncodingKey};
pub use source::{JwtSource, JwtSourceBuilder};
