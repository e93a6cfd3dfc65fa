//! Scripted replies shared by [`TestServer`](crate::TestServer) and
//! [`MockService`](crate::MockService).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use girder_core::{Body, BoxError};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body::Frame;

use crate::RecordedRequest;

/// One scripted reply: a response, or a way of failing to give one.
///
/// ```
/// use std::time::Duration;
/// use girder_test::Reply;
///
/// let slow_busy = Reply::status(503).header("retry-after", "1").delay(Duration::from_millis(50));
/// let ok = Reply::ok().json(r#"{"id":1}"#);
/// let hang_up = Reply::close();
/// let truncated = Reply::ok().body("0123456789").cut_body_after(4);
/// let stalled = Reply::ok().body("0123456789").stall_body_after(4, Duration::from_secs(5));
/// # let _ = (slow_busy, ok, hang_up, truncated, stalled);
/// ```
#[derive(Clone)]
pub struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    delay: Duration,
    action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Respond,
    Close,
    CutBody(usize),
    StallBody(usize, Duration),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("delay", &self.delay)
            .field("action", &self.action)
            .finish()
    }
}

impl Reply {
    /// A reply with `status` and an empty body.
    ///
    /// # Panics
    ///
    /// If `status` is not a valid status code (100 to 999): a mistake in
    /// the test, reported where it is made.
    pub fn status(status: u16) -> Self {
        let status = StatusCode::from_u16(status)
            .unwrap_or_else(|_| panic!("girder-test: {status} is not a valid status code"));
        Reply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
            action: Action::Respond,
        }
    }

    /// `200 OK` with an empty body.
    pub fn ok() -> Self {
        Reply::status(200)
    }

    /// Closes the connection without any response, as a server that
    /// crashed or an idle-timeout race would.
    pub fn close() -> Self {
        Reply {
            action: Action::Close,
            ..Reply::ok()
        }
    }

    /// Appends a header field.
    ///
    /// # Panics
    ///
    /// If the name or the value is not valid in HTTP.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|_| panic!("girder-test: {name:?} is not a valid header name"));
        let value = HeaderValue::from_str(value)
            .unwrap_or_else(|_| panic!("girder-test: {value:?} is not a valid header value"));
        self.headers.append(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `content-type: application/json`.
    pub fn json(self, json: impl Into<Bytes>) -> Self {
        self.header(CONTENT_TYPE.as_str(), "application/json")
            .body(json)
    }

    /// Waits `delay` (tokio time) before replying or closing. Default: none.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sends the head (with the full `content-length`) and the first
    /// `bytes` bytes of the body, then drops the connection.
    pub fn cut_body_after(mut self, bytes: usize) -> Self {
        self.action = Action::CutBody(bytes);
        self
    }

    /// Sends the head (with the full `content-length`) and the first
    /// `bytes` bytes of the body, then sends nothing more for `stall`
    /// (tokio time) and drops the connection: a server that hangs in the
    /// middle of a body. A client hanging up first ends it sooner.
    pub fn stall_body_after(mut self, bytes: usize, stall: Duration) -> Self {
        self.action = Action::StallBody(bytes, stall);
        self
    }

    pub(crate) fn wait(&self) -> Duration {
        self.delay
    }

    /// The response this reply stands for, or the error of a closed
    /// connection.
    pub(crate) fn into_response(self) -> Result<Response<Body>, io::Error> {
        let body = match self.action {
            Action::Close => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "girder-test: connection closed before the response",
                ));
            }
            Action::Respond => Body::from(self.body.clone()),
            Action::CutBody(n) => {
                let head = self.body.slice(..n.min(self.body.len()));
                Body::new(CutBody {
                    head: Some(head),
                    yielded: false,
                })
            }
            Action::StallBody(n, stall) => {
                let head = self.body.slice(..n.min(self.body.len()));
                Body::new(StallBody {
                    head: Some(head),
                    stall: Box::pin(tokio::time::sleep(stall)),
                })
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        if matches!(self.action, Action::CutBody(_) | Action::StallBody(..))
            && !response.headers().contains_key(CONTENT_LENGTH)
        {
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(self.body.len()));
        }
        Ok(response)
    }
}

/// A body that yields its head, then fails: the connection is dropped
/// mid-body.
struct CutBody {
    head: Option<Bytes>,
    yielded: bool,
}

impl http_body::Body for CutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(head) = this.head.take().filter(|h| !h.is_empty()) {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if !this.yielded {
            // hyper buffers what it has and fails the connection on a body
            // error without flushing; one Pending lets it flush the head
            // and the bytes so far, so the client really sees a cut body.
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "girder-test: body cut short on purpose",
        )
        .into())))
    }
}

/// A body that yields its head, then nothing until its stall ends, then
/// fails: a server stuck in the middle of a body.
struct StallBody {
    head: Option<Bytes>,
    stall: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for StallBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(head) = this.head.take().filter(|h| !h.is_empty()) {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        std::task::ready!(this.stall.as_mut().poll(cx));
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "girder-test: body stalled on purpose",
        )
        .into())))
    }
}

type ReplyFn = dyn Fn(&RecordedRequest) -> Reply + Send + Sync;

/// What a route answers: a sequence of replies or a function.
///
/// A sequence plays in order, one reply per request, and then repeats its
/// last reply. The request log shows whether a test made more calls than
/// its script expected.
#[derive(Clone)]
pub struct Script(Arc<Inner>);

enum Inner {
    Sequence {
        replies: Vec<Reply>,
        next: AtomicUsize,
    },
    Fn(Box<ReplyFn>),
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Inner::Sequence { replies, next } => f
                .debug_struct("Script")
                .field("replies", replies)
                .field("next", &next.load(Ordering::Relaxed))
                .finish(),
            Inner::Fn(_) => f.debug_struct("Script").field("fn", &"..").finish(),
        }
    }
}

impl Script {
    /// Replies in order, then the last one again.
    ///
    /// # Panics
    ///
    /// If `replies` is empty.
    pub fn sequence(replies: impl IntoIterator<Item = Reply>) -> Self {
        let replies: Vec<Reply> = replies.into_iter().collect();
        assert!(
            !replies.is_empty(),
            "girder-test: a script needs at least one reply"
        );
        Script(Arc::new(Inner::Sequence {
            replies,
            next: AtomicUsize::new(0),
        }))
    }

    /// Replies computed from each request.
    pub fn from_fn<F>(f: F) -> Self
    where
        F: Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    {
        Script(Arc::new(Inner::Fn(Box::new(f))))
    }

    pub(crate) fn next_reply(&self, request: &RecordedRequest) -> Reply {
        match &*self.0 {
            Inner::Sequence { replies, next } => {
                let i = next.fetch_add(1, Ordering::Relaxed).min(replies.len() - 1);
                replies[i].clone()
            }
            Inner::Fn(f) => f(request),
        }
    }
}

impl From<Reply> for Script {
    fn from(reply: Reply) -> Self {
        Script::sequence([reply])
    }
}

impl From<Vec<Reply>> for Script {
    fn from(replies: Vec<Reply>) -> Self {
        Script::sequence(replies)
    }
}

impl<const N: usize> From<[Reply; N]> for Script {
    fn from(replies: [Reply; N]) -> Self {
        Script::sequence(replies)
    }
}
