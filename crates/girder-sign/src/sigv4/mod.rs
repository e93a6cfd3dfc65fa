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
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use girder_core::{SigningError, SigningErrorKind};
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::encode::{Civil, hex, percent_decode, percent_encode};
use crate::signer::{Payload, Signer};

mod builder;
mod canonical;

pub use builder::SigV4SignerBuilder;
use canonical::{canonical_query, canonical_uri, canonical_value, hmac};

const SCHEME: &str = "sigv4";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a request whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

/// The name of a header the signer adds, built at compile time.
fn header_name(name: &'static str) -> HeaderName {
    match name {
        "x-amz-date" => X_AMZ_DATE,
        "x-amz-security-token" => X_AMZ_SECURITY_TOKEN,
        "x-amz-content-sha256" => X_AMZ_CONTENT_SHA256,
        "authorization" => http::header::AUTHORIZATION,
        other => HeaderName::from_static(other),
    }
}

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

/// A UTC day (`yyyymmdd`) and its signing key.
type DayKey = ([u8; 8], [u8; 32]);

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
    // UTC day, so computed once a day.
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

        // (lower-case name, canonical values joined by ',') sorted by name.
        let mut headers: Vec<(Cow<'_, str>, String)> =
            Vec::with_capacity(req.headers.len() + added.len());
        let ours = |name: &str| added.iter().any(|(n, _)| *n == name);
        let lines = req
            .headers
            .iter()
            .map(|(n, v)| (lower(n), *v))
            .filter(|(n, _)| !NOT_SIGNED.contains(&n.as_ref()) && !ours(n))
            .chain(added.iter().map(|(n, v)| (Cow::Borrowed(*n), v.as_str())));
        for (name, value) in lines {
            let value = canonical_value(value);
            match headers.iter_mut().find(|(n, _)| *n == name) {
                Some((_, joined)) => {
                    joined.push(',');
                    joined.push_str(&value);
                }
                None => headers.push((name, value)),
            }
        }
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        let signed_headers = headers
            .iter()
            .map(|(n, _)| n.as_ref())
            .collect::<Vec<_>>()
            .join(";");

        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
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
        creq.push_str(req.method);
        creq.push('\n');
        canonical_uri(&mut creq, req.path, self.normalize_path);
        creq.push('\n');
        canonical_query(&mut creq, &query);
        creq.push('\n');
        for (name, value) in &headers {
            let _ = writeln!(creq, "{name}:{value}");
        }
        creq.push('\n');
        creq.push_str(&signed_headers);
        creq.push('\n');
        creq.push_str(&payload_hash);

        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(creq.as_bytes()))
        );
        let key = self.signing_key(date);
        let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
        let authorization = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key_id
        );
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

    fn signing_key(&self, date: &str) -> [u8; 32] {
        let day: [u8; 8] = date.as_bytes().try_into().expect("yyyymmdd");
        let mut cached = self.day_key.lock().unwrap_or_else(|e| e.into_inner());
        match *cached {
            Some((d, key)) if d == day => key,
            _ => {
                let key = self.derive_key(date);
                *cached = Some((day, key));
                key
            }
        }
    }

    fn derive_key(&self, date: &str) -> [u8; 32] {
        let mut secret = String::with_capacity(44);
        secret.push_str("AWS4");
        secret.push_str(self.secret.expose_secret());
        let k = hmac(secret.as_bytes(), date.as_bytes());
        let k = hmac(&k, self.region.as_bytes());
        let k = hmac(&k, self.service.as_bytes());
        hmac(&k, b"aws4_request")
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
    fn signed_path(&self, parts: &Parts) -> Result<String, SigningError> {
        if self.double_encode {
            return Ok(parts.uri.path().to_owned());
        }
        String::from_utf8(percent_decode(parts.uri.path())).map_err(|_| {
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
        self.ensure_host(parts)?;
        let path = self.signed_path(parts)?;
        let output = self.sign_raw(&self.raw(parts, &path, payload)?, now)?;
        for (name, value) in output.headers {
            let value = HeaderValue::try_from(value).map_err(|_| {
                SigningError::new(SigningErrorKind::InvalidValue, SCHEME).with_detail(name)
            })?;
            parts.headers.insert(header_name(name), value);
        }
        Ok(())
    }
}
