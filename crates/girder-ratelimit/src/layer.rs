use std::sync::Arc;
use std::sync::atomic::Ordering;

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

    /// Calls that hold an in-flight slot now (see
    /// [`max_in_flight`](crate::RateLimitPolicyBuilder::max_in_flight)),
    /// over every partition; 0 without a limit. A slot is held until the
    /// response body ends or is dropped.
    pub fn in_flight(&self) -> usize {
        self.shared.lanes.in_flight()
    }

    /// Calls waiting now, for a slot, their turn in line or a permit.
    pub fn waiting(&self) -> usize {
        self.shared.waiting.load(Ordering::Acquire)
    }

    /// Lines (one per partition, and the global one) whose head is taken
    /// now: by a call asking for a permit or sleeping until its permit.
    /// With no call under way, 0.
    pub fn lines_held(&self) -> usize {
        self.shared.lanes.lines_held()
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
