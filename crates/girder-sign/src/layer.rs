use std::sync::Arc;

use girder_core::WallClock;
use tower_layer::Layer;

use crate::service::{Shared, Signing};
use crate::signer::Signer;

/// Signs every request that passes; see the [crate docs](crate).
///
/// # Clone
///
/// The signer and the clock are created here (or handed in) and shared,
/// through an `Arc`, by every service this layer wraps and their clones.
#[derive(Debug)]
pub struct SigningLayer<G> {
    shared: Arc<Shared<G>>,
}

impl<G> Clone for SigningLayer<G> {
    fn clone(&self) -> Self {
        SigningLayer {
            shared: self.shared.clone(),
        }
    }
}

impl<G: Signer> SigningLayer<G> {
    /// A layer signing with `signer`, reading the time from
    /// [`WallClock::system`].
    ///
    /// Create it inside the runtime whose clock it should follow (see
    /// [`WallClock::system`]), or hand a clock to [`SigningLayer::with_clock`].
    pub fn new(signer: G) -> Self {
        SigningLayer::with_clock(signer, WallClock::system())
    }

    /// A layer signing with `signer` at the times `clock` shows.
    pub fn with_clock(signer: G, clock: WallClock) -> Self {
        SigningLayer {
            shared: Arc::new(Shared { signer, clock }),
        }
    }

    /// The signer.
    pub fn signer(&self) -> &G {
        &self.shared.signer
    }
}

impl<S, G> Layer<S> for SigningLayer<G> {
    type Service = Signing<S, G>;

    fn layer(&self, inner: S) -> Signing<S, G> {
        Signing::from_shared(inner, self.shared.clone())
    }
}
