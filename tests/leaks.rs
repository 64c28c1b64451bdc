//! Secrets, beyond `tests/secrets.rs`: the simulator's own `Debug`, the `wks-wait` binary's
//! output at `RUST_LOG=trace` (however `ureq_proto` is named in it), and errors quoting a
//! server that echoes the request back.
#![cfg(feature = "simulator")]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use wks_waiter::simulator::{Scenario, Simulator};
use wks_waiter::{Client, Credentials, SubtaskQuery};

const AK: &str = "AKLEAKTEST0001";
const SK: &str = "Sk-4c1e9b-SECRET-77d2";
const SECURITY_TOKEN: &str = "Tok-0a93f1-SECRET-5be8";
const IAM_TOKEN: &str = "Iam-d28c40-SECRET-91aa";
const JOB: &str = "job-1";

fn assert_clean(what: &str, text: &str) {
    for secret in [SK, SECURITY_TOKEN, IAM_TOKEN] {
        assert!(!text.contains(secret), "{what} leaks {secret}:\n{text}");
    }
    assert!(
        !text.contains("SECRET"),
        "{what} leaks part of a secret:\n{text}"
    );
}

#[test]
fn the_simulator_debug_shows_no_secret() {
    let builder = Simulator::builder(Scenario::desktops(JOB, 1))
        .credentials(AK, SK)
        .security_token(SECURITY_TOKEN)
        .token(IAM_TOKEN);
    assert_clean(
        "SimulatorBuilder Debug",
        &format!("{builder:?} {builder:#?}"),
    );
    let sim = builder.start().unwrap();
    let text = format!("{sim:?} {sim:#?}");
    assert_clean("Simulator Debug", &text);
    assert!(text.contains(AK), "{text}");
}

/// A server that answers every request with `status` and a body quoting the request head
/// back, as some proxies' and debugging endpoints' error pages do.
fn echo_server(status: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                headers.push(line.trim().to_owned());
            }
            // Credentials first, as an echo sorted by header name would have them.
            headers.sort_by_key(|h| !h.to_ascii_lowercase().starts_with("x-"));
            let body = format!("request was: {}", headers.join(" | "));
            let response = format!(
                "{status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

#[test]
fn an_echoed_credential_is_not_repeated_in_errors() {
    for status in ["HTTP/1.1 400 Bad Request", "HTTP/1.1 200 OK"] {
        let url = echo_server(status);
        for credentials in [
            Credentials::token(IAM_TOKEN).unwrap(),
            Credentials::temporary(AK, SK, SECURITY_TOKEN).unwrap(),
        ] {
            let client = Client::builder()
                .endpoint(&url)
                .project_id("p1")
                .credentials(credentials)
                .proxy_from_env(false)
                .build()
                .unwrap();
            let err = client
                .list_subtasks(&SubtaskQuery::for_job(JOB).unwrap())
                .unwrap_err();
            assert_clean(status, &format!("{err} {err:?}"));
        }
    }
}

#[cfg(feature = "cli")]
mod cli {
    use std::io::Read;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    use wks_waiter::simulator::{Fault, FaultPlan, Scenario, Simulator, TimelineSpec};

    use super::*;

    /// Runs `wks-wait` against `sim` with `RUST_LOG=rust_log`, returning its exit code and
    /// everything it printed. Kills it if it runs past 30 s.
    fn wks_wait(sim: &Simulator, rust_log: &str, security_token: &str) -> (i32, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wks-wait"))
            .env_clear()
            .env("HUAWEICLOUD_SDK_AK", AK)
            .env("HUAWEICLOUD_SDK_SK", SK)
            .env("HUAWEICLOUD_SDK_SECURITY_TOKEN", security_token)
            .env("HUAWEICLOUD_SDK_PROJECT_ID", sim.project_id())
            .env("RUST_LOG", rust_log)
            .args([
                "--endpoint",
                &sim.url(),
                "--job-id",
                JOB,
                "--timeout",
                "20s",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (tx, rx) = mpsc::channel();
        let out_tx = tx.clone();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            let _ = out_tx.send(text);
        });
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        let mut printed = String::new();
        for _ in 0..2 {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(text) => printed.push_str(&text),
                Err(_) => {
                    let _ = child.kill();
                    panic!("wks-wait ran past 30 s: {printed}");
                }
            }
        }
        let code = child.wait().unwrap().code().unwrap_or(-1);
        (code, printed)
    }

    #[test]
    fn the_cli_prints_no_secret_even_at_trace() {
        // Every desktop done at once; the first run retries a 503 on the way (the binary
        // waits out its 1 s retry delay for real), so the runs cover signing, retrying,
        // reading and reporting.
        let spec = TimelineSpec {
            start_within: Duration::ZERO,
            finish_between: (Duration::ZERO, Duration::ZERO),
            ..TimelineSpec::new(3)
        };
        for (i, rust_log) in [
            "trace",
            "trace,ureq_proto=trace",
            "ureq_proto=trace,ureq=trace,wks_waiter=trace",
        ]
        .into_iter()
        .enumerate()
        {
            let faults = match i {
                0 => FaultPlan::new().on_request(0, Fault::Unavailable),
                _ => FaultPlan::new(),
            };
            let sim = Simulator::builder(Scenario::generate(JOB, &spec))
                .credentials(AK, SK)
                .security_token(SECURITY_TOKEN)
                .faults(faults)
                .start()
                .unwrap();
            let (code, printed) = wks_wait(&sim, rust_log, SECURITY_TOKEN);
            assert_eq!(code, 0, "{rust_log}: {printed}");
            assert!(
                printed.contains("TRACE"),
                "{rust_log}: tracing was on: {printed}"
            );
            assert_clean(rust_log, &printed);

            // A rejected security token: the run ends with the 401, still clean.
            let wrong = "Tok-ffffff-SECRET-0000";
            let (code, printed) = wks_wait(&sim, rust_log, wrong);
            assert_ne!(code, 0, "{rust_log}: {printed}");
            assert!(printed.contains("401"), "{rust_log}: {printed}");
            assert_clean(rust_log, &printed);
            assert!(!printed.contains(wrong), "{rust_log}: {printed}");
        }
    }
}
