//! `stream::download` end to end with a small body: every byte the server
//! generated comes out of `bytes_stream`, in pieces no larger than a frame.
//! (The 1 GiB run and its memory figure are `girder-bench-stream`'s, in
//! release; no timing is asserted here.)

use std::time::Duration;

use girder_bench::stream::{download, proc_status_kib};

#[tokio::test]
async fn every_generated_byte_is_streamed() {
    let read = download(8 * 1024 * 1024 + 123, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(read.bytes, 8 * 1024 * 1024 + 123);
    assert!(read.pieces >= 2, "{read:?}");
    assert!(read.largest <= 1024 * 1024, "{read:?}");
}

#[test]
fn proc_status_fields_parse_where_linux_has_them() {
    if std::path::Path::new("/proc/self/status").exists() {
        assert!(proc_status_kib("VmHWM").is_some_and(|kib| kib > 0));
        assert_eq!(proc_status_kib("NoSuchField"), None);
    }
}
