//! The one SigV4 signing path: [`SigV4Signer::sign_head`].
//!
//! Every entry point reads its request into a [`Head`] and calls
//! `sign_head`: the layer's [`Signer::sign`](crate::Signer::sign) and
//! [`SigV4Signer::presign`] from `http::request::Parts`, and
//! [`SigV4Signer::sign_raw`] / [`SigV4Signer::presign_raw`] from a
//! [`RawRequest`] (the conformance suites, whose targets are not always
//! valid URIs). The canonical request goes straight into its hash and the
//! string to sign straight into the day's MAC; a [`Trace`] (the raw entry
//! points only) also keeps copies of both, from the same writes.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use girder_core::{SigningError, SigningErrorKind};
use http::HeaderValue;
use http::request::Parts;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::canonical::{
    Line, canonical_query, canonical_uri, write_canonical_headers, write_signed_headers,
};
use super::{
    ALGORITHM, NOT_SIGNED, PayloadMode, RawRequest, SCHEME, SigV4Output, SigV4Signer,
    UNSIGNED_PAYLOAD, X_AMZ_CONTENT_SHA256, X_AMZ_DATE, X_AMZ_SECURITY_TOKEN,
};
use crate::encode::{
    Civil, Count, Sink, StackText, hex_into, percent_decode, percent_encode, sha256_hex_into,
};
use crate::signer::Payload;

/// A request as the signer reads it.
pub(super) struct Head<'a> {
    pub(super) method: &'a str,
    /// The path to canonicalise: encoded once more by `canonical_uri`.
    pub(super) path: &'a str,
    /// The query as sent, without `?`.
    pub(super) query: &'a str,
    /// The header lines to sign: lower-case names, in the order sent,
    /// without the never-signed ones and without the signer's own.
    pub(super) lines: Vec<Line<'a>>,
}

/// Where the signature goes.
#[derive(Clone, Copy)]
pub(super) enum Mode {
    /// `Authorization` and `X-Amz-*` headers.
    Headers,
    /// A presigned URL valid for this long.
    Query(Duration),
}

/// Copies of the canonical request and the string to sign, for
/// [`SigV4Output`].
#[derive(Default)]
pub(super) struct Trace {
    canonical_request: String,
    string_to_sign: String,
}

/// A sink that writes to `sink` and, when tracing, to a copy.
struct Tee<'a, S> {
    sink: S,
    copy: Option<&'a mut String>,
}

impl<S: Sink> Sink for Tee<'_, S> {
    fn put(&mut self, text: &str) {
        self.sink.put(text);
        if let Some(copy) = self.copy.as_deref_mut() {
            copy.push_str(text);
        }
    }
}

/// The payload hash as signed: hex of SHA-256, or `UNSIGNED-PAYLOAD`.
pub(super) struct PayloadHash {
    hex: [u8; 64],
    unsigned: bool,
}

impl PayloadHash {
    pub(super) fn as_str(&self) -> &str {
        if self.unsigned {
            UNSIGNED_PAYLOAD
        } else {
            std::str::from_utf8(&self.hex).expect("hex is ASCII")
        }
    }
}

/// What [`SigV4Signer::sign_head`] produced.
pub(super) struct Signed {
    /// `X-Amz-Date`'s text (`yyyymmddThhmmssZ`).
    amz_date: StackText<40>,
    payload_hash: PayloadHash,
    /// Hex of the signature.
    signature: [u8; 64],
    /// [`Mode::Headers`]: the `Authorization` value, at its exact size.
    authorization: Option<String>,
    /// [`Mode::Query`]: the parameters to append (values not yet
    /// encoded), ending with `X-Amz-Signature`.
    query: Vec<(&'static str, String)>,
}

/// [`Signed`]'s parts that [`SigV4Signer::sign_lines`] computes.
struct Sealed {
    signature: [u8; 64],
    authorization: Option<String>,
    query: Vec<(&'static str, String)>,
}

impl Signed {
    fn amz_date(&self) -> &str {
        std::str::from_utf8(self.amz_date.as_bytes()).expect("digits are ASCII")
    }

    fn signature(&self) -> &str {
        std::str::from_utf8(&self.signature).expect("hex is ASCII")
    }
}

fn invalid(what: &'static str) -> SigningError {
    SigningError::new(SigningErrorKind::InvalidValue, SCHEME).with_detail(what)
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

impl SigV4Signer {
    /// The headers the signer adds and signs itself in `mode` (a request
    /// header of the same name is replaced, not signed).
    fn own_names(&self, mode: Mode) -> ([&'static str; 3], usize) {
        let mut names = [""; 3];
        let mut n = 0;
        if let Mode::Headers = mode {
            let token = self.session_token.is_some() && self.sign_session_token;
            for (name, on) in [
                ("x-amz-date", true),
                ("x-amz-security-token", token),
                ("x-amz-content-sha256", self.content_sha256_header),
            ] {
                if on {
                    names[n] = name;
                    n += 1;
                }
            }
        }
        (names, n)
    }

    /// The header lines of `headers` to sign in `mode`.
    fn lines<'a>(
        &self,
        headers: impl Iterator<Item = Result<(&'a str, &'a str), SigningError>>,
        capacity: usize,
        mode: Mode,
    ) -> Result<Vec<Line<'a>>, SigningError> {
        let (own, n) = self.own_names(mode);
        let mut lines = Vec::with_capacity(capacity + n);
        for header in headers {
            let (name, value) = header?;
            let name = lower(name);
            if !NOT_SIGNED.contains(&name.as_ref()) && !own[..n].contains(&name.as_ref()) {
                lines.push((name, value));
            }
        }
        Ok(lines)
    }

    /// `parts` as a [`Head`]: the path as on the wire when double-encoding
    /// (so `%20` is signed as `%2520`, as AWS services other than S3
    /// expect), decoded first otherwise (S3).
    fn head_of<'a>(
        &self,
        parts: &'a Parts,
        path: &'a str,
        mode: Mode,
    ) -> Result<Head<'a>, SigningError> {
        let headers = parts.headers.iter().map(|(name, value)| {
            let value = value.to_str().map_err(|_| {
                SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
                    .with_detail(format!("header {name} is not visible ASCII"))
            })?;
            Ok((name.as_str(), value))
        });
        Ok(Head {
            method: parts.method.as_str(),
            path,
            query: parts.uri.query().unwrap_or(""),
            lines: self.lines(headers, parts.headers.len(), mode)?,
        })
    }

    /// The path to sign (see [`head_of`](Self::head_of)).
    pub(super) fn signed_path<'a>(&self, parts: &'a Parts) -> Result<Cow<'a, str>, SigningError> {
        if self.double_encode {
            return Ok(Cow::Borrowed(parts.uri.path()));
        }
        String::from_utf8(percent_decode(parts.uri.path()))
            .map(Cow::Owned)
            .map_err(|_| invalid("path"))
    }

    /// Sets `Host` from the URI when missing: it is signed, so it must be
    /// the one sent.
    pub(super) fn ensure_host(&self, parts: &mut Parts) -> Result<(), SigningError> {
        if parts.headers.contains_key(http::header::HOST) {
            return Ok(());
        }
        let host = parts.uri.host().ok_or_else(|| {
            SigningError::new(SigningErrorKind::MissingComponent, SCHEME).with_detail("host")
        })?;
        // Host and port only (RFC 9110 §7.2): the authority's userinfo
        // (`user:pw@`) must never reach a header or the signature. The
        // port is written only when it is not the scheme's default, as
        // the transport writes `Host` itself.
        let default = match parts.uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => Some(443),
            Some(s) if s.eq_ignore_ascii_case("http") => Some(80),
            _ => None,
        };
        let value = match parts.uri.port_u16() {
            Some(port) if Some(port) != default => {
                HeaderValue::from_maybe_shared(bytes::Bytes::from(format!("{host}:{port}")))
            }
            _ => HeaderValue::from_str(host),
        };
        parts
            .headers
            .insert(http::header::HOST, value.map_err(|_| invalid("host"))?);
        Ok(())
    }

    /// Signs `head` at `now`: the one implementation behind every entry
    /// point. With a `trace`, copies of the canonical request and the
    /// string to sign are kept.
    pub(super) fn sign_head(
        &self,
        head: Head<'_>,
        payload: Payload<'_>,
        now: SystemTime,
        mode: Mode,
        trace: Option<&mut Trace>,
    ) -> Result<Signed, SigningError> {
        let mut amz_date = StackText::<40>::new();
        Civil::of(now)
            .write_amz_date(&mut amz_date)
            .map_err(|_| invalid("x-amz-date"))?;
        let mut payload_hash = PayloadHash {
            hex: [0; 64],
            unsigned: self.payload == PayloadMode::Unsigned,
        };
        if !payload_hash.unsigned {
            let bytes = payload
                .bytes()
                .ok_or_else(|| SigningError::new(SigningErrorKind::StreamingBody, SCHEME))?;
            sha256_hex_into(bytes, &mut payload_hash.hex);
        }
        let sealed = self.sign_lines(head, &amz_date, &payload_hash, mode, trace)?;
        Ok(Signed {
            amz_date,
            payload_hash,
            signature: sealed.signature,
            authorization: sealed.authorization,
            query: sealed.query,
        })
    }

    /// [`sign_head`](Self::sign_head) once the date and the payload hash
    /// are known: the signature, and the `Authorization` value or the
    /// presigned URL's parameters.
    fn sign_lines<'a>(
        &self,
        head: Head<'a>,
        amz_date: &'a StackText<40>,
        payload_hash: &'a PayloadHash,
        mode: Mode,
        mut trace: Option<&mut Trace>,
    ) -> Result<Sealed, SigningError> {
        let amz_date_text = std::str::from_utf8(amz_date.as_bytes()).expect("digits are ASCII");
        let date = &amz_date_text[..8];
        let mut head = head;
        let token = self.session_token.as_ref().map(|t| t.expose_secret());

        let (own, n) = self.own_names(mode);
        let own_values: [(&'static str, &str); 3] = std::array::from_fn(|i| {
            let value = match own[i] {
                "x-amz-date" => amz_date_text,
                "x-amz-security-token" => token.unwrap_or_default(),
                _ => payload_hash.as_str(),
            };
            (own[i], value)
        });
        head.lines
            .extend(own_values[..n].iter().map(|(n, v)| (Cow::Borrowed(*n), *v)));
        // Stable: the lines of one name keep the order they were sent in.
        head.lines.sort_by(|a, b| a.0.cmp(&b.0));

        let mut params: Vec<(&'static str, String)> = Vec::new();
        let query: Cow<'_, str> = match mode {
            Mode::Headers => Cow::Borrowed(head.query),
            Mode::Query(expires) => {
                let mut credential = String::new();
                credential.push_str(&self.access_key_id);
                credential.push('/');
                self.write_scope(&mut credential, date);
                let mut signed_headers = String::new();
                write_signed_headers(&mut signed_headers, &head.lines);
                params.push(("X-Amz-Algorithm", ALGORITHM.to_owned()));
                params.push(("X-Amz-Credential", credential));
                params.push(("X-Amz-Date", amz_date_text.to_owned()));
                params.push(("X-Amz-SignedHeaders", signed_headers));
                params.push(("X-Amz-Expires", expires.as_secs().to_string()));
                if let (Some(token), true) = (token, self.sign_session_token) {
                    params.push(("X-Amz-Security-Token", token.to_owned()));
                }
                let mut query = head.query.to_owned();
                for (name, value) in &params {
                    query.push('&');
                    query.push_str(name);
                    query.push('=');
                    percent_encode(&mut query, value.as_bytes(), false);
                }
                Cow::Owned(query)
            }
        };

        let mut creq = Tee {
            sink: Sha256::new(),
            copy: trace.as_deref_mut().map(|t| &mut t.canonical_request),
        };
        creq.put(head.method);
        creq.put("\n");
        canonical_uri(&mut creq, head.path, self.normalize_path);
        creq.put("\n");
        canonical_query(&mut creq, &query);
        creq.put("\n");
        write_canonical_headers(&mut creq, &head.lines);
        creq.put("\n");
        write_signed_headers(&mut creq, &head.lines);
        creq.put("\n");
        creq.put(payload_hash.as_str());
        let mut creq_hash = [0u8; 64];
        hex_into(&creq.sink.finalize(), &mut creq_hash);

        let mut sts = Tee {
            sink: self.day_mac(date),
            copy: trace.map(|t| &mut t.string_to_sign),
        };
        sts.put(ALGORITHM);
        sts.put("\n");
        sts.put(amz_date_text);
        sts.put("\n");
        self.write_scope(&mut sts, date);
        sts.put("\n");
        sts.put(std::str::from_utf8(&creq_hash).expect("hex is ASCII"));
        let (tag, len) = sts.sink.finalize();
        let mut signature = [0u8; 64];
        hex_into(&tag[..len], &mut signature);
        let signature_text = std::str::from_utf8(&signature).expect("hex is ASCII");

        let authorization = match mode {
            Mode::Headers => {
                // Built once, at its exact size: the header value takes
                // the buffer without a copy.
                let mut size = Count(0);
                self.write_authorization(&mut size, date, &head.lines, signature_text);
                let mut text = String::with_capacity(size.0);
                self.write_authorization(&mut text, date, &head.lines, signature_text);
                Some(text)
            }
            Mode::Query(_) => {
                if let (Some(token), false) = (token, self.sign_session_token) {
                    params.push(("X-Amz-Security-Token", token.to_owned()));
                }
                params.push(("X-Amz-Signature", signature_text.to_owned()));
                None
            }
        };
        Ok(Sealed {
            signature,
            authorization,
            query: params,
        })
    }

    /// [`Signer::sign`](crate::Signer::sign): signs the head of the
    /// request and adds the headers.
    pub(super) fn sign_parts(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<(), SigningError> {
        self.ensure_host(parts)?;
        let signed = {
            let path = self.signed_path(parts)?;
            let head = self.head_of(parts, &path, Mode::Headers)?;
            self.sign_head(head, payload, now, Mode::Headers, None)?
        };
        let token = self.session_token.as_ref().map(|t| t.expose_secret());
        if let Some(token) = token {
            // The session token is a credential: a logging layer above
            // masks it wherever it shows up (an echoing server, say).
            girder_core::secrets::SecretValues::register_in(&parts.extensions, token);
        }
        let headers = &mut parts.headers;
        // In the order `sign_raw` lists them: the token after the content
        // hash when it is not signed.
        headers.insert(X_AMZ_DATE, header_value("x-amz-date", signed.amz_date())?);
        if let (Some(token), true) = (token, self.sign_session_token) {
            headers.insert(X_AMZ_SECURITY_TOKEN, secret_value(token)?);
        }
        if self.content_sha256_header {
            headers.insert(
                X_AMZ_CONTENT_SHA256,
                header_value("x-amz-content-sha256", signed.payload_hash.as_str())?,
            );
        }
        if let (Some(token), false) = (token, self.sign_session_token) {
            headers.insert(X_AMZ_SECURITY_TOKEN, secret_value(token)?);
        }
        let authorization = signed.authorization.unwrap_or_default();
        let mut authorization =
            HeaderValue::try_from(authorization).map_err(|_| invalid("authorization"))?;
        // Sensitive: a redirect to another origin drops it, and logs
        // never show it.
        authorization.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, authorization);
        Ok(())
    }

    /// Signs a [`RawRequest`] at `now`, through the same path as the
    /// layer's [`Signer::sign`](crate::Signer::sign).
    pub fn sign_raw(
        &self,
        req: &RawRequest<'_>,
        now: SystemTime,
    ) -> Result<SigV4Output, SigningError> {
        self.raw_output(req, now, Mode::Headers)
    }

    /// Presigns a [`RawRequest`] at `now`, valid for `expires` (1 s to
    /// 7 days): the signature goes in the query
    /// ([`SigV4Output::query`]) instead of headers, so the URL can be
    /// handed to someone without the credentials. The same path as
    /// [`SigV4Signer::presign`].
    pub fn presign_raw(
        &self,
        req: &RawRequest<'_>,
        now: SystemTime,
        expires: Duration,
    ) -> Result<SigV4Output, SigningError> {
        check_expiry(expires)?;
        self.raw_output(req, now, Mode::Query(expires))
    }

    fn raw_output(
        &self,
        req: &RawRequest<'_>,
        now: SystemTime,
        mode: Mode,
    ) -> Result<SigV4Output, SigningError> {
        let head = Head {
            method: req.method,
            path: req.path,
            query: req.query,
            lines: self.lines(req.headers.iter().copied().map(Ok), req.headers.len(), mode)?,
        };
        let mut trace = Trace::default();
        let signed = self.sign_head(head, req.payload, now, mode, Some(&mut trace))?;
        let mut headers: Vec<(&'static str, String)> = Vec::new();
        if let Mode::Headers = mode {
            let token = self.session_token.as_ref().map(|t| t.expose_secret());
            headers.push(("x-amz-date", signed.amz_date().to_owned()));
            if let (Some(token), true) = (token, self.sign_session_token) {
                headers.push(("x-amz-security-token", token.to_owned()));
            }
            if self.content_sha256_header {
                headers.push((
                    "x-amz-content-sha256",
                    signed.payload_hash.as_str().to_owned(),
                ));
            }
            if let (Some(token), false) = (token, self.sign_session_token) {
                headers.push(("x-amz-security-token", token.to_owned()));
            }
        }
        let authorization = signed.authorization.clone().unwrap_or_default();
        if !authorization.is_empty() {
            headers.push(("authorization", authorization.clone()));
        }
        Ok(SigV4Output {
            canonical_request: trace.canonical_request,
            string_to_sign: trace.string_to_sign,
            signature: signed.signature().to_owned(),
            authorization,
            headers,
            query: signed.query,
        })
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
        check_expiry(expires)?;
        self.ensure_host(parts)?;
        let mode = Mode::Query(expires);
        let signed = {
            let path = self.signed_path(parts)?;
            let head = self.head_of(parts, &path, mode)?;
            self.sign_head(head, payload, now, mode, None)?
        };
        if let Some(token) = &self.session_token {
            // The token rides in the URL: whoever logs it must mask it.
            girder_core::secrets::SecretValues::register_in(
                &parts.extensions,
                token.expose_secret(),
            );
        }
        let mut query = parts.uri.query().unwrap_or("").to_owned();
        for (name, value) in &signed.query {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(name);
            query.push('=');
            percent_encode(&mut query, value.as_bytes(), false);
        }
        let mut uri = parts.uri.clone().into_parts();
        let path_and_query = format!("{}?{query}", parts.uri.path());
        uri.path_and_query = Some(path_and_query.parse().map_err(|_| invalid("uri"))?);
        parts.uri = http::Uri::from_parts(uri).map_err(|_| invalid("uri"))?;
        Ok(())
    }
}

fn check_expiry(expires: Duration) -> Result<(), SigningError> {
    if expires < Duration::from_secs(1) || expires > Duration::from_secs(7 * 86_400) {
        return Err(SigningError::new(SigningErrorKind::InvalidValue, SCHEME)
            .with_detail("X-Amz-Expires must be 1 s to 7 days"));
    }
    Ok(())
}

fn header_value(name: &'static str, text: &str) -> Result<HeaderValue, SigningError> {
    HeaderValue::from_str(text).map_err(|_| invalid(name))
}

/// The session token's header value, marked sensitive: a redirect to
/// another origin drops it, and logs never show it.
fn secret_value(token: &str) -> Result<HeaderValue, SigningError> {
    let mut value = header_value("x-amz-security-token", token)?;
    value.set_sensitive(true);
    Ok(value)
}
