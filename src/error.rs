//! [`Error`]: the one error of the [`Client`](crate::Client).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use girder_core::{AuthError, BoxError, CallRecord, ErrorKind, ServerHints};
use http::{HeaderMap, StatusCode};

/// How many bytes of an error response's body an [`Error`] keeps.
pub const BODY_SNIPPET_BYTES: usize = 4096;

/// What went wrong, as a caller branches on it.
///
/// Statuses are named as HTTP names them ([`Unauthorized`](Kind::Unauthorized)
/// for 401, [`Forbidden`](Kind::Forbidden) for 403), and a failure of the
/// client's own credentials is [`CredentialSource`](Kind::CredentialSource):
/// "the API refused the credential" and "the client had no credential to
/// send" call for different fixes (a new grant or scope, against a token
/// endpoint that is down or refuses the client's secret), so their names
/// share no word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// 400 Bad Request or 422 Unprocessable Content: the request was wrong.
    Validation,
    /// 401 Unauthorized: the API did not accept the request's credential
    /// (missing, expired, revoked). With
    /// [`ClientBuilder::auth`](crate::ClientBuilder::auth) the auth layer
    /// has already refreshed the credential and sent the request once more.
    /// Not to be confused with [`CredentialSource`](Kind::CredentialSource),
    /// where no credential could be obtained and the API was never asked.
    Unauthorized,
    /// 403 Forbidden: the API knows who is calling and refuses (a missing
    /// scope or permission).
    Forbidden,
    /// 404 Not Found (and 410 Gone).
    NotFound,
    /// 409 Conflict (and 412 Precondition Failed).
    Conflict,
    /// 429 Too Many Requests, or the client's own rate limit refused the
    /// call (also when a shared quota on Redis could not be checked and
    /// its config fails closed); see [`Error::retry_after`].
    RateLimited,
    /// Another 4xx status.
    ClientStatus,
    /// A 5xx status.
    Server,
    /// No connection could be made.
    Connect,
    /// TLS failed: the server's certificate is not trusted (unknown CA,
    /// expired, issued for another name), the server refused the client's
    /// certificate, or no protocol version was common. Never retried: the
    /// next attempt would meet the same certificate. The circuit breaker
    /// counts it as it counts a connect error. Its `source()` chain holds
    /// rustls's error.
    Tls,
    /// A proxy refused the call: it wants credentials or refused the ones
    /// given (`407 Proxy Authentication Required`, or `401` from some
    /// proxies, in answer to a `CONNECT`; a `407` response to an `http://`
    /// request), or it refused a tunnel to the destination (another 4xx
    /// answer to `CONNECT`, such as `403` when its policy forbids the
    /// host or port). Never retried. An unreachable proxy is a
    /// [`Kind::Connect`] error. See `girder::proxy` (feature `proxy`).
    Proxy,
    /// An attempt timed out.
    Timeout,
    /// The call's deadline passed.
    DeadlineExceeded,
    /// The circuit breaker refused the call.
    CircuitOpen,
    /// The client could not obtain a credential to send, so the request
    /// was not sent to the API: the auth layer's
    /// [`CredentialSource`](crate::auth::CredentialSource) failed (its token
    /// endpoint refused the client, answered garbage or could not be
    /// reached, a key pool ran dry, a JWT could not be signed).
    /// [`Error::message`] carries a token endpoint's `error` and
    /// `error_description`, and the source chain holds the
    /// [`AuthError`]. Compare [`Unauthorized`](Kind::Unauthorized): the API
    /// answered 401.
    CredentialSource,
    /// The request could not be signed.
    Signing,
    /// The response body could not be decoded (JSON, UTF-8).
    Decode,
    /// A call went through more redirects than
    /// [`ClientBuilder::redirects`](crate::ClientBuilder::redirects)
    /// allows (a redirect loop, most likely). Never retried.
    Redirect,
    /// The request could not be built (a bad URL, header or body).
    Builder,
    /// A page of a paginated list was malformed (no items where they were
    /// expected, a garbage `Link` header, a cursor of the wrong type) or
    /// pointed back at an earlier page; see [`crate::paginate`].
    Pagination,
    /// A GraphQL response carried `errors`; see [`Error::graphql`].
    GraphQl,
    /// The connection failed after it was made, or the body failed.
    Transport,
    /// Anything else.
    Other,
}

impl Kind {
    /// The kind for an error status, or `None` for a success.
    pub fn for_status(status: StatusCode) -> Option<Kind> {
        Some(match status.as_u16() {
            400 | 422 => Kind::Validation,
            401 => Kind::Unauthorized,
            403 => Kind::Forbidden,
            407 => Kind::Proxy,
            404 | 410 => Kind::NotFound,
            409 | 412 => Kind::Conflict,
            429 => Kind::RateLimited,
            400..=499 => Kind::ClientStatus,
            500..=599 => Kind::Server,
            _ => return None,
        })
    }

    fn of(error: &(dyn std::error::Error + 'static)) -> Kind {
        let mut next = Some(error);
        while let Some(err) = next {
            if err.is::<crate::transport::InvalidRequest>() {
                return Kind::Builder;
            }
            #[cfg(feature = "proxy")]
            if err
                .downcast_ref::<crate::proxy::ProxyError>()
                .is_some_and(crate::proxy::ProxyError::is_refusal)
            {
                return Kind::Proxy;
            }
            if err.is::<crate::redirect::TooManyRedirects>() {
                return Kind::Redirect;
            }
            // Only the rate limiter's shared quota surfaces it, refusing a
            // call it could not check (`fail_closed`): a rate-limit refusal.
            #[cfg(feature = "redis")]
            if err.is::<girder_redis::RedisUnavailable>() {
                return Kind::RateLimited;
            }
            next = err.source();
        }
        match ErrorKind::of(error) {
            ErrorKind::Connect => Kind::Connect,
            ErrorKind::Tls => Kind::Tls,
            ErrorKind::Timeout => Kind::Timeout,
            ErrorKind::DeadlineExceeded => Kind::DeadlineExceeded,
            ErrorKind::CircuitOpen => Kind::CircuitOpen,
            ErrorKind::RateLimited => Kind::RateLimited,
            ErrorKind::Auth => Kind::CredentialSource,
            ErrorKind::Signing => Kind::Signing,
            ErrorKind::Decode => Kind::Decode,
            ErrorKind::InvalidRequest => Kind::Builder,
            ErrorKind::Transport | ErrorKind::Body | ErrorKind::Protocol => Kind::Transport,
            _ => Kind::Other,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Validation => "validation error",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::NotFound => "not found",
            Kind::Conflict => "conflict",
            Kind::RateLimited => "rate limited",
            Kind::ClientStatus => "client error",
            Kind::Server => "server error",
            Kind::Connect => "connect error",
            Kind::Tls => "TLS error",
            Kind::Proxy => "proxy error",
            Kind::Timeout => "timed out",
            Kind::DeadlineExceeded => "deadline exceeded",
            Kind::CircuitOpen => "circuit open",
            Kind::CredentialSource => "no credential could be obtained",
            Kind::Signing => "signing error",
            Kind::Decode => "decode error",
            Kind::Redirect => "too many redirects",
            Kind::Builder => "invalid request",
            Kind::Pagination => "pagination error",
            Kind::GraphQl => "GraphQL error",
            Kind::Transport => "transport error",
            Kind::Other => "error",
        })
    }
}

/// The error of a [`Client`](crate::Client) call: an error status, a
/// failure below (connect, timeout, open circuit, …), or a body that would
/// not decode.
///
/// For a status, it keeps the status and the headers, and when the body was
/// read ([`Response::error_for_status_with_message`](crate::Response::error_for_status_with_message))
/// its first [`BODY_SNIPPET_BYTES`] and the server's own message, read from
/// JSON `message` / `error` / `error_description` / `detail` or an RFC
/// 9457 problem document's `title` and `detail`.
///
/// An error of a call that reached the stack keeps the call's
/// [`CallRecord`] ([`call_record`](Error::call_record)): how many attempts
/// were made, what each layer waited for and why it gave up.
///
/// reqwest's predicates are here too ([`is_timeout`](Error::is_timeout),
/// [`is_connect`](Error::is_connect), [`is_status`](Error::is_status),
/// [`is_request`](Error::is_request), [`is_decode`](Error::is_decode),
/// [`is_redirect`](Error::is_redirect), [`is_builder`](Error::is_builder));
/// [`kind`](Error::kind) says more.
///
/// ```
/// use girder::{Client, Kind};
/// use girder_test::{Reply, TestServer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), girder::BoxError> {
/// let server = TestServer::start().await;
/// server.route("/v1/items/8", Reply::status(404).json(r#"{"message":"no item 8"}"#));
/// let client = Client::builder().base_url(server.url("/v1")).build()?;
///
/// // As with reqwest: synchronous, the body unread.
/// let error = client.get("items/8").send().await?.error_for_status().unwrap_err();
/// assert!(error.is_status());
/// assert_eq!(error.kind(), Kind::NotFound);
/// assert_eq!(error.call_record().map(|r| r.attempts()), Some(1));
///
/// // Reading the server's message too.
/// let response = client.get("items/8").send().await?;
/// let error = response.error_for_status_with_message().await.unwrap_err();
/// assert_eq!(error.message(), Some("no item 8"));
/// # Ok(())
/// # }
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    status: Option<StatusCode>,
    headers: Option<HeaderMap>,
    body: Option<Bytes>,
    message: Option<String>,
    retry_after: Option<Duration>,
    url: Option<String>,
    record: Option<CallRecord>,
    source: Option<BoxError>,
}

impl Error {
    fn new(kind: Kind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                status: None,
                headers: None,
                body: None,
                message: None,
                retry_after: None,
                url: None,
                record: None,
                source: None,
            }),
        }
    }

    /// An error from a failure below the client (transport or a layer).
    pub(crate) fn from_source(source: BoxError) -> Self {
        match source.downcast::<Error>() {
            Ok(error) => *error,
            Err(source) => Self::from_boxed(source),
        }
    }

    fn from_boxed(source: BoxError) -> Self {
        let kind = Kind::of(&*source);
        let mut error = Error::new(kind);
        error.inner.retry_after = retry_after_of(&*source);
        if kind == Kind::CredentialSource {
            error.inner.message = find::<AuthError>(&*source).and_then(auth_message);
        }
        error.inner.source = Some(source);
        error
    }

    /// An error for an error status; `body` is what was read of the body,
    /// if it was.
    pub(crate) fn from_status(status: StatusCode, headers: HeaderMap, body: Option<Bytes>) -> Self {
        let kind = Kind::for_status(status).unwrap_or(Kind::Other);
        let mut error = Error::new(kind);
        if let Some(body) = body {
            error.inner.message = server_message(&headers, &body);
            error.inner.body = Some(body.slice(..body.len().min(BODY_SNIPPET_BYTES)));
        }
        error.inner.retry_after = ServerHints::from_headers(&headers).retry_after();
        error.inner.status = Some(status);
        error.inner.headers = Some(headers);
        error
    }

    /// An error of `kind` with a message and an optional source.
    pub(crate) fn with_message(
        kind: Kind,
        message: impl Into<String>,
        source: Option<BoxError>,
    ) -> Self {
        let mut error = Error::new(kind);
        error.inner.message = Some(message.into());
        error.inner.source = source;
        error
    }

    pub(crate) fn with_url(mut self, url: &http::Uri) -> Self {
        self.inner.url = Some(redacted_url(url));
        self
    }

    /// This error, with the record of the call it ended (unless it has one).
    pub(crate) fn with_record(mut self, record: &CallRecord) -> Self {
        self.inner.record.get_or_insert_with(|| record.clone());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// The response status, for an error status.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// The response headers, for an error status.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.inner.headers.as_ref()
    }

    /// The first bytes of the response body, for an error status whose
    /// body was read
    /// ([`error_for_status_with_message`](crate::Response::error_for_status_with_message)).
    pub fn body(&self) -> Option<&Bytes> {
        self.inner.body.as_ref()
    }

    /// The server's message (from a JSON error body or a problem
    /// document, when the body was read), a token endpoint's `error` and
    /// `error_description` for [`Kind::CredentialSource`], or this error's
    /// own.
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// How long the server (or the client's own limiter or breaker) asked
    /// to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The URL of the request (after redirects, for an error status),
    /// without its userinfo or query.
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// What each layer decided for the call this error ended: attempts,
    /// the waits between them and why the last one failed, quota waits,
    /// the breaker's state, redirects. `None` for an error made before the
    /// call reached the stack (a [`Kind::Builder`] error) or outside a
    /// call.
    pub fn call_record(&self) -> Option<&CallRecord> {
        self.inner.record.as_ref()
    }

    /// Whether an attempt timed out or the call's deadline passed
    /// ([`Kind::Timeout`], [`Kind::DeadlineExceeded`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout | Kind::DeadlineExceeded)
    }

    /// Whether no connection could be made ([`Kind::Connect`]), TLS
    /// handshake failures ([`Kind::Tls`]) included, as in reqwest, where
    /// they are connect errors too.
    pub fn is_connect(&self) -> bool {
        matches!(self.inner.kind, Kind::Connect | Kind::Tls)
    }

    /// Whether this error is an error status, made by
    /// [`error_for_status`](crate::Response::error_for_status) and its
    /// siblings; [`status`](Error::status) has it.
    pub fn is_status(&self) -> bool {
        self.inner
            .status
            .is_some_and(|s| s.is_client_error() || s.is_server_error())
    }

    /// Whether sending the request or receiving its response failed: a
    /// connect, TLS or transport error, or an attempt's timeout (as
    /// reqwest's `is_request`, which those are too).
    pub fn is_request(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Connect | Kind::Tls | Kind::Transport | Kind::Timeout
        )
    }

    /// Whether the body could not be decoded ([`Kind::Decode`]).
    pub fn is_decode(&self) -> bool {
        self.inner.kind == Kind::Decode
    }

    /// Whether the call went through too many redirects
    /// ([`Kind::Redirect`]).
    pub fn is_redirect(&self) -> bool {
        self.inner.kind == Kind::Redirect
    }

    /// Whether the request could not be built ([`Kind::Builder`]).
    pub fn is_builder(&self) -> bool {
        self.inner.kind == Kind::Builder
    }

    /// The GraphQL `errors` and any partial `data`, for a
    /// [`Kind::GraphQl`] error.
    pub fn graphql(&self) -> Option<&crate::graphql::GraphQlErrors> {
        self.inner
            .source
            .as_ref()
            .and_then(|s| s.downcast_ref::<crate::graphql::GraphQlErrors>())
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Whether trying the same call again later may succeed: rate limits,
    /// server errors, timeouts, connect errors, open circuits, transport
    /// failures; not validation, authentication, TLS, proxy or decode
    /// errors.
    pub fn is_retryable(&self) -> bool {
        match self.inner.kind {
            Kind::RateLimited
            | Kind::Connect
            | Kind::Timeout
            | Kind::CircuitOpen
            | Kind::Transport => true,
            Kind::Server => !matches!(self.inner.status.map(|s| s.as_u16()), Some(501 | 505)),
            _ => false,
        }
    }
}

/// The first `T` in `error`'s `source()` chain.
fn find<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(err) = next {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        next = err.source();
    }
    None
}

/// What a credential source said: a token endpoint's `error` and
/// `error_description` (`invalid_client: unknown client`), or what was
/// wrong. An `AuthError` never holds a secret.
fn auth_message(error: &AuthError) -> Option<String> {
    match (error.code(), error.description()) {
        (Some(code), Some(description)) => Some(format!("{code}: {description}")),
        (Some(text), None) | (None, Some(text)) => Some(text.to_owned()),
        (None, None) => None,
    }
}

/// `Retry-After` from the client's own refusals.
fn retry_after_of(error: &(dyn std::error::Error + 'static)) -> Option<Duration> {
    let mut next = Some(error);
    while let Some(err) = next {
        if let Some(open) = err.downcast_ref::<girder_core::CircuitOpen>() {
            return open.retry_after();
        }
        if let Some(limited) = err.downcast_ref::<girder_core::RateLimited>() {
            return limited.retry_after();
        }
        next = err.source();
    }
    None
}

/// The URL without userinfo or query, which may carry secrets.
fn redacted_url(url: &http::Uri) -> String {
    let mut out = String::new();
    if let Some(scheme) = url.scheme_str() {
        out.push_str(scheme);
        out.push_str("://");
    }
    if let Some(authority) = url.authority() {
        let host = authority.as_str().rsplit('@').next().unwrap_or_default();
        out.push_str(host);
    }
    out.push_str(url.path());
    out
}

/// The server's message from a JSON error body.
fn server_message(headers: &HeaderMap, body: &Bytes) -> Option<String> {
    let json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if !json && !body.starts_with(b"{") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let field = |name: &str| value.get(name).and_then(text);
    // RFC 9457: title and detail.
    if let (Some(title), Some(detail)) = (field("title"), field("detail")) {
        return Some(format!("{title}: {detail}"));
    }
    // {"error": {"message": ...}} (Google, OpenAI, Stripe style).
    if let Some(message) = value
        .get("error")
        .and_then(|e| e.get("message"))
        .and_then(text)
    {
        return Some(message);
    }
    // OAuth: error + error_description.
    if let (Some(error), Some(description)) = (field("error"), field("error_description")) {
        return Some(format!("{error}: {description}"));
    }
    ["message", "error_description", "detail", "error", "title"]
        .iter()
        .find_map(|name| field(name))
        .map(|m| m.chars().take(1_000).collect())
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers may carry cookies: names only.
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("status", &self.inner.status)
            .field("url", &self.inner.url)
            .field("message", &self.inner.message)
            .field(
                "headers",
                &self
                    .inner
                    .headers
                    .as_ref()
                    .map(|h| h.keys().collect::<Vec<_>>()),
            )
            .field("source", &self.inner.source)
            .field(
                "attempts",
                &self.inner.record.as_ref().map(CallRecord::attempts),
            )
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner.kind)?;
        if let Some(status) = self.inner.status {
            write!(f, " ({status})")?;
        }
        if let Some(url) = &self.inner.url {
            write!(f, " for {url}")?;
        }
        if let Some(message) = &self.inner.message {
            write!(f, ": {message}")?;
        }
        // The whole chain down to the root cause ("client error (Connect):
        // tcp connect error: Connection refused"), each link once: many
        // errors repeat their source's text in their own.
        // The kind's own text counts as written ("deadline exceeded"
        // would otherwise come twice).
        let mut written = format!("{}\n", self.inner.kind);
        let mut next = self
            .inner
            .source
            .as_deref()
            .map(|s| s as &dyn std::error::Error);
        while let Some(error) = next {
            let text = error.to_string();
            if !text.is_empty()
                && !written.contains(&text)
                && self.inner.message.as_deref() != Some(text.as_str())
            {
                write!(f, ": {text}")?;
                written.push_str(&text);
                written.push('\n');
            }
            next = error.source();
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &'static str) -> (HeaderMap, Bytes) {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/problem+json".parse().unwrap());
        (h, Bytes::from_static(body.as_bytes()))
    }

    #[test]
    fn server_messages_from_the_common_shapes() {
        for (body, expected) in [
            (
                r#"{"title":"Out of credit","detail":"Balance is 30"}"#,
                "Out of credit: Balance is 30",
            ),
            (
                r#"{"error":{"message":"bad model","type":"x"}}"#,
                "bad model",
            ),
            (
                r#"{"error":"invalid_grant","error_description":"expired"}"#,
                "invalid_grant: expired",
            ),
            (r#"{"message":"Validation failed"}"#, "Validation failed"),
            (r#"{"error":"nope"}"#, "nope"),
        ] {
            let (h, b) = json(body);
            assert_eq!(server_message(&h, &b).as_deref(), Some(expected), "{body}");
        }
        let (h, _) = json("");
        assert_eq!(server_message(&h, &Bytes::from_static(b"<html>")), None);
        assert_eq!(
            server_message(&HeaderMap::new(), &Bytes::from_static(b"plain")),
            None
        );
    }

    #[test]
    fn status_kinds_and_retryability() {
        let e =
            |s: u16| Error::from_status(StatusCode::from_u16(s).unwrap(), HeaderMap::new(), None);
        assert_eq!(e(400).kind(), Kind::Validation);
        assert_eq!(e(422).kind(), Kind::Validation);
        assert_eq!(e(401).kind(), Kind::Unauthorized);
        assert_eq!(e(403).kind(), Kind::Forbidden);
        assert_eq!(e(407).kind(), Kind::Proxy);
        assert_eq!(e(404).kind(), Kind::NotFound);
        assert_eq!(e(409).kind(), Kind::Conflict);
        assert_eq!(e(429).kind(), Kind::RateLimited);
        assert_eq!(e(418).kind(), Kind::ClientStatus);
        assert_eq!(e(503).kind(), Kind::Server);
        assert!(e(503).is_retryable() && e(429).is_retryable());
        assert!(!e(400).is_retryable() && !e(501).is_retryable() && !e(407).is_retryable());
    }

    #[test]
    fn urls_lose_userinfo_and_query() {
        let url: http::Uri = "https://user:pw@api.test/v1/items?api_key=s3cr3t"
            .parse()
            .unwrap();
        assert_eq!(redacted_url(&url), "https://api.test/v1/items");
    }
}
