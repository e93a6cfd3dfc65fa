//! Where a credential may go: origins and credential scopes.
//!
//! Auth and signing add credentials to requests. A [`CredentialScope`] says
//! for which [`Origin`]s (scheme, host, port) they may do so: a request
//! for any other origin is passed through untouched, so no ordering of
//! layers (a redirect followed below auth, a retry that changed host) can
//! carry a credential to a foreign origin.
//!
//! A redirect policy that follows a hop away from the call's first origin
//! marks that hop's request with [`CrossOriginHop`]; a scoped or unscoped
//! credential is never added to a marked request.
//!
//! ```
//! use girder_core::origin::{CredentialScope, CrossOriginHop, Origin};
//!
//! let scope = CredentialScope::only([Origin::parse("https://api.test").unwrap()]);
//! let home = http::Request::get("https://API.test:443/v1/items").body(()).unwrap();
//! let away = http::Request::get("https://evil.test/v1/items").body(()).unwrap();
//! assert!(scope.permits(&home));
//! assert!(!scope.permits(&away));
//!
//! let mut hop = http::Request::get("https://api.test/moved").body(()).unwrap();
//! hop.extensions_mut().insert(CrossOriginHop);
//! assert!(!CredentialScope::any().permits(&hop));
//! ```

use std::fmt;
use std::sync::Arc;

use http::uri::Scheme;
use http::{Request, Uri};

/// A URI's origin (RFC 6454): scheme, host (lower case) and port (the
/// scheme's default when none is written).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: Box<str>,
    port: u16,
}

impl Origin {
    /// The origin of `uri`; `None` when it has no scheme or host, or a
    /// scheme other than `http`/`https` without an explicit port.
    ///
    /// Userinfo is never part of an origin.
    pub fn of(uri: &Uri) -> Option<Origin> {
        let scheme = uri.scheme()?;
        let host = uri.host()?;
        let port = match uri.port_u16() {
            Some(port) => port,
            None if *scheme == Scheme::HTTPS => 443,
            None if *scheme == Scheme::HTTP => 80,
            None => return None,
        };
        Some(Origin {
            scheme: scheme.clone(),
            host: host.to_ascii_lowercase().into_boxed_str(),
            port,
        })
    }

    /// Parses an origin such as `https://api.example.com` or
    /// `http://127.0.0.1:8080`; a path, if any, is ignored.
    pub fn parse(text: &str) -> Result<Origin, InvalidOrigin> {
        let uri: Uri = text.parse().map_err(|_| InvalidOrigin::of(text))?;
        Origin::of(&uri).ok_or_else(|| InvalidOrigin::of(text))
    }

    /// The scheme.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The host, lower case (an IPv6 literal keeps its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether `uri` has this origin.
    pub fn matches(&self, uri: &Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let port = match uri.port_u16() {
            Some(port) => port,
            None if uri.scheme() == Some(&Scheme::HTTPS) => 443,
            None if uri.scheme() == Some(&Scheme::HTTP) => 80,
            None => return false,
        };
        uri.scheme() == Some(&self.scheme)
            && port == self.port
            && host.eq_ignore_ascii_case(&self.host)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A text that is not an origin (no scheme or host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOrigin(Box<str>);

impl InvalidOrigin {
    /// The error for `text`, with everything before its last `@` masked
    /// but for a leading `scheme://`: userinfo may hold a password.
    fn of(text: &str) -> Self {
        InvalidOrigin(mask_userinfo(text).into_owned().into())
    }
}

impl fmt::Display for InvalidOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid origin {:?}: expected scheme://host[:port]",
            self.0
        )
    }
}

impl std::error::Error for InvalidOrigin {}

/// The origins a credential may be sent to.
///
/// [`CredentialScope::any`] (every origin) is the default of a layer used
/// on its own; the girder `Client` scopes its credentials to the base URL's
/// origin, or to the list the user gives. Whatever the scope, a request
/// marked [`CrossOriginHop`] gets no credential.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CredentialScope(Option<Arc<[Origin]>>);

impl CredentialScope {
    /// Every origin (still never a [`CrossOriginHop`]).
    pub fn any() -> Self {
        CredentialScope(None)
    }

    /// Only these origins. A request whose URI names no origin (a relative
    /// URI) is not permitted: it cannot be shown to stay home.
    pub fn only(origins: impl IntoIterator<Item = Origin>) -> Self {
        CredentialScope(Some(origins.into_iter().collect()))
    }

    /// Whether credentials may be added to `request`.
    pub fn permits<B>(&self, request: &Request<B>) -> bool {
        if request.extensions().get::<CrossOriginHop>().is_some() {
            return false;
        }
        self.permits_uri(request.uri())
    }

    /// Whether the scope includes `uri`'s origin (ignores [`CrossOriginHop`]).
    pub fn permits_uri(&self, uri: &Uri) -> bool {
        match &self.0 {
            None => true,
            Some(origins) => origins.iter().any(|origin| origin.matches(uri)),
        }
    }

    /// The origins, or `None` for every origin.
    pub fn origins(&self) -> Option<&[Origin]> {
        self.0.as_deref()
    }
}

impl fmt::Debug for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("CredentialScope(any)"),
            Some(origins) => f.debug_tuple("CredentialScope").field(origins).finish(),
        }
    }
}

/// A request extension: this request is a redirect hop that left the
/// call's first origin. Auth and signing add no credential to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossOriginHop;

/// `text` with everything before its last `@` replaced by `***`, but for a
/// leading `scheme://`: a URL's or an origin's userinfo, which may hold a
/// password, for a message, however malformed the text. Text without `@`
/// is returned as it is.
///
/// ```
/// use girder_core::origin::mask_userinfo;
///
/// assert_eq!(mask_userinfo("https://me:hunter2@api.test/v1"), "https://***@api.test/v1");
/// assert_eq!(mask_userinfo("me:hunter2@api.test"), "***@api.test");
/// assert_eq!(mask_userinfo("https://api.test/v1"), "https://api.test/v1");
/// ```
pub fn mask_userinfo(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(at) = text.rfind('@') else {
        return text.into();
    };
    let scheme = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    };
    let start = match text.find("://") {
        Some(i) if i < at && scheme(&text[..i]) => i + 3,
        _ => 0,
    };
    format!("{}***{}", &text[..start], &text[at..]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_ignores_userinfo_case_and_default_port() {
        let a = Origin::parse("https://user:pw@API.Test:443/x").unwrap();
        assert_eq!(a.to_string(), "https://api.test:443");
        assert!(a.matches(&"https://api.test/y".parse().unwrap()));
        assert!(!a.matches(&"http://api.test/y".parse().unwrap()));
        assert!(!a.matches(&"https://api.test:8443/y".parse().unwrap()));
        assert!(!a.matches(&"https://api.test.evil/y".parse().unwrap()));
        assert!(!a.matches(&"/relative".parse().unwrap()));
    }

    #[test]
    fn nonsense_is_an_error() {
        for text in ["", "api.test", "/path", "ftp://host", "https://"] {
            let error = Origin::parse(text).unwrap_err();
            assert!(error.to_string().contains("invalid origin"), "{text}");
        }
    }

    #[test]
    fn scope_refuses_relative_uris_and_cross_origin_hops() {
        let scope = CredentialScope::only([Origin::parse("http://127.0.0.1:8080").unwrap()]);
        let relative = Request::get("/items").body(()).unwrap();
        assert!(!scope.permits(&relative));
        assert!(CredentialScope::any().permits(&relative));
        let mut hop = Request::get("http://127.0.0.1:8080/items")
            .body(())
            .unwrap();
        assert!(scope.permits(&hop));
        hop.extensions_mut().insert(CrossOriginHop);
        assert!(!scope.permits(&hop));
    }
}
