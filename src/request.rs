//! [`RequestBuilder`]: a request being built for a [`Client`].

use std::fmt;
use std::time::Duration;

#[cfg(feature = "cache")]
use girder_cache::CacheMode;
use girder_core::{Body, Deadline, IDEMPOTENCY_KEY};
use http::Request;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
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

    /// Sets a header (replacing the same name, default headers included).
    pub fn header(self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.with(|request| {
            let name_text = name.as_ref();
            let name = HeaderName::try_from(name_text).map_err(|e| {
                Error::with_message(
                    Kind::Builder,
                    format!("invalid header name {name_text:?}"),
                    Some(Box::new(e)),
                )
            })?;
            // The value may be a secret: not in the message.
            let value = HeaderValue::try_from(value.as_ref()).map_err(|e| {
                Error::with_message(
                    Kind::Builder,
                    format!("invalid value for header {name}"),
                    Some(Box::new(e)),
                )
            })?;
            request.headers_mut().insert(name, value);
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
