//! Request signing for `tower`, as the innermost layer.
//!
//! [`SigningLayer`] signs every request that passes through it with a
//! [`Signer`]: a configurable [HMAC scheme](hmac) of the kind most vendor
//! APIs hand-roll, [RFC 9421 HTTP Message Signatures](rfc9421) (with
//! RFC 9530 `Content-Digest`), or [AWS Signature Version 4](sigv4). Each
//! call signs anew, with a fresh timestamp and nonce, so the layer goes
//! innermost, below retry, auth and everything else that sets headers: a
//! retried request carries a new signature over its final bytes.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use girder_core::{Body, WallClock};
//! use girder_sign::SigningLayer;
//! # #[cfg(feature = "hmac")]
//! use girder_sign::hmac::HmacSigner;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[cfg(feature = "hmac")]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), girder_core::BoxError> {
//! let signer = HmacSigner::builder("key-1", b"secret".to_vec()).build()?;
//! let clock = WallClock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
//! let mut svc = ServiceBuilder::new()
//!     .layer(SigningLayer::with_clock(signer, clock))
//!     .service_fn(|req: http::Request<Body>| async move {
//!         // The transport sees the signed request.
//!         Ok::<_, girder_core::BoxError>(http::Response::new(
//!             req.headers()["x-timestamp"].to_str()?.to_owned(),
//!         ))
//!     });
//! let req = http::Request::post("https://api.test/orders").body(Body::from("{}"))?;
//! let res = svc.ready().await?.call(req).await?;
//! assert_eq!(res.body(), "1700000000");
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "hmac"))] fn main() {}
//! ```
//!
//! # Schemes
//!
//! | scheme | type | covers the body by | streamed body |
//! | --- | --- | --- | --- |
//! | HMAC | [`hmac::HmacSigner`] | [`Body`](hmac::Component::Body) or [`BodyHash`](hmac::Component::BodyHash) components | fails, if the body is covered |
//! | RFC 9421 | [`rfc9421::HttpSignatureSigner`] | `Content-Digest` (sha-256 / sha-512) | fails, unless the digest is off |
//! | SigV4 | [`sigv4::SigV4Signer`] | payload hash | fails, unless [`UNSIGNED-PAYLOAD`](sigv4::PayloadMode::Unsigned) |
//!
//! A failure is a [`SigningError`] (from `girder-core`, so the facade maps
//! it to `ErrorKind::Signing`); the request is then not sent.
//!
//! # Features
//!
//! Each scheme is a feature, all three on by default; the layer, the
//! [`Signer`] trait and clock-skew recovery are always there, for a
//! signer of your own.
//!
//! | feature | module | adds |
//! | --- | --- | --- |
//! | `hmac` | [`hmac`] | `hmac`, `sha2`, `base64`, `getrandom`, `secrecy` |
//! | `rfc9421` | [`rfc9421`] | the same, and `ring` (RSA-PSS, Ed25519) |
//! | `sigv4` | [`sigv4`] | `hmac`, `sha2`, `secrecy` |
//!
//! # Bodies
//!
//! The layer's body bound is [`SignableBody`]: the signer needs the bytes
//! before sending. [`girder_core::Body`] shows a buffered body's bytes at
//! no cost and reports a stream as [`Payload::Streaming`]; `Bytes`,
//! `String`, `Vec<u8>` and `()` are signable too. The layer never buffers
//! a stream itself: that would hold an unbounded body in memory behind the
//! user's back.
//!
//! # Defaults
//!
//! | setting | default | why |
//! | --- | --- | --- |
//! | HMAC components | timestamp, method, path and query, body hash | covers what an attacker would change; the timestamp bounds replay (add [`Nonce`](hmac::Component::Nonce) for replay protection within the window) |
//! | HMAC headers | `X-API-Key`, `X-Timestamp`, `X-Signature` (`X-Nonce` when the nonce is signed) | the most common vendor convention |
//! | HMAC hash / encoding / timestamp | SHA-256, hex, Unix seconds | the most common choice |
//! | RFC 9421 components | `@method`, `@target-uri` (+ `content-digest` with a body) | what the request does, where, and with which bytes |
//! | RFC 9421 parameters | `created`, `keyid`, fresh `nonce`; no `alg`, no `expires` | the RFC's examples leave `alg` out; the verifier sets the validity window |
//! | RFC 9421 label | `sig1` | the RFC's own example label |
//! | SigV4 payload | signed (SHA-256) | required by most services; `UNSIGNED-PAYLOAD` is opt-in |
//! | SigV4 paths | normalised, encoded twice | every service but S3; [`s3_paths`](sigv4::SigV4SignerBuilder::s3_paths) for S3 |
//! | SigV4 unsigned headers | `authorization`, `user-agent`, `x-amzn-trace-id`, `baggage`, `traceparent`, `tracestate`, and the hop-by-hop ones (`expect`, `transfer-encoding`, `connection`, `keep-alive`, `proxy-authorization`, `te`, `upgrade`) | proxies, meshes and tracers rewrite them after signing (see [`sigv4`]) |
//! | credential scope | every origin ([`CredentialScope::any`](girder_core::origin::CredentialScope::any)) | the `Client` narrows it to its base URL's origin |
//! | clock | [`WallClock::system`](girder_core::WallClock::system) | tokio-pausable time of day |
//! | clock-skew recovery | off; [`SkewPolicy::default`]: 401/403 (or AWS `RequestTimeTooSkewed`) whose `Date` is over 60 s off, offsets up to 24 h | opt-in: it keeps a copy of each request; 60 s is well past `Date`'s one-second grain and network delay |
//!
//! # Keys
//!
//! Secrets live in `secrecy` types, except that [`hmac::HmacSigner`]
//! keeps only the HMAC key schedule it derives from its secret once, at
//! build time (see its "What it keeps in memory"); every signer's `Debug`
//! redacts them, and no error or trace event carries them. Traces go to the target
//! `girder::sign`; each signing appends
//! [`SignEvent::Signed`] to the call record (and a clock-skew re-sign
//! [`SignEvent::Resigned`]).
//!
//! # Differences from other crates
//!
//! - `httpsig` and `http-sig` offer RFC 9421 as functions over a request;
//!   here it is a `tower` layer that re-signs each attempt.
//! - `aws-sigv4` is the SDK's signer; girder's own SigV4 avoids the
//!   smithy runtime (see [`sigv4`]) and is checked against both AWS suites
//!   through the layer itself (one signing path, no separate "raw" one).
//! - Clock skew: with a [`SkewPolicy`] the layer learns the server's
//!   offset from the `Date` of a rejection and re-signs once. httpsig
//!   leaves that to the caller; the AWS SDKs correct their clock inside
//!   their own retry loop.
//!
//! # Where credentials go
//!
//! A signature, a session token or an API key is a credential for the
//! servers it was configured for. [`SigningLayer::scope`] names them (a
//! [`CredentialScope`](girder_core::origin::CredentialScope) of origins;
//! every origin by default): a request for any other origin, and any
//! redirect hop that left the call's first origin (marked
//! [`CrossOriginHop`](girder_core::origin::CrossOriginHop)), passes
//! through unsigned and untouched, and is never re-signed after a
//! clock-skew rejection. The girder `Client` scopes the layer to its base
//! URL's origin.
//!
//! ```
//! use girder_core::origin::{CredentialScope, Origin};
//! use girder_core::{Body, WallClock};
//! use girder_sign::SigningLayer;
//! # #[cfg(feature = "hmac")]
//! use girder_sign::hmac::HmacSigner;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[cfg(feature = "hmac")]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), girder_core::BoxError> {
//! let signer = HmacSigner::builder("key-1", b"secret".to_vec()).build()?;
//! let layer = SigningLayer::with_clock(signer, WallClock::system())
//!     .scope(CredentialScope::only([Origin::parse("https://api.test")?]));
//! let mut svc = ServiceBuilder::new()
//!     .layer(layer)
//!     .service_fn(|req: http::Request<Body>| async move {
//!         Ok::<_, girder_core::BoxError>(http::Response::new(req.headers().contains_key("x-signature")))
//!     });
//! let home = http::Request::get("https://api.test/orders").body(Body::empty())?;
//! assert!(*svc.ready().await?.call(home).await?.body());
//! let away = http::Request::get("https://elsewhere.test/").body(Body::empty())?;
//! assert!(!*svc.ready().await?.call(away).await?.body(), "nothing added off-scope");
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "hmac"))] fn main() {}
//! ```
//!
//! Every header a signer adds that carries a credential or a signature
//! (`Authorization` and `X-Amz-Security-Token` for SigV4, RFC 9421's
//! `Signature`, the HMAC scheme's signature and API-key headers) is marked
//! sensitive ([`HeaderValue::set_sensitive`](http::HeaderValue::set_sensitive)),
//! so a redirect policy strips it off-origin and logs never print it. The
//! secret values sent (SigV4's session token, the HMAC scheme's API key)
//! are registered with the [`SecretValues`](girder_core::secrets::SecretValues)
//! found in the request's extensions, so a logging layer masks them
//! wherever a server echoes them. Signatures are derived, and not
//! registered.
//!
//! # Not covered
//!
//! RFC 9421's `rsa-v1_5-sha256` and `ecdsa-*` algorithms, component
//! parameters (`sf`, `key`, `bs`, `req`, `tr`) and response signing;
//! SigV4a and SigV4 chunked (streaming) payload signing. A [`Signer`] of
//! your own covers any other scheme.
//!
//! # Stack position and bounds
//!
//! Put the layer innermost (below retry, auth and anything else that
//! changes the request), so that what is signed is what is sent. The
//! inner service must be `Clone` (a re-sign after a clock-skew rejection
//! goes to a clone); every girder transport and `tower` buffer is.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod encode;
pub mod error;
mod event;
pub mod future;
#[cfg(feature = "hmac")]
#[cfg_attr(docsrs, doc(cfg(feature = "hmac")))]
pub mod hmac;
#[cfg(any(feature = "hmac", feature = "rfc9421", feature = "sigv4"))]
mod keyed;
mod layer;
#[cfg(feature = "rfc9421")]
#[cfg_attr(docsrs, doc(cfg(feature = "rfc9421")))]
pub mod rfc9421;
mod service;
mod signer;
#[cfg(feature = "sigv4")]
#[cfg_attr(docsrs, doc(cfg(feature = "sigv4")))]
pub mod sigv4;
mod skew;

pub use error::{InvalidSigningConfig, SigningError, SigningErrorKind};
pub use event::SignEvent;
pub use layer::SigningLayer;
pub use service::Signing;
pub use signer::{Payload, SignableBody, Signer};
pub use skew::{SkewPolicy, SkewPolicyBuilder};
