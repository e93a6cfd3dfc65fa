//! Covered components and the signature base (RFC 9421 §2).

use girder_core::{SigningError, SigningErrorKind};
use http::HeaderName;
use http::request::Parts;

use super::SCHEME;
use crate::encode::{Sink, percent_decode};
use crate::error::InvalidSigningConfig;

/// A covered component (RFC 9421 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Component {
    /// `@method`: the method, as sent (`POST`).
    Method,
    /// `@target-uri`: the absolute URI as sent (not normalised), without
    /// any userinfo.
    TargetUri,
    /// `@authority`: host, and port if not the scheme's default, lower case
    /// (from the URI, else the `Host` header); never any userinfo.
    Authority,
    /// `@scheme`: `http` or `https`.
    Scheme,
    /// `@request-target`: path and query as in the request line.
    RequestTarget,
    /// `@path`: the path, `/` when empty.
    Path,
    /// `@query`: `?` and the query, `?` alone when there is none.
    Query,
    /// `@query-param;name="…"`: one query parameter's value, by name. A
    /// parameter that occurs more than once cannot be signed
    /// ([`SigningErrorKind::AmbiguousComponent`], RFC 9421 §2.2.8).
    QueryParam(String),
    /// A header field, by (lower-case) name.
    Field(HeaderName),
}

impl Component {
    /// Parses a component identifier as written in `Signature-Input`:
    /// `"@method"`, `"content-type"`, `"@query-param";name="Pet"`; the
    /// quotes are optional (`@path`). Field parameters other than
    /// `@query-param`'s `name` (`sf`, `key`, `bs`, `req`, `tr`) are not
    /// supported and are refused.
    pub fn parse(identifier: &str) -> Result<Component, InvalidSigningConfig> {
        let bad =
            || InvalidSigningConfig::new("components", "has an identifier that cannot be read");
        let (name, params) = match identifier.strip_prefix('"') {
            Some(rest) => {
                let end = rest.find('"').ok_or_else(bad)?;
                (&rest[..end], &rest[end + 1..])
            }
            None => match identifier.find(';') {
                Some(i) => (&identifier[..i], &identifier[i..]),
                None => (identifier, ""),
            },
        };
        let component = match name {
            "@method" => Component::Method,
            "@target-uri" => Component::TargetUri,
            "@authority" => Component::Authority,
            "@scheme" => Component::Scheme,
            "@request-target" => Component::RequestTarget,
            "@path" => Component::Path,
            "@query" => Component::Query,
            "@query-param" => {
                let value = params
                    .strip_prefix(";name=\"")
                    .and_then(|v| v.strip_suffix('"'))
                    .filter(|v| !v.contains('"') && !v.contains('\\'))
                    .ok_or(InvalidSigningConfig::new(
                        "components",
                        "has @query-param without a name parameter",
                    ))?;
                return Ok(Component::QueryParam(value.to_owned()));
            }
            name if name.starts_with('@') => {
                return Err(InvalidSigningConfig::new(
                    "components",
                    "has an unknown derived component",
                ));
            }
            name => Component::Field(HeaderName::try_from(name).map_err(|_| bad())?),
        };
        if !params.is_empty() {
            return Err(InvalidSigningConfig::new(
                "components",
                "has component parameters this signer does not support",
            ));
        }
        Ok(component)
    }

    pub(crate) fn write_identifier(&self, out: &mut impl Sink) {
        let name = match self {
            Component::Method => "@method",
            Component::TargetUri => "@target-uri",
            Component::Authority => "@authority",
            Component::Scheme => "@scheme",
            Component::RequestTarget => "@request-target",
            Component::Path => "@path",
            Component::Query => "@query",
            Component::QueryParam(name) => {
                out.put("\"@query-param\";name=\"");
                out.put(name);
                out.put("\"");
                return;
            }
            Component::Field(name) => name.as_str(),
        };
        out.put("\"");
        out.put(name);
        out.put("\"");
    }
}

/// The covered components of one signature: the configured ones, and
/// `content-digest` after them when it is sent and not listed.
#[derive(Clone, Copy)]
pub(crate) struct Covered<'a> {
    pub(crate) listed: &'a [Component],
    pub(crate) extra: Option<&'a Component>,
}

impl<'a> Covered<'a> {
    pub(crate) fn iter(self) -> impl Iterator<Item = &'a Component> {
        self.listed.iter().chain(self.extra)
    }
}

/// The signature base (RFC 9421 §2.5) of the request `parts` for
/// `components`, ending in the `@signature-params` line whose value is
/// `signature_params` (see [`SignatureParams::serialize`](super::SignatureParams::serialize)). Lines are
/// joined by `\n`, with none after the last.
///
/// Public so that a verifier can rebuild the base from a received
/// `Signature-Input`.
pub fn signature_base(
    parts: &Parts,
    components: &[Component],
    signature_params: &str,
) -> Result<String, SigningError> {
    let mut base = String::with_capacity(256);
    let covered = Covered {
        listed: components,
        extra: None,
    };
    write_base(&mut base, parts, covered, signature_params)?;
    Ok(base)
}

/// [`signature_base`] into `out`, piece by piece (a MAC takes it without
/// the text ever being built).
pub(crate) fn write_base(
    out: &mut impl Sink,
    parts: &Parts,
    components: Covered<'_>,
    signature_params: &str,
) -> Result<(), SigningError> {
    for component in components.iter() {
        component.write_identifier(out);
        out.put(": ");
        write_value(out, parts, component)?;
        out.put("\n");
    }
    out.put("\"@signature-params\": ");
    out.put(signature_params);
    Ok(())
}

fn missing(what: impl Into<std::borrow::Cow<'static, str>>) -> SigningError {
    SigningError::new(SigningErrorKind::MissingComponent, SCHEME).with_detail(what)
}

/// The scheme's default port, for `@authority`'s normalisation.
fn default_port(parts: &Parts) -> Option<u16> {
    match parts.uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => Some(443),
        Some(s) if s.eq_ignore_ascii_case("http") => Some(80),
        _ => None,
    }
}

/// `@authority` (§2.2.3): host and port, lower case, the default port
/// left out (RFC 9110 §4.2.3), and never the userinfo (`user:pw@`), which
/// is not part of the authority a server sees.
fn write_authority(out: &mut impl Sink, parts: &Parts) -> Result<(), SigningError> {
    if let Some(authority) = parts.uri.authority() {
        out.put_lower(authority.host());
        if let Some(port) = authority.port()
            && Some(port.as_u16()) != default_port(parts)
        {
            out.put(":");
            out.put(port.as_str());
        }
        return Ok(());
    }
    match parts.headers.get(http::header::HOST).map(|h| h.to_str()) {
        Some(Ok(host)) => {
            out.put_lower(host.trim());
            Ok(())
        }
        Some(Err(_)) => {
            Err(SigningError::new(SigningErrorKind::InvalidValue, SCHEME).with_detail("host"))
        }
        None => Err(missing("@authority")),
    }
}

/// The authority as it is written in the target URI (§2.2.2: not
/// normalised), without the userinfo (§2.2.3 keeps it out of any
/// component; it never goes on the wire).
fn write_authority_as_sent(out: &mut impl Sink, parts: &Parts) -> Result<(), SigningError> {
    if let Some(authority) = parts.uri.authority() {
        let text = authority.as_str();
        out.put(text.rsplit_once('@').map_or(text, |(_, host)| host));
        return Ok(());
    }
    match parts.headers.get(http::header::HOST).map(|h| h.to_str()) {
        Some(Ok(host)) => {
            out.put(host.trim());
            Ok(())
        }
        Some(Err(_)) => {
            Err(SigningError::new(SigningErrorKind::InvalidValue, SCHEME).with_detail("host"))
        }
        None => Err(missing("@target-uri")),
    }
}

fn write_value(
    out: &mut impl Sink,
    parts: &Parts,
    component: &Component,
) -> Result<(), SigningError> {
    let path = match parts.uri.path() {
        "" => "/",
        path => path,
    };
    match component {
        Component::Method => out.put(parts.method.as_str()),
        Component::Authority => write_authority(out, parts)?,
        Component::Scheme => {
            let scheme = parts.uri.scheme_str().ok_or_else(|| missing("@scheme"))?;
            out.put_lower(scheme);
        }
        Component::TargetUri => {
            let scheme = parts
                .uri
                .scheme_str()
                .ok_or_else(|| missing("@target-uri"))?;
            // The target URI as sent (§2.2.2): scheme, host and port as
            // written; only `@authority` is normalised.
            out.put(scheme);
            out.put("://");
            write_authority_as_sent(out, parts)?;
            out.put(path);
            if let Some(query) = parts.uri.query() {
                out.put("?");
                out.put(query);
            }
        }
        Component::RequestTarget => {
            out.put(path);
            if let Some(query) = parts.uri.query() {
                out.put("?");
                out.put(query);
            }
        }
        Component::Path => out.put(path),
        Component::Query => {
            out.put("?");
            out.put(parts.uri.query().unwrap_or(""));
        }
        Component::QueryParam(name) => {
            let query = parts.uri.query().unwrap_or("");
            let wanted = form_decode(name);
            let mut values = query.split('&').filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(k) == wanted).then_some(v)
            });
            let value = values
                .next()
                .ok_or_else(|| missing(format!("@query-param {name}")))?;
            // §2.2.8: a parameter named more than once cannot be covered
            // by name; signing the first value would let the others be
            // changed unseen.
            if values.next().is_some() {
                return Err(
                    SigningError::new(SigningErrorKind::AmbiguousComponent, SCHEME).with_detail(
                        format!("@query-param {name} occurs more than once in the query"),
                    ),
                );
            }
            form_encode(out, &form_decode(value));
        }
        Component::Field(name) => {
            let mut values = parts.headers.get_all(name).iter().peekable();
            if values.peek().is_none() {
                return Err(missing(format!("header {name}")));
            }
            for (i, value) in values.enumerate() {
                if i > 0 {
                    out.put(", ");
                }
                let text = value.to_str().map_err(|_| {
                    SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
                        .with_detail(format!("header {name} is not visible ASCII"))
                })?;
                out.put(text.trim());
            }
        }
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space).
fn form_decode(text: &str) -> Vec<u8> {
    percent_decode(&text.replace('+', " "))
}

/// Percent-encoding with the WHATWG `application/x-www-form-urlencoded`
/// set, spaces as `%20` (RFC 9421 §2.2.8).
fn form_encode(out: &mut impl Sink, bytes: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
            out.put(std::str::from_utf8(&[b]).expect("ASCII"));
        } else {
            out.put_escaped_byte(b);
        }
    }
}
