use std::fmt;
use std::sync::Arc;

use girder_core::WallClock;
use girder_core::origin::CredentialScope;
use tower_layer::Layer;

use crate::service::{Shared, Signing};
use crate::signer::Signer;
use crate::skew::{Clock, SkewPolicy};

/// Signs every request that passes; see the [crate docs](crate).
///
/// # Clone
///
/// The signer, the clock and its learned skew offset are created here
/// and shared, through `Arc`s, by every service this layer wraps and their
/// clones.
pub struct SigningLayer<G> {
    shared: Shared<G>,
}

impl<G> Clone for SigningLayer<G> {
    fn clone(&self) -> Self {
        SigningLayer {
            shared: self.shared.clone(),
        }
    }
}

impl<G> fmt::Debug for SigningLayer<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningLayer")
            .field("shared", &self.shared)
            .finish()
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
            shared: Shared {
                signer: Arc::new(signer),
                clock: Arc::new(Clock::new(clock)),
                skew: None,
                scope: CredentialScope::any(),
            },
        }
    }

    /// Recovers from clock skew as `policy` says: learn the server's
    /// offset from a time rejection, re-sign once, keep the offset.
    ///
    /// Default: off (a rejection is returned as it is).
    pub fn skew(mut self, policy: SkewPolicy) -> Self {
        self.shared.skew = Some(policy);
        self
    }

    /// Signs only requests whose origin `scope` permits; any other
    /// request, and any request marked
    /// [`CrossOriginHop`](girder_core::origin::CrossOriginHop) (a redirect
    /// hop that left the call's first origin), is passed to the inner
    /// service unsigned and untouched: no signature, session token or key
    /// id reaches an origin the credentials were not configured for.
    ///
    /// Default: every origin ([`CredentialScope::any`])
    pub fn scope(mut self, scope: CredentialScope) -> Self {
        self.shared.scope = scope;
        self
    }

    /// The origins this layer signs for (see [`SigningLayer::scope`]).
    pub fn credential_scope(&self) -> &CredentialScope {
        &self.shared.scope
    }

    /// The signer.
    pub fn signer(&self) -> &G {
        &self.shared.signer
    }

    /// The clock offset learned from servers so far, in milliseconds
    /// (positive: the servers are ahead of us).
    pub fn learned_offset_ms(&self) -> i64 {
        self.shared.clock.offset_ms()
    }
}

impl<S, G> Layer<S> for SigningLayer<G> {
    type Service = Signing<S, G>;

    fn layer(&self, inner: S) -> Signing<S, G> {
        Signing::from_shared(inner, self.shared.clone())
    }
}
