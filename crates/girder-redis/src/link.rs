//! The connection to Redis: made by the first call that needs it, re-made
//! when it fails, closes or stalls; every round trip bounded.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use crate::error::RedisUnavailable;

/// The way to Redis of one [`RedisConfig`](crate::RedisConfig) and its
/// clones: every backend and store made from them multiplexes its round
/// trips over this one connection.
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
    pub(crate) fn new(client: redis::Client, io_timeout: Duration, password: Vec<String>) -> Self {
        Link {
            client,
            io_timeout,
            password,
            manager: Mutex::new(None),
            managers: AtomicU64::new(0),
            stalled_since: Mutex::new(None),
        }
    }

    /// The passwords masked in messages.
    #[cfg(test)]
    pub(crate) fn password(&self) -> &[String] {
        &self.password
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

/// Whether Redis answers, as one backend or store sees it, and the one
/// call that asks it while it does not.
///
/// While Redis answers every call asks it. After a round trip fails, the
/// store is *away*: one call at a time asks (holding a [`Turn`]) and the
/// others are answered at once, so that a hung Redis costs one call at a
/// time the budget, not every call. The first answer brings the store
/// back. [`failed`](Self::failed) and [`answered`](Self::answered) say
/// whether they changed the state, so that each transition is logged once.
#[derive(Debug, Default)]
pub(crate) struct Availability {
    away: AtomicBool,
    asking: AtomicBool,
}

impl Availability {
    /// Whether the last round trip failed.
    pub(crate) fn is_away(&self) -> bool {
        self.away.load(Ordering::Acquire)
    }

    /// `Ok(None)` while Redis answers; while it is away, the turn to ask
    /// for one call, and for the others an error saying another call is
    /// asking.
    pub(crate) fn turn(self: &Arc<Self>) -> Result<Option<Turn>, RedisUnavailable> {
        if !self.is_away() {
            return Ok(None);
        }
        self.asking
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| Some(Turn(self.clone())))
            .map_err(|_| {
                RedisUnavailable::new(
                    "unavailable; another call is checking whether it is back".into(),
                )
            })
    }

    /// A round trip failed: `true` if Redis was answering until now.
    pub(crate) fn failed(&self) -> bool {
        !self.away.swap(true, Ordering::AcqRel)
    }

    /// A round trip was answered: `true` if Redis was away until now.
    pub(crate) fn answered(&self) -> bool {
        self.away.swap(false, Ordering::AcqRel)
    }
}

/// The one call asking Redis while it is away; gives the turn back when
/// dropped (its round trip ended, or its call was dropped halfway).
pub(crate) struct Turn(Arc<Availability>);

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.asking.store(false, Ordering::Release);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Both values stay valid if a holder panicked.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn while_away_one_call_at_a_time_asks_and_transitions_are_reported_once() {
        let availability = Arc::new(Availability::default());
        assert!(availability.turn().expect("answering").is_none());
        assert!(!availability.answered(), "no transition");
        assert!(availability.failed());
        assert!(!availability.failed(), "reported once");
        let turn = availability.turn().expect("first asker").expect("a turn");
        assert!(
            availability.turn().is_err(),
            "a second asker is answered at once"
        );
        drop(turn);
        let again = availability
            .turn()
            .expect("turn given back")
            .expect("a turn");
        assert!(availability.answered());
        assert!(!availability.answered(), "reported once");
        drop(again);
        assert!(availability.turn().expect("answering").is_none());
    }
}
