//! The blocking client (feature `blocking`) from plain threads against a
//! `TestServer` served by a runtime of its own.

use girder::paginate::PageNumber;
use girder::{Client, Kind};
use girder_test::{Reply, Script, TestServer};
use serde::Deserialize;
use serde_json::{Value, json};

/// A server on a multi-thread runtime, so it answers while the test's
/// thread blocks.
fn serve() -> (tokio::runtime::Runtime, TestServer) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TestServer::start());
    (rt, server)
}

fn blocking(server: &TestServer) -> girder::blocking::Client {
    Client::builder()
        .base_url(server.url("/api/"))
        .build_blocking()
        .unwrap()
}

#[derive(Debug, Deserialize, PartialEq)]
struct Item {
    id: u64,
}

#[test]
fn requests_responses_and_errors() {
    let (_rt, server) = serve();
    server.route("/api/me", Reply::ok().json(r#"{"id":1}"#));
    server.route(
        "/api/missing",
        Reply::status(404).json(r#"{"message":"gone"}"#),
    );
    let client = blocking(&server);
    let me: Item = client
        .get("me")
        .header("x-trace", "1")
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me, Item { id: 1 });
    assert_eq!(server.requests()[0].header("x-trace"), Some("1"));
    let e = client
        .get("missing")
        .send()
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_eq!((e.kind(), e.message()), (Kind::NotFound, Some("gone")));
    let text = client.clone().get("me").send().unwrap().text().unwrap();
    assert_eq!(text, r#"{"id":1}"#);
}

#[test]
fn pagination_is_an_iterator() {
    let (_rt, server) = serve();
    server.route(
        "/api/items",
        Script::from_fn(|r| {
            let page: u64 = r
                .uri
                .query()
                .unwrap()
                .trim_start_matches("page=")
                .parse()
                .unwrap();
            let items: Vec<Value> = if page <= 3 {
                vec![json!({ "id": page })]
            } else {
                vec![]
            };
            Reply::ok().json(json!(items).to_string())
        }),
    );
    let client = blocking(&server);
    let ids: Vec<u64> = client
        .paginate("items")
        .strategy(PageNumber::new())
        .items::<Item>()
        .map(|item| item.unwrap().id)
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(server.request_count(), 4);
    // Iterators stop early when dropped; pages iterate too.
    let first = client
        .paginate("items")
        .strategy(PageNumber::new())
        .pages()
        .next();
    assert_eq!(first.unwrap().unwrap().items().len(), 1);
    assert_eq!(server.request_count(), 5);
}

#[test]
fn graphql_and_resources() {
    let (_rt, server) = serve();
    server.route(
        "/api/graphql",
        Reply::ok().json(r#"{"data":{"a":1},"errors":[{"message":"partly"}]}"#),
    );
    server.route("/api/things/4", Reply::ok().json(r#"{"id":4}"#));
    server.route("/api/things", Reply::ok().json(r#"[{"id":1},{"id":2}]"#));
    let client = blocking(&server);
    let e = client
        .graphql("graphql")
        .query("{ a }")
        .send::<Value>()
        .unwrap_err();
    assert_eq!(e.kind(), Kind::GraphQl);
    assert_eq!(e.graphql().unwrap().data(), Some(&json!({ "a": 1 })));
    let things = client.resource::<Item>("things");
    assert_eq!(things.get(4).unwrap(), Item { id: 4 });
    let listed: Vec<Item> = things.list().limit(1).items().map(Result::unwrap).collect();
    assert_eq!(listed, [Item { id: 1 }]);
    assert_eq!(things.list().sort("id").send().unwrap().len(), 2);
    let last = server.requests().pop().unwrap();
    assert_eq!(last.uri.query(), Some("sort=id"));
}

#[tokio::test]
#[should_panic(expected = "inside an async runtime")]
async fn calling_from_inside_a_runtime_panics_clearly() {
    let server = TestServer::start().await;
    let client = blocking(&server);
    let _ = client.get("x").send();
}

#[tokio::test]
async fn dropping_inside_a_runtime_is_fine() {
    let server = TestServer::start().await;
    let client = blocking(&server);
    drop(client);
}
