//! `wks-wait`: block until every subtask of Huawei Cloud Workspace jobs has finished.
//!
//! ```text
//! wks-wait [--job-id <ID>]... [--jobs-from <FILE|->] [--project-id <ID>]
//!          [--region <REGION> | --endpoint <URL>] [--timeout <DURATION>]
//!          [--initial-interval <DURATION>] [--max-interval <DURATION>] [--expect <N>]
//!          [--appear-within <DURATION>] [--fail-fast | --max-failures <N|P%>]
//!          [--min-succeeded <N|P%>] [--max-failures-total <N|P%>]
//!          [--min-succeeded-total <N|P%>] [--max-rate <N/min|off>]
//!          [--output text|json|ndjson] [--quiet]
//! wks-wait check <the same flags>
//! wks-wait demo [--desktops <N>] [--fail <N>] [--duration <DURATION>] [--timeout <DURATION>]
//!               [--output text|json|ndjson] [--quiet]
//! wks-wait simulate [--scenario <FILE>] [--port <N>] [--print-env] [--log <FILE>]
//! wks-wait completions <SHELL>
//! ```
//!
//! Credentials come from the environment only (`HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK`,
//! `HUAWEICLOUD_SDK_SECURITY_TOKEN`), as the official SDKs read them. Exit codes: 0 all
//! succeeded, 1 some failed, 2 bad usage or configuration, 3 timed out (or still pending
//! for `check`), 4 API or transport error, 128 + the signal when SIGINT (130), SIGTERM
//! (143) or SIGHUP (129) ended the wait; with several jobs the worst. See `wks-wait --help`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod demo;
mod duration;
mod jobs_from;
mod progress;
mod report;
mod run;
mod signals;
mod simulate;
mod text;

use std::ffi::{OsStr, OsString};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use wks_waiter::defaults::{ENV_AK, ENV_PROJECT_ID, ENV_REGION, ENV_SECURITY_TOKEN, ENV_SK};
use wks_waiter::{Client, Credentials, RateBudget};

use crate::args::{
    Cli, Command, DemoArgs, MaxRate, OutputFormat, SimulateArgs, WaitArgs, ENV_ENDPOINT,
    ENV_STATE_DIR,
};
use crate::progress::{BarSlot, LogSink, Mode};
use crate::run::{wait_and_report, Output, Plan, Settings, SetupError};
use crate::signals::Interrupts;
use crate::text::escape_controls;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match parse(&args) {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() => return usage_error(&error, &args),
        Err(help_or_version) => {
            let _ = help_or_version.print();
            return ExitCode::SUCCESS;
        }
    };
    let task = match cli.command {
        Some(Command::Completions(completions)) => return print_completions(completions.shell),
        Some(Command::Demo(demo)) => Task::Demo(demo),
        Some(Command::Simulate(simulate)) => Task::Simulate(simulate),
        Some(Command::Check(check)) => Task::Wait {
            args: check,
            check: true,
        },
        None => Task::Wait {
            args: Box::new(cli.wait),
            check: false,
        },
    };
    let (format, quiet) = match &task {
        Task::Demo(demo) => (demo.output, demo.quiet),
        Task::Wait { args, .. } => (args.output, args.quiet),
        Task::Simulate(_) => (OutputFormat::Text, false),
    };
    let progress = Mode::choose(format.is_machine(), quiet, std::io::stderr().is_terminal());
    let output = Output {
        format,
        quiet,
        progress,
        bar_slot: BarSlot::default(),
    };
    init_logging(&output);
    let slot = output.bar_slot.clone();
    let what = match task {
        Task::Simulate(_) => "wks-wait simulate: {}: stopping",
        _ => "wks-wait: {}: stopping the wait to report; a second signal exits at once",
    };
    let interrupts = Interrupts::install(move |signal| {
        if !quiet {
            slot.print_line(&what.replace("{}", signal.name()));
        }
    });
    let code = match task {
        Task::Demo(args) => {
            // The simulator serves until dropped, at the end of this arm.
            let (plan, _simulator) = match demo::prepare(&args) {
                Ok((plan, simulator)) => {
                    if !quiet {
                        output.bar_slot.print_line(&demo::banner(&args, &simulator));
                    }
                    (Ok(plan), Some(simulator))
                }
                Err(error) => (Err(error), None),
            };
            wait_and_report(&[demo::DEMO_JOB_ID], plan, &output, &interrupts)
        }
        Task::Wait { args, check } => {
            let job_ids = args.job_ids.clone();
            let job_ids: Vec<&str> = job_ids.iter().map(String::as_str).collect();
            wait_and_report(&job_ids, real_plan(*args, check), &output, &interrupts)
        }
        Task::Simulate(args) => simulate::run(&args, &interrupts),
    };
    ExitCode::from(code)
}

/// What a run does.
enum Task {
    /// The simulated job of `wks-wait demo`.
    Demo(DemoArgs),
    /// Real jobs: a wait, or one `check`.
    Wait {
        /// The flags.
        args: Box<WaitArgs>,
        /// `wks-wait check`.
        check: bool,
    },
    /// `wks-wait simulate`.
    Simulate(SimulateArgs),
}

/// Parses the command line; an argument that is not UTF-8 is a usage error naming it,
/// as clap's own message would not.
fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    if let Some((index, bad)) = args
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, arg)| arg.to_str().is_none())
    {
        let message = format!("argument {index} is not valid UTF-8: {bad:?}");
        return Err(Cli::command().error(clap::error::ErrorKind::InvalidUtf8, message));
    }
    Cli::try_parse_from(args)
}

/// Bad flags: clap's message on stderr and exit 2 — and, when `--output json` was asked
/// for, the one JSON object on stdout that every run promises.
fn usage_error(error: &clap::Error, args: &[OsString]) -> ExitCode {
    // Lossy: an argument that is not UTF-8 may be the very error being reported.
    let args: Vec<String> = args
        .iter()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let value_of = |flag: &str| {
        let inline = format!("{flag}=");
        args.iter()
            .enumerate()
            .find_map(|(i, arg)| match arg.strip_prefix(&inline) {
                Some(value) => Some(value.to_owned()),
                None => (arg == flag).then(|| args.get(i + 1).cloned()).flatten(),
            })
    };
    if matches!(value_of("--output").as_deref(), Some("json" | "ndjson")) {
        let message = error.kind().as_str().unwrap_or("invalid usage").to_owned();
        let detail = error.to_string();
        let first_line = detail.lines().next().unwrap_or(&message);
        let cause: Box<dyn std::error::Error> =
            first_line.trim_start_matches("error: ").to_owned().into();
        let job_id = value_of("--job-id").unwrap_or_default();
        // Prints the JSON, and the message as one line on stderr.
        report::Report::misconfigured(&[&job_id], cause.as_ref()).print(OutputFormat::Json, true);
    } else {
        let _ = error.print();
    }
    ExitCode::from(2)
}

/// `wks-wait completions <SHELL>`: the completion script on stdout.
fn print_completions(shell: clap_complete::Shell) -> ExitCode {
    // Generated into memory first: clap_complete panics on a failed write, and stdout
    // may be a closed pipe.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wks-wait", &mut script);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&script).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            text::eprint_line(&format!("wks-wait: cannot write the completions: {error}"));
            ExitCode::FAILURE
        }
    }
}

/// `RUST_LOG` sets the level; warnings only by default. Lines go to stderr, around the
/// progress bar when one is drawn, with the server's text escaped.
fn init_logging(output: &Output) {
    // The waiter logs each retry as a warning; a progress display reports retries itself,
    // with a human duration.
    let default = if output.quiet {
        // --quiet promises the summary line only.
        "error"
    } else if output.progress.reports_retries() {
        "warn,wks_waiter::waiter=error"
    } else {
        "warn"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        // ureq-proto's trace records hex-dump raw requests, credentials included; nothing
        // the user asks for in RUST_LOG may turn them on. (ureq's own records redact.)
        .filter_module("ureq_proto", log::LevelFilter::Off)
        // Records carry desktop names, statuses and error messages from the server.
        .format(|buf, record| {
            let level = record.level();
            let style = buf.default_level_style(level);
            writeln!(
                buf,
                "[{} {style}{level:<5}{style:#} {}] {}",
                buf.timestamp(),
                record.target(),
                escape_controls(&record.args().to_string())
            )
        })
        .target(env_logger::Target::Pipe(Box::new(LogSink(
            output.bar_slot.clone(),
        ))))
        .init();
}

/// Configures the wait on real jobs from the flags and the environment.
fn real_plan(args: WaitArgs, check: bool) -> Result<Plan, SetupError> {
    let poll = args.poll_policy()?;
    let mut job_ids = Vec::new();
    for id in &args.job_ids {
        if !job_ids.contains(id) {
            job_ids.push(id.clone());
        }
    }
    let (mut submissions, mut notes) = (Vec::new(), Vec::new());
    if let Some(path) = &args.jobs_from {
        let read = jobs_from::read(path)?;
        for id in read.job_ids {
            if !job_ids.contains(&id) {
                job_ids.push(id);
            }
        }
        submissions = read.failures;
        notes = read.without_jobs;
        if job_ids.is_empty() && submissions.is_empty() {
            let mut message = format!("--jobs-from {path} holds no job ID to wait on");
            if !notes.is_empty() {
                message.push_str(&format!(" ({})", notes.join("; ")));
            }
            return Err(message.into());
        }
    }
    check_environment(&args, |name| std::env::var_os(name))?;
    let credentials = Credentials::from_env()?;
    let budget = rate_budget(args.max_rate, &credentials)?;
    let mut builder = Client::builder().credentials(credentials);
    let endpoint_env = std::env::var(ENV_ENDPOINT)
        .ok()
        .filter(|v| !v.trim().is_empty());
    builder = match (&args.endpoint, &args.region, endpoint_env) {
        (Some(endpoint), _, _) => builder.endpoint(endpoint),
        (None, Some(region), _) => builder.region(region),
        (None, None, Some(endpoint)) => builder.endpoint(endpoint.trim()),
        (None, None, None) => builder.region(std::env::var(ENV_REGION)?.trim()),
    };
    builder = match &args.project_id {
        Some(project_id) => builder.project_id(project_id),
        None => builder.project_id_from_env()?,
    };
    let settings = Settings {
        check,
        expect: args.expect.map(|n| n as usize),
        fail_fast: args.fail_fast,
        max_failures: args.max_failures,
        min_succeeded: args.min_succeeded,
        max_failures_total: args.max_failures_total,
        min_succeeded_total: args.min_succeeded_total,
        appear_within: args.appear_within,
        budget,
        ..Settings::new(args.timeout, poll)
    };
    Ok(Plan {
        client: builder.build()?,
        job_ids,
        submissions,
        notes,
        settings,
    })
}

/// `--max-rate`: a budget shared with every process of this user on this machine that
/// signs with the same access key, through a state file under `$WKS_WAIT_STATE_DIR` (or the
/// library's default directory).
fn rate_budget(rate: MaxRate, credentials: &Credentials) -> Result<Option<RateBudget>, SetupError> {
    let MaxRate::Limit { requests, window } = rate else {
        return Ok(None);
    };
    let mut builder = RateBudget::builder().limit(requests).window(window);
    if let Credentials::AccessKey(key) = credentials {
        builder = builder.share_across_processes(key.access_key.clone());
        if let Some(dir) = std::env::var_os(ENV_STATE_DIR).filter(|d| !d.is_empty()) {
            builder = builder.state_dir(dir);
        }
    }
    Ok(Some(builder.build()?))
}

/// Every environment variable the run needs and lacks, in one message, so a first run
/// is not a round of fixing one variable at a time. Values are never repeated: some are
/// secrets.
///
/// # Errors
///
/// The variables that are unset or blank (with the flag that could replace each, if any),
/// and those that are not UTF-8.
fn check_environment(
    args: &WaitArgs,
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<(), String> {
    let mut unset = Vec::new();
    let mut not_utf8 = Vec::new();
    let mut check = |name: &'static str, required: bool, alternative: &str| match lookup(name)
        .as_deref()
        .map(OsStr::to_str)
    {
        Some(Some(value)) if !value.trim().is_empty() => {}
        Some(None) => not_utf8.push(name),
        _ if required => unset.push(format!("{name}{alternative}")),
        _ => {}
    };
    check(ENV_AK, true, "");
    check(ENV_SK, true, "");
    check(ENV_SECURITY_TOKEN, false, "");
    check(
        ENV_PROJECT_ID,
        args.project_id.is_none(),
        " (or pass --project-id)",
    );
    let endpoint_set = lookup(ENV_ENDPOINT).is_some_and(|v| !v.to_string_lossy().trim().is_empty());
    check(ENV_ENDPOINT, false, "");
    check(
        ENV_REGION,
        args.region.is_none() && args.endpoint.is_none() && !endpoint_set,
        " (or pass --region or --endpoint, or set WKS_WAIT_ENDPOINT)",
    );
    let mut problems = Vec::new();
    match unset.as_slice() {
        [] => {}
        [one] => problems.push(format!("environment variable {one} is not set")),
        many => problems.push(format!(
            "environment variables {} are not set",
            text::and_list(many)
        )),
    }
    match not_utf8.as_slice() {
        [] => {}
        [one] => problems.push(format!("environment variable {one} is not valid UTF-8")),
        many => problems.push(format!(
            "environment variables {} are not valid UTF-8",
            text::and_list(many)
        )),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_args(flags: &[&str]) -> WaitArgs {
        let cli = Cli::try_parse_from([&["wks-wait", "--job-id", "j"], flags].concat()).unwrap();
        cli.wait
    }

    fn lookup(vars: &[(&str, &[u8])]) -> impl Fn(&str) -> Option<OsString> {
        use std::os::unix::ffi::OsStringExt;
        let vars: Vec<(String, Vec<u8>)> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.to_vec()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| OsString::from_vec(v.clone()))
        }
    }

    #[test]
    fn every_missing_variable_is_named_once() {
        assert_eq!(
            check_environment(&wait_args(&[]), lookup(&[])),
            Err(
                "environment variables HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, \
                 HUAWEICLOUD_SDK_PROJECT_ID (or pass --project-id) and HUAWEICLOUD_SDK_REGION \
                 (or pass --region or --endpoint, or set WKS_WAIT_ENDPOINT) are not set"
                    .to_owned()
            )
        );
        let flags = wait_args(&["--project-id", "p", "--endpoint", "https://x"]);
        assert_eq!(
            check_environment(&flags, lookup(&[(ENV_AK, b"AK"), (ENV_SK, b"  ")])),
            Err("environment variable HUAWEICLOUD_SDK_SK is not set".to_owned())
        );
        let complete = lookup(&[
            (ENV_AK, b"AK"),
            (ENV_SK, b"SK"),
            (ENV_PROJECT_ID, b"p"),
            (ENV_REGION, b"cn-north-4"),
        ]);
        assert_eq!(check_environment(&wait_args(&[]), complete), Ok(()));
    }

    #[test]
    fn variables_that_are_not_utf8_are_named_not_shown() {
        let flags = wait_args(&["--project-id", "p", "--region", "cn-north-4"]);
        let vars = lookup(&[
            (ENV_AK, b"AK"),
            (ENV_SK, b"secret-\xff"),
            (ENV_SECURITY_TOKEN, b"token-\xfe"),
        ]);
        assert_eq!(
            check_environment(&flags, vars),
            Err("environment variables HUAWEICLOUD_SDK_SK and \
                 HUAWEICLOUD_SDK_SECURITY_TOKEN are not valid UTF-8"
                .to_owned())
        );
    }
}
