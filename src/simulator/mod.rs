//! A local fake of `GET /v2/{project_id}/workspace-sub-jobs`, to test against offline.
//!
//! A [`Scenario`] says which jobs exist and how each subtask moves through *virtual time*
//! (listed from `visible_at`, `WAITING`, `RUNNING` from `start_at`, `SUCCESS` or `FAILED`
//! from `end_at`, gone from `deleted_at`). A [`FaultPlan`] scripts what goes wrong: throttling,
//! error statuses, truncated bodies, dropped connections, slow answers.
//!
//! One request handler serves both front ends, so they cannot drift apart:
//!
//! - [`Simulator`]: a real HTTP server on `127.0.0.1`, checking SDK-HMAC-SHA256 signatures
//!   (or an IAM token) as the API gateway does, for tests of the real [`Client`](crate::Client);
//! - [`VirtualSource`]: the same answers in-process, as a [`SubJobSource`](crate::SubJobSource)
//!   read at a [`ManualClock`](crate::ManualClock)'s time, for hour-long waits that run in
//!   milliseconds.
//!
//! Every request is recorded ([`RequestRecord`]) so tests can count calls and check what
//! was asked.
//!
//! ```
//! use wks_waiter::simulator::{Fault, FaultPlan, Scenario, Simulator};
//! use wks_waiter::{Client, Credentials, SubJobQuery};
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
//! let query = SubJobQuery::for_job("job-1")?;
//! let err = client.list_all_sub_jobs(&query).unwrap_err();
//! assert!(err.is_throttled());
//! let listing = client.list_all_sub_jobs(&query)?;
//! assert_eq!(listing.jobs.len(), 100);
//! assert_eq!(sim.requests().len(), 1 + 15);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod faults;
mod scenario;
mod server;
mod service;
mod virtual_source;

pub use faults::{Fault, FaultPlan};
pub use scenario::{DesktopPlan, JobPlan, Outcome, Scenario, TimelineSpec};
pub use server::{Simulator, SimulatorBuilder};
pub use service::RequestRecord;
pub use virtual_source::VirtualSource;

/// The project ID the simulator serves unless told otherwise.
pub const DEFAULT_PROJECT_ID: &str = "0605767a3300d5762fb7c0186d9e1779";

/// SplitMix64 (Steele, Lea and Flood, 2014): a few lines, seedable, and plenty good enough
/// to pick timings and faults. Keeps the simulator free of a `rand` dependency.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound`, or 0 when `bound` is 0. The modulo bias is negligible for
    /// the small bounds used here.
    fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next() % bound
        }
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of the reference implementation seeded with 1234567.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next(), 3_203_168_211_198_807_973);
        assert!((0.0..1.0).contains(&rng.unit()));
        assert_eq!(rng.below(0), 0);
    }
}
