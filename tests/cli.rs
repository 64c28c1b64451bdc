//! The `wks-wait` binary, run as a child process against the simulator on loopback: every
//! exit code, the JSON schema of every result, text output, `--quiet` and the demo.
//!
//! The simulator runs in real time here, so its timelines last a second or two and the
//! binary polls every few hundred milliseconds.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value;
use wks_waiter::simulator::{Fault, FaultPlan, Scenario, Simulator, TimelineSpec};

/// Longest any child may run before the test gives up on it.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// Variables of the parent's environment that must not leak into a child.
const CLEARED: &[&str] = &[
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_REGION",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "RUST_LOG",
];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` desktops, `failures` of which fail, all finished within about a second.
fn quick(job_id: &str, n: usize, failures: usize) -> Simulator {
    let mut spec = TimelineSpec::new(n);
    spec.failures = failures;
    spec.visible_after = Duration::ZERO;
    spec.start_within = ms(200);
    spec.finish_between = (ms(300), ms(900));
    Simulator::start(Scenario::generate(job_id, &spec)).unwrap()
}

/// The binary with a clean environment and no arguments.
fn bare() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wks-wait"));
    for name in CLEARED {
        command.env_remove(name);
    }
    command
}

/// The binary pointed at `sim` for `job_id`, with the simulator's credentials in the
/// environment, then `args`; a poll schedule fit for a job of a second and a 20 s timeout
/// unless `args` set their own.
fn wks_wait(sim: &Simulator, job_id: &str, args: &[&str]) -> Command {
    let mut command = bare();
    command
        .env("HUAWEICLOUD_SDK_AK", sim.access_key())
        .env("HUAWEICLOUD_SDK_SK", sim.secret_key())
        .env("HUAWEICLOUD_SDK_PROJECT_ID", sim.project_id())
        .args(["--job-id", job_id]);
    let url = sim.url();
    for (flag, value) in [
        ("--endpoint", url.as_str()),
        ("--initial-interval", "200ms"),
        ("--max-interval", "400ms"),
        ("--timeout", "20s"),
    ] {
        if !args.contains(&flag) {
            command.args([flag, value]);
        }
    }
    command.args(args);
    command
}

#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// stdout parsed as exactly one JSON object (and nothing else).
    fn json(&self) -> Value {
        let value: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {self:?}"));
        assert!(value.is_object(), "{self:?}");
        assert_eq!(self.stdout.trim().lines().count(), 1, "{self:?}");
        value
    }
}

/// Runs `command` to completion, giving up after [`CHILD_LIMIT`].
fn run(command: &mut Command) -> Ran {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child)
}

fn finish(child: std::process::Child) -> Ran {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(child.wait_with_output()));
    let output = match rx.recv_timeout(CHILD_LIMIT) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("wks-wait ran longer than {CHILD_LIMIT:?}");
        }
    };
    Ran {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn assert_string_or_null(value: &Value, key: &str) {
    let field = value
        .get(key)
        .unwrap_or_else(|| panic!("missing {key}: {value}"));
    assert!(field.is_string() || field.is_null(), "{key}: {value}");
}

/// Every key of the documented schema is present with its type.
fn assert_schema(report: &Value) {
    let object = report.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "elapsed_ms",
            "error",
            "failed",
            "failures",
            "job_id",
            "pending",
            "polls",
            "requests",
            "result",
            "subtasks",
            "succeeded",
            "total"
        ],
        "{report}"
    );
    assert!(report["job_id"].is_string());
    let result = report["result"].as_str().unwrap();
    assert!(
        ["succeeded", "failed", "timed_out", "error", "interrupted"].contains(&result),
        "{result}"
    );
    for key in [
        "total",
        "succeeded",
        "failed",
        "pending",
        "elapsed_ms",
        "polls",
        "requests",
    ] {
        assert!(report[key].is_u64(), "{key}: {report}");
    }
    for failure in report["failures"].as_array().unwrap() {
        assert_eq!(failure.as_object().unwrap().len(), 6, "{failure}");
        for key in [
            "subtask_id",
            "desktop_id",
            "desktop_name",
            "user_name",
            "error_code",
            "fail_reason",
        ] {
            assert_string_or_null(failure, key);
        }
    }
    for subtask in report["subtasks"].as_array().unwrap() {
        assert_eq!(subtask.as_object().unwrap().len(), 8, "{subtask}");
        for key in [
            "subtask_id",
            "status",
            "desktop_id",
            "desktop_name",
            "user_name",
            "error_code",
            "fail_reason",
        ] {
            assert_string_or_null(subtask, key);
        }
        assert!(
            subtask["process"].is_u64() || subtask["process"].is_null(),
            "{subtask}"
        );
    }
    let error = &report["error"];
    if !error.is_null() {
        assert_eq!(error.as_object().unwrap().len(), 5, "{error}");
        assert!(
            error["status"].is_u64() || error["status"].is_null(),
            "{error}"
        );
        for key in ["error_code", "error_msg", "request_id"] {
            assert_string_or_null(error, key);
        }
        assert!(!error["message"].as_str().unwrap().is_empty(), "{error}");
    }
    let counts = ["succeeded", "failed", "pending"]
        .iter()
        .map(|k| report[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(counts, report["total"].as_u64().unwrap(), "{report}");
}

#[test]
fn all_succeeded_exits_0_with_progress_lines_and_a_summary() {
    let sim = quick("job-ok", 3, 0);
    let ran = run(&mut wks_wait(&sim, "job-ok", &[]));
    assert_eq!(ran.code, 0, "{ran:?}");
    let stdout: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(stdout.len(), 1, "no failure table: {ran:?}");
    assert!(
        stdout[0].starts_with("job job-ok: 3 succeeded, 0 failed, 0 pending of 3 in "),
        "{ran:?}"
    );
    assert!(stdout[0].contains(" polls, ") || stdout[0].contains("(1 poll, "));
    // Not a terminal: one plain line per poll on stderr.
    let polls: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains(" poll "))
        .collect();
    assert!(!polls.is_empty(), "{ran:?}");
    assert!(polls[0].contains("poll 1: "), "{ran:?}");
    assert!(
        polls.last().unwrap().contains("3 succeeded, 0 failed"),
        "{ran:?}"
    );
}

#[test]
fn all_succeeded_as_json() {
    let sim = quick("job-ok-json", 2, 0);
    let ran = run(&mut wks_wait(&sim, "job-ok-json", &["--output", "json"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    let report = ran.json();
    assert_schema(&report);
    assert_eq!(report["job_id"], "job-ok-json");
    assert_eq!(report["result"], "succeeded");
    assert_eq!(
        (report["total"].as_u64(), report["succeeded"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(report["failures"], Value::Array(vec![]));
    assert_eq!(report["error"], Value::Null);
    assert!(report["polls"].as_u64().unwrap() >= 1);
    assert!(report["requests"].as_u64().unwrap() >= report["polls"].as_u64().unwrap());
    let subtasks = report["subtasks"].as_array().unwrap();
    assert_eq!(subtasks.len(), 2);
    for subtask in subtasks {
        assert_eq!(subtask["status"], "SUCCESS");
        // The API gives no error for a success: null, not omitted.
        assert_eq!(subtask["error_code"], Value::Null);
        assert_eq!(subtask["fail_reason"], Value::Null);
        assert!(subtask["desktop_id"].is_string());
    }
    // JSON on stdout only; no progress lines for a script's stderr.
    assert!(!ran.stderr.contains(" poll "), "{ran:?}");
}

#[test]
fn failures_exit_1_with_a_table_and_json_details() {
    let sim = quick("job-fail", 4, 2);
    let ran = run(&mut wks_wait(&sim, "job-fail", &[]));
    assert_eq!(ran.code, 1, "{ran:?}");
    let stdout: Vec<&str> = ran.stdout.lines().collect();
    assert!(
        stdout[0].starts_with("job job-fail: 2 succeeded, 2 failed, 0 pending of 4 in "),
        "{ran:?}"
    );
    assert_eq!(stdout.len(), 4, "summary, header and 2 rows: {ran:?}");
    let header = stdout[1];
    assert!(header.starts_with("DESKTOP NAME"), "{ran:?}");
    for column in ["DESKTOP ID", "USER", "ERROR CODE", "REASON"] {
        // Aligned: every row has its cell where the header has the column.
        let at = header.find(column).unwrap();
        for row in &stdout[2..] {
            assert_ne!(row.as_bytes()[at], b' ', "{column} in {row:?}");
            assert_eq!(row.as_bytes()[at - 1], b' ', "{column} in {row:?}");
        }
    }

    let sim = quick("job-fail-json", 4, 2);
    let ran = run(&mut wks_wait(&sim, "job-fail-json", &["--output", "json"]));
    assert_eq!(ran.code, 1, "{ran:?}");
    let report = ran.json();
    assert_schema(&report);
    assert_eq!(report["result"], "failed");
    assert_eq!(report["failed"], 2);
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2);
    for failure in failures {
        assert!(failure["error_code"].is_string(), "{failure}");
        assert!(failure["fail_reason"].is_string(), "{failure}");
    }
    assert_eq!(report["error"], Value::Null);
}

#[test]
fn quiet_prints_only_the_summary() {
    let sim = quick("job-quiet", 3, 1);
    let ran = run(&mut wks_wait(&sim, "job-quiet", &["--quiet"]));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ran.stdout.lines().count(), 1, "{ran:?}");
    assert!(
        ran.stdout
            .starts_with("job job-quiet: 2 succeeded, 1 failed"),
        "{ran:?}"
    );
    assert!(!ran.stderr.contains(" poll "), "{ran:?}");
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    for args in [
        vec!["--bogus"],
        vec!["--job-id", "j", "--timeout", "0s"],
        vec!["--job-id", "j", "--timeout", "90"],
        vec!["--job-id", "j", "--timeout", "-1s"],
        vec!["--job-id", "j", "--output", "yaml"],
        vec!["--job-id", "j", "--expect", "0"],
        vec!["demo", "--desktops", "0"],
        vec![],
    ] {
        let ran = run(bare().args(&args));
        assert_eq!(ran.code, 2, "{args:?}: {ran:?}");
        assert!(ran.stdout.is_empty(), "{args:?}: {ran:?}");
        assert!(ran.stderr.starts_with("error: "), "{args:?}: {ran:?}");
    }
    let ran = run(bare().args(["--job-id", "j", "--timeout", "0s"]));
    assert!(ran.stderr.contains("`0s`"), "names the value: {ran:?}");
    for args in [["--help"], ["--version"]] {
        let ran = run(bare().args(args));
        assert_eq!(ran.code, 0, "{args:?}: {ran:?}");
        assert!(!ran.stdout.is_empty());
    }
}

#[test]
fn configuration_errors_exit_2_with_one_line_and_json() {
    let sim = quick("job-config", 1, 0);

    let ran = run(wks_wait(&sim, "job-config", &[]).env_remove("HUAWEICLOUD_SDK_AK"));
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stdout.is_empty(), "{ran:?}");
    assert_eq!(ran.stderr.lines().count(), 1, "{ran:?}");
    assert!(ran.stderr.contains("HUAWEICLOUD_SDK_AK"), "{ran:?}");

    let ran =
        run(wks_wait(&sim, "job-config", &["--output", "json"]).env_remove("HUAWEICLOUD_SDK_AK"));
    assert_eq!(ran.code, 2, "{ran:?}");
    let report = ran.json();
    assert_schema(&report);
    assert_eq!(report["result"], "error");
    assert_eq!(report["job_id"], "job-config");
    let error = &report["error"];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("HUAWEICLOUD_SDK_AK"),
        "{error}"
    );
    for key in ["status", "error_code", "error_msg", "request_id"] {
        assert_eq!(error[key], Value::Null, "{key}: {error}");
    }

    let ran = run(wks_wait(&sim, "job-config", &[]).env_remove("HUAWEICLOUD_SDK_PROJECT_ID"));
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("HUAWEICLOUD_SDK_PROJECT_ID"), "{ran:?}");

    // Plain http:// to a non-loopback host: refused before any request.
    let ran = run(&mut wks_wait(
        &sim,
        "job-config",
        &["--endpoint", "http://example.com", "--output", "json"],
    ));
    assert_eq!(ran.code, 2, "{ran:?}");
    let message = ran.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("http://example.com") && message.contains("loopback"),
        "{message}"
    );

    let ran = run(&mut wks_wait(
        &sim,
        "job-config",
        &["--initial-interval", "2s", "--max-interval", "400ms"],
    ));
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("--max-interval 400ms") && ran.stderr.contains("--initial-interval 2s"),
        "{ran:?}"
    );

    let ran = run(bare().args(["demo", "--desktops", "5", "--fail", "6", "--output", "json"]));
    assert_eq!(ran.code, 2, "{ran:?}");
    let report = ran.json();
    assert_schema(&report);
    assert!(report["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--fail 6"));
}

#[test]
fn timeout_with_pending_exits_3() {
    let sim = Simulator::start(Scenario::never_finishing("job-slow", 3)).unwrap();
    let ran = run(&mut wks_wait(
        &sim,
        "job-slow",
        &["--timeout", "2s", "--output", "json"],
    ));
    assert_eq!(ran.code, 3, "{ran:?}");
    let report = ran.json();
    assert_schema(&report);
    assert_eq!(report["result"], "timed_out");
    assert_eq!(report["pending"], 3);
    assert_eq!(report["error"], Value::Null);
    assert!(report["elapsed_ms"].as_u64().unwrap() >= 2000, "{report}");

    let ran = run(&mut wks_wait(
        &sim,
        "job-slow",
        &["--timeout", "1s", "--quiet"],
    ));
    assert_eq!(ran.code, 3, "{ran:?}");
    assert!(
        ran.stdout
            .starts_with("job job-slow: timed out: 0 succeeded, 0 failed, 3 pending of 3"),
        "{ran:?}"
    );
}

#[test]
fn wrong_secret_key_exits_4_with_the_api_error() {
    let sim = quick("job-auth", 1, 0);
    let ran = run(wks_wait(&sim, "job-auth", &["--output", "json"])
        .env("HUAWEICLOUD_SDK_SK", "not-the-secret"));
    assert_eq!(ran.code, 4, "{ran:?}");
    let report = ran.json();
    assert_schema(&report);
    assert_eq!(report["result"], "error");
    // Never retried: an AK/SK pair is locked after 5 failed authentications.
    assert_eq!(report["requests"], 1);
    let error = &report["error"];
    assert_eq!(error["status"], 401, "{error}");
    assert!(error["error_code"].is_string(), "{error}");
    assert!(error["error_msg"].is_string(), "{error}");
    assert!(
        error["request_id"].as_str().unwrap().starts_with("sim-"),
        "{error}"
    );
    assert!(
        error["message"].as_str().unwrap().contains("HTTP 401"),
        "{error}"
    );
    assert!(!ran.stderr.contains("not-the-secret"), "{ran:?}");

    let ran = run(wks_wait(&sim, "job-auth", &[]).env("HUAWEICLOUD_SDK_SK", "not-the-secret"));
    assert_eq!(ran.code, 4, "{ran:?}");
    assert!(
        ran.stdout
            .starts_with("job job-auth: stopped by an error: "),
        "{ran:?}"
    );
    assert!(ran.stderr.contains("HTTP 401"), "{ran:?}");
}

#[test]
fn a_retry_is_one_line_on_stderr() {
    let mut spec = TimelineSpec::new(2);
    spec.start_within = ms(100);
    spec.finish_between = (ms(200), ms(400));
    let sim = Simulator::builder(Scenario::generate("job-retry", &spec))
        .faults(FaultPlan::new().on_request(0, Fault::ServerError))
        .start()
        .unwrap();
    let ran = run(&mut wks_wait(&sim, "job-retry", &[]));
    assert_eq!(ran.code, 0, "{ran:?}");
    let retries: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains(" retry in "))
        .collect();
    assert_eq!(retries.len(), 1, "{ran:?}");
    assert!(retries[0].contains("HTTP 500"), "{ran:?}");
    // The waiter's own warning about the retry is not repeated.
    assert!(!ran.stderr.contains("WARN"), "{ran:?}");
    // The failed listing, its retry, and the job's details read once before the verdict.
    assert!(ran.stdout.contains("(1 poll, 3 requests)"), "{ran:?}");
}

/// Starts `command`, waits for a stderr line containing `marker`, sends SIGINT.
fn interrupt_after(command: &mut Command, marker: &'static str) -> Ran {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.contains(marker) {
                let _ = tx.send(());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let pid = child.id().to_string();
    if rx.recv_timeout(CHILD_LIMIT).is_err() {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        panic!("no {marker:?} on stderr: {}", reader.join().unwrap());
    }
    let killed = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let mut ran = finish(child);
    ran.stderr = reader.join().unwrap();
    ran
}

#[test]
fn interrupt_exits_130_with_what_was_seen() {
    let sim = Simulator::start(Scenario::never_finishing("job-int", 2)).unwrap();
    let ran = interrupt_after(
        wks_wait(
            &sim,
            "job-int",
            &[
                "--initial-interval",
                "10s",
                "--max-interval",
                "10s",
                "--output",
                "json",
            ],
        )
        // The waiter logs each poll at debug level: the sign the wait has begun.
        .env("RUST_LOG", "wks_waiter=debug"),
        "poll 1 found",
    );
    assert_eq!(ran.code, 130, "{ran:?}");
    let report = ran.json();
    assert_schema(&report);
    assert_eq!(report["result"], "interrupted");
    assert_eq!(report["pending"], 2);
    assert_eq!(report["polls"], 1);
    // Woken from its 10 s sleep at once.
    assert!(report["elapsed_ms"].as_u64().unwrap() < 8000, "{report}");

    let ran = interrupt_after(
        &mut wks_wait(
            &sim,
            "job-int",
            &["--initial-interval", "10s", "--max-interval", "10s"],
        ),
        "poll 1: ",
    );
    assert_eq!(ran.code, 130, "{ran:?}");
    assert!(
        ran.stdout
            .starts_with("job job-int: interrupted: 0 succeeded, 0 failed, 2 pending of 2"),
        "{ran:?}"
    );
}

#[test]
fn demo_runs_the_same_path_and_exits_1_with_its_failure() {
    let ran = run(bare().args([
        "demo",
        "--desktops",
        "5",
        "--fail",
        "1",
        "--duration",
        "3s",
        "--output",
        "json",
    ]));
    assert_eq!(ran.code, 1, "{ran:?}");
    let report = ran.json();
    assert_schema(&report);
    assert_eq!(report["result"], "failed");
    assert_eq!(
        (report["total"].as_u64(), report["succeeded"].as_u64()),
        (Some(5), Some(4))
    );
    assert_eq!(report["failures"].as_array().unwrap().len(), 1);
    assert_eq!(report["subtasks"].as_array().unwrap().len(), 5);
}
