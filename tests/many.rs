//! Waiting on many jobs at once: one loop, one deadline, the fewest pages per poll, and
//! every per-job guarantee of the single-job wait; and a shared request budget.
//!
//! Everything runs in virtual time against the simulator's in-process front end.
#![cfg(feature = "simulator")]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use support::{mins, secs, Rig};
use wks_waiter::events::EventKind;
use wks_waiter::model::SubtaskStatus;
use wks_waiter::outcome::OverallRule;
use wks_waiter::simulator::{
    DesktopPlan, Fault, FaultPlan, JobPlan, Outcome, RateLimit, RequestRecord, Scenario,
    TimelineSpec, VirtualSource,
};
use wks_waiter::source::{FetchedJob, FetchedPage, JobsApi};
use wks_waiter::test_util::virtual_time;
use wks_waiter::{Error, Event, JobResult, Limit, RateBudget, SubtaskQuery, WaitOutcome, Waiter};

/// What these tests ask of a rig.
trait Many {
    fn wait_all(&self, jobs: &[&str]) -> WaitOutcome;
    fn project_wide(&self) -> Vec<RequestRecord>;
}

impl Many for Rig {
    fn wait_all(&self, jobs: &[&str]) -> WaitOutcome {
        self.waiter().build().unwrap().wait_all(jobs).unwrap()
    }

    /// Listings without a `job_id`: project-wide ones.
    fn project_wide(&self) -> Vec<RequestRecord> {
        self.source
            .requests()
            .into_iter()
            .filter(|r| {
                r.path.ends_with("workspace-sub-jobs") && r.query_values("job_id").is_empty()
            })
            .collect()
    }
}

/// Every subtask's final status in `scenario`, by job, then by subtask ID.
fn truth(scenario: &Scenario) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut truth = BTreeMap::new();
    for job in &scenario.jobs {
        let statuses = scenario
            .snapshot(Some(&job.job_id), secs(48 * 3600))
            .into_iter()
            .map(|s| {
                (
                    s.id.unwrap(),
                    s.status
                        .as_ref()
                        .map_or("none", SubtaskStatus::as_str)
                        .to_owned(),
                )
            })
            .collect();
        truth.insert(job.job_id.clone(), statuses);
    }
    truth
}

/// Asserts every decided job of `outcome` is exactly its truth.
fn assert_exact(outcome: &WaitOutcome, truth: &BTreeMap<String, BTreeMap<String, String>>) {
    for job in &outcome.jobs {
        if !job.is_complete() {
            continue;
        }
        let expected = &truth[&job.job_id];
        let seen: BTreeMap<String, String> = job
            .subtasks
            .iter()
            .map(|s| {
                (
                    s.id().unwrap().to_owned(),
                    s.subtask
                        .status
                        .as_ref()
                        .map_or("none", SubtaskStatus::as_str)
                        .to_owned(),
                )
            })
            .collect();
        assert_eq!(&seen, expected, "job {}", job.job_id);
        let all_succeeded = expected.values().all(|s| s == "SUCCESS");
        assert_eq!(job.is_success(), all_succeeded, "job {}", job.job_id);
    }
}

fn batch(jobs: usize, desktops: usize, failures: usize) -> Scenario {
    let spec = TimelineSpec {
        failures,
        finish_between: (mins(3), mins(12)),
        ..TimelineSpec::new(desktops)
    };
    Scenario::new().many("batch", jobs, Duration::ZERO, &spec)
}

fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|k| format!("batch-{k}")).collect()
}

#[test]
fn many_jobs_end_with_exact_per_job_outcomes_in_one_loop() {
    let scenario = batch(6, 30, 2);
    let rig = Rig::with_faults(scenario.clone(), FaultPlan::new());
    let names = ids(6);
    let jobs: Vec<&str> = names.iter().map(String::as_str).collect();
    let outcome = rig.wait_all(&jobs);
    assert_eq!(outcome.jobs.len(), 6);
    assert!(outcome.jobs.iter().all(|j| j.result == JobResult::Failed));
    assert_eq!(outcome.result(), JobResult::Failed);
    assert_eq!(outcome.counts().failed, 12);
    assert_exact(&outcome, &truth(&scenario));
    // One loop: polls are shared, and the filtered polls covered every job in one listing.
    assert!(!rig.project_wide().is_empty(), "no project-wide listing");
    // Far fewer requests than six waits of their own.
    let alone: u32 = jobs
        .iter()
        .map(|job| {
            let rig = Rig::with_faults(scenario.clone(), FaultPlan::new());
            rig.waiter().build().unwrap().wait(job).unwrap().requests
        })
        .sum();
    assert!(
        outcome.requests * 2 < alone,
        "{} requests together, {alone} alone",
        outcome.requests
    );
    // The JSON object of a wait on several jobs: totals and the per-job objects.
    let value = serde_json::to_value(&outcome).unwrap();
    assert_eq!(value["jobs"].as_array().unwrap().len(), 6);
    assert_eq!(value["result"], "failed");
    assert_eq!(value["failed"], 12);
}

#[test]
fn a_busy_project_is_listed_job_by_job() {
    // 3 jobs of 20 desktops beside 4 jobs of someone else's with 1000 failed subtasks each:
    // the project-wide filtered listing would read at least 4 pages of 1000 against one
    // page per job.
    let other = TimelineSpec {
        failures: 1000,
        finish_between: (secs(1), secs(2)),
        ..TimelineSpec::new(1000)
    };
    let scenario = batch(3, 20, 0).many("other", 4, Duration::ZERO, &other);
    let rig = Rig::with_faults(scenario.clone(), FaultPlan::new());
    let outcome = rig.wait_all(&["batch-1", "batch-2", "batch-3"]);
    assert!(outcome.is_success(), "{outcome:?}");
    assert_exact(&outcome, &truth(&scenario));
    // At most one page of each project-wide measure: the first showed it too busy.
    let project = rig.project_wide();
    assert!(
        project.iter().all(|r| r.query_values("offset").is_empty()),
        "{project:?}"
    );
    assert!(project.len() <= 3, "{} project-wide probes", project.len());
}

#[test]
fn a_wrong_job_id_errors_alone_and_the_others_finish() {
    let scenario = batch(2, 10, 0);
    let rig = Rig::with_faults(scenario.clone(), FaultPlan::new());
    let outcome = rig.wait_all(&["batch-1", "no-such-job", "batch-2"]);
    let wrong = outcome.job("no-such-job").unwrap();
    assert_eq!(wrong.result, JobResult::Error);
    assert_eq!(wrong.error.as_ref().unwrap().status, Some(404));
    assert!(wrong
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("no-such-job"));
    assert_eq!(wrong.elapsed, Duration::ZERO, "found out at the first poll");
    for job in ["batch-1", "batch-2"] {
        assert!(outcome.job(job).unwrap().is_success(), "{job}");
    }
    assert_eq!(outcome.result(), JobResult::Error, "the worst ending");
    assert_exact(&outcome, &truth(&scenario));
}

/// A service whose project-wide listings leave out each subtask's `job_id`.
#[derive(Debug)]
struct NoJobIds(Arc<VirtualSource>);

impl JobsApi for NoJobIds {
    fn project_id(&self) -> &str {
        self.0.project_id()
    }

    fn fetch_job(&self, job_id: &str, timeout: Option<Duration>) -> Result<FetchedJob, Error> {
        self.0.fetch_job(job_id, timeout)
    }

    fn fetch_page(
        &self,
        query: &SubtaskQuery,
        timeout: Option<Duration>,
    ) -> Result<FetchedPage, Error> {
        let mut fetched = self.0.fetch_page(query, timeout)?;
        if query.job_id().is_none() {
            for subtask in &mut fetched.page.subtasks {
                subtask.job_id = None;
            }
        }
        Ok(fetched)
    }
}

#[test]
fn a_project_wide_listing_without_job_ids_is_given_up() {
    let scenario = batch(3, 10, 1);
    let rig = Rig::with_faults(scenario.clone(), FaultPlan::new());
    let names = ids(3);
    let jobs: Vec<&str> = names.iter().map(String::as_str).collect();
    let outcome = Waiter::builder(NoJobIds(rig.source.clone()))
        .clock(rig.clock.clone())
        .sleeper(rig.sleeper.clone())
        .build()
        .unwrap()
        .wait_all(&jobs)
        .unwrap();
    assert_exact(&outcome, &truth(&scenario));
    assert!(outcome.jobs.iter().all(|j| j.is_complete()));
    // Tried once, then every job on its own.
    assert_eq!(rig.project_wide().len(), 1);
}

#[test]
fn each_job_finishes_in_the_event_stream_as_it_ends() {
    let spec = |minutes: u64| TimelineSpec {
        finish_between: (mins(minutes), mins(minutes)),
        ..TimelineSpec::new(5)
    };
    let scenario = Scenario::new()
        .job(JobPlan::generate("early", &spec(3)))
        .job(JobPlan::generate("late", &spec(20)));
    let rig = Rig::with_faults(scenario, FaultPlan::new());
    let mut finished = Vec::new();
    let outcome = rig
        .waiter()
        .build()
        .unwrap()
        .wait_all_with(&["early", "late"], |event: &Event| {
            if let EventKind::JobFinished { job_id, .. } = &event.kind {
                finished.push((job_id.clone(), event.elapsed));
            }
        })
        .unwrap();
    assert!(outcome.is_success());
    assert_eq!(finished.len(), 2);
    assert_eq!(finished[0].0, "early");
    assert!(finished[0].1 < mins(4), "{:?}", finished[0].1);
    assert!(finished[1].1 >= mins(20));
    // Per job, its own end.
    assert!(outcome.job("early").unwrap().elapsed < mins(4));
}

#[test]
fn a_shared_budget_keeps_under_the_gateway_throttle() {
    // The service allows 10 requests a minute per key; 8 jobs polled each on their own
    // would blow it. With a budget of 10 a minute the waiter never draws a 429.
    let scenario = batch(8, 5, 0);
    let limit = RateLimit::per_minute(10).unwrap();
    let (clock, sleeper) = virtual_time();
    let source =
        Arc::new(VirtualSource::new(scenario.clone(), clock.clone()).with_rate_limit(limit));
    let budget = RateBudget::builder()
        .limit(10)
        .window(mins(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut waits = 0;
    let outcome = Waiter::builder(source.clone())
        .clock(clock)
        .sleeper(sleeper)
        .rate_budget(budget)
        .status_filter(false)
        .max_wait(mins(120))
        .build()
        .unwrap()
        .wait_all_with(
            &ids(8).iter().map(String::as_str).collect::<Vec<_>>(),
            |e| {
                if matches!(e.kind, EventKind::BudgetWait { .. }) {
                    waits += 1;
                }
            },
        )
        .unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    let log = source.requests();
    assert!(log.iter().all(|r| r.status != 429), "a 429 was drawn");
    assert!(waits > 0, "the budget never held a request back");
    // At most 10 in any minute.
    for (i, first) in log.iter().enumerate() {
        let within = log[i..]
            .iter()
            .take_while(|r| r.at < first.at + mins(1))
            .count();
        assert!(
            within <= 10,
            "{within} requests within a minute from {:?}",
            first.at
        );
    }
}

/// Faults of a service contradicting itself between page reads, and transport faults.
fn hostile_mix() -> Vec<Fault> {
    let mut mix = Fault::inconsistencies();
    mix.retain(|f| !matches!(f, Fault::InsertBetweenPages | Fault::DeleteBetweenPages));
    mix.extend([
        Fault::ServerError,
        Fault::TruncatedBody,
        Fault::DropConnection,
    ]);
    mix
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random jobs beside someone else's, random pages and glitches: each job's outcome is
    /// its truth, or an error or time-out that says why.
    #[test]
    fn many_jobs_through_glitches_never_give_a_wrong_outcome(
        jobs in 1usize..5,
        desktops in 1usize..25,
        others in 0usize..3,
        page_cap in 1usize..30,
        rate in 0.0f64..0.3,
        seed in any::<u64>(),
    ) {
        let spec = TimelineSpec {
            failures: desktops / 7,
            finish_between: (mins(2), mins(15)),
            seed,
            ..TimelineSpec::new(desktops)
        };
        let other = TimelineSpec { failures: 3, seed: seed ^ 1, ..TimelineSpec::new(desktops) };
        let scenario = Scenario::new()
            .many("batch", jobs, Duration::ZERO, &spec)
            .many("other", others, Duration::ZERO, &other)
            .page_cap(page_cap);
        let rig = Rig::with_faults(scenario.clone(), FaultPlan::new().random(rate, seed, hostile_mix()));
        let names = ids(jobs);
        let list: Vec<&str> = names.iter().map(String::as_str).collect();
        let outcome = rig.waiter().max_retries(12).build().unwrap().wait_all(&list).unwrap();
        assert_exact(&outcome, &truth(&scenario));
        prop_assert_eq!(outcome.jobs.len(), jobs);
    }
}

#[test]
fn a_check_polls_once_and_says_what_is_decided() {
    let spec = |minutes: u64| TimelineSpec {
        finish_between: (mins(minutes), mins(minutes)),
        start_within: Duration::ZERO,
        ..TimelineSpec::new(3)
    };
    let scenario = Scenario::new()
        .job(JobPlan::generate("running", &spec(30)))
        .job(JobPlan::generate("done", &spec(0)));
    let rig = Rig::with_faults(scenario, FaultPlan::new());
    let waiter = rig.waiter().build().unwrap();
    let outcome = waiter.check(&["running", "done", "unknown"]).unwrap();
    assert_eq!(outcome.job("running").unwrap().result, JobResult::Pending);
    assert_eq!(outcome.job("done").unwrap().result, JobResult::Succeeded);
    assert_eq!(outcome.job("unknown").unwrap().result, JobResult::Error);
    assert_eq!(outcome.polls, 1);
    assert!(rig.sleeper.sleeps().is_empty(), "never sleeps");
    let value = serde_json::to_value(outcome.job("running").unwrap()).unwrap();
    assert_eq!(value["result"], "pending");
}

#[test]
fn a_job_already_finished_when_the_wait_starts_is_found_at_once() {
    // Its subtasks are all SUCCESS: the status-filtered project-wide listing hides them.
    let done = TimelineSpec {
        finish_between: (Duration::ZERO, Duration::ZERO),
        start_within: Duration::ZERO,
        ..TimelineSpec::new(4)
    };
    let scenario = batch(2, 10, 0).job(JobPlan::generate("done", &done));
    let rig = Rig::with_faults(scenario.clone(), FaultPlan::new());
    let outcome = rig.wait_all(&["batch-1", "batch-2", "done"]);
    assert!(outcome.is_success(), "{outcome:?}");
    let finished = outcome.job("done").unwrap();
    assert_eq!(finished.counts().succeeded, 4);
    assert_eq!(finished.elapsed, Duration::ZERO, "at the first poll");
    assert_exact(&outcome, &truth(&scenario));
}

#[test]
fn a_client_carries_its_budget_to_direct_calls_and_to_a_waiter() {
    let (clock, sleeper) = virtual_time();
    let sim = wks_waiter::simulator::Simulator::builder(batch(1, 4, 0))
        .clock(clock.clone())
        .start()
        .unwrap();
    let budget = RateBudget::builder()
        .limit(3)
        .window(mins(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    let client = support::builder(&sim)
        .credentials(support::aksk(&sim))
        .clock(clock.clone())
        .rate_budget(budget.clone())
        .build()
        .unwrap();
    // Two direct calls spend two of the three requests.
    let query = SubtaskQuery::for_job("batch-1").unwrap();
    client.list_subtasks(&query).unwrap();
    client.get_job("batch-1").unwrap();
    // A waiter over the client takes its budget: never more than 3 requests in 10 minutes.
    let outcome = Waiter::builder(client)
        .clock(clock)
        .sleeper(sleeper)
        .build()
        .unwrap()
        .wait("batch-1")
        .unwrap();
    assert!(outcome.is_success());
    let log = sim.requests();
    for (i, first) in log.iter().enumerate() {
        let within = log[i..]
            .iter()
            .take_while(|r| r.at < first.at + mins(10))
            .count();
        assert!(
            within <= 3,
            "{within} requests within 10 minutes from {:?}",
            first.at
        );
    }
    assert!(log.len() > 3);
}

// Overall rules: the totals over every job decide the wait, and may end it early.

/// Job `job_id`, one desktop per entry, each ending at its `(minute, fails)`; `None` never
/// ends.
fn timed(job_id: &str, ends: &[Option<(u64, bool)>]) -> JobPlan {
    let desktops = ends
        .iter()
        .enumerate()
        .map(|(i, end)| {
            let mut desktop = DesktopPlan::new(i + 1);
            desktop.subtask_id = format!("{job_id}-sub-{:04}", i + 1);
            if let Some((minute, fails)) = *end {
                desktop.end_at = Some(mins(minute));
                if fails {
                    desktop.outcome = Outcome::failed("WKS.0120", "no capacity");
                }
            }
            desktop
        })
        .collect();
    JobPlan::new(job_id, desktops)
}

/// 10 desktops: one failing at `fails_at` minutes (if any), the others succeeding at 30.
fn one_failure_at(job_id: &str, fails_at: Option<u64>) -> JobPlan {
    let mut ends = vec![Some((30, false)); 10];
    if let Some(minute) = fails_at {
        ends[0] = Some((minute, true));
    }
    timed(job_id, &ends)
}

/// Three jobs of 10 desktops, one failure each at 2, 4 and 6 minutes, the rest at 30.
fn failures_at_2_4_6() -> Scenario {
    Scenario::new()
        .job(one_failure_at("batch-1", Some(2)))
        .job(one_failure_at("batch-2", Some(4)))
        .job(one_failure_at("batch-3", Some(6)))
}

/// The `JobFinished` events of a wait, in order: job and result.
fn finishes(events: &[Event]) -> Vec<(String, JobResult)> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::JobFinished { job_id, result, .. } => Some((job_id.clone(), *result)),
            _ => None,
        })
        .collect()
}

const BATCH3: [&str; 3] = ["batch-1", "batch-2", "batch-3"];

#[test]
fn overall_max_failures_ends_the_wait_at_the_failure_past_the_limit() {
    let rig = Rig::new(failures_at_2_4_6());
    let mut events = Vec::new();
    let outcome = rig
        .waiter()
        .overall_max_failures(Limit::Count(2))
        .build()
        .unwrap()
        .wait_all_with(&BATCH3, |event: &Event| events.push(event.clone()))
        .unwrap();
    assert_eq!(outcome.result(), JobResult::Failed);
    let verdict = outcome.overall.unwrap();
    assert_eq!(verdict.rule, OverallRule::MaxFailures);
    assert!(verdict.early);
    // The third failure, at 6 minutes, decided: within one capped poll interval of it.
    assert!(
        outcome.elapsed >= mins(6) && outcome.elapsed <= mins(6) + secs(30),
        "{:?}",
        outcome.elapsed
    );
    assert_eq!(outcome.counts().failed, 3);
    // The jobs still under way end without a verdict of their own, each reported once.
    assert!(outcome.jobs.iter().all(|j| j.result == JobResult::Pending));
    assert_eq!(
        finishes(&events),
        BATCH3
            .iter()
            .map(|id| ((*id).to_owned(), JobResult::Pending))
            .collect::<Vec<_>>()
    );
    let value = serde_json::to_value(&outcome).unwrap();
    assert_eq!(value["result"], "failed");
    assert_eq!(value["decided_by"], "max_failures_total");
    assert_eq!(value["jobs"][0]["result"], "pending");

    // Three failures allowed: nothing decides before every job ends; then the totals
    // succeed although each job, by its own (default) rule, failed.
    let rig = Rig::new(failures_at_2_4_6());
    let outcome = rig
        .waiter()
        .overall_max_failures(Limit::Count(3))
        .build()
        .unwrap()
        .wait_all(&BATCH3)
        .unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    assert!(outcome.jobs.iter().all(|j| j.result == JobResult::Failed));
    assert!(outcome.elapsed >= mins(30));
    let verdict = outcome.overall.unwrap();
    assert_eq!(
        (verdict.rule, verdict.early),
        (OverallRule::MaxFailures, false)
    );
}

#[test]
fn without_overall_rules_a_wait_on_several_jobs_is_as_before() {
    let rig = Rig::new(failures_at_2_4_6());
    let outcome = rig.wait_all(&BATCH3);
    assert_eq!(outcome.overall, None);
    assert_eq!(outcome.result(), JobResult::Failed);
    assert!(outcome.jobs.iter().all(|j| j.result == JobResult::Failed));
    assert!(outcome.elapsed >= mins(30));
    assert_eq!(
        serde_json::to_value(&outcome).unwrap()["decided_by"],
        serde_json::Value::Null
    );
}

/// Three jobs of 10 desktops: 8 succeed between 2 and 5 minutes, 2 never end.
fn eight_of_ten_ready() -> Scenario {
    let job = |id: &str, last: u64| {
        let mut ends: Vec<Option<(u64, bool)>> =
            (0..8).map(|i| Some((2 + i % (last - 1), false))).collect();
        ends[7] = Some((last, false));
        ends.extend([None, None]);
        timed(id, &ends)
    };
    Scenario::new()
        .job(job("batch-1", 3))
        .job(job("batch-2", 4))
        .job(job("batch-3", 5))
}

#[test]
fn overall_min_succeeded_reached_ends_the_wait_with_success() {
    for limit in [Limit::Count(24), Limit::Percent(80.0)] {
        let rig = Rig::new(eight_of_ten_ready());
        let outcome = rig
            .waiter()
            .overall_min_succeeded(limit)
            .build()
            .unwrap()
            .wait_all(&BATCH3)
            .unwrap();
        assert!(outcome.is_success(), "{limit}: {outcome:?}");
        let verdict = outcome.overall.unwrap();
        assert_eq!(
            (verdict.rule, verdict.early),
            (OverallRule::MinSucceeded, true)
        );
        assert!(
            outcome.elapsed <= mins(5) + secs(30),
            "{limit}: {outcome:?}"
        );
        assert_eq!(outcome.counts().succeeded, 24);
        assert!(outcome.jobs.iter().all(|j| j.result == JobResult::Pending));
    }
    // 81 % of the 30 desktops the jobs announce is 25: never reached, never decided on
    // the 24 there are, while 6 desktops may still succeed.
    let rig = Rig::new(eight_of_ten_ready());
    let outcome = rig
        .waiter()
        .overall_min_succeeded(Limit::Percent(81.0))
        .max_wait(mins(20))
        .build()
        .unwrap()
        .wait_all(&BATCH3)
        .unwrap();
    assert_eq!(outcome.overall, None);
    assert_eq!(outcome.result(), JobResult::TimedOut);
}

/// The simulator, with every job's details refused (403) when `.1`: the jobs' sizes are
/// unknown then.
#[derive(Debug)]
struct NoDetails(Arc<VirtualSource>, bool);

impl JobsApi for NoDetails {
    fn project_id(&self) -> &str {
        self.0.project_id()
    }

    fn fetch_job(&self, job_id: &str, timeout: Option<Duration>) -> Result<FetchedJob, Error> {
        if self.1 {
            return Err(support::hostile::api_error(
                403,
                "APIGW.0302",
                "forbidden",
                None,
            ));
        }
        self.0.fetch_job(job_id, timeout)
    }

    fn fetch_page(
        &self,
        query: &SubtaskQuery,
        timeout: Option<Duration>,
    ) -> Result<FetchedPage, Error> {
        self.0.fetch_page(query, timeout)
    }
}

#[test]
fn a_percentage_waits_for_known_sizes_a_count_does_not() {
    // Four failures: more than 10 % of the 30 desktops, by 5 minutes.
    let scenario = || {
        let mut first = one_failure_at("batch-1", Some(2));
        first.desktops[1].end_at = Some(mins(5));
        first.desktops[1].outcome = Outcome::failed("WKS.0120", "no capacity");
        Scenario::new()
            .job(first)
            .job(one_failure_at("batch-2", Some(3)))
            .job(one_failure_at("batch-3", Some(4)))
    };
    let wait = |refused: bool, limit: Limit| {
        let rig = Rig::new(scenario());
        Waiter::builder(NoDetails(rig.source.clone(), refused))
            .clock(rig.clock.clone())
            .sleeper(rig.sleeper.clone())
            .jitter_seed(7)
            .overall_max_failures(limit)
            .build()
            .unwrap()
            .wait_all(&BATCH3)
            .unwrap()
    };
    // Sizes announced by the jobs' details: decided at the fourth failure.
    let known = wait(false, Limit::Percent(10.0));
    assert_eq!(known.result(), JobResult::Failed);
    assert!(known.overall.unwrap().early);
    assert!(
        known.elapsed >= mins(5) && known.elapsed <= mins(5) + secs(30),
        "{known:?}"
    );
    // Sizes unknown (details refused, no `expect_subtasks`): more subtasks may come, so
    // a percentage decides only once every job ended.
    let unknown = wait(true, Limit::Percent(10.0));
    assert_eq!(unknown.result(), JobResult::Failed);
    assert!(!unknown.overall.unwrap().early);
    assert!(unknown.elapsed >= mins(30), "{unknown:?}");
    // A count is passed for good whatever comes later.
    let count = wait(true, Limit::Count(3));
    assert_eq!(count.result(), JobResult::Failed);
    assert!(count.overall.unwrap().early);
    assert!(count.elapsed <= mins(5) + secs(30), "{count:?}");
}

#[test]
fn per_job_rules_decide_each_job_and_overall_rules_the_wait() {
    // `batch-1` fails a desktop at 1 minute (its others would succeed at 20); the other
    // jobs succeed by 6 minutes.
    let mut first = timed("batch-1", &[Some((20, false)); 10]);
    first.desktops[0].end_at = Some(mins(1));
    first.desktops[0].outcome = Outcome::failed("WKS.0120", "no capacity");
    let all_ok = |id: &str| {
        let ends: Vec<Option<(u64, bool)>> = (0..10).map(|i| Some((3 + i % 4, false))).collect();
        timed(id, &ends)
    };
    let scenario = Scenario::new()
        .job(first)
        .job(all_ok("batch-2"))
        .job(all_ok("batch-3"));
    let wait = |min: u64| {
        let rig = Rig::new(scenario.clone());
        rig.waiter()
            .fail_fast(true)
            .overall_min_succeeded(Limit::Count(min))
            .build()
            .unwrap()
            .wait_all(&BATCH3)
            .unwrap()
    };
    let outcome = wait(20);
    // Its own rule failed `batch-1` at once; the 20 successes of the others carry the wait.
    let first = outcome.job("batch-1").unwrap();
    assert_eq!(first.result, JobResult::Failed);
    assert!(first.elapsed < mins(2), "{first:?}");
    assert!(outcome.job("batch-2").unwrap().is_success());
    assert!(outcome.is_success(), "{outcome:?}");
    let verdict = outcome.overall.unwrap();
    assert_eq!(
        (verdict.rule, verdict.early),
        (OverallRule::MinSucceeded, false)
    );
    assert!(outcome.elapsed < mins(7), "{outcome:?}");
    // `batch-1`'s desktops left unfinished when its wait ended cannot count as successes.
    let outcome = wait(21);
    assert_eq!(outcome.result(), JobResult::Failed);
    assert_eq!(outcome.overall.unwrap().rule, OverallRule::MinSucceeded);
    assert!(outcome.elapsed < mins(7), "{outcome:?}");
}

#[test]
fn a_check_applies_the_overall_rules_to_what_one_poll_sees() {
    let done = |id: &str, failures: usize| {
        let mut ends = vec![Some((0, false)); 4];
        for end in ends.iter_mut().take(failures) {
            *end = Some((0, true));
        }
        ends.push(None);
        timed(id, &ends)
    };
    let scenario = Scenario::new().job(done("a", 2)).job(done("b", 1));
    let rig = Rig::new(scenario.clone());
    let check = |limit| {
        rig.waiter()
            .overall_max_failures(limit)
            .build()
            .unwrap()
            .check(&["a", "b"])
            .unwrap()
    };
    let over = check(Limit::Count(2));
    assert_eq!(over.result(), JobResult::Failed, "{over:?}");
    assert!(over.jobs.iter().all(|j| j.result == JobResult::Pending));
    let within = check(Limit::Count(3));
    assert_eq!(within.overall, None);
    assert_eq!(within.result(), JobResult::Pending, "{within:?}");
}

#[test]
fn overall_limits_are_validated_by_name() {
    let rig = Rig::new(failures_at_2_4_6());
    let error = rig
        .waiter()
        .overall_min_succeeded(Limit::Percent(120.0))
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("overall_min_succeeded"),
        "{error}"
    );
    let error = rig
        .waiter()
        .overall_max_failures(Limit::Percent(-1.0))
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("overall_max_failures"),
        "{error}"
    );
}
