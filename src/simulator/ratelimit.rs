//! The API gateway's per-user throttle: at most N requests in any sliding window.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use crate::error::Error;

/// At most [`requests`](Self::requests) accepted requests per caller in any
/// [`window`](Self::window) of virtual time, as the API gateway's `policy user` limit.
///
/// Each access key (and the IAM token) has its own window. A request counts once it is
/// authenticated, whatever it is then answered; throttled requests do not count. Past the
/// limit the simulator answers 429 `APIGW.0308` with Huawei's body (`The throttling
/// threshold has been reached: policy user over ratelimit,limit:200,time:1 minute`) and a
/// `Retry-After` of the whole seconds until the oldest counted request leaves the window.
///
/// ```
/// use std::time::Duration;
/// use wks_waiter::simulator::RateLimit;
///
/// let limit = RateLimit::per_minute(200)?;
/// assert_eq!(limit.to_string(), "limit:200,time:1 minute");
/// assert!(RateLimit::new(0, Duration::from_secs(1)).is_err());
/// # Ok::<(), wks_waiter::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    requests: u32,
    window: Duration,
}

impl RateLimit {
    /// `requests` per `window`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for 0 requests or a window under a millisecond.
    pub fn new(requests: u32, window: Duration) -> Result<Self, Error> {
        if requests == 0 {
            return Err(Error::invalid(
                "rate limit requests",
                requests,
                "must be at least 1",
            ));
        }
        if window < Duration::from_millis(1) {
            return Err(Error::invalid(
                "rate limit window",
                format_args!("{window:?}"),
                "must be at least 1 ms",
            ));
        }
        Ok(Self { requests, window })
    }

    /// `requests` per minute: the documented budget is 200.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn per_minute(requests: u32) -> Result<Self, Error> {
        Self::new(requests, Duration::from_secs(60))
    }

    /// Requests allowed per window.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// The sliding window.
    pub fn window(&self) -> Duration {
        self.window
    }
}

impl fmt::Display for RateLimit {
    /// As the gateway words it: `limit:200,time:1 minute`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.window.as_millis();
        let (amount, unit) = if millis.is_multiple_of(3_600_000) {
            (millis / 3_600_000, "hour")
        } else if millis.is_multiple_of(60_000) {
            (millis / 60_000, "minute")
        } else if millis.is_multiple_of(1000) {
            (millis / 1000, "second")
        } else {
            (millis, "millisecond")
        };
        write!(f, "limit:{},time:{amount} {unit}", self.requests)
    }
}

/// The sliding windows of every caller: the times of their counted requests.
#[derive(Debug, Default)]
pub(super) struct Limiter {
    windows: HashMap<String, VecDeque<Duration>>,
}

impl Limiter {
    /// Counts a request of `caller` at `at` under `limit`, or says how long until one
    /// would be allowed.
    pub(super) fn admit(
        &mut self,
        caller: &str,
        limit: RateLimit,
        at: Duration,
    ) -> Result<(), Duration> {
        let window = self.windows.entry(caller.to_owned()).or_default();
        // Concurrent HTTP requests may reach here slightly out of arrival order; time in a
        // window never runs backwards.
        let at = window.back().map_or(at, |last| at.max(*last));
        while window
            .front()
            .is_some_and(|oldest| *oldest + limit.window <= at)
        {
            window.pop_front();
        }
        if window.len() >= limit.requests as usize {
            let oldest = window.front().copied().unwrap_or(at);
            return Err((oldest + limit.window).saturating_sub(at));
        }
        window.push_back(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn at_most_n_in_any_window_per_caller() {
        let limit = RateLimit::new(3, secs(10)).unwrap();
        let mut limiter = Limiter::default();
        assert_eq!(limiter.admit("a", limit, secs(0)), Ok(()));
        assert_eq!(limiter.admit("a", limit, secs(2)), Ok(()));
        assert_eq!(limiter.admit("a", limit, secs(4)), Ok(()));
        assert_eq!(limiter.admit("a", limit, secs(5)), Err(secs(5)));
        // Another caller has its own window.
        assert_eq!(limiter.admit("b", limit, secs(5)), Ok(()));
        // Throttled requests do not count: at 10 s the first one left the window.
        assert_eq!(limiter.admit("a", limit, secs(10)), Ok(()));
        assert_eq!(limiter.admit("a", limit, secs(11)), Err(secs(1)));
        assert_eq!(limiter.admit("a", limit, secs(12)), Ok(()));
        // Out of order arrivals are read at the latest time seen.
        assert_eq!(limiter.admit("a", limit, secs(3)), Err(secs(2)));
    }

    #[test]
    fn the_gateway_wording_and_validation() {
        let say = |n, window| RateLimit::new(n, window).unwrap().to_string();
        assert_eq!(say(200, secs(300)), "limit:200,time:5 minute");
        assert_eq!(say(5, secs(5)), "limit:5,time:5 second");
        assert_eq!(say(1000, secs(3600)), "limit:1000,time:1 hour");
        assert_eq!(
            say(1, Duration::from_millis(1500)),
            "limit:1,time:1500 millisecond"
        );
        let err = RateLimit::new(1, Duration::from_micros(10))
            .unwrap_err()
            .to_string();
        assert!(err.contains("10µs"), "{err}");
        let err = RateLimit::per_minute(0).unwrap_err().to_string();
        assert!(err.contains("`0`"), "{err}");
    }
}
