//! Child processes of this bench: fifty waits in fifty processes sharing a request budget
//! through its state file (issue 13), and the peak memory of one wait on 20 jobs × 500
//! subtasks.
//!
//! Processes cannot share a `ManualClock`, so the processes variant runs in *scaled* real
//! time: every process reads the same clock, real time since an agreed instant times
//! [`SCALE`], and sleeps real time divided by it. The simulator serves HTTP on 127.0.0.1
//! in this process with that clock; each child signs its requests with the simulator's
//! key, so all share one throttled window.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use wks_waiter::simulator::{RateLimit, Scenario, Simulator, TimelineSpec};
use wks_waiter::time::{Clock, Sleeper, SystemClock, ThreadSleeper};
use wks_waiter::{Cancellation, Client, Credentials, RateBudget, Waiter};

use crate::concurrent::{busiest, scenario, Budget, LIMIT, WAITS};
use crate::stats::Spread;

/// Virtual seconds per real second, for the fifty processes.
pub const SCALE: f64 = 30.0;
/// Virtual seconds per real second for the memory run, whose timing does not matter.
const MEMORY_SCALE: f64 = 120.0;

/// The wall time of virtual zero, as `ManualClock::at_2026` has it.
fn virtual_wall_zero() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// Real time since an agreed instant, times [`SCALE`]: the same virtual time in every
/// process.
#[derive(Debug)]
pub struct ScaledClock {
    scale: f64,
    /// This process's real instant and the virtual time then.
    anchor: Instant,
    anchor_virtual: Duration,
}

impl ScaledClock {
    /// A clock reading zero at real wall time `zero` (nanoseconds since the epoch),
    /// running `scale` times faster than real time.
    pub fn new(zero: u128, scale: f64) -> ScaledClock {
        let real_now = SystemClock.system_time();
        let anchor = SystemClock.now();
        let since = real_now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(Duration::from_nanos(zero as u64));
        ScaledClock {
            scale,
            anchor,
            anchor_virtual: since.mul_f64(scale),
        }
    }

    /// Virtual time since the agreed instant.
    pub fn elapsed(&self) -> Duration {
        self.anchor_virtual
            + SystemClock
                .now()
                .duration_since(self.anchor)
                .mul_f64(self.scale)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Instant {
        self.anchor + self.elapsed()
    }

    fn system_time(&self) -> SystemTime {
        virtual_wall_zero() + self.elapsed()
    }
}

/// Sleeps a virtual duration in real time divided by its scale.
#[derive(Debug)]
pub struct ScaledSleeper(f64);

impl Sleeper for ScaledSleeper {
    fn sleep(&self, duration: Duration, cancel: &Cancellation) {
        ThreadSleeper.sleep(duration.div_f64(self.0), cancel);
    }
}

fn now_nanos() -> u128 {
    SystemClock
        .system_time()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// `--child-wait URL PROJECT AK SK JOB ZERO CREATED_MS BUDGET STATE_DIR`: waits on one job
/// and prints one JSON line.
pub fn child_wait(args: &[String]) -> Result<(), String> {
    let [url, project, ak, sk, job, zero, created_ms, budget, state_dir] = args else {
        return Err(format!("--child-wait takes 9 arguments, got {args:?}"));
    };
    let parse = |v: &str| v.parse::<u128>().map_err(|e| format!("{v}: {e}"));
    let clock = Arc::new(ScaledClock::new(parse(zero)?, SCALE));
    let created = Duration::from_millis(parse(created_ms)? as u64);
    ScaledSleeper(SCALE).sleep(
        created.saturating_sub(clock.elapsed()),
        &Cancellation::new(),
    );
    let credentials = Credentials::access_key(ak, sk).map_err(|e| e.to_string())?;
    let client = Client::builder()
        .endpoint(url)
        .project_id(project)
        .credentials(credentials)
        .proxy_from_env(false)
        .clock(clock.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let mut builder = Waiter::builder(client)
        .clock(clock.clone())
        .sleeper(Arc::new(ScaledSleeper(SCALE)));
    let limit: u32 = budget.parse().map_err(|e| format!("{budget}: {e}"))?;
    if limit > 0 {
        let shared = RateBudget::builder()
            .limit(limit)
            .share_across_processes(ak.as_str())
            .state_dir(state_dir)
            .clock(clock.clone())
            .build()
            .map_err(|e| e.to_string())?;
        if shared.state_file().is_none() {
            return Err("the budget could not use its state file".to_owned());
        }
        builder = builder.rate_budget(shared);
    }
    let waiter = builder.build().map_err(|e| e.to_string())?;
    let result = waiter.wait(job);
    let returned = clock.elapsed();
    let line = match result {
        Ok(outcome) => json!({
            "returned": returned.as_secs_f64(),
            "result": outcome.result.as_str(),
            "total": outcome.counts().total,
            "failed": outcome.counts().failed,
        }),
        Err(error) => json!({ "returned": returned.as_secs_f64(), "error": error.to_string() }),
    };
    println!("{line}");
    Ok(())
}

fn spawn_child(args: &[String]) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start a child process: {e}"))
}

fn read_json(child: Child) -> Result<serde_json::Value, String> {
    let output = child
        .wait_with_output()
        .map_err(|e| format!("child: {e}"))?;
    let line = BufReader::new(&output.stdout[..])
        .lines()
        .map_while(Result::ok)
        .last()
        .unwrap_or_default();
    if !output.status.success() {
        return Err(format!("child failed ({}): {line}", output.status));
    }
    serde_json::from_str(&line).map_err(|e| format!("child printed {line:?}: {e}"))
}

/// One run of fifty processes.
struct ProcessRun {
    requests: usize,
    throttled: usize,
    busiest_minute: usize,
    lags: Vec<Duration>,
    wrong: Vec<String>,
}

fn run_processes(seed: u64, budget: Budget) -> Result<ProcessRun, String> {
    let scenario = scenario(seed);
    let zero = now_nanos();
    let clock = Arc::new(ScaledClock::new(zero, SCALE));
    let sim = Simulator::builder(scenario.clone())
        .clock(clock.clone())
        .rate_limit(RateLimit::per_minute(LIMIT).map_err(|e| e.to_string())?)
        .start()
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    // The simulator's virtual zero, in the children's virtual time.
    let sim_zero = clock.elapsed().saturating_sub(sim.elapsed());
    let state_dir: PathBuf = std::env::temp_dir().join(format!(
        "wks-economy-{}-{seed}-{}",
        std::process::id(),
        match budget {
            Budget::Off => 0,
            Budget::PerMinute(n) => n,
        }
    ));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let limit = match budget {
        Budget::Off => 0,
        Budget::PerMinute(n) => n,
    };
    let children: Vec<Child> = scenario
        .jobs
        .iter()
        .map(|job| {
            let created = sim_zero + job.created_at;
            spawn_child(&[
                "--child-wait".to_owned(),
                sim.url(),
                sim.project_id().to_owned(),
                sim.access_key().to_owned(),
                sim.secret_key().to_owned(),
                job.job_id.clone(),
                zero.to_string(),
                created.as_millis().to_string(),
                limit.to_string(),
                state_dir.display().to_string(),
            ])
        })
        .collect::<Result<_, _>>()?;
    let mut lags = Vec::new();
    let mut wrong = Vec::new();
    for (job, child) in scenario.jobs.iter().zip(children) {
        let answer = read_json(child)?;
        if let Some(error) = answer.get("error") {
            wrong.push(format!("{}: {error}", job.job_id));
            continue;
        }
        let returned = Duration::from_secs_f64(answer["returned"].as_f64().unwrap_or_default());
        lags.push(returned.saturating_sub(sim_zero + job.last_end().unwrap_or_default()));
        let failed = job
            .desktops
            .iter()
            .filter(|d| !matches!(d.outcome, wks_waiter::simulator::Outcome::Success))
            .count() as u64;
        let expected = if failed > 0 { "failed" } else { "succeeded" };
        if answer["result"] != expected
            || answer["total"] != job.desktops.len()
            || answer["failed"] != failed
        {
            wrong.push(format!("{}: {answer}", job.job_id));
        }
    }
    let _ = std::fs::remove_dir_all(&state_dir);
    let log = sim.requests();
    let accepted: Vec<Duration> = log
        .iter()
        .filter(|r| r.status != 429)
        .map(|r| r.at)
        .collect();
    Ok(ProcessRun {
        requests: log.len(),
        throttled: log.iter().filter(|r| r.status == 429).count(),
        busiest_minute: busiest(&accepted, Duration::from_secs(60)),
        lags,
        wrong,
    })
}

/// Runs the fifty processes once per budget variant (seed 1), prints the table, returns
/// the targets missed.
pub fn bench_processes() -> Vec<String> {
    println!(
        "#### {WAITS} concurrent waits (processes sharing the budget's state file), one access key limited to {LIMIT} requests/min, seed 1, time scaled ×{SCALE}\n"
    );
    println!(
        "| budget | requests | 429 answers | busiest minute | per-job lag median / p95 / max (s) |"
    );
    println!("|---|---:|---:|---:|---|");
    let mut missed = Vec::new();
    for variant in Budget::variants() {
        match run_processes(1, variant) {
            Ok(run) => {
                println!(
                    "| {} | {} | {} | {} | {} |",
                    variant.label(),
                    run.requests,
                    run.throttled,
                    run.busiest_minute,
                    Spread::cell(Spread::of(&run.lags))
                );
                if variant != Budget::Off && run.throttled > 0 {
                    missed.push(format!(
                        "{WAITS} processes, {}: {} answers 429, not zero",
                        variant.label(),
                        run.throttled
                    ));
                }
                missed.extend(run.wrong.iter().map(|w| {
                    format!("{WAITS} processes, {}: wrong outcome: {w}", variant.label())
                }));
            }
            Err(error) => missed.push(format!("{WAITS} processes, {}: {error}", variant.label())),
        }
    }
    println!();
    missed
}

/// 20 jobs of 500 subtasks, created 30 s apart.
fn memory_scenario() -> Scenario {
    let spec = TimelineSpec {
        finish_between: (Duration::from_secs(300), Duration::from_secs(900)),
        start_within: Duration::from_secs(20),
        failures: 10,
        ..TimelineSpec::new(500)
    };
    Scenario::new().many("large", 20, Duration::from_secs(30), &spec)
}

/// `--child-memory URL PROJECT AK SK ZERO START_MS`: one `wait_all` on every job of
/// [`memory_scenario`] from virtual `START_MS`, over HTTP; prints the peak resident set.
pub fn child_memory(args: &[String]) -> Result<(), String> {
    let [url, project, ak, sk, zero, start_ms] = args else {
        return Err(format!("--child-memory takes 6 arguments, got {args:?}"));
    };
    let before = status_kib("VmHWM")?;
    let parse = |v: &str| v.parse::<u128>().map_err(|e| format!("{v}: {e}"));
    let clock = Arc::new(ScaledClock::new(parse(zero)?, MEMORY_SCALE));
    let start = Duration::from_millis(parse(start_ms)? as u64);
    let sleeper = ScaledSleeper(MEMORY_SCALE);
    sleeper.sleep(start.saturating_sub(clock.elapsed()), &Cancellation::new());
    let client = Client::builder()
        .endpoint(url)
        .project_id(project)
        .credentials(Credentials::access_key(ak, sk).map_err(|e| e.to_string())?)
        .proxy_from_env(false)
        .clock(clock.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let ids: Vec<String> = memory_scenario()
        .jobs
        .iter()
        .map(|j| j.job_id.clone())
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let waiter = Waiter::builder(client)
        .clock(clock)
        .sleeper(Arc::new(sleeper))
        .build()
        .map_err(|e| e.to_string())?;
    let outcome = waiter.wait_all(&ids).map_err(|e| e.to_string())?;
    let subtasks: usize = outcome.jobs.iter().map(|j| j.subtasks.len()).sum();
    let line = json!({
        "peak_kib": status_kib("VmHWM")?,
        "before_kib": before,
        "subtasks": subtasks,
        "requests": outcome.requests,
        "complete": outcome.jobs.iter().all(|j| j.is_complete()),
    });
    println!("{line}");
    Ok(())
}

/// Runs [`child_memory`] against a simulator in this process.
fn run_memory() -> Result<serde_json::Value, String> {
    let scenario = memory_scenario();
    let zero = now_nanos();
    let clock = Arc::new(ScaledClock::new(zero, MEMORY_SCALE));
    let sim = Simulator::builder(scenario.clone())
        .clock(clock.clone())
        .start()
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let sim_zero = clock.elapsed().saturating_sub(sim.elapsed());
    let start = sim_zero
        + scenario
            .jobs
            .iter()
            .map(|j| j.created_at)
            .max()
            .unwrap_or_default();
    let child = spawn_child(&[
        "--child-memory".to_owned(),
        sim.url(),
        sim.project_id().to_owned(),
        sim.access_key().to_owned(),
        sim.secret_key().to_owned(),
        zero.to_string(),
        start.as_millis().to_string(),
    ])?;
    read_json(child)
}

pub fn bench_memory() -> Vec<String> {
    let mut missed = Vec::new();
    match run_memory() {
        Ok(answer) => {
            let peak = answer["peak_kib"].as_u64().unwrap_or(u64::MAX);
            println!("#### Memory: one `wait_all` on 20 jobs × 500 subtasks, over HTTP (the simulator in another process)\n");
            println!("| subtasks tracked | requests | peak RSS of the waiting process | before the wait |");
            println!("|---:|---:|---:|---:|");
            println!(
                "| {} | {} | {:.1} MB ({:.1} MiB) | {:.1} MB |",
                answer["subtasks"],
                answer["requests"],
                peak as f64 * 1024.0 / 1e6,
                peak as f64 / 1024.0,
                answer["before_kib"].as_u64().unwrap_or_default() as f64 * 1024.0 / 1e6
            );
            println!();
            if peak as f64 * 1024.0 > 30e6 {
                missed.push(format!(
                    "memory: peak RSS {:.1} MB over 30 MB",
                    peak as f64 * 1024.0 / 1e6
                ));
            }
            if answer["complete"] != true || answer["subtasks"] != 10_000 {
                missed.push(format!(
                    "memory: the wait did not finish as planned: {answer}"
                ));
            }
        }
        Err(error) => missed.push(format!("memory: {error}")),
    }
    missed
}

/// A `kB` field of `/proc/self/status`, such as `VmHWM` (peak resident set).
fn status_kib(field: &str) -> Result<u64, String> {
    let path = "/proc/self/status";
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{path} has no {field}"))
}
