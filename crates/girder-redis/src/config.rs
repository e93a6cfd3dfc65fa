//! [`RedisConfig`]: where Redis is, how long a call waits for it, and what
//! happens when it does not answer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::keys;
use crate::link::Link;

/// How a backend reaches Redis and what it does without it; build one with
/// [`RedisConfig::builder`].
///
/// Building checks the URL and the options and does not connect: the
/// connection is made by the first call that needs it, and re-made by
/// itself after it is lost (redis's connection manager). Every backend
/// and store made from one config, or from its clones, shares that one
/// (multiplexed) connection; configs built separately have one each. A Redis that
/// cannot be reached is a run-time fault, handled like an outage (see
/// [`fail_closed`](RedisConfigBuilder::fail_closed)).
#[derive(Clone)]
pub struct RedisConfig {
    pub(crate) client: redis::Client,
    pub(crate) prefix: String,
    pub(crate) budget: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) share: Share,
    pub(crate) fail_closed: bool,
    pub(crate) max_cache_entry_bytes: usize,
    pub(crate) max_fill_hold: Duration,
    /// The connection, shared by every backend and store made from this
    /// config or its clones.
    pub(crate) link: Arc<Link>,
}

/// The largest cache entry (encoded) a store may be configured to keep.
// NOTE: girder-cache's `encoding::MAX_ENCODED_LEN`, which no entry exceeds.
const MAX_CACHE_ENTRY_BYTES: usize = 64 << 20;

/// The share of the fleet's quota one process keeps while Redis is away.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Share {
    FleetSize(u32),
    Fraction(f64),
}

impl Share {
    pub(crate) fn fraction(self) -> f64 {
        match self {
            Share::FleetSize(n) => 1.0 / f64::from(n.max(1)),
            Share::Fraction(f) => f,
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // redis's own Debug redacts the password too; the address is enough.
        let info = self.client.get_connection_info();
        f.debug_struct("RedisConfig")
            .field("addr", &info.addr().to_string())
            .field("db", &info.redis_settings().db())
            .field(
                "password",
                &info.redis_settings().password().map(|_| "<redacted>"),
            )
            .field("prefix", &self.prefix)
            .field("budget", &self.budget)
            .field("io_timeout", &self.io_timeout)
            .field("share", &self.share)
            .field("fail_closed", &self.fail_closed)
            .field("max_cache_entry_bytes", &self.max_cache_entry_bytes)
            .field("max_fill_hold", &self.max_fill_hold)
            .finish()
    }
}

impl RedisConfig {
    /// A builder for the Redis at `url`: `redis://[[user]:password@]host[:port][/db]`,
    /// for example `redis://127.0.0.1:6379/0`.
    pub fn builder(url: impl Into<String>) -> RedisConfigBuilder {
        RedisConfigBuilder {
            url: url.into(),
            prefix: "girder".into(),
            budget: Duration::from_millis(20),
            io_timeout: Duration::from_secs(1),
            share: None,
            fail_closed: false,
            max_cache_entry_bytes: 1 << 20,
            max_fill_hold: Duration::from_secs(5),
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The longest a call waits for Redis.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// The fraction of each quota a process keeps while Redis is away
    /// (0 when it [fails closed](RedisConfigBuilder::fail_closed)).
    pub fn fallback_share(&self) -> f64 {
        if self.fail_closed {
            0.0
        } else {
            self.share.fraction()
        }
    }

    /// The largest encoded entry a [`RedisCacheStore`](crate::RedisCacheStore) stores.
    pub fn max_cache_entry_bytes(&self) -> usize {
        self.max_cache_entry_bytes
    }

    /// The longest a fill claim of a [`RedisCacheStore`](crate::RedisCacheStore) lasts.
    pub fn max_fill_hold(&self) -> Duration {
        self.max_fill_hold
    }
}

/// Builds a [`RedisConfig`]; [`build`](Self::build) checks it.
pub struct RedisConfigBuilder {
    url: String,
    prefix: String,
    budget: Duration,
    io_timeout: Duration,
    share: Option<Share>,
    fail_closed: bool,
    max_cache_entry_bytes: usize,
    max_fill_hold: Duration,
}

impl fmt::Debug for RedisConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: it is not shown.
        f.debug_struct("RedisConfigBuilder")
            .field("prefix", &self.prefix)
            .field("budget", &self.budget)
            .field("io_timeout", &self.io_timeout)
            .field("share", &self.share)
            .field("fail_closed", &self.fail_closed)
            .field("max_cache_entry_bytes", &self.max_cache_entry_bytes)
            .field("max_fill_hold", &self.max_fill_hold)
            .finish_non_exhaustive()
    }
}

impl RedisConfigBuilder {
    /// Prefixes every key this crate writes (`{prefix}:q:...`), so that
    /// several applications, or several APIs with quotas of their own,
    /// share one Redis. At most 64 bytes, no whitespace or control
    /// characters.
    ///
    /// Default: `girder`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest a call waits for Redis (connecting included) before it
    /// falls back to this process's share of the quota, or is refused
    /// when the backend [fails closed](Self::fail_closed). Between 1 ms and
    /// 10 s.
    ///
    /// Default: 20 ms, about a hundred loopback or same-zone round trips:
    /// a Redis that takes longer is in trouble, and the call should not be.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// How long a connection attempt or a command may take before the
    /// connection counts as lost, and how long calls may go unanswered
    /// before a new connection is made (at most one per timeout). Calls
    /// never wait this long: they wait for the [budget](Self::budget).
    /// Between 10 ms and 60 s.
    ///
    /// Default: 1 s.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// How many processes share the quota: while Redis is away, each keeps
    /// `1/n` of every quota (at least one call per period, and a burst of
    /// at least 1), so that an outage does not multiply the load on the
    /// API. At least 1.
    ///
    /// Default: none; one of `fleet_size`, [`fallback_share`](Self::fallback_share)
    /// or [`fail_closed`](Self::fail_closed) must be given.
    pub fn fleet_size(mut self, n: u32) -> Self {
        self.share = Some(Share::FleetSize(n));
        self
    }

    /// The fraction of every quota a process keeps while Redis is away,
    /// above 0 and at most 1; instead of [`fleet_size`](Self::fleet_size).
    ///
    /// Default: none; see [`fleet_size`](Self::fleet_size).
    pub fn fallback_share(mut self, fraction: f64) -> Self {
        self.share = Some(Share::Fraction(fraction));
        self
    }

    /// Refuse calls while Redis is away, instead of falling back to this
    /// process's share: for users who prefer refusing to over-sending. A
    /// refused call fails with [`RedisUnavailable`](crate::RedisUnavailable).
    ///
    /// Default: off (fall back).
    pub fn fail_closed(mut self, enabled: bool) -> Self {
        self.fail_closed = enabled;
        self
    }

    /// The largest cache entry, encoded, that a
    /// [`RedisCacheStore`](crate::RedisCacheStore) stores: a larger one is
    /// not stored (a debug event says so), so that one huge answer does not
    /// crowd Redis or slow every process's reads. Between 1 byte and 64 MiB.
    ///
    /// Default: 1 MiB (girder-cache's own `max_entry_bytes`).
    pub fn max_cache_entry_bytes(mut self, bytes: usize) -> Self {
        self.max_cache_entry_bytes = bytes;
        self
    }

    /// The longest a [`RedisCacheStore`](crate::RedisCacheStore)'s fill
    /// claim lasts (the cache asks for the smaller of its
    /// `max_coalesce_wait` and the time left to the call's deadline). A
    /// claim is released as soon as its fill ends; this bounds how long a
    /// process that dies while fetching keeps the others waiting, and a
    /// fetch that takes longer lets one more process fetch. Between 10 ms
    /// and 10 min.
    ///
    /// Default: 5 s.
    pub fn max_fill_hold(mut self, hold: Duration) -> Self {
        self.max_fill_hold = hold;
        self
    }

    /// The config, or which option makes no sense. Does not connect.
    pub fn build(self) -> Result<RedisConfig, InvalidRedisConfig> {
        let (client, password) = parse_url(&self.url)?;
        if let Some(why) = keys::check_prefix(&self.prefix) {
            return Err(InvalidRedisConfig::new("prefix", why));
        }
        if self.budget < Duration::from_millis(1) || self.budget > Duration::from_secs(10) {
            return Err(InvalidRedisConfig::new(
                "budget",
                "it must be between 1 ms and 10 s",
            ));
        }
        if self.io_timeout < Duration::from_millis(10) || self.io_timeout > Duration::from_secs(60)
        {
            return Err(InvalidRedisConfig::new(
                "io_timeout",
                "it must be between 10 ms and 60 s",
            ));
        }
        if self.max_cache_entry_bytes == 0 || self.max_cache_entry_bytes > MAX_CACHE_ENTRY_BYTES {
            return Err(InvalidRedisConfig::new(
                "max_cache_entry_bytes",
                "it must be between 1 byte and 64 MiB",
            ));
        }
        if self.max_fill_hold < Duration::from_millis(10)
            || self.max_fill_hold > Duration::from_secs(600)
        {
            return Err(InvalidRedisConfig::new(
                "max_fill_hold",
                "it must be between 10 ms and 10 min",
            ));
        }
        let share = match self.share {
            Some(Share::FleetSize(0)) => {
                return Err(InvalidRedisConfig::new(
                    "fleet_size",
                    "it must be at least 1",
                ));
            }
            Some(Share::Fraction(f)) if !(f > 0.0 && f <= 1.0) => {
                return Err(InvalidRedisConfig::new(
                    "fallback_share",
                    "it must be above 0 and at most 1",
                ));
            }
            Some(share) => share,
            // Refusing needs no share; the fraction is then unused.
            None if self.fail_closed => Share::FleetSize(1),
            None => {
                return Err(InvalidRedisConfig::new(
                    "fleet_size",
                    "say how many processes share the quota (or set fallback_share, or fail_closed): \
                     without it a Redis outage would let every process send the whole quota",
                ));
            }
        };
        // The URL's password (as written and percent-decoded) is masked in
        // whatever the link reports.
        let link = Arc::new(Link::new(client.clone(), self.io_timeout, password));
        Ok(RedisConfig {
            link,
            client,
            prefix: self.prefix,
            budget: self.budget,
            io_timeout: self.io_timeout,
            share,
            fail_closed: self.fail_closed,
            max_cache_entry_bytes: self.max_cache_entry_bytes,
            max_fill_hold: self.max_fill_hold,
        })
    }
}

/// Checks the URL without echoing it: it may hold a password.
fn parse_url(text: &str) -> Result<(redis::Client, Vec<String>), InvalidRedisConfig> {
    let bad = |why: &'static str| InvalidRedisConfig::new("url", why);
    let url = url::Url::parse(text).map_err(|_| bad("not a URL"))?;
    match url.scheme() {
        "redis" | "valkey" => {}
        "rediss" | "valkeys" => {
            return Err(bad("TLS (rediss://) is not built into girder-redis yet"));
        }
        _ => return Err(bad("the scheme must be redis://")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    let mut password = Vec::new();
    if let Some(written) = url.password() {
        password.push(written.to_owned());
        if let Some(decoded) = percent_decode(written).filter(|d| d != written) {
            password.push(decoded);
        }
    }
    // redis's own parse (the database number, the query options); its
    // messages are not passed on, in case a later one quotes the URL.
    let client = redis::Client::open(url.as_str())
        .map_err(|_| bad("redis refused it (check the database number and the options)"))?;
    Ok((client, password))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A [`RedisConfig`] option that makes no sense. Names the option, never
/// its value (a URL may hold a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRedisConfig {
    option: &'static str,
    reason: &'static str,
}

impl InvalidRedisConfig {
    fn new(option: &'static str, reason: &'static str) -> Self {
        InvalidRedisConfig { option, reason }
    }

    /// The option: `url`, `prefix`, `budget`, `io_timeout`, `fleet_size`,
    /// `fallback_share`, `max_cache_entry_bytes` or `max_fill_hold`.
    pub fn option(&self) -> &'static str {
        self.option
    }
}

impl fmt::Display for InvalidRedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid redis {}: {}", self.option, self.reason)
    }
}

impl std::error::Error for InvalidRedisConfig {}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(builder: RedisConfigBuilder) -> InvalidRedisConfig {
        builder.build().expect_err("refused")
    }

    /// Bad input is a typed error naming the option, and a password in
    /// the URL never appears in it (nor in Debug output).
    #[test]
    fn bad_options_are_named_and_passwords_never_echoed() {
        let url = |u: &str| RedisConfig::builder(u).fleet_size(2);
        for bad in [
            "not a url hunter2",
            "http://:hunter2@host/",
            "rediss://:hunter2@host/",
            "redis://:hunter2@/0",
            "redis://:hunter2@127.0.0.1:6379/notadb",
        ] {
            let e = err(url(bad));
            assert_eq!(e.option(), "url", "{bad}: {e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
            assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
        }
        let ok = url("redis://:hunter%32@127.0.0.1:6379/0")
            .build()
            .expect("valid");
        assert!(!format!("{ok:?}").contains("hunter"), "{ok:?}");
        assert_eq!(ok.link.password(), ["hunter%32", "hunter2"]);
        let builder = url("redis://:hunter2@127.0.0.1/0");
        assert!(!format!("{builder:?}").contains("hunter2"));

        let base = || RedisConfig::builder("redis://127.0.0.1:6379/0");
        assert_eq!(err(base()).option(), "fleet_size");
        assert_eq!(err(base().fleet_size(0)).option(), "fleet_size");
        for f in [0.0, -1.0, 1.5, f64::NAN] {
            assert_eq!(err(base().fallback_share(f)).option(), "fallback_share");
        }
        assert_eq!(err(base().fleet_size(2).prefix("a b")).option(), "prefix");
        assert_eq!(err(base().fleet_size(2).prefix("")).option(), "prefix");
        assert_eq!(
            err(base().fleet_size(2).budget(Duration::ZERO)).option(),
            "budget"
        );
        assert_eq!(
            err(base().fleet_size(2).io_timeout(Duration::from_secs(3600))).option(),
            "io_timeout"
        );
        assert_eq!(
            err(base().fleet_size(2).max_cache_entry_bytes(0)).option(),
            "max_cache_entry_bytes"
        );
        assert_eq!(
            err(base().fleet_size(2).max_cache_entry_bytes(65 << 20)).option(),
            "max_cache_entry_bytes"
        );
        assert_eq!(
            err(base().fleet_size(2).max_fill_hold(Duration::ZERO)).option(),
            "max_fill_hold"
        );
        let closed = base().fail_closed(true).build().expect("no share needed");
        assert_eq!(closed.fallback_share(), 0.0);
        assert_eq!(base().fleet_size(4).build().unwrap().fallback_share(), 0.25);
    }
}
