//! The query of a sub-jobs listing, and the percent-encoding the signer and the wire share.

use std::fmt::Write as _;

use crate::error::Error;
use crate::model::SubJobStatus;

/// The service's maximum page size, and the default.
pub const MAX_LIMIT: u32 = 1000;

/// The highest `offset` the service documents; paging stops with an error past it.
pub const MAX_OFFSET: u64 = 10_000;

/// The query parameters of `GET /v2/{project_id}/workspace-sub-jobs`.
///
/// Built with [`SubJobQuery::builder`], which validates every value.
///
/// ```
/// use wks_waiter::{SubJobQuery, SubJobStatus};
///
/// let query = SubJobQuery::builder()
///     .job_id("0e2dae94-23ff-449a-bb9c-1b808cf2106d")
///     .status(SubJobStatus::Failed)
///     .status(SubJobStatus::Running)
///     .limit(100)
///     .build()?;
/// assert_eq!(
///     query.canonical_string(),
///     "job_id=0e2dae94-23ff-449a-bb9c-1b808cf2106d&limit=100&status=FAILED&status=RUNNING"
/// );
/// # Ok::<(), wks_waiter::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubJobQuery {
    statuses: Vec<SubJobStatus>,
    job_id: Option<String>,
    job_type: Option<String>,
    desktop_pool_id: Option<String>,
    limit: Option<u32>,
    offset: u64,
}

impl SubJobQuery {
    /// Starts a query. At least one of `job_id` and `job_type` is required.
    pub fn builder() -> SubJobQueryBuilder {
        SubJobQueryBuilder::default()
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
    pub fn statuses(&self) -> &[SubJobStatus] {
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
    pub fn with_statuses(&self, statuses: Vec<SubJobStatus>) -> Self {
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

/// Builds a [`SubJobQuery`]; see [`SubJobQuery::builder`].
#[derive(Debug, Clone, Default)]
pub struct SubJobQueryBuilder {
    statuses: Vec<SubJobStatus>,
    job_id: Option<String>,
    job_type: Option<String>,
    desktop_pool_id: Option<String>,
    limit: Option<u32>,
    offset: u64,
}

impl SubJobQueryBuilder {
    /// Adds a `status` filter value; repeat to ask for several.
    ///
    /// Defaults to no filter (every status).
    pub fn status(mut self, status: SubJobStatus) -> Self {
        self.statuses.push(status);
        self
    }

    /// The job whose subtasks to list.
    ///
    /// Defaults to none; one of `job_id` and `job_type` is required.
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
    /// [`Error::InvalidConfig`] naming the bad value: neither `job_id` nor `job_type`, an
    /// empty or malformed identifier, `limit` above 1000, `offset` above 10000, or an
    /// unknown status in the filter.
    pub fn build(self) -> Result<SubJobQuery, Error> {
        if self.job_id.is_none() && self.job_type.is_none() {
            return Err(Error::invalid(
                "query",
                "",
                "give at least one of job_id and job_type",
            ));
        }
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
        if let Some(SubJobStatus::Unknown(text)) = self
            .statuses
            .iter()
            .find(|s| matches!(s, SubJobStatus::Unknown(_)))
        {
            return Err(Error::invalid(
                "status",
                text,
                "the filter accepts WAITING, RUNNING, SUCCESS and FAILED",
            ));
        }
        Ok(SubJobQuery {
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

/// Percent-encodes as the Huawei signer does: everything but `A-Z a-z 0-9 - _ . ~` becomes
/// `%XX` with uppercase hex; space is `%20`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as space, as form encoding does); invalid escapes stay
/// as they are and invalid UTF-8 is replaced, because a canonical form must exist for
/// whatever a caller sends.
pub fn percent_decode(text: &str) -> String {
    decode(text, true)
}

/// Decodes `%XX` escapes of a path segment, where `+` is a plain `+`.
pub(crate) fn percent_decode_path(text: &str) -> String {
    decode(text, false)
}

fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// The canonical form of a set of query pairs: each name and value percent-encoded, sorted
/// by name then value, repeated names kept, an empty value written `k=`.
pub fn canonical_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Splits a raw query string (no `?`) into decoded pairs; `k` without `=` has an empty value.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(part), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_vector_4_canonical_query() {
        let pairs = [
            ("test", "一 (&=?!#%.*)"),
            ("path", "/tmp/123"),
            ("multi", "3"),
            ("multi", "1"),
            ("multi", "2"),
            ("limit", "1"),
            ("enable", "true"),
        ];
        assert_eq!(
            canonical_query(pairs),
            "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
        );
    }

    #[test]
    fn decode_inverts_encode() {
        for text in ["", "a b", "一 (&=?!#%.*)", "%zz", "100%", "~-_."] {
            assert_eq!(percent_decode(&percent_encode(text)), text);
        }
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("a+b%20c"), "a b c");
    }

    #[test]
    fn parse_query_keeps_repeats_and_empty_values() {
        assert_eq!(
            parse_query("status=FAILED&status=RUNNING&empty=&bare&&x=%2F"),
            vec![
                ("status".into(), "FAILED".into()),
                ("status".into(), "RUNNING".into()),
                ("empty".into(), "".into()),
                ("bare".into(), "".into()),
                ("x".into(), "/".into()),
            ]
        );
    }

    #[test]
    fn every_parameter_is_encoded() {
        let query = SubJobQuery::builder()
            .status(SubJobStatus::Running)
            .status(SubJobStatus::Failed)
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
        let cases: Vec<(SubJobQueryBuilder, &str)> = vec![
            (SubJobQuery::builder(), "job_id and job_type"),
            (SubJobQuery::builder().job_id(""), "job_id"),
            (SubJobQuery::builder().job_id("a b"), "`a b`"),
            (SubJobQuery::builder().job_id("x").limit(1001), "`1001`"),
            (SubJobQuery::builder().job_id("x").offset(10_001), "`10001`"),
            (
                SubJobQuery::builder()
                    .job_id("x")
                    .status(SubJobStatus::parse("DONE")),
                "`DONE`",
            ),
        ];
        for (builder, needle) in cases {
            let message = builder.build().unwrap_err().to_string();
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        SubJobQuery::builder()
            .job_id("x")
            .limit(1000)
            .build()
            .unwrap();
    }
}
