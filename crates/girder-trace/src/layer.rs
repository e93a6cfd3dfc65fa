use std::sync::Arc;

use tower_layer::Layer;

use crate::config::LoggingConfig;
use crate::service::Logging;

/// Logs each request and gives it a span; see the [crate docs](crate).
///
/// # Clone
///
/// The configuration is built once, here, and shared through an `Arc` by
/// every service this layer wraps, with one
/// [`SecretValues`](girder_core::secrets::SecretValues) registry created
/// here for the layer's lifetime: the credential values the layers below
/// register on any call are masked in the logs of every call. The layer
/// keeps no other state.
#[derive(Debug, Clone)]
pub struct LoggingLayer {
    config: Arc<LoggingConfig>,
}

impl LoggingLayer {
    /// A layer with `config`.
    pub fn new(config: LoggingConfig) -> Self {
        LoggingLayer {
            config: Arc::new(config.with_own_secrets()),
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
