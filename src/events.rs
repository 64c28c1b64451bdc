//! What happens during a wait, as it happens: the events an observer receives, and their
//! JSON form (one object per line in `wks-wait --output ndjson`).

use std::time::Duration;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::model::{Subtask, SubtaskStatus};
use crate::outcome::{Counts, DesktopFailure, ErrorInfo, JobResult};

/// The version of the JSON form of events, written as `"v"` on every line.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// Something that happened during a wait, and when (time since the wait started).
///
/// Pass a closure to [`Waiter::wait_with`](crate::Waiter::wait_with) or
/// [`Waiter::wait_all_with`](crate::Waiter::wait_all_with) to receive them. Each subtask's
/// terminal transition is reported exactly once, whatever retries, glitches and re-reads
/// happen; a `JobFinished` follows every job's last subtask event.
///
/// Serializes as one flat JSON object: `{"v":1,"event":"subtask_failed","elapsed_ms":…, …}`
/// (see the README for every field).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// Time since the wait started.
    pub elapsed: Duration,
    /// What happened.
    pub kind: EventKind,
}

/// What happened; see [`Event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// The wait started on these jobs, with this deadline.
    Started {
        /// The jobs waited on.
        jobs: Vec<String>,
        /// The deadline, from now.
        max_wait: Duration,
    },
    /// A subtask finished successfully: its desktop is ready.
    SubtaskSucceeded {
        /// Its job.
        job_id: String,
        /// The subtask as listed.
        subtask: Box<Subtask>,
    },
    /// A subtask failed.
    SubtaskFailed {
        /// Its job.
        job_id: String,
        /// The desktop and why it failed.
        failure: DesktopFailure,
    },
    /// A subtask disappeared from the listing before it was seen finished (users may delete
    /// finished subtasks): its final state is unknown. Sent when its job's verdict stands
    /// (the job's details, read for it, might still list it), just before the job's
    /// [`JobFinished`](Self::JobFinished).
    SubtaskVanished {
        /// Its job.
        job_id: String,
        /// The subtask as last listed.
        subtask: Box<Subtask>,
    },
    /// A job's result is decided, or its wait ended.
    JobFinished {
        /// The job.
        job_id: String,
        /// How it ended.
        result: JobResult,
        /// Its subtasks per state.
        counts: Counts,
        /// The error that ended it, if any.
        error: Option<ErrorInfo>,
    },
    /// A poll cycle ended.
    Polled {
        /// Poll number, from 1.
        poll: u32,
        /// Requests so far.
        requests: u32,
        /// Subtasks per state, over every job.
        counts: Counts,
        /// Jobs still waited on.
        jobs_pending: usize,
        /// Mean `process` of the subtasks that report it (`SUCCESS` counts 100).
        mean_process: Option<f64>,
    },
    /// The waiter sleeps this long before the next poll.
    Sleeping {
        /// The delay.
        delay: Duration,
    },
    /// A request failed with a retryable error and will be retried after `delay`.
    Retrying {
        /// Failed attempts of this request so far.
        attempt: u32,
        /// The delay before the next attempt.
        delay: Duration,
        /// Whether the service throttled the request (HTTP 429).
        throttled: bool,
        /// What went wrong.
        error: ErrorInfo,
    },
    /// The shared request budget holds the next request back for `delay`.
    BudgetWait {
        /// The delay.
        delay: Duration,
    },
}

impl EventKind {
    /// The `event` name in the JSON form.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Started { .. } => "started",
            Self::SubtaskSucceeded { .. } => "subtask_succeeded",
            Self::SubtaskFailed { .. } => "subtask_failed",
            Self::SubtaskVanished { .. } => "subtask_vanished",
            Self::JobFinished { .. } => "job_finished",
            Self::Polled { .. } => "poll",
            Self::Sleeping { .. } => "sleep",
            Self::Retrying {
                throttled: true, ..
            } => "throttle",
            Self::Retrying { .. } => "retry",
            Self::BudgetWait { .. } => "budget_wait",
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Writes the fields of a desktop-level event.
fn desktop<M: SerializeMap>(out: &mut M, subtask: &Subtask) -> Result<(), M::Error> {
    out.serialize_entry("subtask_id", &subtask.id)?;
    out.serialize_entry("desktop_id", &subtask.desktop_id())?;
    out.serialize_entry("desktop_name", &subtask.desktop_name())?;
    out.serialize_entry("user_name", &subtask.user_name())
}

fn counts<M: SerializeMap>(out: &mut M, counts: &Counts) -> Result<(), M::Error> {
    out.serialize_entry("total", &counts.total)?;
    out.serialize_entry("succeeded", &counts.succeeded)?;
    out.serialize_entry("failed", &counts.failed)?;
    out.serialize_entry("vanished", &counts.vanished)?;
    out.serialize_entry("pending", &counts.pending())
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        out.serialize_entry("v", &EVENT_SCHEMA_VERSION)?;
        out.serialize_entry("event", self.kind.name())?;
        out.serialize_entry("elapsed_ms", &millis(self.elapsed))?;
        match &self.kind {
            EventKind::Started { jobs, max_wait } => {
                out.serialize_entry("jobs", jobs)?;
                out.serialize_entry("timeout_ms", &millis(*max_wait))?;
            }
            EventKind::SubtaskSucceeded { job_id, subtask } => {
                out.serialize_entry("job_id", job_id)?;
                desktop(&mut out, subtask)?;
                out.serialize_entry(
                    "ip_address",
                    &subtask
                        .entities
                        .as_ref()
                        .and_then(|e| e.ip_address.as_deref()),
                )?;
            }
            EventKind::SubtaskFailed { job_id, failure } => {
                out.serialize_entry("job_id", job_id)?;
                out.serialize_entry("subtask_id", &failure.subtask_id)?;
                out.serialize_entry("desktop_id", &failure.desktop_id)?;
                out.serialize_entry("desktop_name", &failure.desktop_name)?;
                out.serialize_entry("user_name", &failure.user_name)?;
                out.serialize_entry("error_code", &failure.error_code)?;
                out.serialize_entry("fail_reason", &failure.fail_reason)?;
            }
            EventKind::SubtaskVanished { job_id, subtask } => {
                out.serialize_entry("job_id", job_id)?;
                desktop(&mut out, subtask)?;
                out.serialize_entry(
                    "last_status",
                    &subtask.status.as_ref().map(SubtaskStatus::as_str),
                )?;
            }
            EventKind::JobFinished {
                job_id,
                result,
                counts: job_counts,
                error,
            } => {
                out.serialize_entry("job_id", job_id)?;
                out.serialize_entry("result", result)?;
                counts(&mut out, job_counts)?;
                out.serialize_entry("error", error)?;
            }
            EventKind::Polled {
                poll,
                requests,
                counts: all,
                jobs_pending,
                mean_process,
            } => {
                out.serialize_entry("poll", poll)?;
                out.serialize_entry("requests", requests)?;
                counts(&mut out, all)?;
                out.serialize_entry("jobs_pending", jobs_pending)?;
                out.serialize_entry("mean_process", mean_process)?;
            }
            EventKind::Sleeping { delay } | EventKind::BudgetWait { delay } => {
                out.serialize_entry("delay_ms", &millis(*delay))?;
            }
            EventKind::Retrying {
                attempt,
                delay,
                throttled: _,
                error,
            } => {
                out.serialize_entry("attempt", attempt)?;
                out.serialize_entry("delay_ms", &millis(*delay))?;
                out.serialize_entry("status", &error.status)?;
                out.serialize_entry("error_code", &error.error_code)?;
                out.serialize_entry("request_id", &error.request_id)?;
                out.serialize_entry("message", &error.message)?;
            }
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_flat_and_versioned() {
        let subtask: Subtask = serde_json::from_value(serde_json::json!({
            "id": "s-1", "status": "FAILED", "error_code": "WKS.0120", "fail_reason": "no capacity",
            "entities": { "desktop_id": "d-1", "desktop_name": "desktop-0001", "user_name": "u" }
        }))
        .unwrap();
        let event = Event {
            elapsed: Duration::from_millis(2500),
            kind: EventKind::SubtaskFailed {
                job_id: "job-1".into(),
                failure: DesktopFailure::of(&subtask),
            },
        };
        let line = serde_json::to_string(&event).unwrap();
        assert_eq!(
            line,
            r#"{"v":1,"event":"subtask_failed","elapsed_ms":2500,"job_id":"job-1","subtask_id":"s-1","desktop_id":"d-1","desktop_name":"desktop-0001","user_name":"u","error_code":"WKS.0120","fail_reason":"no capacity"}"#
        );
        let throttle = Event {
            elapsed: Duration::ZERO,
            kind: EventKind::Retrying {
                attempt: 1,
                delay: Duration::from_secs(5),
                throttled: true,
                error: ErrorInfo::new(Some("HTTP 429".into()), None),
            },
        };
        let value = serde_json::to_value(&throttle).unwrap();
        assert_eq!(value["event"], "throttle");
        assert_eq!(value["delay_ms"], 5000);
    }
}
