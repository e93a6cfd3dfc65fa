//! What a reqwest user types, against `TestServer` on loopback: request
//! URLs as paths or absolute URLs (and where credentials may go), header
//! conversions, bearer and basic auth, `try_clone`, `version`, the
//! synchronous `error_for_status`, the final URL, streamed bodies under the
//! deadline, and reqwest's `Error` predicates with the call record.

use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use girder::auth::{AuthConfig, BearerToken, ClientCredentials};
use girder::{Body, Client, Kind};
use girder_test::{Reply, TestServer};
use http::header::{ACCEPT, HeaderMap, HeaderValue};
use http::{StatusCode, Version};

fn client(server: &TestServer) -> girder::ClientBuilder {
    Client::builder().base_url(server.url("/api"))
}

/// The next item of a stream.
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(start_paused = true)]
async fn paths_and_absolute_urls_of_every_type() {
    let server = TestServer::start().await;
    server.fallback(Reply::ok().body("ok"));
    let c = client(&server).build().unwrap();
    let owned = String::from("items/2");
    let uri: http::Uri = server.url("/api/items/5").parse().unwrap();
    c.get("items/1").send().await.unwrap();
    c.get(owned.clone()).send().await.unwrap();
    c.get(&owned).send().await.unwrap();
    c.get(format!("items/{}", 3)).send().await.unwrap();
    c.get(server.url("/api/items/4")).send().await.unwrap();
    c.get(uri.clone()).send().await.unwrap();
    c.get(&uri).send().await.unwrap();
    // A URL in the query does not make a path absolute.
    c.get("auth?redirect_uri=https://app.test/cb")
        .send()
        .await
        .unwrap();
    let paths: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/api/items/1",
            "/api/items/2",
            "/api/items/2",
            "/api/items/3",
            "/api/items/4",
            "/api/items/5",
            "/api/items/5",
            "/api/auth?redirect_uri=https://app.test/cb",
        ]
    );

    // Client::new: no base URL, absolute URLs only.
    let plain = Client::new();
    let text = plain.get(server.url("/x")).send().await.unwrap();
    assert_eq!(text.text().await.unwrap(), "ok");
    let error = plain.get("items").send().await.unwrap_err();
    assert_eq!(error.kind(), Kind::Builder);
    assert!(error.is_builder() && error.call_record().is_none());
    assert!(error.to_string().contains("no base URL"), "{error}");
    assert_eq!(server.requests().len(), 9);
}

#[cfg(feature = "url")]
#[tokio::test(start_paused = true)]
async fn url_urls_with_the_url_feature() {
    let server = TestServer::start().await;
    server.route("/api/u", Reply::ok());
    let url = url::Url::parse(&server.url("/api/u")).unwrap();
    let c = client(&server).build().unwrap();
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(c.get(url).send().await.unwrap().status(), 200);
    assert_eq!(server.requests_to("/api/u").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn credentials_and_secret_headers_stay_at_their_origins() {
    let home = TestServer::start().await;
    let other = TestServer::start().await;
    home.fallback(Reply::ok());
    other.fallback(Reply::ok());
    let credentialed = |builder: girder::ClientBuilder| {
        builder
            .secret_header("x-api-key", "k3y-s3cr3t")
            .default_header("cookie", "session=s3cr3t")
            .default_header("x-plain", "visible")
            .auth(AuthConfig::new(
                BearerToken::new("t0k3n-s3cr3t".into()).unwrap(),
            ))
            .build()
            .unwrap()
    };

    // Today's safety: another origin is refused before anything is sent.
    let strict = credentialed(client(&home));
    let refused = strict.get(other.url("/steal")).send().await.unwrap_err();
    assert_eq!(refused.kind(), Kind::Builder, "{refused}");
    assert!(refused.to_string().contains("allow_absolute_urls"));
    assert!(other.requests().is_empty());

    // Allowed: the request goes, without a credential or secret header.
    let open = credentialed(client(&home).allow_absolute_urls(true));
    open.get("x").send().await.unwrap();
    open.get(other.url("/y")).send().await.unwrap();
    let at_home = &home.requests_to("/api/x")[0];
    assert_eq!(at_home.header("authorization"), Some("Bearer t0k3n-s3cr3t"));
    assert_eq!(at_home.header("x-api-key"), Some("k3y-s3cr3t"));
    assert_eq!(at_home.header("cookie"), Some("session=s3cr3t"));
    let away = &other.requests_to("/y")[0];
    for name in ["authorization", "x-api-key", "cookie"] {
        assert_eq!(away.header(name), None, "{name} reached another origin");
    }
    assert_eq!(away.header("x-plain"), Some("visible"));

    // A header set on the request itself goes where the request goes.
    open.get(other.url("/z"))
        .bearer_auth("per-request")
        .send()
        .await
        .unwrap();
    let chosen = &other.requests_to("/z")[0];
    assert_eq!(chosen.header("authorization"), Some("Bearer per-request"));

    // Without a base URL: credential_origins, or every origin.
    let listed = Client::builder()
        .credential_origins([home.url("/")])
        .secret_header("x-api-key", "k3y-s3cr3t")
        .build()
        .unwrap();
    listed.get(home.url("/l")).send().await.unwrap();
    listed.get(other.url("/l")).send().await.unwrap();
    assert_eq!(
        home.requests_to("/l")[0].header("x-api-key"),
        Some("k3y-s3cr3t")
    );
    assert_eq!(other.requests_to("/l")[0].header("x-api-key"), None);
    let anywhere = Client::builder()
        .secret_header("x-api-key", "k3y-s3cr3t")
        .build()
        .unwrap();
    anywhere.get(other.url("/any")).send().await.unwrap();
    assert_eq!(
        other.requests_to("/any")[0].header("x-api-key"),
        Some("k3y-s3cr3t")
    );
}

#[tokio::test(start_paused = true)]
async fn headers_convert_as_in_http_and_bad_ones_fail_at_send() {
    let server = TestServer::start().await;
    server.fallback(Reply::ok());
    let c = client(&server).build().unwrap();
    let mut many = HeaderMap::new();
    many.append("x-tag", HeaderValue::from_static("a"));
    many.append("x-tag", HeaderValue::from_static("b"));
    c.get("h")
        .header(ACCEPT, "text/csv")
        .header("x-count", 42)
        .header(String::from("x-owned"), String::from("v"))
        .header("x-bytes", &b"raw"[..])
        .header("x-tag", "replaced")
        .headers(many)
        .send()
        .await
        .unwrap();
    let seen = &server.requests_to("/api/h")[0];
    assert_eq!(seen.header("accept"), Some("text/csv"));
    assert_eq!(seen.header("x-count"), Some("42"));
    assert_eq!(seen.header("x-owned"), Some("v"));
    assert_eq!(seen.header("x-bytes"), Some("raw"));
    let tags: Vec<_> = seen.headers.get_all("x-tag").iter().collect();
    assert_eq!(tags, ["a", "b"]);

    let bad_name = c.get("h").header("bad name", "x").send().await.unwrap_err();
    assert!(bad_name.is_builder(), "{bad_name}");
    assert!(bad_name.to_string().contains("invalid header name"));
    let bad_value = c
        .get("h")
        .header("x-token", "s3cr3t\nvalue")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad_value.kind(), Kind::Builder);
    assert!(bad_value.to_string().contains("x-token"), "{bad_value}");
    assert!(!format!("{bad_value}{bad_value:?}").contains("s3cr3t"));
    // Later settings do not hide the first error.
    let later = c.get("h").header("bad name", "x").header("x-ok", "1");
    assert!(later.send().await.unwrap_err().is_builder());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn bearer_and_basic_auth_are_sensitive_and_never_in_debug() {
    let server = TestServer::start().await;
    server.fallback(Reply::ok());
    let c = client(&server).build().unwrap();
    let bearer = c.get("b").bearer_auth("t0k3n-s3cr3t");
    assert!(!format!("{bearer:?}").contains("t0k3n"));
    let request = bearer.try_clone().unwrap().build().unwrap();
    let value = &request.headers()["authorization"];
    assert!(value.is_sensitive());
    assert!(!format!("{request:?}").contains("t0k3n"), "{request:?}");
    bearer.send().await.unwrap();

    let basic = c.get("b").basic_auth("Aladdin", Some("open sesame"));
    let request = basic.try_clone().unwrap().build().unwrap();
    assert!(request.headers()["authorization"].is_sensitive());
    assert!(!format!("{request:?}").contains("QWxh"));
    basic.send().await.unwrap();
    c.get("b")
        .basic_auth("user", None::<&str>)
        .send()
        .await
        .unwrap();

    let seen: Vec<_> = server
        .requests_to("/api/b")
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(
        seen,
        [
            "Bearer t0k3n-s3cr3t",
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "Basic dXNlcjo=",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_bearer_token_does_not_follow_a_redirect_to_another_origin() {
    let home = TestServer::start().await;
    let other = TestServer::start().await;
    other.route("/landing", Reply::ok());
    home.route(
        "/api/away",
        Reply::status(302).header("location", &other.url("/landing")),
    );
    let c = client(&home).build().unwrap();
    let response = c.get("away").bearer_auth("t0k3n").send().await.unwrap();
    assert_eq!(response.url().to_string(), other.url("/landing"));
    assert_eq!(
        other.requests_to("/landing")[0].header("authorization"),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn try_clone_copies_a_buffered_request_and_refuses_a_stream() {
    let server = TestServer::start().await;
    server.fallback(Reply::ok());
    let c = client(&server).build().unwrap();
    let first = c
        .post("items")
        .json(&serde_json::json!({"n": 1}))
        .header("x-once", "1")
        .timeout(Duration::from_secs(5));
    let second = first.try_clone().expect("a buffered body clones");
    first.send().await.unwrap();
    second.send().await.unwrap();
    let seen = server.requests_to("/api/items");
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(
            (request.method.as_str(), &request.body[..]),
            ("POST", &br#"{"n":1}"#[..])
        );
        assert_eq!(request.header("x-once"), Some("1"));
    }

    let stream = http_body_util::BodyExt::map_err(
        http_body_util::Full::new(Bytes::from_static(b"once")),
        |never| match never {},
    );
    let streamed = c.post("items").body(Body::new(stream));
    assert!(streamed.try_clone().is_none());
    let failed = c.get("h").header("bad name", "x");
    assert!(failed.try_clone().is_none());
}

#[tokio::test(start_paused = true)]
async fn version_content_length_and_remote_addr() {
    let server = TestServer::start().await;
    server.route("/api/v", Reply::ok().body("hello"));
    let c = client(&server).build().unwrap();
    let response = c.get("v").version(Version::HTTP_10).send().await.unwrap();
    assert_eq!(server.requests_to("/api/v")[0].version, Version::HTTP_10);
    assert_eq!(response.content_length(), Some(5));
    assert_eq!(response.remote_addr(), Some(server.addr()));
    let response = c.get("v").send().await.unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
}

#[tokio::test(start_paused = true)]
async fn error_for_status_is_synchronous_and_the_message_one_await_away() {
    let server = TestServer::start().await;
    server.route(
        "/api/missing",
        Reply::status(404).json(r#"{"message":"no item 8"}"#),
    );
    server.route("/api/fine", Reply::ok().body("fine"));
    let c = client(&server).build().unwrap();

    let error = c
        .get("missing")
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_eq!(
        (error.kind(), error.status()),
        (Kind::NotFound, Some(StatusCode::NOT_FOUND))
    );
    assert!(error.is_status() && !error.is_request());
    assert_eq!((error.message(), error.body()), (None, None));
    assert!(error.headers().is_some());
    assert_eq!(error.call_record().map(|r| r.attempts()), Some(1));

    // The borrowed form leaves the body to read.
    let response = c.get("missing").send().await.unwrap();
    let error = response.error_for_status_ref().unwrap_err();
    assert_eq!(error.kind(), Kind::NotFound);
    assert_eq!(response.text().await.unwrap(), r#"{"message":"no item 8"}"#);

    let response = c.get("missing").send().await.unwrap();
    let error = response.error_for_status_with_message().await.unwrap_err();
    assert_eq!(error.message(), Some("no item 8"));
    assert_eq!(
        error.body().map(|b| &b[..]),
        Some(&br#"{"message":"no item 8"}"#[..])
    );
    assert!(error.call_record().is_some());

    let fine = c.get("fine").send().await.unwrap();
    let fine = fine.error_for_status_ref().unwrap().status();
    assert_eq!(fine, StatusCode::OK);
    let fine = c
        .get("fine")
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert_eq!(fine.text().await.unwrap(), "fine");
}

#[tokio::test(start_paused = true)]
async fn the_url_is_the_final_one_after_redirects() {
    let server = TestServer::start().await;
    server.route(
        "/api/old",
        Reply::status(301).header("location", "/api/new"),
    );
    server.route("/api/new", Reply::status(410));
    let c = client(&server).build().unwrap();
    let response = c.get("old").send().await.unwrap();
    assert_eq!(response.url().to_string(), server.url("/api/new"));
    let error = response.error_for_status().unwrap_err();
    assert_eq!(error.url(), Some(server.url("/api/new").as_str()));
    let resends = error.call_record().unwrap().resends();
    assert_eq!(resends, 1, "the redirect");
}

#[tokio::test(start_paused = true)]
async fn chunks_and_streams_read_any_size_without_the_cap() {
    let body: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let server = TestServer::start().await;
    server.route("/api/big", Reply::ok().body(body.clone()));
    let c = client(&server).max_response_bytes(1024).build().unwrap();

    let capped = c.get("big").send().await.unwrap().bytes().await;
    assert!(capped.is_err(), "the cap holds for bytes()");

    let mut response = c.get("big").send().await.unwrap();
    let mut chunked = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        chunked.extend_from_slice(&chunk);
    }
    assert!(chunked == body, "chunk() read {} bytes", chunked.len());

    let mut stream = c.get("big").send().await.unwrap().bytes_stream();
    let mut streamed = Vec::new();
    while let Some(piece) = next(&mut stream).await {
        streamed.extend_from_slice(&piece.unwrap());
    }
    assert!(
        streamed == body,
        "bytes_stream() read {} bytes",
        streamed.len()
    );
    assert!(next(&mut stream).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_stalled_stream_ends_at_the_deadline() {
    let server = TestServer::start().await;
    server.route(
        "/api/stall",
        Reply::ok()
            .body("0123456789abcdef")
            .stall_body_after(8, Duration::from_secs(3600)),
    );
    let c = client(&server)
        .total_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut stream = c.get("stall").send().await.unwrap().bytes_stream();
    let mut read = Vec::new();
    let error = loop {
        match next(&mut stream).await.expect("an error before the end") {
            Ok(piece) => read.extend_from_slice(&piece),
            Err(error) => break error,
        }
    };
    assert_eq!(read, b"01234567");
    assert_eq!(error.kind(), Kind::DeadlineExceeded, "{error}");
    assert!(error.is_timeout());
    assert!(started.elapsed() < Duration::from_secs(3600));
    assert!(
        next(&mut stream).await.is_none(),
        "the stream ends after its error"
    );

    let mut response = c.get("stall").send().await.unwrap();
    assert_eq!(
        response.chunk().await.unwrap().as_deref(),
        Some(&b"01234567"[..])
    );
    let error = response.chunk().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
}

#[tokio::test(start_paused = true)]
async fn every_kind_has_its_predicate_and_the_record_comes_along() {
    let server = TestServer::start().await;
    server.route("/api/slow", Reply::ok().delay(Duration::from_secs(20)));
    server.route("/api/text", Reply::ok().body("not json"));
    server.route("/api/cut", Reply::ok().body("0123456789").cut_body_after(4));
    server.route(
        "/api/loop",
        Reply::status(302).header("location", "/api/loop"),
    );

    let c = client(&server)
        .retry(None)
        .attempt_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let timeout = c.get("slow").send().await.unwrap_err();
    assert_eq!(timeout.kind(), Kind::Timeout);
    assert!(timeout.is_timeout() && timeout.is_request() && !timeout.is_connect());

    let deadline = c
        .get("slow")
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .unwrap_err();
    assert_eq!(deadline.kind(), Kind::DeadlineExceeded);
    assert!(deadline.is_timeout() && !deadline.is_request());

    let decode = c.get("text").send().await.unwrap().json::<u32>().await;
    let decode = decode.unwrap_err();
    assert!(decode.is_decode() && !decode.is_status(), "{decode}");
    assert!(decode.call_record().is_some());

    let cut = c
        .get("cut")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap_err();
    assert_eq!(cut.kind(), Kind::Transport, "{cut}");
    assert!(cut.is_request() && !cut.is_timeout());

    let redirect = c.get("loop").send().await.unwrap_err();
    assert!(
        redirect.is_redirect() && !redirect.is_status(),
        "{redirect}"
    );

    let builder = c.get("h").header("bad name", "x").send().await.unwrap_err();
    assert!(builder.is_builder() && !builder.is_request());

    // A connect error, retried: the record has each attempt and each wait.
    let retried = Client::builder().build().unwrap();
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let connect = retried.get(refused).send().await.unwrap_err();
    assert_eq!(connect.kind(), Kind::Connect, "{connect}");
    assert!(connect.is_connect() && connect.is_request() && !connect.is_timeout());
    let record = connect.call_record().expect("the call's record");
    assert_eq!(record.attempts(), 3, "{record}");
    let waits = record
        .entries()
        .iter()
        .filter(|e| {
            matches!(
                e.event(),
                Some(girder::retry::RetryDecision::Scheduled { .. })
            )
        })
        .count();
    assert_eq!(waits, 2, "{record}");
}

#[tokio::test(start_paused = true)]
async fn a_401_and_a_failed_token_endpoint_are_different_kinds() {
    let server = TestServer::start().await;
    server.route("/api/me", Reply::status(401));
    server.route(
        "/token",
        Reply::status(400)
            .json(r#"{"error":"invalid_client","error_description":"unknown client"}"#),
    );
    let c = client(&server).build().unwrap();
    let unauthorized = c
        .get("me")
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_eq!(unauthorized.kind(), Kind::Unauthorized);
    assert!(unauthorized.is_status());

    let source = ClientCredentials::builder(&server.url("/token"), "app", "s3cret".into())
        .client(girder::auth::token_client().unwrap())
        .build()
        .unwrap();
    let c = client(&server)
        .auth(AuthConfig::new(source))
        .build()
        .unwrap();
    let refused = c.get("me").send().await.unwrap_err();
    assert_eq!(refused.kind(), Kind::CredentialSource, "{refused}");
    assert_eq!(refused.message(), Some("invalid_client: unknown client"));
    assert!(!refused.is_status() && refused.status().is_none());
    assert!(!format!("{refused}{refused:?}").contains("s3cret"));
    assert!(refused.call_record().is_some());
    assert_eq!(
        server.requests_to("/api/me").len(),
        1,
        "only the first client's"
    );
}
