//! What goes wrong, and on which request.

use std::ops::Range;
use std::time::Duration;

use crate::schedule::SplitMix64;

/// A misbehaviour of the service or the network, applied to one request.
///
/// Three families, each saying exactly what the client receives:
///
/// - **gateway errors** ([`Throttle`](Self::Throttle), [`Status`](Self::Status),
///   [`ServerError`](Self::ServerError), [`Unavailable`](Self::Unavailable)): answered
///   before authentication and routing, whatever was asked;
/// - **transport faults** ([`TruncatedBody`](Self::TruncatedBody),
///   [`DropConnection`](Self::DropConnection), [`Slow`](Self::Slow)): alter how any answer
///   is delivered;
/// - **inconsistencies** a real distributed service produces between two page reads
///   ([`DeleteBetweenPages`](Self::DeleteBetweenPages) …
///   [`TotalCount`](Self::TotalCount), and [`Body`](Self::Body)): alter a successful
///   answer. On an error answer, or where a fault has nothing to act on (noted per
///   variant), the answer is unchanged and the request's
///   [`RequestRecord::fault`](super::RequestRecord::fault) is `None`.
///
/// The HTTP [`Simulator`](super::Simulator) and the in-process
/// [`VirtualSource`](super::VirtualSource) apply every fault identically.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 429 from the API gateway, `APIGW.0308`, with `Retry-After` (seconds) when set.
    Throttle {
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u64>,
    },
    /// Any error status, with the documented error body.
    Status {
        /// HTTP status, e.g. 403.
        status: u16,
        /// `error_code`, e.g. `APIGW.0302`.
        error_code: String,
        /// `error_msg`.
        error_msg: String,
    },
    /// HTTP 500 from the Workspace service.
    ServerError,
    /// HTTP 503: the service is unavailable.
    Unavailable,
    /// The right status and headers, but the JSON body cut in half (with a matching
    /// `Content-Length`): the client receives a complete, undecodable response.
    TruncatedBody,
    /// The headers announce the full body, half of it is sent, and the connection is
    /// closed: the client sees the transfer fail.
    DropConnection,
    /// The right response, delayed by this long. Over HTTP the delay is real time, whatever
    /// the simulator's clock (it exists to trip the client's real timeouts); a
    /// [`VirtualSource`](super::VirtualSource) advances its `ManualClock` instead.
    Slow(Duration),
    /// Listings: before answering, deletes for good the terminal subtask that sits closest
    /// before this page's offset among those the query matches (one the client read on an
    /// earlier page), as a user deleting finished subtasks would. Every later subtask moves
    /// up one place, so the subtask that was first on this page slides onto the previous
    /// one: the client never sees it in this listing, and `total_count` is one lower than on
    /// the earlier pages. The deleted subtask stays deleted (later listings and job details
    /// lack it). Nothing happens on a first page (offset 0) or when no terminal subtask
    /// precedes the offset.
    DeleteBetweenPages,
    /// Listings: before answering, the service creates a new subtask of the query's job
    /// (without `job_id`: of the job of the first matching subtask), `RUNNING` from now with
    /// linear progress and succeeding two minutes later, listed first (as a service listing
    /// newest first would). With an offset, every subtask shifts one place down: the page
    /// starts with the previous page's last subtask again, the new one is not on it, and
    /// `total_count` is one higher. It stays (later listings and job details count it).
    /// Nothing happens when the job failed as a whole, or no job matches.
    InsertBetweenPages,
    /// Listings: `{"total_count":0,"jobs":[]}` with status 200, once, whatever exists.
    EmptyPage,
    /// Any successful answer: status 200 with exactly this body instead, e.g. `{}`, `[]`,
    /// `{"total_count":null,"jobs":null}` or an error object; see
    /// [`Fault::malformed_bodies`].
    Body(String),
    /// Listings: the service ignores the `job_id` filter (others apply) and lists every
    /// job's subtasks, with the `total_count` of that wider listing.
    ForeignSubtasks,
    /// Listings and job details: every subtask of the answer has its `id` spoiled as this
    /// says.
    BadIds(IdDefect),
    /// Listings and job details: the second subtask of the answer carries the first one's
    /// `id` (two different desktops, one ID). Nothing happens with fewer than two.
    DuplicateId,
    /// Listings: the page holds only the first half of its subtasks (rounded down: a page
    /// of one comes back empty), while `total_count` still counts them all, so it looks
    /// like a page cap and the listing reads short.
    ShortPage,
    /// Listings: `total_count` is off by this much (never below 0), as when the count is
    /// taken at another moment than the page.
    TotalCount(i64),
}

/// How [`Fault::BadIds`] spoils subtask IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdDefect {
    /// No `id` field.
    Missing,
    /// `"id": ""`.
    Empty,
    /// `"id": null`.
    Null,
}

impl Fault {
    /// A [`Fault::Status`].
    pub fn status(status: u16, error_code: &str, error_msg: &str) -> Self {
        Self::Status {
            status,
            error_code: error_code.to_owned(),
            error_msg: error_msg.to_owned(),
        }
    }

    /// A [`Fault::Body`].
    pub fn body(body: &str) -> Self {
        Self::Body(body.to_owned())
    }

    /// The malformed 200 answers seen in the field: `{}`, `null` fields, `[]`, `null`, an
    /// error object with status 200, and an object whose `jobs` is not an array.
    pub fn malformed_bodies() -> Vec<Fault> {
        [
            "{}",
            r#"{"total_count":null,"jobs":null}"#,
            "[]",
            "null",
            r#"{"error_code":"WKS.00000500","error_msg":"Internal error","request_id":"sim-embedded"}"#,
            r#"{"total_count":3,"jobs":{"id":"not-a-list"}}"#,
        ]
        .into_iter()
        .map(Fault::body)
        .collect()
    }

    /// One of each inconsistency between page reads, for random plans:
    /// deletion, insertion, empty page, the malformed bodies, foreign subtasks, each
    /// [`IdDefect`], a duplicated ID, a short page and `total_count` off by ±1.
    ///
    /// ```
    /// use wks_waiter::simulator::{Fault, FaultPlan};
    ///
    /// let plan = FaultPlan::new().random(0.2, 42, Fault::inconsistencies());
    /// assert!((0..100).any(|i| plan.fault_for(i).is_some()));
    /// ```
    pub fn inconsistencies() -> Vec<Fault> {
        let mut faults = vec![
            Fault::DeleteBetweenPages,
            Fault::InsertBetweenPages,
            Fault::EmptyPage,
            Fault::ForeignSubtasks,
            Fault::BadIds(IdDefect::Missing),
            Fault::BadIds(IdDefect::Empty),
            Fault::BadIds(IdDefect::Null),
            Fault::DuplicateId,
            Fault::ShortPage,
            Fault::TotalCount(-1),
            Fault::TotalCount(1),
        ];
        faults.extend(Fault::malformed_bodies());
        faults
    }

    /// A short, stable name for logs: `throttle`, `status`, `server_error`, `unavailable`,
    /// `truncated_body`, `drop_connection`, `slow`, `delete_between_pages`,
    /// `insert_between_pages`, `empty_page`, `body`, `foreign_subtasks`, `bad_ids`,
    /// `duplicate_id`, `short_page`, `total_count` (the names of the scenario file).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Throttle { .. } => "throttle",
            Self::Status { .. } => "status",
            Self::ServerError => "server_error",
            Self::Unavailable => "unavailable",
            Self::TruncatedBody => "truncated_body",
            Self::DropConnection => "drop_connection",
            Self::Slow(_) => "slow",
            Self::DeleteBetweenPages => "delete_between_pages",
            Self::InsertBetweenPages => "insert_between_pages",
            Self::EmptyPage => "empty_page",
            Self::Body(_) => "body",
            Self::ForeignSubtasks => "foreign_subtasks",
            Self::BadIds(_) => "bad_ids",
            Self::DuplicateId => "duplicate_id",
            Self::ShortPage => "short_page",
            Self::TotalCount(_) => "total_count",
        }
    }
}

/// Which requests fail, and how. Requests are counted from 0 in arrival order, every request
/// to the simulator included.
///
/// ```
/// use wks_waiter::simulator::{Fault, FaultPlan};
///
/// let plan = FaultPlan::new()
///     .random(0.1, 42, vec![Fault::ServerError, Fault::TruncatedBody])
///     .on_requests(0..3, Fault::Throttle { retry_after: Some(1) });
/// assert_eq!(plan.fault_for(2), Some(Fault::Throttle { retry_after: Some(1) }));
/// // Random faults are a pure function of (seed, index).
/// assert_eq!(plan.fault_for(1000), plan.clone().fault_for(1000));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// Scheduled faults, in the order added; the last one covering an index wins.
    scheduled: Vec<(Range<u64>, Fault)>,
    random: Option<RandomFaults>,
}

#[derive(Debug, Clone)]
struct RandomFaults {
    rate: f64,
    seed: u64,
    choices: Vec<Fault>,
}

impl FaultPlan {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// `fault` on request `index` (0-based).
    pub fn on_request(self, index: u64, fault: Fault) -> Self {
        self.on_requests(index..index.saturating_add(1), fault)
    }

    /// `fault` on every request whose index is in `range`. Where scheduled ranges overlap,
    /// the one added last wins.
    pub fn on_requests(mut self, range: Range<u64>, fault: Fault) -> Self {
        self.scheduled.push((range, fault));
        self
    }

    /// `fault` on every request (overridden by scheduled faults added after it).
    pub fn always(self, fault: Fault) -> Self {
        self.on_requests(0..u64::MAX, fault)
    }

    /// Each request not covered by a scheduled fault fails with probability `rate`, with a
    /// fault chosen uniformly from `choices`. The draw is a pure function of `seed` and the
    /// request index, so a run can be replayed. Replaces an earlier `random` call.
    pub fn random(mut self, rate: f64, seed: u64, choices: Vec<Fault>) -> Self {
        self.random = Some(RandomFaults {
            rate,
            seed,
            choices,
        });
        self
    }

    /// The fault for request `index`, if any: scheduled faults first, then the random one.
    pub fn fault_for(&self, index: u64) -> Option<Fault> {
        if let Some((_, fault)) = self
            .scheduled
            .iter()
            .rev()
            .find(|(range, _)| range.contains(&index))
        {
            return Some(fault.clone());
        }
        let random = self.random.as_ref()?;
        // Jumping straight to the index-th state of the stream keeps draws independent of
        // how many requests came before: no shared mutable generator.
        let mut rng = SplitMix64(
            random
                .seed
                .wrapping_add(index.wrapping_mul(SplitMix64::GAMMA)),
        );
        // A NaN rate compares false: no faults.
        let hit = rng.next_f64() < random.rate;
        if random.choices.is_empty() || !hit {
            return None;
        }
        let pick = rng.below(random.choices.len() as u64) as usize;
        random.choices.get(pick).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_faults_apply_to_their_indices_last_added_winning() {
        let plan = FaultPlan::new()
            .always(Fault::Unavailable)
            .on_requests(2..5, Fault::ServerError)
            .on_request(3, Fault::TruncatedBody);
        assert_eq!(plan.fault_for(0), Some(Fault::Unavailable));
        assert_eq!(plan.fault_for(2), Some(Fault::ServerError));
        assert_eq!(plan.fault_for(3), Some(Fault::TruncatedBody));
        assert_eq!(plan.fault_for(5), Some(Fault::Unavailable));
        assert_eq!(FaultPlan::new().fault_for(0), None);
        let edge = FaultPlan::new().on_request(u64::MAX, Fault::ServerError);
        assert_eq!(edge.fault_for(u64::MAX - 1), None);
    }

    #[test]
    fn random_faults_are_deterministic_and_near_the_rate() {
        let choices = vec![
            Fault::ServerError,
            Fault::DropConnection,
            Fault::Slow(Duration::from_secs(1)),
        ];
        let plan = FaultPlan::new().random(0.2, 7, choices.clone());
        let draws: Vec<_> = (0..10_000).map(|i| plan.fault_for(i)).collect();
        let again: Vec<_> = (0..10_000).map(|i| plan.fault_for(i)).collect();
        assert_eq!(draws, again);
        let faulted = draws.iter().flatten().count();
        assert!((1800..2200).contains(&faulted), "{faulted}");
        for choice in &choices {
            let n = draws.iter().flatten().filter(|f| *f == choice).count();
            assert!((500..850).contains(&n), "{choice:?}: {n}");
        }
        let other_seed: Vec<_> = (0..100)
            .map(|i| {
                FaultPlan::new()
                    .random(0.2, 8, choices.clone())
                    .fault_for(i)
            })
            .collect();
        assert_ne!(draws[..100], other_seed[..]);
    }

    #[test]
    fn scheduled_faults_beat_random_and_degenerate_rates_do_nothing() {
        let plan = FaultPlan::new()
            .random(1.0, 1, vec![Fault::ServerError])
            .on_request(4, Fault::Unavailable);
        assert_eq!(plan.fault_for(3), Some(Fault::ServerError));
        assert_eq!(plan.fault_for(4), Some(Fault::Unavailable));
        for rate in [0.0, -1.0, f64::NAN] {
            let plan = FaultPlan::new().random(rate, 1, vec![Fault::ServerError]);
            assert!((0..1000).all(|i| plan.fault_for(i).is_none()), "{rate}");
        }
        let empty = FaultPlan::new().random(1.0, 1, Vec::new());
        assert_eq!(empty.fault_for(0), None);
    }
}
