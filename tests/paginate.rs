//! Pagination through `girder::Client` against `TestServer` scripts: each
//! strategy, its stop conditions, malformed pages, loops, limits, errors
//! through the stack and dropped streams.

use std::time::Duration;

use girder::paginate::{Cursor, LinkHeader, Next, OffsetLimit, PageNumber, Pagination};
use girder::retry::RetryPolicy;
use girder::{Client, Kind};
use girder_test::{RecordedRequest, Reply, Script, TestServer};
use serde::Deserialize;
use serde_json::{Value, json};

fn client(server: &TestServer) -> Client {
    Client::builder()
        .base_url(server.url("/api/"))
        .retry(None)
        .build()
        .unwrap()
}

fn param(request: &RecordedRequest, name: &str) -> Option<String> {
    form_urlencoded::parse(request.uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn num(request: &RecordedRequest, name: &str) -> Option<u64> {
    param(request, name).map(|v| v.parse().unwrap())
}

fn ids(values: &[Value]) -> Vec<u64> {
    values.iter().map(|v| v["id"].as_u64().unwrap()).collect()
}

#[derive(Debug, Deserialize, PartialEq)]
struct Item {
    id: u64,
}

/// Items 1..=total, `size` a page, pages numbered from 1.
fn numbered(
    total: u64,
    size: u64,
    body: impl Fn(u64, Vec<Value>) -> Value + Send + Sync + 'static,
) -> Script {
    Script::from_fn(move |r| {
        let page = num(r, "page").unwrap_or(1);
        let start = (page - 1) * size + 1;
        let items: Vec<Value> = (start..=total.min(start + size - 1))
            .map(|id| json!({ "id": id }))
            .collect();
        Reply::ok().json(body(page, items).to_string())
    })
}

#[tokio::test(start_paused = true)]
async fn page_numbers_stop_on_an_empty_page() {
    let server = TestServer::start().await;
    server.route(
        "/api/items",
        numbered(5, 2, |_, items| json!({ "items": items })),
    );
    let items: Vec<Item> = client(&server)
        .get("items")
        .query(&[("state", "open")])
        .paginate()
        .strategy(PageNumber::new().per_page(2))
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        items.iter().map(|i| i.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "three pages and the empty fourth");
    for (i, r) in requests.iter().enumerate() {
        assert_eq!(num(r, "page"), Some(i as u64 + 1));
        assert_eq!(num(r, "per_page"), Some(2));
        assert_eq!(
            param(r, "state").as_deref(),
            Some("open"),
            "kept on every page"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn page_numbers_stop_on_has_more_next_page_or_total() {
    let server = TestServer::start().await;
    server.route(
        "/api/a",
        numbered(
            5,
            2,
            |page, items| json!({ "data": items, "has_more": page < 3 }),
        ),
    );
    server.route(
        "/api/b",
        numbered(5, 2, |page, items| {
            json!({ "results": items, "next_page": if page < 3 { json!(page + 1) } else { Value::Null } })
        }),
    );
    server.route(
        "/api/c",
        Script::from_fn(|r| {
            // Zero-based pages, the total in a string.
            let page = num(r, "p").unwrap();
            let items: Vec<Value> = (0..2).map(|i| json!({ "id": page * 2 + i })).collect();
            Reply::ok().json(json!({ "items": items, "meta": { "pages": "3" } }).to_string())
        }),
    );
    let c = client(&server);
    let a = c
        .paginate("a")
        .strategy(PageNumber::new().has_more_at("/has_more"))
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(a.len(), 5);
    assert_eq!(server.requests_to("/api/a").len(), 3);
    let b = c
        .paginate("b")
        .strategy(PageNumber::new().next_page_at("/next_page"))
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(b.len(), 5);
    assert_eq!(server.requests_to("/api/b").len(), 3);
    let strategy = PageNumber::new()
        .param("p")
        .first_page(0)
        .total_pages_at("/meta/pages");
    let items = c
        .paginate("c")
        .strategy(strategy)
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        items.iter().map(|i| i.id).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    let pages: Vec<_> = server
        .requests_to("/api/c")
        .iter()
        .map(|r| num(r, "p"))
        .collect();
    assert_eq!(pages, [Some(0), Some(1), Some(2)]);
}

#[tokio::test(start_paused = true)]
async fn offsets_advance_by_the_items_received_and_stop_at_the_total() {
    let server = TestServer::start().await;
    server.route(
        "/api/rows",
        Script::from_fn(|r| {
            // The server caps the limit at 3 whatever is asked.
            let (offset, limit) = (num(r, "skip").unwrap(), num(r, "take").unwrap().min(3));
            let rows: Vec<Value> = (offset..(offset + limit).min(8))
                .map(|id| json!({ "id": id }))
                .collect();
            Reply::ok().json(json!({ "rows": rows, "total": 8 }).to_string())
        }),
    );
    let strategy = OffsetLimit::new(5)
        .offset_param("skip")
        .limit_param("take")
        .total_at("/total");
    let items = client(&server)
        .paginate("rows")
        .strategy(strategy)
        .items_at("/rows")
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        items.iter().map(|i| i.id).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    let offsets: Vec<_> = server
        .requests()
        .iter()
        .map(|r| num(r, "skip").unwrap())
        .collect();
    assert_eq!(
        offsets,
        [0, 3, 6],
        "no item skipped though pages were short"
    );
}

#[tokio::test(start_paused = true)]
async fn cursors_are_sent_back_until_null() {
    let server = TestServer::start().await;
    server.route(
        "/api/events",
        Script::from_fn(|r| {
            let (items, next) = match param(r, "after").as_deref() {
                None => (json!([{ "id": 1 }, { "id": 2 }]), json!("c2")),
                Some("c2") => (json!([]), json!(7)),
                Some("7") => (json!([{ "id": 3 }]), Value::Null),
                other => panic!("unexpected cursor {other:?}"),
            };
            Reply::ok().json(json!({ "data": items, "paging": { "next": next } }).to_string())
        }),
    );
    let items = client(&server)
        .paginate("events")
        .strategy(Cursor::new("/paging/next", "after"))
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        server.request_count(),
        3,
        "an empty page with a cursor is not the end"
    );
}

#[tokio::test(start_paused = true)]
async fn a_repeating_cursor_ends_the_stream_with_an_error() {
    let server = TestServer::start().await;
    server.route(
        "/api/stuck",
        Script::from_fn(|r| {
            let next = match param(r, "cursor").as_deref() {
                None => "a",
                Some("a") => "b",
                _ => "a",
            };
            Reply::ok().json(json!({ "items": [{ "id": 1 }], "next": next }).to_string())
        }),
    );
    let mut pages = client(&server)
        .paginate("stuck")
        .strategy(Cursor::new("/next", "cursor"))
        .pages();
    for _ in 0..3 {
        pages.next().await.unwrap().unwrap();
    }
    let error = pages.next().await.unwrap().unwrap_err();
    assert_eq!(error.kind(), Kind::Pagination, "{error}");
    assert!(error.to_string().contains("is page 2 again"), "{error}");
    assert!(pages.next().await.is_none());
    assert_eq!(
        server.request_count(),
        3,
        "the repeated page is never fetched"
    );
}

#[tokio::test(start_paused = true)]
async fn link_headers_resolve_relative_targets_among_several_links() {
    let server = TestServer::start().await;
    server.route(
        "/api/repos",
        Script::from_fn(|r| {
            let page = num(r, "page").unwrap_or(1);
            let links: &[&str] = match page {
                1 => &[r#"<?page=2>; rel="next last", <https://elsewhere.test/x>; rel=help"#],
                // Two Link fields: the next link is in the second.
                2 => &[
                    r#"</api/repos?page=1>; rel="prev first"; title="a, b""#,
                    r#"<repos?page=3&x=%20y>; REL=Next"#,
                ],
                _ => &[r#"</api/repos?page=2>; rel=prev"#],
            };
            let mut reply = Reply::ok();
            for link in links {
                reply = reply.header("link", link);
            }
            reply.json(json!([{ "id": page }]).to_string())
        }),
    );
    let mut pages = client(&server).paginate("repos").pages();
    let mut seen = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        seen.push((ids(page.items()), page.next_url().map(|u| u.to_string())));
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].0, [1]);
    assert_eq!(
        seen[0].1.as_deref(),
        Some(server.url("/api/repos?page=2").as_str())
    );
    assert_eq!(seen[2].1, None);
    let last = &server.requests()[2];
    assert_eq!(param(last, "x").as_deref(), Some(" y"));
}

#[tokio::test(start_paused = true)]
async fn a_garbage_link_header_is_an_error_not_the_end() {
    let server = TestServer::start().await;
    server.route(
        "/api/g",
        Reply::ok()
            .header("link", "https://api.test/g?page=2; rel=next")
            .json("[{\"id\":1}]"),
    );
    server.route(
        "/api/far",
        Reply::ok()
            .header("link", "<https://elsewhere.test/g?page=2>; rel=next")
            .json("[{\"id\":1}]"),
    );
    let c = client(&server);
    for path in ["g", "far"] {
        let mut items = c.paginate(path).strategy(LinkHeader::new()).items::<Item>();
        assert_eq!(
            items.next().await.unwrap().unwrap_err().kind(),
            Kind::Pagination
        );
        assert!(items.next().await.is_none());
    }
    let e = c.paginate("far").pages().next().await.unwrap().unwrap_err();
    assert!(e.to_string().contains("another origin"), "{e}");
    assert_eq!(server.request_count(), 3, "the other origin is never asked");
}

#[tokio::test(start_paused = true)]
async fn a_closure_finds_the_next_page() {
    let server = TestServer::start().await;
    server.route(
        "/api/f",
        Script::from_fn(|r| {
            let p = num(r, "p").unwrap_or(0);
            Reply::ok()
                .json(json!({ "items": [{ "id": p }], "meta": { "more": p < 2 } }).to_string())
        }),
    );
    let strategy = Pagination::from_fn(|page| {
        let more = page
            .body()
            .pointer("/meta/more")
            .and_then(Value::as_bool)
            .ok_or("no meta.more")?;
        Ok(more.then(|| Next::query([("p", (page.index()).to_string())])))
    });
    let items = client(&server)
        .paginate("f")
        .strategy(strategy)
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), [0, 1, 2]);

    server.route("/api/f2", Reply::ok().json(r#"{"items":[{"id":1}]}"#));
    let failing = Pagination::from_fn(|page| {
        page.body()
            .pointer("/meta/more")
            .ok_or("no meta.more in the page")?;
        Ok(None)
    });
    let e = client(&server)
        .paginate("f2")
        .strategy(failing)
        .pages()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Pagination);
    assert!(e.to_string().contains("no meta.more"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn malformed_pages_are_errors_after_the_good_items() {
    let server = TestServer::start().await;
    let bad_second = |second: &'static str| {
        Script::from_fn(move |r| match num(r, "page") {
            Some(1) => Reply::ok().json(r#"{"items":[{"id":1}]}"#),
            _ => Reply::ok().json(second),
        })
    };
    server.route("/api/missing", bad_second(r#"{"elements":[{"id":2}]}"#));
    server.route("/api/object", bad_second(r#"{"items":{"id":2}}"#));
    server.route("/api/notjson", bad_second("<html>"));
    server.route("/api/wrongtype", bad_second(r#"{"items":[{"id":"two"}]}"#));
    let c = client(&server);
    for (path, kind, says) in [
        ("missing", Kind::Pagination, "no items at /items"),
        ("object", Kind::Pagination, "are an object, not an array"),
        ("notjson", Kind::Decode, "not JSON"),
        ("wrongtype", Kind::Decode, "item 1 of page 2"),
    ] {
        let mut items = c
            .paginate(path)
            .strategy(PageNumber::new())
            .items_at("/items")
            .items::<Item>();
        assert_eq!(items.next().await.unwrap().unwrap(), Item { id: 1 });
        let e = items.next().await.unwrap().unwrap_err();
        assert_eq!(e.kind(), kind, "{path}: {e}");
        assert!(e.to_string().contains(says), "{path}: {e}");
        assert!(e.url().unwrap().ends_with(&format!("/api/{path}")));
    }
    // A bad item is an error in its place; the good ones after it still come.
    server.route(
        "/api/mixed",
        Reply::ok().json(r#"[{"id":1},{"id":"x"},{"id":3}]"#),
    );
    let got: Vec<_> = {
        let mut items = c.paginate("mixed").items::<Item>();
        let mut got = Vec::new();
        while let Some(item) = items.next().await {
            got.push(item.map(|i| i.id).map_err(|e| e.kind()));
        }
        got
    };
    assert_eq!(got, [Ok(1), Err(Kind::Decode), Ok(3)]);
    // Default location: neither an array nor items/data/results.
    server.route("/api/odd", Reply::ok().json(r#"{"users":[]}"#));
    let e = c.paginate("odd").pages().next().await.unwrap().unwrap_err();
    assert_eq!(e.kind(), Kind::Pagination);
}

#[tokio::test(start_paused = true)]
async fn error_statuses_come_out_and_pages_are_retried_by_the_stack() {
    let server = TestServer::start().await;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    server.route(
        "/api/flaky",
        Script::from_fn(move |r| {
            let page = num(r, "page").unwrap();
            // Page 2's first attempt fails.
            if page == 2 && counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return Reply::status(503);
            }
            let items = if page <= 2 {
                json!([{ "id": page }])
            } else {
                json!([])
            };
            Reply::ok().json(items.to_string())
        }),
    );
    server.route(
        "/api/gone",
        Script::from_fn(|r| match num(r, "page") {
            Some(1) => Reply::ok().json(r#"[{"id":1}]"#),
            _ => Reply::status(404).json(r#"{"message":"no such page"}"#),
        }),
    );
    let retrying = Client::builder()
        .base_url(server.url("/api/"))
        .retry(RetryPolicy::default())
        .build()
        .unwrap();
    let items = retrying
        .paginate("flaky")
        .strategy(PageNumber::new())
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        server.requests_to("/api/flaky").len(),
        4,
        "page 2 twice, then the empty page"
    );

    let mut items = client(&server)
        .paginate("gone")
        .strategy(PageNumber::new())
        .items::<Item>();
    assert!(items.next().await.unwrap().is_ok());
    let e = items.next().await.unwrap().unwrap_err();
    assert_eq!(e.kind(), Kind::NotFound);
    assert_eq!(e.message(), Some("no such page"));
    assert!(items.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn max_pages_and_max_items_end_the_stream_quietly() {
    let server = TestServer::start().await;
    server.route("/api/n", numbered(100, 10, |_, items| json!(items)));
    let c = client(&server);
    let items = c
        .paginate("n")
        .strategy(PageNumber::new())
        .max_items(25)
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 25);
    assert_eq!(items.last().unwrap().id, 25);
    assert_eq!(server.request_count(), 3);
    let mut pages = c
        .paginate("n")
        .strategy(PageNumber::new())
        .max_pages(2)
        .pages();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        assert_eq!(page.unwrap().items().len(), 10);
        n += 1;
    }
    assert_eq!(
        (n, pages.pages_fetched(), server.request_count()),
        (2, 2, 5)
    );
}

#[tokio::test(start_paused = true)]
async fn nonsense_configuration_is_a_builder_error() {
    let server = TestServer::start().await;
    let c = client(&server);
    for paginate in [
        c.paginate("x").items_at("items"),
        c.paginate("x").strategy(OffsetLimit::new(0)),
        c.paginate("x").strategy(PageNumber::new().per_page(0)),
        c.paginate("x").strategy(Cursor::new("next", "cursor")),
    ] {
        let e = paginate.pages().next().await.unwrap().unwrap_err();
        assert_eq!(e.kind(), Kind::Builder, "{e}");
    }
    assert_eq!(server.request_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_stream_mid_fetch_leaves_the_client_usable() {
    let server = TestServer::start().await;
    server.route(
        "/api/slow",
        Script::from_fn(|r| {
            let page = num(r, "page").unwrap();
            let reply = Reply::ok().json(json!([{ "id": page }]).to_string());
            if page == 2 {
                reply.delay(Duration::from_secs(5))
            } else {
                reply
            }
        }),
    );
    let c = client(&server);
    let mut items = c
        .paginate("slow")
        .strategy(PageNumber::new())
        .items::<Item>();
    assert_eq!(items.next().await.unwrap().unwrap().id, 1);
    let mid = tokio::time::timeout(Duration::from_secs(1), items.next()).await;
    assert!(mid.is_err(), "page 2 still in flight");
    drop(items);
    let again = c
        .paginate("slow")
        .strategy(PageNumber::new())
        .max_items(1)
        .items::<Item>();
    assert_eq!(again.try_collect().await.unwrap(), [Item { id: 1 }]);
}

#[tokio::test(start_paused = true)]
async fn pagination_works_over_any_service() {
    let mock = girder_test::MockService::new(Reply::ok().json("[]"));
    mock.route(
        "/list",
        Script::from_fn(|r| {
            let next = if param(r, "c").is_none() {
                json!("x")
            } else {
                Value::Null
            };
            Reply::ok().json(json!({ "items": [{ "id": 1 }], "next": next }).to_string())
        }),
    );
    let client = Client::from_service(mock.clone());
    let items = client
        .paginate("http://mock.test/list")
        .strategy(Cursor::new("/next", "c"))
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn read_page_is_what_the_stream_does() {
    let server = TestServer::start().await;
    let paginate = client(&server)
        .paginate("x")
        .strategy(Cursor::new("/next", "cursor"));
    let url: http::Uri = "https://api.test/x?cursor=a&q=1".parse().unwrap();
    let page = paginate
        .read_page(
            &url,
            http::StatusCode::OK,
            &http::HeaderMap::new(),
            bytes::Bytes::from_static(br#"{"data":[{"id":1},{"id":2}],"next":"b c"}"#),
        )
        .unwrap();
    assert_eq!(ids(page.items()), [1, 2]);
    assert_eq!(page.body()["data"], Value::Null, "the items were taken out");
    assert_eq!(
        page.next_url().unwrap(),
        "https://api.test/x?q=1&cursor=b+c"
    );
}

#[test]
fn streams_are_send_and_unpin() {
    fn check<T: futures_core::Stream + Send + Unpin + 'static>() {}
    check::<girder::paginate::Pages>();
    check::<girder::paginate::Items<Item>>();
}

#[tokio::test(start_paused = true)]
async fn relative_links_resolve_against_the_url_after_redirects() {
    let server = TestServer::start().await;
    server.route(
        "/api/old/list",
        Reply::status(301).header("location", "/api/new/list"),
    );
    server.route(
        "/api/new/list",
        Script::from_fn(|r| match num(r, "page") {
            None => Reply::ok()
                .header("link", "<?page=2>; rel=next")
                .json(r#"[{"id":1}]"#),
            _ => Reply::ok().json(r#"[{"id":2}]"#),
        }),
    );
    let items = client(&server)
        .paginate("old/list")
        .items::<Item>()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items, [Item { id: 1 }, Item { id: 2 }]);
    let paths: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(
        paths,
        ["/api/old/list", "/api/new/list", "/api/new/list?page=2"]
    );
}
