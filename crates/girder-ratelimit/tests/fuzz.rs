//! Fuzz targets for what girder-ratelimit takes from users and servers:
//! quotas as configured (any count, period and burst), and the quotas,
//! remaining counts, resets and pauses a server announces, fed to the
//! in-memory backend between acquisitions. The long run:
//! `GIRDER_FUZZ_ITERS=1000000 cargo test --release -p girder-ratelimit
//! --test fuzz -- --nocapture` (see `girder_test::fuzz`).

use std::time::Duration;

use girder_core::PartitionKey;
use girder_core::hints::{MAX_HINT, Quota as Announced};
use girder_ratelimit::backend::{Acquire, Decision, Feedback, Quotas};
use girder_ratelimit::{GovernorBackend, Quota, RateLimitBackend, RateLimitPolicy};
use girder_test::fuzz::{self, Gen};

/// A count at the edges of `u32` and of the quota's limits.
fn count(g: &mut Gen) -> u32 {
    match g.rng().u32(0..4) {
        0 => *g.pick(&[&0, &1, &2, &1_000_000_000, &u32::MAX]),
        _ => g.rng().u32(0..10_000),
    }
}

/// A duration from zero to far beyond any limit.
fn duration(g: &mut Gen) -> Duration {
    match g.rng().u32(0..5) {
        0 => *g.pick(&[
            &Duration::ZERO,
            &Duration::from_nanos(1),
            &MAX_HINT,
            &Duration::from_secs(u64::MAX),
            &Duration::MAX,
        ]),
        1 => Duration::from_nanos(g.rng().u64(0..10_000)),
        _ => Duration::from_millis(g.rng().u64(0..100_000_000)),
    }
}

fn quota(g: &mut Gen) -> Quota {
    let quota = Quota::new(count(g), duration(g));
    if g.chance(30) {
        quota.burst(count(g))
    } else {
        quota
    }
}

#[test]
fn configured_quotas_build_or_are_refused() {
    fuzz::check(
        "quota_config",
        5_000,
        |g| (quota(g), g.chance(30).then(|| quota(g))),
        |(partition, global)| {
            let mut builder = RateLimitPolicy::builder().quota(*partition);
            if let Some(global) = global {
                builder = builder.global_quota(*global);
            }
            if let Err(e) = builder.build() {
                assert!(!e.to_string().is_empty());
            }
        },
    );
}

/// What a server may announce: girder-core caps resets and windows at
/// [`MAX_HINT`], and counts are any `u64`.
fn announced(g: &mut Gen) -> Announced {
    let mut a = Announced::default();
    let big = |g: &mut Gen| match g.rng().u32(0..3) {
        0 => *g.pick(&[
            &0,
            &1,
            &u64::from(u32::MAX),
            &(u64::from(u32::MAX) + 1),
            &u64::MAX,
        ]),
        _ => g.rng().u64(0..1_000),
    };
    a.name = g
        .chance(50)
        .then(|| g.pick(&["default", "burst", ""]).to_owned());
    a.limit = g.chance(80).then(|| big(g));
    a.remaining = g.chance(60).then(|| big(g));
    a.reset = g.chance(50).then(|| duration(g).min(MAX_HINT));
    a.window = g.chance(80).then(|| duration(g).min(MAX_HINT));
    a
}

#[derive(Debug)]
enum Step {
    Acquire,
    Release,
    Observe(Feedback),
    Advance(Duration),
}

#[test]
fn announced_quotas_and_pauses_keep_the_backend_deciding() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let (mut inputs, mut waits) = (0, 0);
    fuzz::check(
        "ratelimit_feedback",
        3_000,
        |g| {
            let configured = vec![
                [
                    Quota::per_second(10),
                    Quota::per_minute(100),
                    Quota::new(1, Duration::from_secs(86_400)),
                ][g.below(3)],
            ];
            let steps: Vec<Step> = (0..g.rng().usize(1..12))
                .map(|_| match g.rng().u32(0..6) {
                    0 | 1 => Step::Acquire,
                    2 => Step::Release,
                    3 => Step::Advance(duration(g).min(Duration::from_secs(100_000))),
                    _ => {
                        let mut feedback = Feedback::announced(
                            (0..g.rng().usize(0..3)).map(|_| announced(g)).collect(),
                        );
                        if g.chance(40) {
                            feedback.pause = Some(duration(g).min(MAX_HINT));
                        }
                        Step::Observe(feedback)
                    }
                })
                .collect();
            (configured, steps)
        },
        |(configured, steps)| {
            let backend = GovernorBackend::new();
            let key = PartitionKey::custom("api.test");
            let quotas = Quotas::new(configured.clone(), Vec::new());
            rt.block_on(async {
                for step in steps {
                    match step {
                        Step::Acquire => match backend.acquire(&key, &quotas) {
                            Acquire::Ready(Ok(Decision::Granted)) => {}
                            Acquire::Ready(Ok(Decision::Wait { retry_after, .. })) => {
                                waits += 1;
                                // A wait never outlasts the longest thing that
                                // could impose it: a day's quota or a pause.
                                assert!(
                                    retry_after <= MAX_HINT + Duration::from_secs(1),
                                    "{retry_after:?}"
                                );
                            }
                            other => panic!("the in-memory backend answered {other:?}"),
                        },
                        Step::Release => backend.release(&key, &quotas),
                        Step::Observe(feedback) => backend.observe(&key, &quotas, feedback),
                        Step::Advance(by) => tokio::time::advance(*by).await,
                    }
                }
            });
            inputs += 1;
        },
    );
    assert!(
        waits > 0,
        "no acquisition of {inputs} inputs was made to wait"
    );
}
