//! What a wait found: per-subtask final states, failures, and progress snapshots.

use std::time::Duration;

use serde::Serialize;

use crate::model::{Subtask, SubtaskStatus};

/// One subtask as the waiter last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TrackedSubtask {
    /// The subtask as last listed.
    pub subtask: Subtask,
    /// `true` when the subtask was listed before and is missing from a later complete
    /// listing (users may delete finished subtasks). Its last seen state is kept.
    pub vanished: bool,
}

impl TrackedSubtask {
    /// The subtask's ID, if the service gave one.
    pub fn id(&self) -> Option<&str> {
        self.subtask.id.as_deref()
    }

    /// How this subtask counts in the outcome.
    pub fn state(&self) -> SubtaskState {
        match &self.subtask.status {
            Some(SubtaskStatus::Success) => SubtaskState::Succeeded,
            Some(SubtaskStatus::Failed) => SubtaskState::Failed,
            // Only finished subtasks can be deleted, so one that vanished while pending
            // finished unseen: its result is unknown, which is not a success.
            _ if self.vanished => SubtaskState::Failed,
            _ => SubtaskState::Pending,
        }
    }
}

/// How a subtask counts in a [`JobOutcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtaskState {
    /// `SUCCESS`.
    Succeeded,
    /// `FAILED`, or vanished before its final state was seen.
    Failed,
    /// Not finished (including unknown statuses).
    Pending,
}

/// A desktop whose subtask failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DesktopFailure {
    /// Subtask ID.
    pub subtask_id: Option<String>,
    /// Desktop ID.
    pub desktop_id: Option<String>,
    /// Desktop name.
    pub desktop_name: Option<String>,
    /// The desktop's user.
    pub user_name: Option<String>,
    /// The service's error code.
    pub error_code: Option<String>,
    /// The service's reason, or why the waiter could not tell the final state.
    pub fail_reason: Option<String>,
}

impl DesktopFailure {
    fn of(tracked: &TrackedSubtask) -> Self {
        let job = &tracked.subtask;
        let fail_reason = if tracked.vanished && !job.is_terminal() {
            Some(format!(
                "subtask disappeared from the listing while {}; its final state is unknown",
                job.status
                    .as_ref()
                    .map_or("without a status", SubtaskStatus::as_str)
            ))
        } else {
            job.fail_reason.clone()
        };
        Self {
            subtask_id: job.id.clone(),
            desktop_id: job.desktop_id().map(str::to_owned),
            desktop_name: job.desktop_name().map(str::to_owned),
            user_name: job.user_name().map(str::to_owned),
            error_code: job.error_code.clone(),
            fail_reason,
        }
    }
}

/// Counts of subtasks per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// Subtasks seen.
    pub total: usize,
    /// `WAITING`.
    pub waiting: usize,
    /// `RUNNING`, a status this crate does not know, or no status.
    pub running: usize,
    /// `SUCCESS`.
    pub succeeded: usize,
    /// `FAILED`, or vanished before finishing.
    pub failed: usize,
}

impl Counts {
    /// Counts `subtasks`.
    pub fn of<'a>(subtasks: impl IntoIterator<Item = &'a TrackedSubtask>) -> Self {
        let mut counts = Self::default();
        for tracked in subtasks {
            counts.total += 1;
            match (tracked.state(), &tracked.subtask.status) {
                (SubtaskState::Succeeded, _) => counts.succeeded += 1,
                (SubtaskState::Failed, _) => counts.failed += 1,
                (SubtaskState::Pending, Some(SubtaskStatus::Waiting)) => counts.waiting += 1,
                (SubtaskState::Pending, _) => counts.running += 1,
            }
        }
        counts
    }

    /// Subtasks not finished.
    pub fn pending(&self) -> usize {
        self.waiting + self.running
    }
}

/// The result of waiting on a job: every subtask's last state and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobOutcome {
    /// The job waited on.
    pub job_id: String,
    /// Every subtask seen, in the order first seen.
    pub subtasks: Vec<TrackedSubtask>,
    /// Time from the start of the wait to its end.
    pub elapsed: Duration,
    /// Poll cycles (each reads every page it needs).
    pub polls: u32,
    /// HTTP requests made, retries included.
    pub requests: u32,
    /// Response bytes received.
    pub bytes: u64,
}

impl JobOutcome {
    /// Counts per state.
    pub fn counts(&self) -> Counts {
        Counts::of(&self.subtasks)
    }

    /// `true` when at least one subtask was seen and every one succeeded.
    pub fn is_success(&self) -> bool {
        !self.subtasks.is_empty()
            && self
                .subtasks
                .iter()
                .all(|s| s.state() == SubtaskState::Succeeded)
    }

    /// `true` when at least one subtask was seen and none is pending.
    pub fn is_complete(&self) -> bool {
        !self.subtasks.is_empty()
            && self
                .subtasks
                .iter()
                .all(|s| s.state() != SubtaskState::Pending)
    }

    /// The failed desktops, with their error codes and reasons.
    pub fn failures(&self) -> Vec<DesktopFailure> {
        self.subtasks
            .iter()
            .filter(|s| s.state() == SubtaskState::Failed)
            .map(DesktopFailure::of)
            .collect()
    }

    /// The subtasks not finished yet.
    pub fn pending(&self) -> impl Iterator<Item = &TrackedSubtask> {
        self.subtasks
            .iter()
            .filter(|s| s.state() == SubtaskState::Pending)
    }
}

/// What one poll found; given to [`Observer::on_poll`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Poll number, from 1.
    pub poll: u32,
    /// Time since the wait started.
    pub elapsed: Duration,
    /// Requests so far.
    pub requests: u32,
    /// Counts per state.
    pub counts: Counts,
    /// Subtasks that became `SUCCESS` in this poll.
    pub newly_succeeded: Vec<Subtask>,
    /// Subtasks that became `FAILED` in this poll.
    pub newly_failed: Vec<Subtask>,
    /// Mean `process` over subtasks that report it (`SUCCESS` counts 100; a failed one
    /// keeps the progress it had), if any do.
    pub mean_process: Option<f64>,
}

/// Receives progress while a [`Waiter`](crate::Waiter) waits. Every method defaults to
/// doing nothing.
pub trait Observer {
    /// After each poll.
    fn on_poll(&mut self, _progress: &Progress) {}
    /// Before sleeping until the next poll.
    fn on_sleep(&mut self, _delay: Duration) {}
    /// Before retrying a request that failed with a retryable error.
    fn on_retry(&mut self, _error: &crate::Error, _delay: Duration) {}
}

/// An observer that ignores everything.
impl Observer for () {}
