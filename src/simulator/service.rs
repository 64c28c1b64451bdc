//! The one request handler of the simulated service: (request, virtual time, wall time) to
//! a reply. The HTTP server and the in-process source both call it, so they cannot drift.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::faults::{Fault, FaultPlan, IdDefect};
use super::progress::ProgressShape;
use super::ratelimit::{Limiter, RateLimit};
use super::scenario::{DesktopPlan, JobPlan, Listed, Render, Scenario};
use super::DEFAULT_PROJECT_ID;
use crate::credentials::{AccessKey, Secret};
use crate::query::{MAX_LIMIT, MAX_OFFSET};
use crate::signing::{format_sdk_date, parse_query, verify, SignableRequest, VerifyError};
use crate::text::plural;

pub(super) const DEFAULT_ACCESS_KEY: &str = "SIMULATORACCESSKEY01";
pub(super) const DEFAULT_SECRET_KEY: &str = "SimulatorSecretKey0123456789abcdefghijklm";
pub(super) const DEFAULT_TOKEN: &str = "MIISimulatorIamToken0123456789";
/// How far `X-Sdk-Date` may be from the gateway's clock, as Huawei documents.
pub(super) const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(15 * 60);

const AKSK_MSG: &str = "Incorrect IAM authentication information: verify aksk signature fail";
const TOKEN_MSG: &str = "Incorrect IAM authentication information: decrypt token fail";
const EXPIRED_MSG: &str = "Incorrect app authentication information: signature expired";
/// The wording of the gateway's `policy user` throttle, followed by the limit.
const THROTTLE_PREFIX: &str =
    "The throttling threshold has been reached: policy user over ratelimit,";
/// What a scripted [`Fault::Throttle`] says: the documented budget.
const SCRIPTED_LIMIT: &str = "limit:200,time:5 minute";
/// What a 403 carries for IAM to decode: base64 of a policy-denial note.
const ENCODED_AUTHORIZATION: &str =
    "c2ltdWxhdG9yOiB3b3Jrc3BhY2U6am9iczpsaXN0IGRlbmllZCBieSBwb2xpY3k=";
/// How long a subtask made by [`Fault::InsertBetweenPages`] runs.
const INSERTED_RUN: Duration = Duration::from_secs(120);

/// One request as received: the signer's own request type, so what is verified is exactly
/// what a client signs.
pub(crate) type Request<'a> = SignableRequest<'a>;

fn header<'a>(request: &Request<'a>, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// How the front end must deliver a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// As is.
    Whole,
    /// As is, after this long.
    After(Duration),
    /// Announce the whole body, send half of it, close the connection.
    HalfThenDrop,
}

/// A response, and how to deliver it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub delivery: Delivery,
}

impl Reply {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Who the simulated service is and whom it lets in.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub project_id: String,
    /// The accepted key pairs, the primary first, each with its own rate limit (`None`:
    /// [`rate_limit`](Self::rate_limit)). A security token makes a pair temporary
    /// credentials.
    pub keys: Vec<(AccessKey, Option<RateLimit>)>,
    /// The accepted `X-Auth-Token`.
    pub token: Secret,
    pub max_skew: Duration,
    /// The limit of every caller without one of its own; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
}

impl Identity {
    pub(super) fn simulated() -> Self {
        Self {
            project_id: DEFAULT_PROJECT_ID.to_owned(),
            keys: vec![(
                AccessKey {
                    access_key: DEFAULT_ACCESS_KEY.to_owned(),
                    secret_key: Secret::new(DEFAULT_SECRET_KEY),
                    security_token: None,
                },
                None,
            )],
            token: Secret::new(DEFAULT_TOKEN),
            max_skew: DEFAULT_MAX_SKEW,
            rate_limit: None,
        }
    }

    /// The primary key pair.
    pub(super) fn key(&self) -> &AccessKey {
        &self.keys[0].0
    }

    pub(super) fn key_mut(&mut self) -> &mut AccessKey {
        &mut self.keys[0].0
    }

    fn find(&self, access_key: &str) -> Option<&(AccessKey, Option<RateLimit>)> {
        self.keys
            .iter()
            .find(|(key, _)| key.access_key == access_key)
    }
}

/// One request the simulator received, and what it answered.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// Position among the requests to this simulator, from 0, in arrival order.
    pub index: u64,
    /// Virtual time of arrival.
    pub at: Duration,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Query parameters, decoded, in the order sent.
    pub query: Vec<(String, String)>,
    /// Status answered.
    pub status: u16,
    /// The fault applied, if any (see [`Fault`] for when one has nothing to act on).
    pub fault: Option<Fault>,
    /// Whether the per-key [`RateLimit`] answered this request with a 429.
    pub rate_limited: bool,
    /// The accepted access key that signed the request; `None` for the IAM token and for
    /// requests that were not authenticated.
    pub access_key: Option<String>,
    /// Body bytes sent (half the body for a dropped connection).
    pub body_bytes: usize,
    /// Subtasks in the answer the client received intact: `jobs` of a listing,
    /// `sub_jobs` of job details (0 for errors, truncated bodies and dropped connections).
    pub jobs_returned: usize,
}

impl RequestRecord {
    /// The `X-Request-Id` the response carried: `sim-` and the index as 32 hex digits.
    pub fn request_id(&self) -> String {
        request_id(self.index)
    }

    /// The values of query parameter `name`, in the order sent.
    pub fn query_values(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn request_id(index: u64) -> String {
    format!("sim-{index:032x}")
}

/// An error answer, in the documented body shape.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    status: u16,
    code: String,
    msg: String,
    detail: String,
    retry_after: Option<u64>,
}

fn failure(status: u16, code: &str, msg: &str, detail: impl Into<String>) -> Failure {
    Failure {
        status,
        code: code.to_owned(),
        msg: msg.to_owned(),
        detail: detail.into(),
        retry_after: None,
    }
}

fn invalid_parameter(detail: String) -> Failure {
    failure(400, "WKS.0001", "Invalid request parameter", detail)
}

/// A successful answer: the JSON body, how many subtasks it holds, and whether the fault
/// of the request acted on it.
#[derive(Debug)]
struct Answer {
    body: Value,
    subtasks: usize,
    fault_applied: bool,
}

/// What the service learnt about the request before answering it.
#[derive(Debug, Default)]
struct Facts {
    access_key: Option<String>,
    rate_limited: bool,
}

/// The APIs the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    /// `GET /v2/{project_id}/workspace-sub-jobs`.
    SubJobs { project: &'a str },
    /// `GET /v2/{project_id}/workspace-jobs/{job_id}`.
    Job { project: &'a str, job_id: &'a str },
}

impl<'a> Route<'a> {
    /// The route of `path` (a trailing `/` tolerated), if the simulator serves it.
    fn of(path: &'a str) -> Option<Self> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let mut parts = path.strip_prefix("/v2/")?.split('/');
        let project = parts.next().filter(|p| !p.is_empty())?;
        let route = match (parts.next()?, parts.next(), parts.next()) {
            ("workspace-sub-jobs", None, None) => Self::SubJobs { project },
            ("workspace-jobs", Some(job_id), None) if !job_id.is_empty() => {
                Self::Job { project, job_id }
            }
            _ => return None,
        };
        Some(route)
    }

    fn project(self) -> &'a str {
        match self {
            Self::SubJobs { project } | Self::Job { project, .. } => project,
        }
    }
}

/// What the service's own misbehaviour changed for good: subtasks deleted by
/// [`Fault::DeleteBetweenPages`] and created by [`Fault::InsertBetweenPages`].
#[derive(Debug, Default)]
struct Changes {
    deleted: HashSet<String>,
    /// (index of the job in the scenario, the new subtask), oldest first.
    inserted: Vec<(usize, DesktopPlan)>,
}

/// The simulated service: a scenario, a fault plan, who may call, and the request log.
pub(crate) struct Service {
    scenario: Scenario,
    pub faults: FaultPlan,
    identity: Identity,
    /// Wall time at virtual zero, for `begin_time` and `end_time`.
    wall_zero: SystemTime,
    log: Mutex<Log>,
    changes: Mutex<Changes>,
    limiter: Mutex<Limiter>,
    /// Where JSON lines of the request log go, when asked for.
    sink: Option<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("jobs", &self.scenario.jobs.len())
            .field("faults", &self.faults)
            .field("identity", &self.identity)
            .field("logging", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

/// How many requests the in-memory log keeps (the file log keeps every one).
pub(super) const MAX_RECORDS: usize = 100_000;

#[derive(Debug, Default)]
struct Log {
    next_index: u64,
    records: Vec<RequestRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Token,
    AccessKey,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Service {
    pub(super) fn new(
        scenario: Scenario,
        faults: FaultPlan,
        identity: Identity,
        wall_zero: SystemTime,
    ) -> Self {
        Self {
            scenario,
            faults,
            identity,
            wall_zero,
            log: Mutex::default(),
            changes: Mutex::default(),
            limiter: Mutex::default(),
            sink: None,
        }
    }

    /// Appends a JSON line per request to `sink` from now on.
    pub(super) fn log_to(&mut self, sink: Box<dyn Write + Send>) {
        self.sink = Some(Mutex::new(sink));
    }

    pub(super) fn identity(&self) -> &Identity {
        &self.identity
    }

    pub(super) fn identity_mut(&mut self) -> &mut Identity {
        &mut self.identity
    }

    pub(super) fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Every request so far, by index (the latest [`MAX_RECORDS`] of them).
    pub(super) fn requests(&self) -> Vec<RequestRecord> {
        let mut records = lock(&self.log).records.clone();
        records.sort_by_key(|r| r.index);
        records
    }

    /// Answers `request`, received at virtual time `at` when the wall clock read `wall`,
    /// and records it.
    pub(super) fn handle(&self, request: &Request<'_>, at: Duration, wall: SystemTime) -> Reply {
        let index = {
            let mut log = lock(&self.log);
            log.next_index += 1;
            log.next_index - 1
        };
        let request_id = request_id(index);
        let planned = self.faults.fault_for(index);
        let mut facts = Facts::default();
        // Like a gateway, scripted errors come before authentication and routing.
        let answer = match planned.as_ref().and_then(gateway_failure) {
            Some(failure) => Err(failure),
            None => self.answer(request, at, wall, planned.as_ref(), &mut facts),
        };
        let mut headers = vec![
            ("Content-Type", "application/json".to_owned()),
            ("X-Request-Id", request_id.clone()),
        ];
        let mut applied = planned
            .as_ref()
            .is_some_and(|f| gateway_failure(f).is_some());
        let (status, mut body, mut jobs_returned) = match answer {
            Ok(answer) => {
                applied |= answer.fault_applied;
                match &planned {
                    Some(Fault::Body(text)) => {
                        applied = true;
                        (200, text.clone().into_bytes(), subtasks_in(text))
                    }
                    _ => (200, answer.body.to_string().into_bytes(), answer.subtasks),
                }
            }
            Err(failure) => {
                if let Some(seconds) = failure.retry_after {
                    headers.push(("Retry-After", seconds.to_string()));
                }
                (failure.status, error_body(&failure, &request_id), 0)
            }
        };
        let mut body_bytes = body.len();
        let delivery = match &planned {
            Some(Fault::TruncatedBody) => {
                body.truncate(body.len() / 2);
                body_bytes = body.len();
                jobs_returned = 0;
                applied = true;
                Delivery::Whole
            }
            Some(Fault::DropConnection) => {
                body_bytes /= 2;
                jobs_returned = 0;
                applied = true;
                Delivery::HalfThenDrop
            }
            Some(Fault::Slow(delay)) => {
                applied = true;
                Delivery::After(*delay)
            }
            _ => Delivery::Whole,
        };
        let record = RequestRecord {
            index,
            at,
            method: request.method.to_owned(),
            path: request.path.to_owned(),
            query: parse_query(request.query),
            status,
            fault: planned.filter(|_| applied),
            rate_limited: facts.rate_limited,
            access_key: facts.access_key,
            body_bytes,
            jobs_returned,
        };
        self.write_log_line(&record, request.query, wall);
        let mut log = lock(&self.log);
        if log.records.len() >= MAX_RECORDS {
            // A simulator serving for days keeps its memory: the oldest tenth goes.
            log.records.drain(..MAX_RECORDS / 10);
        }
        log.records.push(record);
        drop(log);
        Reply {
            status,
            headers,
            body,
            delivery,
        }
    }

    /// One JSON line per request, when a sink was given. A sink that fails is reported
    /// once and then left alone: the log must never take the service down.
    fn write_log_line(&self, record: &RequestRecord, raw_query: &str, wall: SystemTime) {
        let Some(sink) = &self.sink else {
            return;
        };
        let line = json!({
            "index": record.index,
            "time": rfc3339_millis(wall),
            "elapsed_ms": u64::try_from(record.at.as_millis()).unwrap_or(u64::MAX),
            "method": record.method,
            "path": record.path,
            "query": raw_query,
            "status": record.status,
            "fault": record.fault.as_ref().map(Fault::name),
            "rate_limited": record.rate_limited,
            "access_key": record.access_key,
            "bytes": record.body_bytes,
            "subtasks": record.jobs_returned,
            "request_id": record.request_id(),
        });
        let mut sink = lock(sink);
        let written = writeln!(sink, "{line}").and_then(|()| sink.flush());
        if let Err(error) = written {
            log::warn!("simulator: cannot write the request log: {error}");
        }
    }

    /// The answer the service owes `request`, gateway faults aside.
    fn answer(
        &self,
        request: &Request<'_>,
        at: Duration,
        wall: SystemTime,
        fault: Option<&Fault>,
        facts: &mut Facts,
    ) -> Result<Answer, Failure> {
        // The gateway routes before it authenticates: it must know the API to know its auth.
        let route = Route::of(request.path).ok_or_else(|| {
            failure(
                404,
                "APIGW.0101",
                "The API does not exist or has not been published in the environment",
                format!("no API at {}", request.path),
            )
        })?;
        if request.method != "GET" {
            return Err(failure(
                405,
                "WKS.00000405",
                "Method Not Allowed",
                format!("{} is not allowed; use GET", request.method),
            ));
        }
        let (scheme, limit) = self.authenticate(request, wall, facts)?;
        if let Some(limit) = limit {
            let caller = facts.access_key.as_deref().unwrap_or("X-Auth-Token");
            if let Err(wait) = lock(&self.limiter).admit(caller, limit, at) {
                facts.rate_limited = true;
                return Err(Failure {
                    // Whole seconds, rounded up: retrying sooner would only be throttled.
                    retry_after: Some(wait.as_millis().div_ceil(1000).max(1) as u64),
                    ..failure(
                        429,
                        "APIGW.0308",
                        &format!("{THROTTLE_PREFIX}{limit}"),
                        format!(
                            "{caller} sent more than {} in {:?}",
                            plural(limit.requests(), "request"),
                            limit.window()
                        ),
                    )
                });
            }
        }
        let project_id = &self.identity.project_id;
        let project_in_path = route.project();
        if project_in_path != project_id {
            return Err(failure(
                404,
                "WKS.00000404",
                "The project does not exist",
                format!("project {project_in_path} not found"),
            ));
        }
        if scheme == Scheme::AccessKey && header(request, "x-project-id") != Some(project_id) {
            return Err(failure(
                400,
                "WKS.0001",
                "Invalid request parameter",
                "the X-Project-Id header must name the project of the path",
            ));
        }
        // Workspace requires it even on GET; a client that drops it must fail here too.
        let json = header(request, "content-type").is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
        if !json {
            return Err(failure(
                400,
                "WKS.0001",
                "Invalid request parameter",
                "Content-Type must be application/json",
            ));
        }
        match route {
            Route::SubJobs { .. } => {
                let query = ListQuery::parse(request.query)?;
                Ok(self.list(&query, at, fault))
            }
            Route::Job { job_id, .. } => self.job(job_id, at, fault),
        }
    }

    fn render(&self) -> Render<'_> {
        Render {
            project_id: &self.identity.project_id,
            wall_zero: self.wall_zero,
        }
    }

    /// Every subtask listed at `at`, changes included: those the service created since
    /// first (newest first), then the scenario's in creation order, less the deleted.
    fn listed<'a>(&'a self, changes: &'a Changes, at: Duration) -> Vec<Listed<'a>> {
        let jobs = &self.scenario.jobs;
        let inserted = changes.inserted.iter().rev().filter_map(|(job, desktop)| {
            let job = jobs.get(*job)?;
            job.lists(desktop, at).then(|| Listed {
                job,
                desktop,
                position: job.desktops.len(),
                state: job.state_of(desktop, at),
            })
        });
        inserted
            .chain(self.scenario.listed_at(at))
            .filter(|listed| !changes.deleted.contains(&listed.desktop.subtask_id))
            .collect()
    }

    /// A page of the listing `query` at `at`, after the inconsistency `fault` if any.
    fn list(&self, query: &ListQuery, at: Duration, fault: Option<&Fault>) -> Answer {
        let mut changes = lock(&self.changes);
        let mut applied = match fault {
            Some(Fault::DeleteBetweenPages) => self.delete_before(&mut changes, query, at),
            Some(Fault::InsertBetweenPages) => self.insert(&mut changes, query, at),
            _ => false,
        };
        let foreign = matches!(fault, Some(Fault::ForeignSubtasks));
        let listed = self.listed(&changes, at);
        let matching: Vec<&Listed<'_>> = listed
            .iter()
            .filter(|listed| query.matches(listed, !foreign, self.scenario.ignore_status_filter))
            .collect();
        // Only a listing that served another job's subtasks was changed by ignoring the filter.
        applied |= foreign
            && query.job_id.is_some()
            && matching
                .iter()
                .any(|l| Some(&l.job.job_id) != query.job_id.as_ref());
        let render = self.render();
        let mut jobs: Vec<Value> = matching
            .iter()
            .skip(query.offset)
            .take(query.limit.min(self.scenario.page_cap))
            .map(|listed| listed.to_json(&render))
            .collect();
        let mut total_count = matching.len() as u64;
        match fault {
            Some(Fault::EmptyPage) => {
                applied = true;
                jobs.clear();
                total_count = 0;
            }
            Some(Fault::ShortPage) if !jobs.is_empty() => {
                applied = true;
                jobs.truncate(jobs.len() / 2);
            }
            Some(Fault::TotalCount(delta)) => {
                applied = *delta != 0;
                total_count = total_count.saturating_add_signed(*delta);
            }
            Some(fault) => applied |= spoil_ids(&mut jobs, fault),
            None => {}
        }
        let subtasks = jobs.len();
        Answer {
            body: json!({ "total_count": total_count, "jobs": jobs }),
            subtasks,
            fault_applied: applied,
        }
    }

    /// [`Fault::DeleteBetweenPages`]: deletes the terminal subtask closest before the
    /// query's offset. Whether one was deleted.
    fn delete_before(&self, changes: &mut Changes, query: &ListQuery, at: Duration) -> bool {
        let target = {
            let listed = self.listed(changes, at);
            let matching: Vec<_> = listed
                .iter()
                .filter(|l| query.matches(l, true, self.scenario.ignore_status_filter))
                .collect();
            let before = &matching[..query.offset.min(matching.len())];
            before
                .iter()
                .rev()
                .find(|l| l.state.ended.is_some())
                .map(|l| l.desktop.subtask_id.clone())
        };
        target.is_some_and(|id| changes.deleted.insert(id))
    }

    /// [`Fault::InsertBetweenPages`]: creates a subtask of the query's job. Whether one was
    /// created.
    fn insert(&self, changes: &mut Changes, query: &ListQuery, at: Duration) -> bool {
        let jobs = &self.scenario.jobs;
        let job_index = match &query.job_id {
            Some(id) => jobs.iter().position(|job| job.job_id == *id),
            None => {
                let listed = self.listed(changes, at);
                listed
                    .iter()
                    .find(|l| query.matches(l, true, self.scenario.ignore_status_filter))
                    .and_then(|l| jobs.iter().position(|job| std::ptr::eq(job, l.job)))
            }
        };
        let Some(job_index) = job_index else {
            return false;
        };
        let job = &jobs[job_index];
        let failed = job.failure.as_ref().is_some_and(|f| f.at <= at);
        if at < job.created_at || failed {
            return false;
        }
        let number = job.desktops.len()
            + 1
            + changes
                .inserted
                .iter()
                .filter(|(j, _)| *j == job_index)
                .count();
        let tag = changes.inserted.len() + 1;
        changes.inserted.push((
            job_index,
            DesktopPlan {
                subtask_id: format!("inserted-{tag:04}-{}", job.job_id),
                desktop_id: format!("inserted-desk-{tag:04}"),
                desktop_name: format!("desktop-{number:04}"),
                user_name: format!("user-{number:04}"),
                visible_at: at,
                start_at: at,
                end_at: Some(at + INSERTED_RUN),
                progress: ProgressShape::Linear,
                ..DesktopPlan::default()
            },
        ));
        true
    }

    /// The details of `job_id` at `at`; see [`JobPlan`] for the semantics.
    fn job(&self, job_id: &str, at: Duration, fault: Option<&Fault>) -> Result<Answer, Failure> {
        let found = self
            .scenario
            .jobs
            .iter()
            .enumerate()
            .find(|(_, job)| job.job_id == job_id && at >= job.created_at);
        let Some((job_index, job)) = found else {
            return Err(failure(
                404,
                "WKS.00000404",
                "The job does not exist",
                format!("job {job_id} not found"),
            ));
        };
        let changes = lock(&self.changes);
        let own_inserted = changes
            .inserted
            .iter()
            .filter(|(j, _)| *j == job_index)
            .map(|(_, desktop)| desktop);
        let summary = job.summary(job.desktops.iter().chain(own_inserted), at);
        let render = self.render();
        let mut sub_jobs: Vec<Value> = self
            .listed(&changes, at)
            .iter()
            .filter(|listed| std::ptr::eq(listed.job, job))
            .map(|listed| listed.to_json(&render))
            .collect();
        let applied = fault.is_some_and(|fault| spoil_ids(&mut sub_jobs, fault));
        let time = |t: Option<Duration>| t.map(|t| render.wall_time(t)).unwrap_or_default();
        let mut body = json!({
            "id": job.job_id,
            "job_type": job.job_type,
            "status": summary.status,
            "begin_time": time(Some(job.created_at)),
            "end_time": time(summary.ended),
            "sub_jobs_total": summary.sub_jobs_total,
            "sub_jobs": sub_jobs,
        });
        if let Some(failure) = summary.error {
            body["job_error_code"] = json!(failure.error_code);
            body["fail_reason"] = json!(failure.fail_reason);
        }
        let subtasks = body["sub_jobs"].as_array().map_or(0, Vec::len);
        Ok(Answer {
            body,
            subtasks,
            fault_applied: applied,
        })
    }

    /// Checks the credentials of `request`: which scheme, and the rate limit of its caller.
    fn authenticate(
        &self,
        request: &Request<'_>,
        wall: SystemTime,
        facts: &mut Facts,
    ) -> Result<(Scheme, Option<RateLimit>), Failure> {
        let unauthorized = |code, msg, detail: String| failure(401, code, msg, detail);
        if let Some(token) = header(request, "x-auth-token") {
            return if token == self.identity.token.expose() {
                Ok((Scheme::Token, self.identity.rate_limit))
            } else {
                Err(unauthorized(
                    "APIGW.0301",
                    TOKEN_MSG,
                    "the X-Auth-Token is not a valid IAM token".to_owned(),
                ))
            };
        }
        let skew = self.identity.max_skew;
        verify(
            request,
            |access_key| self.identity.find(access_key).map(|(key, _)| key),
            wall,
            skew,
        )
        .map_err(|error| match error {
            VerifyError::Expired => unauthorized(
                "APIGW.0303",
                EXPIRED_MSG,
                format!(
                    "X-Sdk-Date is more than {} s away from the server time",
                    skew.as_secs()
                ),
            ),
            other => unauthorized("APIGW.0301", AKSK_MSG, verify_detail(&other)),
        })?;
        // `verify` succeeded, so the header names an accepted key.
        let (key, own_limit) = header(request, "authorization")
            .and_then(access_key_of)
            .and_then(|access_key| self.identity.find(access_key))
            .ok_or_else(|| unauthorized("APIGW.0301", AKSK_MSG, "unknown access key".to_owned()))?;
        if let Some(expected) = &key.security_token {
            let signed = header(request, "authorization")
                .and_then(signed_header_names)
                .is_some_and(|names| names.split(';').any(|n| n == "x-security-token"));
            if !signed || header(request, "x-security-token") != Some(expected.expose()) {
                return Err(unauthorized(
                    "APIGW.0301",
                    AKSK_MSG,
                    "temporary credentials need their X-Security-Token, sent and signed".to_owned(),
                ));
            }
        }
        facts.access_key = Some(key.access_key.clone());
        Ok((Scheme::AccessKey, own_limit.or(self.identity.rate_limit)))
    }
}

/// Spoils the subtask IDs of `subtasks` as [`Fault::BadIds`] or [`Fault::DuplicateId`]
/// say; other faults change nothing. Whether anything changed.
fn spoil_ids(subtasks: &mut [Value], fault: &Fault) -> bool {
    match fault {
        Fault::BadIds(defect) => {
            for subtask in subtasks.iter_mut() {
                match defect {
                    IdDefect::Missing => {
                        if let Some(object) = subtask.as_object_mut() {
                            object.remove("id");
                        }
                    }
                    IdDefect::Empty => subtask["id"] = json!(""),
                    IdDefect::Null => subtask["id"] = Value::Null,
                }
            }
            !subtasks.is_empty()
        }
        Fault::DuplicateId if subtasks.len() >= 2 => {
            subtasks[1]["id"] = subtasks[0]["id"].clone();
            true
        }
        _ => false,
    }
}

/// Entries of the `jobs` (or `sub_jobs`) array of a scripted body, if it has one.
fn subtasks_in(body: &str) -> usize {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(body) else {
        return 0;
    };
    ["jobs", "sub_jobs"]
        .iter()
        .find_map(|name| object.get(*name)?.as_array().map(Vec::len))
        .unwrap_or(0)
}

/// `YYYY-MM-DDThh:mm:ss.mmmZ`.
fn rfc3339_millis(time: SystemTime) -> String {
    let sdk = format_sdk_date(time);
    let millis = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis());
    match (sdk.get(0..4), sdk.get(4..6), sdk.get(6..8), sdk.get(9..15)) {
        (Some(y), Some(mo), Some(d), Some(hms)) => format!(
            "{y}-{mo}-{d}T{}:{}:{}.{millis:03}Z",
            &hms[0..2],
            &hms[2..4],
            &hms[4..6]
        ),
        _ => sdk,
    }
}

/// The error answer of a scripted fault; `None` for faults that alter an answer instead.
fn gateway_failure(fault: &Fault) -> Option<Failure> {
    let scripted = "scripted by the simulator's fault plan";
    Some(match fault {
        Fault::Throttle { retry_after } => Failure {
            retry_after: *retry_after,
            ..failure(
                429,
                "APIGW.0308",
                &format!("{THROTTLE_PREFIX}{SCRIPTED_LIMIT}"),
                scripted,
            )
        },
        Fault::Status {
            status,
            error_code,
            error_msg,
        } => failure(*status, error_code, error_msg, scripted),
        Fault::ServerError => failure(500, "WKS.00000500", "Internal server error", scripted),
        Fault::Unavailable => failure(
            503,
            "WKS.00000503",
            "Service unavailable, please try again later",
            scripted,
        ),
        _ => return None,
    })
}

fn error_body(failure: &Failure, request_id: &str) -> Vec<u8> {
    let mut body = json!({
        "error_code": failure.code,
        "error_msg": failure.msg,
        "error_detail": failure.detail,
        "request_id": request_id,
    });
    if failure.status == 403 {
        body["encoded_authorization_message"] = json!(ENCODED_AUTHORIZATION);
    }
    body.to_string().into_bytes()
}

/// `SignedHeaders=…` of an `SDK-HMAC-SHA256` `Authorization` header.
fn signed_header_names(authorization: &str) -> Option<&str> {
    authorization
        .split([' ', ','])
        .find_map(|part| part.strip_prefix("SignedHeaders="))
}

/// `Access=…` of an `SDK-HMAC-SHA256` `Authorization` header.
fn access_key_of(authorization: &str) -> Option<&str> {
    authorization
        .split([' ', ','])
        .find_map(|part| part.strip_prefix("Access="))
}

fn verify_detail(error: &VerifyError) -> String {
    match error {
        VerifyError::MissingAuthorization => {
            "no X-Auth-Token and no SDK-HMAC-SHA256 Authorization header".to_owned()
        }
        VerifyError::MalformedAuthorization => "the Authorization header is malformed".to_owned(),
        VerifyError::BadDate => "X-Sdk-Date is missing, malformed or not signed".to_owned(),
        VerifyError::Expired => "signature expired".to_owned(),
        VerifyError::MissingSignedHeader(name) => format!("signed header {name} is missing"),
        VerifyError::UnknownAccessKey => "the access key does not exist".to_owned(),
        VerifyError::Mismatch => "the signature does not match".to_owned(),
    }
}

/// The query of a listing, validated as the service validates it. Without `job_id` it
/// covers every job of the project.
#[derive(Debug, Default)]
struct ListQuery {
    job_id: Option<String>,
    job_type: Option<String>,
    desktop_pool_id: Option<String>,
    statuses: Vec<String>,
    limit: usize,
    offset: usize,
}

impl ListQuery {
    fn parse(raw: &str) -> Result<Self, Failure> {
        let pairs = parse_query(raw);
        let last = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let id = |name: &str| last(name).filter(|v| !v.is_empty()).map(str::to_owned);
        let number = |name: &str, max: u64, default: u64| -> Result<usize, Failure> {
            let Some(text) = last(name) else {
                return Ok(default as usize);
            };
            text.parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .map(|n| n as usize)
                .ok_or_else(|| {
                    invalid_parameter(format!(
                        "{name} must be an integer from 0 to {max}, got `{text}`"
                    ))
                })
        };
        let query = Self {
            job_id: id("job_id"),
            job_type: id("job_type"),
            desktop_pool_id: id("desktop_pool_id"),
            statuses: pairs
                .iter()
                .filter(|(k, _)| k == "status")
                .map(|(_, v)| v.clone())
                .collect(),
            limit: number("limit", u64::from(MAX_LIMIT), u64::from(MAX_LIMIT))?,
            offset: number("offset", MAX_OFFSET, 0)?,
        };
        if let Some(name) = ["job_id", "job_type", "desktop_pool_id"]
            .into_iter()
            .find(|name| last(name) == Some(""))
        {
            return Err(invalid_parameter(format!("{name} must not be empty")));
        }
        if let Some(bad) = query
            .statuses
            .iter()
            .find(|s| !matches!(s.as_str(), "WAITING" | "RUNNING" | "SUCCESS" | "FAILED"))
        {
            return Err(invalid_parameter(format!(
                "status must be WAITING, RUNNING, SUCCESS or FAILED, got `{bad}`"
            )));
        }
        Ok(query)
    }

    /// Whether `listed` matches the filters (`job_id` only when `by_job`; the status only
    /// when the service honours it).
    fn matches(&self, listed: &Listed<'_>, by_job: bool, ignore_status: bool) -> bool {
        let job: &JobPlan = listed.job;
        (!by_job || self.job_id.as_ref().is_none_or(|id| job.job_id == *id))
            && self.job_type.as_ref().is_none_or(|t| job.job_type == *t)
            && self
                .desktop_pool_id
                .as_ref()
                .is_none_or(|pool| job.desktop_pool_id.as_ref() == Some(pool))
            && (ignore_status
                || self.statuses.is_empty()
                || self.statuses.iter().any(|s| s == listed.state.status))
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::signing::{sign, SignableRequest};
    use crate::simulator::{DesktopPlan, JobFailure, JobPlan, TimelineSpec};

    const PATH: &str = "/v2/0605767a3300d5762fb7c0186d9e1779/workspace-sub-jobs";

    fn wall() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    fn service(scenario: Scenario) -> Service {
        Service::new(scenario, FaultPlan::new(), Identity::simulated(), wall())
    }

    /// The header Workspace requires on every request, GET included.
    const JSON: (&str, &str) = ("Content-Type", "application/json");

    /// A GET authenticated with the IAM token.
    fn get(service: &Service, query: &str, at: Duration) -> Reply {
        let headers = [("X-Auth-Token", DEFAULT_TOKEN), JSON];
        let request = Request {
            method: "GET",
            path: PATH,
            query,
            headers: &headers,
            body: b"",
        };
        service.handle(&request, at, wall())
    }

    /// A GET signed with `key` at `signed_at`, sending `extra` headers (signed too).
    fn signed_get(
        service: &Service,
        key: &AccessKey,
        signed_at: SystemTime,
        extra: &[(&str, &str)],
    ) -> Reply {
        signed_get_with_unsigned(service, key, signed_at, extra, &[])
    }

    /// Like [`signed_get`], also sending `unsigned` headers added after signing.
    fn signed_get_with_unsigned(
        service: &Service,
        key: &AccessKey,
        signed_at: SystemTime,
        extra: &[(&str, &str)],
        unsigned: &[(&str, &str)],
    ) -> Reply {
        let query = "job_id=job-1";
        let mut headers = vec![("host", "127.0.0.1:9"), JSON];
        headers.extend_from_slice(extra);
        let signature = sign(
            &SignableRequest {
                method: "GET",
                path: PATH,
                query,
                headers: &headers,
                body: b"",
            },
            key,
            signed_at,
        );
        headers.push(("X-Sdk-Date", &signature.sdk_date));
        headers.push(("Authorization", &signature.authorization));
        headers.extend_from_slice(unsigned);
        let request = Request {
            method: "GET",
            path: PATH,
            query,
            headers: &headers,
            body: b"",
        };
        service.handle(&request, Duration::ZERO, wall())
    }

    fn json(reply: &Reply) -> Value {
        serde_json::from_slice(&reply.body).unwrap()
    }

    fn error_code(reply: &Reply) -> String {
        json(reply)["error_code"].as_str().unwrap().to_owned()
    }

    fn ids(reply: &Reply) -> Vec<String> {
        json(reply)["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["entities"]["desktop_name"].as_str().unwrap().to_owned())
            .collect()
    }

    fn key(security_token: Option<&str>) -> AccessKey {
        AccessKey {
            security_token: security_token.map(Secret::new),
            ..Identity::simulated().key().clone()
        }
    }

    #[test]
    fn pages_are_capped_and_offset() {
        let service = service(Scenario::desktops("job-1", 25).page_cap(10));
        let first = get(&service, "job_id=job-1&limit=1000", Duration::ZERO);
        assert_eq!(first.status, 200);
        assert_eq!(json(&first)["total_count"], 25);
        assert_eq!(ids(&first).len(), 10);
        assert_eq!(ids(&first)[0], "desktop-0001");
        let last = get(&service, "job_id=job-1&offset=20", Duration::ZERO);
        assert_eq!(
            ids(&last),
            [
                "desktop-0021",
                "desktop-0022",
                "desktop-0023",
                "desktop-0024",
                "desktop-0025"
            ]
        );
        assert_eq!(
            ids(&get(&service, "job_id=job-1&limit=3", Duration::ZERO)).len(),
            3
        );
        assert_eq!(
            ids(&get(&service, "job_id=job-1&limit=0", Duration::ZERO)).len(),
            0
        );
        let past = get(&service, "job_id=job-1&offset=30", Duration::ZERO);
        assert_eq!(
            (json(&past)["total_count"].as_u64(), ids(&past).len()),
            (Some(25), 0)
        );
        // Running subtasks are sent with `end_time: ""`, as the service does.
        assert_eq!(json(&first)["jobs"][0]["end_time"], "");
        let log = service.requests();
        assert_eq!(log.len(), 5);
        assert_eq!(log[0].jobs_returned, 10);
        assert_eq!(log[0].query_values("limit"), ["1000"]);
        assert_eq!(log[0].body_bytes, first.body.len());
    }

    #[test]
    fn filters_by_status_job_and_type() {
        let spec = TimelineSpec {
            failures: 3,
            ..TimelineSpec::new(10)
        };
        let scenario = Scenario::generate("job-1", &spec)
            .job(JobPlan::generate("job-2", &TimelineSpec::new(4)));
        let done = Duration::from_secs(200);
        let service = service(scenario.clone());
        let count = |query: &str| {
            json(&get(&service, query, done))["total_count"]
                .as_u64()
                .unwrap()
        };
        assert_eq!(count("job_id=job-1&status=FAILED"), 3);
        assert_eq!(count("job_id=job-1&status=SUCCESS"), 7);
        assert_eq!(count("job_id=job-1&status=SUCCESS&status=FAILED"), 10);
        assert_eq!(count("job_id=job-1&status=RUNNING"), 0);
        assert_eq!(count("job_type=createDesktops"), 14);
        assert_eq!(count("job_type=deleteDesktops"), 0);
        assert_eq!(count("job_id=job-2"), 4);
        assert_eq!(count("job_id=job-1&desktop_pool_id=pool-1"), 0);
        let failed = get(&service, "job_id=job-1&status=FAILED", done);
        for job in json(&failed)["jobs"].as_array().unwrap() {
            assert_eq!(job["status"], "FAILED");
            assert!(job["error_code"].as_str().unwrap().starts_with("WKS."));
            assert!(!job["fail_reason"].as_str().unwrap().is_empty());
        }
        let careless = self::service(scenario.ignore_status_filter(true));
        let reply = get(&careless, "job_id=job-1&status=FAILED", done);
        assert_eq!(json(&reply)["total_count"], 10);
    }

    #[test]
    fn bad_parameters_are_400_naming_the_parameter() {
        let service = service(Scenario::desktops("job-1", 1));
        for (query, needle) in [
            ("job_id=", "job_id"),
            ("job_id=j&limit=1001", "limit"),
            ("job_id=j&limit=-1", "limit"),
            ("job_id=j&limit=ten", "limit"),
            ("job_id=j&offset=10001", "offset"),
            ("job_id=j&offset=", "offset"),
            ("job_id=j&status=DONE", "status"),
        ] {
            let reply = get(&service, query, Duration::ZERO);
            assert_eq!(reply.status, 400, "{query}");
            assert_eq!(error_code(&reply), "WKS.0001");
            let detail = json(&reply)["error_detail"].as_str().unwrap().to_owned();
            assert!(detail.contains(needle), "{query}: {detail}");
        }
        assert_eq!(
            get(&service, "job_id=j&limit=1000&offset=10000", Duration::ZERO).status,
            200
        );
    }

    #[test]
    fn every_reply_carries_a_request_id_and_the_error_shape() {
        let service = service(Scenario::desktops("job-1", 1));
        let reply = get(&service, "job_id=job-1", Duration::ZERO);
        assert_eq!(
            reply.header("x-request-id"),
            Some("sim-00000000000000000000000000000000")
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let headers = [("X-Auth-Token", DEFAULT_TOKEN), JSON];
        let mut request = Request {
            method: "GET",
            path: "/v2/0605767a3300d5762fb7c0186d9e1779/workspace-sub-jobs/",
            query: "job_id=job-1",
            headers: &headers,
            body: b"",
        };
        assert_eq!(service.handle(&request, Duration::ZERO, wall()).status, 200);
        request.method = "POST";
        let reply = service.handle(&request, Duration::ZERO, wall());
        assert_eq!(reply.status, 405);
        request.method = "GET";
        request.path = "/v2/0605767a3300d5762fb7c0186d9e1779/desktops";
        let reply = service.handle(&request, Duration::ZERO, wall());
        assert_eq!(
            (reply.status, error_code(&reply)),
            (404, "APIGW.0101".to_owned())
        );
        request.path = "/v2/someone-else/workspace-sub-jobs";
        let reply = service.handle(&request, Duration::ZERO, wall());
        assert_eq!(
            (reply.status, error_code(&reply)),
            (404, "WKS.00000404".to_owned())
        );
        let body = json(&reply);
        assert_eq!(body["request_id"], "sim-00000000000000000000000000000004");
        assert_eq!(
            reply.header("X-Request-Id"),
            Some("sim-00000000000000000000000000000004")
        );
        assert!(body["error_msg"].is_string() && body["error_detail"].is_string());
        assert!(body.get("encoded_authorization_message").is_none());
    }

    #[test]
    fn faults_apply_before_authentication_and_are_logged() {
        let mut service = service(Scenario::desktops("job-1", 4));
        service.faults = FaultPlan::new()
            .on_request(
                0,
                Fault::Throttle {
                    retry_after: Some(5),
                },
            )
            .on_request(
                1,
                Fault::status(403, "APIGW.0302", "The IAM user is forbidden"),
            )
            .on_request(2, Fault::TruncatedBody)
            .on_request(3, Fault::DropConnection)
            .on_request(4, Fault::Slow(Duration::from_secs(2)));
        let unauthenticated = Request {
            method: "GET",
            path: PATH,
            query: "job_id=job-1",
            headers: &[],
            body: b"",
        };
        let throttled = service.handle(&unauthenticated, Duration::ZERO, wall());
        assert_eq!(
            (throttled.status, throttled.header("Retry-After")),
            (429, Some("5"))
        );
        assert_eq!(error_code(&throttled), "APIGW.0308");
        assert!(json(&throttled)["error_msg"]
            .as_str()
            .unwrap()
            .contains("limit:200,time:5 minute"));
        let forbidden = service.handle(&unauthenticated, Duration::ZERO, wall());
        assert_eq!(forbidden.status, 403);
        assert!(json(&forbidden)["encoded_authorization_message"].is_string());

        let whole = get(
            &self::service(Scenario::desktops("job-1", 4)),
            "job_id=job-1",
            Duration::ZERO,
        );
        let truncated = get(&service, "job_id=job-1", Duration::ZERO);
        assert_eq!(truncated.status, 200);
        assert_eq!(truncated.body.len(), whole.body.len() / 2);
        assert!(serde_json::from_slice::<Value>(&truncated.body).is_err());
        let dropped = get(&service, "job_id=job-1", Duration::ZERO);
        assert_eq!(
            (dropped.delivery, dropped.body.len()),
            (Delivery::HalfThenDrop, whole.body.len())
        );
        let slow = get(&service, "job_id=job-1", Duration::ZERO);
        assert_eq!(slow.delivery, Delivery::After(Duration::from_secs(2)));
        assert_eq!(slow.body, whole.body);

        let log = service.requests();
        let summary: Vec<_> = log.iter().map(|r| (r.status, r.jobs_returned)).collect();
        assert_eq!(summary, [(429, 0), (403, 0), (200, 0), (200, 0), (200, 4)]);
        assert_eq!(log[3].body_bytes, whole.body.len() / 2);
        assert_eq!(
            log[0].fault,
            Some(Fault::Throttle {
                retry_after: Some(5)
            })
        );
        assert_eq!(log[4].request_id(), "sim-00000000000000000000000000000004");
    }

    #[test]
    fn access_keys_are_verified_as_the_gateway_does() {
        let service = service(Scenario::desktops("job-1", 2));
        let pid = [("x-project-id", DEFAULT_PROJECT_ID)];
        assert_eq!(signed_get(&service, &key(None), wall(), &pid).status, 200);

        let wrong_sk = AccessKey {
            secret_key: Secret::new("not-the-secret"),
            ..key(None)
        };
        let reply = signed_get(&service, &wrong_sk, wall(), &pid);
        assert_eq!(
            (reply.status, error_code(&reply)),
            (401, "APIGW.0301".to_owned())
        );
        assert_eq!(json(&reply)["error_msg"], AKSK_MSG);
        assert!(!String::from_utf8_lossy(&reply.body).contains("not-the-secret"));

        let unknown = AccessKey {
            access_key: "SOMEONEELSE".into(),
            ..key(None)
        };
        assert_eq!(
            error_code(&signed_get(&service, &unknown, wall(), &pid)),
            "APIGW.0301"
        );

        let late = wall() - Duration::from_secs(16 * 60);
        let reply = signed_get(&service, &key(None), late, &pid);
        assert_eq!(
            (reply.status, error_code(&reply)),
            (401, "APIGW.0303".to_owned())
        );
        let within = wall() + Duration::from_secs(14 * 60);
        assert_eq!(signed_get(&service, &key(None), within, &pid).status, 200);

        let reply = signed_get(&service, &key(None), wall(), &[]);
        assert_eq!(reply.status, 400, "X-Project-Id is required with AK/SK");

        let no_auth = get_with(&service, &[]);
        assert_eq!(
            (no_auth.status, error_code(&no_auth)),
            (401, "APIGW.0301".to_owned())
        );
        let bad_token = get_with(&service, &[("X-Auth-Token", "forged")]);
        assert_eq!(
            (bad_token.status, error_code(&bad_token)),
            (401, "APIGW.0301".to_owned())
        );
    }

    #[test]
    fn the_json_content_type_is_required() {
        let service = service(Scenario::desktops("job-1", 1));
        let request = Request {
            method: "GET",
            path: PATH,
            query: "job_id=job-1",
            headers: &[("X-Auth-Token", DEFAULT_TOKEN)],
            body: b"",
        };
        let reply = service.handle(&request, Duration::ZERO, wall());
        assert_eq!(
            (reply.status, error_code(&reply)),
            (400, "WKS.0001".to_owned())
        );
        let detail = json(&reply)["error_detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("Content-Type"), "{detail}");
    }

    /// A GET with `headers` and the JSON content type.
    fn get_with(service: &Service, headers: &[(&str, &str)]) -> Reply {
        let mut headers = headers.to_vec();
        headers.push(JSON);
        let request = Request {
            method: "GET",
            path: PATH,
            query: "job_id=job-1",
            headers: &headers,
            body: b"",
        };
        service.handle(&request, Duration::ZERO, wall())
    }

    #[test]
    fn temporary_credentials_need_their_token_sent_and_signed() {
        let mut identity = Identity::simulated();
        identity.key_mut().security_token = Some(Secret::new("session-token"));
        let service = Service::new(
            Scenario::desktops("job-1", 1),
            FaultPlan::new(),
            identity,
            wall(),
        );
        let pid = ("x-project-id", DEFAULT_PROJECT_ID);
        let with_token = [pid, ("x-security-token", "session-token")];
        assert_eq!(
            signed_get(&service, &key(Some("session-token")), wall(), &with_token).status,
            200
        );
        let wrong = [pid, ("x-security-token", "other-token")];
        assert_eq!(signed_get(&service, &key(None), wall(), &wrong).status, 401);
        assert_eq!(signed_get(&service, &key(None), wall(), &[pid]).status, 401);
        // Sent but not signed: the header is added after signing.
        let token = [("X-Security-Token", "session-token")];
        let reply = signed_get_with_unsigned(&service, &key(None), wall(), &[pid], &token);
        assert_eq!(reply.status, 401);
    }

    /// A GET of the details of `job_id`, authenticated with the IAM token.
    fn job_get(service: &Service, job_id: &str, at: Duration) -> Reply {
        let headers = [("X-Auth-Token", DEFAULT_TOKEN), JSON];
        let path = format!("/v2/{DEFAULT_PROJECT_ID}/workspace-jobs/{job_id}");
        let request = Request {
            method: "GET",
            path: &path,
            query: "",
            headers: &headers,
            body: b"",
        };
        service.handle(&request, at, wall())
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn subtask_ids(reply: &Reply) -> Vec<String> {
        json(reply)["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Two waves of 3 desktops, the second visible at 100 s; everything ends by 300 s.
    fn waves() -> Scenario {
        Scenario::generate(
            "job-1",
            &TimelineSpec {
                waves: 2,
                wave_every: secs(100),
                failures: 1,
                finish_between: (secs(60), secs(120)),
                ..TimelineSpec::new(6)
            },
        )
    }

    #[test]
    fn job_details_count_every_subtask_and_sum_up_the_job() {
        let service = service(waves().job(JobPlan {
            created_at: secs(50),
            ..JobPlan::new("later", vec![DesktopPlan::new(1)])
        }));
        let unknown = job_get(&service, "no-such-job", secs(0));
        assert_eq!(
            (unknown.status, error_code(&unknown)),
            (404, "WKS.00000404".to_owned())
        );
        assert!(json(&unknown)["error_detail"]
            .as_str()
            .unwrap()
            .contains("no-such-job"));
        assert_eq!(
            job_get(&service, "later", secs(49)).status,
            404,
            "not created yet"
        );
        assert_eq!(job_get(&service, "later", secs(50)).status, 200);

        let early = json(&job_get(&service, "job-1", secs(10)));
        assert_eq!(early["id"], "job-1");
        assert_eq!(early["status"], "RUNNING");
        assert_eq!(early["sub_jobs_total"], 6, "the second wave is counted");
        assert_eq!(early["sub_jobs"].as_array().unwrap().len(), 3);
        assert_eq!(early["begin_time"], "2026-01-01 00:00:00");
        assert_eq!(early["end_time"], "");
        assert!(early.get("job_error_code").is_none());
        let listing = get(&service, "job_id=job-1", secs(10));
        assert_eq!(json(&listing)["jobs"], early["sub_jobs"]);

        let done = json(&job_get(&service, "job-1", secs(300)));
        assert_eq!(done["status"], "FAIL", "one subtask failed");
        assert!(
            done.get("job_error_code").is_none(),
            "not a job-level failure"
        );
        assert_eq!(done["sub_jobs"].as_array().unwrap().len(), 6);
        assert!(!done["end_time"].as_str().unwrap().is_empty());
        let log = service.requests();
        assert_eq!(log.last().unwrap().jobs_returned, 6);

        let clean = self::service(Scenario::desktops("job-1", 2));
        assert_eq!(
            json(&job_get(&clean, "job-1", secs(10)))["status"],
            "RUNNING"
        );
        assert_eq!(
            json(&job_get(&clean, "job-1", secs(200)))["status"],
            "SUCCESS"
        );
    }

    #[test]
    fn a_job_failing_as_a_whole_stops_its_subtasks_and_the_rest_never_appear() {
        let failing = |at| {
            let mut scenario = waves();
            scenario.jobs[0].failure = Some(JobFailure::new(at, "WKS.0206", "quota exhausted"));
            scenario
        };
        // Before any subtask exists: nothing is ever listed.
        let service = service(failing(Duration::ZERO));
        for at in [0, 50, 150, 1000] {
            assert_eq!(
                json(&get(&service, "job_id=job-1", secs(at)))["total_count"],
                0
            );
        }
        let job = json(&job_get(&service, "job-1", secs(1)));
        assert_eq!(
            (&job["status"], &job["job_error_code"], &job["fail_reason"]),
            (
                &json!("FAIL"),
                &json!("WKS.0206"),
                &json!("quota exhausted")
            )
        );
        assert_eq!(job["sub_jobs_total"], 0);
        assert_eq!(job["end_time"], "2026-01-01 00:00:00");

        // Mid-job, before the second wave: the first wave's unfinished subtasks fail with the
        // job's reason, the second wave never appears.
        let service = self::service(failing(secs(30)));
        let before = json(&job_get(&service, "job-1", secs(29)));
        assert_eq!(
            (&before["status"], &before["sub_jobs_total"]),
            (&json!("RUNNING"), &json!(6))
        );
        let after = get(&service, "job_id=job-1", secs(500));
        let jobs = json(&after)["jobs"].as_array().unwrap().clone();
        assert_eq!(jobs.len(), 3);
        for subtask in &jobs {
            assert_eq!(subtask["status"], "FAILED");
            assert_eq!(subtask["error_code"], "WKS.0206");
            assert_eq!(subtask["end_time"], "2026-01-01 00:00:30");
            assert!(subtask["process"].as_u64().unwrap() < 60, "{subtask}");
        }
        let job = json(&job_get(&service, "job-1", secs(500)));
        assert_eq!(
            (&job["status"], &job["sub_jobs_total"]),
            (&json!("FAIL"), &json!(3))
        );
    }

    #[test]
    fn a_deletion_between_pages_shifts_the_listing_for_good() {
        let mut service = service(Scenario::desktops("job-1", 10).page_cap(4));
        service.faults = FaultPlan::new()
            .on_request(1, Fault::DeleteBetweenPages)
            .on_request(3, Fault::DeleteBetweenPages);
        let done = secs(200);
        let first = get(&service, "job_id=job-1", done);
        let second = get(&service, "job_id=job-1&offset=4", done);
        assert_eq!(json(&first)["total_count"], 10);
        assert_eq!(json(&second)["total_count"], 9, "one deleted");
        let names: Vec<_> = ids(&first).into_iter().chain(ids(&second)).collect();
        // desktop-0004 (the last of page one) was deleted; desktop-0005 slid onto page one.
        assert_eq!(
            names,
            [
                "desktop-0001",
                "desktop-0002",
                "desktop-0003",
                "desktop-0004",
                "desktop-0006",
                "desktop-0007",
                "desktop-0008",
                "desktop-0009"
            ]
        );
        let again = get(&service, "job_id=job-1", done);
        assert_eq!(json(&again)["total_count"], 9, "the deletion persists");
        assert!(!ids(&again).contains(&"desktop-0004".to_owned()));
        // A first page has nothing before it: nothing is deleted, nothing recorded.
        let first_page = get(&service, "job_id=job-1", done);
        assert_eq!(json(&first_page)["total_count"], 9);
        let log = service.requests();
        assert_eq!(log[1].fault, Some(Fault::DeleteBetweenPages));
        assert_eq!(log[3].fault, None);
        assert_eq!(
            json(&job_get(&service, "job-1", done))["sub_jobs"]
                .as_array()
                .unwrap()
                .len(),
            9
        );
        // Running subtasks are never deleted.
        let mut running = self::service(Scenario::never_finishing("job-1", 6).page_cap(3));
        running.faults = FaultPlan::new().always(Fault::DeleteBetweenPages);
        let page = get(&running, "job_id=job-1&offset=3", secs(10));
        assert_eq!(json(&page)["total_count"], 6);
        assert_eq!(running.requests()[0].fault, None);
    }

    #[test]
    fn an_insertion_between_pages_repeats_an_entry_and_stays() {
        let mut service = service(Scenario::desktops("job-1", 6).page_cap(3));
        service.faults = FaultPlan::new().on_request(1, Fault::InsertBetweenPages);
        let first = get(&service, "job_id=job-1", secs(30));
        let second = get(&service, "job_id=job-1&offset=3", secs(30));
        assert_eq!(json(&second)["total_count"], 7);
        assert_eq!(
            ids(&second)[0],
            ids(&first)[2],
            "the previous page's last entry again"
        );
        let everything = get(&service, "job_id=job-1&limit=10", secs(30));
        let listed = json(&everything)["jobs"].as_array().unwrap().clone();
        assert_eq!(listed.len(), 3, "the page cap still applies");
        assert_eq!(listed[0]["entities"]["desktop_name"], "desktop-0007");
        assert_eq!(listed[0]["status"], "RUNNING");
        assert_eq!(listed[0]["job_id"], "job-1");
        let job = json(&job_get(&service, "job-1", secs(30)));
        assert_eq!(job["sub_jobs_total"], 7);
        assert_eq!(job["status"], "RUNNING");
        // It succeeds two minutes after it appeared.
        let later = json(&job_get(&service, "job-1", secs(150)));
        assert_eq!(later["status"], "SUCCESS");
    }

    #[test]
    fn one_off_page_glitches_say_exactly_what_they_do() {
        let scenario = Scenario::desktops("job-1", 6)
            .page_cap(4)
            .job(JobPlan::generate("job-2", &TimelineSpec::new(3)));
        let mut service = service(scenario);
        service.faults = FaultPlan::new()
            .on_request(0, Fault::EmptyPage)
            .on_request(1, Fault::ShortPage)
            .on_request(2, Fault::TotalCount(-2))
            .on_request(3, Fault::ForeignSubtasks)
            .on_request(4, Fault::BadIds(IdDefect::Missing))
            .on_request(5, Fault::BadIds(IdDefect::Empty))
            .on_request(6, Fault::BadIds(IdDefect::Null))
            .on_request(7, Fault::DuplicateId)
            .on_request(8, Fault::body("[]"))
            .on_request(9, Fault::body(r#"{"total_count":1,"jobs":[{"id":"x"}]}"#));
        let query = "job_id=job-1";
        let at = secs(30);
        assert_eq!(
            json(&get(&service, query, at)),
            json!({"total_count": 0, "jobs": []})
        );
        let short = get(&service, query, at);
        assert_eq!(
            (json(&short)["total_count"].as_u64(), ids(&short).len()),
            (Some(6), 2)
        );
        let off = get(&service, query, at);
        assert_eq!(
            (json(&off)["total_count"].as_u64(), ids(&off).len()),
            (Some(4), 4)
        );
        let foreign = get(&service, "job_id=job-1&offset=4", at);
        let jobs = json(&foreign)["jobs"].as_array().unwrap().clone();
        assert_eq!(json(&foreign)["total_count"], 9);
        assert_eq!(jobs.iter().filter(|j| j["job_id"] == "job-2").count(), 2);
        let missing = json(&get(&service, query, at));
        assert!(missing["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j.get("id").is_none()));
        let empty = json(&get(&service, query, at));
        assert!(empty["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["id"] == ""));
        let null = json(&get(&service, query, at));
        assert!(null["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["id"].is_null()));
        let duplicate = subtask_ids(&get(&service, query, at));
        assert_eq!(duplicate[0], duplicate[1]);
        assert_ne!(duplicate[1], duplicate[2]);
        let array = get(&service, query, at);
        assert_eq!(
            (array.status, array.body.as_slice()),
            (200, b"[]".as_slice())
        );
        let scripted = get(&service, query, at);
        assert_eq!(json(&scripted)["jobs"][0]["id"], "x");

        let log = service.requests();
        let returned: Vec<_> = log.iter().map(|r| r.jobs_returned).collect();
        assert_eq!(returned, [0, 2, 4, 4, 4, 4, 4, 4, 0, 1]);
        assert!(log.iter().all(|r| r.fault.is_some()), "{log:?}");

        // Without another job to leak, ignoring the filter changes nothing: not recorded.
        let mut alone = self::service(Scenario::desktops("job-1", 2));
        alone.faults = FaultPlan::new().always(Fault::ForeignSubtasks);
        get(&alone, query, at);
        assert_eq!(alone.requests()[0].fault, None);
        // Content faults leave error answers alone.
        let mut erring = self::service(Scenario::desktops("job-1", 2));
        erring.faults = FaultPlan::new().always(Fault::body("{}"));
        let reply = get(&erring, "job_id=job-1&limit=5000", at);
        assert_eq!(reply.status, 400);
        assert_eq!(erring.requests()[0].fault, None);
        // Job details take the id faults and scripted bodies, not the listing's.
        let mut details = self::service(Scenario::desktops("job-1", 3));
        details.faults = FaultPlan::new()
            .on_request(0, Fault::DuplicateId)
            .on_request(1, Fault::EmptyPage)
            .on_request(2, Fault::body("{}"));
        let dup = json(&job_get(&details, "job-1", at));
        assert_eq!(dup["sub_jobs"][0]["id"], dup["sub_jobs"][1]["id"]);
        assert_eq!(json(&job_get(&details, "job-1", at))["sub_jobs_total"], 3);
        assert_eq!(json(&job_get(&details, "job-1", at)), json!({}));
        let faults: Vec<_> = details.requests().into_iter().map(|r| r.fault).collect();
        assert_eq!(
            faults,
            [Some(Fault::DuplicateId), None, Some(Fault::body("{}"))]
        );
    }

    #[test]
    fn project_wide_listings_filter_by_status_type_and_pool() {
        let scenario = Scenario::generate("job-1", &TimelineSpec::new(4))
            .job(JobPlan::generate(
                "job-2",
                &TimelineSpec {
                    job_type: "deleteDesktops".into(),
                    desktop_pool_id: Some("pool-7".into()),
                    failures: 2,
                    ..TimelineSpec::new(3)
                },
            ))
            .job(JobPlan::generate(
                "job-3",
                &TimelineSpec {
                    created_at: secs(500),
                    ..TimelineSpec::new(2)
                },
            ));
        let service = service(scenario);
        let count = |query: &str, at| {
            json(&get(&service, query, secs(at)))["total_count"]
                .as_u64()
                .unwrap()
        };
        assert_eq!(count("", 5), 7, "no job_id: every job created so far");
        assert_eq!(count("", 600), 9);
        assert_eq!(count("job_type=deleteDesktops", 5), 3);
        assert_eq!(count("desktop_pool_id=pool-7", 5), 3);
        assert_eq!(count("desktop_pool_id=pool-8", 5), 0);
        assert_eq!(count("status=FAILED", 300), 2);
        assert_eq!(count("status=FAILED&status=SUCCESS", 300), 7);
        assert_eq!(count("status=WAITING&status=RUNNING", 300), 0);
        assert_eq!(count("status=WAITING&status=RUNNING", 530), 2);
    }

    #[test]
    fn each_caller_has_its_own_sliding_window_of_requests() {
        let mut identity = Identity::simulated();
        identity.rate_limit = Some(RateLimit::new(2, secs(60)).unwrap());
        identity.keys.push((
            AccessKey {
                access_key: "SECONDKEY".into(),
                secret_key: Secret::new("second-secret"),
                security_token: None,
            },
            Some(RateLimit::new(1, secs(10)).unwrap()),
        ));
        let service = Service::new(
            Scenario::desktops("job-1", 1),
            FaultPlan::new(),
            identity,
            wall(),
        );
        let pid = [("x-project-id", DEFAULT_PROJECT_ID)];
        let main = key(None);
        let second = AccessKey {
            access_key: "SECONDKEY".into(),
            secret_key: Secret::new("second-secret"),
            security_token: None,
        };
        assert_eq!(signed_get(&service, &main, wall(), &pid).status, 200);
        assert_eq!(signed_get(&service, &main, wall(), &pid).status, 200);
        let throttled = signed_get(&service, &main, wall(), &pid);
        assert_eq!(
            (
                throttled.status,
                error_code(&throttled),
                throttled.header("Retry-After")
            ),
            (429, "APIGW.0308".to_owned(), Some("60"))
        );
        assert_eq!(
            json(&throttled)["error_msg"],
            "The throttling threshold has been reached: policy user over ratelimit,limit:2,time:1 minute"
        );
        assert_eq!(signed_get(&service, &second, wall(), &pid).status, 200);
        let second_throttled = signed_get(&service, &second, wall(), &pid);
        assert_eq!(second_throttled.status, 429);
        assert!(json(&second_throttled)["error_msg"]
            .as_str()
            .unwrap()
            .ends_with("limit:1,time:10 second"));
        // The token has its own window under the default limit; unauthenticated requests
        // never count.
        let wrong = AccessKey {
            secret_key: Secret::new("nope"),
            ..key(None)
        };
        assert_eq!(signed_get(&service, &wrong, wall(), &pid).status, 401);
        assert_eq!(get(&service, "job_id=job-1", Duration::ZERO).status, 200);
        let log = service.requests();
        let summary: Vec<_> = log
            .iter()
            .map(|r| (r.status, r.rate_limited, r.access_key.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                (200, false, Some(DEFAULT_ACCESS_KEY)),
                (200, false, Some(DEFAULT_ACCESS_KEY)),
                (429, true, Some(DEFAULT_ACCESS_KEY)),
                (200, false, Some("SECONDKEY")),
                (429, true, Some("SECONDKEY")),
                (401, false, None),
                (200, false, None),
            ]
        );
    }

    #[test]
    fn the_window_slides_with_virtual_time() {
        let mut identity = Identity::simulated();
        identity.rate_limit = Some(RateLimit::new(2, secs(60)).unwrap());
        let service = Service::new(
            Scenario::desktops("job-1", 1),
            FaultPlan::new(),
            identity,
            wall(),
        );
        let statuses: Vec<_> = [0, 30, 45, 59, 60, 61, 89, 90]
            .into_iter()
            .map(|at| {
                let reply = get(&service, "job_id=job-1", secs(at));
                (reply.status, reply.header("Retry-After").map(str::to_owned))
            })
            .collect();
        let retry = |s: &str| Some(s.to_owned());
        assert_eq!(
            statuses,
            [
                (200, None),
                (200, None),
                (429, retry("15")),
                (429, retry("1")),
                (200, None),
                (429, retry("29")),
                (429, retry("1")),
                (200, None),
            ]
        );
    }

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_request_log_has_one_json_line_per_request() {
        let mut service = service(Scenario::desktops("job-1", 3));
        let out = Shared::default();
        service.log_to(Box::new(out.clone()));
        service.faults = FaultPlan::new().on_request(1, Fault::TruncatedBody);
        get(&service, "job_id=job-1&limit=2", secs(5));
        get(&service, "job_id=job-1", Duration::from_millis(6500));
        job_get(&service, "nope", secs(7));
        let text = String::from_utf8(lock(&out.0).clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            json!({
                "index": 0,
                "time": "2026-01-01T00:00:00.000Z",
                "elapsed_ms": 5000,
                "method": "GET",
                "path": PATH,
                "query": "job_id=job-1&limit=2",
                "status": 200,
                "fault": null,
                "rate_limited": false,
                "access_key": null,
                "bytes": service.requests()[0].body_bytes,
                "subtasks": 2,
                "request_id": "sim-00000000000000000000000000000000",
            })
        );
        assert_eq!(
            (&lines[1]["fault"], &lines[1]["subtasks"]),
            (&json!("truncated_body"), &json!(0))
        );
        assert_eq!(lines[1]["elapsed_ms"], 6500);
        assert_eq!(
            (&lines[2]["status"], &lines[2]["query"]),
            (&json!(404), &json!(""))
        );
        assert!(!text.contains(DEFAULT_TOKEN));
    }

    #[test]
    fn wall_times_format_as_rfc3339_with_milliseconds() {
        assert_eq!(
            rfc3339_millis(wall() + Duration::from_millis(86_400_123)),
            "2026-01-02T00:00:00.123Z"
        );
    }
}
