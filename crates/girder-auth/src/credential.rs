//! [`Credential`]: what a source hands the layer to put on each request.

use std::fmt;

use girder_core::secrets::SecretValues;
use http::Request;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue, PROXY_AUTHORIZATION};
use http::uri::{PathAndQuery, Uri};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::InvalidAuthConfig;
use crate::form;

/// A credential to apply to requests: header fields and/or query
/// parameters, with an optional expiry.
///
/// Header values are marked sensitive (`HeaderValue::set_sensitive`), so
/// HTTP/2 does not index them, their `Debug` shows `Sensitive` and a
/// redirect policy strips them off-origin; query values are kept as
/// [`SecretString`]. `Credential`'s own `Debug` shows only names and the
/// expiry.
///
/// The secret values (a header value, without its `Bearer`/`Basic` scheme
/// for `Authorization`; a query value, raw and form-encoded; anything
/// added with [`also_mask`](Self::also_mask)) are registered by
/// [`apply`](Self::apply) with the
/// [`SecretValues`](girder_core::secrets::SecretValues) registry in the
/// request's extensions, when a logging layer put one there, so that logs
/// mask them wherever a server echoes them.
///
/// ```
/// use std::time::Duration;
/// use girder_auth::Credential;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let credential = Credential::bearer("tok-123")?.expires_in(Duration::from_secs(3600));
/// let mut request = http::Request::get("https://api.test/items").body(())?;
/// credential.apply(&mut request);
/// assert_eq!(request.headers()["authorization"], "Bearer tok-123");
/// assert!(!format!("{credential:?}").contains("tok-123"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Credential {
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Encoded `name=value` pairs, appended to the query.
    query: Vec<(Box<str>, SecretString)>,
    /// Values a logging layer masks by value (see `apply`).
    masked: Vec<SecretString>,
    expires_at: Option<Instant>,
    id: u64,
}

impl Credential {
    /// An empty credential (applies nothing), without expiry.
    pub fn new() -> Self {
        Credential::default()
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: &str) -> Result<Self, InvalidAuthConfig> {
        Credential::new().header_secret(AUTHORIZATION, &format!("Bearer {token}"))
    }

    /// This credential plus the header field `name: value`, marked
    /// sensitive. Fails (without showing the value) when the value is not a
    /// valid header value.
    pub fn header_secret(
        mut self,
        name: HeaderName,
        value: &str,
    ) -> Result<Self, InvalidAuthConfig> {
        let mut header = HeaderValue::from_str(value).map_err(|_| {
            InvalidAuthConfig::new(format!(
                "the value for {name} is not a valid header value (control characters or non-ASCII)"
            ))
        })?;
        header.set_sensitive(true);
        // `Bearer t0k`: the token is the secret, and a server that echoes
        // it seldom echoes the scheme with it; masking the token masks the
        // whole value too.
        let secret = if name == AUTHORIZATION || name == PROXY_AUTHORIZATION {
            value
                .split_once(' ')
                .map_or(value, |(_, rest)| rest.trim_start())
        } else {
            value
        };
        self.headers.push((name, header));
        Ok(self.also_mask(secret))
    }

    /// This credential plus the query parameter `name=value`
    /// (form-encoded). A query cannot be marked sensitive: the value is
    /// registered for masking (raw and form-encoded) instead.
    pub fn query_secret(mut self, name: &str, value: &str) -> Self {
        let encoded = form::encode(value);
        let pair = format!("{}={encoded}", form::encode(name));
        self.query.push((name.into(), SecretString::from(pair)));
        if encoded != value {
            self = self.also_mask(&encoded);
        }
        self.also_mask(value)
    }

    /// This credential, with `value` also masked in logs wherever it
    /// occurs (when a logging layer collects values to mask; see the type's
    /// docs): for a secret the request does not carry as it is, such as a
    /// Basic password or a client secret. Values shorter than
    /// [`MIN_LEN`](girder_core::secrets::MIN_LEN) are ignored.
    pub fn also_mask(mut self, value: &str) -> Self {
        if value.len() >= girder_core::secrets::MIN_LEN
            && !self.masked.iter().any(|v| v.expose_secret() == value)
        {
            self.masked.push(SecretString::from(value));
        }
        self
    }

    /// This credential, expiring `lifetime` from now (tokio's clock).
    pub fn expires_in(self, lifetime: std::time::Duration) -> Self {
        let now = Instant::now();
        self.expires_at(now.checked_add(lifetime))
    }

    /// This credential, expiring at `at` (`None`: never).
    pub fn expires_at(mut self, at: Option<Instant>) -> Self {
        self.expires_at = at;
        self
    }

    /// This credential, tagged with a number of the source's choosing. The
    /// layer hands the credential back to
    /// [`CredentialSource::rejected`](crate::CredentialSource::rejected)
    /// and [`accepted`](crate::CredentialSource::accepted), where the tag
    /// tells the source which of its credentials it was. When the
    /// credential fetched after a refusal has another tag, the call record
    /// says `KeyRotated`.
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = id;
        self
    }

    /// When it expires, if it does.
    pub fn expiry(&self) -> Option<Instant> {
        self.expires_at
    }

    /// The source's tag; 0 unless set with [`with_id`](Self::with_id).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The names of the header fields it sets.
    pub fn header_names(&self) -> impl Iterator<Item = &HeaderName> {
        self.headers.iter().map(|(name, _)| name)
    }

    /// Puts the credential on `request`: header fields replace any of the
    /// same name; query parameters are appended. The secret values are
    /// registered with the [`SecretValues`] in the request's extensions, if
    /// there is one (one extension lookup when there is none).
    pub fn apply<B>(&self, request: &mut Request<B>) {
        if let Some(registry) = request.extensions().get::<SecretValues>() {
            for value in &self.masked {
                registry.register(value.expose_secret());
            }
        }
        let headers = request.headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        if !self.query.is_empty() {
            append_query(request.uri_mut(), &self.query);
        }
    }
}

fn append_query(uri: &mut Uri, pairs: &[(Box<str>, SecretString)]) {
    let mut text = String::from(uri.path());
    let mut sep = '?';
    if let Some(query) = uri.query() {
        text.push('?');
        text.push_str(query);
        sep = '&';
    }
    for (_, pair) in pairs {
        text.push(sep);
        text.push_str(pair.expose_secret());
        sep = '&';
    }
    let mut parts = std::mem::take(uri).into_parts();
    // The pairs are form-encoded, so the result is a valid path and query.
    if let Ok(pq) = PathAndQuery::try_from(text) {
        parts.path_and_query = Some(pq);
    }
    if let Ok(rebuilt) = Uri::from_parts(parts) {
        *uri = rebuilt;
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let query: Vec<&str> = self.query.iter().map(|(name, _)| &**name).collect();
        f.debug_struct("Credential")
            .field("headers", &self.header_names().collect::<Vec<_>>())
            .field("query", &query)
            .field("expires_at", &self.expires_at)
            .field("id", &self.id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_encoded_and_appended() {
        let cred = Credential::new().query_secret("api key", "a&b=c d");
        let mut req = Request::get("https://api.test/x?page=2").body(()).unwrap();
        cred.apply(&mut req);
        assert_eq!(
            req.uri().to_string(),
            "https://api.test/x?page=2&api+key=a%26b%3Dc+d"
        );
        let mut bare = Request::get("https://api.test/x").body(()).unwrap();
        cred.apply(&mut bare);
        assert_eq!(bare.uri().query(), Some("api+key=a%26b%3Dc+d"));
        let shown = format!("{cred:?}");
        assert!(
            shown.contains("api key") && !shown.contains("a%26b"),
            "{shown}"
        );
    }

    #[test]
    fn headers_replace_and_are_sensitive() {
        let cred = Credential::bearer("t1").unwrap();
        let mut req = Request::get("https://api.test/")
            .header("authorization", "Bearer old")
            .body(())
            .unwrap();
        cred.apply(&mut req);
        let all: Vec<_> = req.headers().get_all("authorization").iter().collect();
        assert_eq!(all, ["Bearer t1"]);
        assert!(all[0].is_sensitive());
        assert!(!format!("{cred:?}").contains("t1"));
    }

    #[test]
    fn a_bad_header_value_is_refused_without_showing_it() {
        let err = Credential::bearer("bad\nvalue").unwrap_err();
        assert!(!err.to_string().contains("bad"), "{err}");
    }
}
