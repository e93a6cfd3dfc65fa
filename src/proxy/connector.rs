//! The TCP connector under TLS: straight to the destination, to the proxy
//! that forwards an `http://` request, or through a proxy's tunnel.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use girder_core::BoxError;
use http::Uri;
use http::uri::Scheme;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use super::error::ProxyError;
use super::{Proxies, tunnel};

/// hyper-util's `HttpConnector`, routed by the transport's [`Proxies`].
///
/// # Clone
///
/// Clones share the proxies; hyper-util clones the connector for each
/// connection it opens.
#[derive(Debug, Clone)]
pub(crate) struct ProxyConnector {
    http: HttpConnector,
    proxies: Arc<Proxies>,
    /// Bounds the wait for a proxy's answer to `CONNECT`, as the connect
    /// timeout bounds the TCP connect before it.
    handshake_timeout: Option<Duration>,
}

impl ProxyConnector {
    pub(crate) fn new(
        http: HttpConnector,
        proxies: Arc<Proxies>,
        handshake_timeout: Option<Duration>,
    ) -> Self {
        ProxyConnector {
            http,
            proxies,
            handshake_timeout,
        }
    }
}

/// One boxed future per new connection (not per request), as hyper-util's
/// own connectors have: its type would name `HttpConnector`'s future and
/// the handshake's.
type Connecting = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

impl Service<Uri> for ProxyConnector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Connecting {
        let Some(proxy) = self.proxies.intercept(&dst).cloned() else {
            let connecting = self.http.call(dst);
            return Box::pin(async move {
                let io = connecting.await?;
                Ok(Conn { io, forward: false })
            });
        };
        let connecting = self.http.call(proxy.uri().clone());
        let timeout = self.handshake_timeout;
        Box::pin(async move {
            let io = connecting
                .await
                .map_err(|e| ProxyError::unreachable(&proxy, e))?;
            if dst.scheme() == Some(&Scheme::HTTPS) {
                let tunnel = tunnel::open(io.into_inner(), &proxy, &dst, timeout).await?;
                Ok(Conn {
                    io: TokioIo::new(tunnel),
                    forward: false,
                })
            } else {
                // hyper-util sends requests in absolute form on it.
                Ok(Conn { io, forward: true })
            }
        })
    }
}

/// A TCP connection, to the destination or through a tunnel, or to a
/// proxy that forwards the requests sent on it.
#[derive(Debug)]
pub(crate) struct Conn {
    io: TokioIo<TcpStream>,
    forward: bool,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forward)
    }
}

impl Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
