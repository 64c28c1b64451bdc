//! The waiter's memory of a job: every subtask's last state, progress observations for
//! predicting the end, and the choice between full and filtered listings.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::model::{Subtask, SubtaskStatus};
use crate::outcome::{Counts, Progress, SubtaskState, TrackedSubtask};

/// The `status` filter of a cheap poll: unfinished subtasks, and failed ones so failures are
/// reported as they happen. Finished successes are read once, by a full listing at the end.
pub(crate) const CHEAP_FILTER: [SubtaskStatus; 3] = [
    SubtaskStatus::Waiting,
    SubtaskStatus::Running,
    SubtaskStatus::Failed,
];

/// Which listing a poll reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum ListingKind {
    /// Every subtask of the job.
    #[default]
    Full,
    /// Only [`CHEAP_FILTER`] statuses.
    Unfinished,
}

/// What the tracker concluded from a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Some subtask is not finished, or too few are visible.
    Pending,
    /// The filtered listing shows nothing unfinished: confirm with a full listing.
    Confirm,
    /// A complete full listing shows every subtask finished.
    Done,
}

/// When a job should end, from its subtasks' progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prediction {
    /// The earliest the slowest subtask can finish.
    pub(crate) end: Instant,
    /// How long that subtask takes per step of `process`: its end is uncertain by about
    /// this much, since progress is reported in steps.
    pub(crate) step: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Observation {
    at: Instant,
    process: u32,
}

/// The listing being read.
#[derive(Debug, Default)]
struct Pass {
    listing: ListingKind,
    /// Entries seen in this listing, by index.
    listed: Vec<bool>,
    /// Distinct subtasks seen.
    unique: u64,
    /// Distinct subtasks seen not finished.
    unfinished: usize,
}

#[derive(Debug)]
struct Entry {
    tracked: TrackedSubtask,
    /// First and latest `process` seen while running, for the rate estimate.
    first: Option<Observation>,
    last: Option<Observation>,
    /// Last seen unfinished, then missing from a complete filtered listing: it finished
    /// (or was deleted) and the confirming full listing will say how. Until then it neither
    /// needs polling for nor counts toward a prediction.
    left_filter: bool,
}

impl Entry {
    /// Still to be waited for, as far as the tracker knows.
    fn is_pending(&self) -> bool {
        !self.tracked.vanished && !self.left_filter && !self.tracked.subtask.is_terminal()
    }
}

#[derive(Debug)]
pub(crate) struct Tracker {
    job_id: String,
    expect: Option<usize>,
    index: HashMap<String, usize>,
    entries: Vec<Entry>,
    warned_statuses: HashSet<String>,
    saw_full_listing: bool,
    /// Cleared when the service returned statuses outside a filter it was given.
    filter_trusted: bool,
    /// The most entries one page has held: the service's effective page size.
    page_size: usize,
    /// Entries that turned `SUCCESS` / `FAILED` since the last progress report.
    newly_succeeded: Vec<usize>,
    newly_failed: Vec<usize>,
    pass: Pass,
    /// The greatest common divisor of every `process` seen between 1 and 99: the step the
    /// service reports progress in (1 for fine-grained progress, 25 for quarters).
    process_step: u32,
}

impl Tracker {
    pub(crate) fn new(job_id: &str, expect: Option<usize>, requested_page_size: usize) -> Self {
        Self {
            job_id: job_id.to_owned(),
            expect,
            index: HashMap::new(),
            entries: Vec::new(),
            warned_statuses: HashSet::new(),
            saw_full_listing: false,
            filter_trusted: true,
            page_size: requested_page_size.max(1),
            newly_succeeded: Vec::new(),
            newly_failed: Vec::new(),
            pass: Pass::default(),
            process_step: 0,
        }
    }

    /// Chooses the next listing: filtered only when it is known to be honoured and reads
    /// fewer pages than the full one would.
    pub(crate) fn next_listing(&self, use_filter: bool) -> ListingKind {
        if !use_filter || !self.saw_full_listing || !self.filter_trusted {
            return ListingKind::Full;
        }
        // A status the filter cannot name would drop out of filtered listings unseen.
        let unknown = self.entries.iter().any(|e| {
            !e.tracked.vanished
                && matches!(
                    e.tracked.subtask.status,
                    None | Some(SubtaskStatus::Unknown(_))
                )
        });
        if unknown {
            return ListingKind::Full;
        }
        let pages = |n: usize| n.div_ceil(self.page_size).max(1);
        let filtered = self
            .entries
            .iter()
            .filter(|e| {
                e.is_pending()
                    || (!e.tracked.vanished
                        && e.tracked.subtask.status == Some(SubtaskStatus::Failed))
            })
            .count();
        // The filtered listing costs one extra full listing at the end.
        if pages(filtered) < pages(self.visible()) {
            ListingKind::Unfinished
        } else {
            ListingKind::Full
        }
    }

    fn visible(&self) -> usize {
        self.entries.iter().filter(|e| !e.tracked.vanished).count()
    }

    /// Records the page size a listing of several pages revealed (a server may cap pages
    /// below the `limit` asked for).
    pub(crate) fn note_page_size(&mut self, largest_page: usize) {
        self.page_size = largest_page.max(1);
    }

    /// Starts reading a listing; its pages follow through [`add_page`](Self::add_page).
    pub(crate) fn begin(&mut self, listing: ListingKind) {
        self.pass = Pass {
            listing,
            listed: vec![false; self.entries.len()],
            unique: 0,
            unfinished: 0,
        };
    }

    /// Records one page of the listing begun, starting at `offset`, read at `at`.
    pub(crate) fn add_page(&mut self, offset: u64, jobs: Vec<Subtask>, at: Instant) {
        for (i, job) in jobs.into_iter().enumerate() {
            if self.pass.listing == ListingKind::Unfinished
                && self.filter_trusted
                && !job
                    .status
                    .as_ref()
                    .is_some_and(|s| CHEAP_FILTER.contains(s))
            {
                log::warn!(
                    "job {}: the service ignored the status filter (listed a {} subtask); reading full listings from now on",
                    self.job_id,
                    job.status.as_ref().map_or("status-less", SubtaskStatus::as_str)
                );
                self.filter_trusted = false;
            }
            let unfinished = !job.is_terminal();
            let index = self.record(offset + i as u64, job, at);
            if index >= self.pass.listed.len() {
                self.pass.listed.resize(index + 1, false);
            }
            // A page that shifted may repeat a subtask: count each one once.
            if !std::mem::replace(&mut self.pass.listed[index], true) {
                self.pass.unique += 1;
                self.pass.unfinished += usize::from(unfinished);
            }
        }
    }

    /// Ends the listing begun; `total_count` is what the service said matches.
    pub(crate) fn finish(&mut self, total_count: u64) -> Verdict {
        let pass = std::mem::take(&mut self.pass);
        // Only a listing holding every subtask the service counted makes absences meaningful.
        let complete = pass.unique >= total_count;
        match pass.listing {
            ListingKind::Full => {
                self.saw_full_listing = true;
                if complete {
                    self.mark_vanished(&pass.listed);
                }
                // Subtasks deleted after being listed still count: they were listed.
                let enough = self.entries.len() >= self.expect.unwrap_or(1).max(1);
                if complete && enough && pass.unfinished == 0 && self.all_settled() {
                    Verdict::Done
                } else {
                    Verdict::Pending
                }
            }
            ListingKind::Unfinished => {
                if complete && self.filter_trusted {
                    for (index, entry) in self.entries.iter_mut().enumerate() {
                        if !pass.listed.get(index).copied().unwrap_or(false) && entry.is_pending() {
                            entry.left_filter = true;
                        }
                    }
                }
                if pass.unfinished == 0 {
                    Verdict::Confirm
                } else {
                    Verdict::Pending
                }
            }
        }
    }

    /// Every visible subtask terminal (vanished ones cannot be waited for).
    fn all_settled(&self) -> bool {
        self.entries
            .iter()
            .all(|e| e.tracked.vanished || e.tracked.subtask.is_terminal())
    }

    /// Stores `job` (listed at `position`) and returns its entry's index.
    fn record(&mut self, position: u64, job: Subtask, at: Instant) -> usize {
        let index = match &job.id {
            Some(id) => self.index.get(id.as_str()).copied(),
            None => self.index.get(&format!("#{position}")).copied(),
        };
        let index = index.unwrap_or_else(|| self.add(position, &job));
        if let Some(SubtaskStatus::Unknown(text)) = &job.status {
            if !self.warned_statuses.contains(text) {
                self.warned_statuses.insert(text.clone());
                log::warn!(
                    "job {}: subtask {} has status {text:?}, unknown to this version; counting it as not finished",
                    self.job_id,
                    job.id.as_deref().unwrap_or("?")
                );
            }
        }
        let entry = &mut self.entries[index];
        let before = &entry.tracked.subtask.status;
        if before != &job.status {
            if before.is_some() {
                log::info!(
                    "job {}: subtask {} ({}) {} -> {}",
                    self.job_id,
                    job.id.as_deref().unwrap_or("?"),
                    job.desktop_name()
                        .or(job.desktop_id())
                        .unwrap_or("no desktop"),
                    before.as_ref().map_or("?", SubtaskStatus::as_str),
                    job.status.as_ref().map_or("?", SubtaskStatus::as_str)
                );
            }
            match job.status {
                Some(SubtaskStatus::Success) => self.newly_succeeded.push(index),
                Some(SubtaskStatus::Failed) => self.newly_failed.push(index),
                _ => {}
            }
        }
        if let Some(process @ 1..=99) = job.process {
            self.process_step = gcd(self.process_step, process);
        }
        if let (Some(SubtaskStatus::Running), Some(process)) = (&job.status, job.process) {
            let observation = Observation { at, process };
            entry.first.get_or_insert(observation);
            entry.last = Some(observation);
        }
        entry.tracked = TrackedSubtask {
            subtask: job,
            vanished: false,
        };
        entry.left_filter = false;
        index
    }

    fn add(&mut self, position: u64, job: &Subtask) -> usize {
        let key = job.id.clone().unwrap_or_else(|| format!("#{position}"));
        log::info!(
            "job {}: subtask {key} ({}) is {}",
            self.job_id,
            job.desktop_name()
                .or(job.desktop_id())
                .unwrap_or("no desktop"),
            job.status
                .as_ref()
                .map_or("without status", SubtaskStatus::as_str)
        );
        self.index.insert(key, self.entries.len());
        self.entries.push(Entry {
            tracked: TrackedSubtask {
                subtask: Subtask::default(),
                vanished: false,
            },
            first: None,
            last: None,
            left_filter: false,
        });
        self.entries.len() - 1
    }

    fn mark_vanished(&mut self, listed: &[bool]) {
        for (index, entry) in self.entries.iter_mut().enumerate() {
            if !listed.get(index).copied().unwrap_or(false) && !entry.tracked.vanished {
                log::info!(
                    "job {}: subtask {} is no longer listed; keeping its last state {}",
                    self.job_id,
                    entry.tracked.id().unwrap_or("?"),
                    entry
                        .tracked
                        .subtask
                        .status
                        .as_ref()
                        .map_or("(none)", SubtaskStatus::as_str)
                );
                entry.tracked.vanished = true;
            }
        }
    }

    /// When the last unfinished subtask should finish, judging by how fast each one's
    /// `process` has risen; `None` when any unfinished subtask gives no basis (waiting, no
    /// `process`, or no progress seen yet).
    ///
    /// Each subtask's estimate is the earliest its progress allows: `process` moves in
    /// steps (of 1 point, or coarser), so the true progress may be up to one step ahead of
    /// what is reported, and the rate up to one step faster than it looks. Erring early
    /// costs an extra poll; erring late would cost detection lag.
    pub(crate) fn predicted_end(&self) -> Option<Prediction> {
        let step = f64::from(self.process_step.max(1));
        let mut latest: Option<Prediction> = None;
        for entry in &self.entries {
            if !entry.is_pending() {
                continue;
            }
            let (first, last) = (entry.first?, entry.last?);
            if entry.tracked.subtask.status != Some(SubtaskStatus::Running) {
                return None;
            }
            let span = last.at.checked_duration_since(first.at)?.as_secs_f64();
            let risen = f64::from(last.process.saturating_sub(first.process));
            if span <= 0.0 || risen < 1.0 {
                return None;
            }
            let fastest_rate = (risen + step) / span;
            let left = (100.0 - f64::from(last.process) - step).max(0.0);
            let prediction = Prediction {
                end: last.at + Duration::from_secs_f64(left / fastest_rate),
                step: Duration::from_secs_f64(span / risen * step),
            };
            if latest.is_none_or(|l| prediction.end > l.end) {
                latest = Some(prediction);
            }
        }
        latest
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts::of(self.entries.iter().map(|e| &e.tracked))
    }

    pub(crate) fn has_failure(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.tracked.state() == SubtaskState::Failed)
    }

    /// The progress of the poll just applied; clears the "newly" lists.
    pub(crate) fn take_progress(
        &mut self,
        poll: u32,
        elapsed: Duration,
        requests: u32,
    ) -> Progress {
        let (mut sum, mut reporting) = (0.0, 0usize);
        for entry in &self.entries {
            let process = match entry.tracked.subtask.status {
                Some(SubtaskStatus::Success) => Some(100),
                _ => entry.tracked.subtask.process,
            };
            if let Some(process) = process {
                sum += f64::from(process);
                reporting += 1;
            }
        }
        let cloned = |indices: Vec<usize>| -> Vec<Subtask> {
            indices
                .into_iter()
                .map(|i| self.entries[i].tracked.subtask.clone())
                .collect()
        };
        Progress {
            poll,
            elapsed,
            requests,
            counts: self.counts(),
            newly_succeeded: cloned(std::mem::take(&mut self.newly_succeeded)),
            newly_failed: cloned(std::mem::take(&mut self.newly_failed)),
            mean_process: (reporting > 0).then(|| sum / reporting as f64),
        }
    }

    /// Forgets the changes since the last progress report, for waits nobody observes.
    pub(crate) fn skip_progress(&mut self) {
        self.newly_succeeded.clear();
        self.newly_failed.clear();
    }

    /// Every subtask's last state, in the order first seen.
    pub(crate) fn into_subtasks(self) -> Vec<TrackedSubtask> {
        self.entries.into_iter().map(|e| e.tracked).collect()
    }
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

    fn job(id: &str, status: &str, process: Option<u32>) -> Subtask {
        serde_json::from_value(serde_json::json!({
            "id": id, "status": status, "process": process,
            "entities": { "desktop_id": format!("d-{id}"), "desktop_name": format!("desk-{id}") }
        }))
        .unwrap()
    }

    /// Reads `jobs` as one listing; an incomplete one claims one subtask more than it holds.
    fn apply(
        tracker: &mut Tracker,
        listing: ListingKind,
        jobs: Vec<Subtask>,
        complete: bool,
        at: Instant,
    ) -> Verdict {
        let total = jobs.len() as u64 + u64::from(!complete);
        tracker.begin(listing);
        tracker.add_page(0, jobs, at);
        tracker.finish(total)
    }

    fn at(base: Instant, secs: u64) -> Instant {
        base + Duration::from_secs(secs)
    }

    #[test]
    fn empty_listing_is_never_done() {
        let mut tracker = Tracker::new("j", None, 1000);
        let t0 = ManualClock::at_2026().now();
        assert_eq!(
            apply(&mut tracker, ListingKind::Full, vec![], true, t0),
            Verdict::Pending
        );
    }

    #[test]
    fn done_needs_expected_count_and_all_terminal() {
        let t0 = ManualClock::at_2026().now();
        let mut tracker = Tracker::new("j", Some(3), 1000);
        let two = vec![job("a", "SUCCESS", Some(100)), job("b", "FAILED", None)];
        assert_eq!(
            apply(&mut tracker, ListingKind::Full, two.clone(), true, t0),
            Verdict::Pending
        );
        let mut three = two;
        three.push(job("c", "RUNNING", Some(50)));
        assert_eq!(
            apply(&mut tracker, ListingKind::Full, three.clone(), true, t0),
            Verdict::Pending
        );
        three[2] = job("c", "SUCCESS", Some(100));
        // An incomplete listing (a page missing) cannot prove completion.
        assert_eq!(
            apply(&mut tracker, ListingKind::Full, three.clone(), false, t0),
            Verdict::Pending
        );
        assert_eq!(
            apply(&mut tracker, ListingKind::Full, three, true, t0),
            Verdict::Done
        );
        let progress = tracker.take_progress(1, Duration::ZERO, 1);
        assert_eq!((progress.counts.succeeded, progress.counts.failed), (2, 1));
        assert_eq!(progress.newly_failed.len(), 1);
        assert_eq!(progress.newly_succeeded.len(), 2);
    }

    #[test]
    fn unknown_status_is_pending_and_forces_full_listings() {
        let t0 = ManualClock::at_2026().now();
        let mut tracker = Tracker::new("j", None, 1);
        let jobs = vec![job("a", "PAUSED", None), job("b", "SUCCESS", None)];
        assert_eq!(
            apply(&mut tracker, ListingKind::Full, jobs, true, t0),
            Verdict::Pending
        );
        assert_eq!(tracker.counts().running, 1);
        assert_eq!(tracker.next_listing(true), ListingKind::Full);
    }

    #[test]
    fn vanished_subtasks_keep_their_last_state() {
        let t0 = ManualClock::at_2026().now();
        let mut tracker = Tracker::new("j", None, 1000);
        let jobs = vec![
            job("a", "SUCCESS", None),
            job("b", "RUNNING", Some(10)),
            job("c", "RUNNING", None),
        ];
        apply(&mut tracker, ListingKind::Full, jobs, true, t0);
        // `a` was deleted after finishing; `b` finished and was deleted between polls.
        let verdict = apply(
            &mut tracker,
            ListingKind::Full,
            vec![job("c", "SUCCESS", None)],
            true,
            at(t0, 5),
        );
        assert_eq!(verdict, Verdict::Done);
        let counts = tracker.counts();
        assert_eq!(
            (counts.succeeded, counts.failed, counts.pending()),
            (2, 1, 0)
        );
        let subtasks = tracker.into_subtasks();
        assert!(subtasks[0].vanished && subtasks[0].subtask.status == Some(SubtaskStatus::Success));
        assert!(subtasks[1].vanished && subtasks[1].subtask.status == Some(SubtaskStatus::Running));
    }

    #[test]
    fn filter_is_used_only_when_it_saves_pages() {
        let t0 = ManualClock::at_2026().now();
        let mut tracker = Tracker::new("j", None, 2);
        assert_eq!(
            tracker.next_listing(true),
            ListingKind::Full,
            "size unknown before a full listing"
        );
        let mut jobs: Vec<Subtask> = (0..5)
            .map(|i| job(&format!("s{i}"), "SUCCESS", None))
            .collect();
        jobs.push(job("r", "RUNNING", Some(3)));
        apply(&mut tracker, ListingKind::Full, jobs, true, t0);
        assert_eq!(tracker.next_listing(true), ListingKind::Unfinished);
        assert_eq!(tracker.next_listing(false), ListingKind::Full);
        // The filtered listing shows nothing unfinished: confirm with a full one.
        assert_eq!(
            apply(&mut tracker, ListingKind::Unfinished, vec![], true, t0),
            Verdict::Confirm
        );
    }

    #[test]
    fn an_ignored_filter_is_detected() {
        let t0 = ManualClock::at_2026().now();
        let mut tracker = Tracker::new("j", None, 1);
        let jobs = vec![job("a", "SUCCESS", None), job("b", "RUNNING", None)];
        apply(&mut tracker, ListingKind::Full, jobs.clone(), true, t0);
        assert_eq!(tracker.next_listing(true), ListingKind::Unfinished);
        assert_eq!(
            apply(&mut tracker, ListingKind::Unfinished, jobs, true, t0),
            Verdict::Pending
        );
        assert_eq!(tracker.next_listing(true), ListingKind::Full);
    }

    #[test]
    fn predicted_end_uses_the_fastest_plausible_rate_of_the_slowest_subtask() {
        let t0 = ManualClock::at_2026().now();
        let mut tracker = Tracker::new("j", None, 1000);
        apply(
            &mut tracker,
            ListingKind::Full,
            vec![job("a", "RUNNING", Some(10)), job("b", "WAITING", None)],
            true,
            t0,
        );
        assert_eq!(
            tracker.predicted_end(),
            None,
            "one observation gives no rate"
        );
        apply(
            &mut tracker,
            ListingKind::Full,
            vec![job("a", "RUNNING", Some(19)), job("b", "RUNNING", Some(0))],
            true,
            at(t0, 10),
        );
        assert_eq!(tracker.predicted_end(), None, "b has no rate yet");
        apply(
            &mut tracker,
            ListingKind::Full,
            vec![job("a", "RUNNING", Some(28)), job("b", "RUNNING", Some(4))],
            true,
            at(t0, 20),
        );
        // a: 18 points in 20 s, at most 19/20 per second: 71 points left in 74.7 s.
        // b: 4 points in 10 s, at most 0.5 per second: 95 points left in 190 s.
        let prediction = tracker.predicted_end().unwrap();
        assert_eq!(prediction.end, at(t0, 210));
        assert_eq!(prediction.step, Duration::from_millis(2500));
        apply(
            &mut tracker,
            ListingKind::Full,
            vec![job("a", "SUCCESS", Some(100)), job("b", "FAILED", Some(40))],
            true,
            at(t0, 30),
        );
        assert_eq!(tracker.predicted_end(), None);
    }
}
