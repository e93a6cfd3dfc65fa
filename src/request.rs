//! [`RequestBuilder`]: a request being built for a [`Client`].

use std::fmt;
use std::time::Duration;

#[cfg(feature = "cache")]
use girder_cache::CacheMode;
use girder_core::{Body, Deadline, IDEMPOTENCY_KEY, ReplayBody};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Version};
use serde::Serialize;
use tokio::time::Instant;

use crate::client::Client;
use crate::error::{Error, Kind};
use crate::response::Response;

/// A request being built; [`send`](RequestBuilder::send) sends it. Errors
/// made while building (a bad header, a body that will not serialise)
/// come out of `send`.
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    pub(crate) client: Client,
    pub(crate) request: Result<Request<Body>, Error>,
    pub(crate) timeout: Option<Duration>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RequestBuilder");
        if let Ok(request) = &self.request {
            d.field("method", request.method())
                .field("path", &request.uri().path());
        }
        d.finish_non_exhaustive()
    }
}

impl RequestBuilder {
    fn with(mut self, f: impl FnOnce(&mut Request<Body>) -> Result<(), Error>) -> Self {
        if let Ok(request) = &mut self.request
            && let Err(error) = f(request)
        {
            self.request = Err(error);
        }
        self
    }

    /// Adds query parameters from anything serde serialises as a map or a
    /// sequence of pairs.
    pub fn query<T: Serialize + ?Sized>(self, query: &T) -> Self {
        self.with(|request| {
            let encoded = serde_urlencoded::to_string(query).map_err(|e| {
                Error::with_message(
                    Kind::Builder,
                    format!("query does not serialise: {e}"),
                    Some(Box::new(e)),
                )
            })?;
            if encoded.is_empty() {
                return Ok(());
            }
            let uri = request.uri();
            let path_and_query = match uri.query() {
                Some(existing) if !existing.is_empty() => {
                    format!("{}?{existing}&{encoded}", uri.path())
                }
                _ => format!("{}?{encoded}", uri.path()),
            };
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(path_and_query.parse().map_err(|e| {
                Error::with_message(
                    Kind::Builder,
                    format!("query makes an invalid URL: {e}"),
                    None,
                )
            })?);
            *request.uri_mut() = http::Uri::from_parts(parts).map_err(|e| {
                Error::with_message(
                    Kind::Builder,
                    format!("query makes an invalid URL: {e}"),
                    None,
                )
            })?;
            Ok(())
        })
    }

    /// Sets a header, replacing any value of the same name (default
    /// headers included). Name and value convert as with `http`'s own
    /// builders, as reqwest's do: `&str`, `String`, [`HeaderName`] /
    /// [`HeaderValue`], bytes, numbers. A name or value that does not
    /// convert is a [`Kind::Builder`] error from [`send`](Self::send), which
    /// never quotes the value (it may be a secret).
    ///
    /// Unlike reqwest's, which appends, a second call with the same name
    /// replaces the first; [`headers`](Self::headers) sets several values
    /// of one name.
    ///
    /// ```
    /// # fn main() -> Result<(), girder::Error> {
    /// use http::header::ACCEPT;
    ///
    /// let client = girder::Client::new();
    /// let request = client
    ///     .get("https://api.example.com/items")
    ///     .header(ACCEPT, "application/vnd.api+json")
    ///     .header("x-page-size", 50)
    ///     .build()?;
    /// assert_eq!(request.headers()["x-page-size"], "50");
    ///
    /// let bad = client.get("https://api.example.com/").header("bad name", "x").build();
    /// assert_eq!(bad.unwrap_err().kind(), girder::Kind::Builder);
    /// # Ok(())
    /// # }
    /// ```
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        self.with(|request| {
            let name = name.try_into().map_err(|e| {
                let e: http::Error = e.into();
                Error::with_message(Kind::Builder, "invalid header name", Some(Box::new(e)))
            })?;
            // The value may be a secret: not in the message.
            let value = value.try_into().map_err(|e| {
                let e: http::Error = e.into();
                Error::with_message(
                    Kind::Builder,
                    format!("invalid value for header {name} (not shown)"),
                    Some(Box::new(e)),
                )
            })?;
            request.headers_mut().insert(name, value);
            Ok(())
        })
    }

    /// Sets every header of `headers`: each name's values replace the
    /// request's values of that name (default headers included), as
    /// reqwest's `headers` does; other names are kept.
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.with(|request| {
            let target = request.headers_mut();
            // `HeaderMap::into_iter` names each name once, before its
            // first value; later values of it come with `None`.
            let mut current: Option<HeaderName> = None;
            for (name, value) in headers {
                match name {
                    Some(name) => {
                        target.insert(name.clone(), value);
                        current = Some(name);
                    }
                    None => {
                        if let Some(name) = &current {
                            target.append(name.clone(), value);
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// `Authorization: Bearer {token}`, marked sensitive: logs never print
    /// it, HTTP/2 never indexes it, and a redirect that leaves the origin
    /// drops it. It goes to this request's URL whatever its origin (you
    /// chose it); for a token the client keeps fresh and confines to its
    /// origins, use [`ClientBuilder::auth`](crate::ClientBuilder::auth).
    ///
    /// ```
    /// # fn main() -> Result<(), girder::Error> {
    /// let request = girder::Client::new()
    ///     .get("https://api.example.com/me")
    ///     .bearer_auth("s3cr3t-token")
    ///     .build()?;
    /// let value = &request.headers()["authorization"];
    /// assert!(value.is_sensitive());
    /// assert_eq!(format!("{value:?}"), "Sensitive");
    /// # Ok(())
    /// # }
    /// ```
    pub fn bearer_auth<T: fmt::Display>(self, token: T) -> Self {
        self.sensitive_authorization(format!("Bearer {token}"), "bearer token")
    }

    /// `Authorization: Basic …` (RFC 7617) for `username` and `password`,
    /// marked sensitive as [`bearer_auth`](Self::bearer_auth)'s is. `None`
    /// sends `username:` with an empty password, as reqwest does.
    pub fn basic_auth<U: fmt::Display, P: fmt::Display>(
        self,
        username: U,
        password: Option<P>,
    ) -> Self {
        let pair = match password {
            Some(password) => format!("{username}:{password}"),
            None => format!("{username}:"),
        };
        self.sensitive_authorization(
            format!("Basic {}", base64(pair.as_bytes())),
            "basic credentials",
        )
    }

    fn sensitive_authorization(self, value: String, what: &'static str) -> Self {
        self.with(|request| {
            let mut value = HeaderValue::try_from(value).map_err(|e| {
                Error::with_message(
                    Kind::Builder,
                    format!("invalid {what} (not shown)"),
                    Some(Box::new(e)),
                )
            })?;
            value.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, value);
            Ok(())
        })
    }

    /// A `multipart/form-data` body (feature `multipart`), with its
    /// `Content-Type` and, when every part's length is known, its
    /// `Content-Length`; see [`crate::multipart`]. A form with a streamed
    /// part (a file) is sent once and never retried.
    #[cfg(feature = "multipart")]
    #[cfg_attr(docsrs, doc(cfg(feature = "multipart")))]
    pub fn multipart(self, form: crate::multipart::Form) -> Self {
        self.with(|request| {
            let content_type = form.content_type();
            let (body, length) = form.into_body();
            let headers = request.headers_mut();
            headers.insert(CONTENT_TYPE, content_type);
            if let Some(length) = length {
                headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
            }
            *request.body_mut() = body;
            Ok(())
        })
    }

    /// The HTTP version of the request. HTTP/1.0 and HTTP/1.1 are sent as
    /// asked; an HTTP/2 request needs an HTTP/2 connection (feature
    /// `http2`, over TLS), and fails otherwise, as reqwest's does.
    ///
    /// Default: HTTP/1.1, or HTTP/2 where TLS's ALPN chooses it.
    pub fn version(self, version: Version) -> Self {
        self.with(|request| {
            *request.version_mut() = version;
            Ok(())
        })
    }

    /// A JSON body (and `Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Self {
        self.with(|request| {
            let bytes = serde_json::to_vec(body).map_err(|e| {
                Error::with_message(
                    Kind::Builder,
                    format!("body does not serialise as JSON: {e}"),
                    Some(Box::new(e)),
                )
            })?;
            request
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            *request.body_mut() = Body::from(bytes);
            Ok(())
        })
    }

    /// A form body (`application/x-www-form-urlencoded`).
    pub fn form<T: Serialize + ?Sized>(self, body: &T) -> Self {
        self.with(|request| {
            let text = serde_urlencoded::to_string(body).map_err(|e| {
                Error::with_message(
                    Kind::Builder,
                    format!("form does not serialise: {e}"),
                    Some(Box::new(e)),
                )
            })?;
            request.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            *request.body_mut() = Body::from(text);
            Ok(())
        })
    }

    /// A body of bytes (or any [`Body`], streamed bodies included: those
    /// are sent once and never retried).
    pub fn body(self, body: impl Into<Body>) -> Self {
        self.with(|request| {
            *request.body_mut() = body.into();
            Ok(())
        })
    }

    /// The total time this call may take, replacing the client's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The instant by which this call must end.
    pub fn deadline(self, at: Instant) -> Self {
        self.with(|request| {
            Deadline::at(at).apply(request);
            Ok(())
        })
    }

    /// An `Idempotency-Key`, which also makes the call safe to retry.
    pub fn idempotency_key(self, key: impl AsRef<str>) -> Self {
        self.with(|request| {
            let value = HeaderValue::try_from(key.as_ref()).map_err(|e| {
                Error::with_message(Kind::Builder, "invalid idempotency key", Some(Box::new(e)))
            })?;
            request.headers_mut().insert(IDEMPOTENCY_KEY, value);
            Ok(())
        })
    }

    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    /// How this call uses the cache.
    pub fn cache_mode(self, mode: CacheMode) -> Self {
        self.with(|request| {
            mode.apply(request);
            Ok(())
        })
    }

    /// A request extension, for layers that read one.
    pub fn extension<T: Clone + Send + Sync + 'static>(self, value: T) -> Self {
        self.with(|request| {
            request.extensions_mut().insert(value);
            Ok(())
        })
    }

    /// A copy of this request builder, to send the same request twice;
    /// `None` when its body is a stream (which can be read only once) or
    /// when building it already failed.
    ///
    /// ```
    /// # fn main() -> Result<(), girder::Error> {
    /// let client = girder::Client::new();
    /// let request = client.post("https://api.example.com/items").json(&[1, 2]);
    /// let copy = request.try_clone().expect("a buffered body");
    /// assert_eq!(copy.build()?.body().as_bytes(), request.build()?.body().as_bytes());
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_clone(&self) -> Option<RequestBuilder> {
        let request = self.request.as_ref().ok()?;
        let mut copy = Request::new(request.body().try_replay()?);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Some(RequestBuilder {
            client: self.client.clone(),
            request: Ok(copy),
            timeout: self.timeout,
        })
    }

    /// The request as it would be sent (before default headers).
    pub fn build(self) -> Result<Request<Body>, Error> {
        let timeout = self.timeout;
        self.request.map(|mut request| {
            if let Some(timeout) = timeout {
                Deadline::after(timeout).apply(&mut request);
            }
            request
        })
    }

    /// Pages through a list this request fetches the first page of: see
    /// [`crate::paginate`]. Each page is sent through the whole stack with
    /// this request's headers, extensions and (buffered) body, and with
    /// its own [`timeout`](RequestBuilder::timeout) when one is set.
    pub fn paginate(self) -> crate::paginate::Paginate {
        crate::paginate::Paginate::new(self.client, self.request, self.timeout)
    }

    /// Sends the request. Error statuses are responses here; see
    /// [`Response::error_for_status`].
    pub async fn send(self) -> Result<Response, Error> {
        let client = self.client.clone();
        let request = self.build()?;
        client.execute(request).await
    }
}

/// Standard base64 with padding (RFC 4648 §4), for `basic_auth`: a dozen
/// lines rather than a crate that lean builds would not otherwise have.
fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(input.as_bytes()), expected, "{input}");
        }
    }
}
