//! Why a wait ended without a decided outcome.

use std::fmt;
use std::time::Duration;

use crate::error::Error;
use crate::model::JobStatus;
use crate::outcome::{JobOutcome, JobSummary, WaitOutcome};
use crate::text::plural;

/// Why a wait ended without a decided outcome. Each variant carries what was known.
///
/// `Display` is one line naming the cause; `Debug` is bounded (the outcome inside prints
/// its counts, not every subtask).
#[derive(Debug)]
#[non_exhaustive]
pub enum WaitError {
    /// The deadline passed with subtasks pending.
    TimedOut {
        /// The last error, when retrying it would have passed the deadline.
        last_error: Option<Error>,
        /// Every subtask's last seen state.
        partial: Box<JobOutcome>,
    },
    /// A request failed permanently (400/401/403/404, …) or kept failing past the retry
    /// limit.
    Request {
        /// The error that ended the wait.
        error: Error,
        /// Every subtask's last seen state.
        partial: Box<JobOutcome>,
    },
    /// The job does not exist (404 from the job-details API while its listing was empty).
    JobNotFound {
        /// The project it was looked for in.
        project_id: String,
        /// What was known: no subtask; the 404's status, request id and message are in
        /// `partial.error`.
        partial: Box<JobOutcome>,
    },
    /// The job showed no subtask within
    /// [`first_subtask_within`](crate::WaiterBuilder::first_subtask_within).
    NoSubtasks {
        /// How long the waiter waited for one.
        waited: Duration,
        /// What was known.
        partial: Box<JobOutcome>,
    },
    /// The service's listings never became consistent enough to decide the job.
    Inconsistent {
        /// Listings read in a row that could not be trusted.
        reads: u32,
        /// What was wrong with the last one.
        reason: String,
        /// What was known.
        partial: Box<JobOutcome>,
    },
    /// [`Cancellation::cancel`](crate::Cancellation::cancel) was called.
    Cancelled {
        /// Every subtask's last seen state.
        partial: Box<JobOutcome>,
    },
    /// [`JobOutcome::into_result`] on an outcome that is not a success.
    Unsuccessful {
        /// The outcome.
        outcome: Box<JobOutcome>,
    },
    /// [`WaitOutcome::into_result`] on a wait where some job did not succeed.
    Incomplete {
        /// The outcome.
        outcome: Box<WaitOutcome>,
    },
    /// The job ID or the configuration is not valid; no request was made.
    InvalidInput(Error),
}

pub(super) fn human(duration: Duration) -> String {
    crate::time::format_duration(duration)
}

fn last_error_text(error: Option<&Error>) -> String {
    error
        .map(|e| format!(" (last error: {e})"))
        .unwrap_or_default()
}

pub(super) fn job_status_text(job: Option<&JobSummary>) -> String {
    match job {
        Some(job) => format!(
            " (the job is {}{})",
            job.status
                .as_ref()
                .map_or("without status", JobStatus::as_str),
            job.sub_jobs_total
                .map(|n| format!(", {} announced", plural(n, "subtask")))
                .unwrap_or_default()
        ),
        None => String::new(),
    }
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut {
                last_error,
                partial,
            } => write!(
                f,
                "job {}: timed out after {} with {} of {} pending{}{}",
                partial.job_id,
                human(partial.elapsed),
                partial.counts().pending(),
                plural(partial.counts().total as u64, "subtask"),
                // Nothing pending: what the wait was for is the job's own word.
                if partial.counts().pending() == 0 {
                    job_status_text(partial.job.as_ref())
                } else {
                    String::new()
                },
                last_error_text(last_error.as_ref())
            ),
            Self::Request { error, partial } => write!(
                f,
                "job {}: polling failed after {}: {error}",
                partial.job_id,
                plural(partial.requests, "request")
            ),
            Self::JobNotFound {
                project_id,
                partial,
            } => write!(
                f,
                "job {} was not found in project {project_id}: check the job ID and the project ID",
                partial.job_id
            ),
            Self::NoSubtasks { waited, partial } => write!(
                f,
                "job {}: no subtask was listed within {}{}",
                partial.job_id,
                human(*waited),
                job_status_text(partial.job.as_ref())
            ),
            Self::Inconsistent {
                reads,
                reason,
                partial,
            } => write!(
                f,
                "job {}: the service's listings stayed inconsistent after {} ({reason})",
                partial.job_id,
                plural(*reads, "read")
            ),
            Self::Cancelled { partial } => write!(
                f,
                "job {}: cancelled after {} with {} of {} pending",
                partial.job_id,
                human(partial.elapsed),
                partial.counts().pending(),
                plural(partial.counts().total as u64, "subtask")
            ),
            Self::Unsuccessful { outcome } => f.write_str(&outcome.summary()),
            Self::Incomplete { outcome } => write!(
                f,
                "{} of {} did not succeed",
                outcome.jobs.iter().filter(|j| !j.is_success()).count(),
                plural(outcome.jobs.len() as u64, "job")
            ),
            Self::InvalidInput(error) => error.fmt(f),
        }
    }
}

/// `Display` already names the error that ended the wait, so the chain continues with
/// that error's own cause: printing every `source()` never repeats a line.
impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Request { error, .. } | Self::InvalidInput(error) => error.source(),
            Self::TimedOut { last_error, .. } => last_error.as_ref().and_then(|e| e.source()),
            _ => None,
        }
    }
}

impl WaitError {
    /// What was known when the wait ended, if it started.
    pub fn partial(&self) -> Option<&JobOutcome> {
        match self {
            Self::TimedOut { partial, .. }
            | Self::Request { partial, .. }
            | Self::JobNotFound { partial, .. }
            | Self::NoSubtasks { partial, .. }
            | Self::Inconsistent { partial, .. }
            | Self::Cancelled { partial } => Some(partial),
            Self::Unsuccessful { outcome } => Some(outcome),
            Self::Incomplete { .. } | Self::InvalidInput(_) => None,
        }
    }

    /// The request error that ended the wait (or preceded a timeout).
    pub fn error(&self) -> Option<&Error> {
        match self {
            Self::Request { error, .. } | Self::InvalidInput(error) => Some(error),
            Self::TimedOut { last_error, .. } => last_error.as_ref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announced_count_agrees_with_its_noun() {
        let job = |total| JobSummary {
            status: Some(JobStatus::Running),
            error_code: None,
            fail_reason: None,
            sub_jobs_total: Some(total),
        };
        assert_eq!(
            job_status_text(Some(&job(1))),
            " (the job is RUNNING, 1 subtask announced)"
        );
        assert_eq!(
            job_status_text(Some(&job(4))),
            " (the job is RUNNING, 4 subtasks announced)"
        );
        assert_eq!(job_status_text(None), "");
    }
}
