//! Wall-clock time that follows tokio's clock.
//!
//! Several layers need the time of day, not just durations: HTTP dates in
//! the cache, timestamps in request signatures, `iat` / `exp` in minted
//! tokens. Reading [`SystemTime::now`] directly would make them untestable
//! with paused time, so they read a [`WallClock`]: a wall-clock base taken
//! once, plus the tokio time elapsed since. Under
//! `#[tokio::test(start_paused = true)]` a `WallClock` advances exactly as
//! far as `tokio::time::advance` moves it.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use girder_core::WallClock;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let clock = WallClock::starting_at(start);
//! tokio::time::advance(Duration::from_secs(90)).await;
//! assert_eq!(clock.now(), start + Duration::from_secs(90));
//! assert_eq!(clock.unix_seconds(), 1_700_000_090);
//! # }
//! ```

use std::time::{Duration, SystemTime};

/// The instant type of girder's clock readings
/// ([`CallRecord::now`](crate::CallRecord::now), deadlines): tokio's, so
/// that paused test time moves them.
pub use tokio::time::Instant;

/// The time of day, derived from a base instant plus tokio time.
///
/// Cheap to copy. [`WallClock::system`] (the `Default`) starts at the real
/// time of day; [`WallClock::starting_at`] at a chosen one, for tests and
/// known-answer vectors.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    base: SystemTime,
    origin: Instant,
}

impl WallClock {
    /// A clock showing the system's time of day now and advancing with
    /// tokio time from here on.
    ///
    /// Create it inside the runtime whose time it should follow: a clock
    /// made outside a paused runtime and read inside one may stand still
    /// until the paused clock passes the moment it was made.
    #[allow(clippy::disallowed_methods)] // the one place the real time of day is read
    pub fn system() -> Self {
        WallClock::starting_at(SystemTime::now())
    }

    /// A clock showing `at` now and advancing with tokio time.
    pub fn starting_at(at: SystemTime) -> Self {
        WallClock {
            base: at,
            origin: Instant::now(),
        }
    }

    /// The same clock moved by `offset` ahead (a learned server clock skew,
    /// say).
    pub fn ahead_by(self, offset: Duration) -> Self {
        WallClock {
            base: self.base + offset,
            origin: self.origin,
        }
    }

    /// The same clock moved by `offset` back.
    pub fn behind_by(self, offset: Duration) -> Self {
        WallClock {
            base: self
                .base
                .checked_sub(offset)
                .unwrap_or(SystemTime::UNIX_EPOCH),
            origin: self.origin,
        }
    }

    /// The time of day now.
    pub fn now(&self) -> SystemTime {
        self.base + self.origin.elapsed()
    }

    /// The time of day at `instant` on tokio's clock: for a reading taken
    /// already (a call's [`CallRecord::now`](crate::CallRecord::now)),
    /// without reading the clock again.
    pub fn at(&self, instant: Instant) -> SystemTime {
        if instant >= self.origin {
            self.base + instant.duration_since(self.origin)
        } else {
            self.base
                .checked_sub(self.origin.duration_since(instant))
                .unwrap_or(SystemTime::UNIX_EPOCH)
        }
    }

    /// Whole seconds since the Unix epoch now (0 before the epoch).
    pub fn unix_seconds(&self) -> u64 {
        self.since_epoch().as_secs()
    }

    /// Time since the Unix epoch now (zero before the epoch).
    pub fn since_epoch(&self) -> Duration {
        self.now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::system()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn follows_paused_time_and_offsets() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let clock = WallClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(Duration::from_millis(1_500)).await;
        assert_eq!(clock.since_epoch(), Duration::from_millis(1_001_500));
        assert_eq!(
            clock.ahead_by(Duration::from_secs(10)).unix_seconds(),
            1_011
        );
        assert_eq!(clock.behind_by(Duration::from_secs(10)).unix_seconds(), 991);
        assert_eq!(
            clock.behind_by(Duration::from_secs(5_000)).unix_seconds(),
            0
        );
    }
}
