//! Clock-skew recovery: [`SkewPolicy`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use girder_core::WallClock;
use girder_core::clock::Instant;
use http::{HeaderMap, StatusCode};

use crate::error::InvalidSigningConfig;

type Rejected = dyn Fn(StatusCode, &HeaderMap) -> bool + Send + Sync;

/// When and how the layer recovers from a server that rejected a request
/// for its timestamp.
///
/// With a policy set (see [`SigningLayer::skew`](crate::SigningLayer::skew)),
/// a response that the policy's predicate calls a time rejection (by
/// default 401 or 403, or an `x-amzn-ErrorType` of
/// `RequestTimeTooSkewed`) and whose `Date` differs from the layer's
/// clock by more than the threshold teaches the layer the server's offset;
/// the request is signed again at the corrected time and sent once more.
/// The offset is kept for later calls. Never more than one re-sign per
/// call; never for a streamed body (it cannot be sent again), whose
/// rejection is returned as it is. A missing or unreadable `Date`, or an
/// offset over the maximum, teaches nothing.
///
/// A rejected request was not acted on by the server, so sending it again
/// sends nothing twice that must not be.
///
/// ```
/// use std::time::Duration;
/// use girder_sign::SkewPolicy;
///
/// let policy = SkewPolicy::builder().threshold(Duration::from_secs(30)).build().unwrap();
/// assert_eq!(policy.threshold(), Duration::from_secs(30));
/// assert!(SkewPolicy::builder().threshold(Duration::ZERO).build().is_err());
/// ```
#[derive(Clone)]
pub struct SkewPolicy {
    threshold: Duration,
    max_offset: Duration,
    rejected: Arc<Rejected>,
}

impl fmt::Debug for SkewPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkewPolicy")
            .field("threshold", &self.threshold)
            .field("max_offset", &self.max_offset)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SkewPolicy`].
pub struct SkewPolicyBuilder {
    inner: SkewPolicy,
}

impl fmt::Debug for SkewPolicyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// The default predicate: 401 or 403, or AWS's `RequestTimeTooSkewed`
/// error type header.
fn default_rejected(status: StatusCode, headers: &HeaderMap) -> bool {
    let aws = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("RequestTimeTooSkewed"));
    aws || status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

impl Default for SkewPolicy {
    fn default() -> Self {
        SkewPolicy {
            threshold: Duration::from_secs(60),
            max_offset: Duration::from_secs(24 * 3_600),
            rejected: Arc::new(default_rejected),
        }
    }
}

impl SkewPolicy {
    /// A builder starting from the defaults.
    pub fn builder() -> SkewPolicyBuilder {
        SkewPolicyBuilder {
            inner: SkewPolicy::default(),
        }
    }

    /// The smallest difference that counts as skew.
    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// The server's time from a response, if the response is a time
    /// rejection whose `Date` is more than the threshold (and at most the
    /// maximum) away from `signed_at`, the time the request was signed at.
    pub(crate) fn server_time(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        signed_at: SystemTime,
    ) -> Option<SystemTime> {
        if !(self.rejected)(status, headers) {
            return None;
        }
        let date = headers.get(http::header::DATE)?.to_str().ok()?;
        let server = httpdate::parse_http_date(date).ok()?;
        let by = match server.duration_since(signed_at) {
            Ok(by) => by,
            Err(e) => e.duration(),
        };
        (by > self.threshold && by <= self.max_offset).then_some(server)
    }
}

impl SkewPolicyBuilder {
    /// The smallest difference between the server's `Date` and our clock
    /// that counts as skew. At least one second (`Date` has whole seconds).
    ///
    /// Default: 60 s.
    pub fn threshold(mut self, threshold: Duration) -> Self {
        self.inner.threshold = threshold;
        self
    }

    /// The largest offset believed; a `Date` further off is ignored as
    /// garbage.
    ///
    /// Default: 24 h.
    pub fn max_offset(mut self, max: Duration) -> Self {
        self.inner.max_offset = max;
        self
    }

    /// Which responses are rejections for time. It sees the status and
    /// the headers only; the body is never read.
    ///
    /// Default: 401, 403, or `x-amzn-ErrorType: RequestTimeTooSkewed…`.
    pub fn rejected_when<F>(mut self, rejected: F) -> Self
    where
        F: Fn(StatusCode, &HeaderMap) -> bool + Send + Sync + 'static,
    {
        self.inner.rejected = Arc::new(rejected);
        self
    }

    /// The policy, or why it makes no sense.
    pub fn build(self) -> Result<SkewPolicy, InvalidSigningConfig> {
        if self.inner.threshold < Duration::from_secs(1) {
            return Err(InvalidSigningConfig::new(
                "threshold",
                "is under one second, finer than Date",
            ));
        }
        if self.inner.max_offset <= self.inner.threshold {
            return Err(InvalidSigningConfig::new(
                "max_offset",
                "is not above the threshold",
            ));
        }
        Ok(self.inner)
    }
}

/// The layer's clock: a [`WallClock`] plus the learned offset.
#[derive(Debug)]
pub(crate) struct Clock {
    wall: WallClock,
    offset_ms: AtomicI64,
}

impl Clock {
    pub(crate) fn new(wall: WallClock) -> Self {
        Clock {
            wall,
            offset_ms: AtomicI64::new(0),
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.at(Instant::now())
    }

    /// The time this clock shows at `instant` (tokio's clock).
    pub(crate) fn at(&self, instant: Instant) -> SystemTime {
        let offset = self.offset_ms.load(Ordering::Relaxed);
        let by = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            self.wall.ahead_by(by).at(instant)
        } else {
            self.wall.behind_by(by).at(instant)
        }
    }

    /// Takes the offset that makes our clock show `server` now. Setting
    /// (not adding) it means that calls rejected at the same time, each
    /// learning the same skew, agree instead of adding it up.
    pub(crate) fn adopt(&self, server: SystemTime) -> i64 {
        let wall = self.wall.now();
        let offset = match server.duration_since(wall) {
            Ok(ahead) => i64::try_from(ahead.as_millis()).unwrap_or(i64::MAX),
            Err(behind) => -i64::try_from(behind.duration().as_millis()).unwrap_or(i64::MAX),
        };
        self.offset_ms.store(offset, Ordering::Relaxed);
        offset
    }

    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }
}
