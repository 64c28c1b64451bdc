//! The one request handler of the simulated service: (request, virtual time, wall time) to
//! a reply. The HTTP server and the in-process source both call it, so they cannot drift.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::faults::{Fault, FaultPlan};
use super::scenario::{Render, Scenario};
use super::DEFAULT_PROJECT_ID;
use crate::credentials::{AccessKey, Secret};
use crate::query::{MAX_LIMIT, MAX_OFFSET};
use crate::signing::parse_query;
use crate::signing::{verify, SignableRequest, VerifyError};

pub(super) const DEFAULT_ACCESS_KEY: &str = "SIMULATORACCESSKEY01";
pub(super) const DEFAULT_SECRET_KEY: &str = "SimulatorSecretKey0123456789abcdefghijklm";
pub(super) const DEFAULT_TOKEN: &str = "MIISimulatorIamToken0123456789";
/// How far `X-Sdk-Date` may be from the gateway's clock, as Huawei documents.
pub(super) const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(15 * 60);

const AKSK_MSG: &str = "Incorrect IAM authentication information: verify aksk signature fail";
const TOKEN_MSG: &str = "Incorrect IAM authentication information: decrypt token fail";
const EXPIRED_MSG: &str = "Incorrect app authentication information: signature expired";
const THROTTLE_MSG: &str =
    "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:5 minute";
/// What a 403 carries for IAM to decode: base64 of a policy-denial note.
const ENCODED_AUTHORIZATION: &str =
    "c2ltdWxhdG9yOiB3b3Jrc3BhY2U6am9iczpsaXN0IGRlbmllZCBieSBwb2xpY3k=";

/// One request as received.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub method: &'a str,
    /// The path of the request line, without the query.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Every header, names as sent.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
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
    pub fn header(&self, name: &str) -> Option<&str> {
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
    /// The one accepted key pair; a security token here makes it temporary credentials.
    pub key: AccessKey,
    /// The accepted `X-Auth-Token`.
    pub token: Secret,
    pub max_skew: Duration,
}

impl Identity {
    pub fn simulated() -> Self {
        Self {
            project_id: DEFAULT_PROJECT_ID.to_owned(),
            key: AccessKey {
                access_key: DEFAULT_ACCESS_KEY.to_owned(),
                secret_key: Secret::new(DEFAULT_SECRET_KEY),
                security_token: None,
            },
            token: Secret::new(DEFAULT_TOKEN),
            max_skew: DEFAULT_MAX_SKEW,
        }
    }
}

/// One request the simulator received, and what it answered.
#[derive(Debug, Clone, PartialEq)]
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
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// Body bytes sent (half the body for a dropped connection).
    pub body_bytes: usize,
    /// Subtasks in the page the client received intact (0 for errors, truncated bodies and
    /// dropped connections).
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

/// A successful answer: the JSON body and how many subtasks it holds.
type Answer = (Value, usize);

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

/// The simulated service: a scenario, a fault plan, who may call, and the request log.
#[derive(Debug)]
pub(crate) struct Service {
    scenario: Scenario,
    pub faults: FaultPlan,
    identity: Identity,
    /// Wall time at virtual zero, for `begin_time` and `end_time`.
    wall_zero: SystemTime,
    log: Mutex<Log>,
}

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

impl Service {
    pub fn new(
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
            log: Mutex::new(Log::default()),
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Every request so far, by index.
    pub fn requests(&self) -> Vec<RequestRecord> {
        let mut records = self.log().records.clone();
        records.sort_by_key(|r| r.index);
        records
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers `request`, received at virtual time `at` when the wall clock read `wall`,
    /// and records it.
    pub fn handle(&self, request: &Request<'_>, at: Duration, wall: SystemTime) -> Reply {
        let index = {
            let mut log = self.log();
            log.next_index += 1;
            log.next_index - 1
        };
        let request_id = request_id(index);
        let fault = self.faults.fault_for(index);
        // Like a gateway, scripted errors come before authentication and routing.
        let answer = match fault.as_ref().and_then(gateway_failure) {
            Some(failure) => Err(failure),
            None => self.answer(request, at, wall),
        };
        let mut headers = vec![
            ("Content-Type", "application/json".to_owned()),
            ("X-Request-Id", request_id.clone()),
        ];
        let (status, mut body, mut jobs_returned) = match answer {
            Ok((body, jobs)) => (200, body.to_string().into_bytes(), jobs),
            Err(failure) => {
                if let Some(seconds) = failure.retry_after {
                    headers.push(("Retry-After", seconds.to_string()));
                }
                (failure.status, error_body(&failure, &request_id), 0)
            }
        };
        let mut body_bytes = body.len();
        let delivery = match &fault {
            Some(Fault::TruncatedBody) => {
                body.truncate(body.len() / 2);
                body_bytes = body.len();
                jobs_returned = 0;
                Delivery::Whole
            }
            Some(Fault::DropConnection) => {
                body_bytes /= 2;
                jobs_returned = 0;
                Delivery::HalfThenDrop
            }
            Some(Fault::Slow(delay)) => Delivery::After(*delay),
            _ => Delivery::Whole,
        };
        let record = RequestRecord {
            index,
            at,
            method: request.method.to_owned(),
            path: request.path.to_owned(),
            query: parse_query(request.query),
            status,
            fault,
            body_bytes,
            jobs_returned,
        };
        self.log().records.push(record);
        Reply {
            status,
            headers,
            body,
            delivery,
        }
    }

    /// The answer the service owes `request`, faults aside.
    fn answer(
        &self,
        request: &Request<'_>,
        at: Duration,
        wall: SystemTime,
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
        let scheme = self.authenticate(request, wall)?;
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
        if scheme == Scheme::AccessKey && request.header("x-project-id") != Some(project_id) {
            return Err(failure(
                400,
                "WKS.0001",
                "Invalid request parameter",
                "the X-Project-Id header must name the project of the path",
            ));
        }
        // Workspace requires it even on GET; a client that drops it must fail here too.
        let json = request.header("content-type").is_some_and(|v| {
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
                let (total_count, jobs) = self.page(&query, at);
                let count = jobs.len();
                Ok((json!({ "total_count": total_count, "jobs": jobs }), count))
            }
            Route::Job { job_id, .. } => self.job(job_id, at),
        }
    }

    /// The details of `job_id` at `at`: `RUNNING` until every subtask is terminal, then
    /// `SUCCESS`, or `FAIL` when any failed; every listed subtask inline.
    fn job(&self, job_id: &str, at: Duration) -> Result<Answer, Failure> {
        let Some(job) = self.scenario.jobs.iter().find(|j| j.job_id == job_id) else {
            return Err(failure(
                404,
                "WKS.00000404",
                "The job does not exist",
                format!("job {job_id} not found"),
            ));
        };
        let render = Render {
            project_id: &self.identity.project_id,
            wall_zero: self.wall_zero,
        };
        let listed: Vec<_> = self
            .scenario
            .listed_at(at)
            .filter(|listed| listed.job.job_id == job_id)
            .collect();
        let states: Vec<_> = job.desktops.iter().map(|d| d.state_at(at)).collect();
        let finished = states.iter().all(|s| s.ended.is_some());
        let status = match (finished, states.iter().any(|s| s.status == "FAILED")) {
            (false, _) => "RUNNING",
            (true, false) => "SUCCESS",
            (true, true) => "FAIL",
        };
        let sub_jobs: Vec<Value> = listed.iter().map(|l| l.to_json(&render)).collect();
        let count = sub_jobs.len();
        Ok((
            json!({
                "id": job.job_id,
                "job_type": job.job_type,
                "status": status,
                "sub_jobs_total": job.desktops.len(),
                "sub_jobs": sub_jobs,
            }),
            count,
        ))
    }

    fn authenticate(&self, request: &Request<'_>, wall: SystemTime) -> Result<Scheme, Failure> {
        let unauthorized = |code, msg, detail: String| failure(401, code, msg, detail);
        if let Some(token) = request.header("x-auth-token") {
            return if token == self.identity.token.expose() {
                Ok(Scheme::Token)
            } else {
                Err(unauthorized(
                    "APIGW.0301",
                    TOKEN_MSG,
                    "the X-Auth-Token is not a valid IAM token".to_owned(),
                ))
            };
        }
        let key = &self.identity.key;
        let skew = self.identity.max_skew;
        let received = SignableRequest {
            method: request.method,
            path: request.path,
            query: request.query,
            headers: request.headers,
            body: request.body,
        };
        verify(
            &received,
            |access_key| (access_key == key.access_key).then_some(key),
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
        if let Some(expected) = &key.security_token {
            let signed = request
                .header("authorization")
                .and_then(signed_header_names)
                .is_some_and(|names| names.split(';').any(|n| n == "x-security-token"));
            if !signed || request.header("x-security-token") != Some(expected.expose()) {
                return Err(unauthorized(
                    "APIGW.0301",
                    AKSK_MSG,
                    "temporary credentials need their X-Security-Token, sent and signed".to_owned(),
                ));
            }
        }
        Ok(Scheme::AccessKey)
    }

    fn page(&self, query: &ListQuery, at: Duration) -> (usize, Vec<Value>) {
        let filter_status = !self.scenario.ignore_status_filter && !query.statuses.is_empty();
        let matching: Vec<_> = self
            .scenario
            .listed_at(at)
            .filter(|listed| {
                query.job_id.as_ref().is_none_or(|id| listed.job.job_id == *id)
                    && query.job_type.as_ref().is_none_or(|t| listed.job.job_type == *t)
                    // No simulated subtask belongs to a desktop pool.
                    && query.desktop_pool_id.is_none()
                    && (!filter_status || query.statuses.contains(&listed.state.status))
            })
            .collect();
        let render = Render {
            project_id: &self.identity.project_id,
            wall_zero: self.wall_zero,
        };
        let jobs = matching
            .iter()
            .skip(query.offset)
            .take(query.limit.min(self.scenario.page_cap))
            .map(|listed| listed.to_json(&render))
            .collect();
        (matching.len(), jobs)
    }
}

/// The error answer of a scripted fault; `None` for faults that alter delivery instead.
fn gateway_failure(fault: &Fault) -> Option<Failure> {
    let scripted = "scripted by the simulator's fault plan";
    Some(match fault {
        Fault::Throttle { retry_after } => Failure {
            retry_after: *retry_after,
            ..failure(429, "APIGW.0308", THROTTLE_MSG, scripted)
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
        Fault::TruncatedBody | Fault::DropConnection | Fault::Slow(_) => return None,
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

/// The query of a listing, validated as the service validates it.
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
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::signing::{sign, SignableRequest};
    use crate::simulator::{JobPlan, TimelineSpec};

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
            ..Identity::simulated().key
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
        identity.key.security_token = Some(Secret::new("session-token"));
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
}
