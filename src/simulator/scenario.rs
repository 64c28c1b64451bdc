//! What the simulated service knows: jobs, their subtasks, and how each subtask's state
//! moves through virtual time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

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

/// The timeline of one subtask (one desktop). Times are virtual, from the start of the
/// simulation.
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
    /// Not listed before this: the service lists a new job's subtasks with a delay.
    pub visible_at: Duration,
    /// `WAITING` before this, `RUNNING` from here, `process` rising linearly towards 100.
    pub start_at: Duration,
    /// Terminal from here; `None`: never finishes.
    pub end_at: Option<Duration>,
    /// How it ends.
    pub outcome: Outcome,
    /// Reported instead of `RUNNING` while running when set, e.g. `PAUSED`: a status the
    /// client does not know.
    pub running_status: Option<String>,
    /// Listed no more from here, as when a user deletes finished subtasks.
    pub deleted_at: Option<Duration>,
}

/// What a subtask looks like at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State {
    pub status: String,
    pub process: u32,
    /// Virtual time it started, once it has.
    pub began: Option<Duration>,
    /// Virtual time it ended, once it has.
    pub ended: Option<Duration>,
}

impl DesktopPlan {
    fn is_listed_at(&self, at: Duration) -> bool {
        at >= self.visible_at && self.deleted_at.is_none_or(|deleted| at < deleted)
    }

    /// The state at `at`, whether listed or not.
    pub(super) fn state_at(&self, at: Duration) -> State {
        if at < self.start_at {
            return State {
                status: "WAITING".to_owned(),
                process: 0,
                began: None,
                ended: None,
            };
        }
        match self.end_at {
            Some(end) if at >= end => {
                let (status, process) = match self.outcome {
                    Outcome::Success => ("SUCCESS", 100),
                    // The progress it had reached when it failed: its value a second before.
                    Outcome::Failed { .. } => (
                        "FAILED",
                        self.running_process(end.saturating_sub(Duration::from_secs(1))),
                    ),
                };
                State {
                    status: status.to_owned(),
                    process,
                    began: Some(self.start_at),
                    ended: Some(end),
                }
            }
            _ => State {
                status: self
                    .running_status
                    .clone()
                    .unwrap_or_else(|| "RUNNING".to_owned()),
                process: self.running_process(at),
                began: Some(self.start_at),
                ended: None,
            },
        }
    }

    /// `floor(100 * ran / duration)`, capped at 99 so only success reads 100. A subtask that
    /// never ends creeps up one point a minute instead.
    fn running_process(&self, at: Duration) -> u32 {
        let ran = at.saturating_sub(self.start_at);
        let percent = match self.end_at {
            Some(end) => {
                let total = end.saturating_sub(self.start_at);
                if total.is_zero() {
                    0
                } else {
                    100 * ran.as_nanos() / total.as_nanos()
                }
            }
            None => u128::from(ran.as_secs() / 60),
        };
        percent.min(99) as u32
    }
}

/// One job and its subtasks, in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPlan {
    /// Job ID.
    pub job_id: String,
    /// Job type, e.g. `createDesktops`.
    pub job_type: String,
    /// The subtasks.
    pub desktops: Vec<DesktopPlan>,
}

/// A generator of realistic jobs; see [`JobPlan::generate`].
///
/// Fields are public; start from [`TimelineSpec::new`] and override what matters:
///
/// ```
/// use std::time::Duration;
/// use wks_waiter::simulator::{JobPlan, TimelineSpec};
///
/// let spec = TimelineSpec {
///     failures: 2,
///     visible_after: Duration::from_secs(5),
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
    /// Each subtask starts at `visible_after` plus a uniform delay in `[0, start_within)`.
    pub start_within: Duration,
    /// Each subtask ends at a uniform (absolute) virtual time in this window, and never
    /// before it starts.
    pub finish_between: (Duration, Duration),
    /// Seeds every random choice: the same spec and job ID give the same plan.
    pub seed: u64,
}

impl TimelineSpec {
    /// `desktops` subtasks, none failing, visible at once, starting within 10 s, finishing
    /// between 60 s and 120 s, seed 1.
    pub fn new(desktops: usize) -> Self {
        Self {
            desktops,
            failures: 0,
            visible_after: Duration::ZERO,
            start_within: Duration::from_secs(10),
            finish_between: (Duration::from_secs(60), Duration::from_secs(120)),
            seed: 1,
        }
    }
}

impl JobPlan {
    /// Generates a `createDesktops` job as `spec` describes: desktops named `desktop-0001`…,
    /// users `user-0001`…, UUID-like IDs, and `spec.failures` of them (chosen by the seed)
    /// failing with realistic codes and reasons.
    ///
    /// The job ID is mixed into the seed, so two jobs of one scenario never share subtask IDs.
    pub fn generate(job_id: &str, spec: &TimelineSpec) -> JobPlan {
        let mut rng = SplitMix64(spec.seed ^ fnv1a(job_id.as_bytes()));
        let count = spec.desktops;
        let mut failing = vec![false; count];
        // A partial Fisher-Yates shuffle picks exactly `failures` distinct desktops.
        let mut order: Vec<usize> = (0..count).collect();
        for k in 0..spec.failures.min(count) {
            let pick = k + rng.below((count - k) as u64) as usize;
            order.swap(k, pick);
            failing[order[k]] = true;
        }
        let (early, late) = if spec.finish_between.0 <= spec.finish_between.1 {
            spec.finish_between
        } else {
            (spec.finish_between.1, spec.finish_between.0)
        };
        let desktops = failing
            .iter()
            .enumerate()
            .map(|(i, &fails)| {
                let number = i + 1;
                let user_name = format!("user-{number:04}");
                let start_at = spec
                    .visible_after
                    .saturating_add(uniform_below(&mut rng, spec.start_within));
                let end_at = early + uniform_below(&mut rng, late - early);
                let outcome = if fails {
                    failure(rng.below(FAILURE_KINDS), &user_name)
                } else {
                    Outcome::Success
                };
                DesktopPlan {
                    subtask_id: uuid_like(&mut rng),
                    desktop_id: uuid_like(&mut rng),
                    desktop_name: format!("desktop-{number:04}"),
                    user_name,
                    visible_at: spec.visible_after,
                    start_at,
                    end_at: Some(end_at.max(start_at)),
                    outcome,
                    running_status: None,
                    deleted_at: None,
                }
            })
            .collect();
        JobPlan {
            job_id: job_id.to_owned(),
            job_type: CREATE_DESKTOPS.to_owned(),
            desktops,
        }
    }

    /// When the last subtask ends: `None` if one never does, zero for a job without subtasks.
    pub fn last_end(&self) -> Option<Duration> {
        self.desktops
            .iter()
            .try_fold(Duration::ZERO, |last, desktop| {
                Some(last.max(desktop.end_at?))
            })
    }
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
    pub fn standalone() -> Render<'static> {
        Render {
            project_id: DEFAULT_PROJECT_ID,
            wall_zero: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        }
    }

    /// `YYYY-MM-DD hh:mm:ss`, as the service writes times.
    fn wall_time(&self, at: Duration) -> String {
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
    pub state: State,
}

impl Listed<'_> {
    /// The subtask as the service writes it: `end_time` is `""` until it ends.
    pub fn to_json(&self, render: &Render<'_>) -> Value {
        let time = |at: Option<Duration>| at.map(|t| render.wall_time(t)).unwrap_or_default();
        let mut value = json!({
            "id": self.desktop.subtask_id,
            "job_id": self.job.job_id,
            "job_type": self.job.job_type,
            "project_id": render.project_id,
            "status": self.state.status,
            "process": self.state.process,
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
        if let (
            Some(_),
            Outcome::Failed {
                error_code,
                fail_reason,
            },
        ) = (self.state.ended, &self.desktop.outcome)
        {
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
                .filter(move |(_, desktop)| desktop.is_listed_at(at))
                .map(move |(position, desktop)| Listed {
                    job,
                    desktop,
                    position,
                    state: desktop.state_at(at),
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
        }
    }

    fn one(desktop: DesktopPlan) -> Scenario {
        Scenario::new().job(JobPlan {
            job_id: "job-1".into(),
            job_type: "createDesktops".into(),
            desktops: vec![desktop],
        })
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
        let almost = &scenario.snapshot(None, secs(110) - Duration::from_millis(1))[0];
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
}
