//! The one path from a configured job to a report and an exit code, shared by real jobs
//! and the demo.

use std::error::Error as StdError;
use std::time::Duration;

use wks_waiter::{BackoffPolicy, Cancellation, Client, Waiter};

use crate::progress::{BarSlot, Display, Mode};
use crate::report::Report;
use crate::signals::Interrupts;

/// A configuration error, or any error met before the wait starts.
pub type SetupError = Box<dyn StdError>;

/// How to wait (the job ID is given beside it, as a report needs it even when the
/// configuration is bad).
#[derive(Debug)]
pub struct Job {
    /// The client of the API (the cloud's or the simulator's).
    pub client: Client,
    /// The deadline.
    pub max_wait: Duration,
    /// The schedule between polls.
    pub poll: BackoffPolicy,
    /// Subtasks to wait for at least (`--expect`).
    pub expect: Option<usize>,
    /// Stop at the first failure.
    pub fail_fast: bool,
}

/// How to show the run.
#[derive(Debug, Clone)]
pub struct Output {
    /// `--output json`.
    pub json: bool,
    /// `--quiet`.
    pub quiet: bool,
    /// How progress is shown.
    pub progress: Mode,
    /// Where the bar is registered for the logger.
    pub bar_slot: BarSlot,
}

/// Waits on `job` (or reports why it could not be set up), prints the report, and returns
/// the exit code. The first signal of `interrupts` cancels the wait.
pub fn wait_and_report(
    job_id: &str,
    job: Result<Job, SetupError>,
    output: &Output,
    interrupts: &Interrupts,
) -> u8 {
    let report = match job.and_then(|job| build_waiter(job, interrupts.cancellation())) {
        Err(error) => Report::misconfigured(job_id, error.as_ref()),
        Ok(waiter) => {
            let mut display = Display::start(output.progress, output.bar_slot.clone());
            let result = waiter.wait_with(job_id, |event| display.on_event(event));
            display.finish();
            Report::of_wait(job_id, &result, interrupts.received())
        }
    };
    report.print(output.json, output.quiet);
    report.result.exit_code()
}

fn build_waiter(job: Job, cancel: Cancellation) -> Result<Waiter<Client>, SetupError> {
    let mut builder = Waiter::builder(job.client)
        .max_wait(job.max_wait)
        .poll(job.poll)
        .fail_fast(job.fail_fast)
        .cancellation(cancel);
    if let Some(n) = job.expect {
        builder = builder.expect_subtasks(n);
    }
    Ok(builder.build()?)
}
