//! Fuzz targets for girder-sign's inputs: RFC 9421 component identifiers;
//! the three signers over arbitrary methods, URIs, header names and values,
//! bodies and signing times; and the clock-skew recovery reading a fuzzed
//! `Date` from a rejection. The long run: `GIRDER_FUZZ_ITERS=1000000
//! cargo test --release -p girder-sign --test fuzz -- --nocapture` (see
//! `girder_test::fuzz`).

use std::time::{Duration, SystemTime};

use girder_core::{Body, WallClock};
use girder_sign::hmac::{self, HmacSigner};
use girder_sign::rfc9421::{Component, DigestAlgorithm, HttpSignatureSigner, SignatureKey};
use girder_sign::sigv4::{PayloadMode, SigV4Signer};
use girder_sign::{Payload, Signer, SigningLayer, SkewPolicy};
use girder_test::fuzz::{self, Gen};
use girder_test::{MockService, Reply};
use http::request::Parts;
use http::{HeaderName, Method, Request, Uri};
use tower::{Layer, ServiceExt};

const T0: u64 = 1_700_000_000;
/// The secrets of the signers: never in an error.
const AWS_SECRET: &str = "wJalrXUtnFEMI-AWS-SECRET";
const HMAC_SECRET: &[u8] = b"HMAC-SECRET-key";

const IDENTIFIERS: &[&str] = &[
    "\"@method\"",
    "@target-uri",
    "\"@authority\"",
    "\"@query-param\";name=\"Pet\"",
    "\"@query-param\";name=\"\"",
    "\"content-digest\"",
    "content-type",
    "\"x-empty-header\";sf",
    "\"@status\"",
    "\"@request-response\";key=\"sig1\"",
    "\"",
];

#[test]
fn component_identifiers_parse_or_fail() {
    fuzz::check(
        "rfc9421_component",
        5_000,
        |g| {
            g.text(
                IDENTIFIERS,
                &["\"", ";", "=", "@", "name", "\\", "sf", "bs"],
            )
        },
        |identifier| {
            if let Ok(Component::QueryParam(name)) = Component::parse(identifier) {
                assert!(!name.contains('"') && !name.contains('\\'), "{name:?}");
            }
        },
    );
}

const URIS: &[&str] = &[
    "https://example.amazonaws.com/",
    "https://example.amazonaws.com/a/../b/./c//d?x=1&x=2&y=&=z&a%20b=c+d",
    "https://user:pw@EXAMPLE.com:443/p%2Fq/%E2%82%AC?Pet=dog&pet=cat",
    "http://[::1]:8080/path;param?q#frag",
    "http://example.com:80",
    "https://example.com/%",
    "/relative/only?x=1",
    "*",
    "https://example.com/?%ZZ=%",
    "https://xn--nxasmq6b.example/\u{e9}",
];

const URI_DICT: &[&str] = &[
    "/", "?", "&", "=", "%", "%2F", "%00", "%ff", "..", ".", "//", "#", ":", "@", "[", "]", "+",
    "~", "%E2%82",
];

const HEADER_NAMES: &[&str] = &[
    "host",
    "content-type",
    "content-digest",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "authorization",
    "date",
    "x-timestamp",
    "signature",
    "signature-input",
    "x-empty",
    "x-custom",
    "user-agent",
];

const HEADER_VALUES: &[&str] = &[
    "application/json",
    "  spaced   out  ",
    "",
    "a, b,  c",
    "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
    "20150830T123600Z",
    "Tue, 14 Nov 2023 22:13:20 GMT",
];

/// A request head: a method, a URI (fuzzed text when it parses, else a
/// seed's) and fuzzed header lines.
fn head(g: &mut Gen) -> Parts {
    let method = if g.chance(70) {
        Method::from_bytes(
            g.pick(&["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
                .as_bytes(),
        )
    } else {
        Method::from_bytes(&g.data(&["GET", "CUSTOM-METHOD", "M!#$%&'*+-.^_`|~"], &[]))
    };
    let method = method.unwrap_or(Method::OPTIONS);
    let uri: Uri = g
        .text(URIS, URI_DICT)
        .parse()
        .unwrap_or_else(|_| Uri::from_static(g.pick(URIS).split('\u{e9}').next().unwrap()));
    let mut request = Request::builder().method(method).uri(uri).body(()).unwrap();
    for _ in 0..g.rng().usize(0..5) {
        let name = if g.chance(80) {
            HeaderName::from_static(g.pick(HEADER_NAMES))
        } else {
            HeaderName::from_bytes(&g.data(HEADER_NAMES, &["-", "_", "."]))
                .unwrap_or(HeaderName::from_static("x-fallback"))
        };
        let value = g.header_value(HEADER_VALUES, &[",", " ", "\t", ":", "\u{e9}"]);
        request.headers_mut().append(name, value);
    }
    request.into_parts().0
}

/// A signing time between the epoch and the end of the year 9999.
fn signing_time(g: &mut Gen) -> SystemTime {
    let secs = match g.rng().u32(0..4) {
        0 => g.rng().u64(0..253_402_300_800),
        1 => *g.pick(&[&0, &1, &253_402_300_799, &4_102_444_800]),
        _ => T0 + g.rng().u64(0..1_000_000_000),
    };
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[derive(Debug)]
struct Signing {
    signer: usize,
    parts: Parts,
    body: Option<Vec<u8>>,
    now: SystemTime,
    components: Vec<Component>,
}

fn signers() -> Vec<Box<dyn Signer>> {
    let sigv4 = |token: bool, s3: bool, payload| {
        let mut b = SigV4Signer::builder("AKIDEXAMPLE", AWS_SECRET, "us-east-1", "svc")
            .s3_paths(s3)
            .payload(payload);
        if token {
            b = b.session_token("FQoGZXIvYXdzEXAMPLE-session-token");
        }
        Box::new(b.build().unwrap()) as Box<dyn Signer>
    };
    vec![
        sigv4(false, false, PayloadMode::Signed),
        sigv4(true, true, PayloadMode::Unsigned),
        Box::new(
            HmacSigner::builder("api-key-0123", HMAC_SECRET.to_vec())
                .build()
                .unwrap(),
        ),
        Box::new(
            HmacSigner::builder("api-key-0123", HMAC_SECRET.to_vec())
                .components([
                    hmac::Component::Method,
                    hmac::Component::PathAndQuery,
                    hmac::Component::Header(HeaderName::from_static("x-custom")),
                    hmac::Component::Nonce,
                    hmac::Component::Body,
                    hmac::Component::Literal("v1".into()),
                ])
                .build()
                .unwrap(),
        ),
    ]
}

fn rfc9421(components: &[Component], digest: bool) -> Option<HttpSignatureSigner> {
    HttpSignatureSigner::builder("k", SignatureKey::hmac_sha256(HMAC_SECRET.to_vec()))
        .components(components.iter().cloned())
        .content_digest(digest.then_some(DigestAlgorithm::Sha256))
        .expires_in(Some(Duration::from_secs(300)))
        .build()
        .ok()
}

#[test]
fn signers_sign_or_fail_with_a_signing_error() {
    let fixed = signers();
    let derived = [
        Component::Method,
        Component::TargetUri,
        Component::Authority,
        Component::Scheme,
        Component::RequestTarget,
        Component::Path,
        Component::Query,
    ];
    let (mut inputs, mut signed) = (0, 0);
    fuzz::check(
        "signers",
        3_000,
        |g| {
            let mut components = Vec::new();
            for _ in 0..g.rng().usize(0..4) {
                let c = match g.rng().u32(0..4) {
                    0 => Component::parse(&g.text(IDENTIFIERS, &["\"", ";", "="])).ok(),
                    1 => Some(Component::QueryParam(
                        g.text(&["x", "Pet", "a b"], &["%", "+"]),
                    )),
                    2 => Some(Component::Field(HeaderName::from_static(
                        g.pick(HEADER_NAMES),
                    ))),
                    _ => Some(derived[g.below(derived.len())].clone()),
                };
                components.extend(c);
            }
            Signing {
                signer: g.below(fixed.len() + 2),
                parts: head(g),
                body: (!g.chance(10)).then(|| g.bytes(64)),
                now: signing_time(g),
                components,
            }
        },
        |input| {
            let mut parts = input.parts.clone();
            let payload = match &input.body {
                Some(body) => Payload::Bytes(body),
                None => Payload::Streaming,
            };
            let own;
            let signer: &dyn Signer = match fixed.get(input.signer) {
                Some(signer) => signer.as_ref(),
                None => match rfc9421(&input.components, input.signer > fixed.len()) {
                    Some(signer) => {
                        own = signer;
                        &own
                    }
                    None => return,
                },
            };
            inputs += 1;
            match signer.sign(&mut parts, payload, input.now) {
                Ok(()) => {
                    signed += 1;
                    let added = ["authorization", "x-signature", "signature"]
                        .iter()
                        .any(|name| parts.headers.contains_key(*name));
                    assert!(added, "signed without a signature header");
                }
                Err(e) => {
                    let shown = format!("{e} {e:?}");
                    assert!(!shown.contains(AWS_SECRET) && !shown.contains("HMAC-SECRET"));
                }
            }
        },
    );
    assert!(
        signed * 4 > inputs,
        "{signed} of {inputs} inputs were signed"
    );
}

const REJECTION_DATES: &[&str] = &[
    "Tue, 14 Nov 2023 22:23:20 GMT",
    "Tue, 14 Nov 2023 22:13:20 GMT",
    "Wed, 15 Nov 2023 22:13:21 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Sunday, 14-Nov-23 22:23:20 GMT",
    "Tue Nov 14 22:23:20 2023",
];

#[test]
fn a_rejection_date_moves_the_clock_within_bounds() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let (mut inputs, mut resigned) = (0, 0);
    fuzz::check(
        "skew_date",
        2_000,
        |g| {
            let date: String = g
                .header_value(REJECTION_DATES, &[",", " ", ":", "GMT", "-"])
                .as_bytes()
                .iter()
                .filter(|b| (b' '..=b'~').contains(*b))
                .map(|&b| char::from(b))
                .collect();
            let status = [401, 403, 400, 200][g.below(4)];
            let aws = g.chance(20);
            (status, date, aws)
        },
        |(status, date, aws)| {
            let mut rejection = Reply::status(*status).header("date", date);
            if *aws {
                rejection = rejection.header("x-amzn-errortype", "RequestTimeTooSkewed:http://x");
            }
            let mock = MockService::new([rejection, Reply::ok()]);
            let clock = WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(T0));
            let signer = HmacSigner::builder("k", HMAC_SECRET.to_vec())
                .build()
                .unwrap();
            let layer = SigningLayer::with_clock(signer, clock).skew(SkewPolicy::default());
            let request = Request::post("https://api.test/orders")
                .body(Body::from("{}"))
                .unwrap();
            rt.block_on(layer.layer(mock.clone()).oneshot(request))
                .expect("the mock answers");
            let sent = mock.request_count();
            inputs += 1;
            resigned += usize::from(sent == 2);
            assert!(sent <= 2, "sent {sent} times");
            let offset = layer.learned_offset_ms().unsigned_abs();
            assert!(offset <= 24 * 3_600 * 1_000, "offset {offset} ms");
            assert_eq!(offset != 0, sent == 2, "re-signed iff it learned an offset");
        },
    );
    assert!(
        resigned * 50 > inputs,
        "{resigned} of {inputs} inputs re-signed"
    );
}
