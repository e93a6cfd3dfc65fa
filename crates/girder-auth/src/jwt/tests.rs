//! Known answers: the signatures of RFC 7515's and RFC 8037's examples,
//! byte for byte, for the deterministic algorithms (HMAC, RSASSA-PKCS1-v1_5,
//! Ed25519). They pin the hash and padding of each algorithm against a
//! source other than ring.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

use super::key::SigningKey;
use super::{Algorithm, EncodingKey};

/// `{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}`,
/// the payload of RFC 7515's examples.
const PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

fn signature(algorithm: Algorithm, key: EncodingKey, signing_input: &str) -> String {
    let key = SigningKey::new(algorithm, &key).unwrap();
    B64URL.encode(key.sign(signing_input.as_bytes()).unwrap())
}

#[test]
fn rfc_7515_a1_hs256() {
    let key = B64URL
        .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
        .unwrap();
    // `{"typ":"JWT",\r\n "alg":"HS256"}`
    let input = format!("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.{PAYLOAD}");
    assert_eq!(
        signature(Algorithm::HS256, EncodingKey::from_secret(&key), &input),
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
}

#[test]
fn rfc_7515_a2_rs256() {
    // The RFC's key (a JWK there), as PKCS#1 DER.
    let der = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rfc7515-a2-rsa.pkcs1.der"
    ))
    .unwrap();
    // `{"alg":"RS256"}`
    let input = format!("eyJhbGciOiJSUzI1NiJ9.{PAYLOAD}");
    assert_eq!(
        signature(Algorithm::RS256, EncodingKey::from_rsa_der(&der), &input),
        "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
    );
}

#[test]
fn rfc_8037_a4_eddsa() {
    let seed = B64URL
        .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .unwrap();
    // RFC 8410's PKCS#8 v1 prefix, then the seed.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    // `{"alg":"EdDSA"}` and "Example of Ed25519 signing".
    let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    assert_eq!(
        signature(Algorithm::EdDSA, EncodingKey::from_ed_der(&der), input),
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    );
}

#[test]
fn the_header_is_the_one_jsonwebtoken_wrote() {
    let compact = super::jws::Compact::new(Algorithm::HS256, Some("k1"));
    let key = SigningKey::new(Algorithm::HS256, &EncodingKey::from_secret(&[1; 32])).unwrap();
    let token = compact.encode(serde_json::Map::new(), &key).unwrap();
    let header = token.split('.').next().unwrap();
    assert_eq!(
        B64URL.decode(header).unwrap(),
        br#"{"typ":"JWT","alg":"HS256","kid":"k1"}"#
    );
    assert_eq!(token.split('.').nth(1), Some("e30"), "the empty claims set");
}
