//! AWS Signature Version 4, header mode.
//!
//! The signer adds `X-Amz-Date`, the session token
//! (`X-Amz-Security-Token`) if there is one, `X-Amz-Content-Sha256` if
//! asked, and `Authorization: AWS4-HMAC-SHA256 Credential=…,
//! SignedHeaders=…, Signature=…`. The payload is hashed, or declared
//! `UNSIGNED-PAYLOAD` (needed for a streamed body).
//!
//! [`SigV4Signer::presign`] makes a presigned URL instead: the `X-Amz-*`
//! parameters and the signature go in the query, valid for 1 s to 7 days.
//!
//! `Authorization` and `X-Amz-Security-Token` are marked sensitive, and
//! the session token is registered with the request's
//! [`SecretValues`](girder_core::secrets::SecretValues), if any. The
//! `Host` signed (and set, when missing) is the URI's host and port only,
//! never its userinfo.
//!
//! # Headers left unsigned
//!
//! Every request header is signed except these, which something on the
//! way changes after signing: `authorization` (it carries the signature),
//! `user-agent`, `x-amzn-trace-id`, the W3C trace context (`traceparent`,
//! `tracestate`, `baggage`: service meshes and tracing proxies rewrite
//! them), and the hop-by-hop fields (`expect`, `transfer-encoding`,
//! `connection`, `keep-alive`, `proxy-authorization`, `te`, `upgrade`).
//!
//! ```
//! use std::time::SystemTime;
//! use girder_sign::sigv4::SigV4Signer;
//! use girder_sign::{Payload, Signer};
//!
//! let signer = SigV4Signer::builder("AKIDEXAMPLE", "secret", "us-east-1", "service").build().unwrap();
//! let (mut parts, ()) = http::Request::get("https://example.amazonaws.com/")
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .body(())
//!     .unwrap()
//!     .into_parts();
//! signer.sign(&mut parts, Payload::Bytes(b""), SystemTime::UNIX_EPOCH).unwrap();
//! let authorization = parts.headers["authorization"].to_str().unwrap();
//! assert!(authorization.contains("SignedHeaders=host;x-amz-date,"));
//! assert!(parts.headers["authorization"].is_sensitive());
//! ```
//!
//! # One implementation
//!
//! The layer ([`Signer::sign`]), [`SigV4Signer::presign`],
//! [`SigV4Signer::sign_raw`] and [`SigV4Signer::presign_raw`] all read
//! their request into one form and sign it with the same function; the
//! raw entry points only also keep copies of the canonical request and the
//! string to sign. The crate's conformance tests run both AWS suites
//! through the layer (a `SigningLayer` over an `http::Request`), and
//! through `sign_raw` for the texts (and for the one case whose target,
//! a literal space in a non-S3 path, no `http::Request` can hold).
//!
//! # Why not `aws-sigv4`
//!
//! The `aws-sigv4` crate (1.x) brings `aws-smithy-runtime-api`,
//! `aws-smithy-types`, `aws-smithy-http`, `aws-credential-types` and
//! `time`, and its request types come from the smithy runtime. For one
//! canonical request and four HMACs that is too much weight, so this is
//! girder's own code, checked against both published suites (AWS's 2015
//! `aws-sig-v4-test-suite` and `aws-c-auth`'s current one) in the crate's
//! conformance tests.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use girder_sign::sigv4::SigV4Signer;
//! use girder_sign::{Payload, Signer};
//!
//! let signer = SigV4Signer::builder("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service")
//!     .build()
//!     .unwrap();
//! let (mut parts, ()) = http::Request::get("https://example.amazonaws.com/").body(()).unwrap().into_parts();
//! let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
//! signer.sign(&mut parts, Payload::Bytes(b""), at).unwrap();
//! assert_eq!(
//!     parts.headers["authorization"],
//!     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
//!      SignedHeaders=host;x-amz-date, \
//!      Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
//! );
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use girder_core::SigningError;
use http::HeaderName;
use http::request::Parts;
use secrecy::{ExposeSecret, SecretString};

use crate::encode::Sink;
use crate::keyed::{KeySchedule, Keyed};
use crate::signer::{Payload, Signer};

mod builder;
mod canonical;
mod sign;

pub use builder::SigV4SignerBuilder;
use canonical::{Line, hmac, write_signed_headers};

const SCHEME: &str = "sigv4";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a request whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

/// Headers never signed: they are changed by proxies and clients on the
/// way (as the AWS SDKs also leave them out), or carry the signature.
/// `baggage`, `traceparent` and `tracestate` (W3C trace context) are
/// rewritten by service meshes and tracing proxies after signing, which
/// would break a signature that covered them.
const NOT_SIGNED: &[&str] = &[
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "baggage",
    "traceparent",
    "tracestate",
    "expect",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "te",
    "upgrade",
];

/// How the payload goes into the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// SHA-256 of the body; a streamed body fails with
    /// [`SigningErrorKind::StreamingBody`](girder_core::SigningErrorKind::StreamingBody).
    Signed,
    /// `UNSIGNED-PAYLOAD`: the body is not covered (S3 and a few services
    /// accept it; it lets a streamed body through).
    Unsigned,
}

/// A request as SigV4 sees it, for signing outside a `tower` stack and
/// for the conformance suites (some of whose paths are not valid URIs).
/// Signed by the same code as the layer's requests.
#[derive(Debug, Clone)]
pub struct RawRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// The path, not yet percent-encoded (the signer encodes it once).
    pub path: &'a str,
    /// The query string without `?`, as sent.
    pub query: &'a str,
    /// The header lines (name, value), in order; a name may repeat.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The body.
    pub payload: Payload<'a>,
}

/// Everything a signing produced, for inspection and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Output {
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
    /// The hex signature.
    pub signature: String,
    /// The `Authorization` header value; empty for a presigned URL.
    pub authorization: String,
    /// The headers the signer adds (`x-amz-date`, the token, the content
    /// hash, `authorization`), in that order; none for a presigned URL.
    pub headers: Vec<(&'static str, String)>,
    /// For a presigned URL, the query parameters to append (values not
    /// yet percent-encoded), ending with `X-Amz-Signature`; else empty.
    pub query: Vec<(&'static str, String)>,
}

/// A UTC day (`yyyymmdd`) and the HMAC state keyed with its signing key.
struct DayKey {
    day: [u8; 8],
    keyed: KeySchedule,
}

/// Signs with AWS SigV4; see the [module docs](self).
///
/// `Debug` redacts the secret key and the session token.
///
/// # Clone
///
/// Clones share the secrets (`Arc`s).
#[derive(Clone)]
pub struct SigV4Signer {
    access_key_id: String,
    secret: Arc<SecretString>,
    region: String,
    service: String,
    session_token: Option<Arc<SecretString>>,
    sign_session_token: bool,
    payload: PayloadMode,
    content_sha256_header: bool,
    normalize_path: bool,
    double_encode: bool,
    // The day's signing key: four HMACs, the same for every request of a
    // UTC day, so computed once a day, and kept as the HMAC state keyed
    // with it (never shown by `Debug`).
    day_key: Arc<Mutex<Option<DayKey>>>,
}

impl fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Signer")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"[redacted]")
            .field("region", &self.region)
            .field("service", &self.service)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "[redacted]"),
            )
            .field("payload", &self.payload)
            .finish_non_exhaustive()
    }
}

impl SigV4Signer {
    /// A builder for credentials `access_key_id` / `secret_access_key`,
    /// signing for `region` and `service`.
    pub fn builder(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> SigV4SignerBuilder {
        SigV4SignerBuilder {
            inner: SigV4Signer {
                access_key_id: access_key_id.into(),
                secret: Arc::new(SecretString::from(secret_access_key.into())),
                region: region.into(),
                service: service.into(),
                session_token: None,
                sign_session_token: true,
                payload: PayloadMode::Signed,
                content_sha256_header: false,
                normalize_path: true,
                double_encode: true,
                day_key: Arc::new(Mutex::new(None)),
            },
        }
    }

    /// `yyyymmdd/region/service/aws4_request`.
    fn write_scope(&self, out: &mut impl Sink, date: &str) {
        out.put(date);
        out.put("/");
        out.put(&self.region);
        out.put("/");
        out.put(&self.service);
        out.put("/aws4_request");
    }

    /// The `Authorization` header value.
    fn write_authorization(
        &self,
        out: &mut impl Sink,
        date: &str,
        lines: &[Line<'_>],
        signature: &str,
    ) {
        out.put(ALGORITHM);
        out.put(" Credential=");
        out.put(&self.access_key_id);
        out.put("/");
        self.write_scope(out, date);
        out.put(", SignedHeaders=");
        write_signed_headers(out, lines);
        out.put(", Signature=");
        out.put(signature);
    }

    /// A copy of the day's keyed HMAC state, derived (four HMACs) on the
    /// first signature of a UTC day and kept for the others.
    fn day_mac(&self, date: &str) -> Keyed {
        let day: [u8; 8] = date.as_bytes().try_into().expect("yyyymmdd");
        let mut cached = self.day_key.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some(DayKey { day: d, keyed }) if *d == day => keyed.0.clone(),
            _ => {
                let keyed = self.derive_key(date);
                let mac = keyed.0.clone();
                *cached = Some(DayKey { day, keyed });
                mac
            }
        }
    }

    fn derive_key(&self, date: &str) -> KeySchedule {
        let mut secret = String::with_capacity(44);
        secret.push_str("AWS4");
        secret.push_str(self.secret.expose_secret());
        let k = hmac(secret.as_bytes(), date.as_bytes());
        let k = hmac(&k, self.region.as_bytes());
        let k = hmac(&k, self.service.as_bytes());
        let mut k = hmac(&k, b"aws4_request");
        let keyed = KeySchedule(Keyed::sha256(&k));
        // Best effort: the copies above are not erased.
        k.fill(0);
        std::hint::black_box(&k);
        keyed
    }
}

impl Signer for SigV4Signer {
    fn scheme(&self) -> &'static str {
        SCHEME
    }

    fn sign(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<(), SigningError> {
        self.sign_parts(parts, payload, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::time::Duration;

    fn request(path_and_query: &str) -> Parts {
        http::Request::post(format!("https://example.amazonaws.com{path_and_query}"))
            .header("content-type", "application/json")
            .header("x-amz-meta-b", "  two   words ")
            .header("X-Amz-Meta-A", "1")
            .header("x-amz-meta-b", "second")
            .header("user-agent", "not signed")
            .header("x-amz-date", "replaced")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    /// What `sign` adds, through the other entry point: `sign_raw` over
    /// the head as a [`RawRequest`] (both adapters feed `sign_head`).
    fn via_raw(signer: &SigV4Signer, parts: &Parts, payload: Payload<'_>) -> Parts {
        let mut expected = parts.clone();
        signer.ensure_host(&mut expected).unwrap();
        let path = signer.signed_path(&expected).unwrap().into_owned();
        let raw = RawRequest {
            method: expected.method.as_str(),
            path: &path,
            query: expected.uri.query().unwrap_or(""),
            headers: expected
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
                .collect(),
            payload,
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let output = signer.sign_raw(&raw, at).unwrap();
        drop(raw);
        for (name, value) in output.headers {
            expected
                .headers
                .insert(name, HeaderValue::try_from(value).unwrap());
        }
        expected
    }

    #[test]
    fn sign_adds_exactly_what_sign_raw_computes() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let builder = || SigV4Signer::builder("AKIDEXAMPLE", secret, "us-east-1", "service");
        let signers = [
            builder().build().unwrap(),
            builder().session_token("TOKEN").build().unwrap(),
            builder()
                .session_token("TOKEN")
                .sign_session_token(false)
                .content_sha256_header(true)
                .build()
                .unwrap(),
            builder()
                .payload(PayloadMode::Unsigned)
                .content_sha256_header(true)
                .s3_paths(true)
                .build()
                .unwrap(),
        ];
        for signer in &signers {
            for target in [
                "/",
                "/v1/orders?expand=items",
                "/a/./b/../c//d%20e/?b=2&a=%7e&a=1&c",
                "/caf%C3%A9/x?q=a+b",
            ] {
                for body in [&b""[..], b"{}"] {
                    let parts = request(target);
                    let expected = via_raw(signer, &parts, Payload::Bytes(body));
                    let mut signed = parts.clone();
                    signer.sign(&mut signed, Payload::Bytes(body), at).unwrap();
                    let text = |p: &Parts| {
                        p.headers
                            .iter()
                            .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(text(&signed), text(&expected), "{signer:?} {target}");
                }
            }
        }
    }

    #[test]
    fn debug_never_shows_the_cached_day_key() {
        let signer = SigV4Signer::builder("AKID", "secret", "us-east-1", "svc")
            .build()
            .unwrap();
        let before = format!("{signer:?}");
        let (mut parts, ()) = http::Request::get("https://h.test/")
            .body(())
            .unwrap()
            .into_parts();
        signer
            .sign(&mut parts, Payload::Bytes(b""), SystemTime::UNIX_EPOCH)
            .unwrap();
        assert!(signer.day_key.lock().unwrap().is_some());
        assert_eq!(format!("{signer:?}"), before);
        assert!(!before.contains("day_key") && !before.contains("KeySchedule"));
    }

    #[test]
    fn the_cached_day_key_is_the_derived_one_and_follows_the_day() {
        let signer = SigV4Signer::builder("AKID", "secret", "us-east-1", "svc")
            .build()
            .unwrap();
        for date in ["20150830", "20150830", "20150831", "20150830"] {
            let mut mac = signer.day_mac(date);
            mac.update(b"string to sign");
            let (tag, len) = mac.finalize();
            let k = hmac(b"AWS4secret", date.as_bytes());
            let k = hmac(&k, b"us-east-1");
            let k = hmac(&k, b"svc");
            let k = hmac(&k, b"aws4_request");
            assert_eq!(&tag[..len], hmac(&k, b"string to sign"));
        }
    }
}
