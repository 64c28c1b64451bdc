//! Block until Huawei Cloud Workspace jobs finish.
//!
//! Operations such as "create 200 desktops" return a `job_id`; each desktop becomes a
//! subtask of that job, listed by `GET /v2/{project_id}/workspace-sub-jobs`. This crate
//! gives you:
//!
//! - [`Client`]: a blocking client of that API, signing requests with SDK-HMAC-SHA256
//!   exactly as Huawei's SDKs do ([`sign`]), with temporary credentials, IAM tokens,
//!   regions and pagination ([`Client::list_all_sub_jobs`]);
//! - [`Waiter`]: polls a job until every subtask is `SUCCESS` or `FAILED`, economically,
//!   and returns a [`JobOutcome`] saying which desktops exist and which failed, and why;
//! - `simulator` (feature `simulator`): a local fake of the API to test against offline.
//!
//! # Quick start
//!
//! ```
//! # #[cfg(feature = "simulator")] {
//! use wks_waiter::simulator::{Scenario, Simulator};
//! use wks_waiter::{Client, Credentials, SubJobQuery};
//!
//! // A local fake of the API with one job of 5 desktops; use `.region("cn-north-4")` and
//! // `Credentials::from_env()` for the real cloud.
//! let sim = Simulator::start(Scenario::desktops("job-1", 5))?;
//! let client = Client::builder()
//!     .endpoint(sim.url())
//!     .project_id(sim.project_id())
//!     .credentials(Credentials::access_key(sim.access_key(), sim.secret_key())?)
//!     .build()?;
//! let listing = client.list_all_sub_jobs(&SubJobQuery::for_job("job-1")?)?;
//! assert_eq!(listing.jobs.len(), 5);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod credentials;
mod error;
mod model;
mod outcome;
mod query;
mod schedule;
mod sign;
#[cfg(feature = "simulator")]
pub mod simulator;
mod source;
mod time;
mod track;
mod waiter;

pub use client::{
    region_endpoint, Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_READ_TIMEOUT,
};
pub use credentials::{
    AccessKey, Credentials, Secret, ENV_AK, ENV_PROJECT_ID, ENV_REGION, ENV_SECURITY_TOKEN, ENV_SK,
};
pub use error::{ApiError, Error, TransportKind};
pub use model::{JobEntities, SubJob, SubJobPage, SubJobStatus};
pub use outcome::{
    Counts, DesktopFailure, JobOutcome, Observer, Progress, SubtaskState, TrackedSubtask,
};
pub use query::{
    canonical_query, parse_query, percent_decode, percent_encode, SubJobQuery, SubJobQueryBuilder,
    MAX_LIMIT, MAX_OFFSET,
};
pub use schedule::BackoffPolicy;
pub use sign::{
    canonical_request, format_sdk_date, parse_sdk_date, sign, verify, SignableRequest, Signature,
    VerifyError, ALGORITHM, EMPTY_BODY_SHA256,
};
pub use source::{collect_pages, for_each_page, FetchedPage, Listing, PagingStats, SubJobSource};
pub use time::{
    virtual_time, Cancellation, Clock, ManualClock, ManualSleeper, Sleeper, SystemClock,
    ThreadSleeper,
};
pub use waiter::{
    WaitError, Waiter, WaiterBuilder, DEFAULT_MAX_PREDICTED_INTERVAL, DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT, DEFAULT_POLL, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY, DEFAULT_THROTTLE_RETRY,
};
