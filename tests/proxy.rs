//! Proxies end to end (issue 23): the client through a real tinyproxy
//! (girder-test's `ProxyServer`) to `TestServer`, plain and over TLS, on
//! loopback. Each test skips where tinyproxy is not installed, except under
//! `CI=true`.

use std::error::Error as _;
use std::sync::{Arc, Mutex};

use girder::proxy::ProxyError;
use girder::retry::RetryPolicy;
use girder::tls::Certificate;
use girder::{Body, CallRecord, Client, ClientBuilder, Error, Kind, Proxy};
use girder_test::tls::{TestCa, TlsConfig};
use girder_test::{ProxyConfig, ProxyServer, Reply, TestServer};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-Pa55";
/// base64("alice:s3cret-Pa55"): what `Proxy-Authorization` would carry.
const ENCODED: &str = "YWxpY2U6czNjcmV0LVBhNTU=";

fn proxy(test: &str) -> Option<ProxyServer> {
    ProxyServer::start_or_skip(test)
}

fn proxy_with_auth(test: &str) -> Option<ProxyServer> {
    ProxyServer::start_or_skip_with(test, &ProxyConfig::new().basic_auth(USER, PASSWORD))
}

async fn plain_server() -> TestServer {
    let server = TestServer::start().await;
    server.route("/hello", Reply::ok().body("hi"));
    server
}

async fn tls_server(ca: &TestCa) -> TestServer {
    let server = TestServer::start_tls(TlsConfig::new(&ca.server_cert())).await;
    server.route("/hello", Reply::ok().body("hi"));
    server
}

/// A client that would try four times if the classifier allowed it.
fn client() -> ClientBuilder {
    Client::builder().retry(RetryPolicy::builder().max_attempts(4).build().unwrap())
}

fn trusting(ca: &TestCa) -> ClientBuilder {
    client().add_root_certificate(Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
}

/// GETs `/hello` on `server` with a call record of the test's own.
async fn get(client: &Client, server: &TestServer) -> (Result<String, Error>, CallRecord) {
    let mut request = http::Request::get(server.url("/hello"))
        .body(Body::empty())
        .unwrap();
    let record = CallRecord::ensure(&mut request);
    let result = match client.execute(request).await {
        Ok(response) => match response.error_for_status_with_message().await {
            Ok(response) => response.text().await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    (result, record)
}

/// The tunnel requests (`CONNECT host:port`) the proxy received.
fn connects(proxy: &ProxyServer) -> Vec<String> {
    let all = proxy.requests();
    all.into_iter()
        .filter(|r| r.starts_with("CONNECT "))
        .collect()
}

#[tokio::test]
async fn plain_http_goes_through_the_proxy_in_absolute_form() {
    let Some(proxy) = proxy("plain http") else {
        return;
    };
    let server = plain_server().await;
    let client = client()
        .proxy(Proxy::http(proxy.url()).unwrap())
        .build()
        .unwrap();
    let (result, _) = get(&client, &server).await;
    assert_eq!(result.unwrap(), "hi");
    assert_eq!(
        proxy.requests(),
        [format!("GET {} HTTP/1.1", server.url("/hello"))]
    );
    // tinyproxy's mark, and the origin form it forwards.
    let seen = &server.requests()[0];
    assert!(
        seen.header("via").unwrap().contains("tinyproxy"),
        "{seen:?}"
    );
    assert_eq!(seen.uri, "/hello");
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel() {
    let Some(proxy) = proxy("https through CONNECT") else {
        return;
    };
    let ca = TestCa::new();
    let server = tls_server(&ca).await;
    let client = trusting(&ca)
        .proxy(Proxy::https(proxy.url()).unwrap())
        .build()
        .unwrap();
    let (result, _) = get(&client, &server).await;
    assert_eq!(result.unwrap(), "hi");
    assert_eq!(
        proxy.requests(),
        [format!("CONNECT {} HTTP/1.1", server.addr())]
    );
    // Inside the tunnel the proxy reads nothing, so it adds nothing.
    assert_eq!(server.requests()[0].header("via"), None);
    // An https-only proxy leaves http:// alone.
    let plain = plain_server().await;
    let (result, _) = get(&client, &plain).await;
    assert_eq!(result.unwrap(), "hi");
    assert_eq!(proxy.requests().len(), 1);
}

/// Both ways of giving credentials, both kinds of destination: the proxy
/// lets each through and the origin never sees `Proxy-Authorization`, nor
/// do the logs at TRACE level.
#[tokio::test]
async fn proxy_credentials_are_accepted_and_never_reach_the_origin() {
    let Some(proxy) = proxy_with_auth("proxy credentials") else {
        return;
    };
    let ca = TestCa::new();
    let (plain, tls) = (plain_server().await, tls_server(&ca).await);
    let in_url = format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", proxy.port());
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    for given in [
        Proxy::all(&in_url).unwrap(),
        Proxy::all(proxy.url()).unwrap().basic_auth(USER, PASSWORD),
    ] {
        let client = trusting(&ca).proxy(given.clone()).build().unwrap();
        for server in [&plain, &tls] {
            let (result, _) = get(&client, server).await;
            assert_eq!(result.unwrap(), "hi", "{given:?}");
        }
        let shown = format!("{given:?} {client:?}");
        assert!(
            !shown.contains(PASSWORD) && !shown.contains(ENCODED),
            "{shown}"
        );
    }
    assert_eq!(proxy.requests().len(), 4);
    for seen in plain.requests().iter().chain(&tls.requests()) {
        assert_eq!(seen.header("proxy-authorization"), None, "{seen:?}");
        assert_eq!(seen.header("authorization"), None, "{seen:?}");
    }
    let logged = logs.text();
    assert!(!logged.is_empty());
    assert!(
        !logged.contains(PASSWORD) && !logged.contains(ENCODED),
        "{logged}"
    );
}

/// Wrong credentials: for https, the refused tunnel is a `Kind::Proxy`
/// error naming the proxy, sent once though four attempts were allowed;
/// for http, the proxy's answer is the response, also sent once.
#[tokio::test]
async fn wrong_proxy_credentials_fail_clearly_and_are_not_retried() {
    let Some(proxy) = proxy_with_auth("wrong proxy credentials") else {
        return;
    };
    let ca = TestCa::new();
    let (plain, tls) = (plain_server().await, tls_server(&ca).await);
    let client = trusting(&ca)
        .proxy(
            Proxy::all(proxy.url())
                .unwrap()
                .basic_auth(USER, "wrong-Pa55"),
        )
        .build()
        .unwrap();

    let (result, record) = get(&client, &tls).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind(), Kind::Proxy, "{error}");
    assert!(!error.is_retryable());
    assert_eq!(record.attempts(), 1, "{record}");
    assert_eq!(connects(&proxy).len(), 1);
    let refusal = error
        .source()
        .and_then(|e| e.downcast_ref::<ProxyError>())
        .expect("the refusal is the source");
    assert_eq!(refusal.proxy(), proxy.url());
    // tinyproxy answers a CONNECT without the right credentials so.
    assert_eq!(refusal.status(), Some(http::StatusCode::UNAUTHORIZED));
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "the proxy {} refused a tunnel to {}",
            proxy.url(),
            tls.addr()
        )) && text.contains("credentials are missing or wrong"),
        "{text}"
    );
    assert!(!text.contains("wrong-Pa55"), "{text}");
    assert!(tls.requests().is_empty() && tls.connections() == 0);

    // For http://, the proxy's answer is the response: tinyproxy answers
    // wrong credentials with its own 401, and missing ones with 407.
    let (result, record) = get(&client, &plain).await;
    let error = result.unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::UNAUTHORIZED));
    let server = error.headers().unwrap()["server"].to_str().unwrap();
    assert!(server.starts_with("tinyproxy/"), "{server}");
    assert_eq!(record.attempts(), 1, "{record}");
    let without = trusting(&ca)
        .proxy(Proxy::all(proxy.url()).unwrap())
        .build()
        .unwrap();
    let (result, record) = get(&without, &plain).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind(), Kind::Proxy, "{error}");
    assert_eq!(
        error.status(),
        Some(http::StatusCode::PROXY_AUTHENTICATION_REQUIRED)
    );
    assert_eq!(record.attempts(), 1, "{record}");
    assert_eq!(proxy.requests().len(), 3);
    assert!(plain.requests().is_empty());
}

/// A tunnel the proxy's policy forbids (tinyproxy's `ConnectPort`): 403,
/// `Kind::Proxy`, not retried.
#[tokio::test]
async fn a_tunnel_the_proxy_forbids_is_a_proxy_error() {
    let config = ProxyConfig::new().connect_port(1);
    let Some(proxy) = ProxyServer::start_or_skip_with("forbidden tunnel", &config) else {
        return;
    };
    let ca = TestCa::new();
    let server = tls_server(&ca).await;
    let client = trusting(&ca)
        .proxy(Proxy::https(proxy.url()).unwrap())
        .build()
        .unwrap();
    let (result, record) = get(&client, &server).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind(), Kind::Proxy, "{error}");
    assert_eq!(record.attempts(), 1, "{record}");
    assert!(error.to_string().contains("403"), "{error}");
    assert_eq!(connects(&proxy).len(), 1);
}

/// The proxy cannot reach the origin (a 5xx answer to CONNECT): a connect
/// error naming the proxy, retried as one.
#[tokio::test]
async fn a_tunnel_the_proxy_cannot_open_is_a_connect_error_and_retried() {
    let Some(proxy) = proxy("tunnel to nowhere") else {
        return;
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = closed.local_addr().unwrap();
    drop(closed);
    let client = Client::builder()
        .retry(
            RetryPolicy::builder()
                .max_attempts(2)
                .backoff(girder::retry::Backoff::constant(std::time::Duration::ZERO))
                .build()
                .unwrap(),
        )
        .proxy(Proxy::https(proxy.url()).unwrap())
        .build()
        .unwrap();
    let request = http::Request::get(format!("https://{nowhere}/"))
        .body(Body::empty())
        .unwrap();
    let error = client.execute(request).await.unwrap_err();
    assert_eq!(error.kind(), Kind::Connect, "{error}");
    assert!(error.is_retryable());
    assert!(
        error.to_string().contains(&format!(
            "the proxy {} could not open a tunnel to {nowhere}: 500",
            proxy.url()
        )),
        "{error}"
    );
    assert_eq!(connects(&proxy).len(), 2, "retried");
}

#[tokio::test]
async fn an_unreachable_proxy_is_a_connect_error_naming_it() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let server = plain_server().await;
    let url = format!("http://{USER}:{PASSWORD}@127.0.0.1:{port}");
    let client = Client::builder()
        .retry(None)
        .proxy(Proxy::all(url).unwrap())
        .build()
        .unwrap();
    let (result, _) = get(&client, &server).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind(), Kind::Connect, "{error}");
    assert!(error.is_retryable());
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "cannot connect to the proxy http://127.0.0.1:{port}"
        )),
        "{text}"
    );
    assert!(!text.contains(PASSWORD) && !format!("{error:?}").contains(PASSWORD));
    assert!(server.requests().is_empty());
}

/// `no_proxy(list)` sends the listed destinations directly; the builder's
/// `no_proxy()` turns every proxy off.
#[tokio::test]
async fn no_proxy_lists_and_no_proxy_bypass_the_proxy() {
    let Some(proxy) = proxy("no_proxy") else {
        return;
    };
    let server = plain_server().await;
    let through = |list: &str| {
        client()
            .proxy(Proxy::all(proxy.url()).unwrap().no_proxy(list))
            .build()
            .unwrap()
    };
    let via = |i: usize| server.requests()[i].header("via").map(str::to_owned);

    get(&through("localhost, 127.0.0.1"), &server)
        .await
        .0
        .unwrap();
    assert_eq!(via(0), None);
    get(&through("127.0.0.0/8"), &server).await.0.unwrap();
    assert_eq!(via(1), None);
    assert!(proxy.requests().is_empty());
    get(&through("example.invalid"), &server).await.0.unwrap();
    assert!(via(2).is_some());
    assert_eq!(proxy.requests().len(), 1);

    let off = client()
        .proxy(Proxy::all(proxy.url()).unwrap())
        .no_proxy()
        .build()
        .unwrap();
    get(&off, &server).await.0.unwrap();
    assert_eq!(via(3), None);
    assert_eq!(proxy.requests().len(), 1);
}

/// A fake proxy that accepts, reads the CONNECT and then answers `answer`
/// (or nothing, for `None`), and its URL.
async fn fake_proxy(answer: Option<&'static [u8]>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 1024];
        let _ = stream.read(&mut head).await;
        match answer {
            Some(answer) => stream.write_all(answer).await.unwrap(),
            None => std::future::pending().await,
        }
        // Held open until the client gives up.
        let _ = stream.read(&mut head).await;
    });
    url
}

async fn tunnel_error(proxy_url: &str) -> Error {
    let client = Client::builder()
        .retry(None)
        .connect_timeout(std::time::Duration::from_secs(2))
        .proxy(Proxy::https(proxy_url).unwrap())
        .build()
        .unwrap();
    let request = http::Request::get("https://127.0.0.1:1/")
        .body(Body::empty())
        .unwrap();
    client.execute(request).await.unwrap_err()
}

/// A proxy that accepts but never answers CONNECT: the connect timeout
/// bounds the wait (paused time), and it is a connect error naming the
/// proxy. One that answers something other than HTTP is one too.
#[tokio::test(start_paused = true)]
async fn a_proxy_that_never_answers_connect_times_out_as_a_connect_error() {
    let silent = fake_proxy(None).await;
    let error = tunnel_error(&silent).await;
    assert_eq!(error.kind(), Kind::Connect, "{error}");
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "the proxy {silent} did not answer CONNECT 127.0.0.1:1 within 2s"
        )),
        "{text}"
    );

    let garbage = fake_proxy(Some(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")).await;
    let error = tunnel_error(&garbage).await;
    assert_eq!(error.kind(), Kind::Connect, "{error}");
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    let mut found = None;
    while let Some(e) = next {
        found = found.or(e.downcast_ref::<ProxyError>());
        next = e.source();
    }
    let found = found.expect("a ProxyError in the chain");
    assert_eq!(found.proxy(), garbage);
    assert_eq!(found.status(), None);
    assert!(
        found
            .to_string()
            .ends_with("with something other than HTTP/1"),
        "{found}"
    );
}

/// What a `tracing` subscriber wrote.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}
