//! The body type of the girder facade and the [`ReplayBody`] trait.
//!
//! [`Body`] is either buffered bytes or a boxed stream. A buffered body is
//! cheap to clone (a reference count on [`Bytes`]), which is what lets retry
//! and auth's 401 recovery send a request again. A streamed body is sent
//! once: [`ReplayBody::try_replay`] answers `None` for it, and the layers
//! that would resend report that in the call record instead of resending an
//! empty or partial body.
//!
//! ```
//! use girder_core::{Body, ReplayBody};
//! use http_body_util::BodyExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), girder_core::BoxError> {
//! let body = Body::from("hello");
//! let again = body.try_replay().expect("buffered bodies replay");
//! assert_eq!(again.collect().await?.to_bytes(), "hello");
//!
//! let streamed = Body::new(http_body_util::StreamBody::new(futures_stream()));
//! assert!(streamed.try_replay().is_none());
//! # Ok(())
//! # }
//! # fn futures_stream() -> impl futures_core::Stream<
//! #     Item = Result<http_body::Frame<bytes::Bytes>, std::io::Error>> + Send + 'static {
//! #     struct S;
//! #     impl futures_core::Stream for S {
//! #         type Item = Result<http_body::Frame<bytes::Bytes>, std::io::Error>;
//! #         fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>)
//! #             -> std::task::Poll<Option<Self::Item>> { std::task::Poll::Ready(None) }
//! #     }
//! #     S
//! # }
//! ```

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::BoxError;

/// A request or response body: buffered bytes or a boxed stream.
///
/// Buffered bodies (built from [`Bytes`], `String`, `Vec<u8>`, `&'static str`
/// or [`Body::empty`]) report an exact size and can be replayed. Streamed
/// bodies (built with [`Body::new`] from any [`http_body::Body`]) are boxed
/// once and cannot be replayed.
///
/// `Body` is `Send` but not `Sync`, like axum's body: streams from most
/// sources are not `Sync`, and a body is only ever polled by one task.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Buffered(Bytes),
    Streaming(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body {
    /// Wraps any body. A [`Body`] is returned as it is, and the bodies
    /// whose bytes are at hand ([`Full<Bytes>`](http_body_util::Full),
    /// [`Empty<Bytes>`](http_body_util::Empty)) become buffered bodies, so
    /// they stay replayable; anything else becomes a streamed body.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut slot = Some(body);
        let any = &mut slot as &mut dyn Any;
        if let Some(slot) = any.downcast_mut::<Option<Body>>() {
            return slot.take().expect("slot was filled above");
        }
        if let Some(slot) = any.downcast_mut::<Option<http_body_util::Full<Bytes>>>() {
            let full = slot.take().expect("slot was filled above");
            return Body::from(full_bytes(full));
        }
        if any.is::<Option<http_body_util::Empty<Bytes>>>() {
            return Body::empty();
        }
        let body = slot.expect("slot is only taken for the types above");
        Body {
            kind: Kind::Streaming(body.map_err(Into::into).boxed_unsync()),
        }
    }

    /// An empty, buffered body.
    pub fn empty() -> Self {
        Body::from(Bytes::new())
    }

    /// The bytes of a buffered body, or `None` for a streamed one.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Buffered(bytes) => Some(bytes),
            Kind::Streaming(_) => None,
        }
    }

    /// Whether this body is buffered (and so can be replayed).
    pub fn is_buffered(&self) -> bool {
        matches!(self.kind, Kind::Buffered(_))
    }

    /// Reads the whole body into memory, failing once more than `limit`
    /// bytes have arrived. A buffered body returns its bytes at once.
    pub async fn collect_limited(self, limit: usize) -> Result<Bytes, BoxError> {
        match self.kind {
            Kind::Buffered(bytes) if bytes.len() <= limit => Ok(bytes),
            Kind::Buffered(bytes) => Err(TooLarge {
                limit,
                seen: bytes.len(),
            }
            .into()),
            Kind::Streaming(mut body) => {
                // Frame by frame rather than through http-body-util's
                // `Limited` and `collect`: their generic error conversions
                // leave callers' futures unprovably `Send` (a rustc
                // higher-ranked lifetime limitation), which breaks axum
                // handlers and spawned tasks.
                let mut out = bytes::BytesMut::new();
                while let Some(frame) = body.frame().await {
                    if let Ok(data) = frame?.into_data() {
                        if out.len() + data.len() > limit {
                            return Err(TooLarge {
                                limit,
                                seen: out.len() + data.len(),
                            }
                            .into());
                        }
                        out.extend_from_slice(&data);
                    }
                }
                Ok(out.freeze())
            }
        }
    }
}

/// The bytes of a `Full`, which yields them at the first poll.
fn full_bytes(mut full: http_body_util::Full<Bytes>) -> Bytes {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match http_body::Body::poll_frame(Pin::new(&mut full), &mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// The error of [`Body::collect_limited`] when a body is over the limit
/// (`seen` counts the bytes read so far, for a streamed body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    limit: usize,
    seen: usize,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "body of {} bytes is over the limit of {} bytes",
            self.seen, self.limit
        )
    }
}

impl std::error::Error for TooLarge {}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the size: bodies may carry credentials or personal data.
        match &self.kind {
            Kind::Buffered(bytes) => f
                .debug_struct("Body")
                .field("buffered", &bytes.len())
                .finish(),
            Kind::Streaming(_) => f.debug_struct("Body").field("streaming", &true).finish(),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body {
            kind: Kind::Buffered(bytes),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::from(Bytes::from(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body::from(Bytes::from(text))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Body::from(Bytes::from_static(bytes))
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Body::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Buffered(bytes) if bytes.is_empty() => Poll::Ready(None),
            Kind::Buffered(bytes) => Poll::Ready(Some(Ok(Frame::data(std::mem::take(bytes))))),
            Kind::Streaming(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Buffered(bytes) => bytes.is_empty(),
            Kind::Streaming(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Buffered(bytes) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Streaming(body) => body.size_hint(),
        }
    }
}

/// A body that can be sent again.
///
/// Retry and auth's 401 recovery keep a replay of each request before
/// sending it. `try_replay` answers `None` when the body cannot be sent
/// again (a stream); the layer then sends the request once and says so in
/// the [`CallRecord`](crate::CallRecord). It is never a panic and never an
/// empty or partial resend.
///
/// Implemented for [`Body`], [`Full<Bytes>`](http_body_util::Full),
/// [`Empty<Bytes>`](http_body_util::Empty), [`Bytes`] and `String`.
pub trait ReplayBody: Sized {
    /// A copy of this body to send again, or `None` if it cannot be replayed.
    fn try_replay(&self) -> Option<Self>;
}

impl ReplayBody for Body {
    fn try_replay(&self) -> Option<Self> {
        self.as_bytes().cloned().map(Body::from)
    }
}

impl ReplayBody for http_body_util::Full<Bytes> {
    fn try_replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl ReplayBody for http_body_util::Empty<Bytes> {
    fn try_replay(&self) -> Option<Self> {
        Some(*self)
    }
}

impl ReplayBody for Bytes {
    fn try_replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl ReplayBody for String {
    fn try_replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// A copy of `request` (method, URI, version, headers, extensions and body)
/// to send again, or `None` when its body cannot be replayed.
///
/// Extensions are cloned too, so shared ones such as the
/// [`CallRecord`](crate::CallRecord) and the [`Deadline`](crate::Deadline)
/// follow every attempt.
pub fn replay_request<B: ReplayBody>(request: &http::Request<B>) -> Option<http::Request<B>> {
    let body = request.body().try_replay()?;
    let mut copy = http::Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    fn stream_of(chunks: &[&'static str]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        Body::new(http_body_util::StreamBody::new(Iter(frames.into_iter())))
    }

    struct Iter<I>(I);
    impl<I: Iterator + Unpin> futures_core::Stream for Iter<I> {
        type Item = I::Item;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<I::Item>> {
            Poll::Ready(self.get_mut().0.next())
        }
    }

    #[tokio::test]
    async fn buffered_body_replays_and_reports_exact_size() {
        let body = Body::from("abc");
        assert_eq!(body.size_hint().exact(), Some(3));
        let copy = body.try_replay().unwrap();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
        assert_eq!(copy.collect().await.unwrap().to_bytes(), "abc");
    }

    #[tokio::test]
    async fn streamed_body_cannot_replay_but_still_reads() {
        let body = stream_of(&["ab", "cd"]);
        assert!(!body.is_buffered());
        assert!(body.try_replay().is_none());
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abcd");
    }

    #[test]
    fn wrapping_a_body_twice_keeps_it_buffered() {
        let body = Body::new(Body::from("x"));
        assert_eq!(body.as_bytes().map(|b| &b[..]), Some(&b"x"[..]));
    }

    #[tokio::test]
    async fn full_and_empty_bodies_stay_buffered_and_replayable() {
        let full = Body::new(http_body_util::Full::new(Bytes::from_static(b"full")));
        assert_eq!(full.as_bytes().map(|b| &b[..]), Some(&b"full"[..]));
        assert_eq!(
            full.try_replay()
                .unwrap()
                .collect()
                .await
                .unwrap()
                .to_bytes(),
            "full"
        );
        let empty = Body::new(http_body_util::Empty::<Bytes>::new());
        assert!(empty.is_buffered() && empty.is_end_stream());
        let none = Body::new(http_body_util::Full::new(Bytes::new()));
        assert_eq!(none.as_bytes().map(Bytes::len), Some(0));
    }

    #[test]
    fn empty_body_is_end_of_stream() {
        assert!(Body::empty().is_end_stream());
        assert!(!Body::from("x").is_end_stream());
    }

    #[tokio::test]
    async fn collect_limited_refuses_oversized_bodies() {
        assert_eq!(Body::from("abc").collect_limited(3).await.unwrap(), "abc");
        let err = Body::from("abcd").collect_limited(3).await.unwrap_err();
        assert!(err.downcast_ref::<TooLarge>().is_some(), "{err}");
        let err = stream_of(&["ab", "cd"])
            .collect_limited(3)
            .await
            .unwrap_err();
        assert_eq!(
            err.downcast_ref::<TooLarge>(),
            Some(&TooLarge { limit: 3, seen: 4 }),
            "{err}"
        );
        assert_eq!(
            stream_of(&["ab", "cd"]).collect_limited(4).await.unwrap(),
            "abcd"
        );
    }

    #[test]
    fn debug_shows_size_not_content() {
        let shown = format!("{:?}", Body::from("secret-token"));
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("12"), "{shown}");
    }

    #[test]
    fn replay_request_copies_everything() {
        #[derive(Clone, Debug, PartialEq)]
        struct Marker(u8);
        let mut req = http::Request::post("http://a.test/x?y=1")
            .header("x-k", "v")
            .body(Body::from("payload"))
            .unwrap();
        req.extensions_mut().insert(Marker(7));
        let copy = replay_request(&req).unwrap();
        assert_eq!(copy.method(), http::Method::POST);
        assert_eq!(copy.uri(), req.uri());
        assert_eq!(copy.headers()["x-k"], "v");
        assert_eq!(copy.extensions().get::<Marker>(), Some(&Marker(7)));
        assert_eq!(copy.body().as_bytes().unwrap(), "payload");

        let streamed = http::Request::new(stream_of(&["a"]));
        assert!(replay_request(&streamed).is_none());
    }

    #[test]
    fn other_bodies_replay() {
        let full = http_body_util::Full::new(Bytes::from_static(b"f"));
        assert!(full.try_replay().is_some());
        assert!(http_body_util::Empty::<Bytes>::new().try_replay().is_some());
        assert_eq!(Bytes::from_static(b"b").try_replay().unwrap(), "b");
        assert_eq!(String::from("s").try_replay().unwrap(), "s");
    }
}
