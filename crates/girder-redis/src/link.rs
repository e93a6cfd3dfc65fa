//! The connection to Redis: made by the first call that needs it, re-made
//! when it fails, closes or stalls; every round trip bounded.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use crate::config::RedisConfig;
use crate::error::RedisUnavailable;

/// One backend's way to Redis, shared by its clones.
pub(crate) struct Link {
    client: redis::Client,
    io_timeout: Duration,
    /// The URL's password, as written and decoded, masked in messages.
    password: Vec<String>,
    /// Made by the first call (it needs the tokio runtime), then re-made
    /// by redis whenever the connection is lost, and here when it stalls.
    manager: Mutex<Option<ConnectionManager>>,
    /// How many managers were made: 1, plus one per stall.
    managers: AtomicU64,
    /// Since when calls have timed out with no answer in between.
    stalled_since: Mutex<Option<Instant>>,
}

impl Link {
    pub(crate) fn new(config: &RedisConfig) -> Self {
        Link {
            client: config.client.clone(),
            io_timeout: config.io_timeout,
            password: config.password.clone(),
            manager: Mutex::new(None),
            managers: AtomicU64::new(0),
            stalled_since: Mutex::new(None),
        }
    }

    /// How many connection managers were made.
    #[cfg(test)]
    pub(crate) fn managers(&self) -> u64 {
        self.managers.load(Ordering::Relaxed)
    }

    pub(crate) fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = lock(&self.manager);
        if let Some(manager) = slot.as_ref() {
            return Ok(manager.clone());
        }
        let io = Some(self.io_timeout);
        // One attempt per reconnection: while Redis is down each call
        // learns it at once (connection refused) instead of waiting out a
        // backoff, and the next call tries again.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(io)
            .set_response_timeout(io)
            .set_number_of_retries(0);
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        self.managers.fetch_add(1, Ordering::Relaxed);
        *slot = Some(manager.clone());
        Ok(manager)
    }

    /// `work`, for at most `limit`; a fault is described with every
    /// password of the URL masked.
    pub(crate) async fn bounded<T>(
        &self,
        limit: Duration,
        work: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, RedisUnavailable> {
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(value)) => {
                self.answered();
                Ok(value)
            }
            Ok(Err(error)) => {
                self.answered();
                Err(RedisUnavailable::new(self.mask(error.to_string())))
            }
            Err(_) => {
                self.stalled();
                Err(RedisUnavailable::new(format!("no answer within {limit:?}")))
            }
        }
    }

    fn answered(&self) {
        let mut since = lock(&self.stalled_since);
        *since = None;
    }

    /// A call timed out. redis re-makes a connection that fails or closes,
    /// but not one that stays open and silent (a frozen server, a
    /// black-holed network, a host gone without a reset): after an I/O
    /// timeout with no answer, the next call starts a new one. At most one
    /// per I/O timeout, so that a merely slow Redis is not flooded with
    /// connections.
    fn stalled(&self) {
        let now = Instant::now();
        let mut since = lock(&self.stalled_since);
        match *since {
            None => *since = Some(now),
            Some(first) if now.duration_since(first) >= self.io_timeout => {
                *lock(&self.manager) = None;
                *since = Some(now);
                tracing::debug!(target: "girder::redis", "no answer for an I/O timeout: reconnecting");
            }
            Some(_) => {}
        }
    }

    fn mask(&self, mut text: String) -> String {
        for password in self.password.iter().filter(|p| !p.is_empty()) {
            if text.contains(password.as_str()) {
                text = text.replace(password.as_str(), "***");
            }
        }
        text
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Both values stay valid if a holder panicked.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
