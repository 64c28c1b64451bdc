//! Delay schedules: capped exponential backoff with seeded jitter.
//!
//! The `backoff` crate computes the exponential intervals. RustSec flags it unmaintained
//! (RUSTSEC-2025-0012, and its dependency `instant`, RUSTSEC-2024-0384), so this module is
//! the only code that names it: replacing it means rewriting [`Schedule`] and nothing else.
//! Its jitter draws from a global RNG that cannot be seeded, so randomization is switched
//! off there and applied here, from a seeded generator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backoff::backoff::Backoff as _;

use crate::error::Error;
use crate::time::Clock;

/// Parameters of a capped exponential backoff.
///
/// The n-th delay (from 0) is `min(initial_interval × multiplierⁿ, max_interval)`, then
/// multiplied by a random factor in `[1 − randomization_factor, 1 + randomization_factor]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// The first delay.
    pub initial_interval: Duration,
    /// Growth factor per delay, at least 1.
    pub multiplier: f64,
    /// The cap before jitter.
    pub max_interval: Duration,
    /// Jitter, in `[0, 1)`: 0 gives exact delays.
    pub randomization_factor: f64,
}

impl BackoffPolicy {
    /// A policy; check it with [`validate`](Self::validate).
    pub const fn new(
        initial_interval: Duration,
        multiplier: f64,
        max_interval: Duration,
        randomization_factor: f64,
    ) -> Self {
        Self {
            initial_interval,
            multiplier,
            max_interval,
            randomization_factor,
        }
    }

    /// Checks every parameter; `name` prefixes the field names in errors.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the bad value: a zero interval, `max_interval` below
    /// `initial_interval`, a multiplier below 1, or randomization outside `[0, 1)`.
    pub fn validate(&self, name: &'static str) -> Result<(), Error> {
        if self.initial_interval.is_zero() {
            return Err(Error::invalid(
                name,
                "initial_interval 0s",
                "must be greater than zero",
            ));
        }
        if self.max_interval < self.initial_interval {
            return Err(Error::invalid(
                name,
                format!(
                    "max_interval {:?} < initial_interval {:?}",
                    self.max_interval, self.initial_interval
                ),
                "max_interval must be at least initial_interval",
            ));
        }
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return Err(Error::invalid(
                name,
                format!("multiplier {}", self.multiplier),
                "must be a finite number of at least 1",
            ));
        }
        if !(0.0..1.0).contains(&self.randomization_factor) {
            return Err(Error::invalid(
                name,
                format!("randomization_factor {}", self.randomization_factor),
                "must be in [0, 1)",
            ));
        }
        Ok(())
    }
}

/// An endless sequence of delays following a [`BackoffPolicy`], with seeded jitter.
#[derive(Debug)]
pub(crate) struct Schedule {
    backoff: backoff::exponential::ExponentialBackoff<ClockAdapter>,
    randomization_factor: f64,
    rng: SplitMix64,
}

impl Schedule {
    pub(crate) fn new(policy: &BackoffPolicy, clock: Arc<dyn Clock>, seed: u64) -> Self {
        let mut backoff = backoff::exponential::ExponentialBackoff {
            current_interval: policy.initial_interval,
            initial_interval: policy.initial_interval,
            randomization_factor: 0.0,
            multiplier: policy.multiplier,
            max_interval: policy.max_interval,
            start_time: clock.now(),
            // The deadline belongs to the waiter, which never sleeps past it.
            max_elapsed_time: None,
            clock: ClockAdapter(clock),
        };
        backoff.reset();
        Self {
            backoff,
            randomization_factor: policy.randomization_factor,
            rng: SplitMix64(seed),
        }
    }

    /// The next delay.
    pub(crate) fn next_delay(&mut self) -> Duration {
        // With `max_elapsed_time: None` the crate always yields a delay.
        let base = self
            .backoff
            .next_backoff()
            .unwrap_or(self.backoff.max_interval);
        if self.randomization_factor == 0.0 {
            return base;
        }
        let spread = self.randomization_factor * (2.0 * self.rng.next_f64() - 1.0);
        base.mul_f64(1.0 + spread)
    }

    /// Starts again from the initial interval.
    pub(crate) fn reset(&mut self) {
        self.backoff.reset();
    }
}

/// Lets the `backoff` crate read our injected clock.
struct ClockAdapter(Arc<dyn Clock>);

impl std::fmt::Debug for ClockAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl backoff::Clock for ClockAdapter {
    fn now(&self) -> Instant {
        self.0.now()
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014), the crate's one seeded generator: jitter and
/// the simulator's timings and faults need spread, not cryptographic quality, and tests
/// need to fix the seed. Keeps the crate free of a `rand` dependency.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..bound`, or 0 when `bound` is 0. The modulo bias is negligible for
    /// the small bounds the simulator uses.
    #[cfg(feature = "simulator")]
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }
}

/// A seed that differs between processes and calls, for when the caller fixed none.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ManualClock;

    fn secs(list: &[f64]) -> Vec<Duration> {
        list.iter().map(|s| Duration::from_secs_f64(*s)).collect()
    }

    fn schedule(policy: BackoffPolicy, seed: u64) -> Schedule {
        Schedule::new(&policy, Arc::new(ManualClock::at_2026()), seed)
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of the reference implementation seeded with 1234567.
        let mut rng = SplitMix64(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        assert!((0.0..1.0).contains(&rng.next_f64()));
    }

    #[test]
    fn exact_schedule_without_jitter() {
        let policy = BackoffPolicy::new(Duration::from_secs(2), 2.0, Duration::from_secs(30), 0.0);
        let mut s = schedule(policy, 0);
        let delays: Vec<_> = (0..7).map(|_| s.next_delay()).collect();
        assert_eq!(delays, secs(&[2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]));
        s.reset();
        assert_eq!(s.next_delay(), Duration::from_secs(2));
    }

    #[test]
    fn fractional_multiplier() {
        let policy = BackoffPolicy::new(Duration::from_secs(4), 1.5, Duration::from_secs(10), 0.0);
        let mut s = schedule(policy, 0);
        let delays: Vec<_> = (0..4).map(|_| s.next_delay()).collect();
        assert_eq!(delays, secs(&[4.0, 6.0, 9.0, 10.0]));
    }

    #[test]
    fn jitter_stays_within_bounds_and_is_seeded() {
        let policy = BackoffPolicy::new(Duration::from_secs(1), 2.0, Duration::from_secs(8), 0.5);
        let base = secs(&[1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0]);
        for seed in 0..200 {
            let mut s = schedule(policy, seed);
            for expected in &base {
                let d = s.next_delay();
                assert!(
                    d >= expected.mul_f64(0.5) && d <= expected.mul_f64(1.5),
                    "{d:?} vs {expected:?}"
                );
            }
        }
        let run = |seed| {
            let mut s = schedule(policy, seed);
            (0..8).map(|_| s.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn validation_names_the_bad_value() {
        let ok = BackoffPolicy::new(Duration::from_secs(1), 2.0, Duration::from_secs(8), 0.1);
        ok.validate("poll").unwrap();
        let cases = [
            (
                BackoffPolicy {
                    initial_interval: Duration::ZERO,
                    ..ok
                },
                "initial_interval 0s",
            ),
            (
                BackoffPolicy {
                    max_interval: Duration::from_millis(500),
                    ..ok
                },
                "max_interval 500ms",
            ),
            (
                BackoffPolicy {
                    multiplier: 0.5,
                    ..ok
                },
                "multiplier 0.5",
            ),
            (
                BackoffPolicy {
                    multiplier: f64::NAN,
                    ..ok
                },
                "multiplier NaN",
            ),
            (
                BackoffPolicy {
                    randomization_factor: 1.0,
                    ..ok
                },
                "randomization_factor 1",
            ),
        ];
        for (policy, needle) in cases {
            let err = policy.validate("poll").unwrap_err().to_string();
            assert!(
                err.contains(needle) && err.starts_with("invalid poll"),
                "{err}"
            );
        }
    }
}
