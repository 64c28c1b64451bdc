//! Polling economy in virtual time: requests, polls, bytes and detection lag of the default
//! waiter against the Terraform provider's loop and a plain script loop, on the simulator's
//! timelines, over several seeds. Runs in seconds; prints Markdown tables for BENCHMARKS.md
//! and checks the targets (exit status 1 if one is missed).
//!
//! `cargo bench --bench economy`

use std::sync::Arc;
use std::time::Duration;

use wks_waiter::simulator::{JobPlan, Scenario, TimelineSpec, VirtualSource};
use wks_waiter::{
    source::{collect_pages, FetchedJob, FetchedPage, JobsApi},
    test_util::{virtual_time, ManualClock, ManualSleeper},
    time::{Clock, Sleeper},
    Cancellation, Error, SubtaskQuery, Waiter,
};

const JOB: &str = "0e2dae94-23ff-449a-bb9c-1b808cf2106d";
const SEEDS: u64 = 20;

struct Timeline {
    name: &'static str,
    spec: TimelineSpec,
}

fn mins(m: f64) -> Duration {
    Duration::from_secs_f64(m * 60.0)
}

fn timelines(seed: u64) -> Vec<Timeline> {
    vec![
        Timeline {
            name: "(a) 10 desktops, 4-6 min",
            spec: TimelineSpec {
                finish_between: (mins(4.0), mins(6.0)),
                seed,
                ..TimelineSpec::new(10)
            },
        },
        Timeline {
            name: "(b) 200 desktops, 5-15 min, 3% fail",
            spec: TimelineSpec {
                failures: 6,
                finish_between: (mins(5.0), mins(15.0)),
                seed,
                ..TimelineSpec::new(200)
            },
        },
        Timeline {
            name: "(c) 3000 desktops, 10-30 min, 2% fail",
            spec: TimelineSpec {
                failures: 60,
                finish_between: (mins(10.0), mins(30.0)),
                seed,
                ..TimelineSpec::new(3000)
            },
        },
        Timeline {
            name: "(d) 20 desktops, invisible 90 s, done at 8 min",
            spec: TimelineSpec {
                visible_after: Duration::from_secs(90),
                finish_between: (mins(8.0), mins(8.0)),
                seed,
                ..TimelineSpec::new(20)
            },
        },
    ]
}

#[derive(Clone, Copy, PartialEq)]
enum Strategy {
    Ours,
    /// The default waiter against a service whose `process` moves in 25-point steps.
    OursCoarseProcess,
    /// The default waiter against a service that never reports `process`: the worst case.
    OursNoProcess,
    Terraform,
    Script,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Self::Ours => "wks-waiter (default)",
            Self::OursCoarseProcess => "wks-waiter, `process` in 25-point steps",
            Self::OursNoProcess => "wks-waiter, no `process` (worst case)",
            Self::Terraform => "Terraform loop (10 s, then every 15 s)",
            Self::Script => "script loop (every 5 s)",
        }
    }
}

/// Rewrites the `process` of every subtask a source lists.
struct Progressless<'a> {
    inner: &'a VirtualSource,
    rewrite: fn(Option<u32>) -> Option<u32>,
}

impl JobsApi for Progressless<'_> {
    fn project_id(&self) -> &str {
        self.inner.project_id()
    }

    fn fetch_job(&self, job_id: &str, timeout: Option<Duration>) -> Result<FetchedJob, Error> {
        self.inner.fetch_job(job_id, timeout)
    }

    fn fetch_page(
        &self,
        query: &SubtaskQuery,
        timeout: Option<Duration>,
    ) -> Result<FetchedPage, Error> {
        let mut fetched = self.inner.fetch_page(query, timeout)?;
        for job in &mut fetched.page.subtasks {
            job.process = (self.rewrite)(job.process);
        }
        Ok(fetched)
    }
}

fn wait_with_default_waiter(
    source: impl JobsApi,
    clock: &Arc<ManualClock>,
    sleeper: &Arc<ManualSleeper>,
    timeline: &Timeline,
    seed: u64,
) -> usize {
    let waiter = Waiter::builder(source)
        .clock(clock.clone())
        .sleeper(sleeper.clone())
        .jitter_seed(seed)
        .build()
        .unwrap();
    let outcome = waiter.wait(JOB).unwrap();
    assert!(outcome.is_complete());
    assert_eq!(outcome.counts().total, timeline.spec.desktops);
    assert_eq!(outcome.counts().failed, timeline.spec.failures);
    outcome.polls as usize
}

struct Run {
    requests: usize,
    /// Poll cycles: each reads every page it needs.
    polls: usize,
    bytes: usize,
    lag: Duration,
}

/// A baseline loop: first delay, then a fixed interval, reading every page each time, until
/// every listed subtask is terminal (and at least one is listed). Returns its polls.
fn fixed_loop(
    source: &VirtualSource,
    sleeper: &ManualSleeper,
    first: Duration,
    every: Duration,
) -> usize {
    let query = SubtaskQuery::for_job(JOB).unwrap();
    let never = Cancellation::new();
    sleeper.sleep(first, &never);
    for poll in 1.. {
        let listing =
            collect_pages(&query, |q| source.fetch_page(q, None)).expect("no faults injected");
        if !listing.subtasks.is_empty() && listing.subtasks.iter().all(|j| j.is_terminal()) {
            return poll;
        }
        sleeper.sleep(every, &never);
    }
    unreachable!("the loop returns when the job is done")
}

fn run(timeline: &Timeline, strategy: Strategy, seed: u64) -> Run {
    let (clock, sleeper): (Arc<ManualClock>, Arc<ManualSleeper>) = virtual_time();
    let source = VirtualSource::new(Scenario::generate(JOB, &timeline.spec), clock.clone());
    let start = clock.now();
    let polls = match strategy {
        Strategy::Ours => wait_with_default_waiter(&source, &clock, &sleeper, timeline, seed),
        Strategy::OursCoarseProcess => {
            let coarse = Progressless {
                inner: &source,
                rewrite: |p| p.map(|p| p / 25 * 25),
            };
            wait_with_default_waiter(coarse, &clock, &sleeper, timeline, seed)
        }
        Strategy::OursNoProcess => {
            let none = Progressless {
                inner: &source,
                rewrite: |_| None,
            };
            wait_with_default_waiter(none, &clock, &sleeper, timeline, seed)
        }
        Strategy::Terraform => fixed_loop(
            &source,
            &sleeper,
            Duration::from_secs(10),
            Duration::from_secs(15),
        ),
        Strategy::Script => fixed_loop(&source, &sleeper, Duration::ZERO, Duration::from_secs(5)),
    };
    let finished_at = clock.now() - start;
    let last_end = JobPlan::generate(JOB, &timeline.spec).last_end().unwrap();
    let log = source.requests();
    Run {
        requests: log.len(),
        polls,
        bytes: log.iter().map(|r| r.body_bytes).sum(),
        lag: finished_at.saturating_sub(last_end),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

struct Summary {
    requests: f64,
    polls: f64,
    bytes: f64,
    median_lag: Duration,
    p95_lag: Duration,
    max_lag: Duration,
    max_requests: usize,
}

fn summarize(runs: &[Run]) -> Summary {
    let n = runs.len() as f64;
    let mut lags: Vec<Duration> = runs.iter().map(|r| r.lag).collect();
    lags.sort();
    Summary {
        requests: runs.iter().map(|r| r.requests as f64).sum::<f64>() / n,
        polls: runs.iter().map(|r| r.polls as f64).sum::<f64>() / n,
        bytes: runs.iter().map(|r| r.bytes as f64).sum::<f64>() / n,
        median_lag: percentile(&lags, 50.0),
        p95_lag: percentile(&lags, 95.0),
        max_lag: *lags.last().unwrap(),
        max_requests: runs.iter().map(|r| r.requests).max().unwrap(),
    }
}

fn main() {
    // `cargo test --benches` (CI) runs this unoptimised and without `--bench`: there, check
    // the targets on 2 seeds against the Terraform loop only.
    let full = std::env::args().any(|a| a == "--bench");
    let seeds = if full { SEEDS } else { 2 };
    let strategies: &[Strategy] = if full {
        &[
            Strategy::Ours,
            Strategy::Terraform,
            Strategy::Script,
            Strategy::OursCoarseProcess,
            Strategy::OursNoProcess,
        ]
    } else {
        &[Strategy::Ours, Strategy::Terraform]
    };
    let mut failures = Vec::new();
    println!("Seeds 1..={seeds} (timeline and jitter); lag = time from the last subtask turning terminal to the wait returning.\n");
    println!("| timeline | waiter | requests (mean) | polls (mean) | KiB received (mean) | lag median | lag p95 | lag max |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for index in 0..timelines(0).len() {
        let mut summaries = Vec::new();
        for &strategy in strategies {
            let runs: Vec<Run> = (1..=seeds)
                .map(|seed| run(&timelines(seed)[index], strategy, seed))
                .collect();
            let summary = summarize(&runs);
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.0} | {:.1} s | {:.1} s | {:.1} s |",
                timelines(0)[index].name,
                strategy.name(),
                summary.requests,
                summary.polls,
                summary.bytes / 1024.0,
                summary.median_lag.as_secs_f64(),
                summary.p95_lag.as_secs_f64(),
                summary.max_lag.as_secs_f64(),
            );
            summaries.push(summary);
        }
        let (ours, terraform) = (&summaries[0], &summaries[1]);
        let name = timelines(0)[index].name;
        if ours.max_requests as f64 > terraform.requests / 2.0 {
            failures.push(format!(
                "{name}: up to {} requests, more than half of Terraform's {:.1}",
                ours.max_requests, terraform.requests
            ));
        }
        if ours.median_lag >= Duration::from_secs(10) {
            failures.push(format!(
                "{name}: median lag {:?} not under 10 s",
                ours.median_lag
            ));
        }
        if ours.p95_lag >= Duration::from_secs(30) {
            failures.push(format!("{name}: p95 lag {:?} not under 30 s", ours.p95_lag));
        }
    }
    println!();
    if failures.is_empty() {
        println!("Targets met by the default waiter on every timeline: at most half of Terraform's requests (worst seed vs. mean), median lag < 10 s, p95 lag < 30 s.");
    } else {
        for failure in &failures {
            println!("TARGET MISSED: {failure}");
        }
        std::process::exit(1);
    }
}
