//! `wks-wait`: block until every subtask of a Huawei Cloud Workspace job has finished.
//!
//! ```text
//! wks-wait --job-id <ID> [--project-id <ID>] [--region <REGION> | --endpoint <URL>]
//!          [--timeout <DURATION>] [--initial-interval <DURATION>] [--max-interval <DURATION>]
//!          [--expect <N>] [--fail-fast] [--output text|json] [--quiet]
//! wks-wait demo [--desktops <N>] [--fail <N>] [--duration <DURATION>] [--timeout <DURATION>]
//!               [--output text|json] [--quiet]
//! wks-wait completions <SHELL>
//! ```
//!
//! Credentials come from the environment only (`HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK`,
//! `HUAWEICLOUD_SDK_SECURITY_TOKEN`), as the official SDKs read them. Exit codes: 0 all
//! succeeded, 1 some failed, 2 bad usage or configuration, 3 timed out, 4 API or transport
//! error, 128 + the signal when SIGINT (130), SIGTERM (143) or SIGHUP (129) ended the wait.
//! See `wks-wait --help`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod demo;
mod duration;
mod progress;
mod report;
mod run;
mod signals;
mod text;

use std::ffi::{OsStr, OsString};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use wks_waiter::defaults::{ENV_AK, ENV_PROJECT_ID, ENV_REGION, ENV_SECURITY_TOKEN, ENV_SK};
use wks_waiter::{Client, Credentials};

use crate::args::{Cli, Command, DemoArgs, OutputFormat, WaitArgs};
use crate::progress::{BarSlot, LogSink, Mode};
use crate::run::{wait_and_report, Job, Output, SetupError};
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
        None => Task::Wait(cli.wait),
    };
    let (format, quiet) = match &task {
        Task::Demo(demo) => (demo.output, demo.quiet),
        Task::Wait(wait) => (wait.output, wait.quiet),
    };
    let json = format == OutputFormat::Json;
    let progress = Mode::choose(json, quiet, std::io::stderr().is_terminal());
    let output = Output {
        json,
        quiet,
        progress,
        bar_slot: BarSlot::default(),
    };
    init_logging(&output);
    let slot = output.bar_slot.clone();
    let interrupts = Interrupts::install(move |signal| {
        if !quiet {
            slot.print_line(&format!(
                "wks-wait: {}: stopping the wait to report; a second signal exits at once",
                signal.name()
            ));
        }
    });
    let code = match task {
        Task::Demo(args) => {
            // The simulator serves until dropped, at the end of this arm.
            let (job, _simulator) = match demo::prepare(&args) {
                Ok((job, simulator)) => {
                    if !quiet {
                        output.bar_slot.print_line(&demo::banner(&args, &simulator));
                    }
                    (Ok(job), Some(simulator))
                }
                Err(error) => (Err(error), None),
            };
            wait_and_report(demo::DEMO_JOB_ID, job, &output, &interrupts)
        }
        Task::Wait(args) => {
            let job_id = args.job_id.clone().unwrap_or_default();
            wait_and_report(&job_id, real_job(args), &output, &interrupts)
        }
    };
    ExitCode::from(code)
}

/// What a run waits on.
enum Task {
    /// The simulated job of `wks-wait demo`.
    Demo(DemoArgs),
    /// A real job.
    Wait(WaitArgs),
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
    if value_of("--output").as_deref() == Some("json") {
        let message = error.kind().as_str().unwrap_or("invalid usage").to_owned();
        let detail = error.to_string();
        let first_line = detail.lines().next().unwrap_or(&message);
        let cause: Box<dyn std::error::Error> =
            first_line.trim_start_matches("error: ").to_owned().into();
        let job_id = value_of("--job-id").unwrap_or_default();
        // Prints the JSON, and the message as one line on stderr.
        report::Report::misconfigured(&job_id, cause.as_ref()).print(true, true);
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

/// Configures the wait on a real job from the flags and the environment.
fn real_job(args: WaitArgs) -> Result<Job, SetupError> {
    let poll = args.poll_policy()?;
    check_environment(&args, |name| std::env::var_os(name))?;
    let credentials = Credentials::from_env()?;
    let mut builder = Client::builder().credentials(credentials);
    builder = match (&args.endpoint, &args.region) {
        (Some(endpoint), _) => builder.endpoint(endpoint),
        (None, Some(region)) => builder.region(region),
        (None, None) => builder.region(std::env::var(ENV_REGION)?.trim()),
    };
    builder = match &args.project_id {
        Some(project_id) => builder.project_id(project_id),
        None => builder.project_id_from_env()?,
    };
    Ok(Job {
        client: builder.build()?,
        max_wait: args.timeout,
        poll,
        expect: args.expect.map(|n| n as usize),
        fail_fast: args.fail_fast,
    })
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
    check(
        ENV_REGION,
        args.region.is_none() && args.endpoint.is_none(),
        " (or pass --region or --endpoint)",
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
                 (or pass --region or --endpoint) are not set"
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
