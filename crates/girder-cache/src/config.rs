//! [`CacheConfig`] and its builder.

use std::fmt;
use std::time::Duration;

use girder_core::WallClock;
use http::{HeaderName, StatusCode};
use http_cache_semantics::CacheOptions;

use crate::key::KeyMaker;

/// How the cache behaves. Build one with [`CacheConfig::builder`]; the
/// [`Default`] is the table in the [crate docs](crate#defaults).
#[derive(Clone)]
pub struct CacheConfig {
    pub(crate) max_bytes: u64,
    pub(crate) max_entry_bytes: usize,
    pub(crate) max_variants: usize,
    pub(crate) heuristic_fraction: f32,
    pub(crate) ttl_override: Option<Duration>,
    pub(crate) stale_while_revalidate: Option<Duration>,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) stale_if_error_statuses: Vec<StatusCode>,
    pub(crate) keep_stale_for: Duration,
    pub(crate) stale_if_unreachable: Duration,
    pub(crate) coalesce: bool,
    pub(crate) max_coalesce_wait: Duration,
    pub(crate) identity_headers: Vec<HeaderName>,
    pub(crate) identity_query: Vec<String>,
    pub(crate) identity_secret: Option<[u8; 32]>,
    pub(crate) clock: Option<WallClock>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 64 * 1024 * 1024,
            max_entry_bytes: 1024 * 1024,
            max_variants: 8,
            heuristic_fraction: 0.1,
            ttl_override: None,
            stale_while_revalidate: None,
            stale_if_error: None,
            stale_if_error_statuses: vec![
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::GATEWAY_TIMEOUT,
            ],
            keep_stale_for: Duration::from_secs(24 * 3600),
            stale_if_unreachable: Duration::from_secs(24 * 3600),
            coalesce: true,
            max_coalesce_wait: Duration::from_secs(30),
            identity_headers: vec![
                http::header::AUTHORIZATION,
                http::header::PROXY_AUTHORIZATION,
                http::header::COOKIE,
                HeaderName::from_static("x-api-key"),
            ],
            identity_query: vec!["api_key".into(), "apikey".into(), "access_token".into()],
            identity_secret: None,
            clock: None,
        }
    }
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("max_bytes", &self.max_bytes)
            .field("max_entry_bytes", &self.max_entry_bytes)
            .field("max_variants", &self.max_variants)
            .field("heuristic_fraction", &self.heuristic_fraction)
            .field("ttl_override", &self.ttl_override)
            .field("stale_while_revalidate", &self.stale_while_revalidate)
            .field("stale_if_error", &self.stale_if_error)
            .field("stale_if_error_statuses", &self.stale_if_error_statuses)
            .field("keep_stale_for", &self.keep_stale_for)
            .field("stale_if_unreachable", &self.stale_if_unreachable)
            .field("coalesce", &self.coalesce)
            .field("max_coalesce_wait", &self.max_coalesce_wait)
            .field("identity_headers", &self.identity_headers)
            .field("identity_query", &self.identity_query)
            .field(
                "identity_secret",
                &self.identity_secret.map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl CacheConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> CacheConfigBuilder {
        CacheConfigBuilder {
            config: CacheConfig::default(),
        }
    }

    pub(crate) fn options(&self) -> CacheOptions {
        CacheOptions {
            shared: false,
            cache_heuristic: self.heuristic_fraction,
            ..CacheOptions::default()
        }
    }

    pub(crate) fn key_maker(&self) -> KeyMaker {
        let secret = self.identity_secret.unwrap_or_else(|| {
            let mut secret = [0u8; 32];
            getrandom::getrandom(&mut secret).expect("the OS random source is available");
            secret
        });
        KeyMaker::new(
            secret,
            self.identity_headers.clone(),
            self.identity_query.clone(),
        )
    }
}

/// Builds a [`CacheConfig`]; [`build`](CacheConfigBuilder::build) checks it.
#[derive(Debug, Clone)]
pub struct CacheConfigBuilder {
    config: CacheConfig,
}

impl CacheConfigBuilder {
    /// Total bytes the default store may hold (default 64 MiB).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.config.max_bytes = bytes;
        self
    }

    /// The largest body stored (default 1 MiB). Larger responses stream
    /// through to the caller uncached.
    pub fn max_entry_bytes(mut self, bytes: usize) -> Self {
        self.config.max_entry_bytes = bytes;
        self
    }

    /// How many `Vary` variants of one URI are kept (default 8); the least
    /// recently stored is dropped first.
    pub fn max_variants(mut self, n: usize) -> Self {
        self.config.max_variants = n;
        self
    }

    /// The fraction of `Date - Last-Modified` used as the freshness of a
    /// response without explicit freshness (RFC 9111 §4.2.2; default 0.1).
    pub fn heuristic_fraction(mut self, fraction: f32) -> Self {
        self.config.heuristic_fraction = fraction;
        self
    }

    /// Treats responses that carry no `Cache-Control` and no `Expires` as
    /// fresh for `ttl` (off by default): for APIs that send no caching
    /// headers at all. Explicit headers always win.
    pub fn ttl_override(mut self, ttl: Duration) -> Self {
        self.config.ttl_override = Some(ttl);
        self
    }

    /// A `stale-while-revalidate` window for responses that do not give one
    /// (off by default). A response's own directive wins; `must-revalidate`
    /// and `no-cache` forbid it.
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.config.stale_while_revalidate = Some(window);
        self
    }

    /// A `stale-if-error` window for responses that do not give one (off by
    /// default): how long after going stale a response may still be served
    /// when the server fails.
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.config.stale_if_error = Some(window);
        self
    }

    /// The statuses that count as a server failure for `stale-if-error`
    /// (default 500, 502, 503, 504). Errors below the cache (transport
    /// errors, timeouts, `CircuitOpen`, `RateLimited`) always count.
    pub fn stale_if_error_statuses(
        mut self,
        statuses: impl IntoIterator<Item = StatusCode>,
    ) -> Self {
        self.config.stale_if_error_statuses = statuses.into_iter().collect();
        self
    }

    /// How long a stale response that has a validator is kept for
    /// revalidation (default 24 h).
    pub fn keep_stale_for(mut self, duration: Duration) -> Self {
        self.config.keep_stale_for = duration;
        self
    }

    /// How long after going stale a response may still be served when the
    /// server cannot be reached at all: the call below failed with a
    /// transport error (connection refused, reset or closed, a timeout),
    /// not a refusal of girder's own (`CircuitOpen`, `RateLimited`) and not
    /// an answer (RFC 9111 §4.2.4 lets a disconnected cache serve stale).
    /// `must-revalidate` and `no-cache` forbid it; `Duration::ZERO` turns it
    /// off. Entries that allow it are kept this long past their freshness
    /// (within `max_bytes`). Default: 24 h.
    pub fn stale_if_unreachable(mut self, window: Duration) -> Self {
        self.config.stale_if_unreachable = window;
        self
    }

    /// Whether concurrent misses for one key share one request (default on).
    pub fn coalesce(mut self, on: bool) -> Self {
        self.config.coalesce = on;
        self
    }

    /// The longest a coalesced call waits for the call leading its key
    /// before it gives up waiting and asks the server itself (the call's
    /// [`Deadline`](girder_core::Deadline), when sooner, ends the wait with
    /// `DeadlineExceeded` instead). A leader that never finishes then holds
    /// no one up for long. Default: 30 s.
    pub fn max_coalesce_wait(mut self, wait: Duration) -> Self {
        self.config.max_coalesce_wait = wait;
        self
    }

    /// Adds a request header that carries credentials, to the defaults
    /// `Authorization`, `Proxy-Authorization`, `Cookie` and `X-API-Key`.
    pub fn identity_header(mut self, name: HeaderName) -> Self {
        if !self.config.identity_headers.contains(&name) {
            self.config.identity_headers.push(name);
        }
        self
    }

    /// Adds a query parameter that carries credentials, to the defaults
    /// `api_key`, `apikey` and `access_token`. It is hashed into the
    /// identity and left out of the key's URI.
    pub fn identity_query_param(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if !self.config.identity_query.contains(&name) {
            self.config.identity_query.push(name);
        }
        self
    }

    /// The secret the identity hash is keyed with. By default each cache
    /// draws a random one; processes sharing a store must share a secret.
    pub fn identity_secret(mut self, secret: [u8; 32]) -> Self {
        self.config.identity_secret = Some(secret);
        self
    }

    /// The clock the cache reads the time of day from (default:
    /// [`WallClock::system`] when the layer is built).
    pub fn clock(mut self, clock: WallClock) -> Self {
        self.config.clock = Some(clock);
        self
    }

    /// Checks and returns the config.
    pub fn build(self) -> Result<CacheConfig, InvalidCacheConfig> {
        let c = &self.config;
        if c.max_entry_bytes == 0 {
            return Err(InvalidCacheConfig("max_entry_bytes must be at least 1"));
        }
        if c.max_entry_bytes as u64 > c.max_bytes {
            return Err(InvalidCacheConfig(
                "max_entry_bytes must not exceed max_bytes",
            ));
        }
        if c.max_variants == 0 {
            return Err(InvalidCacheConfig("max_variants must be at least 1"));
        }
        if !(0.0..=1.0).contains(&c.heuristic_fraction) {
            return Err(InvalidCacheConfig(
                "heuristic_fraction must be between 0 and 1",
            ));
        }
        if c.max_coalesce_wait.is_zero() {
            return Err(InvalidCacheConfig(
                "max_coalesce_wait must be longer than zero (use coalesce(false) to turn coalescing off)",
            ));
        }
        if c.ttl_override == Some(Duration::ZERO) {
            return Err(InvalidCacheConfig("ttl_override must be longer than zero"));
        }
        Ok(self.config)
    }
}

/// A [`CacheConfig`] that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCacheConfig(&'static str);

impl fmt::Display for InvalidCacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid cache config: {}", self.0)
    }
}

impl std::error::Error for InvalidCacheConfig {}
