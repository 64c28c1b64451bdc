//! The one error type of the client.

use std::fmt;
use std::io;
use std::time::Duration;

use serde::Deserialize;

/// Everything that can go wrong talking to the sub-jobs API or configuring the client.
///
/// `Display` is one line; the underlying cause, when there is one, is only in
/// [`source()`](std::error::Error::source). Secrets never appear in either.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The request did not complete: connect, DNS, TLS, timeout, reset.
    #[error("{kind} on {method} {url}")]
    Transport {
        /// What kind of failure.
        kind: TransportKind,
        /// Method of the request.
        method: &'static str,
        /// The URL without its query string.
        url: String,
        /// The cause.
        #[source]
        source: Box<ureq::Error>,
    },
    /// A success response whose body is not a sub-jobs page (for example truncated).
    #[error("undecodable response body (HTTP {status}, {} bytes, request id {}): {excerpt:?}", .length, RequestId(.request_id))]
    Decode {
        /// HTTP status of the response.
        status: u16,
        /// `X-Request-Id` of the response.
        request_id: Option<String>,
        /// Length of the body.
        length: usize,
        /// The first characters of the body.
        excerpt: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The response body is larger than the client accepts.
    #[error("response body larger than {limit} bytes (HTTP {status}, request id {})", RequestId(.request_id))]
    ResponseTooLarge {
        /// HTTP status of the response.
        status: u16,
        /// `X-Request-Id` of the response.
        request_id: Option<String>,
        /// The limit, in bytes.
        limit: u64,
    },
    /// Paging would go past the documented maximum offset of the service.
    #[error("listing needs offset {offset}, past the service's documented maximum of {} ({total_count} subtasks match); narrow the query", crate::query::MAX_OFFSET)]
    OffsetLimit {
        /// The offset the next page would need.
        offset: u64,
        /// What the service said matches.
        total_count: u64,
    },
    /// A configuration value is invalid. `value` is never a secret.
    #[error("invalid {field} `{value}`: {reason}")]
    InvalidConfig {
        /// Which setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A secret configuration value is invalid; the value is not repeated.
    #[error("invalid {field}: {reason}")]
    InvalidSecret {
        /// Which setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A required environment variable is unset or empty.
    #[error("environment variable {variable} is not set")]
    MissingEnv {
        /// The variable.
        variable: &'static str,
    },
}

struct RequestId<'a>(&'a Option<String>);

impl fmt::Display for RequestId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("none"))
    }
}

impl Error {
    pub(crate) fn invalid(field: &'static str, value: impl fmt::Display, reason: &str) -> Self {
        Self::InvalidConfig {
            field,
            value: value.to_string(),
            reason: reason.to_owned(),
        }
    }

    pub(crate) fn invalid_secret(field: &'static str, reason: &str) -> Self {
        Self::InvalidSecret {
            field,
            reason: reason.to_owned(),
        }
    }

    /// Masks `secrets` wherever the response put text into this error (a proxy or server
    /// may echo the request, headers included). An excerpt cut in the middle of a secret
    /// has the cut part masked too.
    pub(crate) fn redact(mut self, secrets: &[&str]) -> Self {
        let fields: Vec<&mut String> = match &mut self {
            Self::Api(api) => [
                api.error_msg.as_mut(),
                api.error_detail.as_mut(),
                api.encoded_authorization_message.as_mut(),
                api.body_excerpt.as_mut(),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Self::Decode { excerpt, .. } => vec![excerpt],
            _ => Vec::new(),
        };
        for field in fields {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                mask(field, secret);
            }
        }
        self
    }

    /// Whether trying the same request again may succeed: throttling (429), server errors
    /// (500, 502, 503, 504), timeouts, dropped connections and truncated bodies.
    ///
    /// Authentication and permission failures (401, 403) are never retryable: Huawei locks
    /// an AK/SK pair for 5 minutes after 5 failed authentications in a row.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(api) => matches!(api.status, 429 | 500 | 502 | 503 | 504),
            Self::Transport { kind, .. } => kind.is_retryable(),
            Self::Decode { .. } => true,
            _ => false,
        }
    }

    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        )
    }

    /// Whether the service throttled the request (HTTP 429).
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }

    /// The HTTP status of the response, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(api) => Some(api.status),
            Self::Decode { status, .. } | Self::ResponseTooLarge { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The `X-Request-Id` of the response, when there was one: quote it to support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api(api) => api.request_id.as_deref(),
            Self::Decode { request_id, .. } | Self::ResponseTooLarge { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }

    /// The service's error details, for [`Error::Api`].
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(api) => Some(api),
            _ => None,
        }
    }

    /// How long the service asked the caller to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|api| api.retry_after)
    }
}

const MASK: &str = "** redacted **";

/// Replaces every occurrence of `secret` in `text`, and a trailing start of it at least 4
/// characters long (where an excerpt was cut).
fn mask(text: &mut String, secret: &str) {
    if text.contains(secret) {
        *text = text.replace(secret, MASK);
    }
    let cut = (4..secret.len())
        .rev()
        .filter(|&n| secret.is_char_boundary(n))
        .find(|&n| text.ends_with(&secret[..n]));
    if let Some(n) = cut {
        text.truncate(text.len() - n);
        text.push_str(MASK);
    }
}

/// What kind of transport failure an [`Error::Transport`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// A connect, read or overall timeout.
    Timeout,
    /// The host name did not resolve.
    Dns,
    /// The TCP connection could not be made.
    Connect,
    /// The connection was reset or closed mid-response.
    Reset,
    /// TLS failed, for example an untrusted certificate.
    Tls,
    /// The server spoke broken HTTP.
    Protocol,
    /// A proxy setting is invalid.
    Proxy,
    /// Anything else.
    Other,
}

impl TransportKind {
    /// Classifies a ureq error.
    pub fn of(error: &ureq::Error) -> Self {
        match error {
            ureq::Error::Timeout(_) => Self::Timeout,
            ureq::Error::HostNotFound => Self::Dns,
            ureq::Error::ConnectionFailed => Self::Connect,
            // ureq reports a failed handshake (an untrusted certificate, a plaintext
            // server) as an I/O error around the rustls error.
            ureq::Error::Io(io) if is_tls(io) => Self::Tls,
            ureq::Error::Io(io) => match io.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Self::Timeout,
                io::ErrorKind::ConnectionRefused => Self::Connect,
                _ => Self::Reset,
            },
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => Self::Tls,
            ureq::Error::Protocol(_) => Self::Protocol,
            ureq::Error::InvalidProxyUrl | ureq::Error::ConnectProxyFailed(_) => Self::Proxy,
            _ => Self::Other,
        }
    }

    fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::Connect | Self::Reset | Self::Protocol
        )
    }
}

fn is_tls(io: &io::Error) -> bool {
    io.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timeout",
            Self::Dns => "host name not found",
            Self::Connect => "connection failed",
            Self::Reset => "connection lost",
            Self::Tls => "TLS failure",
            Self::Protocol => "HTTP protocol error",
            Self::Proxy => "proxy failure",
            Self::Other => "transport failure",
        })
    }
}

/// An error response of the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `error_code`, e.g. `APIGW.0301`.
    pub error_code: Option<String>,
    /// `error_msg`.
    pub error_msg: Option<String>,
    /// `error_detail`.
    pub error_detail: Option<String>,
    /// `encoded_authorization_message` (403 responses).
    pub encoded_authorization_message: Option<String>,
    /// The `X-Request-Id` header, or the body's `request_id` when the header is absent.
    pub request_id: Option<String>,
    /// The `Retry-After` header, in seconds, when present.
    pub retry_after: Option<Duration>,
    /// The first characters of a body that is not the documented JSON (a proxy's HTML page).
    pub body_excerpt: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_msg: Option<String>,
    #[serde(default)]
    error_detail: Option<String>,
    #[serde(default)]
    encoded_authorization_message: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
}

/// How much of an unexpected body errors quote.
pub(crate) const EXCERPT_CHARS: usize = 200;

pub(crate) fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

impl ApiError {
    /// Reads an error response: status, body, `X-Request-Id` and `Retry-After`.
    pub fn from_response(
        status: u16,
        body: &[u8],
        request_id: Option<String>,
        retry_after: Option<&str>,
    ) -> Self {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let body_excerpt = match &parsed {
            Some(_) => None,
            None if body.is_empty() => None,
            None => Some(excerpt(body)),
        };
        let parsed = parsed.unwrap_or(ErrorBody {
            error_code: None,
            error_msg: None,
            error_detail: None,
            encoded_authorization_message: None,
            request_id: None,
        });
        Self {
            status,
            error_code: parsed.error_code,
            error_msg: parsed.error_msg,
            error_detail: parsed.error_detail,
            encoded_authorization_message: parsed.encoded_authorization_message,
            request_id: request_id.or(parsed.request_id),
            retry_after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
            body_excerpt,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.error_code {
            write!(f, " {code}")?;
        }
        match (&self.error_msg, &self.body_excerpt) {
            (Some(msg), _) => write!(f, ": {msg}")?,
            (None, Some(body)) => write!(f, ": {body:?}")?,
            (None, None) => {}
        }
        write!(f, " (request id {})", RequestId(&self.request_id))
    }
}

impl From<ApiError> for Error {
    fn from(api: ApiError) -> Self {
        Self::Api(Box::new(api))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_reads_every_field_and_prints_one_line() {
        let body =
            br#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information",
            "error_detail":"verify aksk signature fail","encoded_authorization_message":"enc",
            "request_id":"body-id"}"#;
        let api = ApiError::from_response(401, body, Some("hdr-id".into()), None);
        assert_eq!(api.error_code.as_deref(), Some("APIGW.0301"));
        assert_eq!(
            api.error_detail.as_deref(),
            Some("verify aksk signature fail")
        );
        assert_eq!(api.encoded_authorization_message.as_deref(), Some("enc"));
        assert_eq!(api.request_id.as_deref(), Some("hdr-id"));
        let err = Error::from(api);
        assert_eq!(
            err.to_string(),
            "HTTP 401 APIGW.0301: Incorrect IAM authentication information (request id hdr-id)"
        );
        assert!(!err.is_retryable());
        assert_eq!(err.status(), Some(401));
        assert_eq!(err.request_id(), Some("hdr-id"));
    }

    #[test]
    fn body_request_id_is_the_fallback_and_html_is_quoted() {
        let api = ApiError::from_response(404, br#"{"request_id":"r"}"#, None, None);
        assert_eq!(api.request_id.as_deref(), Some("r"));
        let api = ApiError::from_response(502, b"<html>Bad Gateway</html>", None, Some("7"));
        assert_eq!(api.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(
            api.to_string(),
            "HTTP 502: \"<html>Bad Gateway</html>\" (request id none)"
        );
    }

    #[test]
    fn echoed_secrets_are_masked_even_when_cut() {
        let body = br#"{"error_msg":"bad token tok-123456789","error_detail":"x"}"#;
        let err = Error::from(ApiError::from_response(400, body, None, None));
        let text = err.redact(&["tok-123456789"]).to_string();
        assert_eq!(text, "HTTP 400: bad token ** redacted ** (request id none)");
        let cut = interpret_cut(b"echo: Bearer tok-1234");
        let text = cut.redact(&["tok-123456789"]).to_string();
        assert!(
            text.contains("echo: Bearer ** redacted **") && !text.contains("tok-1234"),
            "{text}"
        );
    }

    fn interpret_cut(body: &[u8]) -> Error {
        Error::from(ApiError::from_response(502, body, None, None))
    }

    #[test]
    fn retryable_statuses() {
        for (status, retryable) in [
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (405, false),
            (429, true),
            (500, true),
            (502, true),
            (503, true),
            (504, true),
        ] {
            let err = Error::from(ApiError::from_response(status, b"", None, None));
            assert_eq!(err.is_retryable(), retryable, "{status}");
        }
    }

    #[test]
    fn transport_display_does_not_repeat_the_cause() {
        let source = ureq::Error::Io(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "peer reset xyz",
        ));
        let err = Error::Transport {
            kind: TransportKind::of(&source),
            method: "GET",
            url: "http://127.0.0.1:1/v2/p/workspace-sub-jobs".into(),
            source: Box::new(source),
        };
        assert_eq!(
            err.to_string(),
            "connection lost on GET http://127.0.0.1:1/v2/p/workspace-sub-jobs"
        );
        assert!(err.is_retryable());
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.contains("peer reset xyz"));
    }
}
