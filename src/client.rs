//! The blocking HTTP client of the sub-jobs API.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::budget::{Priority, RateBudget};
use crate::credentials::{required_env, Credentials, ENV_PROJECT_ID};
use crate::error::{
    retry_after, unresolved_host, Described, Error, NameNotResolved, TransportKind,
};
use crate::model::{JobDetails, SubtaskPage};
use crate::query::{validate_id, SubtaskQuery};
use crate::signing::{sign_canonical, SignableRequest};
use crate::source::{
    collect_pages, interpret_job_response, interpret_response, FetchedJob, FetchedPage, JobsApi,
    SubtaskList,
};
use crate::time::{Cancellation, Clock, SystemClock, ThreadSleeper};

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default read timeout.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest connect or read timeout accepted: a request that needs more is not an answer.
const MAX_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Default cap on a response body. A full page of 1000 subtasks is well under 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// Where requests go: scheme, host, port and an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    https: bool,
    /// Lowercase; an IPv6 literal keeps its brackets.
    host: String,
    port: Option<u16>,
    /// The path prefix as given (percent-encoding kept), without a trailing `/`.
    prefix: String,
    /// The parsed URL, for the proxy's `NO_PROXY` check.
    uri: Uri,
}

impl Endpoint {
    /// Parses and checks `url`: `https://` anywhere, `http://` only to a loopback host; no
    /// user info, query or fragment; a path prefix of plain URL characters not ending in
    /// `/v2` (the client adds `/v2/{project_id}/…` itself).
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::invalid("endpoint", without_password(url), reason);
        // `Uri` drops a fragment without a word and takes `h:port` for a host; say what
        // is wrong before it gets the chance.
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must not hold spaces or control characters"));
        }
        if url.contains('#') {
            return Err(bad("must not hold a fragment (#…)"));
        }
        let scheme_ok = ["https://", "http://"].iter().any(|s| {
            url.get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
        });
        if !scheme_ok {
            return Err(bad(
                "must start with https:// (or http:// for a loopback host)",
            ));
        }
        let uri: Uri = url
            .parse()
            .map_err(|_| bad("is not a URL of the form https://host[:port][/prefix]"))?;
        let https = uri
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("https"));
        let authority = uri
            .authority()
            .ok_or_else(|| bad("has no valid host[:port]"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not hold user info (user@ or user:password@)"));
        }
        if uri.query().is_some() {
            return Err(bad("must not hold a query (?…)"));
        }
        let (host, port) =
            split_host_port(authority.as_str()).ok_or_else(|| bad("has no valid host[:port]"))?;
        let prefix = uri.path().trim_end_matches('/');
        check_prefix(prefix).map_err(|reason| bad(&reason))?;
        let endpoint = Self {
            https,
            host: host.to_ascii_lowercase(),
            port,
            prefix: prefix.to_owned(),
            uri,
        };
        if !https && !endpoint.is_loopback() {
            return Err(bad(
                "plain http:// is allowed only for loopback hosts (127.0.0.1, ::1, localhost); use https://",
            ));
        }
        Ok(endpoint)
    }

    fn is_loopback(&self) -> bool {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The port connections go to.
    fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }

    /// The `Host` header: the port only when it is not the scheme's default, as HTTP clients
    /// write it (and so as the gateway signs it).
    fn host_header(&self) -> String {
        match self.port {
            Some(port) if port != if self.https { 443 } else { 80 } => {
                format!("{}:{port}", self.host)
            }
            _ => self.host.clone(),
        }
    }

    /// `scheme://host[:port]`.
    fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.host_header())
    }
}

/// Splits `host[:port]` and checks both: a DNS name or IPv4 address of letters, digits,
/// `-` and `.`, or a bracketed IPv6 address; a port from 1 to 65535.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(inside) = authority.strip_prefix('[') {
        let end = inside.find(']')?;
        inside[..end].parse::<Ipv6Addr>().ok()?;
        let (host, rest) = authority.split_at(end + 2);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let valid_host = !host.is_empty()
        && (host.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.')));
    let port = match port {
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok().filter(|p| *p > 0)?)
        }
        Some(_) => return None,
        None => None,
    };
    valid_host.then_some((host, port))
}

/// Checks a path prefix (without its trailing `/`), saying what is wrong.
fn check_prefix(prefix: &str) -> Result<(), String> {
    // RFC 3986 path characters: what every proxy and gateway passes on unchanged.
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b);
    if let Some(c) = prefix.chars().find(|&c| !c.is_ascii() || !plain(c as u8)) {
        return Err(format!(
            "its path holds {c:?}; percent-encode it ({})",
            crate::signing::percent_encode(c.encode_utf8(&mut [0; 4]))
        ));
    }
    let bytes = prefix.as_bytes();
    let bad_escape = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if bad_escape {
        return Err("its path holds a '%' not followed by two hex digits".to_owned());
    }
    if prefix.split('/').any(|s| s == "." || s == "..") {
        return Err("its path must not hold '.' or '..' segments".to_owned());
    }
    let last = prefix.rsplit('/').next().unwrap_or_default();
    if last.eq_ignore_ascii_case("v2") {
        return Err(
            "its path ends in /v2, which the client adds itself (/v2/{project_id}/…); drop the /v2"
                .to_owned(),
        );
    }
    Ok(())
}

/// `url` with the password of any user info masked, for error messages.
fn without_password(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        // A proxy variable may leave the scheme out: `user:password@proxy:3128`.
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end]
        .rsplit_once('@')
        .and_then(|(user_info, host)| Some((user_info.split_once(':')?.0, host)))
    {
        Some((user, host)) => format!("{scheme}{user}:***@{host}{}", &rest[authority_end..]),
        None => url.to_owned(),
    }
}

/// The endpoint of a region: `https://workspace.{region}.myhuaweicloud.com`.
///
/// # Errors
///
/// [`Error::InvalidConfig`] when `region` is not of the form `xx-yyyy-N`.
pub(crate) fn region_endpoint(region: &str) -> Result<String, Error> {
    let valid = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.contains('-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if !valid {
        return Err(Error::invalid(
            "region",
            region,
            "expected a region such as cn-north-4 or ap-southeast-1",
        ));
    }
    Ok(format!("https://workspace.{region}.myhuaweicloud.com"))
}

/// A blocking client of `GET /v2/{project_id}/workspace-sub-jobs`.
///
/// One call is one attempt per request: the client never retries; the
/// [`Waiter`](crate::Waiter) owns retry policy. Cheap to clone: clones share the connection
/// pool, the response buffers and what the client learnt of its endpoint (whether it ever
/// answered), and may be used from several threads at once.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base_url: String,
    /// The request path, prefix included: what is signed and sent.
    path: String,
    /// The path of the job-details API without the job ID, prefix included.
    jobs_path: String,
    /// `base_url` without the prefix, to which `path` is appended.
    origin: String,
    host_header: String,
    /// Host and port connections go to, for messages.
    target: String,
    project_id: String,
    credentials: Arc<Credentials>,
    clock: Arc<dyn Clock>,
    max_body_bytes: u64,
    /// The proxy requests go through, password masked, for messages.
    proxy: Option<String>,
    /// Set once the endpoint has answered any request of this client or a clone: from then
    /// on a refused connection is a restart, not a wrong address.
    answered: Arc<AtomicBool>,
    buffers: Arc<BufferPool>,
    budget: Option<RateBudget>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("project_id", &self.project_id)
            .field("credentials", &self.credentials)
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL requests go to (scheme, host, port, prefix).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The project ID.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Fetches one page of `query`.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] for an error status, [`Error::Transport`] when the request did not
    /// complete, [`Error::Decode`] for a body that is not a page,
    /// [`Error::ResponseTooLarge`] past the body limit.
    pub fn list_subtasks(&self, query: &SubtaskQuery) -> Result<SubtaskPage, Error> {
        Ok(self
            .budgeted(Priority::Routine, || self.fetch_page(query, None))?
            .page)
    }

    /// Fetches every page of `query` (see [`collect_pages`]).
    ///
    /// # Errors
    ///
    /// As [`list_subtasks`](Self::list_subtasks), for the first page that fails, and
    /// [`Error::OffsetLimit`] past the service's documented maximum offset.
    pub fn list_all_subtasks(&self, query: &SubtaskQuery) -> Result<SubtaskList, Error> {
        let mut first = true;
        collect_pages(query, |q| {
            // Once a listing is under way, its pages go stale while the next one waits.
            let priority = if std::mem::take(&mut first) {
                Priority::Routine
            } else {
                Priority::Important
            };
            self.budgeted(priority, || self.fetch_page(q, None))
        })
    }

    /// Fetches the details of `job_id`: its job-level status, error and subtask count.
    ///
    /// # Errors
    ///
    /// As [`list_subtasks`](Self::list_subtasks); an unknown job is an [`Error::Api`] with
    /// status 404, an invalid ID an [`Error::InvalidConfig`] without a request.
    pub fn get_job(&self, job_id: &str) -> Result<JobDetails, Error> {
        validate_id("job_id", job_id)?;
        Ok(self
            .budgeted(Priority::Routine, || self.fetch_job(job_id, None))?
            .job)
    }

    /// Makes one request through the rate budget, if any: blocks until the budget allows
    /// it (a window at most, or a capped throttle pause) and reports a 429 to it.
    fn budgeted<T>(
        &self,
        priority: Priority,
        request: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        let Some(budget) = &self.budget else {
            return request();
        };
        // Neither cancelled nor bounded: the budget always allows a request eventually.
        let _ = budget.acquire(
            priority,
            &ThreadSleeper,
            &Cancellation::new(),
            Duration::MAX,
        );
        let result = request();
        if let Err(error) = &result {
            if error.is_throttled() {
                budget.on_throttled(error.retry_after());
            }
        }
        result
    }

    /// One signed GET of `path` (prefix included) with the canonical query
    /// `canonical_query`, its response handed to `interpret` while the body buffer is
    /// borrowed from the pool.
    fn get<T>(
        &self,
        path: &str,
        canonical_query: &str,
        timeout: Option<Duration>,
        interpret: impl FnOnce(u16, Option<String>, Option<&str>, &[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let answer = self.send(path, canonical_query, timeout)?;
        self.read_buffered(answer, path, canonical_query, interpret)
    }

    /// Sends one signed GET of `path` with the canonical query `canonical_query`; returns
    /// the answer with its body still to read.
    fn send(
        &self,
        path: &str,
        canonical_query: &str,
        timeout: Option<Duration>,
    ) -> Result<Answer, Error> {
        // The query string sent is the canonical one that was signed, byte for byte.
        let url = if canonical_query.is_empty() {
            format!("{}{path}", self.origin)
        } else {
            format!("{}{path}?{canonical_query}", self.origin)
        };
        let mut request = self
            .agent
            .get(&url)
            .header("Host", &self.host_header)
            .header("Content-Type", "application/json")
            .header("X-Project-Id", &self.project_id);
        match &*self.credentials {
            Credentials::AccessKey(key) => {
                let mut signed: Vec<(&str, &str)> = vec![
                    ("content-type", "application/json"),
                    ("host", &self.host_header),
                    ("x-project-id", &self.project_id),
                ];
                if let Some(token) = &key.security_token {
                    signed.push(("x-security-token", token.expose()));
                    request = request.header("X-Security-Token", token.expose());
                }
                let signature = sign_canonical(
                    &SignableRequest {
                        method: "GET",
                        path,
                        query: canonical_query,
                        headers: &signed,
                        body: b"",
                    },
                    key,
                    self.clock.system_time(),
                );
                request = request
                    .header("X-Sdk-Date", &signature.sdk_date)
                    .header("Authorization", &signature.authorization);
            }
            Credentials::Token(token) => {
                request = request.header("X-Auth-Token", token.expose());
            }
        }
        if let Some(timeout) = timeout {
            request = request.config().timeout_global(Some(timeout)).build();
        }
        let transport = |source: ureq::Error| self.transport_error(path, source);
        let response = request.call().map_err(transport)?;
        self.answered.store(true, Ordering::Relaxed);
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("x-request-id");
        let retry_after = header("retry-after");
        Ok(Answer {
            response,
            status,
            request_id,
            retry_after,
        })
    }

    /// Reads `answer`'s body into a buffer borrowed from the pool, and hands it to
    /// `interpret`.
    fn read_buffered<T>(
        &self,
        answer: Answer,
        path: &str,
        canonical_query: &str,
        interpret: impl FnOnce(u16, Option<String>, Option<&str>, &[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let Answer {
            mut response,
            status,
            request_id,
            retry_after: retry_after_header,
        } = answer;
        let mut body = self.buffers.lease();
        if let Err(source) = read_body(response.body_mut(), self.max_body_bytes, &mut body) {
            return Err(self.body_error(path, source, status, request_id));
        }
        log::trace!(
            "GET {path}?{canonical_query} -> {status} ({}, request id {})",
            crate::text::plural(body.len() as u64, "byte"),
            request_id.as_deref().unwrap_or("none")
        );
        interpret(status, request_id, retry_after_header.as_deref(), &body).map_err(|error| {
            let error = self.with_retry_date(error, retry_after_header.as_deref());
            error.redact(&self.sent_secrets())
        })
    }

    /// What a failure to read a body is: too big, or the connection's.
    fn body_error(
        &self,
        path: &str,
        source: ureq::Error,
        status: u16,
        request_id: Option<String>,
    ) -> Error {
        let error = match source {
            ureq::Error::BodyExceedsLimit(limit) => Error::ResponseTooLarge {
                status,
                request_id,
                limit,
            },
            source => self.transport_error(path, source),
        };
        // A request ID is the server's text: it may echo what the request sent.
        error.redact(&self.sent_secrets())
    }

    /// Fills in a `Retry-After` given as an HTTP date, which only the client can measure:
    /// from its clock, as it dates the requests it signs.
    fn with_retry_date(&self, mut error: Error, header: Option<&str>) -> Error {
        if let (Error::Api(api), Some(header)) = (&mut error, header) {
            if api.retry_after.is_none() {
                api.retry_after = retry_after(header, self.clock.system_time());
            }
        }
        error
    }

    /// An [`Error::Transport`] for `source`, saying what happened where the client knows
    /// more than the error: which host did not resolve, who refused, which proxy failed.
    fn transport_error(&self, path: &str, source: ureq::Error) -> Error {
        let mut kind = TransportKind::of(&source);
        let refused =
            matches!(&source, ureq::Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused);
        let summary = match (&self.proxy, kind) {
            (Some(proxy), TransportKind::Dns) => {
                kind = TransportKind::Proxy;
                let host = lookup_host(&source).unwrap_or("its host");
                Some(format!("proxy {proxy}: could not resolve host {host}"))
            }
            (Some(proxy), TransportKind::Connect) => {
                kind = TransportKind::Proxy;
                Some(if refused {
                    format!("proxy {proxy} refused the connection")
                } else {
                    format!("could not connect to proxy {proxy}")
                })
            }
            (Some(proxy), TransportKind::Proxy) => Some(format!(
                "proxy {proxy} would not open a tunnel to {}",
                self.target
            )),
            (None, TransportKind::Dns) => {
                let host = lookup_host(&source).unwrap_or(&self.target);
                Some(format!("could not resolve host {host}"))
            }
            (None, TransportKind::Connect) if refused => {
                if !self.answered.load(Ordering::Relaxed) {
                    kind = TransportKind::Refused;
                }
                Some(format!("connection refused by {}", self.target))
            }
            _ => None,
        };
        let source: Box<dyn std::error::Error + Send + Sync> = match summary {
            Some(summary) => Box::new(Described {
                summary,
                cause: Box::new(source),
            }),
            None => Box::new(source),
        };
        Error::Transport {
            kind,
            method: "GET",
            url: format!("{}{path}", self.origin),
            source,
        }
    }

    /// The secrets this client puts in headers, which an echoing server could return.
    fn sent_secrets(&self) -> Vec<&str> {
        match &*self.credentials {
            Credentials::AccessKey(key) => key.security_token.iter().map(|t| t.expose()).collect(),
            Credentials::Token(token) => vec![token.expose()],
        }
    }
}

/// The host name whose lookup failed, as the resolver marked it.
fn lookup_host(error: &ureq::Error) -> Option<&str> {
    match error {
        ureq::Error::Io(io) => unresolved_host(io),
        _ => None,
    }
}

/// Job details announcing a body larger than this (or no length) are decoded as they
/// arrive: about 2,000 subtasks inline. A listing's page, at most 1,000 subtasks, never is.
const STREAMED_FROM: usize = 1024 * 1024;

/// A response, its body still to read.
struct Answer {
    response: ureq::http::Response<ureq::Body>,
    status: u16,
    request_id: Option<String>,
    retry_after: Option<String>,
}

/// A body read as it is decoded: counts its bytes, keeps its start (for an error's
/// excerpt) and the error that stopped it, which the decoder would only describe.
struct Streamed<R> {
    inner: R,
    bytes: usize,
    head: Vec<u8>,
    failure: Option<io::Error>,
}

impl<R> Streamed<R> {
    /// The start of the body kept for messages: as much as an excerpt may quote.
    const HEAD: usize = crate::error::EXCERPT_CHARS * 4;

    fn new(inner: R) -> Self {
        Self {
            inner,
            bytes: 0,
            head: Vec::new(),
            failure: None,
        }
    }
}

impl<R: io::Read> io::Read for Streamed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.bytes += n;
                let room = Self::HEAD.saturating_sub(self.head.len()).min(n);
                self.head.extend_from_slice(&buf[..room]);
                Ok(n)
            }
            Err(error) => {
                let kind = error.kind();
                self.failure = Some(error);
                Err(io::Error::new(kind, "the body could not be read"))
            }
        }
    }
}

/// Reads a body of at most `limit` bytes into `buffer`, which keeps the capacity of earlier
/// bodies: a full page is close to half a megabyte, and a fresh buffer of that size is
/// mapped from the operating system and faulted in page by page on every request.
fn read_body(body: &mut ureq::Body, limit: u64, buffer: &mut Vec<u8>) -> Result<(), ureq::Error> {
    use std::io::Read as _;
    let expected = body.content_length().unwrap_or(0).min(limit);
    buffer.clear();
    buffer.reserve(usize::try_from(expected).unwrap_or(0));
    body.with_config()
        .limit(limit)
        .reader()
        .read_to_end(buffer)?;
    Ok(())
}

/// Response buffers kept for the next requests of a client and its clones. A request
/// takes one (or starts a new one when all are in use by other threads) and gives it back
/// when its response is decoded.
#[derive(Debug, Default)]
struct BufferPool {
    spare: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// Buffers kept: one per thread that polls at once, for a handful of threads.
    const KEPT: usize = 4;
    /// A buffer grown past this (by a job's details with thousands of subtasks inline, a
    /// read a wait makes once or twice) is dropped rather than kept: a page of 1,000
    /// subtasks is about 450 KiB.
    const KEPT_CAPACITY: usize = 1024 * 1024;

    fn lease(&self) -> Lease<'_> {
        let buffer = self
            .spare
            .lock()
            .ok()
            .and_then(|mut spare| spare.pop())
            .unwrap_or_default();
        Lease { pool: self, buffer }
    }
}

/// A buffer borrowed from a [`BufferPool`], given back on drop.
struct Lease<'a> {
    pool: &'a BufferPool,
    buffer: Vec<u8>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.buffer
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if self.buffer.capacity() > BufferPool::KEPT_CAPACITY {
            return;
        }
        let buffer = std::mem::take(&mut self.buffer);
        if let Ok(mut spare) = self.pool.spare.lock() {
            if spare.len() < BufferPool::KEPT {
                spare.push(buffer);
            }
        }
    }
}

impl JobsApi for Client {
    fn project_id(&self) -> &str {
        &self.project_id
    }

    fn rate_budget(&self) -> Option<&RateBudget> {
        self.budget.as_ref()
    }

    fn fetch_job(&self, job_id: &str, timeout: Option<Duration>) -> Result<FetchedJob, Error> {
        validate_id("job_id", job_id)?;
        let path = format!("{}/{job_id}", self.jobs_path);
        let mut answer = self.send(&path, "", timeout)?;
        // A job's details carry every subtask inline (4 MB for 10,000): a big body is
        // decoded as it arrives, rather than from a copy of it beside the decoded job; a
        // small one (or an error) from a pooled buffer, the faster way.
        let small = answer
            .response
            .body()
            .content_length()
            .is_some_and(|n| n <= STREAMED_FROM as u64);
        if small || !(200..300).contains(&answer.status) {
            return self.read_buffered(answer, &path, "", interpret_job_response);
        }
        let reader = answer
            .response
            .body_mut()
            .with_config()
            .limit(self.max_body_bytes)
            .reader();
        let mut body = Streamed::new(reader);
        let decoded = JobDetails::from_reader(io::BufReader::with_capacity(64 * 1024, &mut body));
        log::trace!(
            "GET {path} -> {} ({} bytes, request id {})",
            answer.status,
            body.bytes,
            answer.request_id.as_deref().unwrap_or("none")
        );
        // A body the decoder gave up on is read to its end all the same, as a buffered one
        // is: its length is the body's, and one too big is too big, not malformed.
        if decoded.is_err() && body.failure.is_none() {
            let _ = io::copy(&mut body, &mut io::sink());
        }
        // A read that failed is what failed the decoder (it reads up to the body's end).
        if let Some(failure) = body.failure.take() {
            let source = ureq::Error::from(failure);
            return Err(self.body_error(&path, source, answer.status, answer.request_id));
        }
        match decoded {
            Ok(job) => Ok(FetchedJob::new(job, body.bytes, answer.request_id)),
            Err(source) => Err(Error::Decode {
                status: answer.status,
                request_id: answer.request_id,
                length: body.bytes,
                excerpt: crate::error::excerpt(&body.head),
                source,
            }
            .redact(&self.sent_secrets())),
        }
    }

    fn fetch_page(
        &self,
        query: &SubtaskQuery,
        timeout: Option<Duration>,
    ) -> Result<FetchedPage, Error> {
        self.get(
            &self.path,
            &query.canonical_string(),
            timeout,
            interpret_response,
        )
    }
}

/// Marks a failed name lookup with the host it was for ([`NameNotResolved`]): ureq reports
/// one as a plain I/O error, like a reset connection, and the two call for opposite
/// handling (a typo in a host name never fixes itself).
#[derive(Debug)]
struct MarkingResolver {
    inner: Arc<dyn Resolver>,
}

impl Resolver for MarkingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mark = |cause: io::Error| {
            ureq::Error::Io(io::Error::other(NameNotResolved {
                host: uri.host().unwrap_or_default().to_owned(),
                cause,
            }))
        };
        self.inner
            .resolve(uri, config, timeout)
            .map_err(|error| match error {
                ureq::Error::Io(cause) => mark(cause),
                ureq::Error::HostNotFound => mark(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the name resolved to no usable address",
                )),
                other => other,
            })
    }
}

/// Where the client reads proxy variables: the process environment, or a test's table.
#[derive(Clone)]
struct ProxyEnv(Arc<EnvLookup>);

/// Reads one environment variable.
type EnvLookup = dyn Fn(&str) -> Option<OsString> + Send + Sync;

impl fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyEnv")
    }
}

impl Default for ProxyEnv {
    fn default() -> Self {
        Self(Arc::new(|name| std::env::var_os(name)))
    }
}

/// The variables ureq reads a proxy from, in its order of preference.
const PROXY_VARIABLES: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// The proxy of the environment for `endpoint`, with its text for messages (password
/// masked); `None` when none is set or `NO_PROXY` exempts the endpoint.
///
/// ureq itself skips a variable it cannot use and silently tries the next one, or goes
/// direct; a proxy that is set but unusable is a mistake to report instead.
fn env_proxy(env: &ProxyEnv, endpoint: &Endpoint) -> Result<Option<(ureq::Proxy, String)>, Error> {
    let Some((variable, value)) = PROXY_VARIABLES.iter().find_map(|&variable| {
        let value = (env.0)(variable)?;
        (!value.is_empty()).then_some((variable, value))
    }) else {
        return Ok(None);
    };
    let Some(text) = value.to_str() else {
        let shown = without_password(&value.to_string_lossy());
        return Err(Error::invalid(variable, shown, "is not valid UTF-8"));
    };
    let text = text.trim();
    let shown = without_password(text);
    let bad = |reason: &str| Error::invalid(variable, &shown, reason);
    let scheme = text.split_once("://").map_or("http", |(scheme, _)| scheme);
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad(
            "only http:// and https:// proxies are supported (SOCKS is not)",
        ));
    }
    let proxy = ureq::Proxy::new(text)
        .map_err(|_| bad("is not a proxy URL such as http://proxy.example.com:3128"))?;
    let authority = proxy
        .uri()
        .authority()
        .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or_default());
    if split_host_port(authority).is_none() {
        return Err(bad("has no valid host[:port]"));
    }
    // The same proxy with the `NO_PROXY` list of the environment, as ureq would read it.
    let proxy = match ureq::Proxy::try_from_env() {
        Some(from_env) if from_env.uri() == proxy.uri() => from_env,
        _ => proxy,
    };
    if proxy.is_no_proxy(&endpoint.uri) {
        return Ok(None);
    }
    Ok(Some((proxy, shown)))
}

/// Configures a [`Client`].
///
/// ```
/// use std::time::Duration;
/// use wks_waiter::{Client, Credentials};
///
/// let client = Client::builder()
///     .region("cn-north-4")
///     .project_id("0605767a3300d5762fb7c0186d9e1779")
///     .credentials(Credentials::access_key("MY_AK", "MY_SK")?)
///     .connect_timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(client.base_url(), "https://workspace.cn-north-4.myhuaweicloud.com");
/// # Ok::<(), wks_waiter::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()`"]
pub struct ClientBuilder {
    endpoint: Option<String>,
    region: Option<String>,
    project_id: Option<String>,
    credentials: Option<Credentials>,
    connect_timeout: Duration,
    read_timeout: Duration,
    user_agent: String,
    proxy_from_env: bool,
    max_body_bytes: u64,
    clock: Arc<dyn Clock>,
    proxy_env: ProxyEnv,
    /// Name resolution under the marking layer; tests replace it to fail without DNS.
    resolver: Option<Arc<dyn Resolver>>,
    budget: Option<RateBudget>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: None,
            project_id: None,
            credentials: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            user_agent: concat!("wks-waiter/", env!("CARGO_PKG_VERSION")).to_owned(),
            proxy_from_env: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            clock: Arc::new(SystemClock),
            proxy_env: ProxyEnv::default(),
            resolver: None,
            budget: None,
        }
    }
}

impl ClientBuilder {
    /// The region, e.g. `cn-north-4`; requests go to
    /// `https://workspace.{region}.myhuaweicloud.com`.
    ///
    /// Defaults to none; a region or an [`endpoint`](Self::endpoint) is required.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// An explicit endpoint, overriding the region: `https://host[:port][/prefix]`, or
    /// `http://` for a loopback host (the simulator).
    ///
    /// Defaults to none.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The project ID.
    ///
    /// Defaults to none; required (see [`project_id_from_env`](Self::project_id_from_env)).
    pub fn project_id(mut self, project_id: impl Into<String>) -> Self {
        self.project_id = Some(project_id.into());
        self
    }

    /// Reads the project ID from `HUAWEICLOUD_SDK_PROJECT_ID`.
    ///
    /// # Errors
    ///
    /// [`Error::MissingEnv`] when it is unset or empty.
    pub fn project_id_from_env(self) -> Result<Self, Error> {
        let id = required_env(ENV_PROJECT_ID)?;
        Ok(self.project_id(id.trim()))
    }

    /// The credentials.
    ///
    /// Defaults to none; required (see [`Credentials::from_env`]).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// A request budget every request of this client (and its clones, and a
    /// [`Waiter`](crate::Waiter) over it) counts against: the calls of this client wait
    /// (blocking the thread) until the budget allows them; a waiter asks it before each
    /// request and sleeps through its own sleeper.
    ///
    /// Defaults to none.
    pub fn rate_budget(mut self, budget: RateBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Time allowed to open a connection, at most 1 hour.
    ///
    /// Defaults to 10 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed, once the request is sent, for the response head and again for its
    /// body. The waiter further caps each request by the time left before its deadline.
    ///
    /// Defaults to 30 seconds.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The `User-Agent` header.
    ///
    /// Defaults to `wks-waiter/{version}`.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Whether to use the proxy of the environment: the first of `ALL_PROXY`, `all_proxy`,
    /// `HTTPS_PROXY`, `https_proxy`, `HTTP_PROXY`, `http_proxy` that is set (an `http://`
    /// or `https://` proxy), honouring `NO_PROXY`. A set variable that cannot be used makes
    /// [`build`](Self::build) fail, naming it. Loopback endpoints are always reached
    /// directly.
    ///
    /// Defaults to `true`.
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.proxy_from_env = enabled;
        self
    }

    /// The largest response body accepted; a larger one is [`Error::ResponseTooLarge`]
    /// rather than an allocation.
    ///
    /// Defaults to 16 MiB.
    pub fn max_body_bytes(mut self, limit: u64) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// The clock `X-Sdk-Date` is read from.
    ///
    /// Defaults to the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates the configuration and builds the client. Makes no request.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the bad value (endpoint, region, project ID, a zero
    /// timeout, `http://` to a non-loopback host, an unusable proxy variable — named, its
    /// password masked), or when a required setting is missing.
    pub fn build(self) -> Result<Client, Error> {
        let url = match (self.endpoint, self.region) {
            (Some(endpoint), _) => endpoint,
            (None, Some(region)) => region_endpoint(&region)?,
            (None, None) => {
                return Err(Error::invalid(
                    "endpoint",
                    "",
                    "give a region or an endpoint",
                ))
            }
        };
        let endpoint = Endpoint::parse(&url)?;
        let project_id = self.project_id.unwrap_or_default();
        validate_id("project_id", &project_id)?;
        let credentials = self
            .credentials
            .ok_or_else(|| Error::invalid("credentials", "", "credentials are required"))?;
        for (field, timeout) in [
            ("connect_timeout", self.connect_timeout),
            ("read_timeout", self.read_timeout),
        ] {
            if timeout.is_zero() {
                return Err(Error::invalid(field, "0s", "must be greater than zero"));
            }
            // ureq adds timeouts to the current time: an absurd one would overflow it.
            if timeout > MAX_TIMEOUT {
                return Err(Error::invalid(
                    field,
                    crate::time::format_duration(timeout),
                    "must be at most 1h",
                ));
            }
        }
        if self.max_body_bytes == 0 {
            return Err(Error::invalid(
                "max_body_bytes",
                0,
                "must be greater than zero",
            ));
        }
        if self.user_agent.is_empty()
            || !self
                .user_agent
                .bytes()
                .all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(Error::invalid(
                "user_agent",
                &self.user_agent,
                "must be non-empty printable ASCII",
            ));
        }
        // A proxy cannot reach this machine's loopback on our behalf: the simulator and
        // other local endpoints are always reached directly.
        let proxy = if self.proxy_from_env && !endpoint.is_loopback() {
            env_proxy(&self.proxy_env, &endpoint)?
        } else {
            None
        };
        let (proxy, proxy_shown) = proxy.unzip();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(self.connect_timeout))
            .timeout_recv_response(Some(self.read_timeout))
            .timeout_recv_body(Some(self.read_timeout))
            .user_agent(self.user_agent.as_str())
            // A redirect is answered, not followed: following it could carry signed
            // credentials to another host.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(proxy)
            .build();
        let inner = self
            .resolver
            .unwrap_or_else(|| Arc::new(DefaultResolver::default()));
        let agent = ureq::Agent::with_parts(
            config,
            DefaultConnector::default(),
            MarkingResolver { inner },
        );
        let origin = endpoint.origin();
        Ok(Client {
            agent,
            base_url: format!("{origin}{}", endpoint.prefix),
            path: format!("{}/v2/{project_id}/workspace-sub-jobs", endpoint.prefix),
            jobs_path: format!("{}/v2/{project_id}/workspace-jobs", endpoint.prefix),
            origin,
            host_header: endpoint.host_header(),
            target: format!("{}:{}", endpoint.host, endpoint.port_or_default()),
            project_id,
            credentials: Arc::new(credentials),
            clock: self.clock,
            max_body_bytes: self.max_body_bytes,
            proxy: proxy_shown,
            answered: Arc::new(AtomicBool::new(false)),
            buffers: Arc::new(BufferPool::default()),
            budget: self.budget,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn endpoints_parse_and_http_is_loopback_only() {
        let e = Endpoint::parse("https://workspace.cn-north-4.myhuaweicloud.com/").unwrap();
        assert_eq!(e.origin(), "https://workspace.cn-north-4.myhuaweicloud.com");
        let e = Endpoint::parse("http://127.0.0.1:8080/prefix/").unwrap();
        assert_eq!(
            (e.host_header().as_str(), e.prefix.as_str()),
            ("127.0.0.1:8080", "/prefix")
        );
        assert_eq!(Endpoint::parse("https://h:443").unwrap().host_header(), "h");
        assert_eq!(
            Endpoint::parse("HTTPS://H.example").unwrap().host,
            "h.example"
        );
        let e = Endpoint::parse("https://gw.example/a%2Fb/v2x").unwrap();
        assert_eq!(e.prefix, "/a%2Fb/v2x");
        for ok in ["http://localhost:1", "http://[::1]:9", "http://127.8.9.10"] {
            Endpoint::parse(ok).unwrap();
        }
        for (bad, needle) in [
            ("http://example.com", "loopback"),
            ("http://10.0.0.1:80", "loopback"),
            ("ftp://x", "https://"),
            ("workspace.example.com", "https://"),
            ("https://", "host"),
            ("https://h:0", "host"),
            ("https://h:99999", "host"),
            ("https://h:", "host"),
            ("https://u@h", "user info"),
            ("https://[evil.com]", "host"),
            ("https://[]", "host"),
            ("http://[::1]junk", "host"),
            ("https://h?x=1", "query"),
            ("https://h/?", "query"),
            ("https://h#x", "fragment"),
            ("https://h h", "spaces"),
            ("https://h/é", "percent-encode"),
            ("https://h/a\"b", "percent-encode"),
            ("https://h/a%zz", "hex digits"),
            ("https://h/a/../b", "'..'"),
        ] {
            let err = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn an_endpoint_ending_in_v2_is_refused_with_the_fix() {
        for bad in [
            "https://workspace.cn-north-4.myhuaweicloud.com/v2",
            "https://h/v2/",
            "https://h/gw/V2",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(&err, Error::InvalidConfig { field: "endpoint", value, .. } if value == bad),
                "{err:?}"
            );
            assert!(text.contains("drop the /v2"), "{text}");
        }
    }

    #[test]
    fn a_password_in_an_endpoint_is_not_repeated() {
        let err = Endpoint::parse("https://user:hunter2@h/x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("https://user:***@h/x") && !err.contains("hunter2"),
            "{err}"
        );
        assert_eq!(without_password("u:pw@proxy:3128"), "u:***@proxy:3128");
    }

    #[test]
    fn regions_map_to_endpoints() {
        assert_eq!(
            region_endpoint("ap-southeast-3").unwrap(),
            "https://workspace.ap-southeast-3.myhuaweicloud.com"
        );
        for bad in [
            "",
            "CN-NORTH-4",
            "cn north",
            "north",
            "-cn-4",
            "cn-4.evil.com/",
        ] {
            let err = region_endpoint(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    fn good() -> ClientBuilder {
        Client::builder()
            .region("cn-north-4")
            .project_id("p1")
            .credentials(Credentials::access_key("AK", "SK").unwrap())
    }

    #[test]
    fn builder_names_bad_values() {
        good().build().unwrap();
        let cases = [
            (good().project_id(""), "project_id"),
            (good().project_id("p/1"), "`p/1`"),
            (good().region("bad region"), "`bad region`"),
            (good().endpoint("http://example.com"), "loopback"),
            (good().connect_timeout(Duration::ZERO), "connect_timeout"),
            (good().read_timeout(Duration::ZERO), "read_timeout"),
            (good().max_body_bytes(0), "max_body_bytes"),
        ];
        for (builder, needle) in cases {
            let err = builder.build().unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        let err = Client::builder()
            .region("cn-north-4")
            .project_id("p")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("credentials"));
    }

    #[test]
    fn debug_shows_no_secret() {
        let client = good()
            .credentials(Credentials::temporary("AK", "the-sk-value", "the-token-value").unwrap())
            .build()
            .unwrap();
        let text = format!("{client:?}");
        assert!(
            !text.contains("the-sk-value") && !text.contains("the-token-value"),
            "{text}"
        );
    }

    /// A builder reading proxy variables from `vars` instead of the environment.
    fn with_env(builder: ClientBuilder, vars: &[(&'static str, &str)]) -> ClientBuilder {
        let vars: HashMap<&'static str, OsString> =
            vars.iter().map(|(k, v)| (*k, OsString::from(v))).collect();
        ClientBuilder {
            proxy_env: ProxyEnv(Arc::new(move |name| vars.get(name).cloned())),
            ..builder
        }
    }

    #[test]
    fn an_unusable_proxy_variable_is_named_with_its_password_masked() {
        for (variable, value, shown) in [
            ("HTTPS_PROXY", "socks5://proxy:1080", "socks5://proxy:1080"),
            (
                "https_proxy",
                "ftp://u:secret@proxy:21",
                "ftp://u:***@proxy:21",
            ),
            ("ALL_PROXY", "http://proxy:99999", "http://proxy:99999"),
            ("all_proxy", "http://:3128", "http://:3128"),
            (
                "HTTP_PROXY",
                "http://u:secret@pro xy:1",
                "http://u:***@pro xy:1",
            ),
            ("http_proxy", "http://proxy:port", "http://proxy:port"),
        ] {
            let err = with_env(good(), &[(variable, value)]).build().unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(&err, Error::InvalidConfig { field, value, .. }
                    if *field == variable && value == shown),
                "{err:?}"
            );
            assert!(!text.contains("secret"), "{text}");
        }
        // The first variable set is the one used, and the one checked.
        with_env(
            good(),
            &[
                ("HTTPS_PROXY", "http://proxy:3128"),
                ("HTTP_PROXY", "bad://"),
            ],
        )
        .build()
        .unwrap();
        // Unused when the proxy is off, or for a loopback endpoint.
        let bad = [("HTTPS_PROXY", "socks5://proxy:1080")];
        with_env(good().proxy_from_env(false), &bad)
            .build()
            .unwrap();
        with_env(good().endpoint("http://127.0.0.1:9"), &bad)
            .build()
            .unwrap();
    }

    /// A resolver that fails as a lookup of an unknown name does, without asking DNS.
    #[derive(Debug)]
    struct NoSuchName;

    impl Resolver for NoSuchName {
        fn resolve(
            &self,
            _: &Uri,
            _: &Config,
            _: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            Err(ureq::Error::Io(io::Error::other(
                "failed to lookup address information: Name or service not known",
            )))
        }
    }

    fn no_dns(builder: ClientBuilder) -> ClientBuilder {
        ClientBuilder {
            resolver: Some(Arc::new(NoSuchName)),
            ..builder
        }
    }

    #[test]
    fn an_unknown_host_is_a_dns_error_that_ends_at_once() {
        let client = no_dns(good().endpoint("https://workspace.nowhere.example"))
            .proxy_from_env(false)
            .build()
            .unwrap();
        let err = client.get_job("job-1").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Transport {
                    kind: TransportKind::Dns,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_retryable());
        assert_eq!(
            err.to_string(),
            "could not resolve host workspace.nowhere.example on GET \
             https://workspace.nowhere.example/v2/p1/workspace-jobs/job-1"
        );
        let cause = std::error::Error::source(&err).unwrap();
        assert!(
            cause.to_string().contains("Name or service not known"),
            "{cause}"
        );
    }

    #[test]
    fn a_proxy_failure_names_the_proxy_without_its_password() {
        let client = no_dns(with_env(
            good(),
            &[(
                "HTTPS_PROXY",
                "http://user:secret@proxy.nowhere.example:3128",
            )],
        ))
        .build()
        .unwrap();
        assert!(format!("{client:?}").contains("user:***@proxy.nowhere.example:3128"));
        let err = client.get_job("job-1").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                Error::Transport {
                    kind: TransportKind::Proxy,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_retryable());
        assert!(
            text.starts_with(
                "proxy http://user:***@proxy.nowhere.example:3128: could not resolve host \
                 proxy.nowhere.example on GET"
            ),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        // NO_PROXY exempts the endpoint.
        let direct = with_env(
            good(),
            &[("HTTPS_PROXY", "http://proxy:3128"), ("NO_PROXY", "*")],
        );
        // The environment's NO_PROXY is what ureq reads; a test table cannot set it, so
        // this only checks that a proxy is configured without it.
        assert!(direct.build().unwrap().proxy.is_some());
    }

    /// A port nothing listens on (bound, then released).
    fn closed_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn a_refused_connection_ends_at_once_until_the_endpoint_has_answered() {
        let port = closed_port();
        let client = good()
            .endpoint(format!("http://127.0.0.1:{port}"))
            .build()
            .unwrap();
        let err = client.get_job("job-1").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Transport {
                    kind: TransportKind::Refused,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_retryable());
        assert!(
            err.to_string()
                .starts_with(&format!("connection refused by 127.0.0.1:{port} on GET")),
            "{err}"
        );

        // One answer, then the endpoint goes away: a restart, retried like a 5xx.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let body = r#"{"id":"job-1","status":"RUNNING"}"#;
            write!(
                &stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            // The listener is dropped here: later connections are refused.
        });
        let client = good()
            .endpoint(format!("http://127.0.0.1:{port}"))
            .build()
            .unwrap();
        let clone = client.clone();
        client.get_job("job-1").unwrap();
        server.join().unwrap();
        let err = clone.get_job("job-1").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Transport {
                    kind: TransportKind::Connect,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_retryable());
        assert!(
            err.to_string()
                .starts_with(&format!("connection refused by 127.0.0.1:{port}")),
            "{err}"
        );
    }

    #[test]
    fn body_buffers_are_kept_for_the_next_request_and_shared_by_clones() {
        let pool = Arc::new(BufferPool::default());
        let capacity = {
            let mut lease = pool.lease();
            lease.extend_from_slice(&[b'x'; 500_000]);
            lease.capacity()
        };
        let again = pool.lease();
        assert_eq!(again.capacity(), capacity);
        // Taken by one request, so a concurrent one starts its own.
        assert_eq!(pool.lease().capacity(), 0);
        drop(again);
        // An outsized buffer is not kept.
        {
            let mut lease = pool.lease();
            lease.reserve(BufferPool::KEPT_CAPACITY + 1);
        }
        assert_eq!(pool.lease().capacity(), 0);
    }
}
