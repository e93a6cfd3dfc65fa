//! [`InFlightBody`], the response body of [`RateLimit`](crate::RateLimit).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;

pin_project! {
    /// The response body of [`RateLimit`](crate::RateLimit): the inner
    /// service's body, unchanged, holding the call's in-flight slot while
    /// it streams.
    ///
    /// With [`max_in_flight`](crate::RateLimitPolicyBuilder::max_in_flight),
    /// a call is in flight until its response body is done: the slot is
    /// given back when the body reports its end (a last frame after which
    /// [`is_end_stream`](http_body::Body::is_end_stream) is true, `None`
    /// from `poll_frame`, or an error), or when the body is dropped, read
    /// or not. A body already at its end when the response head arrives
    /// (a 204, a response to HEAD) holds nothing. Without an in-flight
    /// limit it never holds anything and only passes the inner body
    /// through.
    ///
    /// ```
    /// use girder_core::Body;
    /// use girder_ratelimit::{RateLimitLayer, RateLimitPolicy};
    /// use girder_test::{MockService, Reply};
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let policy = RateLimitPolicy::builder().max_in_flight(1).build()?;
    /// let api = RateLimitLayer::new(policy).layer(MockService::new(Reply::ok().body("hello")));
    /// let response = api.oneshot(http::Request::get("https://api.test/").body(Body::empty())?).await?;
    /// // The body still streams: the partition's only slot is this call's.
    /// assert!(response.body().holds_slot());
    /// // Into girder-core's `Body`, boxed only while it holds the slot.
    /// let body = Body::from(response.into_body());
    /// # let _ = body;
    /// # Ok(())
    /// # }
    /// ```
    pub struct InFlightBody<B> {
        #[pin]
        inner: B,
        slot: Option<OwnedSemaphorePermit>,
    }
}

impl<B: http_body::Body> InFlightBody<B> {
    /// `inner`, holding `slot` until it ends; a body already at its end
    /// gives the slot back at once.
    pub(crate) fn new(inner: B, slot: Option<OwnedSemaphorePermit>) -> Self {
        let slot = slot.filter(|_| !inner.is_end_stream());
        InFlightBody { inner, slot }
    }
}

impl<B> InFlightBody<B> {
    /// Whether the body still holds its call's in-flight slot.
    pub fn holds_slot(&self) -> bool {
        self.slot.is_some()
    }

    /// The inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The inner body, unwrapped; the in-flight slot, if still held, is
    /// given back now, whether or not the body was read to its end.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> http_body::Body for InFlightBody<B>
where
    B: http_body::Body,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        // A reader that stops at `is_end_stream` (hyper does) never asks
        // for the `None`, so the end is checked after every frame too. An
        // error ends the body as far as the call is concerned.
        let ended = match &frame {
            None | Some(Err(_)) => true,
            Some(Ok(_)) => this.inner.is_end_stream(),
        };
        if ended {
            *this.slot = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// No slot held: the inner body as it is, with no allocation. A slot
/// held: the wrapper, boxed, so that the slot goes with the body.
impl From<InFlightBody<girder_core::Body>> for girder_core::Body {
    fn from(body: InFlightBody<girder_core::Body>) -> Self {
        if body.holds_slot() {
            girder_core::Body::new(body)
        } else {
            body.into_inner()
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for InFlightBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlightBody")
            .field("inner", &self.inner)
            .field("holds_slot", &self.holds_slot())
            .finish()
    }
}
