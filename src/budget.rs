//! A request budget shared by every client and waiter holding a clone, and by every process
//! of the user on this machine that names the same access key, so that together they stay
//! under the API gateway's throttle instead of retrying it.

mod file;
mod state;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Error;
use crate::time::{Cancellation, Clock, Sleeper, SystemClock};

use file::SharedFile;
use state::{nanos, Limits, State};

/// The most a budget may allow per window: the log keeps one entry per send.
const MAX_LIMIT: u32 = 10_000;

/// How much a request matters when the budget runs short.
///
/// [`Routine`](Priority::Routine) requests leave a share of the limit unused (see
/// [`RateBudgetBuilder::priority_headroom`]) that only [`Important`](Priority::Important)
/// ones may take, so a waiter short of budget delays its low-value polls first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum Priority {
    /// A poll that may as well come later: the next routine check of a job in progress.
    #[default]
    Routine,
    /// A request whose delay costs the caller: the next page of a listing in progress
    /// (the pages before it go stale while it waits), the final confirmation of a job that
    /// looks finished, a retry the caller is blocked on.
    Important,
}

/// Why [`RateBudget::acquire`] returned without allowing a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcquireError {
    /// The cancellation was cancelled.
    #[error("cancelled while waiting for the request budget")]
    Cancelled,
    /// The budget allows no request within the time the caller gave.
    #[error("the request budget allows no request before the deadline (next one in {next:?})")]
    Deadline {
        /// How long from now until the budget would allow one, if nothing else is sent.
        next: Duration,
    },
}

/// A budget of requests: at most `limit` in *any* `window`-long interval, shared by every
/// clone, and across processes when asked.
///
/// Callers ask before each request with [`try_acquire`](Self::try_acquire) (or wait with
/// [`acquire`](Self::acquire)) and report each 429 with
/// [`on_throttled`](Self::on_throttled).
///
/// # The limit
///
/// The budget keeps a log of the time of every request it allowed within the last window
/// and allows a request only while fewer than the limit are in it. So "100 per minute"
/// means at most 100 in any minute, bursts included: 100 at 12:00:30 and none again until
/// 12:01:31.2 — not the 200 in a minute a token bucket refilling at 100/min would let
/// through (a full bucket, then its refill). A request counts for the window and a
/// fiftieth more (1.2 s of a minute): the gateway counts a request when it arrives, and
/// two requests seldom take the same time to get there. [`try_acquire`](Self::try_acquire) says
/// exactly when the next request would be allowed.
///
/// The default, 100 requests per minute ([`RateBudget::DEFAULT_LIMIT`]), is half of the
/// 200 calls per minute Workspace documents per user and per GET API: that limit counts
/// every machine and tool of the user (the console, Terraform, other scripts), while this
/// budget sees only the processes of one machine.
///
/// # After a 429
///
/// A 429 means the real limit is lower than the budget thought (other tools share it, or
/// the gateway applies a tighter policy), so the budget adapts as the AWS SDKs' adaptive
/// retry mode does, on its own time scale:
///
/// - the limit drops to 0.7 × `W_max`, where `W_max` is the rate that was throttled: the
///   requests in the window when the 429 came (capped by the limit then in force), and
///   at least a quarter of the configured limit: a 429 that comes when this budget sent
///   little says others share the account's limit, and cutting to 0.7 × 3 would hold the
///   next request for most of a window (the AWS SDKs keep a minimum rate too);
/// - it then regrows along the cubic `L(τ) = W_max (1 + 0.3 (τ − 1)³)`, with `τ` the time
///   since the cut in windows: AWS's curve `0.4 (t − K)³ + W_max` with the scale chosen
///   so that `K`, the time to regain `W_max`, is one window — when every request that
///   preceded the 429 has left the window. It stays within 4 % of `W_max` from half a
///   window to a window and a half, then grows past it (1.3 × `W_max` after two windows,
///   3.4 × after three) until it reaches the configured limit. For example, throttled at 100
///   per minute, it allows 70 right after, 96 at 30 s, 100 at one minute, 130 after two;
/// - the service's `Retry-After` is a pause for every priority, never shortened (capped at
///   [`RateBudget::MAX_RETRY_AFTER`]);
/// - 429s answering requests sent before the last cut (no request was allowed since) are
///   echoes of the same overload: they may lengthen the pause but do not cut again, so a
///   burst of in-flight requests coming back throttled costs one cut, not 0.7ⁿ.
///
/// Unlike the AWS SDKs, the limit applies from the start rather than only after the first
/// 429: avoiding the throttle is the point.
///
/// # Priorities
///
/// [`Priority::Routine`] requests may fill the window only up to the limit minus the
/// headroom (20 % by default, rounded up to whole requests: 80 of 100); the last 20 are
/// for [`Priority::Important`] requests. A limit of one request per window cannot be split,
/// and routine requests then share it rather than starve.
///
/// # Sharing
///
/// Clones share one budget. With
/// [`share_across_processes`](RateBudgetBuilder::share_across_processes), every process
/// of the user on this machine that names the same access key (and window) shares it too,
/// through a state file under `$XDG_RUNTIME_DIR/wks-waiter/` (or a private directory under
/// the temporary directory), locked only while a request is counted. Each process applies
/// its own limit to the shared log. A process that dies
/// holding the lock releases it with its death. A state file that cannot be trusted
/// (corrupt, truncated, foreign, unreadable) is replaced with a warning by one that allows
/// nothing for a window — it may have counted a full window of requests made just now.
/// If the directory or the file cannot be used, the budget warns once and is shared within
/// the process only.
///
/// Times in the state file are wall-clock times read from the budget's
/// [`Clock`]. If the system clock jumps back, requests then appear to
/// have been made "now" and count for one more window (and its guard), never longer.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use wks_waiter::test_util::ManualClock;
/// use wks_waiter::budget::Priority;
/// use wks_waiter::RateBudget;
///
/// let clock = Arc::new(ManualClock::at_2026());
/// let budget = RateBudget::builder()
///     .limit(2)
///     .window(Duration::from_secs(60))
///     .clock(clock.clone())
///     .build()?;
/// let waiter_side = budget.clone(); // the same budget
/// assert_eq!(budget.try_acquire(Priority::Important), Ok(()));
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(waiter_side.try_acquire(Priority::Important), Ok(()));
/// // Two in the last minute: the next one when the first stops counting, a minute and
/// // its 1.2 s guard after it was sent, at 61.2 s.
/// assert_eq!(
///     budget.try_acquire(Priority::Important),
///     Err(Duration::from_millis(51_200))
/// );
/// clock.advance(Duration::from_millis(51_200));
/// assert_eq!(waiter_side.try_acquire(Priority::Important), Ok(()));
/// # Ok::<(), wks_waiter::Error>(())
/// ```
#[derive(Clone)]
pub struct RateBudget {
    inner: Arc<Inner>,
}

struct Inner {
    limits: Limits,
    window: Duration,
    clock: Arc<dyn Clock>,
    store: Mutex<Store>,
    /// The state file, while it is in use.
    file: Option<PathBuf>,
    shared: AtomicBool,
}

enum Store {
    /// Shared by clones only.
    Local(State),
    /// Shared through a file; `mirror` is the state last read or written, what the budget
    /// continues from if the file fails.
    Shared { file: SharedFile, mirror: State },
}

impl RateBudget {
    /// Default limit: 100 requests per window, half the documented 200 calls per minute
    /// per user and GET API (see [`RateBudget`]).
    pub const DEFAULT_LIMIT: u32 = 100;
    /// Default window: one minute, the period of Workspace's documented limits.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
    /// Default share of the limit routine requests leave to important ones.
    pub const DEFAULT_PRIORITY_HEADROOM: f64 = 0.2;
    /// The highest limit a budget accepts.
    pub const MAX_LIMIT: u32 = MAX_LIMIT;
    /// The shortest window a budget accepts.
    pub const MIN_WINDOW: Duration = Duration::from_millis(1);
    /// The longest window a budget accepts.
    pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
    /// The longest pause a `Retry-After` imposes: three times the longest throttling
    /// period seen on Huawei's gateway (5 minutes). A longer value is more likely a proxy's
    /// mistake than a reason to stall every process of the machine.
    pub const MAX_RETRY_AFTER: Duration = state::MAX_RETRY_AFTER;

    /// A budget of `n` requests per minute, shared by its clones (not across processes).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `n` is 0 or above [`RateBudget::MAX_LIMIT`].
    pub fn per_minute(n: u32) -> Result<Self, Error> {
        Self::builder().limit(n).build()
    }

    /// A builder, to set the window, share across processes, or inject a clock.
    pub fn builder() -> RateBudgetBuilder {
        RateBudgetBuilder::default()
    }

    /// Asks to send one request now.
    ///
    /// `Ok(())`: send it; it is counted. `Err(wait)`: do not send; ask again after `wait`
    /// (at least 1 ns), when the budget would allow it if nothing else is sent meanwhile —
    /// another caller may take the place first, so ask again rather than send.
    pub fn try_acquire(&self, priority: Priority) -> Result<(), Duration> {
        let limits = self.inner.limits;
        self.with_state(|state, now| state.try_acquire(now, &limits, priority))
            .map_err(Duration::from_nanos)
    }

    /// Waits through `sleeper` until the budget allows a request, and counts it.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Cancelled`] when `cancel` is cancelled (before or while waiting);
    /// [`AcquireError::Deadline`] as soon as it is known that no request would be allowed
    /// within `max_wait` of the call (measured by the budget's clock) — without sleeping
    /// in vain.
    pub fn acquire(
        &self,
        priority: Priority,
        sleeper: &dyn Sleeper,
        cancel: &Cancellation,
        max_wait: Duration,
    ) -> Result<(), AcquireError> {
        let start = self.inner.clock.now();
        loop {
            if cancel.is_cancelled() {
                return Err(AcquireError::Cancelled);
            }
            let wait = match self.try_acquire(priority) {
                Ok(()) => return Ok(()),
                Err(wait) => wait,
            };
            let waited = self.inner.clock.now().saturating_duration_since(start);
            if waited.saturating_add(wait) > max_wait {
                return Err(AcquireError::Deadline { next: wait });
            }
            sleeper.sleep(wait, cancel);
        }
    }

    /// Reports a 429 for a request this budget allowed, with the response's `Retry-After`
    /// if it had one: cuts the limit and pauses as described under
    /// [After a 429](RateBudget#after-a-429).
    pub fn on_throttled(&self, retry_after: Option<Duration>) {
        let limits = self.inner.limits;
        self.with_state(|state, now| state.on_throttled(now, &limits, retry_after));
    }

    /// The configured limit: requests per window.
    pub fn limit(&self) -> u32 {
        self.inner.limits.limit
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.inner.window
    }

    /// The limit in force now for [`Priority::Important`] requests: the configured one, or
    /// less while it regrows after a 429.
    pub fn current_limit(&self) -> u32 {
        let limits = self.inner.limits;
        self.with_state(|state, now| state.limit_at(now, &limits))
    }

    /// The state file shared with other processes; `None` when the budget is shared within
    /// this process only (not asked to, or the file could not be used).
    pub fn state_file(&self) -> Option<PathBuf> {
        if self.inner.shared.load(Ordering::SeqCst) {
            self.inner.file.clone()
        } else {
            None
        }
    }

    /// Runs `change` on the state: in memory, or under the state file's lock. If the file
    /// fails, warns once and continues in memory from the state last seen.
    fn with_state<R>(&self, mut change: impl FnMut(&mut State, u64) -> R) -> R {
        let inner = &*self.inner;
        let now = wall_nanos(inner.clock.system_time());
        let mut store = inner.store.lock().unwrap_or_else(PoisonError::into_inner);
        let mut fallback = match &mut *store {
            Store::Local(state) => return change(state, now),
            Store::Shared { file, mirror } => {
                match file.transact(now, &inner.limits, mirror, &mut |state| change(state, now)) {
                    Ok(value) => return value,
                    Err(e) => {
                        log::warn!(
                            "rate budget: {} failed ({e}); the budget is now shared within this process only",
                            file.path().display()
                        );
                        std::mem::take(mirror)
                    }
                }
            }
        };
        inner.shared.store(false, Ordering::SeqCst);
        let value = change(&mut fallback, now);
        *store = Store::Local(fallback);
        value
    }
}

impl fmt::Debug for RateBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateBudget")
            .field("limit", &self.inner.limits.limit)
            .field("window", &self.inner.window)
            .field("priority_headroom", &self.inner.limits.headroom)
            .field("state_file", &self.state_file())
            .finish()
    }
}

/// Nanoseconds since the Unix epoch; 0 for a clock set before it.
fn wall_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, nanos)
}

/// Configures a [`RateBudget`].
///
/// # Default
///
/// | setting | default |
/// |---|---|
/// | [`limit`](Self::limit) | 100 requests per window ([`RateBudget::DEFAULT_LIMIT`]) |
/// | [`window`](Self::window) | 1 minute |
/// | [`priority_headroom`](Self::priority_headroom) | 0.2: routine requests use at most 80 % |
/// | [`share_across_processes`](Self::share_across_processes) | off: only clones share |
/// | [`state_dir`](Self::state_dir) | `$XDG_RUNTIME_DIR/wks-waiter`, else `wks-waiter-<uid>` under the temporary directory |
/// | [`clock`](Self::clock) | the system clock |
#[derive(Clone)]
#[must_use = "a builder does nothing until `build()`"]
pub struct RateBudgetBuilder {
    limit: u32,
    window: Duration,
    headroom: f64,
    key: Option<String>,
    state_dir: Option<PathBuf>,
    clock: Arc<dyn Clock>,
}

impl Default for RateBudgetBuilder {
    fn default() -> Self {
        Self {
            limit: RateBudget::DEFAULT_LIMIT,
            window: RateBudget::DEFAULT_WINDOW,
            headroom: RateBudget::DEFAULT_PRIORITY_HEADROOM,
            key: None,
            state_dir: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for RateBudgetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateBudgetBuilder")
            .field("limit", &self.limit)
            .field("window", &self.window)
            .field("priority_headroom", &self.headroom)
            // The key names the account; it is only ever written hashed.
            .field("shared_across_processes", &self.key.is_some())
            .field("state_dir", &self.state_dir)
            .field("clock", &self.clock)
            .finish()
    }
}

impl RateBudgetBuilder {
    /// Requests allowed in any window, `1..=10000`.
    ///
    /// Defaults to 100 ([`RateBudget::DEFAULT_LIMIT`]).
    pub fn limit(mut self, requests: u32) -> Self {
        self.limit = requests;
        self
    }

    /// The window the limit applies to, from 1 ms to a day.
    ///
    /// Defaults to one minute.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The share of the limit that [`Priority::Routine`] requests leave unused for
    /// [`Priority::Important`] ones, in `0.0..1.0`, rounded up to whole requests. `0.0`
    /// treats both alike.
    ///
    /// Defaults to 0.2: with the default limit, routine requests use at most 80 of 100.
    pub fn priority_headroom(mut self, fraction: f64) -> Self {
        self.headroom = fraction;
        self
    }

    /// Shares the budget with every process of this user on this machine that names the
    /// same `access_key` and window, through a state file named by a hash of the key (the
    /// key itself is never written). Pass the access key (AK) the requests are signed with,
    /// so that every process signing with it draws on one budget. Each process applies its
    /// own limit and headroom to the shared log: one configured lower stops first.
    ///
    /// Defaults to off: the budget is shared by its clones only.
    pub fn share_across_processes(mut self, access_key: impl Into<String>) -> Self {
        self.key = Some(access_key.into());
        self
    }

    /// The directory of the state file. Created (mode 0700) if missing; a directory you
    /// name is used with the permissions it has, so a group directory can share a budget
    /// between users.
    ///
    /// Defaults to `$XDG_RUNTIME_DIR/wks-waiter`, else `wks-waiter-<uid>` under
    /// [`std::env::temp_dir`], created 0700 and refused (falling back to sharing within
    /// the process) if open to other users.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The clock the budget reads: wall-clock time for the log, monotonic time for
    /// [`RateBudget::acquire`]'s `max_wait`. Tests inject a
    /// [`ManualClock`](crate::test_util::ManualClock).
    ///
    /// Defaults to the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates and builds. A state directory or file that cannot be used is not an
    /// error: the budget warns and is shared within the process only (see
    /// [`RateBudget::state_file`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the bad value: a limit of 0 or above 10,000, a
    /// window under 1 ms or over a day, a headroom outside `0.0..1.0`, an empty access key,
    /// or a state directory without [`share_across_processes`](Self::share_across_processes).
    pub fn build(self) -> Result<RateBudget, Error> {
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(Error::invalid(
                "limit",
                self.limit,
                &format!("must be between 1 and {MAX_LIMIT} requests per window"),
            ));
        }
        if !(RateBudget::MIN_WINDOW..=RateBudget::MAX_WINDOW).contains(&self.window) {
            return Err(Error::invalid(
                "window",
                format_args!("{:?}", self.window),
                "must be between 1 ms and 24 hours",
            ));
        }
        if !(0.0..1.0).contains(&self.headroom) {
            return Err(Error::invalid(
                "priority_headroom",
                self.headroom,
                "must be at least 0.0 and below 1.0",
            ));
        }
        if self.key.as_deref().is_some_and(str::is_empty) {
            return Err(Error::invalid(
                "share_across_processes",
                "",
                "the access key must not be empty",
            ));
        }
        if let (Some(dir), None) = (&self.state_dir, &self.key) {
            return Err(Error::invalid(
                "state_dir",
                dir.display(),
                "takes effect only with share_across_processes(access_key)",
            ));
        }
        let limits = Limits {
            limit: self.limit,
            window_ns: nanos(self.window),
            headroom: self.headroom,
        };
        let shared = self.key.as_deref().and_then(|key| {
            let (dir, private) = match &self.state_dir {
                Some(dir) => (dir.clone(), false),
                None => (
                    file::default_dir(std::env::var_os("XDG_RUNTIME_DIR"), &std::env::temp_dir()),
                    true,
                ),
            };
            SharedFile::open(&dir, private, key, &limits)
                .inspect_err(|reason| {
                    log::warn!(
                        "rate budget: {reason}; the budget is shared within this process only"
                    );
                })
                .ok()
        });
        let file = shared.as_ref().map(|file| file.path().to_owned());
        let store = match shared {
            Some(file) => Store::Shared {
                file,
                mirror: State::default(),
            },
            None => Store::Local(State::default()),
        };
        Ok(RateBudget {
            inner: Arc::new(Inner {
                limits,
                window: self.window,
                clock: self.clock,
                store: Mutex::new(store),
                shared: AtomicBool::new(file.is_some()),
                file,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{virtual_time, ManualClock};
    use std::fs;
    use std::path::Path;
    use std::sync::atomic::AtomicU32;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// How long a send counts past the window: a fiftieth of it (1.2 s of a minute), as the
    /// gateway may see two sends made a window apart arrive within one.
    fn guard(window: Duration) -> Duration {
        window / 50
    }

    /// How long a send counts: the window and its guard (61.2 s of a minute).
    fn hold(window: Duration) -> Duration {
        window + guard(window)
    }

    /// A directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            let path = std::env::temp_dir()
                .join(format!("wks-budget-unit-{}-{n}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn shared(dir: &Path, clock: &Arc<ManualClock>, limit: u32) -> RateBudget {
        RateBudget::builder()
            .limit(limit)
            .clock(clock.clone())
            .share_across_processes("AKIDBUDGETTEST")
            .state_dir(dir)
            .build()
            .unwrap()
    }

    /// Takes everything `budget` allows now; returns how many.
    fn drain(budget: &RateBudget, priority: Priority) -> usize {
        std::iter::from_fn(|| budget.try_acquire(priority).ok()).count()
    }

    #[test]
    fn the_budget_is_clone_debug_send_and_sync() {
        fn assert_traits<T: Clone + fmt::Debug + Send + Sync + 'static>() {}
        assert_traits::<RateBudget>();
        assert_traits::<RateBudgetBuilder>();
    }

    #[test]
    fn per_minute_allows_n_in_any_minute_and_clones_share() {
        let (clock, _) = virtual_time();
        let budget = RateBudget::builder()
            .limit(3)
            .clock(clock.clone())
            .build()
            .unwrap();
        let clone = budget.clone();
        assert_eq!(budget.try_acquire(Priority::Important), Ok(()));
        clock.advance(secs(20));
        assert_eq!(clone.try_acquire(Priority::Important), Ok(()));
        assert_eq!(budget.try_acquire(Priority::Important), Ok(()));
        // The first send counts for a window and its guard: until 61.2 s.
        let until_first_leaves = secs(40) + guard(secs(60));
        assert_eq!(
            clone.try_acquire(Priority::Important),
            Err(until_first_leaves)
        );
        clock.advance(until_first_leaves);
        assert_eq!(clone.try_acquire(Priority::Important), Ok(()));
        assert_eq!(budget.try_acquire(Priority::Important), Err(secs(20)));
        let default = RateBudget::per_minute(100).unwrap();
        assert_eq!((default.limit(), default.window()), (100, secs(60)));
        assert_eq!(default.state_file(), None);
    }

    #[test]
    fn acquire_sleeps_exactly_until_each_send_is_allowed() {
        let (clock, sleeper) = virtual_time();
        let budget = RateBudget::builder()
            .limit(2)
            .window(secs(10))
            .clock(clock.clone())
            .build()
            .unwrap();
        let cancel = Cancellation::new();
        let mut sent_at = Vec::new();
        for _ in 0..5 {
            budget
                .acquire(Priority::Important, &*sleeper, &cancel, secs(60))
                .unwrap();
            sent_at.push(clock.elapsed());
        }
        // Two per window and its guard: 10.2 s.
        let hold = hold(secs(10));
        let zero = Duration::ZERO;
        assert_eq!(sent_at, [zero, zero, hold, hold, 2 * hold]);
        assert_eq!(sleeper.sleeps(), [hold, hold]);
    }

    #[test]
    fn acquire_gives_up_at_the_deadline_without_sleeping_in_vain_and_on_cancel() {
        let (clock, sleeper) = virtual_time();
        let budget = RateBudget::builder()
            .limit(1)
            .clock(clock.clone())
            .build()
            .unwrap();
        let cancel = Cancellation::new();
        budget
            .acquire(Priority::Routine, &*sleeper, &cancel, secs(0))
            .unwrap();
        // The next send is a window and its guard away: a window is too short to wait.
        assert_eq!(
            budget.acquire(Priority::Routine, &*sleeper, &cancel, secs(60)),
            Err(AcquireError::Deadline {
                next: hold(secs(60))
            })
        );
        assert!(sleeper.sleeps().is_empty());
        cancel.cancel();
        assert_eq!(
            budget.acquire(Priority::Routine, &*sleeper, &cancel, secs(600)),
            Err(AcquireError::Cancelled)
        );
        assert_eq!(clock.elapsed(), Duration::ZERO);
    }

    #[test]
    fn a_429_with_retry_after_holds_every_clone_then_the_limit_regrows() {
        let (clock, _) = virtual_time();
        let budget = RateBudget::builder()
            .limit(20)
            .clock(clock.clone())
            .build()
            .unwrap();
        for _ in 0..10 {
            budget.try_acquire(Priority::Important).unwrap();
        }
        budget.clone().on_throttled(Some(secs(90)));
        assert_eq!(budget.current_limit(), 7);
        assert_eq!(budget.try_acquire(Priority::Important), Err(secs(90)));
        clock.advance(secs(90));
        // τ = 1.5 windows: 10 (1 + 0.3 × 0.125) = 10.375.
        assert_eq!(budget.current_limit(), 10);
        assert_eq!(drain(&budget, Priority::Important), 10);
        clock.advance(secs(30));
        // τ = 2: 13, of which 10 were sent 30 s ago.
        assert_eq!(budget.current_limit(), 13);
        assert_eq!(drain(&budget, Priority::Important), 3);
    }

    #[test]
    fn separate_budgets_naming_one_key_share_one_file() {
        let dir = TempDir::new("share");
        let (clock, _) = virtual_time();
        let first = shared(&dir.0, &clock, 10);
        let second = shared(&dir.0, &clock, 10);
        let path = first.state_file().unwrap();
        assert_eq!(second.state_file().as_ref(), Some(&path));
        assert!(path.starts_with(&dir.0));
        assert!(!path.to_string_lossy().contains("AKIDBUDGETTEST"));
        assert_eq!(drain(&first, Priority::Routine), 8);
        assert_eq!(drain(&second, Priority::Routine), 0);
        assert_eq!(drain(&second, Priority::Important), 2);
        assert_eq!(first.try_acquire(Priority::Important), Err(hold(secs(60))));
        // A 429 seen by one is obeyed by the other.
        clock.advance(hold(secs(60)));
        second.on_throttled(Some(secs(5)));
        assert_eq!(first.try_acquire(Priority::Important), Err(secs(5)));
        // A budget of a different window keeps its own log.
        let hourly = RateBudget::builder()
            .limit(1)
            .window(secs(3_600))
            .clock(clock.clone())
            .share_across_processes("AKIDBUDGETTEST")
            .state_dir(&dir.0)
            .build()
            .unwrap();
        assert_ne!(hourly.state_file(), Some(path));
        assert_eq!(hourly.try_acquire(Priority::Important), Ok(()));
    }

    #[cfg(unix)]
    #[test]
    fn the_state_file_and_its_lock_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("modes");
        let (clock, _) = virtual_time();
        let budget = shared(&dir.0.join("made"), &clock, 5);
        budget.try_acquire(Priority::Routine).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let file = budget.state_file().unwrap();
        assert_eq!(mode(&dir.0.join("made")), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&file.with_extension("lock")), 0o600);
    }

    #[test]
    fn a_state_file_that_cannot_be_trusted_is_replaced_by_a_pause_as_long_as_a_send_counts() {
        let (clock, _) = virtual_time();
        let dir = TempDir::new("corrupt");
        let path = shared(&dir.0, &clock, 5).state_file().unwrap();
        let valid = {
            let budget = shared(&dir.0, &clock, 5);
            budget.try_acquire(Priority::Important).unwrap();
            fs::read_to_string(&path).unwrap()
        };
        let foreign = valid.replace("wks-waiter rate budget", "something else");
        let other_window = valid.replace("60000000000", "30000000000");
        let unsorted = r#"{"format":"wks-waiter rate budget","version":1,"window_ns":60000000000,
            "state":{"sends":[2,1],"last_send":2,"not_before":0,"throttle":null}}"#;
        let cases = [
            ("garbage", "\u{1}\u{2} not json".to_owned()),
            ("empty", String::new()),
            ("truncated", valid[..valid.len() / 2].to_owned()),
            ("foreign", foreign),
            ("other window", other_window),
            ("unsorted", unsorted.to_owned()),
        ];
        for (name, content) in cases {
            fs::write(&path, content).unwrap();
            let budget = shared(&dir.0, &clock, 5);
            assert_eq!(
                budget.try_acquire(Priority::Important),
                Err(hold(secs(60))),
                "{name}"
            );
            assert_eq!(budget.state_file().as_ref(), Some(&path), "{name}");
            // Replaced by a valid file that every process now obeys.
            let replaced = fs::read_to_string(&path).unwrap();
            assert!(
                replaced.starts_with(r#"{"format":"wks-waiter rate budget""#),
                "{name}"
            );
            let other = shared(&dir.0, &clock, 5);
            assert_eq!(
                other.try_acquire(Priority::Important),
                Err(hold(secs(60))),
                "{name}"
            );
            clock.advance(hold(secs(60)));
            assert_eq!(drain(&other, Priority::Important), 5, "{name}");
            clock.advance(secs(60));
        }
    }

    #[test]
    fn an_unusable_directory_falls_back_to_sharing_in_process() {
        let (clock, _) = virtual_time();
        let dir = TempDir::new("unusable");
        let not_a_dir = dir.0.join("file");
        fs::write(&not_a_dir, "x").unwrap();
        for unusable in [not_a_dir.clone(), not_a_dir.join("below")] {
            let budget = shared(&unusable, &clock, 3);
            assert_eq!(budget.state_file(), None);
            // Still a budget: the clones share it.
            assert_eq!(drain(&budget.clone(), Priority::Important), 3);
            assert_eq!(budget.try_acquire(Priority::Important), Err(hold(secs(60))));
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_default_directory_open_to_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("open");
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o755)).unwrap();
        let limits = Limits {
            limit: 1,
            window_ns: 60_000_000_000,
            headroom: 0.0,
        };
        let refused = SharedFile::open(&dir.0, true, "AK", &limits).unwrap_err();
        assert!(refused.contains("mode 755"), "{refused}");
        // A directory the user named is taken as it is.
        assert!(SharedFile::open(&dir.0, false, "AK", &limits).is_ok());
    }

    #[test]
    fn a_directory_removed_mid_life_falls_back_with_what_was_counted() {
        let (clock, _) = virtual_time();
        let dir = TempDir::new("removed");
        let budget = shared(&dir.0, &clock, 4);
        assert_eq!(drain(&budget, Priority::Important), 4);
        fs::remove_dir_all(&dir.0).unwrap();
        clock.advance(secs(30));
        // The four sends are not forgotten: nothing until they stop counting, a window and
        // its guard after they were made.
        let left = secs(30) + guard(secs(60));
        assert_eq!(budget.try_acquire(Priority::Important), Err(left));
        assert_eq!(budget.state_file(), None);
        clock.advance(left);
        assert_eq!(drain(&budget, Priority::Important), 4);
    }

    #[test]
    fn a_state_file_that_can_be_neither_read_nor_replaced_pauses_then_falls_back() {
        let (clock, _) = virtual_time();
        let dir = TempDir::new("unreadable");
        let budget = shared(&dir.0, &clock, 4);
        assert_eq!(budget.try_acquire(Priority::Important), Ok(()));
        // A directory in the state file's place: reading it and renaming onto it fail.
        let path = budget.state_file().unwrap();
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        clock.advance(secs(1));
        // Other processes' sends may have been in it: a pause as long as a send counts.
        assert_eq!(budget.try_acquire(Priority::Important), Err(hold(secs(60))));
        assert_eq!(budget.state_file(), None);
        clock.advance(hold(secs(60)));
        assert_eq!(drain(&budget, Priority::Important), 4);
    }

    #[test]
    fn build_names_every_bad_value() {
        let cases: [(RateBudgetBuilder, &str); 9] = [
            (RateBudget::builder().limit(0), "invalid limit `0`"),
            (RateBudget::builder().limit(10_001), "invalid limit `10001`"),
            (
                RateBudget::builder().window(Duration::ZERO),
                "invalid window `0ns`",
            ),
            (
                RateBudget::builder().window(Duration::from_micros(999)),
                "invalid window `999µs`",
            ),
            (
                RateBudget::builder().window(Duration::MAX),
                "invalid window `18446744073709551615.999999999s`",
            ),
            (
                RateBudget::builder().priority_headroom(1.0),
                "invalid priority_headroom `1`",
            ),
            (
                RateBudget::builder().priority_headroom(f64::NAN),
                "invalid priority_headroom `NaN`",
            ),
            (
                RateBudget::builder().share_across_processes(""),
                "invalid share_across_processes ``",
            ),
            (
                RateBudget::builder().state_dir("/some/dir"),
                "invalid state_dir `/some/dir`",
            ),
        ];
        for (builder, expected) in cases {
            let message = builder.build().unwrap_err().to_string();
            assert!(message.starts_with(expected), "{message}");
        }
        assert!(RateBudget::per_minute(0).is_err());
        assert!(RateBudget::builder()
            .limit(RateBudget::MAX_LIMIT)
            .window(RateBudget::MAX_WINDOW)
            .priority_headroom(0.0)
            .build()
            .is_ok());
    }

    #[test]
    fn debug_output_never_shows_the_access_key() {
        let dir = TempDir::new("debug");
        let builder = RateBudget::builder()
            .share_across_processes("AKIDSECRETISH")
            .state_dir(&dir.0);
        let builder_text = format!("{builder:?}");
        let budget_text = format!("{:?}", builder.build().unwrap());
        for text in [builder_text, budget_text] {
            assert!(!text.contains("AKIDSECRETISH"), "{text}");
            assert!(text.contains("limit: 100"), "{text}");
        }
    }
}
