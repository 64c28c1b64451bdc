//! The waiter, through the public API only, in virtual time: the simulator's timelines are
//! evaluated at a `ManualClock` that the waiter's `ManualSleeper` advances, so 30-minute
//! jobs run in milliseconds and schedules are exact.
#![cfg(feature = "simulator")]

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use wks_waiter::simulator::{
    DesktopPlan, Fault, FaultPlan, JobPlan, Outcome, Scenario, Simulator, TimelineSpec,
    VirtualSource,
};
use wks_waiter::{
    events::EventKind, model::SubtaskStatus, test_util::virtual_time, time::ThreadSleeper,
    BackoffPolicy, Client, Credentials, Error, Event, JobOutcome, JobResult, WaitError, Waiter,
    WaiterBuilder,
};

mod support;

use support::{mins, secs, Rig};

const JOB: &str = "0e2dae94-23ff-449a-bb9c-1b808cf2106d";

/// The waits these tests make, on the job `JOB`.
trait Waits {
    fn wait(&self) -> Result<JobOutcome, WaitError>;
    fn wait_with_plain_backoff(&self) -> Result<JobOutcome, WaitError>;
    fn wait_expecting(&self, subtasks: usize) -> Result<JobOutcome, WaitError>;
    fn offsets(&self, n: usize) -> Vec<String>;
}

impl Waits for Rig {
    fn wait(&self) -> Result<JobOutcome, WaitError> {
        self.waiter().build().unwrap().wait(JOB)
    }

    /// Waits without prediction, on the default schedule without jitter: 0, 5, 15, 35, 65,
    /// 95 s, then every 30 s.
    fn wait_with_plain_backoff(&self) -> Result<JobOutcome, WaitError> {
        self.waiter()
            .poll(exact(wks_waiter::defaults::DEFAULT_POLL))
            .predictive(false)
            .build()
            .unwrap()
            .wait(JOB)
    }

    fn wait_expecting(&self, subtasks: usize) -> Result<JobOutcome, WaitError> {
        self.waiter()
            .expect_subtasks(subtasks)
            .build()
            .unwrap()
            .wait(JOB)
    }

    /// The `offset` of each of the first `n` requests ("0" when not sent).
    /// The offsets of the first `n` listing requests.
    fn offsets(&self, n: usize) -> Vec<String> {
        self.source
            .requests()
            .iter()
            .filter(|r| !r.path.contains("workspace-jobs"))
            .take(n)
            .map(|r| r.query_values("offset").first().unwrap_or(&"0").to_string())
            .collect()
    }
}

fn exact(policy: BackoffPolicy) -> BackoffPolicy {
    policy.randomization_factor(0.0)
}

fn desktop(i: usize, start: u64, end: Option<u64>, outcome: Outcome) -> DesktopPlan {
    DesktopPlan {
        subtask_id: format!("sub-{i:04}"),
        desktop_id: format!("desk-id-{i:04}"),
        desktop_name: format!("desktop-{i:04}"),
        user_name: format!("user-{i:04}"),
        visible_at: Duration::ZERO,
        start_at: secs(start),
        end_at: end.map(secs),
        outcome,
        running_status: None,
        deleted_at: None,
        ..DesktopPlan::default()
    }
}

fn job(desktops: Vec<DesktopPlan>) -> Scenario {
    Scenario::new().job(JobPlan::new(JOB, desktops))
}

fn failed(code: &str, reason: &str) -> Outcome {
    Outcome::Failed {
        error_code: code.into(),
        fail_reason: reason.into(),
    }
}

#[test]
fn all_succeed() {
    let spec = TimelineSpec {
        finish_between: (mins(4), mins(6)),
        ..TimelineSpec::new(10)
    };
    let rig = Rig::new(Scenario::generate(JOB, &spec));
    let outcome = rig.wait().unwrap();
    assert!(outcome.is_success() && outcome.is_complete());
    let counts = outcome.counts();
    assert_eq!((counts.total, counts.succeeded, counts.failed), (10, 10, 0));
    assert!(outcome.failures().is_empty());
    assert_eq!(outcome.requests as usize, rig.requests());
    let last_end = JobPlan::generate(JOB, &spec).last_end().unwrap();
    // Detected soon after the last desktop finished, with few requests.
    assert!(
        outcome.elapsed >= last_end && outcome.elapsed <= last_end + secs(30),
        "{:?}",
        outcome.elapsed
    );
    assert!(outcome.requests <= 12, "{} requests", outcome.requests);
}

#[test]
fn mixed_success_and_failure_report_exact_reasons() {
    let rig = Rig::new(job(vec![
        desktop(0, 0, Some(100), Outcome::Success),
        desktop(
            1,
            0,
            Some(40),
            failed("WKS.0120", "insufficient capacity in availability zone"),
        ),
        desktop(2, 10, Some(300), Outcome::Success),
        desktop(
            3,
            10,
            Some(200),
            failed("WKS.0209", "user user-0003 already has a desktop"),
        ),
    ]));
    let outcome = rig.wait().unwrap();
    assert!(outcome.is_complete() && !outcome.is_success());
    assert!(outcome.elapsed >= secs(300));
    let failures = outcome.failures();
    assert_eq!(failures.len(), 2);
    assert_eq!(failures[0].subtask_id.as_deref(), Some("sub-0001"));
    assert_eq!(failures[0].desktop_id.as_deref(), Some("desk-id-0001"));
    assert_eq!(failures[0].desktop_name.as_deref(), Some("desktop-0001"));
    assert_eq!(failures[0].user_name.as_deref(), Some("user-0001"));
    assert_eq!(failures[0].error_code.as_deref(), Some("WKS.0120"));
    assert_eq!(
        failures[0].fail_reason.as_deref(),
        Some("insufficient capacity in availability zone")
    );
    assert_eq!(failures[1].error_code.as_deref(), Some("WKS.0209"));
    assert_eq!(
        failures[1].fail_reason.as_deref(),
        Some("user user-0003 already has a desktop")
    );
}

#[test]
fn fail_fast_returns_at_the_first_failure() {
    let rig = Rig::new(job(vec![
        desktop(0, 0, Some(1200), Outcome::Success),
        desktop(1, 0, Some(60), failed("WKS.0120", "no capacity")),
    ]));
    let outcome = rig
        .waiter()
        .fail_fast(true)
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap();
    assert!(
        outcome.elapsed >= secs(60) && outcome.elapsed < secs(120),
        "{:?}",
        outcome.elapsed
    );
    let counts = outcome.counts();
    assert_eq!((counts.failed, counts.pending()), (1, 1));
    // Decided by the rule, with a desktop still running.
    assert_eq!(outcome.result, JobResult::Failed);
}

#[test]
fn late_visibility_is_not_success() {
    let spec = TimelineSpec {
        visible_after: secs(90),
        finish_between: (mins(8), mins(8)),
        ..TimelineSpec::new(20)
    };
    let rig = Rig::new(Scenario::generate(JOB, &spec));
    let outcome = rig.wait().unwrap();
    assert_eq!(outcome.counts().succeeded, 20);
    assert!(outcome.elapsed >= mins(8));
}

#[test]
fn expect_subtasks_waits_for_all_to_appear() {
    let scenario = || {
        let mut late = desktop(1, 200, Some(260), Outcome::Success);
        late.visible_at = secs(180);
        job(vec![desktop(0, 0, Some(10), Outcome::Success), late])
    };
    let outcome = Rig::new(scenario()).wait_expecting(2).unwrap();
    assert_eq!(outcome.counts().succeeded, 2);
    assert!(outcome.elapsed >= secs(260));
    // Without the expectation, the job's own details announce two subtasks: the first
    // visible desktop alone is not taken for the whole job.
    let outcome = Rig::new(scenario()).wait().unwrap();
    assert_eq!(outcome.counts().succeeded, 2);
    assert_eq!(outcome.job.as_ref().unwrap().sub_jobs_total, Some(2));
}

#[test]
fn thousands_of_subtasks_over_capped_pages() {
    let spec = TimelineSpec {
        failures: 60,
        finish_between: (mins(10), mins(30)),
        ..TimelineSpec::new(3000)
    };
    let rig = Rig::new(Scenario::generate(JOB, &spec).page_cap(400));
    let outcome = rig.wait().unwrap();
    let counts = outcome.counts();
    assert_eq!(
        (counts.total, counts.succeeded, counts.failed),
        (3000, 2940, 60)
    );
    assert_eq!(outcome.failures().len(), 60);
    let ids: std::collections::HashSet<_> =
        outcome.subtasks.iter().map(|s| s.id().unwrap()).collect();
    assert_eq!(ids.len(), 3000);
    // Every page of a listing was read: a full listing of 3000 at 400 a page is 8 requests.
    assert_eq!(
        rig.offsets(8),
        ["0", "400", "800", "1200", "1600", "2000", "2400", "2800"]
    );
}

#[test]
fn exact_backoff_schedule_until_the_deadline() {
    // Visible only after the deadline: the waiter keeps polling on its schedule, reads the
    // job's details at the first poll and a minute later, never sleeps past the deadline,
    // then polls once more at it.
    let mut hidden = desktop(0, 600, Some(900), Outcome::Success);
    hidden.visible_at = secs(300);
    let rig = Rig::new(job(vec![hidden]));
    let err = rig
        .waiter()
        .poll(exact(BackoffPolicy::new(secs(5)).max_interval(secs(30))))
        .max_wait(secs(120))
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap_err();
    let sleeps: Vec<u64> = rig.sleeper.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(sleeps, [5, 10, 20, 30, 30, 25]);
    let paths: Vec<bool> = rig
        .source
        .requests()
        .iter()
        .map(|r| r.path.contains("workspace-jobs"))
        .collect();
    // Details at 0 s (the first look: the job exists, runs, lists nothing inline, so no
    // listing yet); listings at 5, 15, 35 s; listing and details at 65 s (a minute after
    // the first read); listings at 95 and 120 s.
    assert_eq!(
        paths,
        [true, false, false, false, false, true, false, false]
    );
    let WaitError::TimedOut { partial, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!((partial.elapsed, partial.polls), (secs(120), 7));
    assert_eq!(partial.subtasks.len(), 0);
}

#[test]
fn deadline_returns_the_partial_outcome_with_every_pending_desktop() {
    let rig = Rig::new(Scenario::never_finishing(JOB, 25));
    let err = rig
        .waiter()
        .max_wait(mins(10))
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap_err();
    let WaitError::TimedOut { partial, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(partial.elapsed, mins(10));
    assert_eq!(partial.pending().count(), 25);
    assert_eq!(partial.counts().running + partial.counts().waiting, 25);
    assert!(
        err.to_string().contains("25 of 25 subtasks pending"),
        "{err}"
    );
}

#[test]
fn a_thirty_minute_job_with_plain_backoff_has_an_exact_schedule() {
    // One desktop finishing at 30 min; without prediction the waiter follows the backoff:
    // polls at 0, 5, 15, 35, 65, 95, then every 30 s, so the one at 1805 s sees it done.
    let rig = Rig::new(job(vec![desktop(0, 0, Some(1800), Outcome::Success)]));
    let outcome = rig.wait_with_plain_backoff().unwrap();
    assert_eq!(outcome.elapsed, secs(1805));
    assert_eq!(outcome.polls, 6 + (1805 - 95) / 30);
    // One request per poll: the job's details at the first (in place of a listing), a
    // listing at each poll after, and the details again once past the predicted end
    // (where they serve the verdict too).
    assert_eq!(outcome.requests, outcome.polls);
}

#[test]
fn prediction_saves_requests_on_the_same_job() {
    let scenario = || job(vec![desktop(0, 0, Some(1800), Outcome::Success)]);
    let rig = Rig::new(scenario());
    let outcome = rig.wait().unwrap();
    assert!(
        outcome.elapsed >= secs(1800) && outcome.elapsed <= secs(1810),
        "{:?}",
        outcome.elapsed
    );
    // A handful of listings, and the job's details once before the verdict.
    assert!(outcome.requests <= 18, "{} requests", outcome.requests);
}

#[test]
fn a_401_ends_the_wait_after_exactly_one_request() {
    let unauthorized = Fault::Status {
        status: 401,
        error_code: "APIGW.0301".into(),
        error_msg: "Incorrect IAM authentication information".into(),
    };
    let rig = Rig::with_faults(
        Scenario::desktops(JOB, 3),
        FaultPlan::new().always(unauthorized),
    );
    let err = rig.wait().unwrap_err();
    assert_eq!(rig.requests(), 1);
    let WaitError::Request { error, partial } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(error.status(), Some(401));
    assert_eq!(
        error.api().unwrap().error_code.as_deref(),
        Some("APIGW.0301")
    );
    assert_eq!(partial.requests, 1);
    assert!(rig.sleeper.sleeps().is_empty());
}

#[test]
fn every_permanent_status_ends_the_wait_at_once() {
    for status in [400, 403, 404, 405] {
        let fault = Fault::Status {
            status,
            error_code: format!("WKS.{status}"),
            error_msg: "no".into(),
        };
        let rig = Rig::with_faults(Scenario::desktops(JOB, 1), FaultPlan::new().always(fault));
        let err = rig.wait().unwrap_err();
        assert_eq!(err.error().and_then(Error::status), Some(status));
        // The job's details first, whose refusal leaves it to the listing (no permission
        // to read them, or details lagging the job's creation); the listing's ends it.
        assert_eq!(rig.requests(), 2, "{status}");
        assert!(rig.sleeper.sleeps().is_empty(), "{status}");
    }
}

#[test]
fn a_failure_on_page_three_retries_only_page_three() {
    let rig = Rig::with_faults(
        Scenario::desktops(JOB, 250).page_cap(100),
        // Request 0 is the job's details; 1, 2, 3 the pages of the first listing.
        FaultPlan::new().on_request(3, Fault::ServerError),
    );
    let outcome = rig.wait().unwrap();
    assert_eq!(outcome.counts().total, 250);
    assert_eq!(rig.offsets(4), ["0", "100", "200", "200"]);
    assert_eq!(rig.source.requests()[3].status, 500);
}

#[test]
fn storms_of_throttling_and_server_errors_are_survived() {
    let spec = TimelineSpec {
        failures: 6,
        finish_between: (mins(5), mins(15)),
        ..TimelineSpec::new(200)
    };
    let expected = Rig::new(Scenario::generate(JOB, &spec)).wait().unwrap();
    let choices = vec![
        Fault::Throttle {
            retry_after: Some(7),
        },
        Fault::ServerError,
        Fault::Unavailable,
        Fault::TruncatedBody,
        Fault::DropConnection,
    ];
    for seed in 0..5 {
        let rig = Rig::with_faults(
            Scenario::generate(JOB, &spec).page_cap(50),
            FaultPlan::new().random(0.3, seed, choices.clone()),
        );
        let outcome = rig.wait().unwrap();
        assert_eq!(outcome.counts(), expected.counts());
        assert_eq!(outcome.failures(), expected.failures());
        let faults = rig
            .source
            .requests()
            .iter()
            .filter(|r| r.fault.is_some())
            .count();
        assert!(faults > 0);
        assert_eq!(outcome.requests as usize, rig.requests());
    }
}

#[test]
fn throttling_honours_retry_after() {
    let rig = Rig::with_faults(
        Scenario::desktops(JOB, 2),
        FaultPlan::new().on_request(
            0,
            Fault::Throttle {
                retry_after: Some(42),
            },
        ),
    );
    assert!(rig.wait().unwrap().is_success());
    assert_eq!(rig.sleeper.sleeps()[0], secs(42));
}

#[test]
fn throttling_backs_off_harder_than_server_errors() {
    let run = |fault: Fault| {
        let rig = Rig::with_faults(
            Scenario::desktops(JOB, 1),
            FaultPlan::new().on_requests(0..3, fault),
        );
        let outcome = rig
            .waiter()
            .retry(exact(wks_waiter::defaults::DEFAULT_RETRY))
            .throttle_retry(exact(wks_waiter::defaults::DEFAULT_THROTTLE_RETRY))
            .build()
            .unwrap()
            .wait(JOB)
            .unwrap();
        assert!(outcome.is_success());
        rig.sleeper.sleeps().into_iter().take(3).collect::<Vec<_>>()
    };
    assert_eq!(run(Fault::ServerError), [secs(1), secs(2), secs(4)]);
    assert_eq!(
        run(Fault::Throttle { retry_after: None }),
        [secs(5), secs(10), secs(20)]
    );
}

#[test]
fn too_many_consecutive_failures_end_with_the_last_error() {
    let rig = Rig::with_faults(
        Scenario::desktops(JOB, 1),
        FaultPlan::new().always(Fault::Unavailable),
    );
    let err = rig
        .waiter()
        .max_retries(3)
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap_err();
    // The first look's details, 4 attempts, then (details are evidence the wait can do
    // without) the listing, 4 attempts.
    assert_eq!(rig.requests(), 8);
    let WaitError::Request { error, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(error.status(), Some(503));
}

#[test]
fn unknown_status_counts_as_pending() {
    let mut paused = desktop(0, 0, Some(600), Outcome::Success);
    paused.running_status = Some("PAUSED".into());
    let rig = Rig::new(job(vec![paused, desktop(1, 0, Some(30), Outcome::Success)]));
    let outcome = rig.wait().unwrap();
    assert!(outcome.elapsed >= secs(600));
    assert!(outcome.is_success());
}

#[test]
fn subtasks_deleted_after_finishing_keep_their_last_state() {
    // Plain backoff polls at 0, 5, 15, 35 (sees the failure), 65, 95, 125 (it is gone).
    let mut early = desktop(0, 0, Some(30), failed("WKS.0001", "boom"));
    early.deleted_at = Some(secs(120));
    let rig = Rig::new(job(vec![early, desktop(1, 0, Some(900), Outcome::Success)]));
    let outcome = rig.wait_with_plain_backoff().unwrap();
    assert_eq!(outcome.subtasks.len(), 2);
    assert!(outcome.subtasks[0].vanished);
    assert_eq!(
        outcome.subtasks[0].subtask.status,
        Some(SubtaskStatus::Failed)
    );
    assert_eq!(outcome.failures()[0].fail_reason.as_deref(), Some("boom"));
    assert_eq!(outcome.counts().succeeded, 1);
}

#[test]
fn a_subtask_deleted_before_its_end_was_seen_is_not_a_success() {
    // Finishes at 40 s and is deleted at 50 s, between the polls at 35 and 65; another
    // desktop fails at 100 s, so the job does not say SUCCESS (which would tell how the
    // vanished one ended).
    let mut unseen = desktop(0, 0, Some(40), Outcome::Success);
    unseen.deleted_at = Some(secs(50));
    let rig = Rig::new(job(vec![
        unseen,
        desktop(1, 0, Some(100), failed("WKS.0001", "boom")),
    ]));
    let outcome = rig.wait_with_plain_backoff().unwrap();
    assert!(outcome.is_complete() && !outcome.is_success());
    assert!(outcome.subtasks[0].vanished);
    assert_eq!(
        outcome.subtasks[0].subtask.status,
        Some(SubtaskStatus::Running)
    );
    // Neither a success nor a failure: vanished, with its own marker.
    assert_eq!(outcome.failures().len(), 1);
    assert_eq!(outcome.vanished().count(), 1);
    assert_eq!(outcome.counts().vanished, 1);
    // Missing at 65 s, confirmed missing by a second listing one poll interval later.
    let at: Vec<u64> = rig
        .source
        .requests()
        .iter()
        .map(|r| r.at.as_secs())
        .collect();
    assert!(at.starts_with(&[0, 5, 15, 35, 65, 70]), "{at:?}");
}

#[test]
fn a_job_saying_success_tells_how_a_vanished_subtask_ended() {
    // As above, with no failure: the job's SUCCESS says the vanished one succeeded.
    let mut unseen = desktop(0, 0, Some(40), Outcome::Success);
    unseen.deleted_at = Some(secs(50));
    let rig = Rig::new(job(vec![
        unseen,
        desktop(1, 0, Some(100), Outcome::Success),
    ]));
    let outcome = rig.wait_with_plain_backoff().unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    assert!(
        outcome.subtasks[0].vanished,
        "still marked: its end was not seen"
    );
    assert_eq!(outcome.counts().succeeded, 1);
}

#[test]
fn a_server_ignoring_the_status_filter_still_gives_the_right_outcome() {
    let spec = TimelineSpec {
        failures: 5,
        finish_between: (mins(2), mins(10)),
        ..TimelineSpec::new(300)
    };
    let expected = Rig::new(Scenario::generate(JOB, &spec).page_cap(100))
        .wait()
        .unwrap();
    let rig = Rig::new(
        Scenario::generate(JOB, &spec)
            .page_cap(100)
            .ignore_status_filter(true),
    );
    let outcome = rig.wait().unwrap();
    assert_eq!(outcome.counts(), expected.counts());
    assert_eq!(outcome.failures(), expected.failures());
}

#[test]
fn observer_sees_every_poll_sleep_and_transition_once() {
    let rig = Rig::new(job(vec![
        desktop(0, 0, Some(50), Outcome::Success),
        desktop(1, 0, Some(70), failed("WKS.0120", "no capacity")),
    ]));
    let mut events: Vec<Event> = Vec::new();
    let outcome = rig
        .waiter()
        .build()
        .unwrap()
        .wait_with(JOB, |event| events.push(event.clone()))
        .unwrap();
    let polls: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Polled {
                counts,
                mean_process,
                ..
            } => Some((*counts, *mean_process)),
            _ => None,
        })
        .collect();
    assert_eq!(polls.len() as u32, outcome.polls);
    let sleeps: Vec<Duration> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Sleeping { delay } => Some(delay),
            _ => None,
        })
        .collect();
    assert_eq!(sleeps, rig.sleeper.sleeps());
    let names: Vec<&str> = events
        .iter()
        .map(|e| e.kind.name())
        .filter(|n| !matches!(*n, "poll" | "sleep"))
        .collect();
    assert_eq!(
        names,
        [
            "started",
            "subtask_succeeded",
            "subtask_failed",
            "job_finished"
        ]
    );
    let failure = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::SubtaskFailed { failure, .. } => Some(failure.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(failure.error_code.as_deref(), Some("WKS.0120"));
    assert_eq!(polls[0].0.total, 2);
    assert!(polls[0].1.is_some());
    // The failed desktop keeps the progress it had when it failed.
    let failed_process = f64::from(outcome.subtasks[1].subtask.process.unwrap());
    assert_eq!(
        polls.last().unwrap().1,
        Some((100.0 + failed_process) / 2.0)
    );
}

#[test]
fn cancelling_from_another_thread_wakes_a_sleeping_waiter() {
    let (clock, _) = virtual_time();
    let source = VirtualSource::new(Scenario::never_finishing(JOB, 3), clock);
    // The real sleeper: without the wake-up this test would block for the hour-long poll.
    let waiter = Waiter::builder(source)
        .sleeper(Arc::new(ThreadSleeper))
        .poll(BackoffPolicy::new(secs(3600)).max_interval(secs(3600)))
        .build()
        .unwrap();
    let cancel = waiter.cancellation();
    let (tx, rx) = mpsc::channel();
    let canceller = std::thread::spawn(move || {
        rx.recv().unwrap();
        cancel.cancel();
    });
    // The wait runs on its own thread so that a broken wake-up fails this test after a
    // few minutes instead of hanging it for the hour.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(waiter.wait_with(JOB, |event| {
            if matches!(event.kind, EventKind::Sleeping { .. }) {
                let _ = tx.send(());
            }
        }));
    });
    let result = done_rx
        .recv_timeout(secs(300))
        .expect("a cancelled waiter did not wake within 5 minutes");
    canceller.join().unwrap();
    let err = result.unwrap_err();
    let WaitError::Cancelled { partial } = err else {
        panic!("{err:?}")
    };
    assert_eq!(partial.counts().pending(), 3);
    assert_eq!(partial.polls, 1);
}

#[test]
fn bad_configuration_is_refused_before_any_request() {
    let rig = Rig::new(Scenario::desktops(JOB, 1));
    let cases: Vec<(WaiterBuilder<_>, &str)> = vec![
        (rig.waiter().max_wait(Duration::ZERO), "max_wait"),
        (rig.waiter().expect_subtasks(0), "expect_subtasks"),
        (rig.waiter().page_size(0), "page_size `0`"),
        (rig.waiter().page_size(1001), "page_size `1001`"),
        (
            rig.waiter()
                .poll(BackoffPolicy::new(secs(10)).max_interval(secs(5))),
            "max_interval 5s",
        ),
        (
            rig.waiter()
                .poll(BackoffPolicy::new(Duration::ZERO).max_interval(secs(5))),
            "initial_interval 0s",
        ),
        (
            rig.waiter().request_timeout(Duration::ZERO),
            "request_timeout",
        ),
    ];
    for (builder, needle) in cases {
        let err = builder.build().unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
    let waiter = rig.waiter().build().unwrap();
    for bad in ["", "job id", "../etc"] {
        let err = waiter.wait(bad).unwrap_err();
        assert!(matches!(err, WaitError::InvalidInput(_)), "{err:?}");
        assert!(err.to_string().contains("job_id"), "{err}");
    }
    assert_eq!(rig.requests(), 0);
}

#[test]
fn end_to_end_over_http_in_virtual_time() {
    let (clock, sleeper) = virtual_time();
    let spec = TimelineSpec {
        failures: 2,
        finish_between: (mins(3), mins(12)),
        ..TimelineSpec::new(120)
    };
    let sim = Simulator::builder(Scenario::generate(JOB, &spec).page_cap(50))
        .clock(clock.clone())
        .faults(FaultPlan::new().on_request(1, Fault::Unavailable))
        .start()
        .unwrap();
    let client = Client::builder()
        .endpoint(sim.url())
        .project_id(sim.project_id())
        .credentials(Credentials::access_key(sim.access_key(), sim.secret_key()).unwrap())
        .clock(clock.clone())
        .proxy_from_env(false)
        .build()
        .unwrap();
    let waiter = Waiter::builder(client)
        .clock(clock.clone())
        .sleeper(sleeper)
        .jitter_seed(1)
        .build()
        .unwrap();
    let outcome = waiter.wait(JOB).unwrap();
    let counts = outcome.counts();
    assert_eq!(
        (counts.total, counts.succeeded, counts.failed),
        (120, 118, 2)
    );
    assert_eq!(outcome.requests as usize, sim.requests().len());
    let last_end = JobPlan::generate(JOB, &spec).last_end().unwrap();
    assert!(outcome.elapsed >= last_end);
}

#[test]
fn expected_subtasks_deleted_after_finishing_still_count() {
    let mut early = desktop(0, 0, Some(30), Outcome::Success);
    early.deleted_at = Some(secs(60));
    let rig = Rig::new(job(vec![early, desktop(1, 0, Some(300), Outcome::Success)]));
    let outcome = rig.wait_expecting(2).unwrap();
    assert!(outcome.elapsed < secs(330), "{:?}", outcome.elapsed);
    assert_eq!(outcome.counts().total, 2);
}

#[test]
fn a_poll_cap_below_two_seconds_is_honoured() {
    let rig = Rig::new(job(vec![desktop(0, 0, Some(600), Outcome::Success)]));
    let outcome = rig
        .waiter()
        .poll(BackoffPolicy::new(Duration::from_millis(500)).max_interval(secs(1)))
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap();
    // Overdue polls were capped at 1 s instead of panicking on a 2 s floor.
    assert!(outcome.is_success());
    assert!(outcome.elapsed <= secs(602), "{:?}", outcome.elapsed);
}

#[test]
fn the_status_filter_keeps_predicting_after_subtasks_leave_it() {
    // 20 desktops finish early, one runs from 60 to 90 s, 9 run about 20 minutes: filtered
    // polls must not lose the prediction when the 60-90 s desktop drops out of them.
    let mut desktops: Vec<_> = (0..20)
        .map(|i| desktop(i, 0, Some(30), Outcome::Success))
        .collect();
    desktops.push(desktop(20, 60, Some(90), Outcome::Success));
    desktops.extend((21..30).map(|i| desktop(i, 0, Some(1190 + i as u64), Outcome::Success)));
    let run = |filter: bool| {
        let rig = Rig::new(job(desktops.clone()));
        let outcome = rig
            .waiter()
            .page_size(10)
            .status_filter(filter)
            .build()
            .unwrap()
            .wait(JOB)
            .unwrap();
        assert_eq!(outcome.counts().succeeded, 30);
        outcome
    };
    let (filtered, full) = (run(true), run(false));
    assert!(
        filtered.requests <= full.requests,
        "{} > {}",
        filtered.requests,
        full.requests
    );
    assert!(
        filtered.elapsed <= secs(1219 + 10),
        "{:?}",
        filtered.elapsed
    );
}
