//! Signing cost for a POST with a 1 KiB body, per scheme (and for HMAC
//! with an 8-byte body too), over a ready in-memory service. `bare_service` is the same service without the
//! layer; the `crypto_*` benches measure the hashing and signing the
//! schemes cannot avoid, so the layer's own overhead is the difference.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use girder_core::{Body, BoxError, WallClock};
use girder_sign::hmac::{Component, HmacSigner};
use girder_sign::rfc9421::{HttpSignatureSigner, SignatureKey};
use girder_sign::sigv4::SigV4Signer;
use girder_sign::{Signer, SigningLayer, SkewPolicy};
use girder_test::expect_ready;
use hmac::{Hmac, Mac};
use http::{Request, Response};
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

const BODY: [u8; 1024] = [b'x'; 1024];
const SMALL: &[u8] = br#"{"id":1}"#;

fn request() -> Request<Body> {
    request_with(&BODY)
}

fn request_with(body: &'static [u8]) -> Request<Body> {
    Request::post("https://api.test/v1/orders?expand=items")
        .header("content-type", "application/json")
        .body(Body::from(bytes::Bytes::from_static(body)))
        .unwrap()
}

fn bench_layer<G: Signer>(c: &mut Criterion, name: &str, signer: G) {
    bench_layer_with(c, name, signer, &BODY)
}

fn bench_layer_with<G: Signer>(c: &mut Criterion, name: &str, signer: G, body: &'static [u8]) {
    let clock = WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    bench_signing(c, name, SigningLayer::with_clock(signer, clock), body)
}

fn bench_signing<G: Signer>(
    c: &mut Criterion,
    name: &str,
    layer: SigningLayer<G>,
    body: &'static [u8],
) {
    let inner = tower::service_fn(|_req: Request<Body>| {
        std::future::ready(Ok::<_, BoxError>(Response::new(())))
    });
    let mut svc = layer.layer(inner);
    c.bench_function(name, |b| {
        b.iter(|| {
            expect_ready(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
            black_box(expect_ready(svc.call(request_with(body)))).unwrap()
        })
    });
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = runtime.enter();

    let mut bare = tower::service_fn(|_req: Request<Body>| {
        std::future::ready(Ok::<_, BoxError>(Response::new(())))
    });
    c.bench_function("bare_service", |b| {
        b.iter(|| {
            expect_ready(std::future::poll_fn(|cx| bare.poll_ready(cx))).unwrap();
            black_box(expect_ready(bare.call(request()))).unwrap()
        })
    });

    let secret = b"0123456789abcdef0123456789abcdef".to_vec();
    bench_layer_with(
        c,
        "sign_hmac_small",
        HmacSigner::builder("key-1", secret.clone())
            .build()
            .unwrap(),
        SMALL,
    );
    bench_layer(
        c,
        "sign_hmac_1k",
        HmacSigner::builder("key-1", secret.clone())
            .build()
            .unwrap(),
    );
    // Clock-skew recovery on: each call keeps a copy of the request head
    // and body for the one re-sign a rejection may need.
    let clock = WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    bench_signing(
        c,
        "sign_hmac_1k_skew_recovery",
        SigningLayer::with_clock(
            HmacSigner::builder("key-1", secret.clone())
                .build()
                .unwrap(),
            clock,
        )
        .skew(SkewPolicy::default()),
        &BODY,
    );
    let with_nonce = [
        Component::Timestamp,
        Component::Nonce,
        Component::Method,
        Component::PathAndQuery,
        Component::BodyHash,
    ];
    bench_layer(
        c,
        "sign_hmac_1k_with_nonce",
        HmacSigner::builder("key-1", secret.clone())
            .components(with_nonce)
            .build()
            .unwrap(),
    );
    bench_layer(
        c,
        "sign_rfc9421_hmac_sha256_1k",
        HttpSignatureSigner::builder("key-1", SignatureKey::hmac_sha256(secret.clone()))
            .build()
            .unwrap(),
    );
    bench_layer(
        c,
        "sign_rfc9421_ed25519_1k",
        HttpSignatureSigner::builder("key-1", SignatureKey::ed25519_seed([7; 32]))
            .build()
            .unwrap(),
    );
    bench_layer(
        c,
        "sign_sigv4_1k",
        SigV4Signer::builder(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "us-east-1",
            "service",
        )
        .build()
        .unwrap(),
    );

    // What the schemes must compute whatever the layer does.
    c.bench_function("crypto_sha256_1k", |b| {
        b.iter(|| black_box(Sha256::digest(black_box(&BODY))))
    });
    let base = [b'b'; 200];
    c.bench_function("crypto_hmac_sha256_200b", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
            mac.update(black_box(&base));
            black_box(mac.finalize())
        })
    });
    // With the key schedule done once, as a signer built ahead can.
    let keyed = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
    c.bench_function("crypto_hmac_sha256_200b_prekeyed", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(&base));
            black_box(mac.finalize())
        })
    });
    // The primitive the rfc9421 signer calls.
    let key = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
    c.bench_function("crypto_ed25519_sign_300b", |b| {
        b.iter(|| black_box(key.sign(black_box(&[b'b'; 300]))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
