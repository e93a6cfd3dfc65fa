//! Sources of one fixed credential: [`BearerToken`], [`ApiKey`], [`BasicAuth`].

use std::fmt;

use base64::Engine;
use http::HeaderName;
use http::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};

use super::{CredentialSource, FetchFuture};
use crate::{Credential, InvalidAuthConfig};

macro_rules! fixed_source {
    ($name:ident) => {
        impl CredentialSource for $name {
            fn fetch(&self) -> FetchFuture {
                let credential = self.credential.clone();
                Box::pin(std::future::ready(Ok(credential)))
            }

            fn refreshable(&self) -> bool {
                false
            }
        }
    };
}

/// A fixed bearer token: `Authorization: Bearer <token>` on every request.
///
/// ```
/// use girder_auth::BearerToken;
///
/// let source = BearerToken::new("tok-123".into())?;
/// assert_eq!(format!("{source:?}"), "BearerToken(<redacted>)");
/// # Ok::<_, girder_auth::InvalidAuthConfig>(())
/// ```
#[derive(Clone)]
pub struct BearerToken {
    credential: Credential,
}

impl BearerToken {
    /// A source of `token`; fails when the token cannot be a header value.
    pub fn new(token: SecretString) -> Result<Self, InvalidAuthConfig> {
        if token.expose_secret().is_empty() {
            return Err(InvalidAuthConfig::new("the bearer token is empty"));
        }
        Ok(BearerToken {
            credential: Credential::bearer(token.expose_secret())?,
        })
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

fixed_source!(BearerToken);

/// A fixed API key, in a header field (`X-API-Key: <key>`) or a query
/// parameter (`?api_key=<key>`).
///
/// ```
/// use girder_auth::ApiKey;
///
/// let in_header = ApiKey::header("x-api-key", "k-1".into())?;
/// let in_query = ApiKey::query("api_key", "k-1".into())?;
/// assert!(!format!("{in_header:?}{in_query:?}").contains("k-1"));
/// # Ok::<_, girder_auth::InvalidAuthConfig>(())
/// ```
#[derive(Clone)]
pub struct ApiKey {
    credential: Credential,
    place: &'static str,
}

impl ApiKey {
    /// The key in the header field `name`.
    pub fn header(name: &str, key: SecretString) -> Result<Self, InvalidAuthConfig> {
        let name = HeaderName::try_from(name)
            .map_err(|_| InvalidAuthConfig::new(format!("{name:?} is not a header name")))?;
        if key.expose_secret().is_empty() {
            return Err(InvalidAuthConfig::new("the API key is empty"));
        }
        Ok(ApiKey {
            credential: Credential::new().header_secret(name, key.expose_secret())?,
            place: "header",
        })
    }

    /// The key in the query parameter `name`, appended to every request's
    /// URI. Keys in URIs end up in server and proxy logs; prefer a header
    /// where the API allows it.
    pub fn query(name: &str, key: SecretString) -> Result<Self, InvalidAuthConfig> {
        if name.is_empty() {
            return Err(InvalidAuthConfig::new("the query parameter name is empty"));
        }
        if key.expose_secret().is_empty() {
            return Err(InvalidAuthConfig::new("the API key is empty"));
        }
        Ok(ApiKey {
            credential: Credential::new().query_secret(name, key.expose_secret()),
            place: "query",
        })
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("in", &self.place)
            .field("key", &"<redacted>")
            .finish()
    }
}

fixed_source!(ApiKey);

/// HTTP Basic authentication (RFC 7617): `Authorization: Basic
/// base64(user:password)`, the text in UTF-8.
///
/// ```
/// use girder_auth::BasicAuth;
///
/// let source = BasicAuth::new("aladdin", "open sesame".into())?;
/// assert!(!format!("{source:?}").contains("sesame"));
/// # Ok::<_, girder_auth::InvalidAuthConfig>(())
/// ```
#[derive(Clone)]
pub struct BasicAuth {
    credential: Credential,
    user: String,
}

impl BasicAuth {
    /// `user` and `password`; a user name with a `:` is refused (RFC 7617
    /// section 2).
    pub fn new(user: &str, password: SecretString) -> Result<Self, InvalidAuthConfig> {
        if user.contains(':') {
            return Err(InvalidAuthConfig::new(
                "a Basic user name cannot contain ':'",
            ));
        }
        let value = basic_value(user, password.expose_secret());
        // The header's base64 credential is masked as it is; the password
        // too, as a server may echo it decoded.
        let credential = Credential::new()
            .header_secret(AUTHORIZATION, value.expose_secret())?
            .also_mask(password.expose_secret());
        Ok(BasicAuth {
            credential,
            user: user.to_owned(),
        })
    }
}

/// `Basic base64(user:password)`.
pub(crate) fn basic_value(user: &str, password: &str) -> SecretString {
    let joined = SecretString::from(format!("{user}:{password}"));
    let encoded = base64::engine::general_purpose::STANDARD.encode(joined.expose_secret());
    SecretString::from(format!("Basic {encoded}"))
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

fixed_source!(BasicAuth);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_follows_rfc_7617() {
        // RFC 7617 section 2's example.
        let value = basic_value("Aladdin", "open sesame");
        assert_eq!(value.expose_secret(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(BasicAuth::new("a:b", "x".into()).is_err());
    }

    #[test]
    fn empty_or_invalid_keys_are_refused() {
        assert!(BearerToken::new("".into()).is_err());
        assert!(ApiKey::header("bad header", "k".into()).is_err());
        assert!(ApiKey::header("x-api-key", "".into()).is_err());
        assert!(ApiKey::query("", "k".into()).is_err());
    }
}
