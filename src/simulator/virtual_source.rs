//! The simulated service in-process, in virtual time: no sockets, no real waiting.

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use super::faults::FaultPlan;
use super::ratelimit::RateLimit;
use super::scenario::Scenario;
use super::service::{Delivery, Identity, Reply, Request, RequestRecord, Service};
use crate::error::{Error, TransportKind};
use crate::query::{validate_id, SubtaskQuery};
use crate::source::{interpret_job_response, interpret_response, FetchedJob, FetchedPage, JobsApi};
use crate::test_util::ManualClock;
use crate::time::Clock;

/// Stands in for the host in the URLs of transport errors: the reserved `.invalid` domain
/// says plainly that no network was involved.
const VIRTUAL_ORIGIN: &str = "http://simulator.invalid";

/// The simulated service as a [`JobsApi`], answering at `clock.elapsed()` of a
/// [`ManualClock`]: a waiter polling it for a simulated hour finishes in milliseconds.
///
/// Requests go through the same handler as the HTTP [`Simulator`](super::Simulator)'s
/// (authenticated with its token) and the same response interpretation as the
/// [`Client`](crate::Client)'s, so statuses, error bodies, decode errors and the request log
/// are the same. Transport faults are mapped as the client would see them:
/// [`Fault::DropConnection`](super::Fault::DropConnection) is an
/// [`Error::Transport`] of kind [`TransportKind::Reset`];
/// [`Fault::Slow`](super::Fault::Slow) advances the clock by its delay, or by the request's
/// timeout and fails with a timeout when the delay is longer.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use wks_waiter::simulator::{Scenario, VirtualSource};
/// use wks_waiter::{SubtaskQuery, test_util::{ManualClock}, source::{JobsApi}};
///
/// let clock = Arc::new(ManualClock::at_2026());
/// let source = VirtualSource::new(Scenario::desktops("job-1", 4), clock.clone());
/// let query = SubtaskQuery::for_job("job-1")?;
/// assert!(source.fetch_page(&query, None)?.page.subtasks.iter().all(|j| !j.is_terminal()));
/// clock.advance(Duration::from_secs(3600));
/// assert!(source.fetch_page(&query, None)?.page.subtasks.iter().all(|j| j.is_terminal()));
/// assert_eq!(source.requests().len(), 2);
/// # Ok::<(), wks_waiter::Error>(())
/// ```
pub struct VirtualSource {
    service: Service,
    clock: Arc<ManualClock>,
    /// The clock's elapsed time when this source was made: its virtual zero, as a
    /// [`Simulator`](super::Simulator)'s is its start.
    zero: Duration,
}

impl VirtualSource {
    /// Serves `scenario` at the virtual time of `clock`, counted from now.
    pub fn new(scenario: Scenario, clock: Arc<ManualClock>) -> Self {
        let wall_zero = clock.system_time();
        Self {
            service: Service::new(scenario, FaultPlan::new(), Identity::simulated(), wall_zero),
            zero: clock.elapsed(),
            clock,
        }
    }

    /// What goes wrong, and on which request (counted from this source's first request).
    ///
    /// Defaults to nothing.
    pub fn with_faults(mut self, plan: FaultPlan) -> Self {
        self.service.faults = plan;
        self
    }

    /// Throttles this source's requests (made with the IAM token) as
    /// [`SimulatorBuilder::rate_limit`](super::SimulatorBuilder::rate_limit) does, in the
    /// clock's virtual time.
    ///
    /// Defaults to no limit.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.service.identity_mut().rate_limit = Some(limit);
        self
    }

    /// Appends one JSON line per request to `writer`, as
    /// [`SimulatorBuilder::log_to`](super::SimulatorBuilder::log_to) does.
    ///
    /// Defaults to none.
    pub fn with_request_log(mut self, writer: impl Write + Send + 'static) -> Self {
        self.service.log_to(Box::new(writer));
        self
    }

    /// The project it serves (and that requests go to).
    ///
    /// Defaults to [`DEFAULT_PROJECT_ID`](super::DEFAULT_PROJECT_ID).
    pub fn with_project_id(mut self, project_id: &str) -> Self {
        self.service.identity_mut().project_id = project_id.to_owned();
        self
    }

    /// What it serves (without the subtasks its faults deleted or inserted since).
    pub fn scenario(&self) -> &Scenario {
        self.service.scenario()
    }

    /// Every request so far, in order (the latest 100,000).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.service.requests()
    }
}

impl fmt::Debug for VirtualSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualSource")
            .field("elapsed", &self.clock.elapsed())
            .field("requests", &self.service.requests().len())
            .finish_non_exhaustive()
    }
}

impl JobsApi for VirtualSource {
    fn project_id(&self) -> &str {
        &self.service.identity().project_id
    }

    fn fetch_job(&self, job_id: &str, timeout: Option<Duration>) -> Result<FetchedJob, Error> {
        validate_id("job_id", job_id)?;
        let path = format!("/v2/{}/workspace-jobs/{job_id}", self.project_id());
        let reply = self.call(&path, "", timeout)?;
        interpret_job_response(
            reply.status,
            reply.header("X-Request-Id").map(str::to_owned),
            reply.header("Retry-After"),
            &reply.body,
        )
    }

    fn fetch_page(
        &self,
        query: &SubtaskQuery,
        timeout: Option<Duration>,
    ) -> Result<FetchedPage, Error> {
        let path = format!("/v2/{}/workspace-sub-jobs", self.project_id());
        let reply = self.call(&path, &query.canonical_string(), timeout)?;
        interpret_response(
            reply.status,
            reply.header("X-Request-Id").map(str::to_owned),
            reply.header("Retry-After"),
            &reply.body,
        )
    }
}

impl VirtualSource {
    /// Sends one GET through the service at the clock's virtual time and delivers the
    /// reply as the HTTP client would receive it.
    fn call(&self, path: &str, query: &str, timeout: Option<Duration>) -> Result<Reply, Error> {
        let identity = self.service.identity();
        let headers = [
            ("Content-Type", "application/json"),
            ("X-Project-Id", identity.project_id.as_str()),
            ("X-Auth-Token", identity.token.expose()),
        ];
        let reply = self.service.handle(
            &Request {
                method: "GET",
                path,
                query,
                headers: &headers,
                body: b"",
            },
            self.clock.elapsed().saturating_sub(self.zero),
            self.clock.system_time(),
        );
        let transport = |kind, source| Error::Transport {
            kind,
            method: "GET",
            url: format!("{VIRTUAL_ORIGIN}{path}"),
            source: Box::new(source),
        };
        match reply.delivery {
            Delivery::Whole => {}
            Delivery::After(delay) => match timeout {
                Some(limit) if delay > limit => {
                    self.clock.advance(limit);
                    return Err(transport(
                        TransportKind::Timeout,
                        ureq::Error::Timeout(ureq::Timeout::Global),
                    ));
                }
                _ => self.clock.advance(delay),
            },
            Delivery::HalfThenDrop => {
                return Err(transport(
                    TransportKind::Reset,
                    ureq::Error::Io(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "the simulator dropped the connection mid-body",
                    )),
                ));
            }
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::{Fault, TimelineSpec};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn source(scenario: Scenario) -> (VirtualSource, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::at_2026());
        (VirtualSource::new(scenario, clock.clone()), clock)
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<VirtualSource>();
    }

    #[test]
    fn answers_at_the_clock_s_virtual_time() {
        let spec = TimelineSpec {
            failures: 2,
            visible_after: secs(10),
            ..TimelineSpec::new(6)
        };
        let (source, clock) = source(Scenario::generate("job-1", &spec));
        let query = SubtaskQuery::for_job("job-1").unwrap();
        let early = source.fetch_page(&query, None).unwrap();
        assert_eq!((early.page.total_count, early.page.subtasks.len()), (0, 0));
        clock.advance(secs(200));
        let done = source.fetch_page(&query, None).unwrap();
        assert_eq!(done.page.subtasks.len(), 6);
        assert_eq!(
            done.request_id.as_deref(),
            Some("sim-00000000000000000000000000000001")
        );
        let failed = done
            .page
            .subtasks
            .iter()
            .filter(|j| j.error_code.is_some())
            .count();
        assert_eq!(failed, 2);
        // The wall times are those of the clock: it started at 2026-01-01T00:00:00Z.
        assert!(done.page.subtasks[0]
            .end_time
            .as_deref()
            .unwrap()
            .starts_with("2026-01-01 00:0"));
        let log = source.requests();
        assert_eq!((log[0].at, log[1].at), (secs(0), secs(200)));
        assert_eq!(log[1].jobs_returned, 6);
    }

    #[test]
    fn faults_become_the_errors_the_client_would_see() {
        let (source, clock) = source(Scenario::desktops("job-1", 3));
        let source = source.with_faults(
            FaultPlan::new()
                .on_request(0, Fault::DropConnection)
                .on_request(1, Fault::TruncatedBody)
                .on_request(
                    2,
                    Fault::Throttle {
                        retry_after: Some(9),
                    },
                )
                .on_request(3, Fault::Slow(secs(40)))
                .on_request(4, Fault::Slow(secs(5))),
        );
        let query = SubtaskQuery::for_job("job-1").unwrap();
        let timeout = Some(secs(30));

        let dropped = source.fetch_page(&query, timeout).unwrap_err();
        assert!(
            matches!(
                dropped,
                Error::Transport {
                    kind: TransportKind::Reset,
                    ..
                }
            ),
            "{dropped:?}"
        );
        assert!(dropped.is_retryable());

        let truncated = source.fetch_page(&query, timeout).unwrap_err();
        assert!(matches!(truncated, Error::Decode { .. }), "{truncated:?}");
        assert!(truncated.is_retryable());

        let throttled = source.fetch_page(&query, timeout).unwrap_err();
        assert_eq!(throttled.retry_after(), Some(secs(9)));
        assert_eq!(
            throttled.api().unwrap().error_code.as_deref(),
            Some("APIGW.0308")
        );

        let slow = source.fetch_page(&query, timeout).unwrap_err();
        assert!(slow.is_timeout(), "{slow:?}");
        assert_eq!(clock.elapsed(), secs(30));

        let page = source.fetch_page(&query, timeout).unwrap();
        assert_eq!(page.page.subtasks.len(), 3);
        assert_eq!(clock.elapsed(), secs(35));

        let statuses: Vec<_> = source.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 200, 429, 200, 200]);
    }
}
