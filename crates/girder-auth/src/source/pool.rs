//! [`ApiKeyPool`]: several API keys, rotated when the server refuses one.

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use http::{HeaderName, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use super::{CredentialSource, FetchFuture};
use crate::{AuthError, AuthErrorKind, Credential, InvalidAuthConfig};

/// A pool of API keys: one is used until the server refuses it (401 or
/// 403), then the next; a key refused `max_failures` times in a row is
/// dropped for good. When every key is dropped, calls fail with an
/// [`AuthError`] of kind [`NoCredential`](AuthErrorKind::NoCredential).
///
/// A refused request is sent again once with the next key (when its body
/// can be replayed). Keys are named by their position in logs and errors,
/// never by their value.
///
/// ```
/// use girder_auth::ApiKeyPool;
///
/// let pool = ApiKeyPool::header("x-api-key", ["key-a".into(), "key-b".into()])
///     .max_failures(2)
///     .build()?;
/// assert_eq!(pool.live_keys(), 2);
/// assert!(!format!("{pool:?}").contains("key-a"));
/// # Ok::<_, girder_auth::InvalidAuthConfig>(())
/// ```
///
/// # Clone
///
/// Clones share the keys and their failure counts.
#[derive(Clone)]
pub struct ApiKeyPool {
    inner: Arc<Pool>,
}

struct Pool {
    slots: Vec<Slot>,
    current: AtomicUsize,
    rotate: Mutex<()>,
    max_failures: u32,
}

struct Slot {
    credential: Credential,
    failures: AtomicU32,
    alive: AtomicBool,
}

/// Builds an [`ApiKeyPool`].
pub struct ApiKeyPoolBuilder {
    place: Place,
    keys: Vec<SecretString>,
    max_failures: u32,
}

enum Place {
    Header(String),
    Query(String),
}

impl ApiKeyPool {
    /// Keys sent in the header field `name`.
    pub fn header(name: &str, keys: impl IntoIterator<Item = SecretString>) -> ApiKeyPoolBuilder {
        ApiKeyPoolBuilder::new(Place::Header(name.to_owned()), keys)
    }

    /// Keys sent in the query parameter `name`.
    pub fn query(name: &str, keys: impl IntoIterator<Item = SecretString>) -> ApiKeyPoolBuilder {
        ApiKeyPoolBuilder::new(Place::Query(name.to_owned()), keys)
    }

    /// How many keys are not dropped.
    pub fn live_keys(&self) -> usize {
        let slots = &self.inner.slots;
        slots
            .iter()
            .filter(|s| s.alive.load(Ordering::Acquire))
            .count()
    }

    /// The position (from 0) of the key in use, or `None` when none is left.
    pub fn current_key(&self) -> Option<usize> {
        let i = self.inner.current.load(Ordering::Acquire);
        let slot = self.inner.slots.get(i)?;
        slot.alive.load(Ordering::Acquire).then_some(i)
    }
}

impl ApiKeyPoolBuilder {
    fn new(place: Place, keys: impl IntoIterator<Item = SecretString>) -> Self {
        ApiKeyPoolBuilder {
            place,
            keys: keys.into_iter().collect(),
            max_failures: 3,
        }
    }

    /// Consecutive refusals after which a key is dropped; an accepted
    /// request resets the count. Default: 3.
    pub fn max_failures(mut self, max: u32) -> Self {
        self.max_failures = max;
        self
    }

    /// The pool; fails on no keys, an empty key, a bad name, or
    /// `max_failures` of 0.
    pub fn build(self) -> Result<ApiKeyPool, InvalidAuthConfig> {
        if self.keys.is_empty() {
            return Err(InvalidAuthConfig::new(
                "an API key pool needs at least one key",
            ));
        }
        if self.max_failures == 0 {
            return Err(InvalidAuthConfig::new("max_failures must be at least 1"));
        }
        let mut slots = Vec::with_capacity(self.keys.len());
        for (i, key) in self.keys.iter().enumerate() {
            if key.expose_secret().is_empty() {
                return Err(InvalidAuthConfig::new(format!("API key {i} is empty")));
            }
            let credential = match &self.place {
                Place::Header(name) => {
                    let name = HeaderName::try_from(name.as_str()).map_err(|_| {
                        InvalidAuthConfig::new(format!("{name:?} is not a header name"))
                    })?;
                    Credential::new().header_secret(name, key.expose_secret())?
                }
                Place::Query(name) if name.is_empty() => {
                    return Err(InvalidAuthConfig::new("the query parameter name is empty"));
                }
                Place::Query(name) => Credential::new().query_secret(name, key.expose_secret()),
            };
            slots.push(Slot {
                credential: credential.with_id(i as u64),
                failures: AtomicU32::new(0),
                alive: AtomicBool::new(true),
            });
        }
        Ok(ApiKeyPool {
            inner: Arc::new(Pool {
                slots,
                current: AtomicUsize::new(0),
                rotate: Mutex::new(()),
                max_failures: self.max_failures,
            }),
        })
    }
}

impl CredentialSource for ApiKeyPool {
    fn fetch(&self) -> FetchFuture {
        let pool = &self.inner;
        let result = match self.current_key() {
            Some(i) => Ok(pool.slots[i].credential.clone()),
            None => Err(AuthError::new(
                AuthErrorKind::NoCredential,
                format!(
                    "all {} API keys were dropped after {} consecutive refusals each",
                    pool.slots.len(),
                    pool.max_failures
                ),
            )),
        };
        Box::pin(std::future::ready(result))
    }

    fn rejected(&self, credential: &Credential, status: StatusCode) -> bool {
        if !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return false;
        }
        let pool = &self.inner;
        let Ok(i) = usize::try_from(credential.id()) else {
            return false;
        };
        let Some(slot) = pool.slots.get(i) else {
            return false;
        };
        let _guard = pool.rotate.lock().unwrap_or_else(|p| p.into_inner());
        let failures = slot.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= pool.max_failures && slot.alive.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                target: "girder::auth",
                key = i,
                failures,
                status = status.as_u16(),
                "API key dropped"
            );
        }
        // Move on from the refused key, unless another call already did.
        if pool.current.load(Ordering::Acquire) == i {
            let n = pool.slots.len();
            let next = (1..=n)
                .map(|step| (i + step) % n)
                .find(|&j| pool.slots[j].alive.load(Ordering::Acquire));
            match next {
                Some(j) => {
                    pool.current.store(j, Ordering::Release);
                    tracing::debug!(target: "girder::auth", from = i, to = j, "API key rotated");
                }
                None => tracing::warn!(target: "girder::auth", "no API key left"),
            }
        }
        true
    }

    fn accepted(&self, credential: &Credential) {
        let slot = usize::try_from(credential.id())
            .ok()
            .and_then(|i| self.inner.slots.get(i));
        if let Some(slot) = slot
            && slot.failures.load(Ordering::Relaxed) != 0
        {
            slot.failures.store(0, Ordering::Release);
        }
    }
}

impl fmt::Debug for ApiKeyPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyPool")
            .field("keys", &self.inner.slots.len())
            .field("live", &self.live_keys())
            .field("current", &self.current_key())
            .field("max_failures", &self.inner.max_failures)
            .finish()
    }
}

impl fmt::Debug for ApiKeyPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyPoolBuilder")
            .field("keys", &self.keys.len())
            .field("max_failures", &self.max_failures)
            .finish()
    }
}
