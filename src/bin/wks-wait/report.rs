//! The result of a run, and its two renderings: one JSON object, or a summary line and a
//! table of failed desktops.
//!
//! The JSON schema is pinned here, in structs of the CLI's own rather than the library's
//! types, so that a change in the library cannot silently change what scripts parse. Every
//! field is always present; what the API did not provide is `null`.

use std::error::Error as StdError;
use std::io::{self, Write};

use serde::Serialize;
use wks_waiter::outcome::SubtaskOutcome;
use wks_waiter::{DesktopFailure, JobOutcome, WaitError};

use crate::duration::format_duration;
use crate::signals::Signal;
use crate::text::{cell, eprint_line, escape_controls, plural};

/// How a run ended; decides the exit code and the JSON `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every subtask succeeded.
    Succeeded,
    /// Every subtask finished and at least one failed, or fail-fast saw a failure.
    Failed,
    /// The deadline passed with subtasks pending.
    TimedOut,
    /// Bad usage or configuration: nothing was waited on.
    Misconfigured,
    /// An API or transport error ended the wait.
    RequestFailed,
    /// A signal ended the wait.
    Interrupted(Signal),
}

impl Ending {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Succeeded => 0,
            Self::Failed => 1,
            Self::Misconfigured => 2,
            Self::TimedOut => 3,
            Self::RequestFailed => 4,
            Self::Interrupted(signal) => signal.exit_code(),
        }
    }

    /// The JSON `result`.
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Misconfigured | Self::RequestFailed => "error",
            Self::Interrupted(_) => "interrupted",
        }
    }
}

impl Serialize for Ending {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Everything printed at the end of a run; serialized as the `--output json` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The job waited on.
    pub job_id: String,
    /// How the run ended.
    pub result: Ending,
    /// Subtasks seen.
    pub total: usize,
    /// Subtasks `SUCCESS`.
    pub succeeded: usize,
    /// Subtasks `FAILED` (or vanished before finishing).
    pub failed: usize,
    /// Subtasks not finished.
    pub pending: usize,
    /// Time waited, in milliseconds.
    pub elapsed_ms: u64,
    /// Poll cycles.
    pub polls: u32,
    /// HTTP requests, retries included.
    pub requests: u32,
    /// The failed desktops and why.
    pub failures: Vec<FailureReport>,
    /// Every subtask's last seen state, in the order first seen.
    pub subtasks: Vec<SubtaskReport>,
    /// The error that ended the run (or preceded a timeout), if any.
    pub error: Option<ErrorReport>,
}

/// One failed desktop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureReport {
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

/// One subtask as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubtaskReport {
    /// Subtask ID.
    pub subtask_id: Option<String>,
    /// `WAITING`, `RUNNING`, `SUCCESS`, `FAILED` or a status the service added.
    pub status: Option<String>,
    /// Desktop ID.
    pub desktop_id: Option<String>,
    /// Desktop name.
    pub desktop_name: Option<String>,
    /// The desktop's user.
    pub user_name: Option<String>,
    /// Progress, 0..=100.
    pub process: Option<u32>,
    /// The service's error code.
    pub error_code: Option<String>,
    /// The service's reason for a failure.
    pub fail_reason: Option<String>,
}

/// The error that ended a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// HTTP status, when a response came.
    pub status: Option<u16>,
    /// The service's `error_code`.
    pub error_code: Option<String>,
    /// The service's `error_msg`.
    pub error_msg: Option<String>,
    /// `X-Request-Id`: quote it to support.
    pub request_id: Option<String>,
    /// The error and its causes, in one line.
    pub message: String,
}

impl ErrorReport {
    /// Describes `error`, reading the API's fields when it is a [`wks_waiter::Error`]
    /// (directly or as the source of a [`WaitError`]).
    pub fn of(error: &(dyn StdError + 'static)) -> Self {
        let api_error = std::iter::successors(Some(error), |&e| e.source())
            .find_map(|e| e.downcast_ref::<wks_waiter::Error>());
        let api = api_error.and_then(wks_waiter::Error::api);
        Self {
            status: api_error.and_then(wks_waiter::Error::status),
            error_code: api.and_then(|a| a.error_code.clone()),
            error_msg: api.and_then(|a| a.error_msg.clone()),
            request_id: api_error.and_then(|e| e.request_id().map(str::to_owned)),
            message: chain(error),
        }
    }
}

/// `error` and its `source()` chain, joined by `": "`: the exact text, for JSON; pass it
/// through [`escape_controls`] before printing it for people.
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    std::iter::successors(Some(error), |&e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

impl Report {
    /// The report of a run that never started waiting.
    pub fn misconfigured(job_id: &str, error: &(dyn StdError + 'static)) -> Self {
        Self::empty(job_id, Ending::Misconfigured, Some(ErrorReport::of(error)))
    }

    /// A report with every count zero and no subtask.
    fn empty(job_id: &str, result: Ending, error: Option<ErrorReport>) -> Self {
        Self {
            job_id: job_id.to_owned(),
            result,
            total: 0,
            succeeded: 0,
            failed: 0,
            pending: 0,
            elapsed_ms: 0,
            polls: 0,
            requests: 0,
            failures: Vec::new(),
            subtasks: Vec::new(),
            error,
        }
    }

    /// The report of a wait; `signal` is the one that cancelled it, if any.
    pub fn of_wait(
        job_id: &str,
        result: &Result<JobOutcome, WaitError>,
        signal: Option<Signal>,
    ) -> Self {
        let (ending, error) = match result {
            Ok(outcome) if outcome.is_success() => (Ending::Succeeded, None),
            Ok(_) => (Ending::Failed, None),
            Err(WaitError::TimedOut { last_error, .. }) => (
                Ending::TimedOut,
                last_error.as_ref().map(|e| ErrorReport::of(e)),
            ),
            Err(WaitError::Cancelled { .. }) => (
                Ending::Interrupted(signal.unwrap_or(Signal::Interrupt)),
                None,
            ),
            Err(WaitError::InvalidInput(error)) => {
                return Self::misconfigured(job_id, error);
            }
            // The request error itself: the summary line already gives the job and the
            // counts the wait error's own text would repeat.
            Err(WaitError::Request { error, .. }) => {
                (Ending::RequestFailed, Some(ErrorReport::of(error)))
            }
            // The wait's own record of what ended it: the job not found, no subtask in
            // time, listings that never agreed.
            Err(error) => {
                let mut report = ErrorReport::of(error);
                if let Some(info) = error.partial().and_then(|p| p.error.as_ref()) {
                    report.status = info.status;
                    report.error_code.clone_from(&info.error_code);
                    report.error_msg.clone_from(&info.error_msg);
                    report.request_id.clone_from(&info.request_id);
                }
                (Ending::RequestFailed, Some(report))
            }
        };
        let outcome = match result {
            Ok(outcome) => Some(outcome),
            Err(error) => error.partial(),
        };
        let mut report = Self::empty(job_id, ending, error);
        if let Some(outcome) = outcome {
            let counts = outcome.counts();
            report.total = counts.total;
            report.succeeded = counts.succeeded;
            report.failed = counts.failed;
            report.pending = counts.pending();
            report.elapsed_ms = u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX);
            report.polls = outcome.polls;
            report.requests = outcome.requests;
            report.failures = outcome.failures().iter().map(FailureReport::of).collect();
            report.subtasks = outcome.subtasks.iter().map(SubtaskReport::of).collect();
        }
        report
    }

    /// The summary line: `job J: 47 succeeded, 3 failed, 0 pending of 50 in 21.4s (9
    /// polls, 9 requests)`, prefixed by how the wait ended when it did not complete.
    pub fn summary(&self) -> String {
        let how = match self.result {
            Ending::Succeeded | Ending::Failed => String::new(),
            Ending::TimedOut => "timed out: ".to_owned(),
            Ending::Interrupted(signal) => format!("interrupted by {}: ", signal.name()),
            Ending::RequestFailed | Ending::Misconfigured => "stopped by an error: ".to_owned(),
        };
        format!(
            "job {}: {how}{} succeeded, {} failed, {} pending of {} in {} ({}, {})",
            escape_controls(&self.job_id),
            self.succeeded,
            self.failed,
            self.pending,
            self.total,
            format_duration(std::time::Duration::from_millis(self.elapsed_ms)),
            plural(self.polls, "poll"),
            plural(self.requests, "request"),
        )
    }

    /// The table of failed desktops, aligned, with a header; empty without failures.
    pub fn failure_table(&self) -> String {
        if self.failures.is_empty() {
            return String::new();
        }
        let cell = |value: &Option<String>| cell(value.as_deref()).into_owned();
        let mut rows = vec![[
            "DESKTOP NAME".to_owned(),
            "DESKTOP ID".to_owned(),
            "USER".to_owned(),
            "ERROR CODE".to_owned(),
            "REASON".to_owned(),
        ]];
        rows.extend(self.failures.iter().map(|f| {
            [
                cell(&f.desktop_name),
                cell(&f.desktop_id),
                cell(&f.user_name),
                cell(&f.error_code),
                cell(&f.fail_reason),
            ]
        }));
        let mut widths = [0; 5];
        for row in &rows {
            for (width, text) in widths.iter_mut().zip(row) {
                *width = (*width).max(text.chars().count());
            }
        }
        let mut table = String::new();
        for row in &rows {
            let mut line = String::new();
            for (i, text) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(text);
                } else {
                    let pad = widths[i] - text.chars().count();
                    line.push_str(text);
                    line.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            table.push_str(line.trim_end());
            table.push('\n');
        }
        table
    }

    /// Prints the report: the JSON object on stdout, or the summary line (and, unless
    /// `quiet`, the failure table) on stdout with the error, if any, on stderr.
    pub fn print(&self, json: bool, quiet: bool) {
        // A closed stdout (`| head`) leaves nobody to tell; the exit code still says it.
        let _ = self.write(json, quiet, &mut io::stdout().lock());
        if let Some(error) = &self.error {
            let what = match self.result {
                Ending::TimedOut => "last error: ",
                _ => "",
            };
            eprint_line(&format!(
                "wks-wait: {what}{}",
                escape_controls(&error.message)
            ));
        }
    }

    fn write(&self, json: bool, quiet: bool, out: &mut dyn Write) -> io::Result<()> {
        if json {
            serde_json::to_writer(&mut *out, self)?;
            writeln!(out)?;
        } else if self.result != Ending::Misconfigured {
            writeln!(out, "{}", self.summary())?;
            if !quiet {
                write!(out, "{}", self.failure_table())?;
            }
        }
        out.flush()
    }
}

impl FailureReport {
    fn of(failure: &DesktopFailure) -> Self {
        Self {
            subtask_id: failure.subtask_id.clone(),
            desktop_id: failure.desktop_id.clone(),
            desktop_name: failure.desktop_name.clone(),
            user_name: failure.user_name.clone(),
            error_code: failure.error_code.clone(),
            fail_reason: failure.fail_reason.clone(),
        }
    }
}

impl SubtaskReport {
    fn of(tracked: &SubtaskOutcome) -> Self {
        let job = &tracked.subtask;
        Self {
            subtask_id: job.id.clone(),
            status: job.status.as_ref().map(|s| s.as_str().to_owned()),
            desktop_id: job.desktop_id().map(str::to_owned),
            desktop_name: job.desktop_name().map(str::to_owned),
            user_name: job.user_name().map(str::to_owned),
            process: job.process,
            error_code: job.error_code.clone(),
            fail_reason: job.fail_reason.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(name: Option<&str>, code: &str, reason: &str) -> FailureReport {
        FailureReport {
            subtask_id: Some("st".into()),
            desktop_id: Some(format!("id-{}", name.unwrap_or("x"))),
            desktop_name: name.map(str::to_owned),
            user_name: Some("alice".into()),
            error_code: Some(code.into()),
            fail_reason: Some(reason.into()),
        }
    }

    fn report() -> Report {
        let mut report = Report::empty("job-1", Ending::Failed, None);
        report.total = 50;
        report.succeeded = 48;
        report.failed = 2;
        report.elapsed_ms = 21_460;
        report.polls = 9;
        report.requests = 9;
        report.failures = vec![
            failure(
                Some("desk-long-name-01"),
                "WKS.0001",
                "quota\u{1b}[2Jexceeded",
            ),
            failure(None, "WKS.00000002", "no capacity"),
        ];
        report
    }

    #[test]
    fn summary_line() {
        let mut report = report();
        assert_eq!(
            report.summary(),
            "job job-1: 48 succeeded, 2 failed, 0 pending of 50 in 21.4s (9 polls, 9 requests)"
        );
        report.result = Ending::TimedOut;
        report.polls = 1;
        report.requests = 1;
        assert_eq!(
            report.summary(),
            "job job-1: timed out: 48 succeeded, 2 failed, 0 pending of 50 in 21.4s (1 poll, 1 request)"
        );
        report.result = Ending::Interrupted(Signal::Terminate);
        report.polls = 0;
        report.requests = 0;
        report.elapsed_ms = 3_723_000;
        assert_eq!(
            report.summary(),
            "job job-1: interrupted by SIGTERM: 48 succeeded, 2 failed, 0 pending of 50 in 1h02m03s (0 polls, 0 requests)"
        );
    }

    #[test]
    fn failure_table_is_aligned_and_one_line_per_desktop() {
        let table = report().failure_table();
        assert_eq!(
            table,
            "DESKTOP NAME       DESKTOP ID            USER   ERROR CODE    REASON\n\
             desk-long-name-01  id-desk-long-name-01  alice  WKS.0001      quota\\u{1b}[2Jexceeded\n\
             -                  id-x                  alice  WKS.00000002  no capacity\n"
        );
        let mut empty = report();
        empty.failures.clear();
        assert_eq!(empty.failure_table(), "");
    }

    #[test]
    fn json_has_every_key_with_nulls() {
        let mut out = Vec::new();
        let report = Report::misconfigured(
            "job-1",
            &wks_waiter::Error::MissingEnv {
                variable: wks_waiter::defaults::ENV_AK,
            },
        );
        report.write(true, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["result"], "error");
        assert_eq!(value["error"]["status"], serde_json::Value::Null);
        assert_eq!(
            value["error"]["message"],
            "environment variable HUAWEICLOUD_SDK_AK is not set"
        );
        assert_eq!(report.result.exit_code(), 2);
    }

    #[test]
    fn error_chain_is_one_line() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("outer")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let error = Outer(std::io::Error::other("inner\nline"));
        assert_eq!(chain(&error), "outer: inner\nline");
        assert_eq!(escape_controls(&chain(&error)), "outer: inner\\nline");
    }
}
