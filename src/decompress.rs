//! Response decompression that costs nothing when nothing is encoded.
//!
//! tower-http's `Decompression` wraps every response body, encoded or not,
//! and an identity body converted to girder's [`Body`] was boxed a second
//! time (360 bytes, and two more layers on every frame). This layer sets
//! `Accept-Encoding` as tower-http would, hands encoded answers to
//! tower-http's decoder, and passes the others through untouched.

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker, ready};

use girder_core::{Body, BoxError};
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, HeaderValue};
use http::{Request, Response};
use tower::{Layer, Service};
use tower_http::decompression::DecompressionLayer;

/// The codings this build decodes, as tower-http announces them.
const ACCEPT: &str = match (
    cfg!(feature = "gzip"),
    cfg!(feature = "deflate"),
    cfg!(feature = "br"),
    cfg!(feature = "zstd"),
) {
    (true, true, true, false) => "gzip,deflate,br",
    (true, true, false, false) => "gzip,deflate",
    (true, false, true, false) => "gzip,br",
    (true, false, false, false) => "gzip",
    (false, true, true, false) => "deflate,br",
    (false, true, false, false) => "deflate",
    (false, false, true, false) => "br",
    (true, true, true, true) => "zstd,gzip,deflate,br",
    (true, true, false, true) => "zstd,gzip,deflate",
    (true, false, true, true) => "zstd,gzip,br",
    (true, false, false, true) => "zstd,gzip",
    (false, true, true, true) => "zstd,deflate,br",
    (false, true, false, true) => "zstd,deflate",
    (false, false, true, true) => "zstd,br",
    // The module is built with at least one of the four.
    (false, false, false, _) => "zstd",
};

/// Whether `coding` (a `Content-Encoding` value) is one this build decodes;
/// tower-http compares the bytes exactly, and so does this.
fn decodes(coding: &[u8]) -> bool {
    (cfg!(feature = "gzip") && coding == b"gzip")
        || (cfg!(feature = "deflate") && coding == b"deflate")
        || (cfg!(feature = "br") && coding == b"br")
        || (cfg!(feature = "zstd") && coding == b"zstd")
}

/// See the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct Decompress<S> {
    inner: S,
}

impl<S> Decompress<S> {
    pub(crate) fn new(inner: S) -> Self {
        Decompress { inner }
    }
}

impl<S> Service<Request<Body>> for Decompress<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        request
            .headers_mut()
            .entry(ACCEPT_ENCODING)
            .or_insert(HeaderValue::from_static(ACCEPT));
        ResponseFuture {
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Decompress`].
    pub(crate) struct ResponseFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, BoxError>>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().inner.poll(cx))?;
        let encoded = response
            .headers()
            .get(CONTENT_ENCODING)
            .is_some_and(|coding| decodes(coding.as_bytes()));
        Poll::Ready(Ok(if encoded { decode(response) } else { response }))
    }
}

/// Runs tower-http's decompression over an answer already at hand: its
/// service answers at once, so the future is ready on its first poll.
fn decode(response: Response<Body>) -> Response<Body> {
    let mut response = Some(response);
    let mut service = DecompressionLayer::new().layer(tower::service_fn(move |_: Request<()>| {
        std::future::ready(Ok::<_, Infallible>(
            response.take().expect("the decoder calls its service once"),
        ))
    }));
    let mut future = pin!(service.call(Request::new(())));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(decoded)) => decoded.map(Body::new),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("a ready service answers on the first poll"),
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// "hello, girder", gzipped.
    const GZIPPED: [u8; 33] = [
        31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 203, 72, 205, 201, 201, 215, 81, 72, 207, 44, 74, 73, 45,
        2, 0, 159, 26, 100, 49, 13, 0, 0, 0,
    ];

    fn answering(
        coding: Option<&'static str>,
        body: &'static [u8],
    ) -> Decompress<
        impl Service<
            Request<Body>,
            Response = Response<Body>,
            Error = BoxError,
            Future = impl Future<Output = Result<Response<Body>, BoxError>>,
        >,
    > {
        Decompress::new(tower::service_fn(move |request: Request<Body>| {
            let accept = request.headers().get(ACCEPT_ENCODING).cloned();
            let mut response = Response::new(Body::from(body));
            if let Some(coding) = coding {
                response
                    .headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
            }
            response
                .headers_mut()
                .insert("content-length", body.len().into());
            if let Some(accept) = accept {
                response.headers_mut().insert("x-accept", accept);
            }
            std::future::ready(Ok::<_, BoxError>(response))
        }))
    }

    fn get() -> Request<Body> {
        Request::get("http://api.test/")
            .body(Body::empty())
            .unwrap()
    }

    async fn text(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn announces_what_it_decodes_unless_the_caller_did() {
        let response = answering(None, b"x").oneshot(get()).await.unwrap();
        assert_eq!(response.headers()["x-accept"], ACCEPT);
        let mut request = get();
        request
            .headers_mut()
            .insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        let response = answering(None, b"x").oneshot(request).await.unwrap();
        assert_eq!(response.headers()["x-accept"], "identity");
    }

    #[tokio::test]
    async fn an_identity_answer_passes_through_as_it_is() {
        let response = answering(None, b"plain").oneshot(get()).await.unwrap();
        assert_eq!(response.headers()["content-length"], "5");
        assert_eq!(text(response).await, "plain");
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn a_gzip_answer_is_decoded_and_its_coding_headers_go() {
        let response = answering(Some("gzip"), &GZIPPED)
            .oneshot(get())
            .await
            .unwrap();
        assert!(response.headers().get(CONTENT_ENCODING).is_none());
        assert!(response.headers().get("content-length").is_none());
        assert_eq!(text(response).await, "hello, girder");
    }

    #[cfg(feature = "deflate")]
    #[tokio::test]
    async fn a_deflate_answer_is_decoded_and_announced() {
        use std::io::Write;
        // HTTP's `deflate` is the zlib format (RFC 9110 §8.4.1.2).
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(b"hello, girder").unwrap();
        let deflated: &'static [u8] = encoder.finish().unwrap().leak();
        let response = answering(Some("deflate"), deflated)
            .oneshot(get())
            .await
            .unwrap();
        assert!(response.headers().get(CONTENT_ENCODING).is_none());
        assert_eq!(text(response).await, "hello, girder");
        assert!(
            ACCEPT.split(',').any(|coding| coding == "deflate"),
            "{ACCEPT}"
        );
    }

    #[cfg(all(
        feature = "gzip",
        feature = "deflate",
        feature = "br",
        feature = "zstd"
    ))]
    #[test]
    fn every_coding_is_announced_in_tower_https_order() {
        assert_eq!(ACCEPT, "zstd,gzip,deflate,br");
    }

    #[tokio::test]
    async fn an_unknown_coding_is_left_to_the_caller() {
        let response = answering(Some("compress"), b"LZW")
            .oneshot(get())
            .await
            .unwrap();
        assert_eq!(response.headers()[CONTENT_ENCODING], "compress");
        assert_eq!(text(response).await, "LZW");
    }
}
