//! Fifty concurrent waits on one throttled access key (issue 13), in threads sharing one
//! virtual clock: with a shared `RateBudget` at or below the gateway's limit, and without.

use std::sync::Arc;
use std::time::Duration;

use wks_waiter::simulator::{RateLimit, Scenario, TimelineSpec, VirtualSource};
use wks_waiter::test_util::ManualClock;
use wks_waiter::time::Sleeper;
use wks_waiter::{Cancellation, RateBudget, Waiter};

use crate::single::{check, ends};
use crate::stats::{mean, parallel, Spread};
use crate::turns::Turns;

pub const WAITS: usize = 50;
/// The gateway's documented limit per user and API.
pub const LIMIT: u32 = 200;

/// How the waits share a request budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Each waiter on its own: retries after 429s only.
    Off,
    /// One budget of `n` requests per minute shared by every waiter.
    PerMinute(u32),
}

impl Budget {
    pub fn label(self) -> String {
        match self {
            Budget::Off => "no budget".to_owned(),
            Budget::PerMinute(n) if n == RateBudget::DEFAULT_LIMIT => {
                format!("shared `RateBudget`, {n}/min (the default)")
            }
            Budget::PerMinute(n) => format!("shared `RateBudget`, {n}/min"),
        }
    }

    pub fn variants() -> [Budget; 3] {
        [
            Budget::Off,
            Budget::PerMinute(LIMIT),
            Budget::PerMinute(RateBudget::DEFAULT_LIMIT),
        ]
    }
}

/// The jobs of seed `seed`: one per CI pipeline, created 0.2 s apart (a CI matrix started at once), 50 desktops each,
/// finishing 5 to 15 minutes after creation.
pub fn scenario(seed: u64) -> Scenario {
    let spec = TimelineSpec {
        finish_between: (Duration::from_secs(300), Duration::from_secs(900)),
        start_within: Duration::from_secs(20),
        visible_after: Duration::from_secs(3),
        seed,
        ..TimelineSpec::new(50)
    };
    Scenario::new().many("pipeline", WAITS, Duration::from_millis(200), &spec)
}

/// One run of the fifty waits.
pub struct Run {
    pub requests: usize,
    pub throttled: usize,
    pub lags: Vec<Duration>,
    /// The most requests the gateway accepted in any minute.
    pub busiest_minute: usize,
    pub wrong: Vec<String>,
}

/// The most of `times` within any `window`.
pub fn busiest(times: &[Duration], window: Duration) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut start = 0;
    let mut most = 0;
    for end in 0..sorted.len() {
        while sorted[end] - sorted[start] >= window {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

pub fn run(seed: u64, budget: Budget) -> Run {
    let scenario = scenario(seed);
    let clock = Arc::new(ManualClock::at_2026());
    let source = VirtualSource::new(scenario.clone(), clock.clone())
        .with_rate_limit(RateLimit::per_minute(LIMIT).unwrap());
    let shared = match budget {
        Budget::Off => None,
        Budget::PerMinute(n) => Some(
            RateBudget::builder()
                .limit(n)
                .clock(clock.clone())
                .build()
                .unwrap(),
        ),
    };
    let turns = Turns::new(clock.clone());
    let sleeper: Arc<dyn Sleeper> = turns.clone();
    let results = turns.run(WAITS, |k| {
        let job = &scenario.jobs[k];
        // Each pipeline starts waiting when its job was created.
        sleeper.sleep(job.created_at, &Cancellation::new());
        let mut builder = Waiter::builder(&source)
            .clock(clock.clone())
            .sleeper(sleeper.clone())
            .jitter_seed(seed.wrapping_mul(1000).wrapping_add(k as u64));
        if let Some(budget) = &shared {
            builder = builder.rate_budget(budget.clone());
        }
        let waiter = builder.build().unwrap();
        let result = waiter.wait(&job.job_id);
        let returned = clock.elapsed();
        let lag = returned.saturating_sub(job.last_end().expect("generated jobs end"));
        let wrong = match result {
            Ok(outcome) => check(&outcome, &ends(job), true, job.created_at)
                .map(|w| format!("{}: {w}", job.job_id)),
            Err(error) => Some(format!("{}: {error}", job.job_id)),
        };
        (lag, wrong)
    });
    let log = source.requests();
    let accepted: Vec<Duration> = log
        .iter()
        .filter(|r| r.status != 429)
        .map(|r| r.at)
        .collect();
    Run {
        requests: log.len(),
        throttled: log.iter().filter(|r| r.status == 429).count(),
        busiest_minute: busiest(&accepted, Duration::from_secs(60)),
        lags: results.iter().map(|(lag, _)| *lag).collect(),
        wrong: results.into_iter().filter_map(|(_, w)| w).collect(),
    }
}

/// Runs every variant on every seed, prints the table, returns the targets missed.
pub fn bench(seeds: &[u64]) -> Vec<String> {
    let variants = Budget::variants();
    let runs = parallel(seeds.len() * variants.len(), |i| {
        let (seed, variant) = (seeds[i / variants.len()], variants[i % variants.len()]);
        (variant, run(seed, variant))
    });
    println!(
        "#### {WAITS} concurrent waits (threads), one access key limited to {LIMIT} requests/min, seeds {}..={}\n",
        seeds[0],
        seeds[seeds.len() - 1]
    );
    println!("| budget | requests (mean) | 429 answers (mean, worst seed) | busiest minute (worst seed) | per-job lag median / p95 / max (s) |");
    println!("|---|---:|---:|---:|---|");
    let mut missed = Vec::new();
    for variant in variants {
        let of: Vec<&Run> = runs
            .iter()
            .filter(|(v, _)| *v == variant)
            .map(|(_, r)| r)
            .collect();
        let lags: Vec<Duration> = of.iter().flat_map(|r| r.lags.iter().copied()).collect();
        let worst_throttled = of.iter().map(|r| r.throttled).max().unwrap_or(0);
        println!(
            "| {} | {:.1} | {:.1} ({worst_throttled}) | {} | {} |",
            variant.label(),
            mean(of.iter().map(|r| r.requests as f64)),
            mean(of.iter().map(|r| r.throttled as f64)),
            of.iter().map(|r| r.busiest_minute).max().unwrap_or(0),
            Spread::cell(Spread::of(&lags)),
        );
        if variant != Budget::Off && worst_throttled > 0 {
            missed.push(format!(
                "{WAITS} threads, {}: {worst_throttled} answers 429, not zero",
                variant.label()
            ));
        }
        for r in &of {
            missed.extend(
                r.wrong
                    .iter()
                    .map(|w| format!("{WAITS} threads, {}: wrong outcome: {w}", variant.label())),
            );
        }
    }
    println!();
    missed
}
