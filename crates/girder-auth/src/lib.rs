//! Credentials for tower HTTP clients: [`AuthLayer`].
//!
//! The `oauth2` crate stops at the token response; caching, refreshing
//! and recovering from a revoked token are left to every application.
//! [`AuthLayer`] owns the whole lifecycle of a credential:
//!
//! - **Sources** ([`CredentialSource`]): a fixed [`BearerToken`],
//!   [`ApiKey`] (header or query) or [`BasicAuth`]; OAuth2
//!   [`ClientCredentials`] and [`RefreshToken`] (with refresh-token
//!   rotation saved through a [`TokenStore`]); a self-signed JWT
//!   (`JwtSource` in [`jwt`], feature `jwt`, on by default); a closure ([`FnSource`]); a rotating
//!   [`ApiKeyPool`]. Token requests go through a [`TokenClient`] you give:
//!   your transport, not a hidden HTTP stack.
//! - **A token cache**, shared by every clone of the service: a fresh
//!   token is used as it is; a stale one (within the skew, 60 s by
//!   default, plus up to 30 s of jitter, of its expiry) is still used
//!   while a refresh runs in the background; an expired one makes calls
//!   wait for the refresh, no longer than their
//!   [`Deadline`](girder_core::Deadline). However many calls arrive at
//!   once, one fetch runs at a time.
//! - **401 recovery**: a request refused with 401 is sent once more with a
//!   fresh credential when its body can be replayed. Never twice.
//!
//! ```
//! use std::time::Duration;
//! use girder_auth::{AuthConfig, AuthLayer, ClientCredentials, TokenClient};
//! use girder_core::{Body, CallRecord, CallRecordLayer};
//! use girder_test::{MockService, Reply};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // The identity provider issues tokens valid for an hour.
//! let idp = MockService::new(Reply::ok().json(
//!     r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}"#,
//! ));
//! let api = MockService::new(Reply::ok());
//! let source = ClientCredentials::builder("https://idp.test/token", "client", "s3cret".into())
//!     .client(TokenClient::new(idp.clone()))
//!     .scope("items:read")
//!     .build()?;
//! let client = ServiceBuilder::new()
//!     .layer(CallRecordLayer::new())
//!     .layer(AuthLayer::new(AuthConfig::new(source)))
//!     .service(api.clone());
//!
//! for _ in 0..3 {
//!     let request = http::Request::get("https://api.test/items").body(Body::empty())?;
//!     client.clone().oneshot(request).await?;
//! }
//! // One token request; every API call carried the token.
//! assert_eq!(idp.request_count(), 1);
//! assert!(api.requests().iter().all(|r| r.header("authorization") == Some("Bearer tok-1")));
//! # Ok(())
//! # }
//! ```
//!
//! # Where it goes
//!
//! Under retry, the breaker and the rate limiter, above signing (the
//! facade's canonical order): each attempt goes with the credential
//! current at that moment, and a request signature covers the final
//! headers, `Authorization` included.
//!
//! # The token lifecycle
//!
//! | state | a call … |
//! | --- | --- |
//! | no token yet | starts the fetch (or joins the one under way) and waits for it |
//! | fresh | goes with the token |
//! | stale: less than skew + jitter before expiry (at most half the lifetime) | goes with the token, and starts a fetch in the background if none is running |
//! | expired | waits for the fetch, no later than its deadline ([`DeadlineExceeded`](girder_core::DeadlineExceeded)) |
//! | the last fetch failed | goes with the current token while it is valid; without one, fails at once with the last [`AuthError`] until the backoff (1 s doubling to 60 s) has passed |
//!
//! A fetch runs on a tokio task of its own (a source that answers at once,
//! such as a fixed token or a JWT, runs inline): a caller dropped while it
//! waits, even the one that started the fetch, does not cancel it, and the
//! other callers get its outcome. A fetch that stops without an answer
//! fails its waiters with [`AuthErrorKind::Abandoned`], and the next call
//! starts afresh: nobody waits forever.
//!
//! # 401 recovery
//!
//! When the server answers 401 (with [`Recovery::InvalidToken`], only a 401
//! whose `WWW-Authenticate` says `error="invalid_token"`), the layer asks
//! the source whether a fresh credential may help
//! ([`CredentialSource::rejected`]; a fixed token says no, an
//! [`ApiKeyPool`] also says yes to 403), drops the token, fetches a new
//! one (one fetch for all the calls refused together) and sends the
//! request again, once. If that is refused too, that response is returned
//! as it is: it is an answer of the server, and a retry above would not
//! help. A request whose body is a stream is not sent again: its 401 is
//! returned, and the call record says why. If the fetch after the 401
//! fails, the call fails with its [`AuthError`].
//!
//! The body must implement [`ReplayBody`](girder_core::ReplayBody) (the
//! core `Body`, `Full`, `Empty`, `Bytes`, `String`). The copy for the
//! resend is taken only for sources that can refresh.
//!
//! # Errors
//!
//! [`AuthError`] (in girder-core, so other layers and the facade see it
//! as [`ErrorKind::Auth`](girder_core::ErrorKind::Auth)) says what went
//! wrong: the provider's RFC 6749 `error` code and description, a token
//! response that is not JSON or has no `access_token`, a negative or
//! absurd `expires_in`, an error status, a timeout. It never contains a
//! secret or a token. A configuration that makes no sense is refused when
//! it is built, with [`InvalidAuthConfig`].
//!
//! # Where credentials go
//!
//! [`AuthConfigBuilder::scope`] (or [`AuthConfig::with_scope`]) limits the
//! credential to a [`CredentialScope`](girder_core::origin::CredentialScope)
//! of origins. A request the scope does not permit (another origin, or a
//! redirect hop marked
//! [`CrossOriginHop`](girder_core::origin::CrossOriginHop), which no scope
//! permits) is passed to the inner service untouched: no credential is
//! looked up or fetched for it, and its 401 is returned as it is. So no
//! ordering of layers (a redirect followed below auth, a retry that moved
//! host) carries a credential to a foreign origin. The default,
//! [`CredentialScope::any`](girder_core::origin::CredentialScope::any),
//! suits a layer used on its own; the girder `Client` scopes to its base
//! URL's origin.
//!
//! ```
//! use girder_auth::{AuthConfig, AuthLayer, BearerToken};
//! use girder_core::Body;
//! use girder_core::origin::{CredentialScope, Origin};
//! use girder_test::{MockService, Reply};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let api = MockService::new(Reply::ok());
//! let config = AuthConfig::new(BearerToken::new("tok-1".into())?)
//!     .with_scope(CredentialScope::only([Origin::parse("https://api.test")?]));
//! let client = ServiceBuilder::new().layer(AuthLayer::new(config)).service(api.clone());
//! for uri in ["https://api.test/items", "https://elsewhere.test/items"] {
//!     client.clone().oneshot(http::Request::get(uri).body(Body::empty())?).await?;
//! }
//! assert_eq!(api.requests()[0].header("authorization"), Some("Bearer tok-1"));
//! assert_eq!(api.requests()[1].header("authorization"), None);
//! # Ok(())
//! # }
//! ```
//!
//! # Secrets
//!
//! Client secrets, refresh tokens, API keys and passwords are held as
//! [`secrecy::SecretString`]; every header value the layer adds (from any
//! source, a closure's included) is marked sensitive, so HTTP/2 does not
//! index it and a redirect policy strips it off-origin; every `Debug` here
//! is redacted, and logs name keys by position, never by value.
//!
//! The values sent are also registered, as each request is authorised,
//! with the [`SecretValues`](girder_core::secrets::SecretValues) registry
//! a logging layer above puts into the request's extensions (girder-trace's
//! `LoggingLayer` does when it logs headers or bodies): tokens, API keys
//! (in a header, or in the query, raw and form-encoded, since a query
//! cannot be marked sensitive), the Basic password and base64 credential,
//! OAuth access and refresh tokens and the client secret, and anything a
//! closure's [`Credential`] adds with [`Credential::also_mask`]. The logs
//! then mask them wherever a server echoes them. Without a registry this
//! costs one extension lookup per request.
//!
//! # Events
//!
//! Under the target `girder::auth`: `token fetched` (debug, with the
//! expiry and refresh point), `token fetch failed` (warn, with the error
//! and the backoff), `token refreshing in the background`, `credential
//! refused; resending with a fresh one`, `API key rotated` / `API key
//! dropped`. Each call's decisions go into the
//! [`CallRecord`](girder_core::CallRecord) as [`AuthEvent`]s. Fetches, failed fetches and
//! refused credentials also go to the [`OnAuth`] hook
//! ([`AuthConfigBuilder::on_event`]), for metrics and alerts.
//!
//! # Differences from the `oauth2` crate
//!
//! The OAuth2 requests are written here from RFC 6749 (sections 4.4, 5.1,
//! 5.2, 6) rather than with `oauth2` 5 (default features off, its
//! `AsyncHttpClient` implemented over the [`TokenClient`]). That would
//! have worked, but it would add `url` (and the ICU stack behind `idna`),
//! `chrono`, `thiserror` 1 and `serde_path_to_error` for two form POSTs;
//! and it stops at the token response, while this crate needs its own
//! bound on the response size, its own rules for what an error may show
//! (never the token), strict checks of `expires_in` and `token_type`,
//! and the whole cache around the request, which `oauth2` leaves out.
//!
//! # Defaults
//!
//! | setting | default | why |
//! | --- | --- | --- |
//! | skew | 60 s | refresh a minute before expiry: clocks drift, requests spend time in flight |
//! | jitter | up to 30 s more | a fleet started together does not refresh in lockstep |
//! | recovery | [`Recovery::Any401`] | a revoked or rotated token is replaced and the request sent once more |
//! | refresh timeout | 30 s | a hung fetch cannot hold calls without a deadline forever |
//! | failure backoff | 1 s doubling to 60 s | a failing token endpoint is asked again, but not hammered |
//! | token request timeout | 10 s | per request to the token endpoint, reading the response included |
//! | token response bound | 64 KiB | a token response is a few hundred bytes; an error page is not read whole |
//! | JWT lifetime | 10 min | short enough to limit a leaked token, long enough to be reused |
//! | JWT HMAC secret | at least the hash output (32, 48, 64 bytes for HS256/384/512), else refused at build | RFC 7518 section 3.2: a shorter secret can be brute-forced from one token |
//! | credential scope | every origin (never a cross-origin redirect hop) | a layer alone cannot know the API's origin; the `Client` scopes to its base URL |
//! | key pool `max_failures` | 3 | a key refused three times in a row is taken to be revoked |

#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod client;
mod config;
mod credential;
pub mod error;
mod event;
mod form;
pub mod future;
mod hook;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
mod layer;
mod service;
pub mod source;

pub use client::TokenClient;
pub use config::{AuthConfig, AuthConfigBuilder, Recovery};
pub use credential::Credential;
pub use error::{AuthError, AuthErrorKind, InvalidAuthConfig};
pub use event::AuthEvent;
pub use hook::{OnAuth, TokenEvent};
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwt::{JwtSource, JwtSourceBuilder};
pub use layer::AuthLayer;
pub use secrecy::{ExposeSecret, SecretString};
pub use service::Auth;
pub use source::{
    ApiKey, ApiKeyPool, ApiKeyPoolBuilder, BasicAuth, BearerToken, ClientAuth, ClientCredentials,
    ClientCredentialsBuilder, CredentialSource, FetchFuture, FnSource, MemoryTokenStore,
    RefreshToken, RefreshTokenBuilder, StoreFuture, TokenStore,
};
