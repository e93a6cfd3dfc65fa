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

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use girder_core::{SigningError, SigningErrorKind};
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::encode::{Civil, Count, Sink, StackText, hex, hex_into, percent_decode, percent_encode};
use crate::hmac::{HmacHash, KeySchedule, Keyed};
use crate::signer::{Payload, Signer};

mod builder;
mod canonical;

pub use builder::SigV4SignerBuilder;
use canonical::{
    Line, canonical_query, canonical_uri, hmac, write_canonical_headers, write_signed_headers,
};

const SCHEME: &str = "sigv4";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a request whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

/// `name` in lower case, copied only if it has upper-case letters (names
/// from `http` never do).
fn lower(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Headers never signed: they are changed by proxies and clients on the
/// way (as the AWS SDKs also leave them out), or carry the signature.
const NOT_SIGNED: &[&str] = &[
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
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
    /// [`SigningErrorKind::StreamingBody`].
    Signed,
    /// `UNSIGNED-PAYLOAD`: the body is not covered (S3 and a few services
    /// accept it; it lets a streamed body through).
    Unsigned,
}

/// A request as SigV4 sees it, for signing outside a `tower` stack and
/// for the conformance suites (whose paths are not valid URIs).
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
    /// The `Authorization` header value.
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

    /// Signs a [`RawRequest`] at `now`.
    pub fn sign_raw(
        &self,
        req: &RawRequest<'_>,
        now: SystemTime,
    ) -> Result<SigV4Output, SigningError> {
        self.sign_mode(req, now, None)
    }

    /// Presigns a [`RawRequest`] at `now`, valid for `expires` (1 s to
    /// 7 days): the signature goes in the query
    /// ([`SigV4Output::query`]) instead of headers, so the URL can be
    /// handed to someone without the credentials.
    pub fn presign_raw(
        &self,
        req: &RawRequest<'_>,
        now: SystemTime,
        expires: Duration,
    ) -> Result<SigV4Output, SigningError> {
        if expires < Duration::from_secs(1) || expires > Duration::from_secs(7 * 86_400) {
            return Err(SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
                .with_detail("X-Amz-Expires must be 1 s to 7 days"));
        }
        self.sign_mode(req, now, Some(expires))
    }

    /// Presigns the request `parts` at `now` for `expires`: appends the
    /// `X-Amz-*` parameters and the signature to its URI's query (and sets
    /// `Host` from the URI if missing). The URI is then the presigned URL.
    pub fn presign(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        now: SystemTime,
        expires: Duration,
    ) -> Result<(), SigningError> {
        self.ensure_host(parts)?;
        let path = self.signed_path(parts)?;
        let output = self.presign_raw(&self.raw(parts, &path, payload)?, now, expires)?;
        let mut query = parts.uri.query().unwrap_or("").to_owned();
        for (name, value) in &output.query {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(name);
            query.push('=');
            percent_encode(&mut query, value.as_bytes(), false);
        }
        let mut uri = parts.uri.clone().into_parts();
        let path_and_query = format!("{}?{query}", parts.uri.path());
        uri.path_and_query = Some(path_and_query.parse().map_err(|_| {
            SigningError::new(SigningErrorKind::InvalidValue, SCHEME).with_detail("uri")
        })?);
        parts.uri = http::Uri::from_parts(uri).map_err(|_| {
            SigningError::new(SigningErrorKind::InvalidValue, SCHEME).with_detail("uri")
        })?;
        Ok(())
    }

    fn sign_mode(
        &self,
        req: &RawRequest<'_>,
        now: SystemTime,
        presign: Option<Duration>,
    ) -> Result<SigV4Output, SigningError> {
        let amz_date = Civil::of(now).amz_date();
        let date = &amz_date[..8];
        let payload_hash = match (self.payload, req.payload) {
            (PayloadMode::Unsigned, _) => UNSIGNED_PAYLOAD.to_owned(),
            (PayloadMode::Signed, Payload::Bytes(bytes)) => hex(&Sha256::digest(bytes)),
            (PayloadMode::Signed, Payload::Streaming) => {
                return Err(SigningError::new(SigningErrorKind::StreamingBody, SCHEME));
            }
        };

        let token = self
            .session_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned());
        let mut added: Vec<(&'static str, String)> = Vec::new();
        if presign.is_none() {
            added.push(("x-amz-date", amz_date.clone()));
            if let (Some(token), true) = (&token, self.sign_session_token) {
                added.push(("x-amz-security-token", token.clone()));
            }
            if self.content_sha256_header {
                added.push(("x-amz-content-sha256", payload_hash.clone()));
            }
        }

        let ours: Vec<(&'static str, &str)> = added.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let mut lines = Vec::with_capacity(req.headers.len() + ours.len());
        for (name, value) in &req.headers {
            push_line(&mut lines, name, value, &ours);
        }
        sort_lines(&mut lines, &ours);
        let mut signed_headers = String::new();
        write_signed_headers(&mut signed_headers, &lines);

        let mut scope = String::new();
        self.write_scope(&mut scope, date);
        let mut query_params: Vec<(&'static str, String)> = Vec::new();
        if let Some(expires) = presign {
            query_params.push(("X-Amz-Algorithm", ALGORITHM.to_owned()));
            query_params.push((
                "X-Amz-Credential",
                format!("{}/{scope}", self.access_key_id),
            ));
            query_params.push(("X-Amz-Date", amz_date.clone()));
            query_params.push(("X-Amz-SignedHeaders", signed_headers.clone()));
            query_params.push(("X-Amz-Expires", expires.as_secs().to_string()));
            if let (Some(token), true) = (&token, self.sign_session_token) {
                query_params.push(("X-Amz-Security-Token", token.clone()));
            }
        }
        let mut query = req.query.to_owned();
        for (name, value) in &query_params {
            query.push('&');
            query.push_str(name);
            query.push('=');
            percent_encode(&mut query, value.as_bytes(), false);
        }

        let mut creq = String::with_capacity(256);
        self.write_canonical_request(
            &mut creq,
            req.method,
            req.path,
            &query,
            &lines,
            &payload_hash,
        );
        let mut string_to_sign = String::with_capacity(128);
        self.write_string_to_sign(
            &mut string_to_sign,
            &amz_date,
            &hex(&Sha256::digest(creq.as_bytes())),
        );
        let mut mac = self.day_mac(date);
        mac.update(string_to_sign.as_bytes());
        let (tag, len) = mac.finalize();
        let signature = hex(&tag[..len]);
        let mut authorization = String::with_capacity(256);
        self.write_authorization(&mut authorization, date, &lines, &signature);
        drop(lines);
        if presign.is_some() {
            if let (Some(token), false) = (token, self.sign_session_token) {
                query_params.push(("X-Amz-Security-Token", token));
            }
            query_params.push(("X-Amz-Signature", signature.clone()));
        } else {
            if let (Some(token), false) = (token, self.sign_session_token) {
                added.push(("x-amz-security-token", token));
            }
            added.push(("authorization", authorization.clone()));
        }
        Ok(SigV4Output {
            canonical_request: creq,
            string_to_sign,
            signature,
            authorization,
            headers: added,
            query: query_params,
        })
    }

    /// The canonical request, piece by piece.
    fn write_canonical_request(
        &self,
        out: &mut impl Sink,
        method: &str,
        path: &str,
        query: &str,
        lines: &[Line<'_>],
        payload_hash: &str,
    ) {
        out.put(method);
        out.put("\n");
        canonical_uri(out, path, self.normalize_path);
        out.put("\n");
        canonical_query(out, query);
        out.put("\n");
        write_canonical_headers(out, lines);
        out.put("\n");
        write_signed_headers(out, lines);
        out.put("\n");
        out.put(payload_hash);
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

    /// The string to sign, given the hex hash of the canonical request.
    fn write_string_to_sign(&self, out: &mut impl Sink, amz_date: &str, creq_hash: &str) {
        out.put(ALGORITHM);
        out.put("\n");
        out.put(amz_date);
        out.put("\n");
        self.write_scope(out, &amz_date[..8]);
        out.put("\n");
        out.put(creq_hash);
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
        let keyed = KeySchedule::new(HmacHash::Sha256, &k);
        // Best effort: the copies above are not erased.
        k.fill(0);
        std::hint::black_box(&k);
        keyed
    }

    /// [`Signer::sign`]: the headers straight from `parts`, the canonical
    /// request straight into its hash, the string to sign straight into
    /// the day's MAC, and only the header values sent built on the heap.
    fn sign_headers(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<(), SigningError> {
        self.ensure_host(parts)?;
        let mut date_text = StackText::<40>::new();
        Civil::of(now)
            .write_amz_date(&mut date_text)
            .map_err(|_| invalid("x-amz-date"))?;
        let amz_date = std::str::from_utf8(date_text.as_bytes()).expect("digits are ASCII");
        let date = &amz_date[..8];
        let token = self.session_token.as_ref().map(|t| t.expose_secret());
        let mut hash_text = [0u8; 64];
        let authorization = {
            let path = self.signed_path(parts)?;
            let mut lines = Vec::with_capacity(parts.headers.len() + 3);
            // The payload hash is only known below; a placeholder holds
            // its place among our headers until then.
            let mut ours: [(&'static str, &str); 3] = [("", ""); 3];
            let mut n = 0;
            for (name, on) in [
                ("x-amz-date", true),
                (
                    "x-amz-security-token",
                    token.is_some() && self.sign_session_token,
                ),
                ("x-amz-content-sha256", self.content_sha256_header),
            ] {
                if on {
                    ours[n].0 = name;
                    n += 1;
                }
            }
            for (name, value) in &parts.headers {
                let value = value.to_str().map_err(|_| {
                    SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
                        .with_detail(format!("header {name} is not visible ASCII"))
                })?;
                push_line(&mut lines, name.as_str(), value, &ours[..n]);
            }
            let payload_hash = match (self.payload, payload) {
                (PayloadMode::Unsigned, _) => UNSIGNED_PAYLOAD,
                (PayloadMode::Signed, Payload::Bytes(bytes)) => {
                    let text = hex_into(&Sha256::digest(bytes), &mut hash_text);
                    std::str::from_utf8(text).expect("hex is ASCII")
                }
                (PayloadMode::Signed, Payload::Streaming) => {
                    return Err(SigningError::new(SigningErrorKind::StreamingBody, SCHEME));
                }
            };
            for added in &mut ours[..n] {
                added.1 = match added.0 {
                    "x-amz-date" => amz_date,
                    "x-amz-security-token" => token.unwrap_or_default(),
                    _ => payload_hash,
                };
            }
            sort_lines(&mut lines, &ours[..n]);

            let mut creq = Sha256::new();
            self.write_canonical_request(
                &mut creq,
                parts.method.as_str(),
                &path,
                parts.uri.query().unwrap_or(""),
                &lines,
                payload_hash,
            );
            let mut creq_hash = [0u8; 64];
            let creq_hash = hex_into(&creq.finalize(), &mut creq_hash);
            let mut mac = self.day_mac(date);
            self.write_string_to_sign(
                &mut mac,
                amz_date,
                std::str::from_utf8(creq_hash).expect("hex is ASCII"),
            );
            let (tag, len) = mac.finalize();
            let mut signature = [0u8; 64];
            let signature =
                std::str::from_utf8(hex_into(&tag[..len], &mut signature)).expect("hex is ASCII");
            // Built once, at its exact size: the header value takes the
            // buffer without a copy.
            let mut size = Count(0);
            self.write_authorization(&mut size, date, &lines, signature);
            let mut authorization = String::with_capacity(size.0);
            self.write_authorization(&mut authorization, date, &lines, signature);
            authorization
        };
        let headers = &mut parts.headers;
        // In the order `sign_raw` lists them: the token after the content
        // hash when it is not signed.
        headers.insert(X_AMZ_DATE, header_value("x-amz-date", amz_date)?);
        if let (Some(token), true) = (token, self.sign_session_token) {
            headers.insert(
                X_AMZ_SECURITY_TOKEN,
                header_value("x-amz-security-token", token)?,
            );
        }
        if self.content_sha256_header {
            let hash = match self.payload {
                PayloadMode::Unsigned => UNSIGNED_PAYLOAD,
                PayloadMode::Signed => std::str::from_utf8(&hash_text).expect("hex is ASCII"),
            };
            headers.insert(
                X_AMZ_CONTENT_SHA256,
                header_value("x-amz-content-sha256", hash)?,
            );
        }
        if let (Some(token), false) = (token, self.sign_session_token) {
            headers.insert(
                X_AMZ_SECURITY_TOKEN,
                header_value("x-amz-security-token", token)?,
            );
        }
        let authorization =
            HeaderValue::try_from(authorization).map_err(|_| invalid("authorization"))?;
        headers.insert(http::header::AUTHORIZATION, authorization);
        Ok(())
    }

    /// Sets `Host` from the URI when missing: it is signed, so it must be
    /// the one sent.
    fn ensure_host(&self, parts: &mut Parts) -> Result<(), SigningError> {
        if parts.headers.contains_key(http::header::HOST) {
            return Ok(());
        }
        let authority = parts.uri.authority().ok_or_else(|| {
            SigningError::new(SigningErrorKind::MissingComponent, SCHEME).with_detail("host")
        })?;
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| {
            SigningError::new(SigningErrorKind::InvalidValue, SCHEME).with_detail("host")
        })?;
        parts.headers.insert(http::header::HOST, host);
        Ok(())
    }

    /// The path to sign: as on the wire when double-encoding (so `%20` is
    /// signed as `%2520`, as AWS services other than S3 expect), decoded
    /// first otherwise.
    fn signed_path<'a>(&self, parts: &'a Parts) -> Result<Cow<'a, str>, SigningError> {
        if self.double_encode {
            return Ok(Cow::Borrowed(parts.uri.path()));
        }
        String::from_utf8(percent_decode(parts.uri.path()))
            .map(Cow::Owned)
            .map_err(|_| {
                SigningError::new(SigningErrorKind::InvalidValue, SCHEME).with_detail("path")
            })
    }

    /// The request head as a [`RawRequest`]: the path is taken as it is
    /// on the wire when double-encoding (so `%20` is signed as `%2520`, as
    /// AWS services other than S3 expect) and decoded first otherwise.
    fn raw<'a>(
        &self,
        parts: &'a Parts,
        path: &'a str,
        payload: Payload<'a>,
    ) -> Result<RawRequest<'a>, SigningError> {
        let mut headers = Vec::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            let value = value.to_str().map_err(|_| {
                SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
                    .with_detail(format!("header {name} is not visible ASCII"))
            })?;
            headers.push((name.as_str(), value));
        }
        Ok(RawRequest {
            method: parts.method.as_str(),
            path,
            query: parts.uri.query().unwrap_or(""),
            headers,
            payload,
        })
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
        self.sign_headers(parts, payload, now)
    }
}

fn invalid(what: &'static str) -> SigningError {
    SigningError::new(SigningErrorKind::InvalidValue, SCHEME).with_detail(what)
}

fn header_value(name: &'static str, text: &str) -> Result<HeaderValue, SigningError> {
    HeaderValue::from_str(text).map_err(|_| invalid(name))
}

/// Adds a request header line to the signed ones, unless it is never
/// signed or one of `ours` (the signer's own, which replace it).
fn push_line<'a>(
    lines: &mut Vec<Line<'a>>,
    name: &'a str,
    value: &'a str,
    ours: &[(&'static str, &str)],
) {
    let name = lower(name);
    if !NOT_SIGNED.contains(&name.as_ref()) && !ours.iter().any(|(n, _)| *n == name) {
        lines.push((name, value));
    }
}

/// Adds `ours` and sorts the lines by name; the sort is stable, so the
/// lines of one name keep the order they were sent in.
fn sort_lines<'a>(lines: &mut Vec<Line<'a>>, ours: &[(&'static str, &'a str)]) {
    lines.extend(ours.iter().map(|(n, v)| (Cow::Borrowed(*n), *v)));
    lines.sort_by(|a, b| a.0.cmp(&b.0));
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// What `sign` adds, the slow way: `sign_raw` over the head as a
    /// [`RawRequest`].
    fn via_raw(signer: &SigV4Signer, parts: &Parts, payload: Payload<'_>) -> Parts {
        let mut expected = parts.clone();
        signer.ensure_host(&mut expected).unwrap();
        let path = signer.signed_path(&expected).unwrap().into_owned();
        let raw = signer.raw(&expected, &path, payload).unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let output = signer.sign_raw(&raw, at).unwrap();
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
                    let text = |p: &Parts| format!("{:?}", p.headers);
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
