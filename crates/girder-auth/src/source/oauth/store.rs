//! [`TokenStore`]: where a rotated refresh token is kept across restarts.

use std::fmt;
use std::sync::{Arc, Mutex};

use secrecy::SecretString;

use crate::source::StoreFuture;

/// Keeps the current refresh token of a [`RefreshToken`](super::RefreshToken)
/// source, so that a token the server rotated survives a restart.
///
/// [`load`](Self::load) is called once, before the first token request;
/// what it returns replaces the refresh token the source was built with.
/// [`save`](Self::save) is called each time the server issues a new
/// refresh token. Implement it over a file, a database row or a secret
/// manager; [`MemoryTokenStore`] keeps it in memory (for tests).
///
/// ```
/// use girder_auth::{StoreFuture, TokenStore};
/// use secrecy::{ExposeSecret, SecretString};
///
/// /// A store in a file (a real one would write atomically and with
/// /// restrictive permissions).
/// struct FileStore(std::path::PathBuf);
///
/// impl TokenStore for FileStore {
///     fn load(&self) -> StoreFuture<Option<SecretString>> {
///         let path = self.0.clone();
///         Box::pin(async move {
///             match std::fs::read_to_string(path) {
///                 Ok(text) => Ok(Some(SecretString::from(text.trim()))),
///                 Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
///                 Err(e) => Err(e.into()),
///             }
///         })
///     }
///
///     fn save(&self, token: SecretString) -> StoreFuture<()> {
///         let path = self.0.clone();
///         Box::pin(async move { Ok(std::fs::write(path, token.expose_secret())?) })
///     }
/// }
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// The stored refresh token, if any.
    fn load(&self) -> StoreFuture<Option<SecretString>>;

    /// Stores `refresh_token`, replacing the one stored.
    fn save(&self, refresh_token: SecretString) -> StoreFuture<()>;
}

/// A [`TokenStore`] in memory.
///
/// # Clone
///
/// Clones share the stored token.
#[derive(Clone, Default)]
pub struct MemoryTokenStore {
    token: Arc<Mutex<Option<SecretString>>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryTokenStore::default()
    }

    /// A store holding `token`.
    pub fn with_token(token: SecretString) -> Self {
        let store = MemoryTokenStore::new();
        *store.lock() = Some(token);
        store
    }

    /// The stored token.
    pub fn get(&self) -> Option<SecretString> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<SecretString>> {
        self.token.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> StoreFuture<Option<SecretString>> {
        Box::pin(std::future::ready(Ok(self.get())))
    }

    fn save(&self, refresh_token: SecretString) -> StoreFuture<()> {
        *self.lock() = Some(refresh_token);
        Box::pin(std::future::ready(Ok(())))
    }
}

impl fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stored = self.lock().is_some();
        f.debug_struct("MemoryTokenStore")
            .field("stored", &stored)
            .finish()
    }
}
