//! Poll timing, in one place: when to poll next, from what the subtasks' `process` says.
//!
//! # The invariant
//!
//! For each job, the *earliest plausible end* `E` is when its slowest unfinished subtask
//! would finish at the fastest rate its recent observations allow (see [`outlook`]). The
//! waiter never sleeps past `max(E, now) + max_interval`:
//!
//! - while `E` is ahead, it sleeps 60 % of the time left (at most `max_predicted_interval`,
//!   or `listen_interval` when someone listens), and within 15 s of `E`, until 1 s past it;
//! - once `E` has passed unfinished, it polls across one step of progress (the reported
//!   `process` moves in steps, so the true end is up to one step's time after `E`), then
//!   backs off 4 s, 8 s, 16 s … up to `max_interval`: a stalled or finalising job is polled
//!   at most every `max_interval`.
//!
//! So the lag between a job's true end and the poll that sees it is at most
//! `max_interval` (plus jitter) whatever `process` does, provided `E` really is a lower
//! bound of the end — which holds as long as no subtask progresses faster than it was
//! seen to within the rate window. Without a basis for `E` (no running subtask reports
//! `process`, or none moved within the rate window) the waiter follows the plain backoff
//! (5 s, 10 s, 20 s, then every `max_interval`).

use std::time::{Duration, Instant};

use super::store::{Reading, Store};
use crate::model::SubtaskStatus;
use crate::schedule::Schedule;

/// Within this of the predicted end, sleep until just past it.
const NEAR_END: Duration = Duration::from_secs(15);
/// How far past a predicted end to poll: finished subtasks need a moment to be listed.
const SETTLE: Duration = Duration::from_secs(1);
/// Farther from the predicted end, sleep this fraction of the time left, so a wrong
/// prediction is corrected by the next poll rather than paid for in lag.
const APPROACH: f64 = 0.6;
/// The shortest sleep a prediction may ask for.
const MIN_PREDICTED: Duration = Duration::from_secs(1);
/// The shortest sleep after a predicted end that passed unfinished.
const MIN_OVERDUE: Duration = Duration::from_secs(2);
/// Once well past a predicted end: 4 s, doubling, up to `max_interval`.
pub(crate) const OVERDUE_FIRST: Duration = Duration::from_secs(4);
/// How far back progress readings count for the pace of a job.
const RATE_WINDOW: Duration = Duration::from_secs(180);

/// The settings the timing follows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// The poll schedule's cap: the longest sleep once a predicted end has passed, and
    /// while someone listens.
    pub max_interval: Duration,
    /// The longest sleep toward a distant predicted end, when nobody listens.
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
    let longest = if policy.listening {
        policy.max_interval
    } else {
        policy.max_predicted_interval
    };
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
                match policy
                    .predictive
                    .then(|| outlook(store, now, RATE_WINDOW))
                    .flatten()
                {
                    Some(outlook) => Some(predicted_delay(
                        outlook,
                        now,
                        overdue,
                        longest,
                        policy.max_interval,
                    )),
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Outlook {
    /// The earliest the job can plausibly end.
    pub end: Instant,
    /// How long one step of `process` takes at that pace: the true end may be this much
    /// later than `end`, because progress is reported in steps.
    pub step: Duration,
}

/// How many steps of `process` a recent rate must span: over fewer, one step of slack
/// would inflate it too much (over one step, it doubles the rate).
const RECENT_STEPS: f64 = 4.0;

/// The fastest rate (points per second) `changes` allow within `window` before `now`: the
/// rate over the window and the rate over the latest readings that span at least
/// [`RECENT_STEPS`] steps, each with one step of slack (the true progress may be up to one
/// step ahead of what is reported), whichever is faster. `None` when `process` did not
/// move within the window.
fn fastest_rate(changes: &[Reading], step: f64, now: Instant, window: Duration) -> Option<f64> {
    let (last, earlier) = changes.split_last()?;
    if now.saturating_duration_since(last.at) > window {
        return None;
    }
    let rate = |from: &Reading| {
        let span = last.at.checked_duration_since(from.at)?.as_secs_f64();
        (span > 0.0).then(|| (f64::from(last.process - from.process) + step) / span)
    };
    let recent = earlier
        .iter()
        .rev()
        .find(|r| f64::from(last.process - r.process) >= RECENT_STEPS * step)
        .or(earlier.first())
        .and_then(rate);
    let since = now.checked_sub(window);
    let oldest = earlier
        .iter()
        .find(|r| since.is_none_or(|since| r.at >= since))
        .or(earlier.last());
    let over_window = oldest.and_then(rate);
    match (recent, over_window) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The earliest plausible end of the job in `store`, judged at `now` from the readings
/// within `window`; `None` when there is no basis for one.
///
/// Each unfinished subtask finishes no sooner than its last change of `process` plus what
/// is left (less one step) at its fastest plausible rate; a subtask that has not started,
/// or reported no rate of its own, is given the fastest rate of any subtask of the job,
/// counted from now. A running subtask without `process` leaves no basis at all.
pub(crate) fn outlook(store: &Store, now: Instant, window: Duration) -> Option<Outlook> {
    let step = f64::from(store.process_step());
    let job_rate = store
        .histories()
        .filter_map(|(_, _, history)| fastest_rate(history.changes(), step, now, window))
        .fold(None, |fastest: Option<f64>, rate| {
            Some(fastest.map_or(rate, |f| f.max(rate)))
        })?;
    let mut latest: Option<Outlook> = None;
    for (pending, status, history) in store.histories() {
        if !pending {
            continue;
        }
        let own = fastest_rate(history.changes(), step, now, window);
        let (from, done) = match (status, history.changes().last()) {
            (Some(SubtaskStatus::Running), Some(last)) => (last.at, f64::from(last.process)),
            (Some(SubtaskStatus::Running), None) if history.latest().is_none() => return None,
            (Some(SubtaskStatus::Running), None) => (now, 0.0),
            // Waiting, or a status without `process`: it has all its work ahead.
            _ => (now, 0.0),
        };
        let rate = own.unwrap_or(job_rate);
        let left = (100.0 - done - step).max(0.0);
        let outlook = Outlook {
            end: from + Duration::try_from_secs_f64(left / rate).unwrap_or(Duration::MAX / 4),
            step: Duration::try_from_secs_f64(step / rate).unwrap_or(Duration::MAX / 4),
        };
        if latest.is_none_or(|l| outlook.end > l.end) {
            latest = Some(outlook);
        }
    }
    latest
}

/// The sleep before the next poll of a job whose end is predicted by `outlook`: close in on
/// the end geometrically and poll just past it; once past, poll across one step, then back
/// off on `overdue` (which this resets while the end is ahead). `longest` caps a sleep
/// toward a distant end; `max_interval` caps one after it.
pub(crate) fn predicted_delay(
    outlook: Outlook,
    now: Instant,
    overdue: &mut Schedule,
    longest: Duration,
    max_interval: Duration,
) -> Duration {
    let left = outlook.end.saturating_duration_since(now);
    if left.is_zero() {
        let late = now.saturating_duration_since(outlook.end);
        if late <= outlook.step.saturating_mul(2) {
            // Not `clamp`: a cap below MIN_OVERDUE is valid and wins.
            return (outlook.step / 3).max(MIN_OVERDUE).min(max_interval);
        }
        return overdue.next_delay().min(max_interval.max(MIN_OVERDUE));
    }
    overdue.reset();
    let delay = if left <= NEAR_END {
        left.saturating_add(SETTLE)
    } else {
        left.mul_f64(APPROACH)
    };
    delay.clamp(MIN_PREDICTED, longest.max(MIN_PREDICTED))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Subtask;
    use crate::schedule::BackoffPolicy;
    use crate::time::{Clock, ManualClock};
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

    const WINDOW: Duration = Duration::from_secs(180);

    #[test]
    fn the_end_is_the_slowest_subtask_at_its_fastest_plausible_rate() {
        let t0 = ManualClock::at_2026().now();
        let mut store = Store::new("j");
        list(
            &mut store,
            &[("a", "RUNNING", Some(10)), ("b", "WAITING", None)],
            t0,
        );
        assert_eq!(outlook(&store, t0, WINDOW), None, "no rate yet");
        list(
            &mut store,
            &[("a", "RUNNING", Some(19)), ("b", "RUNNING", Some(0))],
            t0 + secs(10),
        );
        // a: 9 points (+1 of slack) in 10 s; b has started but shows no rate: it gets a's
        // pace from its own start: 99 points at 1 point/s.
        let seen = outlook(&store, t0 + secs(10), WINDOW).unwrap();
        assert_eq!(seen.end, t0 + secs(10) + secs(99));
        list(
            &mut store,
            &[("a", "RUNNING", Some(28)), ("b", "RUNNING", Some(4))],
            t0 + secs(20),
        );
        // a: over the window 18 (+1) points in 20 s, over the last interval 9 (+1) in 10 s:
        // 1 point/s, 71 left; b: 4 (+1) in 10 s, 95 points left at 0.5 point/s.
        let seen = outlook(&store, t0 + secs(20), WINDOW).unwrap();
        assert_eq!(seen.end, t0 + secs(20) + secs(190));
        assert_eq!(seen.step, secs(2));
    }

    #[test]
    fn recent_acceleration_moves_the_end_earlier() {
        let t0 = ManualClock::at_2026().now();
        let mut store = Store::new("j");
        for (t, p) in [(0, 1), (60, 2), (120, 10), (150, 30)] {
            list(&mut store, &[("a", "RUNNING", Some(p))], t0 + secs(t));
        }
        // Over the window: 29 (+1) points in 150 s (0.2/s); the last interval: 20 (+1) in
        // 30 s (0.7/s): the faster one counts, 69 points left.
        let seen = outlook(&store, t0 + secs(150), WINDOW).unwrap();
        assert_eq!(
            seen.end,
            t0 + secs(150) + Duration::from_secs_f64(69.0 / 0.7)
        );
    }

    #[test]
    fn no_movement_within_the_window_is_no_basis_and_old_pace_is_forgotten() {
        let t0 = ManualClock::at_2026().now();
        let mut store = Store::new("j");
        list(&mut store, &[("a", "RUNNING", Some(10))], t0);
        list(&mut store, &[("a", "RUNNING", Some(20))], t0 + secs(10));
        assert!(outlook(&store, t0 + secs(10), WINDOW).is_some());
        list(&mut store, &[("a", "RUNNING", Some(20))], t0 + secs(300));
        assert_eq!(outlook(&store, t0 + secs(300), WINDOW), None);
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
        assert_eq!(outlook(&store, t0 + secs(10), WINDOW), None);
    }

    #[test]
    fn delays_close_in_then_poll_across_a_step_then_back_off() {
        let clock = Arc::new(ManualClock::at_2026());
        let t0 = clock.now();
        let policy = BackoffPolicy::new(OVERDUE_FIRST).max_interval(secs(30));
        let mut overdue = Schedule::new(&policy, clock, 0);
        let outlook = Outlook {
            end: t0 + secs(100),
            step: secs(6),
        };
        let delay = |at: u64, overdue: &mut Schedule| {
            predicted_delay(outlook, t0 + secs(at), overdue, secs(300), secs(30))
        };
        assert_eq!(delay(0, &mut overdue), secs(60));
        assert_eq!(delay(60, &mut overdue), secs(24));
        assert_eq!(delay(90, &mut overdue), secs(11));
        assert_eq!(delay(101, &mut overdue), secs(2), "a third of a step");
        assert_eq!(delay(113, &mut overdue), secs(4));
        assert_eq!(delay(117, &mut overdue), secs(8));
        assert_eq!(delay(125, &mut overdue), secs(16));
        assert_eq!(delay(141, &mut overdue), secs(30));
        assert_eq!(delay(171, &mut overdue), secs(30));
        // Never past E + max_interval while E is ahead, whatever the cap.
        assert_eq!(
            predicted_delay(outlook, t0, &mut overdue, secs(3600), secs(30)),
            secs(60)
        );
    }
}
