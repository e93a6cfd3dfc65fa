//! AuthLayer over the real transport, with `TestServer` on loopback as both
//! the token endpoint and the API: the server's log counts token requests
//! and shows which token each API request carried.

use std::time::Duration;

use girder::auth::{AuthConfig, AuthErrorKind, AuthLayer, ClientCredentials, TokenClient};
use girder::{AuthError, Body, BoxError, CallRecord, CallRecordLayer, ErrorKind, Transport};
use girder_test::{Reply, TestServer};
use http::{Request, Response};
use tower::{ServiceBuilder, ServiceExt};

type Client = tower::util::BoxCloneService<Request<Body>, Response<Body>, BoxError>;

fn token(access: &str, expires_in: u64) -> Reply {
    Reply::ok().json(format!(
        r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{expires_in}}}"#
    ))
}

/// The API stack, whose token requests go through their own transport.
fn client(idp: &TestServer) -> Client {
    let source = ClientCredentials::builder(&idp.url("/token"), "client-1", "s3cret".into())
        .client(TokenClient::new(Transport::new().unwrap()))
        .scope("items:read")
        .build()
        .unwrap();
    tower::util::BoxCloneService::new(
        ServiceBuilder::new()
            .layer(CallRecordLayer::new())
            .layer(AuthLayer::new(AuthConfig::new(source)))
            .service(Transport::new().unwrap()),
    )
}

fn get(url: String) -> Request<Body> {
    Request::get(url).body(Body::empty()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_calls_at_expiry_make_one_token_request() {
    let idp = TestServer::start().await;
    idp.route(
        "/token",
        [
            token("t1", 120),
            token("t2", 3600).delay(Duration::from_millis(100)),
        ],
    );
    let api = TestServer::start().await;
    api.route("/items", Reply::ok());
    let svc = client(&idp);
    svc.clone().oneshot(get(api.url("/items"))).await.unwrap();
    tokio::time::advance(Duration::from_secs(121)).await;

    let calls: Vec<_> = (0..1_000)
        .map(|_| tokio::spawn(svc.clone().oneshot(get(api.url("/items")))))
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(
        idp.requests_to("/token").len(),
        2,
        "one at start, one at expiry"
    );
    let seen = api.requests_to("/items");
    assert_eq!(seen.len(), 1_001);
    assert_eq!(seen[0].header("authorization"), Some("Bearer t1"));
    assert!(
        seen[1..]
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer t2"))
    );
    let form = &idp.requests_to("/token")[1];
    assert_eq!(
        form.body,
        "grant_type=client_credentials&scope=items%3Aread"
    );
}

#[tokio::test(start_paused = true)]
async fn a_401_refreshes_the_token_and_resends_once_over_tcp() {
    let idp = TestServer::start().await;
    idp.route("/token", [token("t1", 3600), token("t2", 3600)]);
    let api = TestServer::start().await;
    api.route("/jobs", [Reply::status(401), Reply::ok().body("created")]);
    let mut request = Request::post(api.url("/jobs"))
        .body(Body::from("job"))
        .unwrap();
    let record = CallRecord::ensure(&mut request);
    let response = client(&idp).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = api.requests_to("/jobs");
    let tokens: Vec<_> = seen.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(tokens, [Some("Bearer t1"), Some("Bearer t2")]);
    assert!(seen.iter().all(|r| r.body == "job"));
    assert!(
        record
            .to_string()
            .contains("auth: 401, token refreshed and request resent")
    );

    api.route("/always", Reply::status(401));
    let response = client(&idp).oneshot(get(api.url("/always"))).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(api.requests_to("/always").len(), 2, "one resend, no loop");
}

#[tokio::test(start_paused = true)]
async fn bad_token_endpoints_give_clear_errors() {
    let idp = TestServer::start().await;
    let api = TestServer::start().await;
    api.route("/items", Reply::ok());
    let cases = [
        (
            Reply::ok()
                .header("content-type", "text/html")
                .body("<html>sign in</html>"),
            AuthErrorKind::InvalidResponse,
            "not JSON (content-type text/html)",
        ),
        (
            Reply::status(400).json(
                r#"{"error":"invalid_scope","error_description":"items:read is not allowed"}"#,
            ),
            AuthErrorKind::Provider,
            "(400): invalid_scope: items:read is not allowed",
        ),
        (
            Reply::status(500),
            AuthErrorKind::Status,
            "token endpoint failed (500)",
        ),
        (
            Reply::ok()
                .json(r#"{"access_token":"TOKEN-X","token_type":"Bearer","expires_in":-60}"#),
            AuthErrorKind::InvalidResponse,
            "expires_in -60 is negative",
        ),
        (
            Reply::close(),
            AuthErrorKind::Transport,
            "could not be reached",
        ),
    ];
    for (reply, kind, wanted) in cases {
        idp.route("/token", reply);
        let err = client(&idp)
            .oneshot(get(api.url("/items")))
            .await
            .unwrap_err();
        let auth = err.downcast_ref::<AuthError>().expect("an AuthError");
        assert_eq!(auth.kind(), kind, "{err}");
        assert!(err.to_string().contains(wanted), "{wanted}: {err}");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("TOKEN-X"),
            "{shown}"
        );
        assert_eq!(ErrorKind::of(&*err), ErrorKind::Auth);
    }
    assert_eq!(api.request_count(), 0, "nothing sent without a credential");
}

/// Under the client, auth's 401 replay shares the head retry keeps in the
/// call record (no copy of its own) when nothing between them adds a
/// header: the resend after a 401 is the request as first sent, on a retry's
/// attempt as on the first, and a redirect hop's 401 resends the hop.
#[tokio::test(start_paused = true)]
async fn the_clients_401_replay_resends_the_request_it_replaces() {
    let idp = TestServer::start().await;
    idp.route(
        "/token",
        (1..=6)
            .map(|n| token(&format!("t{n}"), 3600))
            .collect::<Vec<_>>(),
    );
    let api = TestServer::start().await;
    let source = ClientCredentials::builder(&idp.url("/token"), "client-1", "s3cret".into())
        .client(TokenClient::new(Transport::new().unwrap()))
        .build()
        .unwrap();
    let client = girder::Client::builder()
        .base_url(api.url("/"))
        .auth(AuthConfig::new(source))
        .build()
        .unwrap();

    // A 503 (retried), then a 401 on the second attempt (replayed).
    api.route(
        "/jobs",
        [
            Reply::status(503),
            Reply::status(401),
            Reply::ok().body("created"),
        ],
    );
    let response = client
        .put("jobs?page=2")
        .header("x-trace", "t-1")
        .body("job")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "created");
    let seen = api.requests_to("/jobs");
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.method, "PUT");
        assert_eq!(request.uri.query(), Some("page=2"));
        assert_eq!(request.header("x-trace"), Some("t-1"));
        assert_eq!(request.body, "job");
        assert_eq!(request.headers.get_all("authorization").iter().count(), 1);
    }
    let tokens: Vec<_> = seen.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(
        tokens,
        [Some("Bearer t1"), Some("Bearer t1"), Some("Bearer t2")]
    );

    // A same-origin hop answers 401: the replay goes to the hop.
    api.route("/old", Reply::status(307).header("location", "/new"));
    api.route("/new", [Reply::status(401), Reply::ok().body("moved")]);
    let response = client.post("old").body("x").send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "moved");
    assert_eq!(api.requests_to("/old").len(), 1);
    let hops = api.requests_to("/new");
    assert_eq!(hops.len(), 2);
    assert!(hops.iter().all(|r| r.method == "POST" && r.body == "x"));
    assert_eq!(hops[1].header("authorization"), Some("Bearer t3"));
}
