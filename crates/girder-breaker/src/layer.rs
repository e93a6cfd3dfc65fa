use std::sync::Arc;

use tower_layer::Layer;

use crate::handle::BreakerHandle;
use crate::policy::BreakerPolicy;
use crate::service::CircuitBreaker;
use crate::shared::Shared;

/// Guards the wrapped service with one circuit per partition; see the
/// [crate docs](crate).
///
/// # Clone
///
/// The circuits are created here and shared by every service this layer
/// wraps and all their clones, and by every [`BreakerHandle`] taken from it.
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer {
    shared: Arc<Shared>,
}

impl CircuitBreakerLayer {
    /// A layer with `policy`.
    pub fn new(policy: BreakerPolicy) -> Self {
        CircuitBreakerLayer {
            shared: Arc::new(Shared::new(policy)),
        }
    }

    /// A handle on this layer's circuits: modes, reset, metrics.
    pub fn handle(&self) -> BreakerHandle {
        BreakerHandle::new(self.shared.clone())
    }
}

impl Default for CircuitBreakerLayer {
    fn default() -> Self {
        CircuitBreakerLayer::new(BreakerPolicy::default())
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> CircuitBreaker<S> {
        CircuitBreaker::from_shared(inner, self.shared.clone())
    }
}
