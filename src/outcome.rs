//! What a wait found: every subtask's last state, the failed desktops and why, and how the
//! wait ended — one type, serialized as the `wks-wait --output json` object.

use std::fmt;
use std::time::Duration;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::error::Error;
use crate::model::{JobDetails, JobStatus, Subtask, SubtaskStatus};

/// How a job's wait ended. Serialized as `succeeded`, `failed`, `timed_out`, `pending`,
/// `error` or `interrupted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobResult {
    /// Every subtask succeeded (or the outcome rules decided success).
    Succeeded,
    /// Every subtask is terminal and at least one failed or vanished before finishing, the
    /// job failed as a whole, or the outcome rules (or `fail_fast`) decided failure.
    Failed,
    /// The deadline passed with subtasks pending.
    TimedOut,
    /// A one-poll [`check`](crate::Waiter::check) found subtasks pending, or the overall
    /// rules ([`WaiterBuilder::overall_max_failures`](crate::WaiterBuilder::overall_max_failures),
    /// [`overall_min_succeeded`](crate::WaiterBuilder::overall_min_succeeded)) decided a wait
    /// on several jobs before this job ended: it has no verdict of its own.
    Pending,
    /// An API or transport error, an unknown job, or a service that never answered
    /// consistently ended the wait.
    Error,
    /// The wait was cancelled.
    Interrupted,
}

impl JobResult {
    /// `true` for [`Succeeded`](Self::Succeeded) and [`Failed`](Self::Failed): the job's
    /// result is known.
    pub fn is_decided(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }

    /// How bad an ending is, for aggregating jobs: the worst one decides.
    pub(crate) fn severity(self) -> u8 {
        match self {
            Self::Succeeded => 0,
            Self::Failed => 1,
            Self::Pending => 2,
            Self::TimedOut => 3,
            Self::Error => 4,
            Self::Interrupted => 5,
        }
    }

    /// The word used in text and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Pending => "pending",
            Self::Error => "error",
            Self::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for JobResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One subtask as the waiter last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubtaskOutcome {
    /// The subtask as last listed.
    pub subtask: Subtask,
    /// No longer listed: absent from two consistent listings taken at least one poll
    /// interval apart (users may delete finished subtasks). Its last seen state is kept.
    pub vanished: bool,
}

impl SubtaskOutcome {
    /// The subtask's ID.
    pub fn id(&self) -> Option<&str> {
        self.subtask.id.as_deref()
    }

    /// How this subtask counts in the outcome.
    pub fn state(&self) -> SubtaskState {
        SubtaskState::of(self.subtask.status.as_ref(), self.vanished)
    }
}

impl SubtaskState {
    pub(crate) fn of(status: Option<&SubtaskStatus>, vanished: bool) -> Self {
        match status {
            Some(SubtaskStatus::Success) => Self::Succeeded,
            Some(SubtaskStatus::Failed) => Self::Failed,
            // Only finished subtasks can be deleted, so one that vanished while pending
            // finished unseen: its result is unknown, neither a success nor a failure.
            _ if vanished => Self::Vanished,
            _ => Self::Pending,
        }
    }
}

/// How a subtask counts in a [`JobOutcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubtaskState {
    /// `SUCCESS`.
    Succeeded,
    /// `FAILED`.
    Failed,
    /// Disappeared from the listing before it was seen finished: its final state is unknown.
    Vanished,
    /// Not finished (including statuses this crate does not know).
    Pending,
}

/// A desktop whose subtask failed, and why.
///
/// `Display` prints one line: `desktop-0004 (9d30c8ac-…, user-0004) failed: WKS.0181 the
/// image is not available`.
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
    /// The service's reason.
    pub fail_reason: Option<String>,
}

impl DesktopFailure {
    /// The failure a `FAILED` subtask reports.
    pub fn of(subtask: &Subtask) -> Self {
        Self {
            subtask_id: subtask.id.clone(),
            desktop_id: subtask.desktop_id().map(str::to_owned),
            desktop_name: subtask.desktop_name().map(str::to_owned),
            user_name: subtask.user_name().map(str::to_owned),
            error_code: subtask.error_code.clone(),
            fail_reason: subtask.fail_reason.clone(),
        }
    }
}

impl fmt::Display for DesktopFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self
            .desktop_name
            .as_deref()
            .or(self.desktop_id.as_deref())
            .or(self.subtask_id.as_deref())
            .unwrap_or("a desktop");
        f.write_str(name)?;
        let details: Vec<&str> = [
            self.desktop_id
                .as_deref()
                .filter(|_| self.desktop_name.is_some()),
            self.user_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        f.write_str(" failed")?;
        match (&self.error_code, &self.fail_reason) {
            (Some(code), Some(reason)) => write!(f, ": {code} {reason}"),
            (Some(text), None) | (None, Some(text)) => write!(f, ": {text}"),
            (None, None) => f.write_str(" without a reason"),
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
    /// `FAILED`.
    pub failed: usize,
    /// Vanished before they were seen finished.
    pub vanished: usize,
}

impl Counts {
    /// Counts `subtasks`.
    pub fn of<'a>(subtasks: impl IntoIterator<Item = &'a SubtaskOutcome>) -> Self {
        let mut counts = Self::default();
        for subtask in subtasks {
            counts.add(subtask.state(), subtask.subtask.status.as_ref());
        }
        counts
    }

    pub(crate) fn add(&mut self, state: SubtaskState, status: Option<&SubtaskStatus>) {
        self.total += 1;
        match (state, status) {
            (SubtaskState::Succeeded, _) => self.succeeded += 1,
            (SubtaskState::Failed, _) => self.failed += 1,
            (SubtaskState::Vanished, _) => self.vanished += 1,
            (SubtaskState::Pending, Some(SubtaskStatus::Waiting)) => self.waiting += 1,
            (SubtaskState::Pending, _) => self.running += 1,
        }
    }

    /// Subtasks not finished.
    pub fn pending(&self) -> usize {
        self.waiting + self.running
    }

    /// Subtasks finished (succeeded, failed or vanished).
    pub fn finished(&self) -> usize {
        self.succeeded + self.failed + self.vanished
    }

    /// The sum of two counts.
    pub fn plus(self, other: Counts) -> Counts {
        Counts {
            total: self.total + other.total,
            waiting: self.waiting + other.waiting,
            running: self.running + other.running,
            succeeded: self.succeeded + other.succeeded,
            failed: self.failed + other.failed,
            vanished: self.vanished + other.vanished,
        }
    }
}

/// The job as a whole, as its details said (`GET …/workspace-jobs/{job_id}`), when the
/// waiter read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct JobSummary {
    /// Job-level status.
    pub status: Option<JobStatus>,
    /// `job_error_code` of a job that failed as a whole.
    pub error_code: Option<String>,
    /// `fail_reason` of a job that failed as a whole.
    pub fail_reason: Option<String>,
    /// How many subtasks the job has.
    pub sub_jobs_total: Option<u64>,
}

impl JobSummary {
    pub(crate) fn of(details: &JobDetails) -> Self {
        Self {
            status: details.status.clone(),
            error_code: details.job_error_code.clone(),
            fail_reason: details.fail_reason.clone(),
            sub_jobs_total: details.sub_jobs_total,
        }
    }

    /// `true` when the job failed as a whole.
    pub fn failed(&self) -> bool {
        self.status == Some(JobStatus::Failed)
    }
}

/// What a wait knows of the error that ended it (or preceded a time-out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ErrorInfo {
    /// HTTP status, when a response came.
    pub status: Option<u16>,
    /// The service's `error_code`.
    pub error_code: Option<String>,
    /// The service's `error_msg`.
    pub error_msg: Option<String>,
    /// `X-Request-Id`: quote it to support.
    pub request_id: Option<String>,
    /// What happened: the error and its causes, joined by `": "`, exactly as the service
    /// worded them (print it through an escaper on a terminal: it may hold control
    /// characters the service sent).
    pub message: String,
}

impl ErrorInfo {
    /// Describes any error: its `source()` chain as the message, and the status, code,
    /// message and request id of the first [`Error`] in the chain.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Self {
        let api_error = std::iter::successors(Some(error), |&e| e.source())
            .find_map(|e| e.downcast_ref::<Error>());
        let chain = std::iter::successors(Some(error), |&e| e.source())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ");
        Self::new(Some(chain), api_error)
    }

    /// Describes `error` under `message` (the error's own text when `None`).
    pub(crate) fn new(message: Option<String>, error: Option<&Error>) -> Self {
        let api = error.and_then(Error::api);
        Self {
            status: error.and_then(Error::status),
            error_code: api.and_then(|a| a.error_code.clone()),
            error_msg: api.and_then(|a| a.error_msg.clone()),
            request_id: error.and_then(|e| e.request_id().map(str::to_owned)),
            message: message.unwrap_or_else(|| error.map(error_chain).unwrap_or_default()),
        }
    }
}

/// An error and its causes, joined by `": "`.
pub(crate) fn error_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The result of waiting on a job: how it ended, every subtask's last state, and what it
/// cost.
///
/// Serializes as the `wks-wait --output json` object (see the README for the schema).
/// `Debug` is bounded: it shows the counts and the first few failures, not every subtask.
#[derive(Clone, PartialEq, Eq)]
#[must_use = "an outcome may hold failed desktops: check `is_success()` or call `into_result()`"]
#[non_exhaustive]
pub struct JobOutcome {
    /// The job waited on.
    pub job_id: String,
    /// How the wait ended.
    pub result: JobResult,
    /// Every subtask seen, in the order first seen.
    pub subtasks: Vec<SubtaskOutcome>,
    /// The job's own details, when the waiter read them.
    pub job: Option<JobSummary>,
    /// The error that ended the wait, or preceded a time-out.
    pub error: Option<ErrorInfo>,
    /// Time from the start of the wait to its end (for this job).
    pub elapsed: Duration,
    /// Poll cycles (each reads every page it needs).
    pub polls: u32,
    /// HTTP requests made, retries included (shared by every job of one wait).
    pub requests: u32,
    /// Response bytes received.
    pub bytes: u64,
}

impl JobOutcome {
    /// The outcome of a wait on `job_id` that never started (a bad configuration, say):
    /// no subtask, result [`JobResult::Error`], and `error`.
    pub fn not_started(job_id: &str, error: ErrorInfo) -> Self {
        Self {
            job_id: job_id.to_owned(),
            result: JobResult::Error,
            subtasks: Vec::new(),
            job: None,
            error: Some(error),
            elapsed: Duration::ZERO,
            polls: 0,
            requests: 0,
            bytes: 0,
        }
    }

    /// Counts per state.
    pub fn counts(&self) -> Counts {
        Counts::of(&self.subtasks)
    }

    /// `true` when the wait decided success: every subtask succeeded (at least one was
    /// seen, unless the job's details said it has none), or the outcome rules allowed the
    /// failures there were.
    pub fn is_success(&self) -> bool {
        self.result == JobResult::Succeeded
    }

    /// `true` when the job's result is known (succeeded or failed).
    pub fn is_complete(&self) -> bool {
        self.result.is_decided()
    }

    /// The failed desktops, with their error codes and reasons.
    pub fn failures(&self) -> Vec<DesktopFailure> {
        self.subtasks
            .iter()
            .filter(|s| s.state() == SubtaskState::Failed)
            .map(|s| DesktopFailure::of(&s.subtask))
            .collect()
    }

    /// The subtasks that vanished before they were seen finished.
    pub fn vanished(&self) -> impl Iterator<Item = &SubtaskOutcome> {
        self.subtasks
            .iter()
            .filter(|s| s.state() == SubtaskState::Vanished)
    }

    /// The subtasks not finished yet.
    pub fn pending(&self) -> impl Iterator<Item = &SubtaskOutcome> {
        self.subtasks
            .iter()
            .filter(|s| s.state() == SubtaskState::Pending)
    }

    /// This outcome when it is a success, and otherwise an error holding it, for `?`:
    /// `waiter.wait(id)?.into_result()?`.
    ///
    /// # Errors
    ///
    /// [`WaitError::Unsuccessful`](crate::WaitError::Unsuccessful) with this outcome.
    pub fn into_result(self) -> Result<JobOutcome, crate::WaitError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(crate::WaitError::Unsuccessful {
                outcome: Box::new(self),
            })
        }
    }

    /// A one-line summary: `job J: 47 succeeded, 3 failed, 0 pending of 50`.
    pub fn summary(&self) -> String {
        let counts = self.counts();
        let mut text = format!(
            "job {}: {} succeeded, {} failed",
            self.job_id, counts.succeeded, counts.failed
        );
        if counts.vanished > 0 {
            text.push_str(&format!(", {} vanished", counts.vanished));
        }
        text.push_str(&format!(
            ", {} pending of {}",
            counts.pending(),
            counts.total
        ));
        text
    }
}

/// How many failures `Debug` lists before eliding the rest.
const DEBUG_FAILURES: usize = 3;

impl fmt::Debug for JobOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failures = self.failures();
        let shown: Vec<String> = failures
            .iter()
            .take(DEBUG_FAILURES)
            .map(ToString::to_string)
            .collect();
        let mut out = f.debug_struct("JobOutcome");
        out.field("job_id", &self.job_id)
            .field("result", &self.result)
            .field("counts", &self.counts())
            .field("failures", &shown);
        if failures.len() > DEBUG_FAILURES {
            out.field("more_failures", &(failures.len() - DEBUG_FAILURES));
        }
        out.field("job", &self.job)
            .field("error", &self.error)
            .field("elapsed", &self.elapsed)
            .field("polls", &self.polls)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

/// The fields a job's object and a wait's object share: the counts, then the cost.
fn serialize_totals<S: SerializeStruct>(
    out: &mut S,
    counts: &Counts,
    elapsed: Duration,
    polls: u32,
    requests: u32,
) -> Result<(), S::Error> {
    out.serialize_field("total", &counts.total)?;
    out.serialize_field("succeeded", &counts.succeeded)?;
    out.serialize_field("failed", &counts.failed)?;
    out.serialize_field("vanished", &counts.vanished)?;
    out.serialize_field("pending", &counts.pending())?;
    out.serialize_field(
        "elapsed_ms",
        &u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    )?;
    out.serialize_field("polls", &polls)?;
    out.serialize_field("requests", &requests)
}

impl Serialize for JobOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("JobOutcome", 15)?;
        out.serialize_field("job_id", &self.job_id)?;
        out.serialize_field("result", &self.result)?;
        serialize_totals(
            &mut out,
            &self.counts(),
            self.elapsed,
            self.polls,
            self.requests,
        )?;
        out.serialize_field("job", &self.job)?;
        out.serialize_field("failures", &self.failures())?;
        out.serialize_field(
            "subtasks",
            &self.subtasks.iter().map(SubtaskJson).collect::<Vec<_>>(),
        )?;
        out.serialize_field("error", &self.error)?;
        out.end()
    }
}

/// A subtask in the JSON schema: flat, every key present, `null` for what the service did
/// not say.
struct SubtaskJson<'a>(&'a SubtaskOutcome);

impl Serialize for SubtaskJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let subtask = &self.0.subtask;
        let mut out = serializer.serialize_map(Some(9))?;
        out.serialize_entry("subtask_id", &subtask.id)?;
        out.serialize_entry(
            "status",
            &subtask.status.as_ref().map(SubtaskStatus::as_str),
        )?;
        out.serialize_entry("desktop_id", &subtask.desktop_id())?;
        out.serialize_entry("desktop_name", &subtask.desktop_name())?;
        out.serialize_entry("user_name", &subtask.user_name())?;
        out.serialize_entry("process", &subtask.process)?;
        out.serialize_entry("error_code", &subtask.error_code)?;
        out.serialize_entry("fail_reason", &subtask.fail_reason)?;
        out.serialize_entry("vanished", &self.0.vanished)?;
        out.end()
    }
}

/// An outcome rule over the totals of a wait on several jobs. Serialized as
/// `max_failures_total` or `min_succeeded_total`, the `wks-wait` flags that set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum OverallRule {
    /// [`overall_max_failures`](crate::WaiterBuilder::overall_max_failures).
    #[serde(rename = "max_failures_total")]
    MaxFailures,
    /// [`overall_min_succeeded`](crate::WaiterBuilder::overall_min_succeeded).
    #[serde(rename = "min_succeeded_total")]
    MinSucceeded,
}

/// What the overall rules decided of a wait on several jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct OverallVerdict {
    /// The wait's result: [`Succeeded`](JobResult::Succeeded) or
    /// [`Failed`](JobResult::Failed).
    pub result: JobResult,
    /// The rule that decided it: the one broken by a failure, the minimum by a success when
    /// one is set (else the maximum, kept to the end).
    pub rule: OverallRule,
    /// Decided before every job ended: the wait stopped there, and the jobs still under
    /// way then are [`Pending`](JobResult::Pending).
    pub early: bool,
}

/// The result of waiting on several jobs at once ([`Waiter::wait_all`](crate::Waiter::wait_all)).
///
/// Serializes as the `wks-wait --output json` object of a wait on several jobs: `result`
/// (see [`result`](Self::result)), `decided_by` (the overall rule that decided it, or
/// `null`), totals, and the per-job objects under `jobs`.
#[derive(Clone, PartialEq, Eq)]
#[must_use = "some jobs may have failed: check `is_success()` or call `into_result()`"]
#[non_exhaustive]
pub struct WaitOutcome {
    /// One outcome per job, in the order given.
    pub jobs: Vec<JobOutcome>,
    /// Time from the start of the wait to its end.
    pub elapsed: Duration,
    /// Poll cycles.
    pub polls: u32,
    /// HTTP requests made, retries included.
    pub requests: u32,
    /// Response bytes received.
    pub bytes: u64,
    /// What the overall rules decided, when they were set and decided: then it is the
    /// wait's [`result`](Self::result).
    pub overall: Option<OverallVerdict>,
}

impl WaitOutcome {
    /// The outcome of a wait on `job_ids` that never started (a bad configuration, say):
    /// each job [`not_started`](JobOutcome::not_started) with `error`; no job at all when
    /// `job_ids` is empty.
    pub fn not_started(job_ids: &[&str], error: &ErrorInfo) -> Self {
        Self {
            jobs: job_ids
                .iter()
                .map(|id| JobOutcome::not_started(id, error.clone()))
                .collect(),
            elapsed: Duration::ZERO,
            polls: 0,
            requests: 0,
            bytes: 0,
            overall: None,
        }
    }

    /// The wait's result. When the overall rules decided it ([`overall`](Self::overall)),
    /// theirs, whatever each job's own result. Otherwise the worst ending among the jobs:
    /// interrupted, then error, then timed out, then pending, then failed; succeeded when
    /// every job succeeded.
    pub fn result(&self) -> JobResult {
        if let Some(verdict) = self.overall {
            return verdict.result;
        }
        self.jobs
            .iter()
            .map(|j| j.result)
            .max_by_key(|r| r.severity())
            .unwrap_or(JobResult::Succeeded)
    }

    /// `true` when the wait succeeded: every job succeeded, or the overall rules decided
    /// success.
    pub fn is_success(&self) -> bool {
        self.result() == JobResult::Succeeded
    }

    /// Counts over every job.
    pub fn counts(&self) -> Counts {
        self.jobs
            .iter()
            .fold(Counts::default(), |sum, job| sum.plus(job.counts()))
    }

    /// The outcome of `job_id`, if it was waited on.
    pub fn job(&self, job_id: &str) -> Option<&JobOutcome> {
        self.jobs.iter().find(|j| j.job_id == job_id)
    }

    /// This outcome when the wait succeeded ([`is_success`](Self::is_success)), and
    /// otherwise an error holding it.
    ///
    /// # Errors
    ///
    /// [`WaitError::Incomplete`](crate::WaitError::Incomplete) with this outcome.
    pub fn into_result(self) -> Result<WaitOutcome, crate::WaitError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(crate::WaitError::Incomplete {
                outcome: Box::new(self),
            })
        }
    }
}

impl fmt::Debug for WaitOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitOutcome")
            .field("result", &self.result())
            .field("overall", &self.overall)
            .field("counts", &self.counts())
            .field("jobs", &self.jobs)
            .field("elapsed", &self.elapsed)
            .field("polls", &self.polls)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl Serialize for WaitOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("WaitOutcome", 12)?;
        out.serialize_field("result", &self.result())?;
        out.serialize_field("decided_by", &self.overall.map(|v| v.rule))?;
        out.serialize_field("jobs_total", &self.jobs.len())?;
        serialize_totals(
            &mut out,
            &self.counts(),
            self.elapsed,
            self.polls,
            self.requests,
        )?;
        out.serialize_field("jobs", &self.jobs)?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subtask(json: serde_json::Value) -> Subtask {
        serde_json::from_value(json).unwrap()
    }

    fn outcome(subtasks: Vec<SubtaskOutcome>, result: JobResult) -> JobOutcome {
        JobOutcome {
            job_id: "job-1".into(),
            result,
            subtasks,
            job: None,
            error: None,
            elapsed: Duration::from_millis(1500),
            polls: 2,
            requests: 3,
            bytes: 10,
        }
    }

    fn tracked(status: &str, vanished: bool) -> SubtaskOutcome {
        SubtaskOutcome {
            subtask: subtask(serde_json::json!({
                "id": format!("s-{status}-{vanished}"),
                "status": status,
                "error_code": (status == "FAILED").then_some("WKS.0181"),
                "fail_reason": (status == "FAILED").then_some("no image"),
                "entities": { "desktop_name": "desktop-0004", "desktop_id": "d-4" }
            })),
            vanished,
        }
    }

    #[test]
    fn a_failure_prints_as_one_readable_line() {
        let failure = DesktopFailure::of(&tracked("FAILED", false).subtask);
        assert_eq!(
            failure.to_string(),
            "desktop-0004 (d-4) failed: WKS.0181 no image"
        );
        let bare = DesktopFailure::of(&subtask(serde_json::json!({ "id": "s-1" })));
        assert_eq!(bare.to_string(), "s-1 failed without a reason");
    }

    #[test]
    fn vanished_subtasks_count_apart_from_failures() {
        let outcome = outcome(
            vec![
                tracked("SUCCESS", true),
                tracked("RUNNING", true),
                tracked("FAILED", false),
                tracked("WAITING", false),
            ],
            JobResult::Failed,
        );
        let counts = outcome.counts();
        assert_eq!(
            (
                counts.succeeded,
                counts.failed,
                counts.vanished,
                counts.pending()
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(outcome.failures().len(), 1);
        assert_eq!(outcome.vanished().count(), 1);
        assert!(outcome.clone().into_result().is_err());
    }

    #[test]
    fn serializes_as_the_cli_schema() {
        let value = serde_json::to_value(outcome(
            vec![tracked("FAILED", false), tracked("RUNNING", true)],
            JobResult::Failed,
        ))
        .unwrap();
        assert_eq!(value["result"], "failed");
        assert_eq!(value["elapsed_ms"], 1500);
        assert_eq!(
            (value["failed"].as_u64(), value["vanished"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(value["failures"][0]["error_code"], "WKS.0181");
        assert_eq!(value["subtasks"][1]["vanished"], true);
        assert_eq!(value["subtasks"][1]["user_name"], serde_json::Value::Null);
        assert_eq!(value["error"], serde_json::Value::Null);
        assert_eq!(value["job"], serde_json::Value::Null);
    }

    #[test]
    fn debug_is_bounded() {
        let many = (0..500).map(|_| tracked("FAILED", false)).collect();
        let text = format!("{:?}", outcome(many, JobResult::Failed));
        assert!(text.len() < 1000, "{} bytes", text.len());
        assert!(text.contains("more_failures: 497"), "{text}");
    }
}
