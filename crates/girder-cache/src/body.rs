//! Reading a response body into memory up to a bound, or giving it back
//! unread when it is larger.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use girder_core::{Body, BoxError};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;

/// A body read up to a bound.
pub(crate) enum Buffered {
    /// The whole body, within the bound.
    Full(Bytes),
    /// Too large (or with trailers): what was read, followed by the rest.
    Streamed(Body),
}

/// Reads `body` whole if it fits in `limit` bytes and has no trailers.
pub(crate) async fn buffer(mut body: Body, limit: usize) -> Result<Buffered, BoxError> {
    if let Some(bytes) = body.as_bytes() {
        return Ok(if bytes.len() <= limit {
            Buffered::Full(bytes.clone())
        } else {
            Buffered::Streamed(body)
        });
    }
    if body.size_hint().lower() > limit as u64 {
        return Ok(Buffered::Streamed(body));
    }
    let mut seen: VecDeque<Frame<Bytes>> = VecDeque::new();
    let mut len = 0usize;
    loop {
        match body.frame().await {
            None => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(frame)) => {
                let trailers = frame.is_trailers();
                if let Some(data) = frame.data_ref() {
                    len += data.len();
                }
                seen.push_back(frame);
                if trailers || len > limit {
                    return Ok(Buffered::Streamed(Body::new(Prefixed { seen, rest: body })));
                }
            }
        }
    }
    let mut out = BytesMut::with_capacity(len);
    for frame in seen {
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
        }
    }
    Ok(Buffered::Full(out.freeze()))
}

/// The frames already read, then the rest of the body.
struct Prefixed {
    seen: VecDeque<Frame<Bytes>>,
    rest: Body,
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(frame) = self.seen.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.seen.is_empty() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let seen: u64 = self
            .seen
            .iter()
            .filter_map(|f| f.data_ref().map(|d| d.len() as u64))
            .sum();
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + seen);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + seen);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &'static [&'static str]) -> Body {
        let frames = parts
            .iter()
            .map(|p| Ok::<_, std::io::Error>(Frame::data(Bytes::from_static(p.as_bytes()))));
        Body::new(http_body_util::StreamBody::new(Stream(frames.collect())))
    }

    struct Stream(VecDeque<Result<Frame<Bytes>, std::io::Error>>);
    impl futures_core::Stream for Stream {
        type Item = Result<Frame<Bytes>, std::io::Error>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    #[tokio::test]
    async fn small_bodies_are_read_whole_and_large_ones_come_back_intact() {
        let Buffered::Full(b) = buffer(chunks(&["ab", "cd"]), 4).await.unwrap() else {
            panic!("4 bytes fit in 4")
        };
        assert_eq!(b, "abcd");
        let Buffered::Streamed(rest) = buffer(chunks(&["ab", "cd", "ef"]), 3).await.unwrap() else {
            panic!("6 bytes do not fit in 3")
        };
        assert_eq!(rest.collect().await.unwrap().to_bytes(), "abcdef");
        let Buffered::Full(b) = buffer(Body::from("xyz"), 3).await.unwrap() else {
            panic!()
        };
        assert_eq!(b, "xyz");
        assert!(matches!(
            buffer(Body::from("xyz"), 2).await.unwrap(),
            Buffered::Streamed(_)
        ));
    }
}
