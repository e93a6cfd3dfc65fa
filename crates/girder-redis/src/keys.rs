//! Redis key names: `{prefix}:q:{partition}:{quota}` and the like.
//!
//! | key | holds |
//! | --- | --- |
//! | `{prefix}:q:{partition}:{quota}` | a partition quota's GCRA state |
//! | `{prefix}:g:{quota}` | a global quota's GCRA state |
//! | `{prefix}:p:{partition}` | the partition's server pause |
//! | `{prefix}:a:{partition}` | the quotas the server announced (a hash) |
//! | `{prefix}:a:{partition}:{quota}` | an announced quota's GCRA state |
//!
//! `{quota}` is `<interval in µs>/<burst>`: two quotas with the same
//! interval and burst are the same GCRA, and a quota changed in the
//! configuration gets a key of its own instead of reading the old state.

use std::fmt::Write;
use std::str::FromStr;
use std::time::Duration;

use girder_core::PartitionKey;
use girder_ratelimit::Quota;
use http::uri::Authority;
use sha2::{Digest, Sha256};

/// The longest partition text stored as it is; a longer one is stored by
/// its digest.
const MAX_PARTITION_TEXT: usize = 200;
/// The longest key prefix.
pub(crate) const MAX_PREFIX: usize = 64;

/// Why a key prefix is refused, or `None`.
pub(crate) fn check_prefix(prefix: &str) -> Option<&'static str> {
    if prefix.is_empty() {
        return Some("it is empty");
    }
    if prefix.len() > MAX_PREFIX {
        return Some("it is longer than 64 bytes");
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it holds whitespace or a control character");
    }
    None
}

/// The key names of one backend.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn pause(&self, partition: &str) -> String {
        format!("{}:p:{partition}", self.prefix)
    }

    pub(crate) fn adopted(&self, partition: &str) -> String {
        format!("{}:a:{partition}", self.prefix)
    }

    pub(crate) fn quota(&self, partition: &str, quota: &Quota) -> String {
        let (interval, burst) = gcra(quota);
        format!("{}:q:{partition}:{interval}/{burst}", self.prefix)
    }

    pub(crate) fn global(&self, quota: &Quota) -> String {
        let (interval, burst) = gcra(quota);
        format!("{}:g:{interval}/{burst}", self.prefix)
    }
}

/// A quota as the script keeps it: the interval in whole microseconds
/// (rounded up, so never looser than configured) and the burst.
pub(crate) fn gcra(quota: &Quota) -> (u64, u32) {
    (
        micros_up(quota.interval()).max(1),
        quota.burst_size().max(1),
    )
}

pub(crate) fn micros_up(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1000)).unwrap_or(u64::MAX)
}

/// The partition's part of its keys: the key's text, which is what the
/// layer logs, except where that text could carry what must not be
/// stored.
///
/// - An authority key is stored as `host:port`, lowercased (two
///   authorities that differ in case are one partition) and without
///   userinfo (girder-core leaves it out too).
/// - Any other text holding `@` (userinfo, should a custom key carry
///   one), a control character, or longer than 200 bytes is stored as `#`
///   and the first 32 hex digits of its SHA-256.
/// - Otherwise the text as it is (`*` for the global partition, a route's
///   `host METHOD /template`, a custom key).
pub(crate) fn partition(key: &PartitionKey) -> String {
    let text = key.to_string();
    if let Ok(authority) = Authority::from_str(&text)
        && PartitionKey::authority(authority.clone()) == *key
    {
        let host = authority.host().to_ascii_lowercase();
        return match authority.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
    }
    if text.contains('@') || text.chars().any(char::is_control) || text.len() > MAX_PARTITION_TEXT {
        let digest = Sha256::digest(text.as_bytes());
        let mut out = String::with_capacity(33);
        out.push('#');
        for byte in &digest[..16] {
            let _ = write!(out, "{byte:02x}");
        }
        return out;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use girder_core::Partition;

    fn key_of(uri: &str) -> PartitionKey {
        Partition::by_authority().key(&http::Request::get(uri).body(()).unwrap())
    }

    /// A URI's userinfo (`user:password@`) never reaches a Redis key.
    /// girder-core now leaves it out of partition keys; this crate also
    /// stores any text holding `@` by its digest, in case a custom key
    /// carries one.
    #[test]
    fn userinfo_never_reaches_a_key() {
        let with_password = key_of("https://alice:hunter2@API.test:8443/x");
        assert_eq!(partition(&with_password), "api.test:8443");
        assert_eq!(partition(&key_of("https://api.test/x")), "api.test");
        for p in [Partition::by_authority(), Partition::by_route()] {
            let key = p.key(
                &http::Request::get("https://bob:s3cret@api.test/users/1")
                    .body(())
                    .unwrap(),
            );
            let stored = partition(&key);
            assert!(
                !stored.contains("s3cret") && !stored.contains("bob"),
                "{stored}"
            );
        }
        let custom = partition(&PartitionKey::custom("bob:s3cret@api.test"));
        assert!(custom.starts_with('#') && custom.len() == 33, "{custom}");
    }

    #[test]
    fn plain_text_stays_readable_and_long_text_is_bounded() {
        assert_eq!(partition(&PartitionKey::global()), "*");
        assert_eq!(partition(&PartitionKey::custom("tenant-7")), "tenant-7");
        let route = Partition::by_route().key(
            &http::Request::get("https://api.test/users/1")
                .body(())
                .unwrap(),
        );
        assert_eq!(partition(&route), "api.test GET /users/{id}");
        let long = PartitionKey::custom("x".repeat(500));
        assert_eq!(partition(&long).len(), 33);
        assert_eq!(partition(&PartitionKey::custom("a\nb")).len(), 33);
    }

    #[test]
    fn key_names() {
        let keys = Keys::new("app");
        let quota = Quota::per_second(10).burst(5);
        assert_eq!(keys.quota("api.test", &quota), "app:q:api.test:100000/5");
        assert_eq!(keys.global(&Quota::per_minute(600)), "app:g:100000/600");
        assert_eq!(keys.pause("api.test"), "app:p:api.test");
        assert_eq!(keys.adopted("api.test"), "app:a:api.test");
        // Below a microsecond the interval rounds up, never down.
        assert_eq!(gcra(&Quota::new(3, Duration::from_micros(1))).0, 1);
        assert_eq!(gcra(&Quota::new(3, Duration::from_micros(10))).0, 4);
    }

    #[test]
    fn prefixes() {
        assert!(check_prefix("girder").is_none());
        assert!(check_prefix("app:v1").is_none());
        for bad in ["", "a b", "a\nb", "tab\there", &"x".repeat(65)] {
            assert!(check_prefix(bad).is_some(), "{bad:?}");
        }
    }
}
