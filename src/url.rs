//! Joining request paths onto the client's base URL.
//!
//! The base URL's path is a directory: `https://api.test/v1` and
//! `https://api.test/v1/` both put `users` and `/users` at
//! `https://api.test/v1/users`. A leading slash does not climb to the
//! host's root (as RFC 3986 resolution would), because a client with a
//! versioned base means its own API. `.` and `..` segments are resolved,
//! but never above the base path. Absolute URLs on the base's origin are
//! always accepted (pagination links are often absolute); on another
//! origin only when the client allows it, so a path taken from user input
//! cannot send the client's credentials elsewhere.
//!
//! [`IntoUrl`] is what the `Client`'s request methods take: text (a path
//! or an absolute URL), an [`http::Uri`] and, with the `url` feature, a
//! `url::Url`.

use std::borrow::Cow;

use http::Uri;
use http::uri::{Authority, Scheme};
use iri_string::format::ToDedicatedString;
use iri_string::types::{IriAbsoluteStr, IriReferenceStr};

use crate::error::{Error, Kind};

/// What [`Client::get`](crate::Client::get), [`request`](crate::Client::request)
/// and their siblings accept, as reqwest's `IntoUrl`: a path joined onto the
/// client's base URL, or an absolute URL.
///
/// Implemented for `&str`, `String`, `&String`, [`http::Uri`] and `&Uri`,
/// and with the `url` feature for `url::Url` and `&Url`. The trait is
/// sealed: the URL text is read once, where the request is made.
///
/// An absolute URL (`https://…`) is used as it is when the client has no
/// base URL, or when it is on the base URL's origin; on another origin only
/// if [`allow_absolute_urls`](crate::ClientBuilder::allow_absolute_urls) is
/// set, and even then auth, signing and the client's secret headers stay
/// with their own origins. Anything else is a path, joined onto the base
/// URL (see the [`Client`](crate::Client) docs); without a base URL a path
/// is an error, which [`send`](crate::RequestBuilder::send) returns.
///
/// ```
/// use girder::Client;
///
/// # fn main() -> Result<(), girder::Error> {
/// let api = Client::builder().base_url("https://api.example.com/v1").build()?;
/// let id = 7;
/// let _ = api.get("users");                          // &str: a path
/// let _ = api.get(format!("users/{id}"));            // String
/// let _ = api.get("https://api.example.com/v1/me");  // absolute, same origin
/// let uri: http::Uri = "https://api.example.com/v2/me".parse().unwrap();
/// let _ = api.get(uri);                              // http::Uri
///
/// let anywhere = Client::new();                      // no base URL
/// let _ = anywhere.get("https://example.org/robots.txt");
/// # Ok(())
/// # }
/// ```
pub trait IntoUrl: sealed::Sealed {}

pub(crate) mod sealed {
    use std::borrow::Cow;

    /// The URL's text. Public in a module nobody outside can name: the
    /// sealed-trait idiom, so that `IntoUrl` can grow without breaking
    /// anyone's implementation.
    #[allow(unreachable_pub)]
    pub trait Sealed {
        /// The text of the path or URL.
        fn into_text<'a>(self) -> Cow<'a, str>
        where
            Self: 'a;
    }
}

impl IntoUrl for &str {}
impl sealed::Sealed for &str {
    fn into_text<'a>(self) -> Cow<'a, str>
    where
        Self: 'a,
    {
        Cow::Borrowed(self)
    }
}

impl IntoUrl for String {}
impl sealed::Sealed for String {
    fn into_text<'a>(self) -> Cow<'a, str> {
        Cow::Owned(self)
    }
}

impl IntoUrl for &String {}
impl sealed::Sealed for &String {
    fn into_text<'a>(self) -> Cow<'a, str>
    where
        Self: 'a,
    {
        Cow::Borrowed(self.as_str())
    }
}

impl IntoUrl for Uri {}
impl sealed::Sealed for Uri {
    fn into_text<'a>(self) -> Cow<'a, str> {
        Cow::Owned(self.to_string())
    }
}

impl IntoUrl for &Uri {}
impl sealed::Sealed for &Uri {
    fn into_text<'a>(self) -> Cow<'a, str>
    where
        Self: 'a,
    {
        Cow::Owned(self.to_string())
    }
}

#[cfg(feature = "url")]
#[cfg_attr(docsrs, doc(cfg(feature = "url")))]
impl IntoUrl for ::url::Url {}
#[cfg(feature = "url")]
impl sealed::Sealed for ::url::Url {
    fn into_text<'a>(self) -> Cow<'a, str> {
        Cow::Owned(self.into())
    }
}

#[cfg(feature = "url")]
#[cfg_attr(docsrs, doc(cfg(feature = "url")))]
impl IntoUrl for &::url::Url {}
#[cfg(feature = "url")]
impl sealed::Sealed for &::url::Url {
    fn into_text<'a>(self) -> Cow<'a, str>
    where
        Self: 'a,
    {
        Cow::Borrowed(self.as_str())
    }
}

/// Whether `text` starts with a scheme and `://` (RFC 3986's scheme
/// characters), rather than merely containing `://` somewhere (a path whose
/// query carries a URL, `auth?redirect_uri=https://…`).
fn has_scheme(text: &str) -> bool {
    let Some((scheme, _)) = text.split_once("://") else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// A parsed base URL.
#[derive(Debug, Clone)]
pub(crate) struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    /// Always ends with `/`.
    path: String,
}

impl BaseUrl {
    pub(crate) fn parse(text: &str) -> Result<BaseUrl, String> {
        // Errors quote the URL without its userinfo, which may be a password.
        let shown = girder_core::origin::mask_userinfo(text);
        let uri: Uri = text.trim().parse().map_err(|e| {
            if text.contains("://") {
                format!("base URL {shown:?} is not a URL: {e}")
            } else {
                format!(
                    "base URL {shown:?} needs a scheme and a host, like https://api.example.com"
                )
            }
        })?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(format!("base URL {shown:?} needs a scheme and a host"));
        };
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(format!("base URL {shown:?} must be http or https"));
        }
        if uri.query().is_some() {
            return Err(format!("base URL {shown:?} must not have a query"));
        }
        if authority.as_str().contains('@') {
            return Err("base URL must not carry credentials; configure auth instead".into());
        }
        let mut path = uri.path().to_owned();
        if !path.ends_with('/') {
            path.push('/');
        }
        Ok(BaseUrl {
            scheme,
            authority,
            path,
        })
    }

    /// The base URL's origin.
    pub(crate) fn origin(&self) -> Option<girder_core::origin::Origin> {
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query("/")
            .build()
            .ok()?;
        girder_core::origin::Origin::of(&uri)
    }

    fn same_origin(&self, uri: &Uri) -> bool {
        uri.scheme() == Some(&self.scheme) && uri.authority() == Some(&self.authority)
    }
}

/// The URL of a request for `path`.
pub(crate) fn join(base: Option<&BaseUrl>, path: &str, allow_absolute: bool) -> Result<Uri, Error> {
    let invalid = |why: String| Error::with_message(Kind::Builder, why, None);
    let looks_absolute = has_scheme(path);
    if looks_absolute || base.is_none() {
        let uri: Uri = path
            .parse()
            .map_err(|e| invalid(format!("{path:?} is not a URL: {e}")))?;
        if uri.scheme().is_none() || uri.authority().is_none() {
            return Err(invalid(format!(
                "{path:?} is not an absolute URL, and the client has no base URL"
            )));
        }
        match base {
            Some(base) if !allow_absolute && !base.same_origin(&uri) => {
                return Err(invalid(format!(
                    "absolute URL on another origin than the base URL: {}://{}; allow it with ClientBuilder::allow_absolute_urls",
                    uri.scheme_str().unwrap_or_default(),
                    uri.authority().map(|a| a.host()).unwrap_or_default()
                )));
            }
            _ => return Ok(uri),
        }
    }
    let base = base.expect("handled above");
    if path.starts_with("//") {
        return Err(invalid(format!("{path:?} names another host")));
    }
    let (path_part, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut out = String::with_capacity(base.path.len() + path.len() + 1);
    let plain = |p: &str| !p.contains("//") && p.split('/').all(|s| s != "." && s != "..");
    if plain(path_part) && plain(&base.path) {
        // Nothing to resolve: the base path (which ends with `/`) and the
        // path, as written. The general case below gives the same string.
        out.push_str(&base.path);
        out.push_str(path_part.trim_start_matches('/'));
    } else {
        resolve(&base.path, path_part, &mut out)
            .map_err(|()| invalid(format!("{path:?} climbs above the base URL")))?;
    }
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(base.scheme.clone());
    parts.authority = Some(base.authority.clone());
    parts.path_and_query = Some(
        http::uri::PathAndQuery::from_maybe_shared(bytes::Bytes::from(out))
            .map_err(|e| invalid(format!("{path:?} does not make a valid URL: {e}")))?,
    );
    Uri::from_parts(parts).map_err(|e| invalid(format!("{path:?} does not make a valid URL: {e}")))
}

/// Resolves `.`, `..` and empty segments of `path` against `base`, into
/// `out`; `Err` when `..` climbs above the base.
fn resolve(base: &str, path: &str, out: &mut String) -> Result<(), ()> {
    let mut segments: Vec<&str> = Vec::new();
    let floor = base.split('/').filter(|s| !s.is_empty()).count();
    for segment in base.split('/').filter(|s| !s.is_empty()) {
        segments.push(segment);
    }
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if segments.len() <= floor {
                    return Err(());
                }
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    // Keep a trailing slash the caller wrote ("items/").
    if out.is_empty() || path.is_empty() || path.ends_with('/') {
        out.push('/');
    }
    Ok(())
}

/// `reference` resolved against `base` (RFC 3986 §5.2: redirects'
/// `Location`, pagination's links), with characters outside ASCII
/// percent-encoded and any fragment left out.
pub(crate) fn resolve_reference(base: &Uri, reference: &str) -> Result<Uri, String> {
    let base = base.to_string();
    let base =
        IriAbsoluteStr::new(&base).map_err(|e| format!("the base is not an absolute URL ({e})"))?;
    let reference = IriReferenceStr::new(reference.trim()).map_err(|e| e.to_string())?;
    let resolved = reference.resolve_against(base).to_dedicated_string();
    let resolved = resolved.encode_to_uri().to_dedicated_string();
    let resolved = resolved.as_str();
    let resolved = resolved.split_once('#').map_or(resolved, |(url, _)| url);
    resolved
        .parse()
        .map_err(|e| format!("not a valid URI: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(base: &str, path: &str) -> Result<String, String> {
        let base = BaseUrl::parse(base).unwrap();
        join(Some(&base), path, false)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_plain_path_shortcut_agrees_with_resolving() {
        for base in ["/", "/v1/", "/v1/x/"] {
            for path in ["", "/", "users", "/users", "users/", "a/b", "a/b/", "/a/b"] {
                let mut resolved = String::new();
                resolve(base, path, &mut resolved).unwrap();
                let plain = format!("{base}{}", path.trim_start_matches('/'));
                assert_eq!(plain, resolved, "base {base:?}, path {path:?}");
            }
        }
    }

    #[test]
    fn no_double_or_lost_slashes() {
        for base in ["https://api.test/v1", "https://api.test/v1/"] {
            for path in ["users", "/users", "./users", "users/."] {
                assert_eq!(
                    j(base, path).unwrap(),
                    "https://api.test/v1/users",
                    "{base} + {path}"
                );
            }
            assert_eq!(
                j(base, "users/7?expand=a&b=2").unwrap(),
                "https://api.test/v1/users/7?expand=a&b=2"
            );
            assert_eq!(j(base, "users//7").unwrap(), "https://api.test/v1/users/7");
            assert_eq!(j(base, "users/").unwrap(), "https://api.test/v1/users/");
            assert_eq!(j(base, "").unwrap(), "https://api.test/v1/");
            assert_eq!(j(base, "a/../b").unwrap(), "https://api.test/v1/b");
        }
        assert_eq!(
            j("https://api.test", "users").unwrap(),
            "https://api.test/users"
        );
        assert_eq!(
            j("http://127.0.0.1:8080/", "/x").unwrap(),
            "http://127.0.0.1:8080/x"
        );
    }

    #[test]
    fn escapes_and_other_origins_are_refused() {
        assert!(
            j("https://api.test/v1", "../admin")
                .unwrap_err()
                .contains("climbs above")
        );
        assert!(j("https://api.test/v1", "//evil.test/x").is_err());
        let other = j("https://api.test/v1", "https://evil.test/steal").unwrap_err();
        assert!(other.contains("another origin"), "{other}");
        assert_eq!(
            j("https://api.test/v1", "https://api.test/v1/items?page=2").unwrap(),
            "https://api.test/v1/items?page=2"
        );
        let base = BaseUrl::parse("https://api.test/v1").unwrap();
        assert!(join(Some(&base), "https://other.test/x", true).is_ok());
        assert!(
            join(None, "users", false)
                .unwrap_err()
                .to_string()
                .contains("no base URL")
        );
        assert!(join(None, "https://api.test/x", false).is_ok());
    }

    #[test]
    fn a_url_in_the_query_does_not_make_a_path_absolute() {
        // Regression: any `://` in the text made it an absolute URL, so a
        // path carrying a redirect_uri failed to parse.
        assert_eq!(
            j(
                "https://api.test/v1",
                "auth?redirect_uri=https://app.test/cb"
            )
            .unwrap(),
            "https://api.test/v1/auth?redirect_uri=https://app.test/cb"
        );
        assert!(has_scheme("HTTPS://api.test") && has_scheme("git+ssh://h"));
        assert!(!has_scheme("/x?u=https://a") && !has_scheme("://x") && !has_scheme("1a://x"));
    }

    #[test]
    fn bad_base_urls_say_why() {
        for (base, why) in [
            ("api.test/v1", "scheme"),
            ("ftp://api.test", "http or https"),
            ("https://api.test/v1?x=1", "query"),
            ("https://me:pw@api.test", "credentials"),
            ("https://not a url", "not a URL"),
        ] {
            let err = BaseUrl::parse(base).unwrap_err();
            assert!(err.contains(why), "{base}: {err}");
        }
    }
}
