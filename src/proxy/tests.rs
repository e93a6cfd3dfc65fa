use std::collections::HashMap;
use std::sync::Arc;

use girder_core::Body;
use girder_test::{ProxyServer, Reply, TestServer};
use http::Request;
use http::header::PROXY_AUTHORIZATION;
use tower::ServiceExt;

use super::settings::Lookup;
use super::*;
use crate::TransportBuilder;

/// An environment of the test's own: no test changes the process's.
fn env(pairs: &[(&str, &str)]) -> Lookup {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Arc::new(move |name| map.get(name).cloned())
}

fn settings(pairs: &[(&str, &str)]) -> ProxySettings {
    let mut settings = ProxySettings::default();
    settings.set_lookup(env(pairs));
    settings
}

/// The URL of the proxy that carries `dst`, if any.
fn route(proxies: &Proxies, dst: &str) -> Option<String> {
    proxies.intercept(&dst.parse().unwrap()).map(Proxy::url)
}

#[test]
fn urls_parse_as_curl_reads_them() {
    for (input, url) in [
        ("http://proxy.corp:3128", "http://proxy.corp:3128"),
        ("proxy.corp:3128", "http://proxy.corp:3128"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://proxy.corp", "http://proxy.corp"),
        (
            "  http://proxy.corp:3128/some/path  ",
            "http://proxy.corp:3128",
        ),
        ("http://[::1]:3128", "http://[::1]:3128"),
        (
            "http://alice:s3cret@proxy.corp:3128",
            "http://proxy.corp:3128",
        ),
    ] {
        let proxy = Proxy::all(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(proxy.url(), url, "{input}");
        assert_eq!(proxy.uri().path(), "/");
    }
    for (input, why) in [
        ("https://proxy.corp:3128", "https:// proxies"),
        ("socks5://proxy.corp:1080", "SOCKS"),
        ("socks5h://proxy.corp:1080", "SOCKS"),
        ("ftp://proxy.corp", "scheme must be http"),
        ("http://", "not a URL"),
        ("not a url", "not a URL"),
        ("", "not a URL"),
        ("/just/a/path", "no host"),
        ("http://alice:s3cret@", "not a URL"),
    ] {
        let err = Proxy::http(input).unwrap_err();
        assert!(err.to_string().contains(why), "{input:?}: {err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}

#[test]
fn credentials_come_from_the_url_or_basic_auth_percent_decoded() {
    let from_url = Proxy::http("http://alice:p%40ss%3Aword@proxy.corp:3128").unwrap();
    // base64("alice:p@ss:word")
    assert_eq!(from_url.auth().unwrap(), "Basic YWxpY2U6cEBzczp3b3Jk");
    assert!(from_url.auth().unwrap().is_sensitive());
    let user_only = Proxy::http("http://alice@proxy.corp:3128").unwrap();
    assert_eq!(user_only.auth().unwrap(), "Basic YWxpY2U6"); // "alice:"
    let replaced = from_url.basic_auth("bob", "hunter2");
    assert_eq!(replaced.auth().unwrap(), "Basic Ym9iOmh1bnRlcjI=");
    assert!(replaced.auth().unwrap().is_sensitive());
    assert!(
        Proxy::http("http://proxy.corp:3128")
            .unwrap()
            .auth()
            .is_none()
    );
    assert_eq!(percent_decode("100%"), b"100%");
    assert_eq!(percent_decode("%zz%4"), b"%zz%4");
}

#[test]
fn debug_never_shows_credentials() {
    let proxy = Proxy::https("http://alice:s3cret@proxy.corp:3128")
        .unwrap()
        .no_proxy("localhost");
    let debug = format!("{proxy:?}");
    assert_eq!(
        debug,
        r#"Proxy { scope: Https, url: "http://proxy.corp:3128", auth: Some("[redacted]"), no_proxy: Some("localhost") }"#
    );
    let basic = proxy.basic_auth("alice", "hunter2");
    for shown in [
        format!("{basic:?}"),
        format!("{:?}", TransportBuilder::default().proxy(basic.clone())),
        format!("{:?}", crate::Client::builder().proxy(basic.clone())),
    ] {
        for secret in ["s3cret", "hunter2", "YWxpY2U6"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

#[test]
fn the_environment_gives_a_proxy_per_scheme_and_no_proxy_exceptions() {
    let proxies = settings(&[
        ("HTTP_PROXY", "http://plain.proxy:3128"),
        ("HTTPS_PROXY", "tls.proxy:3129"),
        ("NO_PROXY", "localhost, .internal.example, 10.0.0.0/8"),
    ])
    .resolve()
    .unwrap();
    let cases = [
        ("http://api.example.com/", Some("http://plain.proxy:3128")),
        ("https://api.example.com/", Some("http://tls.proxy:3129")),
        ("https://localhost:8443/", None),
        ("http://db.internal.example/", None),
        ("http://internal.example/", None),
        (
            "http://notinternal.example/",
            Some("http://plain.proxy:3128"),
        ),
        ("http://10.1.2.3/", None),
        ("http://11.1.2.3/", Some("http://plain.proxy:3128")),
    ];
    for (dst, expected) in cases {
        assert_eq!(route(&proxies, dst).as_deref(), expected, "{dst}");
    }
}

#[test]
fn all_proxy_fills_in_and_lower_case_names_count_too() {
    let proxies = settings(&[
        ("all_proxy", "http://all.proxy:3128"),
        ("https_proxy", "http://tls.proxy:3129"),
        ("no_proxy", "*"),
    ])
    .resolve()
    .unwrap();
    // `*`: nothing is proxied.
    assert_eq!(route(&proxies, "http://api.example.com/"), None);
    let proxies = settings(&[
        ("ALL_PROXY", "http://all.proxy:3128"),
        ("https_proxy", "http://tls.proxy:3129"),
    ])
    .resolve()
    .unwrap();
    assert_eq!(
        route(&proxies, "http://api.example.com/").as_deref(),
        Some("http://all.proxy:3128")
    );
    assert_eq!(
        route(&proxies, "https://api.example.com/").as_deref(),
        Some("http://tls.proxy:3129")
    );
    // Upper case first, as hyper-util's matcher reads them.
    let proxies = settings(&[
        ("HTTP_PROXY", "http://upper.proxy:1"),
        ("http_proxy", "http://lower.proxy:2"),
    ])
    .resolve()
    .unwrap();
    assert_eq!(
        route(&proxies, "http://api.example.com/").as_deref(),
        Some("http://upper.proxy:1")
    );
}

#[test]
fn empty_variables_and_cgi_programs_mean_no_proxy() {
    for pairs in [
        &[][..],
        &[("HTTP_PROXY", ""), ("HTTPS_PROXY", "  ")][..],
        // httpoxy: in CGI, HTTP_PROXY may be a request's `Proxy:` header.
        &[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://attacker.example:80"),
        ][..],
    ] {
        let proxies = settings(pairs).resolve().unwrap();
        assert_eq!(
            route(&proxies, "http://api.example.com/"),
            None,
            "{pairs:?}"
        );
    }
    // An empty upper-case variable hides the lower-case one, as in the matcher.
    let proxies = settings(&[("HTTP_PROXY", ""), ("http_proxy", "http://p:1")])
        .resolve()
        .unwrap();
    assert_eq!(route(&proxies, "http://api.example.com/"), None);
}

#[test]
fn a_variable_girder_cannot_use_fails_the_build_naming_it_not_its_value() {
    for (name, value, why) in [
        (
            "HTTPS_PROXY",
            "https://alice:s3cret@proxy:443",
            "https:// proxies",
        ),
        ("all_proxy", "socks5://alice:s3cret@proxy:1080", "SOCKS"),
        ("HTTP_PROXY", "alice:s3cret@", "not a URL"),
    ] {
        let err = settings(&[(name, value)]).resolve().unwrap_err();
        let text = err.to_string();
        assert!(text.contains(name) && text.contains(why), "{text}");
        assert!(!text.contains("s3cret") && !text.contains(value), "{text}");
    }
}

#[test]
fn given_proxies_replace_the_environment_and_no_proxy_turns_all_off() {
    let mut given = settings(&[("HTTP_PROXY", "http://env.proxy:1")]);
    given.add(Proxy::https("http://given.proxy:2").unwrap());
    let proxies = given.resolve().unwrap();
    assert_eq!(route(&proxies, "http://api.example.com/"), None);
    assert_eq!(
        route(&proxies, "https://api.example.com/").as_deref(),
        Some("http://given.proxy:2")
    );

    let mut off = settings(&[("HTTP_PROXY", "http://env.proxy:1")]);
    off.clear();
    assert_eq!(
        route(&off.resolve().unwrap(), "http://api.example.com/"),
        None
    );
    // A proxy given after `no_proxy` is used; the environment stays off.
    off.add(Proxy::https("http://given.proxy:2").unwrap());
    let proxies = off.resolve().unwrap();
    assert_eq!(route(&proxies, "http://api.example.com/"), None);
    assert!(route(&proxies, "https://api.example.com/").is_some());
}

#[test]
fn the_first_proxy_that_carries_a_destination_wins() {
    let mut given = ProxySettings::default();
    given.add(
        Proxy::all("http://first:1")
            .unwrap()
            .no_proxy("skip.example"),
    );
    given.add(Proxy::all("http://second:2").unwrap());
    let proxies = given.resolve().unwrap();
    assert_eq!(
        route(&proxies, "http://api.example.com/").as_deref(),
        Some("http://first:1")
    );
    assert_eq!(
        route(&proxies, "http://skip.example/").as_deref(),
        Some("http://second:2")
    );
}

#[test]
fn credentials_go_on_forwarded_http_requests_only() {
    let mut given = ProxySettings::default();
    given.add(
        Proxy::all("http://proxy:1")
            .unwrap()
            .basic_auth("alice", "s3cret")
            .no_proxy("direct.example"),
    );
    let proxies = given.resolve().unwrap();
    let authorized = |url: &str| {
        let mut request = Request::get(url).body(()).unwrap();
        proxies.authorize(&mut request);
        request.headers().get(PROXY_AUTHORIZATION).cloned()
    };
    let forwarded = authorized("http://api.example.com/").expect("added");
    assert!(forwarded.is_sensitive());
    assert_eq!(forwarded, "Basic YWxpY2U6czNjcmV0");
    // In a tunnel the origin would read it; the CONNECT carries it instead.
    assert_eq!(authorized("https://api.example.com/"), None);
    // Not proxied: not the proxy's business.
    assert_eq!(authorized("http://direct.example/"), None);
}

/// The environment, read through the injected lookup, sends requests
/// through a real proxy; `no_proxy()` on the builder turns it off.
#[tokio::test]
async fn the_environment_routes_through_a_real_proxy_unless_turned_off() {
    let Some(proxy) = ProxyServer::start_or_skip("environment proxy") else {
        return;
    };
    let server = TestServer::start().await;
    server.route("/env", Reply::ok());
    let mut from_env = TransportBuilder::default();
    from_env
        .proxies
        .set_lookup(env(&[("http_proxy", proxy.url().as_str())]));
    let mut off = from_env.clone().no_proxy();
    off.proxies.set_lookup(env(&[("HTTP_PROXY", &proxy.url())]));
    let get = || {
        Request::get(server.url("/env"))
            .body(Body::empty())
            .unwrap()
    };

    let response = from_env.build().unwrap().oneshot(get()).await.unwrap();
    assert_eq!(response.status(), 200);
    let via = server.requests()[0].header("via").map(str::to_owned);
    assert!(
        via.as_deref().is_some_and(|v| v.contains("tinyproxy")),
        "{via:?}"
    );
    assert_eq!(
        proxy.requests(),
        [format!("GET {} HTTP/1.1", server.url("/env"))]
    );

    off.build().unwrap().oneshot(get()).await.unwrap();
    assert_eq!(server.requests()[1].header("via"), None);
    assert_eq!(proxy.requests().len(), 1, "the proxy saw nothing more");
}
