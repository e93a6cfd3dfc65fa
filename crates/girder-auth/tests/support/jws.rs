//! Reads the JWTs the tests mint: a JWS compact serialisation taken apart
//! by hand (RFC 7515 section 7.1), so that no JWT library checks girder's.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// A token's parts, decoded.
#[allow(dead_code)] // each test file reads the parts it checks
pub(crate) struct Jws {
    /// The header as sent, before JSON parsing.
    pub(crate) header_text: String,
    pub(crate) header: Value,
    pub(crate) claims: Value,
    /// `BASE64URL(header) "." BASE64URL(claims)`: what was signed.
    pub(crate) signing_input: String,
    pub(crate) signature: Vec<u8>,
}

pub(crate) fn parse(token: &str) -> Jws {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "three parts: {token}");
    let decode = |part: &str| {
        // base64url without padding (RFC 7515 section 2).
        assert!(!part.contains(['=', '+', '/']), "{part}");
        URL_SAFE_NO_PAD.decode(part).unwrap()
    };
    let header_text = String::from_utf8(decode(parts[0])).unwrap();
    Jws {
        header: serde_json::from_str(&header_text).unwrap(),
        header_text,
        claims: serde_json::from_slice(&decode(parts[1])).unwrap(),
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature: decode(parts[2]),
    }
}
