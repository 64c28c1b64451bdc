//! The waiter's memory of one job: every subtask's last state, what the last listing said of
//! each, and the progress observations the poll timing reads.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::model::{Subtask, SubtaskStatus};
use crate::outcome::{Counts, SubtaskOutcome, SubtaskState};

/// Which subtasks a listing holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Every subtask of the job.
    Full,
    /// Only [`FILTER`](super::listing::FILTER) statuses: unfinished subtasks and failed ones.
    Filtered,
}

/// A subtask's change that observers hear of: each happens once per subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    Succeeded(usize),
    Failed(usize),
    Vanished(usize),
}

/// One `process` reading of a running subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading {
    pub at: Instant,
    pub process: u32,
}

/// How many readings where `process` changed a subtask keeps, for its recent rate.
const READINGS: usize = 6;

/// The `process` readings of one subtask since it started (or last went backwards).
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    /// The readings where `process` took a new value, oldest first, at most [`READINGS`].
    changes: Vec<Reading>,
    /// The latest reading, changed or not.
    latest: Option<Reading>,
    /// The first reading of this attempt: how long the subtask took to reach its last
    /// value, which the poll timing compares with how long it then held it.
    first: Option<Reading>,
    /// The last reading before the latest change: the change happened after it.
    before_change: Option<Instant>,
    /// When a listing first showed the subtask finished.
    ended: Option<Instant>,
}

impl History {
    fn record(&mut self, reading: Reading) {
        if self
            .changes
            .last()
            .is_some_and(|last| last.process != reading.process)
        {
            self.before_change = self.latest.map(|r| r.at);
        }
        match self.changes.last() {
            Some(last) if reading.process == last.process => {}
            // Progress went backwards (a retried desktop): earlier readings say nothing of
            // the new attempt's pace.
            Some(last) if reading.process < last.process => {
                self.changes = vec![reading];
                self.first = Some(reading);
            }
            _ => {
                if self.changes.len() == READINGS {
                    self.changes.remove(0);
                }
                self.changes.push(reading);
            }
        }
        self.first.get_or_insert(reading);
        self.latest = Some(reading);
    }

    /// The readings where `process` changed, oldest first.
    pub(crate) fn changes(&self) -> &[Reading] {
        &self.changes
    }

    /// The latest reading.
    pub(crate) fn latest(&self) -> Option<Reading> {
        self.latest
    }

    /// The first reading of this attempt.
    pub(crate) fn first(&self) -> Option<Reading> {
        self.first
    }

    /// When a listing first showed the subtask finished.
    pub(crate) fn ended(&self) -> Option<Instant> {
        self.ended
    }

    /// The last reading before the latest change of `process`.
    pub(crate) fn before_change(&self) -> Option<Instant> {
        self.before_change
    }
}

#[derive(Debug)]
struct Entry {
    subtask: Subtask,
    /// Seen `SUCCESS` or `FAILED`: final, as the API documents. A later listing showing it
    /// unfinished is a stale row and is ignored.
    terminal: bool,
    /// Observers heard of its end (success, failure or disappearance).
    reported: bool,
    vanished: bool,
    /// When a consistent full listing first lacked it while it was unfinished: it finished
    /// and was deleted, or the listing glitched. A second consistent listing at least one
    /// poll interval later decides.
    missing_since: Option<Instant>,
    /// Unfinished when last seen, then absent from a consistent filtered listing: it
    /// succeeded (or was deleted); the confirming full listing will say which.
    left_filter: bool,
    history: History,
}

impl Entry {
    fn is_pending(&self) -> bool {
        !self.terminal && !self.vanished
    }

    fn outcome(&self) -> SubtaskOutcome {
        SubtaskOutcome {
            subtask: self.subtask.clone(),
            vanished: self.vanished,
        }
    }
}

/// The listing being read into the store.
#[derive(Debug)]
struct Pass {
    kind: Kind,
    /// Entries seen in this listing, by index.
    listed: Vec<bool>,
}

/// What one subtask's store knows of its job's subtasks.
#[derive(Debug)]
pub(crate) struct Store {
    job_id: String,
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    warned_statuses: HashSet<String>,
    pass: Option<Pass>,
    /// The greatest common divisor of every `process` seen between 1 and 99: the step the
    /// service reports progress in (1, or coarser such as 10 or 25).
    process_step: u32,
}

/// What the store says of its job after a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Standing {
    /// Subtasks ever listed (vanished ones included).
    pub known: usize,
    /// Subtasks seen unfinished in the latest listing, or not yet accounted for.
    pub pending: usize,
    /// Unfinished subtasks absent from one consistent full listing, awaiting a second.
    pub missing: usize,
    /// Unfinished subtasks that left the filtered listing, awaiting a full one.
    pub left_filter: usize,
}

impl Standing {
    /// Every known subtask finished (or vanished), nothing awaiting confirmation.
    pub(crate) fn settled(&self) -> bool {
        self.pending == 0 && self.missing == 0 && self.left_filter == 0
    }
}

impl Store {
    pub(crate) fn new(job_id: &str) -> Self {
        Self {
            job_id: job_id.to_owned(),
            entries: Vec::new(),
            index: HashMap::new(),
            warned_statuses: HashSet::new(),
            pass: None,
            process_step: 0,
        }
    }

    /// Starts reading a listing of `kind`; subtasks follow through [`observe`](Self::observe).
    pub(crate) fn begin(&mut self, kind: Kind) {
        self.pass = Some(Pass {
            kind,
            listed: vec![false; self.entries.len()],
        });
    }

    /// Records `subtask` as listed at `at`; returns the transition it makes, if any.
    pub(crate) fn observe(&mut self, subtask: Subtask, at: Instant) -> Option<Transition> {
        self.warn_unknown_status(&subtask);
        let id = subtask.id.as_deref().unwrap_or_default();
        let index = match self.index.get(id) {
            Some(&index) => index,
            None => self.add(subtask.clone()),
        };
        if let Some(pass) = &mut self.pass {
            if index >= pass.listed.len() {
                pass.listed.resize(index + 1, false);
            }
            pass.listed[index] = true;
        }
        if let Some(process @ 1..=99) = subtask.process {
            self.process_step = gcd(self.process_step, process);
        }
        let job_id = &self.job_id;
        let entry = &mut self.entries[index];
        entry.missing_since = None;
        entry.left_filter = false;
        if entry.vanished {
            log::warn!(
                "job {job_id}: subtask {id} is listed again after it had disappeared from two listings"
            );
            entry.vanished = false;
        }
        if entry.terminal {
            if !subtask.is_terminal() {
                log::debug!(
                    "job {job_id}: ignoring a stale row of subtask {id}: listed {} after {}",
                    status_name(subtask.status.as_ref()),
                    status_name(entry.subtask.status.as_ref())
                );
                return None;
            }
            entry.subtask = subtask;
            return None;
        }
        if entry.subtask.status != subtask.status && entry.subtask.status.is_some() {
            log::info!(
                "job {job_id}: subtask {id} ({}) {} -> {}",
                desktop_label(&subtask),
                status_name(entry.subtask.status.as_ref()),
                status_name(subtask.status.as_ref())
            );
        }
        if let (Some(SubtaskStatus::Running), Some(process)) = (&subtask.status, subtask.process) {
            entry.history.record(Reading { at, process });
        }
        let transition = match &subtask.status {
            Some(SubtaskStatus::Success) => Some(Transition::Succeeded(index)),
            Some(SubtaskStatus::Failed) => Some(Transition::Failed(index)),
            _ => None,
        };
        entry.terminal = transition.is_some();
        if entry.terminal {
            entry.history.ended.get_or_insert(at);
        }
        entry.subtask = subtask;
        if transition.is_some() && !std::mem::replace(&mut entry.reported, true) {
            transition
        } else {
            None
        }
    }

    fn add(&mut self, subtask: Subtask) -> usize {
        let id = subtask.id.clone().unwrap_or_default();
        log::info!(
            "job {}: subtask {id} ({}) is {}",
            self.job_id,
            desktop_label(&subtask),
            status_name(subtask.status.as_ref())
        );
        self.index.insert(id, self.entries.len());
        self.entries.push(Entry {
            // Overwritten by the caller with the same value; an empty status makes the
            // first observation a change.
            subtask: Subtask {
                status: None,
                ..subtask
            },
            terminal: false,
            reported: false,
            vanished: false,
            missing_since: None,
            left_filter: false,
            history: History::default(),
        });
        self.entries.len() - 1
    }

    fn warn_unknown_status(&mut self, subtask: &Subtask) {
        if let Some(SubtaskStatus::Unknown(text)) = &subtask.status {
            if self.warned_statuses.insert(text.clone()) {
                log::warn!(
                    "job {}: subtask {} has status {text:?}, unknown to this version; counting it as not finished",
                    self.job_id,
                    subtask.id.as_deref().unwrap_or_default()
                );
            }
        }
    }

    /// Ends the listing begun. Only a `consistent` listing says anything of the subtasks it
    /// lacks: a full one starts (or completes) their disappearance, which needs two
    /// consistent full listings at least `min_gap` apart; a filtered one says unfinished
    /// subtasks left the filter. Returns the subtasks that vanished now.
    pub(crate) fn finish(
        &mut self,
        consistent: bool,
        at: Instant,
        min_gap: Duration,
    ) -> Vec<Transition> {
        let Some(pass) = self.pass.take() else {
            return Vec::new();
        };
        let mut vanished = Vec::new();
        if !consistent {
            return vanished;
        }
        for (index, entry) in self.entries.iter_mut().enumerate() {
            if pass.listed.get(index).copied().unwrap_or(false) || entry.vanished {
                continue;
            }
            match pass.kind {
                Kind::Filtered => {
                    if !entry.terminal {
                        entry.left_filter = true;
                    }
                }
                // A finished subtask may be deleted: it keeps its state, marked vanished,
                // and needs no confirmation since nothing about it is pending.
                Kind::Full if entry.terminal => entry.vanished = true,
                Kind::Full => match entry.missing_since {
                    None => entry.missing_since = Some(at),
                    Some(since) if at.saturating_duration_since(since) >= min_gap => {
                        log::warn!(
                            "job {}: subtask {} ({}) disappeared while {}; its final state is unknown",
                            self.job_id,
                            entry.subtask.id.as_deref().unwrap_or_default(),
                            desktop_label(&entry.subtask),
                            status_name(entry.subtask.status.as_ref())
                        );
                        entry.vanished = true;
                        entry.missing_since = None;
                        entry.left_filter = false;
                        if !std::mem::replace(&mut entry.reported, true) {
                            vanished.push(Transition::Vanished(index));
                        }
                    }
                    Some(_) => {}
                },
            }
        }
        vanished
    }

    /// Where the job stands.
    pub(crate) fn standing(&self) -> Standing {
        let mut standing = Standing {
            known: self.entries.len(),
            ..Standing::default()
        };
        for entry in self.entries.iter().filter(|e| e.is_pending()) {
            if entry.missing_since.is_some() {
                standing.missing += 1;
            } else if entry.left_filter {
                standing.left_filter += 1;
            } else {
                standing.pending += 1;
            }
        }
        standing
    }

    /// Subtasks a filtered listing would hold: unfinished ones and failed ones.
    pub(crate) fn filtered_size(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| {
                !e.vanished && (e.is_pending() || e.subtask.status == Some(SubtaskStatus::Failed))
            })
            .count()
    }

    /// Whether a subtask has a status the `status` filter cannot name (unknown, or none):
    /// it would drop out of filtered listings unseen.
    pub(crate) fn has_unnameable_status(&self) -> bool {
        self.entries.iter().any(|e| {
            e.is_pending() && matches!(e.subtask.status, None | Some(SubtaskStatus::Unknown(_)))
        })
    }

    pub(crate) fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for entry in &self.entries {
            let status = entry.subtask.status.as_ref();
            counts.add(SubtaskState::of(status, entry.vanished), status);
        }
        counts
    }

    /// The sum and number of `process` values reported (`SUCCESS` counts 100).
    pub(crate) fn process_sum(&self) -> (f64, usize) {
        let mut sum = 0.0;
        let mut reporting = 0;
        for entry in &self.entries {
            let process = match entry.subtask.status {
                Some(SubtaskStatus::Success) => Some(100),
                _ => entry.subtask.process,
            };
            if let Some(process) = process {
                sum += f64::from(process);
                reporting += 1;
            }
        }
        (sum, reporting)
    }

    /// The subtask at `index` as last listed.
    pub(crate) fn subtask(&self, index: usize) -> &Subtask {
        &self.entries[index].subtask
    }

    /// The histories of the unfinished subtasks, and of every subtask for the job's
    /// fastest rate, with the subtask's status.
    pub(crate) fn histories(
        &self,
    ) -> impl Iterator<Item = (bool, Option<&SubtaskStatus>, &History)> {
        self.entries.iter().filter(|e| !e.vanished).map(|e| {
            let pending = e.is_pending() && !e.left_filter && e.missing_since.is_none();
            (pending, e.subtask.status.as_ref(), &e.history)
        })
    }

    /// The step `process` moves in (1 when unknown).
    pub(crate) fn process_step(&self) -> u32 {
        self.process_step.max(1)
    }

    /// Every subtask's last state, in the order first seen.
    pub(crate) fn outcomes(&self) -> Vec<SubtaskOutcome> {
        self.entries.iter().map(Entry::outcome).collect()
    }
}

/// A subtask's desktop, for log lines.
fn desktop_label(subtask: &Subtask) -> &str {
    subtask
        .desktop_name()
        .or(subtask.desktop_id())
        .unwrap_or("no desktop")
}

fn status_name(status: Option<&SubtaskStatus>) -> &str {
    status.map_or("without status", SubtaskStatus::as_str)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Clock, ManualClock};

    fn sub(id: &str, status: &str, process: Option<u32>) -> Subtask {
        serde_json::from_value(serde_json::json!({
            "id": id, "status": status, "process": process,
            "entities": { "desktop_name": format!("desk-{id}") }
        }))
        .unwrap()
    }

    fn listing(
        store: &mut Store,
        kind: Kind,
        subtasks: Vec<Subtask>,
        at: Instant,
    ) -> Vec<Transition> {
        store.begin(kind);
        let mut transitions: Vec<_> = subtasks
            .into_iter()
            .filter_map(|s| store.observe(s, at))
            .collect();
        transitions.extend(store.finish(true, at, Duration::from_secs(5)));
        transitions
    }

    #[test]
    fn terminal_states_are_final_and_reported_once() {
        let t0 = ManualClock::at_2026().now();
        let mut store = Store::new("j");
        assert_eq!(
            listing(
                &mut store,
                Kind::Full,
                vec![sub("a", "RUNNING", Some(5))],
                t0
            ),
            []
        );
        assert_eq!(
            listing(
                &mut store,
                Kind::Full,
                vec![sub("a", "SUCCESS", Some(100))],
                t0
            ),
            [Transition::Succeeded(0)]
        );
        // A stale row does not undo the success, and nothing is reported twice.
        assert_eq!(
            listing(
                &mut store,
                Kind::Full,
                vec![sub("a", "RUNNING", Some(90))],
                t0
            ),
            []
        );
        assert_eq!(store.counts().succeeded, 1);
        assert!(store.standing().settled());
    }

    #[test]
    fn a_subtask_vanishes_only_after_two_consistent_listings_apart() {
        let t0 = ManualClock::at_2026().now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut store = Store::new("j");
        listing(
            &mut store,
            Kind::Full,
            vec![sub("a", "RUNNING", Some(5)), sub("b", "SUCCESS", Some(100))],
            t0,
        );
        // Both gone: `b` was finished (deleted, keeps its success); `a` is missing once.
        assert_eq!(listing(&mut store, Kind::Full, vec![], at(1)), []);
        assert_eq!(store.standing().missing, 1);
        // An inconsistent listing says nothing.
        store.begin(Kind::Full);
        assert_eq!(store.finish(false, at(10), Duration::from_secs(5)), []);
        assert_eq!(store.standing().missing, 1);
        // Too soon after the first absence.
        assert_eq!(listing(&mut store, Kind::Full, vec![], at(3)), []);
        assert_eq!(
            listing(&mut store, Kind::Full, vec![], at(6)),
            [Transition::Vanished(0)]
        );
        let counts = store.counts();
        assert_eq!((counts.vanished, counts.succeeded), (1, 1));
        assert!(store.standing().settled());
    }

    #[test]
    fn reappearing_clears_the_absence() {
        let t0 = ManualClock::at_2026().now();
        let mut store = Store::new("j");
        listing(
            &mut store,
            Kind::Full,
            vec![sub("a", "RUNNING", Some(5))],
            t0,
        );
        listing(&mut store, Kind::Full, vec![], t0);
        listing(
            &mut store,
            Kind::Full,
            vec![sub("a", "RUNNING", Some(6))],
            t0 + Duration::from_secs(9),
        );
        assert_eq!(store.standing().missing, 0);
        assert_eq!(store.standing().pending, 1);
    }

    #[test]
    fn leaving_the_filter_awaits_a_full_listing() {
        let t0 = ManualClock::at_2026().now();
        let mut store = Store::new("j");
        listing(
            &mut store,
            Kind::Full,
            vec![sub("a", "RUNNING", Some(5)), sub("b", "RUNNING", Some(7))],
            t0,
        );
        listing(
            &mut store,
            Kind::Filtered,
            vec![sub("b", "RUNNING", Some(9))],
            t0,
        );
        let standing = store.standing();
        assert_eq!((standing.pending, standing.left_filter), (1, 1));
        assert_eq!(store.filtered_size(), 2);
        listing(
            &mut store,
            Kind::Full,
            vec![sub("a", "SUCCESS", Some(100)), sub("b", "FAILED", Some(9))],
            t0,
        );
        assert!(store.standing().settled());
        assert_eq!(
            store.filtered_size(),
            1,
            "the failed one stays in the filter"
        );
    }

    #[test]
    fn history_keeps_changes_and_rebases_on_a_reset() {
        let t0 = ManualClock::at_2026().now();
        let mut history = History::default();
        for (s, p) in [(0, 10), (10, 10), (20, 30), (30, 70), (40, 10), (50, 20)] {
            history.record(Reading {
                at: t0 + Duration::from_secs(s),
                process: p,
            });
        }
        let values: Vec<u32> = history.changes().iter().map(|r| r.process).collect();
        assert_eq!(values, [10, 20]);
        assert_eq!(history.latest().unwrap().process, 20);
        // The new attempt began with the reset; it went from 10 to 20 after 40 s.
        assert_eq!(history.first().unwrap().at, t0 + Duration::from_secs(40));
        assert_eq!(history.before_change(), Some(t0 + Duration::from_secs(40)));
    }

    #[test]
    fn history_remembers_when_the_subtask_was_first_seen_finished() {
        let t0 = ManualClock::at_2026().now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut store = Store::new("j");
        for (s, p) in [(0, 10), (10, 60), (20, 99)] {
            listing(
                &mut store,
                Kind::Full,
                vec![sub("a", "RUNNING", Some(p))],
                at(s),
            );
        }
        for s in [30, 40] {
            listing(
                &mut store,
                Kind::Full,
                vec![sub("a", "SUCCESS", Some(100))],
                at(s),
            );
        }
        let (_, _, history) = store.histories().next().unwrap();
        assert_eq!(
            history.first().unwrap(),
            Reading {
                at: t0,
                process: 10
            }
        );
        assert_eq!(history.latest().unwrap().at, at(20));
        assert_eq!(history.ended(), Some(at(30)));
    }
}
