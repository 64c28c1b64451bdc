//! Reliability over real loopback HTTP: the `Client` and `Waiter` against the `Simulator`,
//! with seeded faults on 30 % of requests, must reach exactly the outcome of a fault-free
//! run, never panic, never hang, and never overrun the deadline.
//!
//! Time is virtual: one `ManualClock` per wait drives the simulator's timeline, the
//! client's `X-Sdk-Date` and the waiter's deadline, and the waiter's `ManualSleeper`
//! advances it, so half-hour jobs run in milliseconds. Nothing here depends on how fast
//! the machine answers: slow answers are exercised in-process, where they advance the
//! virtual clock, and real time is only watched for hangs.
#![cfg(feature = "simulator")]

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use wks_waiter::simulator::{Fault, FaultPlan, Scenario, Simulator, TimelineSpec, VirtualSource};
use wks_waiter::{
    model::{Subtask, SubtaskStatus},
    source::JobsApi,
    test_util::{virtual_time, ManualClock, ManualSleeper},
    time::{Clock, SystemClock},
    BackoffPolicy, Client, Credentials, JobOutcome, WaitError, Waiter,
};

mod support;

use support::{mins, secs, Rng};

const JOB: &str = "0e2dae94-23ff-449a-bb9c-1b808cf2106d";

/// Waits in the soak.
const WAITS: usize = 100;
/// Worker threads. Two cores do the work; a third thread keeps them busy while another
/// waits out a slow answer.
const THREADS: usize = 3;
/// The waiter's request timeout. Slow answers over HTTP would test the machine's speed,
/// so the soak leaves them to the in-process run, where they advance virtual time.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a slow answer is held back (in virtual time): past the request timeout.
const SLOW: Duration = Duration::from_secs(45);
/// If no wait finishes for this long (real time), one of them hangs: a guard against
/// hangs, far above any honest run.
const WATCHDOG: Duration = Duration::from_secs(600);

/// Real time, read through the crate's one real clock (clippy bans `Instant::now`); for
/// the report only, never asserted on.
fn wall() -> Instant {
    SystemClock.now()
}

/// The mixed faults of the soak; `slow` adds answers held back past the request timeout.
fn fault_mix(slow: bool) -> Vec<Fault> {
    let mut mix = vec![
        Fault::Throttle {
            retry_after: Some(3),
        },
        Fault::ServerError,
        Fault::Unavailable,
        Fault::TruncatedBody,
        Fault::DropConnection,
    ];
    if slow {
        mix.push(Fault::Slow(SLOW));
    }
    mix
}

fn fault_plan(seed: u64, slow: bool) -> FaultPlan {
    FaultPlan::new().random(0.3, seed, fault_mix(slow))
}

/// One wait of the soak.
#[derive(Debug, Clone)]
struct Case {
    index: usize,
    seed: u64,
    desktops: usize,
    failures: usize,
    page_cap: usize,
    page_size: u32,
    visible_after: Duration,
    finish_between: (Duration, Duration),
    max_wait: Duration,
    status_filter: bool,
    predictive: bool,
    expect_all: bool,
    /// The deadline comes before any desktop can finish.
    times_out: bool,
    /// Served in-process, with slow answers among the faults.
    in_process: bool,
}

impl Case {
    fn new(index: usize) -> Self {
        let mut mix = Rng(index as u64 ^ 0x5eed);
        // Sizes spread log-uniformly over 1..=2000, with both ends always present.
        let desktops = match index {
            0 => 1,
            1 | 2 => 2000,
            _ => {
                let unit = mix.below(1 << 20) as f64 / f64::from(1 << 20);
                (2000f64.powf(unit).round() as usize).clamp(1, 2000)
            }
        };
        let failures = match index % 25 {
            7 => desktops,
            _ => (mix.below(desktops as u64 / 8 + 2) as usize).min(desktops),
        };
        // Pages of 7 to 1000, but at most 20 of them per listing: the soak's real time
        // goes into requests.
        let cap = [1000, 1000, 500, 333, 250, 100, 37, 7][mix.below(8) as usize];
        let page_cap = cap.max(desktops.div_ceil(20));
        let page_size = [1000, 1000, 500, 120][mix.below(4) as usize];
        let times_out = index % 10 == 5;
        let (finish_between, max_wait) = if times_out {
            let deadline = mins(2 + mix.below(12)) + secs(mix.below(60));
            ((mins(20), mins(40)), deadline)
        } else {
            let first = mins(1 + mix.below(10));
            ((first, first + mins(mix.below(20))), mins(60))
        };
        Self {
            index,
            seed: 1 + 7919 * index as u64,
            desktops,
            failures,
            page_cap,
            page_size,
            visible_after: if index % 4 == 3 {
                secs(mix.below(90))
            } else {
                Duration::ZERO
            },
            finish_between,
            max_wait,
            status_filter: !index.is_multiple_of(3),
            predictive: index % 5 != 1,
            expect_all: index.is_multiple_of(2),
            times_out,
            in_process: index % 3 == 1,
        }
    }

    fn scenario(&self) -> Scenario {
        let spec = TimelineSpec {
            failures: self.failures,
            visible_after: self.visible_after,
            finish_between: self.finish_between,
            seed: self.seed,
            ..TimelineSpec::new(self.desktops)
        };
        Scenario::generate(JOB, &spec).page_cap(self.page_cap)
    }

    fn waiter<S: JobsApi>(
        &self,
        source: S,
        clock: Arc<ManualClock>,
        sleeper: Arc<ManualSleeper>,
    ) -> Waiter<S> {
        let mut builder = Waiter::builder(source)
            .clock(clock)
            .sleeper(sleeper)
            .jitter_seed(self.seed)
            .max_wait(self.max_wait)
            .request_timeout(REQUEST_TIMEOUT)
            .page_size(self.page_size)
            .status_filter(self.status_filter)
            .predictive(self.predictive)
            // Twelve consecutive faults of one request at a 30 % rate (odds 5e-7) would end
            // the wait as documented, but not with the outcome this test compares.
            .max_retries(12);
        if self.expect_all {
            builder = builder.expect_subtasks(self.desktops);
        }
        builder.build().unwrap()
    }
}

/// What one subtask ended as: status, error code and reason, desktop.
type Final = (String, Option<String>, Option<String>, Option<String>);

fn final_of(job: &Subtask) -> (String, Final) {
    let status = job.status.as_ref().map_or("", |s| s.as_str()).to_owned();
    let id = job.id.clone().expect("simulated subtasks have IDs");
    let detail = (
        status,
        job.error_code.clone(),
        job.fail_reason.clone(),
        job.desktop_id().map(str::to_owned),
    );
    (id, detail)
}

fn finals(outcome: &JobOutcome) -> BTreeMap<String, Final> {
    outcome
        .subtasks
        .iter()
        .map(|s| final_of(&s.subtask))
        .collect()
}

/// A desktop failure as comparable fields: subtask, desktop ID and name, user, error code,
/// reason.
type FailureFields = [Option<String>; 6];

/// `failures()`, sorted by subtask.
fn failure_list(outcome: &JobOutcome) -> Vec<FailureFields> {
    let mut list: Vec<_> = outcome
        .failures()
        .into_iter()
        .map(|f| {
            [
                f.subtask_id,
                f.desktop_id,
                f.desktop_name,
                f.user_name,
                f.error_code,
                f.fail_reason,
            ]
        })
        .collect();
    list.sort();
    list
}

/// What the scenario says every desktop ends as, and its failures: the exact outcome a
/// wait must report.
fn truth(scenario: &Scenario) -> (BTreeMap<String, Final>, Vec<FailureFields>) {
    let end = scenario.jobs[0].last_end().expect("every desktop ends");
    let listed = scenario.snapshot(Some(JOB), end);
    let mut failures: Vec<FailureFields> = listed
        .iter()
        .filter(|job| job.status == Some(SubtaskStatus::Failed))
        .map(|job| {
            [
                job.id.clone(),
                job.desktop_id().map(str::to_owned),
                job.desktop_name().map(str::to_owned),
                job.user_name().map(str::to_owned),
                job.error_code.clone(),
                job.fail_reason.clone(),
            ]
        })
        .collect();
    failures.sort();
    (listed.iter().map(final_of).collect(), failures)
}

/// What a wait of the soak did.
#[derive(Debug, Default)]
struct Report {
    requests: usize,
    faults: BTreeMap<&'static str, usize>,
    timed_out: bool,
}

fn fault_name(fault: &Fault) -> &'static str {
    match fault {
        Fault::Throttle { .. } => "throttle",
        Fault::ServerError => "500",
        Fault::Unavailable => "503",
        Fault::TruncatedBody => "truncated",
        Fault::DropConnection => "dropped",
        Fault::Slow(_) => "slow",
        _ => "other",
    }
}

fn run_case(case: &Case) -> Report {
    let scenario = case.scenario();

    // The same waiter, fault-free and in-process. It is compared with the faulted run on a
    // quarter of the waits and on every wait that times out; the scenario itself is the
    // reference for all of them.
    let fault_free = (case.times_out || case.index.is_multiple_of(4)).then(|| {
        let (clock, sleeper) = virtual_time();
        let source = VirtualSource::new(scenario.clone(), clock.clone());
        case.waiter(source, clock, sleeper).wait(JOB)
    });

    // The real thing: faults on 30 % of requests, one virtual clock; over HTTP on
    // loopback, or in-process where slow answers advance virtual time.
    let (clock, sleeper) = virtual_time();
    let (result, log) = if case.in_process {
        let source = VirtualSource::new(scenario.clone(), clock.clone())
            .with_faults(fault_plan(case.seed, true));
        let source = Arc::new(source);
        let result = case.waiter(source.clone(), clock, sleeper).wait(JOB);
        (result, source.requests())
    } else {
        let (sim, client) = over_http(
            scenario.clone(),
            clock.clone(),
            fault_plan(case.seed, false),
        );
        let result = case.waiter(client, clock, sleeper).wait(JOB);
        (result, sim.requests())
    };

    let mut report = Report {
        requests: log.len(),
        ..Report::default()
    };
    for record in &log {
        if let Some(fault) = &record.fault {
            *report.faults.entry(fault_name(fault)).or_default() += 1;
        }
    }

    if case.times_out {
        let all: BTreeSet<String> = scenario
            .snapshot(Some(JOB), case.visible_after)
            .into_iter()
            .map(|job| job.id.unwrap())
            .collect();
        assert_eq!(all.len(), case.desktops);
        check_timed_out(case, &all, "faulted", &result);
        check_timed_out(case, &all, "fault-free", &fault_free.unwrap());
        report.timed_out = true;
        return report;
    }

    let (finals_expected, failures_expected) = truth(&scenario);
    let outcome = result.unwrap_or_else(|err| panic!("{err} ({:?})", err.error()));
    assert!(outcome.is_complete(), "{:?}", outcome.counts());
    assert_eq!(outcome.counts().total, case.desktops);
    assert_eq!(outcome.counts().failed, case.failures);
    assert!(finals(&outcome) == finals_expected, "final states differ");
    assert_eq!(failure_list(&outcome), failures_expected);
    assert!(outcome.elapsed <= case.max_wait + REQUEST_TIMEOUT);
    assert!(outcome.is_success() == (case.failures == 0));
    if let Some(fault_free) = fault_free {
        let fault_free = fault_free.expect("the fault-free wait completes");
        assert_eq!(outcome.counts(), fault_free.counts());
        assert!(
            finals(&fault_free) == finals_expected,
            "fault-free final states differ"
        );
        assert_eq!(failure_list(&fault_free), failures_expected);
    }
    // The server saw no request the waiter did not count (it may have missed one the
    // client abandoned before it arrived).
    assert!(log.len() <= outcome.requests as usize);
    report
}

/// A deadline before any desktop finishes: the wait times out within the deadline plus one
/// request timeout, listing every desktop (`all`) as pending.
fn check_timed_out(
    case: &Case,
    all: &BTreeSet<String>,
    what: &str,
    result: &Result<JobOutcome, WaitError>,
) {
    let err = result.as_ref().expect_err(what);
    let WaitError::TimedOut {
        partial,
        last_error,
    } = err
    else {
        panic!("{what}: {err} ({:?})", err.error());
    };
    let elapsed = &partial.elapsed;
    assert!(
        *elapsed <= case.max_wait + REQUEST_TIMEOUT,
        "{what}: {elapsed:?} past {:?}",
        case.max_wait
    );
    // It gives up early only when a retry's delay would pass the deadline: at most the
    // throttle cap (60 s) plus its jitter.
    assert!(
        *elapsed + secs(75) >= case.max_wait,
        "{what}: gave up at {elapsed:?} of {:?}",
        case.max_wait
    );
    if let Some(error) = last_error {
        assert!(error.is_retryable(), "{what}: {error}");
    }
    let pending: BTreeSet<String> = partial
        .pending()
        .map(|s| s.id().unwrap().to_owned())
        .collect();
    assert!(
        pending == *all,
        "{what}: {} pending of {} desktops",
        pending.len(),
        all.len()
    );
    assert_eq!(partial.counts().pending(), case.desktops, "{what}");
}

#[test]
fn a_hundred_waits_through_seeded_faults_reach_the_fault_free_outcome() {
    let cases: Arc<Vec<Case>> = Arc::new((0..WAITS).map(Case::new).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let started = wall();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (cases, next, tx) = (cases.clone(), next.clone(), tx.clone());
            thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                let result = catch_unwind(AssertUnwindSafe(|| run_case(case))).map_err(|panic| {
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                });
                if tx.send((i, result)).is_err() {
                    break;
                }
            })
        })
        .collect();
    drop(tx);

    let mut failed = Vec::new();
    let mut reports = Vec::new();
    for _ in 0..WAITS {
        match rx.recv_timeout(WATCHDOG) {
            Ok((i, Ok(report))) => reports.push((i, report)),
            Ok((i, Err(message))) => failed.push(format!("wait {i} {:?}: {message}", cases[i])),
            Err(_) => panic!(
                "no wait finished within {WATCHDOG:?}: one hangs (finished so far: {})",
                reports.len() + failed.len()
            ),
        }
    }
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(
        failed.is_empty(),
        "{} of {WAITS} waits went wrong:\n{}",
        failed.len(),
        failed.join("\n")
    );

    // The soak exercised what it claims to.
    let mut faults: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, report) in &reports {
        for (name, n) in &report.faults {
            *faults.entry(name).or_default() += n;
        }
    }
    let requests: usize = reports.iter().map(|(_, r)| r.requests).sum();
    let faulted: usize = faults.values().sum();
    eprintln!(
        "{WAITS} waits, {requests} requests, {faulted} faults {faults:?}, all in {:?}",
        wall() - started
    );
    for name in ["throttle", "500", "503", "truncated", "dropped", "slow"] {
        assert!(
            faults.get(name).copied().unwrap_or(0) > 0,
            "no {name} fault: {faults:?}"
        );
    }
    let rate = faulted as f64 / requests as f64;
    assert!((0.25..0.35).contains(&rate), "fault rate {rate}");
    assert!(reports.iter().filter(|(_, r)| r.timed_out).count() >= WAITS / 10);
}

/// A simulator of `scenario` and a client on it, both on `clock`, with faults `plan`.
fn over_http(scenario: Scenario, clock: Arc<dyn Clock>, plan: FaultPlan) -> (Simulator, Client) {
    let sim = Simulator::builder(scenario)
        .clock(clock.clone())
        .faults(plan)
        .start()
        .unwrap();
    let client = Client::builder()
        .endpoint(sim.url())
        .project_id(sim.project_id())
        .credentials(Credentials::access_key(sim.access_key(), sim.secret_key()).unwrap())
        .clock(clock)
        .proxy_from_env(false)
        .build()
        .unwrap();
    (sim, client)
}

fn ids(scenario: &Scenario) -> BTreeSet<String> {
    scenario.jobs[0]
        .desktops
        .iter()
        .map(|d| d.subtask_id.clone())
        .collect()
}

#[test]
fn a_never_finishing_job_times_out_at_the_deadline_listing_every_desktop() {
    // (desktops, page cap, deadline): one page or many, a deadline shorter than the
    // waiter's 5 s request-timeout floor, and an hour.
    for (desktops, cap, max_wait) in [
        (25, 1000, mins(10)),
        (40, 7, secs(3)),
        (1, 1, mins(60)),
        (1500, 400, mins(20)),
    ] {
        let scenario = Scenario::never_finishing(JOB, desktops).page_cap(cap);
        let (clock, sleeper) = virtual_time();
        let (sim, client) = over_http(scenario.clone(), clock.clone(), FaultPlan::new());
        let err = Waiter::builder(client)
            .clock(clock.clone())
            .sleeper(sleeper)
            .jitter_seed(3)
            .max_wait(max_wait)
            .build()
            .unwrap()
            .wait(JOB)
            .unwrap_err();
        let WaitError::TimedOut {
            last_error,
            partial,
        } = &err
        else {
            panic!("{desktops}: {err:?}")
        };
        // Virtual time passes only in the waiter's sleeps, and it never sleeps past the
        // deadline: it polls once more exactly at it.
        assert_eq!(partial.elapsed, max_wait, "{desktops}");
        assert!(last_error.is_none(), "{desktops}: {last_error:?}");
        let log = sim.requests();
        assert_eq!(
            log.last().unwrap().at,
            max_wait,
            "{desktops}: the poll at the deadline"
        );
        assert!(log.iter().all(|r| r.at <= max_wait && r.status == 200));
        let pending: BTreeSet<String> = partial
            .pending()
            .map(|s| s.id().unwrap().to_owned())
            .collect();
        assert_eq!(pending, ids(&scenario), "{desktops}");
        assert_eq!(partial.subtasks.len(), desktops);
        // The noun agrees with the count: "1 of 1 subtask pending".
        let noun = if desktops == 1 { "subtask" } else { "subtasks" };
        assert!(
            err.to_string()
                .contains(&format!("{desktops} of {desktops} {noun} pending")),
            "{err}"
        );
    }
}

#[test]
fn a_request_hanging_at_the_deadline_ends_the_wait_one_request_timeout_later() {
    // Plain 5 s polls and a 20 s deadline: polls at 0, 5, 10, 15 and 20 s, one request
    // each. The one at the deadline (request 4) gets no answer for an hour; the client
    // gives up after the 5 s floor of the request timeout.
    let max_wait = secs(20);
    let scenario = Scenario::never_finishing(JOB, 30);
    let (clock, sleeper) = virtual_time();
    let source = Arc::new(
        VirtualSource::new(scenario.clone(), clock.clone())
            .with_faults(FaultPlan::new().on_request(4, Fault::Slow(mins(60)))),
    );
    let err = Waiter::builder(source.clone())
        .clock(clock)
        .sleeper(sleeper)
        .poll(BackoffPolicy::new(secs(5)))
        .predictive(false)
        .max_wait(max_wait)
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap_err();
    let log = source.requests();
    let WaitError::TimedOut {
        last_error,
        partial,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(log.len(), 5, "{log:?}");
    assert!(matches!(log[4].fault, Some(Fault::Slow(_))));
    assert_eq!(log[4].at, max_wait);
    let timeout = last_error.as_ref().expect("the hanging request's error");
    assert!(timeout.is_timeout(), "{timeout:?}");
    assert_eq!(partial.elapsed, max_wait + secs(5));
    let pending: BTreeSet<String> = partial
        .pending()
        .map(|s| s.id().unwrap().to_owned())
        .collect();
    assert_eq!(pending, ids(&scenario));
}

#[test]
fn the_deadline_is_checked_before_every_page() {
    // 20 pages, each answered 2 s late (in virtual time): a listing takes 40 s, and the
    // deadline of 5 s falls in the middle of the first one.
    let scenario = Scenario::never_finishing(JOB, 200).page_cap(10);
    let (clock, sleeper) = virtual_time();
    // The job's details (the first request, one answer however big the job) are refused,
    // so the listing is read page by page.
    let faults = FaultPlan::new().always(Fault::Slow(secs(2))).on_request(
        0,
        Fault::status(403, "APIGW.0302", "The IAM user is forbidden"),
    );
    let source = Arc::new(VirtualSource::new(scenario, clock.clone()).with_faults(faults));
    let err = Waiter::builder(source.clone())
        .clock(clock)
        .sleeper(sleeper)
        .max_wait(secs(5))
        .build()
        .unwrap()
        .wait(JOB)
        .unwrap_err();
    let WaitError::TimedOut { partial, .. } = &err else {
        panic!("{err:?}")
    };
    // The details at 0 s, then pages at 0, 2 and 4 s are requested; the one at 6 s is not,
    // so the wait returns at 6 s: within the deadline plus one page's answer.
    assert_eq!(source.requests().len(), 4);
    assert_eq!(partial.elapsed, secs(6));
}
