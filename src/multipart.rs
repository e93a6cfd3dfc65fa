//! `multipart/form-data` bodies (RFC 7578), as reqwest's `multipart`
//! module builds them (feature `multipart`).
//!
//! A [`Form`] is a list of named [`Part`]s: text, bytes, a stream, or a
//! file read as it is sent. [`RequestBuilder::multipart`](crate::RequestBuilder::multipart)
//! sets the body and its `Content-Type` (with the boundary), and a
//! `Content-Length` when every part's length is known.
//!
//! A form whose parts are all in memory is a buffered body: it can be sent
//! again, so an idempotent request with it is retried and replayed on a
//! 307 or 308 redirect. A form with a streamed part (a [`Part::stream`], a
//! [`Form::file`]) is read once as it is sent: the request is never
//! retried, and the call record says why, whatever the method.
//!
//! ```
//! use girder::multipart::{Form, Part};
//! use girder_test::{Reply, TestServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), girder::BoxError> {
//! let server = TestServer::start().await;
//! server.route("/upload", Reply::ok());
//! let form = Form::new()
//!     .text("title", "holiday")
//!     .part("photo", Part::bytes(&b"\x89PNG..."[..]).file_name("a.png").mime_str("image/png")?);
//! girder::Client::new()
//!     .post(server.url("/upload"))
//!     .multipart(form)
//!     .send()
//!     .await?
//!     .error_for_status()?;
//! let body = &server.requests()[0].body;
//! assert!(body.windows(7).any(|w| w == b"holiday"));
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use girder_core::{Body, BoxError};
use http::HeaderMap;
use http::header::HeaderValue;
use http_body::Frame;
use tokio::io::{AsyncRead, ReadBuf};

use crate::error::{Error, Kind};

/// A `multipart/form-data` body being built; see the [module docs](self).
pub struct Form {
    boundary: String,
    parts: Vec<(Cow<'static, str>, Part)>,
}

/// One field of a [`Form`]: its content, and optionally a file name, a
/// media type and more headers.
pub struct Part {
    content: Content,
    file_name: Option<Cow<'static, str>>,
    mime: Option<HeaderValue>,
    headers: HeaderMap,
}

enum Content {
    Bytes(Bytes),
    Stream { body: Body, length: Option<u64> },
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Form")
            .field("boundary", &self.boundary)
            .field("parts", &self.parts)
            .finish()
    }
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The content may be a secret: its size only.
        let content = match &self.content {
            Content::Bytes(bytes) => format!("{} bytes", bytes.len()),
            Content::Stream { length, .. } => format!("stream of {length:?} bytes"),
        };
        f.debug_struct("Part")
            .field("content", &content)
            .field("file_name", &self.file_name)
            .field("mime", &self.mime)
            .finish_non_exhaustive()
    }
}

impl Default for Form {
    fn default() -> Self {
        Form::new()
    }
}

impl Form {
    /// An empty form with a random boundary.
    pub fn new() -> Form {
        // RandomState's keys are random per process and differ for each
        // instance: 128 bits that no part's content will contain by chance.
        let random = || {
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        };
        Form {
            boundary: format!("{:016x}{:016x}", random(), random()),
            parts: Vec::new(),
        }
    }

    /// The boundary between the parts.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// Adds a text field.
    pub fn text(
        self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Form {
        self.part(name, Part::text(value))
    }

    /// Adds a part.
    pub fn part(mut self, name: impl Into<Cow<'static, str>>, part: Part) -> Form {
        self.parts.push((name.into(), part));
        self
    }

    /// Adds the file at `path`, read as the request is sent (never all in
    /// memory), with its file name and `application/octet-stream`. The
    /// request is then never retried. Fails when the file cannot be opened.
    pub async fn file(
        self,
        name: impl Into<Cow<'static, str>>,
        path: impl AsRef<Path>,
    ) -> std::io::Result<Form> {
        let path = path.as_ref();
        let file = tokio::fs::File::open(path).await?;
        let length = file.metadata().await?.len();
        let mut part = Part::stream_with_length(Body::new(FileBody::new(file)), length);
        if let Some(file_name) = path.file_name() {
            part = part.file_name(file_name.to_string_lossy().into_owned());
        }
        Ok(self.part(
            name,
            part.mime(HeaderValue::from_static("application/octet-stream")),
        ))
    }

    /// The `Content-Type` value, with the boundary.
    pub(crate) fn content_type(&self) -> HeaderValue {
        HeaderValue::try_from(format!("multipart/form-data; boundary={}", self.boundary))
            .expect("a hex boundary is a valid header value")
    }

    /// The body, buffered when every part is, and its length when known.
    pub(crate) fn into_body(self) -> (Body, Option<u64>) {
        let mut segments = Vec::with_capacity(self.parts.len() * 2 + 1);
        let mut length = Some(0u64);
        let mut head = BytesMut::new();
        for (name, part) in self.parts {
            head.extend_from_slice(b"--");
            head.extend_from_slice(self.boundary.as_bytes());
            head.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
            head.extend_from_slice(escape(&name).as_bytes());
            head.extend_from_slice(b"\"");
            if let Some(file_name) = &part.file_name {
                head.extend_from_slice(b"; filename=\"");
                head.extend_from_slice(escape(file_name).as_bytes());
                head.extend_from_slice(b"\"");
            }
            head.extend_from_slice(b"\r\n");
            if let Some(mime) = &part.mime {
                head.extend_from_slice(b"Content-Type: ");
                head.extend_from_slice(mime.as_bytes());
                head.extend_from_slice(b"\r\n");
            }
            for (header, value) in &part.headers {
                head.extend_from_slice(header.as_str().as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(value.as_bytes());
                head.extend_from_slice(b"\r\n");
            }
            head.extend_from_slice(b"\r\n");
            match part.content {
                Content::Bytes(bytes) => head.extend_from_slice(&bytes),
                Content::Stream {
                    body,
                    length: part_length,
                } => {
                    segments.push(Segment::Bytes(head.split().freeze()));
                    segments.push(Segment::Stream(body));
                    length = length.zip(part_length).map(|(a, b)| a + b);
                }
            }
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"--");
        head.extend_from_slice(self.boundary.as_bytes());
        head.extend_from_slice(b"--\r\n");
        segments.push(Segment::Bytes(head.freeze()));
        let buffered: u64 = segments
            .iter()
            .map(|s| match s {
                Segment::Bytes(b) => b.len() as u64,
                Segment::Stream(_) => 0,
            })
            .sum();
        let length = length.map(|streamed| streamed + buffered);
        if let [Segment::Bytes(bytes)] = &segments[..] {
            return (Body::from(bytes.clone()), length);
        }
        segments.reverse();
        (Body::new(Segments { segments }), length)
    }
}

impl Part {
    /// A text value.
    pub fn text(value: impl Into<Cow<'static, str>>) -> Part {
        let bytes = match value.into() {
            Cow::Borrowed(text) => Bytes::from_static(text.as_bytes()),
            Cow::Owned(text) => Bytes::from(text),
        };
        Part::bytes(bytes)
    }

    /// Bytes in memory.
    pub fn bytes(value: impl Into<Bytes>) -> Part {
        Part::new(Content::Bytes(value.into()))
    }

    /// A stream of unknown length, read once as the request is sent: the
    /// request is then never retried. A buffered [`Body`] stays buffered.
    pub fn stream(body: impl Into<Body>) -> Part {
        Part::from_body(body.into(), None)
    }

    /// A stream of `length` bytes, so that the form has a
    /// `Content-Length`; see [`stream`](Part::stream).
    pub fn stream_with_length(body: impl Into<Body>, length: u64) -> Part {
        Part::from_body(body.into(), Some(length))
    }

    fn from_body(body: Body, length: Option<u64>) -> Part {
        match body.as_bytes() {
            Some(bytes) => Part::bytes(bytes.clone()),
            None => Part::new(Content::Stream { body, length }),
        }
    }

    fn new(content: Content) -> Part {
        Part {
            content,
            file_name: None,
            mime: None,
            headers: HeaderMap::new(),
        }
    }

    /// The file name sent with the part (`filename=`).
    pub fn file_name(mut self, name: impl Into<Cow<'static, str>>) -> Part {
        self.file_name = Some(name.into());
        self
    }

    /// The part's `Content-Type`, as text; a [`Kind::Builder`] error when
    /// it cannot be a header value.
    pub fn mime_str(self, mime: &str) -> Result<Part, Error> {
        let value = HeaderValue::try_from(mime).map_err(|e| {
            Error::with_message(
                Kind::Builder,
                format!("invalid part type {mime:?}"),
                Some(Box::new(e)),
            )
        })?;
        Ok(self.mime(value))
    }

    fn mime(mut self, mime: HeaderValue) -> Part {
        self.mime = Some(mime);
        self
    }

    /// More headers of the part (besides `Content-Disposition` and
    /// `Content-Type`).
    pub fn headers(mut self, headers: HeaderMap) -> Part {
        self.headers = headers;
        self
    }
}

/// A name or file name inside quotes, as browsers send it (HTML's
/// form-data encoding): `"`, CR and LF percent-encoded.
fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['"', '\r', '\n']) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.replace('"', "%22")
            .replace('\r', "%0D")
            .replace('\n', "%0A"),
    )
}

enum Segment {
    Bytes(Bytes),
    Stream(Body),
}

/// A form with a streamed part: its segments, last first.
struct Segments {
    segments: Vec<Segment>,
}

impl http_body::Body for Segments {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            let Some(segment) = self.segments.last_mut() else {
                return Poll::Ready(None);
            };
            match segment {
                Segment::Bytes(bytes) => {
                    let bytes = std::mem::take(bytes);
                    self.segments.pop();
                    if !bytes.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                }
                Segment::Stream(body) => match ready!(Pin::new(body).poll_frame(cx)) {
                    Some(Ok(frame)) => {
                        // A part's trailers have no place in a form.
                        if let Ok(data) = frame.into_data() {
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                    }
                    Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                    None => {
                        self.segments.pop();
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.segments.is_empty()
    }

    // No exact size hint: the request carries the form's `Content-Length`
    // when every part's length is known, and a hint would have to count
    // down as the body is read.
}

/// A file read 64 KiB at a time as the body is sent.
struct FileBody {
    file: tokio::fs::File,
    buffer: BytesMut,
}

impl FileBody {
    const CHUNK: usize = 64 * 1024;

    fn new(file: tokio::fs::File) -> Self {
        FileBody {
            file,
            buffer: BytesMut::new(),
        }
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        this.buffer.resize(FileBody::CHUNK, 0);
        let mut read = ReadBuf::new(&mut this.buffer);
        ready!(Pin::new(&mut this.file).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        if n == 0 {
            return Poll::Ready(None);
        }
        let data = this.buffer.split_to(n).freeze();
        Poll::Ready(Some(Ok(Frame::data(data))))
    }
}
