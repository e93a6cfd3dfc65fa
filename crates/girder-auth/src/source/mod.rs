//! Where credentials come from: the [`CredentialSource`] trait and the
//! sources girder-auth ships.
//!
//! | source | sends | refreshes |
//! | --- | --- | --- |
//! | [`BearerToken`] | `Authorization: Bearer …` | never |
//! | [`ApiKey`] | a header field or a query parameter | never |
//! | [`BasicAuth`] | `Authorization: Basic …` | never |
//! | [`ClientCredentials`] | an OAuth2 access token (RFC 6749 §4.4) | before expiry, and after a 401 |
//! | [`RefreshToken`] | an OAuth2 access token (RFC 6749 §6), rotating the refresh token through a [`TokenStore`] | before expiry, and after a 401 |
//! | `JwtSource` (feature `jwt`, on by default; see [`jwt`](crate::jwt)) | a JWT it signs itself | before expiry, and after a 401 |
//! | [`FnSource`] | whatever a closure returns | as the closure's credentials expire |
//! | [`ApiKeyPool`] | one of several API keys | on to the next key after a 401 or 403 |

use std::future::Future;
use std::pin::Pin;

use http::StatusCode;

use crate::{AuthError, Credential};

mod closure;
mod fixed;
mod oauth;
mod pool;

#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use crate::jwt::{JwtSource, JwtSourceBuilder};
pub use closure::FnSource;
pub use fixed::{ApiKey, BasicAuth, BearerToken};
pub use oauth::{
    ClientAuth, ClientCredentials, ClientCredentialsBuilder, MemoryTokenStore, RefreshToken,
    RefreshTokenBuilder, TokenStore,
};
pub use pool::{ApiKeyPool, ApiKeyPoolBuilder};

/// The future of [`CredentialSource::fetch`].
pub type FetchFuture = Pin<Box<dyn Future<Output = Result<Credential, AuthError>> + Send>>;

/// The future of [`TokenStore`] calls.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, girder_core::BoxError>> + Send>>;

/// A source of credentials for the [`AuthLayer`](crate::AuthLayer).
///
/// The layer calls [`fetch`](Self::fetch) when it has no credential, when
/// the one it has is about to expire, and after the server refused one:
/// one fetch at a time, however many calls are waiting. `fetch` must
/// return at once (the work goes in the future, which the layer may run
/// on a task of its own); the future must be `'static`, so a source keeps
/// its state behind an `Arc`.
///
/// The trait is object safe; the layer holds its source as
/// `Arc<dyn CredentialSource>`.
///
/// ```
/// use std::time::Duration;
/// use girder_auth::{AuthError, Credential, CredentialSource, FetchFuture};
///
/// /// A token from the environment, re-read every five minutes.
/// struct FromEnv;
///
/// impl CredentialSource for FromEnv {
///     fn fetch(&self) -> FetchFuture {
///         Box::pin(async {
///             let token = std::env::var("API_TOKEN").unwrap_or_default();
///             let credential = Credential::bearer(&token)
///                 .map_err(|e| AuthError::new(girder_core::AuthErrorKind::Source, e.to_string()))?;
///             Ok(credential.expires_in(Duration::from_secs(300)))
///         })
///     }
/// }
/// # let _: Box<dyn CredentialSource> = Box::new(FromEnv);
/// ```
pub trait CredentialSource: Send + Sync + 'static {
    /// A fresh credential.
    fn fetch(&self) -> FetchFuture;

    /// Whether fetching again can give another credential. A fixed token
    /// says no, so the layer neither keeps a copy of each request for a
    /// resend nor resends after a 401. Default: yes.
    fn refreshable(&self) -> bool {
        true
    }

    /// The server answered `status` to a request sent with `credential`.
    /// Answers whether `credential` is spent and a fresh one may succeed:
    /// the layer then drops `credential` from its cache and (unless
    /// recovery is off, or the request was already resent) fetches anew
    /// and resends the request once. Called for every 401 and 403. Default: on 401, when
    /// [`refreshable`](Self::refreshable).
    fn rejected(&self, credential: &Credential, status: StatusCode) -> bool {
        let _ = credential;
        status == StatusCode::UNAUTHORIZED && self.refreshable()
    }

    /// The server accepted a request sent with `credential` (it answered
    /// neither 401 nor 403). Default: nothing.
    fn accepted(&self, credential: &Credential) {
        let _ = credential;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_source_obj_safe() {
        fn _take(_: &dyn CredentialSource) {}
        fn _store(_: &dyn TokenStore) {}
    }
}
