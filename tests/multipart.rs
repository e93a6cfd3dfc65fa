//! `multipart/form-data` uploads (feature `multipart`) against `TestServer`
//! on loopback: the bytes on the wire, a file streamed as it is sent, and
//! retries only for a form that can be sent again.

use std::time::Duration;

use girder::multipart::{Form, Part};
use girder::retry::{NoRetry, RetryDecision};
use girder::{Client, Kind};
use girder_test::{Reply, TestServer};

fn client(server: &TestServer) -> Client {
    Client::builder()
        .base_url(server.url("/api"))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_form_in_memory_goes_out_byte_for_byte() {
    let server = TestServer::start().await;
    server.route("/api/upload", Reply::ok());
    let form = Form::new().text("title", "holiday \"2026\"").part(
        "photo",
        Part::bytes(&b"\x89PNG\r\n"[..])
            .file_name("a.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let boundary = form.boundary().to_owned();
    assert_eq!(boundary.len(), 32);
    assert_ne!(boundary, Form::new().boundary(), "a boundary per form");
    client(&server)
        .post("upload")
        .multipart(form)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let seen = &server.requests_to("/api/upload")[0];
    // The PNG bytes are not UTF-8: compared as bytes.
    let mut wanted = Vec::new();
    wanted.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n")
            .as_bytes(),
    );
    wanted.extend_from_slice(b"holiday \"2026\"\r\n");
    wanted.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    wanted.extend_from_slice(b"\x89PNG\r\n\r\n");
    wanted.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    assert_eq!(&seen.body[..], &wanted[..]);
    assert_eq!(
        seen.header("content-type"),
        Some(format!("multipart/form-data; boundary={boundary}").as_str())
    );
    assert_eq!(
        seen.header("content-length"),
        Some(wanted.len().to_string().as_str())
    );
}

#[tokio::test(start_paused = true)]
async fn names_are_escaped_and_bad_types_refused() {
    let server = TestServer::start().await;
    server.route("/api/upload", Reply::ok());
    let form = Form::new().part("a\"b\r\nc", Part::text("v").file_name("x\".txt"));
    client(&server)
        .post("upload")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = server.requests_to("/api/upload")[0].body.clone();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        body.contains("name=\"a%22b%0D%0Ac\"; filename=\"x%22.txt\""),
        "{body}"
    );

    let bad = Part::text("v").mime_str("text/plain\n").unwrap_err();
    assert_eq!(bad.kind(), Kind::Builder);
    let part = Part::text("s3cr3t").file_name("f");
    assert!(!format!("{part:?}").contains("s3cr3t"));
}

#[tokio::test(start_paused = true)]
async fn a_form_in_memory_is_retried() {
    let server = TestServer::start().await;
    server.route("/api/put", [Reply::status(503), Reply::ok()]);
    let form = Form::new().text("k", "v");
    let response = client(&server)
        .put("put")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = server.requests_to("/api/put");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body);
}

#[tokio::test]
async fn a_file_is_streamed_and_never_retried() {
    let dir = std::env::temp_dir().join(format!("girder-multipart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.csv");
    let content: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&path, &content).unwrap();

    let server = TestServer::start().await;
    server.route("/api/put", [Reply::status(503), Reply::ok()]);
    let form = Form::new()
        .text("kind", "csv")
        .file("report", &path)
        .await
        .unwrap();
    let boundary = form.boundary().to_owned();
    let c = Client::builder()
        .base_url(server.url("/api"))
        .total_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = c.put("put").multipart(form).send().await.unwrap();
    // PUT is idempotent, but the file cannot be read twice: the 503 stands.
    assert_eq!(response.status(), 503);
    let seen = server.requests_to("/api/put");
    assert_eq!(seen.len(), 1, "a streamed form is sent once");
    let record = response.call_record();
    assert!(
        record.any(|e| matches!(
            e.event(),
            Some(RetryDecision::NotRetried {
                why: NoRetry::BodyNotReplayable,
                ..
            })
        )),
        "{record}"
    );
    let body = &seen[0].body;
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"report\"; filename=\"report.csv\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let at = body
        .windows(head.len())
        .position(|w| w == head.as_bytes())
        .expect("the file's part");
    let start = at + head.len();
    assert_eq!(&body[start..start + content.len()], &content[..]);
    assert!(body.ends_with(format!("\r\n--{boundary}--\r\n").as_bytes()));
    // The length was known: no chunked encoding.
    assert_eq!(
        seen[0].header("content-length"),
        Some(body.len().to_string().as_str())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
