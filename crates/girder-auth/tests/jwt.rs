//! `JwtSource` on ring: every algorithm's token verifies with ring's own
//! verifier (and with no sibling algorithm's), the header says what was
//! used, the key formats jsonwebtoken took are still taken, and a bad key
//! is refused at build time with a message that never shows it.

#![cfg(feature = "jwt")]

use std::time::{Duration, SystemTime};

use girder_auth::jwt::{Algorithm, EncodingKey, JwtSource};
use girder_auth::{CredentialSource, InvalidAuthConfig};
use girder_core::WallClock;
use girder_test::expect_ready;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use ring::{hmac, signature::UnparsedPublicKey};

#[path = "support/jws.rs"]
mod jws;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// RFC 8410's PKCS#8 v1 for an Ed25519 seed: a fixed prefix, then the seed.
fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    der
}

/// The token `source` mints now.
fn mint(source: &JwtSource) -> String {
    let credential = expect_ready(source.fetch()).unwrap();
    let mut request = http::Request::new(());
    credential.apply(&mut request);
    let value = request.headers()["authorization"].to_str().unwrap();
    value.strip_prefix("Bearer ").unwrap().to_owned()
}

fn source(algorithm: Algorithm, key: EncodingKey, kid: &str) -> JwtSource {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    JwtSource::builder(algorithm, key)
        .issuer("client-42")
        .key_id(kid)
        .clock(WallClock::starting_at(start))
        .build()
        .unwrap_or_else(|e| panic!("{algorithm}: {e}"))
}

/// How a verifier checks a signature: ring's HMAC, or one of ring's
/// public-key verification algorithms with the public key.
enum Check {
    Hmac(hmac::Algorithm, Vec<u8>),
    Public(&'static dyn sig::VerificationAlgorithm, Vec<u8>),
}

impl Check {
    fn accepts(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Check::Hmac(hash, secret) => {
                hmac::verify(&hmac::Key::new(*hash, secret), message, signature).is_ok()
            }
            Check::Public(algorithm, public) => UnparsedPublicKey::new(*algorithm, public)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

#[test]
fn every_algorithm_signs_a_token_that_ring_verifies() {
    let rng = SystemRandom::new();
    let secret = [b'k'; 64];
    let rsa_der = data("jwt-test-rsa-2048.pkcs1.der");
    let rsa_public = RsaKeyPair::from_der(&rsa_der)
        .unwrap()
        .public()
        .as_ref()
        .to_vec();
    let p256_der = data("jwt-test-ec-p256.pkcs8.der");
    let p256_public =
        EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &p256_der, &rng)
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
    let p384_der = data("jwt-test-ec-p384.pkcs8.der");
    let p384_public =
        EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, &p384_der, &rng)
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
    let ed_public = Ed25519KeyPair::from_seed_unchecked(&[3; 32])
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();

    // Every check a verifier might run on a key of each kind: a token
    // must pass its own algorithm's and fail every other one, so a
    // mix-up of hash or padding cannot pass.
    let hmacs = [
        (
            "HS256",
            Check::Hmac(hmac::HMAC_SHA256, secret[..32].to_vec()),
        ),
        (
            "HS384",
            Check::Hmac(hmac::HMAC_SHA384, secret[..48].to_vec()),
        ),
        ("HS512", Check::Hmac(hmac::HMAC_SHA512, secret.to_vec())),
    ];
    let rsa = |algorithm| Check::Public(algorithm, rsa_public.clone());
    let rsas = [
        ("RS256", rsa(&sig::RSA_PKCS1_2048_8192_SHA256)),
        ("RS384", rsa(&sig::RSA_PKCS1_2048_8192_SHA384)),
        ("RS512", rsa(&sig::RSA_PKCS1_2048_8192_SHA512)),
        ("PS256", rsa(&sig::RSA_PSS_2048_8192_SHA256)),
        ("PS384", rsa(&sig::RSA_PSS_2048_8192_SHA384)),
        ("PS512", rsa(&sig::RSA_PSS_2048_8192_SHA512)),
    ];
    let ecs = [
        (
            "ES256",
            Check::Public(&sig::ECDSA_P256_SHA256_FIXED, p256_public.clone()),
        ),
        // The DER encoding of r and s, which JWS does not use (RFC 7518
        // section 3.4), and the other hash.
        (
            "-",
            Check::Public(&sig::ECDSA_P256_SHA256_ASN1, p256_public.clone()),
        ),
        (
            "-",
            Check::Public(&sig::ECDSA_P256_SHA384_ASN1, p256_public),
        ),
        (
            "ES384",
            Check::Public(&sig::ECDSA_P384_SHA384_FIXED, p384_public.clone()),
        ),
        (
            "-",
            Check::Public(&sig::ECDSA_P384_SHA384_ASN1, p384_public.clone()),
        ),
        (
            "-",
            Check::Public(&sig::ECDSA_P384_SHA256_ASN1, p384_public),
        ),
    ];
    let eds = [("EdDSA", Check::Public(&sig::ED25519, ed_public))];

    // The algorithm, its key, the checks a verifier of that kind of key
    // could run, and the signature's length.
    type Case<'a> = (Algorithm, EncodingKey, &'a [(&'a str, Check)], usize);
    let cases: [Case<'_>; 12] = [
        (
            Algorithm::HS256,
            EncodingKey::from_secret(&secret[..32]),
            &hmacs,
            32,
        ),
        (
            Algorithm::HS384,
            EncodingKey::from_secret(&secret[..48]),
            &hmacs,
            48,
        ),
        (
            Algorithm::HS512,
            EncodingKey::from_secret(&secret),
            &hmacs,
            64,
        ),
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_der(&rsa_der),
            &rsas,
            256,
        ),
        (
            Algorithm::RS384,
            EncodingKey::from_rsa_der(&rsa_der),
            &rsas,
            256,
        ),
        (
            Algorithm::RS512,
            EncodingKey::from_rsa_der(&rsa_der),
            &rsas,
            256,
        ),
        (
            Algorithm::PS256,
            EncodingKey::from_rsa_der(&rsa_der),
            &rsas,
            256,
        ),
        (
            Algorithm::PS384,
            EncodingKey::from_rsa_der(&rsa_der),
            &rsas,
            256,
        ),
        (
            Algorithm::PS512,
            EncodingKey::from_rsa_der(&rsa_der),
            &rsas,
            256,
        ),
        (
            Algorithm::ES256,
            EncodingKey::from_ec_der(&p256_der),
            &ecs,
            64,
        ),
        (
            Algorithm::ES384,
            EncodingKey::from_ec_der(&p384_der),
            &ecs,
            96,
        ),
        (
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(&ed25519_pkcs8([3; 32])),
            &eds,
            64,
        ),
    ];
    for (algorithm, key, checks, signature_len) in cases {
        let name = algorithm.as_str();
        let kid = format!("key-{name}");
        let token = mint(&source(algorithm, key, &kid));
        let jwt = jws::parse(&token);
        assert_eq!(
            jwt.header_text,
            format!(r#"{{"typ":"JWT","alg":"{name}","kid":"{kid}"}}"#)
        );
        assert_eq!(jwt.header["alg"], name);
        assert_eq!(jwt.header["typ"], "JWT");
        assert_eq!(jwt.header["kid"], kid.as_str());
        assert_eq!(jwt.claims["iss"], "client-42");
        assert_eq!(jwt.claims["iat"], 1_700_000_000);
        assert_eq!(jwt.claims["exp"], 1_700_000_600);
        assert_eq!(jwt.signature.len(), signature_len, "{name}");

        let message = jwt.signing_input.as_bytes();
        let passed: Vec<&str> = checks
            .iter()
            .filter(|(_, check)| check.accepts(message, &jwt.signature))
            .map(|(label, _)| *label)
            .collect();
        assert_eq!(passed, [name], "{name}: only its own verifier accepts it");

        // A token with other claims does not carry this signature.
        let forged = [message, b"x"].concat();
        assert!(
            checks
                .iter()
                .all(|(_, c)| !c.accepts(&forged, &jwt.signature)),
            "{name}"
        );
    }
}

/// RSASSA-PKCS1-v1_5 is deterministic: the same key as PKCS#1 (what
/// jsonwebtoken took) and as PKCS#8 signs the same token.
#[test]
fn rsa_keys_load_from_pkcs1_and_pkcs8() {
    let pkcs1 = source(
        Algorithm::RS256,
        EncodingKey::from_rsa_der(&data("jwt-test-rsa-2048.pkcs1.der")),
        "k",
    );
    let pkcs8 = source(
        Algorithm::RS256,
        EncodingKey::from_rsa_der(&data("jwt-test-rsa-2048.pkcs8.der")),
        "k",
    );
    assert_eq!(mint(&pkcs1), mint(&pkcs8));
}

#[test]
fn a_kid_is_escaped_as_json() {
    let kid = r#"a "quoted" \ kid"#;
    let token = mint(&source(
        Algorithm::HS256,
        EncodingKey::from_secret(&[1; 32]),
        kid,
    ));
    assert_eq!(jws::parse(&token).header["kid"], kid);
}

#[test]
fn base64_secrets_decode_or_are_refused() {
    let key = EncodingKey::from_base64_secret(&"QUJD".repeat(11)).unwrap();
    let token = mint(&source(Algorithm::HS256, key, "k"));
    let jwt = jws::parse(&token);
    let check = Check::Hmac(hmac::HMAC_SHA256, b"ABC".repeat(11));
    assert!(check.accepts(jwt.signing_input.as_bytes(), &jwt.signature));

    let url_safe = EncodingKey::from_urlsafe_base64_secret(&"_-_-".repeat(11)).unwrap();
    let token = mint(&source(Algorithm::HS256, url_safe, "k"));
    let jwt = jws::parse(&token);
    let check = Check::Hmac(hmac::HMAC_SHA256, [0xff, 0xef, 0xfe].repeat(11));
    assert!(check.accepts(jwt.signing_input.as_bytes(), &jwt.signature));

    let error = EncodingKey::from_base64_secret("not base64!").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid auth configuration: the HMAC secret is not valid base64"
    );
}

/// A key that ring refuses is refused when the source is built, with the
/// algorithm, the key's kind and ring's reason; never with the key.
#[test]
fn bad_keys_are_refused_at_build_without_showing_them() {
    let build = |algorithm, key: EncodingKey| -> InvalidAuthConfig {
        JwtSource::builder(algorithm, key).build().unwrap_err()
    };
    let rsa_1024 = data("jwt-test-rsa-1024.pkcs1.der");
    let p256 = data("jwt-test-ec-p256.pkcs8.der");
    let garbage = b"\x30\x82\x01\x00 SECRET-KEY-MATERIAL".to_vec();
    let cases: [(Algorithm, EncodingKey, &[u8], &str); 7] = [
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_der(&garbage),
            &garbage,
            "InvalidEncoding",
        ),
        // The rsa crate signed with it; ring wants 2048 bits at least.
        (
            Algorithm::PS256,
            EncodingKey::from_rsa_der(&rsa_1024),
            &rsa_1024,
            "TooSmall",
        ),
        (
            Algorithm::ES256,
            EncodingKey::from_ec_der(&garbage),
            &garbage,
            "InvalidEncoding",
        ),
        // A P-256 key for ES384.
        (
            Algorithm::ES384,
            EncodingKey::from_ec_der(&p256),
            &p256,
            "WrongAlgorithm",
        ),
        // An RSA key given as an EC one: refused by ring, not by a panic.
        (
            Algorithm::ES256,
            EncodingKey::from_ec_der(&rsa_1024),
            &rsa_1024,
            "refused",
        ),
        (
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(&garbage),
            &garbage,
            "InvalidEncoding",
        ),
        (
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(&p256),
            &p256,
            "WrongAlgorithm",
        ),
    ];
    for (algorithm, key, bytes, reason) in cases {
        let debug = format!("{key:?}");
        let error = build(algorithm, key).to_string();
        assert!(error.contains(algorithm.as_str()), "{error}");
        assert!(error.contains(reason), "{algorithm}: {error}");
        for shown in [&error, &debug] {
            assert!(!shown.contains("SECRET"), "{shown}");
            // No run of the key's bytes, in hex or base64.
            let hex: String = bytes[8..20].iter().map(|b| format!("{b:02x}")).collect();
            assert!(!shown.to_lowercase().contains(&hex), "{shown}");
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes[8..20]);
            assert!(!shown.contains(&b64), "{shown}");
        }
    }
}
