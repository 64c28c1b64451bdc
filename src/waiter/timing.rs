//! Poll timing, in one place: when to poll next, from what the subtasks' `process` says.
//!
//! # What the readings allow
//!
//! A reading `(t, v)` of a running subtask says its true progress at `t` was in
//! `[v, v + step)`: the service reports `process` rounded down to its step (learnt as the
//! gcd of the values seen: 1, or coarser such as 10 or 25). A subtask's *fastest plausible
//! rate* is its rate over its latest readings spanning at least four steps (all its
//! readings, when fewer), with one step of slack: a subtask that stopped moving keeps the
//! pace it last showed (it may resume at it); a burst long past (a front-loaded start) no
//! longer counts; a progress reset starts the count again. A subtask without a rate of its
//! own (waiting, just started, just reset) gets the fastest rate of any subtask of the job,
//! and none is given a rate slower than the slowest average pace of a finished one (sparse
//! polls can miss a reset and make a pace look slower than it is).
//!
//! Finished subtasks teach two more things about the others:
//!
//! - **jumps**: a subtask seen holding a value `v` (no movement for two steps' time at its
//!   pace) that was finished by the next poll, sooner than its pace could have carried it
//!   to 100, jumped at least the difference. Every subtask of the job may jump as far as
//!   the largest jump seen;
//! - **holds**: how long subtasks were seen holding their last value before finishing
//!   (finalising at 99, the last quarter of a service that reports quarters), in points
//!   of their average pace, so a slower subtask is expected to hold longer.
//!
//! # The earliest plausible end, and the expected end
//!
//! A running subtask last read at `(t, v)` is *done but for its end* when
//! `v + step + jump ≥ 100`, or when it holds at 90 or more (a plateau near the end, not a
//! stall). Otherwise it cannot end before `t + (100 − v − step − jump) / rate`: a stall
//! only pushes that later. The job's *earliest plausible end* `E` is the latest of its
//! unfinished subtasks' (a subtask done but for its end may end any moment). Its *expected
//! end* `X ≥ E` is when the subtasks done but for their end should end: from when each
//! reached its value (halfway between the reading before the change and the change), the
//! longer of climbing what is left at its fastest plausible rate and holding as long as
//! the finished subtasks held.
//!
//! # The invariant
//!
//! The waiter never sleeps past `max(E, now) + max_interval`:
//!
//! - while `E` is ahead, it sleeps 75 % of the time left (at most
//!   `max_predicted_interval`), and within 15 s of `E`, until 1 s past it; when someone
//!   listens, it sleeps `max_interval` at most, and straight to 1 s past `E` once `E` is
//!   that close;
//! - once `E` has come, it polls toward `X`, at most `max_interval` apart, and 1 s past it;
//! - once `X` has passed, it backs off 4 s, 8 s, then every 12 s for two minutes (the end
//!   is likely near), then every `max_interval` (a subtask stuck at 99 is not worth more).
//!
//! So when the job ends no sooner than `E` — no subtask climbs faster or jumps further
//! than the readings allow, and none fails — the poll that sees the end comes at most
//! `max_interval` (plus jitter) after it, whatever `process` does: a wrong `X` costs lag
//! within that bound, never more. A failure is not foretold by progress: a plain wait may
//! see it late; an observer or an outcome rule caps every sleep at `max_interval`, so a
//! failure is reported within that long. Without a basis for `E` (a running subtask
//! reports no `process`, or none has moved yet) the waiter follows the plain backoff (5 s,
//! 10 s, 20 s, then every `max_interval`).

use std::time::{Duration, Instant};

use super::store::{History, Reading, Store};
use crate::model::SubtaskStatus;
use crate::schedule::Schedule;
use crate::time::add_or_far;

/// Within this of the earliest plausible end, sleep until just past it.
const NEAR_END: Duration = Duration::from_secs(15);
/// How far past a predicted end to poll: finished subtasks need a moment to be listed.
const SETTLE: Duration = Duration::from_secs(1);
/// Farther from the earliest plausible end, sleep this fraction of the time left: the end
/// cannot come sooner, but a subtask that speeds up moves it earlier, and the next poll
/// sees that in time.
const APPROACH: f64 = 0.75;
/// The shortest sleep a prediction may ask for.
const MIN_PREDICTED: Duration = Duration::from_secs(1);
/// The first sleep once past the expected end (the waiter's overdue schedule doubles it).
pub(crate) const OVERDUE_FIRST: Duration = Duration::from_secs(4);
/// The longest sleep while the expected end passed recently: the end is likely near, and
/// 12 s apart keeps the median lag well under 10 s.
const OVERDUE_CAP: Duration = Duration::from_secs(12);
/// How long past the expected end sleeps stay short.
const OVERDUE_PATIENCE: Duration = Duration::from_secs(120);
/// How many steps of `process` a recent rate must span: over fewer, one step of slack
/// would inflate it too much (over one step, it doubles the rate).
const RECENT_STEPS: f64 = 4.0;
/// A subtask holding at this `process` or more is finalising, not stalled: its end may
/// come at any moment.
const NEAR_DONE: u32 = 90;
/// A subtask that has not moved for this many steps' time at its pace is holding.
const HELD_STEPS: f64 = 2.0;

/// The settings the timing follows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// The poll schedule's cap: the longest sleep once the earliest plausible end has
    /// come, and while someone listens.
    pub max_interval: Duration,
    /// The longest sleep toward a distant earliest plausible end, when nobody listens.
    pub max_predicted_interval: Duration,
    /// Whether to predict at all.
    pub predictive: bool,
    /// An observer or an outcome rule wants news within `max_interval`.
    pub listening: bool,
}

/// What one active job needs of the next poll.
pub(crate) enum Need<'a> {
    /// A poll within this long: an absence awaits its second look, or an untrusted listing
    /// its re-read.
    Soon(Duration),
    /// No subtask listed yet: the plain backoff, and a poll when the time for the first
    /// subtask (`by` from now) is up.
    Visible { by: Duration },
    /// Subtasks are listed: follow their progress.
    Progress {
        store: &'a Store,
        overdue: &'a mut Schedule,
    },
}

/// The sleep before the next poll: the soonest any job needs. Jobs without a basis for a
/// prediction follow `backoff` (advanced once per poll at most).
pub(crate) fn next_delay<'a>(
    now: Instant,
    needs: impl Iterator<Item = Need<'a>>,
    backoff: &mut Schedule,
    policy: &Policy,
) -> Duration {
    let mut delay: Option<Duration> = None;
    let mut needs_backoff = false;
    for need in needs {
        let candidate = match need {
            Need::Soon(soon) => Some(soon),
            Need::Visible { by } => {
                needs_backoff = true;
                (!by.is_zero()).then_some(by)
            }
            Need::Progress { store, overdue } => {
                match policy.predictive.then(|| outlook(store, now)).flatten() {
                    Some(outlook) => Some(predicted_delay(outlook, now, overdue, policy)),
                    None => {
                        needs_backoff = true;
                        None
                    }
                }
            }
        };
        if let Some(candidate) = candidate {
            delay = Some(delay.map_or(candidate, |d| d.min(candidate)));
        }
    }
    if needs_backoff {
        let backoff = backoff.next_delay();
        delay = Some(delay.map_or(backoff, |d| d.min(backoff)));
    }
    let delay = delay.unwrap_or(policy.max_interval);
    if policy.listening {
        delay.min(policy.max_interval)
    } else {
        delay
    }
}

/// When a job can end, as far as its subtasks' progress tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outlook {
    /// The earliest the job can plausibly end: no unfinished subtask can be done sooner.
    pub earliest: Instant,
    /// When the job is expected to end: at or after `earliest`, later when subtasks that
    /// are done but for their end hold as the finished ones did.
    pub expected: Instant,
}

/// The rate, in points per second, from `from` to `to` with one step of slack (the true
/// progress may be up to one step ahead of what is reported).
fn rate_between(from: &Reading, to: &Reading, step: f64) -> Option<f64> {
    let span = to.at.checked_duration_since(from.at)?.as_secs_f64();
    (span > 0.0).then(|| (f64::from(to.process.saturating_sub(from.process)) + step) / span)
}

/// The fastest rate (points per second) `changes` plausibly allow: over the latest
/// readings that span at least [`RECENT_STEPS`] steps (all of them, when fewer), with one
/// step of slack. A subtask that stopped moving keeps the pace it last showed; a burst
/// long past (a front-loaded start) no longer counts. `None` with fewer than two changes.
fn fastest_rate(changes: &[Reading], step: f64) -> Option<f64> {
    let (last, earlier) = changes.split_last()?;
    earlier
        .iter()
        .rev()
        .find(|r| f64::from(last.process - r.process) >= RECENT_STEPS * step)
        .or(earlier.first())
        .and_then(|from| rate_between(from, last, step))
}

fn secs(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX / 4)
}

/// What the finished subtasks of a job teach about the others.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Lessons {
    /// The largest jump to 100 seen, in points (0 when none).
    jump: f64,
    /// The longest hold at the last value seen, in points the subtask would have climbed
    /// meanwhile at its average pace (so a slower subtask is expected to hold longer);
    /// `None` before a subtask finished after it was seen holding.
    hold: Option<f64>,
    /// The slowest average pace (points per second) of a finished subtask, from its first
    /// reading to when it was seen finished: every subtask may plausibly go as fast. It
    /// corrects a pace that sparse polls got wrong (a reset between two polls).
    slowest_pace: Option<f64>,
}

/// The average pace (points per second) of a subtask from its first reading of this
/// attempt to `reached`, when it reached its latest value: unlike the fastest plausible
/// rate, it is measured the same way for every subtask, so holds scale between them.
fn average_pace(history: &History, value: u32, reached: Instant) -> Option<f64> {
    let first = history.first()?;
    let span = reached.checked_duration_since(first.at)?.as_secs_f64();
    let climbed = f64::from(value.checked_sub(first.process)?);
    (span > 0.0 && climbed > 0.0).then(|| climbed / span)
}

/// A subtask that succeeded while its progress was followed: its last change, its latest
/// reading, when it was first seen finished, and its pace by then.
struct Finished {
    changed: Reading,
    latest: Reading,
    ended: Instant,
    rate: f64,
    pace: Option<f64>,
}

impl Finished {
    fn of(history: &History, step: f64) -> Option<Finished> {
        let latest = history.latest()?;
        let changed = *history.changes().last()?;
        Some(Finished {
            changed,
            latest,
            ended: history.ended()?,
            rate: fastest_rate(history.changes(), step)?,
            pace: average_pace(history, changed.process, changed.at),
        })
    }

    /// How long it was seen holding its last value.
    fn held(&self) -> f64 {
        self.latest
            .at
            .saturating_duration_since(self.changed.at)
            .as_secs_f64()
    }
}

/// Reads [`Lessons`] from the subtasks of `store` that succeeded.
fn lessons(store: &Store, step: f64) -> Lessons {
    let finished: Vec<Finished> = store
        .histories()
        .filter(|(_, status, _)| *status == Some(&SubtaskStatus::Success))
        .filter_map(|(_, _, history)| Finished::of(history, step))
        .collect();
    // Only a subtask seen holding its last value proves a jump: one that was still moving
    // may simply have sped up (an S-curve) between two sparse polls.
    let mut jump: f64 = 0.0;
    for f in &finished {
        if f.held() * f.rate >= HELD_STEPS * step {
            let climbed = f.rate * f.ended.saturating_duration_since(f.latest.at).as_secs_f64();
            jump = jump.max(100.0 - f64::from(f.latest.process) - step - climbed);
        }
    }
    // How long each subtask was seen holding is a lower bound of its hold: sparse polls
    // see only part of it. The longest of these bounds is the closest to the hold the
    // subtasks of one job share; a subtask that holds shorter is still found within
    // `max_interval`.
    let mut hold: Option<f64> = None;
    for f in &finished {
        let value = f64::from(f.latest.process);
        let done_but_ending = value + step + jump >= 100.0 || f.latest.process >= NEAR_DONE;
        if let (true, Some(pace)) = (done_but_ending && f.held() > 0.0, f.pace) {
            let points = f.held() * pace;
            hold = Some(hold.map_or(points, |h: f64| h.max(points)));
        }
    }
    let slowest_pace = store
        .histories()
        .filter(|(_, status, _)| *status == Some(&SubtaskStatus::Success))
        .filter_map(|(_, _, history)| {
            let first = history.first()?;
            let span = history
                .ended()?
                .checked_duration_since(first.at)?
                .as_secs_f64();
            (span > 0.0).then(|| (100.0 - f64::from(first.process)) / span)
        })
        .fold(None, |slowest: Option<f64>, pace| {
            Some(slowest.map_or(pace, |s| s.min(pace)))
        });
    Lessons {
        jump,
        hold,
        slowest_pace,
    }
}

/// The [`Outlook`] of the job in `store` at `now`, judged from its subtasks' readings and
/// what its finished subtasks teach; `None` when there is no basis for one (no rate seen
/// yet, or a running subtask that reports no `process`).
pub(crate) fn outlook(store: &Store, now: Instant) -> Option<Outlook> {
    let step = f64::from(store.process_step());
    let job_rate = store
        .histories()
        .filter_map(|(_, _, history)| fastest_rate(history.changes(), step))
        .fold(None, |fastest: Option<f64>, rate| {
            Some(fastest.map_or(rate, |f| f.max(rate)))
        })?;
    let lessons = lessons(store, step);
    let mut outlook: Option<Outlook> = None;
    for (pending, status, history) in store.histories() {
        if !pending {
            continue;
        }
        let rate = fastest_rate(history.changes(), step)
            .unwrap_or(job_rate)
            .max(lessons.slowest_pace.unwrap_or(0.0));
        let (earliest, expected) = match (status, history.latest()) {
            (Some(SubtaskStatus::Running), Some(latest)) => {
                subtask_ends(history, latest, rate, step, &lessons, now)
            }
            (Some(SubtaskStatus::Running), None) => return None,
            // Waiting, or a status without `process`: it has all its work ahead.
            _ => {
                let end = add_or_far(now, secs((100.0 - step - lessons.jump) / rate));
                (end, end)
            }
        };
        let merged = Outlook {
            earliest: outlook.map_or(earliest, |o| o.earliest.max(earliest)),
            expected: outlook.map_or(expected, |o| o.expected.max(expected)),
        };
        outlook = Some(merged);
    }
    outlook.map(|o| Outlook {
        expected: o.expected.max(o.earliest),
        ..o
    })
}

/// The earliest plausible and the expected end of one running subtask last read at
/// `latest`.
fn subtask_ends(
    history: &History,
    latest: Reading,
    rate: f64,
    step: f64,
    lessons: &Lessons,
    now: Instant,
) -> (Instant, Instant) {
    let changed = history.changes().last().copied().unwrap_or(latest);
    let left = 100.0 - f64::from(latest.process) - step - lessons.jump;
    let still = now.saturating_duration_since(changed.at).as_secs_f64();
    let holding = latest.process >= NEAR_DONE && still * rate >= HELD_STEPS * step;
    if left > 0.0 && !holding {
        let end = add_or_far(latest.at, secs(left / rate));
        return (end, end);
    }
    // Done but for its end: it may end any moment; expected to hold as long as the
    // finished subtasks did, from when it reached its value (between the reading before
    // the change and the change: the middle).
    let reached = match history.before_change() {
        Some(before) if before < changed.at => before + (changed.at - before) / 2,
        _ => changed.at,
    };
    let climb = (100.0 - f64::from(latest.process)) / rate;
    let hold = lessons
        .hold
        .zip(average_pace(history, latest.process, reached))
        .map_or(0.0, |(points, pace)| points / pace);
    let expected = add_or_far(reached, secs(climb.max(hold)));
    (latest.at, expected)
}

/// The sleep before the next poll of a job whose end `outlook` predicts (see the module
/// documentation): close in on the earliest plausible end, then on the expected end at
/// most `max_interval` apart, then back off on `overdue` (which this resets while the
/// expected end is ahead).
pub(crate) fn predicted_delay(
    outlook: Outlook,
    now: Instant,
    overdue: &mut Schedule,
    policy: &Policy,
) -> Duration {
    let cap = policy.max_interval;
    let longest = if policy.listening {
        cap
    } else {
        policy.max_predicted_interval
    };
    let left = outlook.earliest.saturating_duration_since(now);
    if !left.is_zero() {
        overdue.reset();
        let straight = left <= NEAR_END || (policy.listening && left + SETTLE <= cap);
        let delay = if straight {
            left + SETTLE
        } else if policy.listening {
            cap
        } else {
            left.mul_f64(APPROACH)
        };
        // Not `clamp`: a cap below the minimum is valid and wins.
        return delay.max(MIN_PREDICTED).min(longest).min(left + cap);
    }
    let to_expected = outlook.expected.saturating_duration_since(now);
    if !to_expected.is_zero() {
        overdue.reset();
        return (to_expected + SETTLE).max(MIN_PREDICTED).min(cap);
    }
    // Past the expected end: back off on `overdue` (4 s, 8 s, 16 s … `max_interval`), but
    // no further than OVERDUE_CAP while the end passed recently. The backoff is stateful
    // because `X` itself moves later as finished subtasks show longer holds: measured from
    // `X` alone, every poll would look just past it.
    let late = now.saturating_duration_since(outlook.expected);
    let next = overdue.next_delay();
    if late < OVERDUE_PATIENCE {
        next.min(OVERDUE_CAP).min(cap)
    } else {
        next.min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Subtask;
    use crate::schedule::BackoffPolicy;
    use crate::test_util::ManualClock;
    use crate::time::Clock;
    use crate::waiter::store::Kind;
    use std::sync::Arc;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn sub(id: &str, status: &str, process: Option<u32>) -> Subtask {
        serde_json::from_value(
            serde_json::json!({ "id": id, "status": status, "process": process }),
        )
        .unwrap()
    }

    fn list(store: &mut Store, subtasks: &[(&str, &str, Option<u32>)], at: Instant) {
        store.begin(Kind::Full);
        for (id, status, process) in subtasks {
            store.stage(sub(id, status, *process), at);
        }
        store.finish(true, at, secs(5), &std::collections::HashSet::new());
    }

    /// One running subtask read at each `(seconds, process)`.
    fn one(t0: Instant, readings: &[(u64, u32)]) -> Store {
        let mut store = Store::new("j");
        for &(t, p) in readings {
            list(&mut store, &[("a", "RUNNING", Some(p))], t0 + secs(t));
        }
        store
    }

    fn plain() -> Policy {
        Policy {
            max_interval: secs(30),
            max_predicted_interval: secs(300),
            predictive: true,
            listening: false,
        }
    }

    fn overdue_schedule(clock: Arc<ManualClock>) -> Schedule {
        let policy = BackoffPolicy::new(OVERDUE_FIRST).max_interval(secs(30));
        Schedule::new(&policy, clock, 0)
    }

    #[test]
    fn the_end_is_the_slowest_subtask_at_its_fastest_plausible_rate() {
        let t0 = ManualClock::at_2026().now();
        let mut store = Store::new("j");
        list(
            &mut store,
            &[("a", "RUNNING", Some(10)), ("b", "WAITING", None)],
            t0,
        );
        assert_eq!(outlook(&store, t0), None, "no rate yet");
        list(
            &mut store,
            &[("a", "RUNNING", Some(19)), ("b", "RUNNING", Some(0))],
            t0 + secs(10),
        );
        // a: 9 points (+1 of slack) in 10 s; b has started but shows no rate: it gets a's
        // pace from its reading: 99 points at 1 point/s.
        let seen = outlook(&store, t0 + secs(10)).unwrap();
        assert_eq!(seen.earliest, t0 + secs(10) + secs(99));
        assert_eq!(seen.expected, seen.earliest);
        list(
            &mut store,
            &[("a", "RUNNING", Some(28)), ("b", "RUNNING", Some(4))],
            t0 + secs(20),
        );
        // a: over its last readings spanning four points, 9 (+1) in 10 s: 1 point/s, 71
        // left; b: 4 (+1) in 10 s, 95 points left at 0.5 point/s.
        let seen = outlook(&store, t0 + secs(20)).unwrap();
        assert_eq!(seen.earliest, t0 + secs(20) + secs(190));
    }

    #[test]
    fn the_pace_is_the_recent_one_faster_or_slower() {
        let t0 = ManualClock::at_2026().now();
        // Speeding up: 20 (+1) points in the last 30 s, not 29 (+1) in 150 s; 69 left.
        let store = one(t0, &[(0, 1), (60, 2), (120, 10), (150, 30)]);
        let seen = outlook(&store, t0 + secs(150)).unwrap();
        assert_eq!(
            seen.earliest,
            t0 + secs(150) + Duration::from_secs_f64(69.0 / 0.7)
        );
        // Front-loaded: 80 points in 10 s, then a crawl: the burst no longer counts once
        // four points were crawled: 4 (+1) in 90 s; 11 left.
        let store = one(t0, &[(0, 1), (10, 81), (100, 84), (190, 88)]);
        let seen = outlook(&store, t0 + secs(190)).unwrap();
        assert_eq!(
            seen.earliest,
            t0 + secs(190) + Duration::from_secs_f64(11.0 * 90.0 / 5.0)
        );
    }

    #[test]
    fn no_subtask_is_thought_slower_than_the_slowest_finished_one() {
        let t0 = ManualClock::at_2026().now();
        let at = |s| t0 + secs(s);
        let mut store = Store::new("j");
        // a went 1 → 100 in 100 s (at least 0.99 point/s); b was seen at 1 and then at 11
        // 100 s later (a reset between the polls, say): 0.11 point/s of its own.
        list(
            &mut store,
            &[("a", "RUNNING", Some(1)), ("b", "RUNNING", Some(1))],
            at(0),
        );
        list(
            &mut store,
            &[("a", "SUCCESS", Some(100)), ("b", "RUNNING", Some(11))],
            at(100),
        );
        let seen = outlook(&store, at(100)).unwrap();
        assert_eq!(
            seen.earliest,
            at(100) + Duration::from_secs_f64(88.0 / 0.99)
        );
    }

    #[test]
    fn a_stall_pushes_the_end_later_at_the_pace_seen_before_it() {
        let t0 = ManualClock::at_2026().now();
        let mut store = one(t0, &[(0, 11), (40, 31)]);
        // 20 (+1) points in 40 s; 68 left.
        let pace = 21.0 / 40.0;
        let before = outlook(&store, t0 + secs(40)).unwrap();
        assert_eq!(
            before.earliest,
            t0 + secs(40) + Duration::from_secs_f64(68.0 / pace)
        );
        // Held at 31 for 5 minutes: the same pace, from the latest reading.
        list(&mut store, &[("a", "RUNNING", Some(31))], t0 + secs(340));
        let stalled = outlook(&store, t0 + secs(340)).unwrap();
        assert_eq!(
            stalled.earliest,
            t0 + secs(340) + Duration::from_secs_f64(68.0 / pace)
        );
    }

    #[test]
    fn a_reset_rebases_on_the_new_attempt() {
        let t0 = ManualClock::at_2026().now();
        let store = one(t0, &[(0, 10), (10, 20), (20, 70), (30, 5), (40, 9)]);
        // The new attempt: 4 (+1) points in 10 s, 90 left at 0.5 point/s.
        let seen = outlook(&store, t0 + secs(40)).unwrap();
        assert_eq!(seen.earliest, t0 + secs(40) + secs(180));
    }

    #[test]
    fn a_running_subtask_without_process_leaves_no_basis() {
        let t0 = ManualClock::at_2026().now();
        let mut store = Store::new("j");
        list(
            &mut store,
            &[("a", "RUNNING", Some(10)), ("b", "RUNNING", None)],
            t0,
        );
        list(
            &mut store,
            &[("a", "RUNNING", Some(20)), ("b", "RUNNING", None)],
            t0 + secs(10),
        );
        assert_eq!(outlook(&store, t0 + secs(10)), None);
    }

    #[test]
    fn a_plateau_near_the_end_may_end_any_moment_a_stall_may_not() {
        let t0 = ManualClock::at_2026().now();
        // 31 points in 30 s (with slack) up to 91, then held: after two steps' time it is
        // done but for its end.
        let readings = [(0, 1), (30, 31), (60, 61), (90, 91)];
        let pace = 31.0 / 30.0;
        let store = one(t0, &readings);
        let moving = outlook(&store, t0 + secs(90)).unwrap();
        assert_eq!(
            moving.earliest,
            t0 + secs(90) + Duration::from_secs_f64(8.0 / pace)
        );
        let mut store = one(t0, &readings);
        list(&mut store, &[("a", "RUNNING", Some(91))], t0 + secs(95));
        let held = outlook(&store, t0 + secs(95)).unwrap();
        assert_eq!(held.earliest, t0 + secs(95));
        assert_eq!(held.expected, held.earliest, "no hold learnt yet");
        // Held at 61 instead: a stall, whose end is still 38 points away.
        let mut store = one(t0, &readings[..3]);
        list(&mut store, &[("a", "RUNNING", Some(61))], t0 + secs(95));
        let stalled = outlook(&store, t0 + secs(95)).unwrap();
        assert_eq!(
            stalled.earliest,
            t0 + secs(95) + Duration::from_secs_f64(38.0 / pace)
        );
    }

    #[test]
    fn finished_subtasks_teach_how_long_the_others_hold_and_how_far_they_jump() {
        let t0 = ManualClock::at_2026().now();
        let at = |s| t0 + secs(s);
        let mut store = Store::new("j");
        // a rises to 99 in 100 s and holds it 40 s; b rises to 99 in 200 s.
        let rows =
            |a: (&'static str, u32), b: u32| [("a", a.0, Some(a.1)), ("b", "RUNNING", Some(b))];
        list(&mut store, &rows(("RUNNING", 0), 0), at(0));
        list(&mut store, &rows(("RUNNING", 50), 25), at(50));
        list(&mut store, &rows(("RUNNING", 99), 50), at(100));
        list(&mut store, &rows(("RUNNING", 99), 60), at(140));
        list(&mut store, &rows(("SUCCESS", 100), 75), at(150));
        list(&mut store, &rows(("SUCCESS", 100), 99), at(200));
        // a held 99 for at least 40 s after climbing 0.99 point/s: 39.6 points' worth. b
        // reached 99 between 150 s and 200 s (175 s: 99/175 point/s), so it is expected to
        // hold 70 s.
        let seen = outlook(&store, at(200)).unwrap();
        assert_eq!(seen.earliest, at(200));
        assert_eq!(seen.expected, at(245));

        // c climbed 1.1 points/s (with slack) to 80, held it 10 s, and was finished 2 s
        // later: it jumped at least 20 − 1 − 2 × 1.1 points; d, at 83 and moving, may now
        // end any moment.
        let mut store = Store::new("j");
        let rows =
            |c: (&'static str, u32), d: u32| [("c", c.0, Some(c.1)), ("d", "RUNNING", Some(d))];
        list(&mut store, &rows(("RUNNING", 70), 51), at(0));
        list(&mut store, &rows(("RUNNING", 80), 61), at(10));
        list(&mut store, &rows(("RUNNING", 80), 71), at(20));
        list(&mut store, &rows(("SUCCESS", 100), 73), at(22));
        assert!((lessons(&store, 1.0).jump - 16.8).abs() < 1e-9);
        list(&mut store, &rows(("SUCCESS", 100), 83), at(32));
        let seen = outlook(&store, at(32)).unwrap();
        assert_eq!(seen.earliest, at(32));
        // A subtask that was still moving when last seen proves nothing: it may have sped up.
        let mut store = Store::new("j");
        list(&mut store, &rows(("RUNNING", 1), 51), at(0));
        list(&mut store, &rows(("RUNNING", 2), 61), at(100));
        list(&mut store, &rows(("SUCCESS", 100), 71), at(200));
        assert_eq!(lessons(&store, 1.0).jump, 0.0);
    }

    #[test]
    fn delays_close_in_then_poll_toward_the_expected_end_then_back_off() {
        let clock = Arc::new(ManualClock::at_2026());
        let t0 = clock.now();
        let mut overdue = overdue_schedule(clock);
        let outlook = Outlook {
            earliest: t0 + secs(160),
            expected: t0 + secs(210),
        };
        let policy = plain();
        let mut at = 0;
        let mut schedule = Vec::new();
        while at < 400 {
            let delay = predicted_delay(outlook, t0 + secs(at), &mut overdue, &policy);
            schedule.push(delay.as_secs());
            at += delay.as_secs();
        }
        // 75 % of the time left, then just past E; toward X at most 30 s apart, just past
        // it; then 4, 8, and 12 s apart for two minutes; then every 30 s.
        assert_eq!(
            schedule,
            [120, 30, 11, 30, 20, 4, 8, 12, 12, 12, 12, 12, 12, 12, 12, 12, 30, 30, 30]
        );
    }

    #[test]
    fn a_listener_polls_every_max_interval_and_straight_to_the_end() {
        let clock = Arc::new(ManualClock::at_2026());
        let t0 = clock.now();
        let mut overdue = overdue_schedule(clock);
        let outlook = Outlook {
            earliest: t0 + secs(100),
            expected: t0 + secs(100),
        };
        let policy = Policy {
            listening: true,
            ..plain()
        };
        let schedule: Vec<Duration> = [0, 30, 60, 90, 101]
            .iter()
            .map(|&at| predicted_delay(outlook, t0 + secs(at), &mut overdue, &policy))
            .collect();
        assert_eq!(schedule, [secs(30), secs(30), secs(30), secs(11), secs(4)]);
    }

    #[test]
    fn never_past_the_earliest_plausible_end_plus_max_interval() {
        let clock = Arc::new(ManualClock::at_2026());
        let t0 = clock.now();
        let mut overdue = overdue_schedule(clock);
        for cap in [secs(1), secs(30), secs(120)] {
            for earliest in [0, 1, 14, 16, 40, 100, 1000, 100_000] {
                for expected in [0, 10, 500, 10_000] {
                    let outlook = Outlook {
                        earliest: t0 + secs(earliest),
                        expected: t0 + secs(earliest.max(expected)),
                    };
                    for listening in [false, true] {
                        let policy = Policy {
                            max_interval: cap,
                            listening,
                            ..plain()
                        };
                        let delay = predicted_delay(outlook, t0, &mut overdue, &policy);
                        assert!(
                            delay <= secs(earliest) + cap,
                            "{delay:?} E {earliest} X {expected} cap {cap:?}"
                        );
                    }
                }
            }
        }
    }
}
