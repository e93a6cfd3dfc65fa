//! What a URL and header fields look like once credentials are hidden.
//!
//! Each view is a `Display` wrapper, so nothing is formatted unless a
//! subscriber records the field.

use std::borrow::Cow;
use std::fmt::{self, Write};

use girder_core::secrets::SecretValues;
use http::{HeaderMap, Uri, header};

use crate::config::LoggingConfig;

/// How a redacted header value or body field is printed.
pub(crate) const REDACTED: &str = "[redacted]";
/// How redacted user info and query values are printed in `url.full`, as
/// OpenTelemetry's semantic conventions ask.
const URL_REDACTED: &str = "REDACTED";

/// `url.full`: the absolute URL with user info and sensitive query values
/// replaced by `REDACTED`.
pub(crate) struct FullUrl<'a> {
    pub(crate) uri: &'a Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) config: &'a LoggingConfig,
}

impl fmt::Display for FullUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        masked(f, &self.config.secrets, |out| self.write(out))
    }
}

impl FullUrl<'_> {
    fn write(&self, f: &mut dyn Write) -> fmt::Result {
        let uri = self.uri;
        if let Some(authority) = uri.authority() {
            let scheme = uri.scheme_str().unwrap_or("http");
            write!(f, "{scheme}://")?;
            if let Some((userinfo, _)) = authority.as_str().rsplit_once('@') {
                if userinfo.contains(':') {
                    write!(f, "{URL_REDACTED}:{URL_REDACTED}@")?;
                } else {
                    write!(f, "{URL_REDACTED}@")?;
                }
            }
            f.write_str(authority.host())?;
            if let Some(port) = authority.port() {
                write!(f, ":{port}")?;
            }
        } else if let Some(host) = host_header(self.headers) {
            // An origin-form request with a Host header: still an absolute
            // URL, as the attribute requires.
            write!(f, "http://{host}")?;
        }
        f.write_str(uri.path())?;
        if let Some(query) = uri.query() {
            f.write_char('?')?;
            write_query(f, query, self.config)?;
        }
        Ok(())
    }
}

/// A query string with the values of sensitive parameters redacted.
fn write_query(f: &mut dyn Write, query: &str, config: &LoggingConfig) -> fmt::Result {
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            f.write_char('&')?;
        }
        match pair.split_once('=') {
            Some((name, _)) if config.is_redacted_query(&percent_decode(name)) => {
                write!(f, "{name}={URL_REDACTED}")?;
            }
            _ => f.write_str(pair)?,
        }
    }
    Ok(())
}

/// Writes what `write` writes, with every registered credential value
/// masked. Straight through when nothing is registered (no layer below
/// sends credentials, or nothing is logged at `DEBUG`); else through one
/// buffer, so that a value is masked even where it spans two writes.
pub(crate) fn masked(
    f: &mut fmt::Formatter<'_>,
    secrets: &SecretValues,
    write: impl FnOnce(&mut dyn Write) -> fmt::Result,
) -> fmt::Result {
    if secrets.is_empty() {
        return write(f);
    }
    let mut text = String::new();
    write(&mut text)?;
    f.write_str(&secrets.mask(&text))
}

/// Any `Display` with the registered credential values masked: for error
/// messages, which may quote a URL or a server's answer.
pub(crate) struct Masked<'a, T> {
    pub(crate) inner: T,
    pub(crate) secrets: &'a SecretValues,
}

impl<T: fmt::Display> fmt::Display for Masked<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        masked(f, self.secrets, |out| write!(out, "{}", self.inner))
    }
}

/// `server.address`: the host of the URI, or else of the `Host` header.
pub(crate) fn server_address<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    match uri.host() {
        Some(host) => Some(host),
        None => {
            let host = host_header(headers)?;
            Some(match host.rsplit_once(':') {
                Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
                _ => host,
            })
        }
    }
}

/// `server.port`: the explicit port, or the scheme's.
pub(crate) fn server_port(uri: &Uri, headers: &HeaderMap) -> Option<u16> {
    if let Some(port) = uri.port_u16() {
        return Some(port);
    }
    if uri.authority().is_none() {
        let (_, port) = host_header(headers)?.rsplit_once(':')?;
        return port.parse().ok();
    }
    match uri.scheme_str() {
        Some("https") | Some("wss") => Some(443),
        Some("http") | Some("ws") | None => Some(80),
        Some(_) => None,
    }
}

fn host_header(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    // User info has no place in a Host header; drop anything that has it.
    (!host.contains('@') && !host.is_empty()).then_some(host)
}

/// Header fields as `name: value; name: value`, credentials redacted.
pub(crate) struct Headers<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) config: &'a LoggingConfig,
}

impl fmt::Display for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        masked(f, &self.config.secrets, |out| self.write(out))
    }
}

impl Headers<'_> {
    fn write(&self, f: &mut dyn Write) -> fmt::Result {
        for (i, (name, value)) in self.headers.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{name}: ")?;
            // A value marked sensitive (as auth and signing mark theirs) is
            // a credential whatever its name.
            if value.is_sensitive() || self.config.is_redacted_header(name) {
                f.write_str(REDACTED)?;
            } else {
                match value.to_str() {
                    Ok(text) => f.write_str(text)?,
                    Err(_) => write!(f, "[{} bytes, not text]", value.len())?,
                }
            }
        }
        Ok(())
    }
}

/// `%XX` and `+` decoded, for comparing names; invalid escapes are kept.
/// Borrows `text` when there is nothing to decode (the common case).
pub(crate) fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(uri: &str) -> String {
        let config = LoggingConfig::default();
        let uri: Uri = uri.parse().unwrap();
        FullUrl {
            uri: &uri,
            headers: &HeaderMap::new(),
            config: &config,
        }
        .to_string()
    }

    #[test]
    fn user_info_and_sensitive_query_values_are_redacted() {
        assert_eq!(
            full("https://alice:hunter2@api.test:8443/v1/items?page=2&api_key=k3y&Signature=abc"),
            "https://REDACTED:REDACTED@api.test:8443/v1/items?page=2&api_key=REDACTED&Signature=REDACTED"
        );
        assert_eq!(full("http://bob@api.test/"), "http://REDACTED@api.test/");
        assert_eq!(
            full("https://api.test/x?access%5Ftoken=t0k&q=rust"),
            "https://api.test/x?access%5Ftoken=REDACTED&q=rust"
        );
        assert_eq!(
            full("https://api.test/x?flag&&q="),
            "https://api.test/x?flag&&q="
        );
    }

    #[test]
    fn origin_form_requests_take_the_host_header() {
        let config = LoggingConfig::default();
        let uri: Uri = "/items?token=x".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "api.test:8080".parse().unwrap());
        let url = FullUrl {
            uri: &uri,
            headers: &headers,
            config: &config,
        };
        assert_eq!(url.to_string(), "http://api.test:8080/items?token=REDACTED");
        assert_eq!(server_address(&uri, &headers), Some("api.test"));
        assert_eq!(server_port(&uri, &headers), Some(8080));
    }

    #[test]
    fn ports_default_by_scheme() {
        let none = HeaderMap::new();
        let port = |u: &str| server_port(&u.parse().unwrap(), &none);
        assert_eq!(port("https://a.test/"), Some(443));
        assert_eq!(port("http://a.test/"), Some(80));
        assert_eq!(port("http://a.test:81/"), Some(81));
        assert_eq!(
            server_address(&"https://[::1]:9/".parse().unwrap(), &none),
            Some("[::1]")
        );
    }

    #[test]
    fn headers_print_redacted_and_binary_values() {
        let config = LoggingConfig::default();
        let mut headers = HeaderMap::new();
        headers.insert("accept", "application/json".parse().unwrap());
        headers.insert("authorization", "Bearer s3cret".parse().unwrap());
        headers.insert(
            "x-blob",
            http::HeaderValue::from_bytes(&[0xff, 0xfe]).unwrap(),
        );
        let text = Headers {
            headers: &headers,
            config: &config,
        }
        .to_string();
        assert_eq!(
            text,
            "accept: application/json; authorization: [redacted]; x-blob: [2 bytes, not text]"
        );
    }

    #[test]
    fn sensitive_and_registered_values_are_hidden_whatever_the_name() {
        let config = LoggingConfig::default();
        config.secrets.register("echoed-t0ken");
        let mut headers = HeaderMap::new();
        let mut marked = http::HeaderValue::from_static("tenant-key-1");
        marked.set_sensitive(true);
        headers.insert("x-tenant", marked);
        headers.insert("x-echo", "got echoed-t0ken".parse().unwrap());
        let text = Headers {
            headers: &headers,
            config: &config,
        }
        .to_string();
        assert_eq!(text, "x-tenant: [redacted]; x-echo: got [REDACTED]");
        assert_eq!(
            full("https://api.test/x?q=1"),
            "https://api.test/x?q=1",
            "nothing registered: written straight through"
        );
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%5Fb+c"), "a_b c");
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
