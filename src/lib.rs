//! Block until Huawei Cloud Workspace jobs finish.
//!
//! Operations such as "create 200 desktops" return a `job_id`; each desktop becomes a
//! subtask of that job, listed by `GET /v2/{project_id}/workspace-sub-jobs`. This crate
//! gives you:
//!
//! - [`Client`]: a blocking client of that API, signing requests with SDK-HMAC-SHA256
//!   exactly as Huawei's SDKs do ([`signing`]), with temporary credentials, IAM tokens,
//!   regions and pagination ([`Client::list_all_subtasks`]);
//! - [`Waiter`]: polls a job until every subtask is `SUCCESS` or `FAILED`, economically,
//!   and returns a [`JobOutcome`] saying which desktops exist and which failed, and why;
//! - `simulator` (feature `simulator`): a local fake of the API to test against offline.
//!
//! # Quick start
//!
//! ```
//! # #[cfg(feature = "simulator")] {
//! use wks_waiter::simulator::{Scenario, Simulator};
//! use wks_waiter::{Client, Credentials, SubtaskQuery};
//!
//! // A local fake of the API with one job of 5 desktops; use `.region("cn-north-4")` and
//! // `Credentials::from_env()` for the real cloud.
//! let sim = Simulator::start(Scenario::desktops("job-1", 5))?;
//! let client = Client::builder()
//!     .endpoint(sim.url())
//!     .project_id(sim.project_id())
//!     .credentials(Credentials::access_key(sim.access_key(), sim.secret_key())?)
//!     .build()?;
//! let listing = client.list_all_subtasks(&SubtaskQuery::for_job("job-1")?)?;
//! assert_eq!(listing.jobs.len(), 5);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Time arithmetic on durations from settings, answers and files must never panic.
#![warn(clippy::unchecked_time_subtraction)]
#![warn(unreachable_pub, missing_debug_implementations)]

pub mod budget;
mod client;
mod credentials;
mod error;
mod events;
pub mod model;
pub mod outcome;
mod query;
mod schedule;
pub mod signing;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod source;
pub mod time;
mod waiter;

pub use budget::RateBudget;
pub use client::{Client, ClientBuilder};
pub use credentials::Credentials;
pub use error::{ApiError, Error, TransportKind};
pub use events::{Event, EventKind};
pub use model::{Subtask, SubtaskStatus};
pub use outcome::{Counts, DesktopFailure, JobOutcome, JobResult, WaitOutcome};
pub use query::{SubtaskQuery, SubtaskQueryBuilder};
pub use schedule::BackoffPolicy;
pub use time::Cancellation;
pub use waiter::{Limit, WaitError, Waiter, WaiterBuilder};

/// The defaults of every setting, named.
pub mod defaults {
    pub use crate::client::{
        DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_READ_TIMEOUT,
    };
    pub use crate::credentials::{ENV_AK, ENV_PROJECT_ID, ENV_REGION, ENV_SECURITY_TOKEN, ENV_SK};
    pub use crate::events::EVENT_SCHEMA_VERSION;
    pub use crate::query::{MAX_LIMIT, MAX_OFFSET};
    pub use crate::waiter::{
        DEFAULT_FIRST_SUBTASK_WITHIN, DEFAULT_MAX_PREDICTED_INTERVAL, DEFAULT_MAX_RETRIES,
        DEFAULT_MAX_WAIT, DEFAULT_POLL, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY,
        DEFAULT_THROTTLE_RETRY,
    };
}

/// Test doubles: a clock that moves only when told and a sleeper that advances it, so a
/// wait of hours runs in milliseconds with an exact, inspectable schedule.
pub mod test_util {
    pub use crate::time::{virtual_time, ManualClock, ManualSleeper};
}
