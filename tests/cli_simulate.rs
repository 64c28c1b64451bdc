//! `wks-wait simulate` as a user runs it: a fake Workspace endpoint in its own process,
//! reached with plain HTTP, with the crate's `Client` and with `wks-wait` itself through the
//! variables `--print-env` prints; ended cleanly by SIGTERM, SIGINT and SIGHUP; bad
//! scenario files refused naming the field; and the shell mechanics the README documents
//! (`eval "$(wks-wait simulate --print-env &)"`, `--print-env > file &`), run by bash.
#![cfg(feature = "cli")]

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread;

use serde_json::Value;
use support::{
    finish, raw_exchange, run, send_signal, spawn, wait_until, wks_wait_bare, Finished, TempDir,
    CHILD_WATCHDOG,
};
use wks_waiter::{Client, Credentials, SubtaskQuery};

/// One job of three desktops finished at 0 s, the third failed; another job with one
/// desktop that never finishes.
const SCENARIO: &str = r#"{
  "jobs": [
    {"job_id": "job-1", "desktops": [
      {"end_at": "0s"}, {"end_at": "0s"},
      {"end_at": "0s", "fails": {"error_code": "WKS.0120", "fail_reason": "no capacity"}}
    ]},
    {"job_id": "job-slow", "desktops": [{}]}
  ]
}"#;

/// A running `wks-wait simulate --print-env` and the variables it printed.
struct Served {
    child: Child,
    env: HashMap<String, String>,
}

impl Served {
    /// Starts it with `args` after `simulate --print-env`, and reads its stdout to the end:
    /// the end comes when it releases stdout, after the last line.
    fn start(args: &[&str]) -> Self {
        let mut child = spawn(wks_wait_bare().args(["simulate", "--print-env"]).args(args));
        let mut stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        let text = rx.recv_timeout(CHILD_WATCHDOG).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("simulate --print-env never released stdout")
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"# wks-wait simulate: ready"), "{text}");
        assert!(
            lines.contains(&"unset HUAWEICLOUD_SDK_SECURITY_TOKEN"),
            "{text}"
        );
        let env = lines
            .iter()
            .filter_map(|line| line.strip_prefix("export "))
            .map(|line| {
                let (name, value) = line.split_once('=').unwrap();
                let value = value
                    .strip_prefix('\'')
                    .unwrap()
                    .strip_suffix('\'')
                    .unwrap();
                (name.to_owned(), value.to_owned())
            })
            .collect();
        Self { child, env }
    }

    fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("{name} not printed: {:?}", self.env))
    }

    /// `wks-wait` configured only by the printed variables.
    fn wks_wait(&self, args: &[&str]) -> Command {
        let mut command = wks_wait_bare();
        for name in [
            "WKS_WAIT_ENDPOINT",
            "HUAWEICLOUD_SDK_AK",
            "HUAWEICLOUD_SDK_SK",
            "HUAWEICLOUD_SDK_PROJECT_ID",
        ] {
            command.env(name, self.var(name));
        }
        command.args(args);
        command
    }

    /// Sends `signal` and waits for the end.
    fn stop(self, signal: &str) -> Finished {
        send_signal(self.child.id(), signal);
        finish(self.child)
    }
}

fn scenario_file(dir: &TempDir, text: &str) -> String {
    let path = dir.path().join("scenario.json");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_served_simulator_answers_http_the_client_and_wks_wait_and_logs_each_request() {
    let dir = TempDir::new("simulate");
    let scenario = scenario_file(&dir, SCENARIO);
    let log = dir.path().join("requests.ndjson");
    let served = Served::start(&["--scenario", &scenario, "--log", log.to_str().unwrap()]);
    let url = served.var("WKS_WAIT_ENDPOINT").to_owned();
    let project = served.var("HUAWEICLOUD_SDK_PROJECT_ID").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(served.var("WKS_WAIT_SIMULATOR_JOB_IDS"), "job-1 job-slow");
    assert_eq!(
        served.var("WKS_WAIT_SIMULATOR_PID"),
        served.child.id().to_string()
    );
    let secret_key = served.var("HUAWEICLOUD_SDK_SK").to_owned();
    // Generated, not the library's well-known pair.
    assert_ne!(served.var("HUAWEICLOUD_SDK_AK"), "SIMULATORACCESSKEY01");
    assert_eq!(served.var("HUAWEICLOUD_SDK_AK").len(), 20);

    // Plain HTTP with the IAM token.
    let host = url.trim_start_matches("http://");
    let get = |path: &str| {
        raw_exchange(
            &url,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 X-Auth-Token: {}\r\nConnection: close\r\n\r\n",
                served.var("WKS_WAIT_SIMULATOR_TOKEN")
            ),
        )
    };
    let listing = get(&format!(
        "/v2/{project}/workspace-sub-jobs?job_id=job-1&status=FAILED"
    ));
    assert_eq!(listing.status, 200, "{listing:?}");
    let body = listing.json();
    assert_eq!(body["total_count"], 1, "{body}");
    assert_eq!(body["jobs"][0]["error_code"], "WKS.0120");
    assert!(listing.header("X-Request-Id").is_some());
    let details = get(&format!("/v2/{project}/workspace-jobs/job-1"));
    assert_eq!(details.status, 200, "{details:?}");
    assert_eq!(details.json()["sub_jobs_total"], 3);
    assert_eq!(
        get(&format!("/v2/{project}/workspace-jobs/nope")).status,
        404
    );

    // The crate's client, signing with the printed AK/SK.
    let client = Client::builder()
        .endpoint(&url)
        .project_id(&project)
        .credentials(
            Credentials::access_key(
                served.var("HUAWEICLOUD_SDK_AK"),
                served.var("HUAWEICLOUD_SDK_SK"),
            )
            .unwrap(),
        )
        .proxy_from_env(false)
        .build()
        .unwrap();
    let all = client
        .list_all_subtasks(&SubtaskQuery::for_job("job-1").unwrap())
        .unwrap();
    assert_eq!(all.subtasks.len(), 3);
    assert_eq!(client.get_job("job-slow").unwrap().sub_jobs_total, Some(1));

    // wks-wait itself, configured by the variables alone (no --endpoint, no region).
    let ran = run(&mut served.wks_wait(&[
        "--job-id",
        "job-1",
        "--initial-interval",
        "200ms",
        "--output",
        "json",
    ]));
    assert_eq!(ran.code(), 1, "{ran:?}");
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(
        (report["succeeded"].as_u64(), report["failed"].as_u64()),
        (Some(2), Some(1))
    );
    let ran = run(&mut served.wks_wait(&["check", "--job-id", "job-slow", "--quiet"]));
    assert_eq!(ran.code(), 3, "{ran:?}");

    let access_key = served.var("HUAWEICLOUD_SDK_AK").to_owned();
    let stopped = served.stop("TERM");
    assert_eq!(stopped.code(), 0, "{stopped:?}");
    assert!(
        stopped
            .stderr
            .contains("wks-wait simulate: SIGTERM: stopped"),
        "{stopped:?}"
    );
    // One JSON line per request, naming what a tool sent.
    let log = std::fs::read_to_string(&log).unwrap();
    let records: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.len() >= 6, "{log}");
    assert_eq!(records[0]["method"], "GET");
    assert_eq!(records[0]["query"], "job_id=job-1&status=FAILED");
    assert_eq!(records[0]["status"], 200);
    // The token's requests carry no key; the signed ones name the printed AK.
    assert_eq!(records[0]["access_key"], Value::Null);
    assert!(
        records
            .iter()
            .any(|r| r["access_key"] == access_key.as_str()),
        "{log}"
    );
    assert!(!log.contains(&secret_key), "the secret key is never logged");
}

#[test]
fn sigint_and_sighup_end_it_cleanly_too() {
    for (signal, name) in [("INT", "SIGINT"), ("HUP", "SIGHUP")] {
        let served = Served::start(&[]);
        // The demo's job when no scenario is given.
        assert_eq!(
            served.var("WKS_WAIT_SIMULATOR_JOB_IDS"),
            "demo-0e2dae94-23ff-449a-bb9c-1b808cf2106d"
        );
        let stopped = served.stop(signal);
        assert_eq!(stopped.code(), 0, "{signal}: {stopped:?}");
        assert!(
            stopped
                .stderr
                .contains(&format!("wks-wait simulate: {name}: stopped")),
            "{stopped:?}"
        );
    }
}

#[test]
fn without_print_env_it_describes_itself_for_people() {
    let mut child = spawn(wks_wait_bare().args(["simulate"]));
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        // Until the last line of the description.
        while !String::from_utf8_lossy(&seen).contains("Stop it with Ctrl-C") {
            if stdout.read(&mut byte).unwrap_or(0) == 0 {
                break;
            }
            seen.push(byte[0]);
        }
        let _ = tx.send(String::from_utf8_lossy(&seen).into_owned());
    });
    let text = rx.recv_timeout(CHILD_WATCHDOG).expect("a description");
    send_signal(child.id(), "TERM");
    let ran = finish(child);
    assert_eq!(ran.code(), 0, "{ran:?}");
    for part in [
        "is listening on http://127.0.0.1:",
        "project ID    0605767a3300d5762fb7c0186d9e1779",
        "access key    ",
        "secret key    ",
        "IAM token     MII",
        "jobs          demo-0e2dae94-23ff-449a-bb9c-1b808cf2106d (50 desktops)",
        "wks-wait --job-id 'demo-0e2dae94-23ff-449a-bb9c-1b808cf2106d'",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
}

#[test]
fn bad_scenario_files_ports_and_logs_exit_2_naming_them() {
    let dir = TempDir::new("simulate-bad");
    let bad = scenario_file(&dir, r#"{"jobs": [{"desktops": [{"end_at": "5 min"}]}]}"#);
    let ran = run(wks_wait_bare().args(["simulate", "--scenario", &bad]));
    assert_eq!(ran.code(), 2, "{ran:?}");
    assert!(ran.stdout.is_empty(), "{ran:?}");
    assert!(
        ran.stderr.contains("jobs[0].desktops[0].end_at") && ran.stderr.contains("`5 min`"),
        "{ran:?}"
    );
    assert!(ran.stderr.contains(&bad), "names the file: {ran:?}");

    // A bad value inside a fault is named down to its field.
    let bad = scenario_file(
        &dir,
        r#"{"faults": {"schedule": [{"request": 0, "fault": {"type": "slow", "delay": "-5s"}}]}}"#,
    );
    let ran = run(wks_wait_bare().args(["simulate", "--scenario", &bad]));
    assert_eq!(ran.code(), 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("faults.schedule[0].fault.delay: `-5s` is negative"),
        "{ran:?}"
    );

    let ran = run(wks_wait_bare().args(["simulate", "--scenario", "/nonexistent/s.json"]));
    assert_eq!(ran.code(), 2, "{ran:?}");
    assert!(ran.stderr.contains("/nonexistent/s.json"), "{ran:?}");

    let ran = run(wks_wait_bare().args(["simulate", "--log", "/nonexistent/dir/requests.ndjson"]));
    assert_eq!(ran.code(), 2, "{ran:?}");
    assert!(
        ran.stderr.starts_with(
            "wks-wait simulate: cannot open the request log /nonexistent/dir/requests.ndjson: "
        ),
        "{ran:?}"
    );
    assert!(!ran.stderr.contains("cannot serve"), "{ran:?}");

    // A port in use: one served simulator's own.
    let served = Served::start(&[]);
    let port = served
        .var("WKS_WAIT_ENDPOINT")
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let ran = run(wks_wait_bare().args(["simulate", "--port", &port]));
    assert_eq!(ran.code(), 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains(&format!("cannot serve on 127.0.0.1:{port}")),
        "{ran:?}"
    );
    assert_eq!(served.stop("TERM").code(), 0);
}

/// The README's two ways to start it from a script, run by bash: `eval "$(… &)"`, which
/// returns once the variables are printed, and `> file &` with a wait for the ready line.
#[test]
fn the_documented_shell_mechanics_work_in_bash() {
    let dir = TempDir::new("simulate-bash");
    let scenario = scenario_file(&dir, SCENARIO);
    let script = r#"
set -u
eval "$("$WKS" simulate --print-env --scenario "$SCENARIO" &)"
trap 'kill "$WKS_WAIT_SIMULATOR_PID" 2>/dev/null' EXIT
echo "first=$WKS_WAIT_SIMULATOR_PID" >&2
"$WKS" --job-id job-1 --initial-interval 200ms --quiet
echo "first-code=$?" >&2
kill "$WKS_WAIT_SIMULATOR_PID"

"$WKS" simulate --print-env --scenario "$SCENARIO" > "$DIR/env.sh" &
until grep -q '^# wks-wait simulate: ready$' "$DIR/env.sh" 2>/dev/null; do sleep 0.05; done
. "$DIR/env.sh"
[ "$WKS_WAIT_SIMULATOR_PID" = "$!" ] || echo "pid mismatch" >&2
"$WKS" --job-id job-1 --initial-interval 200ms --quiet
echo "second-code=$?" >&2
kill -TERM "$!"
wait "$!"
echo "second-exit=$?" >&2
"#;
    let mut bash = wks_wait_bare();
    let program = bash.get_program().to_owned();
    let envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)> = bash
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
        .collect();
    bash = Command::new("bash");
    for (name, value) in envs {
        match value {
            Some(value) => bash.env(name, value),
            None => bash.env_remove(name),
        };
    }
    bash.arg("-c")
        .arg(script)
        .env("WKS", program)
        .env("SCENARIO", &scenario)
        .env("DIR", dir.path());
    let ran = run(&mut bash);
    assert_eq!(ran.code(), 0, "{ran:?}");
    let stdout: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(stdout.len(), 2, "{ran:?}");
    for line in stdout {
        assert!(
            line.starts_with("job job-1: 2 succeeded, 1 failed, 0 pending of 3 in "),
            "{ran:?}"
        );
    }
    for line in ["first-code=1", "second-code=1", "second-exit=0"] {
        assert!(ran.stderr.contains(line), "{line}: {ran:?}");
    }
    assert!(!ran.stderr.contains("pid mismatch"), "{ran:?}");
    // The first simulator, started in the background of a subshell, was stopped too.
    let first: u32 = ran
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("first="))
        .unwrap()
        .parse()
        .unwrap();
    wait_until("the first simulator ends", || {
        !std::path::Path::new(&format!("/proc/{first}")).exists()
            || std::fs::read_to_string(format!("/proc/{first}/stat"))
                .is_ok_and(|stat| stat.contains(") Z "))
    });
}
