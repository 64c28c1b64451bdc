//! Credentials: a permanent or temporary AK/SK pair, or an IAM token.

use std::fmt;

use crate::error::Error;

/// Environment variable holding the access key, as the official SDKs read it.
pub const ENV_AK: &str = "HUAWEICLOUD_SDK_AK";
/// Environment variable holding the secret key.
pub const ENV_SK: &str = "HUAWEICLOUD_SDK_SK";
/// Environment variable holding the security token of temporary credentials.
pub const ENV_SECURITY_TOKEN: &str = "HUAWEICLOUD_SDK_SECURITY_TOKEN";
/// Environment variable holding the project ID.
pub const ENV_PROJECT_ID: &str = "HUAWEICLOUD_SDK_PROJECT_ID";
/// Environment variable holding the region (read by the CLI).
pub const ENV_REGION: &str = "HUAWEICLOUD_SDK_REGION";

/// A secret string: an SK, a security token or an IAM token.
///
/// `Debug` and `Display` print `** redacted **`; only [`expose`](Secret::expose) reveals it,
/// and only the signer and the request headers call that.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

/// An access key pair, with the security token when it is temporary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// The access key ID (AK). Not secret: it is sent in every `Authorization` header.
    pub access_key: String,
    /// The secret key (SK).
    pub secret_key: Secret,
    /// The security token of temporary credentials, sent as `X-Security-Token`.
    pub security_token: Option<Secret>,
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// Sign each request with SDK-HMAC-SHA256.
    AccessKey(AccessKey),
    /// Send an IAM token as `X-Auth-Token`.
    Token(Secret),
}

impl Credentials {
    /// A permanent AK/SK pair.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when either is empty.
    pub fn access_key(ak: impl Into<String>, sk: impl Into<String>) -> Result<Self, Error> {
        Self::build_access_key(ak.into(), sk.into(), None)
    }

    /// A temporary AK/SK pair with its security token.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when any part is empty.
    pub fn temporary(
        ak: impl Into<String>,
        sk: impl Into<String>,
        security_token: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::build_access_key(ak.into(), sk.into(), Some(security_token.into()))
    }

    /// An IAM token.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when it is empty.
    pub fn token(token: impl Into<String>) -> Result<Self, Error> {
        let token = token.into();
        check_header_secret("token", token.trim())?;
        Ok(Self::Token(Secret(token.trim().to_owned())))
    }

    /// Reads `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK` and, when set,
    /// `HUAWEICLOUD_SDK_SECURITY_TOKEN`, as the official SDKs do.
    ///
    /// # Errors
    ///
    /// [`Error::MissingEnv`] naming the first variable that is unset or empty.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (for tests and
    /// for tools with their own configuration source).
    ///
    /// # Errors
    ///
    /// [`Error::MissingEnv`] naming the first variable that is unset or empty.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let ak = required(ENV_AK, get(ENV_AK))?;
        let sk = required(ENV_SK, get(ENV_SK))?;
        Self::build_access_key(ak, sk, get(ENV_SECURITY_TOKEN))
    }

    fn build_access_key(ak: String, sk: String, token: Option<String>) -> Result<Self, Error> {
        let ak = ak.trim().to_owned();
        if ak.is_empty() {
            return Err(Error::invalid("access_key", "", "must not be empty"));
        }
        if ak.bytes().any(|b| !b.is_ascii_graphic() || b == b',') {
            return Err(Error::invalid(
                "access_key",
                &ak,
                "may hold only printable ASCII without spaces or commas",
            ));
        }
        if sk.trim().is_empty() {
            return Err(Error::invalid_secret("secret_key", "must not be empty"));
        }
        if let Some(token) = &token {
            check_header_secret("security_token", token.trim())?;
        }
        Ok(Self::AccessKey(AccessKey {
            access_key: ak,
            secret_key: Secret(sk.trim().to_owned()),
            security_token: token.map(|t| Secret(t.trim().to_owned())),
        }))
    }
}

/// The value of environment variable `name`, unless unset or blank.
///
/// # Errors
///
/// [`Error::MissingEnv`] naming the variable.
pub(crate) fn required_env(name: &'static str) -> Result<String, Error> {
    let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    required(name, value)
}

fn required(variable: &'static str, value: Option<String>) -> Result<String, Error> {
    value.ok_or(Error::MissingEnv { variable })
}

/// A token travels in a header: it must be non-empty visible ASCII, or the request could not
/// be sent (and a line break could inject a header). The value is never repeated.
fn check_header_secret(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid_secret(field, "must not be empty"));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid_secret(
            field,
            "must be visible ASCII, without spaces or control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_every_secret() {
        let temporary =
            Credentials::temporary("AK123", "sk-very-secret", "token-very-secret").unwrap();
        let token = Credentials::token("iam-very-secret").unwrap();
        for text in [
            format!("{temporary:?}"),
            format!("{token:?}"),
            format!("{temporary:#?}"),
        ] {
            assert!(!text.contains("very-secret"), "{text}");
            assert!(text.contains("** redacted **"), "{text}");
        }
        assert!(format!("{temporary:?}").contains("AK123"));
    }

    #[test]
    fn env_names_the_missing_variable() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let err = Credentials::from_lookup(env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable HUAWEICLOUD_SDK_AK is not set"
        );
        let err = Credentials::from_lookup(env(&[(ENV_AK, "AK"), (ENV_SK, " ")])).unwrap_err();
        assert!(err.to_string().contains("HUAWEICLOUD_SDK_SK"));
        let permanent = Credentials::from_lookup(env(&[(ENV_AK, "AK"), (ENV_SK, "SK")])).unwrap();
        assert_eq!(permanent, Credentials::access_key("AK", "SK").unwrap());
        let temporary = Credentials::from_lookup(env(&[
            (ENV_AK, "AK"),
            (ENV_SK, "SK"),
            (ENV_SECURITY_TOKEN, "TOK"),
        ]))
        .unwrap();
        assert_eq!(
            temporary,
            Credentials::temporary("AK", "SK", "TOK").unwrap()
        );
    }

    #[test]
    fn empty_parts_are_refused_without_echoing_secrets() {
        assert!(Credentials::access_key("", "SK").is_err());
        let err = Credentials::access_key("A K", "SK")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`A K`"), "{err}");
        let err = Credentials::access_key("AK", "").unwrap_err().to_string();
        assert!(err.contains("secret_key"), "{err}");
        assert!(Credentials::token(" ").is_err());
        assert!(Credentials::temporary("AK", "SK", "").is_err());
    }
}
