//! The waiter: poll a job until every subtask is terminal.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::outcome::{JobOutcome, Observer};
use crate::query::{SubtaskQuery, MAX_LIMIT};
use crate::schedule::{random_seed, BackoffPolicy, Schedule};
use crate::source::{for_each_page, FetchedPage, JobsApi};
use crate::time::{Cancellation, Clock, Sleeper, SystemClock, ThreadSleeper};
use crate::track::{ListingKind, Prediction, Tracker, Verdict, CHEAP_FILTER};

/// Default deadline of a wait.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60 * 60);
/// Default poll schedule: 5 s, doubling, capped at 30 s, ±10 % jitter.
pub const DEFAULT_POLL: BackoffPolicy =
    BackoffPolicy::new(Duration::from_secs(5), 2.0, Duration::from_secs(30), 0.1);
/// Default retry schedule after a 5xx, a timeout or a dropped connection.
pub const DEFAULT_RETRY: BackoffPolicy =
    BackoffPolicy::new(Duration::from_secs(1), 2.0, Duration::from_secs(16), 0.2);
/// Default retry schedule after a 429: the gateway's budgets span minutes.
pub const DEFAULT_THROTTLE_RETRY: BackoffPolicy =
    BackoffPolicy::new(Duration::from_secs(5), 2.0, Duration::from_secs(60), 0.2);
/// Default number of retries of one request (so 9 attempts) before giving up.
pub const DEFAULT_MAX_RETRIES: u32 = 8;
/// Default longest sleep when progress predicts a distant end.
pub const DEFAULT_MAX_PREDICTED_INTERVAL: Duration = Duration::from_secs(300);
/// Default timeout of one request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Within this of the predicted end, sleep until just past it.
const NEAR_END: Duration = Duration::from_secs(15);
/// How far past a predicted end to poll: finished subtasks need a moment to be listed.
const SETTLE: Duration = Duration::from_secs(1);
/// Farther from the predicted end, sleep this fraction of the time left, so a wrong
/// prediction is corrected by the next poll rather than paid for in lag.
const APPROACH: f64 = 0.6;
/// The shortest sleep a prediction may ask for.
const MIN_PREDICTED: Duration = Duration::from_secs(1);
/// The shortest sleep after a predicted end that passed unfinished.
const MIN_OVERDUE: Duration = Duration::from_secs(2);
/// Once well past a predicted end: 4 s, doubling, up to `max_interval`.
const OVERDUE_FIRST: Duration = Duration::from_secs(4);
/// A request is given at least this long even at the deadline, so the final poll can
/// complete.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a wait ended without a complete outcome. Each variant carries what was known.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The deadline passed with subtasks still pending.
    #[error("timed out after {elapsed:?} ({polls} polls) with {} of {} subtasks pending", .partial.counts().pending(), .partial.counts().total)]
    TimedOut {
        /// Time waited.
        elapsed: Duration,
        /// Polls made.
        polls: u32,
        /// The last error, when retrying it would have passed the deadline.
        last_error: Option<Error>,
        /// Every subtask's last seen state.
        partial: Box<JobOutcome>,
    },
    /// A request failed permanently (400/401/403/404, …) or kept failing past the retry
    /// limit.
    #[error("polling job {} failed after {} requests", .partial.job_id, .partial.requests)]
    Request {
        /// The error that ended the wait.
        #[source]
        error: Error,
        /// Every subtask's last seen state.
        partial: Box<JobOutcome>,
    },
    /// [`Cancellation::cancel`] was called.
    #[error("cancelled after {:?} with {} of {} subtasks pending", .partial.elapsed, .partial.counts().pending(), .partial.counts().total)]
    Cancelled {
        /// Every subtask's last seen state.
        partial: Box<JobOutcome>,
    },
    /// The job ID is not valid; no request was made.
    #[error(transparent)]
    InvalidInput(Error),
}

impl WaitError {
    /// What was known when the wait ended, if it started.
    pub fn partial(&self) -> Option<&JobOutcome> {
        match self {
            Self::TimedOut { partial, .. }
            | Self::Request { partial, .. }
            | Self::Cancelled { partial } => Some(partial),
            Self::InvalidInput(_) => None,
        }
    }

    /// The request error that ended the wait (or preceded a timeout).
    pub fn error(&self) -> Option<&Error> {
        match self {
            Self::Request { error, .. } | Self::InvalidInput(error) => Some(error),
            Self::TimedOut { last_error, .. } => last_error.as_ref(),
            Self::Cancelled { .. } => None,
        }
    }
}

/// Waits for every subtask of a job to finish.
///
/// Built with [`Waiter::builder`] over a [`Client`](crate::Client) or any
/// [`JobsApi`]. See [`WaiterBuilder`] for the polling strategy and its defaults.
///
/// ```
/// # #[cfg(feature = "simulator")] {
/// use std::time::Duration;
/// use wks_waiter::simulator::{Scenario, TimelineSpec, VirtualSource};
/// use wks_waiter::{Waiter, test_util::{virtual_time}};
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
///     .max_wait(Duration::from_secs(3600))
///     .build()?;
///
/// let outcome = waiter.wait("job-1")?;
/// assert!(outcome.is_complete() && !outcome.is_success());
/// assert_eq!(outcome.counts().succeeded, 18);
/// for failure in outcome.failures() {
///     println!("{:?}: {:?} {:?}", failure.desktop_name, failure.error_code, failure.fail_reason);
/// }
/// assert!(outcome.requests < 20, "a few requests for a 15-minute job");
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Waiter<S> {
    source: S,
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
    fail_fast: bool,
    page_size: u32,
    request_timeout: Duration,
    seed: u64,
}

/// Why a poll cycle stopped the wait.
enum Stop {
    Cancelled,
    Deadline(Option<Error>),
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(error: Error) -> Self {
        Self::Failed(error)
    }
}

impl<S: JobsApi> Waiter<S> {
    /// Starts configuring a waiter that reads pages from `source`.
    pub fn builder(source: S) -> WaiterBuilder<S> {
        WaiterBuilder::new(source)
    }

    /// A handle that cancels this waiter's waits from any thread. A sleeping waiter wakes
    /// at once and returns [`WaitError::Cancelled`]; cancellation is permanent.
    pub fn cancellation(&self) -> Cancellation {
        self.config.cancel.clone()
    }

    /// Waits until every subtask of `job_id` is `SUCCESS` or `FAILED`.
    ///
    /// A failed desktop does not end the wait unless [`fail_fast`](WaiterBuilder::fail_fast)
    /// is set: the outcome says which failed and why; check
    /// [`JobOutcome::is_success`].
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`], [`WaitError::Request`] or [`WaitError::Cancelled`], each
    /// with the partial outcome; [`WaitError::InvalidInput`] for a malformed job ID.
    pub fn wait(&self, job_id: &str) -> Result<JobOutcome, WaitError> {
        self.run(job_id, &mut (), false)
    }

    /// Like [`wait`](Self::wait), reporting progress to `observer`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_observed(
        &self,
        job_id: &str,
        observer: &mut dyn Observer,
    ) -> Result<JobOutcome, WaitError> {
        self.run(job_id, observer, true)
    }

    /// The polling loop. `observed` is false when nobody reads progress, which spares
    /// copying the subtasks that changed.
    fn run(
        &self,
        job_id: &str,
        observer: &mut dyn Observer,
        observed: bool,
    ) -> Result<JobOutcome, WaitError> {
        let query = SubtaskQuery::builder()
            .job_id(job_id)
            .limit(self.config.page_size)
            .build()
            .map_err(WaitError::InvalidInput)?;
        let mut run = Run::new(&self.config, job_id);
        loop {
            let verdict = match self.poll(&mut run, &query, observer) {
                Ok(verdict) => verdict,
                Err(stop) => return Err(run.stopped(stop)),
            };
            run.polls += 1;
            log::debug!(
                "job {job_id}: poll {} found {:?} after {} requests",
                run.polls,
                run.tracker.counts(),
                run.net.count
            );
            if observed {
                let progress = run
                    .tracker
                    .take_progress(run.polls, run.elapsed(), run.net.count);
                observer.on_poll(&progress);
            } else {
                run.tracker.skip_progress();
            }
            if verdict == Verdict::Done || (self.config.fail_fast && run.tracker.has_failure()) {
                return Ok(run.outcome());
            }
            let now = self.config.clock.now();
            if now >= run.net.deadline {
                return Err(run.stopped(Stop::Deadline(None)));
            }
            let delay = run.next_delay(now).min(run.net.deadline - now);
            observer.on_sleep(delay);
            self.config.sleeper.sleep(delay, &self.config.cancel);
            if self.config.cancel.is_cancelled() {
                return Err(run.stopped(Stop::Cancelled));
            }
        }
    }

    /// One poll cycle: the cheaper listing, and a full one to confirm when the cheap one
    /// shows nothing unfinished.
    fn poll(
        &self,
        run: &mut Run,
        query: &SubtaskQuery,
        observer: &mut dyn Observer,
    ) -> Result<Verdict, Stop> {
        let mut listing = run.tracker.next_listing(self.config.status_filter);
        loop {
            let query = match listing {
                ListingKind::Full => query.clone(),
                ListingKind::Unfinished => query.with_statuses(CHEAP_FILTER.to_vec()),
            };
            // Pages go into the tracker as they arrive, so a poll of a big job never holds
            // the whole listing beside the tracked state.
            run.tracker.begin(listing);
            let clock = &self.config.clock;
            let stats = for_each_page(
                &query,
                |q| self.fetch(&mut run.net, q, observer),
                |offset, jobs| run.tracker.add_page(offset, jobs, clock.now()),
            )?;
            if stats.pages > 1 {
                run.tracker.note_page_size(stats.largest_page);
            }
            match run.tracker.finish(stats.total_count) {
                Verdict::Confirm => listing = ListingKind::Full,
                verdict => return Ok(verdict),
            }
        }
    }

    /// Fetches one page, retrying retryable errors on their own schedule so a failure on
    /// page 3 does not re-read pages 1 and 2.
    fn fetch(
        &self,
        net: &mut Requests,
        query: &SubtaskQuery,
        observer: &mut dyn Observer,
    ) -> Result<FetchedPage, Stop> {
        let config = &self.config;
        let mut failures = 0;
        loop {
            if config.cancel.is_cancelled() {
                return Err(Stop::Cancelled);
            }
            let left = net.deadline.saturating_duration_since(config.clock.now());
            let timeout = left.max(MIN_REQUEST_TIMEOUT).min(config.request_timeout);
            net.count += 1;
            let error = match self.source.fetch_page(query, Some(timeout)) {
                Ok(page) => {
                    net.bytes += page.bytes as u64;
                    net.retry.reset();
                    net.throttle_retry.reset();
                    return Ok(page);
                }
                Err(error) => error,
            };
            failures += 1;
            if !error.is_retryable() || failures > config.max_retries {
                return Err(Stop::Failed(error));
            }
            let delay = if error.is_throttled() {
                net.throttle_retry
                    .next_delay()
                    .max(error.retry_after().unwrap_or_default())
            } else {
                net.retry.next_delay()
            };
            if config.clock.now() + delay >= net.deadline {
                return Err(Stop::Deadline(Some(error)));
            }
            log::warn!(
                "job {}: {error}; retry {failures} of {} in {delay:?}",
                net.job_id,
                config.max_retries
            );
            observer.on_retry(&error, delay);
            config.sleeper.sleep(delay, &config.cancel);
        }
    }
}

/// The state of one wait.
struct Run<'c> {
    config: &'c Config,
    start: Instant,
    tracker: Tracker,
    poll_schedule: Schedule,
    overdue_schedule: Schedule,
    polls: u32,
    net: Requests,
}

/// What requests need and count, apart from the tracker so pages can flow into it while
/// they are fetched.
struct Requests {
    job_id: String,
    deadline: Instant,
    count: u32,
    bytes: u64,
    retry: Schedule,
    throttle_retry: Schedule,
}

impl<'c> Run<'c> {
    fn new(config: &'c Config, job_id: &str) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        job_id.hash(&mut hasher);
        let seed = config.seed ^ hasher.finish();
        let clock = &config.clock;
        let start = clock.now();
        let overdue = BackoffPolicy::new(
            OVERDUE_FIRST,
            2.0,
            config.poll.max_interval.max(OVERDUE_FIRST),
            0.0,
        );
        Self {
            config,
            start,
            tracker: Tracker::new(job_id, config.expect, config.page_size as usize),
            poll_schedule: Schedule::new(&config.poll, clock.clone(), seed),
            overdue_schedule: Schedule::new(&overdue, clock.clone(), 0),
            polls: 0,
            net: Requests {
                job_id: job_id.to_owned(),
                deadline: start + config.max_wait,
                count: 0,
                bytes: 0,
                retry: Schedule::new(&config.retry, clock.clone(), seed.rotate_left(17)),
                throttle_retry: Schedule::new(
                    &config.throttle_retry,
                    clock.clone(),
                    seed.rotate_left(31),
                ),
            },
        }
    }

    fn elapsed(&self) -> Duration {
        self.config
            .clock
            .now()
            .saturating_duration_since(self.start)
    }

    /// The sleep before the next poll. With a prediction of the end from `process`, close
    /// in on it geometrically and poll just after it; without one, follow the backoff.
    fn next_delay(&mut self, now: Instant) -> Duration {
        let config = self.config;
        let prediction = config
            .predictive
            .then(|| self.tracker.predicted_end())
            .flatten();
        let Some(Prediction { end, step }) = prediction else {
            return self.poll_schedule.next_delay();
        };
        let left = end.saturating_duration_since(now);
        if left.is_zero() {
            // The earliest end has passed. Progress reported in steps leaves the true end
            // uncertain by about one step's time: poll a few times across that, then back
            // off in case the last subtask has stalled.
            let late = now.saturating_duration_since(end);
            if late <= step * 2 {
                // Not `clamp`: a poll cap below MIN_OVERDUE is valid and wins.
                return (step / 3).max(MIN_OVERDUE).min(config.poll.max_interval);
            }
            return self.overdue_schedule.next_delay();
        }
        self.overdue_schedule.reset();
        // A failure can come at any time; fail-fast callers want it within a normal poll.
        let longest = if config.fail_fast {
            config.poll.max_interval
        } else {
            config.max_predicted_interval
        };
        let delay = if left <= NEAR_END {
            left + SETTLE
        } else {
            left.mul_f64(APPROACH)
        };
        delay.clamp(MIN_PREDICTED, longest.max(MIN_PREDICTED))
    }

    fn outcome(self) -> JobOutcome {
        JobOutcome {
            elapsed: self.elapsed(),
            job_id: self.net.job_id,
            subtasks: self.tracker.into_subtasks(),
            polls: self.polls,
            requests: self.net.count,
            bytes: self.net.bytes,
        }
    }

    fn stopped(self, stop: Stop) -> WaitError {
        let polls = self.polls;
        let partial = Box::new(self.outcome());
        match stop {
            Stop::Cancelled => WaitError::Cancelled { partial },
            Stop::Failed(error) => WaitError::Request { error, partial },
            Stop::Deadline(error) => WaitError::TimedOut {
                elapsed: partial.elapsed,
                polls,
                last_error: error,
                partial,
            },
        }
    }
}

/// Configures a [`Waiter`].
///
/// # Default
///
/// | setting | default |
/// |---|---|
/// | [`max_wait`](Self::max_wait) | 60 min |
/// | [`poll`](Self::poll) | 5 s, ×2, capped at 30 s, ±10 % jitter |
/// | [`predictive`](Self::predictive) | on, sleeping at most 5 min |
/// | [`status_filter`](Self::status_filter) | on |
/// | [`retry`](Self::retry) (5xx, timeouts, resets) | 1 s, ×2, capped at 16 s, ±20 % |
/// | [`throttle_retry`](Self::throttle_retry) (429) | 5 s, ×2, capped at 60 s, ±20 %, at least `Retry-After` |
/// | [`max_retries`](Self::max_retries) | 8 retries of one request (9 failed attempts end the wait) |
/// | [`request_timeout`](Self::request_timeout) | 30 s, capped by the time left (at least 5 s) |
/// | [`page_size`](Self::page_size) | 1000 |
/// | [`expect_subtasks`](Self::expect_subtasks) | 1 |
/// | [`fail_fast`](Self::fail_fast) | off |
/// | clock, sleeper | the system's |
#[derive(Debug)]
pub struct WaiterBuilder<S> {
    source: S,
    config: Config,
}

impl<S: JobsApi> WaiterBuilder<S> {
    fn new(source: S) -> Self {
        Self {
            source,
            config: Config {
                clock: Arc::new(SystemClock),
                sleeper: Arc::new(ThreadSleeper),
                cancel: Cancellation::new(),
                max_wait: DEFAULT_MAX_WAIT,
                poll: DEFAULT_POLL,
                retry: DEFAULT_RETRY,
                throttle_retry: DEFAULT_THROTTLE_RETRY,
                max_retries: DEFAULT_MAX_RETRIES,
                predictive: true,
                max_predicted_interval: DEFAULT_MAX_PREDICTED_INTERVAL,
                status_filter: true,
                expect: None,
                fail_fast: false,
                page_size: MAX_LIMIT,
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                seed: random_seed(),
            },
        }
    }

    /// The deadline. The waiter never sleeps past it and polls once more at it; a request
    /// in flight may finish up to one request timeout later.
    ///
    /// Defaults to 60 minutes.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.config.max_wait = max_wait;
        self
    }

    /// The schedule between polls while there is no prediction of the end.
    ///
    /// Defaults to [`DEFAULT_POLL`]: 5 s, ×2, capped at 30 s, ±10 %.
    pub fn poll(mut self, policy: BackoffPolicy) -> Self {
        self.config.poll = policy;
        self
    }

    /// Whether to predict the end of the job from each subtask's `process` and sleep
    /// toward it (up to `max_interval`, at most 5 minutes by default) instead of
    /// following the backoff alone. Saves most requests on jobs that report progress.
    ///
    /// Defaults to on, with 5 minutes as the longest predicted sleep.
    pub fn predictive(mut self, enabled: bool, max_interval: Duration) -> Self {
        self.config.predictive = enabled;
        self.config.max_predicted_interval = max_interval;
        self
    }

    /// Whether to poll with `status=WAITING&status=RUNNING&status=FAILED` once the job's
    /// size is known and that reads fewer pages, confirming with one full listing at the
    /// end. Falls back to full listings if the service ignores the filter.
    ///
    /// Defaults to on.
    pub fn status_filter(mut self, enabled: bool) -> Self {
        self.config.status_filter = enabled;
        self
    }

    /// The retry schedule after a 5xx, a timeout, a dropped connection or a truncated body.
    ///
    /// Defaults to [`DEFAULT_RETRY`]: 1 s, ×2, capped at 16 s, ±20 %.
    pub fn retry(mut self, policy: BackoffPolicy) -> Self {
        self.config.retry = policy;
        self
    }

    /// The retry schedule after a 429; a `Retry-After` header lengthens a delay, never
    /// shortens it.
    ///
    /// Defaults to [`DEFAULT_THROTTLE_RETRY`]: 5 s, ×2, capped at 60 s, ±20 %.
    pub fn throttle_retry(mut self, policy: BackoffPolicy) -> Self {
        self.config.throttle_retry = policy;
        self
    }

    /// How many times one request is retried after retryable failures; the next failure
    /// ends the wait with the last error (so `n + 1` failed attempts in a row).
    /// Authentication and other permanent errors end it at once.
    ///
    /// Defaults to 8.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.config.max_retries = retries;
        self
    }

    /// The timeout of one request, further capped by the time left before the deadline
    /// (but never below 5 s, so the poll at the deadline can complete).
    ///
    /// Defaults to 30 seconds.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Keep waiting until at least `n` subtasks are listed: right after a job is created
    /// its subtasks may not all be visible.
    ///
    /// Defaults to 1: an empty listing never counts as done.
    pub fn expect_subtasks(mut self, n: usize) -> Self {
        self.config.expect = Some(n);
        self
    }

    /// Return at the first failed subtask instead of waiting for the rest.
    ///
    /// Defaults to off.
    pub fn fail_fast(mut self, enabled: bool) -> Self {
        self.config.fail_fast = enabled;
        self
    }

    /// Page size asked for, `1..=1000`.
    ///
    /// Defaults to 1000.
    pub fn page_size(mut self, size: u32) -> Self {
        self.config.page_size = size;
        self
    }

    /// The clock (tests inject a [`ManualClock`](crate::test_util::ManualClock)).
    ///
    /// Defaults to the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.clock = clock;
        self
    }

    /// The sleeper (tests inject a [`ManualSleeper`](crate::test_util::ManualSleeper)).
    ///
    /// Defaults to sleeping the thread, woken by cancellation.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.config.sleeper = sleeper;
        self
    }

    /// Shares a cancellation flag, for example one flag for several waiters.
    ///
    /// Defaults to a new flag per waiter (see [`Waiter::cancellation`]).
    pub fn cancellation(mut self, cancel: Cancellation) -> Self {
        self.config.cancel = cancel;
        self
    }

    /// Fixes the jitter seed, for reproducible schedules.
    ///
    /// Defaults to a random seed.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the bad value: a zero `max_wait` or
    /// `request_timeout`, an invalid backoff policy, `expect_subtasks(0)`, or a page size
    /// outside `1..=1000`.
    pub fn build(self) -> Result<Waiter<S>, Error> {
        let config = &self.config;
        for (field, value) in [
            ("max_wait", config.max_wait),
            ("request_timeout", config.request_timeout),
            ("predictive max_interval", config.max_predicted_interval),
        ] {
            if value.is_zero() {
                return Err(Error::invalid(field, "0s", "must be greater than zero"));
            }
        }
        config.poll.validate("poll")?;
        config.retry.validate("retry")?;
        config.throttle_retry.validate("throttle_retry")?;
        if config.expect == Some(0) {
            return Err(Error::invalid("expect_subtasks", 0, "must be at least 1"));
        }
        if !(1..=MAX_LIMIT).contains(&config.page_size) {
            return Err(Error::invalid(
                "page_size",
                config.page_size,
                &format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(Waiter {
            source: self.source,
            config: self.config,
        })
    }
}
