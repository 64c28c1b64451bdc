//! The waiter's memory of one job: every subtask's last state, what the last listing said of
//! each, and the progress observations the poll timing reads.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
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
    /// Absent from two consistent full listings: gone, unless the job's details still
    /// list it (see `gone`).
    vanished: bool,
    /// Its disappearance stood at its job's verdict: it counts as vanished.
    gone: bool,
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

    /// Counts as no longer listed: its disappearance stood at the verdict, or it had
    /// finished (users delete finished subtasks: it keeps its state).
    fn no_longer_listed(&self) -> bool {
        self.gone || (self.vanished && self.terminal)
    }

    fn outcome(&self) -> SubtaskOutcome {
        SubtaskOutcome {
            subtask: self.subtask.clone(),
            vanished: self.no_longer_listed(),
        }
    }
}

/// The listing being read into the store. Its rows are applied when it ends: a row whose
/// ID another row of the same listing gives to a different desktop cannot be trusted,
/// and that is known only once the whole listing is read.
#[derive(Debug)]
struct Pass {
    kind: Kind,
    /// The rows are the job's details' inline subtasks, not a listing.
    details: bool,
    /// The rows, in the order listed, with when each was read.
    staged: Vec<(Row, Instant)>,
}

/// A row of a listing, kept until the listing ends.
#[derive(Debug)]
enum Row {
    /// A subtask the store does not hold as listed.
    New(Box<Subtask>),
    /// The entry at this index, listed exactly as the store holds it: most rows of a big
    /// job between two polls, kept without a second copy of the subtask.
    Same(usize),
}

/// A subtask ID, hashed: enough to count distinct subtasks and to spot conflicting rows
/// without copying the IDs.
pub(crate) fn id_hash(id: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// Who a row is about (its desktop, user and job), hashed: a repeated row of a shifting
/// listing has the same; a row carrying another subtask's ID does not.
pub(crate) fn identity(subtask: &Subtask) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (
        subtask.desktop_id(),
        subtask.desktop_name(),
        subtask.user_name(),
        subtask.job_id.as_deref(),
    )
        .hash(&mut hasher);
    hasher.finish()
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
    /// A subtask that had left the status filter was listed unfinished.
    filter_contradicted: bool,
    /// The job's details showed a subtask that had left the status filter unfinished:
    /// the filter is wrong, or the details are stale; a listing will tell.
    filter_doubted: bool,
    /// Rows of subtasks the job does not know were listed by reads that did not add up:
    /// the job exists, though nothing of it is known yet.
    glimpsed: bool,
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
            filter_contradicted: false,
            filter_doubted: false,
            glimpsed: false,
        }
    }

    /// Starts reading a listing of `kind`; its rows follow through [`stage`](Self::stage)
    /// and are applied by [`finish`](Self::finish).
    pub(crate) fn begin(&mut self, kind: Kind) {
        self.pass = Some(Pass {
            kind,
            details: false,
            staged: Vec::new(),
        });
    }

    /// Starts reading the job's details' inline subtasks as a full listing of the job.
    /// They teach states as a listing does, but a subtask that had left the status filter
    /// and shows unfinished there only puts the filter in doubt (details may be stale).
    pub(crate) fn begin_details(&mut self) {
        self.pass = Some(Pass {
            kind: Kind::Full,
            details: true,
            staged: Vec::new(),
        });
    }

    /// Adds a row of the listing begun, read at `at`.
    pub(crate) fn stage(&mut self, subtask: Subtask, at: Instant) {
        let Self {
            pass,
            index,
            entries,
            ..
        } = self;
        if let Some(pass) = pass {
            let same = subtask
                .id
                .as_deref()
                .and_then(|id| index.get(id))
                .copied()
                .filter(|&i| entries[i].subtask == subtask);
            let row = same.map_or_else(|| Row::New(Box::new(subtask)), Row::Same);
            pass.staged.push((row, at));
        }
    }

    /// Records `subtask` as listed at `at`; returns the transition it makes, if any.
    fn observe(
        &mut self,
        row: Row,
        at: Instant,
        listed: &mut Vec<bool>,
        details: bool,
    ) -> Option<Transition> {
        // The row as listed, or `None` when it is exactly what the store holds.
        let (index, subtask) = match row {
            Row::Same(index) => (index, None),
            Row::New(subtask) => {
                self.warn_unknown_status(&subtask);
                let id = subtask.id.as_deref().unwrap_or_default();
                let index = match self.index.get(id) {
                    Some(&index) => index,
                    None => self.add((*subtask).clone()),
                };
                (index, Some(*subtask))
            }
        };
        let listed_row = subtask.as_ref().unwrap_or(&self.entries[index].subtask);
        let (status, process) = (listed_row.status.clone(), listed_row.process);
        let unfinished = !listed_row.is_terminal();
        if index >= listed.len() {
            listed.resize(index + 1, false);
        }
        listed[index] = true;
        if let Some(process @ 1..=99) = process {
            self.process_step = gcd(self.process_step, process);
        }
        let job_id = &self.job_id;
        let entry = &mut self.entries[index];
        let id = entry.subtask.id.as_deref().unwrap_or_default();
        entry.missing_since = None;
        if entry.left_filter && unfinished {
            if details {
                // Stale details, or a filter the service does not honour: a listing of
                // the job will say which.
                self.filter_doubted = true;
            } else {
                // It left the status filter, yet a listing shows it unfinished: the
                // service does not honour the filter (in part, at least).
                self.filter_contradicted = true;
                entry.left_filter = false;
            }
        } else {
            entry.left_filter = false;
        }
        if entry.vanished {
            log::warn!(
                "job {job_id}: subtask {id} is listed again after it had disappeared from two listings"
            );
            entry.vanished = false;
            entry.gone = false;
        }
        if entry.terminal {
            // Terminal states are final, as the API documents: a later row saying
            // otherwise is stale (or the service contradicts itself), and the first end
            // seen, already reported, stands.
            if status != entry.subtask.status {
                log::warn!(
                    "job {job_id}: ignoring a row of subtask {id} listed {} after {}",
                    status_name(status.as_ref()),
                    status_name(entry.subtask.status.as_ref())
                );
                return None;
            }
            if let Some(subtask) = subtask {
                entry.subtask = subtask;
            }
            return None;
        }
        if entry.subtask.status != status && entry.subtask.status.is_some() {
            log::info!(
                "job {job_id}: subtask {id} ({}) {} -> {}",
                desktop_label(subtask.as_ref().unwrap_or(&entry.subtask)),
                status_name(entry.subtask.status.as_ref()),
                status_name(status.as_ref())
            );
        }
        if let (Some(SubtaskStatus::Running), Some(process)) = (&status, process) {
            entry.history.record(Reading { at, process });
        }
        let transition = match &status {
            Some(SubtaskStatus::Success) => Some(Transition::Succeeded(index)),
            Some(SubtaskStatus::Failed) => Some(Transition::Failed(index)),
            _ => None,
        };
        entry.terminal = transition.is_some();
        if entry.terminal {
            entry.history.ended.get_or_insert(at);
        }
        if let Some(subtask) = subtask {
            entry.subtask = subtask;
        }
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
            gone: false,
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

    /// Ends the listing begun: applies its rows (but those whose ID hash is in `conflicts`:
    /// the listing gave that ID to two different desktops) and returns the transitions
    /// they make. Only a `consistent` listing says anything of the subtasks it lacks: a
    /// full one starts (or completes) their disappearance, which needs two consistent full
    /// listings at least `min_gap` apart; a filtered one says unfinished subtasks left the
    /// filter.
    pub(crate) fn finish(
        &mut self,
        consistent: bool,
        at: Instant,
        min_gap: Duration,
        conflicts: &HashSet<u64>,
    ) -> Vec<Transition> {
        let Some(pass) = self.pass.take() else {
            return Vec::new();
        };
        let mut listed = vec![false; self.entries.len()];
        let mut transitions = Vec::new();
        let details = pass.details;
        for (row, read_at) in pass.staged {
            let id = match &row {
                Row::New(subtask) => subtask.id.as_deref(),
                Row::Same(index) => self.entries[*index].subtask.id.as_deref(),
            }
            .unwrap_or_default();
            if conflicts.contains(&id_hash(id)) {
                log::warn!(
                    "job {}: the listing gives subtask ID {id} to two different desktops; ignoring both rows",
                    self.job_id
                );
                continue;
            }
            // A subtask enters the job only through a read that adds up: a row of a torn
            // listing (or of details that do not add up) may be of a subtask the job does
            // not have, and would decide nothing but wrongly.
            if !consistent && !self.index.contains_key(id) {
                self.glimpsed = true;
                log::debug!(
                    "job {}: subtask {id} is listed only by a listing that does not add up; waiting for one that does",
                    self.job_id
                );
                continue;
            }
            transitions.extend(self.observe(row, read_at, &mut listed, details));
        }
        if !consistent {
            return transitions;
        }
        for (index, entry) in self.entries.iter_mut().enumerate() {
            if listed.get(index).copied().unwrap_or(false) || entry.vanished {
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
                        // Reported when the job's verdict confirms it (see
                        // `take_vanished`): the job's details may still list it.
                        entry.vanished = true;
                        entry.missing_since = None;
                        entry.left_filter = false;
                    }
                    Some(_) => {}
                },
            }
        }
        transitions
    }

    /// Confirms the disappearance of the subtasks that vanished before they were seen
    /// finished, once the job's verdict stands: from then on they count as vanished.
    /// Returns those not reported yet.
    pub(crate) fn take_vanished(&mut self) -> Vec<Transition> {
        let mut vanished = Vec::new();
        for (index, entry) in self.entries.iter_mut().enumerate() {
            if entry.vanished && !entry.terminal {
                entry.gone = true;
                if !std::mem::replace(&mut entry.reported, true) {
                    vanished.push(Transition::Vanished(index));
                }
            }
        }
        vanished
    }

    /// Whether the job's details showed a subtask that had left the status filter
    /// unfinished (cleared by asking).
    pub(crate) fn take_filter_doubted(&mut self) -> bool {
        std::mem::take(&mut self.filter_doubted)
    }

    /// Whether a subtask that had left the status filter was since listed unfinished
    /// (cleared by asking).
    pub(crate) fn take_filter_contradicted(&mut self) -> bool {
        std::mem::take(&mut self.filter_contradicted)
    }

    /// Whether reads that did not add up listed subtasks of the job it does not know.
    pub(crate) fn glimpsed(&self) -> bool {
        self.glimpsed
    }

    /// Records that a read of the job's own that did not add up counted subtasks of it.
    pub(crate) fn glimpse(&mut self) {
        self.glimpsed = true;
    }

    /// Whether subtask `id` is known.
    pub(crate) fn knows(&self, id: &str) -> bool {
        self.index.contains_key(id)
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
            counts.add(SubtaskState::of(status, entry.no_longer_listed()), status);
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
    use crate::test_util::ManualClock;
    use crate::time::Clock;

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
        let mut seen: HashMap<u64, u64> = HashMap::new();
        let mut conflicts = HashSet::new();
        for subtask in subtasks {
            let hash = id_hash(subtask.id.as_deref().unwrap());
            if *seen.entry(hash).or_insert(identity(&subtask)) != identity(&subtask) {
                conflicts.insert(hash);
            }
            store.stage(subtask, at);
        }
        store.finish(true, at, Duration::from_secs(5), &conflicts)
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
        assert_eq!(
            store.finish(false, at(10), Duration::from_secs(5), &HashSet::new()),
            []
        );
        assert_eq!(store.standing().missing, 1);
        // Too soon after the first absence.
        assert_eq!(listing(&mut store, Kind::Full, vec![], at(3)), []);
        // Gone for good, reported once the verdict stands.
        assert_eq!(listing(&mut store, Kind::Full, vec![], at(6)), []);
        assert_eq!(store.take_vanished(), [Transition::Vanished(0)]);
        assert_eq!(store.take_vanished(), []);
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
    fn two_desktops_under_one_id_are_both_ignored() {
        let t0 = ManualClock::at_2026().now();
        let mut store = Store::new("j");
        listing(
            &mut store,
            Kind::Full,
            vec![sub("a", "RUNNING", Some(5))],
            t0,
        );
        let mut impostor = sub("a", "FAILED", Some(40));
        impostor.entities.as_mut().unwrap().desktop_name = Some("desk-b".into());
        let transitions = listing(
            &mut store,
            Kind::Full,
            vec![sub("a", "RUNNING", Some(6)), impostor],
            t0,
        );
        assert_eq!(transitions, []);
        assert_eq!(store.counts().running, 1, "still running, not failed");
        // A repeated row of the same desktop (a shifted page) is no conflict.
        let transitions = listing(
            &mut store,
            Kind::Full,
            vec![sub("a", "RUNNING", Some(7)), sub("a", "SUCCESS", Some(100))],
            t0,
        );
        assert_eq!(transitions, [Transition::Succeeded(0)]);
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
