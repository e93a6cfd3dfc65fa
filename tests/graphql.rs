//! GraphQL through `girder::Client` against `TestServer`: typed data,
//! typed errors with partial data, which operations are retried, and
//! Relay connections as a stream.

use girder::graphql::{GraphQlError, PathSegment};
use girder::retry::RetryPolicy;
use girder::{Client, Kind};
use girder_test::{Reply, Script, TestServer};
use serde::Deserialize;
use serde_json::{Value, json};

fn client(server: &TestServer, retry: bool) -> Client {
    Client::builder()
        .base_url(server.url("/"))
        .retry(retry.then(RetryPolicy::default))
        .build()
        .unwrap()
}

#[derive(Debug, Deserialize, PartialEq)]
struct Data {
    user: Option<User>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct User {
    name: String,
}

#[tokio::test(start_paused = true)]
async fn a_query_returns_typed_data_and_sends_the_standard_body() {
    let server = TestServer::start().await;
    server.route(
        "/graphql",
        Reply::ok().json(r#"{"data":{"user":{"name":"Ada"}}}"#),
    );
    let data: Data = client(&server, false)
        .graphql("graphql")
        .query("query User($id: ID!) { user(id: $id) { name } }")
        .variables(&json!({ "id": "7" }))
        .operation_name("User")
        .send()
        .await
        .unwrap();
    assert_eq!(data.user.unwrap().name, "Ada");
    let request = &server.requests()[0];
    assert_eq!(request.method, http::Method::POST);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(
        request
            .header("accept")
            .unwrap()
            .starts_with("application/graphql-response+json")
    );
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "query": "query User($id: ID!) { user(id: $id) { name } }",
            "variables": { "id": "7" },
            "operationName": "User",
        })
    );
}

#[tokio::test(start_paused = true)]
async fn errors_are_typed_with_partial_data_reachable() {
    let server = TestServer::start().await;
    server.route(
        "/graphql",
        Reply::ok().json(
            r#"{"data":{"user":null},"errors":[
                {"message":"not allowed","path":["user",0,"email"],"locations":[{"line":1,"column":9}],"extensions":{"code":"FORBIDDEN"}},
                {"message":"second"}]}"#,
        ),
    );
    let error = client(&server, false)
        .graphql("graphql")
        .query("{ user { name email } }")
        .send::<Data>()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), Kind::GraphQl);
    assert!(!error.is_retryable());
    assert_eq!(error.message(), Some("user.0.email: not allowed; second"));
    let graphql = error.graphql().unwrap();
    let first: &GraphQlError = &graphql.errors()[0];
    assert_eq!(first.code(), Some("FORBIDDEN"));
    assert_eq!(
        first.path,
        [
            PathSegment::Field("user".into()),
            PathSegment::Index(0),
            PathSegment::Field("email".into())
        ]
    );
    assert_eq!((first.locations[0].line, first.locations[0].column), (1, 9));
    assert_eq!(graphql.errors()[1].path, []);
    let partial: Data = graphql.data_as().unwrap().unwrap();
    assert_eq!(partial, Data { user: None });

    // Errors with an error status (GraphQL over HTTP) keep the status.
    server.route(
        "/bad",
        Reply::status(400)
            .header("content-type", "application/graphql-response+json")
            .body(r#"{"errors":[{"message":"Cannot query field \"nope\""}]}"#),
    );
    let e = client(&server, false)
        .graphql("bad")
        .query("{ nope }")
        .send::<Value>()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Kind::GraphQl);
    assert_eq!(e.status(), Some(http::StatusCode::BAD_REQUEST));
    assert!(e.graphql().unwrap().data().is_none());
}

#[tokio::test(start_paused = true)]
async fn responses_that_are_not_graphql_are_status_or_decode_errors() {
    let server = TestServer::start().await;
    server.route("/down", Reply::status(502).body("<html>bad gateway</html>"));
    server.route("/html", Reply::ok().body("<html>login</html>"));
    server.route("/nodata", Reply::ok().json(r#"{"data":null}"#));
    server.route(
        "/wrong",
        Reply::ok().json(r#"{"data":{"user":{"name":7}}}"#),
    );
    let c = client(&server, false);
    for (path, kind) in [
        ("down", Kind::Server),
        ("html", Kind::Decode),
        ("nodata", Kind::Decode),
        ("wrong", Kind::Decode),
    ] {
        let e = c
            .graphql(path)
            .query("{ user { name } }")
            .send::<Data>()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{path}: {e}");
    }
}

#[tokio::test(start_paused = true)]
async fn queries_are_retried_and_mutations_are_not_unless_marked() {
    let server = TestServer::start().await;
    let flaky = || {
        Script::sequence([
            Reply::status(503),
            Reply::ok().json(r#"{"data":{"ok":true}}"#),
        ])
    };
    server.route("/q", flaky());
    server.route("/m", flaky());
    server.route("/mi", flaky());
    server.route(
        "/closed",
        Script::sequence([Reply::close(), Reply::ok().json(r#"{"data":{"ok":true}}"#)]),
    );
    let c = client(&server, true);

    let ok: Value = c.graphql("q").query("query { ok }").send().await.unwrap();
    assert_eq!(ok, json!({ "ok": true }));
    assert_eq!(server.requests_to("/q").len(), 2, "the query was retried");

    let e = c
        .graphql("m")
        .query("mutation Pay($n: Int) { pay(n: $n) }")
        .variable("n", &5)
        .send::<Value>()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Server);
    assert_eq!(server.requests_to("/m").len(), 1, "a mutation is sent once");

    let ok: Value = c
        .graphql("mi")
        .query("mutation Set { set(v: 1) }")
        .idempotent(true)
        .send()
        .await
        .unwrap();
    assert_eq!(ok["ok"], true);
    assert_eq!(
        server.requests_to("/mi").len(),
        2,
        "marked idempotent, so retried"
    );

    let ok: Value = c.graphql("closed").query("{ ok }").send().await.unwrap();
    assert_eq!(ok["ok"], true);
    assert_eq!(
        server.requests_to("/closed").len(),
        2,
        "a transport failure retried"
    );

    // Several operations and none chosen: not known to be a query, so once.
    server.route("/amb", flaky());
    let e = c
        .graphql("amb")
        .query("query A { a } mutation B { b }")
        .send::<Value>()
        .await;
    assert!(e.is_err());
    assert_eq!(server.requests_to("/amb").len(), 1);
}

#[derive(Debug, Deserialize, PartialEq)]
struct Repo {
    name: String,
}

fn relay_page(names: &[&str], next: Option<&str>, edges: bool) -> String {
    let nodes: Vec<Value> = names.iter().map(|n| json!({ "name": n })).collect();
    let list = if edges {
        json!({ "edges": nodes.iter().map(|n| json!({ "cursor": "x", "node": n })).collect::<Vec<_>>() })
    } else {
        json!({ "nodes": nodes })
    };
    let mut connection = list;
    connection["pageInfo"] = json!({ "hasNextPage": next.is_some(), "endCursor": next });
    json!({ "data": { "viewer": { "repositories": connection } } }).to_string()
}

#[tokio::test(start_paused = true)]
async fn relay_connections_stream_their_nodes() {
    let server = TestServer::start().await;
    server.route(
        "/graphql",
        Script::from_fn(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["variables"]["first"], 2, "other variables kept");
            let reply = match body["variables"]["after"].as_str() {
                None => relay_page(&["a", "b"], Some("c1"), true),
                Some("c1") => relay_page(&["c"], Some("c2"), false),
                Some("c2") => relay_page(&[], None, true),
                other => panic!("cursor {other:?}"),
            };
            Reply::ok().json(reply)
        }),
    );
    let repos: Vec<Repo> = client(&server, false)
        .graphql("graphql")
        .query("query($first: Int, $after: String) { viewer { repositories(first: $first, after: $after) { nodes { name } pageInfo { hasNextPage endCursor } } } }")
        .variable("first", &2)
        .relay("/viewer/repositories")
        .items()
        .try_collect()
        .await
        .unwrap();
    let names: Vec<_> = repos.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(server.request_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn relay_loops_and_malformed_connections_are_errors() {
    let server = TestServer::start().await;
    server.route(
        "/loop",
        // A server stuck on one cursor.
        Reply::ok().json(relay_page(&["a"], Some("c1"), true)),
    );
    server.route(
        "/noinfo",
        Reply::ok().json(r#"{"data":{"viewer":{"repositories":{"nodes":[]}}}}"#),
    );
    server.route("/noconn", Reply::ok().json(r#"{"data":{"viewer":null}}"#));
    server.route(
        "/errs",
        Reply::ok().json(r#"{"data":null,"errors":[{"message":"rate limited","extensions":{"code":"RATE_LIMITED"}}]}"#),
    );
    let c = client(&server, false);
    let mut items = c
        .graphql("loop")
        .query("{ x }")
        .relay("/viewer/repositories")
        .items::<Repo>();
    assert!(items.next().await.unwrap().is_ok());
    assert!(items.next().await.unwrap().is_ok());
    let e = items.next().await.unwrap().unwrap_err();
    assert_eq!(e.kind(), Kind::Pagination, "{e}");
    assert_eq!(server.requests_to("/loop").len(), 2);
    for (path, kind) in [
        ("noinfo", Kind::Pagination),
        ("noconn", Kind::Pagination),
        ("errs", Kind::GraphQl),
    ] {
        let e = c
            .graphql(path)
            .query("{ x }")
            .relay("/viewer/repositories")
            .pages()
            .next()
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{path}: {e}");
    }
}

#[tokio::test(start_paused = true)]
async fn variables_never_reach_debug_output() {
    let server = TestServer::start().await;
    let op = client(&server, false)
        .graphql("graphql")
        .query("mutation Login($password: String!) { login(password: $password) }")
        .variable("password", "hunter2-secret");
    let debug = format!("{op:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("Mutation"), "{debug}");
}
