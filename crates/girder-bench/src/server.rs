//! The origin the clients call: a hyper HTTP/1.1 server with keep-alive,
//! answering a ~200-byte JSON body, run as its own process
//! (`girder-bench-server`) pinned to its own CPU.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// The JSON body every route answers (209 bytes).
pub const JSON: &str = r#"{"id":42,"name":"widget","tags":["a","b","c"],"price":{"amount":1999,"currency":"EUR"},"stock":17,"updated_at":"2026-11-21T06:00:00Z","links":{"self":"/items/42","owner":"/users/7"},"ok":true}"#;

/// The path answered with `Cache-Control: no-store`: every call reaches
/// the network.
pub const NO_STORE: &str = "/no-store";
/// The path answered with `Cache-Control: max-age=3600`: after the first
/// call, a cache answers.
pub const CACHEABLE: &str = "/cacheable";
/// The path answered after [`SLOW_DELAY`] (no-store): requests stay in
/// flight long enough to measure what they hold.
pub const SLOW: &str = "/slow";
/// The path answering the per-route request counts as `a b c`
/// (no-store, cacheable, slow).
pub const STATS: &str = "/stats";
/// How long [`SLOW`] waits before answering.
pub const SLOW_DELAY: Duration = Duration::from_millis(1500);

/// Requests served per route.
#[derive(Debug, Default)]
struct Counts {
    no_store: AtomicU64,
    cacheable: AtomicU64,
    slow: AtomicU64,
}

/// Serves `listener` until the process ends: one task per connection,
/// HTTP/1.1 with keep-alive.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let counts = Arc::new(Counts::default());
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let counts = counts.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, counts.clone()));
            // A client closing its connection mid-request is not our error.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    counts: Arc<Counts>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let cache_control = match req.uri().path() {
        NO_STORE => {
            counts.no_store.fetch_add(1, Ordering::Relaxed);
            "no-store"
        }
        CACHEABLE => {
            counts.cacheable.fetch_add(1, Ordering::Relaxed);
            "max-age=3600"
        }
        SLOW => {
            counts.slow.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(SLOW_DELAY).await;
            "no-store"
        }
        STATS => {
            let body = format!(
                "{} {} {}",
                counts.no_store.load(Ordering::Relaxed),
                counts.cacheable.load(Ordering::Relaxed),
                counts.slow.load(Ordering::Relaxed)
            );
            return Ok(Response::builder()
                .header(header::CACHE_CONTROL, "no-store")
                .body(Full::new(Bytes::from(body)))
                .expect("a valid response"));
        }
        _ => {
            return Ok(Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(Full::new(Bytes::new()))
                .expect("a valid response"));
        }
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, cache_control)
        .body(Full::new(Bytes::from_static(JSON.as_bytes())))
        .expect("a valid response"))
}

/// Parses the server's `/stats` answer.
pub fn parse_stats(text: &str) -> Option<[u64; 3]> {
    let mut parts = text.split(' ').map(|p| p.parse::<u64>().ok());
    let counts = [parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_parse_three_counts_only() {
        assert_eq!(parse_stats("1 2 3"), Some([1, 2, 3]));
        assert_eq!(parse_stats("1 2"), None);
        assert_eq!(parse_stats("1 2 3 4"), None);
        assert_eq!(parse_stats("1 x 3"), None);
        assert!(JSON.len() >= 180 && JSON.len() <= 220);
    }
}
