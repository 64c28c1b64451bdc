//! The one path from a configured wait to a report and an exit code, shared by real jobs,
//! `check` and the demo.

use std::error::Error as StdError;
use std::io::{self, Write};
use std::time::Duration;

use wks_waiter::{
    BackoffPolicy, Cancellation, Client, Event, Limit, RateBudget, WaitError, Waiter,
};

use crate::args::OutputFormat;
use crate::jobs_from::SubmissionFailure;
use crate::progress::{BarSlot, Display, Mode};
use crate::report::Report;
use crate::signals::Interrupts;

/// A configuration error, or any error met before the wait starts.
pub type SetupError = Box<dyn StdError>;

/// What to wait on, and how.
#[derive(Debug)]
pub struct Plan {
    /// The client of the API (the cloud's or the simulator's).
    pub client: Client,
    /// The jobs, each once.
    pub job_ids: Vec<String>,
    /// Desktops that failed at submission (`--jobs-from`).
    pub submissions: Vec<SubmissionFailure>,
    /// Notes for the user about the input (responses without a job), shown before the wait.
    pub notes: Vec<String>,
    /// How to wait.
    pub settings: Settings,
}

/// How to wait.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Poll once (`check`) instead of waiting.
    pub check: bool,
    /// The deadline.
    pub max_wait: Duration,
    /// The schedule between polls.
    pub poll: BackoffPolicy,
    /// Subtasks to wait for at least, per job (`--expect`).
    pub expect: Option<usize>,
    /// Stop at the first failure.
    pub fail_fast: bool,
    /// `--max-failures`.
    pub max_failures: Option<Limit>,
    /// `--min-succeeded`.
    pub min_succeeded: Option<Limit>,
    /// `--max-failures-total`.
    pub max_failures_total: Option<Limit>,
    /// `--min-succeeded-total`.
    pub min_succeeded_total: Option<Limit>,
    /// `--appear-within`.
    pub appear_within: Option<Duration>,
    /// The request budget, if any.
    pub budget: Option<RateBudget>,
}

impl Settings {
    /// A wait with the waiter's defaults and no budget, until `max_wait`, polling on `poll`.
    pub fn new(max_wait: Duration, poll: BackoffPolicy) -> Self {
        Self {
            check: false,
            max_wait,
            poll,
            expect: None,
            fail_fast: false,
            max_failures: None,
            min_succeeded: None,
            max_failures_total: None,
            min_succeeded_total: None,
            appear_within: None,
            budget: None,
        }
    }
}

/// How to show the run.
#[derive(Debug, Clone)]
pub struct Output {
    /// `--output`.
    pub format: OutputFormat,
    /// `--quiet`.
    pub quiet: bool,
    /// How progress is shown.
    pub progress: Mode,
    /// Where the bar is registered for the logger.
    pub bar_slot: BarSlot,
}

/// Waits as `plan` says (or reports why it could not be set up), prints the report, and
/// returns the exit code. `job_ids` name the wait in the report of a bad configuration.
/// The first signal of `interrupts` cancels the wait.
pub fn wait_and_report(
    job_ids: &[&str],
    plan: Result<Plan, SetupError>,
    output: &Output,
    interrupts: &Interrupts,
) -> u8 {
    let report = match plan {
        Err(error) => Report::misconfigured(job_ids, error.as_ref()),
        Ok(plan) => run(plan, output, interrupts),
    };
    report.print(output.format, output.quiet);
    report.exit_code()
}

fn run(plan: Plan, output: &Output, interrupts: &Interrupts) -> Report {
    if !output.quiet {
        for note in &plan.notes {
            output
                .bar_slot
                .print_line(&format!("wks-wait: {}", crate::text::escape_controls(note)));
        }
    }
    if plan.job_ids.is_empty() {
        return Report::nothing_to_wait_on(plan.submissions);
    }
    let check = plan.settings.check;
    // Rules over the totals are reported in the several-jobs form, which says what they
    // decided, even for one job.
    let totals =
        plan.settings.max_failures_total.is_some() || plan.settings.min_succeeded_total.is_some();
    // A stream of events is read to act on each desktop as it ends: it is timely. The text
    // and JSON outputs only show progress, at the economy of a plain wait.
    let timely = output.format == OutputFormat::Ndjson;
    let waiter = match build_waiter(
        plan.client,
        plan.settings,
        interrupts.cancellation(),
        timely,
    ) {
        Ok(waiter) => waiter,
        Err(error) => return Report::misconfigured(&ids(&plan.job_ids), error.as_ref()),
    };
    let several = plan.job_ids.len() > 1;
    let mut display = Display::start(output.progress, output.bar_slot.clone(), several);
    let mut stream = (output.format == OutputFormat::Ndjson).then(EventLines::default);
    let mut on_event = |event: &Event| {
        display.on_event(event);
        if let Some(stream) = stream.as_mut() {
            stream.write(event);
        }
    };
    let ids = ids(&plan.job_ids);
    let result = if check {
        waiter.check_with(&ids, &mut on_event)
    } else {
        waiter.wait_all_with(&ids, &mut on_event)
    };
    display.finish();
    match result {
        Ok(outcome) => Report::of_wait(outcome, plan.submissions, interrupts.received(), totals),
        Err(WaitError::InvalidInput(error)) => Report::misconfigured(&ids, &error),
        Err(error) => Report::not_started(&ids, &error),
    }
}

fn ids(job_ids: &[String]) -> Vec<&str> {
    job_ids.iter().map(String::as_str).collect()
}

fn build_waiter(
    client: Client,
    settings: Settings,
    cancel: Cancellation,
    timely: bool,
) -> Result<Waiter<Client>, SetupError> {
    let mut builder = Waiter::builder(client)
        .max_wait(settings.max_wait)
        .poll(settings.poll)
        .fail_fast(settings.fail_fast)
        .timely_events(timely)
        .cancellation(cancel);
    if let Some(n) = settings.expect {
        builder = builder.expect_subtasks(n);
    }
    if let Some(limit) = settings.max_failures {
        builder = builder.max_failures(limit);
    }
    if let Some(limit) = settings.min_succeeded {
        builder = builder.min_succeeded(limit);
    }
    if let Some(limit) = settings.max_failures_total {
        builder = builder.overall_max_failures(limit);
    }
    if let Some(limit) = settings.min_succeeded_total {
        builder = builder.overall_min_succeeded(limit);
    }
    if let Some(within) = settings.appear_within {
        builder = builder.first_subtask_within(within);
    }
    if let Some(budget) = settings.budget {
        builder = builder.rate_budget(budget);
    }
    Ok(builder.build()?)
}

/// `--output ndjson`: each event as one JSON line on stdout, flushed at once so a reader
/// acts on it as it happens. Once stdout fails (its reader left), lines are dropped: the
/// wait goes on and its exit code still tells the outcome.
#[derive(Debug, Default)]
struct EventLines {
    broken: bool,
}

impl EventLines {
    fn write(&mut self, event: &Event) {
        if self.broken {
            return;
        }
        let Ok(mut line) = serde_json::to_vec(event) else {
            return;
        };
        line.push(b'\n');
        let mut stdout = io::stdout().lock();
        if stdout
            .write_all(&line)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            self.broken = true;
        }
    }
}
