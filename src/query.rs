//! The query of a sub-jobs listing.

use crate::error::Error;
use crate::model::SubtaskStatus;
pub use crate::model::{MAX_LIMIT, MAX_OFFSET};
use crate::signing::canonical_query;

/// The query parameters of `GET /v2/{project_id}/workspace-sub-jobs`.
///
/// Built with [`SubtaskQuery::builder`], which validates every value.
///
/// ```
/// use wks_waiter::SubtaskQuery;
/// use wks_waiter::model::SubtaskStatus;
///
/// let query = SubtaskQuery::builder()
///     .job_id("0e2dae94-23ff-449a-bb9c-1b808cf2106d")
///     .status(SubtaskStatus::Failed)
///     .status(SubtaskStatus::Running)
///     .limit(100)
///     .build()?;
/// assert_eq!(
///     query.canonical_string(),
///     "job_id=0e2dae94-23ff-449a-bb9c-1b808cf2106d&limit=100&status=FAILED&status=RUNNING"
/// );
/// # Ok::<(), wks_waiter::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtaskQuery {
    statuses: Vec<SubtaskStatus>,
    job_id: Option<String>,
    job_type: Option<String>,
    desktop_pool_id: Option<String>,
    limit: Option<u32>,
    offset: u64,
}

impl SubtaskQuery {
    /// Starts a query. Without `job_id` the listing covers every job of the project (the
    /// service recommends a `job_id` or a `job_type`, but does not require one).
    pub fn builder() -> SubtaskQueryBuilder {
        SubtaskQueryBuilder::default()
    }

    /// The subtasks of one job, every status, default page size.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `job_id` is empty or malformed.
    pub fn for_job(job_id: &str) -> Result<Self, Error> {
        Self::builder().job_id(job_id).build()
    }

    /// The `status` filter, in the order given.
    pub fn statuses(&self) -> &[SubtaskStatus] {
        &self.statuses
    }

    /// The job filter.
    pub fn job_id(&self) -> Option<&str> {
        self.job_id.as_deref()
    }

    /// The job-type filter.
    pub fn job_type(&self) -> Option<&str> {
        self.job_type.as_deref()
    }

    /// The desktop-pool filter.
    pub fn desktop_pool_id(&self) -> Option<&str> {
        self.desktop_pool_id.as_deref()
    }

    /// The page size asked for; `None` leaves the service's default (1000).
    pub fn limit(&self) -> Option<u32> {
        self.limit
    }

    /// The first record asked for.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The same query starting at `offset`.
    pub fn with_offset(&self, offset: u64) -> Self {
        Self {
            offset,
            ..self.clone()
        }
    }

    /// The same query with this `status` filter (empty: no filter).
    pub fn with_statuses(&self, statuses: Vec<SubtaskStatus>) -> Self {
        Self {
            statuses,
            ..self.clone()
        }
    }

    /// The (name, value) pairs this query sends, unencoded. `offset=0` is omitted.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(self.statuses.len() + 5);
        for status in &self.statuses {
            pairs.push(("status", status.as_str().to_owned()));
        }
        let optional = [
            ("job_id", self.job_id.clone()),
            ("job_type", self.job_type.clone()),
            ("desktop_pool_id", self.desktop_pool_id.clone()),
            ("limit", self.limit.map(|l| l.to_string())),
        ];
        pairs.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
        if self.offset > 0 {
            pairs.push(("offset", self.offset.to_string()));
        }
        pairs
    }

    /// The canonical query string: what is signed and what is sent on the wire.
    pub fn canonical_string(&self) -> String {
        canonical_query(self.pairs().iter().map(|(k, v)| (*k, v.as_str())))
    }
}

/// Builds a [`SubtaskQuery`]; see [`SubtaskQuery::builder`].
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build()`"]
pub struct SubtaskQueryBuilder {
    statuses: Vec<SubtaskStatus>,
    job_id: Option<String>,
    job_type: Option<String>,
    desktop_pool_id: Option<String>,
    limit: Option<u32>,
    offset: u64,
}

impl SubtaskQueryBuilder {
    /// Adds a `status` filter value; repeat to ask for several.
    ///
    /// Defaults to no filter (every status).
    pub fn status(mut self, status: SubtaskStatus) -> Self {
        self.statuses.push(status);
        self
    }

    /// The job whose subtasks to list.
    ///
    /// Defaults to none: every job of the project.
    pub fn job_id(mut self, job_id: impl Into<String>) -> Self {
        self.job_id = Some(job_id.into());
        self
    }

    /// The job type, e.g. `createDesktops`.
    ///
    /// Defaults to none.
    pub fn job_type(mut self, job_type: impl Into<String>) -> Self {
        self.job_type = Some(job_type.into());
        self
    }

    /// Only subtasks of this desktop pool.
    ///
    /// Defaults to none.
    pub fn desktop_pool_id(mut self, desktop_pool_id: impl Into<String>) -> Self {
        self.desktop_pool_id = Some(desktop_pool_id.into());
        self
    }

    /// Page size, `0..=1000`.
    ///
    /// Defaults to not sending `limit`, which the service reads as 1000.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The first record, from 0.
    ///
    /// Defaults to 0.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Validates and builds the query.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the bad value: an empty or malformed identifier, `limit` above 1000, `offset` above 10000, or an
    /// unknown status in the filter.
    pub fn build(self) -> Result<SubtaskQuery, Error> {
        if let Some(id) = &self.job_id {
            validate_id("job_id", id)?;
        }
        if let Some(id) = &self.job_type {
            validate_id("job_type", id)?;
        }
        if let Some(id) = &self.desktop_pool_id {
            validate_id("desktop_pool_id", id)?;
        }
        if let Some(limit) = self.limit {
            if limit > MAX_LIMIT {
                let reason = format!("must be between 0 and {MAX_LIMIT}");
                return Err(Error::invalid("limit", limit, &reason));
            }
        }
        if self.offset > MAX_OFFSET {
            return Err(Error::invalid(
                "offset",
                self.offset,
                &format!("the service documents a maximum of {MAX_OFFSET}"),
            ));
        }
        if let Some(SubtaskStatus::Unknown(text)) = self
            .statuses
            .iter()
            .find(|s| matches!(s, SubtaskStatus::Unknown(_)))
        {
            return Err(Error::invalid(
                "status",
                text,
                "the filter accepts WAITING, RUNNING, SUCCESS and FAILED",
            ));
        }
        Ok(SubtaskQuery {
            statuses: self.statuses,
            job_id: self.job_id,
            job_type: self.job_type,
            desktop_pool_id: self.desktop_pool_id,
            limit: self.limit,
            offset: self.offset,
        })
    }
}

/// Checks an identifier that goes into a URL: non-empty, at most 128 characters of
/// `A-Z a-z 0-9 - _ .`. Huawei IDs are UUIDs or 32 hex digits; anything else is a typo or a
/// pasted line with whitespace, and sending it would only earn a 400 or a 404.
pub(crate) fn validate_id(field: &'static str, value: &str) -> Result<(), Error> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.bytes().all(|b| b == b'.') {
        // `.` and `..` would be path segments a proxy or gateway resolves elsewhere.
        "must not be only dots"
    } else if value.len() > 128 {
        "is longer than 128 characters"
    } else if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        "may hold only letters, digits, '-', '_' and '.'"
    } else {
        return Ok(());
    };
    Err(Error::invalid(field, value, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_encoded() {
        let query = SubtaskQuery::builder()
            .status(SubtaskStatus::Running)
            .status(SubtaskStatus::Failed)
            .job_id("job-1")
            .job_type("createDesktops")
            .desktop_pool_id("pool.2")
            .limit(0)
            .offset(2000)
            .build()
            .unwrap();
        assert_eq!(
            query.canonical_string(),
            "desktop_pool_id=pool.2&job_id=job-1&job_type=createDesktops&limit=0&offset=2000&status=FAILED&status=RUNNING"
        );
        assert!(!query.with_offset(0).canonical_string().contains("offset"));
    }

    #[test]
    fn builder_rejects_bad_values_by_name() {
        let cases: Vec<(SubtaskQueryBuilder, &str)> = vec![
            (SubtaskQuery::builder().job_id(""), "job_id"),
            (SubtaskQuery::builder().job_id("a b"), "`a b`"),
            (SubtaskQuery::builder().job_id("x").limit(1001), "`1001`"),
            (
                SubtaskQuery::builder().job_id("x").offset(10_001),
                "`10001`",
            ),
            (
                SubtaskQuery::builder()
                    .job_id("x")
                    .status(SubtaskStatus::parse("DONE")),
                "`DONE`",
            ),
        ];
        for (builder, needle) in cases {
            let message = builder.build().unwrap_err().to_string();
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        SubtaskQuery::builder()
            .job_id("x")
            .limit(1000)
            .build()
            .unwrap();
    }
}
