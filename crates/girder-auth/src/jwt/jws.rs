//! The JWS Compact Serialization (RFC 7515 section 7.1) of a JWT:
//! `BASE64URL(header) "." BASE64URL(claims) "." BASE64URL(signature)`,
//! base64url without padding (RFC 7515 section 2).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Map, Value};

use super::Algorithm;
use super::key::{NoRandom, SigningKey};

/// A source's tokens all share one header: it is encoded once.
pub(crate) struct Compact {
    /// `BASE64URL(header) "."`.
    prefix: String,
}

impl Compact {
    /// The header `{"typ":"JWT","alg":…}`, with `"kid"` when given (the
    /// members and their order jsonwebtoken wrote).
    pub(crate) fn new(algorithm: Algorithm, kid: Option<&str>) -> Compact {
        let mut header = format!(r#"{{"typ":"JWT","alg":"{}""#, algorithm.as_str());
        if let Some(kid) = kid {
            // `Value`'s `Display` is its compact JSON, quoted and escaped.
            header.push_str(&format!(r#","kid":{}"#, Value::from(kid)));
        }
        header.push('}');
        let mut prefix = B64URL.encode(header);
        prefix.push('.');
        Compact { prefix }
    }

    /// The signed token for `claims`.
    pub(crate) fn encode(
        &self,
        claims: Map<String, Value>,
        key: &SigningKey,
    ) -> Result<String, NoRandom> {
        // `Value`'s `Display` cannot fail: its keys are strings.
        let claims = Value::Object(claims).to_string();
        // Room for the longest signature, RSA-4096's 512 bytes.
        let mut token =
            String::with_capacity(self.prefix.len() + claims.len().div_ceil(3) * 4 + 1 + 683);
        token.push_str(&self.prefix);
        B64URL.encode_string(claims, &mut token);
        // The signing input is everything so far (RFC 7515 section 5.1).
        let signature = key.sign(token.as_bytes())?;
        token.push('.');
        B64URL.encode_string(signature, &mut token);
        Ok(token)
    }
}
