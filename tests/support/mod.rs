//! Helpers shared by the integration tests: durations, a client aimed at the simulator, a
//! seeded generator, and a child process run under a watchdog.
//!
//! Each file under `tests/` is its own crate and uses only some of these.
#![allow(dead_code)] // Each test crate uses a different subset.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[cfg(feature = "simulator")]
use wks_waiter::simulator::{Simulator, SimulatorBuilder};
use wks_waiter::test_util::ManualClock;
use wks_waiter::{Client, ClientBuilder, Credentials};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

/// A client builder aimed at `sim`, ignoring any proxy of the environment.
#[cfg(feature = "simulator")]
pub fn builder(sim: &Simulator) -> ClientBuilder {
    Client::builder()
        .endpoint(sim.url())
        .project_id(sim.project_id())
        .proxy_from_env(false)
}

/// The simulator's AK/SK pair.
#[cfg(feature = "simulator")]
pub fn aksk(sim: &Simulator) -> Credentials {
    Credentials::access_key(sim.access_key(), sim.secret_key()).unwrap()
}

/// A client of `sim` signing with its AK/SK pair.
#[cfg(feature = "simulator")]
pub fn client(sim: &Simulator) -> Client {
    builder(sim).credentials(aksk(sim)).build().unwrap()
}

/// A simulator and a client sharing one virtual clock.
#[cfg(feature = "simulator")]
pub fn in_virtual_time(sim: SimulatorBuilder) -> (Simulator, Client, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_2026());
    let sim = sim.clock(clock.clone()).start().unwrap();
    let client = builder(&sim)
        .credentials(aksk(&sim))
        .clock(clock.clone())
        .build()
        .unwrap();
    (sim, client, clock)
}

/// SplitMix64, for seeded test data (the crate's own generator is private).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }
}

/// What a finished child printed, and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The exit code; panics (failing the test) when a signal ended the child.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self:?}"))
    }
}

/// How long a child may run before a test gives up on it: a guard against hangs, far above
/// any honest run, never a check of speed.
pub const CHILD_WATCHDOG: Duration = Duration::from_secs(300);

/// Starts `command` with piped stdout and stderr.
pub fn spawn(command: &mut Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Waits for `child`, reading its output; kills it and fails the test past
/// [`CHILD_WATCHDOG`].
pub fn finish(mut child: Child) -> Finished {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = wait_with_watchdog(&mut child);
    Finished {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Runs `command` to the end under the watchdog.
pub fn run(command: &mut Command) -> Finished {
    finish(spawn(command))
}

fn wait_with_watchdog(child: &mut Child) -> ExitStatus {
    let step = Duration::from_millis(20);
    let mut waited = Duration::ZERO;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            return status;
        }
        if waited >= CHILD_WATCHDOG {
            let _ = child.kill();
            panic!("the child ran past the {CHILD_WATCHDOG:?} watchdog");
        }
        // A watchdog's poll, not a wait for time to pass in the test's logic.
        #[allow(clippy::disallowed_methods)]
        thread::sleep(step);
        waited += step;
    }
}

/// A canned response: status, extra headers, body.
pub type Canned = (u16, Vec<(&'static str, String)>, String);

/// A loopback HTTP server that answers one connection per response, in order, each with
/// `Connection: close`; returns its base URL and a handle yielding the request heads it
/// read. For answers the simulator does not give (malformed bodies, raw headers).
pub fn one_shot_server(responses: Vec<Canned>) -> (String, thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("a bound address"));
    let handle = thread::spawn(move || {
        let mut heads = Vec::new();
        for (status, headers, body) in responses {
            let (stream, _) = listener.accept().expect("a client connects");
            let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            heads.push(head);
            let mut response = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&body);
            let _ = (&stream).write_all(response.as_bytes());
        }
        heads
    });
    (url, handle)
}

/// A loopback port nothing listens on (bound, then released): connecting is refused.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a loopback port")
        .local_addr()
        .expect("a bound address")
        .port()
}
