//! A large download through the whole `Client`: a hyper server on
//! loopback streams a generated body (one shared 64 KiB chunk, so the
//! server holds nothing per byte), and the client reads it with
//! `Response::bytes_stream`. `girder-bench-stream` runs it and reports
//! the process's peak resident memory (`VmHWM`), which must stay far below
//! the body's size.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::BoxError;

/// The size of each frame the server writes.
const CHUNK: usize = 64 * 1024;

/// A body of `remaining` bytes made of one shared chunk.
struct Generated {
    chunk: Bytes,
    remaining: u64,
}

impl Body for Generated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(CHUNK as u64);
        self.remaining -= n;
        // A reference count, not a copy.
        let data = self.chunk.slice(..n as usize);
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Serves every request on `listener` with a generated body of `bytes`
/// bytes (and its `Content-Length`), until the task is dropped.
pub async fn serve(listener: TcpListener, bytes: u64) -> std::io::Result<()> {
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let chunk = chunk.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_: Request<Incoming>| {
                let body = Generated {
                    chunk: chunk.clone(),
                    remaining: bytes,
                };
                async move { Ok::<_, Infallible>(Response::new(body)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// What one download measured.
#[derive(Debug, Clone, Copy)]
pub struct Download {
    /// Bytes the client read.
    pub bytes: u64,
    /// How many pieces `bytes_stream` yielded.
    pub pieces: u64,
    /// The largest piece.
    pub largest: usize,
    /// Wall time of the call and the read.
    pub elapsed: Duration,
}

/// Downloads a generated body of `bytes` bytes from a server on this
/// runtime through a default `girder::Client` (retry, breaker, rate limit,
/// logging: the bench's features) whose call may take `timeout`.
pub async fn download(bytes: u64, timeout: Duration) -> Result<Download, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/big", listener.local_addr()?);
    let server = tokio::spawn(serve(listener, bytes));
    let client = girder::Client::builder().total_timeout(timeout).build()?;
    // Not paused here: tokio's clock is the wall clock.
    let started = tokio::time::Instant::now();
    let response = client.get(url).send().await?.error_for_status()?;
    let mut stream = response.bytes_stream();
    let mut read = Download {
        bytes: 0,
        pieces: 0,
        largest: 0,
        elapsed: Duration::ZERO,
    };
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        read.bytes += piece.len() as u64;
        read.pieces += 1;
        read.largest = read.largest.max(piece.len());
    }
    read.elapsed = started.elapsed();
    server.abort();
    Ok(read)
}

/// A field of `/proc/self/status` in KiB (`VmHWM`: peak resident memory;
/// `VmRSS`: resident now), or `None` where there is no such file.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}
