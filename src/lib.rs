//! Block until Huawei Cloud Workspace jobs finish, then say exactly which desktops exist
//! and which failed, and why.
//!
//! Operations such as "create 200 desktops" return a `job_id`; each desktop becomes a
//! subtask of that job, listed by `GET /v2/{project_id}/workspace-sub-jobs`.
//!
//! # Quick start
//!
//! ```
//! # #[cfg(feature = "simulator")] {
//! use wks_waiter::simulator::{Scenario, Simulator};
//! use wks_waiter::{Client, Credentials, Waiter};
//!
//! // A local fake of the API with one job of 5 desktops; use `.region("cn-north-4")` and
//! // `Credentials::from_env()` for the real cloud.
//! let sim = Simulator::start(Scenario::desktops("job-1", 5))?;
//! let client = Client::builder()
//!     .endpoint(sim.url())
//!     .project_id(sim.project_id())
//!     .credentials(Credentials::access_key(sim.access_key(), sim.secret_key())?)
//!     .build()?;
//! // The simulated desktops finish within about two minutes of real time: list them
//! // instead of waiting here (see `Waiter` for waits in virtual time).
//! let listing = client.list_all_subtasks(&wks_waiter::SubtaskQuery::for_job("job-1")?)?;
//! assert_eq!(listing.subtasks.len(), 5);
//! let waiter = Waiter::builder(client).build()?; // then `waiter.wait("job-1")?`
//! # drop(waiter);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The layers
//!
//! From the wire up, each layer usable on its own:
//!
//! 1. **Signing** ([`signing`]): SDK-HMAC-SHA256, byte-identical to Huawei's SDKs, a pure
//!    function of the request, the key and the time. Public for other tools of the API.
//! 2. **The client** ([`Client`], [`ClientBuilder`], [`Credentials`], [`SubtaskQuery`],
//!    whose builder is in [`query`]): one signed request per call to the sub-jobs listing
//!    ([`list_subtasks`](Client::list_subtasks), [`list_all_subtasks`](Client::list_all_subtasks))
//!    and the job details ([`get_job`](Client::get_job)); the response model
//!    ([`Subtask`](model::Subtask), [`SubtaskStatus`](model::SubtaskStatus)) is in
//!    [`model`]. It never retries: retry policy belongs to the waiter.
//! 3. **The API seam** ([`source::JobsApi`]): the two calls the waiter makes, implemented
//!    by the client and by the simulator's in-process [`VirtualSource`](simulator::VirtualSource).
//! 4. **The waiter** ([`Waiter`], [`WaiterBuilder`], [`BackoffPolicy`], [`Limit`]):
//!    polls one job or many until every subtask is terminal, under a consistency rule
//!    that never lets an inconsistent service produce a wrong verdict, economically, and
//!    returns a [`JobOutcome`] or [`WaitOutcome`] (module [`outcome`], with
//!    [`Counts`](outcome::Counts) and [`DesktopFailure`](outcome::DesktopFailure)) or a
//!    [`WaitError`]; [`Event`]s (module [`events`], with [`EventKind`](events::EventKind))
//!    report what happens as it happens.
//! 5. **Sharing** ([`RateBudget`], module [`budget`]): one request budget for every client
//!    and waiter of an account, across processes of the machine.
//! 6. **Time** ([`time`]): the clock and sleeper the waiter reads and waits through,
//!    injected, so tests run hours of polling in milliseconds with the doubles of
//!    [`test_util`]; [`Cancellation`] wakes a sleeping waiter.
//! 7. **The simulator** (`simulator`, feature `simulator`): a local fake of the API that
//!    misbehaves as a real service can, for our tests and yours.
//!
//! Errors: [`Error`] for a request (module [`error`]: [`ApiError`](error::ApiError) for the
//! service's error body, [`TransportKind`](error::TransportKind) for what failed on the
//! way), [`WaitError`] for a wait. Defaults of
//! every setting are named in [`defaults`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Time arithmetic on durations from settings, answers and files must never panic.
#![warn(clippy::unchecked_time_subtraction)]
#![warn(unreachable_pub, missing_debug_implementations)]

pub mod budget;
mod client;
mod credentials;
pub mod error;
pub mod events;
pub mod model;
pub mod outcome;
pub mod query;
mod schedule;
pub mod signing;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod source;
pub mod test_util;
mod text;
pub mod time;
mod waiter;

pub use budget::RateBudget;
pub use client::{Client, ClientBuilder};
pub use credentials::Credentials;
pub use error::Error;
pub use events::Event;
pub use outcome::{JobOutcome, JobResult, WaitOutcome};
pub use query::SubtaskQuery;
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

// The README's Rust examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
