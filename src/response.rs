//! [`Response`]: what a [`Client`](crate::Client) call answered, and
//! [`BytesStream`], its body as a stream.

use std::fmt;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
#[cfg(feature = "cache")]
use girder_cache::CacheStatus;
use girder_core::{Body, CallRecord, Deadline, DeadlineExceeded, ServerHints};
use http::header::HeaderMap;
use http::{StatusCode, Version};
use http_body::Body as _;
use hyper_util::client::legacy::connect::HttpInfo;
use serde::de::DeserializeOwned;

use crate::error::{Error, Kind};

/// A response. Its body is read whole with [`bytes`](Response::bytes),
/// [`text`](Response::text) or [`json`](Response::json), up to the
/// client's [`max_response_bytes`](crate::ClientBuilder::max_response_bytes),
/// or piece by piece with [`chunk`](Response::chunk) and
/// [`bytes_stream`](Response::bytes_stream), without that cap. Every read
/// ends by the call's deadline (the client's
/// [`total_timeout`](crate::ClientBuilder::total_timeout) or the request's
/// [`timeout`](crate::RequestBuilder::timeout)), as the call itself does.
pub struct Response {
    pub(crate) inner: http::Response<Body>,
    /// The URL of the last hop, after redirects.
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

    /// The HTTP version of the response.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The final URL: the one the response came from, after redirects.
    /// A cache hit answers the URL that was asked for.
    pub fn url(&self) -> &http::Uri {
        &self.url
    }

    /// The address of the server the response came from, when the
    /// transport knows it: girder's [`Transport`](crate::Transport) does
    /// (the peer of the TCP connection, a proxy's where one is used);
    /// a cache hit or a transport of your own may not.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner
            .extensions()
            .get::<HttpInfo>()
            .map(HttpInfo::remote_addr)
    }

    /// The body's length when it is known in advance (a `Content-Length`
    /// the server sent and no decompression changed), as reqwest's.
    pub fn content_length(&self) -> Option<u64> {
        self.inner.body().size_hint().exact()
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

    /// An error of this call, with its URL and record.
    fn error(&self, error: Error) -> Error {
        error.with_url(&self.url).with_record(&self.record)
    }

    /// The body, read no later than the call's deadline: a body that stalls
    /// past it fails with [`Kind::DeadlineExceeded`], one larger than
    /// [`max_response_bytes`](crate::ClientBuilder::max_response_bytes)
    /// fails without being read further.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let Response {
            inner,
            url,
            record,
            max_bytes,
            deadline,
        } = self;
        let collect = inner.into_body().collect_limited(max_bytes);
        let collected = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline.instant(), collect).await {
                Ok(collected) => collected,
                Err(_) => Err(DeadlineExceeded::new().into()),
            },
            None => collect.await,
        };
        collected.map_err(|e| Error::from_source(e).with_url(&url).with_record(&record))
    }

    /// The body as UTF-8 text.
    pub async fn text(self) -> Result<String, Error> {
        let (url, record) = (self.url.clone(), self.record.clone());
        let bytes = self.bytes().await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            Error::with_message(Kind::Decode, "the body is not UTF-8", Some(Box::new(e)))
                .with_url(&url)
                .with_record(&record)
        })
    }

    /// The body decoded from JSON.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        let (url, record) = (self.url.clone(), self.record.clone());
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::with_message(
                Kind::Decode,
                format!("the body is not the JSON expected: {e}"),
                Some(Box::new(e)),
            )
            .with_url(&url)
            .with_record(&record)
        })
    }

    /// The next piece of the body as it arrives, `None` at its end: a
    /// download of any size in constant memory, with no
    /// [`max_response_bytes`](crate::ClientBuilder::max_response_bytes)
    /// cap. Each wait ends by the call's deadline
    /// ([`Kind::DeadlineExceeded`]).
    ///
    /// ```
    /// # use girder_test::{Reply, TestServer};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), girder::Error> {
    /// # let server = TestServer::start().await;
    /// # server.route("/file", Reply::ok().body("hello, world"));
    /// # let url = server.url("/file");
    /// let mut response = girder::Client::new().get(url).send().await?;
    /// let mut length = 0;
    /// while let Some(chunk) = response.chunk().await? {
    ///     length += chunk.len();
    /// }
    /// assert_eq!(length, 12);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let body = self.inner.body_mut();
        let next = poll_fn(|cx| poll_data(body, cx));
        let next = match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.instant(), next)
                .await
                .unwrap_or_else(|_| Err(DeadlineExceeded::new().into())),
            None => next.await,
        };
        next.map_err(|e| self.error(Error::from_source(e)))
    }

    /// The body as a [`Stream`](futures_core::Stream) of [`Bytes`]: a
    /// download of any size in constant memory, with no
    /// [`max_response_bytes`](crate::ClientBuilder::max_response_bytes)
    /// cap, which ends with a [`Kind::DeadlineExceeded`] error when the
    /// call's deadline passes before the body does. Raise the deadline for
    /// a large download with [`RequestBuilder::timeout`](crate::RequestBuilder::timeout).
    pub fn bytes_stream(self) -> BytesStream {
        let sleep = self
            .deadline
            .map(|deadline| Box::pin(tokio::time::sleep_until(deadline.instant())));
        BytesStream {
            body: self.inner.into_body(),
            deadline: sleep,
            url: self.url,
            record: self.record,
            done: false,
        }
    }

    /// This response if its status is not an error (below 400); otherwise
    /// an [`Error`] with the status, the headers, the final URL and the
    /// call record, as reqwest's: synchronous, so the body is not read and
    /// the error has no [`message`](Error::message) from the server.
    /// [`error_for_status_with_message`](Self::error_for_status_with_message)
    /// reads it.
    ///
    /// ```
    /// # use girder_test::{Reply, TestServer};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), girder::BoxError> {
    /// # let server = TestServer::start().await;
    /// # server.route("/v1/me", Reply::status(401));
    /// let client = girder::Client::builder().base_url(server.url("/v1")).build()?;
    /// let error = client.get("me").send().await?.error_for_status().unwrap_err();
    /// assert_eq!(error.kind(), girder::Kind::Unauthorized);
    /// assert_eq!(error.status(), Some(http::StatusCode::UNAUTHORIZED));
    /// # Ok(())
    /// # }
    /// ```
    pub fn error_for_status(self) -> Result<Response, Error> {
        match self.status_error(None) {
            Some(error) => Err(error),
            None => Ok(self),
        }
    }

    /// [`error_for_status`](Self::error_for_status) for a borrowed
    /// response, which stays usable (its body unread).
    pub fn error_for_status_ref(&self) -> Result<&Response, Error> {
        match self.status_error(None) {
            Some(error) => Err(error),
            None => Ok(self),
        }
    }

    /// [`error_for_status`](Self::error_for_status), reading the first
    /// bytes of an error status's body (no later than the call's
    /// deadline), so that the error also has
    /// [`body`](Error::body) and the server's own
    /// [`message`](Error::message) (JSON `message`, `error`,
    /// `error_description`, `detail`, an RFC 9457 problem's `title` and
    /// `detail`).
    ///
    /// ```
    /// # use girder_test::{Reply, TestServer};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), girder::BoxError> {
    /// # let server = TestServer::start().await;
    /// # server.route("/v1/items", Reply::status(422).json(r#"{"message":"name is required"}"#));
    /// let client = girder::Client::builder().base_url(server.url("/v1")).build()?;
    /// let response = client.post("items").json(&serde_json::json!({})).send().await?;
    /// let error = response.error_for_status_with_message().await.unwrap_err();
    /// assert_eq!(error.kind(), girder::Kind::Validation);
    /// assert_eq!(error.message(), Some("name is required"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn error_for_status_with_message(mut self) -> Result<Response, Error> {
        if !is_error(self.inner.status()) {
            return Ok(self);
        }
        let prefix = read_prefix(self.inner.body_mut(), crate::error::BODY_SNIPPET_BYTES * 4);
        // The snippet is read no later than the call's deadline either; a
        // body that fails or stalls leaves the error without a message.
        let body = match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.instant(), prefix)
                .await
                .unwrap_or_default(),
            None => prefix.await,
        };
        Err(self.status_error(Some(body)).expect("an error status"))
    }

    fn status_error(&self, body: Option<Bytes>) -> Option<Error> {
        let status = self.inner.status();
        is_error(status).then(|| {
            self.error(Error::from_status(
                status,
                self.inner.headers().clone(),
                body,
            ))
        })
    }
}

fn is_error(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// The next data frame of `body` (trailers are skipped).
fn poll_data(
    body: &mut Body,
    cx: &mut Context<'_>,
) -> Poll<Result<Option<Bytes>, girder_core::BoxError>> {
    loop {
        match ready!(Pin::new(&mut *body).poll_frame(cx)) {
            None => return Poll::Ready(Ok(None)),
            Some(Err(e)) => return Poll::Ready(Err(e)),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data()
                    && !data.is_empty()
                {
                    return Poll::Ready(Ok(Some(data)));
                }
            }
        }
    }
}

/// Up to about `limit` bytes from the start of `body`; whatever was read
/// when it fails.
async fn read_prefix(body: &mut Body, limit: usize) -> Bytes {
    let mut out = BytesMut::new();
    while out.len() < limit {
        match poll_fn(|cx| poll_data(body, cx)).await {
            Ok(Some(data)) => out.extend_from_slice(&data[..data.len().min(limit - out.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    out.freeze()
}

/// A response body as a [`Stream`](futures_core::Stream) of [`Bytes`]
/// pieces, from [`Response::bytes_stream`]. It ends after an error (a
/// failed connection, the call's deadline); dropping it closes the body.
#[must_use = "streams do nothing unless polled"]
pub struct BytesStream {
    body: Body,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    url: http::Uri,
    record: CallRecord,
    done: bool,
}

impl fmt::Debug for BytesStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BytesStream")
            .field("path", &self.url.path())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl BytesStream {
    /// The next piece, `None` at the end (what `StreamExt::next` gives,
    /// without a futures crate).
    pub async fn next(&mut self) -> Option<Result<Bytes, Error>> {
        poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }

    /// The stream's last item: an error of this call, after which the body
    /// is closed (its connection and any in-flight slot given back).
    fn fail(&mut self, error: Error) -> Poll<Option<Result<Bytes, Error>>> {
        self.done = true;
        self.body = Body::empty();
        Poll::Ready(Some(Err(error
            .with_url(&self.url)
            .with_record(&self.record))))
    }
}

impl futures_core::Stream for BytesStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        // The deadline first: a body that keeps coming past it ends too.
        if let Some(sleep) = &mut this.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            return this.fail(Error::from_source(DeadlineExceeded::new().into()));
        }
        match ready!(poll_data(&mut this.body, cx)) {
            Ok(Some(data)) => Poll::Ready(Some(Ok(data))),
            Ok(None) => {
                this.done = true;
                this.deadline = None;
                Poll::Ready(None)
            }
            Err(e) => this.fail(Error::from_source(e)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done { (0, Some(0)) } else { (0, None) }
    }
}
