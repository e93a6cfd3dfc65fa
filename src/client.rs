//! [`Client`] and [`ClientBuilder`]; [`RequestBuilder`] and [`Response`]
//! live in their own files and are re-exported here.
//!
//! Decompression drives compression-codecs' decoders (the ones under
//! tower-http's `Decompression`) with its own body (see `decompress.rs`).
//! Redirects are girder's own layer (see `redirect.rs`: the same rules as
//! tower-http's `FollowRedirect`, without the `url` crate's IDNA tables, and
//! with the credential-keeping policy inside). Two of tower-http's layers
//! do not fit: its `TimeoutLayer` answers 408
//! as a server would, so the per-attempt timeout is tower's (an `Elapsed`
//! error, which retry and the breaker read as a timeout); and default
//! headers are applied by the `Client` itself rather than by
//! `SetRequestHeader`, so a client made with [`Client::from_service`]
//! keeps them whatever stack it wraps.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "auth")]
use girder_auth::{AuthConfig, AuthLayer};
#[cfg(feature = "breaker")]
use girder_breaker::{BreakerPolicy, CircuitBreakerLayer};
#[cfg(feature = "cache")]
use girder_cache::{CacheConfig, CacheLayer};
use girder_core::origin::{CredentialScope, Origin};
use girder_core::{Body, BoxError, CallRecord, CallRecordLayer, Deadline};
#[cfg(feature = "ratelimit")]
use girder_ratelimit::{InFlightBody, RateLimitLayer, RateLimitPolicy};
#[cfg(feature = "retry")]
use girder_retry::{RetryLayer, RetryPolicy};
#[cfg(feature = "sign")]
use girder_sign::{Signer, SigningLayer};
#[cfg(feature = "trace")]
use girder_trace::{LoggingConfig, LoggingLayer};
use http::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use http::{Method, Request};
use tower::util::{BoxCloneSyncService, option_layer};
use tower::{Layer, Service, ServiceExt};

use crate::error::{Error, Kind};
use crate::redirect::RedirectLayer;
pub use crate::request::RequestBuilder;
pub use crate::response::Response;
use crate::slots::Slots;
use crate::transport::TransportBuilder;
use crate::url::{BaseUrl, IntoUrl, join};

/// The boxed service a [`Client`] sends through.
pub type ClientService = BoxCloneSyncService<Request<Body>, http::Response<Body>, BoxError>;

/// The default `User-Agent`.
pub const USER_AGENT_VALUE: &str = concat!("girder/", env!("CARGO_PKG_VERSION"));

/// A client for one HTTP API: cheap to clone (one reference count), `Send`
/// and `Sync`; clones share connections and every layer's state.
///
/// ```no_run
/// use girder::Client;
///
/// # async fn run() -> Result<(), girder::Error> {
/// let client = Client::builder().base_url("https://api.example.com/v1").build()?;
/// #[derive(serde::Deserialize)]
/// struct User { id: u64 }
/// let user: User = client.get("users/7").send().await?.error_for_status()?.json().await?;
/// # let _ = user.id;
///
/// // Or, as with reqwest, no base URL and absolute URLs:
/// let client = Client::new();
/// let user: User = client.get("https://api.example.com/v1/users/7").send().await?.json().await?;
/// # let _ = user.id;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    service: Slots,
    base: Option<BaseUrl>,
    allow_absolute: bool,
    default_headers: HeaderMap,
    /// Where the default headers that carry credentials may go.
    credential_scope: CredentialScope,
    total_timeout: Option<Duration>,
    max_response_bytes: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .field("total_timeout", &self.inner.total_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    /// [`Client::new`].
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client with the defaults of [`ClientBuilder`] and no base URL:
    /// every request needs an absolute URL, as with reqwest's
    /// `Client::new()`. Unlike reqwest's, it retries idempotent requests,
    /// logs each call (`tracing`) and bounds each call by a total timeout
    /// (30 s); see the README's "Coming from reqwest".
    ///
    /// # Panics
    ///
    /// When the default transport cannot be built (rustls refuses the
    /// default TLS settings, or no root certificate is available), as
    /// reqwest's does. [`Client::builder`]`().build()` returns that error
    /// instead.
    pub fn new() -> Client {
        Client::builder()
            .build()
            .unwrap_or_else(|e| panic!("girder::Client::new: {e}"))
    }

    /// A builder with the defaults (see [`ClientBuilder`]).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client over a service you built (for instance your own
    /// `ServiceBuilder` of girder layers in another order), with this
    /// crate's request and response API. It adds the default headers and
    /// nothing else: no base URL, no total timeout.
    ///
    /// The client keeps a few clones of `service` (one per CPU, up to 16)
    /// and calls a free one when its `poll_ready` is ready at once (polled
    /// with a no-op waker); otherwise the call waits on a clone of its own,
    /// as `ServiceExt::oneshot` would, and the slot's clone is dropped.
    pub fn from_service<S>(service: S) -> Client
    where
        S: Service<Request<Body>, Response = http::Response<Body>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        let service = BoxCloneSyncService::new(service.map_err(Into::into));
        Client {
            inner: Arc::new(Inner {
                service: Slots::new(service),
                base: None,
                allow_absolute: true,
                default_headers: default_headers(),
                credential_scope: CredentialScope::any(),
                total_timeout: None,
                max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            }),
        }
    }

    /// The service this client sends through, for use in other tower code.
    pub fn into_service(self) -> ClientService {
        self.inner.service.prototype().clone()
    }

    /// A request with `method` for `url`: a path joined onto the base URL,
    /// or an absolute URL (see [`IntoUrl`]). A URL the client refuses (a
    /// path without a base URL, another origin than the base URL's without
    /// [`allow_absolute_urls`](ClientBuilder::allow_absolute_urls)) is a
    /// [`Kind::Builder`] error from [`send`](RequestBuilder::send).
    pub fn request<U: IntoUrl>(&self, method: Method, url: U) -> RequestBuilder {
        let text = url.into_text();
        let url = join(self.inner.base.as_ref(), &text, self.inner.allow_absolute);
        RequestBuilder {
            client: self.clone(),
            request: url.map(|url| {
                let mut request = Request::new(Body::empty());
                *request.method_mut() = method;
                *request.uri_mut() = url;
                // Room for what the stack adds (User-Agent, Accept, auth,
                // signature fields, Accept-Encoding): an empty map grows
                // at its seventh field, reallocating on the way down.
                *request.headers_mut() = HeaderMap::with_capacity(12);
                request
            }),
            timeout: None,
        }
    }

    /// A GET request.
    pub fn get<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A POST request.
    pub fn post<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A PUT request.
    pub fn put<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A PATCH request.
    pub fn patch<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// A DELETE request.
    pub fn delete<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A HEAD request.
    pub fn head<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// A paginated GET of `path`: see [`crate::paginate`].
    pub fn paginate(&self, path: &str) -> crate::paginate::Paginate {
        self.get(path).paginate()
    }

    /// A GraphQL endpoint (`path` joined onto the base URL): see
    /// [`crate::graphql`].
    pub fn graphql(&self, path: &str) -> crate::graphql::GraphQl {
        crate::graphql::GraphQl::new(self.clone(), path)
    }

    /// A typed REST collection at `path`: see [`crate::resource`].
    pub fn resource<T>(&self, path: &str) -> crate::resource::Resource<T> {
        crate::resource::Resource::new(self.clone(), path)
    }

    /// Sends a request built elsewhere through the client's stack (default
    /// headers and the total timeout apply; the URL is used as it is).
    ///
    /// A default header that carries a credential (one set with
    /// [`secret_header`](ClientBuilder::secret_header), or named
    /// `Authorization`, `Proxy-Authorization`, `Cookie` or `X-Api-Key`) is
    /// added only to a request for the client's credential origins (the
    /// base URL's, or [`credential_origins`](ClientBuilder::credential_origins)),
    /// as auth and signing are.
    pub async fn execute(&self, mut request: Request<Body>) -> Result<Response, Error> {
        for (name, value) in &self.inner.default_headers {
            if request.headers().contains_key(name)
                || (crate::redirect::carries_credential(name, value)
                    && !self.inner.credential_scope.permits_uri(request.uri()))
            {
                continue;
            }
            request.headers_mut().insert(name.clone(), value.clone());
        }
        // The record first: it is the call's context, and a deadline set
        // after it is held there (one extension for every copy the layers
        // make) instead of in an extension of its own.
        let made_here = request.extensions().get::<CallRecord>().is_none();
        let record = CallRecord::ensure(&mut request);
        if Deadline::of(&request).is_none()
            && let Some(total) = self.inner.total_timeout
        {
            // From the reading of a record made here, just now; a caller's
            // record may be older, so its reading is taken afresh.
            let now = if made_here {
                record.now()
            } else {
                record.mark_now()
            };
            Deadline::after_from(now, total).apply(&mut request);
        }
        let deadline = Deadline::of(&request);
        let url = request.uri().clone();
        let call = self.inner.service.call(request);
        let result = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline.instant(), call).await {
                Ok(result) => result,
                Err(_) => Err(girder_core::DeadlineExceeded::new().into()),
            },
            None => call.await,
        };
        match result {
            Ok(response) => {
                // The last hop's URL, after redirects (the redirect layer
                // puts it in the extensions).
                let url = response
                    .extensions()
                    .get::<crate::redirect::RequestUri>()
                    .map(|uri| uri.0.clone())
                    .filter(|uri| uri.scheme().is_some())
                    .unwrap_or(url);
                Ok(Response {
                    inner: response,
                    url,
                    record,
                    max_bytes: self.inner.max_response_bytes,
                    deadline,
                })
            }
            Err(error) => Err(Error::from_source(error)
                .with_url(&url)
                .with_record(&record)),
        }
    }
}

const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

fn default_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers
}

/// Builds a [`Client`]: the canonical stack (ARCHITECTURE.md) over the
/// [`Transport`](crate::Transport), outermost first: logging (or a bare call record), cache,
/// retry, circuit breaker, rate limit, redirects, cookies, auth, signing,
/// per-attempt timeout, decompression.
///
/// | setting | default |
/// | --- | --- |
/// | base URL | none (requests need absolute URLs) |
/// | connect timeout (the transport's, shared with [`TransportBuilder`]) | 5 s |
/// | idle connections kept per host, and for how long | 32, 90 s |
/// | TCP keepalive | off (the OS's setting) |
/// | HTTP versions | HTTP/2 where TLS's ALPN chooses it (feature `http2`), HTTP/1.1 elsewhere; `http1_only`, `http2_prior_knowledge` |
/// | per-attempt timeout | 10 s |
/// | total timeout (the call's [`Deadline`]) | 30 s |
/// | retry | on, [`RetryPolicy::default`] |
/// | logging | on, [`LoggingConfig::default`] |
/// | circuit breaker, rate limit, cache, auth, signing | off |
/// | fleet-wide state on Redis (feature `redis`) | off: every layer's state is this process's own |
/// | `User-Agent` | `girder/<version>` |
/// | `Accept` | `application/json` |
/// | decompression | gzip (feature `gzip`, default), deflate, br and zstd (features `deflate`, `br`, `zstd`) |
/// | redirects | up to 10, never HTTPS to HTTP, credentials dropped across origins |
/// | cookie store (feature `cookies`) | none |
/// | credential origins (auth and signing add credentials only there) | the base URL's origin; any origin without a base URL, redirect hops that left the first origin excepted |
/// | largest response body read | 64 MiB |
/// | TLS (features `rustls-ring`, `rustls-aws-lc`) | the built-in roots, TLS 1.2 and 1.3, no client certificate (module `tls`) |
pub struct ClientBuilder {
    base_url: Option<String>,
    allow_absolute: bool,
    default_headers: HeaderMap,
    /// The settings of the transport [`build`](Self::build) makes; set by
    /// the methods of `transport/client.rs` and `tls/builder.rs`.
    pub(crate) transport: TransportBuilder,
    attempt_timeout: Option<Duration>,
    total_timeout: Option<Duration>,
    #[cfg(feature = "retry")]
    retry: Option<RetryPolicy>,
    #[cfg(feature = "breaker")]
    breaker: Option<BreakerPolicy>,
    #[cfg(feature = "ratelimit")]
    rate_limit: Option<RateLimitPolicy>,
    #[cfg(feature = "cache")]
    cache: Option<CacheConfig>,
    #[cfg(feature = "auth")]
    auth: Option<AuthConfig>,
    /// Layers given built (their state observable by the caller); each
    /// replaces its policy or config above.
    #[cfg_attr(
        not(any(
            feature = "breaker",
            feature = "ratelimit",
            feature = "cache",
            feature = "auth"
        )),
        allow(dead_code)
    )]
    layers: GivenLayers,
    #[cfg(feature = "sign")]
    signing: Option<SigningLayer<Arc<dyn Signer>>>,
    #[cfg(feature = "trace")]
    logging: Option<LoggingConfig>,
    max_response_bytes: usize,
    redirects: usize,
    credential_origins: Option<Vec<Origin>>,
    #[cfg(feature = "redis")]
    redis: Option<crate::redis::RedisConfig>,
    /// Set by the methods of `cookie.rs`.
    #[cfg(feature = "cookies")]
    pub(crate) cookies: Option<Arc<dyn crate::cookie::CookieStore>>,
    error: Option<Error>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: None,
            allow_absolute: false,
            default_headers: default_headers(),
            transport: TransportBuilder::default(),
            attempt_timeout: Some(Duration::from_secs(10)),
            total_timeout: Some(Duration::from_secs(30)),
            #[cfg(feature = "retry")]
            retry: Some(RetryPolicy::default()),
            #[cfg(feature = "breaker")]
            breaker: None,
            #[cfg(feature = "ratelimit")]
            rate_limit: None,
            #[cfg(feature = "cache")]
            cache: None,
            #[cfg(feature = "auth")]
            auth: None,
            layers: GivenLayers::default(),
            #[cfg(feature = "sign")]
            signing: None,
            #[cfg(feature = "trace")]
            logging: Some(LoggingConfig::default()),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            redirects: 10,
            credential_origins: None,
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "cookies")]
            cookies: None,
            error: None,
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientBuilder");
        d.field("base_url", &self.base_url)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("total_timeout", &self.total_timeout);
        // RedisConfig's Debug shows no password.
        #[cfg(feature = "redis")]
        d.field("redis", &self.redis);
        #[cfg(feature = "cookies")]
        d.field("cookie_store", &self.cookies.is_some());
        d.finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The URL request paths are joined onto.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Accepts absolute URLs on origins other than the base URL's (off:
    /// a path from user input cannot send credentials elsewhere).
    pub fn allow_absolute_urls(mut self, allow: bool) -> Self {
        self.allow_absolute = allow;
        self
    }

    /// A header sent with every request that does not set it.
    pub fn default_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        match (
            HeaderName::try_from(name.as_ref()),
            HeaderValue::try_from(value.as_ref()),
        ) {
            (Ok(name), Ok(value)) => {
                self.default_headers.insert(name, value);
            }
            _ => {
                self.error.get_or_insert(Error::with_message(
                    Kind::Builder,
                    format!("invalid default header {:?}", name.as_ref()),
                    None,
                ));
            }
        }
        self
    }

    /// A header with a secret value (an API key) sent with every request:
    /// marked sensitive, so HTTP/2 never indexes it and girder's logging
    /// never prints it.
    pub fn secret_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        match (
            HeaderName::try_from(name.as_ref()),
            HeaderValue::try_from(value.as_ref()),
        ) {
            (Ok(name), Ok(mut value)) => {
                value.set_sensitive(true);
                self.default_headers.insert(name, value);
            }
            _ => {
                // Never the value in the message.
                self.error.get_or_insert(Error::with_message(
                    Kind::Builder,
                    format!(
                        "invalid secret header {:?} (its value is not shown)",
                        name.as_ref()
                    ),
                    None,
                ));
            }
        }
        self
    }

    /// The `User-Agent` (default `girder/<version>`).
    pub fn user_agent(self, value: impl AsRef<str>) -> Self {
        self.default_header("user-agent", value)
    }

    /// The timeout of each attempt (default 10 s; `None`: none).
    pub fn attempt_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.attempt_timeout = timeout.into();
        self
    }

    /// The total time of a call, retries and waits included (default
    /// 30 s; `None`: none). A request's own deadline wins.
    pub fn total_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.total_timeout = timeout.into();
        self
    }

    #[cfg(feature = "retry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
    /// The retry policy (default [`RetryPolicy::default`]; `None`: no
    /// retries).
    pub fn retry(mut self, policy: impl Into<Option<RetryPolicy>>) -> Self {
        self.retry = policy.into();
        self
    }

    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    /// A circuit breaker (default none). With `redis` (feature `redis`)
    /// its circuits are opened and probed fleet-wide, unless the policy has
    /// a [store](girder_breaker::BreakerPolicyBuilder::store) of its own.
    pub fn circuit_breaker(mut self, policy: impl Into<Option<BreakerPolicy>>) -> Self {
        self.breaker = policy.into();
        self.layers.breaker = None;
        self
    }

    #[cfg(feature = "breaker")]
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    /// A circuit breaker you built, so that you keep its
    /// [`handle`](CircuitBreakerLayer::handle) (metrics, modes) and share
    /// its circuits with other stacks; replaces
    /// [`circuit_breaker`](ClientBuilder::circuit_breaker). It is used as
    /// it is, with `redis` too.
    pub fn circuit_breaker_layer(mut self, layer: CircuitBreakerLayer) -> Self {
        self.breaker = None;
        self.layers.breaker = Some(layer);
        self
    }

    #[cfg(feature = "ratelimit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ratelimit")))]
    /// A client-side rate limit (default none). With `redis` (feature
    /// `redis`) its quotas are shared by the fleet, unless the policy has a
    /// [backend](girder_ratelimit::RateLimitPolicyBuilder::backend) of its
    /// own.
    pub fn rate_limit(mut self, policy: impl Into<Option<RateLimitPolicy>>) -> Self {
        self.rate_limit = policy.into();
        self.layers.rate_limit = None;
        self
    }

    #[cfg(feature = "ratelimit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "ratelimit")))]
    /// A rate limit you built, so that you can read its state
    /// ([`in_flight`](RateLimitLayer::in_flight), …) or share it with
    /// other stacks; replaces [`rate_limit`](ClientBuilder::rate_limit).
    /// It is used as it is, with `redis` too.
    pub fn rate_limit_layer(mut self, layer: RateLimitLayer) -> Self {
        self.rate_limit = None;
        self.layers.rate_limit = Some(layer);
        self
    }

    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    /// A response cache (default none). With `redis`
    /// (feature `redis`) its entries are kept in Redis, shared by every
    /// process, instead of in this process's memory.
    pub fn cache(mut self, config: impl Into<Option<CacheConfig>>) -> Self {
        self.cache = config.into();
        self.layers.cache = None;
        self
    }

    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    /// An in-memory cache you built, so that you can read its state
    /// ([`fills_in_progress`](CacheLayer::fills_in_progress), its
    /// [`store`](CacheLayer::store)) or share it with other stacks;
    /// replaces [`cache`](ClientBuilder::cache). It is used as it is, with
    /// `redis` too.
    pub fn cache_layer(mut self, layer: CacheLayer) -> Self {
        self.cache = None;
        self.layers.cache = Some(layer);
        self
    }

    #[cfg(feature = "auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
    /// Credentials for every attempt (default none): see [`crate::auth`].
    pub fn auth(mut self, config: impl Into<Option<AuthConfig>>) -> Self {
        self.auth = config.into();
        self.layers.auth = None;
        self
    }

    #[cfg(feature = "auth")]
    #[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
    /// An auth layer you built, so that you can read its token cache's
    /// state ([`is_fetching`](AuthLayer::is_fetching),
    /// [`fetches`](AuthLayer::fetches)) or share it with other stacks;
    /// replaces [`auth`](ClientBuilder::auth). Its credentials go where
    /// its config's [scope](girder_auth::AuthConfigBuilder::scope) says:
    /// unlike [`auth`](ClientBuilder::auth)'s config, a layer built with
    /// the default scope (any origin) is not narrowed to the base URL's
    /// origin or [`credential_origins`](ClientBuilder::credential_origins).
    pub fn auth_layer(mut self, layer: AuthLayer) -> Self {
        self.auth = None;
        self.layers.auth = Some(layer);
        self
    }

    #[cfg(feature = "sign")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sign")))]
    /// Signs every attempt, innermost, after every other header is final
    /// (default none): see [`crate::sign`].
    pub fn signing(mut self, signer: impl Signer) -> Self {
        self.signing = Some(SigningLayer::new(Arc::new(signer) as Arc<dyn Signer>));
        self
    }

    #[cfg(feature = "sign")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sign")))]
    /// A configured [`SigningLayer`] (a clock of your own, clock-skew
    /// recovery), for when [`signing`](ClientBuilder::signing)'s defaults
    /// do not serve.
    pub fn signing_layer(mut self, layer: SigningLayer<Arc<dyn Signer>>) -> Self {
        self.signing = Some(layer);
        self
    }

    #[cfg(feature = "trace")]
    #[cfg_attr(docsrs, doc(cfg(feature = "trace")))]
    /// Request logging and spans (default on, [`LoggingConfig::default`];
    /// `None`: off, the call record is still kept).
    pub fn logging(mut self, config: impl Into<Option<LoggingConfig>>) -> Self {
        self.logging = config.into();
        self
    }

    /// The largest response body [`Response::bytes`] and friends read
    /// (default 64 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// How many redirects a call follows (default 10; 0: none). Never from
    /// HTTPS to HTTP; credentials are dropped when a redirect leaves the
    /// origin.
    pub fn redirects(mut self, max: usize) -> Self {
        self.redirects = max;
        self
    }

    /// The origins (`https://api.example.com`, `http://127.0.0.1:8080`)
    /// auth and signing may add credentials for; a request for any other
    /// origin goes without them. An origin that does not parse makes
    /// [`build`](ClientBuilder::build) fail. Layers given with
    /// `signing_layer` or an
    /// [`AuthConfig`] with its own scope keep theirs.
    ///
    /// Default: the base URL's origin; without a base URL every origin,
    /// except that a redirect hop that left the call's first origin never
    /// gets a credential.
    pub fn credential_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut parsed = Vec::new();
        for text in origins {
            match Origin::parse(text.as_ref()) {
                Ok(origin) => parsed.push(origin),
                Err(e) => {
                    self.error.get_or_insert_with(|| {
                        Error::with_message(Kind::Builder, e.to_string(), None)
                    });
                }
            }
        }
        self.credential_origins = Some(parsed);
        self
    }

    /// Builds the client over the default [`Transport`](crate::Transport).
    pub fn build(self) -> Result<Client, Error> {
        let transport =
            self.transport.clone().build().map_err(|e| {
                Error::with_message(Kind::Builder, e.to_string(), Some(Box::new(e)))
            })?;
        self.build_with_transport(transport)
    }

    /// Builds the client's stack over `transport`, any service that sends a
    /// request (a test double, another HTTP client).
    pub fn build_with_transport<T>(self, transport: T) -> Result<Client, Error>
    where
        T: Service<Request<Body>, Response = http::Response<Body>> + Clone + Send + Sync + 'static,
        T::Error: Into<BoxError>,
        T::Future: Send + 'static,
    {
        if let Some(error) = self.error {
            return Err(error);
        }
        #[cfg(feature = "redis")]
        let crate::fleet::Resolved {
            rate_limit,
            breaker,
            cache_store,
        } = crate::fleet::resolve(
            self.redis.as_ref(),
            self.rate_limit,
            self.breaker,
            self.cache.is_some(),
        );
        #[cfg(all(feature = "ratelimit", not(feature = "redis")))]
        let rate_limit = self.rate_limit;
        #[cfg(all(feature = "breaker", not(feature = "redis")))]
        let breaker = self.breaker;
        let base = match &self.base_url {
            Some(url) => Some(
                BaseUrl::parse(url).map_err(|why| Error::with_message(Kind::Builder, why, None))?,
            ),
            None => None,
        };
        // One concrete type for the whole stack, boxed once at the top: a
        // box per layer made every call clone every box below it (each
        // layer clones its inner service per call), about 27 allocations
        // per call for the full stack. A layer whose feature is off is not
        // in the type at all.
        let service = transport.map_err(Into::<BoxError>::into);
        #[cfg(any(
            feature = "gzip",
            feature = "deflate",
            feature = "br",
            feature = "zstd"
        ))]
        let service = crate::decompress::Decompress::new(service);
        let service = option_layer(self.attempt_timeout.map(tower::timeout::TimeoutLayer::new))
            .layer(service);
        // Credentials go only where the user said: the listed origins, or
        // the base URL's. A layer given its own scope keeps it; the default
        // headers that carry credentials follow the same scope.
        let scope = match (self.credential_origins, &base) {
            (Some(origins), _) => CredentialScope::only(origins),
            (None, Some(base)) => CredentialScope::only(base.origin()),
            (None, None) => CredentialScope::any(),
        };
        #[cfg(feature = "sign")]
        let service = {
            let signing = self.signing.map(|layer| {
                if *layer.credential_scope() == CredentialScope::any() {
                    layer.scope(scope.clone())
                } else {
                    layer
                }
            });
            option_layer(signing).layer(service)
        };
        #[cfg(feature = "auth")]
        let service = {
            let auth = self.auth.map(|config| {
                if *config.scope() == CredentialScope::any() {
                    config.with_scope(scope.clone())
                } else {
                    config
                }
            });
            // Between retry (which keeps the call's head in its record)
            // and auth, the layers only read a head or remove headers and
            // change URI and method (redirects); the cookie store adds one.
            #[cfg(feature = "cookies")]
            let share = self.cookies.is_none();
            #[cfg(not(feature = "cookies"))]
            let share = true;
            let auth = (self.layers.auth.or_else(|| auth.map(AuthLayer::new)))
                .map(|layer| layer.share_call_head(share));
            option_layer(auth).layer(service)
        };
        // Cookies inside redirects (each hop gets its own URL's, a 3xx's
        // are stored before the next hop) and above auth and signing (a
        // signature covers them): see `cookie.rs`.
        #[cfg(feature = "cookies")]
        let service =
            option_layer(self.cookies.map(crate::cookie::CookieLayer::new)).layer(service);
        // Redirects above auth and signing: each hop is authorised and
        // signed anew for its own URL, and a hop that leaves the origin is
        // marked so that neither adds a credential to it. Nothing between
        // retry and here changes a request's head (breaker and rate limit
        // read it), so hops start from the head retry keeps in the call
        // record rather than a copy of their own.
        let service = RedirectLayer::new(self.redirects)
            .call_head(true)
            .layer(service);
        // The in-flight limit holds its slot until the body ends; a body
        // that holds none goes on as it was (no box).
        #[cfg(feature = "ratelimit")]
        let service = {
            let rate_limit = (self.layers.rate_limit)
                .or_else(|| rate_limit.map(RateLimitLayer::new))
                .map(|layer| {
                    tower::ServiceBuilder::new()
                        .map_response(|response: http::Response<InFlightBody<Body>>| {
                            response.map(Body::from)
                        })
                        .layer(layer)
                });
            option_layer(rate_limit).layer(service)
        };
        #[cfg(feature = "breaker")]
        let service = {
            let breaker = (self.layers.breaker).or_else(|| breaker.map(CircuitBreakerLayer::new));
            option_layer(breaker).layer(service)
        };
        #[cfg(feature = "retry")]
        let service = option_layer(self.retry.map(RetryLayer::new)).layer(service);
        #[cfg(feature = "trace")]
        let logging = self.logging;
        #[cfg(not(feature = "trace"))]
        let logging = None;
        // The cache's store is a type parameter: a shared store makes a
        // stack of another type, boxed at the top all the same.
        #[cfg(feature = "redis")]
        let service = match (self.cache, cache_store) {
            (Some(config), Some(store)) => outermost(
                CacheLayer::with_store(config, store).layer(service),
                logging,
            ),
            (cache, _) => outermost(
                option_layer(self.layers.cache.or_else(|| cache.map(CacheLayer::new)))
                    .layer(service),
                logging,
            ),
        };
        #[cfg(all(feature = "cache", not(feature = "redis")))]
        let service = outermost(
            option_layer(
                self.layers
                    .cache
                    .or_else(|| self.cache.map(CacheLayer::new)),
            )
            .layer(service),
            logging,
        );
        #[cfg(not(feature = "cache"))]
        let service = outermost(service, logging);
        Ok(Client {
            inner: Arc::new(Inner {
                service: Slots::new(service),
                base,
                allow_absolute: self.allow_absolute,
                default_headers: self.default_headers,
                credential_scope: scope,
                total_timeout: self.total_timeout,
                max_response_bytes: self.max_response_bytes,
            }),
        })
    }
}

/// The layers a [`ClientBuilder`] was given built.
#[derive(Default)]
struct GivenLayers {
    #[cfg(feature = "breaker")]
    breaker: Option<CircuitBreakerLayer>,
    #[cfg(feature = "ratelimit")]
    rate_limit: Option<RateLimitLayer>,
    #[cfg(feature = "cache")]
    cache: Option<CacheLayer>,
    #[cfg(feature = "auth")]
    auth: Option<AuthLayer>,
}

/// Fleet-wide state (feature `redis`): see [`crate::redis`] and the README's
/// "Sharing state across a fleet".
#[cfg(feature = "redis")]
impl ClientBuilder {
    /// Shares this client's state with every process using the same Redis
    /// (and key [prefix](crate::redis::RedisConfigBuilder::prefix)): the
    /// quotas of [`rate_limit`](ClientBuilder::rate_limit) go on a
    /// [`RedisRateLimitBackend`](crate::redis::RedisRateLimitBackend), the
    /// [`cache`](ClientBuilder::cache)'s entries in Redis, and the circuits
    /// of [`circuit_breaker`](ClientBuilder::circuit_breaker) are opened
    /// and probed fleet-wide. Each only when that layer is configured, and
    /// not for a policy given a backend or store of its own. The three
    /// share the config's one multiplexed connection (as do other clients
    /// built with clones of the same config). Building the client does not
    /// connect: a Redis that is slow or away costs a call at most the config's
    /// [budget](crate::redis::RedisConfigBuilder::budget), and the call then
    /// uses this process's own state (its
    /// [share](crate::redis::RedisConfigBuilder::fleet_size) of each quota,
    /// a cache miss, its own circuit).
    ///
    /// Default: none; every layer's state is this process's own.
    pub fn redis(mut self, config: impl Into<Option<crate::redis::RedisConfig>>) -> Self {
        self.redis = config.into();
        self
    }

    /// `redis` with the defaults of
    /// [`RedisConfig`](crate::redis::RedisConfig) for the Redis at `url`
    /// (`redis://[[user]:password@]host[:port][/db]`), in a fleet of
    /// `fleet_size` processes: while Redis is away each process keeps
    /// `1/fleet_size` of every quota, so that an outage does not multiply
    /// the load on the API. A URL that does not parse, or a `fleet_size` of
    /// 0, makes [`build`](ClientBuilder::build) fail with a
    /// [`Kind::Builder`] error naming the option and never quoting the URL
    /// (it may hold a password).
    ///
    /// Default: none, as for `redis`.
    pub fn redis_url(mut self, url: impl AsRef<str>, fleet_size: u32) -> Self {
        match crate::redis::RedisConfig::builder(url.as_ref())
            .fleet_size(fleet_size)
            .build()
        {
            Ok(config) => self.redis = Some(config),
            Err(e) => {
                // The error names the option and never holds the URL.
                let option = if e.option() == "url" {
                    "redis_url"
                } else {
                    "redis_url's fleet_size"
                };
                self.error.get_or_insert_with(|| {
                    Error::with_message(Kind::Builder, option, Some(Box::new(e)))
                });
            }
        }
        self
    }
}

/// The logging config `outermost` takes: none without the `trace` feature.
#[cfg(feature = "trace")]
type Logging = LoggingConfig;
#[cfg(not(feature = "trace"))]
type Logging = std::convert::Infallible;

/// Logging (or a bare call record) over `service`, boxed once.
fn outermost<S>(service: S, logging: Option<Logging>) -> ClientService
where
    S: Service<Request<Body>, Response = http::Response<Body>, Error = BoxError>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    match logging {
        #[cfg(feature = "trace")]
        Some(config) => BoxCloneSyncService::new(LoggingLayer::new(config).layer(service)),
        #[cfg(not(feature = "trace"))]
        Some(never) => match never {},
        None => BoxCloneSyncService::new(CallRecordLayer::new().layer(service)),
    }
}
