//! A local fake of the Workspace jobs API (the sub-jobs listing, per job and project-wide,
//! and job details), to test against offline, built to misbehave the way a real
//! distributed service can.
//!
//! A [`Scenario`] says which jobs exist and how each subtask moves through *virtual time*
//! (listed from `visible_at`, `WAITING`, `RUNNING` from `start_at` with `process` following
//! a [`ProgressShape`], `SUCCESS` or `FAILED` from `end_at`, gone from `deleted_at`); a
//! [`JobPlan`] adds when its job is created and whether it fails as a whole
//! ([`JobFailure`]); a [`TimelineSpec`] generates realistic jobs from a seed (waves,
//! failures early or mid-job, the shapes of [`TimelineSpec::catalog`]). A [`FaultPlan`]
//! scripts what goes wrong, per request or at a seeded rate: throttling, error statuses,
//! truncated bodies, dropped connections, slow answers, and the inconsistencies of a real
//! service between two page reads (see [`Fault`]). A [`RateLimit`] throttles each access
//! key as the API gateway does. A [`ScenarioFile`] says all of it in JSON.
//!
//! One request handler serves both front ends, so their answers cannot drift apart (only a
//! [`Fault::Slow`] differs: real time over HTTP, virtual time in-process):
//!
//! - [`Simulator`]: a real HTTP server on `127.0.0.1`, checking SDK-HMAC-SHA256 signatures
//!   (or an IAM token) as the API gateway does, for tests of the real [`Client`](crate::Client)
//!   and of tools in any language;
//! - [`VirtualSource`]: the same answers in-process, as a [`JobsApi`](crate::source::JobsApi)
//!   read at a [`ManualClock`](crate::test_util::ManualClock)'s time, for hour-long waits that run in
//!   milliseconds.
//!
//! Every request is recorded ([`RequestRecord`]) so tests can count calls and check what
//! was asked; a JSON-lines log can be written too
//! ([`SimulatorBuilder::log_file`], [`VirtualSource::with_request_log`]).
//!
//! ```
//! use wks_waiter::simulator::{Fault, FaultPlan, Scenario, Simulator};
//! use wks_waiter::{Client, Credentials, SubtaskQuery};
//!
//! // 100 desktops served 7 per page, and the first request throttled.
//! let sim = Simulator::builder(Scenario::desktops("job-1", 100).page_cap(7))
//!     .faults(FaultPlan::new().on_request(0, Fault::Throttle { retry_after: Some(3) }))
//!     .start()?;
//! let client = Client::builder()
//!     .endpoint(sim.url())
//!     .project_id(sim.project_id())
//!     .credentials(Credentials::access_key(sim.access_key(), sim.secret_key())?)
//!     .build()?;
//! let query = SubtaskQuery::for_job("job-1")?;
//! let err = client.list_all_subtasks(&query).unwrap_err();
//! assert!(err.is_throttled());
//! let listing = client.list_all_subtasks(&query)?;
//! assert_eq!(listing.subtasks.len(), 100);
//! assert_eq!(sim.requests().len(), 1 + 15);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod faults;
mod file;
mod progress;
mod ratelimit;
mod scenario;
mod server;
mod service;
mod virtual_source;

pub use faults::{Fault, FaultPlan, IdDefect};
pub use file::{ScenarioError, ScenarioFile};
pub use progress::ProgressShape;
pub use ratelimit::RateLimit;
pub use scenario::{DesktopPlan, JobFailure, JobPlan, Outcome, Scenario, TimelineSpec};
pub use server::{
    Simulator, SimulatorBuilder, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT,
};
pub use service::RequestRecord;
pub use virtual_source::VirtualSource;

/// The project ID the simulator serves unless told otherwise.
pub const DEFAULT_PROJECT_ID: &str = "0605767a3300d5762fb7c0186d9e1779";
