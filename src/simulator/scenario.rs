//! What the simulated service knows: jobs, their subtasks, and how each subtask's state
//! moves through virtual time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::progress::{ProgressShape, ENDLESS_RUN};
use super::DEFAULT_PROJECT_ID;
use crate::model::Subtask;
use crate::schedule::SplitMix64;
use crate::signing::format_sdk_date;

/// The product every simulated desktop is created with.
const PRODUCT_ID: &str = "workspace.x86.ultimate.large2";

/// The job type generated jobs have.
const CREATE_DESKTOPS: &str = "createDesktops";

/// How a subtask ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `SUCCESS`, process 100.
    Success,
    /// `FAILED`, with the service's reason.
    Failed {
        /// `error_code`, e.g. `WKS.0120`.
        error_code: String,
        /// `fail_reason`, e.g. `insufficient capacity in availability zone`.
        fail_reason: String,
    },
}

impl Outcome {
    /// A [`Outcome::Failed`].
    pub fn failed(error_code: &str, fail_reason: &str) -> Self {
        Self::Failed {
            error_code: error_code.to_owned(),
            fail_reason: fail_reason.to_owned(),
        }
    }
}

/// The timeline of one subtask (one desktop). Times are virtual, from the start of the
/// simulation.
///
/// Start from [`DesktopPlan::new`] (or `Default`) and set what matters:
///
/// ```
/// use std::time::Duration;
/// use wks_waiter::simulator::{DesktopPlan, Outcome, ProgressShape};
///
/// // Planned to run 10 minutes, front-loaded, but failing after 3 with `process` at 90+.
/// let desktop = DesktopPlan {
///     end_at: Some(Duration::from_secs(180)),
///     nominal_end: Some(Duration::from_secs(600)),
///     progress: ProgressShape::FrontLoaded { percent: 90, within: 10 },
///     outcome: Outcome::failed("WKS.0120", "insufficient capacity"),
///     ..DesktopPlan::new(1)
/// };
/// assert_eq!(desktop.desktop_name, "desktop-0001");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopPlan {
    /// Subtask ID.
    pub subtask_id: String,
    /// Desktop ID (`entities.desktop_id`).
    pub desktop_id: String,
    /// Desktop name (`entities.desktop_name`).
    pub desktop_name: String,
    /// The desktop's user (`entities.user_name`).
    pub user_name: String,
    /// Not listed before this: the service lists a new job's subtasks with a delay. Give
    /// the desktops of one job different `visible_at` for subtasks that appear in waves.
    pub visible_at: Duration,
    /// `WAITING` before this, `RUNNING` from here, `process` following [`progress`](Self::progress).
    pub start_at: Duration,
    /// Terminal from here; `None`: never finishes.
    pub end_at: Option<Duration>,
    /// How it ends.
    pub outcome: Outcome,
    /// Reported instead of `RUNNING` while running when set, e.g. `PAUSED`: a status the
    /// client does not know.
    pub running_status: Option<String>,
    /// Listed no more from here, as when a user deletes finished subtasks (a subtask
    /// deleted before it ends vanishes while running).
    pub deleted_at: Option<Duration>,
    /// The curve `process` follows while running.
    pub progress: ProgressShape,
    /// When the progress curve would reach 100: a desktop that fails (at `end_at`) before
    /// it reports `process` wherever its curve had got to. `None`: at `end_at`.
    pub nominal_end: Option<Duration>,
}

impl DesktopPlan {
    /// Desktop number `number` (from 1): subtask `sub-0001`, desktop `desk-id-0001` named
    /// `desktop-0001` for `user-0001`, visible and running from 0, never ending, succeeding,
    /// linear progress.
    pub fn new(number: usize) -> Self {
        Self {
            subtask_id: format!("sub-{number:04}"),
            desktop_id: format!("desk-id-{number:04}"),
            desktop_name: format!("desktop-{number:04}"),
            user_name: format!("user-{number:04}"),
            visible_at: Duration::ZERO,
            start_at: Duration::ZERO,
            end_at: None,
            outcome: Outcome::Success,
            running_status: None,
            deleted_at: None,
            progress: ProgressShape::Linear,
            nominal_end: None,
        }
    }
}

impl Default for DesktopPlan {
    /// [`DesktopPlan::new(1)`](DesktopPlan::new).
    fn default() -> Self {
        Self::new(1)
    }
}

/// What a subtask looks like at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State<'a> {
    pub status: &'a str,
    /// `None`: the service sends no `process`.
    pub process: Option<u32>,
    /// Virtual time it started, once it has.
    pub began: Option<Duration>,
    /// Virtual time it ended, once it has.
    pub ended: Option<Duration>,
    /// `error_code` and `fail_reason` of a failed subtask.
    pub error: Option<(&'a str, &'a str)>,
}

impl DesktopPlan {
    fn is_listed_at(&self, at: Duration) -> bool {
        at >= self.visible_at && self.deleted_at.is_none_or(|deleted| at < deleted)
    }

    /// The state at `at`, whether listed or not, ignoring any job-level failure.
    pub(super) fn state_at(&self, at: Duration) -> State<'_> {
        if at < self.start_at {
            return State {
                status: "WAITING",
                process: self.progress.process_at(Duration::ZERO, self.run()),
                began: None,
                ended: None,
                error: None,
            };
        }
        match self.end_at {
            Some(end) if at >= end => match &self.outcome {
                Outcome::Success => State {
                    status: "SUCCESS",
                    process: (self.progress != ProgressShape::Absent).then_some(100),
                    began: Some(self.start_at),
                    ended: Some(end),
                    error: None,
                },
                Outcome::Failed {
                    error_code,
                    fail_reason,
                } => self.failed_at(end, error_code, fail_reason),
            },
            _ => State {
                status: self.running_status.as_deref().unwrap_or("RUNNING"),
                process: self.running_process(at),
                began: Some(self.start_at),
                ended: None,
                error: None,
            },
        }
    }

    /// `FAILED` at `end`, keeping the progress it had reached: its value a second before.
    fn failed_at<'a>(&'a self, end: Duration, code: &'a str, reason: &'a str) -> State<'a> {
        let began = (end >= self.start_at).then_some(self.start_at);
        let process = if began.is_some() {
            self.running_process(end.saturating_sub(Duration::from_secs(1)))
        } else {
            self.progress.process_at(Duration::ZERO, self.run())
        };
        State {
            status: "FAILED",
            process,
            began,
            ended: Some(end),
            error: Some((code, reason)),
        }
    }

    /// How long the progress curve takes: to `nominal_end`, else `end_at`, else 100 minutes.
    fn run(&self) -> Duration {
        match self.nominal_end.or(self.end_at) {
            Some(end) => end.saturating_sub(self.start_at),
            None => ENDLESS_RUN,
        }
    }

    /// The curve's value at `at`, capped at 99 so only success reads 100.
    fn running_process(&self, at: Duration) -> Option<u32> {
        self.progress
            .process_at(at.saturating_sub(self.start_at), self.run())
    }
}

/// A job that fails as a whole at a time, as the job-details API reports with
/// `job_error_code` and `fail_reason`.
///
/// From [`at`](Self::at) the job reads `FAIL`; its subtasks that would have become visible
/// at or after `at` are never created (never listed, not counted in `sub_jobs_total`); its
/// listed subtasks still unfinished at `at` end `FAILED` at `at` with the job's code and
/// reason. A failure at or before the first `visible_at` is a job that failed before any
/// subtask existed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// When it fails (virtual time).
    pub at: Duration,
    /// `job_error_code`, e.g. `WKS.0206`.
    pub error_code: String,
    /// `fail_reason`.
    pub fail_reason: String,
}

impl JobFailure {
    /// A job failing at `at` with `error_code` and `fail_reason`.
    pub fn new(at: Duration, error_code: &str, fail_reason: &str) -> Self {
        Self {
            at,
            error_code: error_code.to_owned(),
            fail_reason: fail_reason.to_owned(),
        }
    }
}

/// One job and its subtasks, in creation order.
///
/// The job-details API (`GET /v2/{project_id}/workspace-jobs/{job_id}`) answers for it
/// from [`created_at`](Self::created_at) (404 before, as for any unknown ID) with:
///
/// - `status`: `FAIL` from a job-level [`failure`](Self::failure); otherwise `RUNNING`
///   until every subtask is terminal or deleted, then `SUCCESS`, or `FAIL` if any subtask
///   failed
///   (then without `job_error_code`: only a job-level failure sets it);
/// - `sub_jobs_total`: every subtask of the job, listed yet or not (wave members still to
///   come included); after a job-level failure, only those created before it;
/// - `sub_jobs`: the subtasks listed at that time, as the listing renders them;
/// - `begin_time` at `created_at`, `end_time` once terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPlan {
    /// Job ID.
    pub job_id: String,
    /// Job type, e.g. `createDesktops`.
    pub job_type: String,
    /// The subtasks.
    pub desktops: Vec<DesktopPlan>,
    /// When the job was submitted: it is unknown (404) before, and none of its subtasks is
    /// listed before.
    pub created_at: Duration,
    /// A failure of the job as a whole.
    pub failure: Option<JobFailure>,
    /// The desktop pool the job works on, matched by the listing's `desktop_pool_id` filter.
    pub desktop_pool_id: Option<String>,
}

impl JobPlan {
    /// A `createDesktops` job `job_id` of `desktops`, created at 0, not failing as a whole,
    /// in no desktop pool.
    pub fn new(job_id: &str, desktops: Vec<DesktopPlan>) -> Self {
        Self {
            job_id: job_id.to_owned(),
            job_type: CREATE_DESKTOPS.to_owned(),
            desktops,
            created_at: Duration::ZERO,
            failure: None,
            desktop_pool_id: None,
        }
    }
}

impl Default for JobPlan {
    /// [`JobPlan::new("job-1", vec![])`](JobPlan::new).
    fn default() -> Self {
        Self::new("job-1", Vec::new())
    }
}

/// A generator of realistic jobs; see [`JobPlan::generate`] and, for the shapes of real
/// jobs, [`TimelineSpec::catalog`].
///
/// Fields are public; start from [`TimelineSpec::new`] and override what matters. Times
/// count from [`created_at`](Self::created_at) (0 by default: virtual zero).
///
/// ```
/// use std::time::Duration;
/// use wks_waiter::simulator::{JobPlan, ProgressShape, TimelineSpec};
///
/// let spec = TimelineSpec {
///     failures: 2,
///     visible_after: Duration::from_secs(5),
///     progress: ProgressShape::SCurve { steepness: 10 },
///     ..TimelineSpec::new(10)
/// };
/// let job = JobPlan::generate("job-1", &spec);
/// assert_eq!(job.desktops.len(), 10);
/// assert!(job.last_end().unwrap() <= Duration::from_secs(120));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineSpec {
    /// Number of subtasks.
    pub desktops: usize,
    /// How many of them fail (at most `desktops`).
    pub failures: usize,
    /// Every subtask is invisible before this.
    pub visible_after: Duration,
    /// Each subtask starts at its visibility plus a uniform delay in `[0, start_within)`.
    pub start_within: Duration,
    /// Each subtask ends at a uniform time in this window, and never before it starts.
    pub finish_between: (Duration, Duration),
    /// Seeds every random choice: the same spec and job ID give the same plan.
    pub seed: u64,
    /// The job type. Defaults to `createDesktops`.
    pub job_type: String,
    /// When the job is created; every other time of the spec counts from here. Defaults
    /// to 0.
    pub created_at: Duration,
    /// The subtasks appear in this many batches (contiguous in creation order, as even as
    /// can be); batch `k` has every time shifted by `k × wave_every`. Defaults to 1; 0
    /// reads as 1.
    pub waves: usize,
    /// The time between two waves. Defaults to 60 s.
    pub wave_every: Duration,
    /// The progress curve of every subtask. Defaults to [`ProgressShape::Linear`].
    pub progress: ProgressShape,
    /// When set, each failing subtask fails at a uniform time in this window (never before
    /// it starts nor after its drawn end), its `process` wherever its curve had got to:
    /// early or mid-job failures. `None` (the default): failing subtasks fail at their end.
    pub failures_between: Option<(Duration, Duration)>,
    /// A failure of the whole job (its `at` counts from `created_at`). Defaults to none.
    pub job_failure: Option<JobFailure>,
    /// The desktop pool of the job. Defaults to none.
    pub desktop_pool_id: Option<String>,
}

impl TimelineSpec {
    /// `desktops` subtasks, none failing, visible at once, starting within 10 s, finishing
    /// between 60 s and 120 s, seed 1, one wave, linear progress.
    pub fn new(desktops: usize) -> Self {
        Self {
            desktops,
            failures: 0,
            visible_after: Duration::ZERO,
            start_within: Duration::from_secs(10),
            finish_between: (Duration::from_secs(60), Duration::from_secs(120)),
            seed: 1,
            job_type: CREATE_DESKTOPS.to_owned(),
            created_at: Duration::ZERO,
            waves: 1,
            wave_every: Duration::from_secs(60),
            progress: ProgressShape::Linear,
            failures_between: None,
            job_failure: None,
            desktop_pool_id: None,
        }
    }

    /// The timelines issue 11 measured the waiter on, named, each drawn from `seed`: every
    /// [`ProgressShape`] on 50 desktops finishing in 5–15 minutes (`front-loaded`,
    /// `plateau-99`, `s-curve`, `reset-70-10`, `no-process`, …), and
    ///
    /// - `accelerating-10-20m`, `accelerating-40-60m`: `process` ∝ t², 20 desktops;
    /// - `stall-5m`: 20 desktops stalling 5 minutes at 40 %, finishing in 10–20 minutes;
    /// - `steps-10`, `steps-25`: coarse steps, 200 desktops;
    /// - `very-short`: 5 desktops done within a minute;
    /// - `long-2h`: 1,000 desktops finishing between 100 and 120 minutes;
    /// - `early-failures`: 5 of 50 desktops failing in the first 3 minutes of a 10–20
    ///   minute job; `mid-job-failures`: 5 of 50 failing at 5–8 minutes of 10–15;
    /// - `waves`: 60 desktops in 3 waves 3 minutes apart;
    /// - `job-failure`: a job failing as a whole at 4 minutes, before its second wave.
    ///
    /// Fields are public: change any parameter before generating.
    ///
    /// ```
    /// use wks_waiter::simulator::{Scenario, TimelineSpec};
    ///
    /// for (name, spec) in TimelineSpec::catalog(7) {
    ///     let scenario = Scenario::generate("job-1", &spec);
    ///     assert_eq!(scenario.jobs[0].desktops.len(), spec.desktops, "{name}");
    /// }
    /// ```
    pub fn catalog(seed: u64) -> Vec<(&'static str, TimelineSpec)> {
        let mins = |m: u64| Duration::from_secs(m * 60);
        let base = TimelineSpec {
            finish_between: (mins(5), mins(15)),
            start_within: Duration::from_secs(20),
            seed,
            ..TimelineSpec::new(50)
        };
        let mut catalog: Vec<(&'static str, TimelineSpec)> = ProgressShape::named()
            .into_iter()
            .filter(|(name, _)| !matches!(*name, "accelerating" | "stall-5m"))
            .map(|(name, progress)| {
                let desktops = if name.starts_with("steps") { 200 } else { 50 };
                (
                    name,
                    TimelineSpec {
                        desktops,
                        progress,
                        ..base.clone()
                    },
                )
            })
            .collect();
        for (name, window) in [
            ("accelerating-10-20m", (mins(10), mins(20))),
            ("accelerating-40-60m", (mins(40), mins(60))),
        ] {
            catalog.push((
                name,
                TimelineSpec {
                    desktops: 20,
                    finish_between: window,
                    progress: ProgressShape::Accelerating { power: 2 },
                    ..base.clone()
                },
            ));
        }
        catalog.extend([
            (
                "stall-5m",
                TimelineSpec {
                    desktops: 20,
                    finish_between: (mins(10), mins(20)),
                    progress: ProgressShape::Stall {
                        at: 40,
                        duration: mins(5),
                    },
                    ..base.clone()
                },
            ),
            (
                "very-short",
                TimelineSpec {
                    desktops: 5,
                    start_within: Duration::from_secs(5),
                    finish_between: (Duration::from_secs(20), Duration::from_secs(50)),
                    ..base.clone()
                },
            ),
            (
                "long-2h",
                TimelineSpec {
                    desktops: 1000,
                    start_within: mins(5),
                    finish_between: (mins(100), mins(120)),
                    ..base.clone()
                },
            ),
            (
                "early-failures",
                TimelineSpec {
                    failures: 5,
                    finish_between: (mins(10), mins(20)),
                    failures_between: Some((mins(1), mins(3))),
                    ..base.clone()
                },
            ),
            (
                "mid-job-failures",
                TimelineSpec {
                    failures: 5,
                    finish_between: (mins(10), mins(15)),
                    failures_between: Some((mins(5), mins(8))),
                    ..base.clone()
                },
            ),
            (
                "waves",
                TimelineSpec {
                    desktops: 60,
                    waves: 3,
                    wave_every: mins(3),
                    ..base.clone()
                },
            ),
            (
                "job-failure",
                TimelineSpec {
                    desktops: 40,
                    waves: 2,
                    wave_every: mins(5),
                    job_failure: Some(JobFailure::new(
                        mins(4),
                        "WKS.0206",
                        "the desktop pool quota is exhausted",
                    )),
                    ..base
                },
            ),
        ]);
        catalog
    }
}

impl JobPlan {
    /// Generates a job as `spec` describes: desktops named `desktop-0001`…, users
    /// `user-0001`…, UUID-like IDs, and `spec.failures` of them (chosen by the seed)
    /// failing with realistic codes and reasons.
    ///
    /// The job ID is mixed into the seed, so two jobs of one scenario never share subtask
    /// IDs.
    pub fn generate(job_id: &str, spec: &TimelineSpec) -> JobPlan {
        let mut rng = SplitMix64(spec.seed ^ fnv1a(job_id.as_bytes()));
        // Draws added after the first release come from a second stream, so a spec that
        // does not use them generates exactly the plans it always did.
        let mut extra = SplitMix64(spec.seed ^ fnv1a(job_id.as_bytes()) ^ 0x9e3d_2f1b_7a5c_4e01);
        let count = spec.desktops;
        let mut failing = vec![false; count];
        // A partial Fisher-Yates shuffle picks exactly `failures` distinct desktops.
        let mut order: Vec<usize> = (0..count).collect();
        for k in 0..spec.failures.min(count) {
            let pick = k + rng.below((count - k) as u64) as usize;
            order.swap(k, pick);
            failing[order[k]] = true;
        }
        let ordered = |(a, b): (Duration, Duration)| if a <= b { (a, b) } else { (b, a) };
        let (early, late) = ordered(spec.finish_between);
        let waves = spec.waves.max(1);
        let desktops = failing
            .iter()
            .enumerate()
            .map(|(i, &fails)| {
                let number = i + 1;
                let user_name = format!("user-{number:04}");
                let wave = i * waves / count.max(1);
                let shift = spec
                    .created_at
                    .saturating_add(spec.wave_every.saturating_mul(wave as u32));
                let visible_at = shift.saturating_add(spec.visible_after);
                let start_at =
                    visible_at.saturating_add(uniform_below(&mut rng, spec.start_within));
                let end_at = shift
                    .saturating_add(
                        early.saturating_add(uniform_below(&mut rng, late.saturating_sub(early))),
                    )
                    .max(start_at);
                let outcome = if fails {
                    failure(rng.below(FAILURE_KINDS), &user_name)
                } else {
                    Outcome::Success
                };
                let (end_at, nominal_end) = match (fails, spec.failures_between) {
                    (true, Some(window)) => {
                        let (from, to) = ordered(window);
                        let fail_at =
                            shift
                                .saturating_add(from.saturating_add(uniform_below(
                                    &mut extra,
                                    to.saturating_sub(from),
                                )))
                                .clamp(start_at, end_at);
                        (fail_at, Some(end_at).filter(|end| *end != fail_at))
                    }
                    _ => (end_at, None),
                };
                DesktopPlan {
                    subtask_id: uuid_like(&mut rng),
                    desktop_id: uuid_like(&mut rng),
                    desktop_name: format!("desktop-{number:04}"),
                    user_name,
                    visible_at,
                    start_at,
                    end_at: Some(end_at),
                    outcome,
                    running_status: None,
                    deleted_at: None,
                    progress: spec.progress.clone(),
                    nominal_end,
                }
            })
            .collect();
        JobPlan {
            job_id: job_id.to_owned(),
            job_type: spec.job_type.clone(),
            desktops,
            created_at: spec.created_at,
            failure: spec.job_failure.as_ref().map(|failure| JobFailure {
                at: spec.created_at.saturating_add(failure.at),
                ..failure.clone()
            }),
            desktop_pool_id: spec.desktop_pool_id.clone(),
        }
    }

    /// When the last subtask ends: `None` if one never does, zero for a job without
    /// subtasks. A job-level failure ends every subtask still running at its time.
    pub fn last_end(&self) -> Option<Duration> {
        if let Some(failure) = &self.failure {
            let ends = self
                .desktops
                .iter()
                .filter(|d| self.creates(d))
                .map(|d| d.end_at.map_or(failure.at, |end| end.min(failure.at)));
            return Some(ends.fold(Duration::ZERO, Duration::max));
        }
        self.desktops
            .iter()
            .try_fold(Duration::ZERO, |last, desktop| {
                Some(last.max(desktop.end_at?))
            })
    }

    /// Whether `desktop` is ever created: a job-level failure prevents the subtasks that
    /// were not visible yet.
    pub(super) fn creates(&self, desktop: &DesktopPlan) -> bool {
        self.failure
            .as_ref()
            .is_none_or(|failure| desktop.visible_at < failure.at)
    }

    /// Whether `desktop` (one of this job's) is listed at `at`.
    pub(super) fn lists(&self, desktop: &DesktopPlan, at: Duration) -> bool {
        at >= self.created_at && self.creates(desktop) && desktop.is_listed_at(at)
    }

    /// The state of `desktop` (one of this job's) at `at`, job-level failure included.
    pub(super) fn state_of<'a>(&'a self, desktop: &'a DesktopPlan, at: Duration) -> State<'a> {
        let state = desktop.state_at(at);
        match &self.failure {
            Some(failure)
                if at >= failure.at && desktop.end_at.is_none_or(|end| end > failure.at) =>
            {
                desktop.failed_at(failure.at, &failure.error_code, &failure.fail_reason)
            }
            _ => state,
        }
    }

    /// The job-level view at `at` over `desktops` (the plan's and any inserted since):
    /// status, end time and job error, and `sub_jobs_total`.
    pub(super) fn summary<'a>(
        &'a self,
        desktops: impl Iterator<Item = &'a DesktopPlan>,
        at: Duration,
    ) -> JobSummary<'a> {
        if let Some(failure) = self.failure.as_ref().filter(|f| at >= f.at) {
            let total = desktops.filter(|d| self.creates(d)).count();
            return JobSummary {
                status: "FAIL",
                ended: Some(failure.at),
                error: Some(failure),
                sub_jobs_total: total,
            };
        }
        let mut total = 0;
        let mut finished = Some(self.created_at);
        let mut any_failed = false;
        for desktop in desktops {
            total += 1;
            let state = self.state_of(desktop, at);
            any_failed |= state.status == "FAILED";
            // A deleted subtask is no longer the job's work, whatever its state.
            let deleted = desktop.deleted_at.filter(|&deleted| at >= deleted);
            let ended = state.ended.or(deleted);
            finished = finished.zip(ended).map(|(a, b)| a.max(b));
        }
        let status = match (finished, any_failed) {
            (None, _) => "RUNNING",
            (Some(_), false) => "SUCCESS",
            (Some(_), true) => "FAIL",
        };
        JobSummary {
            status,
            ended: finished,
            error: None,
            sub_jobs_total: total,
        }
    }
}

/// A job as the job-details API sums it up at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JobSummary<'a> {
    pub status: &'static str,
    pub ended: Option<Duration>,
    pub error: Option<&'a JobFailure>,
    pub sub_jobs_total: usize,
}

/// How many distinct failure reasons [`failure`] knows.
const FAILURE_KINDS: u64 = 4;

/// Failure codes and reasons in the style of the Workspace service.
fn failure(kind: u64, user_name: &str) -> Outcome {
    let (code, reason) = match kind {
        0 => (
            "WKS.0120",
            "insufficient capacity in availability zone cn-north-4a".to_owned(),
        ),
        1 => (
            "WKS.0209",
            format!("user {user_name} already has a desktop"),
        ),
        2 => (
            "WKS.0151",
            "no IP address left in subnet 192.168.0.0/24".to_owned(),
        ),
        _ => (
            "WKS.0181",
            "the image is not available in this region".to_owned(),
        ),
    };
    Outcome::Failed {
        error_code: code.to_owned(),
        fail_reason: reason,
    }
}

/// Uniform in `[0, bound)` at millisecond resolution; zero when `bound` is under 1 ms.
fn uniform_below(rng: &mut SplitMix64, bound: Duration) -> Duration {
    let millis = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.below(millis))
}

/// A random version-4 UUID in the usual 8-4-4-4-12 form.
fn uuid_like(rng: &mut SplitMix64) -> String {
    let (high, low) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        (low >> 48) & 0x3fff | 0x8000,
        low & 0xffff_ffff_ffff
    )
}

/// FNV-1a: a stable hash of the job ID to mix into the seed (std's hashers may change).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Everything the simulated service holds, and how it pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The jobs, in creation order.
    pub jobs: Vec<JobPlan>,
    /// The most subtasks one page holds, whatever `limit` asks: real services cap pages
    /// below the documented maximum. Defaults to 1000.
    pub page_cap: usize,
    /// Serve every status whatever the `status` filter says, to test clients that check
    /// the filter was applied. Defaults to `false`.
    pub ignore_status_filter: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}

/// Where and when a listing is rendered: the project and the wall time of virtual zero.
#[derive(Debug, Clone, Copy)]
pub(super) struct Render<'a> {
    pub project_id: &'a str,
    pub wall_zero: SystemTime,
}

impl Render<'_> {
    /// What [`Scenario::snapshot`] uses: the default project, virtual zero at
    /// 2026-01-01T00:00:00Z (the wall time of [`ManualClock::at_2026`](crate::test_util::ManualClock::at_2026)).
    pub(super) fn standalone() -> Render<'static> {
        Render {
            project_id: DEFAULT_PROJECT_ID,
            wall_zero: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        }
    }

    /// `YYYY-MM-DD hh:mm:ss`, as the service writes times.
    pub(super) fn wall_time(&self, at: Duration) -> String {
        // Saturates at the last second of year 9999 rather than overflowing.
        let last = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        let sdk = format_sdk_date(self.wall_zero.checked_add(at).unwrap_or(last).min(last));
        // `YYYYMMDDTHHMMSSZ` rearranged; the signer already owns the calendar arithmetic.
        match (sdk.get(0..4), sdk.get(4..6), sdk.get(6..8)) {
            (Some(y), Some(mo), Some(d)) if sdk.len() == 16 => {
                format!(
                    "{y}-{mo}-{d} {}:{}:{}",
                    &sdk[9..11],
                    &sdk[11..13],
                    &sdk[13..15]
                )
            }
            _ => sdk,
        }
    }
}

/// One listed subtask at one instant, with the plan it comes from.
#[derive(Debug, Clone)]
pub(super) struct Listed<'a> {
    pub job: &'a JobPlan,
    pub desktop: &'a DesktopPlan,
    /// Position in its job, for the derived host address.
    pub position: usize,
    pub state: State<'a>,
}

impl Listed<'_> {
    /// The subtask as the service writes it: `end_time` is `""` until it ends.
    pub(super) fn to_json(&self, render: &Render<'_>) -> Value {
        let time = |at: Option<Duration>| at.map(|t| render.wall_time(t)).unwrap_or_default();
        let mut value = json!({
            "id": self.desktop.subtask_id,
            "job_id": self.job.job_id,
            "job_type": self.job.job_type,
            "project_id": render.project_id,
            "status": self.state.status,
            "entities": {
                "desktop_id": self.desktop.desktop_id,
                "desktop_name": self.desktop.desktop_name,
                "user_name": self.desktop.user_name,
                "product_id": PRODUCT_ID,
            },
            "begin_time": time(self.state.began),
            "end_time": time(self.state.ended),
            "host": format!("10.10.{}.{}", self.position / 250 % 250, self.position % 250 + 2),
        });
        if let Some(process) = self.state.process {
            value["process"] = json!(process);
        }
        if let Some((error_code, fail_reason)) = self.state.error {
            value["error_code"] = json!(error_code);
            value["fail_reason"] = json!(fail_reason);
        }
        value
    }
}

impl Scenario {
    /// No jobs; pages of up to 1000; the status filter honoured.
    pub fn new() -> Self {
        Self {
            jobs: Vec::new(),
            page_cap: 1000,
            ignore_status_filter: false,
        }
    }

    /// Adds a job.
    pub fn job(mut self, job: JobPlan) -> Self {
        self.jobs.push(job);
        self
    }

    /// One generated job of `n` desktops, with [`TimelineSpec::new`]'s defaults: all
    /// succeed between 60 s and 120 s.
    pub fn desktops(job_id: &str, n: usize) -> Self {
        Self::generate(job_id, &TimelineSpec::new(n))
    }

    /// One job generated from `spec`.
    pub fn generate(job_id: &str, spec: &TimelineSpec) -> Self {
        Self::new().job(JobPlan::generate(job_id, spec))
    }

    /// Adds `count` jobs generated from `spec`, `{id_prefix}-1` to `{id_prefix}-{count}`,
    /// job `k` (from 0) created `k × every` after `spec.created_at` with seed
    /// `spec.seed + k`: batches of desktops started over time, or other users' jobs that
    /// share the project's listing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wks_waiter::simulator::{Scenario, TimelineSpec};
    ///
    /// // 20 jobs of 50 desktops started over 10 minutes, beside 5 jobs of someone else's
    /// // that mostly fail.
    /// let scenario = Scenario::new()
    ///     .many("batch", 20, Duration::from_secs(30), &TimelineSpec::new(50))
    ///     .many("other", 5, Duration::ZERO, &TimelineSpec { failures: 40, ..TimelineSpec::new(50) });
    /// assert_eq!(scenario.jobs.len(), 25);
    /// assert_eq!(scenario.jobs[19].job_id, "batch-20");
    /// assert_eq!(scenario.jobs[19].created_at, Duration::from_secs(570));
    /// ```
    pub fn many(
        mut self,
        id_prefix: &str,
        count: usize,
        every: Duration,
        spec: &TimelineSpec,
    ) -> Self {
        for k in 0..count {
            let spec = TimelineSpec {
                created_at: spec
                    .created_at
                    .saturating_add(every.saturating_mul(u32::try_from(k).unwrap_or(u32::MAX))),
                seed: spec.seed.wrapping_add(k as u64),
                ..spec.clone()
            };
            self.jobs
                .push(JobPlan::generate(&format!("{id_prefix}-{}", k + 1), &spec));
        }
        self
    }

    /// One job of `n` desktops, all `RUNNING` from the start, forever.
    pub fn never_finishing(job_id: &str, n: usize) -> Self {
        let spec = TimelineSpec {
            start_within: Duration::ZERO,
            ..TimelineSpec::new(n)
        };
        let mut job = JobPlan::generate(job_id, &spec);
        for desktop in &mut job.desktops {
            desktop.end_at = None;
        }
        Self::new().job(job)
    }

    /// The most subtasks one page holds, whatever `limit` asks.
    ///
    /// Defaults to 1000. A cap of 0 serves only empty pages.
    pub fn page_cap(mut self, cap: usize) -> Self {
        self.page_cap = cap;
        self
    }

    /// Whether to ignore the `status` filter.
    ///
    /// Defaults to `false`.
    pub fn ignore_status_filter(mut self, yes: bool) -> Self {
        self.ignore_status_filter = yes;
        self
    }

    /// The subtasks of `job_id` (or of every job if `None`) listed at virtual time `at`, in
    /// creation order, as the API would list them.
    ///
    /// Times are written as if virtual zero were 2026-01-01T00:00:00Z and the project were
    /// [`DEFAULT_PROJECT_ID`]; a running [`Simulator`](super::Simulator) uses its own clock's
    /// wall time and project instead.
    pub fn snapshot(&self, job_id: Option<&str>, at: Duration) -> Vec<Subtask> {
        let render = Render::standalone();
        self.listed_at(at)
            .filter(|listed| job_id.is_none_or(|id| listed.job.job_id == id))
            .map(|listed| {
                serde_json::from_value(listed.to_json(&render))
                    .expect("a subtask the simulator renders always decodes")
            })
            .collect()
    }

    /// Every subtask listed at `at`, in creation order.
    pub(super) fn listed_at(&self, at: Duration) -> impl Iterator<Item = Listed<'_>> {
        self.jobs.iter().flat_map(move |job| {
            job.desktops
                .iter()
                .enumerate()
                .filter(move |(_, desktop)| job.lists(desktop, at))
                .map(move |(position, desktop)| Listed {
                    job,
                    desktop,
                    position,
                    state: job.state_of(desktop, at),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SubtaskStatus;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn plan(start: u64, end: Option<u64>, outcome: Outcome) -> DesktopPlan {
        DesktopPlan {
            subtask_id: "s-1".into(),
            desktop_id: "d-1".into(),
            desktop_name: "desktop-0001".into(),
            user_name: "user-0001".into(),
            visible_at: secs(5),
            start_at: secs(start),
            end_at: end.map(secs),
            outcome,
            running_status: None,
            deleted_at: None,
            progress: ProgressShape::Linear,
            nominal_end: None,
        }
    }

    fn one(desktop: DesktopPlan) -> Scenario {
        Scenario::new().job(JobPlan::new("job-1", vec![desktop]))
    }

    #[test]
    fn a_subtask_waits_runs_and_succeeds() {
        let scenario = one(plan(10, Some(110), Outcome::Success));
        assert!(
            scenario.snapshot(None, secs(4)).is_empty(),
            "not visible yet"
        );
        let waiting = &scenario.snapshot(Some("job-1"), secs(5))[0];
        assert_eq!(waiting.status, Some(SubtaskStatus::Waiting));
        assert_eq!(
            (waiting.process, waiting.begin_time.as_deref()),
            (Some(0), None)
        );
        let running = &scenario.snapshot(None, secs(45))[0];
        assert_eq!(running.status, Some(SubtaskStatus::Running));
        assert_eq!(running.process, Some(35));
        assert_eq!(running.begin_time.as_deref(), Some("2026-01-01 00:00:10"));
        assert_eq!(running.end_time, None);
        let almost =
            &scenario.snapshot(None, secs(110).saturating_sub(Duration::from_millis(1)))[0];
        assert_eq!(almost.process, Some(99));
        let done = &scenario.snapshot(None, secs(110))[0];
        assert_eq!(done.status, Some(SubtaskStatus::Success));
        assert_eq!(done.process, Some(100));
        assert_eq!(done.end_time.as_deref(), Some("2026-01-01 00:01:50"));
        assert_eq!(done.error_code, None);
        assert_eq!(done.desktop_name(), Some("desktop-0001"));
        assert_eq!(done.user_name(), Some("user-0001"));
        assert_eq!(done.project_id.as_deref(), Some(DEFAULT_PROJECT_ID));
        assert_eq!(
            done.entities.as_ref().unwrap().product_id.as_deref(),
            Some(PRODUCT_ID)
        );
        assert!(scenario.snapshot(Some("other-job"), secs(110)).is_empty());
    }

    #[test]
    fn a_failure_keeps_its_last_progress_and_reason() {
        let scenario = one(plan(
            0,
            Some(60),
            Outcome::Failed {
                error_code: "WKS.0120".into(),
                fail_reason: "insufficient capacity in availability zone".into(),
            },
        ));
        let failed = &scenario.snapshot(None, secs(61))[0];
        assert_eq!(failed.status, Some(SubtaskStatus::Failed));
        assert_eq!(failed.process, Some(98));
        assert_eq!(failed.error_code.as_deref(), Some("WKS.0120"));
        assert!(failed.fail_reason.as_deref().unwrap().contains("capacity"));
        let running = &scenario.snapshot(None, secs(30))[0];
        assert_eq!(
            (running.error_code.as_ref(), running.process),
            (None, Some(50))
        );
    }

    #[test]
    fn deleted_never_ending_and_unknown_statuses() {
        let mut deleted = plan(0, Some(10), Outcome::Success);
        deleted.deleted_at = Some(secs(20));
        let scenario = one(deleted);
        assert_eq!(scenario.snapshot(None, secs(19)).len(), 1);
        assert!(scenario.snapshot(None, secs(20)).is_empty());

        let mut paused = plan(0, Some(100), Outcome::Success);
        paused.running_status = Some("PAUSED".into());
        let scenario = one(paused);
        let listed = &scenario.snapshot(None, secs(50))[0];
        assert_eq!(listed.status, Some(SubtaskStatus::Unknown("PAUSED".into())));
        assert!(!listed.is_terminal());
        assert!(scenario.snapshot(None, secs(100))[0].is_terminal());

        let scenario = Scenario::never_finishing("job-1", 3);
        let late = scenario.snapshot(None, secs(86_400));
        assert_eq!(late.len(), 3);
        for job in &late {
            assert_eq!(job.status, Some(SubtaskStatus::Running));
            assert_eq!(job.process, Some(99));
        }
        assert_eq!(scenario.snapshot(None, secs(600))[0].process, Some(10));
        assert_eq!(scenario.jobs[0].last_end(), None);
    }

    #[test]
    fn generation_is_deterministic_and_fails_exactly_as_asked() {
        let spec = TimelineSpec {
            failures: 7,
            visible_after: secs(3),
            ..TimelineSpec::new(50)
        };
        let a = JobPlan::generate("job-1", &spec);
        assert_eq!(a, JobPlan::generate("job-1", &spec));
        assert_ne!(
            a,
            JobPlan::generate(
                "job-1",
                &TimelineSpec {
                    seed: 2,
                    ..spec.clone()
                }
            )
        );
        let other_job = JobPlan::generate("job-2", &spec);
        assert_ne!(a.desktops[0].subtask_id, other_job.desktops[0].subtask_id);

        let failed: Vec<_> = a
            .desktops
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Failed { .. }))
            .collect();
        assert_eq!(failed.len(), 7);
        assert_eq!(a.job_type, "createDesktops");
        assert_eq!(a.desktops[0].desktop_name, "desktop-0001");
        assert_eq!(a.desktops[49].user_name, "user-0050");
        for d in &a.desktops {
            assert_eq!(d.visible_at, secs(3));
            assert!(d.start_at >= secs(3) && d.start_at < secs(13), "{d:?}");
            let end = d.end_at.unwrap();
            assert!(
                end >= secs(60) && end <= secs(120) && end >= d.start_at,
                "{d:?}"
            );
            assert_eq!(d.subtask_id.len(), 36);
            assert_eq!(&d.subtask_id[14..15], "4");
        }
        assert!(a.last_end().unwrap() <= secs(120));

        let all_fail = JobPlan::generate(
            "j",
            &TimelineSpec {
                failures: 99,
                ..TimelineSpec::new(4)
            },
        );
        assert!(all_fail
            .desktops
            .iter()
            .all(|d| matches!(d.outcome, Outcome::Failed { .. })));
        assert_eq!(
            JobPlan::generate("j", &TimelineSpec::new(0)).last_end(),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn an_end_before_the_start_is_moved_to_the_start() {
        let spec = TimelineSpec {
            visible_after: secs(500),
            ..TimelineSpec::new(5)
        };
        for d in JobPlan::generate("job-1", &spec).desktops {
            assert_eq!(d.end_at, Some(d.start_at));
        }
    }

    #[test]
    fn waves_shift_every_time_of_their_batch() {
        let spec = TimelineSpec {
            waves: 3,
            wave_every: secs(100),
            visible_after: secs(5),
            created_at: secs(1000),
            ..TimelineSpec::new(7)
        };
        let job = JobPlan::generate("job-1", &spec);
        assert_eq!(job.created_at, secs(1000));
        let visible: Vec<_> = job
            .desktops
            .iter()
            .map(|d| d.visible_at.as_secs())
            .collect();
        assert_eq!(visible, [1005, 1005, 1005, 1105, 1105, 1205, 1205]);
        for (i, d) in job.desktops.iter().enumerate() {
            let shift = secs(1000 + 100 * (visible[i] - 1005) / 100);
            assert!(d.start_at >= d.visible_at && d.start_at < d.visible_at + secs(10));
            let end = d.end_at.unwrap();
            assert!(end >= shift + secs(60) && end <= shift + secs(120), "{d:?}");
        }
        let scenario = Scenario::new().job(job);
        assert!(scenario.snapshot(None, secs(1004)).is_empty());
        assert_eq!(scenario.snapshot(None, secs(1100)).len(), 3);
        assert_eq!(scenario.snapshot(None, secs(1205)).len(), 7);
        // One wave, or none asked for: the plans of old seeds are unchanged.
        let one = JobPlan::generate("job-1", &TimelineSpec::new(7));
        let zero = JobPlan::generate(
            "job-1",
            &TimelineSpec {
                waves: 0,
                ..TimelineSpec::new(7)
            },
        );
        assert_eq!(one, zero);
    }

    #[test]
    fn early_failures_keep_the_progress_their_curve_had() {
        let spec = TimelineSpec {
            failures: 4,
            finish_between: (secs(1000), secs(1000)),
            start_within: Duration::ZERO,
            failures_between: Some((secs(100), secs(300))),
            progress: ProgressShape::Accelerating { power: 2 },
            ..TimelineSpec::new(10)
        };
        let job = JobPlan::generate("job-1", &spec);
        let same_without = JobPlan::generate(
            "job-1",
            &TimelineSpec {
                failures_between: None,
                ..spec.clone()
            },
        );
        let scenario = Scenario::new().job(job.clone());
        let listed = scenario.snapshot(None, secs(2000));
        let mut failed = 0;
        for ((plan, subtask), plain) in job.desktops.iter().zip(&listed).zip(&same_without.desktops)
        {
            assert_eq!(
                plan.subtask_id, plain.subtask_id,
                "the same draws otherwise"
            );
            match plan.outcome {
                Outcome::Failed { .. } => {
                    failed += 1;
                    let end = plan.end_at.unwrap();
                    assert!(end >= secs(100) && end < secs(300), "{plan:?}");
                    assert_eq!(plan.nominal_end, Some(secs(1000)));
                    // (t / 1000)² × 100 with t < 300: under 9.
                    let expected = (100.0 * ((end.as_secs_f64() - 1.0) / 1000.0).powi(2)) as u32;
                    assert_eq!(subtask.process, Some(expected), "{plan:?}");
                }
                Outcome::Success => {
                    assert_eq!(plan.end_at, Some(secs(1000)));
                    assert_eq!(subtask.process, Some(100));
                }
            }
        }
        assert_eq!(failed, 4);
    }

    #[test]
    fn absent_progress_has_no_process_field_even_when_done() {
        let spec = TimelineSpec {
            progress: ProgressShape::Absent,
            failures: 1,
            ..TimelineSpec::new(2)
        };
        let scenario = Scenario::generate("job-1", &spec);
        for at in [0, 30, 500] {
            for subtask in scenario.snapshot(None, secs(at)) {
                assert_eq!(subtask.process, None, "{subtask:?}");
            }
        }
    }

    #[test]
    fn a_job_failure_ends_the_plan_and_counts_from_creation() {
        let spec = TimelineSpec {
            created_at: secs(100),
            job_failure: Some(JobFailure::new(secs(30), "WKS.0206", "quota")),
            waves: 2,
            wave_every: secs(60),
            finish_between: (secs(300), secs(400)),
            ..TimelineSpec::new(4)
        };
        let job = JobPlan::generate("job-1", &spec);
        assert_eq!(job.failure.as_ref().unwrap().at, secs(130));
        assert_eq!(job.last_end(), Some(secs(130)));
        assert_eq!(job.desktops.iter().filter(|d| job.creates(d)).count(), 2);
        let listed = Scenario::new().job(job).snapshot(None, secs(1000));
        assert_eq!(listed.len(), 2);
        assert!(listed
            .iter()
            .all(|s| s.error_code.as_deref() == Some("WKS.0206") && s.is_terminal()));
    }

    #[test]
    fn the_catalog_covers_every_shape_and_timeline_of_issue_11() {
        let catalog = TimelineSpec::catalog(3);
        let names: Vec<_> = catalog.iter().map(|(name, _)| *name).collect();
        for needed in [
            "linear",
            "front-loaded",
            "plateau-99",
            "accelerating-10-20m",
            "accelerating-40-60m",
            "s-curve",
            "stall-5m",
            "reset-70-10",
            "steps-10",
            "steps-25",
            "no-process",
            "very-short",
            "long-2h",
            "early-failures",
            "mid-job-failures",
            "waves",
            "job-failure",
        ] {
            assert!(names.contains(&needed), "{needed} missing from {names:?}");
        }
        let long = &catalog.iter().find(|(n, _)| *n == "long-2h").unwrap().1;
        let job = JobPlan::generate("job-1", long);
        assert_eq!(job.desktops.len(), 1000);
        assert!(job.last_end().unwrap() <= secs(7200));
        let short = &catalog.iter().find(|(n, _)| *n == "very-short").unwrap().1;
        assert!(JobPlan::generate("job-1", short).last_end().unwrap() < secs(60));
        for (name, spec) in &catalog {
            assert_eq!(spec.seed, 3, "{name}");
        }
    }

    #[test]
    fn many_jobs_are_staggered_and_seeded_apart() {
        let spec = TimelineSpec {
            created_at: secs(10),
            ..TimelineSpec::new(2)
        };
        let scenario = Scenario::new().many("batch", 3, secs(60), &spec);
        let created: Vec<_> = scenario.jobs.iter().map(|j| j.created_at).collect();
        assert_eq!(created, [secs(10), secs(70), secs(130)]);
        assert_eq!(scenario.jobs[2].job_id, "batch-3");
        assert!(scenario.jobs[2].desktops[0].visible_at >= secs(130));
        assert!(scenario.snapshot(Some("batch-3"), secs(129)).is_empty());
        assert_eq!(scenario.snapshot(Some("batch-3"), secs(130)).len(), 2);
    }
}
