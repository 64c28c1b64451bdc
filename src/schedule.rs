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

/// Parameters of a capped exponential backoff: the n-th delay (from 0) is
/// `min(initial_interval × multiplierⁿ, max_interval)`, then multiplied by a random factor
/// in `[1 − randomization_factor, 1 + randomization_factor]`.
///
/// ```
/// use std::time::Duration;
/// use wks_waiter::BackoffPolicy;
///
/// // 2 s, 4 s, 8 s, then every 10 s, ±20 %.
/// let policy = BackoffPolicy::new(Duration::from_secs(2))
///     .max_interval(Duration::from_secs(10))
///     .randomization_factor(0.2);
/// assert_eq!(policy.multiplier, 2.0);
/// ```
///
/// # Default
///
/// [`new`](Self::new) sets the first delay; the multiplier defaults to 2, `max_interval` to
/// the first delay (so delays stay constant until it is raised) and randomization to 0.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
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
    /// A policy whose first delay is `initial_interval`; see the defaults above. Check it
    /// with [`validate`](Self::validate) (builders do).
    pub const fn new(initial_interval: Duration) -> Self {
        Self {
            initial_interval,
            multiplier: 2.0,
            max_interval: initial_interval,
            randomization_factor: 0.0,
        }
    }

    /// The first delay.
    pub const fn initial_interval(mut self, interval: Duration) -> Self {
        self.initial_interval = interval;
        self
    }

    /// Growth factor per delay, at least 1.
    ///
    /// Defaults to 2.
    pub const fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// The longest delay, before jitter.
    ///
    /// Defaults to the initial interval.
    pub const fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Jitter in `[0, 1)`: each delay is multiplied by a random factor within
    /// `1 ± randomization_factor`.
    ///
    /// Defaults to 0: exact delays.
    pub const fn randomization_factor(mut self, factor: f64) -> Self {
        self.randomization_factor = factor;
        self
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

    /// The next delay. Saturates rather than overflowing, whatever the policy.
    pub(crate) fn next_delay(&mut self) -> Duration {
        // With `max_elapsed_time: None` the crate always yields a delay.
        let base = self
            .backoff
            .next_backoff()
            .unwrap_or(self.backoff.max_interval)
            .min(self.backoff.max_interval);
        if self.randomization_factor == 0.0 {
            return base;
        }
        let spread = self.randomization_factor * (2.0 * self.rng.next_f64() - 1.0);
        Duration::try_from_secs_f64(base.as_secs_f64() * (1.0 + spread)).unwrap_or(Duration::MAX)
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

/// FNV-1a of `text`: a hash that is the same on every toolchain (std's hashers may change
/// between Rust releases), for seeds that must reproduce.
pub(crate) fn stable_seed(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
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
    use crate::test_util::ManualClock;

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
        let policy =
            BackoffPolicy::new(Duration::from_secs(2)).max_interval(Duration::from_secs(30));
        let mut s = schedule(policy, 0);
        let delays: Vec<_> = (0..7).map(|_| s.next_delay()).collect();
        assert_eq!(delays, secs(&[2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]));
        s.reset();
        assert_eq!(s.next_delay(), Duration::from_secs(2));
    }

    #[test]
    fn fractional_multiplier() {
        let policy = BackoffPolicy::new(Duration::from_secs(4))
            .multiplier(1.5)
            .max_interval(Duration::from_secs(10));
        let mut s = schedule(policy, 0);
        let delays: Vec<_> = (0..4).map(|_| s.next_delay()).collect();
        assert_eq!(delays, secs(&[4.0, 6.0, 9.0, 10.0]));
    }

    #[test]
    fn jitter_stays_within_bounds_and_is_seeded() {
        let policy = BackoffPolicy::new(Duration::from_secs(1))
            .max_interval(Duration::from_secs(8))
            .randomization_factor(0.5);
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
        let ok = BackoffPolicy::new(Duration::from_secs(1))
            .max_interval(Duration::from_secs(8))
            .randomization_factor(0.1);
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
