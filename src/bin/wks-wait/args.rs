//! The command line: flags, their defaults and help.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wks_waiter::{defaults::DEFAULT_POLL, BackoffPolicy};

use crate::duration::{format_duration, parse_duration};

const AFTER_HELP: &str = "\
Environment:
  HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK   access key pair (required; never taken as flags)
  HUAWEICLOUD_SDK_SECURITY_TOKEN           security token of temporary credentials
  HUAWEICLOUD_SDK_PROJECT_ID               project ID (--project-id overrides)
  HUAWEICLOUD_SDK_REGION                   region (--region or --endpoint override)
  HTTPS_PROXY, NO_PROXY                    proxy
  RUST_LOG                                 log level on stderr (default: warn)

Durations: a whole number and a unit: 500ms, 90s, 20m, 1h.

Exit codes:
  0    every subtask succeeded
  1    every subtask finished and at least one failed (or --fail-fast saw a failure)
  2    bad usage or configuration
  3    timed out with subtasks still pending
  4    an API or transport error ended the wait (auth, permission, not found, retries exhausted)
  130  interrupted by SIGINT (Ctrl-C)
  143  interrupted by SIGTERM (kill, timeout, CI cancellation, service stop)
  129  interrupted by SIGHUP (terminal closed)
  A signal ends the wait with the partial report (result \"interrupted\" in JSON); a second
  signal exits at once, without a report, with the code of that signal.";

/// `wks-wait`: wait for a Huawei Cloud Workspace job's subtasks to finish.
#[derive(Debug, Parser)]
#[command(
    name = "wks-wait",
    version,
    about = "Wait until every subtask (desktop) of a Huawei Cloud Workspace job has finished",
    long_about = "Wait until every subtask (desktop) of a Huawei Cloud Workspace job is SUCCESS \
                  or FAILED, polling GET /v2/{project_id}/workspace-sub-jobs with backoff, then \
                  report which desktops failed and why.\n\n\
                  Progress goes to stderr (a live bar on a terminal, one line per poll \
                  otherwise); the result goes to stdout.",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// Run against the built-in simulator instead of the cloud.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of waiting on a real job.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Wait on a simulated job served by a local fake of the API: no account, no cloud.
    ///
    /// Starts the built-in simulator on 127.0.0.1 with one simulated job whose desktops
    /// appear after about 1/20 of --duration, start within 3/20 of it and finish between
    /// half of it and all of it, then waits on that job exactly as on a real one (same
    /// output, same exit codes; exit 1 when --fail is not 0).
    ///
    /// It polls as for a real job, on a scale of seconds: while nothing predicts the end,
    /// after 1 s, then 2 s, then every 3 s (±10 %); once desktops report their progress, it
    /// predicts when the slowest will finish and sleeps toward that moment, polling just
    /// after it, so one sleep can take much of --duration (about 10 s of the default 20 s).
    Demo(DemoArgs),
    /// Print a shell completion script on stdout.
    ///
    /// For example: `wks-wait completions bash > ~/.local/share/bash-completion/completions/wks-wait`,
    /// or `wks-wait completions zsh > "${fpath[1]}/_wks-wait"`.
    Completions(CompletionsArgs),
}

/// Options of the completion scripts.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Options of waiting on a real job.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The job whose subtasks to wait for (returned by e.g. a create-desktops call).
    #[arg(long, value_name = "ID", required = true)]
    pub job_id: Option<String>,

    /// Project ID. Defaults to $HUAWEICLOUD_SDK_PROJECT_ID.
    #[arg(long, value_name = "ID")]
    pub project_id: Option<String>,

    /// Region, e.g. cn-north-4. Defaults to $HUAWEICLOUD_SDK_REGION.
    #[arg(long, value_name = "REGION", conflicts_with = "endpoint")]
    pub region: Option<String>,

    /// Endpoint URL instead of the region's: https://…, or http://… for a loopback host only.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// Give up after this long, with exit code 3.
    #[arg(long, value_name = "DURATION", default_value = "60m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// First delay between polls; later delays double up to --max-interval [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub initial_interval: Option<Duration>,

    /// Longest delay between polls while the end cannot be predicted from progress
    /// [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_interval: Option<Duration>,

    /// Keep waiting until at least N subtasks are listed (subtasks of a new job may appear
    /// late) [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub expect: Option<u32>,

    /// Stop at the first failed subtask instead of waiting for the others (exit code 1).
    #[arg(long)]
    pub fail_fast: bool,

    /// Result format on stdout: a summary line and a table of failures, or one JSON object.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Print only the summary line: no progress, no table of failures.
    #[arg(long)]
    pub quiet: bool,
}

/// Options of the demo.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Desktops in the simulated job.
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub desktops: u32,

    /// How many of them fail.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub fail: u32,

    /// About how long the simulated job runs.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Give up after this long, with exit code 3 [default: 3 × --duration + 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Result format on stdout.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Print only the summary line: no banner, no progress, no table of failures.
    #[arg(long)]
    pub quiet: bool,
}

/// The format of the result on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A summary line and a table of failed desktops.
    Text,
    /// Exactly one JSON object.
    Json,
}

impl WaitArgs {
    /// The poll schedule: the waiter's default with the interval flags applied.
    ///
    /// When only one interval is given and it contradicts the other's default, the default
    /// yields (`--initial-interval 1m` alone also raises the cap to 1 minute); when both are
    /// given, a maximum below the initial interval is an error naming both.
    ///
    /// # Errors
    ///
    /// `--max-interval` below `--initial-interval`, both given.
    pub fn poll_policy(&self) -> Result<BackoffPolicy, String> {
        poll_policy(self.initial_interval, self.max_interval)
    }
}

fn poll_policy(initial: Option<Duration>, max: Option<Duration>) -> Result<BackoffPolicy, String> {
    let mut policy = DEFAULT_POLL;
    match (initial, max) {
        (Some(initial), Some(max)) if max < initial => {
            return Err(format!(
                "--max-interval {} is below --initial-interval {}",
                format_duration(max),
                format_duration(initial)
            ));
        }
        (Some(initial), Some(max)) => {
            policy.initial_interval = initial;
            policy.max_interval = max;
        }
        (Some(initial), None) => {
            policy.initial_interval = initial;
            policy.max_interval = policy.max_interval.max(initial);
        }
        (None, Some(max)) => {
            policy.max_interval = max;
            policy.initial_interval = policy.initial_interval.min(max);
        }
        (None, None) => {}
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn interval_flags_override_the_default_schedule() {
        assert_eq!(poll_policy(None, None), Ok(DEFAULT_POLL));
        let both = poll_policy(Some(secs(2)), Some(secs(8))).unwrap();
        assert_eq!(
            (both.initial_interval, both.max_interval),
            (secs(2), secs(8))
        );
        assert_eq!(both.multiplier, DEFAULT_POLL.multiplier);
        let long_initial = poll_policy(Some(secs(60)), None).unwrap();
        assert_eq!(
            (long_initial.initial_interval, long_initial.max_interval),
            (secs(60), secs(60))
        );
        let short_max = poll_policy(None, Some(secs(2))).unwrap();
        assert_eq!(
            (short_max.initial_interval, short_max.max_interval),
            (secs(2), secs(2))
        );
        assert_eq!(
            poll_policy(Some(secs(10)), Some(Duration::from_millis(1500))),
            Err("--max-interval 1.5s is below --initial-interval 10s".to_owned())
        );
    }

    #[test]
    fn job_id_is_required_except_for_the_demo() {
        let err = Cli::try_parse_from(["wks-wait"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let demo = Cli::try_parse_from(["wks-wait", "demo", "--fail", "0"]).unwrap();
        assert!(matches!(
            demo.command,
            Some(Command::Demo(DemoArgs { fail: 0, .. }))
        ));
        let err = Cli::try_parse_from(["wks-wait", "--job-id", "j", "demo"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let err = Cli::try_parse_from([
            "wks-wait",
            "--job-id",
            "j",
            "--region",
            "cn-north-4",
            "--endpoint",
            "https://x",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn durations_are_parsed_and_bad_ones_name_the_value() {
        let cli = Cli::try_parse_from(["wks-wait", "--job-id", "j", "--timeout", "90s"]).unwrap();
        assert_eq!(cli.wait.timeout, secs(90));
        let default = Cli::try_parse_from(["wks-wait", "--job-id", "j"]).unwrap();
        assert_eq!(default.wait.timeout, secs(3600));
        let err = Cli::try_parse_from(["wks-wait", "--job-id", "j", "--timeout", "0s"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("0s") && err.contains("--timeout"), "{err}");
    }
}
