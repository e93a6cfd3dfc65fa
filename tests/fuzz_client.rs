//! Fuzz targets for what a `Client` reads from a server, through the
//! client over a scripted transport: error bodies (problem+json and vendor
//! shapes), GraphQL responses and Relay pages, pagination pages and
//! `Link` headers, gzip bodies, and the hint fields the retry, breaker and
//! rate-limit layers act on. The long run: see `fuzz.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use girder::paginate::{Cursor, LinkHeader, OffsetLimit, PageNumber, Pagination};
use girder::{Client, Kind};
use girder_core::hints::MAX_HINT;
use girder_test::fuzz;
use girder_test::fuzz::hints::{HINT_DICT, RETRY_AFTER, headers as hint_headers};
use girder_test::{MockService, Reply, Script};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};

/// A client whose transport answers every request with the reply in
/// `slot`.
fn scripted_client() -> (Client, Arc<Mutex<Reply>>) {
    let slot = Arc::new(Mutex::new(Reply::ok()));
    let reply = slot.clone();
    let mock = MockService::new(Script::from_fn(move |_| reply.lock().unwrap().clone()));
    (Client::from_service(mock), slot)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// A header value `Reply::header` takes: visible ASCII, space and tab.
fn ascii(value: &HeaderValue) -> String {
    value
        .as_bytes()
        .iter()
        .filter(|b| **b == b'\t' || (b' '..=b'~').contains(*b))
        .map(|&b| char::from(b))
        .collect()
}

const ERROR_BODIES: &[&str] = &[
    r#"{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.","detail":"Your current balance is 30, but that costs 50.","instance":"/account/12345/msgs/abc","balance":30,"accounts":["/account/12345","/account/67890"]}"#,
    r#"{"type":"about:blank","title":"Not Found","status":404}"#,
    r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
    r#"{"error":"invalid_request","error_description":"the grant is bad"}"#,
    r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}"#,
    r#"{"errors":[{"code":"E1","detail":"x"}]}"#,
    "<html><body>502 Bad Gateway</body></html>",
    "",
];

const ERROR_KEYS: &[&str] = &[
    "type",
    "title",
    "detail",
    "status",
    "instance",
    "error",
    "message",
    "error_description",
    "errors",
    "code",
];

const CONTENT_TYPES: &[&str] = &[
    "application/problem+json",
    "application/json; charset=utf-8",
    "text/html",
    "application/vnd.api+json",
];

/// A cookie the server sets on an error: a credential, which an error's
/// `Display` and `Debug` must not show.
const COOKIE: &str = "session=COOKIESECRET";

#[test]
fn error_bodies_become_errors_that_show_no_cookie() {
    let rt = runtime();
    let (client, slot) = scripted_client();
    let statuses = [
        400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504, 200, 302,
    ];
    fuzz::check(
        "error_bodies",
        3_000,
        |g| {
            let status = statuses[g.below(statuses.len())];
            let body = if g.chance(30) {
                g.json(3, ERROR_KEYS, &["Not Found", "x"]).into_bytes()
            } else {
                g.data(
                    ERROR_BODIES,
                    &["{", "}", "\"", ":", ",", "[", "\\u0000", "\\ud800"],
                )
            };
            let content_type = g.chance(70).then(|| g.pick(CONTENT_TYPES).to_owned());
            let retry_after = g
                .chance(40)
                .then(|| ascii(&g.header_value(RETRY_AFTER, HINT_DICT)));
            (status, content_type, retry_after, Bytes::from(body))
        },
        |(status, content_type, retry_after, body)| {
            let mut reply = Reply::status(*status)
                .header("set-cookie", COOKIE)
                .body(body.clone());
            if let Some(ct) = content_type {
                reply = reply.header("content-type", ct);
            }
            if let Some(ra) = retry_after {
                reply = reply.header("retry-after", ra);
            }
            *slot.lock().unwrap() = reply;
            let result = rt.block_on(async {
                client
                    .get("http://api.test/things/1")
                    .send()
                    .await?
                    .error_for_status_with_message()
                    .await
            });
            match result {
                Ok(response) => assert!(response.status().as_u16() < 400),
                Err(e) => {
                    assert_eq!(e.status().map(|s| s.as_u16()), Some(*status));
                    assert!(e.retry_after().is_none_or(|d| d <= MAX_HINT));
                    let shown = format!("{e} {e:?}");
                    assert!(!shown.contains("COOKIESECRET"), "{shown}");
                }
            }
        },
    );
}

const GRAPHQL_BODIES: &[&str] = &[
    r#"{"data":{"user":{"name":"Ada"}}}"#,
    r#"{"data":{"user":null},"errors":[{"message":"not allowed","path":["user",0,"email"],"locations":[{"line":1,"column":9}],"extensions":{"code":"FORBIDDEN"}},{"message":"second"}]}"#,
    r#"{"errors":[{"message":"syntax error"}]}"#,
    r#"{"data":null,"errors":null}"#,
    r#"{"data":{"viewer":{"repos":{"edges":[{"cursor":"a","node":{"id":1}}],"pageInfo":{"hasNextPage":true,"endCursor":"c1"}}}}}"#,
    r#"{"data":{"viewer":{"repos":{"nodes":[{"id":2}],"pageInfo":{"hasNextPage":false,"endCursor":null}}}}}"#,
];

const GRAPHQL_KEYS: &[&str] = &[
    "data",
    "errors",
    "message",
    "path",
    "locations",
    "line",
    "column",
    "extensions",
    "code",
    "viewer",
    "repos",
    "edges",
    "nodes",
    "node",
    "pageInfo",
    "hasNextPage",
    "endCursor",
];

#[test]
fn graphql_responses_are_data_or_typed_errors() {
    let rt = runtime();
    let (client, slot) = scripted_client();
    fuzz::check(
        "graphql",
        3_000,
        |g| {
            let body = if g.chance(35) {
                g.json(5, GRAPHQL_KEYS, &["c1", "x"])
            } else {
                g.text(
                    GRAPHQL_BODIES,
                    &["{", "}", "[", "]", ":", ",", "null", "true"],
                )
            };
            let status = [200, 200, 200, 400, 500][g.below(5)];
            (status, body, g.rng().bool())
        },
        |(status, body, relay)| {
            *slot.lock().unwrap() = Reply::status(*status).json(body.clone());
            rt.block_on(async {
                let operation = client
                    .graphql("http://api.test/graphql")
                    .query("query R($after: String) { viewer { repos(after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }");
                if *relay {
                    let mut pages = operation.relay("/viewer/repos").max_pages(3).pages();
                    while let Some(page) = pages.next().await {
                        if page.is_err() {
                            break;
                        }
                    }
                    assert!(pages.pages_fetched() <= 3);
                } else if let Err(e) = operation.send::<serde_json::Value>().await
                    && e.kind() == Kind::GraphQl
                {
                    assert!(!e.graphql().expect("the errors").errors().is_empty());
                }
            });
        },
    );
}

const PAGE_LINKS: &[&str] = &[
    r#"<https://api.test/items?page=3>; rel="next last", </items?page=1>; rel=first"#,
    "</items?cursor=a%20b>; rel=next",
    "<//other.test/p?q=1#f>; REL=Next",
    "<?page=2>; rel=next",
    "<ftp://x/>; rel=next",
];

const PAGES: &[&str] = &[
    r#"[{"id":1},{"id":2}]"#,
    r#"{"items":[{"id":1}],"next_cursor":"abc","has_more":true}"#,
    r#"{"data":[{"id":3}],"meta":{"next":"c2","total":30,"total_pages":3,"next_page":2}}"#,
    r#"{"results":[],"next":null}"#,
    r#"{"items":[{"id":1}],"next_cursor":7}"#,
];

const PAGE_KEYS: &[&str] = &[
    "items",
    "data",
    "results",
    "next_cursor",
    "has_more",
    "meta",
    "next",
    "total",
    "total_pages",
    "next_page",
    "id",
];

fn strategy(which: usize) -> Pagination {
    match which {
        0 => LinkHeader::new().into(),
        1 => Cursor::new("/next_cursor", "cursor")
            .has_more_at("/has_more")
            .into(),
        2 => Cursor::new("/meta/next", "after").into(),
        3 => PageNumber::new()
            .per_page(2)
            .total_pages_at("/meta/total_pages")
            .next_page_at("/meta/next_page")
            .into(),
        4 => OffsetLimit::new(2).total_at("/meta/total").into(),
        _ => PageNumber::new().has_more_at("/has_more").into(),
    }
}

#[test]
fn pagination_pages_are_read_or_refused() {
    let rt = runtime();
    let (client, slot) = scripted_client();
    let url: Uri = "https://api.test/items?page=2&cursor=x".parse().unwrap();
    fuzz::check(
        "pagination",
        3_000,
        |g| {
            let body = if g.chance(35) {
                g.json(
                    4,
                    PAGE_KEYS,
                    &["abc", "", "?&=#", "https://api.test/items?page=9"],
                )
            } else {
                g.text(PAGES, &["{", "}", "[", "]", ":", ",", "\"", "null", "/"])
            };
            let link = g.chance(50).then(|| {
                g.header_value(PAGE_LINKS, &["<", ">", ";", ",", "rel", "next", "?page="])
            });
            let items_at = g
                .chance(20)
                .then(|| g.pick(&["/items", "/data/0", "", "/~1x", "/a~"]));
            let status = [200, 200, 200, 204, 404, 500][g.below(6)];
            (g.below(6), items_at, status, link, body, g.rng().bool())
        },
        |(which, items_at, status, link, body, stream)| {
            let mut paginate = client
                .paginate("https://api.test/items")
                .strategy(strategy(*which));
            if let Some(pointer) = items_at {
                paginate = paginate.items_at(*pointer);
            }
            let mut headers = HeaderMap::new();
            if let Some(link) = link {
                headers.insert("link", link.clone());
            }
            let status = StatusCode::from_u16(*status).unwrap();
            if !*stream {
                let _ = paginate.read_page(&url, status, &headers, Bytes::from(body.clone()));
                return;
            }
            let mut reply = Reply::status(status.as_u16()).json(body.clone());
            if let Some(link) = link {
                reply = reply.header("link", &ascii(link));
            }
            *slot.lock().unwrap() = reply;
            rt.block_on(async {
                let mut pages = paginate.max_pages(4).pages();
                while let Some(page) = pages.next().await {
                    if page.is_err() {
                        break;
                    }
                }
                assert!(pages.pages_fetched() <= 4);
            });
        },
    );
}

/// The layers that act on hints (retry, circuit breaker, rate limiter)
/// over a server that answers with fuzzed hint fields: every call ends,
/// within the client's total timeout.
#[test]
fn hint_consumers_end_every_call_in_time() {
    use girder::breaker::BreakerPolicy;
    use girder::ratelimit::{Quota, RateLimitPolicy};
    use girder::retry::RetryPolicy;

    const TOTAL: Duration = Duration::from_secs(30);
    let rt = runtime();
    let (mut inputs, mut waited) = (0, 0);
    fuzz::check(
        "hint_consumers",
        500,
        |g| {
            let replies: Vec<(u16, HeaderMap)> = (0..g.rng().usize(1..4))
                .map(|_| ([429, 503, 200, 500][g.below(4)], hint_headers(g)))
                .collect();
            replies
        },
        |replies| {
            let script: Vec<Reply> = replies
                .iter()
                .map(|(status, headers)| {
                    headers
                        .iter()
                        .fold(Reply::status(*status), |reply, (name, value)| {
                            reply.header(name.as_str(), &ascii(value))
                        })
                })
                .chain([Reply::ok()])
                .collect();
            let mock = MockService::new(script);
            let client = Client::builder()
                .base_url("http://api.test/")
                .retry(RetryPolicy::default())
                .circuit_breaker(BreakerPolicy::default())
                .rate_limit(
                    RateLimitPolicy::builder()
                        .quota(Quota::per_second(50))
                        .build()
                        .unwrap(),
                )
                .total_timeout(TOTAL)
                .build_with_transport(mock)
                .unwrap();
            rt.block_on(async {
                for _ in 0..3 {
                    let started = tokio::time::Instant::now();
                    let _ = client.get("items").send().await;
                    let took = started.elapsed();
                    inputs += 1;
                    waited += usize::from(took >= Duration::from_secs(1));
                    assert!(
                        took <= TOTAL + Duration::from_secs(1),
                        "a call took {took:?}"
                    );
                }
            });
        },
    );
    assert!(waited > 0, "no input made a layer wait ({inputs} calls)");
}

/// `gzip` of `data`.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Encoded bodies: mutated gzip streams (a bomb among them) decode to
/// at most the client's `max_response_bytes`, or fail; never a panic.
#[test]
fn gzip_bodies_decode_within_the_limit_or_fail() {
    const LIMIT: usize = 64 * 1024;
    let seeds: Vec<Vec<u8>> = [
        br#"{"items":[{"id":1}]}"#.to_vec(),
        Vec::new(),
        vec![0; 1 << 20],
        (0..=255u8).cycle().take(70_000).collect(),
    ]
    .iter()
    .map(|d| gzip(d))
    .collect();
    let rt = runtime();
    let slot = Arc::new(Mutex::new(Reply::ok()));
    let reply = slot.clone();
    let mock = MockService::new(Script::from_fn(move |_| reply.lock().unwrap().clone()));
    let client = Client::builder()
        .base_url("http://api.test/")
        .retry(None)
        .max_response_bytes(LIMIT)
        .build_with_transport(mock)
        .unwrap();
    let (mut inputs, mut read) = (0, 0);
    fuzz::check(
        "gzip_body",
        1_000,
        |g| {
            let mut data = seeds[g.below(seeds.len())].clone();
            g.mutate(&mut data, &[], &["\u{1f}\u{8b}", "\0", "\u{ff}"]);
            let coding = g
                .pick(&["gzip", "gzip", "GZIP", "gzip, identity", "x-gzip"])
                .to_owned();
            (coding, data)
        },
        |(coding, data)| {
            *slot.lock().unwrap() = Reply::ok()
                .header("content-encoding", coding)
                .body(data.clone());
            let result = rt.block_on(async { client.get("x").send().await?.bytes().await });
            inputs += 1;
            if let Ok(body) = result {
                read += 1;
                assert!(body.len() <= LIMIT, "{} bytes", body.len());
            }
        },
    );
    assert!(read * 10 > inputs, "{read} of {inputs} bodies were read");
}
