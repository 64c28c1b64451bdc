//! Helpers shared by the integration tests: durations, a client aimed at the simulator, a
//! seeded generator, and child processes run under a watchdog (to completion, or watched
//! line by line and signalled).
//!
//! Each file under `tests/` is its own crate and uses only some of these.
#![allow(dead_code)] // Each test crate uses a different subset.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

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

pub fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
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

/// A simulated service in-process, in virtual time: its scenario evaluated at a
/// `ManualClock` that the waiter's `ManualSleeper` advances, so hour-long jobs run in
/// milliseconds and schedules are exact.
#[cfg(feature = "simulator")]
#[derive(Debug)]
pub struct Rig {
    pub clock: Arc<ManualClock>,
    pub sleeper: Arc<wks_waiter::test_util::ManualSleeper>,
    pub source: Arc<wks_waiter::simulator::VirtualSource>,
}

#[cfg(feature = "simulator")]
impl Rig {
    pub fn new(scenario: wks_waiter::simulator::Scenario) -> Self {
        Self::with_faults(scenario, wks_waiter::simulator::FaultPlan::new())
    }

    pub fn with_faults(
        scenario: wks_waiter::simulator::Scenario,
        faults: wks_waiter::simulator::FaultPlan,
    ) -> Self {
        let (clock, sleeper) = wks_waiter::test_util::virtual_time();
        let source = wks_waiter::simulator::VirtualSource::new(scenario, clock.clone());
        Self {
            clock,
            sleeper,
            source: Arc::new(source.with_faults(faults)),
        }
    }

    /// A waiter over the source in virtual time, with a fixed jitter seed.
    pub fn waiter(&self) -> wks_waiter::WaiterBuilder<Arc<wks_waiter::simulator::VirtualSource>> {
        wks_waiter::Waiter::builder(self.source.clone())
            .clock(self.clock.clone())
            .sleeper(self.sleeper.clone())
            .jitter_seed(7)
    }

    /// Requests the source answered.
    pub fn requests(&self) -> usize {
        self.source.requests().len()
    }
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
/// [`CHILD_WATCHDOG`]. A stream the test took (to close it, or to read it itself) reads as
/// empty.
pub fn finish(mut child: Child) -> Finished {
    let out = child.stdout.take().map(read_on_thread);
    let err = child.stderr.take().map(read_on_thread);
    let status = wait_with_watchdog(&mut child);
    Finished {
        status,
        stdout: out.map(|t| t.join().unwrap()).unwrap_or_default(),
        stderr: err.map(|t| t.join().unwrap()).unwrap_or_default(),
    }
}

fn read_on_thread(mut stream: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        // Lossy, so a test can see (and fail on) bytes that are not UTF-8.
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A running child whose stderr is read line by line as it comes, so a test can wait for
/// a line that shows the child reached a state (a poll done, a signal received) before
/// acting on it, instead of sleeping and hoping.
pub struct Watched {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: thread::JoinHandle<String>,
    stdout: Option<thread::JoinHandle<String>>,
    started: Instant,
}

impl Watched {
    /// Starts `command` with piped stdout and stderr.
    pub fn start(command: &mut Command) -> Self {
        let mut child = spawn(command);
        let stdout = child.stdout.take().map(read_on_thread);
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        let stderr = thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                seen.push_str(&line);
                seen.push('\n');
                let _ = tx.send(line);
            }
            seen
        });
        Self {
            child,
            lines,
            stderr,
            stdout,
            started: watchdog_start(),
        }
    }

    /// The child's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Blocks until a stderr line contains `needle`, and returns it. Fails the test (after
    /// killing the child) if stderr ends first or the watchdog expires.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        loop {
            let left = CHILD_WATCHDOG.saturating_sub(watchdog_elapsed(self.started));
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(error) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!("no stderr line containing {needle:?} ({error})");
                }
            }
        }
    }

    /// Sends `signal` (a name such as `INT`, `TERM`, `HUP`) to the child.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Waits for the child to end, under the watchdog.
    pub fn finish(mut self) -> Finished {
        let status = wait_with_watchdog(&mut self.child);
        Finished {
            status,
            stdout: self.stdout.map(|t| t.join().unwrap()).unwrap_or_default(),
            stderr: self.stderr.join().unwrap(),
        }
    }
}

/// Sends `signal` (a name such as `INT`, `TERM`, `HUP`) to process `pid` with `kill(1)`.
pub fn send_signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(sent.success(), "kill -{signal} {pid} failed");
}

/// Blocks until `condition` holds, checking it every few milliseconds; fails the test
/// with `what` past the watchdog. For states no output announces, such as a request the
/// simulator holds.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = watchdog_start();
    while !condition() {
        assert!(
            watchdog_elapsed(started) < CHILD_WATCHDOG,
            "{what}: not within the {CHILD_WATCHDOG:?} watchdog"
        );
        // A watchdog's poll of a condition, not a wait for time to pass.
        #[allow(clippy::disallowed_methods)]
        thread::sleep(Duration::from_millis(10));
    }
}

// The watchdog guards against hangs only; it is the one use of real time in the tests.
#[allow(clippy::disallowed_methods)]
fn watchdog_start() -> Instant {
    Instant::now()
}

fn watchdog_elapsed(started: Instant) -> Duration {
    watchdog_start().saturating_duration_since(started)
}

/// Runs `command` to the end under the watchdog.
pub fn run(command: &mut Command) -> Finished {
    finish(spawn(command))
}

/// Runs `command` to the end under the watchdog with `input` on its standard input.
pub fn run_with_stdin(command: &mut Command, input: &str) -> Finished {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_owned();
    // On a thread: a child that does not read its input must not block the test.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let ran = finish(child);
    let _ = writer.join();
    ran
}

/// Variables of the parent's environment that must not leak into a `wks-wait` child.
pub const WKS_WAIT_CLEARED: &[&str] = &[
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
    "RUST_BACKTRACE",
    "WKS_WAIT_ENDPOINT",
    "WKS_WAIT_STATE_DIR",
    "XDG_RUNTIME_DIR",
];

/// The `wks-wait` binary with a clean environment and no arguments, sharing its request
/// budget with no other test: its state directory is its own.
#[cfg(feature = "cli")]
pub fn wks_wait_bare() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wks-wait"));
    for name in WKS_WAIT_CLEARED {
        command.env_remove(name);
    }
    command.env("WKS_WAIT_STATE_DIR", budget_state_dir());
    command
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

/// A fresh directory under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: std::path::PathBuf,
}

impl TempDir {
    /// A new empty directory whose name holds `label`, the process ID and a counter, so
    /// that parallel tests and test processes never share one.
    pub fn new(label: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("wks-test-{}-{n}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("the temporary directory is writable");
        Self { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A new directory for the request budget's state file of one `wks-wait` run, under Cargo's
/// scratch directory for tests (left for `cargo clean`), so that tests running at once
/// never share a budget through the state file of the machine's user.
pub fn budget_state_dir() -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("wks-wait-budgets")
        .join(format!("{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch directory is writable");
    dir
}

/// A command running this test executable again for the one ignored test `name` alone: a
/// child process role, told apart by the environment the caller adds.
pub fn rerun_as_child(name: &str) -> Command {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let mut command = Command::new(exe);
    command.args([
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    command
}

/// A response read off the wire by [`raw_exchange`].
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header lines, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends `request` (a whole HTTP/1.1 request, written by hand) to `url`'s host and reads
/// one response, which must close the connection or carry a `Content-Length`.
pub fn raw_exchange(url: &str, request: &str) -> RawResponse {
    let host = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(CHILD_WATCHDOG)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    read_response(&mut stream)
}

/// Reads one response off `stream`: head, then `Content-Length` bytes of body.
pub fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert!(
            n == 1,
            "the connection closed mid-head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    RawResponse {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// A GET of `path_and_query` written by hand, authenticated with the simulator's IAM
/// token, closing the connection after the answer.
#[cfg(feature = "simulator")]
pub fn raw_get(sim: &Simulator, path_and_query: &str) -> RawResponse {
    let request = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         X-Auth-Token: {}\r\nConnection: close\r\n\r\n",
        sim.url().trim_start_matches("http://"),
        sim.token()
    );
    raw_exchange(&sim.url(), &request)
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

/// A hostile service for the waiter: each request is answered by the test's own function
/// (given the honest `inner` source, to distort or ignore), and recorded, so a test can
/// script exactly what a misbehaving service says page by page and poll by poll.
#[cfg(feature = "simulator")]
pub mod hostile {
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use wks_waiter::error::ApiError;
    use wks_waiter::model::Subtask;
    use wks_waiter::model::{JobDetails, SubtaskPage};
    use wks_waiter::simulator::{Scenario, VirtualSource};
    use wks_waiter::source::{FetchedJob, FetchedPage, JobsApi};
    use wks_waiter::test_util::{virtual_time, ManualClock, ManualSleeper};
    use wks_waiter::{Error, RateBudget, SubtaskQuery, Waiter, WaiterBuilder};

    /// A virtual clock, a sleeper driving it, and honest simulators under hostile fronts:
    /// the stage of the hostile reviews' attacks.
    pub struct Arena {
        pub clock: Arc<ManualClock>,
        pub sleeper: Arc<ManualSleeper>,
    }

    impl Arena {
        pub fn new() -> Self {
            let (clock, sleeper) = virtual_time();
            Self { clock, sleeper }
        }

        /// The simulator serving `scenario`, honest.
        pub fn simulator(&self, scenario: Scenario) -> VirtualSource {
            VirtualSource::new(scenario, self.clock.clone())
        }

        /// A hostile front over `inner`, honest until told otherwise.
        pub fn hostile<S: JobsApi>(&self, inner: S) -> Hostile<S> {
            Hostile::new(inner, self.clock.clone())
        }

        /// A hostile front over a simulator with no job at all: for services scripted
        /// from scratch.
        pub fn scripted(&self) -> Hostile<VirtualSource> {
            self.hostile(self.simulator(Scenario::new()))
        }

        /// Job `job` scripted in time: its subtasks at virtual time `t` are `listed(t)`,
        /// served by honest listings (pages of `cap`) and by details saying `status(t)`
        /// with the same subtasks inline and `sub_jobs_total` as many (the subtasks created
        /// so far, as a service counting its inline list does). A `FAIL` status carries a
        /// job-level error.
        pub fn scripted_job(
            &self,
            job: &'static str,
            listed: impl Fn(Duration) -> Vec<Subtask> + Send + Sync + Clone + 'static,
            status: impl Fn(Duration) -> &'static str + Send + Sync + 'static,
            cap: usize,
        ) -> Hostile<VirtualSource> {
            let clock = self.clock.clone();
            let details_clock = self.clock.clone();
            let details_listed = listed.clone();
            self.scripted()
                .pages(move |_, call| Ok(slice(&filter(&listed(clock.elapsed()), call), call, cap)))
                .jobs(move |_, _| {
                    let t = details_clock.elapsed();
                    Ok(honest_details(job, &details_listed, &status, t))
                })
        }

        /// A waiter on the arena's time, with a fixed jitter seed and an hour's deadline.
        pub fn waiter<A: JobsApi>(&self, api: A) -> WaiterBuilder<A> {
            Waiter::builder(api)
                .clock(self.clock.clone())
                .sleeper(self.sleeper.clone())
                .jitter_seed(7)
                .max_wait(super::mins(60))
        }

        /// A request budget of `per_minute` on the arena's time.
        pub fn budget(&self, per_minute: u32) -> RateBudget {
            RateBudget::builder()
                .limit(per_minute)
                .window(super::mins(1))
                .clock(self.clock.clone())
                .build()
                .unwrap()
        }
    }

    /// One request, as the hostile source received it.
    #[derive(Debug, Clone)]
    pub struct Call {
        /// Its index, from 0, among requests of its kind (listing pages, or job details).
        pub n: usize,
        /// Virtual time since the source was made.
        pub at: Duration,
        /// The timeout the waiter gave it.
        pub timeout: Option<Duration>,
        /// A listing's query.
        pub query: Option<SubtaskQuery>,
        /// A job-details request's job ID.
        pub job: Option<String>,
    }

    impl Call {
        /// Whether this is a listing with a `status` filter.
        pub fn filtered(&self) -> bool {
            self.query
                .as_ref()
                .is_some_and(|q| !q.statuses().is_empty())
        }

        /// Whether this is a listing without `job_id` (project-wide).
        pub fn project_wide(&self) -> bool {
            self.query.as_ref().is_some_and(|q| q.job_id().is_none())
        }

        /// A listing's offset (0 for job details).
        pub fn offset(&self) -> u64 {
            self.query.as_ref().map_or(0, SubtaskQuery::offset)
        }
    }

    type PageFn<S> = dyn Fn(&S, &Call) -> Result<FetchedPage, Error> + Send + Sync;
    type JobFn<S> = dyn Fn(&S, &Call) -> Result<FetchedJob, Error> + Send + Sync;

    /// See the [module](self).
    pub struct Hostile<S> {
        /// The honest source underneath.
        pub inner: S,
        clock: Arc<ManualClock>,
        zero: Duration,
        pages: Option<Box<PageFn<S>>>,
        jobs: Option<Box<JobFn<S>>>,
        calls: Mutex<Vec<Call>>,
    }

    impl<S> std::fmt::Debug for Hostile<S> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Hostile").finish_non_exhaustive()
        }
    }

    impl<S: JobsApi> Hostile<S> {
        /// Honest answers from `inner` until told otherwise.
        pub fn new(inner: S, clock: Arc<ManualClock>) -> Self {
            Self {
                inner,
                zero: clock.elapsed(),
                clock,
                pages: None,
                jobs: None,
                calls: Mutex::new(Vec::new()),
            }
        }

        /// Listings are answered by `answer`.
        pub fn pages(
            mut self,
            answer: impl Fn(&S, &Call) -> Result<FetchedPage, Error> + Send + Sync + 'static,
        ) -> Self {
            self.pages = Some(Box::new(answer));
            self
        }

        /// Job details are answered by `answer`.
        pub fn jobs(
            mut self,
            answer: impl Fn(&S, &Call) -> Result<FetchedJob, Error> + Send + Sync + 'static,
        ) -> Self {
            self.jobs = Some(Box::new(answer));
            self
        }

        /// Every request so far.
        pub fn calls(&self) -> Vec<Call> {
            self.calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }

        /// Job-details requests so far.
        pub fn details_calls(&self) -> usize {
            self.calls().iter().filter(|c| c.job.is_some()).count()
        }

        /// Listing requests so far.
        pub fn listing_calls(&self) -> usize {
            self.calls().iter().filter(|c| c.query.is_some()).count()
        }

        fn record(
            &self,
            timeout: Option<Duration>,
            query: Option<SubtaskQuery>,
            job: Option<String>,
        ) -> Call {
            let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
            let listing = query.is_some();
            let call = Call {
                n: calls
                    .iter()
                    .filter(|c| c.query.is_some() == listing)
                    .count(),
                at: self.clock.elapsed().saturating_sub(self.zero),
                timeout,
                query,
                job,
            };
            calls.push(call.clone());
            call
        }
    }

    impl<S: JobsApi> JobsApi for Hostile<S> {
        fn project_id(&self) -> &str {
            self.inner.project_id()
        }

        fn fetch_job(&self, job_id: &str, timeout: Option<Duration>) -> Result<FetchedJob, Error> {
            let call = self.record(timeout, None, Some(job_id.to_owned()));
            match &self.jobs {
                Some(answer) => answer(&self.inner, &call),
                None => self.inner.fetch_job(job_id, timeout),
            }
        }

        fn fetch_page(
            &self,
            query: &SubtaskQuery,
            timeout: Option<Duration>,
        ) -> Result<FetchedPage, Error> {
            let call = self.record(timeout, Some(query.clone()), None);
            match &self.pages {
                Some(answer) => answer(&self.inner, &call),
                None => self.inner.fetch_page(query, timeout),
            }
        }
    }

    /// A subtask from its JSON form.
    pub fn subtask(json: serde_json::Value) -> Subtask {
        serde_json::from_value(json).expect("a subtask")
    }

    /// Subtask `id` of job `job`, with `status` (and `process` 100 once terminal), for
    /// desktop `desk-{id}`.
    pub fn sub(id: &str, job: &str, status: &str) -> Subtask {
        let process = match status {
            "SUCCESS" | "FAILED" => 100,
            "WAITING" => 0,
            _ => 50,
        };
        subtask(serde_json::json!({
            "id": id,
            "job_id": job,
            "status": status,
            "process": process,
            "error_code": (status == "FAILED").then_some("WKS.0120"),
            "fail_reason": (status == "FAILED").then_some("scripted failure"),
            "entities": { "desktop_id": format!("desk-{id}"), "desktop_name": format!("desktop-{id}") }
        }))
    }

    /// A page of `subtasks` under `total_count`.
    pub fn page(total_count: u64, subtasks: Vec<Subtask>) -> FetchedPage {
        FetchedPage::new(SubtaskPage::new(total_count, subtasks), 100, None)
    }

    /// The honest page at `offset` (`limit` of `query`, capped at `cap`) of `all`.
    pub fn slice(all: &[Subtask], call: &Call, cap: usize) -> FetchedPage {
        let query = call.query.as_ref().expect("a listing");
        let limit = (query.limit().unwrap_or(1000) as usize).min(cap);
        let start = (query.offset() as usize).min(all.len());
        let end = (start + limit).min(all.len());
        page(all.len() as u64, all[start..end].to_vec())
    }

    /// Job details from their JSON form.
    pub fn details(json: serde_json::Value) -> FetchedJob {
        let body = serde_json::to_vec(&json).expect("JSON");
        FetchedJob::new(
            JobDetails::from_json(&body).expect("job details"),
            body.len(),
            None,
        )
    }

    /// Job details of `job`: `status`, `subtasks` inline, `sub_jobs_total` as given.
    /// What honest details of `job` say at `t` (see [`Arena::scripted_job`]).
    pub fn honest_details(
        job: &str,
        listed: &impl Fn(Duration) -> Vec<Subtask>,
        status: &impl Fn(Duration) -> &'static str,
        t: Duration,
    ) -> FetchedJob {
        let all = listed(t);
        let status = status(t);
        let mut fetched = job_details(job, status, all.len() as u64, &all);
        if status == "FAIL" {
            fetched.job.job_error_code = Some("WKS.0206".into());
            fetched.job.fail_reason = Some("post-provisioning step failed".into());
        }
        fetched
    }

    pub fn job_details(job: &str, status: &str, total: u64, subtasks: &[Subtask]) -> FetchedJob {
        let sub_jobs: Vec<serde_json::Value> = subtasks
            .iter()
            .map(|s| serde_json::to_value(s).expect("a subtask serializes"))
            .collect();
        details(serde_json::json!({
            "id": job, "status": status, "sub_jobs_total": total, "sub_jobs": sub_jobs
        }))
    }

    /// An API error as the service sends it: `status`, the documented body, and a
    /// `Retry-After` header when given.
    pub fn api_error(status: u16, code: &str, msg: &str, retry_after: Option<&str>) -> Error {
        let body =
            serde_json::json!({ "error_code": code, "error_msg": msg, "request_id": "hostile" });
        ApiError::from_response(
            status,
            body.to_string().as_bytes(),
            Some("hostile".into()),
            retry_after,
        )
        .into()
    }

    /// The statuses of `subtasks` that pass `call`'s status filter (all when unfiltered).
    pub fn filter(subtasks: &[Subtask], call: &Call) -> Vec<Subtask> {
        let query = call.query.as_ref().expect("a listing");
        subtasks
            .iter()
            .filter(|s| {
                query.statuses().is_empty()
                    || s.status
                        .as_ref()
                        .is_some_and(|st| query.statuses().contains(st))
            })
            .filter(|s| {
                query
                    .job_id()
                    .is_none_or(|job| s.job_id.as_deref() == Some(job))
            })
            .cloned()
            .collect()
    }
}
