//! The budget's state as a pure function of time: the log of sends inside the window, the
//! adaptive limit after a 429 and the `Retry-After` pause.
//!
//! Times are nanoseconds of wall-clock time since the Unix epoch, so that processes on one
//! machine can compare them through the state file. Every decision takes `now` as an
//! argument; nothing here reads a clock, so tests assert exact schedules.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Priority;

/// How far the limit is cut after a 429: to this fraction of the rate that was throttled
/// (the AWS SDKs' β).
const BETA: f64 = 0.7;
/// The cubic's coefficient, in units of the throttled rate per window³. With `1 − β` the
/// curve is back at the throttled rate exactly one window after the cut (`K = 1`).
const CUBIC_SCALE: f64 = 1.0 - BETA;
/// The throttled rate is taken as at least this share of the configured limit. A 429 that
/// comes when this budget sent little says others share the account's limit, not that
/// the few sends were too many: cutting to 0.7 × 3 would hold the next send for most of a
/// window. (The AWS SDKs' limiter keeps a minimum rate for the same reason.)
const MIN_RATE_SHARE: f64 = 0.25;
/// Absorbs floating-point error so that a limit computed as 6.999999999 counts as 7.
const EPSILON: f64 = 1e-9;

/// The longest pause a `Retry-After` can impose.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// The fixed settings the state is judged against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    /// The configured limit: sends per window.
    pub(crate) limit: u32,
    /// The window, in nanoseconds (at least 1 ms, at most a day).
    pub(crate) window_ns: u64,
    /// The fraction of the limit routine sends leave to important ones, `0.0..1.0`.
    pub(crate) headroom: f64,
}

impl Limits {
    /// How long a send counts against the budget: the window and a fiftieth more (1.2 s
    /// of a minute). The gateway counts a request when it arrives, and two requests seldom
    /// take the same time to get there: sends exactly a window apart could arrive within
    /// one.
    pub(crate) fn hold_ns(&self) -> u64 {
        self.window_ns.saturating_add(self.window_ns / 50)
    }
}

/// The limit cut after a 429, regrowing along a cubic curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Throttle {
    /// When the limit was cut.
    pub(crate) at: u64,
    /// The rate that was throttled, in sends per window (`W_max`), at least 1.
    pub(crate) rate: f64,
}

/// Everything the budget remembers; what the state file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    /// When each send inside the window was allowed, oldest first.
    pub(crate) sends: VecDeque<u64>,
    /// The latest send ever allowed, kept past the window: it tells a fresh 429 from an
    /// echo of the last one.
    pub(crate) last_send: u64,
    /// No send before this (`Retry-After`); 0 when there is no pause.
    pub(crate) not_before: u64,
    /// The last cut, if there was one.
    pub(crate) throttle: Option<Throttle>,
}

/// Nanoseconds in `duration`, saturating (a day is 8.64e13; `u64` holds 584 years).
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl State {
    /// A state that allows nothing for as long as a send counts: what replaces a state
    /// file that could not be read, because it may have recorded a full window of sends
    /// made just now.
    pub(crate) fn blackout(now: u64, limits: &Limits) -> Self {
        Self {
            not_before: now.saturating_add(limits.hold_ns()),
            ..Self::default()
        }
    }

    /// Why a state read from a file cannot be trusted, if it cannot.
    pub(crate) fn defect(&self) -> Option<String> {
        if self.sends.len() > super::MAX_LIMIT as usize {
            return Some(format!(
                "{} sends recorded, more than any limit allows",
                self.sends.len()
            ));
        }
        if self
            .sends
            .iter()
            .zip(self.sends.iter().skip(1))
            .any(|(a, b)| a > b)
        {
            return Some("send times out of order".to_owned());
        }
        if let Some(throttle) = &self.throttle {
            if !(throttle.rate.is_finite() && throttle.rate >= 1.0) {
                return Some(format!("throttled rate {} is not a rate", throttle.rate));
            }
        }
        None
    }

    /// Forgets sends that left the window, and pulls times that a backward clock jump put in
    /// the future back to `now`: they then count for one more window (and its guard),
    /// never forever.
    fn settle(&mut self, now: u64, limits: &Limits) {
        for send in self.sends.iter_mut().rev() {
            if *send <= now {
                break;
            }
            *send = now;
        }
        while self
            .sends
            .front()
            .is_some_and(|&send| send.saturating_add(limits.hold_ns()) <= now)
        {
            self.sends.pop_front();
        }
        self.last_send = self.last_send.min(now);
        if let Some(throttle) = &mut self.throttle {
            throttle.at = throttle.at.min(now);
        }
        let longest_pause = nanos(MAX_RETRY_AFTER).max(limits.window_ns);
        self.not_before = self.not_before.min(now.saturating_add(longest_pause));
    }

    /// The adaptive limit at `now`, unrounded; `None` when never throttled.
    fn adaptive(&self, now: u64, limits: &Limits) -> Option<f64> {
        let throttle = self.throttle?;
        let windows = now.saturating_sub(throttle.at) as f64 / limits.window_ns as f64;
        Some(throttle.rate * (1.0 + CUBIC_SCALE * (windows - 1.0).powi(3)))
    }

    /// How many sends an important request may find in the window and still go.
    pub(crate) fn limit_at(&self, now: u64, limits: &Limits) -> u32 {
        let max = f64::from(limits.limit);
        match self.adaptive(now, limits) {
            None => limits.limit,
            // Truncation is the intent: a limit of 6.9 sends allows 6.
            Some(limit) => (limit + EPSILON).floor().clamp(1.0, max) as u32,
        }
    }

    /// The share of a limit of `important` sends that routine ones may use.
    fn routine_cap(important: u32, headroom: f64) -> u32 {
        let reserved = (f64::from(important) * headroom - EPSILON).ceil().max(0.0) as u32;
        // A budget of one send per window cannot be split: routine sends share it rather
        // than starve.
        important.saturating_sub(reserved).max(1)
    }

    fn cap(&self, now: u64, limits: &Limits, priority: Priority) -> u32 {
        let important = self.limit_at(now, limits);
        match priority {
            Priority::Routine => Self::routine_cap(important, limits.headroom),
            Priority::Important => important,
        }
    }

    /// Allows one send at `now` and records it, or says how long until one would be
    /// allowed (in nanoseconds, at least 1).
    pub(crate) fn try_acquire(
        &mut self,
        now: u64,
        limits: &Limits,
        priority: Priority,
    ) -> Result<(), u64> {
        self.settle(now, limits);
        let paused = self.not_before.saturating_sub(now);
        let room = self.sends.len() < self.cap(now, limits, priority) as usize;
        if paused == 0 && room {
            self.sends.push_back(now);
            self.last_send = now;
            return Ok(());
        }
        let full = if room {
            0
        } else {
            self.until_room(now, limits, priority)
        };
        Err(paused.max(full).max(1))
    }

    /// How long until the window has room for `priority`, if nothing else is sent: the
    /// earliest time at which enough sends have left the window *and* the limit has grown
    /// back enough, whichever combination of the two comes first.
    fn until_room(&self, now: u64, limits: &Limits, priority: Priority) -> u64 {
        let count = self.sends.len();
        let mut best = u64::MAX;
        for expired in 0..=count {
            let when_expired = match expired {
                0 => now,
                n => self.sends[n - 1].saturating_add(limits.hold_ns()),
            };
            if when_expired >= best {
                break;
            }
            let left = (count - expired) as u32;
            if let Some(when_grown) = self.when_cap_exceeds(left, now, limits, priority) {
                best = best.min(when_expired.max(when_grown));
            }
        }
        best.saturating_sub(now)
    }

    /// The earliest time from `now` at which the cap of `priority` exceeds `count`, or
    /// `None` if it never does. Exact to the nanosecond: the cap only grows with time, so
    /// a doubling search brackets the moment and a bisection finds it.
    fn when_cap_exceeds(
        &self,
        count: u32,
        now: u64,
        limits: &Limits,
        priority: Priority,
    ) -> Option<u64> {
        let exceeds = |at: u64| self.cap(at, limits, priority) > count;
        if exceeds(now) {
            return Some(now);
        }
        let full = match priority {
            Priority::Routine => Self::routine_cap(limits.limit, limits.headroom),
            Priority::Important => limits.limit,
        };
        // Without a cut the cap never changes; above the configured cap it never gets.
        if self.throttle.is_none() || full <= count {
            return None;
        }
        let (mut before, mut after, mut step) = (now, now, 1_u64);
        while !exceeds(after) {
            if after == u64::MAX {
                return None;
            }
            before = after;
            after = after.saturating_add(step);
            step = step.saturating_mul(2);
        }
        while after - before > 1 {
            let middle = before + (after - before) / 2;
            if exceeds(middle) {
                after = middle;
            } else {
                before = middle;
            }
        }
        Some(after)
    }

    /// Takes a 429 into account: pauses for `retry_after` (capped at
    /// [`MAX_RETRY_AFTER`]), and cuts the limit to 0.7 × the rate that was throttled —
    /// unless no send was allowed since the last cut, in which case this 429 answers a
    /// request sent before it and the cut already accounts for it.
    pub(crate) fn on_throttled(
        &mut self,
        now: u64,
        limits: &Limits,
        retry_after: Option<Duration>,
    ) {
        self.settle(now, limits);
        if let Some(retry_after) = retry_after {
            let pause = nanos(retry_after.min(MAX_RETRY_AFTER));
            self.not_before = self.not_before.max(now.saturating_add(pause));
        }
        let echo = self
            .throttle
            .is_some_and(|throttle| self.last_send <= throttle.at);
        if echo {
            return;
        }
        let current = self
            .adaptive(now, limits)
            .unwrap_or(f64::INFINITY)
            .min(f64::from(limits.limit));
        let measured = self.sends.len() as f64;
        let floor = (f64::from(limits.limit) * MIN_RATE_SHARE).max(1.0);
        self.throttle = Some(Throttle {
            at: now,
            rate: measured.max(floor).min(current).max(1.0),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000 * MS;
    /// 2026-01-01T00:00:00Z, in nanoseconds.
    const T0: u64 = 1_767_225_600 * SEC;

    fn limits(limit: u32, window_secs: u64, headroom: f64) -> Limits {
        Limits {
            limit,
            window_ns: window_secs * SEC,
            headroom,
        }
    }

    /// How long a send counts, in nanoseconds: the window and a fiftieth more (61.2 s of a
    /// minute), as the gateway may see two sends made a window apart arrive within one.
    fn hold(limits: &Limits) -> u64 {
        limits.window_ns + limits.window_ns / 50
    }

    /// [`hold`] in milliseconds, the unit of [`ask`].
    fn hold_ms(limits: &Limits) -> u64 {
        hold(limits) / MS
    }

    /// Asks at each of `times` (milliseconds after T0) and returns the answers, waits in
    /// milliseconds.
    fn ask(
        state: &mut State,
        limits: &Limits,
        priority: Priority,
        times: &[u64],
    ) -> Vec<Result<(), u64>> {
        times
            .iter()
            .map(|&t| {
                state
                    .try_acquire(T0 + t * MS, limits, priority)
                    .map_err(|ns| {
                        assert_eq!(ns % MS, 0, "a wait of {ns} ns");
                        ns / MS
                    })
            })
            .collect()
    }

    /// A client that sends whenever allowed: the times (milliseconds after T0) of its
    /// first `n` sends.
    fn greedy(state: &mut State, limits: &Limits, priority: Priority, n: usize) -> Vec<u64> {
        let mut now = T0;
        let mut sent = Vec::new();
        while sent.len() < n {
            match state.try_acquire(now, limits, priority) {
                Ok(()) => sent.push((now - T0) / MS),
                Err(wait) => now += wait,
            }
        }
        sent
    }

    #[test]
    fn the_limit_holds_in_any_window_bursts_included() {
        let limits = limits(3, 60, 0.0);
        let hold = hold_ms(&limits);
        let mut state = State::default();
        // Three at once, then nothing until they stop counting, exactly: not a window
        // later, but a window and its guard.
        assert_eq!(
            ask(
                &mut state,
                &limits,
                Priority::Important,
                &[0, 0, 0, 0, 60_000, hold - 1]
            ),
            [
                Ok(()),
                Ok(()),
                Ok(()),
                Err(hold),
                Err(hold - 60_000),
                Err(1)
            ]
        );
        assert_eq!(
            ask(
                &mut state,
                &limits,
                Priority::Important,
                &[hold, hold, hold, hold]
            ),
            [Ok(()), Ok(()), Ok(()), Err(hold)]
        );
    }

    #[test]
    fn a_greedy_client_gets_exactly_the_limit_per_window_and_guard() {
        let limits = limits(5, 60, 0.0);
        let h = hold_ms(&limits);
        let mut state = State::default();
        assert_eq!(
            greedy(&mut state, &limits, Priority::Important, 12),
            [0, 0, 0, 0, 0, h, h, h, h, h, 2 * h, 2 * h]
        );
    }

    #[test]
    fn the_window_slides_send_by_send() {
        let limits = limits(3, 60, 0.0);
        let hold = hold_ms(&limits);
        let mut state = State::default();
        // Each send stops counting a window and its guard after it was made.
        assert_eq!(
            ask(
                &mut state,
                &limits,
                Priority::Important,
                &[
                    0,
                    10_000,
                    20_000,
                    30_000,
                    hold,
                    hold + 5_000,
                    hold + 10_000,
                    hold + 15_000
                ]
            ),
            [
                Ok(()),
                Ok(()),
                Ok(()),
                Err(hold - 30_000),
                Ok(()),
                Err(5_000),
                Ok(()),
                Err(5_000)
            ]
        );
    }

    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        // Random arrivals from several priorities; then every interval a window and its
        // guard long (so every window too) starting at a send is checked.
        let limits = limits(7, 10, 0.3);
        let mut state = State::default();
        let mut seed = 0x5EED_u64;
        let mut now = T0;
        let mut sent = Vec::new();
        for _ in 0..5_000 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            now += (seed >> 33) % (3 * SEC);
            let priority = if seed & 1 == 0 {
                Priority::Routine
            } else {
                Priority::Important
            };
            if seed.is_multiple_of(97) {
                state.on_throttled(now, &limits, None);
            }
            if state.try_acquire(now, &limits, priority).is_ok() {
                sent.push(now);
            }
        }
        assert!(sent.len() > 1_000, "{} sends", sent.len());
        for (i, &start) in sent.iter().enumerate() {
            let inside = sent[i..]
                .iter()
                .take_while(|&&t| t < start + hold(&limits))
                .count();
            assert!(inside <= 7, "{inside} sends in the hold from {start}");
        }
    }

    #[test]
    fn routine_sends_leave_headroom_to_important_ones() {
        let limits = limits(10, 60, 0.2);
        let mut state = State::default();
        let hold = hold_ms(&limits);
        let routine = ask(&mut state, &limits, Priority::Routine, &[0; 9]);
        assert_eq!(routine[..8], [Ok(()); 8]);
        assert_eq!(routine[8], Err(hold));
        let important = ask(
            &mut state,
            &limits,
            Priority::Important,
            &[1_000, 2_000, 3_000],
        );
        assert_eq!(important, [Ok(()), Ok(()), Err(hold - 3_000)]);
        // Routine needs three of the ten to leave (8 → 7 in the window): those of t=0 all
        // leave a window and its guard later, at 61.2.
        assert_eq!(
            ask(&mut state, &limits, Priority::Routine, &[3_000]),
            [Err(hold - 3_000)]
        );
    }

    #[test]
    fn routine_caps_round_the_reserve_up_and_never_starve() {
        let caps: Vec<u32> = [1, 2, 5, 7, 10, 100]
            .iter()
            .map(|&limit| State::routine_cap(limit, 0.2))
            .collect();
        assert_eq!(caps, [1, 1, 4, 5, 8, 80]);
        assert_eq!(State::routine_cap(100, 0.0), 100);
        assert_eq!(State::routine_cap(100, 0.99), 1);
    }

    #[test]
    fn a_429_cuts_the_limit_to_seven_tenths_of_the_measured_rate() {
        let limits = limits(100, 60, 0.0);
        let mut state = State::default();
        let sent = ask(&mut state, &limits, Priority::Important, &[0; 20]);
        assert!(sent.iter().all(Result::is_ok));
        state.on_throttled(T0 + SEC, &limits, None);
        // The rate is taken as at least a quarter of the limit (25): cut to 17.
        assert_eq!(state.limit_at(T0 + SEC, &limits), 17);
        // 20 in the window, 17 allowed: the 21st waits until the cubic regrows the limit
        // past 20 — L(τ) = 25 (1 + 0.3 (τ − 1)³) ≥ 21 at τ ≈ 0.189 windows (11.3 s after
        // the cut) — long before the 20 leave (61.2 s).
        let wait = state
            .try_acquire(T0 + SEC, &limits, Priority::Important)
            .unwrap_err();
        assert!(
            (11 * SEC..12 * SEC).contains(&wait),
            "{wait} ns, not {} ns",
            hold(&limits)
        );
    }

    #[test]
    fn after_a_cut_the_limit_regrows_along_the_cubic() {
        // W_max = 10 sends per minute; L(τ) = 10 (1 + 0.3 (τ − 1)³), τ in windows.
        let limits = limits(20, 60, 0.0);
        let mut state = State::default();
        for _ in 0..10 {
            state.try_acquire(T0, &limits, Priority::Important).unwrap();
        }
        state.on_throttled(T0, &limits, None);
        let at = |secs: u64| state.limit_at(T0 + secs * SEC, &limits);
        let curve: Vec<u32> = [0, 30, 45, 60, 90, 120, 150, 180]
            .iter()
            .map(|&s| at(s))
            .collect();
        // 7, 9.625, 9.95, 10, 10.375, 13, 20.125 (capped at 20), 20 (capped).
        assert_eq!(curve, [7, 9, 9, 10, 10, 13, 20, 20]);
    }

    #[test]
    fn the_wait_after_a_cut_counts_regrowth_and_expiry_together() {
        // Limit 20 per minute; 10 sends at t=0, then a 429: the limit drops to 7 with 10 in
        // the window, so nothing goes until they leave a window and its guard later, at
        // t=61.2 (the curve regains 10 at t=60, before; 11 only at t≈101.6, after).
        let limits = limits(20, 60, 0.0);
        let hold = hold(&limits);
        let mut state = State::default();
        for _ in 0..10 {
            state.try_acquire(T0, &limits, Priority::Important).unwrap();
        }
        state.on_throttled(T0, &limits, None);
        assert_eq!(
            state.try_acquire(T0 + SEC, &limits, Priority::Important),
            Err(hold - SEC)
        );
        // At t=61.2 the limit is 10 and the window empty: 10 sends go. The 11th waits for
        // the curve to pass 11, at τ = 1 + ∛((11/10 − 1)/0.3) ≈ 1.6934 windows
        // (t ≈ 101.6 s), before the sends of t=61.2 leave at t=122.4.
        let t_free = T0 + hold;
        for _ in 0..10 {
            state
                .try_acquire(t_free, &limits, Priority::Important)
                .unwrap();
        }
        let wait = state
            .try_acquire(t_free, &limits, Priority::Important)
            .unwrap_err();
        let tau = 1.0 + (0.1_f64 / 0.3).cbrt();
        let expected = (tau * 60.0 * SEC as f64).ceil() as u64 - hold;
        assert!(wait.abs_diff(expected) <= 1_000, "{wait} vs {expected}");
        assert!(state
            .try_acquire(t_free + wait - 1, &limits, Priority::Important)
            .is_err());
        assert_eq!(
            state.try_acquire(t_free + wait, &limits, Priority::Important),
            Ok(())
        );
    }

    #[test]
    fn retry_after_pauses_every_priority_and_is_capped() {
        let limits = limits(100, 60, 0.2);
        let mut state = State::default();
        state.on_throttled(T0, &limits, Some(Duration::from_secs(30)));
        for priority in [Priority::Routine, Priority::Important] {
            assert_eq!(
                state.try_acquire(T0 + 10 * SEC, &limits, priority),
                Err(20 * SEC)
            );
        }
        assert_eq!(
            state.try_acquire(T0 + 30 * SEC, &limits, Priority::Important),
            Ok(())
        );
        // A shorter Retry-After never shortens a pause; an absurd one is capped.
        state.on_throttled(T0 + 31 * SEC, &limits, Some(Duration::from_secs(u64::MAX)));
        state.on_throttled(T0 + 31 * SEC, &limits, Some(Duration::from_secs(1)));
        assert_eq!(
            state.try_acquire(T0 + 31 * SEC, &limits, Priority::Important),
            Err(nanos(MAX_RETRY_AFTER))
        );
    }

    #[test]
    fn echoes_of_one_overload_cut_once() {
        let limits = limits(100, 60, 0.0);
        let mut state = State::default();
        for _ in 0..50 {
            state.try_acquire(T0, &limits, Priority::Important).unwrap();
        }
        // Five requests in flight all come back 429: one cut, not 0.7⁵.
        for i in 0..5 {
            state.on_throttled(T0 + i * SEC, &limits, None);
        }
        assert_eq!(state.throttle, Some(Throttle { at: T0, rate: 50.0 }));
        assert_eq!(state.limit_at(T0, &limits), 35);
        // Once a send goes out after the cut, a new 429 is news: cut again, from the
        // lower of the measured rate and the current limit. (The 50 stop counting a window
        // and its guard after t=0; the one send then is all the window holds: the rate is
        // taken as a quarter of the limit, so one 429 on a quiet budget costs no window.)
        let later = T0 + hold(&limits);
        state
            .try_acquire(later, &limits, Priority::Important)
            .unwrap();
        state.on_throttled(later, &limits, None);
        assert_eq!(state.throttle.map(|t| t.rate), Some(25.0));
        assert_eq!(state.limit_at(later, &limits), 17);
        assert!(state
            .try_acquire(later + SEC, &limits, Priority::Important)
            .is_ok());
    }

    #[test]
    fn a_clock_jumping_back_delays_by_at_most_a_window_and_guard() {
        let limits = limits(2, 60, 0.0);
        let hold = hold(&limits);
        let mut state = State::default();
        for _ in 0..2 {
            state
                .try_acquire(T0 + 3_600 * SEC, &limits, Priority::Important)
                .unwrap();
        }
        // An hour back: the two sends now count as made "now", for one window and its
        // guard, as any send made now would.
        assert_eq!(
            state.try_acquire(T0, &limits, Priority::Important),
            Err(hold)
        );
        assert_eq!(
            state.try_acquire(T0 + hold, &limits, Priority::Important),
            Ok(())
        );
    }

    #[test]
    fn defects_are_named() {
        let mut state = State::default();
        assert_eq!(state.defect(), None);
        state.sends = VecDeque::from([5, 3]);
        assert_eq!(state.defect().as_deref(), Some("send times out of order"));
        state.sends = VecDeque::from([3, 5]);
        state.throttle = Some(Throttle {
            at: 1,
            rate: f64::NAN,
        });
        assert!(state.defect().unwrap().contains("NaN"));
    }
}
