//! Verdicts against a service that contradicts itself between two page reads: deletions
//! and insertions that shift pages, one-off empty or malformed answers, other jobs'
//! subtasks, subtasks without IDs, waves, wrong job IDs. The outcome must be exactly the
//! truth, or an error or time-out that says why — never a wrong success or failure.
//!
//! Everything runs in virtual time against the simulator's in-process front end.
#![cfg(feature = "simulator")]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use support::{mins, secs, Rig};
use wks_waiter::events::EventKind;
use wks_waiter::model::SubtaskStatus;
use wks_waiter::simulator::{
    DesktopPlan, Fault, FaultPlan, IdDefect, JobFailure, JobPlan, Outcome, Scenario, TimelineSpec,
};
use wks_waiter::source::JobsApi;
use wks_waiter::{Event, JobOutcome, JobResult, WaitError};

const JOB: &str = "0e2dae94-23ff-449a-bb9c-1b808cf2106d";

/// What these tests ask of a rig.
trait Judged {
    fn wait(&self) -> Result<JobOutcome, WaitError>;
    fn truth(&self) -> BTreeMap<String, String>;
}

impl Judged for Rig {
    fn wait(&self) -> Result<JobOutcome, WaitError> {
        self.waiter().build().unwrap().wait(JOB)
    }

    fn truth(&self) -> BTreeMap<String, String> {
        let end = secs(24 * 3600);
        let mut truth: BTreeMap<String, String> = self
            .source
            .scenario()
            .snapshot(Some(JOB), end)
            .into_iter()
            .map(|s| (s.id.unwrap(), status(s.status.as_ref())))
            .collect();
        // Subtasks the service created on its own (insertions between pages): read the
        // job's details once they are all finished, skipping answers a fault spoiled.
        self.clock.advance(end);
        for _ in 0..200 {
            let before = self.source.requests().len();
            let Ok(fetched) = self.source.fetch_job(JOB, None) else {
                continue;
            };
            if self.source.requests()[before].fault.is_some() {
                continue;
            }
            for subtask in fetched.job.sub_jobs {
                truth.insert(subtask.id.unwrap(), status(subtask.status.as_ref()));
            }
            // A subtask the service inserted, then deleted between pages, is in neither:
            // inserted subtasks all succeed, and only finished ones are deleted.
            return truth;
        }
        panic!("no clean answer from the job's details in 200 tries");
    }
}

fn status(status: Option<&SubtaskStatus>) -> String {
    status.map_or("none", SubtaskStatus::as_str).to_owned()
}

fn desktop(number: usize, start: u64, end: u64, outcome: Outcome) -> DesktopPlan {
    DesktopPlan {
        start_at: secs(start),
        end_at: Some(secs(end)),
        outcome,
        ..DesktopPlan::new(number)
    }
}

fn job(desktops: Vec<DesktopPlan>) -> Scenario {
    Scenario::new().job(JobPlan::new(JOB, desktops))
}

/// Asserts `result` is the truth of `rig`, or an error or time-out that says why.
fn assert_never_wrong(rig: &Rig, result: &Result<JobOutcome, WaitError>, what: &str) {
    let truth = rig.truth();
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "{what}: an error says why");
            let Some(partial) = error.partial() else {
                return;
            };
            assert!(!partial.is_complete(), "{what}: {error}");
            partial
        }
    };
    // Whatever the outcome says finished, finished so. (A subtask the service inserted and
    // later deleted is in neither of the truth's sources: inserted subtasks all succeed.)
    let mut truth = truth;
    for subtask in &outcome.subtasks {
        let id = subtask.id().unwrap();
        if id.starts_with("inserted-") {
            truth
                .entry(id.to_owned())
                .or_insert_with(|| "SUCCESS".to_owned());
        }
        let seen = status(subtask.subtask.status.as_ref());
        if subtask.subtask.is_terminal() {
            assert_eq!(truth.get(id), Some(&seen), "{what}: subtask {id}");
        }
    }
    match outcome.result {
        JobResult::Succeeded => {
            assert!(
                truth.values().all(|s| s == "SUCCESS"),
                "{what}: success reported, truth {truth:?}"
            );
            assert_eq!(outcome.subtasks.len(), truth.len(), "{what}: every desktop");
        }
        JobResult::Failed => {
            let counts = outcome.counts();
            assert_eq!(counts.pending(), 0, "{what}");
            assert_eq!(outcome.subtasks.len(), truth.len(), "{what}: every desktop");
            let failed_truth = truth.values().filter(|s| *s == "FAILED").count();
            assert!(
                counts.failed + counts.vanished > 0,
                "{what}: failure reported without a failure"
            );
            assert!(counts.failed <= failed_truth, "{what}");
        }
        _ => {}
    }
}

#[test]
fn a_finished_subtask_deleted_between_pages_never_hides_a_running_one() {
    // Page cap 2: [0 1] [2 3] [4]. Desktop 1 finished long ago; desktop 4 runs for an
    // hour. Deleting desktop 1 while page two is read shifts desktop 2 onto page one
    // (read already), so this listing never shows it, and total_count drops from 5 to 4.
    let scenario = job(vec![
        desktop(0, 0, 60, Outcome::Success),
        desktop(1, 0, 60, Outcome::Success),
        desktop(2, 0, 3600, Outcome::Success),
        desktop(3, 0, 60, Outcome::Success),
        desktop(4, 0, 3600, Outcome::Success),
    ])
    .page_cap(2);
    // Whenever a page after the first is read, a finished subtask before it is deleted.
    let rig = Rig::with_faults(scenario, FaultPlan::new().always(Fault::DeleteBetweenPages));
    let outcome = rig
        .waiter()
        .predictive(false)
        .max_wait(mins(120))
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    assert!(
        outcome.elapsed >= secs(3600),
        "not before the long desktops end"
    );
    assert_eq!(outcome.counts().succeeded, 5);
    assert!(
        outcome.subtasks.iter().any(|s| s.vanished),
        "deleted ones keep their state"
    );
    let records = rig.source.requests();
    assert!(records
        .iter()
        .any(|r| r.fault == Some(Fault::DeleteBetweenPages)));
    assert_never_wrong(&rig, &Ok(outcome), "delete between pages");
}

#[test]
fn a_deletion_between_pages_of_the_final_listing_is_read_again() {
    // Everything is finished at 60 s; the listing at that moment loses a subtask between
    // its pages. That listing cannot be trusted: it is read again before the verdict.
    let scenario = job((0..7)
        .map(|i| desktop(i, 0, 60, Outcome::Success))
        .collect())
    .page_cap(3);
    let plan = FaultPlan::new().on_requests(0..200, Fault::DeleteBetweenPages);
    let rig = Rig::with_faults(scenario, plan);
    let result = rig.wait();
    assert_never_wrong(&rig, &result, "deletions on every page");
}

#[test]
fn an_empty_or_malformed_answer_after_subtasks_were_seen_is_retried_not_a_verdict() {
    let mut bodies = vec![Fault::EmptyPage];
    bodies.extend(Fault::malformed_bodies());
    for fault in bodies {
        // Ten desktops running for 20 minutes; the poll at about 35 s glitches once.
        let spec = TimelineSpec {
            finish_between: (mins(20), mins(20)),
            ..TimelineSpec::new(10)
        };
        let rig = Rig::with_faults(
            Scenario::generate(JOB, &spec),
            FaultPlan::new().on_request(3, fault.clone()),
        );
        let outcome = rig.wait().unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert!(outcome.is_success(), "{fault:?}: {outcome:?}");
        assert_eq!(outcome.counts().succeeded, 10, "{fault:?}");
        assert!(outcome.elapsed >= mins(20), "{fault:?}: ended early");
        assert_eq!(outcome.vanished().count(), 0, "{fault:?}");
    }
}

#[test]
fn subtasks_of_other_jobs_are_never_counted() {
    // The service ignores the job_id filter: the other job's failures must not count, nor
    // its successes stand in for this job's desktops.
    let other = TimelineSpec {
        failures: 3,
        finish_between: (secs(30), secs(40)),
        ..TimelineSpec::new(5)
    };
    let scenario =
        job(vec![desktop(0, 0, 900, Outcome::Success)]).job(JobPlan::generate("other-job", &other));
    let rig = Rig::with_faults(scenario, FaultPlan::new().always(Fault::ForeignSubtasks));
    let outcome = rig.wait().unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(outcome.counts().total, 1);
    assert!(outcome.elapsed >= secs(900));
}

#[test]
fn subtasks_without_an_id_or_with_duplicated_ids_are_never_merged_or_double_counted() {
    for fault in [
        Fault::BadIds(IdDefect::Missing),
        Fault::BadIds(IdDefect::Empty),
        Fault::BadIds(IdDefect::Null),
        Fault::DuplicateId,
    ] {
        let scenario = job((0..4)
            .map(|i| desktop(i, 0, 300, Outcome::Success))
            .collect());
        // Every answer until 10 minutes is spoiled; then the service heals.
        let rig = Rig::with_faults(scenario, FaultPlan::new().on_requests(0..3, fault.clone()));
        let result = rig.wait();
        let outcome = result.as_ref().unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert!(outcome.is_success(), "{fault:?}: {outcome:?}");
        assert_eq!(outcome.counts().total, 4, "{fault:?}");
        assert_never_wrong(&rig, &result, &format!("{fault:?}"));
    }
}

#[test]
fn a_service_that_never_answers_consistently_ends_with_a_clear_error() {
    // Every listing's total_count is one more than its pages hold, and the job's details,
    // the first request, are refused (403): nothing consistent to decide on.
    let scenario = job((0..3)
        .map(|i| desktop(i, 0, 30, Outcome::Success))
        .collect());
    let faults = FaultPlan::new().always(Fault::TotalCount(1)).on_request(
        0,
        Fault::status(403, "APIGW.0302", "The IAM user is forbidden"),
    );
    let rig = Rig::with_faults(scenario, faults);
    let err = rig.wait().unwrap_err();
    let WaitError::Inconsistent {
        reads,
        reason,
        partial,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*reads, 9, "the first read and max_retries (8) re-reads");
    assert!(reason.contains("total_count"), "{reason}");
    // Subtasks enter a job only through a read that adds up: none did.
    assert_eq!(partial.counts().total, 0, "nothing it could trust");
    assert!(err.to_string().contains("inconsistent"), "{err}");
    // Bounded in time too: the re-reads follow the retry schedule.
    assert!(partial.elapsed < mins(5), "{:?}", partial.elapsed);
}

#[test]
fn listings_that_never_add_up_are_decided_by_the_job_s_consistent_details() {
    let scenario = job((0..3)
        .map(|i| desktop(i, 0, 30, Outcome::Success))
        .collect());
    let rig = Rig::with_faults(scenario, FaultPlan::new().always(Fault::TotalCount(1)));
    let outcome = rig.wait().unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(outcome.counts().succeeded, 3);
    assert!(outcome.elapsed >= secs(30), "{:?}", outcome.elapsed);
}

#[test]
fn short_pages_and_shifting_counts_are_read_again_before_a_verdict() {
    for fault in [
        Fault::ShortPage,
        Fault::TotalCount(-1),
        Fault::InsertBetweenPages,
    ] {
        let scenario = job((0..9)
            .map(|i| desktop(i, 0, 120, Outcome::Success))
            .collect())
        .page_cap(4);
        // Glitches on a third of the first 60 requests; then the service heals (an
        // insertion every few requests would keep the job running for ever).
        let glitches = FaultPlan::new().random(0.3, 5, vec![fault.clone()]);
        let plan = (0..60)
            .filter_map(|i| glitches.fault_for(i).map(|f| (i, f)))
            .fold(FaultPlan::new(), |plan, (i, f)| plan.on_request(i, f));
        let rig = Rig::with_faults(scenario, plan);
        let result = rig.wait();
        assert_never_wrong(&rig, &result, &format!("{fault:?}"));
        assert!(result.is_ok(), "{fault:?}: {result:?}");
    }
}

#[test]
fn waves_are_waited_for_without_being_told_how_many() {
    // Two waves of 5: the second becomes visible 10 minutes after the first finished.
    let spec = TimelineSpec {
        waves: 2,
        wave_every: mins(15),
        finish_between: (mins(3), mins(4)),
        ..TimelineSpec::new(10)
    };
    let rig = Rig::with_faults(Scenario::generate(JOB, &spec), FaultPlan::new());
    let outcome = rig.wait().unwrap();
    assert!(outcome.is_success());
    assert_eq!(outcome.counts().succeeded, 10, "{outcome:?}");
    assert_eq!(outcome.job.as_ref().unwrap().sub_jobs_total, Some(10));
}

#[test]
fn an_unknown_job_ends_at_once_naming_the_job_and_the_project() {
    let rig = Rig::with_faults(Scenario::desktops("some-other-job", 3), FaultPlan::new());
    let err = rig
        .waiter()
        .build()
        .unwrap()
        .wait("mistyped-job-id")
        .unwrap_err();
    let WaitError::JobNotFound {
        project_id,
        partial,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(project_id, rig.source.project_id());
    assert_eq!(partial.elapsed, Duration::ZERO, "within the first poll");
    assert_eq!(rig.source.requests().len(), 2, "one listing, one job read");
    let text = err.to_string();
    assert!(
        text.contains("mistyped-job-id") && text.contains(project_id.as_str()),
        "{text}"
    );
    assert_eq!(partial.error.as_ref().unwrap().status, Some(404));
}

#[test]
fn a_job_that_failed_before_creating_subtasks_is_reported_with_its_reason() {
    let spec = TimelineSpec {
        job_failure: Some(JobFailure::new(
            Duration::ZERO,
            "WKS.0204",
            "the image of the pool is not available",
        )),
        ..TimelineSpec::new(5)
    };
    let rig = Rig::with_faults(Scenario::generate(JOB, &spec), FaultPlan::new());
    let outcome = rig.wait().unwrap();
    assert_eq!(outcome.result, JobResult::Failed);
    assert_eq!(outcome.counts().total, 0);
    let job = outcome.job.as_ref().unwrap();
    assert!(job.failed());
    assert_eq!(job.error_code.as_deref(), Some("WKS.0204"));
    let error = outcome.error.as_ref().unwrap();
    assert!(error.message.contains("WKS.0204"), "{}", error.message);
    assert!(outcome.elapsed < secs(1), "at the first poll");
}

#[test]
fn a_job_that_never_shows_a_subtask_ends_after_first_subtask_within() {
    let mut late = desktop(0, 3600, 3700, Outcome::Success);
    late.visible_at = secs(3600);
    let rig = Rig::with_faults(job(vec![late]), FaultPlan::new());
    let err = rig
        .waiter()
        .first_subtask_within(mins(2))
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap_err();
    let WaitError::NoSubtasks { waited, partial } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*waited, mins(2));
    assert_eq!(
        partial.elapsed,
        mins(2),
        "a poll comes exactly when the time is up"
    );
    assert!(err.to_string().contains("no subtask"), "{err}");
    assert!(
        err.to_string().contains("RUNNING"),
        "the job's status: {err}"
    );
}

#[test]
fn without_permission_for_job_details_the_listing_alone_decides() {
    let scenario = || job(vec![desktop(0, 0, 120, Outcome::Success)]);
    // Where the job's details are read in a run without faults...
    let clean = Rig::with_faults(scenario(), FaultPlan::new());
    assert!(clean.wait().unwrap().is_success());
    let details = clean
        .source
        .requests()
        .iter()
        .position(|r| r.path.contains("workspace-jobs"))
        .unwrap() as u64;
    // ... they answer 403 (the caller lacks workspace:jobs:get); listings are fine.
    let rig = Rig::with_faults(
        scenario(),
        FaultPlan::new().on_request(
            details,
            Fault::status(403, "APIGW.0302", "The IAM user is forbidden"),
        ),
    );
    let outcome = rig.wait().unwrap();
    assert!(outcome.is_success());
    assert_eq!(outcome.job, None);
    assert_eq!(outcome.requests as usize, rig.source.requests().len());
}

/// Events seen by an observer, by subtask: each terminal transition exactly once.
fn terminal_events(events: &[Event]) -> BTreeMap<String, Vec<&'static str>> {
    let mut seen: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for event in events {
        let id = match &event.kind {
            EventKind::SubtaskSucceeded { subtask, .. }
            | EventKind::SubtaskVanished { subtask, .. } => subtask.id.clone(),
            EventKind::SubtaskFailed { failure, .. } => failure.subtask_id.clone(),
            _ => continue,
        };
        seen.entry(id.unwrap()).or_default().push(event.kind.name());
    }
    seen
}

/// Faults a service can produce between two page reads, and transport ones.
fn hostile_mix() -> Vec<Fault> {
    let mut mix = Fault::inconsistencies();
    mix.extend([
        Fault::Throttle {
            retry_after: Some(2),
        },
        Fault::ServerError,
        Fault::TruncatedBody,
        Fault::DropConnection,
    ]);
    mix
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Random jobs, random pages, random deletions, insertions and glitches between page
    /// reads: the outcome is the truth, or an error or time-out that says why; each
    /// subtask's end is reported to an observer exactly once.
    #[test]
    fn random_interleavings_never_give_a_wrong_outcome(
        desktops in 1usize..40,
        failures in 0usize..5,
        page_cap in 1usize..12,
        rate in 0.0f64..0.4,
        seed in any::<u64>(),
        filter in any::<bool>(),
    ) {
        let spec = TimelineSpec {
            failures: failures.min(desktops),
            finish_between: (mins(2), mins(12)),
            seed,
            ..TimelineSpec::new(desktops)
        };
        let rig = Rig::with_faults(
            Scenario::generate(JOB, &spec).page_cap(page_cap),
            FaultPlan::new().random(rate, seed, hostile_mix()),
        );
        let mut events = Vec::new();
        let result = rig
            .waiter()
            .status_filter(filter)
            .max_retries(12)
            .build()
            .unwrap()
            .wait_with(JOB, |e| events.push(e.clone()));
        assert_never_wrong(&rig, &result, &format!("seed {seed}"));
        for (id, names) in terminal_events(&events) {
            prop_assert_eq!(names.len(), 1, "{} reported {:?}", id, names);
        }
        if let Ok(outcome) = &result {
            let finished = events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::JobFinished { .. }))
                .count();
            prop_assert_eq!(finished, 1);
            let reported = terminal_events(&events).len();
            prop_assert_eq!(reported, outcome.counts().finished());
        }
    }
}
