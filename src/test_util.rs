//! Test doubles: a clock that moves only when told and a sleeper that advances it, so a
//! wait of hours runs in milliseconds with an exact, inspectable schedule.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::time::{add_or_far, Cancellation, Clock, Sleeper, SystemClock};

/// A clock that moves only when told to: virtual time for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    wall_start: SystemTime,
    offset: Mutex<Duration>,
}

impl ManualClock {
    /// A clock at virtual time zero, whose wall time reads `wall_start`.
    pub fn new(wall_start: SystemTime) -> Self {
        Self {
            start: SystemClock.now(),
            wall_start,
            offset: Mutex::new(Duration::ZERO),
        }
    }

    /// A clock whose wall time starts at 2026-01-01T00:00:00Z.
    pub fn at_2026() -> Self {
        Self::new(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    }

    /// Moves time forward (saturating: time does not wrap).
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset = offset.saturating_add(by);
    }

    /// Virtual time passed since creation.
    pub fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        add_or_far(self.start, self.elapsed())
    }

    fn system_time(&self) -> SystemTime {
        self.wall_start
            .checked_add(self.elapsed())
            .unwrap_or(self.wall_start)
    }
}

/// A sleeper that advances a [`ManualClock`] instead of blocking, and records every delay.
#[derive(Debug)]
pub struct ManualSleeper {
    clock: Arc<ManualClock>,
    sleeps: Mutex<Vec<Duration>>,
}

impl ManualSleeper {
    /// A sleeper advancing `clock`.
    pub fn new(clock: Arc<ManualClock>) -> Self {
        Self {
            clock,
            sleeps: Mutex::new(Vec::new()),
        }
    }

    /// Every delay slept so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Sleeper for ManualSleeper {
    fn sleep(&self, duration: Duration, cancel: &Cancellation) {
        if cancel.is_cancelled() {
            return;
        }
        self.sleeps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(duration);
        self.clock.advance(duration);
    }
}

/// A [`ManualClock`] and a [`ManualSleeper`] driving it.
pub fn virtual_time() -> (Arc<ManualClock>, Arc<ManualSleeper>) {
    let clock = Arc::new(ManualClock::at_2026());
    let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
    (clock, sleeper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_sleeper_advances_the_clock_and_records() {
        let (clock, sleeper) = virtual_time();
        let t0 = clock.now();
        let cancel = Cancellation::new();
        sleeper.sleep(Duration::from_secs(5), &cancel);
        sleeper.sleep(Duration::from_millis(250), &cancel);
        assert_eq!(clock.now() - t0, Duration::from_millis(5250));
        assert_eq!(
            sleeper.sleeps(),
            [Duration::from_secs(5), Duration::from_millis(250)]
        );
        cancel.cancel();
        sleeper.sleep(Duration::from_secs(5), &cancel);
        assert_eq!(clock.elapsed(), Duration::from_millis(5250));
    }
}
