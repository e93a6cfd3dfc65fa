//! The `CONNECT` handshake that opens a tunnel through a proxy.
//!
//! hyper-util's `Tunnel` connector does the same, but its error type is
//! private and keeps no status: a 403 and a 502 read alike, and neither
//! can be told from a connect error. The handshake is a few lines, so it
//! is written here, with the status kept for [`ProxyError`].

use std::io;
use std::time::Duration;

use http::{StatusCode, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Proxy;
use super::error::{NoAnswer, ProxyError};

/// The largest answer head read (hyper-util's `Tunnel` reads as much).
const MAX_HEAD: usize = 8 * 1024;

/// Asks `proxy`, at the other end of `stream`, for a tunnel to `dst`, with
/// the proxy's credentials if it has some; the stream is the tunnel once
/// the proxy answers 2xx. `timeout` bounds the wait for the answer.
pub(super) async fn open(
    mut stream: TcpStream,
    proxy: &Proxy,
    dst: &Uri,
    timeout: Option<Duration>,
) -> Result<TcpStream, ProxyError> {
    // An IPv6 host comes bracketed, as CONNECT wants it.
    let host = dst.host().unwrap_or_default();
    let port = dst.port_u16().unwrap_or(443);
    let target = format!("{host}:{port}");
    let handshake = handshake(&mut stream, proxy, &target);
    match timeout {
        Some(after) => match tokio::time::timeout(after, handshake).await {
            Ok(answer) => answer?,
            Err(_) => {
                let why = NoAnswer::Timeout(after);
                return Err(ProxyError::no_answer(proxy, &target, why, None));
            }
        },
        None => handshake.await?,
    }
    Ok(stream)
}

async fn handshake(stream: &mut TcpStream, proxy: &Proxy, target: &str) -> Result<(), ProxyError> {
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
    if let Some(auth) = proxy.auth() {
        // On the CONNECT only: the requests inside the tunnel are the
        // origin's, and carry none.
        head.extend_from_slice(b"Proxy-Authorization: ");
        head.extend_from_slice(auth.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let closed =
        |e: io::Error| ProxyError::no_answer(proxy, target, NoAnswer::Closed, Some(e.into()));
    stream.write_all(&head).await.map_err(closed)?;

    let mut buf = vec![0; MAX_HEAD];
    let mut len = 0;
    loop {
        let read = stream.read(&mut buf[len..]).await.map_err(closed)?;
        if read == 0 {
            return Err(ProxyError::no_answer(proxy, target, NoAnswer::Closed, None));
        }
        len += read;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut answer = httparse::Response::new(&mut headers);
        let why = match answer.parse(&buf[..len]) {
            // Anything after the head would be the origin's, and the
            // origin says nothing before the client's TLS hello.
            Ok(httparse::Status::Complete(_)) => {
                let status = answer
                    .code
                    .and_then(|code| StatusCode::from_u16(code).ok())
                    .ok_or(NoAnswer::NotHttp);
                return match status {
                    Ok(status) if status.is_success() => Ok(()),
                    Ok(status) => Err(ProxyError::answered(proxy, target, status)),
                    Err(why) => Err(ProxyError::no_answer(proxy, target, why, None)),
                };
            }
            Ok(httparse::Status::Partial) if len < buf.len() => continue,
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                NoAnswer::TooLong
            }
            Err(_) => NoAnswer::NotHttp,
        };
        return Err(ProxyError::no_answer(proxy, target, why, None));
    }
}
