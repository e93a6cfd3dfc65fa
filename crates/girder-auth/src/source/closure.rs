//! [`FnSource`]: credentials from a closure.

use std::fmt;
use std::future::Future;

use super::{CredentialSource, FetchFuture};
use crate::{AuthError, Credential};

/// Credentials from an async closure, called whenever the layer needs a
/// fresh one (first use, near expiry, after a 401).
///
/// ```
/// use std::time::Duration;
/// use girder_auth::{Credential, FnSource};
///
/// let source = FnSource::new(|| async {
///     // Ask a vault, a sidecar, a cloud metadata endpoint, …
///     Ok(Credential::bearer("from-the-vault").unwrap().expires_in(Duration::from_secs(600)))
/// });
/// # let _ = source;
/// ```
pub struct FnSource<F> {
    f: F,
}

impl<F, Fut> FnSource<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Credential, AuthError>> + Send + 'static,
{
    /// A source calling `f`.
    pub fn new(f: F) -> Self {
        FnSource { f }
    }
}

impl<F> fmt::Debug for FnSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnSource").finish_non_exhaustive()
    }
}

impl<F, Fut> CredentialSource for FnSource<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Credential, AuthError>> + Send + 'static,
{
    fn fetch(&self) -> FetchFuture {
        Box::pin((self.f)())
    }
}
