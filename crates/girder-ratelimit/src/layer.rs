use std::sync::Arc;

use tower_layer::Layer;

use crate::policy::RateLimitPolicy;
use crate::service::{RateLimit, Shared};

/// Limits the rate of calls; see the [crate docs](crate).
///
/// # Clone
///
/// The quota state (the backend, unless the policy brought one), the
/// lines and the in-flight slots are created here and shared by every
/// service this layer wraps and all their clones. Two layers built from
/// the same policy do not share them, unless the policy names a
/// [`backend`](crate::RateLimitPolicyBuilder::backend), which they then share.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    shared: Arc<Shared>,
}

impl RateLimitLayer {
    /// A layer with `policy`.
    pub fn new(policy: RateLimitPolicy) -> Self {
        RateLimitLayer {
            shared: Arc::new(Shared::new(policy)),
        }
    }
}

impl Default for RateLimitLayer {
    fn default() -> Self {
        RateLimitLayer::new(RateLimitPolicy::default())
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit::from_shared(inner, self.shared.clone())
    }
}
