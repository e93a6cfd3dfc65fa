//! A typical reqwest program, ported by changing the crate's name.
//!
//! `reqwest_program` below is reqwest code as its docs and most programs
//! write it (JSON in and out, headers, bearer and basic auth, query
//! parameters, a form, `error_for_status`, `try_clone`, a download read
//! chunk by chunk, a timeout), with `reqwest::` replaced by `girder::` and
//! nothing else. A local `TestServer` stands in for httpbin, so the
//! example runs without a network: `cargo run --example from_reqwest`.
//!
//! What the same lines do differently under girder (retries, logging, the
//! total timeout, redirect limits): README, "Coming from reqwest".

use std::collections::HashMap;
use std::time::Duration;

use girder_test::{Reply, Script, TestServer};

#[derive(Debug, serde::Deserialize)]
struct Ip {
    origin: String,
}

async fn reqwest_program(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = girder::Client::new();

    // GET, decoded from JSON.
    let ip: Ip = client
        .get(format!("{base}/ip"))
        .send()
        .await?
        .json()
        .await?;
    println!("origin        {}", ip.origin);

    // POST a JSON body, with headers and a bearer token.
    let mut map = HashMap::new();
    map.insert("lang", "rust");
    map.insert("body", "json");
    let res = client
        .post(format!("{base}/post"))
        .header(girder::header::ACCEPT, "application/json")
        .header("x-request-id", 42)
        .bearer_auth("my-token")
        .timeout(Duration::from_secs(10))
        .json(&map)
        .send()
        .await?;
    println!("post          {} ({:?})", res.status(), res.version());
    let echoed: serde_json::Value = res.error_for_status()?.json().await?;
    println!("echoed        {echoed}");

    // Query parameters and basic auth.
    let res = client
        .get(format!("{base}/basic-auth"))
        .basic_auth("user", Some("passwd"))
        .query(&[("page", "2"), ("per_page", "50")])
        .send()
        .await?;
    assert!(res.status().is_success());

    // A form, sent twice from one builder.
    let form = client
        .post(format!("{base}/post"))
        .form(&[("name", "girder"), ("kind", "crate")]);
    let again = form.try_clone().expect("a form body can be sent again");
    form.send().await?.error_for_status()?;
    again.send().await?.error_for_status()?;

    // An error status, and reqwest's predicates.
    let err = client
        .get(format!("{base}/status/404"))
        .send()
        .await?
        .error_for_status()
        .unwrap_err();
    if err.is_status() {
        println!("status error  {:?} for {:?}", err.status(), err.url());
    }
    assert_eq!(err.status(), Some(girder::StatusCode::NOT_FOUND));

    // Redirects are followed; `url()` is where the response came from.
    let res = client.get(format!("{base}/redirect")).send().await?;
    println!("redirected to {}", res.url());

    // A download, chunk by chunk.
    let mut res = client.get(format!("{base}/bytes")).send().await?;
    println!("download      {:?} bytes announced", res.content_length());
    let mut total = 0;
    while let Some(chunk) = res.chunk().await? {
        total += chunk.len();
    }
    println!("download      {total} bytes read");

    // A timeout.
    match client
        .get(format!("{base}/delay"))
        .timeout(Duration::from_millis(200))
        .send()
        .await
    {
        Err(e) if e.is_timeout() => println!("timed out     {e}"),
        other => println!("unexpected    {other:?}"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // httpbin's answers, from a server on loopback.
    let server = TestServer::start().await;
    server.route("/ip", Reply::ok().json(r#"{"origin":"127.0.0.1"}"#));
    server.route(
        "/post",
        Script::from_fn(|request| {
            let json = serde_json::json!({
                "data": String::from_utf8_lossy(&request.body),
                "authorization": request.header("authorization").is_some(),
            });
            Reply::ok().json(json.to_string())
        }),
    );
    server.route(
        "/basic-auth",
        Script::from_fn(|request| match request.header("authorization") {
            Some("Basic dXNlcjpwYXNzd2Q=") => Reply::ok().json(r#"{"authenticated":true}"#),
            _ => Reply::status(401),
        }),
    );
    server.route("/status/404", Reply::status(404));
    server.route("/redirect", Reply::status(302).header("location", "/ip"));
    server.route("/bytes", Reply::ok().body(vec![7u8; 256 * 1024]));
    server.route("/delay", Reply::ok().delay(Duration::from_secs(5)));

    reqwest_program(&server.url("")).await
}
