//! [`RefreshToken`]: RFC 6749 section 6, with refresh-token rotation.

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::endpoint::{Endpoint, EndpointBuilder, endpoint_setters};
use super::store::TokenStore;
use crate::source::{CredentialSource, FetchFuture};
use crate::{AuthError, AuthErrorKind, InvalidAuthConfig};

/// OAuth2 access tokens from a refresh token (RFC 6749 section 6), for a
/// client that went through an authorization flow once and keeps its
/// refresh token.
///
/// When the server rotates the refresh token (answers a new
/// `refresh_token`), the new one is used from then on and saved through
/// the [`TokenStore`], if one is set; at the first fetch the store's token,
/// if it has one, replaces the one given here. A failed save is logged
/// (`girder::auth`, error level) and does not fail the call: the new
/// access token is good, and the new refresh token is still kept in memory.
///
/// ```
/// use girder_auth::{MemoryTokenStore, RefreshToken, TokenClient};
/// # use girder_test::{MockService, Reply};
/// # let transport = MockService::new(Reply::ok());
///
/// let store = MemoryTokenStore::new();
/// let source = RefreshToken::builder("https://idp.test/token", "app", "rt-1".into())
///     .client_secret("s3cret".into())
///     .client(TokenClient::new(transport))
///     .store(store.clone())
///     .build()?;
/// assert!(!format!("{source:?}").contains("rt-1"));
/// # Ok::<_, girder_auth::InvalidAuthConfig>(())
/// ```
///
/// # Clone
///
/// Clones share the current refresh token and the store: a rotation seen
/// by one is used by all.
#[derive(Clone)]
pub struct RefreshToken {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    store: Option<Arc<dyn TokenStore>>,
    /// The refresh token in use, and whether the store was read.
    state: Mutex<State>,
}

struct State {
    token: SecretString,
    loaded: bool,
}

/// Builds a [`RefreshToken`] source.
pub struct RefreshTokenBuilder {
    endpoint: EndpointBuilder,
    refresh_token: SecretString,
    store: Option<Arc<dyn TokenStore>>,
}

impl RefreshToken {
    /// A source refreshing with `refresh_token` at `token_url`, as the
    /// client `client_id` (public, unless a secret is set).
    pub fn builder(
        token_url: &str,
        client_id: &str,
        refresh_token: SecretString,
    ) -> RefreshTokenBuilder {
        RefreshTokenBuilder {
            endpoint: EndpointBuilder::new(token_url, client_id, None),
            refresh_token,
            store: None,
        }
    }
}

impl RefreshTokenBuilder {
    endpoint_setters!();

    /// The client secret of a confidential client. Default: none (a
    /// public client).
    pub fn client_secret(mut self, secret: SecretString) -> Self {
        self.endpoint.client_secret = Some(secret);
        self
    }

    /// Where rotated refresh tokens are saved and the current one is
    /// loaded from. Default: none (kept in memory only).
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The source; fails like
    /// [`ClientCredentialsBuilder::build`](super::ClientCredentialsBuilder::build),
    /// and on an empty refresh token.
    pub fn build(self) -> Result<RefreshToken, InvalidAuthConfig> {
        if self.refresh_token.expose_secret().is_empty() {
            return Err(InvalidAuthConfig::new("the refresh token is empty"));
        }
        Ok(RefreshToken {
            inner: Arc::new(Inner {
                endpoint: self.endpoint.build()?,
                store: self.store,
                state: Mutex::new(State {
                    token: self.refresh_token,
                    loaded: false,
                }),
            }),
        })
    }
}

impl Inner {
    async fn refresh(&self) -> Result<crate::Credential, AuthError> {
        // Held across the request: two refreshes with one refresh token
        // would spend it twice, and a rotating server revokes on reuse.
        let mut state = self.state.lock().await;
        if !state.loaded {
            if let Some(store) = &self.store {
                let stored = store.load().await.map_err(|e| {
                    AuthError::new(AuthErrorKind::Store, "could not load the refresh token")
                        .with_source(StoreFailure(e.to_string()))
                })?;
                if let Some(token) = stored.filter(|t| !t.expose_secret().is_empty()) {
                    state.token = token;
                }
            }
            state.loaded = true;
        }
        let token = state.token.clone();
        let response = self
            .endpoint
            .request(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", token.expose_secret()),
            ])
            .await?;
        // The refresh tokens, old and new, and the client secret are masked
        // in logs with the access token: none of them is ever sent to the
        // API, so any that shows up there was echoed.
        let mut credential = self
            .endpoint
            .mask_secrets(response.credential()?)
            .also_mask(token.expose_secret());
        if let Some(rotated) = &response.refresh_token {
            credential = credential.also_mask(rotated.expose_secret());
        }
        if let Some(rotated) = response.refresh_token
            && rotated.expose_secret() != token.expose_secret()
        {
            state.token = rotated.clone();
            tracing::debug!(target: "girder::auth", "refresh token rotated");
            if let Some(store) = &self.store
                && let Err(e) = store.save(rotated).await
            {
                tracing::error!(
                    target: "girder::auth",
                    error = %e,
                    "could not save the rotated refresh token; it is kept in memory only"
                );
            }
        }
        Ok(credential)
    }
}

/// A store's error as text: a store is user code, and its error type
/// cannot be shared across the waiters of a refresh as it is.
#[derive(Debug)]
struct StoreFailure(String);

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreFailure {}

impl CredentialSource for RefreshToken {
    fn fetch(&self) -> FetchFuture {
        let inner = self.inner.clone();
        Box::pin(async move { inner.refresh().await })
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken")
            .field("token_url", &self.inner.endpoint.url)
            .field("client_id", &self.inner.endpoint.client_id)
            .field("refresh_token", &"<redacted>")
            .field("store", &self.inner.store.is_some())
            .finish()
    }
}

impl fmt::Debug for RefreshTokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenBuilder")
            .field("token_url", &self.endpoint.url)
            .field("client_id", &self.endpoint.client_id)
            .field("refresh_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}
