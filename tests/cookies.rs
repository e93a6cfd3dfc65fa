//! The cookie store (feature `cookies`) in the `Client`'s stack, against
//! `TestServer` on loopback: cookies stored from a response and sent on
//! the next call, on each redirect hop (a 3xx's own `Set-Cookie` first),
//! never to another host, `Secure` ones only over HTTPS, deleted by
//! `Max-Age=0`, malformed ones ignored, a provider of one's own, the
//! caller's own `Cookie` header, the log, the cache, signing, and the
//! blocking client.

use std::sync::{Arc, Mutex};

use girder::cookie::{CookieStore, Jar};
use girder::header::HeaderValue;
use girder::{Client, Url};
use girder_test::{MockService, RecordedRequest, Reply, TestServer};

#[cfg(feature = "sign")]
mod common;

/// A client of `server` with a jar of its own (`cookie_provider` replaces
/// it).
fn client(server: &TestServer) -> girder::ClientBuilder {
    Client::builder()
        .base_url(server.url("/"))
        .cookie_store(true)
}

/// The URL of `server`'s root, as a store takes it.
fn root(server: &TestServer) -> Url {
    Url::parse(&server.url("/")).unwrap()
}

/// The `Cookie` header a request carried, its pairs sorted (a jar keeps
/// the cookies of one path unordered).
fn cookies(request: &RecordedRequest) -> Vec<&str> {
    let mut pairs: Vec<&str> = request
        .header("cookie")
        .map_or(Vec::new(), |header| header.split("; ").collect());
    pairs.sort_unstable();
    pairs
}

#[tokio::test(start_paused = true)]
async fn a_cookie_from_one_response_goes_with_the_next_call() {
    let server = TestServer::start().await;
    server.route(
        "/login",
        Reply::ok()
            .header("set-cookie", "sid=abc; Path=/; HttpOnly")
            .header("set-cookie", "theme=dark; Path=/"),
    );
    server.fallback(Reply::ok());
    let c = client(&server).build().unwrap();
    c.post("login").send().await.unwrap();
    c.get("me").send().await.unwrap();
    c.get("me").send().await.unwrap();

    let seen = server.requests();
    assert!(cookies(&seen[0]).is_empty());
    assert_eq!(cookies(&seen[1]), ["sid=abc", "theme=dark"]);
    assert_eq!(cookies(&seen[2]), ["sid=abc", "theme=dark"]);
    // Without a store, nothing is kept.
    let plain = Client::builder().base_url(server.url("/")).build().unwrap();
    plain.post("login").send().await.unwrap();
    plain.get("me").send().await.unwrap();
    assert!(cookies(&server.requests()[4]).is_empty());
}

#[tokio::test(start_paused = true)]
async fn each_redirect_hop_sends_its_own_urls_cookies_and_a_3xx_sets_them_first() {
    let server = TestServer::start().await;
    server.route(
        "/a/start",
        Reply::status(302)
            .header("set-cookie", "hop=1; Path=/")
            .header("set-cookie", "scoped=a; Path=/a")
            .header("location", "/b/end"),
    );
    server.fallback(Reply::ok());
    let c = client(&server).build().unwrap();
    let response = c.get("a/start").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.url().path(), "/b/end");
    c.get("a/again").send().await.unwrap();

    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert!(cookies(&seen[0]).is_empty());
    // The hop to /b got the 3xx's cookie, but not the one scoped to /a.
    assert_eq!(seen[1].path(), "/b/end");
    assert_eq!(cookies(&seen[1]), ["hop=1"]);
    assert_eq!(cookies(&seen[2]), ["hop=1", "scoped=a"]);
}

#[tokio::test(start_paused = true)]
async fn a_redirect_to_another_host_carries_none_of_the_first_hosts_cookies() {
    let home = TestServer::start().await;
    let away = TestServer::start().await;
    // The same loopback server under another host name: `localhost`.
    let away_url = |path: &str| format!("http://localhost:{}{path}", away.addr().port());
    home.route("/login", Reply::ok().header("set-cookie", "sid=home-only"));
    home.route(
        "/go",
        Reply::status(302).header("location", &away_url("/land")),
    );
    away.route(
        "/land",
        Reply::ok().header("set-cookie", "visit=away; Path=/"),
    );
    away.fallback(Reply::ok());
    home.fallback(Reply::ok());
    let c = Client::builder().cookie_store(true).build().unwrap();
    c.get(home.url("/login")).send().await.unwrap();
    let landed = c.get(home.url("/go")).send().await.unwrap();
    assert_eq!(landed.url().host(), Some("localhost"));
    c.get(away_url("/again")).send().await.unwrap();
    c.get(home.url("/me")).send().await.unwrap();

    let at_away = away.requests();
    assert_eq!(at_away[0].path(), "/land");
    assert!(cookies(&at_away[0]).is_empty(), "{:?}", at_away[0].headers);
    // The other host's own cookie goes back to it, and only to it.
    assert_eq!(cookies(&at_away[1]), ["visit=away"]);
    assert_eq!(cookies(&home.requests_to("/me")[0]), ["sid=home-only"]);
    // Cookies do not tell ports apart (RFC 6265 §8.5): the same host on
    // another port gets them, as the module docs say.
    c.get(away.url("/by-ip")).send().await.unwrap();
    assert_eq!(cookies(&away.requests_to("/by-ip")[0]), ["sid=home-only"]);
}

#[tokio::test(start_paused = true)]
async fn a_secure_cookie_goes_over_https_only() {
    // Over an in-memory transport, as `api.test`: a loopback host counts
    // as secure (as in browsers), so TestServer cannot show the refusal.
    let mock = MockService::new(Reply::ok());
    mock.route(
        "/login",
        Reply::ok()
            .header("set-cookie", "sid=s3cure; Path=/; Secure")
            .header("set-cookie", "lang=en; Path=/"),
    );
    let c = Client::builder()
        .cookie_store(true)
        .build_with_transport(mock.clone())
        .unwrap();
    c.get("https://api.test/login").send().await.unwrap();
    c.get("http://api.test/page").send().await.unwrap();
    c.get("https://api.test/page").send().await.unwrap();
    let seen = mock.requests();
    assert_eq!(cookies(&seen[1]), ["lang=en"]);
    assert_eq!(cookies(&seen[2]), ["lang=en", "sid=s3cure"]);

    // On loopback, plain HTTP is a secure context.
    let server = TestServer::start().await;
    server.route(
        "/login",
        Reply::ok().header("set-cookie", "sid=local; Secure"),
    );
    server.fallback(Reply::ok());
    let c = client(&server).build().unwrap();
    c.get("login").send().await.unwrap();
    c.get("page").send().await.unwrap();
    assert_eq!(cookies(&server.requests_to("/page")[0]), ["sid=local"]);
}

#[tokio::test(start_paused = true)]
async fn max_age_zero_or_a_past_expiry_deletes_a_cookie() {
    let server = TestServer::start().await;
    server.route(
        "/login",
        Reply::ok()
            .header("set-cookie", "sid=abc; Path=/")
            .header("set-cookie", "hint=1; Path=/")
            .header("set-cookie", "keep=1; Path=/; Max-Age=3600"),
    );
    server.route(
        "/logout",
        Reply::ok()
            .header("set-cookie", "sid=; Path=/; Max-Age=0")
            .header(
                "set-cookie",
                "hint=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ),
    );
    server.fallback(Reply::ok());
    let c = client(&server).build().unwrap();
    c.post("login").send().await.unwrap();
    c.get("me").send().await.unwrap();
    c.post("logout").send().await.unwrap();
    c.get("me").send().await.unwrap();
    let me = server.requests_to("/me");
    assert_eq!(cookies(&me[0]), ["hint=1", "keep=1", "sid=abc"]);
    assert_eq!(cookies(&me[1]), ["keep=1"]);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_set_cookie_is_ignored_not_an_error() {
    let server = TestServer::start().await;
    server.route(
        "/login",
        Reply::ok()
            .header("set-cookie", "no equals sign")
            .header("set-cookie", "=")
            .header("set-cookie", "evil=1; Domain=other.test")
            .header("set-cookie", "sid=good; Path=/")
            .body("welcome"),
    );
    server.fallback(Reply::ok());
    let c = client(&server).build().unwrap();
    let response = c.post("login").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "welcome");
    c.get("me").send().await.unwrap();
    assert_eq!(cookies(&server.requests_to("/me")[0]), ["sid=good"]);
}

/// A provider that records what it is asked and told.
#[derive(Default)]
struct Recording {
    asked: Mutex<Vec<String>>,
    told: Mutex<Vec<(String, Vec<String>)>>,
}

impl CookieStore for Recording {
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        let fields = cookie_headers
            .map(|value| value.to_str().unwrap().to_owned())
            .collect();
        self.told
            .lock()
            .unwrap()
            .push((url.path().to_owned(), fields));
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        self.asked.lock().unwrap().push(url.path().to_owned());
        Some(HeaderValue::from_static("from=provider"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_provider_of_ones_own_is_asked_on_each_hop_and_told_each_set_cookie() {
    let server = TestServer::start().await;
    server.route(
        "/a",
        Reply::status(303)
            .header("set-cookie", "step=a")
            .header("location", "/b"),
    );
    server.route("/b", Reply::ok());
    let provider = Arc::new(Recording::default());
    let c = client(&server)
        .cookie_provider(provider.clone())
        .build()
        .unwrap();
    c.post("a").send().await.unwrap();

    assert_eq!(*provider.asked.lock().unwrap(), ["/a", "/b"]);
    assert_eq!(
        *provider.told.lock().unwrap(),
        [("/a".to_owned(), vec!["step=a".to_owned()])]
    );
    for request in server.requests() {
        assert_eq!(cookies(&request), ["from=provider"]);
    }
    // `cookie_store(true)` after a provider replaces it with a jar.
    let c = client(&server)
        .cookie_provider(provider.clone())
        .cookie_store(true)
        .build()
        .unwrap();
    c.get("b").send().await.unwrap();
    assert_eq!(provider.asked.lock().unwrap().len(), 2);
    assert!(cookies(&server.requests()[2]).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_shared_jar_filled_beforehand_and_the_callers_own_cookie_header() {
    let server = TestServer::start().await;
    server.fallback(Reply::ok());
    let jar = Arc::new(Jar::default());
    jar.add_cookie_str("sid=given", &root(&server));
    let c = client(&server)
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    c.get("one").send().await.unwrap();
    // The caller's own header is sent alone, as in reqwest.
    c.get("two")
        .header("cookie", "mine=1")
        .send()
        .await
        .unwrap();
    let seen = server.requests();
    assert_eq!(cookies(&seen[0]), ["sid=given"]);
    assert_eq!(cookies(&seen[1]), ["mine=1"]);
    assert_eq!(format!("{jar:?}"), "Jar { cookies: 1 }");
}

#[cfg(feature = "trace")]
#[tokio::test(start_paused = true)]
async fn no_cookie_value_reaches_the_log() {
    use girder::trace::LoggingConfig;
    const SESSION: &str = "sess-5ecret-MMM";

    use tracing_subscriber::fmt::MakeWriter;
    static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::NEW)
        .with_ansi(false)
        .with_writer(|| LOG.make_writer())
        .finish();
    // Global, not scoped: tracing caches each callsite's interest for every
    // thread, and the other tests of this file, logging on their threads
    // without a subscriber, could leave it at `never` for this one's.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = TestServer::start().await;
    server.route(
        "/login",
        Reply::ok().header("set-cookie", &format!("sid={SESSION}; Path=/; HttpOnly")),
    );
    server.fallback(Reply::ok());
    let config = LoggingConfig::builder().headers(true).build().unwrap();
    let c = client(&server).logging(config).build().unwrap();
    c.post("login").send().await.unwrap();
    c.get("me").send().await.unwrap();

    let expected = format!("sid={SESSION}");
    assert_eq!(cookies(&server.requests_to("/me")[0]), [expected.as_str()]);
    let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
    // Other tests log here too: this server's own URLs, with their headers.
    assert!(log.contains(&server.url("/login")), "{log}");
    assert!(log.contains(&server.url("/me")), "{log}");
    assert!(log.contains("set-cookie: [redacted]"), "{log}");
    assert!(!log.contains(SESSION), "{log}");
}

#[cfg(feature = "cache")]
#[tokio::test(start_paused = true)]
async fn a_cache_hit_gives_its_set_cookie_to_the_store_no_second_time() {
    use girder::cache::CacheConfig;
    let server = TestServer::start().await;
    server.route(
        "/item",
        Reply::ok()
            .header("cache-control", "max-age=60")
            .header("set-cookie", "seen=1")
            .body("item"),
    );
    let provider = Arc::new(Recording::default());
    let c = client(&server)
        .cache(CacheConfig::default())
        .cookie_provider(provider.clone())
        .build()
        .unwrap();
    for _ in 0..2 {
        let response = c.get("item").send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "item");
    }
    assert_eq!(server.request_count(), 1);
    assert_eq!(provider.told.lock().unwrap().len(), 1);
}

/// The server's check: the HMAC signature covers the `Cookie` header the
/// store added, so the store runs above signing.
#[cfg(feature = "sign")]
#[tokio::test(start_paused = true)]
async fn the_signature_covers_the_stores_cookie_header() {
    use girder::sign::hmac::{Component, HmacSigner};
    use girder_test::Script;
    let server = TestServer::start().await;
    server.route(
        "/me",
        Script::from_fn(|req| {
            if req.header("cookie").is_some()
                && common::hmac_signed(req, b"cookie-secret", &["cookie"])
            {
                Reply::ok()
            } else {
                Reply::status(401)
            }
        }),
    );
    let signer = HmacSigner::builder("app", b"cookie-secret".to_vec())
        .components([
            Component::Timestamp,
            Component::Method,
            Component::PathAndQuery,
            Component::Header(http::header::COOKIE),
        ])
        .build()
        .unwrap();
    let jar = Arc::new(Jar::default());
    jar.add_cookie_str("sid=signed", &root(&server));
    let c = client(&server)
        .cookie_provider(jar)
        .signing(signer)
        .build()
        .unwrap();
    assert_eq!(c.get("me").send().await.unwrap().status(), 200);
    assert_eq!(cookies(&server.requests()[0]), ["sid=signed"]);
}

#[cfg(feature = "blocking")]
#[test]
fn the_blocking_client_keeps_cookies_too() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TestServer::start());
    server.route(
        "/login",
        Reply::ok().header("set-cookie", "sid=sync; Path=/"),
    );
    server.fallback(Reply::ok());
    let c = client(&server).build_blocking().unwrap();
    c.post("login").send().unwrap();
    c.get("me").send().unwrap();
    assert_eq!(cookies(&server.requests_to("/me")[0]), ["sid=sync"]);
}
