//! `wks-wait simulate`: the simulator served on 127.0.0.1 as a fake Workspace endpoint, for
//! rehearsing tools in any language offline, until a signal ends it.
//!
//! It prints how to reach it, for people, or with `--print-env` as shell `export` lines
//! written and flushed as soon as it listens. Then, with `--print-env`, it points its
//! stdout at `/dev/null`: a reader waiting for end-of-file (`eval "$(… &)"`, a FIFO) gets
//! it at once, while the server keeps serving in the background.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};

use wks_waiter::defaults::{ENV_AK, ENV_PROJECT_ID, ENV_SECURITY_TOKEN, ENV_SK};
use wks_waiter::simulator::{Scenario, ScenarioFile, Simulator, SimulatorBuilder};

use crate::args::{SimulateArgs, ENV_ENDPOINT};
use crate::demo;
use crate::signals::Interrupts;
use crate::text::{eprint_line, escape_controls, plural};

/// The IAM token (`X-Auth-Token`) the simulator accepts, for tools that use one.
pub const ENV_TOKEN: &str = "WKS_WAIT_SIMULATOR_TOKEN";
/// The jobs the simulator serves, separated by spaces.
pub const ENV_JOB_IDS: &str = "WKS_WAIT_SIMULATOR_JOB_IDS";
/// The simulator's process ID, to stop it with `kill`.
pub const ENV_PID: &str = "WKS_WAIT_SIMULATOR_PID";
/// The last line of `--print-env`: a script reading a file can wait for it.
pub const READY_LINE: &str = "# wks-wait simulate: ready";

/// A job served, for the description.
struct Served {
    job_id: String,
    desktops: usize,
}

/// Serves until SIGINT, SIGTERM or SIGHUP; returns the exit code: 0 after a signal, 2 when
/// the scenario file, the port or the log file cannot be used.
pub fn run(args: &SimulateArgs, interrupts: &Interrupts) -> u8 {
    let (builder, jobs) = match configure(args) {
        Ok(configured) => configured,
        Err(message) => {
            eprint_line(&format!("wks-wait simulate: {}", escape_controls(&message)));
            return 2;
        }
    };
    let simulator = match builder.start() {
        Ok(simulator) => simulator,
        Err(error) => {
            eprint_line(&format!(
                "wks-wait simulate: cannot serve on 127.0.0.1:{}: {}",
                args.port,
                escape_controls(&error.to_string())
            ));
            return 2;
        }
    };
    let text = if args.print_env {
        env_lines(&simulator, &jobs)
    } else {
        description(&simulator, &jobs, args.log.as_deref())
    };
    // Nobody may be reading (a closed pipe): the server is still worth serving.
    let mut stdout = io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);
    if args.print_env {
        release_stdout();
    }
    simulator.serve_until(&interrupts.cancellation());
    if let Some(signal) = interrupts.received() {
        eprint_line(&format!("wks-wait simulate: {}: stopped", signal.name()));
    }
    0
}

/// The simulator the flags describe, and the jobs it serves.
fn configure(args: &SimulateArgs) -> Result<(SimulatorBuilder, Vec<Served>), String> {
    let (builder, scenario_jobs) = match &args.scenario {
        Some(path) => {
            let file = ScenarioFile::load(path).map_err(|e| e.to_string())?;
            let jobs = served(&file.scenario);
            (file.simulator(), jobs)
        }
        None => {
            let spec = demo::timeline_of(
                demo::DEFAULT_DESKTOPS,
                demo::DEFAULT_FAILURES,
                demo::DEFAULT_DURATION,
            );
            let scenario = Scenario::generate(demo::DEMO_JOB_ID, &spec);
            let jobs = served(&scenario);
            (Simulator::builder(scenario), jobs)
        }
    };
    // Served to other processes: a well-known key would open it to anyone on the machine.
    let mut builder = builder.generated_credentials().port(args.port);
    if let Some(log) = &args.log {
        // Opened here rather than by the builder: its failure is the log's, not the port's.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|error| format!("cannot open the request log {log}: {error}"))?;
        builder = builder.log_to(file);
    }
    Ok((builder, scenario_jobs))
}

fn served(scenario: &Scenario) -> Vec<Served> {
    scenario
        .jobs
        .iter()
        .map(|job| Served {
            job_id: job.job_id.clone(),
            desktops: job.desktops.len(),
        })
        .collect()
}

/// `value` quoted for a POSIX shell: inside single quotes, each `'` written as `'\''`.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `export` lines for a shell: the credentials and project as the official SDKs read them,
/// the endpoint as `wks-wait` reads it, the IAM token, the jobs and the PID; a security
/// token of the user's own would make requests the simulator refuses, so it is unset.
fn env_lines(simulator: &Simulator, jobs: &[Served]) -> String {
    let ids: Vec<&str> = jobs.iter().map(|j| j.job_id.as_str()).collect();
    let pid = std::process::id();
    let mut out = String::new();
    for (name, value) in [
        (ENV_ENDPOINT, simulator.url()),
        (ENV_AK, simulator.access_key().to_owned()),
        (ENV_SK, simulator.secret_key().to_owned()),
        (ENV_PROJECT_ID, simulator.project_id().to_owned()),
        (ENV_TOKEN, simulator.token().to_owned()),
        (ENV_JOB_IDS, ids.join(" ")),
        (ENV_PID, pid.to_string()),
    ] {
        out.push_str(&format!("export {name}={}\n", shell_quote(&value)));
    }
    out.push_str(&format!("unset {ENV_SECURITY_TOKEN}\n"));
    out.push_str(&format!(
        "# listening on {}; stop it with: kill {pid}\n{READY_LINE}\n",
        simulator.url()
    ));
    out
}

/// What a person needs to point a tool at the simulator.
fn description(simulator: &Simulator, jobs: &[Served], log: Option<&str>) -> String {
    let url = simulator.url();
    let mut out = format!(
        "wks-wait simulate: a fake Workspace jobs API is listening on {url} (simulated; no cloud)\n\
         \x20 endpoint      {url}\n\
         \x20 project ID    {}\n\
         \x20 access key    {}   ({ENV_AK})\n\
         \x20 secret key    {}   ({ENV_SK})\n\
         \x20 IAM token     {}   (X-Auth-Token)\n",
        escape_controls(simulator.project_id()),
        simulator.access_key(),
        simulator.secret_key(),
        simulator.token(),
    );
    for (i, job) in jobs.iter().enumerate() {
        out.push_str(&format!(
            "  {}{} ({})\n",
            if i == 0 {
                "jobs          "
            } else {
                "              "
            },
            escape_controls(&job.job_id),
            plural(job.desktops as u64, "desktop")
        ));
    }
    if let Some(log) = log {
        out.push_str(&format!(
            "  request log   {} (one JSON line per request)\n",
            escape_controls(log)
        ));
    }
    let first = jobs
        .first()
        .map_or("JOB_ID".to_owned(), |j| shell_quote(&j.job_id));
    out.push_str(&format!(
        "Wait on a job with:\n  {ENV_ENDPOINT}={url} {ENV_AK}={} {ENV_SK}={} {ENV_PROJECT_ID}={} \\\n    \
         wks-wait --job-id {first}\n\
         Stop it with Ctrl-C (or SIGTERM, SIGHUP).\n",
        simulator.access_key(),
        simulator.secret_key(),
        shell_quote(simulator.project_id()),
    ));
    out
}

/// Points stdout at `/dev/null`, so that a reader waiting for its end (a command
/// substitution, a FIFO) gets it now rather than when the server stops.
fn release_stdout() {
    let released = File::open("/dev/null")
        .and_then(|null| rustix::stdio::dup2_stdout(&null).map_err(io::Error::from));
    if let Err(error) = released {
        eprint_line(&format!(
            "wks-wait simulate: cannot release stdout ({error}); a reader waiting for its end \
             will wait until the simulator stops"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_any_value() {
        assert_eq!(shell_quote("abc"), "'abc'");
        assert_eq!(shell_quote("it's $HOME `x`"), r"'it'\''s $HOME `x`'");
    }

    #[test]
    fn env_lines_export_everything_a_script_needs_and_end_with_the_ready_line() {
        let simulator = Simulator::builder(Scenario::desktops("job-'1'", 2))
            .generated_credentials()
            .start()
            .unwrap();
        let jobs = served(simulator.scenario());
        let text = env_lines(&simulator, &jobs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("export WKS_WAIT_ENDPOINT='{}'", simulator.url())
        );
        assert_eq!(
            lines[1],
            format!("export HUAWEICLOUD_SDK_AK='{}'", simulator.access_key())
        );
        assert!(text.contains(r"export WKS_WAIT_SIMULATOR_JOB_IDS='job-'\''1'\'''"));
        assert!(text.contains("unset HUAWEICLOUD_SDK_SECURITY_TOKEN\n"));
        assert_eq!(lines.last(), Some(&READY_LINE));
    }
}
