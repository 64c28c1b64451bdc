//! The result of a run, and its renderings: the library's own JSON (one object), or summary
//! lines and a table of the desktops that failed or vanished.
//!
//! There is one schema: the object of a wait on one job is exactly the library's
//! serialization of [`JobOutcome`], and that of several jobs is [`WaitOutcome`]'s with the
//! desktops that failed at submission added. Text is rendered from the same types.

use std::error::Error as StdError;
use std::io::{self, Write};
use std::time::Duration;

use serde_json::{json, Value};
use wks_waiter::outcome::{Counts, DesktopFailure, ErrorInfo, OverallRule, SubtaskState};
use wks_waiter::{JobOutcome, JobResult, WaitOutcome};

use crate::args::OutputFormat;
use crate::duration::format_duration;
use crate::jobs_from::SubmissionFailure;
use crate::signals::Signal;
use crate::text::{cell, eprint_line, escape_controls, plural};

/// What was waited on, as the library reported it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// One job: the one-job schema.
    One(Box<JobOutcome>),
    /// Several jobs, or one with desktops that failed at submission.
    Many(Box<WaitOutcome>),
    /// No job to wait on, only desktops that failed at submission.
    Nothing,
}

/// Everything printed at the end of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// What the wait found.
    pub outcome: Outcome,
    /// Desktops (or operations) that failed when they were submitted.
    pub submissions: Vec<SubmissionFailure>,
    /// The signal that interrupted the wait, if any.
    pub signal: Option<Signal>,
    /// Bad usage or configuration: nothing was waited on (exit 2).
    pub misconfigured: bool,
}

/// The exit code of one job's result.
fn code_of(result: JobResult, signal: Option<Signal>) -> u8 {
    match result {
        JobResult::Succeeded => 0,
        JobResult::Failed => 1,
        JobResult::TimedOut | JobResult::Pending => 3,
        JobResult::Interrupted => signal.unwrap_or(Signal::Interrupt).exit_code(),
        // Errors, and any result a later library adds: the wait did not decide.
        _ => 4,
    }
}

impl Report {
    /// The report of a run on `job_ids` that never started waiting, each job with result
    /// `error` (exit 2): the one-job object for one job (or none known), the several-jobs
    /// object for several.
    pub fn misconfigured(job_ids: &[&str], error: &(dyn StdError + 'static)) -> Self {
        let info = ErrorInfo::of(error);
        let outcome = match job_ids {
            [_, _, ..] => Outcome::Many(Box::new(WaitOutcome::not_started(job_ids, &info))),
            _ => Outcome::One(Box::new(JobOutcome::not_started(
                job_ids.first().copied().unwrap_or_default(),
                info,
            ))),
        };
        Self {
            outcome,
            submissions: Vec::new(),
            signal: None,
            misconfigured: true,
        }
    }

    /// The report of a wait that could not start for a reason other than its input
    /// (exit 4).
    pub fn not_started(job_ids: &[&str], error: &(dyn StdError + 'static)) -> Self {
        Self {
            misconfigured: false,
            ..Self::misconfigured(job_ids, error)
        }
    }

    /// The report of a wait: the one-job form when it was on one job, nothing failed at
    /// submission and no rule over the `totals` was set, the several-jobs form otherwise
    /// (which says what those rules decided).
    pub fn of_wait(
        outcome: WaitOutcome,
        submissions: Vec<SubmissionFailure>,
        signal: Option<Signal>,
        totals: bool,
    ) -> Self {
        let outcome = if outcome.jobs.len() == 1 && submissions.is_empty() && !totals {
            let mut jobs = outcome.jobs;
            Outcome::One(Box::new(jobs.remove(0)))
        } else {
            Outcome::Many(Box::new(outcome))
        };
        Self {
            outcome,
            submissions,
            signal,
            misconfigured: false,
        }
    }

    /// The report of a run with no job to wait on, only failed submissions.
    pub fn nothing_to_wait_on(submissions: Vec<SubmissionFailure>) -> Self {
        Self {
            outcome: Outcome::Nothing,
            submissions,
            signal: None,
            misconfigured: false,
        }
    }

    fn jobs(&self) -> &[JobOutcome] {
        match &self.outcome {
            Outcome::One(job) => std::slice::from_ref(job),
            Outcome::Many(wait) => &wait.jobs,
            Outcome::Nothing => &[],
        }
    }

    /// The process exit code: 2 for bad usage; the signal's code when a job was
    /// interrupted; otherwise the wait's result (the worst of the jobs' codes, 4 > 3 > 1 >
    /// 0, unless a rule over the totals decided it), at least 1 when a desktop failed at
    /// submission.
    pub fn exit_code(&self) -> u8 {
        if self.misconfigured {
            return 2;
        }
        let jobs = self.jobs();
        if jobs.iter().any(|j| j.result == JobResult::Interrupted) {
            return code_of(JobResult::Interrupted, self.signal);
        }
        let worst = match &self.outcome {
            Outcome::Many(wait) => code_of(wait.result(), self.signal),
            _ => jobs
                .iter()
                .map(|j| code_of(j.result, self.signal))
                .max()
                .unwrap_or(0),
        };
        if self.submissions.is_empty() {
            worst
        } else {
            worst.max(1)
        }
    }

    /// The `--output json` object (and the last line of `--output ndjson`).
    pub fn json(&self) -> Value {
        let value = match &self.outcome {
            Outcome::One(job) => return serde_json::to_value(job).unwrap_or(Value::Null),
            Outcome::Many(wait) => serde_json::to_value(wait).unwrap_or(Value::Null),
            Outcome::Nothing => json!({
                "result": "succeeded",
                "decided_by": null,
                "jobs_total": 0,
                "total": 0, "succeeded": 0, "failed": 0, "vanished": 0, "pending": 0,
                "elapsed_ms": 0, "polls": 0, "requests": 0,
                "jobs": [],
            }),
        };
        let Value::Object(mut object) = value else {
            return value;
        };
        if !self.submissions.is_empty() && object.get("result") == Some(&json!("succeeded")) {
            object.insert("result".into(), json!("failed"));
        }
        object.insert(
            "submission_failures".into(),
            serde_json::to_value(&self.submissions).unwrap_or(Value::Null),
        );
        Value::Object(object)
    }

    /// The text on stdout: the summary line(s), then (unless `quiet`) the job-level
    /// failures and the tables of desktops.
    pub fn text(&self, quiet: bool) -> String {
        if self.misconfigured {
            return String::new();
        }
        let mut out = String::new();
        let several = !matches!(self.outcome, Outcome::One(_));
        for job in self.jobs() {
            out.push_str(&summary(job, self.signal, !several));
            out.push('\n');
        }
        if several {
            out.push_str(&self.totals());
            out.push('\n');
        }
        if quiet {
            return out;
        }
        for job in self.jobs() {
            if let Some(line) = job_failure(job) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out.push_str(&desktop_table(self.jobs(), several));
        if !self.submissions.is_empty() {
            out.push_str("desktops that failed at submission (they never became subtasks):\n");
            out.push_str(&submission_table(&self.submissions));
        }
        out
    }

    /// The line summing up several jobs.
    fn totals(&self) -> String {
        let jobs = self.jobs();
        if let Outcome::Nothing = self.outcome {
            return format!(
                "no job to wait on: {} failed at submission",
                plural(self.submissions.len() as u64, "desktop")
            );
        }
        let mut tally = Vec::new();
        for (result, word) in [
            (JobResult::Succeeded, "succeeded"),
            (JobResult::Failed, "failed"),
            (JobResult::TimedOut, "timed out"),
            (JobResult::Pending, "still pending"),
            (JobResult::Error, "stopped by an error"),
            (JobResult::Interrupted, "interrupted"),
        ] {
            let n = jobs.iter().filter(|j| j.result == result).count();
            if n > 0 {
                tally.push(format!("{n} {word}"));
            }
        }
        let (elapsed, polls, requests) = match &self.outcome {
            Outcome::Many(wait) => (wait.elapsed, wait.polls, wait.requests),
            _ => (Duration::ZERO, 0, 0),
        };
        let counts = jobs
            .iter()
            .fold(Counts::default(), |sum, j| sum.plus(j.counts()));
        let mut line = format!(
            "{}: {}; subtasks: {}",
            plural(jobs.len() as u64, "job"),
            tally.join(", "),
            counts_text(&counts),
        );
        line.push_str(&format!(
            " in {} ({}, {})",
            format_duration(elapsed),
            plural(polls, "poll"),
            plural(requests, "request"),
        ));
        if !self.submissions.is_empty() {
            line.push_str(&format!(
                "; {} failed at submission",
                plural(self.submissions.len() as u64, "desktop")
            ));
        }
        if let Outcome::Many(wait) = &self.outcome {
            if let Some(verdict) = wait.overall {
                let flag = match verdict.rule {
                    OverallRule::MaxFailures => "--max-failures-total",
                    _ => "--min-succeeded-total",
                };
                line.push_str(&format!("; {} by {flag}", verdict.result));
            }
        }
        line
    }

    /// The one-line errors for stderr, escaped: the error that ended each undecided job's
    /// wait (or the last error before its time-out). A failed job's story is on stdout.
    pub fn error_lines(&self) -> Vec<String> {
        let several = !matches!(self.outcome, Outcome::One(_));
        self.jobs()
            .iter()
            .filter(|job| job.result != JobResult::Failed)
            .filter_map(|job| {
                let error = job.error.as_ref()?;
                let what = if job.result == JobResult::TimedOut {
                    "last error: "
                } else {
                    ""
                };
                let prefix = format!("job {}", job.job_id);
                let whose = if several && !error.message.starts_with(&prefix) {
                    format!("{}: ", escape_controls(&prefix))
                } else {
                    String::new()
                };
                Some(format!(
                    "wks-wait: {whose}{what}{}",
                    escape_controls(&error.message)
                ))
            })
            .collect()
    }

    /// Prints the report: the JSON object on stdout (`json` and `ndjson`, whose last line
    /// it is), or the text; then the errors, one line each, on stderr.
    pub fn print(&self, format: OutputFormat, quiet: bool) {
        // A closed stdout (`| head`) leaves nobody to tell; the exit code still says it.
        let _ = self.write(format, quiet, &mut io::stdout().lock());
        for line in self.error_lines() {
            eprint_line(&line);
        }
    }

    fn write(&self, format: OutputFormat, quiet: bool, out: &mut dyn Write) -> io::Result<()> {
        if format.is_machine() {
            serde_json::to_writer(&mut *out, &self.json())?;
            writeln!(out)?;
        } else {
            out.write_all(self.text(quiet).as_bytes())?;
        }
        out.flush()
    }
}

/// `3 succeeded, 1 failed, 2 vanished, 0 pending of 6`.
fn counts_text(counts: &Counts) -> String {
    let mut text = format!("{} succeeded, {} failed", counts.succeeded, counts.failed);
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

/// `job J: 47 succeeded, 3 failed, 0 pending of 50 in 21.4s (9 polls, 9 requests)`,
/// prefixed by how the wait ended when it did not decide; the costs only when asked (in a
/// wait on several jobs they are the wait's, on the totals line).
pub fn summary(job: &JobOutcome, signal: Option<Signal>, costs: bool) -> String {
    let how = match job.result {
        JobResult::Succeeded | JobResult::Failed => String::new(),
        JobResult::TimedOut => "timed out: ".to_owned(),
        JobResult::Pending => "still pending: ".to_owned(),
        JobResult::Interrupted => format!(
            "interrupted by {}: ",
            signal.unwrap_or(Signal::Interrupt).name()
        ),
        JobResult::Error => "stopped by an error: ".to_owned(),
        other => format!("{other}: "),
    };
    let mut line = format!(
        "job {}: {how}{} in {}",
        escape_controls(&job.job_id),
        counts_text(&job.counts()),
        format_duration(job.elapsed),
    );
    if costs {
        line.push_str(&format!(
            " ({}, {})",
            plural(job.polls, "poll"),
            plural(job.requests, "request"),
        ));
    }
    line
}

/// `job J failed as a whole: job_error_code WKS.0206, fail_reason …`, for a job whose
/// details say it failed as a whole: `FAIL` with a reason, or with no failed subtask to
/// explain it (a job whose subtasks failed reads `FAIL` too).
fn job_failure(job: &JobOutcome) -> Option<String> {
    let summary = job.job.as_ref().filter(|s| s.failed())?;
    let counts = job.counts();
    let explained = counts.failed + counts.vanished > 0;
    if explained && summary.error_code.is_none() && summary.fail_reason.is_none() {
        return None;
    }
    Some(format!(
        "job {} failed as a whole: job_error_code {}, fail_reason {}",
        escape_controls(&job.job_id),
        cell(summary.error_code.as_deref()),
        cell(summary.fail_reason.as_deref()),
    ))
}

/// Rows of cells, aligned in columns two spaces apart, each line trimmed.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let mut widths = vec![0; columns];
    for row in rows {
        for (width, text) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, text) in row.iter().enumerate() {
            line.push_str(text);
            if i + 1 < row.len() {
                let pad = widths[i] - text.chars().count();
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The desktops that failed or vanished, one row each, with the job when there are
/// several; empty when there are none.
pub fn desktop_table(jobs: &[JobOutcome], several: bool) -> String {
    let owned = |value: Option<&str>| cell(value).into_owned();
    let mut rows = Vec::new();
    for job in jobs {
        for subtask in &job.subtasks {
            let mut row = Vec::with_capacity(7);
            if several {
                row.push(escape_controls(&job.job_id).into_owned());
            }
            match subtask.state() {
                SubtaskState::Failed => {
                    let failure = DesktopFailure::of(&subtask.subtask);
                    row.extend([
                        owned(failure.desktop_name.as_deref()),
                        owned(failure.desktop_id.as_deref()),
                        owned(failure.user_name.as_deref()),
                        "failed".to_owned(),
                        owned(failure.error_code.as_deref()),
                        owned(failure.fail_reason.as_deref()),
                    ]);
                }
                SubtaskState::Vanished => {
                    let listed = &subtask.subtask;
                    row.extend([
                        owned(listed.desktop_name()),
                        owned(listed.desktop_id()),
                        owned(listed.user_name()),
                        "vanished".to_owned(),
                        "-".to_owned(),
                        format!(
                            "no longer listed before it was seen finished (last seen {})",
                            cell(listed.status.as_ref().map(|s| s.as_str()))
                        ),
                    ]);
                }
                _ => continue,
            }
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut header: Vec<String> = Vec::with_capacity(7);
    if several {
        header.push("JOB ID".to_owned());
    }
    header.extend(
        [
            "DESKTOP NAME",
            "DESKTOP ID",
            "USER",
            "RESULT",
            "ERROR CODE",
            "REASON",
        ]
        .map(str::to_owned),
    );
    rows.insert(0, header);
    table(&rows)
}

fn submission_table(failures: &[SubmissionFailure]) -> String {
    let owned = |value: Option<&str>| cell(value).into_owned();
    let mut rows = vec![["JOB ID", "DESKTOP ID", "ERROR CODE", "MESSAGE", "FROM"]
        .map(str::to_owned)
        .to_vec()];
    rows.extend(failures.iter().map(|f| {
        vec![
            owned(f.job_id.as_deref()),
            owned(f.desktop_id.as_deref()),
            owned(f.error_code.as_deref()),
            owned(f.error_msg.as_deref()),
            escape_controls(&f.source).into_owned(),
        ]
    }));
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use wks_waiter::simulator::{
        DesktopPlan, JobPlan, Outcome as Planned, Scenario, VirtualSource,
    };
    use wks_waiter::test_util::ManualClock;
    use wks_waiter::Waiter;

    /// A real outcome of the library: `n` desktops finished at 0 s, `failures` of them
    /// failed (the first one's strings laced with control characters).
    fn waited(jobs: &[(&str, usize, usize)]) -> WaitOutcome {
        let mut scenario = Scenario::new();
        for &(id, n, failures) in jobs {
            let desktops = (0..n)
                .map(|i| {
                    let mut desktop = DesktopPlan::new(i + 1);
                    desktop.end_at = Some(Duration::ZERO);
                    if i < failures {
                        desktop.outcome = Planned::failed("WKS.0120", "no capacity");
                    }
                    desktop
                })
                .collect();
            scenario = scenario.job(JobPlan::new(id, desktops));
        }
        let clock = Arc::new(ManualClock::at_2026());
        let source = VirtualSource::new(scenario, clock.clone());
        let waiter = Waiter::builder(source)
            .clock(clock.clone())
            .sleeper(Arc::new(wks_waiter::test_util::ManualSleeper::new(clock)))
            .build()
            .unwrap();
        let ids: Vec<&str> = jobs.iter().map(|j| j.0).collect();
        waiter.wait_all(&ids).unwrap()
    }

    fn failure(job_id: Option<&str>, desktop: &str) -> SubmissionFailure {
        SubmissionFailure {
            source: "responses.json line 1".into(),
            job_id: job_id.map(str::to_owned),
            desktop_id: Some(desktop.into()),
            error_code: Some("WKS.0001".into()),
            error_msg: Some("bad\u{1b}[2J state".into()),
        }
    }

    #[test]
    fn one_job_is_exactly_the_library_object() {
        let wait = waited(&[("job-1", 3, 1)]);
        let expected = serde_json::to_value(&wait.jobs[0]).unwrap();
        let report = Report::of_wait(wait, Vec::new(), None, false);
        assert_eq!(report.json(), expected);
        assert_eq!(report.exit_code(), 1);
        let text = report.text(false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("job job-1: 2 succeeded, 1 failed, 0 pending of 3 in "),
            "{text}"
        );
        assert!(lines[0].ends_with("(1 poll, 1 request)"), "{text}");
        assert!(lines[1].starts_with("DESKTOP NAME"), "{text}");
        assert!(
            lines[2].ends_with("  failed  WKS.0120    no capacity"),
            "{text}"
        );
    }

    #[test]
    fn several_jobs_add_submission_failures_to_the_library_object() {
        let wait = waited(&[("job-1", 2, 0), ("job-2", 1, 0)]);
        let library = serde_json::to_value(&wait).unwrap();
        let report = Report::of_wait(wait, vec![failure(Some("job-1"), "d-9")], None, false);
        let value = report.json();
        for (key, expected) in library.as_object().unwrap() {
            if key != "result" {
                assert_eq!(&value[key], expected, "{key}");
            }
        }
        assert_eq!(library["result"], "succeeded");
        assert_eq!(
            value["result"], "failed",
            "a failed submission is a failure"
        );
        assert_eq!(value["submission_failures"][0]["desktop_id"], "d-9");
        assert_eq!(
            value["submission_failures"][0]["error_msg"],
            "bad\u{1b}[2J state"
        );
        assert_eq!(report.exit_code(), 1);
        let text = report.text(false);
        assert!(text.contains("job job-1: 2 succeeded, 0 failed, 0 pending of 2 in "));
        assert!(
            text.contains(
                "2 jobs: 2 succeeded; subtasks: 3 succeeded, 0 failed, 0 pending of 3 in "
            ),
            "{text}"
        );
        assert!(text.contains("; 1 desktop failed at submission"), "{text}");
        assert!(
            text.contains("JOB ID  DESKTOP ID  ERROR CODE  MESSAGE"),
            "{text}"
        );
        assert!(text.contains(r"bad\u{1b}[2J state"), "escaped: {text}");
        let quiet = report.text(true);
        assert_eq!(quiet.lines().count(), 3, "{quiet}");
    }

    #[test]
    fn nothing_to_wait_on_has_the_keys_of_several_jobs() {
        let library = serde_json::to_value(waited(&[("a", 1, 0), ("b", 1, 0)])).unwrap();
        let report = Report::nothing_to_wait_on(vec![failure(None, "d-1")]);
        let value = report.json();
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected: Vec<&str> = library
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        expected.push("submission_failures");
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(value["result"], "failed");
        assert_eq!(report.exit_code(), 1);
        assert_eq!(
            report.text(true),
            "no job to wait on: 1 desktop failed at submission\n"
        );
    }

    #[test]
    fn exit_codes_take_the_worst_job() {
        let mut wait = waited(&[("a", 1, 0), ("b", 1, 1), ("c", 1, 0)]);
        let code = |wait: &WaitOutcome, signal| {
            Report::of_wait(wait.clone(), Vec::new(), signal, false).exit_code()
        };
        assert_eq!(code(&wait, None), 1);
        wait.jobs[2].result = JobResult::TimedOut;
        assert_eq!(code(&wait, None), 3);
        wait.jobs[0].result = JobResult::Pending;
        assert_eq!(code(&wait, None), 3);
        wait.jobs[0].result = JobResult::Error;
        assert_eq!(code(&wait, None), 4);
        wait.jobs[1].result = JobResult::Interrupted;
        assert_eq!(code(&wait, Some(Signal::Terminate)), 143);
        let config = Report::misconfigured(&["j"], &std::io::Error::other("bad"));
        assert_eq!(config.exit_code(), 2);
        assert_eq!(config.json()["result"], "error");
        assert_eq!(config.json()["error"]["message"], "bad");
        assert_eq!(config.text(false), "");
        assert_eq!(
            Report::not_started(&["j"], &std::io::Error::other("x")).exit_code(),
            4
        );
    }

    #[test]
    fn summary_lines_say_how_the_wait_ended() {
        let mut job = waited(&[("job-1", 2, 0)]).jobs.remove(0);
        job.elapsed = Duration::from_millis(3_723_000);
        job.result = JobResult::Interrupted;
        assert_eq!(
            summary(&job, Some(Signal::Terminate), true),
            "job job-1: interrupted by SIGTERM: 2 succeeded, 0 failed, 0 pending of 2 in 1h02m03s (1 poll, 1 request)"
        );
        job.result = JobResult::Pending;
        assert!(summary(&job, None, false).starts_with("job job-1: still pending: 2 succeeded"));
        job.result = JobResult::TimedOut;
        assert!(summary(&job, None, false).ends_with("of 2 in 1h02m03s"));
    }
}
