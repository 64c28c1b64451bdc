//! The response model of `GET /v2/{project_id}/workspace-sub-jobs` and
//! `GET /v2/{project_id}/workspace-jobs/{job_id}`, and how it is decoded.
//!
//! # Decoding: strict where it matters, lenient elsewhere
//!
//! What the client relies on is checked, and a body that fails a check is malformed (a
//! [`DecodeError`], which the client reports as a retryable [`Error::Decode`]):
//!
//! - a page and each of its subtasks are JSON objects (`[]` is not a page);
//! - `total_count` is present and a non-negative integer;
//! - `jobs` is present and an array;
//! - every subtask of a page has an `id` that is a non-empty string: without one, two
//!   subtasks could not be told apart or followed from poll to poll;
//! - a body that is an error object (`{"error_code": …, "error_msg": …}`) is not a page,
//!   even with a success status.
//!
//! Every other field is optional, as the service documents them, and lenient: a value of
//! the wrong type costs that field, never the page. A string field reads a JSON string;
//! `null`, `""` and any other type read as `None`. `status` reads any string (unknown
//! values are kept in [`SubtaskStatus::Unknown`]); `process` reads an integer 0..=100 or a
//! string holding one. Unknown fields are ignored. A job's details ([`JobDetails`]) must be
//! an object, and not an error object (one with `error_code` or `error_msg` and neither
//! `id` nor `status`); all their fields are lenient, and `sub_jobs` entries that are not
//! objects are skipped.
//!
//! One limit of the JSON parser: a number beyond the range of a 64-bit float (`1e400`, a
//! 400-digit integer) fails the whole body, wherever it stands, as a decode error (which
//! the waiter retries), not the field alone.
//!
//! [`Error::Decode`]: crate::Error::Decode

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// The service's maximum page size, and the default.
pub const MAX_LIMIT: u32 = 1000;

/// The highest `offset` the service documents; paging stops with an error past it.
pub const MAX_OFFSET: u64 = 10_000;

/// The status of one subtask.
///
/// The service may add states; an unknown value is kept verbatim in [`Unknown`] and counts
/// as not finished.
///
/// [`Unknown`]: SubtaskStatus::Unknown
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubtaskStatus {
    /// Queued, not started yet.
    Waiting,
    /// In progress.
    Running,
    /// Finished successfully. Terminal.
    Success,
    /// Finished with an error (`error_code`, `fail_reason`). Terminal. Some responses spell
    /// it `FAIL`.
    Failed,
    /// A value this crate does not know, kept as the service sent it.
    Unknown(String),
}

impl SubtaskStatus {
    /// Parses the service's spelling; never fails, unknown values become [`Unknown`].
    ///
    /// [`Unknown`]: SubtaskStatus::Unknown
    pub fn parse(text: &str) -> Self {
        match text {
            "WAITING" => Self::Waiting,
            "RUNNING" => Self::Running,
            "SUCCESS" => Self::Success,
            "FAILED" | "FAIL" => Self::Failed,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The service's spelling of this status.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Waiting => "WAITING",
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
            Self::Unknown(text) => text,
        }
    }

    /// `true` for [`Success`](Self::Success) and [`Failed`](Self::Failed): the subtask will
    /// not change again. Unknown statuses are not terminal.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Success | Self::Failed)
    }
}

/// `Display`, `Serialize` and `Deserialize` of a status enum through its `as_str` and
/// `parse`: written as the service spells it, read whatever the service sent.
macro_rules! status_text {
    ($status:ident) => {
        impl fmt::Display for $status {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $status {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $status {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::parse(&text))
            }
        }
    };
}

status_text!(SubtaskStatus);

/// What a subtask operates on: for desktop jobs, the desktop and its user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entities {
    /// Desktop ID.
    pub desktop_id: Option<String>,
    /// Product (flavor) ID, e.g. `workspace.c2.large.windows`; shared by the subtasks of
    /// a page that repeat it (see [`Subtask::job_id`]).
    pub product_id: Option<Arc<str>>,
    /// The desktop's user.
    pub user_name: Option<String>,
    /// Desktop name.
    pub desktop_name: Option<String>,
    /// Desktop IP address.
    pub ip_address: Option<String>,
}

/// One subtask (`JobDetailInfo`): usually one desktop of a job.
///
/// Every field is optional, as the service documents them; see the [module](self) for
/// how each is decoded. In a listing ([`SubtaskPage`]) a subtask always has an `id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Subtask {
    /// Subtask ID.
    pub id: Option<String>,
    /// Task type, e.g. `createDesktops`.
    pub job_type: Option<Arc<str>>,
    /// What the subtask operates on.
    pub entities: Option<Entities>,
    /// Start time, `YYYY-MM-DD hh:mm:ss` as the service writes it; shared like
    /// [`job_id`](Self::job_id), since the desktops of a batch start together.
    pub begin_time: Option<Arc<str>>,
    /// End time, `YYYY-MM-DD hh:mm:ss`; the service sends `""` (read as `None`) or a value
    /// while the subtask is still running. Shared like [`job_id`](Self::job_id).
    pub end_time: Option<Arc<str>>,
    /// Status; `None` when the service omitted it (counts as not finished).
    pub status: Option<SubtaskStatus>,
    /// Error code of a failed subtask.
    pub error_code: Option<String>,
    /// Why a failed subtask failed.
    pub fail_reason: Option<String>,
    /// IP of the server executing the task.
    pub host: Option<Arc<str>>,
    /// Owning project.
    pub project_id: Option<Arc<str>>,
    /// Parent job.
    ///
    /// This, `job_type`, `project_id`, `host`, `begin_time`, `end_time` and
    /// `entities.product_id` are often the same for many subtasks of a page: they are
    /// shared (`Arc<str>`), decoded once for a run of subtasks repeating them, which spares
    /// up to seven of the dozen allocations a subtask otherwise costs on every poll. Read
    /// them with `as_deref()`.
    pub job_id: Option<Arc<str>>,
    /// Progress, 0..=100: a JSON integer, or a string holding one (`"50"`); anything else,
    /// values above 100 included, reads as `None`.
    pub process: Option<u32>,
    /// Associated user.
    pub attach_user: Option<String>,
    /// Operation object.
    pub entity: Option<String>,
    /// IP address.
    pub ip_address: Option<String>,
    /// Message.
    pub message: Option<String>,
}

impl Subtask {
    /// `true` when the status is known and terminal.
    pub fn is_terminal(&self) -> bool {
        self.status.as_ref().is_some_and(SubtaskStatus::is_terminal)
    }

    /// The desktop this subtask is about, if the service said.
    pub fn desktop_id(&self) -> Option<&str> {
        self.entities.as_ref()?.desktop_id.as_deref()
    }

    /// The desktop's name, if the service said.
    pub fn desktop_name(&self) -> Option<&str> {
        self.entities.as_ref()?.desktop_name.as_deref()
    }

    /// The desktop's user, from `entities.user_name` or else `attach_user`.
    pub fn user_name(&self) -> Option<&str> {
        self.entities
            .as_ref()
            .and_then(|e| e.user_name.as_deref())
            .or(self.attach_user.as_deref())
    }
}

/// One page of a listing: `{ "total_count": …, "jobs": [ … ] }`.
///
/// Decoding checks what the client relies on (see the [module](self)); every subtask of a
/// decoded page has an `id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SubtaskPage {
    /// Number of subtasks matching the query, across all pages.
    pub total_count: u64,
    /// The subtasks on this page (`jobs` in the API's JSON).
    #[serde(rename = "jobs")]
    pub subtasks: Vec<Subtask>,
}

impl SubtaskPage {
    /// A page holding `subtasks`, claiming `total_count` matches overall.
    pub fn new(total_count: u64, subtasks: Vec<Subtask>) -> Self {
        Self {
            total_count,
            subtasks,
        }
    }

    /// Decodes a response body, as the client does.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] saying what is wrong: not JSON, truncated, not an object, or a
    /// required field (`total_count`, `jobs`, a subtask's `id`) missing or unusable.
    pub fn from_json(body: &[u8]) -> Result<Self, DecodeError> {
        from_json(body)
    }
}

/// Decodes `body` after one UTF-8 check for the whole body: parsing from `&str` spares
/// serde_json a validation per string (18 % fewer instructions on a full page). A body
/// that is not UTF-8 goes the byte way, so the error says where.
fn from_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::new("the body is empty".to_owned(), None));
    }
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
    .map_err(DecodeError::from_json)
}

/// The status of a job as a whole (`GET /v2/{project_id}/workspace-jobs/{job_id}`).
///
/// The service does not document the values; `SUCCESS` and `COMPLETE` read as
/// [`Success`](Self::Success), `FAIL` and `FAILED` as [`Failed`](Self::Failed), as the
/// Terraform provider reads them. Anything else counts as not finished.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobStatus {
    /// `INIT` or `WAITING`: accepted, not started.
    Waiting,
    /// `RUNNING`.
    Running,
    /// `SUCCESS` or `COMPLETE`. Terminal.
    Success,
    /// `FAIL` or `FAILED`: the job failed as a whole (`job_error_code`, `fail_reason`).
    /// Terminal.
    Failed,
    /// A value this crate does not know, kept as sent; counts as not finished.
    Unknown(String),
}

impl JobStatus {
    /// Parses the service's spelling; never fails.
    pub fn parse(text: &str) -> Self {
        match text {
            "INIT" | "WAITING" => Self::Waiting,
            "RUNNING" => Self::Running,
            "SUCCESS" | "COMPLETE" => Self::Success,
            "FAIL" | "FAILED" => Self::Failed,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The canonical spelling of this status.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Waiting => "WAITING",
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Failed => "FAIL",
            Self::Unknown(text) => text,
        }
    }

    /// `true` for [`Success`](Self::Success) and [`Failed`](Self::Failed).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Success | Self::Failed)
    }
}

status_text!(JobStatus);

/// A job as `GET /v2/{project_id}/workspace-jobs/{job_id}` describes it.
///
/// The body must be a JSON object; every field is optional and lenient (see the
/// [module](self)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobDetails {
    /// The job ID.
    pub id: Option<String>,
    /// Job type, e.g. `createDesktops`.
    pub job_type: Option<String>,
    /// Job-level status.
    pub status: Option<JobStatus>,
    /// Start time, `YYYY-MM-DD hh:mm:ss`.
    pub begin_time: Option<String>,
    /// End time, `YYYY-MM-DD hh:mm:ss`.
    pub end_time: Option<String>,
    /// Why the job failed as a whole.
    pub job_error_code: Option<String>,
    /// The reason for `job_error_code`.
    pub fail_reason: Option<String>,
    /// How many subtasks the job has: a non-negative integer, or a string holding one.
    pub sub_jobs_total: Option<u64>,
    /// Every subtask, inline (the body grows with the job); empty when absent or not an
    /// array, and entries that are not objects are skipped.
    pub sub_jobs: Vec<Subtask>,
}

impl JobDetails {
    /// Decodes a response body of the job-details API.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when `body` is not JSON, truncated, or not an object.
    pub fn from_json(body: &[u8]) -> Result<Self, DecodeError> {
        from_json::<DetailsBody>(body)?.into_job()
    }

    /// Decodes a response body as it is read from `reader` (the client's way for a
    /// job's details, whose body grows with the job), with the same checks as
    /// [`from_json`](Self::from_json).
    pub(crate) fn from_reader(mut reader: impl std::io::Read) -> Result<Self, DecodeError> {
        // An empty body is told apart from a truncated one, as `from_json` does.
        let mut first = [0u8; 1];
        let read = loop {
            match reader.read(&mut first) {
                Ok(n) => break n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(DecodeError::from_json(serde_json::Error::io(error))),
            }
        };
        if read == 0 {
            return Err(DecodeError::new("the body is empty".to_owned(), None));
        }
        let mut decoder =
            serde_json::Deserializer::from_reader(std::io::Read::chain(&first[..], reader));
        DetailsBody::deserialize(&mut decoder)
            .and_then(|body| decoder.end().map(|()| body))
            .map_err(DecodeError::from_json)?
            .into_job()
    }
}

/// A job-details body: the job, or an error object sent with a success status.
#[derive(Default)]
struct DetailsBody {
    job: JobDetails,
    error_code: Option<String>,
    error_msg: Option<String>,
}

impl DetailsBody {
    /// The job, unless the body is an error object: an error's fields and nothing of a
    /// job (no `id`, no `status`).
    fn into_job(self) -> Result<JobDetails, DecodeError> {
        let Self {
            job,
            error_code,
            error_msg,
        } = self;
        if (error_code.is_some() || error_msg.is_some()) && job.id.is_none() && job.status.is_none()
        {
            return Err(DecodeError::new(
                format!(
                    "the body is an error object, not a job: {}: {}",
                    error_code.as_deref().unwrap_or("no error_code"),
                    error_msg.as_deref().unwrap_or("no error_msg")
                ),
                None,
            ));
        }
        Ok(job)
    }
}

impl Object for DetailsBody {
    const WHAT: &'static str = "a job";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "error_code" => self.error_code = loose(map)?,
            "error_msg" => self.error_msg = loose(map)?,
            _ => self.job.field(key, map)?,
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for DetailsBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor::new())
    }
}

/// Why a response body could not be read as the documented response.
///
/// `Display` says what is wrong, naming the field and the subtask's index where one is
/// at fault (`jobs[3].id is missing …`); for a body that is not JSON,
/// [`source()`](std::error::Error::source) holds the parser's error.
#[derive(Debug)]
pub struct DecodeError(Box<DecodeErrorInner>);

#[derive(Debug)]
struct DecodeErrorInner {
    reason: String,
    json: Option<serde_json::Error>,
}

impl DecodeError {
    fn new(reason: String, json: Option<serde_json::Error>) -> Self {
        Self(Box::new(DecodeErrorInner { reason, json }))
    }

    fn from_json(error: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match error.classify() {
            // Our own checks and type mismatches: the message says it all, with where.
            Category::Data => Self::new(error.to_string(), None),
            Category::Eof => Self::new(
                "the body ends before its JSON does (truncated)".to_owned(),
                Some(error),
            ),
            Category::Syntax | Category::Io => {
                Self::new("the body is not valid JSON".to_owned(), Some(error))
            }
        }
    }

    /// What is wrong, in one line.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// Lets the client mask echoed secrets in the text taken from the body.
    pub(crate) fn redact_with(&mut self, mut mask: impl FnMut(&mut String)) {
        mask(&mut self.0.reason);
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.reason)
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .json
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// A struct decoded from a JSON object field by field. Each type lists its fields once,
/// in [`Object::field`]; [`ObjectVisitor`] does the rest.
trait Object: Default {
    /// What it is, for messages: "a subtask".
    const WHAT: &'static str;

    /// Reads the value of `key` from `map` into `self`; unknown keys are skipped.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// Reads the next value of `map` leniently (see [`Loose`]).
fn loose<'de, T: Loose, A: MapAccess<'de>>(map: &mut A) -> Result<Option<T>, A::Error> {
    Ok(map.next_value::<Lenient<T>>()?.0)
}

/// Reads the next value of `map` as a string field shared with the subtasks around it.
fn repeated<'de, const FIELD: usize, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<Arc<str>>, A::Error> {
    Ok(loose::<Repeated<FIELD>, _>(map)?.map(|r| r.0))
}

/// The fields whose values repeat from subtask to subtask of a page.
const JOB_ID: usize = 0;
const JOB_TYPE: usize = 1;
const PROJECT_ID: usize = 2;
const HOST: usize = 3;
const PRODUCT_ID: usize = 4;
const BEGIN_TIME: usize = 5;
const END_TIME: usize = 6;

thread_local! {
    /// The last value of each repeating field decoded on this thread. Consecutive
    /// subtasks of a page share these values, so remembering one value per field finds
    /// nearly every repeat without hashing; a stale entry costs one comparison.
    static LAST: RefCell<[Option<Arc<str>>; 7]> = const { RefCell::new([const { None }; 7]) };
}

/// A string field whose value is shared with the last subtask that had the same one.
struct Repeated<const FIELD: usize>(Arc<str>);

impl<const FIELD: usize> Loose for Repeated<FIELD> {
    fn from_str(text: &str) -> Option<Self> {
        if text.is_empty() {
            return None;
        }
        let shared = LAST.with_borrow_mut(|last| match &last[FIELD] {
            Some(value) if **value == *text => value.clone(),
            _ => {
                let value: Arc<str> = Arc::from(text);
                last[FIELD] = Some(value.clone());
                value
            }
        });
        Some(Self(shared))
    }
}

fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

impl Object for Entities {
    const WHAT: &'static str = "the entities of a subtask";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "desktop_id" => self.desktop_id = loose(map)?,
            "product_id" => self.product_id = repeated::<PRODUCT_ID, _>(map)?,
            "user_name" => self.user_name = loose(map)?,
            "desktop_name" => self.desktop_name = loose(map)?,
            "ip_address" => self.ip_address = loose(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Object for Subtask {
    const WHAT: &'static str = "a subtask";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => self.id = loose(map)?,
            "job_type" => self.job_type = repeated::<JOB_TYPE, _>(map)?,
            "entities" => self.entities = loose(map)?,
            "begin_time" => self.begin_time = repeated::<BEGIN_TIME, _>(map)?,
            "end_time" => self.end_time = repeated::<END_TIME, _>(map)?,
            "status" => self.status = loose(map)?,
            "error_code" => self.error_code = loose(map)?,
            "fail_reason" => self.fail_reason = loose(map)?,
            "host" => self.host = repeated::<HOST, _>(map)?,
            "project_id" => self.project_id = repeated::<PROJECT_ID, _>(map)?,
            "job_id" => self.job_id = repeated::<JOB_ID, _>(map)?,
            "process" => self.process = loose::<Percent, _>(map)?.map(|p| p.0),
            "attach_user" => self.attach_user = loose(map)?,
            "entity" => self.entity = loose(map)?,
            "ip_address" => self.ip_address = loose(map)?,
            "message" => self.message = loose(map)?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Object for JobDetails {
    const WHAT: &'static str = "a job";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "id" => self.id = loose(map)?,
            "job_type" => self.job_type = loose(map)?,
            "status" => self.status = loose(map)?,
            "begin_time" => self.begin_time = loose(map)?,
            "end_time" => self.end_time = loose(map)?,
            "job_error_code" => self.job_error_code = loose(map)?,
            "fail_reason" => self.fail_reason = loose(map)?,
            "sub_jobs_total" => self.sub_jobs_total = loose(map)?,
            "sub_jobs" => {
                self.sub_jobs = loose::<LenientList, _>(map)?.map_or_else(Vec::new, |l| l.0);
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

/// Decodes an [`Object`] from a JSON object, and from nothing else.
struct ObjectVisitor<T> {
    marker: PhantomData<T>,
}

impl<T> ObjectVisitor<T> {
    fn new() -> Self {
        Self {
            marker: PhantomData,
        }
    }
}

impl<'de, T: Object> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} as a JSON object", T::WHAT)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let mut value = T::default();
        Fill::new(&mut value, None).visit_map(map)?;
        Ok(value)
    }
}

/// Decodes an [`Object`] from a JSON object into a value already in place, such as the
/// next slot of a page's list: a subtask is ~400 bytes, and building it on the stack to
/// move it into the list copies it twice per subtask per poll.
struct Fill<'a, T> {
    target: &'a mut T,
    /// Where the object sits, for messages: `("jobs", 3)`.
    at: Option<(&'static str, usize)>,
}

impl<'a, T> Fill<'a, T> {
    fn new(target: &'a mut T, at: Option<(&'static str, usize)>) -> Self {
        Self { target, at }
    }
}

impl<'de, T: Object> Visitor<'de> for Fill<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((list, index)) => write!(f, "{list}[{index}] as a JSON object"),
            None => write!(f, "{} as a JSON object", T::WHAT),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            self.target.field(&key.0, &mut map)?;
        }
        Ok(())
    }
}

impl<'de, T: Object> DeserializeSeed<'de> for Fill<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// An object key, borrowed from the body when it holds no escape (no allocation per key).
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A type an optional field decodes to, from whichever JSON values can mean it. Any other
/// value (another type, `null`, out of range) reads as absent: it costs the field only —
/// but for a number the parser itself refuses (beyond a 64-bit float: see the module).
trait Loose: Sized {
    fn from_str(_text: &str) -> Option<Self> {
        None
    }

    fn from_string(text: String) -> Option<Self> {
        Self::from_str(&text)
    }

    fn from_u64(_number: u64) -> Option<Self> {
        None
    }

    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl Loose for String {
    /// `""` is absent: the service sends `end_time: ""` while a subtask runs.
    fn from_str(text: &str) -> Option<Self> {
        (!text.is_empty()).then(|| text.to_owned())
    }

    fn from_string(text: String) -> Option<Self> {
        (!text.is_empty()).then_some(text)
    }
}

impl Loose for SubtaskStatus {
    fn from_str(text: &str) -> Option<Self> {
        Some(Self::parse(text))
    }
}

impl Loose for JobStatus {
    fn from_str(text: &str) -> Option<Self> {
        Some(Self::parse(text))
    }
}

impl Loose for u64 {
    fn from_str(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }

    fn from_u64(number: u64) -> Option<Self> {
        Some(number)
    }
}

/// `process`: 0..=100.
struct Percent(u32);

impl Loose for Percent {
    fn from_str(text: &str) -> Option<Self> {
        u64::from_str(text).and_then(Self::from_u64)
    }

    fn from_u64(number: u64) -> Option<Self> {
        (number <= 100).then_some(Self(number as u32))
    }
}

impl Loose for Entities {
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        ObjectVisitor::new().visit_map(map).map(Some)
    }
}

impl Loose for Subtask {
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        ObjectVisitor::new().visit_map(map).map(Some)
    }
}

/// A lenient field's value: `None` unless the JSON value can mean a `T`.
struct Lenient<T>(Option<T>);

impl<'de, T: Loose> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(LenientVisitor(PhantomData))
            .map(Lenient)
    }
}

struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: Loose> Visitor<'de> for LenientVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, text: &str) -> Result<Option<T>, E> {
        Ok(T::from_str(text))
    }

    fn visit_string<E>(self, text: String) -> Result<Option<T>, E> {
        Ok(T::from_string(text))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Option<T>, E> {
        Ok(T::from_u64(number))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Option<T>, E> {
        Ok(u64::try_from(number).ok().and_then(T::from_u64))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
        T::from_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        T::from_map(map)
    }
}

/// `sub_jobs`: the entries that are objects; anything but an array reads as absent.
struct LenientList(Vec<Subtask>);

impl Loose for LenientList {
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut list = Vec::new();
        while let Some(entry) = seq.next_element::<Lenient<Subtask>>()? {
            list.extend(entry.0);
        }
        Ok(Some(Self(list)))
    }
}

impl<'de> Deserialize<'de> for Entities {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor::new())
    }
}

/// Decodes one subtask leniently, `id` included: a listing checks ids where it knows the
/// subtask's index (see [`SubtaskPage`]).
impl<'de> Deserialize<'de> for Subtask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor::new())
    }
}

impl<'de> Deserialize<'de> for JobDetails {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor::new())
    }
}

/// Decodes a page and checks it (see the [module](self)).
impl<'de> Deserialize<'de> for SubtaskPage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PageVisitor)
    }
}

struct PageVisitor;

impl<'de> Visitor<'de> for PageVisitor {
    type Value = SubtaskPage;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sub-jobs page as a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SubtaskPage, A::Error> {
        let mut total_count = None;
        let mut jobs = None;
        let (mut error_code, mut error_msg) = (None::<String>, None::<String>);
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "total_count" => total_count = Some(map.next_value::<Count>()?.0),
                "jobs" => {
                    // A full page is 1,000 subtasks of ~500 bytes each: reserving what
                    // `total_count` announces (it comes first in the service's bodies)
                    // spares the copies of growing the list by doubling.
                    let expected = total_count.map_or(0, |n: u64| n.min(u64::from(MAX_LIMIT)));
                    jobs = Some(map.next_value_seed(JobsSeed { expected })?);
                }
                "error_code" => error_code = loose(&mut map)?,
                "error_msg" => error_msg = loose(&mut map)?,
                _ => skip(&mut map)?,
            }
        }
        match (total_count, jobs) {
            (Some(total_count), Some(jobs)) => Ok(SubtaskPage {
                total_count,
                subtasks: jobs,
            }),
            _ if error_code.is_some() || error_msg.is_some() => {
                Err(de::Error::custom(format_args!(
                    "the body is an error object, not a page: {}: {}",
                    error_code.as_deref().unwrap_or("no error_code"),
                    error_msg.as_deref().unwrap_or("no error_msg")
                )))
            }
            (None, _) => Err(de::Error::missing_field("total_count")),
            (_, None) => Err(de::Error::missing_field("jobs")),
        }
    }
}

/// `total_count`: a non-negative integer, and nothing else.
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl Visitor<'_> for CountVisitor {
            type Value = Count;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("total_count as a non-negative integer")
            }

            fn visit_u64<E>(self, count: u64) -> Result<Count, E> {
                Ok(Count(count))
            }
        }
        deserializer.deserialize_u64(CountVisitor)
    }
}

/// `jobs`: an array of subtask objects, each with an `id`.
struct JobsSeed {
    expected: u64,
}

impl<'de> DeserializeSeed<'de> for JobsSeed {
    type Value = Vec<Subtask>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Subtask>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for JobsSeed {
    type Value = Vec<Subtask>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("jobs as an array of subtasks")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Subtask>, A::Error> {
        let mut jobs = Vec::with_capacity(self.expected as usize);
        loop {
            let index = jobs.len();
            jobs.push(Subtask::default());
            let slot = &mut jobs[index];
            if seq
                .next_element_seed(Fill::new(slot, Some(("jobs", index))))?
                .is_none()
            {
                jobs.pop();
                return Ok(jobs);
            }
            if slot.id.is_none() {
                return Err(de::Error::custom(format_args!(
                    "jobs[{index}].id is missing (a non-empty string is required)"
                )));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Encoding: the service's shape, absent fields left out
// ---------------------------------------------------------------------------------------

fn put<M: SerializeMap, T: Serialize>(
    map: &mut M,
    key: &'static str,
    value: &Option<T>,
) -> Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(key, value),
        None => Ok(()),
    }
}

impl Serialize for Entities {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        put(&mut map, "desktop_id", &self.desktop_id)?;
        put(&mut map, "product_id", &self.product_id.as_deref())?;
        put(&mut map, "user_name", &self.user_name)?;
        put(&mut map, "desktop_name", &self.desktop_name)?;
        put(&mut map, "ip_address", &self.ip_address)?;
        map.end()
    }
}

impl Serialize for Subtask {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        put(&mut map, "id", &self.id)?;
        put(&mut map, "job_type", &self.job_type.as_deref())?;
        put(&mut map, "entities", &self.entities)?;
        put(&mut map, "begin_time", &self.begin_time.as_deref())?;
        put(&mut map, "end_time", &self.end_time.as_deref())?;
        put(&mut map, "status", &self.status)?;
        put(&mut map, "error_code", &self.error_code)?;
        put(&mut map, "fail_reason", &self.fail_reason)?;
        put(&mut map, "host", &self.host.as_deref())?;
        put(&mut map, "project_id", &self.project_id.as_deref())?;
        put(&mut map, "job_id", &self.job_id.as_deref())?;
        put(&mut map, "process", &self.process)?;
        put(&mut map, "attach_user", &self.attach_user)?;
        put(&mut map, "entity", &self.entity)?;
        put(&mut map, "ip_address", &self.ip_address)?;
        put(&mut map, "message", &self.message)?;
        map.end()
    }
}

impl Serialize for JobDetails {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        put(&mut map, "id", &self.id)?;
        put(&mut map, "job_type", &self.job_type)?;
        put(&mut map, "status", &self.status)?;
        put(&mut map, "begin_time", &self.begin_time)?;
        put(&mut map, "end_time", &self.end_time)?;
        put(&mut map, "job_error_code", &self.job_error_code)?;
        put(&mut map, "fail_reason", &self.fail_reason)?;
        put(&mut map, "sub_jobs_total", &self.sub_jobs_total)?;
        map.serialize_entry("sub_jobs", &self.sub_jobs)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example response of the API reference, verbatim.
    const SEED_EXAMPLE: &str = r#"{
      "total_count": 2,
      "jobs": [ {
        "status": "RUNNING",
        "entities": { "user_name": "user-test-01", "product_id": "workspace.c2.large.windows",
                      "desktop_id": "9d30c8ac-77b5-4453-80da-8f027223ee99" },
        "job_id": "0e2dae94-23ff-449a-bb9c-1b808cf2106d",
        "job_type": "createDesktops",
        "begin_time": "2020-04-10 06:45:14",
        "end_time": "2020-04-10 07:06:10",
        "id": "e43caef5-e478-4624-9e8c-b0b636331cbc"
      } ]
    }"#;

    #[test]
    fn seed_example_decodes_verbatim() {
        let page: SubtaskPage = serde_json::from_str(SEED_EXAMPLE).unwrap();
        assert_eq!(page.total_count, 2);
        assert_eq!(page.subtasks.len(), 1);
        let job = &page.subtasks[0];
        assert_eq!(job.status, Some(SubtaskStatus::Running));
        assert_eq!(
            job.id.as_deref(),
            Some("e43caef5-e478-4624-9e8c-b0b636331cbc")
        );
        assert_eq!(
            job.job_id.as_deref(),
            Some("0e2dae94-23ff-449a-bb9c-1b808cf2106d")
        );
        assert_eq!(job.job_type.as_deref(), Some("createDesktops"));
        assert_eq!(job.begin_time.as_deref(), Some("2020-04-10 06:45:14"));
        assert_eq!(job.end_time.as_deref(), Some("2020-04-10 07:06:10"));
        assert_eq!(
            job.desktop_id(),
            Some("9d30c8ac-77b5-4453-80da-8f027223ee99")
        );
        assert_eq!(job.user_name(), Some("user-test-01"));
        let entities = job.entities.as_ref().unwrap();
        assert_eq!(
            entities.product_id.as_deref(),
            Some("workspace.c2.large.windows")
        );
        assert!(!job.is_terminal());
    }

    #[test]
    fn tolerates_missing_null_empty_and_unknown() {
        let page = SubtaskPage::from_json(
            br#"{"total_count":3,"jobs":[
                {"id":"a","status":"PAUSED","end_time":"","entities":null,"process":null,"novel":[1,2]},
                {"id":"b"},
                {"id":"c","status":"FAIL","error_code":"WKS.0001","fail_reason":"quota exceeded",
                 "attach_user":"bob","process":100}
            ],"extra":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(page.total_count, 3);
        assert_eq!(page.subtasks.len(), 3);
        assert_eq!(
            page.subtasks[0].status,
            Some(SubtaskStatus::Unknown("PAUSED".into()))
        );
        assert_eq!(page.subtasks[0].end_time, None);
        assert!(!page.subtasks[0].is_terminal());
        let bare = Subtask {
            id: Some("b".into()),
            ..Subtask::default()
        };
        assert_eq!(page.subtasks[1], bare);
        assert!(!page.subtasks[1].is_terminal());
        assert_eq!(page.subtasks[2].status, Some(SubtaskStatus::Failed));
        assert_eq!(page.subtasks[2].user_name(), Some("bob"));
        assert_eq!(page.subtasks[2].process, Some(100));
        assert!(page.subtasks[2].is_terminal());
    }

    #[test]
    fn a_wrong_type_in_an_optional_field_costs_that_field_only() {
        let page = SubtaskPage::from_json(
            br#"{"total_count":1,"jobs":[{"id":"a","process":"50","status":7,
                "job_type":["x"],"entities":"d-1","host":{"ip":1},"end_time":false,
                "begin_time":"2020-04-10 06:45:14","message":1.5}]}"#,
        )
        .unwrap();
        let job = &page.subtasks[0];
        assert_eq!(job.process, Some(50));
        assert_eq!(
            (&job.status, &job.job_type, &job.entities, &job.host),
            (&None, &None, &None, &None)
        );
        assert_eq!((&job.end_time, &job.message), (&None, &None));
        assert_eq!(job.begin_time.as_deref(), Some("2020-04-10 06:45:14"));
        for (process, read) in [
            ("0", Some(0)),
            ("\"100\"", Some(100)),
            ("101", None),
            ("-1", None),
            ("50.5", None),
            ("\"half\"", None),
            ("true", None),
        ] {
            let body = format!(r#"{{"total_count":1,"jobs":[{{"id":"a","process":{process}}}]}}"#);
            let page = SubtaskPage::from_json(body.as_bytes()).unwrap();
            assert_eq!(page.subtasks[0].process, read, "{process}");
        }
        let entities =
            br#"{"total_count":1,"jobs":[{"id":"a","entities":{"desktop_id":5,"user_name":"u"}}]}"#;
        let page = SubtaskPage::from_json(entities).unwrap();
        assert_eq!(page.subtasks[0].desktop_id(), None);
        assert_eq!(page.subtasks[0].user_name(), Some("u"));
    }

    /// The reason a body is refused with.
    fn refused(body: &str) -> String {
        let err = SubtaskPage::from_json(body.as_bytes()).unwrap_err();
        err.to_string()
    }

    #[test]
    fn what_the_client_relies_on_is_checked_and_named() {
        for (body, needle) in [
            ("", "the body is empty"),
            (
                "[]",
                "invalid type: sequence, expected a sub-jobs page as a JSON object",
            ),
            ("null", "expected a sub-jobs page as a JSON object"),
            ("{}", "missing field `total_count`"),
            (r#"{"jobs":[]}"#, "missing field `total_count`"),
            (r#"{"total_count":0}"#, "missing field `jobs`"),
            (
                r#"{"total_count":null,"jobs":[]}"#,
                "expected total_count as a non-negative integer",
            ),
            (
                r#"{"total_count":-1,"jobs":[]}"#,
                "integer `-1`, expected total_count",
            ),
            (
                r#"{"total_count":"2","jobs":[]}"#,
                "expected total_count as a non-negative integer",
            ),
            (
                r#"{"total_count":1.5,"jobs":[]}"#,
                "expected total_count as a non-negative integer",
            ),
            (
                r#"{"total_count":0,"jobs":null}"#,
                "expected jobs as an array of subtasks",
            ),
            (
                r#"{"total_count":0,"jobs":{}}"#,
                "expected jobs as an array of subtasks",
            ),
            (
                r#"{"total_count":2,"jobs":[{"id":"a"},[]]}"#,
                "expected jobs[1] as a JSON object",
            ),
            (
                r#"{"total_count":1,"jobs":[null]}"#,
                "expected jobs[0] as a JSON object",
            ),
            (
                r#"{"total_count":4,"jobs":[{"id":"a"},{"id":"b"},{"id":"c"},{}]}"#,
                "jobs[3].id is missing",
            ),
            (
                r#"{"total_count":1,"jobs":[{"id":""}]}"#,
                "jobs[0].id is missing",
            ),
            (
                r#"{"total_count":1,"jobs":[{"id":7}]}"#,
                "jobs[0].id is missing",
            ),
            (
                r#"{"total_count":1,"jobs":[{"id":null}]}"#,
                "jobs[0].id is missing",
            ),
            (
                r#"{"error_code":"WKS.0001","error_msg":"internal error"}"#,
                "the body is an error object, not a page: WKS.0001: internal error",
            ),
            (r#"{"total_count":1,"jobs":[{"id":"#, "truncated"),
            ("<html>502</html>", "not valid JSON"),
        ] {
            let reason = refused(body);
            assert!(reason.contains(needle), "{body}: {reason}");
        }
    }

    #[test]
    fn a_decode_error_keeps_the_parser_error_as_its_source_only_for_bad_json() {
        use std::error::Error as _;
        let truncated = SubtaskPage::from_json(b"{\"total_count\":1,").unwrap_err();
        assert!(truncated.source().is_some());
        let checked = SubtaskPage::from_json(b"[]").unwrap_err();
        assert!(checked.source().is_none());
    }

    #[test]
    fn job_details_are_an_object_with_lenient_fields() {
        let job = JobDetails::from_json(
            br#"{"id":"j","status":"FAIL","sub_jobs_total":"3","job_error_code":7,
                "fail_reason":"","sub_jobs":[{"id":"s1"},[],{"status":"RUNNING"},5]}"#,
        )
        .unwrap();
        assert_eq!(job.status, Some(JobStatus::Failed));
        assert_eq!(job.sub_jobs_total, Some(3));
        assert_eq!((job.job_error_code, job.fail_reason), (None, None));
        assert_eq!(job.sub_jobs.len(), 2);
        let job = JobDetails::from_json(br#"{"sub_jobs":{"a":1},"sub_jobs_total":-1}"#).unwrap();
        assert_eq!((job.sub_jobs.len(), job.sub_jobs_total), (0, None));
        for bad in ["[]", "\"job\"", "null", "{\"id\":"] {
            assert!(JobDetails::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn repeated_values_are_shared_not_copied() {
        let page = SubtaskPage::from_json(
            br#"{"total_count":3,"jobs":[
                {"id":"a","job_id":"j1","job_type":"createDesktops","entities":{"product_id":"p"}},
                {"id":"b","job_id":"j1","job_type":"createDesktops","entities":{"product_id":"p"}},
                {"id":"c","job_id":"j2","job_type":"","entities":{"product_id":"p"}}]}"#,
        )
        .unwrap();
        let [a, b, c] = &page.subtasks[..] else {
            panic!("{page:?}")
        };
        let (a_job, b_job) = (a.job_id.as_ref().unwrap(), b.job_id.as_ref().unwrap());
        assert!(Arc::ptr_eq(a_job, b_job));
        assert_eq!(c.job_id.as_deref(), Some("j2"));
        assert_eq!(c.job_type, None);
        let product = |s: &Subtask| s.entities.as_ref().unwrap().product_id.clone().unwrap();
        assert!(Arc::ptr_eq(&product(a), &product(c)));
        assert_eq!(&*product(c), "p");
    }

    #[test]
    fn status_round_trips_and_classifies() {
        for (text, terminal) in [
            ("WAITING", false),
            ("RUNNING", false),
            ("SUCCESS", true),
            ("FAILED", true),
            ("SOMETHING_NEW", false),
        ] {
            let status = SubtaskStatus::parse(text);
            assert_eq!(status.as_str(), text);
            assert_eq!(status.is_terminal(), terminal, "{text}");
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(
                serde_json::from_str::<SubtaskStatus>(&json).unwrap(),
                status
            );
        }
    }

    #[test]
    fn page_and_job_round_trip() {
        let page: SubtaskPage = serde_json::from_str(SEED_EXAMPLE).unwrap();
        let again = SubtaskPage::from_json(&serde_json::to_vec(&page).unwrap()).unwrap();
        assert_eq!(page, again);
        let job = JobDetails {
            id: Some("j".into()),
            status: Some(JobStatus::Running),
            sub_jobs_total: Some(2),
            sub_jobs: page.subtasks.clone(),
            ..JobDetails::default()
        };
        let again = JobDetails::from_json(&serde_json::to_vec(&job).unwrap()).unwrap();
        assert_eq!(job, again);
    }
}
