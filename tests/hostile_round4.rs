//! A fourth hostile review, of what issues 13 and 14 promise under a misbehaving service:
//! the event stream of `wait_with` / `wait_all_with` (each subtask's end exactly once, never
//! contradicted by the outcome, in order), the outcome rules (never decided wrongly early,
//! decided as soon as the pending cannot change the result), many jobs in one wait
//! (project-wide listing tricks, one job's errors isolated, exact per-job outcomes), and
//! several waiters sharing one request budget.
//!
//! Tests named `finding_NN_…` failed on the code they were written against (each marked
//! `// FINDING n: …`) and pass since the fix; the others are attacks the waiter survived,
//! kept as regression tests. Everything runs in virtual time.
#![cfg(feature = "simulator")]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use support::hostile::{api_error, filter, job_details, page, slice, sub, Call};
use support::{mins, secs};
use wks_waiter::events::EventKind;
use wks_waiter::model::Subtask;
use wks_waiter::outcome::SubtaskState;
use wks_waiter::simulator::{
    DesktopPlan, Fault, FaultPlan, JobPlan, Outcome, RateLimit, Scenario, TimelineSpec,
    VirtualSource,
};
use wks_waiter::source::JobsApi;
use wks_waiter::test_util::ManualClock;
use wks_waiter::time::{Cancellation, Sleeper};
use wks_waiter::{Event, JobOutcome, JobResult, Limit, WaitError, WaitOutcome, WaiterBuilder};

const JOB: &str = "job-hostile";

/// The arena of the attacks (virtual time, honest simulators under hostile fronts).
type Rig = support::hostile::Arena;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// `ids` of [`JOB`], all with `status`.
fn subs(ids: &[&str], status: &str) -> Vec<Subtask> {
    ids.iter().map(|id| sub(id, JOB, status)).collect()
}

/// The outcome of a wait, whether it ended with an error or not.
fn outcome_of(result: &Result<JobOutcome, WaitError>) -> &JobOutcome {
    match result {
        Ok(outcome) => outcome,
        Err(err) => err.partial().expect("a partial outcome"),
    }
}

fn describe(outcome: &JobOutcome) -> String {
    format!(
        "{} {} at {:?}; counts {:?}; job {:?}; error {:?}",
        outcome.job_id,
        outcome.result,
        outcome.elapsed,
        outcome.counts(),
        outcome.job.as_ref().and_then(|j| j.status.clone()),
        outcome.error.as_ref().map(|e| &e.message)
    )
}

/// Each subtask's state in `outcome`, by ID.
fn states(outcome: &JobOutcome) -> BTreeMap<String, SubtaskState> {
    outcome
        .subtasks
        .iter()
        .map(|s| (s.id().unwrap_or_default().to_owned(), s.state()))
        .collect()
}

/// The job and subtask ID of a subtask-level event, and the state it announces.
fn subtask_event(event: &Event) -> Option<(&str, String, SubtaskState)> {
    match &event.kind {
        EventKind::SubtaskSucceeded { job_id, subtask } => Some((
            job_id.as_str(),
            subtask.id.clone().unwrap_or_default(),
            SubtaskState::Succeeded,
        )),
        EventKind::SubtaskFailed { job_id, failure } => Some((
            job_id.as_str(),
            failure.subtask_id.clone().unwrap_or_default(),
            SubtaskState::Failed,
        )),
        EventKind::SubtaskVanished { job_id, subtask } => Some((
            job_id.as_str(),
            subtask.id.clone().unwrap_or_default(),
            SubtaskState::Vanished,
        )),
        _ => None,
    }
}

/// What the stream must satisfy against the final outcomes (issue 14): `Started` first and
/// once; per job exactly one `JobFinished`, after every subtask event of that job, with the
/// outcome's result, counts and error; each subtask's terminal event at most once, agreeing
/// with its state in the outcome; every subtask the outcome reports finished (succeeded,
/// failed, vanished) announced. Returns the first violation.
fn stream_violation(events: &[Event], outcomes: &[&JobOutcome]) -> Option<String> {
    match events.first().map(|e| &e.kind) {
        Some(EventKind::Started { .. }) => {}
        other => return Some(format!("the first event is {other:?}, not Started")),
    }
    let started = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Started { .. }))
        .count();
    if started != 1 {
        return Some(format!("{started} Started events"));
    }
    let mut finished: HashMap<String, usize> = HashMap::new();
    let mut announced: HashMap<(String, String), Vec<SubtaskState>> = HashMap::new();
    for (n, event) in events.iter().enumerate() {
        if let EventKind::JobFinished {
            job_id,
            result,
            counts,
            error,
        } = &event.kind
        {
            if finished.insert(job_id.clone(), n).is_some() {
                return Some(format!("job {job_id} finished twice (event {n})"));
            }
            let Some(outcome) = outcomes.iter().find(|o| &o.job_id == job_id) else {
                return Some(format!("JobFinished for a job not waited on: {job_id}"));
            };
            if *result != outcome.result {
                return Some(format!(
                    "JobFinished says {job_id} {result}, the outcome {}",
                    outcome.result
                ));
            }
            if *counts != outcome.counts() {
                return Some(format!(
                    "JobFinished counts of {job_id} {counts:?}, the outcome's {:?}",
                    outcome.counts()
                ));
            }
            if *error != outcome.error {
                return Some(format!(
                    "JobFinished error of {job_id} {error:?}, the outcome's {:?}",
                    outcome.error
                ));
            }
        }
        if let Some((job_id, id, state)) = subtask_event(event) {
            if let Some(at) = finished.get(job_id) {
                return Some(format!(
                    "event {n} ({state:?} of {id}) came after job {job_id} finished (event {at})"
                ));
            }
            announced
                .entry((job_id.to_owned(), id))
                .or_default()
                .push(state);
        }
    }
    for outcome in outcomes {
        if !finished.contains_key(&outcome.job_id) {
            return Some(format!("no JobFinished for {}", outcome.job_id));
        }
        let states = states(outcome);
        for ((job_id, id), said) in &announced {
            if job_id != &outcome.job_id {
                continue;
            }
            if said.len() != 1 {
                return Some(format!(
                    "{job_id}/{id}: {} terminal events {said:?}",
                    said.len()
                ));
            }
            match states.get(id) {
                Some(state) if *state == said[0] => {}
                other => {
                    return Some(format!(
                        "{job_id}/{id}: the stream said {:?}, the outcome says {other:?}",
                        said[0]
                    ))
                }
            }
        }
        for (id, state) in &states {
            if *state != SubtaskState::Pending
                && !announced.contains_key(&(outcome.job_id.clone(), id.clone()))
            {
                return Some(format!(
                    "{}/{id} is {state:?} in the outcome, never announced",
                    outcome.job_id
                ));
            }
        }
    }
    None
}

fn assert_stream(events: &[Event], outcomes: &[&JobOutcome]) {
    if let Some(violation) = stream_violation(events, outcomes) {
        let kinds: Vec<String> = events
            .iter()
            .filter(|e| {
                !matches!(
                    e.kind,
                    EventKind::Polled { .. } | EventKind::Sleeping { .. }
                )
            })
            .map(|e| format!("{:?} {}", e.elapsed, serde_json::to_string(e).unwrap()))
            .collect();
        let described: Vec<String> = outcomes.iter().map(|o| describe(o)).collect();
        panic!(
            "{violation}\noutcomes: {described:#?}\nevents:\n{}",
            kinds.join("\n")
        );
    }
}

fn assert_stream_all(events: &[Event], outcome: &WaitOutcome) {
    let outcomes: Vec<&JobOutcome> = outcome.jobs.iter().collect();
    assert_stream(events, &outcomes);
}

/// The largest number of `calls` within any `window`-long interval.
fn busiest(times: &[Duration], window: Duration) -> usize {
    times
        .iter()
        .map(|&start| {
            times
                .iter()
                .filter(|&&t| t >= start && t < start + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn call_times(calls: &[Call]) -> Vec<Duration> {
    calls.iter().map(|c| c.at).collect()
}

fn desktop(number: usize, end: Duration, outcome: Outcome) -> DesktopPlan {
    DesktopPlan {
        end_at: Some(end),
        outcome,
        ..DesktopPlan::new(number)
    }
}

fn failed() -> Outcome {
    Outcome::failed("WKS.0120", "insufficient capacity")
}

/// A job of 10 desktops, the first 5 succeeding at 1 minute and deleted at 2 minutes (a
/// user cleaning up finished subtasks), the other 5 succeeding at 5 minutes: the job's
/// details say `SUCCESS` at the end, `sub_jobs_total` 10, and list only the 5 left.
fn half_deleted_before_the_wait() -> Scenario {
    let mut desktops = Vec::new();
    for n in 1..=5 {
        desktops.push(DesktopPlan {
            deleted_at: Some(mins(2)),
            ..desktop(n, mins(1), Outcome::Success)
        });
    }
    for n in 6..=10 {
        desktops.push(desktop(n, mins(5), Outcome::Success));
    }
    Scenario::new().job(JobPlan::new(JOB, desktops))
}

// ---------------------------------------------------------------------------------------
// Findings
// ---------------------------------------------------------------------------------------

// FINDING 1: fail_fast (no failure at all) turns a job that says SUCCESS into a failure
// when some of its subtasks were deleted before the wait began.
/// A job of 10 desktops, all succeeding; the first 5 were deleted (finished) before the
/// wait starts at 3 minutes; the job's details announce 10 and say `SUCCESS` at 5 minutes.
/// Without a rule the waiter decides success on the 5 listed ("deleted? deciding on those
/// 5"). With `fail_fast` — which can only make a *failure* end the wait sooner — the job is
/// reported **failed**, with 0 failures: the rules count the 5 never-seen subtasks as
/// still open at the verdict (`bad + open <= 0` does not hold), and a complete job that is
/// not "safe" is failed. A correct waiter gives the same verdict as without the rule: the
/// job says SUCCESS, no subtask failed.
#[test]
fn finding_01_fail_fast_does_not_fail_a_successful_job_whose_finished_subtasks_were_deleted() {
    let rig = Rig::new();
    let source = rig.hostile(rig.simulator(half_deleted_before_the_wait()));
    rig.clock.advance(mins(3));
    let plain = rig.waiter(&source).build().unwrap().wait(JOB).unwrap();
    assert_eq!(plain.result, JobResult::Succeeded, "{}", describe(&plain));
    let rig = Rig::new();
    let source = rig.hostile(rig.simulator(half_deleted_before_the_wait()));
    rig.clock.advance(mins(3));
    let mut events = Vec::new();
    let strict = rig
        .waiter(&source)
        .fail_fast(true)
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()));
    let strict = outcome_of(&strict);
    assert_stream(&events, &[strict]);
    assert_eq!(strict.counts().failed, 0);
    assert_eq!(strict.result, JobResult::Succeeded, "{}", describe(strict));
}

// FINDING 2: a lenient `min_succeeded` percentage fails the same successful job.
/// The job of finding 1 with `min_succeeded(60%)`: 5 of the 10 announced subtasks were
/// seen succeeding, the 5 others were deleted before the wait — and the job says `SUCCESS`,
/// which the service says only when no subtask failed (the waiter's own reasoning for
/// vanished subtasks). The verdict is **failed** (5 < 6), although without the rule it is
/// a success: a rule asking for *less* than "every subtask succeeded" must not turn a
/// success into a failure.
#[test]
fn finding_02_a_lenient_percentage_does_not_fail_a_successful_job_with_deleted_subtasks() {
    let rig = Rig::new();
    let source = rig.hostile(rig.simulator(half_deleted_before_the_wait()));
    rig.clock.advance(mins(3));
    let result = rig
        .waiter(&source)
        .min_succeeded(Limit::Percent(60.0))
        .build()
        .unwrap()
        .wait(JOB);
    let outcome = outcome_of(&result);
    assert_eq!(
        outcome.result,
        JobResult::Succeeded,
        "{}",
        describe(outcome)
    );
}

// FINDING 3: fail_fast fails a job on a phantom FAILED row that only one torn listing
// showed, and that the job's own details, read for that very decision, contradict.
/// A job of A, B, C, all succeeding at 4 minutes, pages of 2. Once, at about 1 minute, page
/// 2 of a listing is torn: `total_count` grows from 3 to 4 and it shows a phantom D
/// `FAILED` (a row of no subtask the job has). The listing is inconsistent; its states
/// are still learnt ("a subtask seen FAILED did fail"), so D is added to the job, reported
/// failed, and `fail_fast` ends the wait **failed** — although the job's details, read for
/// the decision, list A, B, C (as many as `sub_jobs_total`, all unfinished) and no D, and
/// every later read agrees. A correct waiter does not let a subtask known only from a
/// listing it could not trust decide the job against details that add up.
#[test]
fn finding_03_a_phantom_failure_in_one_torn_listing_does_not_fail_fast() {
    let rig = Rig::new();
    let clock = rig.clock.clone();
    let details_clock = rig.clock.clone();
    let honest = |t: Duration| {
        let status = if t >= mins(4) { "SUCCESS" } else { "RUNNING" };
        subs(&["A", "B", "C"], status)
    };
    let torn = Arc::new(Mutex::new(false));
    let source = rig
        .scripted()
        .pages(move |_, call| {
            let t = clock.elapsed();
            let mut done = torn.lock().unwrap();
            if t >= mins(1) && call.offset() == 2 && !call.filtered() && !*done {
                *done = true;
                return Ok(page(4, vec![honest(t)[2].clone(), sub("D", JOB, "FAILED")]));
            }
            Ok(slice(&filter(&honest(t), call), call, 2))
        })
        .jobs(move |_, _| {
            let t = details_clock.elapsed();
            let status = if t >= mins(4) { "SUCCESS" } else { "RUNNING" };
            Ok(job_details(JOB, status, 3, &honest(t)))
        });
    let mut events = Vec::new();
    let result = rig
        .waiter(&source)
        .fail_fast(true)
        .status_filter(false)
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()));
    let outcome = outcome_of(&result);
    assert_stream(&events, &[outcome]);
    assert_eq!(
        outcome.result,
        JobResult::Succeeded,
        "{}",
        describe(outcome)
    );
    assert_eq!(outcome.counts().total, 3, "{}", describe(outcome));
}

// FINDING 4: `min_succeeded(N)` fails a job at the first poll when fewer than N of its
// subtasks are listed yet and its details cannot be read.
/// A job whose 5 desktops appear over its first 20 s (2 listed at first, as the API warns:
/// "right after a job is created its subtasks may not be listed yet"), all succeeding at
/// 2 minutes; its details answer 403 (the caller may list sub-jobs but not read jobs, which
/// the waiter promises to survive). With `min_succeeded(3)` the waiter judges the 2 listed
/// subtasks as the whole job — 2 can never reach 3 — and reports **failed at 0 s**, with
/// both subtasks still running. Nothing says the job has only 2 subtasks; a correct waiter
/// does not decide "can no longer happen" on a job size nothing announced (it waits, as
/// its verdicts do for `expect_subtasks`, or judges only once the job is complete): success
/// at 2 minutes.
#[test]
fn finding_04_min_succeeded_is_not_failed_on_the_subtasks_listed_so_far() {
    let rig = Rig::new();
    let clock = rig.clock.clone();
    let source = rig
        .scripted()
        .pages(move |_, call| {
            let t = clock.elapsed();
            let status = if t >= mins(2) { "SUCCESS" } else { "RUNNING" };
            let visible = if t >= secs(20) { 5 } else { 2 };
            let all: Vec<Subtask> = (1..=visible)
                .map(|k| sub(&format!("s{k}"), JOB, status))
                .collect();
            Ok(slice(&filter(&all, call), call, 1000))
        })
        .jobs(|_, _| Err(api_error(403, "APIGW.0302", "IAM user not allowed", None)));
    let mut events = Vec::new();
    let result = rig
        .waiter(&source)
        .min_succeeded(Limit::Count(3))
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()));
    let outcome = outcome_of(&result);
    assert_stream(&events, &[outcome]);
    assert_eq!(
        (outcome.result, outcome.counts().succeeded),
        (JobResult::Succeeded, 5),
        "{}",
        describe(outcome)
    );
}

// FINDING 5 (the root of finding 4, with details that can be read): `min_succeeded(N)`
// fails a job still `RUNNING` whose details, read right after its creation, count fewer
// than N subtasks — while without a rule the waiter would wait for that very job status.
/// A job whose 5 desktops appear over its first 20 s; its details are honest at every
/// instant: `RUNNING`, as many subtasks inline and in `sub_jobs_total` as are listed (2 at
/// first, then 5), `SUCCESS` at 2 minutes when all 5 succeed. With `min_succeeded(3)` the
/// first look sees 2 subtasks, both running, and the rule decides **failed at 0 s**. The
/// waiter's own verdict rule treats a job that says `RUNNING` as one that may still get
/// subtasks (it waits for the job's status before a verdict); the rule should not decide
/// "can no longer happen" on it either: success at 2 minutes.
#[test]
fn finding_05_min_succeeded_is_not_failed_while_the_job_still_creates_subtasks() {
    let rig = Rig::new();
    let listed = |t: Duration| {
        let status = if t >= mins(2) { "SUCCESS" } else { "RUNNING" };
        let visible = if t >= secs(20) { 5 } else { 2 };
        (1..=visible)
            .map(|k| sub(&format!("s{k}"), JOB, status))
            .collect::<Vec<_>>()
    };
    let status = |t: Duration| if t >= mins(2) { "SUCCESS" } else { "RUNNING" };
    let source = rig.scripted_job(JOB, listed, status, 1000);
    let mut events = Vec::new();
    let result = rig
        .waiter(&source)
        .min_succeeded(Limit::Count(3))
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()));
    let outcome = outcome_of(&result);
    assert_stream(&events, &[outcome]);
    assert_eq!(
        (outcome.result, outcome.counts().succeeded),
        (JobResult::Succeeded, 5),
        "{}",
        describe(outcome)
    );
}

// ---------------------------------------------------------------------------------------
// The event stream under a misbehaving service (one job)
// ---------------------------------------------------------------------------------------

/// A job of 12 desktops in two waves, 3 failing, 2 deleted half a minute after they end.
fn storm_job(job_id: &str, seed: u64) -> JobPlan {
    let spec = TimelineSpec {
        failures: 3,
        waves: 2,
        wave_every: mins(2),
        finish_between: (mins(2), mins(8)),
        seed,
        ..TimelineSpec::new(12)
    };
    let mut job = JobPlan::generate(job_id, &spec);
    for n in [1, 7] {
        let end = job.desktops[n].end_at.unwrap();
        job.desktops[n].deleted_at = Some(end + secs(30));
    }
    job
}

/// Faults of every family: gateway errors, transport faults, and inconsistencies.
fn storm(seed: u64, rate: f64) -> FaultPlan {
    let mut choices = vec![
        Fault::ServerError,
        Fault::Unavailable,
        Fault::TruncatedBody,
        Fault::DropConnection,
        Fault::Throttle {
            retry_after: Some(1),
        },
    ];
    choices.extend(Fault::inconsistencies());
    FaultPlan::new().random(rate, seed, choices)
}

/// Whether each subtask the outcome says ended ended so in `job`'s plan (subtasks the
/// service inserted are not in the plan, and not checked).
fn truth_violation(job: &JobPlan, outcome: &JobOutcome) -> Option<String> {
    for seen in &outcome.subtasks {
        let Some(plan) = job
            .desktops
            .iter()
            .find(|d| Some(d.subtask_id.as_str()) == seen.id())
        else {
            continue;
        };
        let truly_failed = matches!(plan.outcome, Outcome::Failed { .. });
        match seen.state() {
            SubtaskState::Succeeded if truly_failed => {
                return Some(format!("{} said succeeded, it failed", plan.subtask_id))
            }
            SubtaskState::Failed if !truly_failed => {
                return Some(format!("{} said failed, it succeeded", plan.subtask_id))
            }
            _ => {}
        }
    }
    None
}

/// Eight fault storms (30 % of requests: 5xx, 429, cut bodies and connections, deletions
/// and insertions between pages, empty and short pages, foreign subtasks, bad and duplicate
/// IDs, lying counts, malformed bodies) over a job with failures, vanishing subtasks and
/// waves: every stream starts once, announces each end once and as the outcome reports
/// it, and ends with one `JobFinished` agreeing with the outcome; no subtask is reported
/// with an end it did not have.
#[test]
fn a_fault_storm_never_breaks_the_stream_of_one_job() {
    for seed in 1..=8 {
        let rig = Rig::new();
        let job = storm_job(JOB, seed);
        let source = rig
            .simulator(Scenario::new().job(job.clone()))
            .with_faults(storm(seed, 0.3));
        let mut events = Vec::new();
        let result = rig
            .waiter(&source)
            .build()
            .unwrap()
            .wait_with(JOB, |e| events.push(e.clone()));
        let outcome = outcome_of(&result);
        assert_stream(&events, &[outcome]);
        if let Some(violation) = truth_violation(&job, outcome) {
            panic!("seed {seed}: {violation}: {}", describe(outcome));
        }
        assert!(rig.clock.elapsed() <= mins(60) + secs(10), "seed {seed}");
    }
}

/// Desktop 4 of 4 is deleted at 1 minute while still running; desktops 1-3 succeed at 30
/// minutes and the job then says `SUCCESS`. The vanished subtask is announced once, just
/// before `JobFinished`, and counted vanished in both (the job succeeds: it says
/// `SUCCESS`, which it says only when no subtask failed). With `fail_fast` the vanish does
/// not decide early — the job's word is still to come.
#[test]
fn a_subtask_vanishing_while_running_is_announced_once_just_before_its_job_finishes() {
    let rig = Rig::new();
    let mut desktops: Vec<DesktopPlan> = (1..=3)
        .map(|n| desktop(n, mins(30), Outcome::Success))
        .collect();
    desktops.push(DesktopPlan {
        deleted_at: Some(mins(1)),
        ..desktop(4, mins(40), Outcome::Success)
    });
    let source = rig.hostile(rig.simulator(Scenario::new().job(JobPlan::new(JOB, desktops))));
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .fail_fast(true)
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()))
        .unwrap();
    assert_stream(&events, &[&outcome]);
    assert_eq!(
        outcome.result,
        JobResult::Succeeded,
        "{}",
        describe(&outcome)
    );
    assert_eq!(outcome.counts().vanished, 1);
    let tail: Vec<&str> = events
        .iter()
        .rev()
        .filter(|e| !matches!(e.kind, EventKind::Polled { .. }))
        .take(2)
        .map(|e| e.kind.name())
        .collect();
    assert_eq!(tail, ["job_finished", "subtask_vanished"]);
}

/// Every other listing request answers 503 and every fifth full first page is empty (a
/// glitch retried): retries are announced as `retry` events, and no subtask end is
/// announced twice across the re-reads.
#[test]
fn retries_and_empty_glitches_announce_each_end_once() {
    let rig = Rig::new();
    let spec = TimelineSpec {
        failures: 2,
        finish_between: (mins(2), mins(6)),
        ..TimelineSpec::new(8)
    };
    let source = rig
        .hostile(rig.simulator(Scenario::generate(JOB, &spec)))
        .pages(|inner, call| {
            if call.n % 2 == 1 {
                return Err(api_error(503, "APIGW.0201", "unavailable", None));
            }
            if call.n % 5 == 0 && call.n > 0 && call.offset() == 0 && !call.filtered() {
                return Ok(page(0, Vec::new()));
            }
            inner.fetch_page(call.query.as_ref().unwrap(), call.timeout)
        });
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()))
        .unwrap();
    assert_stream(&events, &[&outcome]);
    assert_eq!(
        (
            outcome.result,
            outcome.counts().failed,
            outcome.counts().succeeded
        ),
        (JobResult::Failed, 2, 6),
        "{}",
        describe(&outcome)
    );
    assert!(events.iter().any(|e| matches!(
        e.kind,
        EventKind::Retrying {
            throttled: false,
            ..
        }
    )));
}

/// The job's details disagree with its listing: from 1 minute the listing shows X
/// `SUCCESS`, while the details (read for the verdict) show X `FAILED` until 3 minutes.
/// Whichever end the waiter takes, the stream announces X once, with the end the outcome
/// reports.
#[test]
fn details_disagreeing_with_the_listing_never_contradict_the_stream() {
    let rig = Rig::new();
    let clock = rig.clock.clone();
    let details_clock = rig.clock.clone();
    let source = rig
        .scripted()
        .pages(move |_, call| {
            let t = clock.elapsed();
            let x = if t >= mins(1) { "SUCCESS" } else { "RUNNING" };
            let y = if t >= mins(2) { "SUCCESS" } else { "RUNNING" };
            let all = vec![sub("X", JOB, x), sub("Y", JOB, y)];
            Ok(slice(&filter(&all, call), call, 1000))
        })
        .jobs(move |_, _| {
            let t = details_clock.elapsed();
            let x = if t >= mins(3) {
                "SUCCESS"
            } else if t >= mins(1) {
                "FAILED"
            } else {
                "RUNNING"
            };
            let y = if t >= mins(2) { "SUCCESS" } else { "RUNNING" };
            let status = if t >= mins(3) { "SUCCESS" } else { "RUNNING" };
            Ok(job_details(
                JOB,
                status,
                2,
                &[sub("X", JOB, x), sub("Y", JOB, y)],
            ))
        });
    let mut events = Vec::new();
    let result = rig
        .waiter(&source)
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()));
    let outcome = outcome_of(&result);
    assert_stream(&events, &[outcome]);
    assert!(outcome.is_complete(), "{}", describe(outcome));
}

/// `min_succeeded(3)` of 5 desktops, 3 succeeding at 2 minutes and 2 at 40: the wait ends
/// within a poll interval of the third success; the two pending desktops are announced by
/// nothing and counted pending in `JobFinished` as in the outcome.
#[test]
fn an_early_min_succeeded_decision_ends_soon_and_leaves_the_pending_unannounced() {
    let rig = Rig::new();
    let mut desktops: Vec<DesktopPlan> = (1..=3)
        .map(|n| desktop(n, mins(2), Outcome::Success))
        .collect();
    desktops.extend((4..=5).map(|n| desktop(n, mins(40), Outcome::Success)));
    let source = rig.hostile(rig.simulator(Scenario::new().job(JobPlan::new(JOB, desktops))));
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .min_succeeded(Limit::Count(3))
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()))
        .unwrap();
    assert_stream(&events, &[&outcome]);
    assert_eq!(
        outcome.result,
        JobResult::Succeeded,
        "{}",
        describe(&outcome)
    );
    assert_eq!(outcome.counts().pending(), 2);
    assert!(
        outcome.elapsed <= mins(2) + secs(35),
        "{}",
        describe(&outcome)
    );
}

/// `max_failures(1)`: desktops fail at 1 and 2 minutes of a 30-minute job. The second
/// failure decides the job failed within a poll interval; both failures are announced
/// with their reasons, before `JobFinished`.
#[test]
fn max_failures_decides_failure_as_soon_as_it_is_exceeded() {
    let rig = Rig::new();
    let mut desktops: Vec<DesktopPlan> = (1..=4)
        .map(|n| desktop(n, mins(30), Outcome::Success))
        .collect();
    desktops.push(desktop(5, mins(1), failed()));
    desktops.push(desktop(6, mins(2), failed()));
    let source = rig.hostile(rig.simulator(Scenario::new().job(JobPlan::new(JOB, desktops))));
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .max_failures(Limit::Count(1))
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()))
        .unwrap();
    assert_stream(&events, &[&outcome]);
    assert_eq!(outcome.result, JobResult::Failed, "{}", describe(&outcome));
    assert!(
        outcome.elapsed <= mins(2) + secs(35),
        "{}",
        describe(&outcome)
    );
    let reasons: Vec<Option<String>> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SubtaskFailed { failure, .. } => Some(failure.error_code.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [Some("WKS.0120".into()), Some("WKS.0120".into())]);
}

/// `max_failures(20%)` with `expect_subtasks(10)` and details refused (403): the first
/// wave of 2 has one failure at 1 minute (50 % of what is listed), the other 8 appear at 3
/// minutes and succeed at 5. The percentage is judged against the 10 expected, not the 2
/// listed: the job succeeds with 1 failure (at most 2 allowed).
#[test]
fn a_failure_percentage_is_judged_on_the_expected_size_when_details_are_refused() {
    let rig = Rig::new();
    let clock = rig.clock.clone();
    let source = rig
        .scripted()
        .pages(move |_, call| {
            let t = clock.elapsed();
            let mut all = vec![
                sub("w1-a", JOB, if t >= mins(1) { "FAILED" } else { "RUNNING" }),
                sub(
                    "w1-b",
                    JOB,
                    if t >= mins(1) { "SUCCESS" } else { "RUNNING" },
                ),
            ];
            if t >= mins(3) {
                let status = if t >= mins(5) { "SUCCESS" } else { "RUNNING" };
                all.extend((1..=8).map(|k| sub(&format!("w2-{k}"), JOB, status)));
            }
            Ok(slice(&filter(&all, call), call, 1000))
        })
        .jobs(|_, _| Err(api_error(403, "APIGW.0302", "IAM user not allowed", None)));
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .max_failures(Limit::Percent(20.0))
        .expect_subtasks(10)
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()))
        .unwrap();
    assert_stream(&events, &[&outcome]);
    assert_eq!(
        (
            outcome.result,
            outcome.counts().succeeded,
            outcome.counts().failed
        ),
        (JobResult::Succeeded, 9, 1),
        "{}",
        describe(&outcome)
    );
}

/// A job that never finishes (two desktops succeed at 2 minutes, two run for ever), with a
/// 10-minute deadline: the stream ends with one `JobFinished` `timed_out`, no later than the
/// deadline, with the outcome's counts.
#[test]
fn the_stream_of_a_time_out_ends_with_one_job_finished_at_the_deadline() {
    let rig = Rig::new();
    let desktops = vec![
        desktop(1, mins(2), Outcome::Success),
        desktop(2, mins(2), Outcome::Success),
        DesktopPlan::new(3),
        DesktopPlan::new(4),
    ];
    let source = rig.hostile(rig.simulator(Scenario::new().job(JobPlan::new(JOB, desktops))));
    let mut events = Vec::new();
    let result = rig
        .waiter(&source)
        .max_wait(mins(10))
        .build()
        .unwrap()
        .wait_with(JOB, |e| events.push(e.clone()));
    let outcome = outcome_of(&result);
    assert!(
        matches!(result, Err(WaitError::TimedOut { .. })),
        "{}",
        describe(outcome)
    );
    assert_stream(&events, &[outcome]);
    assert!(
        rig.clock.elapsed() <= mins(10) + secs(6),
        "{:?}",
        rig.clock.elapsed()
    );
    assert!(source.calls().iter().all(|c| c.at <= mins(10) + secs(1)));
}

/// An outcome rule, set on a builder.
type Rule = fn(WaiterBuilder<&VirtualSource>) -> WaiterBuilder<&VirtualSource>;

/// The storms of `a_fault_storm_never_breaks_the_stream_of_one_job` under each outcome
/// rule (`fail_fast`, `max_failures(25%)`, `min_succeeded(50%)`): early decisions included,
/// the stream agrees with the outcome, and a decided verdict is the one the job's true
/// ends give (3 failures of 12: `fail_fast` fails, at most 3 failures passes, at least 6
/// successes is reached).
#[test]
fn a_fault_storm_never_makes_a_rule_decide_wrongly() {
    let rules: [(&str, Rule, JobResult); 3] = [
        ("fail_fast", |b| b.fail_fast(true), JobResult::Failed),
        (
            "max_failures 25%",
            |b| b.max_failures(Limit::Percent(25.0)),
            JobResult::Succeeded,
        ),
        (
            "min_succeeded 50%",
            |b| b.min_succeeded(Limit::Percent(50.0)),
            JobResult::Succeeded,
        ),
    ];
    for (name, rule, expected) in rules {
        for seed in 1..=6 {
            let rig = Rig::new();
            let job = storm_job(JOB, seed);
            let source = rig
                .simulator(Scenario::new().job(job.clone()))
                .with_faults(storm(seed, 0.25));
            let mut events = Vec::new();
            let result = rule(rig.waiter(&source))
                .build()
                .unwrap()
                .wait_with(JOB, |e| events.push(e.clone()));
            let outcome = outcome_of(&result);
            assert_stream(&events, &[outcome]);
            if let Some(violation) = truth_violation(&job, outcome) {
                panic!("{name}, seed {seed}: {violation}: {}", describe(outcome));
            }
            // A subtask that vanished unseen in a job that says FAIL may have failed: it
            // counts against `max_failures`, and the verdict is no longer the truth's.
            if outcome.is_complete() && outcome.counts().vanished == 0 {
                assert_eq!(
                    outcome.result,
                    expected,
                    "{name}, seed {seed}: {}",
                    describe(outcome)
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Many jobs
// ---------------------------------------------------------------------------------------

const BATCHES: [&str; 3] = ["batch-1", "batch-2", "batch-3"];

/// Three jobs of 6 desktops, 1 failing each, finishing at 3 to 6 minutes, beside two jobs of someone else in the project whose 6 desktops all fail.
fn busy_project() -> Scenario {
    let spec = TimelineSpec {
        failures: 1,
        finish_between: (mins(3), mins(6)),
        ..TimelineSpec::new(6)
    };
    let others = TimelineSpec {
        failures: 6,
        finish_between: (mins(1), mins(20)),
        seed: 99,
        ..TimelineSpec::new(6)
    };
    Scenario::new()
        .many("batch", 3, Duration::ZERO, &spec)
        .many("other", 2, Duration::ZERO, &others)
}

/// Each waited job's outcome: decided, with exactly its plan's successes and failures.
fn assert_exact(outcome: &WaitOutcome, scenario: &Scenario) {
    for job_id in BATCHES {
        let seen = outcome.job(job_id).unwrap();
        let plan = scenario.jobs.iter().find(|j| j.job_id == job_id).unwrap();
        let failures = plan
            .desktops
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Failed { .. }))
            .count();
        assert_eq!(
            (
                seen.result,
                seen.counts().succeeded,
                seen.counts().failed,
                seen.counts().total
            ),
            (
                if failures > 0 {
                    JobResult::Failed
                } else {
                    JobResult::Succeeded
                },
                plan.desktops.len() - failures,
                failures,
                plan.desktops.len()
            ),
            "{}",
            describe(seen)
        );
        let plan_end = plan.last_end().unwrap();
        assert!(
            seen.elapsed >= plan_end,
            "{job_id} decided before its end: {}",
            describe(seen)
        );
    }
}

/// Fault storms (25 % of requests) over three waited jobs beside other users' failing
/// jobs: every job's stream agrees with its outcome, and no subtask is reported with an
/// end it did not have.
#[test]
fn a_fault_storm_over_many_jobs_keeps_every_stream_exact() {
    for seed in 1..=6 {
        let rig = Rig::new();
        let mut scenario = Scenario::new();
        for (k, job_id) in BATCHES.iter().enumerate() {
            scenario = scenario.job(storm_job(job_id, seed * 10 + k as u64));
        }
        let others = TimelineSpec {
            failures: 6,
            seed,
            ..TimelineSpec::new(6)
        };
        let scenario = scenario.many("other", 2, Duration::ZERO, &others);
        let source = rig
            .simulator(scenario.clone())
            .with_faults(storm(seed, 0.25));
        let mut events = Vec::new();
        let outcome = rig
            .waiter(&source)
            .build()
            .unwrap()
            .wait_all_with(&BATCHES, |e| events.push(e.clone()))
            .unwrap();
        assert_stream_all(&events, &outcome);
        for job in &outcome.jobs {
            let plan = scenario
                .jobs
                .iter()
                .find(|j| j.job_id == job.job_id)
                .unwrap();
            if let Some(violation) = truth_violation(plan, job) {
                panic!("seed {seed}: {violation}: {}", describe(job));
            }
        }
    }
}

/// `fail_fast` over three jobs while someone else's jobs in the project fail by the dozen:
/// their `FAILED` rows fill the project-wide status-filtered listing, and never fail a
/// waited job early; each waited job fails at its own failure, exactly.
#[test]
fn other_jobs_failing_in_the_project_wide_listing_never_fail_a_waited_job() {
    let rig = Rig::new();
    let spec = TimelineSpec {
        finish_between: (mins(3), mins(6)),
        ..TimelineSpec::new(6)
    };
    let others = TimelineSpec {
        failures: 6,
        finish_between: (secs(30), mins(2)),
        ..TimelineSpec::new(6)
    };
    let scenario = Scenario::new()
        .many("batch", 3, Duration::ZERO, &spec)
        .many("other", 4, Duration::ZERO, &others);
    let source = rig.hostile(rig.simulator(scenario.clone()));
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .fail_fast(true)
        .timely_events(false)
        .build()
        .unwrap()
        .wait_all_with(&BATCHES, |e| events.push(e.clone()))
        .unwrap();
    assert_stream_all(&events, &outcome);
    assert_exact(&outcome, &scenario);
    assert!(
        source.calls().iter().any(Call::project_wide),
        "the project-wide listing was used"
    );
}

/// The project-wide listing adds, on every page, two `FAILED` rows under batch-1's job ID
/// with subtask IDs batch-1 does not have (and counts them in `total_count`, so the listing
/// is consistent). None is counted for batch-1 (it ends with its one real failure) nor
/// announced: only the job's own listing may add a subtask to it.
#[test]
fn phantom_failed_rows_under_a_waited_job_s_id_never_fail_it() {
    let rig = Rig::new();
    let scenario = busy_project();
    let source = rig
        .hostile(rig.simulator(scenario.clone()))
        .pages(|inner, call| {
            let mut fetched = inner.fetch_page(call.query.as_ref().unwrap(), call.timeout)?;
            if call.project_wide() {
                for k in 0..2 {
                    let ghost = format!("ghost-{}-{k}", call.n);
                    fetched.page.subtasks.push(sub(&ghost, "batch-1", "FAILED"));
                }
                fetched.page.total_count += 2;
            }
            Ok(fetched)
        });
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .timely_events(false)
        .build()
        .unwrap()
        .wait_all_with(&BATCHES, |e| events.push(e.clone()))
        .unwrap();
    assert_stream_all(&events, &outcome);
    assert_exact(&outcome, &scenario);
    assert!(events
        .iter()
        .all(|e| subtask_event(e).is_none_or(|(_, id, _)| !id.starts_with("ghost"))));
    assert!(
        source.calls().iter().any(Call::project_wide),
        "the project-wide listing was used"
    );
}

/// A project-wide listing whose `total_count` lies to match what it leaves out: it drops
/// every unfinished row of batch-2 (and counts one less for each), so it looks consistent
/// and shows batch-2 with nothing pending. batch-2 is not decided before its desktops end:
/// the details read to confirm say otherwise, and every job ends exactly.
#[test]
fn a_consistent_looking_project_wide_listing_hiding_a_job_s_pending_rows_decides_nothing() {
    let rig = Rig::new();
    let scenario = busy_project();
    let source = rig
        .hostile(rig.simulator(scenario.clone()))
        .pages(|inner, call| {
            let mut fetched = inner.fetch_page(call.query.as_ref().unwrap(), call.timeout)?;
            if call.project_wide() {
                let before = fetched.page.subtasks.len();
                fetched
                    .page
                    .subtasks
                    .retain(|s| s.job_id.as_deref() != Some("batch-2") || s.is_terminal());
                fetched.page.total_count -= (before - fetched.page.subtasks.len()) as u64;
            }
            Ok(fetched)
        });
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .timely_events(false)
        .build()
        .unwrap()
        .wait_all_with(&BATCHES, |e| events.push(e.clone()))
        .unwrap();
    assert_stream_all(&events, &outcome);
    assert_exact(&outcome, &scenario);
    assert!(
        source.calls().iter().any(Call::project_wide),
        "the project-wide listing was used"
    );
}

/// A service that ignores the `status` filter (project-wide and per job): every job still
/// ends exactly, with every end announced once.
#[test]
fn a_service_ignoring_the_status_filter_still_ends_every_job_exactly() {
    let rig = Rig::new();
    let scenario = busy_project().ignore_status_filter(true);
    let source = rig.hostile(rig.simulator(scenario.clone()));
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .timely_events(false)
        .build()
        .unwrap()
        .wait_all_with(&BATCHES, |e| events.push(e.clone()))
        .unwrap();
    assert_stream_all(&events, &outcome);
    assert_exact(&outcome, &scenario);
}

/// The same job ID twice (also among others) is refused before any request or event.
#[test]
fn duplicate_job_ids_are_refused_before_any_event_or_request() {
    let rig = Rig::new();
    let source = rig.hostile(rig.simulator(busy_project()));
    let mut events = Vec::new();
    let err = rig
        .waiter(&source)
        .build()
        .unwrap()
        .wait_all_with(&["batch-1", "batch-2", "batch-1"], |e| {
            events.push(e.clone())
        })
        .unwrap_err();
    assert!(matches!(err, WaitError::InvalidInput(_)), "{err:?}");
    assert!(events.is_empty(), "{events:?}");
    assert!(source.calls().is_empty());
}

/// Four jobs ending four ways — succeeded, failed, unknown (404), never finishing (timed
/// out at 15 minutes): each job's outcome is its own (the unknown one ends at once, the
/// others are waited on to their ends), the aggregate is the worst (error, over timed
/// out, over failed), and each job's `JobFinished` comes once, when it ends.
#[test]
fn the_aggregate_is_the_worst_job_s_and_each_job_keeps_its_own_ending() {
    let rig = Rig::new();
    let ok = JobPlan::new(
        "ok",
        (1..=3)
            .map(|n| desktop(n, mins(2), Outcome::Success))
            .collect(),
    );
    let bad = JobPlan::new(
        "bad",
        vec![
            desktop(1, mins(3), Outcome::Success),
            desktop(2, mins(4), failed()),
        ],
    );
    let mut stuck = JobPlan::new("stuck", vec![DesktopPlan::new(1), DesktopPlan::new(2)]);
    for (k, d) in stuck.desktops.iter_mut().enumerate() {
        d.subtask_id = format!("stuck-{k}");
    }
    let mut bad = bad;
    for (k, d) in bad.desktops.iter_mut().enumerate() {
        d.subtask_id = format!("bad-{k}");
    }
    let scenario = Scenario::new().job(ok).job(bad).job(stuck);
    let source = rig.hostile(rig.simulator(scenario));
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .max_wait(mins(15))
        .build()
        .unwrap()
        .wait_all_with(&["ok", "bad", "missing", "stuck"], |e| {
            events.push(e.clone())
        })
        .unwrap();
    assert_stream_all(&events, &outcome);
    let results: Vec<JobResult> = outcome.jobs.iter().map(|j| j.result).collect();
    assert_eq!(
        results,
        [
            JobResult::Succeeded,
            JobResult::Failed,
            JobResult::Error,
            JobResult::TimedOut
        ],
        "{outcome:?}"
    );
    assert_eq!(outcome.result(), JobResult::Error);
    assert!(
        outcome.job("missing").unwrap().elapsed <= secs(10),
        "{outcome:?}"
    );
    assert!(outcome.job("ok").unwrap().elapsed <= mins(3), "{outcome:?}");
    assert!(
        outcome.job("stuck").unwrap().elapsed >= mins(15),
        "{outcome:?}"
    );
}

/// `min_succeeded(2)` per job in one wait: batch-A reaches 2 successes at 1 minute,
/// batch-B at 10 minutes. A ends (succeeded) within a poll interval of its second success
/// while B goes on; B's own rule decides it, at 10 minutes.
#[test]
fn rules_decide_each_job_on_its_own_in_one_wait() {
    let rig = Rig::new();
    let mut a = JobPlan::new(
        "A",
        vec![
            desktop(1, mins(1), Outcome::Success),
            desktop(2, mins(1), Outcome::Success),
            desktop(3, mins(30), Outcome::Success),
        ],
    );
    let mut b = JobPlan::new(
        "B",
        vec![
            desktop(1, mins(10), Outcome::Success),
            desktop(2, mins(10), Outcome::Success),
            desktop(3, mins(30), Outcome::Success),
        ],
    );
    for (prefix, job) in [("a", &mut a), ("b", &mut b)] {
        for (k, d) in job.desktops.iter_mut().enumerate() {
            d.subtask_id = format!("{prefix}-{k}");
        }
    }
    let source = rig.hostile(rig.simulator(Scenario::new().job(a).job(b)));
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .min_succeeded(Limit::Count(2))
        .build()
        .unwrap()
        .wait_all_with(&["A", "B"], |e| events.push(e.clone()))
        .unwrap();
    assert_stream_all(&events, &outcome);
    let (a, b) = (outcome.job("A").unwrap(), outcome.job("B").unwrap());
    assert_eq!(
        (a.result, b.result),
        (JobResult::Succeeded, JobResult::Succeeded)
    );
    assert!(a.elapsed <= mins(1) + secs(35), "{}", describe(a));
    assert!(
        (mins(10)..=mins(10) + secs(35)).contains(&b.elapsed),
        "{}",
        describe(b)
    );
}

/// Cancelled from the observer at the first subtask end of a wait on three jobs: no request
/// is sent after the cancellation, every job not decided ends `interrupted` with one
/// `JobFinished`, and the stream agrees with the outcome.
#[test]
fn cancelling_from_the_observer_stops_at_once_and_finishes_every_job_once() {
    let rig = Rig::new();
    let source = rig.hostile(rig.simulator(busy_project()));
    let cancel = Cancellation::new();
    let mut events = Vec::new();
    let mut calls_at_cancel = None;
    let waiter = rig
        .waiter(&source)
        .cancellation(cancel.clone())
        .build()
        .unwrap();
    let outcome = waiter
        .wait_all_with(&BATCHES, |e| {
            if subtask_event(e).is_some() && calls_at_cancel.is_none() {
                cancel.cancel();
                calls_at_cancel = Some(source.calls().len());
            }
            events.push(e.clone());
        })
        .unwrap();
    assert_stream_all(&events, &outcome);
    assert_eq!(
        Some(source.calls().len()),
        calls_at_cancel,
        "requests after the cancellation"
    );
    assert_eq!(outcome.result(), JobResult::Interrupted, "{outcome:?}");
}

/// One of three jobs whose own listing keeps failing with 500 (its details work) while the
/// others' requests succeed, with events: that job ends `error` alone, with
/// one `JobFinished`; the others are decided by their own failures, exactly, and the
/// stream agrees with the outcome.
#[test]
fn one_job_s_failing_listing_ends_it_alone_in_the_stream() {
    let rig = Rig::new();
    let scenario = busy_project();
    let source = rig
        .hostile(rig.simulator(scenario.clone()))
        .pages(|inner, call| {
            let query = call.query.as_ref().unwrap();
            if query.job_id() == Some("batch-2") {
                return Err(api_error(500, "WKS.0001", "internal error", None));
            }
            inner.fetch_page(query, call.timeout)
        });
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .build()
        .unwrap()
        .wait_all_with(&BATCHES, |e| events.push(e.clone()))
        .unwrap();
    assert_stream_all(&events, &outcome);
    let results: Vec<JobResult> = outcome.jobs.iter().map(|j| j.result).collect();
    assert_eq!(
        results,
        [JobResult::Failed, JobResult::Error, JobResult::Failed],
        "{outcome:?}"
    );
    for job_id in ["batch-1", "batch-3"] {
        let seen = outcome.job(job_id).unwrap();
        assert_eq!(
            (seen.counts().succeeded, seen.counts().failed),
            (5, 1),
            "{}",
            describe(seen)
        );
    }
}

/// `check_with` on three jobs (one decided by its first look, two still running): one
/// `Started`, then one `JobFinished` per job — `pending` for the running ones — agreeing
/// with the outcome.
#[test]
fn a_check_streams_one_job_finished_per_job() {
    let rig = Rig::new();
    let source = rig.hostile(rig.simulator(busy_project()));
    rig.clock.advance(mins(4));
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .build()
        .unwrap()
        .check_with(&BATCHES, |e| events.push(e.clone()))
        .unwrap();
    assert_stream_all(&events, &outcome);
    match &events[0].kind {
        EventKind::Started { jobs, max_wait } => {
            assert_eq!(jobs, &BATCHES.map(String::from));
            assert_eq!(*max_wait, mins(60));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        outcome.jobs.iter().any(|j| j.result == JobResult::Pending),
        "{outcome:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The shared request budget
// ---------------------------------------------------------------------------------------

/// Virtual time for several waiters on several threads: each sleeps through its own
/// [`Turn`]; only one runs at a time, and the one whose wake-up is earliest (then the
/// lowest number) runs next, the clock moved to its wake-up. Deterministic.
#[derive(Debug)]
struct Lockstep {
    clock: Arc<ManualClock>,
    state: Mutex<LockState>,
    turn: Condvar,
}

#[derive(Debug)]
struct LockState {
    /// Participants neither asleep nor gone.
    running: usize,
    /// Sleepers by (wake-up, participant).
    asleep: BTreeMap<(Duration, usize), ()>,
}

impl Lockstep {
    fn new(clock: Arc<ManualClock>, participants: usize) -> Arc<Self> {
        Arc::new(Self {
            clock,
            state: Mutex::new(LockState {
                running: participants,
                asleep: BTreeMap::new(),
            }),
            turn: Condvar::new(),
        })
    }
}

/// One participant of a [`Lockstep`]; leaves it when dropped.
#[derive(Debug)]
struct Turn {
    shared: Arc<Lockstep>,
    who: usize,
}

impl Turn {
    fn leave(&self) {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.running -= 1;
        self.shared.turn.notify_all();
    }
}

impl Sleeper for Turn {
    fn sleep(&self, duration: Duration, _cancel: &Cancellation) {
        let shared = &self.shared;
        let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        let wake = shared.clock.elapsed() + duration;
        state.asleep.insert((wake, self.who), ());
        state.running -= 1;
        shared.turn.notify_all();
        while !(state.running == 0 && state.asleep.keys().next() == Some(&(wake, self.who))) {
            state = shared
                .turn
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.asleep.remove(&(wake, self.who));
        state.running += 1;
        let now = shared.clock.elapsed();
        if wake > now {
            shared.clock.advance(wake - now);
        }
    }
}

/// A wait to run in lockstep, given its sleeper.
type Wait<'a, T> = Box<dyn FnOnce(Arc<dyn Sleeper>) -> T + Send + 'a>;

/// Runs `waits` (each given its sleeper) on threads in lockstep virtual time; returns their
/// results in order.
fn in_lockstep<T: Send>(clock: &Arc<ManualClock>, waits: Vec<Wait<'_, T>>) -> Vec<T> {
    let lockstep = Lockstep::new(clock.clone(), waits.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = waits
            .into_iter()
            .enumerate()
            .map(|(who, wait)| {
                let turn = Arc::new(Turn {
                    shared: lockstep.clone(),
                    who,
                });
                scope.spawn(move || {
                    struct Leave(Arc<Turn>);
                    impl Drop for Leave {
                        fn drop(&mut self) {
                            self.0.leave();
                        }
                    }
                    let guard = Leave(turn.clone());
                    turn.sleep(Duration::ZERO, &Cancellation::new());
                    let result = wait(turn);
                    drop(guard);
                    result
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Four waiters on four threads (as four CI steps of one process would), each on its own
/// job of 8 desktops finishing at 4 to 12 minutes, share one budget of 8 a minute: the
/// requests of all four together never exceed 8 in any minute, and every job succeeds.
#[test]
fn four_concurrent_waiters_sharing_a_budget_never_exceed_it_together() {
    let rig = Rig::new();
    let spec = TimelineSpec {
        finish_between: (mins(4), mins(12)),
        ..TimelineSpec::new(8)
    };
    let source =
        rig.hostile(rig.simulator(Scenario::new().many("batch", 4, Duration::ZERO, &spec)));
    let budget = rig.budget(8);
    let waits: Vec<Wait<'_, Result<JobOutcome, WaitError>>> = (1..=4)
        .map(|k| {
            let (source, budget, rig) = (&source, budget.clone(), &rig);
            Box::new(move |sleeper: Arc<dyn Sleeper>| {
                rig.waiter(source)
                    .sleeper(sleeper)
                    .jitter_seed(k)
                    .rate_budget(budget)
                    .build()
                    .unwrap()
                    .wait(&format!("batch-{k}"))
            }) as Wait<'_, _>
        })
        .collect();
    let results = in_lockstep(&rig.clock, waits);
    for result in &results {
        let outcome = outcome_of(result);
        assert_eq!(
            outcome.result,
            JobResult::Succeeded,
            "{}",
            describe(outcome)
        );
    }
    let times = call_times(&source.calls());
    assert!(
        busiest(&times, mins(1)) <= 8,
        "{} in one minute",
        busiest(&times, mins(1))
    );
}

/// Three waiters on three threads share a budget of 3 a minute, far too small for their
/// three never-ending jobs, with 10-minute deadlines: the budget holds (at most 3 requests
/// in any minute) and no wait runs past its deadline.
#[test]
fn concurrent_waiters_starved_by_their_shared_budget_still_end_by_their_deadline() {
    let rig = Rig::new();
    let mut scenario = Scenario::new();
    for k in 1..=3 {
        let mut job = Scenario::never_finishing(&format!("stuck-{k}"), 3)
            .jobs
            .remove(0);
        for d in &mut job.desktops {
            d.subtask_id = format!("stuck-{k}-{}", d.subtask_id);
        }
        scenario = scenario.job(job);
    }
    let source = rig.hostile(rig.simulator(scenario));
    let budget = rig.budget(3);
    let waits: Vec<Wait<'_, Result<JobOutcome, WaitError>>> = (1..=3)
        .map(|k| {
            let (source, budget, rig) = (&source, budget.clone(), &rig);
            Box::new(move |sleeper: Arc<dyn Sleeper>| {
                rig.waiter(source)
                    .sleeper(sleeper)
                    .jitter_seed(k)
                    .max_wait(mins(10))
                    .rate_budget(budget)
                    .build()
                    .unwrap()
                    .wait(&format!("stuck-{k}"))
            }) as Wait<'_, _>
        })
        .collect();
    let results = in_lockstep(&rig.clock, waits);
    for result in &results {
        let outcome = outcome_of(result);
        assert!(
            matches!(result, Err(WaitError::TimedOut { .. })),
            "{}",
            describe(outcome)
        );
        assert!(
            outcome.elapsed <= mins(10) + secs(6),
            "{}",
            describe(outcome)
        );
    }
    let times = call_times(&source.calls());
    assert!(
        busiest(&times, mins(1)) <= 3,
        "{} in one minute",
        busiest(&times, mins(1))
    );
    assert!(times.iter().all(|&t| t <= mins(10) + secs(1)), "{times:?}");
}

/// Ten jobs of 4 desktops on a key the gateway limits to 4 requests a minute (429
/// `APIGW.0308` past it), waited on with a budget of 12 a minute — three times too
/// generous: each 429 cuts the budget, so the wait draws at most half the 429s of the same
/// wait without a budget, and never two 429s within 30 s of each other; the jobs succeed.
#[test]
fn a_429_shrinks_a_too_generous_budget() {
    let throttles = |budget: Option<u32>| {
        let rig = Rig::new();
        let spec = TimelineSpec {
            finish_between: (mins(2), mins(8)),
            ..TimelineSpec::new(4)
        };
        let sim = rig
            .simulator(Scenario::new().many("batch", 10, secs(20), &spec))
            .with_rate_limit(RateLimit::new(4, mins(1)).unwrap());
        let throttled = Arc::new(Mutex::new(Vec::new()));
        let (pages_log, jobs_log) = (throttled.clone(), throttled.clone());
        let (pages_clock, jobs_clock) = (rig.clock.clone(), rig.clock.clone());
        let source = rig
            .hostile(sim)
            .pages(move |inner, call| {
                let answer = inner.fetch_page(call.query.as_ref().unwrap(), call.timeout);
                if answer.as_ref().is_err_and(|e| e.is_throttled()) {
                    pages_log.lock().unwrap().push(pages_clock.elapsed());
                }
                answer
            })
            .jobs(move |inner, call| {
                let answer = inner.fetch_job(call.job.as_deref().unwrap(), call.timeout);
                if answer.as_ref().is_err_and(|e| e.is_throttled()) {
                    jobs_log.lock().unwrap().push(jobs_clock.elapsed());
                }
                answer
            });
        // Every job exists when the wait starts.
        rig.clock.advance(mins(4));
        let names: Vec<String> = (1..=10).map(|k| format!("batch-{k}")).collect();
        let ids: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut waiter = rig.waiter(&source);
        if let Some(limit) = budget {
            waiter = waiter.rate_budget(rig.budget(limit));
        }
        let outcome = waiter.build().unwrap().wait_all(&ids).unwrap();
        assert!(outcome.is_success(), "{outcome:?}");
        let mut times = throttled.lock().unwrap().clone();
        times.sort();
        times
    };
    let without = throttles(None);
    let with = throttles(Some(12));
    assert!(
        with.len() * 2 <= without.len(),
        "{} 429s with the budget, {} without",
        with.len(),
        without.len()
    );
    for pair in with.windows(2) {
        assert!(pair[1] - pair[0] >= secs(30), "429s at {with:?}");
    }
}

/// A wait held back by a budget exhausted elsewhere, cancelled from the observer when the
/// budget pause is announced: it ends `interrupted` at once, without a request and without
/// sleeping out the pause.
#[test]
fn cancelling_during_a_budget_pause_ends_at_once_without_a_request() {
    let rig = Rig::new();
    let budget = rig.budget(2);
    for _ in 0..2 {
        budget
            .try_acquire(wks_waiter::budget::Priority::Important)
            .unwrap();
    }
    let source = rig.hostile(rig.simulator(busy_project()));
    let cancel = Cancellation::new();
    let mut events = Vec::new();
    let outcome = rig
        .waiter(&source)
        .rate_budget(budget)
        .cancellation(cancel.clone())
        .build()
        .unwrap()
        .wait_all_with(&BATCHES, |e| {
            if matches!(e.kind, EventKind::BudgetWait { .. }) {
                cancel.cancel();
            }
            events.push(e.clone());
        })
        .unwrap();
    assert_stream_all(&events, &outcome);
    assert_eq!(outcome.result(), JobResult::Interrupted, "{outcome:?}");
    assert!(source.calls().is_empty(), "{:?}", source.calls());
    assert_eq!(rig.clock.elapsed(), Duration::ZERO);
}
