//! The soak's side of the wire: a `TestServer` whose replies follow the
//! call's `x-soak-fault` header on the first request it sees for the
//! call, and which counts the requests of every call by its `x-soak-id`.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use girder_test::{RecordedRequest, Reply, Script, TestServer};

use super::plan::Fault;

/// The header naming the call.
pub const ID: &str = "x-soak-id";
/// The header naming the fault of the call's first attempt.
pub const FAULT: &str = "x-soak-fault";

/// How the server misbehaves.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How late a slow head comes (longer than the attempt timeout).
    pub slow_head: Duration,
    /// How long a stalled body stalls (longer than a call's deadline and
    /// the soak's margin).
    pub stall: Duration,
    /// The token endpoint's `expires_in`, in seconds.
    pub token_lifetime: u32,
}

/// Counts kept by the server, allocated up front so that they do not grow
/// during the run (the heap check).
#[derive(Debug)]
pub struct Counts {
    /// Requests received per call id.
    pub per_call: Vec<AtomicU32>,
    /// Faults the server injected, in [`Fault::ALL`] order.
    pub injected: [AtomicU64; Fault::ALL.len()],
    /// Token requests.
    pub tokens: AtomicU64,
}

impl Counts {
    fn new(calls: usize) -> Self {
        Counts {
            per_call: (0..calls).map(|_| AtomicU32::new(0)).collect(),
            injected: std::array::from_fn(|_| AtomicU64::new(0)),
            tokens: AtomicU64::new(0),
        }
    }
}

/// The server and its counts.
#[derive(Debug)]
pub struct SoakServer {
    /// The server.
    pub server: TestServer,
    /// What it counted.
    pub counts: Arc<Counts>,
}

const ITEM: &str = r#"{"id":1,"name":"girder soak item","tags":["alpha","beta","gamma"],"price":{"amount":1299,"currency":"EUR"},"stock":42,"updated":"2026-12-05T07:00:00Z","notes":"a body long enough to cut in half"}"#;

impl SoakServer {
    /// Starts a server for `calls` call ids, recording off.
    pub async fn start(calls: usize, timing: Timing) -> SoakServer {
        let server = TestServer::start().await;
        server.set_recording(false);
        let counts = Arc::new(Counts::new(calls));
        let gzipped = Bytes::from(gzip(ITEM.as_bytes()));
        let token_counts = counts.clone();
        let lifetime = timing.token_lifetime;
        server.route(
            "/token",
            Script::from_fn(move |_| {
                let n = token_counts.tokens.fetch_add(1, Ordering::Relaxed) + 1;
                Reply::ok().json(format!(
                    r#"{{"access_token":"soak-token-{n}","token_type":"Bearer","expires_in":{lifetime}}}"#
                ))
            }),
        );
        let api_counts = counts.clone();
        server.fallback(Script::from_fn(move |request| {
            reply(request, &api_counts, &gzipped, timing)
        }));
        SoakServer { server, counts }
    }
}

fn reply(request: &RecordedRequest, counts: &Counts, gzipped: &Bytes, timing: Timing) -> Reply {
    let id = request.header(ID).and_then(|v| v.parse::<usize>().ok());
    let first = match id.and_then(|id| counts.per_call.get(id)) {
        Some(count) => count.fetch_add(1, Ordering::Relaxed) == 0,
        None => return Reply::status(400).body("no or unknown x-soak-id"),
    };
    let path = request.path();
    let normal = if let Some(rest) = path.strip_prefix("/redirect/") {
        Reply::status(307).header("location", &format!("/items/{rest}"))
    } else if path.starts_with("/cached/") {
        Reply::ok().header("cache-control", "max-age=1").json(ITEM)
    } else if path.starts_with("/gz/") {
        Reply::ok()
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gzipped.clone())
    } else if path == "/orders" {
        Reply::status(201).json(ITEM)
    } else {
        Reply::ok().json(ITEM)
    };
    let fault = request.header(FAULT).and_then(Fault::from_name);
    let Some(fault) = fault.filter(|f| first && !f.at_transport()) else {
        return normal;
    };
    let index = Fault::ALL.iter().position(|f| *f == fault).unwrap_or(0);
    counts.injected[index].fetch_add(1, Ordering::Relaxed);
    let half = ITEM.len() / 2;
    match fault {
        Fault::ResetBeforeHead => Reply::close(),
        Fault::ResetAfterHead => normal.cut_body_after(0),
        Fault::Unavailable => Reply::status(503),
        Fault::UnavailableRetryAfter => Reply::status(503).header("retry-after", "1"),
        Fault::TooManyRequests => Reply::status(429).header("retry-after", "1"),
        Fault::SlowHead => normal.delay(timing.slow_head),
        Fault::CutBody => normal.cut_body_after(half),
        Fault::StalledBody => normal.stall_body_after(half, timing.stall),
        Fault::ResetBeforeSend | Fault::LostResponse => normal,
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}
