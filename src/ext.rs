//! [`ServiceBuilderExt`]: girder's layers as `ServiceBuilder` methods.

use tower::ServiceBuilder;
use tower::layer::util::Stack;

#[cfg(feature = "auth")]
use crate::auth::{AuthConfig, AuthLayer};
#[cfg(feature = "breaker")]
use crate::breaker::{BreakerPolicy, CircuitBreakerLayer};
#[cfg(feature = "cache")]
use crate::cache::{CacheConfig, CacheLayer};
#[cfg(feature = "ratelimit")]
use crate::ratelimit::{RateLimitLayer, RateLimitPolicy};
#[cfg(feature = "retry")]
use crate::retry::{RetryLayer, RetryPolicy};
#[cfg(feature = "sign")]
use crate::sign::{Signer, SigningLayer};
#[cfg(feature = "trace")]
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
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    /// Adds a [`CacheLayer`].
    fn cache(self, config: CacheConfig) -> ServiceBuilder<Stack<CacheLayer, L>>;
    #[cfg(feature = "retry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
    /// Adds a [`RetryLayer`].
    fn retry(self, policy: RetryPolicy) -> ServiceBuilder<Stack<RetryLayer, L>>;
    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    /// Adds a [`CircuitBreakerLayer`].
    fn circuit_breaker(
        self,
        policy: BreakerPolicy,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>>;
    #[cfg(feature = "ratelimit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ratelimit")))]
    /// Adds a [`RateLimitLayer`]. Its responses carry the body in an
    /// [`InFlightBody`](crate::ratelimit::InFlightBody), which holds the
    /// in-flight slot until the body is done; a layer above that wants
    /// girder's [`Body`](crate::Body) (the logging layer shows only those
    /// bodies) gets it with
    /// `.map_response(|r: http::Response<_>| r.map(girder::Body::from))`.
    fn rate_limit(self, policy: RateLimitPolicy) -> ServiceBuilder<Stack<RateLimitLayer, L>>;
    #[cfg(feature = "auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
    /// Adds an [`AuthLayer`].
    fn auth(self, config: AuthConfig) -> ServiceBuilder<Stack<AuthLayer, L>>;
    #[cfg(feature = "sign")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sign")))]
    /// Adds a [`SigningLayer`] (put it innermost).
    fn signing<G: Signer>(self, signer: G) -> ServiceBuilder<Stack<SigningLayer<G>, L>>;
    #[cfg(feature = "trace")]
    #[cfg_attr(docsrs, doc(cfg(feature = "trace")))]
    /// Adds a [`LoggingLayer`] (put it outermost; it makes the call record).
    fn logging(self, config: LoggingConfig) -> ServiceBuilder<Stack<LoggingLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn call_record(self) -> ServiceBuilder<Stack<CallRecordLayer, L>> {
        self.layer(CallRecordLayer::new())
    }

    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    fn cache(self, config: CacheConfig) -> ServiceBuilder<Stack<CacheLayer, L>> {
        self.layer(CacheLayer::new(config))
    }

    #[cfg(feature = "retry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
    fn retry(self, policy: RetryPolicy) -> ServiceBuilder<Stack<RetryLayer, L>> {
        self.layer(RetryLayer::new(policy))
    }

    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    fn circuit_breaker(
        self,
        policy: BreakerPolicy,
    ) -> ServiceBuilder<Stack<CircuitBreakerLayer, L>> {
        self.layer(CircuitBreakerLayer::new(policy))
    }

    #[cfg(feature = "ratelimit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ratelimit")))]
    fn rate_limit(self, policy: RateLimitPolicy) -> ServiceBuilder<Stack<RateLimitLayer, L>> {
        self.layer(RateLimitLayer::new(policy))
    }

    #[cfg(feature = "auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
    fn auth(self, config: AuthConfig) -> ServiceBuilder<Stack<AuthLayer, L>> {
        self.layer(AuthLayer::new(config))
    }

    #[cfg(feature = "sign")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sign")))]
    fn signing<G: Signer>(self, signer: G) -> ServiceBuilder<Stack<SigningLayer<G>, L>> {
        self.layer(SigningLayer::new(signer))
    }

    #[cfg(feature = "trace")]
    #[cfg_attr(docsrs, doc(cfg(feature = "trace")))]
    fn logging(self, config: LoggingConfig) -> ServiceBuilder<Stack<LoggingLayer, L>> {
        self.layer(LoggingLayer::new(config))
    }
}
