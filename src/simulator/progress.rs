//! How the `process` of a running subtask moves: the progress shapes of real jobs.

use std::time::Duration;

use crate::schedule::SplitMix64;

/// How long a subtask that never ends is taken to run, for its shape: its `process` creeps
/// up one point a minute under [`ProgressShape::Linear`].
pub(super) const ENDLESS_RUN: Duration = Duration::from_secs(100 * 60);

/// The curve the `process` field of a running subtask follows from its start (0) to its
/// planned end (100).
///
/// Percentages are of progress (`0..=100`); *run* fractions are percent of the time from
/// `start_at` to the planned end (`nominal_end`, else `end_at`; 100 minutes for a subtask
/// that never ends). Values above 100 read as 100. Whatever the shape, a running subtask
/// never reports more than 99: only `SUCCESS` reads 100. A `FAILED` subtask keeps the value
/// its shape had just before it failed (one second before `end_at`).
///
/// | shape | `process` at run fraction `f` |
/// |---|---|
/// | [`Linear`](Self::Linear) | `100 f` |
/// | [`FrontLoaded`](Self::FrontLoaded) `{ percent: 90, within: 10 }` | 90 by the first tenth, then a crawl to 100 |
/// | [`Plateau`](Self::Plateau) `{ percent: 99, from: 70 }` | `100 f / 0.7` up to 99 at 70 % of the run, then held at 99 while finalising |
/// | [`Accelerating`](Self::Accelerating) `{ power: 2 }` | `100 f²` |
/// | [`SCurve`](Self::SCurve) `{ steepness: 10 }` | a logistic curve, slow–fast–slow |
/// | [`Stall`](Self::Stall) `{ at: 40, duration: 5 min }` | linear to 40, held for 5 minutes, then on to 100 at the same rate |
/// | [`Reset`](Self::Reset) `{ from: 70, to: 10 }` | linear to 70, back to 10 (a retried desktop), then on to 100 at the same rate |
/// | [`Steps`](Self::Steps) `{ points: 25 }` | `100 f` rounded down to a multiple of 25 |
/// | [`Absent`](Self::Absent) | no `process` field at all |
///
/// ```
/// use std::time::Duration;
/// use wks_waiter::simulator::ProgressShape;
///
/// let run = Duration::from_secs(1000);
/// let at = |shape: &ProgressShape, secs| shape.process_at(Duration::from_secs(secs), run);
/// let front = ProgressShape::FrontLoaded { percent: 90, within: 10 };
/// assert_eq!(at(&front, 100), Some(90));
/// assert_eq!(at(&front, 550), Some(95));
/// assert_eq!(at(&ProgressShape::Accelerating { power: 2 }, 500), Some(25));
/// assert_eq!(at(&ProgressShape::Reset { from: 70, to: 10 }, 440), Some(10));
/// assert_eq!(at(&ProgressShape::Steps { points: 25 }, 490), Some(25));
/// assert_eq!(at(&ProgressShape::Absent, 490), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProgressShape {
    /// Even progress from start to end: today's behaviour, the default.
    #[default]
    Linear,
    /// Most of the progress early, then a crawl: reaches `percent` at `within` percent of
    /// the run, then rises evenly to 100.
    FrontLoaded {
        /// Progress reached early, e.g. 90.
        percent: u32,
        /// Percent of the run by which it is reached, e.g. 10.
        within: u32,
    },
    /// Held near the end while finalising: rises evenly to `percent` by `from` percent of
    /// the run and stays there until the end.
    Plateau {
        /// The value held, e.g. 99.
        percent: u32,
        /// Percent of the run at which it is reached, e.g. 70.
        from: u32,
    },
    /// Slow, then faster and faster: `100 f^power` (`power` 0 reads as 1).
    Accelerating {
        /// The exponent, e.g. 2.
        power: u32,
    },
    /// Slow, fast, slow: a logistic curve through the middle of the run, scaled to 0..100.
    /// `steepness` 0 is linear; 10 is a clear S.
    SCurve {
        /// How sharp the middle rise is, e.g. 10.
        steepness: u32,
    },
    /// Rises evenly to `at`, holds there for `duration`, then resumes at the same rate and
    /// reaches 100 at the end. A stall longer than the run is cut to half the run.
    Stall {
        /// The value at which it stalls, e.g. 40.
        at: u32,
        /// How long it stays there, e.g. 5 minutes.
        duration: Duration,
    },
    /// A retried desktop: rises evenly to `from`, drops to `to`, and climbs again at the
    /// same rate to reach 100 at the end.
    Reset {
        /// The value reached before the retry, e.g. 70.
        from: u32,
        /// The value it restarts from, e.g. 10.
        to: u32,
    },
    /// Linear, rounded down to a multiple of `points` (0 or 1: plain linear), as services
    /// that report progress in coarse steps do.
    Steps {
        /// The step, e.g. 10 or 25.
        points: u32,
    },
    /// The service sends no `process` field at all.
    Absent,
}

impl ProgressShape {
    /// The `process` a running subtask reports `ran` after its start when its planned run
    /// lasts `run`: `None` for [`Absent`](Self::Absent), else `0..=99`.
    pub fn process_at(&self, ran: Duration, run: Duration) -> Option<u32> {
        if *self == Self::Absent {
            return None;
        }
        let fraction = if run.is_zero() {
            1.0
        } else {
            (ran.as_secs_f64() / run.as_secs_f64()).clamp(0.0, 1.0)
        };
        let percent = self.percent_at(fraction, run);
        // Guards against float noise pushing a finished curve to 100.0000001 or below 0.
        Some((percent.clamp(0.0, 100.0).floor() as u32).min(99))
    }

    /// Progress in percent (unclamped float) at run fraction `f`.
    fn percent_at(&self, f: f64, run: Duration) -> f64 {
        let pct = |value: u32| f64::from(value.min(100));
        match *self {
            Self::Linear | Self::Absent => 100.0 * f,
            Self::FrontLoaded { percent, within } => {
                let (p, w) = (pct(percent), pct(within) / 100.0);
                if f < w {
                    p * f / w
                } else if w >= 1.0 {
                    p
                } else {
                    p + (100.0 - p) * (f - w) / (1.0 - w)
                }
            }
            Self::Plateau { percent, from } => {
                let (p, until) = (pct(percent), pct(from) / 100.0);
                if until <= 0.0 || f >= until {
                    p
                } else {
                    p * f / until
                }
            }
            Self::Accelerating { power } => 100.0 * f.powi(power.max(1) as i32),
            Self::SCurve { steepness } => {
                if steepness == 0 {
                    return 100.0 * f;
                }
                let k = f64::from(steepness);
                let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
                let (low, high) = (sigmoid(-k / 2.0), sigmoid(k / 2.0));
                100.0 * (sigmoid(k * (f - 0.5)) - low) / (high - low)
            }
            Self::Stall { at, duration } => {
                let total = run.as_secs_f64();
                let mut stall = duration.as_secs_f64();
                if stall >= total {
                    stall = total / 2.0;
                }
                let moving = total - stall;
                let p = pct(at);
                let t = f * total;
                // When the even climb reaches `at`, in seconds of the run.
                let stall_start = moving * p / 100.0;
                if moving <= 0.0 || t <= stall_start {
                    if moving <= 0.0 {
                        return p;
                    }
                    100.0 * t / moving
                } else if t <= stall_start + stall {
                    p
                } else {
                    100.0 * (t - stall) / moving
                }
            }
            Self::Reset { from, to } => {
                let (high, low) = (pct(from), pct(to));
                // The same rate on both climbs: the distance is `high` then `100 - low`.
                let distance = high + (100.0 - low);
                if distance <= 0.0 {
                    return 100.0 * f;
                }
                let reset_at = high / distance;
                if f < reset_at {
                    distance * f
                } else {
                    low + distance * (f - reset_at)
                }
            }
            Self::Steps { points } => {
                let linear = (100.0 * f).floor();
                if points <= 1 {
                    linear
                } else {
                    let step = f64::from(points);
                    (linear / step).floor() * step
                }
            }
        }
    }

    /// Every shape with the parameters issue 11 measured, named (`linear`, `front-loaded`,
    /// `plateau-99`, `accelerating`, `s-curve`, `stall-5m`, `reset-70-10`, `steps-10`,
    /// `steps-25`, `no-process`).
    pub fn named() -> Vec<(&'static str, ProgressShape)> {
        vec![
            ("linear", Self::Linear),
            (
                "front-loaded",
                Self::FrontLoaded {
                    percent: 90,
                    within: 10,
                },
            ),
            (
                "plateau-99",
                Self::Plateau {
                    percent: 99,
                    from: 70,
                },
            ),
            ("accelerating", Self::Accelerating { power: 2 }),
            ("s-curve", Self::SCurve { steepness: 10 }),
            (
                "stall-5m",
                Self::Stall {
                    at: 40,
                    duration: Duration::from_secs(300),
                },
            ),
            ("reset-70-10", Self::Reset { from: 70, to: 10 }),
            ("steps-10", Self::Steps { points: 10 }),
            ("steps-25", Self::Steps { points: 25 }),
            ("no-process", Self::Absent),
        ]
    }

    /// A shape of any kind with parameters drawn from `seed`: for tests and benchmarks that
    /// must hold on shapes nobody listed. The same seed gives the same shape.
    pub fn sample(seed: u64) -> ProgressShape {
        let mut rng = SplitMix64(seed ^ 0x5348_4150_4553_0001);
        let mut between = |low: u64, high: u64| (low + rng.below(high - low + 1)) as u32;
        match between(0, 8) {
            0 => Self::Linear,
            1 => Self::FrontLoaded {
                percent: between(50, 95),
                within: between(2, 30),
            },
            2 => Self::Plateau {
                percent: between(90, 99),
                from: between(30, 90),
            },
            3 => Self::Accelerating {
                power: between(2, 4),
            },
            4 => Self::SCurve {
                steepness: between(4, 16),
            },
            5 => Self::Stall {
                at: between(5, 95),
                duration: Duration::from_secs(u64::from(between(30, 900))),
            },
            6 => Self::Reset {
                from: between(20, 95),
                to: between(0, 20),
            },
            7 => Self::Steps {
                points: between(5, 50),
            },
            _ => Self::Absent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// `process` every `step` seconds over a run of `run` seconds.
    fn curve(shape: &ProgressShape, run: u64, step: u64) -> Vec<u32> {
        (0..=run / step)
            .map(|i| shape.process_at(secs(i * step), secs(run)).unwrap())
            .collect()
    }

    #[test]
    fn linear_is_today_s_curve() {
        let linear = ProgressShape::Linear;
        assert_eq!(curve(&linear, 100, 25), [0, 25, 50, 75, 99]);
        assert_eq!(linear.process_at(secs(35), secs(100)), Some(35));
        assert_eq!(linear.process_at(secs(5), Duration::ZERO), Some(99));
    }

    #[test]
    fn front_loaded_and_plateau_values() {
        let front = ProgressShape::FrontLoaded {
            percent: 90,
            within: 10,
        };
        let at = |s| front.process_at(secs(s), secs(1000)).unwrap();
        assert_eq!(
            [at(0), at(50), at(100), at(550), at(999)],
            [0, 45, 90, 95, 99]
        );
        let plateau = ProgressShape::Plateau {
            percent: 99,
            from: 70,
        };
        assert_eq!(plateau.process_at(secs(35), secs(100)), Some(49));
        assert_eq!(plateau.process_at(secs(70), secs(100)), Some(99));
        assert_eq!(plateau.process_at(secs(99), secs(100)), Some(99));
        let instant = ProgressShape::Plateau {
            percent: 50,
            from: 0,
        };
        assert_eq!(instant.process_at(Duration::ZERO, secs(10)), Some(50));
    }

    #[test]
    fn accelerating_and_s_curve_values() {
        let square = ProgressShape::Accelerating { power: 2 };
        assert_eq!(curve(&square, 100, 25), [0, 6, 25, 56, 99]);
        let s = ProgressShape::SCurve { steepness: 10 };
        let values = curve(&s, 100, 10);
        assert_eq!(values[0], 0);
        assert_eq!(values[5], 50);
        assert!(values[1] < 3 && values[9] > 96, "{values:?}");
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        let flat = ProgressShape::SCurve { steepness: 0 };
        assert_eq!(flat.process_at(secs(30), secs(100)), Some(30));
    }

    #[test]
    fn stall_holds_then_resumes_at_the_same_rate() {
        let stall = ProgressShape::Stall {
            at: 40,
            duration: secs(300),
        };
        // A 1300 s run moves for 1000 s: 40 at 400 s, held until 700 s, 100 at 1300 s.
        let at = |s| stall.process_at(secs(s), secs(1300)).unwrap();
        assert_eq!(
            [at(200), at(400), at(550), at(700), at(1000)],
            [20, 40, 40, 40, 70]
        );
        assert_eq!(at(1299), 99);
        // Longer than the run: cut to half of it.
        let long = ProgressShape::Stall {
            at: 50,
            duration: secs(1000),
        };
        let at = |s| long.process_at(secs(s), secs(100)).unwrap();
        assert_eq!([at(25), at(50), at(75), at(90)], [50, 50, 50, 80]);
    }

    #[test]
    fn reset_drops_and_climbs_again() {
        let reset = ProgressShape::Reset { from: 70, to: 10 };
        // 160 points of climbing over 1600 s: 70 at 700 s, then 10, then 100 at 1600 s.
        let at = |s| reset.process_at(secs(s), secs(1600)).unwrap();
        assert_eq!(
            [at(350), at(699), at(700), at(1000), at(1599)],
            [35, 69, 10, 40, 99]
        );
    }

    #[test]
    fn steps_absent_and_out_of_range_parameters() {
        let steps = ProgressShape::Steps { points: 10 };
        assert_eq!(curve(&steps, 100, 15), [0, 10, 30, 40, 60, 70, 90]);
        assert_eq!(
            ProgressShape::Steps { points: 0 }.process_at(secs(37), secs(100)),
            Some(37)
        );
        assert_eq!(ProgressShape::Absent.process_at(secs(1), secs(2)), None);
        let wild = ProgressShape::FrontLoaded {
            percent: 500,
            within: 500,
        };
        assert_eq!(wild.process_at(secs(50), secs(100)), Some(50));
    }

    #[test]
    fn every_shape_stays_in_range_and_samples_are_deterministic() {
        let mut shapes: Vec<_> = ProgressShape::named().into_iter().map(|(_, s)| s).collect();
        shapes.extend((0..200).map(ProgressShape::sample));
        for shape in &shapes {
            for run in [0, 1, 59, 3600, 7200] {
                for i in 0..=50 {
                    let ran = secs(run * i / 50);
                    let value = shape.process_at(ran, secs(run));
                    assert!(value.is_none_or(|v| v <= 99), "{shape:?} {run} {i}");
                    assert_eq!(value.is_none(), *shape == ProgressShape::Absent);
                }
            }
        }
        assert_eq!(ProgressShape::sample(7), ProgressShape::sample(7));
        let kinds: std::collections::HashSet<_> = (0..200)
            .map(|seed| std::mem::discriminant(&ProgressShape::sample(seed)))
            .collect();
        assert_eq!(kinds.len(), 9);
    }
}
