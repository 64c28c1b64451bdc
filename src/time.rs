//! Time, injected: the clock the waiter and signer read, the sleeper the waiter waits with,
//! and the cancellation that wakes a sleeper early.
//!
//! The real clock and sleeper in this module are the only code of the crate that reads
//! system time or blocks for time to pass (clippy's `disallowed-methods` enforces it). Tests
//! use [`ManualClock`](crate::test_util::ManualClock) and
//! [`ManualSleeper`](crate::test_util::ManualSleeper) to run hours of polling in milliseconds.

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// A source of time.
pub trait Clock: Debug + Send + Sync {
    /// Monotonic time, for deadlines and elapsed time.
    fn now(&self) -> Instant;
    /// Wall-clock time, for `X-Sdk-Date`.
    fn system_time(&self) -> SystemTime;
}

/// Waits for time to pass.
pub trait Sleeper: Debug + Send + Sync {
    /// Blocks for `duration`, or until `cancel` is cancelled, whichever comes first.
    fn sleep(&self, duration: Duration, cancel: &Cancellation);
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // This is the one real clock.
    fn now(&self) -> Instant {
        Instant::now()
    }

    #[allow(clippy::disallowed_methods)] // This is the one real clock.
    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Sleeps on the current thread, waking early when cancelled.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration, cancel: &Cancellation) {
        cancel.wait_timeout(duration);
    }
}

/// A cancellation flag shared between threads; cloning shares it.
///
/// [`cancel`](Cancellation::cancel) wakes every [`Sleeper`] waiting on it.
#[derive(Debug, Clone, Default)]
pub struct Cancellation {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Cancellation {
    /// A new, not cancelled, flag.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels, waking sleepers. Idempotent; safe from any thread (and from a signal
    /// handler thread, such as `wks-wait`'s).
    pub fn cancel(&self) {
        let _guard = self
            .inner
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.cancelled.store(true, Ordering::SeqCst);
        self.inner.wake.notify_all();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Blocks until cancelled or `timeout` passed. Returns `true` if cancelled.
    fn wait_timeout(&self, timeout: Duration) -> bool {
        let guard = self
            .inner
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (_guard, _) = self
            .inner
            .wake
            .wait_timeout_while(guard, timeout, |()| !self.is_cancelled())
            .unwrap_or_else(PoisonError::into_inner);
        self.is_cancelled()
    }
}

/// `at + duration`, or a time far in the future (about a century) when that overflows:
/// a deadline of [`Duration::MAX`] means "no deadline".
pub(crate) fn add_or_far(at: Instant, duration: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    at.checked_add(duration)
        .or_else(|| at.checked_add(CENTURY))
        .unwrap_or(at)
}

/// Parses a duration as people write one: whole numbers each followed by a unit, `ms`,
/// `s`, `m` or `h` (`500ms`, `90s`, `20m`, `1h30m`, `0s`); spaces around it are ignored.
///
/// # Errors
///
/// A one-line reason naming the value (in backticks) for an empty value, a negative one,
/// a number without a unit or a unit without a number, an unknown unit, or a duration too
/// large to represent.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const HINT: &str =
        "expected whole numbers each with a unit: ms, s, m or h (e.g. 500ms, 90s, 20m, 1h30m)";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("empty duration; {HINT}"));
    }
    if text.starts_with('-') {
        return Err(format!("`{text}` is negative; {HINT}"));
    }
    let too_large = || format!("`{text}` is too large");
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}` has no number before `{rest}`; {HINT}"));
        }
        let number: u64 = rest[..digits].parse().map_err(|_| too_large())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let millis_per_unit: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" => return Err(format!("`{text}` has no unit; {HINT}")),
            unit => return Err(format!("`{text}` has an unknown unit `{unit}`; {HINT}")),
        };
        let part = number
            .checked_mul(millis_per_unit)
            .map(Duration::from_millis)
            .ok_or_else(too_large)?;
        total = total.checked_add(part).ok_or_else(too_large)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Formats a duration for people: `850ms`, `21.4s`, `1m30s`, `1h00m07s`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1_000 {
        return format!("{millis}ms");
    }
    let secs = duration.as_secs();
    if secs < 60 {
        // Tenths, truncated, so 59.99 s never prints as "60.0s".
        return match duration.subsec_millis() / 100 {
            0 => format!("{secs}s"),
            tenths => format!("{secs}.{tenths}s"),
        };
    }
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    if hours == 0 {
        format!("{minutes}m{seconds:02}s")
    } else {
        format!("{hours}h{minutes:02}m{seconds:02}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::ManualClock;

    #[test]
    fn durations_read_as_people_write_them() {
        for (duration, text) in [
            (Duration::from_millis(850), "850ms"),
            (Duration::from_millis(21_460), "21.4s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3607), "1h00m07s"),
            (Duration::MAX, "5124095576030431h00m15s"),
        ] {
            assert_eq!(format_duration(duration), text);
        }
    }

    #[test]
    fn durations_parse_as_people_write_them() {
        for (text, millis) in [
            ("500ms", 500),
            ("90s", 90_000),
            ("20m", 1_200_000),
            ("1h", 3_600_000),
            ("1h30m", 5_400_000),
            ("1m30s250ms", 90_250),
            (" 2s ", 2_000),
            ("007s", 7_000),
            ("0s", 0),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
        for (text, reason) in [
            ("", "empty"),
            ("   ", "empty"),
            ("-5s", "negative"),
            ("90", "no unit"),
            ("1h30", "no unit"),
            ("s", "no number"),
            ("1.5s", "unknown unit `.`"),
            ("5 s", "unknown unit ` s`"),
            ("5 min", "unknown unit ` min`"),
            ("5d", "unknown unit `d`"),
            ("5S", "unknown unit `S`"),
            ("99999999999999999999s", "too large"),
            ("18446744073709551615h", "too large"),
            ("18446744073709551615s18446744073709551615s", "too large"),
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(reason), "{text:?}: {err}");
            if !text.trim().is_empty() {
                assert!(
                    err.contains(&format!("`{}`", text.trim())),
                    "{text:?}: {err}"
                );
            }
        }
    }

    #[test]
    fn a_deadline_past_the_end_of_time_is_far_away() {
        let now = ManualClock::at_2026().now();
        assert!(add_or_far(now, Duration::MAX) > now + Duration::from_secs(50 * 365 * 24 * 3600));
        assert_eq!(
            add_or_far(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }

    #[test]
    fn cancel_wakes_a_real_sleeper_from_another_thread() {
        let cancel = Cancellation::new();
        let remote = cancel.clone();
        let canceller = std::thread::spawn(move || remote.cancel());
        // Without the wake-up this would block for an hour; the test finishing is the check.
        ThreadSleeper.sleep(Duration::from_secs(3600), &cancel);
        canceller.join().unwrap();
        assert!(cancel.is_cancelled());
    }
}
