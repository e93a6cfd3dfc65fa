//! [`ClientCredentials`]: RFC 6749 section 4.4.

use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;

use super::endpoint::{Endpoint, EndpointBuilder, endpoint_setters};
use crate::InvalidAuthConfig;
use crate::source::{CredentialSource, FetchFuture};

/// OAuth2 client credentials (RFC 6749 section 4.4): the client trades
/// its id and secret for an access token at the token endpoint, and again
/// whenever the token nears expiry or the API answers 401.
///
/// The request is `POST` with a form body (`grant_type=client_credentials`,
/// `scope`, `audience` and any extra parameters), the client
/// authenticated by HTTP Basic (default) or in the body. The response is
/// parsed to the letter of sections 5.1 and 5.2; anything else is an
/// [`AuthError`](crate::AuthError) naming what was wrong.
///
/// ```
/// use girder_auth::{ClientCredentials, TokenClient};
/// # use girder_test::{MockService, Reply};
/// # let transport = MockService::new(Reply::ok());
///
/// let source = ClientCredentials::builder("https://idp.test/oauth/token", "my-client", "s3cret".into())
///     .client(TokenClient::new(transport))
///     .scope("orders:read")
///     .audience("https://api.test")
///     .build()?;
/// assert!(!format!("{source:?}").contains("s3cret"));
/// # Ok::<_, girder_auth::InvalidAuthConfig>(())
/// ```
///
/// # Clone
///
/// Clones share the endpoint settings and the [`TokenClient`](crate::TokenClient).
#[derive(Clone)]
pub struct ClientCredentials {
    endpoint: Arc<Endpoint>,
}

/// Builds [`ClientCredentials`].
pub struct ClientCredentialsBuilder {
    endpoint: EndpointBuilder,
}

impl ClientCredentials {
    /// A source trading `client_id` and `client_secret` at `token_url`.
    pub fn builder(
        token_url: &str,
        client_id: &str,
        client_secret: SecretString,
    ) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            endpoint: EndpointBuilder::new(token_url, client_id, Some(client_secret)),
        }
    }
}

impl ClientCredentialsBuilder {
    endpoint_setters!();

    /// The `audience` parameter (Auth0, Okta and others name the API this
    /// way). Default: none.
    pub fn audience(self, audience: &str) -> Self {
        self.param("audience", audience)
    }

    /// The source; fails on a token URL that is not an absolute http(s)
    /// URL, a missing client, an invalid scope or a zero timeout.
    pub fn build(self) -> Result<ClientCredentials, InvalidAuthConfig> {
        Ok(ClientCredentials {
            endpoint: Arc::new(self.endpoint.build()?),
        })
    }
}

impl CredentialSource for ClientCredentials {
    fn fetch(&self) -> FetchFuture {
        let endpoint = self.endpoint.clone();
        Box::pin(async move {
            let token = endpoint
                .request(&[("grant_type", "client_credentials")])
                .await?;
            Ok(endpoint.mask_secrets(token.credential()?))
        })
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.endpoint.url)
            .field("client_id", &self.endpoint.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.endpoint.scopes)
            .finish()
    }
}

impl fmt::Debug for ClientCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsBuilder")
            .field("token_url", &self.endpoint.url)
            .field("client_id", &self.endpoint.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}
