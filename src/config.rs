//! [`ClientConfig`]: a client from a config file or the environment.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::client::ClientBuilder;
#[cfg(feature = "retry")]
use crate::retry::RetryPolicy;

/// What a deployment usually configures, deserialisable (from TOML, YAML,
/// JSON, …) or read from the environment with [`ClientConfig::from_env`].
/// Durations are written `"500ms"`, `"30s"`, `"2m"` or as seconds.
///
/// ```
/// let config: girder::ClientConfig = serde_json::from_str(
///     r#"{"base_url": "https://api.example.com/v1", "timeout": "20s", "max_retries": 4}"#,
/// ).unwrap();
/// let client = config.builder().unwrap().build().unwrap();
/// # let _ = client;
/// ```
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The base URL.
    pub base_url: Option<String>,
    /// An API key, sent as `Authorization: Bearer <key>` or in
    /// `api_key_header`. Redacted in `Debug`.
    pub api_key: Option<ApiKey>,
    /// The header the API key goes in, when it is not a bearer token
    /// (for example `X-API-Key`).
    pub api_key_header: Option<String>,
    /// The total time of a call.
    #[serde(deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    /// The timeout of each attempt.
    #[serde(deserialize_with = "duration")]
    pub attempt_timeout: Option<Duration>,
    /// The connect timeout.
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Option<Duration>,
    /// Retries after the first attempt (0: none).
    pub max_retries: Option<u32>,
    /// The `User-Agent`.
    pub user_agent: Option<String>,
    /// The origins credentials may be sent to
    /// ([`ClientBuilder::credential_origins`]); default: the base URL's.
    pub credential_origins: Option<Vec<String>>,
    /// The Redis that the client's rate limit, cache and circuit breaker
    /// share with the rest of the fleet
    /// (`redis://[[user]:password@]host[:port][/db]`), for
    /// `ClientBuilder::redis_url`; needs the `redis` feature and
    /// `redis_fleet_size`. The password is redacted in `Debug`.
    ///
    /// Default: none; each process keeps its own state.
    pub redis_url: Option<RedisUrl>,
    /// How many processes share the Redis: while it is away each keeps
    /// `1/n` of every quota.
    ///
    /// Default: none; required with `redis_url`.
    pub redis_fleet_size: Option<u32>,
    /// A PEM file of root certificates (an internal CA) trusted beside the
    /// built-in roots; read by [`builder`](ClientConfig::builder), which
    /// fails naming `ca_file` if it cannot be read or holds no
    /// certificate. Needs a rustls feature (`rustls-ring`, default, or
    /// `rustls-aws-lc`).
    ///
    /// Default: none.
    pub ca_file: Option<PathBuf>,
}

/// A Redis URL from configuration: `Debug` shows it with its password
/// replaced by `redacted`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for RedisUrl {
    fn from(url: String) -> Self {
        RedisUrl(url)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.parse::<http::Uri>() {
            // The userinfo, which may hold a password, masked.
            Ok(uri) if uri.scheme().is_some() && uri.authority().is_some() => {
                let shown = match uri
                    .authority()
                    .map(|a| a.as_str())
                    .and_then(|a| a.rsplit_once('@'))
                {
                    // The user stays; a password becomes `redacted`.
                    Some((userinfo, _)) => match userinfo.split_once(':') {
                        Some((user, _)) => {
                            self.0.replacen(userinfo, &format!("{user}:redacted"), 1)
                        }
                        None => self.0.clone(),
                    },
                    None => self.0.clone(),
                };
                write!(f, "{shown:?}")
            }
            _ => f.write_str("[not a URL, not shown]"),
        }
    }
}

/// An API key from configuration; `Debug` and `Display` never show it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        ApiKey(key)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("api_key_header", &self.api_key_header)
            .field("timeout", &self.timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("user_agent", &self.user_agent)
            .field("credential_origins", &self.credential_origins)
            .field("redis_url", &self.redis_url)
            .field("redis_fleet_size", &self.redis_fleet_size)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// A configuration value that makes no sense. It names the setting and
/// says why, and never repeats a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    setting: String,
    reason: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            setting: setting.into(),
            reason: reason.into(),
        }
    }

    /// The setting (or environment variable) at fault.
    pub fn setting(&self) -> &str {
        &self.setting
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Parses `"250ms"`, `"30s"`, `"2m"`, `"1h"` or a number of seconds
/// (`"1.5"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (like 500ms, 30s, 2m)"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 86_400.0 * 365.0 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(f64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Secs(s)) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(Raw::Secs(s)) => Err(serde::de::Error::custom(format!("{s} is not a duration"))),
        Some(Raw::Text(t)) => parse_duration(&t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

impl ClientConfig {
    /// Reads `{PREFIX}_BASE_URL`, `{PREFIX}_KEY`, `{PREFIX}_KEY_HEADER`,
    /// `{PREFIX}_TIMEOUT`, `{PREFIX}_ATTEMPT_TIMEOUT`,
    /// `{PREFIX}_CONNECT_TIMEOUT`, `{PREFIX}_MAX_RETRIES`,
    /// `{PREFIX}_USER_AGENT`, `{PREFIX}_CREDENTIAL_ORIGINS` (comma
    /// separated), `{PREFIX}_REDIS_URL`, `{PREFIX}_REDIS_FLEET_SIZE` and
    /// `{PREFIX}_CA_FILE`
    /// (`from_env("API")` reads `API_BASE_URL`,
    /// `API_KEY`, …). Unset variables keep the defaults; malformed ones are
    /// an error naming the variable.
    pub fn from_env(prefix: &str) -> Result<ClientConfig, ConfigError> {
        ClientConfig::from_lookup(prefix, |name| std::env::var(name).ok())
    }

    /// [`from_env`](ClientConfig::from_env) over any lookup (a map in tests,
    /// a secrets manager).
    pub fn from_lookup(
        prefix: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ClientConfig, ConfigError> {
        let var = |suffix: &str| format!("{prefix}_{suffix}");
        let get = |suffix: &str| lookup(&var(suffix)).filter(|v| !v.trim().is_empty());
        let time = |suffix: &str| -> Result<Option<Duration>, ConfigError> {
            get(suffix)
                .map(|v| parse_duration(&v).map_err(|why| ConfigError::new(var(suffix), why)))
                .transpose()
        };
        let max_retries = get("MAX_RETRIES")
            .map(|v| {
                v.trim().parse::<u32>().map_err(|_| {
                    ConfigError::new(var("MAX_RETRIES"), format!("{v:?} is not a whole number"))
                })
            })
            .transpose()?;
        let redis_fleet_size = get("REDIS_FLEET_SIZE")
            .map(|v| {
                v.trim().parse::<u32>().map_err(|_| {
                    ConfigError::new(
                        var("REDIS_FLEET_SIZE"),
                        format!("{v:?} is not a whole number"),
                    )
                })
            })
            .transpose()?;
        let config = ClientConfig {
            base_url: get("BASE_URL"),
            api_key: get("KEY").map(ApiKey),
            api_key_header: get("KEY_HEADER"),
            timeout: time("TIMEOUT")?,
            attempt_timeout: time("ATTEMPT_TIMEOUT")?,
            connect_timeout: time("CONNECT_TIMEOUT")?,
            max_retries,
            user_agent: get("USER_AGENT"),
            credential_origins: get("CREDENTIAL_ORIGINS").map(|list| {
                list.split(',')
                    .map(|origin| origin.trim().to_owned())
                    .filter(|origin| !origin.is_empty())
                    .collect()
            }),
            redis_url: get("REDIS_URL").map(RedisUrl),
            redis_fleet_size,
            ca_file: get("CA_FILE").map(PathBuf::from),
        };
        config.check(&|field| match field {
            "base_url" => var("BASE_URL"),
            "max_retries" => var("MAX_RETRIES"),
            "api_key_header" => var("KEY_HEADER"),
            "credential_origins" => var("CREDENTIAL_ORIGINS"),
            "redis_url" => var("REDIS_URL"),
            "redis_fleet_size" => var("REDIS_FLEET_SIZE"),
            other => other.to_owned(),
        })?;
        Ok(config)
    }

    fn check(&self, name: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        if let Some(url) = &self.base_url {
            crate::url::BaseUrl::parse(url)
                .map_err(|why| ConfigError::new(name("base_url"), why))?;
        }
        if let Some(retries) = self.max_retries
            && retries > 99
        {
            return Err(ConfigError::new(
                name("max_retries"),
                format!("{retries} is more than 99"),
            ));
        }
        if let Some(header) = &self.api_key_header {
            http::HeaderName::try_from(header.as_str()).map_err(|_| {
                ConfigError::new(
                    name("api_key_header"),
                    format!("{header:?} is not a header name"),
                )
            })?;
        }
        for origin in self.credential_origins.iter().flatten() {
            girder_core::origin::Origin::parse(origin)
                .map_err(|why| ConfigError::new(name("credential_origins"), why.to_string()))?;
            // As for the base URL: userinfo would be kept (and shown by
            // `Debug`) though an origin ignores it.
            if origin
                .parse::<http::Uri>()
                .ok()
                .and_then(|u| u.authority().cloned())
                .is_some_and(|a| a.as_str().contains('@'))
            {
                return Err(ConfigError::new(
                    name("credential_origins"),
                    "an origin must not carry credentials",
                ));
            }
        }
        self.check_redis(name)?;
        if let Some(key) = &self.api_key
            && http::HeaderValue::try_from(key.0.as_str()).is_err()
        {
            return Err(ConfigError::new(
                name("api_key"),
                "the key is not a valid header value",
            ));
        }
        Ok(())
    }

    /// The Redis settings make a config (never quoting the URL).
    #[cfg(feature = "redis")]
    fn check_redis(&self, name: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        self.redis_config(name).map(|_| ())
    }

    #[cfg(feature = "redis")]
    fn redis_config(
        &self,
        name: &dyn Fn(&str) -> String,
    ) -> Result<Option<girder_redis::RedisConfig>, ConfigError> {
        let Some(url) = &self.redis_url else {
            return match self.redis_fleet_size {
                Some(_) => Err(ConfigError::new(
                    name("redis_fleet_size"),
                    "is set without redis_url",
                )),
                None => Ok(None),
            };
        };
        let Some(size) = self.redis_fleet_size else {
            return Err(ConfigError::new(
                name("redis_fleet_size"),
                "is required with redis_url: how many processes share the quota \
                 (while Redis is away each keeps 1/n of it)",
            ));
        };
        girder_redis::RedisConfig::builder(url.expose())
            .fleet_size(size)
            .build()
            .map(Some)
            .map_err(|e| {
                let setting = if e.option() == "url" {
                    "redis_url"
                } else {
                    "redis_fleet_size"
                };
                // InvalidRedisConfig names the option, never the value.
                ConfigError::new(name(setting), e.to_string())
            })
    }

    #[cfg(not(feature = "redis"))]
    fn check_redis(&self, name: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        match (&self.redis_url, self.redis_fleet_size) {
            (None, None) => Ok(()),
            (Some(_), _) => Err(ConfigError::new(
                name("redis_url"),
                "needs girder's `redis` feature",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                name("redis_fleet_size"),
                "needs girder's `redis` feature",
            )),
        }
    }

    /// A [`ClientBuilder`] with this configuration (other settings at
    /// their defaults).
    pub fn builder(&self) -> Result<ClientBuilder, ConfigError> {
        self.check(&|field| field.to_owned())?;
        let mut builder = ClientBuilder::default();
        if let Some(url) = &self.base_url {
            builder = builder.base_url(url);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.total_timeout(timeout);
        }
        if let Some(timeout) = self.attempt_timeout {
            builder = builder.attempt_timeout(timeout);
        }
        if let Some(timeout) = self.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        #[cfg(not(feature = "retry"))]
        if self.max_retries.is_some_and(|retries| retries > 0) {
            return Err(ConfigError::new(
                "max_retries",
                "retries need girder's `retry` feature, which this build leaves out",
            ));
        }
        #[cfg(feature = "retry")]
        if let Some(retries) = self.max_retries {
            builder = if retries == 0 {
                builder.retry(None)
            } else {
                let policy = RetryPolicy::builder()
                    .max_attempts(retries + 1)
                    .build()
                    .map_err(|e| ConfigError::new("max_retries", e.to_string()))?;
                builder.retry(policy)
            };
        }
        if let Some(agent) = &self.user_agent {
            builder = builder.user_agent(agent);
        }
        if let Some(origins) = &self.credential_origins {
            builder = builder.credential_origins(origins);
        }
        if let Some(path) = &self.ca_file {
            builder = ca_file(builder, path)?;
        }
        #[cfg(feature = "redis")]
        if let Some(config) = self.redis_config(&|field| field.to_owned())? {
            builder = builder.redis(config);
        }
        #[cfg(not(feature = "auth"))]
        if self.api_key.is_some() {
            return Err(ConfigError::new(
                "api_key",
                "an API key needs girder's `auth` feature, which this build leaves out",
            ));
        }
        #[cfg(feature = "auth")]
        if let Some(key) = &self.api_key {
            let secret = crate::auth::SecretString::from(key.expose().to_owned());
            let config = match &self.api_key_header {
                Some(header) => {
                    crate::auth::ApiKey::header(header, secret).map(crate::auth::AuthConfig::new)
                }
                None => crate::auth::BearerToken::new(secret).map(crate::auth::AuthConfig::new),
            }
            .map_err(|e| ConfigError::new("api_key", e.to_string()))?;
            builder = builder.auth(config);
        }
        Ok(builder)
    }
}

/// Trusts the roots of the PEM file at `path`.
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
fn ca_file(builder: ClientBuilder, path: &std::path::Path) -> Result<ClientBuilder, ConfigError> {
    let pem = std::fs::read(path).map_err(|e| {
        ConfigError::new("ca_file", format!("{} cannot be read: {e}", path.display()))
    })?;
    let roots = crate::tls::Certificate::from_pem_bundle(&pem)
        .map_err(|e| ConfigError::new("ca_file", format!("{}: {e}", path.display())))?;
    Ok(roots
        .into_iter()
        .fold(builder, |builder, root| builder.add_root_certificate(root)))
}

#[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
fn ca_file(_: ClientBuilder, _: &std::path::Path) -> Result<ClientBuilder, ConfigError> {
    Err(ConfigError::new(
        "ca_file",
        "root certificates need girder's `rustls-ring` or `rustls-aws-lc` feature",
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// The same settings in every build: honoured when the feature is on,
    /// refused by name (and without the key's value) when it is off.
    #[test]
    fn settings_a_build_cannot_honour_are_refused_by_name() {
        let keyed = ClientConfig::from_lookup(
            "API",
            env(&[
                ("API_BASE_URL", "https://api.test"),
                ("API_KEY", "sk-live-123"),
            ]),
        )
        .unwrap();
        let result = keyed.builder();
        #[cfg(feature = "auth")]
        assert!(result.is_ok());
        #[cfg(not(feature = "auth"))]
        {
            let err = result.err().expect("an API key without `auth` is refused");
            assert_eq!(err.setting(), "api_key");
            assert!(err.to_string().contains("`auth` feature"), "{err}");
            assert!(!err.to_string().contains("sk-live-123"), "{err}");
        }

        let retrying = ClientConfig::from_lookup(
            "API",
            env(&[
                ("API_BASE_URL", "https://api.test"),
                ("API_MAX_RETRIES", "3"),
            ]),
        )
        .unwrap();
        let result = retrying.builder();
        #[cfg(feature = "retry")]
        assert!(result.is_ok());
        #[cfg(not(feature = "retry"))]
        {
            let err = result.err().expect("retries without `retry` are refused");
            assert_eq!(err.setting(), "max_retries");
            assert!(err.to_string().contains("`retry` feature"), "{err}");
        }
        // No retries asks for nothing a lean build lacks.
        let once = ClientConfig::from_lookup("API", env(&[("API_MAX_RETRIES", "0")])).unwrap();
        assert!(once.builder().is_ok());
    }

    #[test]
    fn reads_the_environment() {
        let config = ClientConfig::from_lookup(
            "API",
            env(&[
                ("API_BASE_URL", "https://api.test/v2"),
                ("API_KEY", "sk-live-123"),
                ("API_TIMEOUT", "45s"),
                ("API_ATTEMPT_TIMEOUT", "1500ms"),
                ("API_MAX_RETRIES", "5"),
                (
                    "API_CREDENTIAL_ORIGINS",
                    "https://api.test, https://uploads.api.test:8443",
                ),
                ("OTHER_TIMEOUT", "nonsense"),
            ]),
        )
        .unwrap();
        assert_eq!(config.base_url.as_deref(), Some("https://api.test/v2"));
        assert_eq!(config.timeout, Some(Duration::from_secs(45)));
        assert_eq!(config.attempt_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(config.max_retries, Some(5));
        assert_eq!(config.connect_timeout, None);
        assert_eq!(
            config.credential_origins,
            Some(vec![
                "https://api.test".to_owned(),
                "https://uploads.api.test:8443".to_owned()
            ])
        );
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("sk-live") && debug.contains("[redacted]"),
            "{debug}"
        );
        // A lean build refuses the key and the retries instead (see
        // `settings_a_build_cannot_honour_are_refused_by_name`).
        #[cfg(all(feature = "auth", feature = "retry"))]
        assert!(config.builder().unwrap().build().is_ok());
        // Nothing set: the defaults.
        let empty = ClientConfig::from_lookup("API", env(&[])).unwrap();
        assert!(empty.base_url.is_none() && empty.timeout.is_none());
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (var, value, why) in [
            ("API_TIMEOUT", "soon", "not a duration"),
            ("API_TIMEOUT", "5 days", "unknown unit"),
            ("API_MAX_RETRIES", "-1", "whole number"),
            ("API_MAX_RETRIES", "1000", "more than 99"),
            ("API_BASE_URL", "api.test", "needs a scheme"),
            ("API_KEY_HEADER", "bad header", "not a header name"),
            (
                "API_CREDENTIAL_ORIGINS",
                "https://a.test,b.test",
                "invalid origin",
            ),
        ] {
            let err = ClientConfig::from_lookup("API", env(&[(var, value)])).unwrap_err();
            assert_eq!(err.setting(), var, "{err}");
            assert!(err.to_string().contains(why), "{var}={value}: {err}");
        }
        let err = ClientConfig::from_lookup("API", env(&[("API_KEY", "line\nbreak-secret")]))
            .unwrap_err();
        assert!(!err.to_string().contains("break-secret"), "{err}");
    }

    /// `{PREFIX}_REDIS_URL` and `{PREFIX}_REDIS_FLEET_SIZE` are read, the
    /// password never shows in `Debug` or in an error, and a bad value
    /// names its variable (pins: the Redis URL from the environment, issue 19).
    #[test]
    fn reads_the_redis_settings_and_hides_the_password() {
        let config = ClientConfig::from_lookup(
            "API",
            env(&[
                ("API_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0"),
                ("API_REDIS_FLEET_SIZE", "4"),
            ]),
        );
        #[cfg(feature = "redis")]
        {
            let config = config.unwrap();
            assert_eq!(config.redis_fleet_size, Some(4));
            let debug = format!("{config:?}");
            assert!(
                !debug.contains("hunter2") && debug.contains(":redacted@"),
                "{debug}"
            );
            assert!(config.builder().unwrap().build().is_ok());
            for (pairs, var) in [
                (
                    &[
                        ("API_REDIS_URL", "redis//:hunter2@127.0.0.1:6379/0"),
                        ("API_REDIS_FLEET_SIZE", "2"),
                    ][..],
                    "API_REDIS_URL",
                ),
                (
                    &[("API_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0")][..],
                    "API_REDIS_FLEET_SIZE",
                ),
                (
                    &[
                        ("API_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0"),
                        ("API_REDIS_FLEET_SIZE", "0"),
                    ][..],
                    "API_REDIS_FLEET_SIZE",
                ),
                (
                    &[("API_REDIS_FLEET_SIZE", "two")][..],
                    "API_REDIS_FLEET_SIZE",
                ),
            ] {
                let err = ClientConfig::from_lookup("API", env(pairs)).unwrap_err();
                assert_eq!(err.setting(), var, "{err}");
                assert!(!err.to_string().contains("hunter2"), "{err}");
            }
        }
        #[cfg(not(feature = "redis"))]
        {
            let err = config.unwrap_err();
            assert_eq!(err.setting(), "API_REDIS_URL");
            assert!(err.to_string().contains("`redis` feature"), "{err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        let url = RedisUrl::from("redis://user:hunter2@cache.internal:6379/1".to_owned());
        let debug = format!("{url:?}");
        assert!(
            !debug.contains("hunter2") && debug.contains("cache.internal"),
            "{debug}"
        );
        let garbage = RedisUrl::from("hunter2 is no url".to_owned());
        assert!(!format!("{garbage:?}").contains("hunter2"));
    }

    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    #[test]
    fn a_ca_file_is_read_by_the_builder_and_its_faults_name_it() {
        let dir = std::env::temp_dir();
        let file = |name: &str, text: &str| {
            let path = dir.join(format!("girder-config-{}-{name}.pem", std::process::id()));
            std::fs::write(&path, text).unwrap();
            path
        };
        let ca = girder_test::tls::TestCa::new();
        let good = file("good", ca.cert_pem());
        let garbage = file("garbage", "not a certificate");
        let config =
            ClientConfig::from_lookup("API", env(&[("API_CA_FILE", good.to_str().unwrap())]))
                .unwrap();
        assert_eq!(config.ca_file.as_deref(), Some(good.as_path()));
        assert!(config.builder().unwrap().build().is_ok());
        for (path, why) in [
            (garbage.clone(), "no CERTIFICATE section"),
            (dir.join("girder-config-absent.pem"), "cannot be read"),
        ] {
            let config = ClientConfig {
                ca_file: Some(path),
                ..ClientConfig::default()
            };
            let err = config.builder().unwrap_err();
            assert_eq!(err.setting(), "ca_file");
            assert!(err.to_string().contains(why), "{err}");
        }
        std::fs::remove_file(good).unwrap();
        std::fs::remove_file(garbage).unwrap();
    }

    #[test]
    fn deserialises_with_durations_as_text_or_seconds() {
        let config: ClientConfig =
            serde_json::from_str(r#"{"timeout": 2.5, "connect_timeout": "250ms", "api_key": "k"}"#)
                .unwrap();
        assert_eq!(config.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(config.connect_timeout, Some(Duration::from_millis(250)));
        assert!(serde_json::from_str::<ClientConfig>(r#"{"timeout": "never"}"#).is_err());
        assert!(serde_json::from_str::<ClientConfig>(r#"{"tiemout": "1s"}"#).is_err());
    }
}
