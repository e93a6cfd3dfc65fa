//! Reading one page of a paginated list: the JSON parsed, the 100 items
//! taken out at `/data` and the next cursor read at `/next_cursor` (what
//! the stream does per page, the fetch aside), then the same with the
//! items decoded into a struct.

#![allow(missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use girder::paginate::Cursor;
use girder::{Body, BoxError, Client};
use http::{HeaderMap, StatusCode, Uri};
use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)]
struct User {
    id: u64,
    login: String,
    email: String,
    active: bool,
    score: f64,
}

fn page_body() -> Bytes {
    let users: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            serde_json::json!({
                "id": i,
                "login": format!("user{i}"),
                "email": format!("user{i}@example.com"),
                "active": i % 3 != 0,
                "score": i as f64 * 1.5,
            })
        })
        .collect();
    let body = serde_json::json!({
        "data": users,
        "next_cursor": "eyJpZCI6MTAwfQ",
        "total": 1000,
    });
    Bytes::from(serde_json::to_vec(&body).unwrap())
}

fn bench(c: &mut Criterion) {
    let client = Client::from_service(tower::service_fn(|_: http::Request<Body>| async {
        Err::<http::Response<Body>, BoxError>("never called".into())
    }));
    let paginate = client
        .paginate("https://api.test/users")
        .strategy(Cursor::new("/next_cursor", "cursor"))
        .items_at("/data");
    let url: Uri = "https://api.test/users?cursor=eyJpZCI6MH0&sort=id"
        .parse()
        .unwrap();
    let headers = HeaderMap::new();
    let body = page_body();

    let mut group = c.benchmark_group("paginate");
    group.bench_function("read_page_100_items", |b| {
        b.iter(|| {
            let page = paginate
                .read_page(&url, StatusCode::OK, &headers, black_box(body.clone()))
                .unwrap();
            assert_eq!(page.items().len(), 100);
            black_box(page.next_url().is_some())
        })
    });
    group.bench_function("read_page_100_items_typed", |b| {
        b.iter(|| {
            let page = paginate
                .read_page(&url, StatusCode::OK, &headers, black_box(body.clone()))
                .unwrap();
            let users: Vec<User> = page.items_as().unwrap();
            black_box(users.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
