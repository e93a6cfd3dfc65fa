//! Response decompression that costs nothing when nothing is encoded.
//!
//! `Accept-Encoding` is set to the codings this build decodes (in
//! tower-http's order) unless the caller set it; an answer whose
//! `Content-Encoding` is one of them gets a decoding body and loses its
//! `Content-Encoding` and `Content-Length`; every other answer passes
//! through untouched.
//!
//! The decoders are compression-codecs' (the codecs under async-compression
//! and so under tower-http's `Decompression`), driven by [`Decoded`] frame
//! by frame. tower-http's layer drives the same codecs through an
//! `AsyncRead` adaptor and tokio-util's stream/reader bridges, which cost
//! five more crates, a second boxing of every body, and a service call
//! run to completion by hand for each encoded answer. Its behaviour is
//! kept: one member per gzip stream, bytes after the end of the coded
//! stream are an error, a stream cut short is an error, an encoded answer
//! with no body at all (a `HEAD`, a 204) is an empty body, and trailers
//! pass through.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::{fmt, io};

use bytes::{Buf, Bytes, BytesMut};
use compression_codecs::DecodeV2;
use compression_codecs::core::util::{PartialBuffer, WriteBuffer};
use girder_core::{Body, BoxError};
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, HeaderValue};
use http::{HeaderMap, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tower::Service;

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

/// How many decoded bytes one frame carries at most: a small coded frame
/// can expand a thousandfold, and the body's reader (a size cap, a
/// stream) sees the expansion a frame at a time.
const FRAME: usize = 32 * 1024;

/// The decoder for `coding` (a `Content-Encoding` value, compared byte for
/// byte as tower-http does), or `None` when this build does not decode it.
fn decoder(coding: &[u8]) -> Option<Box<dyn DecodeV2 + Send>> {
    match coding {
        #[cfg(feature = "gzip")]
        b"gzip" => Some(Box::new(compression_codecs::GzipDecoder::new())),
        // HTTP's `deflate` is the zlib format (RFC 9110 §8.4.1.2).
        #[cfg(feature = "deflate")]
        b"deflate" => Some(Box::new(compression_codecs::ZlibDecoder::new())),
        #[cfg(feature = "br")]
        b"br" => Some(Box::new(compression_codecs::BrotliDecoder::new())),
        #[cfg(feature = "zstd")]
        b"zstd" => Some(Box::new(compression_codecs::ZstdDecoder::new())),
        _ => None,
    }
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
        let mut response = ready!(self.project().inner.poll(cx))?;
        let Some(codec) = response
            .headers()
            .get(CONTENT_ENCODING)
            .and_then(|coding| decoder(coding.as_bytes()))
        else {
            return Poll::Ready(Ok(response));
        };
        let headers = response.headers_mut();
        headers.remove(CONTENT_ENCODING);
        headers.remove(CONTENT_LENGTH);
        Poll::Ready(Ok(response.map(|body| Body::new(Decoded::new(body, codec)))))
    }
}

/// Where a [`Decoded`] body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Feeding the coded body to the decoder.
    Decoding,
    /// Draining the decoder: the coded stream ended (`ended`), or the body
    /// did and the stream must end now.
    Flushing { ended: bool },
    /// The coded stream is whole; what the body still holds may only be
    /// empty frames and trailers.
    Done,
    /// Nothing more to yield.
    End,
}

/// A coded body, decoded a frame at a time; see the [module docs](self).
pub(crate) struct Decoded {
    body: Body,
    codec: Box<dyn DecodeV2 + Send>,
    /// The coded bytes received and not yet decoded.
    input: Bytes,
    /// Where decoded bytes are written; split off as each frame's data.
    output: BytesMut,
    state: State,
    /// Whether any coded byte arrived: an encoded answer with no body at all
    /// is an empty body, not a stream cut short.
    received: bool,
    /// Whether `body` has yielded its last frame.
    body_ended: bool,
    /// Trailers the body yielded before the decoder was drained.
    trailers: Option<HeaderMap>,
}

impl fmt::Debug for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoded")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Decoded {
    fn new(body: Body, codec: Box<dyn DecodeV2 + Send>) -> Self {
        Decoded {
            body,
            codec,
            input: Bytes::new(),
            output: BytesMut::new(),
            state: State::Decoding,
            received: false,
            body_ended: false,
            trailers: None,
        }
    }

    /// Runs `step` over the free part of the output buffer and returns the
    /// bytes it wrote, if any, and what it returned.
    fn write<T>(
        &mut self,
        step: impl FnOnce(&mut dyn DecodeV2, &mut PartialBuffer<&[u8]>, &mut WriteBuffer<'_>) -> T,
    ) -> (Option<Bytes>, T) {
        // Only the bytes split off as the last frame are zeroed again.
        self.output.resize(FRAME, 0);
        let mut input = PartialBuffer::new(&self.input[..]);
        let mut output = WriteBuffer::new_initialized(&mut self.output[..]);
        let result = step(&mut *self.codec, &mut input, &mut output);
        let (consumed, written) = (input.written_len(), output.written_len());
        self.input.advance(consumed);
        let data = (written > 0).then(|| self.output.split_to(written).freeze());
        (data, result)
    }

    /// The body's next frame, with trailers kept for after the decoded
    /// data; `None` once it has ended.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, BoxError>> {
        if self.body_ended {
            return Poll::Ready(Ok(None));
        }
        match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => Poll::Ready(Ok(Some(data))),
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        self.trailers = Some(trailers);
                    }
                    self.body_ended = true;
                    Poll::Ready(Ok(None))
                }
            },
            Some(Err(error)) => Poll::Ready(Err(error)),
            None => {
                self.body_ended = true;
                Poll::Ready(Ok(None))
            }
        }
    }
}

/// A coded body that does not decode.
fn corrupt(error: io::Error) -> BoxError {
    error.into()
}

impl HttpBody for Decoded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            match this.state {
                State::Decoding if this.input.is_empty() => match ready!(this.poll_body(cx)) {
                    Ok(Some(data)) => {
                        this.received |= !data.is_empty();
                        this.input = data;
                    }
                    Ok(None) if this.received => this.state = State::Flushing { ended: false },
                    Ok(None) => this.state = State::End,
                    Err(error) => {
                        this.state = State::End;
                        return Poll::Ready(Some(Err(error)));
                    }
                },
                State::Decoding => {
                    let (data, result) = this.write(|codec, input, output| {
                        let before = input.written_len();
                        let result = codec.decode(input, output);
                        (result, input.written_len() > before)
                    });
                    match result {
                        (Ok(true), _) => this.state = State::Flushing { ended: true },
                        (Ok(false), consumed) => {
                            // A decoder that takes nothing and writes nothing
                            // with input at hand would spin here for ever.
                            if !consumed && data.is_none() {
                                this.state = State::End;
                                return Poll::Ready(Some(Err(corrupt(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    "the decoder made no progress on the coded body",
                                )))));
                            }
                        }
                        (Err(error), _) => {
                            this.state = State::End;
                            return Poll::Ready(Some(Err(corrupt(error))));
                        }
                    }
                    if let Some(data) = data {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                State::Flushing { ended } => {
                    let (data, result) = this.write(|codec, _, output| {
                        let before = output.written_len();
                        let finished = codec.finish(output);
                        (
                            finished,
                            output.written_len() > before,
                            output.has_no_spare_space(),
                        )
                    });
                    match result {
                        (Ok(true), ..) => this.state = State::Done,
                        // More to drain next time round.
                        (Ok(false), true, _) | (Ok(false), _, true) => {}
                        (Ok(false), false, false) => {
                            this.state = State::End;
                            let error = if ended {
                                io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    "the decoder did not finish",
                                )
                            } else {
                                io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    "the coded body ended before its stream did",
                                )
                            };
                            return Poll::Ready(Some(Err(corrupt(error))));
                        }
                        (Err(error), ..) => {
                            this.state = State::End;
                            return Poll::Ready(Some(Err(corrupt(error))));
                        }
                    }
                    if let Some(data) = data {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
                State::Done => {
                    if !this.input.is_empty() {
                        this.state = State::End;
                        return Poll::Ready(Some(Err(
                            "the response body has bytes after its coded stream ended".into(),
                        )));
                    }
                    match ready!(this.poll_body(cx)) {
                        Ok(Some(data)) => this.input = data,
                        Ok(None) => this.state = State::End,
                        Err(error) => {
                            this.state = State::End;
                            return Poll::Ready(Some(Err(error)));
                        }
                    }
                }
                State::End => {
                    return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::End && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
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

    /// A body yielding `frames` one per poll, then ending.
    struct Frames(std::collections::VecDeque<Result<Frame<Bytes>, BoxError>>);

    impl HttpBody for Frames {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.get_mut().0.pop_front())
        }
    }

    /// `data` decoded by a [`Decoded`] body for `coding`, fed as `chunks`
    /// (each a slice of `data`) and then `trailers`; the frames' data, each
    /// frame's length and the trailers, or the error.
    async fn decode_in(
        coding: &str,
        chunks: Vec<Bytes>,
        trailers: Option<HeaderMap>,
    ) -> Result<(Vec<u8>, Vec<usize>, Option<HeaderMap>), BoxError> {
        let mut frames: std::collections::VecDeque<_> =
            chunks.into_iter().map(|c| Ok(Frame::data(c))).collect();
        frames.extend(trailers.map(|t| Ok(Frame::trailers(t))));
        let codec = decoder(coding.as_bytes()).expect("a coding this build decodes");
        let mut body = Decoded::new(Body::new(Frames(frames)), codec);
        let (mut data, mut sizes, mut trailers) = (Vec::new(), Vec::new(), None);
        while let Some(frame) = body.frame().await {
            match frame?.into_data() {
                Ok(chunk) => {
                    sizes.push(chunk.len());
                    data.extend_from_slice(&chunk);
                }
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        assert!(body.is_end_stream());
        Ok((data, sizes, trailers))
    }

    /// `data` gzipped.
    #[cfg(feature = "gzip")]
    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn a_stream_cut_at_any_byte_decodes_the_same() {
        let text: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let coded = Bytes::from(gzip(&text));
        for size in [1, 7, 512, coded.len()] {
            let chunks = coded.chunks(size).map(|c| coded.slice_ref(c)).collect();
            let (data, ..) = decode_in("gzip", chunks, None).await.unwrap();
            assert!(data == text, "chunks of {size} bytes");
        }
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn a_bomb_arrives_a_bounded_frame_at_a_time() {
        // 16 MiB of zeros is about 75 KiB coded: one coded frame would
        // otherwise become one 16 MiB allocation before any cap could act.
        let coded = Bytes::from(gzip(&vec![0; 16 << 20]));
        assert!(coded.len() < 128 << 10, "{}", coded.len());
        let (data, sizes, _) = decode_in("gzip", vec![coded], None).await.unwrap();
        assert_eq!(data.len(), 16 << 20);
        assert!(
            sizes.iter().all(|&size| size <= FRAME),
            "{:?}",
            sizes.iter().max()
        );
        assert!(sizes.len() >= (16 << 20) / FRAME);
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn trailers_follow_the_decoded_data() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", HeaderValue::from_static("abc"));
        let coded = Bytes::from(gzip(b"with trailers"));
        let (data, _, got) = decode_in("gzip", vec![coded, Bytes::new()], Some(trailers.clone()))
            .await
            .unwrap();
        assert_eq!(data, b"with trailers");
        assert_eq!(got, Some(trailers));
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn an_encoded_answer_without_a_body_is_empty() {
        // A HEAD answer, a 204: the coding names what a body would have had.
        let (data, sizes, _) = decode_in("gzip", vec![], None).await.unwrap();
        assert!(data.is_empty() && sizes.is_empty());
        let (data, ..) = decode_in("gzip", vec![Bytes::new()], None).await.unwrap();
        assert!(data.is_empty());
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn a_stream_cut_short_is_an_error() {
        let coded = gzip(b"the whole of the text, and then some more of it");
        for cut in [1, 10, coded.len() - 8, coded.len() - 1] {
            let chunk = Bytes::copy_from_slice(&coded[..cut]);
            let error = decode_in("gzip", vec![chunk], None).await.unwrap_err();
            let error = error.downcast::<io::Error>().expect("an I/O error");
            assert_eq!(
                error.kind(),
                io::ErrorKind::UnexpectedEof,
                "cut at {cut}: {error}"
            );
        }
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn bytes_after_the_stream_or_garbage_are_errors() {
        let mut coded = gzip(b"one member");
        coded.extend_from_slice(b"trailing junk");
        let error = decode_in("gzip", vec![coded.into()], None)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("after its coded stream"),
            "{error}"
        );

        // The same, with the extra bytes in a frame of their own.
        let chunks = vec![gzip(b"one member").into(), Bytes::from_static(b"x")];
        let error = decode_in("gzip", chunks, None).await.unwrap_err();
        assert!(
            error.to_string().contains("after its coded stream"),
            "{error}"
        );

        let error = decode_in("gzip", vec![Bytes::from_static(b"not gzip at all")], None)
            .await
            .unwrap_err();
        assert!(error.downcast_ref::<io::Error>().is_some(), "{error}");
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn the_bodys_own_error_passes_through() {
        let frames = [
            Ok(Frame::data(Bytes::from(gzip(b"partial")).slice(..12))),
            Err(BoxError::from("connection reset")),
        ];
        let codec = decoder(b"gzip").unwrap();
        let mut body = Decoded::new(Body::new(Frames(frames.into())), codec);
        let error = loop {
            match body.frame().await.expect("an error before the end") {
                Ok(_) => continue,
                Err(error) => break error,
            }
        };
        assert_eq!(error.to_string(), "connection reset");
        assert!(body.frame().await.is_none());
    }

    /// Each coding this build decodes, coded by compression-codecs' own
    /// encoder and decoded back, in small frames.
    #[cfg(any(feature = "deflate", feature = "br", feature = "zstd"))]
    #[tokio::test]
    async fn every_other_coding_round_trips() {
        use compression_codecs::EncodeV2;
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut encoders: Vec<(&str, Box<dyn EncodeV2>)> = Vec::new();
        #[cfg(feature = "deflate")]
        encoders.push((
            "deflate",
            Box::new(compression_codecs::ZlibEncoder::new(
                flate2::Compression::fast().into(),
            )),
        ));
        #[cfg(feature = "br")]
        encoders.push((
            "br",
            Box::new(compression_codecs::BrotliEncoder::new(Default::default())),
        ));
        #[cfg(feature = "zstd")]
        encoders.push(("zstd", Box::new(compression_codecs::ZstdEncoder::new(1))));
        for (coding, mut encoder) in encoders {
            let mut coded = vec![0; text.len() + 1024];
            let mut input = PartialBuffer::new(&text[..]);
            let mut output = WriteBuffer::new_initialized(&mut coded);
            encoder.encode(&mut input, &mut output).unwrap();
            assert!(input.unwritten().is_empty());
            while !encoder.finish(&mut output).unwrap() {}
            let written = output.written_len();
            let coded = Bytes::copy_from_slice(&coded[..written]);
            let chunks = coded.chunks(100).map(|c| coded.slice_ref(c)).collect();
            let (data, ..) = decode_in(coding, chunks, None).await.unwrap();
            assert!(data == text, "{coding}");
            assert!(ACCEPT.split(',').any(|c| c == coding), "{ACCEPT}");
        }
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
