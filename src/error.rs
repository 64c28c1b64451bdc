//! The one error type of the client.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::{DecodeError, MAX_OFFSET};
use crate::text::plural;

/// Everything that can go wrong talking to the sub-jobs API or configuring the client.
///
/// `Display` is one line; the underlying cause, when there is one, is only in
/// [`source()`](std::error::Error::source). Secrets never appear in either.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error status.
    Api(Box<ApiError>),
    /// The request did not complete: name resolution, connect, TLS, proxy, timeout, reset.
    Transport {
        /// What kind of failure.
        kind: TransportKind,
        /// Method of the request.
        method: &'static str,
        /// The URL without its query string.
        url: String,
        /// The cause, for [`source()`](std::error::Error::source): the HTTP stack's own
        /// error, whose type is not part of this crate's API.
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A success response whose body is not what the API documents: not JSON, truncated,
    /// not an object, a required field missing or unusable (see [`DecodeError`]), or an
    /// error object sent with a success status.
    Decode {
        /// HTTP status of the response.
        status: u16,
        /// `X-Request-Id` of the response.
        request_id: Option<String>,
        /// Length of the body.
        length: usize,
        /// The first characters of the body.
        excerpt: Box<str>,
        /// What is wrong with the body.
        source: DecodeError,
    },
    /// The response body is larger than the client accepts.
    ResponseTooLarge {
        /// HTTP status of the response.
        status: u16,
        /// `X-Request-Id` of the response.
        request_id: Option<String>,
        /// The limit, in bytes.
        limit: u64,
    },
    /// Paging would go past the documented maximum offset of the service.
    OffsetLimit {
        /// The offset the next page would need.
        offset: u64,
        /// What the service said matches.
        total_count: u64,
    },
    /// A configuration value is invalid. `value` is never a secret.
    InvalidConfig {
        /// Which setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: Box<str>,
    },
    /// A secret configuration value is invalid; the value is not repeated.
    InvalidSecret {
        /// Which setting.
        field: &'static str,
        /// What is wrong with it.
        reason: Box<str>,
    },
    /// A required environment variable is unset or empty.
    MissingEnv {
        /// The variable.
        variable: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(api) => api.fmt(f),
            Self::Transport {
                kind,
                method,
                url,
                source,
            } => match source.downcast_ref::<Described>() {
                Some(described) => write!(f, "{} on {method} {url}", described.summary),
                None => write!(f, "{kind} on {method} {url}"),
            },
            Self::Decode {
                status,
                request_id,
                length,
                excerpt,
                source,
            } => {
                write!(
                    f,
                    "malformed response body (HTTP {status}, {}, request id {}): {source}",
                    plural(*length as u64, "byte"),
                    RequestId(request_id)
                )?;
                if !excerpt.is_empty() {
                    write!(f, "; it starts {excerpt:?}")?;
                }
                Ok(())
            }
            Self::ResponseTooLarge {
                status,
                request_id,
                limit,
            } => write!(
                f,
                "response body larger than {limit} bytes (HTTP {status}, request id {})",
                RequestId(request_id)
            ),
            Self::OffsetLimit {
                offset,
                total_count,
            } => write!(
                f,
                "listing needs offset {offset}, past the service's documented maximum of \
                 {MAX_OFFSET} ({total_count} subtasks match); narrow the query"
            ),
            Self::InvalidConfig {
                field,
                value,
                reason,
            } => write!(f, "invalid {field} `{value}`: {reason}"),
            Self::InvalidSecret { field, reason } => write!(f, "invalid {field}: {reason}"),
            Self::MissingEnv { variable } => {
                write!(f, "environment variable {variable} is not set")
            }
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // `Display` already says what the wrapper knew; the chain goes on with the cause.
            Self::Transport { source, .. } => match source.downcast_ref::<Described>() {
                Some(described) => Some(&*described.cause),
                None => Some(&**source),
            },
            // `Display` holds the decode error's own text; only its cause (the JSON
            // parser's, for a body that is not JSON) is news.
            Self::Decode { source, .. } => source.source(),
            _ => None,
        }
    }
}

/// A transport failure's cause with the one-line summary the client could give of it
/// ("could not resolve host …", "connection refused by …", which proxy failed). It is what
/// the client puts in [`Error::Transport::source`]; `Display` shows the summary, and
/// `source()` skips this wrapper for the cause it holds.
#[derive(Debug)]
pub(crate) struct Described {
    pub(crate) summary: String,
    pub(crate) cause: Box<dyn StdError + Send + Sync>,
}

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cause.fmt(f)
    }
}

impl StdError for Described {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause.source()
    }
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
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_secret(field: &'static str, reason: &str) -> Self {
        Self::InvalidSecret {
            field,
            reason: reason.into(),
        }
    }

    /// Masks `secrets` wherever the response put text into this error (a proxy or server
    /// may echo the request, headers included). An excerpt cut in the middle of a secret
    /// has the cut part masked too.
    pub(crate) fn redact(mut self, secrets: &[&str]) -> Self {
        if secrets.iter().all(|s| s.is_empty()) {
            return self;
        }
        let mask_all = |text: &mut String| {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                mask(text, secret);
            }
        };
        match &mut self {
            Self::Api(api) => [
                api.error_code.as_mut(),
                api.request_id.as_mut(),
                api.error_msg.as_mut(),
                api.error_detail.as_mut(),
                api.encoded_authorization_message.as_mut(),
                api.body_excerpt.as_mut(),
            ]
            .into_iter()
            .flatten()
            .for_each(mask_all),
            Self::Decode {
                excerpt,
                source,
                request_id,
                ..
            } => {
                let mut text = String::from(std::mem::take(excerpt));
                mask_all(&mut text);
                *excerpt = text.into();
                source.redact_with(mask_all);
                request_id.iter_mut().for_each(mask_all);
            }
            Self::ResponseTooLarge { request_id, .. } => request_id.iter_mut().for_each(mask_all),
            _ => {}
        }
        self
    }

    /// Whether trying the same request again may succeed: throttling (429), server errors
    /// (500, 502, 503, 504), timeouts, dropped connections, truncated or malformed bodies.
    ///
    /// Never retryable:
    ///
    /// - authentication and permission failures (401, 403): Huawei locks an AK/SK pair for
    ///   5 minutes after 5 failed authentications in a row;
    /// - a host name that does not resolve ([`TransportKind::Dns`]), TLS failures and proxy
    ///   failures: retrying cannot fix the configuration;
    /// - a refused connection while this client has never received an answer from the
    ///   endpoint ([`TransportKind::Refused`]): the host or port is most likely wrong.
    ///   Once the endpoint has answered this client (or a clone of it) at least once, a
    ///   refused connection is a restart or a failover in progress: it is
    ///   [`TransportKind::Connect`] and retried like a 5xx.
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
/// characters long (where an excerpt was cut). A body is often JSON: the secret is found
/// in its escaped forms too (`\/` for `/`, `\u002b` for `+`, any character as `\uXXXX`).
pub(crate) fn mask(text: &mut String, secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut masked = String::with_capacity(text.len());
    let mut rest = text.as_str();
    let mut changed = false;
    while let Some(ch) = rest.chars().next() {
        if let Some(len) = match_secret(rest, secret) {
            masked.push_str(MASK);
            rest = &rest[len..];
            changed = true;
            continue;
        }
        masked.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    if changed {
        *text = masked;
    }
}

/// Whether `rest`, the end of a text, is the start of `ch` JSON-escaped, cut short.
fn cut_in_escape(rest: &str, ch: char) -> bool {
    let short = format!("\\{ch}");
    let unicode = format!("\\u{:04x}", u32::from(ch));
    rest.len() < unicode.len()
        && (short.starts_with(rest)
            || unicode.starts_with(&rest.to_ascii_lowercase())
            || rest.eq_ignore_ascii_case("\\u"))
}

/// Shortest start of a secret that counts as the secret when a text is cut within it.
const MIN_CUT_SECRET: usize = 4;

/// The length of the text at the start of `text` that spells `secret`, each character
/// either as itself or JSON-escaped; or of its start (at least [`MIN_CUT_SECRET`]
/// characters) where `text` ends within it.
fn match_secret(text: &str, secret: &str) -> Option<usize> {
    let mut at = 0;
    for (matched, ch) in secret.chars().enumerate() {
        let rest = &text[at..];
        if rest.is_empty() {
            return (matched >= MIN_CUT_SECRET).then_some(at);
        }
        if matched >= MIN_CUT_SECRET && cut_in_escape(rest, ch) {
            return Some(text.len());
        }
        let escaped = rest.strip_prefix('\\').and_then(|escape| {
            if matches!(ch, '/' | '\\' | '"') && escape.starts_with(ch) {
                return Some(2);
            }
            let hex = escape.strip_prefix(['u', 'U'])?.get(..4)?;
            (u32::from_str_radix(hex, 16).ok()? == u32::from(ch)).then_some(6)
        });
        // An escape first: a backslash of the secret reads `\\` escaped.
        match escaped {
            Some(len) => at += len,
            None if rest.starts_with(ch) => at += ch.len_utf8(),
            None => return None,
        }
    }
    Some(at)
}

/// What kind of transport failure an [`Error::Transport`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// A connect, read or overall timeout.
    Timeout,
    /// The host name did not resolve. Not retryable.
    Dns,
    /// The endpoint refused the connection and has never answered this client: most
    /// likely a wrong host or port. Not retryable.
    Refused,
    /// The TCP connection could not be made (unreachable network, or refused by an
    /// endpoint that answered before: a restart or a failover). Retryable.
    Connect,
    /// The connection was reset or closed mid-response.
    Reset,
    /// TLS failed, for example an untrusted certificate.
    Tls,
    /// The server spoke broken HTTP.
    Protocol,
    /// The proxy could not be reached or refused to carry the request.
    Proxy,
    /// Anything else.
    Other,
}

impl TransportKind {
    /// Classifies an error of the HTTP stack, without the context of the client (which
    /// turns `Connect` into `Refused` and connect failures into `Proxy` where it knows
    /// better).
    pub(crate) fn of(error: &ureq::Error) -> Self {
        match error {
            ureq::Error::Timeout(_) => Self::Timeout,
            ureq::Error::HostNotFound => Self::Dns,
            ureq::Error::ConnectionFailed => Self::Connect,
            ureq::Error::Io(io) if unresolved_host(io).is_some() => Self::Dns,
            // ureq reports a failed handshake (an untrusted certificate, a plaintext
            // server) as an I/O error around the rustls error.
            ureq::Error::Io(io) if is_tls(io) => Self::Tls,
            ureq::Error::Io(io) => match io.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Self::Timeout,
                io::ErrorKind::ConnectionRefused
                | io::ErrorKind::NetworkUnreachable
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::AddrNotAvailable => Self::Connect,
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

/// The marker the client's resolver puts inside the I/O error of a failed name lookup, so
/// that the failure is told apart from other I/O errors by type, not by message text.
#[derive(Debug)]
pub(crate) struct NameNotResolved {
    pub(crate) host: String,
    pub(crate) cause: io::Error,
}

impl fmt::Display for NameNotResolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cause.fmt(f)
    }
}

impl StdError for NameNotResolved {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause.source()
    }
}

/// The host whose lookup failed, when `io` is the resolver's marked error.
pub(crate) fn unresolved_host(io: &io::Error) -> Option<&str> {
    io.get_ref()?
        .downcast_ref::<NameNotResolved>()
        .map(|marked| marked.host.as_str())
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timeout",
            Self::Dns => "host name not found",
            Self::Refused => "connection refused",
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
    /// How long the `Retry-After` header asked to wait: its seconds (a number too large
    /// for a `Duration` saturates), or the time from the client's clock to its HTTP date
    /// (zero for a date in the past).
    pub retry_after: Option<Duration>,
    /// The first characters of a body that is not the documented JSON (a proxy's HTML page).
    pub body_excerpt: Option<String>,
}

/// How much of an unexpected body errors quote.
pub(crate) const EXCERPT_CHARS: usize = 200;

pub(crate) fn excerpt(body: &[u8]) -> Box<str> {
    let head = &body[..body.len().min(EXCERPT_CHARS * 4)];
    String::from_utf8_lossy(head)
        .chars()
        .take(EXCERPT_CHARS)
        .collect::<String>()
        .into()
}

impl ApiError {
    /// Reads an error response: status, body, `X-Request-Id` and `Retry-After`.
    ///
    /// `retry_after` is read as seconds here; the HTTP client also reads an HTTP date,
    /// against its clock.
    pub fn from_response(
        status: u16,
        body: &[u8],
        request_id: Option<String>,
        retry_after: Option<&str>,
    ) -> Self {
        let parsed = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body);
        let body_excerpt = match &parsed {
            Err(_) if !body.is_empty() => Some(excerpt(body).into()),
            _ => None,
        };
        let fields = parsed.unwrap_or_default();
        // A field of another type than documented costs that field, not the error.
        let text = |name: &str| fields.get(name)?.as_str().map(str::to_owned);
        Self {
            status,
            error_code: text("error_code"),
            error_msg: text("error_msg"),
            error_detail: text("error_detail"),
            encoded_authorization_message: text("encoded_authorization_message"),
            request_id: request_id.or_else(|| text("request_id")),
            retry_after: retry_after.and_then(retry_after_seconds),
            body_excerpt,
        }
    }
}

/// `Retry-After` as delay-seconds; all digits but too large for a `Duration` saturates.
fn retry_after_seconds(value: &str) -> Option<Duration> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(digits.parse().unwrap_or(u64::MAX)))
}

/// `Retry-After` in either form of RFC 9110: delay-seconds, or an HTTP date measured from
/// `now` (a date already past means no wait). Never fails on absurd values: seconds
/// saturate, dates are limited to four-digit years.
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Some(delay) = retry_after_seconds(value) {
        return Some(delay);
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an HTTP date: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), and the obsolete
/// RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`)
/// forms that RFC 9110 still asks recipients to accept.
pub(crate) fn parse_http_date(text: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = text.split_ascii_whitespace().collect();
    let (day, month, year, time) = match parts.as_slice() {
        [weekday, day, month, year, time, "GMT"] if weekday.ends_with(',') => {
            (*day, *month, year4(year)?, *time)
        }
        [weekday, date, time, "GMT"] if weekday.ends_with(',') => {
            let mut fields = date.split('-');
            let (day, month, year) = (fields.next()?, fields.next()?, fields.next()?);
            if fields.next().is_some() || year.len() != 2 {
                return None;
            }
            // RFC 9110: a two-digit year more than 50 years ahead is in the past century;
            // against any date this century that is 70..=99 → 19xx.
            let yy: i64 = digits(year)?;
            (
                day,
                month,
                if yy >= 70 { 1900 + yy } else { 2000 + yy },
                *time,
            )
        }
        [_weekday, month, day, time, year] => (*day, *month, year4(year)?, *time),
        _ => return None,
    };
    let day: i64 = digits(day).filter(|d| (1..=31).contains(d))?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let mut clock = time.split(':');
    let (hour, minute, second) = (clock.next()?, clock.next()?, clock.next()?);
    if clock.next().is_some() || [hour, minute, second].iter().any(|f| f.len() != 2) {
        return None;
    }
    let hour: i64 = digits(hour).filter(|h| *h < 24)?;
    let minute: i64 = digits(minute).filter(|m| *m < 60)?;
    let second: i64 = digits(second).filter(|s| *s <= 60)?;
    let days = crate::signing::days_from_civil(year, month, day as u32);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    match u64::try_from(secs) {
        Ok(secs) => UNIX_EPOCH.checked_add(Duration::from_secs(secs)),
        // Before 1970: certainly past.
        Err(_) => Some(UNIX_EPOCH),
    }
}

fn year4(text: &str) -> Option<i64> {
    (text.len() == 4).then(|| digits(text))?
}

/// A short run of ASCII digits (at most 4, so no arithmetic on it can overflow).
fn digits(text: &str) -> Option<i64> {
    let valid = (1..=4).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| text.parse().ok())?
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
    fn the_error_stays_small() {
        // Returned on every poll through `Result`: big variants are boxed.
        assert!(
            std::mem::size_of::<Error>() <= 64,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

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
    fn a_field_of_the_wrong_type_costs_only_that_field() {
        let api = ApiError::from_response(
            400,
            br#"{"error_code":17,"error_msg":"bad request"}"#,
            None,
            None,
        );
        assert_eq!(api.error_code, None);
        assert_eq!(api.error_msg.as_deref(), Some("bad request"));
        assert_eq!(api.body_excerpt, None);
    }

    #[test]
    fn json_escaped_secrets_are_masked() {
        let secret = "MIIE/ab+cd\\ef";
        for echo in [
            r"MIIE\/ab+cd\\ef",
            r"MIIE\u002fab\u002Bcd\u005cef",
            r"\u004dIIE/ab+cd\\ef",
        ] {
            let mut text = format!("token {echo} end");
            mask(&mut text, secret);
            assert_eq!(text, "token ** redacted ** end", "{echo}");
        }
        for cut in [
            r"token MIIE\/a",
            r"token MIIE\",
            r"token MIIE\u00",
            r"token MIIE\U002F",
        ] {
            let mut cut = cut.to_owned();
            mask(&mut cut, secret);
            assert_eq!(cut, "token ** redacted **");
        }
        let mut unrelated = r"MIIE\/zz and MIIE".to_owned();
        mask(&mut unrelated, secret);
        assert_eq!(unrelated, r"MIIE\/zz and ** redacted **");
    }

    #[test]
    fn echoed_secrets_are_masked_even_when_cut() {
        let body = br#"{"error_msg":"bad token tok-123456789","error_detail":"x"}"#;
        let err = Error::from(ApiError::from_response(400, body, None, None));
        let text = err.redact(&["tok-123456789"]).to_string();
        assert_eq!(text, "HTTP 400: bad token ** redacted ** (request id none)");
        let cut = Error::from(ApiError::from_response(
            502,
            b"echo: Bearer tok-1234",
            None,
            None,
        ));
        let text = cut.redact(&["tok-123456789"]).to_string();
        assert!(
            text.contains("echo: Bearer ** redacted **") && !text.contains("tok-1234"),
            "{text}"
        );
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

    fn transport(kind: TransportKind, source: Box<dyn StdError + Send + Sync>) -> Error {
        Error::Transport {
            kind,
            method: "GET",
            url: "http://127.0.0.1:1/v2/p/workspace-sub-jobs".into(),
            source,
        }
    }

    #[test]
    fn transport_display_does_not_repeat_the_cause() {
        let source = ureq::Error::Io(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "peer reset xyz",
        ));
        let err = transport(TransportKind::of(&source), Box::new(source));
        assert_eq!(
            err.to_string(),
            "connection lost on GET http://127.0.0.1:1/v2/p/workspace-sub-jobs"
        );
        assert!(err.is_retryable());
        let cause = StdError::source(&err).unwrap();
        assert!(cause.to_string().contains("peer reset xyz"));
        // The HTTP stack's own error is reachable, by downcasting the cause.
        assert!(cause.downcast_ref::<ureq::Error>().is_some());
    }

    #[test]
    fn a_described_cause_gives_the_summary_and_stays_out_of_the_chain() {
        let source = ureq::Error::Io(io::Error::new(io::ErrorKind::ConnectionRefused, "nope"));
        let err = transport(
            TransportKind::Refused,
            Box::new(Described {
                summary: "connection refused by 127.0.0.1:1".into(),
                cause: Box::new(source),
            }),
        );
        assert_eq!(
            err.to_string(),
            "connection refused by 127.0.0.1:1 on GET http://127.0.0.1:1/v2/p/workspace-sub-jobs"
        );
        assert!(!err.is_retryable());
        let cause = StdError::source(&err).unwrap();
        assert!(cause.downcast_ref::<ureq::Error>().is_some(), "{cause:?}");
    }

    #[test]
    fn name_lookup_failures_are_told_apart_by_their_marker() {
        let marked = ureq::Error::Io(io::Error::other(NameNotResolved {
            host: "nowhere.example".into(),
            cause: io::Error::other("failed to lookup address information"),
        }));
        assert_eq!(TransportKind::of(&marked), TransportKind::Dns);
        let plain = ureq::Error::Io(io::Error::other("failed to lookup address information"));
        assert_eq!(TransportKind::of(&plain), TransportKind::Reset);
        assert_eq!(
            TransportKind::of(&ureq::Error::HostNotFound),
            TransportKind::Dns
        );
        assert!(!TransportKind::Dns.is_retryable());
        assert!(!TransportKind::Refused.is_retryable());
        assert!(TransportKind::Connect.is_retryable());
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn retry_after_reads_seconds_and_the_three_date_forms() {
        // 1994-11-06T08:49:37Z
        let date = at(784_111_777);
        let now = date - Duration::from_secs(90);
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(text), Some(date), "{text}");
            assert_eq!(
                retry_after(text, now),
                Some(Duration::from_secs(90)),
                "{text}"
            );
        }
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        // A date in the past asks for no wait.
        assert_eq!(
            retry_after(
                "Sun, 06 Nov 1994 08:49:37 GMT",
                date + Duration::from_secs(5)
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_http_date("Fri, 31 Dec 1999 23:59:59 GMT"),
            Some(at(946_684_799))
        );
        assert_eq!(
            parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
    }

    #[test]
    fn absurd_retry_after_values_saturate_or_are_ignored() {
        let now = at(1_800_000_000);
        assert_eq!(
            retry_after("18446744073709551616", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            retry_after(&"9".repeat(400), now),
            Some(Duration::from_secs(u64::MAX))
        );
        let far = retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).unwrap();
        assert!(far > Duration::from_secs(250_000_000_000), "{far:?}");
        assert_eq!(
            retry_after("Mon, 01 Jan 0001 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 19945 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
        ] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
    }
}
