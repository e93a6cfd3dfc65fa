use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use girder_core::Body;
use http::{Method, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::recorded::Log;
use crate::router::Router;
use crate::{RecordedRequest, Script};

/// A real HTTP server on `127.0.0.1`, on a port the OS picks, whose routes
/// follow [`Script`]s and which records every request it receives.
///
/// It speaks HTTP/1.1 and HTTP/2 (prior knowledge) over plain TCP, or over
/// TLS with `TestServer::start_tls` (feature `tls`), and runs
/// on the tokio runtime that started it, so a test with paused time sees
/// scripted delays and arrival times on the same clock as its client.
///
/// ```
/// use girder_test::{Reply, TestServer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = TestServer::start().await;
/// server.route("/items", [Reply::status(503), Reply::ok().json("[]")]);
/// assert!(server.url("/items").starts_with("http://127.0.0.1:"));
/// assert!(server.requests().is_empty());
/// # }
/// ```
///
/// Routes match the exact path, query ignored; a route added later wins,
/// and a method-specific route ([`TestServer::route_method`]) wins over one
/// for any method. An unmatched request gets a 404 that names it.
///
/// Dropping the server stops it and closes every connection.
///
/// # Paused time
///
/// tokio moves a paused clock forward whenever the runtime has nothing to
/// do. Bytes on loopback are delivered within the sender's system call, so
/// with the current-thread runtime of `#[tokio::test]` a response that has
/// been written is seen before the clock moves. Keep timing tests on that
/// runtime; on a multi-threaded one a client timer may fire while bytes
/// are still in flight.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    router: Router,
    log: Log,
    connections: Arc<AtomicU64>,
    accept: JoinHandle<()>,
    scheme: &'static str,
}

/// What the server speaks over TCP: TLS, or nothing (a build without the
/// `tls` feature has no acceptor, and `Option<Acceptor>` is always `None`).
#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
enum Acceptor {}

impl TestServer {
    /// Starts a server on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound, or outside a tokio runtime.
    pub async fn start() -> TestServer {
        TestServer::start_with(None).await
    }

    /// Starts a server on `127.0.0.1:0` that speaks TLS as `config` says:
    /// it presents a certificate made at test time, and may require a
    /// client certificate or one TLS version. Routes, scripts and the
    /// request log are those of a plain server; [`url`](Self::url) starts
    /// with `https://`.
    ///
    /// A client whose handshake fails gets the TLS alert; the server then
    /// closes the connection and records no request.
    ///
    /// ```
    /// use girder_test::tls::{TestCa, TlsConfig};
    /// use girder_test::TestServer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let ca = TestCa::new();
    /// let server = TestServer::start_tls(TlsConfig::new(&ca.expired_server_cert())).await;
    /// assert_eq!(server.https_url("/a"), format!("https://{}/a", server.addr()));
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound, or outside a tokio runtime.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn start_tls(config: crate::tls::TlsConfig) -> TestServer {
        let acceptor = tokio_rustls::TlsAcceptor::from(config.server_config());
        TestServer::start_with(Some(acceptor)).await
    }

    async fn start_with(tls: Option<Acceptor>) -> TestServer {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("girder-test: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let router = Router::default();
        let log = Log::default();
        let connections = Arc::new(AtomicU64::new(0));
        let accept = tokio::spawn(accept_loop(
            listener,
            router.clone(),
            log.clone(),
            connections.clone(),
            tls,
        ));
        TestServer {
            addr,
            router,
            log,
            connections,
            accept,
            scheme,
        }
    }

    /// Routes requests for `path`, any method, to `script`.
    pub fn route(&self, path: &str, script: impl Into<Script>) -> &Self {
        self.router.add(None, Some(path), script.into());
        self
    }

    /// Routes `method` requests for `path` to `script`.
    pub fn route_method(&self, method: Method, path: &str, script: impl Into<Script>) -> &Self {
        self.router.add(Some(method), Some(path), script.into());
        self
    }

    /// Routes every request that no other route matches to `script`.
    pub fn fallback(&self, script: impl Into<Script>) -> &Self {
        self.router.add(None, None, script.into());
        self
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path_and_query`, or
    /// `https://…` for a server started with `start_tls`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path_and_query)
    }

    /// `https://127.0.0.1:PORT` followed by `path_and_query`, whatever the
    /// server speaks (a plain server fails the client's handshake).
    pub fn https_url(&self, path_and_query: &str) -> String {
        format!("https://{}{}", self.addr, path_and_query)
    }

    /// [`TestServer::url`] as a [`Uri`].
    ///
    /// # Panics
    ///
    /// If `path_and_query` does not make a valid URI.
    pub fn uri(&self, path_and_query: &str) -> Uri {
        self.url(path_and_query)
            .parse()
            .unwrap_or_else(|e| panic!("girder-test: {path_and_query:?} is not a valid path: {e}"))
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.all()
    }

    /// The requests received so far for `path`.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.log
            .all()
            .into_iter()
            .filter(|r| r.path() == path)
            .collect()
    }

    /// Whether requests are kept in the log that [`requests`](Self::requests)
    /// reads. A long run (a soak) turns it off so that the log does not
    /// grow with every request; [`request_count`](Self::request_count)
    /// still counts them.
    ///
    /// Default: on.
    pub fn set_recording(&self, on: bool) -> &Self {
        self.log.set_recording(on);
        self
    }

    /// The number of requests received so far, recorded or not.
    pub fn request_count(&self) -> usize {
        self.log.len()
    }

    /// The number of connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every
        // connection task with it.
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    log: Log,
    connections: Arc<AtomicU64>,
    tls: Option<Acceptor>,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let id = connections.fetch_add(1, Ordering::SeqCst) + 1;
                let (router, log) = (router.clone(), log.clone());
                let tls = tls.clone();
                tasks.spawn(async move {
                    match tls {
                        None => serve(stream, id, router, log).await,
                        #[cfg(feature = "tls")]
                        Some(acceptor) => serve_tls(acceptor, stream, id, router, log).await,
                        #[cfg(not(feature = "tls"))]
                        Some(never) => match never {},
                    }
                });
            }
            // Reap finished connections so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

async fn serve<I>(io: I, connection: u64, router: Router, log: Log)
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service =
        hyper::service::service_fn(move |req| handle(req, connection, router.clone(), log.clone()));
    // Errors here are the scripted drops and client hang-ups.
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), service)
        .await;
}

#[cfg(feature = "tls")]
async fn serve_tls(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    connection: u64,
    router: Router,
    log: Log,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    match acceptor.accept(stream).into_fallible().await {
        Ok(tls) => serve(tls, connection, router, log).await,
        Err((_, mut tcp)) => {
            // rustls has written its alert. Closing now, with the client's
            // request still unread (it follows its half of a TLS 1.3
            // handshake at once), would make the kernel send a reset that
            // may overtake the alert; so close this side only and wait for
            // the client, which hangs up once it has read the alert.
            let _ = tcp.shutdown().await;
            let mut sink = [0u8; 4096];
            while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    connection: u64,
    router: Router,
    log: Log,
) -> Result<Response<Body>, io::Error> {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return Err(io::Error::other(e)),
    };
    // An error makes hyper close the connection without a response.
    router.answer(&log, parts, body, at, connection).await
}
