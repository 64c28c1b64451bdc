//! Anything that serves pages of sub-jobs, and the one paging loop over it.

use std::collections::HashSet;
use std::time::Duration;

use crate::budget::RateBudget;
use crate::error::{excerpt, ApiError, Error};
use crate::model::{DecodeError, JobDetails, Subtask, SubtaskPage};
use crate::query::{SubtaskQuery, MAX_OFFSET};

/// One page as received, with what it cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedPage {
    /// The decoded page.
    pub page: SubtaskPage,
    /// Bytes of the response body.
    pub bytes: usize,
    /// The `X-Request-Id` of the response.
    pub request_id: Option<String>,
}

impl FetchedPage {
    /// A page with its body size and request id.
    pub fn new(page: SubtaskPage, bytes: usize, request_id: Option<String>) -> Self {
        Self {
            page,
            bytes,
            request_id,
        }
    }
}

/// A job's details as received, with what they cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedJob {
    /// The decoded job.
    pub job: JobDetails,
    /// Bytes of the response body.
    pub bytes: usize,
    /// The `X-Request-Id` of the response.
    pub request_id: Option<String>,
}

impl FetchedJob {
    /// A job with its body size and request id.
    pub fn new(job: JobDetails, bytes: usize, request_id: Option<String>) -> Self {
        Self {
            job,
            bytes,
            request_id,
        }
    }
}

/// The two calls of the Workspace jobs API the waiter makes: the sub-jobs listing and the
/// job details. Implemented by the HTTP [`Client`](crate::Client) and by in-process fakes
/// such as the simulator's virtual-time source, so the waiter runs the same against both.
pub trait JobsApi {
    /// The project the calls go to, for messages.
    fn project_id(&self) -> &str;

    /// Fetches the details of `job_id` (`GET /v2/{project_id}/workspace-jobs/{job_id}`),
    /// in one attempt, taking at most `timeout` when given.
    ///
    /// # Errors
    ///
    /// Whatever went wrong, classified by [`Error::is_retryable`]; an unknown job is an
    /// [`Error::Api`] with status 404.
    fn fetch_job(&self, job_id: &str, timeout: Option<Duration>) -> Result<FetchedJob, Error>;

    /// The request budget this API's requests count against, if any: a
    /// [`Waiter`](crate::Waiter) over it asks the budget before each request.
    ///
    /// Defaults to none.
    fn rate_budget(&self) -> Option<&RateBudget> {
        None
    }

    /// Fetches one page of `query`, in one attempt, taking at most `timeout` when given.
    ///
    /// # Errors
    ///
    /// Whatever went wrong, classified by [`Error::is_retryable`].
    fn fetch_page(
        &self,
        query: &SubtaskQuery,
        timeout: Option<Duration>,
    ) -> Result<FetchedPage, Error>;
}

impl<S: JobsApi + ?Sized> JobsApi for &S {
    fn project_id(&self) -> &str {
        (**self).project_id()
    }

    fn rate_budget(&self) -> Option<&RateBudget> {
        (**self).rate_budget()
    }

    fn fetch_job(&self, job_id: &str, timeout: Option<Duration>) -> Result<FetchedJob, Error> {
        (**self).fetch_job(job_id, timeout)
    }

    fn fetch_page(
        &self,
        query: &SubtaskQuery,
        timeout: Option<Duration>,
    ) -> Result<FetchedPage, Error> {
        (**self).fetch_page(query, timeout)
    }
}

impl<S: JobsApi + ?Sized> JobsApi for std::sync::Arc<S> {
    fn project_id(&self) -> &str {
        (**self).project_id()
    }

    fn rate_budget(&self) -> Option<&RateBudget> {
        (**self).rate_budget()
    }

    fn fetch_job(&self, job_id: &str, timeout: Option<Duration>) -> Result<FetchedJob, Error> {
        (**self).fetch_job(job_id, timeout)
    }

    fn fetch_page(
        &self,
        query: &SubtaskQuery,
        timeout: Option<Duration>,
    ) -> Result<FetchedPage, Error> {
        (**self).fetch_page(query, timeout)
    }
}

/// Every subtask of a query, gathered over all its pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubtaskList {
    /// The `total_count` of the last page received.
    pub total_count: u64,
    /// The subtasks, de-duplicated by ID, in the order first received.
    pub subtasks: Vec<Subtask>,
    /// Pages fetched.
    pub pages: u32,
    /// Response bytes received.
    pub bytes: u64,
    /// The most entries one page held: the server's effective page size.
    pub largest_page: usize,
}

/// What reading every page of a query cost and found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PagingStats {
    /// The `total_count` of the last page received.
    pub total_count: u64,
    /// Pages fetched.
    pub pages: u32,
    /// Response bytes received.
    pub bytes: u64,
    /// The most entries one page held: the server's effective page size.
    pub largest_page: usize,
}

/// Fetches every page of `query` through `fetch`, handing each page's subtasks to `visit`
/// with the offset they start at: advances `offset` by what each page held until
/// `total_count` is reached or a page comes back empty, so a server capping pages below
/// `limit` still yields everything. Pages may repeat a subtask when the listing shifts
/// between requests; `visit` sees each page as received.
///
/// # Errors
///
/// The first error of `fetch`, [`Error::OffsetLimit`] when the next page would need an
/// offset past the service's documented maximum, or [`Error::InvalidConfig`] for a query
/// with `limit` 0, which cannot page.
pub fn for_each_page<E: From<Error>>(
    query: &SubtaskQuery,
    mut fetch: impl FnMut(&SubtaskQuery) -> Result<FetchedPage, E>,
    mut visit: impl FnMut(u64, Vec<Subtask>),
) -> Result<PagingStats, E> {
    if query.limit() == Some(0) {
        return Err(Error::invalid("limit", 0, "cannot page through a listing").into());
    }
    let mut stats = PagingStats::default();
    let mut offset = query.offset();
    loop {
        let fetched = fetch(&query.with_offset(offset))?;
        stats.pages += 1;
        stats.bytes += fetched.bytes as u64;
        stats.total_count = fetched.page.total_count;
        let received = fetched.page.subtasks.len();
        stats.largest_page = stats.largest_page.max(received);
        visit(offset, fetched.page.subtasks);
        let start = offset;
        offset += received as u64;
        // A count at or below where a non-empty page started is missing (read as 0) or
        // wrong: then only an empty page ends the listing.
        let count_plausible = stats.total_count > start;
        if received == 0 || (count_plausible && offset >= stats.total_count) {
            return Ok(stats);
        }
        if offset > MAX_OFFSET {
            return Err(Error::OffsetLimit {
                offset,
                total_count: stats.total_count,
            }
            .into());
        }
    }
}

/// Fetches every page of `query` (see [`for_each_page`]) and gathers the subtasks,
/// de-duplicated by ID.
///
/// # Errors
///
/// As [`for_each_page`].
pub fn collect_pages<E: From<Error>>(
    query: &SubtaskQuery,
    fetch: impl FnMut(&SubtaskQuery) -> Result<FetchedPage, E>,
) -> Result<SubtaskList, E> {
    let mut subtasks = Vec::new();
    let stats = for_each_page(query, fetch, |_, page| subtasks.extend(page))?;
    drop_duplicates(&mut subtasks);
    Ok(SubtaskList {
        total_count: stats.total_count,
        subtasks,
        pages: stats.pages,
        bytes: stats.bytes,
        largest_page: stats.largest_page,
    })
}

/// Drops later copies of a subtask ID (pages shift when subtasks are added or deleted
/// between requests). Subtasks without an ID cannot be de-duplicated; keeping them loses
/// nothing. Borrows the IDs rather than copying them: this runs on every poll.
fn drop_duplicates(jobs: &mut Vec<Subtask>) {
    let mut seen = HashSet::with_capacity(jobs.len());
    let keep: Vec<bool> = jobs
        .iter()
        .map(|job| job.id.as_deref().is_none_or(|id| seen.insert(id)))
        .collect();
    if keep.contains(&false) {
        let mut keep = keep.into_iter();
        jobs.retain(|_| keep.next().unwrap_or(true));
    }
}

/// Turns a response (status, request id, `Retry-After`, body) into a page or an error: the
/// single interpretation shared by the HTTP client and in-process sources.
pub(crate) fn interpret_response(
    status: u16,
    request_id: Option<String>,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<FetchedPage, Error> {
    interpret(
        status,
        request_id,
        retry_after,
        body,
        SubtaskPage::from_json,
    )
    .map(|(page, request_id)| FetchedPage::new(page, body.len(), request_id))
}

/// Turns a response of the job-details API into a job or an error.
pub(crate) fn interpret_job_response(
    status: u16,
    request_id: Option<String>,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<FetchedJob, Error> {
    interpret(status, request_id, retry_after, body, JobDetails::from_json)
        .map(|(job, request_id)| FetchedJob::new(job, body.len(), request_id))
}

/// An error status is an API error; a success is `decode`d, a body it refuses a decode
/// error quoting the body's start.
fn interpret<T>(
    status: u16,
    request_id: Option<String>,
    retry_after: Option<&str>,
    body: &[u8],
    decode: fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<(T, Option<String>), Error> {
    if !(200..300).contains(&status) {
        return Err(ApiError::from_response(status, body, request_id, retry_after).into());
    }
    match decode(body) {
        Ok(value) => Ok((value, request_id)),
        Err(source) => Err(Error::Decode {
            status,
            request_id,
            length: body.len(),
            excerpt: excerpt(body),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> Subtask {
        serde_json::from_value(serde_json::json!({ "id": id, "status": "RUNNING" })).unwrap()
    }

    /// A fake server of `total` subtasks capping pages at `cap`, recording offsets asked.
    fn server(total: usize, cap: usize) -> impl FnMut(&SubtaskQuery) -> Result<FetchedPage, Error> {
        move |query| {
            let start = query.offset() as usize;
            let end = (start + cap).min(total);
            let jobs = (start.min(end)..end)
                .map(|i| job(&format!("s{i}")))
                .collect();
            Ok(FetchedPage::new(
                SubtaskPage::new(total as u64, jobs),
                10,
                None,
            ))
        }
    }

    #[test]
    fn capped_pages_still_yield_everything() {
        let query = SubtaskQuery::builder()
            .job_id("j")
            .limit(1000)
            .build()
            .unwrap();
        let listing = collect_pages(&query, server(2500, 300)).unwrap();
        assert_eq!(listing.subtasks.len(), 2500);
        assert_eq!(listing.pages, 9);
        assert_eq!(listing.bytes, 90);
        assert_eq!(listing.largest_page, 300);
    }

    #[test]
    fn a_missing_total_count_pages_until_an_empty_page() {
        let query = SubtaskQuery::for_job("j").unwrap();
        let mut inner = server(250, 100);
        let listing = collect_pages(&query, |q: &SubtaskQuery| -> Result<_, Error> {
            let mut fetched = inner(q)?;
            fetched.page.total_count = 0;
            Ok(fetched)
        })
        .unwrap();
        assert_eq!((listing.subtasks.len(), listing.pages), (250, 4));
    }

    #[test]
    fn empty_listing_is_one_request() {
        let query = SubtaskQuery::for_job("j").unwrap();
        let listing = collect_pages(&query, server(0, 100)).unwrap();
        assert_eq!((listing.pages, listing.subtasks.len()), (1, 0));
    }

    #[test]
    fn duplicates_across_shifting_pages_are_dropped() {
        let query = SubtaskQuery::for_job("j").unwrap();
        // Every page repeats the last entry of the previous one.
        let listing = collect_pages(&query, |q: &SubtaskQuery| -> Result<_, Error> {
            let start = q.offset().saturating_sub(1) as usize;
            let jobs = (start..(start + 3).min(5))
                .map(|i| job(&format!("s{i}")))
                .collect();
            Ok(FetchedPage::new(SubtaskPage::new(5, jobs), 1, None))
        })
        .unwrap();
        let ids: Vec<_> = listing
            .subtasks
            .iter()
            .map(|j| j.id.clone().unwrap())
            .collect();
        assert_eq!(ids, ["s0", "s1", "s2", "s3", "s4"]);
    }

    #[test]
    fn past_the_offset_maximum_is_an_error_not_a_loop() {
        let query = SubtaskQuery::for_job("j").unwrap();
        let err = collect_pages(&query, server(50_000, 1000)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::OffsetLimit {
                    offset: 11_000,
                    total_count: 50_000
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn truncated_body_is_a_decode_error_with_excerpt() {
        let err = interpret_response(
            200,
            Some("rid".into()),
            None,
            br#"{"total_count":3,"jobs":[{"id":"#,
        )
        .unwrap_err();
        assert!(err.is_retryable());
        let text = err.to_string();
        assert!(
            text.contains("request id rid") && text.contains("total_count"),
            "{text}"
        );
    }
}
