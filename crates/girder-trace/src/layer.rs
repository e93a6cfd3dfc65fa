use std::sync::Arc;

use tower_layer::Layer;

use crate::config::LoggingConfig;
use crate::service::Logging;

/// Logs each request and gives it a span; see the [crate docs](crate).
///
/// # Clone
///
/// The configuration is built once, here, and shared through an `Arc` by
/// every service this layer wraps. The layer keeps no other state.
#[derive(Debug, Clone)]
pub struct LoggingLayer {
    config: Arc<LoggingConfig>,
}

impl LoggingLayer {
    /// A layer with `config`.
    pub fn new(config: LoggingConfig) -> Self {
        LoggingLayer {
            config: Arc::new(config),
        }
    }
}

impl Default for LoggingLayer {
    fn default() -> Self {
        LoggingLayer::new(LoggingConfig::default())
    }
}

impl<S> Layer<S> for LoggingLayer {
    type Service = Logging<S>;

    fn layer(&self, inner: S) -> Logging<S> {
        Logging::from_shared(inner, self.config.clone())
    }
}
