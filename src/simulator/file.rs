//! Scenario files: everything a simulator can be told, as JSON, for tools in any language.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer};

use super::faults::{Fault, FaultPlan, IdDefect};
use super::progress::ProgressShape;
use super::ratelimit::RateLimit;
use super::scenario::{DesktopPlan, JobFailure, JobPlan, Outcome, Scenario, TimelineSpec};
use super::server::{Simulator, SimulatorBuilder};
use super::virtual_source::VirtualSource;
use crate::credentials::{AccessKey, Secret};
use crate::query::validate_id;
use crate::test_util::ManualClock;
use crate::text::plural;

/// A simulator's whole configuration read from a JSON scenario file: the jobs, the faults,
/// the rate limit and any extra access keys. `wks-wait simulate --scenario FILE` serves
/// one; a library user loads one with [`ScenarioFile::load`] and starts it with
/// [`ScenarioFile::simulator`] (HTTP) or [`ScenarioFile::virtual_source`] (in-process).
///
/// # Schema
///
/// Durations are strings of whole numbers and units, `ms`, `s`, `m`, `h`, possibly
/// combined: `"500ms"`, `"90s"`, `"20m"`, `"1h30m"`, `"0s"`. Unknown fields are errors, so a
/// misspelt field never silently does nothing. Every field is optional unless marked.
///
/// ```text
/// {
///   "description": "free text",
///   "project_id": "0605767a3300d5762fb7c0186d9e1779",   // the served project
///   "page_cap": 1000,                // most subtasks per page, whatever `limit` asks
///   "ignore_status_filter": false,   // serve every status whatever `status` says
///   "generate": GENERATE,            // shorthand for "jobs": [{"generate": GENERATE}]
///   "jobs": [JOB, …],
///   "faults": {
///     "schedule": [                  // requests counted from 0, every request included
///       {"request": 3, "fault": FAULT},          // one request
///       {"from": 5, "to": 8, "fault": FAULT},    // 5, 6, 7 ("to" left out: forever)
///     ],                             // where entries overlap, the later one wins
///     "random": {"rate": 0.1, "seed": 7, "choices": [FAULT, …]}
///   },
///   "rate_limit": {"requests": 200, "window": "1m"},   // per access key (and the token)
///   "extra_keys": [{"access_key": "AK2", "secret_key": "SK2",
///                   "rate_limit": {"requests": 5, "window": "5s"}}]
/// }
///
/// JOB (times count from the job's "created_at"):
/// {
///   "description": "free text",
///   "job_id": "job-1",               // default job-N (N its position from 1)
///   "job_type": "createDesktops",
///   "desktop_pool_id": "pool-1",     // matched by the listing's desktop_pool_id filter
///   "created_at": "0s",              // the job is unknown (404) before
///   "failure": {"at": "4m", "error_code": "WKS.0206", "fail_reason": "…"},  // job-level
///   "progress": SHAPE,               // default curve of its desktops
///   "desktops": [DESKTOP, …],        // either desktops, or generate, or neither
///   "generate": GENERATE,
///   "copies": 20, "copies_every": "30s"  // with generate: jobs JOB_ID-1 … JOB_ID-20,
///                                        // created 30 s apart, seeds seed … seed+19
/// }
///
/// DESKTOP (only "end_at" matters to most scenarios):
/// {
///   "subtask_id": "…", "desktop_id": "…", "desktop_name": "…", "user_name": "…",
///                                    // defaults JOB_ID-sub-0001, desk-id-0001, desktop-0001, user-0001
///   "visible_at": "5s",              // listed from here (waves: different values); default 0s
///   "start_at": "10s",               // WAITING before, RUNNING from here; default visible_at
///   "end_at": "5m",                  // terminal from here; left out: never ends
///   "nominal_end": "10m",            // when its progress would reach 100 (a failure before
///                                    // it keeps the progress reached); default end_at
///   "fails": {"error_code": "WKS.0120", "fail_reason": "…"},   // ends FAILED; default SUCCESS
///   "running_status": "PAUSED",      // reported instead of RUNNING
///   "deleted_at": "20m",             // listed no more from here
///   "progress": SHAPE                // default the job's, else linear
/// }
///
/// GENERATE (a TimelineSpec; defaults as TimelineSpec::new):
/// {
///   "desktops": 200,                 // required
///   "failures": 3, "seed": 1,
///   "visible_after": "0s", "start_within": "10s", "finish_between": ["60s", "120s"],
///   "waves": 1, "wave_every": "60s",
///   "failures_between": ["1m", "3m"],  // failing desktops fail in this window
///   "progress": SHAPE
/// }
///
/// SHAPE (ProgressShape; parameters default to the values of ProgressShape::named):
///   {"shape": "linear"} | {"shape": "front_loaded", "percent": 90, "within": 10}
///   | {"shape": "plateau", "percent": 99, "from": 70} | {"shape": "accelerating", "power": 2}
///   | {"shape": "s_curve", "steepness": 10} | {"shape": "stall", "at": 40, "duration": "5m"}
///   | {"shape": "reset", "from": 70, "to": 10} | {"shape": "steps", "points": 10}
///   | {"shape": "absent"}
///
/// FAULT (Fault; "type" is Fault::name):
///   {"type": "throttle", "retry_after": "3s"} | {"type": "status", "status": 403,
///   "error_code": "APIGW.0302", "error_msg": "…"} | {"type": "server_error"}
///   | {"type": "unavailable"} | {"type": "truncated_body"} | {"type": "drop_connection"}
///   | {"type": "slow", "delay": "40s"} | {"type": "delete_between_pages"}
///   | {"type": "insert_between_pages"} | {"type": "empty_page"} | {"type": "body", "body": "{}"}
///   | {"type": "foreign_subtasks"} | {"type": "bad_ids", "defect": "missing"|"empty"|"null"}
///   | {"type": "duplicate_id"} | {"type": "short_page"} | {"type": "total_count", "delta": -1}
/// ```
///
/// A bad file is a [`ScenarioError`] naming the field by its path and the value:
///
/// ```
/// use wks_waiter::simulator::ScenarioFile;
///
/// let file = ScenarioFile::parse(r#"{"generate": {"desktops": 200, "failures": 3}}"#)?;
/// assert_eq!(file.scenario.jobs[0].desktops.len(), 200);
///
/// let err = ScenarioFile::parse(r#"{"jobs": [{"desktops": [{"end_at": "5 min"}]}]}"#)
///     .unwrap_err();
/// assert_eq!(err.path(), "jobs[0].desktops[0].end_at");
/// assert!(err.to_string().contains("`5 min`"), "{err}");
/// # Ok::<(), wks_waiter::simulator::ScenarioError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScenarioFile {
    /// The jobs and how the service pages.
    pub scenario: Scenario,
    /// What goes wrong, and on which request.
    pub faults: FaultPlan,
    /// The limit of every caller without its own.
    pub rate_limit: Option<RateLimit>,
    /// Key pairs accepted besides the simulator's own, each with its own limit.
    pub extra_keys: Vec<(AccessKey, Option<RateLimit>)>,
    /// The project served, when the file names one.
    pub project_id: Option<String>,
}

/// Why a scenario file was refused: the field, by its path (`jobs[2].desktops[5].end_at`,
/// empty for the document itself), and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    file: Option<PathBuf>,
    path: String,
    message: String,
}

impl ScenarioError {
    /// The path of the bad field, e.g. `jobs[2].desktops[5].end_at`; empty for the whole
    /// document (unreadable, or not JSON).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, naming the value.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: None,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "scenario file {}: ", file.display())?;
        }
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

impl ScenarioFile {
    /// Parses a scenario file's text.
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] naming the first bad field and its value.
    pub fn parse(json: &str) -> Result<Self, ScenarioError> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let document: Document =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                let path = error.path().to_string();
                let path = if path == "." || path == "?" {
                    String::new()
                } else {
                    path
                };
                ScenarioError::at(path, error.into_inner().to_string())
            })?;
        document.build()
    }

    /// Reads and parses the scenario file at `path`.
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] naming the file, and the field when the text is at fault.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let named = |mut error: ScenarioError| {
            error.file = Some(path.to_owned());
            error
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| named(ScenarioError::at("", format!("cannot read it: {error}"))))?;
        Self::parse(&text).map_err(named)
    }

    /// A simulator builder serving all of it; set the port, clock or log on it, then
    /// [`start`](SimulatorBuilder::start).
    pub fn simulator(self) -> SimulatorBuilder {
        let mut builder = Simulator::builder(self.scenario).faults(self.faults);
        if let Some(limit) = self.rate_limit {
            builder = builder.rate_limit(limit);
        }
        if let Some(project_id) = &self.project_id {
            builder = builder.project_id(project_id);
        }
        for (key, limit) in &self.extra_keys {
            builder = builder.extra_key(&key.access_key, key.secret_key.expose(), *limit);
        }
        builder
    }

    /// The same service in-process, in the virtual time of `clock`. It calls with the IAM
    /// token, so the rate limit applies to the token's window; extra keys play no part.
    pub fn virtual_source(self, clock: Arc<ManualClock>) -> VirtualSource {
        let mut source = VirtualSource::new(self.scenario, clock).with_faults(self.faults);
        if let Some(limit) = self.rate_limit {
            source = source.with_rate_limit(limit);
        }
        if let Some(project_id) = &self.project_id {
            source = source.with_project_id(project_id);
        }
        source
    }
}

/// A duration written as `"90s"`, `"20m"`, `"500ms"`, `"1h30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Text(Duration);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Text;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"90s\", \"20m\" or \"500ms\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text, E> {
                crate::time::parse_duration(text)
                    .map(Text)
                    .map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    #[allow(dead_code)] // Documentation for people; the simulator has no use for it.
    description: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    page_cap: Option<usize>,
    #[serde(default)]
    ignore_status_filter: bool,
    #[serde(default)]
    generate: Option<GenerateDoc>,
    #[serde(default)]
    jobs: Vec<JobDoc>,
    #[serde(default)]
    faults: Option<FaultsDoc>,
    #[serde(default)]
    rate_limit: Option<RateLimitDoc>,
    #[serde(default)]
    extra_keys: Vec<KeyDoc>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct JobDoc {
    #[serde(default)]
    #[allow(dead_code)] // Documentation for people.
    description: Option<String>,
    #[serde(default)]
    job_id: Option<String>,
    #[serde(default)]
    job_type: Option<String>,
    #[serde(default)]
    desktop_pool_id: Option<String>,
    #[serde(default)]
    created_at: Option<Text>,
    #[serde(default)]
    failure: Option<FailureDoc>,
    #[serde(default)]
    progress: Option<ShapeDoc>,
    #[serde(default)]
    desktops: Option<Vec<DesktopDoc>>,
    #[serde(default)]
    generate: Option<GenerateDoc>,
    #[serde(default)]
    copies: Option<usize>,
    #[serde(default)]
    copies_every: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailureDoc {
    at: Text,
    error_code: String,
    fail_reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DesktopDoc {
    #[serde(default)]
    subtask_id: Option<String>,
    #[serde(default)]
    desktop_id: Option<String>,
    #[serde(default)]
    desktop_name: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    visible_at: Option<Text>,
    #[serde(default)]
    start_at: Option<Text>,
    #[serde(default)]
    end_at: Option<Text>,
    #[serde(default)]
    nominal_end: Option<Text>,
    #[serde(default)]
    fails: Option<FailsDoc>,
    #[serde(default)]
    running_status: Option<String>,
    #[serde(default)]
    deleted_at: Option<Text>,
    #[serde(default)]
    progress: Option<ShapeDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailsDoc {
    error_code: String,
    fail_reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateDoc {
    desktops: usize,
    #[serde(default)]
    failures: usize,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    visible_after: Option<Text>,
    #[serde(default)]
    start_within: Option<Text>,
    #[serde(default)]
    finish_between: Option<(Text, Text)>,
    #[serde(default)]
    waves: Option<usize>,
    #[serde(default)]
    wave_every: Option<Text>,
    #[serde(default)]
    failures_between: Option<(Text, Text)>,
    #[serde(default)]
    progress: Option<ShapeDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case", deny_unknown_fields)]
enum ShapeDoc {
    Linear,
    FrontLoaded {
        #[serde(default = "ninety")]
        percent: u32,
        #[serde(default = "ten")]
        within: u32,
    },
    Plateau {
        #[serde(default = "ninety_nine")]
        percent: u32,
        #[serde(default = "seventy")]
        from: u32,
    },
    Accelerating {
        #[serde(default = "two")]
        power: u32,
    },
    SCurve {
        #[serde(default = "ten")]
        steepness: u32,
    },
    Stall {
        #[serde(default = "forty")]
        at: u32,
        #[serde(default = "five_minutes")]
        duration: Text,
    },
    Reset {
        #[serde(default = "seventy")]
        from: u32,
        #[serde(default = "ten")]
        to: u32,
    },
    Steps {
        #[serde(default = "ten")]
        points: u32,
    },
    Absent,
}

fn two() -> u32 {
    2
}
fn ten() -> u32 {
    10
}
fn forty() -> u32 {
    40
}
fn seventy() -> u32 {
    70
}
fn ninety() -> u32 {
    90
}
fn ninety_nine() -> u32 {
    99
}
fn five_minutes() -> Text {
    Text(Duration::from_secs(300))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsDoc {
    #[serde(default)]
    schedule: Vec<ScheduledDoc>,
    #[serde(default)]
    random: Option<RandomDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduledDoc {
    #[serde(default)]
    request: Option<u64>,
    #[serde(default)]
    from: Option<u64>,
    #[serde(default)]
    to: Option<u64>,
    fault: FaultDoc,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RandomDoc {
    rate: f64,
    #[serde(default)]
    seed: u64,
    choices: Vec<FaultDoc>,
}

/// A fault as one flat record rather than an enum tagged by `type`: serde reads a tagged
/// enum's fields from a buffer that loses their path, so a bad `delay` would be reported
/// on the fault as a whole. Which fields each type takes is checked when it is built.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultDoc {
    #[serde(rename = "type")]
    kind: FaultKind,
    #[serde(default)]
    retry_after: Option<Text>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_msg: Option<String>,
    #[serde(default)]
    delay: Option<Text>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    defect: Option<DefectDoc>,
    #[serde(default)]
    delta: Option<i64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultKind {
    Throttle,
    Status,
    ServerError,
    Unavailable,
    TruncatedBody,
    DropConnection,
    Slow,
    DeleteBetweenPages,
    InsertBetweenPages,
    EmptyPage,
    Body,
    ForeignSubtasks,
    BadIds,
    DuplicateId,
    ShortPage,
    TotalCount,
}

impl FaultKind {
    /// The fields a fault of this type takes besides `type`.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Throttle => &["retry_after"],
            Self::Status => &["status", "error_code", "error_msg"],
            Self::Slow => &["delay"],
            Self::Body => &["body"],
            Self::BadIds => &["defect"],
            Self::TotalCount => &["delta"],
            _ => &[],
        }
    }

    /// As written in a file, and as [`Fault::name`] says.
    fn name(self) -> &'static str {
        match self {
            Self::Throttle => "throttle",
            Self::Status => "status",
            Self::ServerError => "server_error",
            Self::Unavailable => "unavailable",
            Self::TruncatedBody => "truncated_body",
            Self::DropConnection => "drop_connection",
            Self::Slow => "slow",
            Self::DeleteBetweenPages => "delete_between_pages",
            Self::InsertBetweenPages => "insert_between_pages",
            Self::EmptyPage => "empty_page",
            Self::Body => "body",
            Self::ForeignSubtasks => "foreign_subtasks",
            Self::BadIds => "bad_ids",
            Self::DuplicateId => "duplicate_id",
            Self::ShortPage => "short_page",
            Self::TotalCount => "total_count",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DefectDoc {
    Missing,
    Empty,
    Null,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitDoc {
    requests: u32,
    window: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDoc {
    access_key: String,
    secret_key: String,
    #[serde(default)]
    rate_limit: Option<RateLimitDoc>,
}

type Checked<T> = Result<T, ScenarioError>;

fn percent(path: &str, name: &str, value: u32) -> Checked<u32> {
    if value > 100 {
        return Err(ScenarioError::at(
            format!("{path}.{name}"),
            format!("{value} is more than 100 (a percentage)"),
        ));
    }
    Ok(value)
}

impl ShapeDoc {
    fn build(&self, path: &str) -> Checked<ProgressShape> {
        Ok(match *self {
            Self::Linear => ProgressShape::Linear,
            Self::FrontLoaded { percent: p, within } => ProgressShape::FrontLoaded {
                percent: percent(path, "percent", p)?,
                within: percent(path, "within", within)?,
            },
            Self::Plateau { percent: p, from } => ProgressShape::Plateau {
                percent: percent(path, "percent", p)?,
                from: percent(path, "from", from)?,
            },
            Self::Accelerating { power } => ProgressShape::Accelerating { power },
            Self::SCurve { steepness } => ProgressShape::SCurve { steepness },
            Self::Stall { at, duration } => ProgressShape::Stall {
                at: percent(path, "at", at)?,
                duration: duration.0,
            },
            Self::Reset { from, to } => ProgressShape::Reset {
                from: percent(path, "from", from)?,
                to: percent(path, "to", to)?,
            },
            Self::Steps { points } => ProgressShape::Steps {
                points: percent(path, "points", points)?,
            },
            Self::Absent => ProgressShape::Absent,
        })
    }
}

impl FaultDoc {
    fn build(&self, path: &str) -> Checked<Fault> {
        let kind = self.kind;
        let given = [
            ("retry_after", self.retry_after.is_some()),
            ("status", self.status.is_some()),
            ("error_code", self.error_code.is_some()),
            ("error_msg", self.error_msg.is_some()),
            ("delay", self.delay.is_some()),
            ("body", self.body.is_some()),
            ("defect", self.defect.is_some()),
            ("delta", self.delta.is_some()),
        ];
        for (field, _) in given.iter().filter(|(_, present)| *present) {
            if !kind.fields().contains(field) {
                let name = kind.name();
                let expected = match kind.fields() {
                    [] => "none".to_owned(),
                    fields => fields
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                return Err(ScenarioError::at(
                    format!("{path}.{field}"),
                    format!(
                        "unknown field `{field}` for a fault of type `{name}`, expected {expected}"
                    ),
                ));
            }
        }
        let required = |field: &str| {
            ScenarioError::at(
                path,
                format!(
                    "missing field `{field}` for a fault of type `{}`",
                    kind.name()
                ),
            )
        };
        Ok(match kind {
            FaultKind::Throttle => Fault::Throttle {
                retry_after: match &self.retry_after {
                    None => None,
                    Some(Text(duration)) if duration.subsec_nanos() == 0 => {
                        Some(duration.as_secs())
                    }
                    Some(Text(duration)) => {
                        return Err(ScenarioError::at(
                            format!("{path}.retry_after"),
                            format!(
                                "{duration:?} is not whole seconds (Retry-After is in seconds)"
                            ),
                        ))
                    }
                },
            },
            FaultKind::Status => {
                let status = self.status.ok_or_else(|| required("status"))?;
                let error_code = self
                    .error_code
                    .as_ref()
                    .ok_or_else(|| required("error_code"))?;
                let error_msg = self
                    .error_msg
                    .as_ref()
                    .ok_or_else(|| required("error_msg"))?;
                if !(400..=599).contains(&status) {
                    return Err(ScenarioError::at(
                        format!("{path}.status"),
                        format!("{status} is not an error status (400 to 599)"),
                    ));
                }
                Fault::status(status, error_code, error_msg)
            }
            FaultKind::Slow => Fault::Slow(self.delay.as_ref().ok_or_else(|| required("delay"))?.0),
            FaultKind::Body => Fault::body(self.body.as_ref().ok_or_else(|| required("body"))?),
            FaultKind::BadIds => {
                Fault::BadIds(match self.defect.ok_or_else(|| required("defect"))? {
                    DefectDoc::Missing => IdDefect::Missing,
                    DefectDoc::Empty => IdDefect::Empty,
                    DefectDoc::Null => IdDefect::Null,
                })
            }
            FaultKind::TotalCount => {
                Fault::TotalCount(self.delta.ok_or_else(|| required("delta"))?)
            }
            FaultKind::ServerError => Fault::ServerError,
            FaultKind::Unavailable => Fault::Unavailable,
            FaultKind::TruncatedBody => Fault::TruncatedBody,
            FaultKind::DropConnection => Fault::DropConnection,
            FaultKind::DeleteBetweenPages => Fault::DeleteBetweenPages,
            FaultKind::InsertBetweenPages => Fault::InsertBetweenPages,
            FaultKind::EmptyPage => Fault::EmptyPage,
            FaultKind::ForeignSubtasks => Fault::ForeignSubtasks,
            FaultKind::DuplicateId => Fault::DuplicateId,
            FaultKind::ShortPage => Fault::ShortPage,
        })
    }
}

impl RateLimitDoc {
    fn build(&self, path: &str) -> Checked<RateLimit> {
        RateLimit::new(self.requests, self.window.0)
            .map_err(|error| ScenarioError::at(path, error.to_string()))
    }
}

fn id(path: String, field: &'static str, value: &str) -> Checked<String> {
    validate_id(field, value).map_err(|error| ScenarioError::at(path, error.to_string()))?;
    Ok(value.to_owned())
}

/// A `(from, to)` window that must not run backwards.
fn window(path: String, (from, to): (Text, Text)) -> Checked<(Duration, Duration)> {
    if to.0 < from.0 {
        return Err(ScenarioError::at(
            path,
            format!("ends ({:?}) before it starts ({:?})", to.0, from.0),
        ));
    }
    Ok((from.0, to.0))
}

impl GenerateDoc {
    fn build(&self, path: &str) -> Checked<TimelineSpec> {
        if self.failures > self.desktops {
            return Err(ScenarioError::at(
                format!("{path}.failures"),
                format!(
                    "{} is more than the {}",
                    self.failures,
                    plural(self.desktops as u64, "desktop")
                ),
            ));
        }
        let mut spec = TimelineSpec::new(self.desktops);
        spec.failures = self.failures;
        if let Some(seed) = self.seed {
            spec.seed = seed;
        }
        if let Some(Text(visible)) = self.visible_after {
            spec.visible_after = visible;
        }
        if let Some(Text(within)) = self.start_within {
            spec.start_within = within;
        }
        if let Some(between) = self.finish_between {
            spec.finish_between = window(format!("{path}.finish_between"), between)?;
        }
        if let Some(waves) = self.waves {
            if waves == 0 {
                return Err(ScenarioError::at(
                    format!("{path}.waves"),
                    "0 waves: give at least 1",
                ));
            }
            spec.waves = waves;
        }
        if let Some(Text(every)) = self.wave_every {
            spec.wave_every = every;
        }
        if let Some(between) = self.failures_between {
            spec.failures_between = Some(window(format!("{path}.failures_between"), between)?);
        }
        if let Some(shape) = &self.progress {
            spec.progress = shape.build(&format!("{path}.progress"))?;
        }
        Ok(spec)
    }
}

impl DesktopDoc {
    fn build(
        &self,
        path: &str,
        number: usize,
        job: &JobPlan,
        shape: &ProgressShape,
    ) -> Checked<DesktopPlan> {
        let base = job.created_at;
        let at = |t: Option<Text>| t.map(|Text(t)| base.saturating_add(t));
        let defaults = DesktopPlan::new(number);
        let visible_at = at(self.visible_at).unwrap_or(base);
        let start_at = at(self.start_at).unwrap_or(visible_at);
        let end_at = at(self.end_at);
        for (name, value) in [("end_at", end_at), ("nominal_end", at(self.nominal_end))] {
            if let Some(value) = value.filter(|v| *v < start_at) {
                return Err(ScenarioError::at(
                    format!("{path}.{name}"),
                    format!(
                        "{:?} is before start_at ({:?})",
                        value.saturating_sub(base),
                        start_at.saturating_sub(base)
                    ),
                ));
            }
        }
        let text = |value: &Option<String>, field: &'static str, default: String| match value {
            Some(value) if value.is_empty() => Err(ScenarioError::at(
                format!("{path}.{field}"),
                "must not be empty",
            )),
            Some(value) => Ok(value.clone()),
            None => Ok(default),
        };
        Ok(DesktopPlan {
            subtask_id: text(
                &self.subtask_id,
                "subtask_id",
                format!("{}-sub-{number:04}", job.job_id),
            )?,
            desktop_id: text(&self.desktop_id, "desktop_id", defaults.desktop_id)?,
            desktop_name: text(&self.desktop_name, "desktop_name", defaults.desktop_name)?,
            user_name: text(&self.user_name, "user_name", defaults.user_name)?,
            visible_at,
            start_at,
            end_at,
            outcome: match &self.fails {
                Some(fails) => Outcome::failed(&fails.error_code, &fails.fail_reason),
                None => Outcome::Success,
            },
            running_status: self.running_status.clone(),
            deleted_at: at(self.deleted_at),
            progress: match &self.progress {
                Some(shape) => shape.build(&format!("{path}.progress"))?,
                None => shape.clone(),
            },
            nominal_end: at(self.nominal_end),
        })
    }
}

impl JobDoc {
    /// The jobs this entry stands for (several with `copies`).
    fn build(&self, path: &str, position: usize) -> Checked<Vec<JobPlan>> {
        let job_id = match &self.job_id {
            Some(job_id) => id(format!("{path}.job_id"), "job_id", job_id)?,
            None => format!("job-{position}"),
        };
        let created_at = self.created_at.map_or(Duration::ZERO, |Text(t)| t);
        let mut template = JobPlan::new(&job_id, Vec::new());
        template.created_at = created_at;
        if let Some(job_type) = &self.job_type {
            template.job_type = id(format!("{path}.job_type"), "job_type", job_type)?;
        }
        if let Some(pool) = &self.desktop_pool_id {
            template.desktop_pool_id = Some(id(
                format!("{path}.desktop_pool_id"),
                "desktop_pool_id",
                pool,
            )?);
        }
        template.failure = self.failure.as_ref().map(|failure| JobFailure {
            at: created_at.saturating_add(failure.at.0),
            error_code: failure.error_code.clone(),
            fail_reason: failure.fail_reason.clone(),
        });
        let shape = match &self.progress {
            Some(shape) => Some(shape.build(&format!("{path}.progress"))?),
            None => None,
        };
        let copies = self.copies.unwrap_or(1);
        if self.copies == Some(0) {
            return Err(ScenarioError::at(
                format!("{path}.copies"),
                "0 copies: give at least 1, or leave it out",
            ));
        }
        match (&self.desktops, &self.generate) {
            (Some(_), Some(_)) => Err(ScenarioError::at(
                path,
                "give either `desktops` or `generate`, not both",
            )),
            (desktops, None) => {
                if self.copies.is_some() || self.copies_every.is_some() {
                    let field = if self.copies.is_some() {
                        "copies"
                    } else {
                        "copies_every"
                    };
                    return Err(ScenarioError::at(
                        format!("{path}.{field}"),
                        "copies are made of generated jobs: use it with `generate`",
                    ));
                }
                let shape = shape.unwrap_or_default();
                let mut job = template;
                for (i, desktop) in desktops.iter().flatten().enumerate() {
                    let plan =
                        desktop.build(&format!("{path}.desktops[{i}]"), i + 1, &job, &shape)?;
                    job.desktops.push(plan);
                }
                Ok(vec![job])
            }
            (None, Some(generate)) => {
                // The shorthand `generate` of the document is the job's generate itself.
                let generate_path = if path == "generate" {
                    path.to_owned()
                } else {
                    format!("{path}.generate")
                };
                let mut spec = generate.build(&generate_path)?;
                if let Some(shape) = shape {
                    if generate.progress.is_some() {
                        return Err(ScenarioError::at(
                            format!("{path}.progress"),
                            "give the progress shape once: here or in `generate`",
                        ));
                    }
                    spec.progress = shape;
                }
                spec.job_type = template.job_type.clone();
                spec.desktop_pool_id = template.desktop_pool_id.clone();
                let every = self.copies_every.map_or(Duration::ZERO, |Text(t)| t);
                let jobs = (0..copies)
                    .map(|k| {
                        let shift = every.saturating_mul(u32::try_from(k).unwrap_or(u32::MAX));
                        let job_id = if self.copies.is_some() {
                            format!("{job_id}-{}", k + 1)
                        } else {
                            job_id.clone()
                        };
                        let spec = TimelineSpec {
                            created_at: created_at.saturating_add(shift),
                            seed: spec.seed.wrapping_add(k as u64),
                            ..spec.clone()
                        };
                        let mut job = JobPlan::generate(&job_id, &spec);
                        job.failure = template.failure.as_ref().map(|failure| JobFailure {
                            at: failure.at.saturating_add(shift),
                            ..failure.clone()
                        });
                        job
                    })
                    .collect();
                Ok(jobs)
            }
        }
    }
}

impl Document {
    fn build(self) -> Checked<ScenarioFile> {
        let mut scenario = Scenario::new().ignore_status_filter(self.ignore_status_filter);
        if let Some(cap) = self.page_cap {
            scenario = scenario.page_cap(cap);
        }
        let shorthand = self.generate.map(|generate| JobDoc {
            generate: Some(generate),
            ..JobDoc::default()
        });
        let entries: Vec<(String, JobDoc)> = shorthand
            .into_iter()
            .map(|job| ("generate".to_owned(), job))
            .chain(
                self.jobs
                    .into_iter()
                    .enumerate()
                    .map(|(i, job)| (format!("jobs[{i}]"), job)),
            )
            .collect();
        let mut job_paths: HashMap<String, String> = HashMap::new();
        let mut subtask_paths: HashMap<String, String> = HashMap::new();
        for (position, (path, entry)) in entries.iter().enumerate() {
            // The shorthand job sits in the `generate` field, not in a `job_id` of its own.
            let id_path = if path == "generate" {
                path.clone()
            } else {
                format!("{path}.job_id")
            };
            for job in entry.build(path, position + 1)? {
                if let Some(first) = job_paths.insert(job.job_id.clone(), path.clone()) {
                    return Err(ScenarioError::at(
                        id_path,
                        format!("job `{}` is already defined by {first}", job.job_id),
                    ));
                }
                for (i, desktop) in job.desktops.iter().enumerate() {
                    let here = format!("{path}.desktops[{i}].subtask_id");
                    if let Some(first) =
                        subtask_paths.insert(desktop.subtask_id.clone(), here.clone())
                    {
                        return Err(ScenarioError::at(
                            here,
                            format!(
                                "subtask `{}` is already defined at {first}",
                                desktop.subtask_id
                            ),
                        ));
                    }
                }
                scenario = scenario.job(job);
            }
        }
        let mut faults = FaultPlan::new();
        if let Some(doc) = &self.faults {
            for (i, entry) in doc.schedule.iter().enumerate() {
                let path = format!("faults.schedule[{i}]");
                let fault = entry.fault.build(&format!("{path}.fault"))?;
                let range = match (entry.request, entry.from, entry.to) {
                    (Some(index), None, None) => index..index.saturating_add(1),
                    (None, Some(from), to) => {
                        let to = to.unwrap_or(u64::MAX);
                        if to <= from {
                            return Err(ScenarioError::at(
                                format!("{path}.to"),
                                format!("{to} is not after from ({from}); `to` is exclusive"),
                            ));
                        }
                        from..to
                    }
                    _ => {
                        return Err(ScenarioError::at(
                            path,
                            "give either `request`, or `from` (and optionally `to`)",
                        ))
                    }
                };
                faults = faults.on_requests(range, fault);
            }
            if let Some(random) = &doc.random {
                if !(0.0..=1.0).contains(&random.rate) {
                    return Err(ScenarioError::at(
                        "faults.random.rate",
                        format!("{} is not a probability between 0 and 1", random.rate),
                    ));
                }
                let choices = random
                    .choices
                    .iter()
                    .enumerate()
                    .map(|(i, fault)| fault.build(&format!("faults.random.choices[{i}]")))
                    .collect::<Checked<Vec<_>>>()?;
                faults = faults.random(random.rate, random.seed, choices);
            }
        }
        let rate_limit = match &self.rate_limit {
            Some(limit) => Some(limit.build("rate_limit")?),
            None => None,
        };
        let mut extra_keys = Vec::new();
        for (i, key) in self.extra_keys.iter().enumerate() {
            let path = format!("extra_keys[{i}]");
            for (name, value) in [
                ("access_key", &key.access_key),
                ("secret_key", &key.secret_key),
            ] {
                if value.trim().is_empty() {
                    return Err(ScenarioError::at(
                        format!("{path}.{name}"),
                        "must not be empty",
                    ));
                }
            }
            let limit = match &key.rate_limit {
                Some(limit) => Some(limit.build(&format!("{path}.rate_limit"))?),
                None => None,
            };
            extra_keys.push((
                AccessKey {
                    access_key: key.access_key.clone(),
                    secret_key: Secret::new(key.secret_key.clone()),
                    security_token: None,
                },
                limit,
            ));
        }
        let project_id = match &self.project_id {
            Some(project) => Some(id("project_id".to_owned(), "project_id", project)?),
            None => None,
        };
        Ok(ScenarioFile {
            scenario,
            faults,
            rate_limit,
            extra_keys,
            project_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn refused(json: &str) -> ScenarioError {
        ScenarioFile::parse(json).expect_err(json)
    }

    #[test]
    fn hand_written_jobs_become_plans() {
        let file = ScenarioFile::parse(
            r#"{
              "project_id": "p-1",
              "page_cap": 50,
              "jobs": [{
                "job_id": "job-a",
                "created_at": "1m",
                "progress": {"shape": "front_loaded"},
                "failure": {"at": "10m", "error_code": "WKS.0206", "fail_reason": "quota"},
                "desktops": [
                  {"end_at": "5m"},
                  {"visible_at": "30s", "start_at": "1m", "end_at": "4m", "nominal_end": "8m",
                   "fails": {"error_code": "WKS.0120", "fail_reason": "capacity"},
                   "progress": {"shape": "steps", "points": 25}, "deleted_at": "9m",
                   "running_status": "PAUSED", "desktop_name": "custom"}
                ]
              }]
            }"#,
        )
        .unwrap();
        assert_eq!(file.project_id.as_deref(), Some("p-1"));
        assert_eq!(file.scenario.page_cap, 50);
        let job = &file.scenario.jobs[0];
        assert_eq!(job.created_at, secs(60));
        assert_eq!(job.failure.as_ref().unwrap().at, secs(660));
        let [first, second] = &job.desktops[..] else {
            panic!("{job:?}")
        };
        assert_eq!(first.subtask_id, "job-a-sub-0001");
        assert_eq!(
            (first.visible_at, first.start_at, first.end_at),
            (secs(60), secs(60), Some(secs(360)))
        );
        assert_eq!(
            first.progress,
            ProgressShape::FrontLoaded {
                percent: 90,
                within: 10
            }
        );
        assert_eq!(second.desktop_name, "custom");
        assert_eq!(second.user_name, "user-0002");
        assert_eq!((second.visible_at, second.start_at), (secs(90), secs(120)));
        assert_eq!(
            (second.end_at, second.nominal_end),
            (Some(secs(300)), Some(secs(540)))
        );
        assert_eq!(second.outcome, Outcome::failed("WKS.0120", "capacity"));
        assert_eq!(second.progress, ProgressShape::Steps { points: 25 });
        assert_eq!(second.deleted_at, Some(secs(600)));
        assert_eq!(second.running_status.as_deref(), Some("PAUSED"));
    }

    #[test]
    fn generated_jobs_copies_faults_and_limits() {
        let file = ScenarioFile::parse(
            r#"{
              "generate": {"desktops": 20, "failures": 2, "waves": 2, "wave_every": "2m",
                           "finish_between": ["5m", "10m"], "failures_between": ["1m", "2m"],
                           "progress": {"shape": "stall", "duration": "1m"}},
              "jobs": [{"job_id": "bg", "job_type": "deleteDesktops", "copies": 3,
                        "copies_every": "30s", "generate": {"desktops": 5, "failures": 5}}],
              "faults": {
                "schedule": [
                  {"request": 0, "fault": {"type": "throttle", "retry_after": "3s"}},
                  {"from": 2, "to": 4, "fault": {"type": "bad_ids", "defect": "empty"}},
                  {"from": 10, "fault": {"type": "total_count", "delta": -1}}
                ],
                "random": {"rate": 1.0, "seed": 4, "choices": [{"type": "short_page"}]}
              },
              "rate_limit": {"requests": 200, "window": "1m"},
              "extra_keys": [{"access_key": "AK2", "secret_key": "SK2",
                              "rate_limit": {"requests": 5, "window": "5s"}}]
            }"#,
        )
        .unwrap();
        let ids: Vec<_> = file
            .scenario
            .jobs
            .iter()
            .map(|j| j.job_id.as_str())
            .collect();
        assert_eq!(ids, ["job-1", "bg-1", "bg-2", "bg-3"]);
        let main = &file.scenario.jobs[0];
        assert_eq!(main.desktops.len(), 20);
        assert_eq!(main.desktops[19].visible_at, secs(120));
        assert_eq!(
            main.desktops[0].progress,
            ProgressShape::Stall {
                at: 40,
                duration: secs(60)
            }
        );
        let spec = TimelineSpec {
            failures: 2,
            waves: 2,
            wave_every: secs(120),
            finish_between: (secs(300), secs(600)),
            failures_between: Some((secs(60), secs(120))),
            progress: ProgressShape::Stall {
                at: 40,
                duration: secs(60),
            },
            ..TimelineSpec::new(20)
        };
        assert_eq!(
            *main,
            JobPlan::generate("job-1", &spec),
            "the file is a TimelineSpec"
        );
        assert_eq!(file.scenario.jobs[3].created_at, secs(60));
        assert_eq!(file.scenario.jobs[3].job_type, "deleteDesktops");
        assert_ne!(
            file.scenario.jobs[1].desktops[0].subtask_id,
            file.scenario.jobs[2].desktops[0].subtask_id
        );
        assert_eq!(
            file.faults.fault_for(0),
            Some(Fault::Throttle {
                retry_after: Some(3)
            })
        );
        assert_eq!(
            file.faults.fault_for(3),
            Some(Fault::BadIds(IdDefect::Empty))
        );
        assert_eq!(file.faults.fault_for(4), Some(Fault::ShortPage));
        assert_eq!(
            file.faults.fault_for(1_000_000),
            Some(Fault::TotalCount(-1))
        );
        assert_eq!(file.rate_limit, Some(RateLimit::per_minute(200).unwrap()));
        assert_eq!(file.extra_keys[0].0.access_key, "AK2");
        assert_eq!(
            file.extra_keys[0].1,
            Some(RateLimit::new(5, secs(5)).unwrap())
        );
    }

    #[test]
    fn every_fault_type_reads() {
        let types = [
            r#"{"type": "throttle"}"#,
            r#"{"type": "status", "status": 403, "error_code": "APIGW.0302", "error_msg": "no"}"#,
            r#"{"type": "server_error"}"#,
            r#"{"type": "unavailable"}"#,
            r#"{"type": "truncated_body"}"#,
            r#"{"type": "drop_connection"}"#,
            r#"{"type": "slow", "delay": "40s"}"#,
            r#"{"type": "delete_between_pages"}"#,
            r#"{"type": "insert_between_pages"}"#,
            r#"{"type": "empty_page"}"#,
            r#"{"type": "body", "body": "[]"}"#,
            r#"{"type": "foreign_subtasks"}"#,
            r#"{"type": "bad_ids", "defect": "null"}"#,
            r#"{"type": "duplicate_id"}"#,
            r#"{"type": "short_page"}"#,
            r#"{"type": "total_count", "delta": 2}"#,
        ];
        for (i, fault) in types.iter().enumerate() {
            let json =
                format!(r#"{{"faults": {{"schedule": [{{"request": {i}, "fault": {fault}}}]}}}}"#);
            let file = ScenarioFile::parse(&json).unwrap();
            let parsed = file.faults.fault_for(i as u64).unwrap();
            let name: serde_json::Value = serde_json::from_str(fault).unwrap();
            assert_eq!(parsed.name(), name["type"], "{fault}");
        }
    }

    #[test]
    fn bad_files_name_the_field_and_the_value() {
        for (json, path, needle) in [
            ("{", "", "EOF"),
            (
                r#"{"jobs": [{}, {"desktops": [{}, {"end_at": 5}]}]}"#,
                "jobs[1].desktops[1].end_at",
                "integer `5`",
            ),
            (
                r#"{"jobs": [{"desktops": [{"edn_at": "5m"}]}]}"#,
                "jobs[0].desktops[0].edn_at",
                "`edn_at`",
            ),
            (
                r#"{"jobs": [{"desktops": [{"start_at": "5m", "end_at": "1m"}]}]}"#,
                "jobs[0].desktops[0].end_at",
                "60s is before start_at (300s)",
            ),
            (
                r#"{"jobs": [{"job_id": "a b"}]}"#,
                "jobs[0].job_id",
                "`a b`",
            ),
            (
                r#"{"jobs": [{"job_id": "a"}, {"job_id": "a"}]}"#,
                "jobs[1].job_id",
                "already defined by jobs[0]",
            ),
            (
                r#"{"jobs": [{"desktops": [{"subtask_id": "s"}]}, {"desktops": [{"subtask_id": "s"}]}]}"#,
                "jobs[1].desktops[0].subtask_id",
                "jobs[0].desktops[0].subtask_id",
            ),
            (
                r#"{"generate": {"desktops": 3, "failures": 4}}"#,
                "generate.failures",
                "4 is more than the 3",
            ),
            (
                r#"{"generate": {"failures": 4}}"#,
                "generate",
                "missing field `desktops`",
            ),
            (
                r#"{"generate": {"desktops": 3, "progress": {"shape": "front_loaded", "percent": 150}}}"#,
                "generate.progress.percent",
                "150",
            ),
            (
                r#"{"generate": {"desktops": 3, "progress": {"shape": "wobbly"}}}"#,
                "generate.progress.shape",
                "`wobbly`",
            ),
            (
                r#"{"generate": {"desktops": 3, "finish_between": ["5m", "1m"]}}"#,
                "generate.finish_between",
                "ends (60s) before it starts (300s)",
            ),
            (
                r#"{"jobs": [{"desktops": [], "generate": {"desktops": 1}}]}"#,
                "jobs[0]",
                "not both",
            ),
            (
                r#"{"jobs": [{"copies": 2, "desktops": []}]}"#,
                "jobs[0].copies",
                "generate",
            ),
            (
                r#"{"faults": {"schedule": [{"fault": {"type": "empty_page"}}]}}"#,
                "faults.schedule[0]",
                "`request`",
            ),
            (
                r#"{"faults": {"schedule": [{"from": 4, "to": 2, "fault": {"type": "empty_page"}}]}}"#,
                "faults.schedule[0].to",
                "2 is not after from (4)",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "flood"}}]}}"#,
                "faults.schedule[0].fault.type",
                "`flood`",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "status", "status": 200, "error_code": "x", "error_msg": "y"}}]}}"#,
                "faults.schedule[0].fault.status",
                "200",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "throttle", "retry_after": "1500ms"}}]}}"#,
                "faults.schedule[0].fault.retry_after",
                "whole seconds",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "slow", "delay": "-5s"}}]}}"#,
                "faults.schedule[0].fault.delay",
                "`-5s` is negative",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "slow", "delay": 5}}]}}"#,
                "faults.schedule[0].fault.delay",
                "integer `5`",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "slow"}}]}}"#,
                "faults.schedule[0].fault",
                "missing field `delay` for a fault of type `slow`",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "slow", "dleay": "5s"}}]}}"#,
                "faults.schedule[0].fault.dleay",
                "`dleay`",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "throttle", "delay": "5s"}}]}}"#,
                "faults.schedule[0].fault.delay",
                "unknown field `delay` for a fault of type `throttle`, expected `retry_after`",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "empty_page", "body": "{}"}}]}}"#,
                "faults.schedule[0].fault.body",
                "for a fault of type `empty_page`, expected none",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "status", "status": "x", "error_code": "a", "error_msg": "b"}}]}}"#,
                "faults.schedule[0].fault.status",
                "string \"x\"",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"type": "bad_ids", "defect": "weird"}}]}}"#,
                "faults.schedule[0].fault.defect",
                "`weird`",
            ),
            (
                r#"{"faults": {"random": {"rate": 0.5, "choices": [{"type": "total_count", "delta": 1.5}]}}}"#,
                "faults.random.choices[0].delta",
                "1.5",
            ),
            (
                r#"{"faults": {"schedule": [{"request": 1, "fault": {"delay": "5s"}}]}}"#,
                "faults.schedule[0].fault",
                "missing field `type`",
            ),
            (
                r#"{"faults": {"random": {"rate": 1.5, "choices": []}}}"#,
                "faults.random.rate",
                "1.5",
            ),
            (
                r#"{"rate_limit": {"requests": 0, "window": "1m"}}"#,
                "rate_limit",
                "`0`",
            ),
            (
                r#"{"rate_limit": {"requests": 10, "window": "1 minute"}}"#,
                "rate_limit.window",
                "`1 minute`",
            ),
            (
                r#"{"extra_keys": [{"access_key": "", "secret_key": "s"}]}"#,
                "extra_keys[0].access_key",
                "empty",
            ),
            (r#"{"project_id": "../x"}"#, "project_id", "`../x`"),
            (r#"{"jbos": []}"#, "jbos", "`jbos`"),
        ] {
            let err = refused(json);
            assert_eq!(err.path(), path, "{json}: {err}");
            assert!(
                err.to_string().contains(needle),
                "{json}: {err} lacks {needle}"
            );
        }
    }

    #[test]
    fn a_missing_file_names_itself() {
        let err = ScenarioFile::load("/nonexistent/scenario.json").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("scenario file /nonexistent/scenario.json: cannot read it"),
            "{text}"
        );
        assert_eq!(err.path(), "");
    }
}
