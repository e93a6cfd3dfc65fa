//! Heap allocations per signature, counted by a global allocator. One
//! test function, so no other test allocates while it counts.

use std::alloc::System;
use std::time::{Duration, SystemTime};

use girder_core::{Body, BoxError, CallRecord, WallClock};
use girder_sign::hmac::{Component, Encoding, HmacSigner};
use girder_sign::rfc9421::{HttpSignatureSigner, SignatureKey};
use girder_sign::sigv4::SigV4Signer;
use girder_sign::{Payload, Signer, SigningLayer};
use girder_test::expect_ready;
use http::Request;
use http::request::Parts;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Layer, Service};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const BODY: &[u8] = &[b'x'; 1024];

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn parts() -> Parts {
    Request::post("https://api.test/v1/orders?expand=items")
        .header("content-type", "application/json")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

/// Allocations (and reallocations) of one `sign` on a fresh request head,
/// the fewest over a few runs (the first run may set up shared state).
fn per_sign(signer: &impl Signer) -> usize {
    (0..5)
        .map(|_| {
            let mut parts = parts();
            let region = Region::new(GLOBAL);
            signer.sign(&mut parts, Payload::Bytes(BODY), at()).unwrap();
            let stats = region.change();
            assert!(
                parts.headers.contains_key("x-signature")
                    || parts.headers.contains_key("signature")
                    || parts.headers.contains_key("authorization")
            );
            stats.allocations + stats.reallocations
        })
        .min()
        .unwrap()
}

/// Allocations of one call through `svc`, request built outside the count.
fn per_call<S>(svc: &mut S) -> usize
where
    S: Service<Request<Body>, Response = http::Response<()>, Error = BoxError>,
{
    (0..5)
        .map(|_| {
            let mut req = Request::post("https://api.test/v1/orders?expand=items")
                .header("content-type", "application/json")
                .body(Body::from(bytes::Bytes::from_static(BODY)))
                .unwrap();
            let _record = CallRecord::ensure(&mut req);
            expect_ready(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
            let region = Region::new(GLOBAL);
            let response = expect_ready(svc.call(req)).unwrap();
            let stats = region.change();
            drop(response);
            stats.allocations + stats.reallocations
        })
        .min()
        .unwrap()
}

#[test]
fn signing_allocates_only_the_header_values_it_adds() {
    let secret = b"0123456789abcdef0123456789abcdef".to_vec();
    let default = HmacSigner::builder("key-1", secret.clone())
        .build()
        .unwrap();
    let with_nonce = HmacSigner::builder("key-1", secret.clone())
        .components([
            Component::Timestamp,
            Component::Nonce,
            Component::Method,
            Component::PathAndQuery,
            Component::BodyHash,
        ])
        .build()
        .unwrap();
    let base64 = HmacSigner::builder("key-1", secret.clone())
        .encoding(Encoding::Base64)
        .signature_prefix("sha256=")
        .build()
        .unwrap();
    let counts = [per_sign(&default), per_sign(&with_nonce), per_sign(&base64)];
    eprintln!("allocations per HMAC sign (default, with nonce, base64): {counts:?}");
    // One per header value made per call: the timestamp and the signature,
    // and the nonce when it is signed. The canonical string, the body
    // hash's hex and the tag never reach the heap.
    assert!(counts[0] <= 2, "{counts:?}");
    assert!(counts[1] <= 3, "{counts:?}");
    assert!(counts[2] <= 2, "{counts:?}");

    // RFC 9421 and SigV4 on the same request.
    let rfc_hmac = HttpSignatureSigner::builder("key-1", SignatureKey::hmac_sha256(secret.clone()))
        .build()
        .unwrap();
    let rfc_hmac_fixed =
        HttpSignatureSigner::builder("key-1", SignatureKey::hmac_sha256(secret.clone()))
            .nonce(false)
            .build()
            .unwrap();
    let rfc_ed = HttpSignatureSigner::builder("key-1", SignatureKey::ed25519_seed([7; 32]))
        .build()
        .unwrap();
    let sigv4 = SigV4Signer::builder(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "us-east-1",
        "service",
    )
    .build()
    .unwrap();
    let others = [
        per_sign(&rfc_hmac),
        per_sign(&rfc_hmac_fixed),
        per_sign(&rfc_ed),
        per_sign(&sigv4),
    ];
    eprintln!(
        "allocations per sign (rfc9421 hmac, rfc9421 hmac without nonce, rfc9421 ed25519, sigv4): {others:?}"
    );
    // RFC 9421 with HMAC: the three header values (`Content-Digest`,
    // `Signature-Input`, `Signature`); the signature base, the parameters'
    // copies and the tag never reach the heap (18 before). Ed25519 needs
    // the base as one buffer.
    assert!(others[0] <= 3, "{others:?}");
    assert!(others[1] <= 3, "{others:?}");
    assert!(others[2] <= 5, "{others:?}");
    // SigV4: `Host` (set from the URI), `X-Amz-Date` and `Authorization`,
    // the list of signed header lines and the query's pairs (both sorted);
    // the canonical request and the string to sign go straight into the
    // hash and the day's MAC (37 before).
    assert!(others[3] <= 5, "{others:?}");

    // Through the layer: what signing adds to a bare call (the call
    // record's entry included).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let inner = tower::service_fn(|_req: Request<Body>| {
        std::future::ready(Ok::<_, BoxError>(http::Response::new(())))
    });
    let mut bare = inner;
    let mut signed = SigningLayer::with_clock(default, WallClock::starting_at(at())).layer(inner);
    let (bare, signed) = (per_call(&mut bare), per_call(&mut signed));
    eprintln!("allocations per call: bare {bare}, signed {signed}");
    assert!(signed <= bare + 3, "bare {bare}, signed {signed}");
}
