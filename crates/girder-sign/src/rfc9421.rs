//! RFC 9421 HTTP Message Signatures, with RFC 9530 `Content-Digest`.
//!
//! The signer covers an ordered list of [`Component`]s (derived components
//! such as `@method` and `@target-uri`, and header fields), adds the
//! signature parameters (`created`, `expires`, `keyid`, `nonce`, `alg`,
//! `tag`), signs the signature base with `hmac-sha256` or `ed25519`, and
//! sends `Signature-Input` and `Signature`. A buffered body gets a
//! `Content-Digest` (`sha-256` by default, or `sha-512`), which the
//! signature then covers.
//!
//! With the parameters of RFC 9421 Appendix B.2.5 and B.2.6 (no nonce, no
//! `alg`, the covered components given there) it reproduces the RFC's
//! signatures byte for byte; the crate's conformance tests check that.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use girder_sign::rfc9421::{Component, HttpSignatureSigner, SignatureKey};
//! use girder_sign::{Payload, Signer};
//!
//! let key = SignatureKey::ed25519_seed([7; 32]);
//! let signer = HttpSignatureSigner::builder("my-key", key)
//!     .components([Component::Method, Component::Authority, Component::Path])
//!     .nonce(false)
//!     .build()
//!     .unwrap();
//! let (mut parts, body) = http::Request::post("https://api.test/orders")
//!     .body("{}")
//!     .unwrap()
//!     .into_parts();
//! let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_618_884_473);
//! signer.sign(&mut parts, Payload::Bytes(body.as_bytes()), at).unwrap();
//! assert_eq!(
//!     parts.headers["signature-input"],
//!     r#"sig1=("@method" "@authority" "@path" "content-digest");created=1618884473;keyid="my-key""#
//! );
//! assert!(parts.headers["content-digest"].to_str().unwrap().starts_with("sha-256=:"));
//! ```

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::hmac::{Hmac, Mac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;
use girder_core::{SigningError, SigningErrorKind};
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256, Sha512};

use crate::encode::{percent_decode, since_epoch};
use crate::error::InvalidSigningConfig;
use crate::signer::{Payload, Signer, nonce};

const SCHEME: &str = "rfc9421";

/// The `Signature-Input` header.
pub const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
/// The `Signature` header.
pub const SIGNATURE: HeaderName = HeaderName::from_static("signature");
/// The `Content-Digest` header (RFC 9530).
pub const CONTENT_DIGEST: HeaderName = HeaderName::from_static("content-digest");

/// A covered component (RFC 9421 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Component {
    /// `@method`: the method, as sent (`POST`).
    Method,
    /// `@target-uri`: the absolute URI.
    TargetUri,
    /// `@authority`: host, and port if not the scheme's default, lower case
    /// (from the URI, else the `Host` header).
    Authority,
    /// `@scheme`: `http` or `https`.
    Scheme,
    /// `@request-target`: path and query as in the request line.
    RequestTarget,
    /// `@path`: the path, `/` when empty.
    Path,
    /// `@query`: `?` and the query, `?` alone when there is none.
    Query,
    /// `@query-param;name="…"`: one query parameter's value, by name.
    QueryParam(String),
    /// A header field, by (lower-case) name.
    Field(HeaderName),
}

impl Component {
    /// Parses a component identifier as written in `Signature-Input`:
    /// `"@method"`, `"content-type"`, `"@query-param";name="Pet"`; the
    /// quotes are optional (`@path`). Field parameters other than
    /// `@query-param`'s `name` (`sf`, `key`, `bs`, `req`, `tr`) are not
    /// supported and are refused.
    pub fn parse(identifier: &str) -> Result<Component, InvalidSigningConfig> {
        let bad =
            || InvalidSigningConfig::new("components", "has an identifier that cannot be read");
        let (name, params) = match identifier.strip_prefix('"') {
            Some(rest) => {
                let end = rest.find('"').ok_or_else(bad)?;
                (&rest[..end], &rest[end + 1..])
            }
            None => match identifier.find(';') {
                Some(i) => (&identifier[..i], &identifier[i..]),
                None => (identifier, ""),
            },
        };
        let component = match name {
            "@method" => Component::Method,
            "@target-uri" => Component::TargetUri,
            "@authority" => Component::Authority,
            "@scheme" => Component::Scheme,
            "@request-target" => Component::RequestTarget,
            "@path" => Component::Path,
            "@query" => Component::Query,
            "@query-param" => {
                let value = params
                    .strip_prefix(";name=\"")
                    .and_then(|v| v.strip_suffix('"'))
                    .filter(|v| !v.contains('"') && !v.contains('\\'))
                    .ok_or(InvalidSigningConfig::new(
                        "components",
                        "has @query-param without a name parameter",
                    ))?;
                return Ok(Component::QueryParam(value.to_owned()));
            }
            name if name.starts_with('@') => {
                return Err(InvalidSigningConfig::new(
                    "components",
                    "has an unknown derived component",
                ));
            }
            name => Component::Field(HeaderName::try_from(name).map_err(|_| bad())?),
        };
        if !params.is_empty() {
            return Err(InvalidSigningConfig::new(
                "components",
                "has component parameters this signer does not support",
            ));
        }
        Ok(component)
    }

    fn write_identifier(&self, out: &mut String) {
        let name = match self {
            Component::Method => "@method",
            Component::TargetUri => "@target-uri",
            Component::Authority => "@authority",
            Component::Scheme => "@scheme",
            Component::RequestTarget => "@request-target",
            Component::Path => "@path",
            Component::Query => "@query",
            Component::QueryParam(name) => {
                let _ = write!(out, "\"@query-param\";name=\"{name}\"");
                return;
            }
            Component::Field(name) => name.as_str(),
        };
        out.push('"');
        out.push_str(name);
        out.push('"');
    }
}

/// The hash of `Content-Digest` (RFC 9530).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `sha-256`.
    Sha256,
    /// `sha-512`.
    Sha512,
}

/// The `Content-Digest` field value of `body` with `algorithm`
/// (`sha-256=:…:`).
pub fn content_digest(algorithm: DigestAlgorithm, body: &[u8]) -> String {
    match algorithm {
        DigestAlgorithm::Sha256 => format!("sha-256=:{}:", B64.encode(Sha256::digest(body))),
        DigestAlgorithm::Sha512 => format!("sha-512=:{}:", B64.encode(Sha512::digest(body))),
    }
}

/// A signing key and its algorithm.
///
/// `Debug` shows the algorithm only.
#[derive(Clone)]
pub enum SignatureKey {
    /// `hmac-sha256` with a shared secret.
    HmacSha256(Arc<SecretSlice<u8>>),
    /// `ed25519` (RFC 8032).
    Ed25519(Arc<ed25519_dalek::SigningKey>),
}

impl SignatureKey {
    /// An `hmac-sha256` key from the secret's raw bytes.
    pub fn hmac_sha256(secret: impl Into<Vec<u8>>) -> SignatureKey {
        SignatureKey::HmacSha256(Arc::new(SecretSlice::from(secret.into())))
    }

    /// An `ed25519` key from its 32-byte seed (the JWK `d`, or the last 32
    /// bytes of a PKCS#8 `PRIVATE KEY`).
    pub fn ed25519_seed(seed: [u8; 32]) -> SignatureKey {
        SignatureKey::Ed25519(Arc::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The public key of an `ed25519` key, to hand to the verifier.
    pub fn ed25519_public_key(&self) -> Option<[u8; 32]> {
        match self {
            SignatureKey::Ed25519(key) => Some(key.verifying_key().to_bytes()),
            SignatureKey::HmacSha256(_) => None,
        }
    }

    /// The algorithm's name in the RFC 9421 registry.
    pub fn algorithm(&self) -> &'static str {
        match self {
            SignatureKey::HmacSha256(_) => "hmac-sha256",
            SignatureKey::Ed25519(_) => "ed25519",
        }
    }

    fn sign(&self, base: &[u8]) -> Vec<u8> {
        match self {
            SignatureKey::HmacSha256(secret) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret())
                    .expect("HMAC takes any key length");
                mac.update(base);
                mac.finalize().into_bytes().to_vec()
            }
            SignatureKey::Ed25519(key) => key.sign(base).to_bytes().to_vec(),
        }
    }
}

impl fmt::Debug for SignatureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureKey({}, [redacted])", self.algorithm())
    }
}

/// Signs with RFC 9421 HTTP Message Signatures; see the [module docs](self).
///
/// # Clone
///
/// Clones share the key (an `Arc`).
#[derive(Debug, Clone)]
pub struct HttpSignatureSigner {
    key_id: String,
    key: SignatureKey,
    label: String,
    components: Vec<Component>,
    digest: Option<DigestAlgorithm>,
    created: bool,
    expires_in: Option<Duration>,
    nonce: bool,
    alg: bool,
    tag: Option<String>,
}

/// Builds an [`HttpSignatureSigner`].
#[derive(Debug)]
pub struct HttpSignatureSignerBuilder {
    inner: HttpSignatureSigner,
}

/// The signature parameters of one signing (RFC 9421 §2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureParams {
    /// `created`, Unix seconds.
    pub created: Option<u64>,
    /// `expires`, Unix seconds.
    pub expires: Option<u64>,
    /// `keyid`.
    pub keyid: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `alg`.
    pub alg: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
}

impl SignatureParams {
    /// The `@signature-params` value: the inner list of `components` and
    /// the parameters, in the order `created`, `expires`, `keyid`,
    /// `nonce`, `alg`, `tag` (the RFC's examples use this order).
    pub fn serialize(&self, components: &[Component]) -> String {
        let mut out = String::with_capacity(128);
        out.push('(');
        for (i, component) in components.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            component.write_identifier(&mut out);
        }
        out.push(')');
        if let Some(created) = self.created {
            let _ = write!(out, ";created={created}");
        }
        if let Some(expires) = self.expires {
            let _ = write!(out, ";expires={expires}");
        }
        let strings = [
            ("keyid", &self.keyid),
            ("nonce", &self.nonce),
            ("alg", &self.alg),
            ("tag", &self.tag),
        ];
        for (name, value) in strings {
            if let Some(value) = value {
                let _ = write!(out, ";{name}=\"");
                for c in value.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
        out
    }
}

/// The signature base (RFC 9421 §2.5) of the request `parts` for
/// `components`, ending in the `@signature-params` line whose value is
/// `signature_params` (see [`SignatureParams::serialize`]). Lines are
/// joined by `\n`, with none after the last.
///
/// Public so that a verifier can rebuild the base from a received
/// `Signature-Input`.
pub fn signature_base(
    parts: &Parts,
    components: &[Component],
    signature_params: &str,
) -> Result<String, SigningError> {
    let mut base = String::with_capacity(256);
    for component in components {
        component.write_identifier(&mut base);
        base.push_str(": ");
        write_value(&mut base, parts, component)?;
        base.push('\n');
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(signature_params);
    Ok(base)
}

fn missing(what: impl Into<std::borrow::Cow<'static, str>>) -> SigningError {
    SigningError::new(SigningErrorKind::MissingComponent, SCHEME).with_detail(what)
}

fn authority(parts: &Parts) -> Result<String, SigningError> {
    if let Some(authority) = parts.uri.authority() {
        // RFC 9110 §4.2.3 normalisation: the default port is left out.
        let default = match parts.uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => Some(443),
            Some(s) if s.eq_ignore_ascii_case("http") => Some(80),
            _ => None,
        };
        if authority.port_u16().is_some() && authority.port_u16() == default {
            return Ok(authority.host().to_ascii_lowercase());
        }
        return Ok(authority.as_str().to_ascii_lowercase());
    }
    match parts.headers.get(http::header::HOST).map(|h| h.to_str()) {
        Some(Ok(host)) => Ok(host.trim().to_ascii_lowercase()),
        Some(Err(_)) => {
            Err(SigningError::new(SigningErrorKind::InvalidValue, SCHEME).with_detail("host"))
        }
        None => Err(missing("@authority")),
    }
}

fn write_value(out: &mut String, parts: &Parts, component: &Component) -> Result<(), SigningError> {
    let path = match parts.uri.path() {
        "" => "/",
        path => path,
    };
    match component {
        Component::Method => out.push_str(parts.method.as_str()),
        Component::Authority => out.push_str(&authority(parts)?),
        Component::Scheme => {
            let scheme = parts.uri.scheme_str().ok_or_else(|| missing("@scheme"))?;
            out.push_str(&scheme.to_ascii_lowercase());
        }
        Component::TargetUri => {
            let scheme = parts
                .uri
                .scheme_str()
                .ok_or_else(|| missing("@target-uri"))?;
            out.push_str(&scheme.to_ascii_lowercase());
            out.push_str("://");
            out.push_str(&authority(parts)?);
            out.push_str(path);
            if let Some(query) = parts.uri.query() {
                out.push('?');
                out.push_str(query);
            }
        }
        Component::RequestTarget => {
            out.push_str(path);
            if let Some(query) = parts.uri.query() {
                out.push('?');
                out.push_str(query);
            }
        }
        Component::Path => out.push_str(path),
        Component::Query => {
            out.push('?');
            out.push_str(parts.uri.query().unwrap_or(""));
        }
        Component::QueryParam(name) => {
            let query = parts.uri.query().unwrap_or("");
            let wanted = form_decode(name);
            let value = query
                .split('&')
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (form_decode(k) == wanted).then_some(v)
                })
                .next()
                .ok_or_else(|| missing(format!("@query-param {name}")))?;
            form_encode(out, &form_decode(value));
        }
        Component::Field(name) => {
            let mut values = parts.headers.get_all(name).iter().peekable();
            if values.peek().is_none() {
                return Err(missing(format!("header {name}")));
            }
            for (i, value) in values.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let text = value.to_str().map_err(|_| {
                    SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
                        .with_detail(format!("header {name} is not visible ASCII"))
                })?;
                out.push_str(text.trim());
            }
        }
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space).
fn form_decode(text: &str) -> Vec<u8> {
    percent_decode(&text.replace('+', " "))
}

/// Percent-encoding with the WHATWG `application/x-www-form-urlencoded`
/// set, spaces as `%20` (RFC 9421 §2.2.8).
fn form_encode(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

impl HttpSignatureSigner {
    /// A builder for a signer with key id `key_id` and `key`.
    pub fn builder(key_id: impl Into<String>, key: SignatureKey) -> HttpSignatureSignerBuilder {
        HttpSignatureSignerBuilder {
            inner: HttpSignatureSigner {
                key_id: key_id.into(),
                key,
                label: "sig1".into(),
                components: vec![Component::Method, Component::TargetUri],
                digest: Some(DigestAlgorithm::Sha256),
                created: true,
                expires_in: None,
                nonce: true,
                alg: false,
                tag: None,
            },
        }
    }

    /// The signature's label in `Signature-Input` and `Signature`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The signature parameters for a signing at `now` with `nonce`.
    pub fn params(&self, now: SystemTime, nonce: Option<String>) -> SignatureParams {
        let created = since_epoch(now).as_secs();
        SignatureParams {
            created: self.created.then_some(created),
            expires: self.expires_in.map(|d| created + d.as_secs()),
            keyid: Some(self.key_id.clone()),
            nonce,
            alg: self.alg.then(|| self.key.algorithm().to_owned()),
            tag: self.tag.clone(),
        }
    }

    /// Signs `parts` with the given parameters: sets `Content-Digest` (if
    /// configured and the body is buffered and not empty),
    /// `Signature-Input` and `Signature`. [`Signer::sign`] calls this with
    /// fresh parameters; known-answer tests call it with fixed ones.
    pub fn sign_with(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        params: &SignatureParams,
    ) -> Result<(), SigningError> {
        let mut components = std::borrow::Cow::Borrowed(&self.components[..]);
        if let Some(algorithm) = self.digest {
            let bytes = payload
                .bytes()
                .ok_or_else(|| SigningError::new(SigningErrorKind::StreamingBody, SCHEME))?;
            if !bytes.is_empty() {
                let digest = HeaderValue::try_from(content_digest(algorithm, bytes))
                    .expect("base64 is a valid header value");
                parts.headers.insert(CONTENT_DIGEST, digest);
                let covered = Component::Field(CONTENT_DIGEST);
                if !components.contains(&covered) {
                    components.to_mut().push(covered);
                }
            }
        }
        let serialized = params.serialize(&components);
        let base = signature_base(parts, &components, &serialized)?;
        let signature = self.key.sign(base.as_bytes());
        let mut input = String::with_capacity(self.label.len() + 1 + serialized.len());
        input.push_str(&self.label);
        input.push('=');
        input.push_str(&serialized);
        let mut value = String::with_capacity(self.label.len() + 92);
        value.push_str(&self.label);
        value.push_str("=:");
        B64.encode_string(&signature, &mut value);
        value.push(':');
        append(&mut parts.headers, SIGNATURE_INPUT, input)?;
        append(&mut parts.headers, SIGNATURE, value)?;
        Ok(())
    }
}

/// Adds `member` to a dictionary field, after any members already there
/// (another party's signature stays valid).
fn append(
    headers: &mut http::HeaderMap,
    name: HeaderName,
    member: String,
) -> Result<(), SigningError> {
    let joined = match headers.get(&name).map(|v| v.to_str()) {
        Some(Ok(existing)) if !existing.trim().is_empty() => format!("{existing}, {member}"),
        _ => member,
    };
    let value = HeaderValue::try_from(joined).map_err(|_| {
        SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
            .with_detail(name.as_str().to_owned())
    })?;
    headers.insert(name, value);
    Ok(())
}

impl Signer for HttpSignatureSigner {
    fn scheme(&self) -> &'static str {
        SCHEME
    }

    fn sign(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<(), SigningError> {
        let nonce = if self.nonce {
            Some(nonce(SCHEME)?)
        } else {
            None
        };
        let params = self.params(now, nonce);
        self.sign_with(parts, payload, &params)
    }
}

fn sf_key(text: &str) -> bool {
    let mut bytes = text.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'*'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'))
}

fn sf_string(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl HttpSignatureSignerBuilder {
    /// The signature's label.
    ///
    /// Default: `sig1`.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.inner.label = label.into();
        self
    }

    /// The covered components, in order. `content-digest` is added at the
    /// end when a digest is sent and not already listed.
    ///
    /// Default: `@method`, `@target-uri`.
    pub fn components(mut self, components: impl IntoIterator<Item = Component>) -> Self {
        self.inner.components = components.into_iter().collect();
        self
    }

    /// The `Content-Digest` hash for buffered, non-empty bodies, or `None`
    /// to send none (then a streamed body can be signed, without covering
    /// its content).
    ///
    /// Default: `Some(DigestAlgorithm::Sha256)`.
    pub fn content_digest(mut self, algorithm: Option<DigestAlgorithm>) -> Self {
        self.inner.digest = algorithm;
        self
    }

    /// Whether to send the `created` parameter.
    ///
    /// Default: `true`.
    pub fn created(mut self, created: bool) -> Self {
        self.inner.created = created;
        self
    }

    /// Sends `expires` this long after `created`, or none.
    ///
    /// Default: `None`.
    pub fn expires_in(mut self, expires_in: Option<Duration>) -> Self {
        self.inner.expires_in = expires_in;
        self
    }

    /// Whether to send a fresh random `nonce` with each signature.
    ///
    /// Default: `true`.
    pub fn nonce(mut self, nonce: bool) -> Self {
        self.inner.nonce = nonce;
        self
    }

    /// Whether to send the `alg` parameter. The RFC's examples leave it
    /// out (the key id implies the algorithm).
    ///
    /// Default: `false`.
    pub fn alg(mut self, alg: bool) -> Self {
        self.inner.alg = alg;
        self
    }

    /// A `tag` naming the application profile.
    ///
    /// Default: none.
    pub fn tag(mut self, tag: Option<&str>) -> Self {
        self.inner.tag = tag.map(str::to_owned);
        self
    }

    /// The signer, or why the configuration makes no sense.
    pub fn build(self) -> Result<HttpSignatureSigner, InvalidSigningConfig> {
        let signer = self.inner;
        if !sf_key(&signer.label) {
            return Err(InvalidSigningConfig::new(
                "label",
                "is not a structured-field key",
            ));
        }
        if !sf_string(&signer.key_id) {
            return Err(InvalidSigningConfig::new(
                "key_id",
                "is not printable ASCII",
            ));
        }
        if signer.tag.as_deref().is_some_and(|t| !sf_string(t)) {
            return Err(InvalidSigningConfig::new("tag", "is not printable ASCII"));
        }
        if let SignatureKey::HmacSha256(secret) = &signer.key
            && secret.expose_secret().is_empty()
        {
            return Err(InvalidSigningConfig::new("key", "is an empty secret"));
        }
        if signer.expires_in.is_some() && !signer.created {
            return Err(InvalidSigningConfig::new("expires_in", "needs created"));
        }
        for (i, c) in signer.components.iter().enumerate() {
            if signer.components[..i].contains(c) {
                return Err(InvalidSigningConfig::new(
                    "components",
                    "lists a component twice",
                ));
            }
            if let Component::QueryParam(name) = c
                && (!sf_string(name) || name.contains('"') || name.contains('\\'))
            {
                return Err(InvalidSigningConfig::new(
                    "components",
                    "has a query-param name that cannot be written",
                ));
            }
        }
        Ok(signer)
    }
}
