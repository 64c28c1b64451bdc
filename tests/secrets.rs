//! An SK, a security token or an IAM token never appears in `Debug`, `Display`, error
//! messages or `log` output at any level, including when signatures fail.
#![cfg(feature = "simulator")]

use std::sync::{Arc, Mutex, OnceLock};

use wks_waiter::simulator::{Fault, FaultPlan, Scenario, Simulator};
use wks_waiter::{
    test_util::{virtual_time, ManualClock},
    Client, Credentials, Error, Waiter,
};

mod support;

const SK: &str = "Sk-2f9c1d7e-SECRET-a41b";
const SECURITY_TOKEN: &str = "Tok-77aa31-SECRET-e0c9";
const IAM_TOKEN: &str = "Iam-b5d0e8-SECRET-1f3a";
const JOB: &str = "job-1";

/// Captures every log record, at every level.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        // ureq-proto's trace records hex-dump the raw request, headers included: a wire dump
        // by design, documented in the README and switched off by the CLI. Everything else,
        // ours and ureq's own (which redacts headers), must be clean at every level.
        if record.level() == log::Level::Trace && record.target().starts_with("ureq_proto") {
            return;
        }
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        self.0.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        capture
    })
}

fn assert_clean(what: &str, text: &str) {
    for secret in [SK, SECURITY_TOKEN, IAM_TOKEN] {
        assert!(!text.contains(secret), "{what} leaks a secret: {text}");
    }
    assert!(
        !text.contains("SECRET"),
        "{what} leaks part of a secret: {text}"
    );
}

fn error_texts(error: &(dyn std::error::Error + 'static)) -> String {
    let mut texts = vec![format!("{error}"), format!("{error:?}")];
    let mut source = error.source();
    while let Some(cause) = source {
        texts.push(format!("{cause} / {cause:?}"));
        source = cause.source();
    }
    texts.join("\n")
}

fn client(sim: &Simulator, credentials: Credentials, clock: Arc<ManualClock>) -> Client {
    support::builder(sim)
        .credentials(credentials)
        .clock(clock)
        .build()
        .unwrap()
}

#[test]
fn secrets_never_leak() {
    let capture = capture();
    let temporary = Credentials::temporary("AKPLAIN0001", SK, SECURITY_TOKEN).unwrap();
    let iam = Credentials::token(IAM_TOKEN).unwrap();
    assert_clean(
        "Credentials Debug",
        &format!("{temporary:?} {temporary:#?} {iam:?}"),
    );

    // The simulator expects other secrets: every request fails authentication.
    let (clock, sleeper) = virtual_time();
    let sim = Simulator::builder(Scenario::desktops(JOB, 3))
        .clock(clock.clone())
        .credentials("AKPLAIN0001", "the-right-sk")
        .security_token("the-right-token")
        .token("the-right-iam-token")
        .start()
        .unwrap();
    for credentials in [temporary.clone(), iam.clone()] {
        let client = client(&sim, credentials, clock.clone());
        assert_clean("Client Debug", &format!("{client:?}"));
        let waiter = Waiter::builder(client)
            .clock(clock.clone())
            .sleeper(sleeper.clone())
            .build()
            .unwrap();
        assert_clean("Waiter Debug", &format!("{waiter:?}"));
        let err = waiter.wait(JOB).unwrap_err();
        assert_eq!(err.error().and_then(Error::status), Some(401));
        assert_clean("WaitError", &error_texts(&err));
    }

    // A successful wait with trace logging, and a few retried faults on the way.
    let sim = Simulator::builder(Scenario::desktops(JOB, 3))
        .clock(clock.clone())
        .credentials("AKPLAIN0001", SK)
        .security_token(SECURITY_TOKEN)
        .faults(
            FaultPlan::new()
                .on_request(0, Fault::Unavailable)
                .on_request(1, Fault::TruncatedBody),
        )
        .start()
        .unwrap();
    let waiter = Waiter::builder(client(&sim, temporary, clock.clone()))
        .clock(clock)
        .sleeper(sleeper)
        .build()
        .unwrap();
    let outcome = waiter.wait(JOB).unwrap();
    assert_eq!(outcome.counts().succeeded, 3);

    // Configuration errors about secrets do not echo them either.
    let err = Credentials::temporary("AK", SK, " ").unwrap_err();
    assert_clean("Credentials error", &error_texts(&err));

    let lines = capture.0.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.starts_with("WARN")),
        "retries were logged: {lines:?}"
    );
    assert_clean("log output", &lines.join("\n"));
}
