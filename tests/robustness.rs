//! No panic reachable from settings or answers: random durations, backoff policies and
//! `Retry-After` values go through the builders and the waiter in virtual time; each either
//! is refused by `build()` naming the value, or the wait ends with an outcome or an error.
#![cfg(feature = "simulator")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use support::secs;
use wks_waiter::simulator::{Fault, FaultPlan, Scenario, TimelineSpec, VirtualSource};
use wks_waiter::test_util::virtual_time;
use wks_waiter::{BackoffPolicy, Limit, WaitError, Waiter};

/// Durations from nothing to the end of time: mostly ordinary ones, often the edges.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        45 => (1u64..3_600).prop_map(Duration::from_secs),
        1 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
        1 => Just(Duration::from_nanos(1)),
        1 => (0u64..u64::MAX).prop_map(Duration::from_secs),
        1 => (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn factor(ordinary: std::ops::Range<f64>) -> impl Strategy<Value = f64> {
    prop_oneof![
        45 => ordinary,
        1 => Just(0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(-1.0),
        1 => 1.0f64..1e12,
    ]
}

/// Backoff policies: mostly valid (a cap above the first delay), often not.
fn policy() -> impl Strategy<Value = BackoffPolicy> {
    (
        duration(),
        factor(1.0..4.0),
        prop_oneof![4 => (1u32..1000).prop_map(Some), 1 => Just(None)],
        duration(),
        factor(0.0..0.9),
    )
        .prop_map(|(initial, m, growth, max, r)| {
            // A cap `growth` times the first delay, saturating, or any duration at all.
            let max = growth.map_or(max, |g| initial.saturating_mul(g));
            BackoffPolicy::new(initial)
                .multiplier(m)
                .max_interval(max)
                .randomization_factor(r)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_settings_and_retry_after_values_never_panic(
        max_wait in duration(),
        request_timeout in duration(),
        predicted in duration(),
        first_subtask in duration(),
        poll in policy(),
        retry in policy(),
        throttle in policy(),
        retry_after in prop_oneof![
            Just(None),
            any::<u64>().prop_map(Some),
            (0u64..600).prop_map(Some),
        ],
        max_retries in 0u32..20,
        failures in prop_oneof![
            Just(None),
            (0u64..10).prop_map(|n| Some(Limit::Count(n))),
            (-50.0f64..150.0).prop_map(|p| Some(Limit::Percent(p))),
        ],
        seed in any::<u64>(),
    ) {
        let spec = TimelineSpec {
            finish_between: (secs(60), secs(180)),
            seed,
            ..TimelineSpec::new(3)
        };
        let (clock, sleeper) = virtual_time();
        let faults = FaultPlan::new()
            .random(0.3, seed, vec![Fault::Throttle { retry_after }, Fault::ServerError]);
        let source = Arc::new(
            VirtualSource::new(Scenario::generate("job-1", &spec), clock.clone()).with_faults(faults),
        );
        let mut builder = Waiter::builder(source)
            .clock(clock)
            .sleeper(sleeper)
            .jitter_seed(seed)
            .max_wait(max_wait)
            .request_timeout(request_timeout)
            .max_predicted_interval(predicted)
            .first_subtask_within(first_subtask)
            .poll(poll)
            .retry(retry)
            .throttle_retry(throttle)
            .max_retries(max_retries);
        if let Some(limit) = failures {
            builder = builder.max_failures(limit);
        }
        let waiter = match builder.build() {
            Ok(waiter) => waiter,
            Err(error) => {
                // Refused, naming the setting.
                let text = error.to_string();
                prop_assert!(text.starts_with("invalid "), "{}", text);
                return Ok(());
            }
        };
        match waiter.wait("job-1") {
            Ok(outcome) => {
                WAITED.fetch_add(1, Ordering::Relaxed);
                prop_assert!(outcome.is_complete());
            }
            Err(error @ (WaitError::TimedOut { .. }
                | WaitError::Request { .. }
                | WaitError::NoSubtasks { .. })) => {
                prop_assert!(!error.to_string().is_empty());
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}

/// Waits that got as far as an outcome: the strategies must not refuse everything.
static WAITED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn random_settings_reach_outcomes_too() {
    any_settings_and_retry_after_values_never_panic();
    assert!(WAITED.load(Ordering::Relaxed) > 10, "{WAITED:?}");
}

#[test]
fn no_deadline_means_no_deadline() {
    let (clock, sleeper) = virtual_time();
    let source = VirtualSource::new(Scenario::desktops("job-1", 2), clock.clone());
    let outcome = Waiter::builder(source)
        .clock(clock)
        .sleeper(sleeper)
        .max_wait(Duration::MAX)
        .first_subtask_within(Duration::MAX)
        .build()
        .unwrap()
        .wait("job-1")
        .unwrap();
    assert!(outcome.is_success());
}

#[test]
fn a_huge_retry_after_is_capped_at_the_throttle_policy_maximum() {
    let (clock, sleeper) = virtual_time();
    let source = VirtualSource::new(Scenario::desktops("job-1", 1), clock.clone()).with_faults(
        FaultPlan::new().on_request(
            0,
            Fault::Throttle {
                retry_after: Some(u64::MAX),
            },
        ),
    );
    let outcome = Waiter::builder(source)
        .clock(clock)
        .sleeper(sleeper.clone())
        .build()
        .unwrap()
        .wait("job-1")
        .unwrap();
    assert!(outcome.is_success());
    // The default throttle policy's maximum: 60 s.
    assert_eq!(sleeper.sleeps()[0], secs(60));
}
