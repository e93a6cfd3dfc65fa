//! Pages through a list served by a local `TestServer`: first by cursor,
//! then by the `Link` header, printing each item, and ends with the error
//! a server stuck on one cursor gets instead of an endless loop.
//!
//! Run it with `cargo run --example paginate`.

use girder::paginate::{Cursor, LinkHeader};
use girder::{BoxError, Client};
use girder_test::{Reply, Script, TestServer};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
struct Book {
    id: u64,
    title: String,
}

const TITLES: [&str; 7] = [
    "Dune",
    "Solaris",
    "Neuromancer",
    "Hyperion",
    "Foundation",
    "Ubik",
    "Kindred",
];

/// `?cursor=N` (absent: 0) → three books from N and the next cursor.
fn books_page(cursor: usize) -> Value {
    let books: Vec<Value> = TITLES
        .iter()
        .enumerate()
        .skip(cursor)
        .take(3)
        .map(|(i, t)| json!({ "id": i + 1, "title": t }))
        .collect();
    let next = (cursor + 3 < TITLES.len()).then(|| format!("b{}", cursor + 3));
    json!({ "data": books, "meta": { "next_cursor": next } })
}

fn cursor_of(request: &girder_test::RecordedRequest) -> usize {
    request
        .uri
        .query()
        .and_then(|q| q.strip_prefix("cursor=b"))
        .map_or(0, |n| n.parse().unwrap_or(0))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let server = TestServer::start().await;
    server.route(
        "/v1/books",
        Script::from_fn(|r| Reply::ok().json(books_page(cursor_of(r)).to_string())),
    );
    // The same list, with RFC 8288 links and a top-level array.
    server.route(
        "/v1/shelf",
        Script::from_fn(|r| {
            let cursor = cursor_of(r);
            let page = books_page(cursor);
            let mut reply = Reply::ok().json(page["data"].to_string());
            if let Some(next) = page["meta"]["next_cursor"].as_str() {
                let link = format!(r#"<shelf?cursor={next}>; rel="next", <shelf>; rel="first""#);
                reply = reply.header("link", &link);
            }
            reply
        }),
    );
    server.route(
        "/v1/stuck",
        Reply::ok()
            .json(r#"{"data":[{"id":1,"title":"Groundhog Day"}],"meta":{"next_cursor":"same"}}"#),
    );

    let client = Client::builder()
        .base_url(server.url("/v1/"))
        .logging(None)
        .build()?;

    println!("cursor pagination (GET /v1/books, then ?cursor=… from meta.next_cursor):");
    let mut books = client
        .paginate("books")
        .strategy(Cursor::new("/meta/next_cursor", "cursor"))
        .items_at("/data")
        .items::<Book>();
    while let Some(book) = books.next().await {
        let book = book?;
        println!("  {:>2}. {}", book.id, book.title);
    }
    println!("  ({} pages)", books.pages_fetched());

    println!("Link header pagination (rel=\"next\", relative targets), first 4 only:");
    let shelf = client
        .paginate("shelf")
        .strategy(LinkHeader::new())
        .max_items(4)
        .items::<Book>()
        .try_collect()
        .await?;
    for book in &shelf {
        println!("  {:>2}. {}", book.id, book.title);
    }

    println!("a server stuck on one cursor:");
    let mut stuck = client
        .paginate("stuck")
        .strategy(Cursor::new("/meta/next_cursor", "cursor"))
        .items::<Book>();
    while let Some(book) = stuck.next().await {
        match book {
            Ok(book) => println!("  {:>2}. {}", book.id, book.title),
            Err(e) => println!("  error ({:?}): {e}", e.kind()),
        }
    }
    println!(
        "  {} requests to /v1/stuck, not an endless loop",
        server.requests_to("/v1/stuck").len()
    );
    Ok(())
}
