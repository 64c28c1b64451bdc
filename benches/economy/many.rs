//! Many jobs (issue 13): 20 jobs of 50 desktops started over 10 minutes, waited on by one
//! `Waiter::wait_all`, against 20 single-job waiters on the same timelines.

use std::sync::Arc;
use std::time::Duration;

use wks_waiter::simulator::{Scenario, TimelineSpec, VirtualSource};
use wks_waiter::test_util::{virtual_time, ManualClock, ManualSleeper};
use wks_waiter::Waiter;

use crate::single::{check, ends};
use crate::stats::{mean, parallel, secs, Miss, Spread};

pub const JOBS: usize = 20;
pub const EVERY: Duration = Duration::from_secs(30);

/// The batch of seed `seed`: job `k` created at `k × 30 s`, its desktops finishing 5 to
/// 15 minutes after.
pub fn scenario(seed: u64) -> Scenario {
    let spec = TimelineSpec {
        finish_between: (Duration::from_secs(300), Duration::from_secs(900)),
        start_within: Duration::from_secs(20),
        seed,
        ..TimelineSpec::new(50)
    };
    Scenario::new().many("batch", JOBS, EVERY, &spec)
}

fn ids(scenario: &Scenario) -> Vec<String> {
    scenario.jobs.iter().map(|j| j.job_id.clone()).collect()
}

/// A clock and sleeper at virtual `at`, and the scenario served from virtual zero.
fn at(scenario: &Scenario, at: Duration) -> (Arc<ManualClock>, Arc<ManualSleeper>, VirtualSource) {
    let (clock, sleeper) = virtual_time();
    let source = VirtualSource::new(scenario.clone(), clock.clone());
    clock.advance(at);
    (clock, sleeper, source)
}

fn last_end(scenario: &Scenario, job: usize) -> Duration {
    scenario.jobs[job].last_end().expect("generated jobs end")
}

/// One seed's runs.
pub struct ManyRun {
    pub combined_requests: usize,
    /// Of which job-details reads, and pages of project-wide listings.
    pub combined_details: usize,
    pub combined_project: usize,
    pub combined_polls: u32,
    pub combined_lags: Vec<Duration>,
    pub independent_requests: usize,
    pub independent_lags: Vec<Duration>,
    /// Each single-job waiter started when its job was created.
    pub at_creation_requests: usize,
    pub at_creation_lags: Vec<Duration>,
    pub wrong: Vec<String>,
}

pub fn run(seed: u64) -> ManyRun {
    let scenario = scenario(seed);
    let ids = ids(&scenario);
    let start = scenario.jobs.iter().map(|j| j.created_at).max().unwrap();
    let mut wrong = Vec::new();

    // One wait on every job, once the last one was created.
    let (clock, sleeper, source) = at(&scenario, start);
    let waiter = Waiter::builder(&source)
        .clock(clock)
        .sleeper(sleeper)
        .jitter_seed(seed)
        .build()
        .unwrap();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let outcome = waiter.wait_all(&id_refs).expect("valid job IDs");
    let mut combined_lags = Vec::new();
    for (k, job) in outcome.jobs.iter().enumerate() {
        if let Some(what) = check(job, &ends(&scenario.jobs[k]), true, start) {
            wrong.push(format!("wait_all, job {}: {what}", job.job_id));
        }
        combined_lags.push((start + job.elapsed).saturating_sub(last_end(&scenario, k)));
    }
    let requests = source.requests();
    let combined_requests = requests.len();
    let combined_details = requests
        .iter()
        .filter(|r| r.path.contains("workspace-jobs"))
        .count();
    let combined_project = requests
        .iter()
        .filter(|r| !r.path.contains("workspace-jobs") && r.query_values("job_id").is_empty())
        .count();

    // A waiter per job, started at `from(k)`.
    let single = |from: &dyn Fn(usize) -> Duration, label: &str, wrong: &mut Vec<String>| {
        let mut requests = 0;
        let mut lags = Vec::new();
        for (k, id) in ids.iter().enumerate() {
            let begin = from(k);
            let (clock, sleeper, source) = at(&scenario, begin);
            let waiter = Waiter::builder(&source)
                .clock(clock)
                .sleeper(sleeper)
                .jitter_seed(seed.wrapping_add(k as u64))
                .build()
                .unwrap();
            match waiter.wait(id) {
                Ok(job) => {
                    if let Some(what) = check(&job, &ends(&scenario.jobs[k]), true, begin) {
                        wrong.push(format!("{label}, job {id}: {what}"));
                    }
                    lags.push((begin + job.elapsed).saturating_sub(last_end(&scenario, k)));
                }
                Err(error) => wrong.push(format!("{label}, job {id}: {error}")),
            }
            requests += source.requests().len();
        }
        (requests, lags)
    };
    let (independent_requests, independent_lags) = single(&|_| start, "together", &mut wrong);
    let (at_creation_requests, at_creation_lags) =
        single(&|k| scenario.jobs[k].created_at, "at creation", &mut wrong);
    ManyRun {
        combined_requests,
        combined_details,
        combined_project,
        combined_polls: outcome.polls,
        combined_lags,
        independent_requests,
        independent_lags,
        at_creation_requests,
        at_creation_lags,
        wrong,
    }
}

/// Why one `wait_all` cannot spend a fifth of the single-job waiters' requests.
pub const LISTING: &str = "a floor, not the listing plan: each job's verdict reads its details \
(the consistency rule's rule 6) and its first look does too, 40 requests for 20 jobs, already \
over a fifth of the ~180 the single-job waiters spend; and seeing twenty ends spread over 20 \
minutes within the lag targets takes a poll near each (one project-wide listing per poll serves \
every job)";

/// Runs every seed, prints the table, and returns the targets missed.
pub fn bench(seeds: &[u64]) -> Vec<Miss> {
    let runs = parallel(seeds.len(), |i| run(seeds[i]));
    let pooled = |f: fn(&ManyRun) -> &Vec<Duration>| -> Vec<Duration> {
        runs.iter().flat_map(|r| f(r).iter().copied()).collect()
    };
    let combined = mean(runs.iter().map(|r| r.combined_requests as f64));
    let independent = mean(runs.iter().map(|r| r.independent_requests as f64));
    let at_creation = mean(runs.iter().map(|r| r.at_creation_requests as f64));
    let worst = runs
        .iter()
        .map(|r| r.combined_requests as f64 / r.independent_requests as f64)
        .fold(0.0, f64::max);
    let combined_lag = Spread::of(&pooled(|r| &r.combined_lags));
    println!(
        "#### {JOBS} jobs of 50 desktops created {} s apart, waited on together from the last creation (seeds {}..={})\n",
        EVERY.as_secs(),
        seeds[0],
        seeds[seeds.len() - 1]
    );
    println!("| waiters | requests (mean) | ÷ 20 single-job waiters started together | per-job lag median / p95 / max (s) |");
    println!("|---|---:|---:|---|");
    println!(
        "| one `wait_all` | {combined:.1} | {:.2} (worst seed {:.2}) | {} |",
        combined / independent,
        worst,
        Spread::cell(combined_lag)
    );
    println!(
        "| 20 × `wait`, started together | {independent:.1} | 1 | {} |",
        Spread::cell(Spread::of(&pooled(|r| &r.independent_lags)))
    );
    println!(
        "| 20 × `wait`, each started when its job was created | {at_creation:.1} | {:.2} | {} |",
        at_creation / independent,
        Spread::cell(Spread::of(&pooled(|r| &r.at_creation_lags)))
    );
    println!();
    println!(
        "The `wait_all`'s requests: {:.1} polls; {:.1} job-details reads (a first look and a \
         verdict per job), {:.1} pages of project-wide listings, {:.1} pages of per-job listings.\n",
        mean(runs.iter().map(|r| f64::from(r.combined_polls))),
        mean(runs.iter().map(|r| r.combined_details as f64)),
        mean(runs.iter().map(|r| r.combined_project as f64)),
        mean(runs.iter().map(|r| {
            (r.combined_requests - r.combined_details - r.combined_project) as f64
        })),
    );
    let mut missed = Vec::new();
    if worst > 0.2 {
        missed.push(Miss {
            text: format!(
                "many jobs: one wait_all made {:.2}× the requests of 20 single-job waiters, over 0.2",
                worst
            ),
            known: Some(LISTING),
        });
    }
    if let Some(lag) = combined_lag {
        if lag.median > Duration::from_secs(10)
            || lag.p95 > Duration::from_secs(30)
            || lag.max > Duration::from_secs(35)
        {
            missed.push(Miss::new(format!(
                "many jobs: per-job lag {} s / {} s / {} s (median / p95 / max) over 10 / 30 / 35",
                secs(lag.median),
                secs(lag.p95),
                secs(lag.max)
            )));
        }
    }
    for r in &runs {
        missed.extend(
            r.wrong
                .iter()
                .map(|w| Miss::new(format!("many jobs: wrong outcome: {w}"))),
        );
    }
    missed
}
