//! The GCRA script's calls: keys and arguments in, decisions out.
//!
//! NOTE: the layout of keys and arguments is documented at the top of
//! `gcra.lua`; the two files change together.

use std::time::Duration;

use girder_core::hints::Quota as Announced;
use girder_ratelimit::backend::{Decision, Quotas, Scope};
use girder_ratelimit::{Cause, Quota};

use crate::keys::{self, Keys};

/// The script, hashed once; redis's `Script` calls EVALSHA and loads the
/// script only when the server does not have it (first use, restart).
pub(crate) fn script() -> redis::Script {
    redis::Script::new(include_str!("gcra.lua"))
}

/// The longest pause stored: far beyond any policy's `max_server_pause`,
/// short enough to add to Redis's clock in microseconds exactly.
const MAX_PAUSE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How many announced quotas one partition keeps (as `GovernorBackend`).
pub(crate) const MAX_ADOPTED: usize = 4;

/// Keys and arguments common to `acquire` and `release`.
pub(crate) fn gates(
    invocation: &mut redis::ScriptInvocation<'_>,
    keys: &Keys,
    partition: &str,
    quotas: &Quotas,
) {
    invocation
        .key(keys.pause(partition))
        .key(keys.adopted(partition))
        .arg(quotas.partition().len());
    for quota in quotas.partition() {
        let (interval, burst) = keys::gcra(quota);
        invocation
            .key(keys.quota(partition, quota))
            .arg(interval)
            .arg(burst);
    }
    for quota in quotas.global() {
        let (interval, burst) = keys::gcra(quota);
        invocation.key(keys.global(quota)).arg(interval).arg(burst);
    }
}

/// The script's answer to `acquire`: `[1]`, or `[0, wait µs, scope, cause]`.
pub(crate) fn decision(reply: &[i64]) -> Option<Decision> {
    match *reply {
        [1] => Some(Decision::Granted),
        [0, wait, scope, cause] => Some(Decision::Wait {
            retry_after: Duration::from_micros(u64::try_from(wait).ok()?.max(1)),
            scope: match scope {
                1 => Scope::Partition,
                2 => Scope::Global,
                _ => return None,
            },
            cause: match cause {
                0 => Cause::Quota,
                1 => Cause::ServerPause,
                _ => return None,
            },
        }),
        _ => None,
    }
}

/// Arguments of `observe` after the op: the pause, then the announced
/// quotas to adopt (or forget, when they bind less than the configured).
pub(crate) fn observe_args(
    invocation: &mut redis::ScriptInvocation<'_>,
    configured: &[Quota],
    pause: Option<Duration>,
    announced: &[Announced],
) {
    let pause = pause.map_or(0, |p| keys::micros_up(p.min(MAX_PAUSE)));
    let items: Vec<_> = announced
        .iter()
        .filter_map(|a| adoption(configured, a))
        .take(MAX_ADOPTED)
        .collect();
    invocation.arg(pause).arg(items.len());
    for item in items {
        invocation
            .arg(item.name)
            .arg(item.interval)
            .arg(item.burst)
            .arg(item.remaining)
            .arg(item.expiry_ms);
    }
}

struct Adoption<'a> {
    name: &'a str,
    /// 0: forget the quota of this name.
    interval: u64,
    burst: u32,
    /// -1: unknown.
    remaining: i64,
    expiry_ms: u64,
}

/// As `GovernorBackend` adopts: only a quota that binds more than every
/// configured one; one that does not is forgotten.
fn adoption<'a>(configured: &[Quota], announced: &'a Announced) -> Option<Adoption<'a>> {
    let (limit, window) = (announced.limit?, announced.window?);
    let count = u32::try_from(limit).ok().filter(|c| *c > 0)?;
    if window.is_zero() || window > Duration::from_secs(7 * 24 * 3600) {
        return None;
    }
    let quota = Quota::new(count, window);
    let name = announced.name.as_deref().unwrap_or("");
    let stricter = configured
        .iter()
        .all(|q| allowance(q, window) > u128::from(limit));
    if !stricter {
        return Some(Adoption {
            name,
            interval: 0,
            burst: 0,
            remaining: -1,
            expiry_ms: 0,
        });
    }
    let (interval, burst) = keys::gcra(&quota);
    Some(Adoption {
        name,
        interval,
        burst,
        remaining: announced
            .remaining
            .map_or(-1, |r| i64::try_from(r).unwrap_or(i64::MAX)),
        // Every response that announces it again keeps it.
        expiry_ms: u64::try_from(window.max(Duration::from_secs(1)).as_millis())
            .unwrap_or(u64::MAX),
    })
}

/// The most calls `quota` lets through in any `window`.
fn allowance(quota: &Quota, window: Duration) -> u128 {
    let refilled = window.as_nanos() / quota.interval().as_nanos().max(1);
    u128::from(quota.burst_size()) + refilled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_decode_and_nonsense_is_none() {
        assert_eq!(decision(&[1]), Some(Decision::Granted));
        assert_eq!(
            decision(&[0, 1500, 2, 0]),
            Some(Decision::Wait {
                retry_after: Duration::from_micros(1500),
                scope: Scope::Global,
                cause: Cause::Quota,
            })
        );
        for bad in [&[][..], &[2], &[0, -1, 1, 0], &[0, 5, 3, 0], &[0, 5, 1, 7]] {
            assert_eq!(decision(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_a_binding_announced_quota_is_adopted() {
        let configured = [Quota::per_second(10)];
        let mut strict = Announced::default();
        strict.limit = Some(5);
        strict.window = Some(Duration::from_secs(1));
        strict.remaining = Some(2);
        let adopted = adoption(&configured, &strict).expect("adopted");
        assert_eq!(
            (adopted.interval, adopted.burst, adopted.remaining),
            (200_000, 5, 2)
        );
        let mut loose = strict.clone();
        loose.limit = Some(100);
        assert_eq!(adoption(&configured, &loose).map(|a| a.interval), Some(0));
        let mut incomplete = strict;
        incomplete.window = None;
        assert!(adoption(&configured, &incomplete).is_none());
    }
}
