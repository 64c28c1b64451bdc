//! SDK-HMAC-SHA256, the AK/SK request signature of Huawei Cloud, byte-identical to the
//! official SDKs.
//!
//! Everything here is a pure function of its arguments: no clock, no I/O. The client passes
//! the time; the simulator uses the same functions to verify.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub use crate::credentials::{AccessKey, Secret};
use std::fmt::Write as _;

/// The algorithm name that opens the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// Hex SHA-256 of an empty body.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The parts of a request that the signature covers.
///
/// `Debug` prints header names only: a security token is among the values.
#[derive(Clone, Copy)]
pub struct SignableRequest<'a> {
    /// HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// The path as sent on the request line, e.g. `/v2/p/workspace-sub-jobs`.
    pub path: &'a str,
    /// The raw query string as sent, without `?` (may be empty).
    pub query: &'a str,
    /// The headers to sign (name, value). Names are matched case-insensitively; names
    /// holding `_` are skipped, as the official signers skip them. `X-Sdk-Date` is added by
    /// [`sign`] and must not be listed.
    pub headers: &'a [(&'a str, &'a str)],
    /// The request body.
    pub body: &'a [u8],
}

impl fmt::Debug for SignableRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| *name).collect();
        f.debug_struct("SignableRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The result of signing: the headers to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Value of `X-Sdk-Date`.
    pub sdk_date: String,
    /// Value of `Authorization`.
    pub authorization: String,
    /// The hex signature alone.
    pub signature: String,
}

/// Signs `request` with `key` at `time`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use wks_waiter::{Credentials, signing::{sign, SignableRequest}};
///
/// let Credentials::AccessKey(key) = Credentials::access_key("AccessKey", "SecretKey")? else {
///     unreachable!()
/// };
/// let request = SignableRequest {
///     method: "GET",
///     path: "/path",
///     query: "limit=1",
///     headers: &[],
///     body: b"",
/// };
/// // 2006-01-02T15:04:05Z
/// let signed = sign(&request, &key, UNIX_EPOCH + Duration::from_secs(1_136_214_245));
/// assert_eq!(signed.sdk_date, "20060102T150405Z");
/// assert_eq!(
///     signed.signature,
///     "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
/// );
/// # Ok::<(), wks_waiter::Error>(())
/// ```
pub fn sign(request: &SignableRequest<'_>, key: &AccessKey, time: SystemTime) -> Signature {
    sign_query(request, Query::Raw, key, time)
}

/// Signs `request` whose `query` is already in canonical form, as
/// [`SubtaskQuery::canonical_string`](crate::SubtaskQuery::canonical_string) writes it and
/// as the client sends it: the query is signed as it stands, not parsed and encoded again.
pub(crate) fn sign_canonical(
    request: &SignableRequest<'_>,
    key: &AccessKey,
    time: SystemTime,
) -> Signature {
    sign_query(request, Query::Canonical, key, time)
}

/// What form a [`SignableRequest::query`] is in.
#[derive(Clone, Copy)]
enum Query {
    /// As received or written by a caller: parsed and canonicalized before signing.
    Raw,
    /// Already canonical: signed as it stands.
    Canonical,
}

fn sign_query(
    request: &SignableRequest<'_>,
    query: Query,
    key: &AccessKey,
    time: SystemTime,
) -> Signature {
    let sdk_date = format_sdk_date(time);
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(name, _)| !name.contains('_') && !name.eq_ignore_ascii_case("x-sdk-date"))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    headers.push(("x-sdk-date".to_owned(), sdk_date.clone()));
    headers.sort();
    let signed_names = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let to_sign = string_to_sign(request, query, &headers, &signed_names, &sdk_date);
    let signature = hmac_hex(key.secret_key.expose().as_bytes(), to_sign.as_bytes());
    let authorization = format!(
        "{ALGORITHM} Access={}, SignedHeaders={signed_names}, Signature={signature}",
        key.access_key
    );
    Signature {
        sdk_date,
        authorization,
        signature,
    }
}

/// The canonical request of the algorithm. `headers` are lowercase names with trimmed
/// values, sorted by name; `signed_names` is those names joined with `;`.
pub fn canonical_request(
    request: &SignableRequest<'_>,
    headers: &[(String, String)],
    signed_names: &str,
) -> String {
    canonical_request_of(request, Query::Raw, headers, signed_names)
}

fn canonical_request_of(
    request: &SignableRequest<'_>,
    query: Query,
    headers: &[(String, String)],
    signed_names: &str,
) -> String {
    let canonical_query = match query {
        Query::Canonical => Cow::Borrowed(request.query),
        Query::Raw => {
            let pairs = parse_query(request.query);
            Cow::Owned(canonical_query(
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            ))
        }
    };
    let mut out = String::with_capacity(256);
    out.push_str(request.method);
    out.push('\n');
    out.push_str(&canonical_uri(request.path));
    out.push('\n');
    out.push_str(&canonical_query);
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_names);
    out.push('\n');
    out.push_str(&sha256_hex(request.body));
    out
}

fn string_to_sign(
    request: &SignableRequest<'_>,
    query: Query,
    headers: &[(String, String)],
    signed_names: &str,
    sdk_date: &str,
) -> String {
    let canonical = canonical_request_of(request, query, headers, signed_names);
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        sha256_hex(canonical.as_bytes())
    )
}

/// The canonical URI: the path percent-decoded as a whole, split on `/`, each segment
/// percent-encoded, and a trailing `/` added when missing.
///
/// This follows the Python SDK's signer (`huaweicloudsdkcore/signer/signer.py`,
/// `_process_canonical_uri`: `unquote(path).split('/')`, then `quote` each segment), which
/// is also what the API Gateway's signing-guide signers do (Python: `unquote` the path; Go:
/// split `url.URL.Path`, which is decoded). The Go SDK's core signer splits the path without
/// decoding it, but it only ever signs paths it built itself from unencoded parts; given a
/// path that is already encoded (as an endpoint prefix with `%2F` is) it would encode the
/// `%` again, which the gateway does not verify. Decoding first means an encoded `/`
/// (`%2F`) signs as a separator, exactly as the Python SDK and the gateway see it.
fn canonical_uri(path: &str) -> String {
    let decoded = percent_decode_path(path);
    let mut out: String = decoded
        .split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Why a signed request was rejected by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// No `Authorization` header, or not of this algorithm.
    MissingAuthorization,
    /// The `Authorization` header is not `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.
    MalformedAuthorization,
    /// `X-Sdk-Date` is missing, malformed or not signed.
    BadDate,
    /// `X-Sdk-Date` is further from the verifier's time than allowed.
    Expired,
    /// A header listed in `SignedHeaders` is not in the request.
    MissingSignedHeader(String),
    /// Unknown access key.
    UnknownAccessKey,
    /// The signature does not match.
    Mismatch,
}

/// Verifies a request signed with [`sign`], as the API gateway does: recomputes the
/// signature over the headers named in `SignedHeaders` and checks `X-Sdk-Date` is within
/// `max_skew` of `now`. `request.headers` are every header received; `lookup_secret` maps an
/// access key to its key pair.
///
/// # Errors
///
/// A [`VerifyError`] saying what is wrong.
pub fn verify<'k>(
    request: &SignableRequest<'_>,
    lookup_secret: impl Fn(&str) -> Option<&'k AccessKey>,
    now: SystemTime,
    max_skew: Duration,
) -> Result<(), VerifyError> {
    let headers = request.headers;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let authorization = header("authorization").ok_or(VerifyError::MissingAuthorization)?;
    let rest = authorization
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(VerifyError::MissingAuthorization)?;
    let mut access = None;
    let mut signed_names = None;
    let mut signature = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Access", v)) => access = Some(v),
            Some(("SignedHeaders", v)) => signed_names = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(VerifyError::MalformedAuthorization),
        }
    }
    let (Some(access), Some(signed_names), Some(signature)) = (access, signed_names, signature)
    else {
        return Err(VerifyError::MalformedAuthorization);
    };
    let sdk_date = header("x-sdk-date").ok_or(VerifyError::BadDate)?;
    if !signed_names.split(';').any(|n| n == "x-sdk-date") {
        return Err(VerifyError::BadDate);
    }
    let signed_at = parse_sdk_date(sdk_date).ok_or(VerifyError::BadDate)?;
    let skew = now
        .duration_since(signed_at)
        .unwrap_or_else(|e| e.duration());
    if skew > max_skew {
        return Err(VerifyError::Expired);
    }
    let key = lookup_secret(access).ok_or(VerifyError::UnknownAccessKey)?;
    let mut canonical_headers = Vec::new();
    for name in signed_names.split(';') {
        let value =
            header(name).ok_or_else(|| VerifyError::MissingSignedHeader(name.to_owned()))?;
        canonical_headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let to_sign = string_to_sign(
        request,
        Query::Raw,
        &canonical_headers,
        signed_names,
        sdk_date,
    );
    let expected = hmac_hex(key.secret_key.expose().as_bytes(), to_sign.as_bytes());
    if expected == signature {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Formats `time` as `YYYYMMDDTHHMMSSZ` in UTC. Times before 1970 format as the epoch.
pub fn format_sdk_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_sdk_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
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
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
            {
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

fn hex_digit(digit: u8) -> Option<u8> {
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
    use crate::credentials::Credentials;

    fn key(ak: &str, sk: &str) -> AccessKey {
        match Credentials::access_key(ak, sk).unwrap() {
            Credentials::AccessKey(key) => key,
            Credentials::Token(_) => unreachable!(),
        }
    }

    fn at(sdk_date: &str) -> SystemTime {
        parse_sdk_date(sdk_date).unwrap()
    }

    #[test]
    fn published_vector_1_get_with_underscore_header() {
        let request = SignableRequest {
            method: "GET",
            path: "/path",
            query: "limit=1",
            headers: &[("TEST_UNDERSCORE", "TEST_VALUE")],
            body: b"",
        };
        let signed = sign(
            &request,
            &key("AccessKey", "SecretKey"),
            at("20060102T150405Z"),
        );
        assert_eq!(
            signed.authorization,
            "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=x-sdk-date, \
             Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"
        );
    }

    #[test]
    fn published_vector_2_post_with_body() {
        let request = SignableRequest {
            method: "POST",
            path: "/path",
            query: "key=value",
            headers: &[],
            body: b"{\"Name\":\"test\",\"Id\":1}\n",
        };
        let signed = sign(
            &request,
            &key("AccessKey", "SecretKey"),
            at("20060102T150405Z"),
        );
        assert_eq!(
            signed.signature,
            "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"
        );
    }

    #[test]
    fn published_vector_3_signing_guide() {
        let headers = [
            ("content-type", "application/json"),
            ("host", "service.region.example.com"),
        ];
        let request = SignableRequest {
            method: "GET",
            path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
            query: "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
            headers: &headers,
            body: b"",
        };
        let mut canonical_headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        canonical_headers.push(("x-sdk-date".into(), "20191115T033655Z".into()));
        let names = "content-type;host;x-sdk-date";
        let canonical = canonical_request(&request, &canonical_headers, names);
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        );
        let signed = sign(
            &request,
            &key(
                "QTWAOYTTINDUT2QVKYUC",
                "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
            ),
            at("20191115T033655Z"),
        );
        assert_eq!(
            signed.authorization,
            "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, \
             Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        );
    }

    #[test]
    fn canonical_uri_encodes_segments_and_appends_slash() {
        assert_eq!(
            canonical_uri("/v2/p/workspace-sub-jobs"),
            "/v2/p/workspace-sub-jobs/"
        );
        assert_eq!(canonical_uri(""), "/");
        // Decoded as a whole first: an encoded `/` is a separator, as the SDK signs it.
        assert_eq!(canonical_uri("/a b/c%2Fd/"), "/a%20b/c/d/");
        assert_eq!(canonical_uri("/p%2fq"), "/p/q/");
        // Everything else is encoded again; `~` and `+` stay literal in a path.
        assert_eq!(canonical_uri("/a%20b~c+d/x"), "/a%20b~c%2Bd/x/");
        assert_eq!(canonical_uri("/%E4%B8%80/%zz"), "/%E4%B8%80/%25zz/");
    }

    /// Vectors for endpoint path prefixes, computed with the official Python SDK's signer
    /// (`huaweicloudsdkcore` 3.1.219, `Signer.sign` on an `SdkRequest` with these
    /// headers at `X-Sdk-Date: 20060102T150405Z`).
    #[test]
    fn prefixed_paths_sign_as_the_python_sdk_signs_them() {
        let headers = [
            ("Content-Type", "application/json"),
            ("Host", "example.huaweicloud.com"),
            ("X-Project-Id", "p1"),
        ];
        for (path, query, signature) in [
            (
                "/prefix%2Fsub/v2/p1/workspace-sub-jobs",
                "job_id=job-1",
                "608a87d9d21b9c5de9cc39e7977658835db878fbd2c2dbcfc21225a5db52b337",
            ),
            (
                "/gw/a%20b~c/v2/p1/workspace-sub-jobs",
                "limit=1000&status=FAILED&status=RUNNING",
                "2bd7ace40f12664c5212b8f6f633175dcd21a2d90eebadc214347467e24126ea",
            ),
            (
                "/%E4%B8%80/v2/p1/workspace-jobs/job-1",
                "",
                "c8cc270ea6e2671e7499d3b1b1a93b64fc19b5277910b58a3d57c5a9022608a1",
            ),
        ] {
            let request = SignableRequest {
                method: "GET",
                path,
                query,
                headers: &headers,
                body: b"",
            };
            let key = key("AccessKey", "SecretKey");
            let time = at("20060102T150405Z");
            assert_eq!(sign(&request, &key, time).signature, signature, "{path}");
            // The client's path: the query is canonical already and signed as it stands.
            assert_eq!(
                sign_canonical(&request, &key, time).signature,
                signature,
                "{path}"
            );
        }
    }

    #[test]
    fn sdk_date_round_trips() {
        for (secs, text) in [
            (0, "19700101T000000Z"),
            (1_136_214_245, "20060102T150405Z"),
            (951_782_400, "20000229T000000Z"),
            (4_102_444_799, "20991231T235959Z"),
        ] {
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(format_sdk_date(time), text);
            assert_eq!(parse_sdk_date(text), Some(time));
        }
        for bad in [
            "",
            "20060102150405Z",
            "20061302T150405Z",
            "2006010xT150405Z",
            "20060102T150405",
        ] {
            assert_eq!(parse_sdk_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn verify_accepts_what_sign_produces_and_rejects_changes() {
        let key = key("AK", "SK");
        let now = at("20260101T000000Z");
        let signed_headers = [("host", "127.0.0.1:8080"), ("x-project-id", "p1")];
        let request = SignableRequest {
            method: "GET",
            path: "/v2/p1/workspace-sub-jobs",
            query: "job_id=j&status=RUNNING",
            headers: &signed_headers,
            body: b"",
        };
        let signed = sign(&request, &key, now);
        let headers = [
            ("Host", "127.0.0.1:8080"),
            ("X-Project-Id", "p1"),
            ("X-Sdk-Date", signed.sdk_date.as_str()),
            ("Authorization", signed.authorization.as_str()),
        ];
        let check = |query: &str, headers: &[(&str, &str)], now: SystemTime| {
            let received = SignableRequest {
                method: "GET",
                path: "/v2/p1/workspace-sub-jobs",
                query,
                headers,
                body: b"",
            };
            verify(
                &received,
                |ak| (ak == "AK").then_some(&key),
                now,
                Duration::from_secs(900),
            )
        };
        assert_eq!(check("job_id=j&status=RUNNING", &headers, now), Ok(()));
        // Order of parameters does not matter; their values do.
        assert_eq!(check("status=RUNNING&job_id=j", &headers, now), Ok(()));
        assert_eq!(
            check("job_id=k&status=RUNNING", &headers, now),
            Err(VerifyError::Mismatch)
        );
        let mut tampered = headers;
        tampered[1].1 = "p2";
        assert_eq!(
            check("job_id=j&status=RUNNING", &tampered, now),
            Err(VerifyError::Mismatch)
        );
        let late = now + Duration::from_secs(901);
        assert_eq!(
            check("job_id=j&status=RUNNING", &headers, late),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            check("job_id=j&status=RUNNING", &headers[..3], now),
            Err(VerifyError::MissingAuthorization)
        );
    }

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
}
