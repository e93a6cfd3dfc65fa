//! Stand-ins for the call-record events of the layers the tests put under
//! the trace layer: the same texts, attempts, resends and routine flags as
//! girder-retry's `RetryDecision`, girder-auth's `AuthEvent` and the
//! facade's `Redirected`, whose crates a layer crate does not depend on
//! (ARCHITECTURE.md, "Layout"). Those crates test their own.

use std::fmt;
use std::time::Duration;

use girder_core::Reason;
use girder_core::record::{Event, Readable};

/// Retry's attempt `number`: routine when it is the first, a resend after.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub number: u32,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {}", self.number)
    }
}

impl Event for Attempt {
    fn attempt(&self) -> Option<u32> {
        Some(self.number)
    }

    fn is_routine(&self) -> bool {
        self.number == 1
    }
}

/// Retry's scheduled retry after a backoff.
#[derive(Debug, Clone, Copy)]
pub struct Scheduled {
    pub failed: u32,
    pub reason: Reason,
    pub delay: Duration,
}

impl fmt::Display for Scheduled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attempt {} failed ({}); next in {} (backoff)",
            self.failed,
            self.reason,
            Readable(self.delay)
        )
    }
}

impl Event for Scheduled {}

/// Auth's 401 replay: a resend.
#[derive(Debug, Clone, Copy)]
pub struct RecoveredFrom401;

impl fmt::Display for RecoveredFrom401 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("401, token refreshed and request resent")
    }
}

impl Event for RecoveredFrom401 {
    fn is_resend(&self) -> bool {
        true
    }
}

/// A followed redirect: a resend.
#[derive(Debug, Clone, Copy)]
pub struct Redirected {
    pub status: u16,
}

impl fmt::Display for Redirected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "followed a {} redirect", self.status)
    }
}

impl Event for Redirected {
    fn is_resend(&self) -> bool {
        true
    }
}
