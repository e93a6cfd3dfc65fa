use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::cache::Shared;
use crate::config::AuthConfig;
use crate::service::Auth;

/// Puts a credential on every request; see the [crate docs](crate).
///
/// # Clone
///
/// The token cache (the current credential, the fetch under way, the
/// failure backoff) is created here and shared by every service this
/// layer wraps and all their clones: however many services and clones,
/// one fetch at a time. Two layers have two caches, even over one source.
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
    call_head: bool,
}

impl AuthLayer {
    /// A layer with `config`.
    pub fn new(config: AuthConfig) -> Self {
        AuthLayer {
            shared: Arc::new(Shared::new(config)),
            call_head: false,
        }
    }

    /// Whether the copy kept for a 401 replay may take the head already
    /// kept in the call record (by a retry layer further out; see
    /// [`Replay::keep`](girder_core::record::Replay::keep)) instead of
    /// copying the request's own. Default: `false`.
    ///
    /// Turn it on only when every layer between the one that keeps the
    /// head and this one changes a request's head by removing headers or
    /// by changing its method or URI, never by adding or replacing a header
    /// (the `girder` client's stack without its cookie store is such a
    /// stack). Clones made before this call keep their setting; the token
    /// cache stays shared.
    pub fn share_call_head(mut self, yes: bool) -> Self {
        self.call_head = yes;
        self
    }

    /// Whether a credential fetch is under way (the single flight every
    /// call that needs the new credential waits for). It ends however
    /// the fetch ends, even when every caller that waited was dropped.
    pub fn is_fetching(&self) -> bool {
        self.shared.fetching().0
    }

    /// How many credential fetches this layer has started (first fetches,
    /// refreshes ahead of expiry and after a 401), counting fixed sources
    /// that answer at once.
    pub fn fetches(&self) -> u64 {
        self.shared.fetching().1
    }
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth::from_shared(inner, self.shared.clone(), self.call_head)
    }
}
