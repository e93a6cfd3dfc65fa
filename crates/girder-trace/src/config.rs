//! What the layer logs, at which levels, and what it hides.

use std::fmt;
use std::sync::Arc;

use girder_core::secrets::SecretValues;
use http::HeaderName;
use tracing::Level;

use crate::error::InvalidLoggingConfig;
use crate::hook::OnCallEnd;

/// The largest body excerpt a log line may carry.
const MAX_BODY_LIMIT: usize = 64 * 1024;

/// Header fields never printed, whatever the configuration.
pub(crate) const ALWAYS_REDACTED: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Parts of header names that mark a credential (`x-auth-token`,
/// `x-hub-signature-256`, `x-amz-security-token`, `x-session-id`, …).
const SENSITIVE_NAME_PARTS: [&str; 11] = [
    "auth",
    "token",
    "secret",
    "password",
    "passwd",
    "api-key",
    "apikey",
    "signature",
    "cookie",
    "session",
    "credential",
];

/// Query parameters redacted in `url.full` by default: OpenTelemetry's list
/// (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`) and the names
/// APIs put keys and tokens under. Compared case-insensitively, ignoring
/// `-` and `_`; names containing `token`, `secret`, `password`,
/// `signature` or `credential` are redacted too.
const DEFAULT_QUERY: [&str; 7] = [
    "awsaccesskeyid",
    "sig",
    "key",
    "apikey",
    "auth",
    "code",
    "passwd",
];
const SENSITIVE_QUERY_PARTS: [&str; 5] = ["token", "secret", "password", "signature", "credential"];

/// JSON and form fields masked in logged bodies by default, compared
/// case-insensitively ignoring `-` and `_` (so `refreshToken` and
/// `refresh-token` match `refresh_token`).
const DEFAULT_FIELDS: [&str; 12] = [
    "password",
    "passwd",
    "token",
    "secret",
    "client_secret",
    "refresh_token",
    "access_token",
    "id_token",
    "api_key",
    "private_key",
    "authorization",
    "session",
];

/// Body content types logged by default.
const DEFAULT_BODY_TYPES: [&str; 3] = ["json", "application/x-www-form-urlencoded", "text/"];

/// How the layer words its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// Structured events (`message = "response"` with typed fields), for
    /// log pipelines and OpenTelemetry.
    #[default]
    Structured,
    /// One line out, one line back: `→ GET https://api.test/items` and
    /// `← 200 OK (0.12s)`, for terminals and examples. The span and its
    /// attributes are the same as in [`Format::Structured`].
    Compact,
}

/// The configuration of [`LoggingLayer`](crate::LoggingLayer); built with
/// [`LoggingConfig::builder`], defaults in the [crate docs](crate#defaults-and-why).
#[derive(Clone)]
pub struct LoggingConfig {
    pub(crate) format: Format,
    pub(crate) span_level: Level,
    pub(crate) success_level: Level,
    pub(crate) client_error_level: Level,
    pub(crate) server_error_level: Level,
    pub(crate) failure_level: Level,
    pub(crate) headers: bool,
    pub(crate) redact_headers: Vec<HeaderName>,
    pub(crate) sensitive_names: bool,
    pub(crate) redact_query: Vec<String>,
    pub(crate) mask_fields: Vec<String>,
    pub(crate) request_bodies: bool,
    pub(crate) response_bodies: bool,
    pub(crate) body_limit: usize,
    pub(crate) body_types: Vec<String>,
    pub(crate) request_id: Option<HeaderName>,
    pub(crate) propagate: bool,
    pub(crate) on_call_end: Option<Arc<dyn OnCallEnd>>,
    /// The credential values the layers below registered, masked wherever
    /// they occur in what is logged. NOTE: replaced by a fresh registry in
    /// `LoggingLayer::new` and `Logging::new`, so that two layers built
    /// from clones of one config never share one.
    pub(crate) secrets: SecretValues,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            format: Format::Structured,
            span_level: Level::INFO,
            success_level: Level::INFO,
            client_error_level: Level::WARN,
            server_error_level: Level::WARN,
            failure_level: Level::ERROR,
            headers: true,
            redact_headers: ALWAYS_REDACTED
                .iter()
                .map(|n| HeaderName::from_static(n))
                .collect(),
            sensitive_names: true,
            redact_query: DEFAULT_QUERY.iter().map(|s| (*s).to_owned()).collect(),
            mask_fields: DEFAULT_FIELDS.iter().map(|s| normalize(s)).collect(),
            request_bodies: false,
            response_bodies: false,
            body_limit: 4096,
            body_types: DEFAULT_BODY_TYPES.iter().map(|s| (*s).to_owned()).collect(),
            request_id: Some(HeaderName::from_static("x-request-id")),
            propagate: true,
            on_call_end: None,
            secrets: SecretValues::new(),
        }
    }
}

impl fmt::Debug for LoggingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggingConfig")
            .field("format", &self.format)
            .field("span_level", &self.span_level)
            .field("success_level", &self.success_level)
            .field("client_error_level", &self.client_error_level)
            .field("server_error_level", &self.server_error_level)
            .field("failure_level", &self.failure_level)
            .field("headers", &self.headers)
            .field("redact_headers", &self.redact_headers)
            .field("request_bodies", &self.request_bodies)
            .field("response_bodies", &self.response_bodies)
            .field("body_limit", &self.body_limit)
            .field("request_id", &self.request_id)
            .field("on_call_end", &self.on_call_end.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

impl LoggingConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> LoggingConfigBuilder {
        LoggingConfigBuilder {
            config: LoggingConfig::default(),
            error: None,
        }
    }

    /// Whether header `name` is printed as `[redacted]`.
    pub fn is_redacted_header(&self, name: &HeaderName) -> bool {
        if self.redact_headers.contains(name) {
            return true;
        }
        self.sensitive_names && {
            let name = name.as_str();
            SENSITIVE_NAME_PARTS.iter().any(|part| name.contains(part))
        }
    }

    /// Whether query parameter `name` is printed as `REDACTED` in `url.full`.
    pub fn is_redacted_query(&self, name: &str) -> bool {
        with_normalized(name, |name| {
            self.redact_query.iter().any(|n| n == name)
                || (self.sensitive_names
                    && SENSITIVE_QUERY_PARTS.iter().any(|part| name.contains(part)))
        })
    }

    /// Whether a JSON or form field called `name` is masked in bodies.
    pub fn is_masked_field(&self, name: &str) -> bool {
        with_normalized(name, |name| self.mask_fields.iter().any(|n| n == name))
    }

    /// This configuration with a registry of its own (see `secrets`).
    pub(crate) fn with_own_secrets(mut self) -> Self {
        self.secrets = SecretValues::new();
        self
    }

    /// Whether the layer logs anything a credential sent below could be
    /// echoed in (headers, bodies), so that the layers below should
    /// register the values they send.
    pub(crate) fn masks_values(&self) -> bool {
        self.headers || self.request_bodies || self.response_bodies
    }

    pub(crate) fn logs_body_type(&self, content_type: &str) -> bool {
        let content_type = content_type.to_ascii_lowercase();
        self.body_types
            .iter()
            .any(|t| content_type.contains(t.as_str()))
    }
}

/// Lower case without `-` and `_`: the spelling-insensitive form names are
/// compared in.
pub(crate) fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Calls `f` with [`normalize`]`(name)`, built on the stack when `name` is
/// short (every query parameter or field name of a sane API is): checking
/// the names of each URL's query must not allocate per parameter.
fn with_normalized<R>(name: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 64];
    if name.len() > buf.len() {
        return f(&normalize(name));
    }
    let mut len = 0;
    for &b in name.as_bytes() {
        if b != b'-' && b != b'_' {
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
    }
    // Only ASCII bytes were dropped or changed: still UTF-8.
    f(std::str::from_utf8(&buf[..len]).expect("ASCII edits keep UTF-8 valid"))
}

/// Builds a [`LoggingConfig`]; see [`LoggingConfig::builder`].
#[derive(Debug, Clone)]
pub struct LoggingConfigBuilder {
    config: LoggingConfig,
    error: Option<String>,
}

impl LoggingConfigBuilder {
    fn fail(&mut self, reason: String) {
        self.error.get_or_insert(reason);
    }

    /// How events are worded.
    ///
    /// Default: [`Format::Structured`].
    pub fn format(mut self, format: Format) -> Self {
        self.config.format = format;
        self
    }

    /// The level of the per-request span.
    ///
    /// Default: `INFO`.
    pub fn span_level(mut self, level: Level) -> Self {
        self.config.span_level = level;
        self
    }

    /// The level of a completed request with a status below 400.
    ///
    /// Default: `INFO`.
    pub fn success_level(mut self, level: Level) -> Self {
        self.config.success_level = level;
        self
    }

    /// The level of a completed request with a 4xx status.
    ///
    /// Default: `WARN` (lower it where a 404 is an ordinary answer).
    pub fn client_error_level(mut self, level: Level) -> Self {
        self.config.client_error_level = level;
        self
    }

    /// The level of a completed request with a 5xx status.
    ///
    /// Default: `WARN`.
    pub fn server_error_level(mut self, level: Level) -> Self {
        self.config.server_error_level = level;
        self
    }

    /// The level of a request that ended in an error (transport failure,
    /// timeout, refusal by a layer below).
    ///
    /// Default: `ERROR`.
    pub fn failure_level(mut self, level: Level) -> Self {
        self.config.failure_level = level;
        self
    }

    /// Whether request and response headers are logged (at `DEBUG`, with
    /// credentials redacted).
    ///
    /// Default: `true`.
    pub fn headers(mut self, on: bool) -> Self {
        self.config.headers = on;
        self
    }

    /// Also prints header `name` as `[redacted]`. `Authorization`,
    /// `Proxy-Authorization`, `Cookie`, `Set-Cookie` and `X-API-Key` always
    /// are. An invalid header name fails [`build`](Self::build).
    ///
    /// Default: none added.
    pub fn redact_header(mut self, name: &str) -> Self {
        match HeaderName::try_from(name) {
            Ok(name) => self.config.redact_headers.push(name),
            Err(_) => self.fail(format!("{name:?} is not a header name")),
        }
        self
    }

    /// Whether names that look like credentials are redacted too: headers
    /// whose name contains `auth`, `token`, `secret`, `password`, `api-key`,
    /// `signature`, `cookie`, `session` or `credential`, and query
    /// parameters whose name contains `token`, `secret`, `password`,
    /// `signature` or `credential`.
    ///
    /// Default: `true`.
    pub fn redact_sensitive_names(mut self, on: bool) -> Self {
        self.config.sensitive_names = on;
        self
    }

    /// Also prints query parameter `name` as `REDACTED` in `url.full`
    /// (compared case-insensitively, ignoring `-` and `_`).
    ///
    /// Default: `AWSAccessKeyId`, `sig`, `key`, `api_key`, `auth`, `code`
    /// (OAuth's authorization code), `passwd` and the names the
    /// sensitive-name rule catches.
    pub fn redact_query_param(mut self, name: &str) -> Self {
        if name.is_empty() {
            self.fail("an empty query parameter name".to_owned());
        }
        self.config.redact_query.push(normalize(name));
        self
    }

    /// Also masks JSON and form field `name` in logged bodies, at any depth
    /// (compared case-insensitively, ignoring `-` and `_`).
    ///
    /// Default: `password`, `passwd`, `token`, `secret`, `client_secret`,
    /// `refresh_token`, `access_token`, `id_token`, `api_key`,
    /// `private_key`, `authorization`, `session`.
    pub fn mask_field(mut self, name: &str) -> Self {
        if name.is_empty() {
            self.fail("an empty field name to mask".to_owned());
        }
        self.config.mask_fields.push(normalize(name));
        self
    }

    /// Whether buffered request bodies are logged (at `DEBUG`). Streamed
    /// bodies are never read; the log says a stream was sent.
    ///
    /// Default: `false`.
    pub fn request_bodies(mut self, on: bool) -> Self {
        self.config.request_bodies = on;
        self
    }

    /// Whether response bodies are logged (at `DEBUG`), teed up to the
    /// [`body_limit`](Self::body_limit) as they stream to the caller.
    ///
    /// Default: `false`.
    pub fn response_bodies(mut self, on: bool) -> Self {
        self.config.response_bodies = on;
        self
    }

    /// The most bytes of a body a log line shows; at most 64 KiB.
    ///
    /// Default: 4 KiB.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        if bytes == 0 || bytes > MAX_BODY_LIMIT {
            self.fail(format!(
                "body limit of {bytes} bytes; it must be 1 to {MAX_BODY_LIMIT}"
            ));
        }
        self.config.body_limit = bytes;
        self
    }

    /// The content types whose bodies are logged: a body is logged when its
    /// `Content-Type` contains one of `types` (case-insensitively).
    ///
    /// Default: `json` (also `application/problem+json`),
    /// `application/x-www-form-urlencoded`, `text/`.
    pub fn body_content_types<I, T>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let types: Vec<String> = types
            .into_iter()
            .map(|t| t.into().to_ascii_lowercase())
            .collect();
        if types.is_empty() || types.iter().any(String::is_empty) {
            self.fail("body content types must be a non-empty list of non-empty names".to_owned());
        }
        self.config.body_types = types;
        self
    }

    /// The header that carries the request id, set to a random 128-bit hex
    /// id when the request has none. An invalid name fails
    /// [`build`](Self::build).
    ///
    /// Default: `x-request-id`.
    pub fn request_id_header(mut self, name: &str) -> Self {
        match HeaderName::try_from(name) {
            Ok(name) => self.config.request_id = Some(name),
            Err(_) => self.fail(format!("{name:?} is not a header name")),
        }
        self
    }

    /// Turns the request id header off: requests are sent as given.
    ///
    /// Default: on.
    pub fn no_request_id(mut self) -> Self {
        self.config.request_id = None;
        self
    }

    /// Whether `traceparent` (and `tracestate`) are injected from the
    /// span's OpenTelemetry context when the request has none. Only with
    /// the `opentelemetry` feature; without it this setting does nothing.
    ///
    /// Default: `true`.
    pub fn propagate_context(mut self, on: bool) -> Self {
        self.config.propagate = on;
        self
    }

    /// Calls `hook` when each call ends, with a [`CallSummary`](crate::CallSummary):
    /// for metrics such as OpenTelemetry's `http.client.request.duration`.
    /// Without a hook the layer does not keep what the summary needs.
    ///
    /// Default: none.
    pub fn on_call_end(mut self, hook: impl OnCallEnd + 'static) -> Self {
        self.config.on_call_end = Some(Arc::new(hook));
        self
    }

    /// The configuration, or why it makes no sense.
    pub fn build(self) -> Result<LoggingConfig, InvalidLoggingConfig> {
        if let Some(reason) = self.error {
            return Err(InvalidLoggingConfig(reason));
        }
        let config = self.config;
        if let Some(name) = &config.request_id
            && config.is_redacted_header(name)
        {
            return Err(InvalidLoggingConfig(format!(
                "request id header {name} would be redacted; pick a name that is not a credential's"
            )));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalized_on_the_stack_match_the_allocated_form() {
        let long = "X-Api_Key-".repeat(10);
        for name in [
            "api_key",
            "API-Key",
            "x_Goog-Signature",
            "",
            "-_-",
            "ключ-Key",
            &long,
        ] {
            with_normalized(name, |stacked| {
                assert_eq!(stacked, normalize(name), "{name}")
            });
        }
        let config = LoggingConfig::default();
        assert!(config.is_redacted_query("Api-Key"));
        assert!(config.is_redacted_query("my_refresh_TOKEN"));
        assert!(!config.is_redacted_query("page"));
        assert!(config.is_masked_field("Refresh-Token"));
        assert!(!config.is_masked_field("id"));
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        let err = |b: LoggingConfigBuilder| b.build().unwrap_err().to_string();
        assert!(err(LoggingConfig::builder().body_limit(0)).contains("body limit of 0"));
        assert!(err(LoggingConfig::builder().body_limit(1 << 20)).contains("1048576"));
        assert!(err(LoggingConfig::builder().redact_header("bad header")).contains("not a header"));
        assert!(err(LoggingConfig::builder().request_id_header("")).contains("not a header"));
        assert!(err(LoggingConfig::builder().request_id_header("x-auth-id")).contains("redacted"));
        assert!(
            err(LoggingConfig::builder().body_content_types(Vec::<String>::new()))
                .contains("non-empty")
        );
        assert!(err(LoggingConfig::builder().mask_field("")).contains("empty"));
        assert!(LoggingConfig::builder().body_limit(100).build().is_ok());
    }

    #[test]
    fn names_compare_without_case_or_separators() {
        let config = LoggingConfig::builder().mask_field("pin").build().unwrap();
        for name in [
            "refreshToken",
            "REFRESH-TOKEN",
            "refresh_token",
            "clientSecret",
            "PIN",
        ] {
            assert!(config.is_masked_field(name), "{name}");
        }
        assert!(!config.is_masked_field("username"));
        for name in [
            "api_key",
            "X-Amz-Signature",
            "access_token",
            "sig",
            "AWSAccessKeyId",
        ] {
            assert!(config.is_redacted_query(name), "{name}");
        }
        assert!(!config.is_redacted_query("page"));
        let header = |n: &'static str| HeaderName::from_static(n);
        for name in [
            "authorization",
            "x-api-key",
            "x-auth-token",
            "signature",
            "x-hub-signature-256",
        ] {
            assert!(config.is_redacted_header(&header(name)), "{name}");
        }
        assert!(!config.is_redacted_header(&header("accept")));
        let plain = LoggingConfig::builder()
            .redact_sensitive_names(false)
            .build()
            .unwrap();
        assert!(plain.is_redacted_header(&header("authorization")));
        assert!(!plain.is_redacted_header(&header("x-auth-token")));
    }
}
