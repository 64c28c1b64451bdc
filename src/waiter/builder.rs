//! Configuring a waiter.

use std::sync::Arc;
use std::time::Duration;

use super::error::human;
use super::rules::{Limit, Rules};
use super::{
    Config, Waiter, DEFAULT_FIRST_SUBTASK_WITHIN, DEFAULT_MAX_PREDICTED_INTERVAL,
    DEFAULT_MAX_RETRIES, DEFAULT_MAX_WAIT, DEFAULT_POLL, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY,
    DEFAULT_THROTTLE_RETRY, MAX_REQUEST_TIMEOUT,
};
use crate::budget::RateBudget;
use crate::error::Error;
use crate::query::MAX_LIMIT;
use crate::schedule::BackoffPolicy;
use crate::source::JobsApi;
use crate::time::{Cancellation, Clock, Sleeper, SystemClock, ThreadSleeper};

/// Configures a [`Waiter`].
///
/// # Default
///
/// | setting | default |
/// |---|---|
/// | [`max_wait`](Self::max_wait) | 60 min |
/// | [`poll`](Self::poll) | 5 s, ×2, capped at 30 s, ±10 % jitter |
/// | [`predictive`](Self::predictive) | on |
/// | [`max_predicted_interval`](Self::max_predicted_interval) | 5 min |
/// | [`status_filter`](Self::status_filter) | on |
/// | [`retry`](Self::retry) (5xx, timeouts, resets, glitches) | 1 s, ×2, capped at 16 s, ±20 % |
/// | [`throttle_retry`](Self::throttle_retry) (429) | 5 s, ×2, capped at 60 s, ±20 %, at least `Retry-After` (capped at 60 s) |
/// | [`max_retries`](Self::max_retries) | 8 retries of one request (9 failed attempts end the wait) |
/// | [`request_timeout`](Self::request_timeout) | 30 s, capped by the time left (at least 5 s) |
/// | [`page_size`](Self::page_size) | 1000 |
/// | [`expect_subtasks`](Self::expect_subtasks) | the job's `sub_jobs_total`, else 1 |
/// | [`first_subtask_within`](Self::first_subtask_within) | 5 min |
/// | [`fail_fast`](Self::fail_fast), [`max_failures`](Self::max_failures), [`min_succeeded`](Self::min_succeeded) | none: wait for every subtask |
/// | [`overall_max_failures`](Self::overall_max_failures), [`overall_min_succeeded`](Self::overall_min_succeeded) | none: a wait on several jobs succeeds when every job does |
/// | [`timely_events`](Self::timely_events) | on: an observer hears of each end within `poll.max_interval` |
/// | clock, sleeper | the system's |
#[derive(Debug)]
#[must_use = "a builder does nothing until `build()`"]
pub struct WaiterBuilder<A> {
    api: A,
    config: Config,
}

impl<A: JobsApi> WaiterBuilder<A> {
    pub(super) fn new(api: A) -> Self {
        Self {
            api,
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
                rules: Rules::default(),
                overall: Rules::default(),
                page_size: MAX_LIMIT,
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                first_subtask_within: DEFAULT_FIRST_SUBTASK_WITHIN,
                seed: None,
                budget: None,
                timely_events: true,
            },
        }
    }

    /// The deadline. The waiter never sleeps past it and polls once more at it; a request
    /// in flight may finish up to one request timeout later. [`Duration::MAX`] means no
    /// deadline.
    ///
    /// Defaults to 60 minutes.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.config.max_wait = max_wait;
        self
    }

    /// The schedule between polls while there is no prediction of the end; its
    /// `max_interval` also bounds every sleep once a predicted end has passed, and every
    /// sleep while someone listens.
    ///
    /// Defaults to [`DEFAULT_POLL`]: 5 s, ×2, capped at 30 s, ±10 %.
    pub fn poll(mut self, policy: BackoffPolicy) -> Self {
        self.config.poll = policy;
        self
    }

    /// Whether to predict the end of the job from each subtask's `process` and sleep
    /// toward it instead of following the backoff alone. Saves most requests on jobs that
    /// report progress; see [`max_predicted_interval`](Self::max_predicted_interval).
    ///
    /// Defaults to on.
    pub fn predictive(mut self, enabled: bool) -> Self {
        self.config.predictive = enabled;
        self
    }

    /// The longest sleep toward a distant predicted end (when nobody listens).
    ///
    /// Defaults to 5 minutes.
    pub fn max_predicted_interval(mut self, longest: Duration) -> Self {
        self.config.max_predicted_interval = longest;
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

    /// The retry schedule after a 5xx, a timeout, a dropped connection, a truncated or
    /// malformed body, or an empty listing of a job whose subtasks were seen.
    ///
    /// Defaults to [`DEFAULT_RETRY`]: 1 s, ×2, capped at 16 s, ±20 %.
    pub fn retry(mut self, policy: BackoffPolicy) -> Self {
        self.config.retry = policy;
        self
    }

    /// The retry schedule after a 429; a `Retry-After` header lengthens a delay (up to the
    /// policy's `max_interval`), never shortens it.
    ///
    /// Defaults to [`DEFAULT_THROTTLE_RETRY`]: 5 s, ×2, capped at 60 s, ±20 %.
    pub fn throttle_retry(mut self, policy: BackoffPolicy) -> Self {
        self.config.throttle_retry = policy;
        self
    }

    /// How many times one request is retried after retryable failures; the next failure
    /// ends the wait with the last error (so `n + 1` failed attempts in a row). Also how
    /// many untrusted listings in a row end a wait with [`WaitError::Inconsistent`](super::WaitError::Inconsistent).
    /// Authentication and other permanent errors end it at once.
    ///
    /// Defaults to 8.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.config.max_retries = retries;
        self
    }

    /// The timeout of one request, further capped by the time left before the deadline
    /// (but never below 5 s, so the poll at the deadline can complete). At most 1 hour.
    ///
    /// Defaults to 30 seconds.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Keep waiting until at least `n` subtasks are listed: right after a job is created
    /// its subtasks may not all be visible, and some jobs create them in waves.
    ///
    /// Defaults to the job's own `sub_jobs_total` (read from its details before the
    /// verdict), or 1 when the details cannot be read: an empty listing is never done.
    pub fn expect_subtasks(mut self, n: usize) -> Self {
        self.config.expect = Some(n);
        self
    }

    /// Return at the first failed subtask instead of waiting for the rest: the same as
    /// [`max_failures`](Self::max_failures)`(Limit::Count(0))`.
    ///
    /// Defaults to off.
    pub fn fail_fast(mut self, enabled: bool) -> Self {
        self.config.rules.max_failures = enabled.then_some(Limit::Count(0));
        self
    }

    /// Decide failure as soon as more than `limit` subtasks of a job failed (or vanished),
    /// and success once every subtask is terminal with at most `limit` failures. With a
    /// limit set the waiter polls at least every `poll.max_interval`.
    ///
    /// Defaults to none: success means every subtask succeeded.
    pub fn max_failures(mut self, limit: Limit) -> Self {
        self.config.rules.max_failures = Some(limit);
        self
    }

    /// Decide success as soon as at least `limit` subtasks of a job succeeded (and
    /// [`max_failures`](Self::max_failures), if set, can no longer be exceeded); failure
    /// as soon as that can no longer happen. The wait may end with subtasks pending.
    ///
    /// Defaults to none.
    pub fn min_succeeded(mut self, limit: Limit) -> Self {
        self.config.rules.min_succeeded = Some(limit);
        self
    }

    /// In a wait on several jobs ([`wait_all`](Waiter::wait_all),
    /// [`wait_all_with`](Waiter::wait_all_with), [`check`](Waiter::check),
    /// [`check_with`](Waiter::check_with)): the wait fails as soon as more than `limit`
    /// subtasks failed (or vanished) over every job together, and succeeds with at most
    /// `limit` once every job has its verdict. A percentage is of the jobs' sizes summed,
    /// each as known: [`expect_subtasks`](Self::expect_subtasks) or the `sub_jobs_total`
    /// the job announces, else (once it ended) the subtasks listed.
    ///
    /// Per-job rules ([`max_failures`](Self::max_failures) and the like, or by default
    /// "every subtask succeeded") still decide each job's own result; the overall rules
    /// decide the wait's ([`WaitOutcome::result`](crate::WaitOutcome::result), with the
    /// rule in [`WaitOutcome::overall`](crate::WaitOutcome::overall)), whatever the jobs'
    /// own results, and may end the wait early: the jobs still under way then end
    /// [`Pending`](crate::JobResult::Pending), without a verdict of their own. Before every
    /// job ended, a decision that depends on the sizes is taken only when every job's size
    /// is known; without them only what no later subtask can undo decides (more failures
    /// than a count allows). [`wait`](Waiter::wait) on one job ignores the overall rules.
    ///
    /// Defaults to none: the wait succeeds when every job succeeds.
    pub fn overall_max_failures(mut self, limit: Limit) -> Self {
        self.config.overall.max_failures = Some(limit);
        self
    }

    /// In a wait on several jobs: the wait succeeds as soon as at least `limit` subtasks
    /// succeeded over every job together (and
    /// [`overall_max_failures`](Self::overall_max_failures), if set, can no longer be
    /// exceeded), and fails as soon as that can no longer happen. The wait may end with
    /// jobs under way, which then end [`Pending`](crate::JobResult::Pending). A percentage
    /// is of the jobs' sizes summed, as for
    /// [`overall_max_failures`](Self::overall_max_failures), which says how the overall
    /// rules and the per-job rules work together.
    ///
    /// Defaults to none.
    pub fn overall_min_succeeded(mut self, limit: Limit) -> Self {
        self.config.overall.min_succeeded = Some(limit);
        self
    }

    /// How long a job may show no subtask before its wait ends with
    /// [`WaitError::NoSubtasks`](crate::WaitError::NoSubtasks) (subtasks of a new job appear within seconds; a job
    /// that shows none for minutes was mistyped, or failed before creating any).
    ///
    /// Defaults to 5 minutes.
    pub fn first_subtask_within(mut self, within: Duration) -> Self {
        self.config.first_subtask_within = within;
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

    /// A request budget to stay within, shared with every clone (and across processes when
    /// the budget says so): the waiter asks it before every request, sleeps while it says
    /// wait, and tells it of every 429. Routine polls wait first; the next page of a
    /// listing under way and the confirmation of a finished job go before them.
    ///
    /// Defaults to the API's own budget ([`JobsApi::rate_budget`]), if it has one, else none.
    pub fn rate_budget(mut self, budget: RateBudget) -> Self {
        self.config.budget = Some(budget);
        self
    }

    /// Whether an observer ([`Waiter::wait_with`] and the like) gets each subtask's end
    /// within `poll.max_interval` (30 s by default) of its happening: sleeps are capped at
    /// that, and listings are read in full rather than status-filtered (the filter hides
    /// successes until a final confirmation). Off, the observer hears of everything the
    /// waiter learns, when it learns it, at the economy of a plain wait — right for a
    /// progress display.
    ///
    /// Defaults to on.
    pub fn timely_events(mut self, enabled: bool) -> Self {
        self.config.timely_events = enabled;
        self
    }

    /// Fixes the jitter seed, for schedules that are the same on every run and every
    /// toolchain.
    ///
    /// Defaults to a random seed.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the bad value: a zero `max_wait`,
    /// `request_timeout`, `max_predicted_interval` or `first_subtask_within`, a
    /// `request_timeout` over 1 hour, an invalid backoff policy, `expect_subtasks(0)`, a
    /// percentage outside 0–100 %, or a page size outside `1..=1000`.
    pub fn build(self) -> Result<Waiter<A>, Error> {
        let config = &self.config;
        for (field, value) in [
            ("max_wait", config.max_wait),
            ("request_timeout", config.request_timeout),
            ("max_predicted_interval", config.max_predicted_interval),
            ("first_subtask_within", config.first_subtask_within),
        ] {
            if value.is_zero() {
                return Err(Error::invalid(field, "0s", "must be greater than zero"));
            }
        }
        if config.request_timeout > MAX_REQUEST_TIMEOUT {
            return Err(Error::invalid(
                "request_timeout",
                human(config.request_timeout),
                "must be at most 1h",
            ));
        }
        config.poll.validate("poll")?;
        config.retry.validate("retry")?;
        config.throttle_retry.validate("throttle_retry")?;
        if config.expect == Some(0) {
            return Err(Error::invalid("expect_subtasks", 0, "must be at least 1"));
        }
        if let Some(limit) = config.rules.max_failures {
            limit.validate("max_failures")?;
        }
        if let Some(limit) = config.rules.min_succeeded {
            limit.validate("min_succeeded")?;
        }
        if let Some(limit) = config.overall.max_failures {
            limit.validate("overall_max_failures")?;
        }
        if let Some(limit) = config.overall.min_succeeded {
            limit.validate("overall_min_succeeded")?;
        }
        if !(1..=MAX_LIMIT).contains(&config.page_size) {
            return Err(Error::invalid(
                "page_size",
                config.page_size,
                &format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let mut config = self.config;
        if config.budget.is_none() {
            config.budget = self.api.rate_budget().cloned();
        }
        Ok(Waiter {
            api: self.api,
            config,
        })
    }
}
