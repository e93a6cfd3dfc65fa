//! Typed REST resources through `girder::Client` against `TestServer`:
//! the query builder's parameters, CRUD methods, envelopes, and which
//! calls are retried.

use girder::paginate::{Cursor, PageNumber};
use girder::resource::QueryNames;
use girder::retry::RetryPolicy;
use girder::{Client, Kind};
use girder_test::{RecordedRequest, Reply, Script, TestServer};
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

fn client(server: &TestServer) -> Client {
    Client::builder()
        .base_url(server.url("/v1/"))
        .retry(RetryPolicy::default())
        .build()
        .unwrap()
}

fn pairs(r: &RecordedRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(r.uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test(start_paused = true)]
async fn list_maps_filters_sorts_and_limit_to_configured_names() {
    let server = TestServer::start().await;
    server.route(
        "/v1/users",
        Script::from_fn(|r| {
            let page: u64 = pairs(r)
                .iter()
                .find(|(k, _)| k == "page")
                .map_or(1, |(_, v)| v.parse().unwrap());
            let users: Vec<Value> = (1..=3)
                .map(|i| json!({ "id": (page - 1) * 3 + i, "name": format!("u{i}") }))
                .collect();
            Reply::ok().json(json!({ "data": users }).to_string())
        }),
    );
    let users = client(&server)
        .resource::<User>("users/")
        .query_names(
            QueryNames::default()
                .filter_template("filter[{}]")
                .sort_param("order")
                .limit_param("page_size"),
        )
        .pagination(PageNumber::new())
        .items_at("/data");
    let got = users
        .list()
        .filter("team", "core")
        .filter("active", true)
        .sort("name")
        .sort_desc("created")
        .limit(5)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.iter().map(|u| u.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "the limit stops the stream");
    let first = pairs(&requests[0]);
    for expected in [
        ("filter[team]", "core"),
        ("filter[active]", "true"),
        ("order", "name,-created"),
        ("page_size", "5"),
        ("page", "1"),
    ] {
        assert!(
            first.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} in {first:?}"
        );
    }
    assert!(pairs(&requests[1]).contains(&("filter[team]".into(), "core".into())));
}

#[tokio::test(start_paused = true)]
async fn crud_calls_use_their_methods_and_paths() {
    let server = TestServer::start().await;
    let ada = r#"{"id":7,"name":"Ada"}"#;
    server.route_method(Method::GET, "/v1/users/7", Reply::ok().json(ada));
    server.route_method(Method::POST, "/v1/users", Reply::status(201).json(ada));
    server.route_method(Method::PUT, "/v1/users/7", Reply::ok().json(ada));
    server.route_method(Method::PATCH, "/v1/users/7", Reply::ok().json(ada));
    server.route_method(Method::DELETE, "/v1/users/7", Reply::status(204));
    server.route_method(Method::GET, "/v1/users/a%2Fb", Reply::ok().json(ada));
    let users = client(&server).resource::<User>("users");
    let want = User {
        id: 7,
        name: "Ada".into(),
    };
    assert_eq!(users.get(7).await.unwrap(), want);
    assert_eq!(users.create(&json!({ "name": "Ada" })).await.unwrap(), want);
    assert_eq!(users.update(7, &want).await.unwrap(), want);
    assert_eq!(
        users.patch(7, &json!({ "name": "Ada" })).await.unwrap(),
        want
    );
    users.delete(7).await.unwrap();
    assert_eq!(
        users.get("a/b").await.unwrap(),
        want,
        "an id stays one segment"
    );
    let methods: Vec<_> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(
        methods,
        [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::GET
        ]
    );
    let post = &server.requests()[1];
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(post.body, r#"{"name":"Ada"}"#);
}

#[tokio::test(start_paused = true)]
async fn creates_and_patches_are_sent_once_gets_and_puts_retried() {
    let server = TestServer::start().await;
    let flaky = || {
        Script::sequence([
            Reply::status(503),
            Reply::ok().json(r#"{"id":1,"name":"x"}"#),
        ])
    };
    server.route_method(Method::POST, "/v1/users", flaky());
    server.route_method(Method::PATCH, "/v1/users/1", flaky());
    server.route_method(Method::PUT, "/v1/users/1", flaky());
    server.route_method(Method::GET, "/v1/users/1", flaky());
    server.route_method(Method::POST, "/v1/keyed", flaky());
    let c = client(&server);
    let users = c.resource::<User>("users");
    let body = json!({ "name": "x" });
    assert_eq!(users.create(&body).await.unwrap_err().kind(), Kind::Server);
    assert_eq!(
        users.patch(1, &body).await.unwrap_err().kind(),
        Kind::Server
    );
    assert!(users.update(1, &body).await.is_ok());
    assert!(users.get(1).await.is_ok());
    let keyed = c.resource::<User>("keyed");
    assert!(keyed.create_with_key(&body, "k-1").await.is_ok());
    let count = |m: Method, p: &str| {
        server
            .requests()
            .iter()
            .filter(|r| r.method == m && r.path() == p)
            .count()
    };
    assert_eq!(count(Method::POST, "/v1/users"), 1);
    assert_eq!(count(Method::PATCH, "/v1/users/1"), 1);
    assert_eq!(count(Method::PUT, "/v1/users/1"), 2);
    assert_eq!(count(Method::GET, "/v1/users/1"), 2);
    assert_eq!(count(Method::POST, "/v1/keyed"), 2);
    assert_eq!(
        server.requests().last().unwrap().header("idempotency-key"),
        Some("k-1")
    );
}

#[tokio::test(start_paused = true)]
async fn envelopes_errors_and_cursor_lists() {
    let server = TestServer::start().await;
    server.route(
        "/v1/things/1",
        Reply::ok().json(r#"{"data":{"id":1,"name":"one"}}"#),
    );
    server.route(
        "/v1/things/2",
        Reply::status(404).json(r#"{"message":"no thing 2"}"#),
    );
    server.route("/v1/things/3", Reply::ok().json(r#"{"meta":{}}"#));
    server.route(
        "/v1/things",
        Script::from_fn(|r| {
            let next = if r.uri.query().unwrap_or_default().contains("after=") {
                Value::Null
            } else {
                json!("n1")
            };
            Reply::ok()
                .json(json!({ "results": [{ "id": 1, "name": "a" }], "next": next }).to_string())
        }),
    );
    let things = client(&server)
        .resource::<User>("things")
        .item_at("/data")
        .pagination(Cursor::new("/next", "after"));
    assert_eq!(things.get(1).await.unwrap().name, "one");
    let e = things.get(2).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.message()),
        (Kind::NotFound, Some("no thing 2"))
    );
    assert_eq!(things.get(3).await.unwrap_err().kind(), Kind::Decode);
    let mut items = things.list().items();
    let mut n = 0;
    while let Some(item) = items.next().await {
        item.unwrap();
        n += 1;
    }
    assert_eq!(n, 2);
}
