//! The token endpoint: one POST, form-encoded, through the [`TokenClient`].

use std::future::{Future, poll_fn};
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use std::time::Duration;

use girder_core::{Body, BoxError};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use secrecy::{ExposeSecret, SecretString};

use super::response::{self, TokenResponse};
use crate::source::fixed::basic_value;
use crate::{AuthError, AuthErrorKind, Credential, InvalidAuthConfig, TokenClient, form};

/// How a confidential client authenticates to the token endpoint
/// (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded client id and secret; every
    /// server must support it.
    #[default]
    BasicHeader,
    /// `client_id` and `client_secret` in the request body.
    RequestBody,
}

/// Default bound on a token response's body.
pub(crate) const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Settings shared by the OAuth2 sources.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) url: Uri,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<SecretString>,
    pub(crate) auth: ClientAuth,
    pub(crate) client: TokenClient,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) scopes: Vec<String>,
    pub(crate) params: Vec<(String, String)>,
}

/// Endpoint settings as builders collect them.
pub(crate) struct EndpointBuilder {
    pub(crate) url: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<SecretString>,
    pub(crate) auth: ClientAuth,
    pub(crate) client: Option<TokenClient>,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) scopes: Vec<String>,
    pub(crate) params: Vec<(String, String)>,
}

impl EndpointBuilder {
    pub(crate) fn new(url: &str, client_id: &str, secret: Option<SecretString>) -> Self {
        EndpointBuilder {
            url: url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: secret,
            auth: ClientAuth::default(),
            client: None,
            timeout: Duration::from_secs(10),
            max_response_bytes: MAX_RESPONSE_BYTES,
            scopes: Vec::new(),
            params: Vec::new(),
        }
    }

    pub(crate) fn build(self) -> Result<Endpoint, InvalidAuthConfig> {
        let url: Uri = self.url.parse().map_err(|_| {
            InvalidAuthConfig::new(format!("token URL {:?} is not a URI", self.url))
        })?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
            return Err(InvalidAuthConfig::new(format!(
                "token URL {:?} is not an absolute http(s) URL",
                self.url
            )));
        }
        if self.client_id.is_empty() {
            return Err(InvalidAuthConfig::new("the client id is empty"));
        }
        let Some(client) = self.client else {
            return Err(InvalidAuthConfig::new(
                "no HTTP client for token requests (set one with .client(..))",
            ));
        };
        if self.timeout.is_zero() {
            return Err(InvalidAuthConfig::new("the token request timeout is zero"));
        }
        if self.max_response_bytes == 0 {
            return Err(InvalidAuthConfig::new("max_response_bytes is zero"));
        }
        for scope in &self.scopes {
            // RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            let valid = !scope.is_empty()
                && scope
                    .bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid {
                return Err(InvalidAuthConfig::new(format!(
                    "scope {scope:?} is not an RFC 6749 scope token"
                )));
            }
        }
        Ok(Endpoint {
            url,
            client_id: self.client_id,
            client_secret: self.client_secret,
            auth: self.auth,
            client,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
            scopes: self.scopes,
            params: self.params,
        })
    }
}

impl Endpoint {
    /// POSTs the grant in `grant` (plus scopes, extra parameters and
    /// client authentication) and parses the answer.
    pub(crate) fn request(
        &self,
        grant: &[(&str, &str)],
    ) -> impl Future<Output = Result<TokenResponse, AuthError>> + Send + 'static {
        let request = self.build(grant);
        let client = self.client.clone();
        let (timeout, limit) = (self.timeout, self.max_response_bytes);
        async move { exchange(client, request?, timeout, limit).await }
    }

    /// The token request.
    fn build(&self, grant: &[(&str, &str)]) -> Result<Request<Body>, AuthError> {
        let scope = self.scopes.join(" ");
        let mut pairs: Vec<(&str, &str)> = grant.to_vec();
        if !scope.is_empty() {
            pairs.push(("scope", &scope));
        }
        pairs.extend(self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let mut authorization = None;
        match (&self.client_secret, self.auth) {
            (Some(secret), ClientAuth::BasicHeader) => {
                let value = basic_value(
                    &form::encode(&self.client_id),
                    &form::encode(secret.expose_secret()),
                );
                authorization = Some(value);
            }
            (Some(secret), ClientAuth::RequestBody) => {
                pairs.push(("client_id", &self.client_id));
                pairs.push(("client_secret", secret.expose_secret()));
            }
            // A public client names itself (RFC 6749 section 3.2.1).
            (None, _) => pairs.push(("client_id", &self.client_id)),
        }
        let body = SecretString::from(form::body(pairs));
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(Body::from(body.expose_secret().to_owned()))
            .map_err(|e| AuthError::new(AuthErrorKind::Transport, e.to_string()))?;
        if let Some(value) = authorization {
            let mut value = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
                AuthError::new(
                    AuthErrorKind::Source,
                    "the client credentials are not valid in a header",
                )
            })?;
            value.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        Ok(request)
    }
}

/// The whole of `body`, failing once more than `limit` bytes arrived.
///
/// NOTE: girder-core's `Body::collect_limited` does the same, but its
/// future cannot be proven `Send` inside this `'static` token future
/// (a higher-ranked lifetime in its error conversion), so it is read
/// frame by frame here.
async fn read_limited(mut body: Body, limit: usize) -> Result<Bytes, AuthError> {
    if let Some(bytes) = body.as_bytes() {
        if bytes.len() > limit {
            return Err(too_large(limit));
        }
        return Ok(bytes.clone());
    }
    let mut buffer = BytesMut::new();
    loop {
        let frame = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return Ok(buffer.freeze()),
            Some(Err(source)) => {
                let error = AuthError::new(
                    AuthErrorKind::Transport,
                    "the token response could not be read",
                );
                return Err(error.with_source(source));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if buffer.len() + data.len() > limit {
                        return Err(too_large(limit));
                    }
                    buffer.extend_from_slice(&data);
                }
            }
        }
    }
}

fn too_large(limit: usize) -> AuthError {
    AuthError::new(
        AuthErrorKind::InvalidResponse,
        format!("the token response is over {limit} bytes"),
    )
}

/// Sends `request` and parses the answer, within `timeout`.
async fn exchange(
    client: TokenClient,
    request: Request<Body>,
    timeout: Duration,
    limit: usize,
) -> Result<TokenResponse, AuthError> {
    {
        let sent_at = tokio::time::Instant::now();
        let exchange = async {
            let response = client.send(request).await.map_err(|e: BoxError| {
                AuthError::new(
                    AuthErrorKind::Transport,
                    "the token endpoint could not be reached",
                )
                .with_source(e)
            })?;
            let (parts, body) = response.into_parts();
            let status = parts.status.as_u16();
            let bytes = read_limited(body, limit)
                .await
                .map_err(|e| e.with_status(status))?;
            let content_type = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let mut token = response::parse(parts.status.as_u16(), content_type, &bytes)?;
            token.sent_at = Some(sent_at);
            Ok(token)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(AuthError::new(
                AuthErrorKind::Timeout,
                format!("no token response within {timeout:?}"),
            )),
        }
    }
}

impl Endpoint {
    /// `credential`, with the client secret masked in logs too (as it is
    /// and as the Basic header carries it, form-encoded).
    pub(crate) fn mask_secrets(&self, credential: Credential) -> Credential {
        match &self.client_secret {
            Some(secret) => {
                let secret = secret.expose_secret();
                credential
                    .also_mask(secret)
                    .also_mask(&form::encode(secret))
            }
            None => credential,
        }
    }
}

impl TokenResponse {
    /// The access token as a bearer credential.
    pub(crate) fn credential(&self) -> Result<Credential, AuthError> {
        let credential = Credential::bearer(self.access_token.expose_secret()).map_err(|_| {
            AuthError::new(
                AuthErrorKind::InvalidResponse,
                "access_token is not a valid header value",
            )
        })?;
        Ok(match (self.expires_in, self.sent_at) {
            (Some(lifetime), Some(sent_at)) => credential.expires_at(sent_at.checked_add(lifetime)),
            (Some(lifetime), None) => credential.expires_in(lifetime),
            (None, _) => credential,
        })
    }
}

/// Builder methods shared by the OAuth2 sources' builders.
macro_rules! endpoint_setters {
    () => {
        /// The HTTP client token requests go through (required). Give it
        /// the transport, with a timeout; see [`TokenClient`](crate::TokenClient).
        pub fn client(mut self, client: crate::TokenClient) -> Self {
            self.endpoint.client = Some(client);
            self
        }

        /// Adds a scope; scopes are sent space-separated in `scope`.
        /// Default: none (the server's default scope).
        pub fn scope(mut self, scope: &str) -> Self {
            self.endpoint.scopes.push(scope.to_owned());
            self
        }

        /// Adds a form parameter to every token request (`resource`,
        /// `audience`, …). Default: none.
        pub fn param(mut self, name: &str, value: &str) -> Self {
            self.endpoint
                .params
                .push((name.to_owned(), value.to_owned()));
            self
        }

        /// How the client authenticates. Default: [`ClientAuth::BasicHeader`](crate::ClientAuth::BasicHeader).
        pub fn client_auth(mut self, auth: crate::source::ClientAuth) -> Self {
            self.endpoint.auth = auth;
            self
        }

        /// The longest a token request may take, reading the response
        /// included. Default: 10 s.
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.endpoint.timeout = timeout;
            self
        }

        /// The largest token response read; a larger one is an
        /// [`AuthError`](crate::AuthError). Default: 64 KiB.
        pub fn max_response_bytes(mut self, max: usize) -> Self {
            self.endpoint.max_response_bytes = max;
            self
        }
    };
}
pub(crate) use endpoint_setters;

#[cfg(test)]
mod tests {
    use super::*;
    use girder_test::{MockService, Reply};

    fn builder() -> EndpointBuilder {
        let mut b = EndpointBuilder::new("https://idp.test/token", "c1", Some("s".into()));
        b.client = Some(TokenClient::new(MockService::new(Reply::ok())));
        b
    }

    #[test]
    fn nonsense_settings_are_refused() {
        let check = |f: &dyn Fn(&mut EndpointBuilder), wanted: &str| {
            let mut b = builder();
            f(&mut b);
            let err = b.build().err().unwrap().to_string();
            assert!(err.contains(wanted), "{err}");
        };
        check(&|b| b.url = "/token".into(), "absolute");
        check(&|b| b.url = "ht tp://x".into(), "not a URI");
        check(&|b| b.client_id.clear(), "client id");
        check(&|b| b.client = None, "no HTTP client");
        check(&|b| b.timeout = Duration::ZERO, "timeout");
        check(&|b| b.scopes.push("a b".into()), "scope token");
        check(&|b| b.scopes.push("bad\"quote".into()), "scope token");
        assert!(builder().build().is_ok());
    }
}
