//! The waiter: poll jobs until every subtask is terminal, and say exactly how each ended.

mod builder;
mod error;
mod listing;
mod rules;
mod store;
mod timing;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use builder::WaiterBuilder;
pub use error::WaitError;
pub use rules::Limit;

use crate::text::plural;
use error::{human, job_status_text};

use crate::budget::{Priority, RateBudget};
use crate::error::Error;
use crate::events::{Event, EventKind};
use crate::model::{JobDetails, JobStatus};
use crate::outcome::{
    Counts, DesktopFailure, ErrorInfo, JobOutcome, JobResult, JobSummary, OverallVerdict,
    WaitOutcome,
};
use crate::query::validate_id;
use crate::schedule::{stable_seed, BackoffPolicy, Schedule};
use crate::source::{FetchedJob, JobsApi};
use crate::time::{Cancellation, Clock, Sleeper};
use rules::Rules;
use store::{Kind, Store, Transition};
use timing::OVERDUE_FIRST;

/// Default deadline of a wait.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60 * 60);
/// Default poll schedule: 5 s, doubling, capped at 30 s, ±10 % jitter.
pub const DEFAULT_POLL: BackoffPolicy = BackoffPolicy::new(Duration::from_secs(5))
    .max_interval(Duration::from_secs(30))
    .randomization_factor(0.1);
/// Default retry schedule after a 5xx, a timeout or a dropped connection.
pub const DEFAULT_RETRY: BackoffPolicy = BackoffPolicy::new(Duration::from_secs(1))
    .max_interval(Duration::from_secs(16))
    .randomization_factor(0.2);
/// Default retry schedule after a 429: the gateway's budgets span minutes.
pub const DEFAULT_THROTTLE_RETRY: BackoffPolicy = BackoffPolicy::new(Duration::from_secs(5))
    .max_interval(Duration::from_secs(60))
    .randomization_factor(0.2);
/// Default number of retries of one request (so 9 attempts) before giving up.
pub const DEFAULT_MAX_RETRIES: u32 = 8;
/// Default longest sleep when progress predicts a distant end.
pub const DEFAULT_MAX_PREDICTED_INTERVAL: Duration = Duration::from_secs(300);
/// Default timeout of one request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a job gets to show its first subtask.
pub const DEFAULT_FIRST_SUBTASK_WITHIN: Duration = Duration::from_secs(5 * 60);

/// A request is given at least this long even at the deadline, so the final poll can
/// complete.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request timeout accepted: a request that needs more is not an answer.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Pages of a listing begun before the deadline may still be requested this long after it.
const PAGE_GRACE: Duration = Duration::from_millis(500);
/// While a job's listing stays empty, its details are read again after this, doubling.
const DETAILS_FIRST_REREAD: Duration = Duration::from_secs(60);
/// Jobs of at most this many subtasks are polled through their details once past their
/// expected end (~225 KB of details at most, at the documented ~450 bytes a subtask).
const END_GAME_SUBTASKS: usize = 500;
/// While a job's own status is the only thing a verdict waits for, its details are read
/// again after the poll interval, growing fourfold up to this.
const STATUS_REREAD_MAX: Duration = Duration::from_secs(5 * 60);
/// Projects whose status-filtered listing is re-measured after this many polls of per-job
/// listings, in case the project got quieter.
const REPROBE_POLLS: u32 = 10;

/// Waits for every subtask of a job (or of several jobs) to finish.
///
/// Built with [`Waiter::builder`] over a [`Client`](crate::Client) or any [`JobsApi`].
/// See [`WaiterBuilder`] for the polling strategy and its defaults.
///
/// # When a verdict is allowed (the consistency rule)
///
/// The service pages through a listing that can change between two page reads, and it can
/// glitch. A job is declared finished only on evidence that cannot be an artefact of that:
///
/// 1. **A consistent listing.** Every page of one listing reports the same `total_count`;
///    the pages hold exactly `total_count` distinct subtasks, no duplicates; no page but
///    the last is short; no page repeats the one before. A listing that breaks any of this
///    still teaches the states of subtasks already known (a subtask seen `FAILED` did
///    fail; one only such a listing shows joins the job once a read that adds up lists
///    it too: it may be a row of no subtask the job has), but supports
///    neither "every subtask is terminal" nor "a subtask is gone": when it would have
///    decided the job, the listing is read again after a short delay (the retry schedule),
///    and a service that stays inconsistent for `max_retries` re-reads in a row ends the
///    wait with [`WaitError::Inconsistent`].
/// 2. **Malformed and empty answers are glitches.** A 200 answer that is not a page (not
///    an object, no `total_count` or `jobs`, a subtask without an `id`, an error object) is
///    retried like a truncated body. An empty listing of a job whose subtasks were seen
///    unfinished is retried the same way; only if it stays empty through every retry is
///    it taken as evidence.
/// 3. **Disappearance needs two looks.** A subtask counts as vanished only when it is
///    absent from two consistent full listings taken at least one poll interval
///    (`poll.initial_interval`) apart. One that was seen finished keeps its state; one that
///    was not is reported as *vanished* — neither a success nor a failure
///    ([`SubtaskState::Vanished`](crate::outcome::SubtaskState::Vanished)).
/// 4. **Only the job's own subtasks count.** A listed subtask whose `job_id` names another
///    job is ignored (logged once); a subtask without an `id` makes the page malformed.
///    Only the job's own reads (its listing, its details) add a subtask to it: a row of a
///    project-wide listing naming a subtask the job does not know sends the job to its
///    own listing instead.
/// 5. **Every subtask must have been seen.** A job is finished when a consistent full
///    listing shows every known subtask terminal, no absence awaits its second look, and at
///    least as many subtasks are known as expected: the caller's
///    [`expect_subtasks`](WaiterBuilder::expect_subtasks), or else the job's own
///    `sub_jobs_total` (so a job whose subtasks appear in waves is not declared done after
///    the first wave). A job that says it ended (`SUCCESS`, `FAIL`) with fewer subtasks
///    listed than it announces (some were deleted) is decided on those listed, with a
///    warning — once the caller's own expectation is met.
/// 6. **The job's details must agree.** Before a verdict (and before an early decision
///    of the outcome rules) the job's details are read (`GET …/workspace-jobs/{job_id}`):
///    they list every subtask inline, so one a torn listing hid comes back, and a subtask
///    that vanished but is listed there is not gone; they say how many subtasks the job
///    has, which rules in percent are judged against. A job whose status is not `SUCCESS`
///    or `FAIL` (`WAITING`, `RUNNING`, or one this crate does not know) after every
///    subtask ended is waited for: its details alone are read again, after the poll
///    interval, then 4 times longer each time up to 5 minutes (up to `poll.max_interval`
///    while someone listens), and once more at the deadline; a time-out names the status
///    it waited on. Details naming another job (by their `id` or an inline
///    subtask's `job_id`) are a glitch, retried, and never this job's.
/// 7. **A vanished subtask counts once the verdict stands.** Until then (and in the
///    outcome of a wait that ends without a verdict) it is pending, as last seen. A job
///    whose details say `SUCCESS` — which the service says only when no subtask failed —
///    is a success even when some subtasks vanished before their end was seen; they stay
///    marked vanished.
///
/// Terminal states are final, as the API documents: a later row showing a finished
/// subtask unfinished is stale and ignored.
///
/// # Asking the job itself
///
/// A job's first read is its details: their inline subtasks serve as its first listing
/// (when they add up), and a job still under way with none inline is listed at once. They
/// are read again while the listing shows nothing (after 1, 2, 4 … minutes). An unknown
/// job (details refused with 404, and an empty listing) ends its wait at once
/// ([`WaitError::JobNotFound`]); a job that failed as a whole
/// ends with its `job_error_code` and `fail_reason`; a job that succeeded without subtasks
/// ends as a success. That call needs the IAM action `workspace:jobs:get`; without it
/// (403), or when the details are too big to read or keep failing past their retries, the
/// waiter warns once and relies on the listing alone from then on (a job status read
/// earlier that could still change is forgotten, not waited for). A job that shows no
/// subtask within [`first_subtask_within`](WaiterBuilder::first_subtask_within) ends with
/// [`WaitError::NoSubtasks`].
///
/// # Example
///
/// ```
/// # #[cfg(feature = "simulator")] {
/// use std::time::Duration;
/// use wks_waiter::simulator::{Scenario, TimelineSpec, VirtualSource};
/// use wks_waiter::{test_util::virtual_time, Waiter};
///
/// // A job of 20 desktops, 2 failing, finishing between 5 and 15 minutes, served in
/// // virtual time: the waiter's sleeps advance the clock instead of blocking.
/// let spec = TimelineSpec {
///     failures: 2,
///     finish_between: (Duration::from_secs(300), Duration::from_secs(900)),
///     ..TimelineSpec::new(20)
/// };
/// let (clock, sleeper) = virtual_time();
/// let source = VirtualSource::new(Scenario::generate("job-1", &spec), clock.clone());
/// let waiter = Waiter::builder(source)
///     .clock(clock)
///     .sleeper(sleeper)
///     .build()?;
///
/// let outcome = waiter.wait("job-1")?;
/// assert!(outcome.is_complete() && !outcome.is_success());
/// assert_eq!(outcome.counts().succeeded, 18);
/// for failure in outcome.failures() {
///     println!("{failure}");
/// }
/// assert!(outcome.requests < 25, "a few requests for a 15-minute job");
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Waiter<A> {
    api: A,
    config: Config,
}

#[derive(Debug, Clone)]
struct Config {
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    cancel: Cancellation,
    max_wait: Duration,
    poll: BackoffPolicy,
    retry: BackoffPolicy,
    throttle_retry: BackoffPolicy,
    max_retries: u32,
    predictive: bool,
    max_predicted_interval: Duration,
    status_filter: bool,
    expect: Option<usize>,
    rules: Rules,
    /// The rules over the totals of a wait on several jobs.
    overall: Rules,
    page_size: u32,
    request_timeout: Duration,
    first_subtask_within: Duration,
    seed: Option<u64>,
    budget: Option<RateBudget>,
    timely_events: bool,
}

/// Why a request, a listing or a poll stopped the wait.
enum Stop {
    Cancelled,
    Deadline(Option<Error>),
    Failed(Error),
}

impl<A: JobsApi> Waiter<A> {
    /// Starts configuring a waiter that calls `api`.
    pub fn builder(api: A) -> WaiterBuilder<A> {
        WaiterBuilder::new(api)
    }

    /// A handle that cancels this waiter's waits from any thread. A sleeping waiter wakes
    /// at once and returns [`WaitError::Cancelled`]; cancellation is permanent.
    pub fn cancellation(&self) -> Cancellation {
        self.config.cancel.clone()
    }

    /// Waits until every subtask of `job_id` is `SUCCESS` or `FAILED` (or the outcome
    /// rules decide the job).
    ///
    /// A failed desktop does not end the wait unless the rules say so
    /// ([`fail_fast`](WaiterBuilder::fail_fast), [`max_failures`](WaiterBuilder::max_failures)):
    /// the outcome says which failed and why. `Ok` does not mean success: check
    /// [`JobOutcome::is_success`], or turn failures into an error with
    /// [`JobOutcome::into_result`].
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`], [`WaitError::Request`], [`WaitError::JobNotFound`],
    /// [`WaitError::NoSubtasks`], [`WaitError::Inconsistent`] or [`WaitError::Cancelled`],
    /// each with the partial outcome; [`WaitError::InvalidInput`] for a malformed job ID.
    pub fn wait(&self, job_id: &str) -> Result<JobOutcome, WaitError> {
        validate_id("job_id", job_id).map_err(WaitError::InvalidInput)?;
        let mut run = Run::new(self, &[job_id], None);
        run.run();
        run.into_single()
    }

    /// Like [`wait`](Self::wait), calling `on_event` with every [`Event`] as it happens.
    ///
    /// With an observer the waiter polls at least every `poll.max_interval` (30 s by
    /// default) even when progress predicts a distant end, so a failed or finished desktop
    /// is reported within about that long of happening.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_with(
        &self,
        job_id: &str,
        mut on_event: impl FnMut(&Event),
    ) -> Result<JobOutcome, WaitError> {
        validate_id("job_id", job_id).map_err(WaitError::InvalidInput)?;
        let mut run = Run::new(self, &[job_id], Some(&mut on_event));
        run.run();
        run.into_single()
    }

    /// Waits on several jobs at once, with one deadline and one cancellation, covering
    /// them with the fewest pages per poll: one project-wide status-filtered listing when
    /// that reads fewer pages than a listing per job, per-job listings otherwise (measured
    /// from what the pages show, and measured again as the project gets busier or
    /// quieter). Every guarantee of [`wait`](Self::wait) holds per job; a job whose ID is
    /// wrong, or whose own requests keep failing past their retries while the others'
    /// succeed, ends with an error while the others go on.
    ///
    /// The outcome rules decide each job; the overall rules
    /// ([`overall_max_failures`](WaiterBuilder::overall_max_failures),
    /// [`overall_min_succeeded`](WaiterBuilder::overall_min_succeeded)) decide the wait's
    /// [`result`](WaitOutcome::result) on the totals of every job, and end the wait as soon
    /// as they decide it (the jobs still under way then end
    /// [`Pending`](JobResult::Pending)).
    ///
    /// # Errors
    ///
    /// [`WaitError::InvalidInput`] for a malformed or repeated job ID, or no job at all.
    /// Everything else is in the per-job outcomes.
    pub fn wait_all(&self, job_ids: &[&str]) -> Result<WaitOutcome, WaitError> {
        validate_ids(job_ids)?;
        let mut run = Run::new(self, job_ids, None);
        run.totals = true;
        run.run();
        Ok(run.into_outcome())
    }

    /// Polls once, without waiting: the jobs whose result one poll cycle decides are
    /// [`Succeeded`](JobResult::Succeeded) or [`Failed`](JobResult::Failed) (or end with an
    /// error, as in a wait), the others [`Pending`](JobResult::Pending). For scripts that
    /// poll on their own schedule (cron, CI stages). Retries of a failing request still
    /// happen, within `max_wait`.
    ///
    /// # Errors
    ///
    /// As [`wait_all`](Self::wait_all).
    pub fn check(&self, job_ids: &[&str]) -> Result<WaitOutcome, WaitError> {
        self.check_with(job_ids, |_| {})
    }

    /// Like [`check`](Self::check), calling `on_event` with every [`Event`].
    ///
    /// # Errors
    ///
    /// As [`wait_all`](Self::wait_all).
    pub fn check_with(
        &self,
        job_ids: &[&str],
        mut on_event: impl FnMut(&Event),
    ) -> Result<WaitOutcome, WaitError> {
        validate_ids(job_ids)?;
        let mut run = Run::new(self, job_ids, Some(&mut on_event));
        run.totals = true;
        run.run_once();
        Ok(run.into_outcome())
    }

    /// Like [`wait_all`](Self::wait_all), calling `on_event` with every [`Event`].
    ///
    /// # Errors
    ///
    /// As [`wait_all`](Self::wait_all).
    pub fn wait_all_with(
        &self,
        job_ids: &[&str],
        mut on_event: impl FnMut(&Event),
    ) -> Result<WaitOutcome, WaitError> {
        validate_ids(job_ids)?;
        let mut run = Run::new(self, job_ids, Some(&mut on_event));
        run.totals = true;
        run.run();
        Ok(run.into_outcome())
    }
}

/// Checks the job IDs of a wait on several jobs: at least one, each valid, none twice.
fn validate_ids(job_ids: &[&str]) -> Result<(), WaitError> {
    if job_ids.is_empty() {
        return Err(WaitError::InvalidInput(Error::invalid(
            "job_ids",
            "[]",
            "give at least one job",
        )));
    }
    for (i, id) in job_ids.iter().enumerate() {
        validate_id("job_id", id).map_err(WaitError::InvalidInput)?;
        if job_ids[..i].contains(id) {
            return Err(WaitError::InvalidInput(Error::invalid(
                "job_id",
                id,
                "is given twice",
            )));
        }
    }
    Ok(())
}

/// How one job's wait ended.
#[derive(Debug)]
enum End {
    /// Decided by the subtasks (and the rules).
    Decided(JobResult),
    /// The job failed as a whole, per its details.
    JobFailed,
    TimedOut(Option<Error>),
    /// A one-poll check left it undecided, or the overall rules decided the wait first.
    Pending,
    Failed(Error),
    /// The error that stopped the wait came while another job was being polled.
    FailedElsewhere(Option<ErrorInfo>),
    NotFound(Error),
    NoSubtasks,
    Inconsistent {
        reads: u32,
        reason: String,
    },
    Cancelled,
}

impl End {
    fn result(&self) -> JobResult {
        match self {
            Self::Decided(result) => *result,
            Self::JobFailed => JobResult::Failed,
            Self::TimedOut(_) => JobResult::TimedOut,
            Self::Pending => JobResult::Pending,
            Self::Cancelled => JobResult::Interrupted,
            Self::Failed(_)
            | Self::FailedElsewhere(_)
            | Self::NotFound(_)
            | Self::NoSubtasks
            | Self::Inconsistent { .. } => JobResult::Error,
        }
    }
}

/// What the waiter knows of the job's own details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Details {
    /// Not read (yet).
    Unread,
    /// Read; read again (while the listing stays empty) after this.
    Read { reread_after: Duration },
    /// Not to be read again: refused (403), too big to read, or failing past every
    /// retry. The listing alone decides.
    Denied,
}

/// The state of one job's wait.
#[derive(Debug)]
struct JobRun {
    id: String,
    store: Store,
    /// The job's details, when read.
    summary: Option<JobSummary>,
    details: Details,
    details_read_at: Option<Instant>,
    /// Subtasks known when the details were last read.
    known_at_details: usize,
    end: Option<End>,
    ended_at: Option<Instant>,
    /// A full listing of this job was read (so its size is known).
    saw_full: bool,
    /// The service honours the status filter for this job.
    filter_trusted: bool,
    /// Listings in a row that would have decided the job but could not be trusted.
    untrusted_reads: u32,
    /// Why the last untrusted listing was not trusted.
    untrusted_reason: String,
    /// The next poll must come soon: an absence awaits its second look, or an untrusted
    /// listing its re-read.
    recheck: Option<Duration>,
    /// An empty listing survived every retry: take it as evidence from now on.
    empty_accepted: bool,
    /// Overdue backoff of this job's predicted end.
    overdue: Schedule,
    /// When untrusted listings are read again: the retry schedule, restarted by a
    /// listing that can be trusted.
    reread: Schedule,
    /// Warned that the listing held other jobs' subtasks.
    warned_foreign: bool,
    /// Listings in a row whose paging failed (a page adding nothing, paging without end).
    paging_faults: u32,
    /// Status-filtered listings in a row that disagreed with themselves.
    filtered_inconsistent: u32,
    /// A project-wide listing showed subtasks of this job it did not know: only a listing
    /// of its own may add them.
    unseen_rows: bool,
    /// The poll whose cycle last read the job's details.
    details_poll: Option<u32>,
    /// Every known subtask ended but the job's own status says it has not: its details
    /// are read again (for the verdict) no sooner than this.
    status_reread_at: Option<Instant>,
    /// The backoff of those reads.
    status_reread: Schedule,
    /// The first read of the job (its details) is under way: a refusal (400, 404, 405)
    /// waits for the listing to say whether the job exists (the details may lag its
    /// creation, or not know its kind).
    first_look: bool,
    /// That refusal, kept until the listing is read.
    details_missing: Option<Error>,
    /// A listing of the job's own was read.
    listed: bool,
    /// The counts and size the verdict judged, when every subtask was seen ended (a job
    /// saying `SUCCESS` turns its vanished subtasks into successes there): what the
    /// overall rules count of this job.
    judged: Option<(Counts, usize)>,
}

impl JobRun {
    fn is_active(&self) -> bool {
        self.end.is_none()
    }

    /// The job's details can no longer be read: the listing alone decides from now on.
    /// A status they said that could still change is forgotten (a verdict waiting for it
    /// would wait for ever); an ended one stands, and so does the size they announced.
    fn lose_details(&mut self) {
        self.details = Details::Denied;
        self.status_reread_at = None;
        if let Some(summary) = self.summary.as_mut() {
            if !matches!(summary.status, Some(JobStatus::Success | JobStatus::Failed)) {
                summary.status = None;
            }
        }
    }

    /// Subtasks the job has at least: seen ones, or what its details announced.
    fn expected(&self, caller: Option<usize>) -> Option<usize> {
        let announced = self
            .summary
            .as_ref()
            .and_then(|s| s.sub_jobs_total)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        match (caller, announced) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Requests made, and their retry schedules.
struct Net {
    count: u32,
    bytes: u64,
    retry: Schedule,
    throttle_retry: Schedule,
    /// The throttling answer the requests are pausing for, if any: a pause that outlasts
    /// the deadline names it.
    last_throttle: Option<Error>,
    /// A request succeeded since a job last ended alone for an error of its own.
    healthy: bool,
}

/// One wait, on one job or several.
struct Run<'w, 'o, A> {
    waiter: &'w Waiter<A>,
    config: &'w Config,
    start: Instant,
    deadline: Instant,
    jobs: Vec<JobRun>,
    net: Net,
    poll_schedule: Schedule,
    polls: u32,
    observer: Option<&'o mut dyn FnMut(&Event)>,
    /// The service's effective page size, learnt from listings of several pages.
    page_size: usize,
    listing: listing::Planner,
    /// The job whose request is under way, when it is about one job: an error that stops
    /// the wait is that job's own, and the others end for it.
    blame: Option<usize>,
    /// A wait on several jobs (`wait_all`, `check`): the overall rules apply.
    totals: bool,
    /// What the overall rules decided.
    verdict: Option<OverallVerdict>,
}

impl<'w, 'o, A: JobsApi> Run<'w, 'o, A> {
    fn new(
        waiter: &'w Waiter<A>,
        job_ids: &[&str],
        observer: Option<&'o mut dyn FnMut(&Event)>,
    ) -> Self {
        let config = &waiter.config;
        let clock = &config.clock;
        let start = clock.now();
        let seed = config.seed.unwrap_or_else(crate::schedule::random_seed)
            ^ stable_seed(job_ids.first().copied().unwrap_or_default());
        let overdue = BackoffPolicy::new(OVERDUE_FIRST)
            .max_interval(config.poll.max_interval.max(OVERDUE_FIRST));
        // A status a few seconds late is read at once; one minutes late costs a few reads.
        let status_reread = BackoffPolicy::new(config.poll.initial_interval)
            .multiplier(4.0)
            .randomization_factor(0.1)
            .max_interval(STATUS_REREAD_MAX.max(config.poll.initial_interval));
        let jobs = job_ids
            .iter()
            .map(|id| JobRun {
                id: (*id).to_owned(),
                store: Store::new(id),
                summary: None,
                details: Details::Unread,
                details_read_at: None,
                known_at_details: 0,
                end: None,
                ended_at: None,
                saw_full: false,
                filter_trusted: true,
                untrusted_reads: 0,
                untrusted_reason: String::new(),
                recheck: None,
                empty_accepted: false,
                overdue: Schedule::new(&overdue, clock.clone(), 0),
                reread: Schedule::new(&config.retry, clock.clone(), seed ^ stable_seed(id)),
                warned_foreign: false,
                paging_faults: 0,
                filtered_inconsistent: 0,
                unseen_rows: false,
                details_poll: None,
                status_reread_at: None,
                status_reread: Schedule::new(&status_reread, clock.clone(), 0),
                first_look: false,
                details_missing: None,
                listed: false,
                judged: None,
            })
            .collect();
        Self {
            waiter,
            config,
            start,
            deadline: crate::time::add_or_far(start, config.max_wait),
            jobs,
            net: Net {
                count: 0,
                bytes: 0,
                retry: Schedule::new(&config.retry, clock.clone(), seed.rotate_left(17)),
                throttle_retry: Schedule::new(
                    &config.throttle_retry,
                    clock.clone(),
                    seed.rotate_left(31),
                ),
                last_throttle: None,
                healthy: true,
            },
            poll_schedule: Schedule::new(&config.poll, clock.clone(), seed),
            polls: 0,
            observer,
            page_size: config.page_size as usize,
            listing: listing::Planner::default(),
            blame: None,
            totals: false,
            verdict: None,
        }
    }

    fn now(&self) -> Instant {
        self.config.clock.now()
    }

    fn elapsed(&self) -> Duration {
        self.now().saturating_duration_since(self.start)
    }

    /// Whether someone wants news within `poll.max_interval`: an observer asking for
    /// timely events, or an outcome rule that may decide early. Sleeps are capped then.
    fn listening(&self) -> bool {
        (self.observer.is_some() && self.config.timely_events)
            || self.config.rules.early()
            || self.overall_rules().early()
    }

    /// The overall rules, when they apply: in a wait on several jobs.
    fn overall_rules(&self) -> Rules {
        if self.totals {
            self.config.overall
        } else {
            Rules::default()
        }
    }

    /// Whether successes must be seen as they happen: for timely events, and for a
    /// `min_succeeded` rule. The status filter hides them, so it is not used then.
    fn needs_successes(&self) -> bool {
        (self.observer.is_some() && self.config.timely_events)
            || self.config.rules.min_succeeded.is_some()
            || self.overall_rules().min_succeeded.is_some()
    }

    fn emit(&mut self, kind: EventKind) {
        let elapsed = self.elapsed();
        if let Some(observer) = self.observer.as_mut() {
            observer(&Event { elapsed, kind });
        }
    }

    /// The polling loop: poll, decide, sleep, until every job has ended.
    fn run(&mut self) {
        let jobs = self.jobs.iter().map(|j| j.id.clone()).collect();
        self.emit(EventKind::Started {
            jobs,
            max_wait: self.config.max_wait,
        });
        loop {
            if let Err(stop) = self.poll() {
                self.stop_all(stop);
                return;
            }
            self.polls += 1;
            self.report_poll();
            if self.judge_totals() || !self.jobs.iter().any(JobRun::is_active) {
                return;
            }
            let now = self.now();
            if now >= self.deadline {
                self.stop_all(Stop::Deadline(None));
                return;
            }
            let delay = self
                .next_delay(now)
                .min(self.deadline.saturating_duration_since(now));
            self.emit(EventKind::Sleeping { delay });
            self.config.sleeper.sleep(delay, &self.config.cancel);
            if self.config.cancel.is_cancelled() {
                self.stop_all(Stop::Cancelled);
                return;
            }
        }
    }

    /// One poll cycle; the jobs it leaves undecided are pending.
    fn run_once(&mut self) {
        let jobs = self.jobs.iter().map(|j| j.id.clone()).collect();
        self.emit(EventKind::Started {
            jobs,
            max_wait: self.config.max_wait,
        });
        if let Err(stop) = self.poll() {
            self.stop_all(stop);
            return;
        }
        self.polls += 1;
        self.report_poll();
        self.judge_totals();
        for index in 0..self.jobs.len() {
            if self.jobs[index].is_active() {
                self.finish_job(index, End::Pending);
            }
        }
    }

    /// Applies the overall rules to the totals of every job, after a poll cycle; whether
    /// they decided the wait. A decision ends the jobs still under way without a verdict
    /// of their own ([`End::Pending`]).
    ///
    /// Each job counts its subtasks as they stand (as its verdict judged them, once it
    /// has one), and its size as known: what its verdict judged, else `expect_subtasks`
    /// or the `sub_jobs_total` it announces. The totals are complete once every job has a
    /// verdict; before, a decision that depends on the size needs every job's.
    fn judge_totals(&mut self) -> bool {
        let rules = self.overall_rules();
        if !rules.early() || self.verdict.is_some() {
            return false;
        }
        let (mut counts, mut known, mut floor) = (Counts::default(), Some(0usize), 0usize);
        let mut complete = true;
        for job in &self.jobs {
            let (job_counts, size) = match job.judged {
                Some((counts, size)) => (counts, Some(size)),
                None => {
                    let counts = job.store.counts();
                    let size = job
                        .expected(self.config.expect)
                        .map(|n| n.max(counts.total));
                    (counts, size)
                }
            };
            complete &= matches!(job.end, Some(End::Decided(_) | End::JobFailed));
            counts = counts.plus(job_counts);
            known = known.zip(size).map(|(a, b)| a.saturating_add(b));
            floor = floor.saturating_add(size.unwrap_or(job_counts.total));
        }
        let size = if complete { Some(floor) } else { known };
        let Some((result, rule)) = rules.decide_by(&counts, size, complete) else {
            return false;
        };
        let early = self.jobs.iter().any(JobRun::is_active);
        log::info!(
            "the overall rules decided the wait: {result} ({counts:?}){}",
            if early { ", ending it" } else { "" }
        );
        self.verdict = Some(OverallVerdict {
            result,
            rule,
            early,
        });
        for index in 0..self.jobs.len() {
            if self.jobs[index].is_active() {
                self.finish_job(index, End::Pending);
            }
        }
        true
    }

    fn report_poll(&mut self) {
        let (mut sum, mut reporting, mut counts) = (0.0, 0, Counts::default());
        for job in &self.jobs {
            let (s, n) = job.store.process_sum();
            sum += s;
            reporting += n;
            counts = counts.plus(job.store.counts());
        }
        log::debug!(
            "poll {} found {counts:?} after {}",
            self.polls,
            plural(self.net.count, "request")
        );
        let jobs_pending = self.jobs.iter().filter(|j| j.is_active()).count();
        if self.observer.is_some() {
            self.emit(EventKind::Polled {
                poll: self.polls,
                requests: self.net.count,
                counts,
                jobs_pending,
                mean_process: (reporting > 0).then(|| sum / reporting as f64),
            });
        }
    }

    /// Ends every active job as `stop` says. An error that stops the wait ends the job
    /// whose request met it (or the first active job) with it, and the others with its
    /// description.
    fn stop_all(&mut self, stop: Stop) {
        let mut stop = Some(stop);
        let mut shared: Option<ErrorInfo> = None;
        let first = self.blame.take().filter(|&i| self.jobs[i].is_active());
        let order: Vec<usize> = first
            .into_iter()
            .chain((0..self.jobs.len()).filter(|&i| Some(i) != first))
            .collect();
        for index in order {
            if !self.jobs[index].is_active() {
                continue;
            }
            let end = match stop.take() {
                Some(Stop::Cancelled) => {
                    stop = Some(Stop::Cancelled);
                    End::Cancelled
                }
                Some(Stop::Deadline(error)) => {
                    shared = error.as_ref().map(|e| ErrorInfo::new(None, Some(e)));
                    stop = Some(Stop::Deadline(None));
                    End::TimedOut(error)
                }
                Some(Stop::Failed(error)) => {
                    shared = Some(ErrorInfo::new(None, Some(&error)));
                    End::Failed(error)
                }
                None => End::FailedElsewhere(shared.clone()),
            };
            self.finish_job(index, end);
        }
    }

    /// Ends job `index` with `end`, and tells the observer.
    fn finish_job(&mut self, index: usize, end: End) {
        let now = self.now();
        let job = &mut self.jobs[index];
        if job.end.is_some() {
            return;
        }
        let result = end.result();
        log::info!("job {}: {result}", job.id);
        let error = error_info(&end, job, self.waiter.api.project_id());
        job.end = Some(end);
        job.ended_at = Some(now);
        let kind = EventKind::JobFinished {
            job_id: job.id.clone(),
            result,
            counts: job.store.counts(),
            error,
        };
        self.emit(kind);
    }

    /// Reports `transitions` of job `index` to the observer.
    fn report(&mut self, index: usize, transitions: Vec<Transition>) {
        if self.observer.is_none() {
            return;
        }
        for transition in transitions {
            let job = &self.jobs[index];
            let job_id = job.id.clone();
            let kind = match transition {
                Transition::Succeeded(i) => EventKind::SubtaskSucceeded {
                    job_id,
                    subtask: Box::new(job.store.subtask(i).clone()),
                },
                Transition::Failed(i) => EventKind::SubtaskFailed {
                    job_id,
                    failure: DesktopFailure::of(job.store.subtask(i)),
                },
                Transition::Vanished(i) => EventKind::SubtaskVanished {
                    job_id,
                    subtask: Box::new(job.store.subtask(i).clone()),
                },
            };
            self.emit(kind);
        }
    }

    /// One poll cycle: list every active job with the fewest pages, confirm what the
    /// filtered listings suggest, read job details where needed, and decide.
    fn poll(&mut self) -> Result<(), Stop> {
        // A job awaiting a second look or a re-read gets a full listing of its own.
        let reread: Vec<bool> = self
            .jobs
            .iter_mut()
            .map(|job| job.recheck.take().is_some())
            .collect();
        let now = self.now();
        // A job whose every subtask ended awaits only its own status: its details, which
        // also list every subtask inline, are read on their schedule, instead of listings.
        let (awaiting_status, active): (Vec<usize>, Vec<usize>) = (0..self.jobs.len())
            .filter(|&i| self.jobs[i].is_active())
            .partition(|&i| self.jobs[i].status_reread_at.is_some() && !reread[i]);
        // A job never read is first read through its details: one request that lists every
        // subtask inline, says how many there are and whether the job exists, in place of a
        // listing (and of the details read a verdict or an empty listing needs anyway).
        let mut active = active;
        for index in active.clone() {
            let job = &self.jobs[index];
            if job.details == Details::Unread && !job.saw_full && job.store.standing().known == 0 {
                let served = match self.first_look(index) {
                    Ok(served) => served,
                    Err(stop) => self.isolate(stop).map(|()| true)?,
                };
                if served {
                    active.retain(|&i| i != index);
                }
            }
        }
        let eligible: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&i| !reread[i] && self.may_filter(i))
            .collect();
        // One project-wide filtered listing for every eligible job, when that reads fewer
        // pages than listing them one by one.
        let project: Vec<usize> = if eligible.len() >= 2 && self.project_wide_is_cheaper(&eligible)
        {
            eligible.clone()
        } else {
            Vec::new()
        };
        // A small job past its expected end is polled through its details: if every
        // subtask ended, the verdict needs them anyway, and they cost what a listing does.
        let (end_game, own): (Vec<usize>, Vec<usize>) = active
            .iter()
            .filter(|i| !project.contains(i))
            .partition(|&&i| !reread[i] && self.in_end_game(i, now));
        let (filtered, full): (Vec<usize>, Vec<usize>) = own
            .into_iter()
            .partition(|&i| eligible.contains(&i) && self.filtered_is_cheaper(i));
        let confirm_needed = match self.read_filtered(&project, &filtered) {
            Ok(confirm_needed) => confirm_needed,
            Err(stop) => self.isolate(stop).map(|()| Vec::new())?,
        };
        // A project-wide listing showed subtasks a job did not know: its own listing says
        // whether they are its own.
        let mut full = full;
        for &index in &active {
            if std::mem::take(&mut self.jobs[index].unseen_rows) && !full.contains(&index) {
                full.push(index);
            }
        }
        for &index in &full {
            if self.jobs[index].is_active() {
                self.read_full_and_decide(index, Priority::Routine)
                    .or_else(|stop| self.isolate(stop))?;
            }
        }
        // The poll at the deadline looks once more before a time-out.
        let last = now >= self.deadline;
        let due = awaiting_status
            .into_iter()
            .filter(|&i| last || self.jobs[i].status_reread_at.is_some_and(|at| at <= now))
            .collect::<Vec<_>>();
        for index in confirm_needed.into_iter().chain(due).chain(end_game) {
            if self.jobs[index].is_active() && !full.contains(&index) {
                self.confirm(index).or_else(|stop| self.isolate(stop))?;
            }
        }
        self.check_empty_jobs().or_else(|stop| self.isolate(stop))?;
        self.apply_rules().or_else(|stop| self.isolate(stop))
    }

    /// A request about one job kept failing past its retries (a 5xx, a timeout, a body
    /// that cannot be read, a listing too long to page through) while requests about the
    /// other jobs succeed: it ends that job alone, with its error. A second such failure
    /// with no successful request since says the service itself is failing: the wait
    /// stops, every job with the error.
    fn isolate(&mut self, stop: Stop) -> Result<(), Stop> {
        let Stop::Failed(error) = stop else {
            return Err(stop);
        };
        let others = self.jobs.iter().filter(|j| j.is_active()).count() > 1;
        let about_one_job = (error.is_retryable() && !error.is_throttled())
            || matches!(error, Error::OffsetLimit { .. });
        match self.blame {
            Some(index)
                if others && about_one_job && self.net.healthy && self.jobs[index].is_active() =>
            {
                self.blame = None;
                self.net.healthy = false;
                log::warn!(
                    "job {}: {error}; ending this job, the others go on",
                    self.jobs[index].id
                );
                self.finish_job(index, End::Failed(error));
                Ok(())
            }
            _ => Err(Stop::Failed(error)),
        }
    }

    /// Reads job `index`'s details as its first look; whether they served as its listing
    /// this poll (they list no subtask yet, or subtasks that add up). A refusal is kept
    /// until the listing says whether the job exists.
    fn first_look(&mut self, index: usize) -> Result<bool, Stop> {
        self.jobs[index].first_look = true;
        let details = self.read_details(index);
        self.jobs[index].first_look = false;
        let Some(details) = details? else {
            return Ok(!self.jobs[index].is_active());
        };
        if details.sub_jobs.is_empty() {
            // The job exists and lists no subtask inline. Still under way: none is visible
            // yet (or the service leaves them out of the details), the next poll lists it.
            // Ended: its listing, read now, says whether it ended without subtasks.
            let ended = matches!(details.status, Some(JobStatus::Success | JobStatus::Failed));
            self.stage_details(index, details);
            return Ok(!ended);
        }
        let read = self.stage_details(index, details);
        if !read.consistent {
            return Ok(false);
        }
        self.decide(index, read)?;
        Ok(true)
    }

    /// Whether job `index` is small (its details about as big as a listing of its
    /// unfinished subtasks) and past the end its subtasks' progress predicts, with
    /// subtasks still unfinished: the next poll may find it finished.
    fn in_end_game(&self, index: usize, now: Instant) -> bool {
        let job = &self.jobs[index];
        let standing = job.store.standing();
        job.details != Details::Denied
            && job.saw_full
            && standing.pending > 0
            && standing.missing == 0
            && standing.known <= END_GAME_SUBTASKS.min(self.page_size)
            && timing::outlook(&job.store, now).is_some_and(|o| o.expected <= now)
    }

    /// Whether job `index` may be polled with the status filter: a full listing of its own
    /// said which subtasks are its own, the service honours the filter, no subtask has a
    /// status the filter cannot name, and no absence awaits its second look. (Subtasks the filter hides, finished ones, are read by the final
    /// confirmation, full.)
    fn may_filter(&self, index: usize) -> bool {
        let job = &self.jobs[index];
        self.config.status_filter
            && !self.needs_successes()
            && job.saw_full
            && job.filter_trusted
            && !job.store.has_unnameable_status()
            && job.store.standing().missing == 0
    }

    /// Pages of a listing of `n` subtasks.
    fn pages(&self, n: usize) -> usize {
        n.div_ceil(self.page_size.max(1)).max(1)
    }

    /// Whether job `index`'s own filtered listing reads fewer pages than its full one (so
    /// never before a full listing told its size).
    fn filtered_is_cheaper(&self, index: usize) -> bool {
        let job = &self.jobs[index];
        let store = &job.store;
        job.saw_full && self.pages(store.filtered_size()) < self.pages(store.standing().known)
    }

    /// Pages a poll of job `index` costs listed on its own: filtered or full, whichever
    /// is fewer.
    fn own_pages(&self, index: usize) -> usize {
        let store = &self.jobs[index].store;
        self.pages(store.filtered_size())
            .min(self.pages(store.standing().known))
    }

    /// Job `index` was read by a full listing: decide whether it is finished.
    fn read_full_and_decide(&mut self, index: usize, priority: Priority) -> Result<(), Stop> {
        let read = self.read_job_listing(index, Kind::Full, priority)?;
        self.jobs[index].saw_full = true;
        self.decide(index, read)
    }

    /// Job `index`'s filtered listing shows nothing unfinished: confirm with one read of
    /// its details, which hold every subtask inline and how many there are. Details that
    /// do not add up (a subtask missing, duplicated or without an ID) are no evidence: a
    /// full listing confirms instead, as it does for a caller without permission to read
    /// job details.
    fn confirm(&mut self, index: usize) -> Result<(), Stop> {
        if self.jobs[index].details == Details::Denied {
            return self.read_full_and_decide(index, Priority::Important);
        }
        let details = self.read_details(index)?;
        if !self.jobs[index].is_active() {
            return Ok(());
        }
        let Some(details) = details else {
            return self.read_full_and_decide(index, Priority::Important);
        };
        let read = self.stage_details(index, details);
        if !read.consistent || read.filter_doubted {
            log::debug!(
                "job {}: its details cannot confirm it ({}); reading its listing",
                self.jobs[index].id,
                if read.consistent {
                    "they show unfinished a subtask the status-filtered listing left out"
                } else {
                    &read.reason
                }
            );
            return self.read_full_and_decide(index, Priority::Important);
        }
        self.decide(index, read)
    }

    /// Applies the subtasks job `index`'s details hold inline as one listing of the job:
    /// a full one when they add up (each with its own ID, as many as `sub_jobs_total`
    /// says), else one that teaches states but nothing of absences. Inline subtasks of
    /// another job are not this job's.
    fn stage_details(&mut self, index: usize, details: JobDetails) -> listing::ListingRead {
        let now = self.now();
        let min_gap = self.config.poll.initial_interval;
        let job = &mut self.jobs[index];
        let own: Vec<_> = details
            .sub_jobs
            .into_iter()
            .filter(|s| s.job_id.as_deref().is_none_or(|id| id == job.id))
            .collect();
        let (mut read, conflicts) = listing::inline_listing(&own, details.sub_jobs_total);
        job.store.begin_details();
        for subtask in own {
            if subtask.id.as_deref().is_some_and(|id| !id.is_empty()) {
                job.store.stage(subtask, now);
            }
        }
        let transitions = job.store.finish(read.consistent, now, min_gap, &conflicts);
        job.known_at_details = job.store.standing().known;
        job.saw_full |= read.consistent;
        read.filter_doubted = job.store.take_filter_doubted();
        self.report(index, transitions);
        read
    }

    /// After a read of job `index`: a subtask that had left the status filter was listed
    /// unfinished, so the service does not honour the filter (in part, at least): the job
    /// is listed in full from now on, and the project-wide filtered listing not used.
    pub(super) fn note_contradictions(&mut self, index: usize) {
        let job = &mut self.jobs[index];
        if job.store.take_filter_contradicted() && job.filter_trusted {
            log::warn!(
                "job {}: a subtask missing from a status-filtered listing is still unfinished: the service does not honour the filter; reading full listings from now on",
                job.id
            );
            job.filter_trusted = false;
            self.listing.unusable = true;
        }
    }

    /// Whether job `index` waits for something only its details can tell, and they are
    /// not due: more subtasks than known (the job or the caller announced them), or the
    /// job's own status to say it ended.
    pub(super) fn awaits_details(&self, index: usize) -> bool {
        let job = &self.jobs[index];
        if job.status_reread_at.is_some_and(|at| self.now() < at) {
            return true;
        }
        let known = job.store.standing().known;
        job.expected(self.config.expect).is_some_and(|n| known < n) && !self.details_due(index)
    }

    /// Whether job `index`'s details should be read (again): never read, or more subtasks
    /// were listed since they were, or they were read long enough ago (the interval
    /// doubles with every read).
    fn details_due(&self, index: usize) -> bool {
        let job = &self.jobs[index];
        match job.details {
            Details::Unread => true,
            Details::Denied => false,
            Details::Read { reread_after } => {
                job.known_at_details < job.store.standing().known
                    || job
                        .details_read_at
                        .is_none_or(|at| self.now().saturating_duration_since(at) >= reread_after)
            }
        }
    }

    /// Whether job `index` may be decided on `read`: something is listed, every known
    /// subtask ended, no absence awaits its second look (else the next poll comes soon),
    /// and the read can be trusted (else it is read again soon).
    fn ready(&mut self, index: usize, read: &listing::ListingRead) -> bool {
        let job = &mut self.jobs[index];
        let standing = job.store.standing();
        if !job.is_active() {
            return false;
        }
        if standing.known == 0 {
            // Nothing listed: not visible yet (see `check_empty_jobs`); or listed only by
            // reads that did not add up, which count as such.
            if !read.consistent && job.store.glimpsed() {
                self.untrusted(index, read.reason.clone());
            }
            return false;
        }
        if !standing.settled() {
            if standing.missing > 0 {
                job.recheck = Some(self.config.poll.initial_interval);
            }
            job.untrusted_reads = 0;
            job.reread.reset();
            // A subtask is pending again: the job's status is not what the verdict awaits.
            job.status_reread_at = None;
            job.status_reread.reset();
            return false;
        }
        if !read.consistent {
            self.untrusted(index, read.reason.clone());
            return false;
        }
        job.untrusted_reads = 0;
        job.reread.reset();
        true
    }

    /// Decides job `index` after a full `read` of its subtasks (see the consistency rule
    /// on [`Waiter`]): finished when every known subtask is terminal, nothing awaits a
    /// second look, the read can be trusted, the job's details read for the verdict agree,
    /// and at least as many subtasks are known as expected.
    fn decide(&mut self, index: usize, read: listing::ListingRead) -> Result<(), Stop> {
        if !self.ready(index, &read) {
            return Ok(());
        }
        let job = &self.jobs[index];
        if job.details != Details::Denied && job.details_poll != Some(self.polls) {
            if self.awaits_details(index) {
                log::debug!(
                    "job {}: {} listed, all finished; its details are not due",
                    job.id,
                    plural(job.store.standing().known as u64, "subtask")
                );
                return Ok(());
            }
            // The job's details, read for this verdict, must agree: they list every
            // subtask inline (one a torn listing hid shows up there) and say how many the
            // job has.
            if let Some(details) = self.read_details(index)? {
                self.stage_details(index, details);
            }
            let consistent = listing::ListingRead {
                consistent: true,
                ..listing::ListingRead::default()
            };
            if !self.ready(index, &consistent) {
                return Ok(());
            }
        }
        let config = self.config;
        let now = self.now();
        let listening = self.listening();
        let job = &mut self.jobs[index];
        let known = job.store.standing().known;
        let expected = job.expected(config.expect).unwrap_or(1);
        let status = job.summary.as_ref().and_then(|s| s.status.clone());
        let ended = matches!(status, Some(JobStatus::Success | JobStatus::Failed));
        if status.is_some() && !ended && known >= expected {
            // Every subtask ended, yet the job says it has not: its status lags, more
            // subtasks are coming, or a listing hid one its details did not show either.
            // Wait, reading its details again on a backing-off schedule (at most the poll
            // interval apart for someone listening: their inline subtasks show a failure of
            // the next wave).
            let mut delay = job.status_reread.next_delay();
            if listening {
                delay = delay.min(config.poll.max_interval);
            }
            job.status_reread_at = Some(crate::time::add_or_far(now, delay));
            log::info!(
                "job {}: its {} ended, but the job is {}; reading it again in {}",
                job.id,
                plural(known as u64, "subtask"),
                status.as_ref().map_or("", JobStatus::as_str),
                human(delay)
            );
            return Ok(());
        }
        if known < expected {
            // Fewer subtasks listed than announced: more are coming, or, for a job that
            // says it ended, some were deleted: decide on those listed, once the caller's
            // own expectation is met.
            if !ended || config.expect.is_some_and(|n| known < n) {
                log::debug!(
                    "job {}: {known} of {} listed, all finished; waiting for the rest",
                    job.id,
                    plural(expected as u64, "subtask")
                );
                return Ok(());
            }
            log::warn!(
                "job {}: the job ended ({}) and announces {}, but the listing holds {known} (deleted?): deciding on those listed",
                job.id,
                status.as_ref().map_or("", JobStatus::as_str),
                plural(expected as u64, "subtask")
            );
        }
        let vanished = job.store.take_vanished();
        let mut counts = job.store.counts();
        if status == Some(JobStatus::Success) && counts.failed == 0 && counts.vanished > 0 {
            // The job says it succeeded, which it says only when no subtask failed: the
            // subtasks whose end was not seen (deleted once finished) succeeded.
            log::info!(
                "job {}: {} vanished before they were seen finished; the job says SUCCESS, so they succeeded",
                job.id,
                counts.vanished
            );
            counts.succeeded += counts.vanished;
            counts.vanished = 0;
        }
        // A job with failed desktops reads FAIL as a whole: its subtasks (and the rules)
        // decide. Only a failure of its own — with its own error, or none of its desktops
        // failing — is reported as the job's.
        let own_failure = job.summary.as_ref().is_some_and(|s| {
            s.failed()
                && (s.error_code.is_some()
                    || s.fail_reason.is_some()
                    || counts.failed + counts.vanished == 0)
        });
        // Decided on those listed when some were deleted: the rules judge them alone (the
        // deleted ones are not pending).
        let total = if known < expected {
            counts.total
        } else {
            expected.max(counts.total)
        };
        job.judged = Some((counts, total));
        let result = if own_failure {
            End::JobFailed
        } else {
            End::Decided(
                config
                    .rules
                    .decide(&counts, Some(total), true)
                    .unwrap_or(JobResult::Failed),
            )
        };
        self.report(index, vanished);
        self.finish_job(index, result);
        Ok(())
    }

    /// A listing that would have decided job `index` could not be trusted: read it again
    /// soon, and give up after `max_retries` such reads in a row.
    fn untrusted(&mut self, index: usize, reason: String) {
        let job = &mut self.jobs[index];
        job.untrusted_reads += 1;
        log::warn!(
            "job {}: cannot trust the listing ({reason}); reading it again",
            job.id
        );
        if job.untrusted_reads > self.config.max_retries {
            let end = End::Inconsistent {
                reads: job.untrusted_reads,
                reason,
            };
            self.finish_job(index, end);
            return;
        }
        job.untrusted_reason = reason;
        job.recheck = Some(job.reread.next_delay());
    }

    /// Reads the details of jobs whose listing shows nothing (again while it stays empty:
    /// the first look read them first), and ends those that cannot produce a subtask.
    fn check_empty_jobs(&mut self) -> Result<(), Stop> {
        for index in 0..self.jobs.len() {
            let job = &self.jobs[index];
            if !job.is_active() || job.store.standing().known > 0 {
                continue;
            }
            if job.store.glimpsed() {
                // Listed only by reads that did not add up: the job exists (a refusal of
                // its details at the first look notwithstanding), and its listings decide
                // how long they may stay inconsistent; its details, which may add up, are
                // read again on their schedule.
                let job = &mut self.jobs[index];
                if job.details_missing.take().is_some() {
                    // Refused at the first look: asked again on their schedule.
                    job.details = Details::Read {
                        reread_after: DETAILS_FIRST_REREAD,
                    };
                } else if self.details_due(index) {
                    if let Some(details) = self.read_details(index)? {
                        self.stage_details(index, details);
                    }
                }
                continue;
            }
            if let Some(error) = self.jobs[index].details_missing.take() {
                // The details refused the job at the first look, and its listing is empty.
                let end = if error.status() == Some(404) {
                    End::NotFound(error)
                } else {
                    End::Failed(error)
                };
                self.finish_job(index, end);
                continue;
            }
            if self.details_due(index) {
                if let Some(details) = self.read_details(index)? {
                    self.stage_details(index, details);
                }
            }
            let job = &self.jobs[index];
            if !job.is_active() || job.store.standing().known > 0 {
                continue;
            }
            let summary = job.summary.as_ref().filter(|_| job.listed);
            // What the details say of a job without subtasks stands once its listing was
            // read empty too.
            match summary.and_then(|s| s.status.clone()) {
                Some(JobStatus::Failed) => {
                    self.finish_job(index, End::JobFailed);
                    continue;
                }
                // A job that succeeded without a subtask, unless the caller expects some.
                Some(JobStatus::Success)
                    if summary.and_then(|s| s.sub_jobs_total) == Some(0)
                        && self.config.expect.is_none() =>
                {
                    self.finish_job(index, End::Decided(JobResult::Succeeded));
                    continue;
                }
                _ => {}
            }
            if self.elapsed() >= self.config.first_subtask_within {
                self.finish_job(index, End::NoSubtasks);
            }
        }
        Ok(())
    }

    /// Reads job `index`'s details and records what they say; returns them when they
    /// came (not for a 403, nor a 404, which ends a job never seen). Details naming
    /// another job are a glitch, retried like a malformed answer, and never this job's.
    fn read_details(&mut self, index: usize) -> Result<Option<JobDetails>, Stop> {
        let api = &self.waiter.api;
        let job_id = self.jobs[index].id.clone();
        // Details naming another job, by their `id` or by an inline subtask's `job_id`.
        let about = |details: &JobDetails| {
            let other = details
                .id
                .as_deref()
                .filter(|id| *id != job_id)
                .or_else(|| {
                    details
                        .sub_jobs
                        .iter()
                        .filter_map(|s| s.job_id.as_deref())
                        .find(|id| *id != job_id)
                })?;
            Some(format!(
                "the details asked of job {job_id} are about job {other}"
            ))
        };
        self.blame = Some(index);
        let result = self.call(
            Priority::Important,
            |timeout| api.fetch_job(&job_id, timeout),
            |fetched: &FetchedJob| fetched.bytes,
            |fetched: &FetchedJob| about(&fetched.job),
        );
        let now = self.now();
        let polls = self.polls;
        let job = &mut self.jobs[index];
        let known = job.store.standing().known;
        let result = match result {
            // A throttled account, a rejected signature, an unreachable host: the listing
            // would meet it too.
            Err(Stop::Failed(error))
                if error.is_throttled()
                    || !(error.is_retryable()
                        || matches!(error.status(), Some(400 | 403 | 404 | 405))
                        || matches!(error, Error::ResponseTooLarge { .. })) =>
            {
                return Err(Stop::Failed(error));
            }
            Err(stop @ (Stop::Cancelled | Stop::Deadline(_))) => return Err(stop),
            other => other,
        };
        self.blame = None;
        // The re-read interval doubles when its schedule asked for this read, not when a
        // verdict did.
        let reread_after = match job.details {
            Details::Read { reread_after }
                if job
                    .details_read_at
                    .is_none_or(|at| now.saturating_duration_since(at) >= reread_after) =>
            {
                reread_after.saturating_mul(2)
            }
            Details::Read { reread_after } => reread_after,
            _ => DETAILS_FIRST_REREAD,
        };
        job.details_read_at = Some(now);
        job.details_poll = Some(polls);
        job.known_at_details = known;
        match result {
            Ok(fetched) => {
                job.details = Details::Read { reread_after };
                if let Some(reason) = about(&fetched.job) {
                    log::warn!("{reason} through every retry; ignoring them");
                    return Ok(None);
                }
                job.summary = Some(JobSummary::of(&fetched.job));
                Ok(Some(fetched.job))
            }
            Err(Stop::Failed(error @ Error::ResponseTooLarge { .. })) => {
                log::warn!(
                    "job {job_id}: its details are too big to read ({error}): relying on the listing alone"
                );
                job.lose_details();
                Ok(None)
            }
            Err(Stop::Failed(error)) if error.status() == Some(403) => {
                log::warn!(
                    "job {job_id}: no permission to read the job's details (workspace:jobs:get): \
                     relying on the listing alone ({error})"
                );
                job.lose_details();
                Ok(None)
            }
            // Details that keep failing are evidence the wait can do without, as it does
            // for a caller who may not read them.
            Err(Stop::Failed(error)) if error.is_retryable() => {
                log::warn!(
                    "job {job_id}: its details keep failing ({error}): relying on the listing alone"
                );
                job.lose_details();
                Ok(None)
            }
            Err(Stop::Failed(error)) if job.first_look && error.status() != Some(403) => {
                job.details_missing = Some(error);
                Ok(None)
            }
            Err(Stop::Failed(error)) if known == 0 && job.store.glimpsed() => {
                // Listings that do not add up count subtasks of the job: it exists, and
                // its details may come (they may lag its creation).
                log::debug!(
                    "job {job_id}: its details are refused ({error}) while listings count its subtasks; reading them again in {}",
                    human(reread_after)
                );
                job.details = Details::Read { reread_after };
                Ok(None)
            }
            Err(Stop::Failed(error)) if known == 0 => {
                // Nothing listed, and the job's own details refused: its ID is wrong.
                let end = if error.status() == Some(404) {
                    End::NotFound(error)
                } else {
                    End::Failed(error)
                };
                self.finish_job(index, end);
                Ok(None)
            }
            Err(Stop::Failed(error)) => {
                log::warn!(
                    "job {job_id}: its details are refused although its subtasks are listed ({error}); \
                     relying on the listing alone"
                );
                job.lose_details();
                Ok(None)
            }
            Err(stop) => Err(stop),
        }
    }

    /// Applies the outcome rules to jobs not decided yet (early decisions only; complete
    /// jobs were decided when their listing was read). A decision ends the job, so it is
    /// taken on the job's details too: the size they announce (a rule in percent judges
    /// the whole job, not the subtasks listed so far) and the subtasks they list (one a
    /// listing glitch hid is not gone).
    fn apply_rules(&mut self) -> Result<(), Stop> {
        if !self.config.rules.early() {
            return Ok(());
        }
        for index in 0..self.jobs.len() {
            if self.early_result(index).is_none() {
                continue;
            }
            let job = &self.jobs[index];
            if job.details != Details::Denied && job.details_poll != Some(self.polls) {
                if let Some(details) = self.read_details(index)? {
                    self.stage_details(index, details);
                }
            }
            if let Some(result) = self.early_result(index) {
                self.finish_job(index, End::Decided(result));
            }
        }
        Ok(())
    }

    /// What the outcome rules decide of active job `index` before it completes.
    fn early_result(&self, index: usize) -> Option<JobResult> {
        let job = &self.jobs[index];
        if !job.is_active() {
            return None;
        }
        let counts = job.store.counts();
        self.config
            .rules
            .decide(&counts, job.expected(self.config.expect), false)
    }

    /// The sleep before the next poll: the soonest any active job needs.
    fn next_delay(&mut self, now: Instant) -> Duration {
        let config = self.config;
        let policy = timing::Policy {
            max_interval: config.poll.max_interval,
            max_predicted_interval: config.max_predicted_interval,
            predictive: config.predictive,
            listening: self.listening(),
        };
        let appear_by = crate::time::add_or_far(self.start, config.first_subtask_within);
        let longest = if policy.listening {
            policy.max_interval
        } else {
            policy.max_predicted_interval
        };
        let needs = self.jobs.iter_mut().filter(|j| j.is_active()).map(|job| {
            if let Some(soon) = job.recheck {
                timing::Need::Soon(soon)
            } else if let Some(at) = job.status_reread_at.filter(|&at| at > now) {
                // Every subtask ended: only the job's own status, in its details, is awaited.
                timing::Need::Soon(at.saturating_duration_since(now).min(longest))
            } else if job.store.standing().known == 0 {
                timing::Need::Visible {
                    by: appear_by.saturating_duration_since(now),
                }
            } else {
                timing::Need::Progress {
                    store: &job.store,
                    overdue: &mut job.overdue,
                }
            }
        });
        timing::next_delay(now, needs, &mut self.poll_schedule, &policy)
    }

    /// Calls the API once, retrying retryable errors (and answers `glitch` rejects) on
    /// their own schedules, so a failure on page 3 does not re-read pages 1 and 2.
    fn call<T>(
        &mut self,
        priority: Priority,
        mut send: impl FnMut(Option<Duration>) -> Result<T, Error>,
        bytes_of: impl Fn(&T) -> usize,
        glitch: impl Fn(&T) -> Option<String>,
    ) -> Result<T, Stop> {
        let config = self.config;
        let mut failures = 0u32;
        // Each request's retries start from the first interval; a throttle's back-off
        // carries over (it is the account's, not the request's).
        self.net.retry.reset();
        loop {
            if config.cancel.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            let now = self.now();
            if now > crate::time::add_or_far(self.deadline, PAGE_GRACE) {
                return Err(Stop::Deadline(None));
            }
            if let Some(budget) = config.budget.clone() {
                if let Err(wait) = budget.try_acquire(priority) {
                    if now.checked_add(wait).is_none_or(|at| at > self.deadline) {
                        // The pause is a throttling's, usually: name it.
                        return Err(Stop::Deadline(self.net.last_throttle.take()));
                    }
                    log::debug!(
                        "the request budget holds the next request back {}",
                        human(wait)
                    );
                    self.emit(EventKind::BudgetWait { delay: wait });
                    config.sleeper.sleep(wait, &config.cancel);
                    continue;
                }
            }
            let left = self.deadline.saturating_duration_since(now);
            let timeout = left.max(MIN_REQUEST_TIMEOUT).min(config.request_timeout);
            self.net.count = self.net.count.saturating_add(1);
            let (error, reason) = match send(Some(timeout)) {
                Ok(answer) => {
                    self.net.bytes = self.net.bytes.saturating_add(bytes_of(&answer) as u64);
                    match glitch(&answer) {
                        Some(reason) if failures < config.max_retries => (None, reason),
                        _ => {
                            self.net.retry.reset();
                            self.net.throttle_retry.reset();
                            self.net.last_throttle = None;
                            self.net.healthy = true;
                            return Ok(answer);
                        }
                    }
                }
                Err(error) => {
                    let reason = error.to_string();
                    (Some(error), reason)
                }
            };
            failures += 1;
            let error = match error {
                Some(error) if !error.is_retryable() || failures > config.max_retries => {
                    return Err(Stop::Failed(error));
                }
                other => other,
            };
            let throttled = error.as_ref().is_some_and(Error::is_throttled);
            if let (true, Some(budget)) = (throttled, &config.budget) {
                budget.on_throttled(error.as_ref().and_then(Error::retry_after));
            }
            let delay = if throttled {
                let asked = error
                    .as_ref()
                    .and_then(Error::retry_after)
                    .unwrap_or_default()
                    .min(config.throttle_retry.max_interval);
                self.net.throttle_retry.next_delay().max(asked)
            } else {
                self.net.retry.next_delay()
            };
            let now = self.now();
            if now.checked_add(delay).is_none_or(|at| at >= self.deadline) {
                return Err(Stop::Deadline(error));
            }
            log::warn!(
                "{reason}; retry {failures} of {} in {}",
                config.max_retries,
                human(delay)
            );
            let info = ErrorInfo::new(Some(reason), error.as_ref());
            self.emit(EventKind::Retrying {
                attempt: failures,
                delay,
                throttled,
                error: info,
            });
            if throttled {
                self.net.last_throttle = error;
            }
            config.sleeper.sleep(delay, &config.cancel);
        }
    }

    /// The outcome of job `index` as it stands.
    fn outcome_of(&self, index: usize) -> JobOutcome {
        let job = &self.jobs[index];
        let end_at = job.ended_at.unwrap_or_else(|| self.now());
        JobOutcome {
            job_id: job.id.clone(),
            result: job.end.as_ref().map_or(JobResult::TimedOut, End::result),
            subtasks: job.store.outcomes(),
            job: job.summary.clone(),
            error: job
                .end
                .as_ref()
                .and_then(|end| error_info(end, job, self.waiter.api.project_id())),
            elapsed: end_at.saturating_duration_since(self.start),
            polls: self.polls,
            requests: self.net.count,
            bytes: self.net.bytes,
        }
    }

    fn into_outcome(self) -> WaitOutcome {
        WaitOutcome {
            jobs: (0..self.jobs.len()).map(|i| self.outcome_of(i)).collect(),
            elapsed: self.elapsed(),
            polls: self.polls,
            requests: self.net.count,
            bytes: self.net.bytes,
            overall: self.verdict,
        }
    }

    /// The single job's outcome, or the error that ended its wait.
    fn into_single(mut self) -> Result<JobOutcome, WaitError> {
        let partial = Box::new(self.outcome_of(0));
        let project_id = self.waiter.api.project_id().to_owned();
        let end = self.jobs[0].end.take().unwrap_or(End::TimedOut(None));
        match end {
            End::Decided(_) | End::JobFailed => Ok(*partial),
            End::TimedOut(last_error) => Err(WaitError::TimedOut {
                last_error,
                partial,
            }),
            // Only `check` leaves a job pending.
            End::Pending => Err(WaitError::TimedOut {
                last_error: None,
                partial,
            }),
            End::Failed(error) => Err(WaitError::Request { error, partial }),
            // Only a wait on several jobs shares one job's error with the others.
            End::FailedElsewhere(info) => Err(WaitError::Inconsistent {
                reads: 0,
                reason: info.map(|i| i.message).unwrap_or_default(),
                partial,
            }),
            End::NotFound(_) => Err(WaitError::JobNotFound {
                project_id,
                partial,
            }),
            End::NoSubtasks => Err(WaitError::NoSubtasks {
                waited: self.config.first_subtask_within,
                partial,
            }),
            End::Inconsistent { reads, reason } => Err(WaitError::Inconsistent {
                reads,
                reason,
                partial,
            }),
            End::Cancelled => Err(WaitError::Cancelled { partial }),
        }
    }
}

/// What the outcome says of the error that ended job `job`.
fn error_info(end: &End, job: &JobRun, project_id: &str) -> Option<ErrorInfo> {
    match end {
        End::Decided(_) | End::Cancelled | End::Pending => None,
        End::JobFailed => {
            let summary = job.summary.as_ref();
            Some(ErrorInfo::new(
                Some(format!(
                    "job {} failed as a whole: {} {}",
                    job.id,
                    summary
                        .and_then(|s| s.error_code.as_deref())
                        .unwrap_or("(no job_error_code)"),
                    summary
                        .and_then(|s| s.fail_reason.as_deref())
                        .unwrap_or("(no fail_reason)")
                )),
                None,
            ))
        }
        End::TimedOut(Some(error)) => Some(ErrorInfo::new(None, Some(error))),
        // Every listed subtask ended: the wait was for the job's own word.
        End::TimedOut(None) => {
            let counts = job.store.counts();
            (counts.total > 0 && counts.pending() == 0 && job.summary.is_some()).then(|| {
                ErrorInfo::new(
                    Some(format!(
                        "job {}: every listed subtask ended, but not the job{}",
                        job.id,
                        job_status_text(job.summary.as_ref())
                    )),
                    None,
                )
            })
        }
        End::Failed(error) => Some(ErrorInfo::new(None, Some(error))),
        End::FailedElsewhere(info) => info.clone(),
        End::NotFound(error) => Some(ErrorInfo::new(
            Some(format!(
                "job {} was not found in project {project_id}: check the job ID and the project ID: {error}",
                job.id
            )),
            Some(error),
        )),
        End::NoSubtasks => Some(ErrorInfo::new(
            Some(format!(
                "job {}: no subtask was listed in time{}",
                job.id,
                job_status_text(job.summary.as_ref())
            )),
            None,
        )),
        End::Inconsistent { reads, reason } => Some(ErrorInfo::new(
            Some(format!(
                "job {}: the service's listings stayed inconsistent after {} ({reason})",
                job.id,
                plural(*reads, "read")
            )),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_stay_small() {
        // A wait's result moves through every caller's `?`: the outcome is boxed.
        assert!(
            std::mem::size_of::<WaitError>() <= 96,
            "{}",
            std::mem::size_of::<WaitError>()
        );
    }
}
