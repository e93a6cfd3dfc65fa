//! [`AuthConfig`]: the source and how the layer caches, refreshes and recovers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use girder_core::origin::CredentialScope;

use crate::hook::OnAuth;
use crate::{CredentialSource, InvalidAuthConfig};

/// When a refused request is sent again with a fresh credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Recovery {
    /// Never: a 401 is returned as it is (the source still hears of it,
    /// so a key pool still rotates).
    Off,
    /// After any 401 (and after a 403 for sources that ask for it, such as
    /// [`ApiKeyPool`](crate::ApiKeyPool)).
    #[default]
    Any401,
    /// After a 401 only when its `WWW-Authenticate` says
    /// `error="invalid_token"` (RFC 6750 section 3.1), so that a 401 for
    /// another reason (insufficient scope reported as 401, a bad request
    /// signature) does not spend a token refresh.
    InvalidToken,
}

/// The layer's configuration: the [`CredentialSource`] and the token
/// cache's timing. Build it with [`AuthConfig::builder`], or take the
/// defaults with [`AuthConfig::new`].
///
/// | setting | default | why |
/// | --- | --- | --- |
/// | [`skew`](AuthConfigBuilder::skew) | 60 s | refresh a minute before expiry: clocks drift, requests take time in flight |
/// | [`jitter`](AuthConfigBuilder::jitter) | 30 s | spread a fleet's refreshes over half a minute instead of one instant |
/// | [`recovery`](AuthConfigBuilder::recovery) | [`Recovery::Any401`] | a revoked or rotated token is replaced and the request sent once more |
/// | [`refresh_timeout`](AuthConfigBuilder::refresh_timeout) | 30 s | a hung token endpoint does not hold calls without a deadline forever |
/// | [`retry_backoff`](AuthConfigBuilder::retry_backoff) | 1 s doubling to 60 s | a failing token endpoint is asked again, but not hammered |
/// | [`on_event`](AuthConfigBuilder::on_event) | `()` | no hook; `tracing` events are emitted either way |
/// | [`scope`](AuthConfigBuilder::scope) | [`CredentialScope::any`] | a layer on its own cannot know the API's origin; the girder `Client` scopes to its base URL |
///
/// The lead before expiry is at most half the token's lifetime, so a
/// short-lived token is not refreshed at once.
#[derive(Clone)]
pub struct AuthConfig {
    pub(crate) source: Arc<dyn CredentialSource>,
    pub(crate) skew: Duration,
    pub(crate) jitter: Duration,
    pub(crate) recovery: Recovery,
    pub(crate) refresh_timeout: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) on_event: Arc<dyn OnAuth>,
    pub(crate) scope: CredentialScope,
}

/// Builds an [`AuthConfig`].
pub struct AuthConfigBuilder {
    config: AuthConfig,
}

impl AuthConfig {
    /// `source` with the default settings.
    pub fn new(source: impl CredentialSource) -> Self {
        AuthConfig::from_arc(Arc::new(source))
    }

    /// A shared `source` with the default settings.
    pub fn from_arc(source: Arc<dyn CredentialSource>) -> Self {
        AuthConfig {
            source,
            skew: Duration::from_secs(60),
            jitter: Duration::from_secs(30),
            recovery: Recovery::default(),
            refresh_timeout: Duration::from_secs(30),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            on_event: Arc::new(()),
            scope: CredentialScope::any(),
        }
    }

    /// A builder for `source`.
    pub fn builder(source: impl CredentialSource) -> AuthConfigBuilder {
        AuthConfigBuilder {
            config: AuthConfig::new(source),
        }
    }

    /// This configuration with credentials only for the origins `scope`
    /// permits; see [`AuthConfigBuilder::scope`]. Default:
    /// [`CredentialScope::any`].
    pub fn with_scope(mut self, scope: CredentialScope) -> Self {
        self.scope = scope;
        self
    }

    /// The origins credentials are added for. Default:
    /// [`CredentialScope::any`].
    pub fn scope(&self) -> &CredentialScope {
        &self.scope
    }
}

impl AuthConfigBuilder {
    /// How long before expiry a token is refreshed (in the background,
    /// while calls keep using it). Default: 60 s.
    pub fn skew(mut self, skew: Duration) -> Self {
        self.config.skew = skew;
        self
    }

    /// Up to how much earlier still, drawn at random for each token.
    /// Default: 30 s.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.config.jitter = jitter;
        self
    }

    /// When a refused request is sent again. Default: [`Recovery::Any401`].
    pub fn recovery(mut self, recovery: Recovery) -> Self {
        self.config.recovery = recovery;
        self
    }

    /// The longest one fetch may take before it fails with a timeout.
    /// Default: 30 s.
    pub fn refresh_timeout(mut self, timeout: Duration) -> Self {
        self.config.refresh_timeout = timeout;
        self
    }

    /// After a failed fetch, the wait before the next, doubling from `min`
    /// up to `max`; calls with no valid token fail at once with the last
    /// error in the meantime. Default: 1 s to 60 s.
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.config.backoff_min = min;
        self.config.backoff_max = max;
        self
    }

    /// The origins credentials are added for. A request the scope does not
    /// permit (another origin, or a redirect hop marked
    /// [`CrossOriginHop`](girder_core::origin::CrossOriginHop)) is passed
    /// to the inner service untouched: no credential is looked up or
    /// fetched for it, nothing is added to it, and a 401 it gets is
    /// returned as it is. Default: [`CredentialScope::any`] (every origin,
    /// still never a cross-origin hop).
    pub fn scope(mut self, scope: CredentialScope) -> Self {
        self.config.scope = scope;
        self
    }

    /// Called for each fetch, failed fetch and refused credential. Default:
    /// `()` (nothing).
    pub fn on_event(mut self, hook: impl OnAuth) -> Self {
        self.config.on_event = Arc::new(hook);
        self
    }

    /// The configuration; fails on a zero refresh timeout, a backoff whose
    /// minimum is zero or above its maximum, or a skew or jitter over a day.
    pub fn build(self) -> Result<AuthConfig, InvalidAuthConfig> {
        let c = &self.config;
        const DAY: Duration = Duration::from_secs(24 * 3600);
        if c.refresh_timeout.is_zero() {
            return Err(InvalidAuthConfig::new("refresh_timeout is zero"));
        }
        if c.backoff_min.is_zero() || c.backoff_min > c.backoff_max {
            return Err(InvalidAuthConfig::new("retry_backoff needs 0 < min <= max"));
        }
        if c.skew > DAY || c.jitter > DAY {
            return Err(InvalidAuthConfig::new(
                "skew and jitter must be at most a day",
            ));
        }
        Ok(self.config)
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("skew", &self.skew)
            .field("jitter", &self.jitter)
            .field("recovery", &self.recovery)
            .field("refresh_timeout", &self.refresh_timeout)
            .field("backoff", &(self.backoff_min..=self.backoff_max))
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AuthConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthConfigBuilder")
            .field(&self.config)
            .finish()
    }
}
