//! [`Response`]: what a [`Client`](crate::Client) call answered.

use std::fmt;

use bytes::Bytes;
#[cfg(feature = "cache")]
use girder_cache::CacheStatus;
use girder_core::{Body, CallRecord, Deadline, ServerHints};
use http::StatusCode;
use http::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::{Error, Kind};

/// A response. Its body is read with [`bytes`](Response::bytes),
/// [`text`](Response::text) or [`json`](Response::json), up to the
/// client's `max_response_bytes`.
pub struct Response {
    pub(crate) inner: http::Response<Body>,
    pub(crate) url: http::Uri,
    pub(crate) record: CallRecord,
    pub(crate) max_bytes: usize,
    /// The call's deadline, which bounds reading the body too.
    pub(crate) deadline: Option<Deadline>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.inner.status())
            .field("path", &self.url.path())
            .finish_non_exhaustive()
    }
}

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The URL the request was sent to.
    pub fn url(&self) -> &http::Uri {
        &self.url
    }

    /// The server's rate-limit and retry hints (`Retry-After`,
    /// `RateLimit`, `X-RateLimit-*`).
    pub fn rate_limit(&self) -> ServerHints {
        ServerHints::from_headers(self.inner.headers())
    }

    /// What each layer decided for this call.
    pub fn call_record(&self) -> &CallRecord {
        &self.record
    }

    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    /// What the cache did, when a cache is in the stack.
    pub fn cache_status(&self) -> Option<CacheStatus> {
        self.inner.extensions().get::<CacheStatus>().copied()
    }

    /// The response extensions.
    pub fn extensions(&self) -> &http::Extensions {
        self.inner.extensions()
    }

    /// The `http` response.
    pub fn into_http(self) -> http::Response<Body> {
        self.inner
    }

    /// The body, read no later than the call's deadline (the total
    /// timeout or [`RequestBuilder::timeout`]): a body that stalls past it
    /// fails with [`Kind::DeadlineExceeded`].
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let url = self.url;
        let collect = self.inner.into_body().collect_limited(self.max_bytes);
        let collected = match self.deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline.instant(), collect).await {
                Ok(collected) => collected,
                Err(_) => Err(girder_core::DeadlineExceeded::new().into()),
            },
            None => collect.await,
        };
        collected.map_err(|e| Error::from_source(e).with_url(&url))
    }

    /// The body as UTF-8 text.
    pub async fn text(self) -> Result<String, Error> {
        let url = self.url.clone();
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            Error::with_message(Kind::Decode, "the body is not UTF-8", Some(Box::new(e)))
                .with_url(&url)
        })
    }

    /// The body decoded from JSON.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        let url = self.url.clone();
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::with_message(
                Kind::Decode,
                format!("the body is not the JSON expected: {e}"),
                Some(Box::new(e)),
            )
            .with_url(&url)
        })
    }

    /// This response if its status is not an error (below 400); otherwise
    /// an [`Error`] with the status, headers, a snippet of the body and the
    /// server's message.
    pub async fn error_for_status(self) -> Result<Response, Error> {
        let status = self.inner.status();
        if !(status.is_client_error() || status.is_server_error()) {
            return Ok(self);
        }
        let url = self.url.clone();
        let (parts, body) = self.inner.into_parts();
        let snippet = body.collect_limited(crate::error::BODY_SNIPPET_BYTES * 4);
        // The snippet is read no later than the call's deadline either.
        let body = match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.instant(), snippet)
                .await
                .unwrap_or_else(|_| Ok(Bytes::new())),
            None => snippet.await,
        }
        .unwrap_or_default();
        Err(Error::from_status(status, parts.headers, body).with_url(&url))
    }
}
