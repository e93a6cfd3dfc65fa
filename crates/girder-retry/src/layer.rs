use std::sync::Arc;

use tower_layer::Layer;

use crate::budget::Budgets;
use crate::policy::RetryPolicy;
use crate::service::{Retry, Shared};

/// Retries failed attempts; see the [crate docs](crate).
///
/// # Clone
///
/// The budget is created here and shared by every service this layer
/// wraps and all their clones.
#[derive(Debug, Clone)]
pub struct RetryLayer {
    shared: Arc<Shared>,
}

impl RetryLayer {
    /// A layer with `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        let budgets = policy.budget.map(|b| {
            Budgets::new(
                b,
                policy.budget_partition.clone(),
                policy.max_budget_partitions,
            )
        });
        RetryLayer {
            shared: Arc::new(Shared::new(policy, budgets)),
        }
    }
}

impl Default for RetryLayer {
    fn default() -> Self {
        RetryLayer::new(RetryPolicy::default())
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry::from_shared(inner, self.shared.clone())
    }
}
