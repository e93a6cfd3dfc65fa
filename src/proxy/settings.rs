//! Which proxy carries a destination: the proxies given, or the
//! environment's, each behind hyper-util's matcher.

use std::fmt;
use std::sync::Arc;

use http::Request;
use http::header::PROXY_AUTHORIZATION;
use http::uri::{Scheme, Uri};
use hyper_util::client::proxy::matcher::Matcher;

use super::{Proxy, Scope};
use crate::transport::BuildError;

/// Reads an environment variable: the process's, or a test's map.
pub(crate) type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The proxy settings of a [`TransportBuilder`](crate::TransportBuilder),
/// resolved when it builds.
#[derive(Clone)]
pub(crate) struct ProxySettings {
    given: Vec<Proxy>,
    from_env: bool,
    /// `None`: the process's environment. Tests inject a map here, so that
    /// none of them changes the environment the others read.
    lookup: Option<Lookup>,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            given: Vec::new(),
            from_env: true,
            lookup: None,
        }
    }
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each Proxy's Debug hides its credentials.
        f.debug_struct("ProxySettings")
            .field("given", &self.given)
            .field("from_env", &(self.given.is_empty() && self.from_env))
            .finish()
    }
}

impl ProxySettings {
    pub(crate) fn add(&mut self, proxy: Proxy) {
        self.given.push(proxy);
    }

    /// No proxy at all, the environment's included.
    pub(crate) fn clear(&mut self) {
        self.given.clear();
        self.from_env = false;
    }

    /// Reads the environment through `lookup` rather than the process's.
    #[cfg(test)]
    pub(crate) fn set_lookup(&mut self, lookup: Lookup) {
        self.lookup = Some(lookup);
    }

    /// The proxies given, or else (unless turned off) the environment's.
    pub(crate) fn resolve(&self) -> Result<Proxies, BuildError> {
        let proxies = if !self.given.is_empty() {
            self.given.clone()
        } else if !self.from_env {
            Vec::new()
        } else {
            match &self.lookup {
                Some(lookup) => from_env(&**lookup)?,
                None => from_env(&|name| std::env::var(name).ok())?,
            }
        };
        Ok(Proxies::new(proxies))
    }
}

/// The proxies of `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` (upper case
/// first, as hyper-util's matcher reads them), in that order, each
/// skipping the destinations of `NO_PROXY`. None in a CGI program.
fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Proxy>, BuildError> {
    // httpoxy: a CGI server passes a request's `Proxy:` header as
    // HTTP_PROXY. hyper-util's matcher ignores the environment there too.
    if lookup("REQUEST_METHOD").is_some() {
        return Ok(Vec::new());
    }
    // The first variable set, empty or not; empty counts as unset.
    let get = |upper: &'static str, lower: &'static str| {
        [upper, lower]
            .into_iter()
            .find_map(|name| lookup(name).map(|value| (name, value)))
            .filter(|(_, value)| !value.trim().is_empty())
    };
    let no_proxy = get("NO_PROXY", "no_proxy").map(|(_, list)| list);
    let kinds = [
        ("HTTP_PROXY", "http_proxy", Scope::Http),
        ("HTTPS_PROXY", "https_proxy", Scope::Https),
        ("ALL_PROXY", "all_proxy", Scope::All),
    ];
    let mut proxies = Vec::new();
    for (upper, lower, scope) in kinds {
        let Some((name, url)) = get(upper, lower) else {
            continue;
        };
        // Never the value in the message: it may hold a password.
        let proxy = Proxy::parse(&url, scope)
            .map_err(|e| BuildError::new(format!("{name}: {e} (its value is not shown)")))?;
        proxies.push(match &no_proxy {
            Some(list) => proxy.no_proxy(list),
            None => proxy,
        });
    }
    Ok(proxies)
}

/// The proxies of a built transport, shared by its connector (which
/// connects through them) and the transport (which adds their credentials
/// to the `http://` requests they forward).
pub(crate) struct Proxies {
    routes: Vec<Route>,
}

struct Route {
    proxy: Proxy,
    /// hyper-util's matcher for this proxy alone: its scheme and its
    /// `NO_PROXY` rules. Credentials are the proxy's own business.
    matcher: Matcher,
}

impl fmt::Debug for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.routes.iter().map(|route| &route.proxy))
            .finish()
    }
}

impl Proxies {
    fn new(proxies: Vec<Proxy>) -> Proxies {
        let routes = proxies
            .into_iter()
            .map(|proxy| {
                let url = proxy.url();
                let builder = Matcher::builder();
                let builder = match proxy.scope {
                    Scope::Http => builder.http(url),
                    Scope::Https => builder.https(url),
                    Scope::All => builder.all(url),
                };
                let builder = match &proxy.no_proxy {
                    Some(list) => builder.no(list),
                    None => builder,
                };
                Route {
                    matcher: builder.build(),
                    proxy,
                }
            })
            .collect();
        Proxies { routes }
    }

    /// The first proxy that carries `dst`, if any.
    pub(crate) fn intercept(&self, dst: &Uri) -> Option<&Proxy> {
        self.routes
            .iter()
            .find(|route| route.matcher.intercept(dst).is_some())
            .map(|route| &route.proxy)
    }

    /// Adds the proxy's credentials to an `http://` request it will
    /// forward (an `https://` one carries none: its tunnel's `CONNECT`
    /// does). A `Proxy-Authorization` the caller set is kept.
    pub(crate) fn authorize<B>(&self, request: &mut Request<B>) {
        if self.routes.is_empty() || request.uri().scheme() != Some(&Scheme::HTTP) {
            return;
        }
        let Some(auth) = self.intercept(request.uri()).and_then(Proxy::auth) else {
            return;
        };
        if !request.headers().contains_key(PROXY_AUTHORIZATION) {
            let mut value = auth.clone();
            // Marked where it is added, whatever made it.
            value.set_sensitive(true);
            request.headers_mut().insert(PROXY_AUTHORIZATION, value);
        }
    }
}
