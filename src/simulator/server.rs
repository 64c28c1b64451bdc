//! The HTTP front end: a small HTTP/1.1 server on `127.0.0.1`, one thread per connection
//! up to a bound.
//!
//! It is written on `std::net` rather than tiny_http because [`Fault::DropConnection`] must
//! close a connection in the middle of a body: tiny_http keeps the connection open after a
//! failed body write (and never flushes the head), so the client would hang instead of
//! seeing the transfer fail.
//!
//! Network timeouts (idle keep-alive connections, slow clients) are real time whatever the
//! simulator's clock: they protect the server, they are not part of the simulated service.
//!
//! [`Fault::DropConnection`]: super::Fault::DropConnection

use std::any::Any;
use std::fmt::{self, Write as _};
use std::fs::OpenOptions;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::faults::FaultPlan;
use super::ratelimit::RateLimit;
use super::scenario::Scenario;
use super::service::{Delivery, Identity, Reply, Request, RequestRecord, Service};
use crate::credentials::{AccessKey, Secret};
use crate::time::{Cancellation, Clock, Sleeper, SystemClock, ThreadSleeper};

/// Longest request line or header line accepted.
const MAX_LINE: u64 = 16 * 1024;
/// Most headers accepted in one request.
const MAX_HEADERS: usize = 100;
/// Largest request body accepted (the API takes none).
const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// How often a connection waiting for its client's next request looks up from the socket:
/// to close when the server stops, or when a new client needs its place.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// Connections served at once unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 128;
/// How long a keep-alive connection may wait for its next request unless told otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send one whole request unless told otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A running fake of the Workspace jobs API on `http://127.0.0.1:{port}`.
///
/// It accepts the AK/SK pair of [`access_key`](Self::access_key) and
/// [`secret_key`](Self::secret_key) (SDK-HMAC-SHA256, `X-Sdk-Date` within 15 minutes of its
/// clock), any other pair given to [`SimulatorBuilder::extra_key`], or the IAM token of
/// [`token`](Self::token), for project [`project_id`](Self::project_id), and answers from
/// its [`Scenario`] at the virtual time of its clock.
///
/// It serves up to [`max_connections`](SimulatorBuilder::max_connections) connections at
/// once, each on its own thread; past that, new clients wait and idle keep-alive
/// connections are closed to make room. A client that disconnects mid-request costs only
/// its own connection; one that stays idle, or takes too long to send a request (it gets a
/// 408), is disconnected.
///
/// Dropping it stops the server and joins its threads; if a handler thread panicked, the
/// panic is raised again in the dropping thread (unless that one is already panicking), so
/// a bug in the simulator fails the test that met it. [`serve_until`](Self::serve_until)
/// serves until a [`Cancellation`] is cancelled, for a command line tool.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<Option<Panic>>>,
}

type Panic = Box<dyn Any + Send + 'static>;

/// Limits of the HTTP front end.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_connections: usize,
    idle_timeout: Duration,
    request_timeout: Duration,
}

/// What every connection thread needs.
#[derive(Debug)]
struct Shared {
    service: Service,
    clock: Arc<dyn Clock>,
    /// `clock.now()` at start: virtual zero.
    started: Instant,
    /// Cancelled on drop: stops accepting and wakes slow responses.
    stop: Cancellation,
    limits: Limits,
    /// Connections being served.
    open: Mutex<usize>,
    /// Signalled when a connection ends.
    freed: Condvar,
    /// Set while a new client waits for a place: idle connections then close.
    crowded: AtomicBool,
}

impl Simulator {
    /// Starts a simulator of `scenario` with every default; see [`SimulatorBuilder`].
    ///
    /// # Errors
    ///
    /// When the port cannot be bound or the server thread cannot be started.
    pub fn start(scenario: Scenario) -> Result<Simulator, io::Error> {
        Self::builder(scenario).start()
    }

    /// Configures a simulator of `scenario`.
    pub fn builder(scenario: Scenario) -> SimulatorBuilder {
        SimulatorBuilder {
            scenario,
            faults: FaultPlan::new(),
            clock: Arc::new(SystemClock),
            identity: Identity::simulated(),
            port: 0,
            limits: Limits {
                max_connections: DEFAULT_MAX_CONNECTIONS,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
            },
            log: None,
        }
    }

    /// The base URL, `http://127.0.0.1:{port}`: pass it to
    /// [`ClientBuilder::endpoint`](crate::ClientBuilder::endpoint).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port it listens on (on `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The project the simulator serves.
    pub fn project_id(&self) -> &str {
        &self.shared.service.identity().project_id
    }

    /// The accepted access key (AK).
    pub fn access_key(&self) -> &str {
        &self.shared.service.identity().key().access_key
    }

    /// The accepted secret key (SK).
    pub fn secret_key(&self) -> &str {
        self.shared.service.identity().key().secret_key.expose()
    }

    /// The security token AK/SK requests must carry, when one was configured.
    pub fn security_token(&self) -> Option<&str> {
        let key = self.shared.service.identity().key();
        key.security_token.as_ref().map(Secret::expose)
    }

    /// The accepted `X-Auth-Token`.
    pub fn token(&self) -> &str {
        self.shared.service.identity().token.expose()
    }

    /// What it serves (without the subtasks its faults deleted or inserted since).
    pub fn scenario(&self) -> &Scenario {
        self.shared.service.scenario()
    }

    /// Every request received so far, in arrival order: the latest 100,000 (a log file,
    /// [`SimulatorBuilder::log_file`], keeps every one).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.service.requests()
    }

    /// Virtual time now: how far the clock moved since the simulator started.
    pub fn elapsed(&self) -> Duration {
        self.shared
            .clock
            .now()
            .saturating_duration_since(self.shared.started)
    }

    /// Serves until `cancel` is cancelled (from another thread, or a signal handler), then
    /// stops as a drop does: the way for a command line tool to serve until interrupted.
    ///
    /// ```
    /// use wks_waiter::simulator::{Scenario, Simulator};
    /// use wks_waiter::Cancellation;
    ///
    /// let sim = Simulator::start(Scenario::desktops("job-1", 3))?;
    /// let cancel = Cancellation::new();
    /// cancel.cancel(); // A Ctrl-C handler would do this.
    /// sim.serve_until(&cancel);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn serve_until(self, cancel: &Cancellation) {
        while !cancel.is_cancelled() {
            ThreadSleeper.sleep(Duration::from_secs(3600), cancel);
        }
    }
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("url", &self.url())
            .field("project_id", &self.project_id())
            .field("access_key", &self.access_key())
            .finish_non_exhaustive()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.stop.cancel();
        self.shared.freed.notify_all();
        // Wake the acceptor out of `accept()`; it then sees the stop flag.
        let _ = TcpStream::connect(self.addr);
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        let panic = acceptor.join().unwrap_or_else(Some);
        if let Some(panic) = panic {
            if !thread::panicking() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// Where the request log goes.
enum LogTarget {
    File(PathBuf),
    Writer(Box<dyn Write + Send>),
}

impl fmt::Debug for LogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// Configures a [`Simulator`]; see [`Simulator::builder`].
///
/// ```
/// use std::sync::Arc;
/// use wks_waiter::simulator::{RateLimit, Scenario, Simulator};
/// use wks_waiter::test_util::ManualClock;
///
/// let clock = Arc::new(ManualClock::at_2026());
/// let sim = Simulator::builder(Scenario::desktops("job-1", 3))
///     .clock(clock.clone())
///     .credentials("MYAK", "MYSK")
///     .security_token("MYTOKEN")
///     .rate_limit(RateLimit::per_minute(200)?)
///     .start()?;
/// assert_eq!(sim.security_token(), Some("MYTOKEN"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct SimulatorBuilder {
    scenario: Scenario,
    faults: FaultPlan,
    clock: Arc<dyn Clock>,
    identity: Identity,
    port: u16,
    limits: Limits,
    log: Option<LogTarget>,
}

impl SimulatorBuilder {
    /// What goes wrong, and on which request.
    ///
    /// Defaults to nothing.
    pub fn faults(mut self, plan: FaultPlan) -> Self {
        self.faults = plan;
        self
    }

    /// The clock virtual time and the signature check read. Virtual time is `clock.now()`
    /// minus its value at start. Share a [`ManualClock`](crate::test_util::ManualClock) with the client
    /// and the waiter to run HTTP tests in virtual time.
    ///
    /// Defaults to the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The accepted AK/SK pair.
    ///
    /// Defaults to `SIMULATORACCESSKEY01` and a fixed secret (see
    /// [`Simulator::secret_key`]).
    pub fn credentials(mut self, access_key: &str, secret_key: &str) -> Self {
        let key = self.identity.key_mut();
        key.access_key = access_key.to_owned();
        key.secret_key = Secret::new(secret_key);
        self
    }

    /// Random credentials: an AK of 20 capitals and digits, an SK of 40 letters and digits,
    /// and an IAM token, drawn from a generator the operating system seeds, so a simulator
    /// served to other processes (`wks-wait simulate`) is not opened by a well-known key.
    /// Read them back with [`Simulator::access_key`], [`Simulator::secret_key`] and
    /// [`Simulator::token`].
    ///
    /// Defaults to fixed, documented credentials.
    pub fn generated_credentials(mut self) -> Self {
        let mut random = OsSeeded::new();
        let key = self.identity.key_mut();
        key.access_key = random.string(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
        key.secret_key = Secret::new(random.string(40, ALPHANUMERIC));
        self.identity.token = Secret::new(format!("MII{}", random.string(61, ALPHANUMERIC)));
        self
    }

    /// Makes the AK/SK pair temporary credentials: requests signed with it must also send
    /// this `X-Security-Token`, and sign it.
    ///
    /// Defaults to none (permanent credentials).
    pub fn security_token(mut self, token: &str) -> Self {
        self.identity.key_mut().security_token = Some(Secret::new(token));
        self
    }

    /// Accepts another AK/SK pair besides the main one, with its own rate limit (`None`:
    /// the [`rate_limit`](Self::rate_limit) of every caller), as when several users or
    /// accounts share the project.
    ///
    /// Defaults to only the main pair.
    pub fn extra_key(
        mut self,
        access_key: &str,
        secret_key: &str,
        rate_limit: Option<RateLimit>,
    ) -> Self {
        self.identity.keys.push((
            AccessKey {
                access_key: access_key.to_owned(),
                secret_key: Secret::new(secret_key),
                security_token: None,
            },
            rate_limit,
        ));
        self
    }

    /// Throttles every caller (each access key and the IAM token on its own window)
    /// without a limit of its own; see [`RateLimit`].
    ///
    /// Defaults to no limit.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.identity.rate_limit = Some(limit);
        self
    }

    /// The accepted IAM token (`X-Auth-Token`).
    ///
    /// Defaults to a fixed string (see [`Simulator::token`]).
    pub fn token(mut self, token: &str) -> Self {
        self.identity.token = Secret::new(token);
        self
    }

    /// The project served.
    ///
    /// Defaults to [`DEFAULT_PROJECT_ID`](super::DEFAULT_PROJECT_ID).
    pub fn project_id(mut self, id: &str) -> Self {
        self.identity.project_id = id.to_owned();
        self
    }

    /// How far `X-Sdk-Date` may be from the simulator's wall clock.
    ///
    /// Defaults to 15 minutes, as the API gateway allows.
    pub fn max_skew(mut self, skew: Duration) -> Self {
        self.identity.max_skew = skew;
        self
    }

    /// The port to listen on, on `127.0.0.1` only; 0 picks a free one.
    ///
    /// Defaults to 0.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Connections served at once (one thread each); further clients wait, and idle
    /// keep-alive connections are closed to make room for them.
    ///
    /// Defaults to [`DEFAULT_MAX_CONNECTIONS`] (128).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max;
        self
    }

    /// How long a keep-alive connection may wait for its client's next request before the
    /// server closes it (real time).
    ///
    /// Defaults to [`DEFAULT_IDLE_TIMEOUT`] (30 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// How long a client may take to send one whole request, from its first byte, and to
    /// take its answer (real time). A client past it gets a 408 and is disconnected.
    ///
    /// Defaults to [`DEFAULT_REQUEST_TIMEOUT`] (30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.limits.request_timeout = timeout;
        self
    }

    /// Appends one JSON line per request to the file at `path` (created if missing):
    /// `index`, `time` (RFC 3339, UTC), `elapsed_ms` (virtual), `method`, `path`, `query`
    /// (as sent), `status`, `fault` ([`Fault::name`](super::Fault::name) or `null`),
    /// `rate_limited`, `access_key`, `bytes`, `subtasks`, `request_id`.
    ///
    /// Defaults to no log file (the log in memory, [`Simulator::requests`], is always kept).
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log = Some(LogTarget::File(path.into()));
        self
    }

    /// Like [`log_file`](Self::log_file), to any writer; each line is flushed as written.
    ///
    /// Defaults to none.
    pub fn log_to(mut self, writer: impl Write + Send + 'static) -> Self {
        self.log = Some(LogTarget::Writer(Box::new(writer)));
        self
    }

    /// Binds `127.0.0.1` on the port asked for and starts serving.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero connection bound or timeout, naming it; the error of
    /// opening the log file, naming the file; when the port cannot be bound or the server
    /// thread cannot be started.
    pub fn start(self) -> Result<Simulator, io::Error> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        if self.limits.max_connections == 0 {
            return Err(invalid(
                "max_connections `0`: must be at least 1".to_owned(),
            ));
        }
        for (name, value) in [
            ("idle_timeout", self.limits.idle_timeout),
            ("request_timeout", self.limits.request_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(format!("{name} `{value:?}`: must be more than 0")));
            }
        }
        let sink: Option<Box<dyn Write + Send>> = match self.log {
            None => None,
            Some(LogTarget::Writer(writer)) => Some(writer),
            Some(LogTarget::File(path)) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|error| {
                        io::Error::new(
                            error.kind(),
                            format!("cannot open the request log {}: {error}", path.display()),
                        )
                    })?;
                Some(Box::new(file))
            }
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port))?;
        let addr = listener.local_addr()?;
        let started = self.clock.now();
        let wall_zero = self.clock.system_time();
        let mut service = Service::new(self.scenario, self.faults, self.identity, wall_zero);
        if let Some(sink) = sink {
            service.log_to(sink);
        }
        let shared = Arc::new(Shared {
            service,
            clock: self.clock,
            started,
            stop: Cancellation::new(),
            limits: self.limits,
            open: Mutex::new(0),
            freed: Condvar::new(),
            crowded: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("wks-simulator".to_owned())
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(Simulator {
            shared,
            addr,
            acceptor: Some(acceptor),
        })
    }
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Unpredictable values without a new dependency: std's `RandomState` keys SipHash with
/// random keys the operating system provides, so hashing a counter with it yields values
/// nobody can guess without those keys.
struct OsSeeded {
    keys: RandomState,
    counter: u64,
}

impl OsSeeded {
    fn new() -> Self {
        Self {
            keys: RandomState::new(),
            counter: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.counter += 1;
        self.keys.hash_one(self.counter)
    }

    /// `len` characters of `alphabet`, each drawn uniformly (rejection sampling).
    fn string(&mut self, len: usize, alphabet: &[u8]) -> String {
        let n = alphabet.len() as u64;
        let zone = u64::MAX - u64::MAX % n;
        (0..len)
            .map(|_| loop {
                let draw = self.next_u64();
                if draw < zone {
                    break char::from(alphabet[(draw % n) as usize]);
                }
            })
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts connections until stopped, then closes and joins them. Returns the first panic
/// of a connection thread.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) -> Option<Panic> {
    let mut connections: Vec<(TcpStream, JoinHandle<()>)> = Vec::new();
    let mut panic = None;
    for stream in listener.incoming() {
        if shared.stop.is_cancelled() {
            break;
        }
        // An accept error (a client that gave up, no file descriptors left) concerns that
        // connection only.
        let Ok(stream) = stream else {
            continue;
        };
        reap_finished(&mut connections, &mut panic);
        if !wait_for_room(shared) {
            break;
        }
        let Ok(handle) = stream.try_clone() else {
            release(shared);
            continue;
        };
        let thread_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name("wks-simulator-connection".to_owned())
            .spawn(move || {
                let _place = Place(&thread_shared);
                // I/O errors here are clients going away mid-exchange: nothing to report.
                let _ = serve(stream, &thread_shared);
            });
        match spawned {
            Ok(thread) => connections.push((handle, thread)),
            Err(_) => release(shared),
        }
    }
    // Unblocks threads waiting for a client's next request or writing to a stalled one.
    for (stream, _) in &connections {
        let _ = stream.shutdown(Shutdown::Both);
    }
    for (_, thread) in connections {
        if let Err(payload) = thread.join() {
            panic.get_or_insert(payload);
        }
    }
    panic
}

/// Takes a place for a new connection, waiting (and asking idle connections to close)
/// while every place is taken. `false` when the server stops meanwhile.
fn wait_for_room(shared: &Shared) -> bool {
    let mut open = lock(&shared.open);
    while *open >= shared.limits.max_connections {
        if shared.stop.is_cancelled() {
            return false;
        }
        shared.crowded.store(true, Ordering::SeqCst);
        open = shared
            .freed
            .wait_timeout(open, IDLE_POLL)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    shared.crowded.store(false, Ordering::SeqCst);
    *open += 1;
    true
}

fn release(shared: &Shared) {
    *lock(&shared.open) -= 1;
    shared.freed.notify_all();
}

/// A connection's place, given back when its thread ends, however it ends.
struct Place<'a>(&'a Shared);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        release(self.0);
    }
}

/// Joins the connection threads that are done, so a long run holds no handle per request.
fn reap_finished(connections: &mut Vec<(TcpStream, JoinHandle<()>)>, panic: &mut Option<Panic>) {
    let (done, open) = connections
        .drain(..)
        .partition::<Vec<_>, _>(|(_, thread)| thread.is_finished());
    *connections = open;
    for (_, thread) in done {
        if let Err(payload) = thread.join() {
            panic.get_or_insert(payload);
        }
    }
}

/// Shuts the connection down when its thread ends, however it ends (a panic included): the
/// acceptor holds a clone of the socket, so dropping this thread's handles would not close it.
struct Connection(TcpStream);

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

/// A socket whose reads fail with `TimedOut` once `deadline` (real time) has passed.
struct Deadlined {
    stream: TcpStream,
    deadline: Option<Instant>,
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(SystemClock.now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                self.stream.set_read_timeout(Some(left))?;
            }
            None => self.stream.set_read_timeout(None)?,
        }
        self.stream.read(buf)
    }
}

/// Whether `error` is a read timing out (`WouldBlock` on Unix, `TimedOut` on Windows).
fn timed_out(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Waits for the first byte of the client's next request. `false` when the connection is
/// to close instead: the client closed it, it stayed idle too long, the server stops, or a
/// new client needs its place. Only a connection that has served a request and then sat
/// idle for a whole poll gives its place up: a new connection's request is on its way, and
/// closing a connection as its client reuses it would fail that client's request.
fn await_request(
    reader: &mut BufReader<Deadlined>,
    shared: &Shared,
    served: u64,
) -> io::Result<bool> {
    let idle_until = SystemClock.now() + shared.limits.idle_timeout;
    loop {
        if shared.stop.is_cancelled() {
            return Ok(false);
        }
        let now = SystemClock.now();
        if now >= idle_until {
            return Ok(false);
        }
        reader.get_mut().deadline = Some(now + IDLE_POLL.min(idle_until - now));
        match reader.fill_buf() {
            Ok(buffered) => return Ok(!buffered.is_empty()),
            Err(error) if timed_out(&error) => {
                if served > 0 && shared.crowded.load(Ordering::SeqCst) {
                    return Ok(false);
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Serves the requests of one connection until the client closes it or a reply ends it.
fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let connection = Connection(stream);
    // Replies are written in one piece; Nagle's algorithm would only add latency.
    connection.0.set_nodelay(true)?;
    // A client that does not read its answer must not hold a thread forever.
    connection
        .0
        .set_write_timeout(Some(shared.limits.request_timeout))?;
    let mut reader = BufReader::new(Deadlined {
        stream: connection.0.try_clone()?,
        deadline: None,
    });
    let mut writer = &connection.0;
    for served in 0.. {
        if !await_request(&mut reader, shared, served)? {
            return Ok(());
        }
        reader.get_mut().deadline = Some(SystemClock.now() + shared.limits.request_timeout);
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                return write_unlogged(
                    &mut writer,
                    400,
                    "Malformed HTTP request",
                    &error.to_string(),
                );
            }
            Err(error) if timed_out(&error) => {
                let detail = format!(
                    "the request was not received within {:?}",
                    shared.limits.request_timeout
                );
                return write_unlogged(&mut writer, 408, "Request timeout", &detail);
            }
            Err(error) => return Err(error),
        };
        reader.get_mut().deadline = None;
        if shared.stop.is_cancelled() {
            return Ok(());
        }
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let (path, query) = request
            .target
            .split_once('?')
            .unwrap_or((&request.target, ""));
        let reply = shared.service.handle(
            &Request {
                method: &request.method,
                path,
                query,
                headers: &headers,
                body: &request.body,
            },
            shared.clock.now().saturating_duration_since(shared.started),
            shared.clock.system_time(),
        );
        if let Delivery::After(delay) = reply.delivery {
            ThreadSleeper.sleep(delay, &shared.stop);
            if shared.stop.is_cancelled() {
                return Ok(());
            }
        }
        write_reply(&mut writer, &reply, &request)?;
        if !request.keep_alive || reply.delivery == Delivery::HalfThenDrop {
            return Ok(());
        }
    }
    Ok(())
}

/// One parsed request.
#[derive(Debug)]
struct HttpRequest {
    method: String,
    /// Path and query, as on the request line.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

fn malformed(reason: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

/// Reads one request; `None` when the client closed the connection between requests.
/// Malformed requests are `InvalidData` errors.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<HttpRequest>> {
    // RFC 9112 asks servers to ignore empty lines before a request line.
    let line = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("malformed request line"));
    };
    let persistent_by_default = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(malformed("unsupported HTTP version")),
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or(io::ErrorKind::UnexpectedEof)?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(malformed("too many headers"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("malformed header line"))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    if header("transfer-encoding").is_some() {
        return Err(malformed("chunked request bodies are not supported"));
    }
    let length = match header("content-length") {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_REQUEST_BODY)
            .ok_or_else(|| malformed("invalid or too large Content-Length"))?,
    };
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let keep_alive = match header("connection") {
        Some(value) if value.contains("close") => false,
        Some(value) if value.contains("keep-alive") => true,
        _ => persistent_by_default,
    };
    Ok(Some(HttpRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body,
        keep_alive,
    }))
}

/// One CRLF- (or LF-) terminated line, without its terminator; `None` at end of stream.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        return Err(if read as u64 == MAX_LINE {
            malformed("line too long")
        } else {
            io::ErrorKind::UnexpectedEof.into()
        });
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| malformed("header is not UTF-8"))
}

/// Writes the reply in one piece: head, then the body, or half of it for a dropped
/// connection (the head still announcing all of it).
fn write_reply(writer: &mut impl Write, reply: &Reply, request: &HttpRequest) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        reply.status,
        reason_phrase(reply.status)
    );
    for (name, value) in &reply.headers {
        // Writing to a String cannot fail.
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(
        head,
        "Content-Length: {}\r\nServer: wks-waiter-simulator\r\n",
        reply.body.len()
    );
    if !request.keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if request.method != "HEAD" {
        let sent = match reply.delivery {
            Delivery::HalfThenDrop => &reply.body[..reply.body.len() / 2],
            Delivery::Whole | Delivery::After(_) => &reply.body[..],
        };
        out.extend_from_slice(sent);
    }
    writer.write_all(&out)?;
    writer.flush()
}

/// An error for a request that could not be read (malformed, or too slow), outside the
/// request log (there is no request to log). The connection is closed after it.
fn write_unlogged(
    writer: &mut impl Write,
    status: u16,
    message: &str,
    detail: &str,
) -> io::Result<()> {
    let code = if status == 408 {
        "WKS.0408"
    } else {
        "WKS.0001"
    };
    let body = serde_json::json!({
        "error_code": code,
        "error_msg": message,
        "error_detail": detail,
        "request_id": "sim-unparsed",
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nX-Request-Id: sim-unparsed\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason_phrase(status),
        body.len()
    );
    writer.write_all(response.as_bytes())?;
    writer.flush()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::SystemTime;

    use crate::simulator::{Fault, FaultPlan};

    /// A clock that panics once armed: a way to make a handler thread panic.
    #[derive(Debug, Default)]
    struct Tripwire {
        armed: AtomicBool,
    }

    impl Clock for Tripwire {
        fn now(&self) -> Instant {
            assert!(!self.armed.load(Ordering::SeqCst), "tripwire");
            SystemClock.now()
        }

        fn system_time(&self) -> SystemTime {
            SystemClock.system_time()
        }
    }

    #[test]
    fn a_handler_panic_is_raised_again_on_drop() {
        let clock = Arc::new(Tripwire::default());
        let sim = Simulator::builder(Scenario::new())
            .clock(clock.clone())
            .start()
            .unwrap();
        clock.armed.store(true, Ordering::SeqCst);
        let mut stream = TcpStream::connect(sim.addr).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        // The panicking thread drops the connection without answering.
        let _ = stream.read_to_end(&mut answer);
        assert!(answer.is_empty());
        let raised = catch_unwind(AssertUnwindSafe(|| drop(sim))).unwrap_err();
        assert_eq!(raised.downcast_ref::<&str>(), Some(&"tripwire"));
    }

    #[test]
    fn drop_interrupts_slow_responses_and_idle_connections() {
        let sim = Simulator::builder(Scenario::desktops("job-1", 1))
            .faults(FaultPlan::new().always(Fault::Slow(Duration::from_secs(3600))))
            .start()
            .unwrap();
        let _idle = TcpStream::connect(sim.addr).unwrap();
        let mut waiting = TcpStream::connect(sim.addr).unwrap();
        waiting.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        while sim.requests().is_empty() {
            thread::yield_now();
        }
        // Returns at once (the test would hang otherwise) although an answer is due in an hour.
        drop(sim);
        let mut answer = Vec::new();
        waiting.read_to_end(&mut answer).unwrap();
        assert!(answer.is_empty());
    }

    #[test]
    fn a_malformed_request_gets_a_400_and_a_closed_connection() {
        let sim = Simulator::start(Scenario::new()).unwrap();
        let mut stream = TcpStream::connect(sim.addr).unwrap();
        stream.write_all(b"NONSENSE\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(answer.contains("X-Request-Id: sim-unparsed"), "{answer}");
        assert!(answer.ends_with('}'), "{answer}");
        assert!(sim.requests().is_empty());
    }

    fn parse(raw: &str) -> io::Result<Option<HttpRequest>> {
        read_request(&mut io::BufReader::new(raw.as_bytes()))
    }

    #[test]
    fn requests_parse_with_headers_body_and_persistence() {
        let request = parse(
            "\r\nGET /v2/p/workspace-sub-jobs?job_id=j HTTP/1.1\r\nHost: 127.0.0.1:8\r\n\
             X-Sdk-Date:  20260101T000000Z \r\nContent-Length: 2\r\n\r\n{}",
        )
        .unwrap()
        .unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/v2/p/workspace-sub-jobs?job_id=j");
        assert_eq!(
            request.headers[1],
            ("X-Sdk-Date".into(), "20260101T000000Z".into())
        );
        assert_eq!(request.body, b"{}");
        assert!(request.keep_alive);
        let old = parse("GET / HTTP/1.0\n\n").unwrap().unwrap();
        assert!(!old.keep_alive);
        let closing = parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!closing.keep_alive);
        assert!(parse("").unwrap().is_none());
    }

    #[test]
    fn malformed_requests_are_invalid_data() {
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(20_000));
        for raw in [
            "GET /\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n\r\n",
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            long.as_str(),
        ] {
            let err = parse(raw).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{raw:.40}");
        }
        let cut = parse("GET / HTTP/1.1\r\nHost: x").unwrap_err();
        assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof);
    }
}
