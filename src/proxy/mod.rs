//! HTTP proxies (feature `proxy`, default): from the environment, or given
//! explicitly with [`Proxy`].
//!
//! By default the [`Transport`](crate::Transport) (and so the
//! [`Client`](crate::Client)) reads the variables curl reads, when it is
//! built, with the rules of hyper-util's proxy matcher:
//!
//! | variable (upper case, else lower case) | proxies |
//! | --- | --- |
//! | `HTTP_PROXY` / `http_proxy` | `http://` URLs |
//! | `HTTPS_PROXY` / `https_proxy` | `https://` URLs |
//! | `ALL_PROXY` / `all_proxy` | both, where the one above is not set |
//! | `NO_PROXY` / `no_proxy` | none of these destinations: a comma-separated list of host names (each matching its subdomains too; a leading `.` changes nothing), IP addresses, CIDR networks (`10.0.0.0/8`), or `*` for every destination |
//!
//! A proxy URL is `http://[user:password@]host[:port]` (without a scheme,
//! `http://` is assumed; without a port, 80). An empty variable counts as
//! unset. A value girder cannot use (not a URL, an `https://` or SOCKS
//! proxy) fails [`build`](crate::TransportBuilder::build) with an error that
//! names the variable and never quotes its value. As in curl and hyper-util,
//! the variables are ignored in a CGI program (`REQUEST_METHOD` set), where
//! `HTTP_PROXY` could come from a request's `Proxy:` header. Loopback
//! destinations are proxied too unless `NO_PROXY` lists them.
//!
//! [`ClientBuilder::proxy`](crate::ClientBuilder::proxy) (and
//! [`TransportBuilder::proxy`](crate::TransportBuilder::proxy)) gives proxies
//! explicitly: once one is given the environment is not read, and the first
//! proxy given that matches a destination carries it.
//! [`no_proxy`](crate::ClientBuilder::no_proxy) turns every proxy off,
//! the environment's included.
//!
//! ```
//! use girder::{Client, Proxy};
//!
//! # fn main() -> Result<(), girder::BoxError> {
//! let client = Client::builder()
//!     .base_url("https://api.example.com/v1")
//!     .proxy(
//!         Proxy::all("http://proxy.corp.example:3128")?
//!             .basic_auth("svc-billing", "s3cret")
//!             .no_proxy("localhost, 127.0.0.1, .internal.example"),
//!     )
//!     .build()?;
//! # let _ = client;
//! # Ok(())
//! # }
//! ```
//!
//! # What goes over the wire
//!
//! An `http://` request goes to the proxy in absolute form (`GET
//! http://api.example.com/v1/items HTTP/1.1`) with the proxy's credentials
//! in `Proxy-Authorization`. An `https://` request goes through a tunnel:
//! the transport asks the proxy to `CONNECT api.example.com:443`, with the
//! credentials on that request only, then speaks TLS with the origin inside
//! it, so the proxy sees neither the request nor the credentials meant for
//! the origin, and the origin never sees the proxy's. `Proxy-Authorization`
//! is marked sensitive where the transport adds it, below every layer:
//! girder's logging never sees it. A proxy's credentials never appear in
//! `Debug` or in an error, which show the proxy's URL without them.
//!
//! # When the proxy fails
//!
//! - It cannot be reached: a [`Kind::Connect`](crate::Kind::Connect) error
//!   naming the proxy, retried like any connect error.
//! - It refuses a tunnel with a 4xx status (`407 Proxy Authentication
//!   Required`, or `401` from some proxies, for missing or wrong
//!   credentials; `403` when its policy forbids the destination): a
//!   [`ProxyError`], [`Kind::Proxy`](crate::Kind::Proxy), never retried
//!   (the next attempt would meet the same answer).
//! - It cannot open the tunnel (a 5xx answer: the origin is unreachable
//!   from the proxy), or does not answer `CONNECT` within the connect
//!   timeout: a [`Kind::Connect`](crate::Kind::Connect) error naming the
//!   proxy and its answer, retried.
//! - For an `http://` request the proxy's refusal is a response: `407` is
//!   handed back as it is, and [`error_for_status`](crate::Response::error_for_status)
//!   calls it [`Kind::Proxy`](crate::Kind::Proxy).

mod builder;
pub(crate) mod connector;
mod error;
mod settings;
mod tunnel;

pub use error::ProxyError;
pub(crate) use settings::{Proxies, ProxySettings};

use std::fmt;

use base64::Engine;
use http::HeaderValue;
use http::uri::{Authority, Scheme, Uri};

/// Which destinations a [`Proxy`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Http,
    Https,
    All,
}

/// An HTTP proxy and the destinations it carries; give it to
/// [`ClientBuilder::proxy`](crate::ClientBuilder::proxy) or
/// [`TransportBuilder::proxy`](crate::TransportBuilder::proxy). See the
/// [module docs](self).
///
/// `Debug` shows the proxy's URL without credentials, and `[redacted]`
/// where it has some.
///
/// ```
/// use girder::Proxy;
///
/// let proxy = Proxy::https("http://alice:s3cret@proxy.corp.example:3128")
///     .unwrap()
///     .no_proxy("*.internal.example");
/// assert_eq!(proxy.url(), "http://proxy.corp.example:3128");
/// assert!(!format!("{proxy:?}").contains("s3cret"));
///
/// let err = Proxy::all("socks5://proxy.corp.example:1080").unwrap_err();
/// assert!(err.to_string().contains("SOCKS"));
/// ```
#[derive(Clone)]
pub struct Proxy {
    scope: Scope,
    /// `http://host:port/`, without credentials.
    uri: Uri,
    /// `Basic …`, marked sensitive.
    auth: Option<HeaderValue>,
    no_proxy: Option<String>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("scope", &self.scope)
            .field("url", &self.url())
            .field("auth", &self.auth.as_ref().map(|_| "[redacted]"))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl Proxy {
    /// A proxy for `http://` destinations.
    pub fn http(url: impl AsRef<str>) -> Result<Proxy, InvalidProxy> {
        Proxy::parse(url.as_ref(), Scope::Http)
    }

    /// A proxy for `https://` destinations, reached through `CONNECT`
    /// tunnels.
    pub fn https(url: impl AsRef<str>) -> Result<Proxy, InvalidProxy> {
        Proxy::parse(url.as_ref(), Scope::Https)
    }

    /// A proxy for every destination.
    pub fn all(url: impl AsRef<str>) -> Result<Proxy, InvalidProxy> {
        Proxy::parse(url.as_ref(), Scope::All)
    }

    /// Sends Basic credentials to the proxy (`Proxy-Authorization`),
    /// replacing any in its URL.
    ///
    /// Default: those of the URL (`http://user:password@host:port`,
    /// percent-decoded), or none.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Proxy {
        self.auth = Some(basic(user.as_bytes(), password.as_bytes()));
        self
    }

    /// Destinations this proxy does not carry, in `NO_PROXY`'s syntax (see
    /// the [module docs](self)): `"localhost, 10.0.0.0/8, .corp.example"`.
    /// They are sent directly, or by a later proxy that matches them.
    ///
    /// Default: none; every destination of the proxy's scheme.
    pub fn no_proxy(mut self, list: impl AsRef<str>) -> Proxy {
        self.no_proxy = Some(list.as_ref().to_owned());
        self
    }

    /// The proxy's URL without credentials: `http://host:port`.
    pub fn url(&self) -> String {
        let authority = self.uri.authority().map_or("", Authority::as_str);
        format!("http://{authority}")
    }

    /// Parses `url` as curl and hyper-util's matcher do, keeping the
    /// credentials apart.
    fn parse(url: &str, scope: Scope) -> Result<Proxy, InvalidProxy> {
        let uri: Uri = url.trim().parse().map_err(|_| InvalidProxy("not a URL"))?;
        match uri.scheme_str() {
            None | Some("http") => {}
            Some("https") => {
                return Err(InvalidProxy(
                    "https:// proxies (TLS to the proxy) are not supported; an http:// proxy \
                     still carries https:// requests, end to end encrypted, in CONNECT tunnels",
                ));
            }
            Some(s) if s.starts_with("socks") => {
                return Err(InvalidProxy("SOCKS proxies are not supported"));
            }
            Some(_) => return Err(InvalidProxy("the scheme must be http://")),
        }
        let authority = uri.authority().ok_or(InvalidProxy("no host"))?.as_str();
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => (Some(userinfo), host),
            None => (None, authority),
        };
        let uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(host)
            .path_and_query("/")
            .build()
            .map_err(|_| InvalidProxy("no host"))?;
        if uri.host().is_none_or(str::is_empty) {
            return Err(InvalidProxy("no host"));
        }
        let auth = userinfo.map(|userinfo| {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            basic(&percent_decode(user), &percent_decode(password))
        });
        Ok(Proxy {
            scope,
            uri,
            auth,
            no_proxy: None,
        })
    }

    /// `http://host:port/`, to connect to.
    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The `Proxy-Authorization` value, marked sensitive.
    pub(crate) fn auth(&self) -> Option<&HeaderValue> {
        self.auth.as_ref()
    }
}

/// `Basic base64(user:password)`, marked sensitive.
fn basic(user: &[u8], password: &[u8]) -> HeaderValue {
    let mut credentials = Vec::with_capacity(user.len() + password.len() + 1);
    credentials.extend_from_slice(user);
    credentials.push(b':');
    credentials.extend_from_slice(password);
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value =
        HeaderValue::try_from(format!("Basic {encoded}")).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

/// `%XX` escapes decoded; anything else kept as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let hex = |b: &u8| (*b as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let high = bytes.get(i + 1).and_then(hex);
        let low = bytes.get(i + 2).and_then(hex);
        match (bytes[i], high, low) {
            (b'%', Some(high), Some(low)) => {
                // Two hex digits make at most 255.
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// A proxy URL that cannot be used. It says why and never quotes the URL,
/// which may hold a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidProxy(&'static str);

impl fmt::Display for InvalidProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid proxy URL: {}", self.0)
    }
}

impl std::error::Error for InvalidProxy {}

#[cfg(test)]
mod tests;
