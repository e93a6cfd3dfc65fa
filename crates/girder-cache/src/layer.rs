//! [`CacheLayer`].

use std::sync::Arc;

use tower_layer::Layer;

use crate::CacheConfig;
use crate::service::{Cache, Shared};
use crate::store::{CacheStore, MokaStore};

/// Applies [`Cache`] to a service: an RFC 9111 private cache in front of
/// it. Clones (and every service the layer makes) share one store, one set
/// of in-flight requests and one identity secret.
#[derive(Debug)]
pub struct CacheLayer<St = MokaStore> {
    shared: Arc<Shared<St>>,
}

impl<St> Clone for CacheLayer<St> {
    fn clone(&self) -> Self {
        CacheLayer {
            shared: self.shared.clone(),
        }
    }
}

impl CacheLayer<MokaStore> {
    /// A cache with `config` over a new in-memory [`MokaStore`] of
    /// `config`'s `max_bytes`.
    pub fn new(config: CacheConfig) -> Self {
        let store = MokaStore::new(config.max_bytes);
        CacheLayer::with_store(config, store)
    }
}

impl Default for CacheLayer<MokaStore> {
    fn default() -> Self {
        CacheLayer::new(CacheConfig::default())
    }
}

impl<St: CacheStore> CacheLayer<St> {
    /// A cache with `config` over `store`.
    pub fn with_store(config: CacheConfig, store: St) -> Self {
        CacheLayer {
            shared: Arc::new(Shared::new(config, store)),
        }
    }

    /// The store.
    pub fn store(&self) -> &St {
        &self.shared.store
    }

    /// Requests to the server this cache has under way for a key, as the
    /// one caller others wait for (coalesced misses and revalidations),
    /// plus `stale-while-revalidate` refreshes running in the background.
    /// With no call under way and no refresh running, 0: a leader that
    /// ends, fails or is dropped gives its key up.
    pub fn fills_in_progress(&self) -> usize {
        self.shared.fills_in_progress()
    }
}

impl<S, St> Layer<S> for CacheLayer<St> {
    type Service = Cache<S, St>;

    fn layer(&self, inner: S) -> Self::Service {
        Cache::from_shared(inner, self.shared.clone())
    }
}
