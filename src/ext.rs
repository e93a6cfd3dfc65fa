//! [`ServiceBuilderExt`]: girder's layers as `ServiceBuilder` methods.

use tower::ServiceBuilder;
use tower::layer::util::Stack;

use crate::auth::{AuthConfig, AuthLayer};
use crate::breaker::{BreakerPolicy, CircuitBreakerLayer};
use crate::cache::{CacheConfig, CacheLayer};
use crate::ratelimit::{RateLimitLayer, RateLimitPolicy};
use crate::retry::{RetryLayer, RetryPolicy};
use crate::sign::{Signer, SigningLayer};
use crate::trace::{LoggingConfig, LoggingLayer};
use girder_core::CallRecordLayer;

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

/// girder's layers as methods of tower's `ServiceBuilder`, for stacks in an
/// order of your own (hand the result to
/// [`Client::from_service`](crate::Client::from_service) to keep this
/// crate's request API). Sealed: implemented for `ServiceBuilder` only.
///
/// When tower's own `retry` or `limit` features are on in your build
/// (tower's `full`, or a dependency such as reqwest 0.12.23 and later that
/// turns them on), `ServiceBuilder`'s inherent `retry` and `rate_limit`
/// methods take precedence over these; call them as
/// `ServiceBuilderExt::retry(builder, policy)` then.
///
/// ```
/// use girder::ServiceBuilderExt;
/// use girder::retry::RetryPolicy;
/// use girder::cache::CacheConfig;
/// use tower::ServiceBuilder;
///
/// # fn main() -> Result<(), girder::BoxError> {
/// let service = ServiceBuilder::new()
///     .logging(girder::trace::LoggingConfig::default())
///     .cache(CacheConfig::default())
///     .retry(RetryPolicy::default())
///     .service(girder::Transport::new()?);
/// let client = girder::Client::from_service(service);
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed + Sized {
    /// Adds a [`CallRecordLayer`] (outermost, so every layer can write).
    fn call_record(self) -> ServiceBuilder<Stack<CallRecordLayer, L>>;
    /// Adds a [`CacheLayer`].
    fn cache(self, config: CacheConfig) -> ServiceBuilder<Stack<CacheLayer, L>>;
    /// Adds a [`RetryLayer`].
    fn retry(self, policy: RetryPolicy) -> ServiceBuilder<Stack<RetryLayer, L>>;
    /// Adds a [`CircuitBreakerLayer`].
    fn circuit_breaker(
        self,
        policy: BreakerPolicy,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>>;
    /// Adds a [`RateLimitLayer`]. Its responses carry the body in an
    /// [`InFlightBody`](crate::ratelimit::InFlightBody), which holds the
    /// in-flight slot until the body is done; a layer above that wants
    /// girder's [`Body`](crate::Body) (the logging layer shows only those
    /// bodies) gets it with
    /// `.map_response(|r: http::Response<_>| r.map(girder::Body::from))`.
    fn rate_limit(self, policy: RateLimitPolicy) -> ServiceBuilder<Stack<RateLimitLayer, L>>;
    /// Adds an [`AuthLayer`].
    fn auth(self, config: AuthConfig) -> ServiceBuilder<Stack<AuthLayer, L>>;
    /// Adds a [`SigningLayer`] (put it innermost).
    fn signing<G: Signer>(self, signer: G) -> ServiceBuilder<Stack<SigningLayer<G>, L>>;
    /// Adds a [`LoggingLayer`] (put it outermost; it makes the call record).
    fn logging(self, config: LoggingConfig) -> ServiceBuilder<Stack<LoggingLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn call_record(self) -> ServiceBuilder<Stack<CallRecordLayer, L>> {
        self.layer(CallRecordLayer::new())
    }

    fn cache(self, config: CacheConfig) -> ServiceBuilder<Stack<CacheLayer, L>> {
        self.layer(CacheLayer::new(config))
    }

    fn retry(self, policy: RetryPolicy) -> ServiceBuilder<Stack<RetryLayer, L>> {
        self.layer(RetryLayer::new(policy))
    }

    fn circuit_breaker(
        self,
        policy: BreakerPolicy,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>> {
        self.layer(CircuitBreakerLayer::new(policy))
    }

    fn rate_limit(self, policy: RateLimitPolicy) -> ServiceBuilder<Stack<RateLimitLayer, L>> {
        self.layer(RateLimitLayer::new(policy))
    }

    fn auth(self, config: AuthConfig) -> ServiceBuilder<Stack<AuthLayer, L>> {
        self.layer(AuthLayer::new(config))
    }

    fn signing<G: Signer>(self, signer: G) -> ServiceBuilder<Stack<SigningLayer<G>, L>> {
        self.layer(SigningLayer::new(signer))
    }

    fn logging(self, config: LoggingConfig) -> ServiceBuilder<Stack<LoggingLayer, L>> {
        self.layer(LoggingLayer::new(config))
    }
}
