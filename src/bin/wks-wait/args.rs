//! The command line: flags, their defaults and help.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wks_waiter::{defaults::DEFAULT_POLL, BackoffPolicy, Limit, RateBudget};

use crate::duration::{format_duration, parse_duration};

/// The variable `wks-wait simulate --print-env` sets and a wait reads when neither
/// `--endpoint` nor `--region` is given (before `HUAWEICLOUD_SDK_REGION`).
pub const ENV_ENDPOINT: &str = "WKS_WAIT_ENDPOINT";
/// The directory of the state file through which processes share a request budget.
pub const ENV_STATE_DIR: &str = "WKS_WAIT_STATE_DIR";

const AFTER_HELP: &str = "\
Environment:
  HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK   access key pair (required; never taken as flags)
  HUAWEICLOUD_SDK_SECURITY_TOKEN           security token of temporary credentials
  HUAWEICLOUD_SDK_PROJECT_ID               project ID (--project-id overrides)
  WKS_WAIT_ENDPOINT                        endpoint URL (--endpoint or --region override;
                                           set by `wks-wait simulate --print-env`)
  HUAWEICLOUD_SDK_REGION                   region, when no endpoint is given
  WKS_WAIT_STATE_DIR                       directory of the request budget shared by processes
                                           (default $XDG_RUNTIME_DIR/wks-waiter)
  HTTPS_PROXY, NO_PROXY                    proxy
  RUST_LOG                                 log level on stderr (default: warn)

Durations: whole numbers each with a unit: 500ms, 90s, 20m, 1h, 1h30m.

Outcome rules: --max-failures and --min-succeeded decide each job on its own subtasks;
--max-failures-total and --min-succeeded-total decide the run on the totals over every
job (replacing \"every job succeeded\") and may end the wait while jobs still run.

Exit codes (with several jobs, the worst: interrupted, then 4, 3, 1, 0; with a --*-total
rule that decided, its result):
  0    every subtask of every job succeeded (or the outcome rules said success)
  1    a subtask failed or vanished, a job failed as a whole, a desktop failed at
       submission (--jobs-from), or the outcome rules said failure
  2    bad usage or configuration; nothing was waited on
  3    timed out with subtasks still pending (`check`: still pending)
  4    an API or transport error ended the wait (auth, permission, job not found, no subtask
       within --appear-within, listings that never became consistent, retries exhausted)
  130  interrupted by SIGINT (Ctrl-C)
  143  interrupted by SIGTERM (kill, timeout, CI cancellation, service stop)
  129  interrupted by SIGHUP (terminal closed)
  A signal ends the wait with the partial report (result \"interrupted\" in JSON); a second
  signal exits at once, without a report, with the code of that signal.";

/// `wks-wait`: wait for Huawei Cloud Workspace jobs' subtasks to finish.
#[derive(Debug, Parser)]
#[command(
    name = "wks-wait",
    version,
    about = "Wait until every subtask (desktop) of Huawei Cloud Workspace jobs has finished",
    long_about = "Wait until every subtask (desktop) of one or more Huawei Cloud Workspace jobs \
                  is SUCCESS or FAILED, polling GET /v2/{project_id}/workspace-sub-jobs with \
                  backoff on a request budget shared by every wks-wait of the machine, then \
                  report which desktops failed and why.\n\n\
                  Progress goes to stderr (a live bar on a terminal, one line per poll \
                  otherwise); the result goes to stdout.",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// Check once, run against the built-in simulator, or serve it.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of waiting on real jobs.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll once, without waiting: exit 0 or 1 when the jobs are finished (as a wait
    /// would), 3 when some are still pending.
    ///
    /// Takes the flags of a wait and prints the same text or JSON; for scripts that poll
    /// on their own schedule (cron, CI stages). A failing request is still retried, within
    /// --timeout.
    Check(Box<WaitArgs>),
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
    /// after it, so one sleep can take much of --duration (about 15 s of the default 20 s).
    /// With --output ndjson it streams every event (with a poll at least every 3 s).
    Demo(DemoArgs),
    /// Serve the simulator as a fake Workspace endpoint on 127.0.0.1 until interrupted.
    ///
    /// Prints the endpoint, the project ID, a generated AK/SK pair (and IAM token) and the
    /// jobs it serves, then answers the sub-jobs listing (per job and project-wide) and job
    /// details, as the real API does, to any client: the official SDKs, Terraform, scripts,
    /// wks-wait itself. Without --scenario it serves the demo's job (50 desktops, 3
    /// failing, about 20 s from start). SIGINT, SIGTERM and SIGHUP end it cleanly (exit 0).
    ///
    /// With --print-env it prints shell `export` lines instead, as soon as it listens, and
    /// then releases stdout, so `eval "$(wks-wait simulate --print-env &)"` returns at once
    /// and leaves it serving in the background; stop it with `kill "$WKS_WAIT_SIMULATOR_PID"`.
    Simulate(SimulateArgs),
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

/// Options of waiting on (or checking) real jobs.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// A job whose subtasks to wait for (returned by e.g. a create-desktops call); repeat
    /// it to wait on several jobs at once.
    #[arg(
        long = "job-id",
        value_name = "ID",
        required_unless_present = "jobs_from"
    )]
    pub job_ids: Vec<String>,

    /// Read more jobs from FILE (`-`: standard input): one job ID per line, or the JSON
    /// responses of the calls that created them, one after another. Their `job_id`,
    /// `jobs[].job_id` and `success_job_ids[]` are waited on; desktops in
    /// `failed_operation_list[]` are reported as failed at submission.
    #[arg(long, value_name = "FILE")]
    pub jobs_from: Option<String>,

    /// Project ID. Defaults to $HUAWEICLOUD_SDK_PROJECT_ID.
    #[arg(long, value_name = "ID")]
    pub project_id: Option<String>,

    /// Region, e.g. cn-north-4. Defaults to $HUAWEICLOUD_SDK_REGION.
    #[arg(long, value_name = "REGION", conflicts_with = "endpoint")]
    pub region: Option<String>,

    /// Endpoint URL instead of the region's: https://…, or http://… for a loopback host only.
    /// Defaults to $WKS_WAIT_ENDPOINT.
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

    /// Keep waiting until at least N subtasks of each job are listed [default: the job's
    /// own count, from its details].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub expect: Option<u32>,

    /// End a job's wait with exit code 4 if it shows no subtask within this long (a
    /// mistyped ID, or a job that failed before creating any) [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub appear_within: Option<Duration>,

    /// Stop at the first failed subtask instead of waiting for the others (exit code 1):
    /// the same as --max-failures 0.
    #[arg(long, conflicts_with = "max_failures")]
    pub fail_fast: bool,

    /// Per job: succeed with at most this many failed (or vanished) subtasks, a count or a
    /// percentage of the job's subtasks (3, 5%); decide failure as soon as more failed.
    #[arg(long, value_name = "N|P%")]
    pub max_failures: Option<Limit>,

    /// Per job: succeed as soon as at least this many subtasks succeeded, a count or a
    /// percentage (190, 95%), even with others pending; decide failure as soon as that can
    /// no longer happen.
    #[arg(long, value_name = "N|P%")]
    pub min_succeeded: Option<Limit>,

    /// Over every job together: the run fails as soon as more than this many subtasks
    /// failed (or vanished) in total, a count or a percentage of the jobs' subtasks summed
    /// (5, 2%), ending the wait there; it succeeds with at most that many once every job
    /// ended, whatever each job's own result. Jobs still running when it decides are
    /// reported `pending`.
    #[arg(long, value_name = "N|P%")]
    pub max_failures_total: Option<Limit>,

    /// Over every job together: the run succeeds as soon as at least this many subtasks
    /// succeeded in total (190, 95%), ending the wait there, and fails as soon as that can
    /// no longer happen. Jobs still running when it decides are reported `pending`.
    #[arg(long, value_name = "N|P%")]
    pub min_succeeded_total: Option<Limit>,

    /// Requests per minute (N/min; also N/s, N/h) that every wks-wait of this machine
    /// signing with the same access key shares, or `off`. The API allows 200/min per user.
    #[arg(long, value_name = "N/min|off", default_value = "100/min", value_parser = parse_max_rate)]
    pub max_rate: MaxRate,

    /// Result format on stdout: a summary and a table of failures; one JSON object; or one
    /// JSON event per line as the wait goes, ending with that JSON object.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Print only the summary lines: no progress, no tables.
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

/// Options of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A scenario file (JSON: jobs, timelines, failures, faults, rate limit; see README,
    /// "Scenario files") [default: the demo's job].
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<String>,

    /// The port to listen on, on 127.0.0.1 (0: any free port).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port: u16,

    /// Print `export NAME='value'` lines for a shell (credentials, project, endpoint, jobs,
    /// PID) instead of the description, then release stdout.
    #[arg(long)]
    pub print_env: bool,

    /// Append one JSON line per request to FILE (method, path, query, status, fault,
    /// access key, request id…), flushed as written.
    #[arg(long, value_name = "FILE")]
    pub log: Option<String>,
}

/// The format of the result on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A summary line and a table of failed desktops.
    Text,
    /// Exactly one JSON object.
    Json,
    /// One JSON object per event, one per line, then the `json` object as the last line.
    Ndjson,
}

impl OutputFormat {
    /// Whether a script reads stdout (JSON or NDJSON).
    pub fn is_machine(self) -> bool {
        self != Self::Text
    }
}

/// `--max-rate`: a request budget, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxRate {
    /// No budget: requests go out as the schedule says.
    Off,
    /// At most `requests` in any `window`.
    Limit {
        /// Requests allowed in a window.
        requests: u32,
        /// The window.
        window: Duration,
    },
}

/// Parses `100/min`, `5/s`, `1000/h` or `off`.
///
/// # Errors
///
/// A one-line reason naming the value.
pub fn parse_max_rate(text: &str) -> Result<MaxRate, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(MaxRate::Off);
    }
    let hint = "expected requests per minute as N/min (e.g. 100/min; also N/s, N/h) or `off`";
    let (count, unit) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` has no unit; {hint}"))?;
    let window = match unit.trim() {
        "s" | "sec" => Duration::from_secs(1),
        "min" | "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        other => return Err(format!("`{text}` has an unknown unit `{other}`; {hint}")),
    };
    let requests: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number; {hint}"))?;
    if !(1..=RateBudget::MAX_LIMIT).contains(&requests) {
        return Err(format!(
            "`{text}`: the number of requests must be between 1 and {}, or say `off`",
            RateBudget::MAX_LIMIT
        ));
    }
    Ok(MaxRate::Limit { requests, window })
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
    fn a_job_is_required_except_for_subcommands_that_need_none() {
        let err = Cli::try_parse_from(["wks-wait"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = Cli::try_parse_from(["wks-wait", "check"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let demo = Cli::try_parse_from(["wks-wait", "demo", "--fail", "0"]).unwrap();
        assert!(matches!(
            demo.command,
            Some(Command::Demo(DemoArgs { fail: 0, .. }))
        ));
        let simulate = Cli::try_parse_from(["wks-wait", "simulate", "--print-env"]).unwrap();
        assert!(matches!(
            simulate.command,
            Some(Command::Simulate(SimulateArgs {
                print_env: true,
                port: 0,
                ..
            }))
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
    fn jobs_repeat_and_may_come_from_a_file_alone() {
        let cli = Cli::try_parse_from([
            "wks-wait",
            "--job-id",
            "a",
            "--job-id",
            "b",
            "--jobs-from",
            "-",
        ])
        .unwrap();
        assert_eq!(cli.wait.job_ids, ["a", "b"]);
        assert_eq!(cli.wait.jobs_from.as_deref(), Some("-"));
        let cli = Cli::try_parse_from(["wks-wait", "check", "--jobs-from", "f"]).unwrap();
        let Some(Command::Check(check)) = cli.command else {
            panic!("check")
        };
        assert!(check.job_ids.is_empty());
    }

    #[test]
    fn outcome_rules_parse_counts_and_percentages() {
        let cli = Cli::try_parse_from([
            "wks-wait",
            "--job-id",
            "j",
            "--max-failures",
            "5%",
            "--min-succeeded",
            "190",
        ])
        .unwrap();
        assert_eq!(cli.wait.max_failures, Some(Limit::Percent(5.0)));
        assert_eq!(cli.wait.min_succeeded, Some(Limit::Count(190)));
        let err = Cli::try_parse_from(["wks-wait", "--job-id", "j", "--max-failures", "101%"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("101%"), "{err}");
        let err = Cli::try_parse_from([
            "wks-wait",
            "--job-id",
            "j",
            "--fail-fast",
            "--max-failures",
            "2",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn max_rate_parses_per_window_or_off() {
        let minute = |n| MaxRate::Limit {
            requests: n,
            window: secs(60),
        };
        assert_eq!(parse_max_rate("100/min"), Ok(minute(100)));
        assert_eq!(parse_max_rate(" 20 / min "), Ok(minute(20)));
        assert_eq!(
            parse_max_rate("5/s"),
            Ok(MaxRate::Limit {
                requests: 5,
                window: secs(1)
            })
        );
        assert_eq!(
            parse_max_rate("1/h"),
            Ok(MaxRate::Limit {
                requests: 1,
                window: secs(3600)
            })
        );
        assert_eq!(parse_max_rate("off"), Ok(MaxRate::Off));
        for (bad, reason) in [
            ("100", "no unit"),
            ("100/day", "unknown unit `day`"),
            ("x/min", "whole number"),
            ("0/min", "between 1 and 10000"),
            ("20000/min", "between 1 and 10000"),
        ] {
            let err = parse_max_rate(bad).unwrap_err();
            assert!(err.contains(reason) && err.contains(bad), "{bad}: {err}");
        }
        let default = Cli::try_parse_from(["wks-wait", "--job-id", "j"]).unwrap();
        assert_eq!(default.wait.max_rate, minute(100));
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
