//! The blocking HTTP client of the sub-jobs API.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::credentials::{required_env, Credentials, ENV_PROJECT_ID};
use crate::error::{Error, TransportKind};
use crate::model::{JobDetails, SubtaskPage};
use crate::query::{validate_id, SubtaskQuery};
use crate::signing::{sign, SignableRequest};
use crate::source::{
    collect_pages, interpret_job_response, interpret_response, FetchedJob, FetchedPage, JobsApi,
    SubtaskList,
};
use crate::time::{Clock, SystemClock};

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default read timeout.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on a response body. A full page of 1000 subtasks is well under 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// Where requests go: scheme, host, port and an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    https: bool,
    host: String,
    port: Option<u16>,
    prefix: String,
}

impl Endpoint {
    /// Parses and checks `url`: `https://` anywhere, `http://` only to a loopback host.
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::invalid("endpoint", without_password(url), reason);
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad(
                "must start with https:// (or http:// for a loopback host)",
            ));
        };
        if rest.contains(['?', '#', '@']) || rest.chars().any(char::is_whitespace) {
            return Err(bad(
                "must not hold a query, a fragment, user info or spaces",
            ));
        }
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) =
            split_host_port(authority).ok_or_else(|| bad("has no valid host[:port]"))?;
        let endpoint = Self {
            https,
            host: host.to_ascii_lowercase(),
            port,
            prefix: prefix.trim_end_matches('/').to_owned(),
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

fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(inside) = authority.strip_prefix('[') {
        // An IPv6 literal, then nothing or `:port`.
        let end = inside.find(']')?;
        inside[..end].parse::<std::net::Ipv6Addr>().ok()?;
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
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0)?),
        None => None,
    };
    valid_host.then_some((host, port))
}

/// `url` with the password of any user info masked, for error messages.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end]
        .rsplit_once('@')
        .and_then(|(user_info, host)| Some((user_info.split_once(':')?.0, host)))
    {
        Some((user, host)) => format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..]),
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
/// [`Waiter`](crate::Waiter) owns retry policy. Cheap to clone (shares the connection pool).
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
    project_id: String,
    credentials: Arc<Credentials>,
    clock: Arc<dyn Clock>,
    max_body_bytes: u64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("project_id", &self.project_id)
            .field("credentials", &self.credentials)
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
        Ok(self.fetch_page(query, None)?.page)
    }

    /// Fetches every page of `query` (see [`collect_pages`]).
    ///
    /// # Errors
    ///
    /// As [`list_subtasks`](Self::list_subtasks), for the first page that fails, and
    /// [`Error::OffsetLimit`] past the service's documented maximum offset.
    pub fn list_all_subtasks(&self, query: &SubtaskQuery) -> Result<SubtaskList, Error> {
        collect_pages(query, |q| self.fetch_page(q, None))
    }

    /// Fetches the details of `job_id`: its job-level status, error and subtask count.
    ///
    /// # Errors
    ///
    /// As [`list_subtasks`](Self::list_subtasks); an unknown job is an [`Error::Api`] with
    /// status 404, an invalid ID an [`Error::InvalidConfig`] without a request.
    pub fn get_job(&self, job_id: &str) -> Result<JobDetails, Error> {
        Ok(self.fetch_job(job_id, None)?.job)
    }

    fn send(&self, query: &SubtaskQuery, timeout: Option<Duration>) -> Result<FetchedPage, Error> {
        let response = self.get(&self.path, &query.canonical_string(), timeout)?;
        interpret_response(
            response.status,
            response.request_id,
            response.retry_after.as_deref(),
            &response.body,
        )
        .map_err(|error| error.redact(&self.sent_secrets()))
    }

    /// One signed GET of `path` (prefix included) with the canonical query `canonical_query`.
    fn get(
        &self,
        path: &str,
        canonical_query: &str,
        timeout: Option<Duration>,
    ) -> Result<RawResponse, Error> {
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
                let signature = sign(
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
        let transport = |source: ureq::Error| Error::Transport {
            kind: TransportKind::of(&source),
            method: "GET",
            url: format!("{}{path}", self.origin),
            source: Box::new(source),
        };
        let mut response = request.call().map_err(transport)?;
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
        let body = match read_body(response.body_mut(), self.max_body_bytes) {
            Ok(body) => body,
            Err(ureq::Error::BodyExceedsLimit(limit)) => {
                return Err(Error::ResponseTooLarge {
                    status,
                    request_id,
                    limit,
                })
            }
            Err(source) => return Err(transport(source)),
        };
        log::trace!(
            "GET {path}?{canonical_query} -> {status} ({} bytes, request id {})",
            body.len(),
            request_id.as_deref().unwrap_or("none")
        );
        Ok(RawResponse {
            status,
            request_id,
            retry_after,
            body,
        })
    }

    /// The secrets this client puts in headers, which an echoing server could return.
    fn sent_secrets(&self) -> Vec<&str> {
        match &*self.credentials {
            Credentials::AccessKey(key) => key.security_token.iter().map(|t| t.expose()).collect(),
            Credentials::Token(token) => vec![token.expose()],
        }
    }
}

/// Reads a body of at most `limit` bytes into a buffer sized from `Content-Length`: a full
/// page is close to half a megabyte, and growing a buffer to that by doubling copies it
/// several times over.
fn read_body(body: &mut ureq::Body, limit: u64) -> Result<Vec<u8>, ureq::Error> {
    use std::io::Read as _;
    let expected = body.content_length().unwrap_or(0).min(limit);
    let mut buffer = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    body.with_config()
        .limit(limit)
        .reader()
        .read_to_end(&mut buffer)?;
    Ok(buffer)
}

/// A response as received, before interpretation.
struct RawResponse {
    status: u16,
    request_id: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl JobsApi for Client {
    fn project_id(&self) -> &str {
        &self.project_id
    }

    fn fetch_job(&self, job_id: &str, timeout: Option<Duration>) -> Result<FetchedJob, Error> {
        validate_id("job_id", job_id)?;
        let path = format!("{}/{job_id}", self.jobs_path);
        let response = self.get(&path, "", timeout)?;
        interpret_job_response(
            response.status,
            response.request_id,
            response.retry_after.as_deref(),
            &response.body,
        )
        .map_err(|error| error.redact(&self.sent_secrets()))
    }

    fn fetch_page(
        &self,
        query: &SubtaskQuery,
        timeout: Option<Duration>,
    ) -> Result<FetchedPage, Error> {
        self.send(query, timeout)
    }
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

    /// Time allowed to open a connection.
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

    /// Whether to use the proxy from `HTTPS_PROXY`/`ALL_PROXY` (honouring `NO_PROXY`).
    /// Loopback endpoints are always reached directly.
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
    /// timeout, `http://` to a non-loopback host), or when a required setting is missing.
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
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(self.connect_timeout))
            .timeout_recv_response(Some(self.read_timeout))
            .timeout_recv_body(Some(self.read_timeout))
            .user_agent(self.user_agent.as_str())
            // A redirect is answered, not followed: following it could carry signed
            // credentials to another host.
            .max_redirects(0)
            .max_redirects_will_error(false);
        // A proxy cannot reach this machine's loopback on our behalf: the simulator and
        // other local endpoints are always reached directly.
        if !self.proxy_from_env || endpoint.is_loopback() {
            config = config.proxy(None);
        }
        let agent = config.build().new_agent();
        let origin = endpoint.origin();
        Ok(Client {
            agent,
            base_url: format!("{origin}{}", endpoint.prefix),
            path: format!("{}/v2/{project_id}/workspace-sub-jobs", endpoint.prefix),
            jobs_path: format!("{}/v2/{project_id}/workspace-jobs", endpoint.prefix),
            origin,
            host_header: endpoint.host_header(),
            project_id,
            credentials: Arc::new(credentials),
            clock: self.clock,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
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
            ("https://u@h", "user info"),
            ("https://[evil.com]", "host"),
            ("https://[]", "host"),
            ("http://[::1]junk", "host"),
            ("https://h?x=1", "query"),
            ("https://h h", "spaces"),
        ] {
            let err = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains(needle), "{bad}: {err}");
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

    #[test]
    fn builder_names_bad_values() {
        let good = || {
            Client::builder()
                .region("cn-north-4")
                .project_id("p1")
                .credentials(Credentials::access_key("AK", "SK").unwrap())
        };
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
        let client = Client::builder()
            .region("cn-north-4")
            .project_id("p1")
            .credentials(Credentials::temporary("AK", "the-sk-value", "the-token-value").unwrap())
            .build()
            .unwrap();
        let text = format!("{client:?}");
        assert!(
            !text.contains("the-sk-value") && !text.contains("the-token-value"),
            "{text}"
        );
    }
}
