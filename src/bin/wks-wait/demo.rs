//! `wks-wait demo`: a simulated job on a local fake of the API, waited on like a real one.

use std::time::Duration;

use wks_waiter::simulator::{Scenario, Simulator, TimelineSpec};
use wks_waiter::{BackoffPolicy, Client, Credentials};

use crate::args::DemoArgs;
use crate::duration::format_duration;
use crate::run::{Plan, Settings, SetupError};
use crate::text::plural;

/// The simulated job.
pub const DEMO_JOB_ID: &str = "demo-0e2dae94-23ff-449a-bb9c-1b808cf2106d";

/// Polls of a job that lasts seconds: 1 s, doubling, capped at 3 s, ±10 %.
const DEMO_POLL: BackoffPolicy = BackoffPolicy::new(Duration::from_secs(1))
    .max_interval(Duration::from_secs(3))
    .randomization_factor(0.1);

/// The demo's defaults: 50 desktops, 3 failing, about 20 s.
pub const DEFAULT_DESKTOPS: u32 = 50;
/// Failing desktops of the default demo.
pub const DEFAULT_FAILURES: u32 = 3;
/// Length of the default demo.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(20);

/// Desktops appear after 1/20 of the duration, start within 3/20 of it, and finish
/// between half of it and all of it: about 1 s, 3 s and 10–20 s for the default 20 s.
pub fn timeline(args: &DemoArgs) -> TimelineSpec {
    timeline_of(args.desktops, args.fail, args.duration)
}

/// The demo's job of `desktops` desktops, `fail` of them failing, lasting about `duration`.
pub fn timeline_of(desktops: u32, fail: u32, duration: Duration) -> TimelineSpec {
    let mut spec = TimelineSpec::new(desktops as usize);
    spec.failures = fail as usize;
    spec.visible_after = duration / 20;
    spec.start_within = duration * 3 / 20;
    spec.finish_between = (duration / 2, duration);
    spec
}

/// Generous, but bounded should the simulator misbehave.
fn default_timeout(duration: Duration) -> Duration {
    duration
        .saturating_mul(3)
        .saturating_add(Duration::from_secs(30))
}

/// The first line of the demo, on stderr: what is simulated, and where.
pub fn banner(args: &DemoArgs, simulator: &Simulator) -> String {
    format!(
        "wks-wait: demo: a simulated job of {} ({} failing, about {}) on a local fake of \
         the API at {}; no cloud account is used",
        plural(args.desktops, "desktop"),
        args.fail,
        format_duration(args.duration),
        simulator.url()
    )
}

/// Starts the simulator and configures the wait on its job, as a real one would be
/// configured from the environment. The simulator serves until dropped.
///
/// # Errors
///
/// `--fail` above `--desktops`, or the simulator failing to start.
pub fn prepare(args: &DemoArgs) -> Result<(Plan, Simulator), SetupError> {
    if args.fail > args.desktops {
        return Err(format!(
            "--fail {} is more than --desktops {}",
            args.fail, args.desktops
        )
        .into());
    }
    let simulator = Simulator::start(Scenario::generate(DEMO_JOB_ID, &timeline(args)))
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let client = Client::builder()
        .endpoint(simulator.url())
        .project_id(simulator.project_id())
        .credentials(Credentials::access_key(
            simulator.access_key(),
            simulator.secret_key(),
        )?)
        // The simulator is on loopback, where no proxy could reach it.
        .proxy_from_env(false)
        .build()?;
    let max_wait = args
        .timeout
        .unwrap_or_else(|| default_timeout(args.duration));
    // No request budget: the simulator is this process's own, with no limit to respect.
    let mut settings = Settings::new(max_wait, DEMO_POLL);
    settings.expect = Some(args.desktops as usize);
    let plan = Plan {
        client,
        job_ids: vec![DEMO_JOB_ID.to_owned()],
        submissions: Vec::new(),
        notes: Vec::new(),
        settings,
    };
    Ok((plan, simulator))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::OutputFormat;

    fn args(desktops: u32, fail: u32, secs: u64) -> DemoArgs {
        DemoArgs {
            desktops,
            fail,
            duration: Duration::from_secs(secs),
            timeout: None,
            output: OutputFormat::Json,
            quiet: false,
        }
    }

    #[test]
    fn the_default_timeline_lasts_about_20_seconds() {
        let spec = timeline(&args(50, 3, 20));
        assert_eq!((spec.desktops, spec.failures), (50, 3));
        assert_eq!(spec.visible_after, Duration::from_secs(1));
        assert_eq!(spec.start_within, Duration::from_secs(3));
        assert_eq!(
            spec.finish_between,
            (Duration::from_secs(10), Duration::from_secs(20))
        );
    }

    #[test]
    fn simulate_serves_the_demo_defaults() {
        use clap::Parser;
        let cli = crate::args::Cli::try_parse_from(["wks-wait", "demo"]).unwrap();
        let Some(crate::args::Command::Demo(demo)) = cli.command else {
            panic!("demo")
        };
        assert_eq!(
            (demo.desktops, demo.fail, demo.duration),
            (DEFAULT_DESKTOPS, DEFAULT_FAILURES, DEFAULT_DURATION)
        );
    }

    #[test]
    fn more_failures_than_desktops_is_refused_before_starting() {
        let err = prepare(&args(5, 6, 3)).unwrap_err().to_string();
        assert_eq!(err, "--fail 6 is more than --desktops 5");
    }
}
