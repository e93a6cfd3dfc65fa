//! A versioned binary encoding of [`CacheEntry`], for stores that keep
//! bytes (Redis, a file, another language's store).
//!
//! [`CacheEntry::encode`] and [`CacheEntry::decode`] carry everything the
//! cache needs to serve an entry exactly as the in-memory store would: the
//! head, the body, every `Vary` variant and what its RFC 9111 policy is
//! built from. What the cache derives (freshness, the policy itself, the
//! directives it reads, the weight) is computed again on decode, by the
//! same code that computed it first.
//!
//! ```
//! use girder_cache::{CacheEntry, DecodeErrorKind};
//!
//! // Whatever a store hands back, decoding never panics: foreign, corrupt
//! // or future-version bytes are an error, which the store reports (the
//! // cache logs it and treats it as a miss, and the next fill overwrites).
//! let error = CacheEntry::decode(b"{\"not\":\"an entry\"}").unwrap_err();
//! assert_eq!(error.kind(), DecodeErrorKind::BadMagic);
//! let error = CacheEntry::decode(b"GRDC\x02").unwrap_err();
//! assert_eq!(error.kind(), DecodeErrorKind::UnknownVersion);
//! ```
//!
//! # No secrets
//!
//! An encoded entry holds no credential of the caller: the policy inputs
//! are the key's URI (credential query parameters taken out), `Host`, the
//! request's `Cache-Control` and the request headers `Vary` nominates,
//! except credential headers (`Vary: Authorization` or `Cookie`), whose
//! values the key's identity hash already covers and which are kept as a
//! bare name (so processes sharing a store must share their identity
//! headers, as well as their identity secret). It does hold the response
//! as the origin sent it (a `Set-Cookie` too): protect a store as you
//! would the responses.
//!
//! # Layout (version 1)
//!
//! Integers are big-endian. `bytes` is a `u32` length then that many
//! bytes; `duration` is a `u64` of seconds then a `u32` of nanoseconds
//! (below 10^9); `time` is an `i64` of seconds since the Unix epoch
//! (within ±2^40) then a `u32` of nanoseconds (below 10^9) added to it;
//! `headers` is a `u32` count then, per field in order (a repeated name is
//! one field per value), a `u8` of flags (bit 0: sensitive), `bytes` name
//! (lower case) and `bytes` value (any bytes a header value may hold,
//! obs-text included). Unknown flag bits, trailing bytes and any invalid
//! field make the whole entry invalid.
//!
//! | field | type | meaning |
//! | --- | --- | --- |
//! | magic | 4 bytes | `GRDC` |
//! | version | `u8` | `1` |
//! | retain for | `duration` | how long the entry stays useful, from when it was made |
//! | variant count | `u16` | at most [`MAX_VARIANTS`]; then each variant, most recent first: |
//! | status | `u16` | 100 to 999 |
//! | HTTP version | `u8` | 0: 0.9, 1: 1.0, 2: 1.1, 3: 2, 4: 3 |
//! | response time | `time` | when the response was received |
//! | response headers | `headers` | as served (updated by 304s), hop-by-hop fields removed |
//! | body | `bytes` | |
//! | vary | `u8` | 0: the selecting headers follow; 1: `Vary: *` (nothing follows) |
//! | selecting count | `u16` | then per header: `u8` kind (0: absent from the request, 1: a value follows, 2: a credential, covered by the key), `bytes` name, and for kind 1 `bytes` value (the request's lines joined by `,`, members trimmed) |
//! | policy method | `bytes` | the request method |
//! | policy URI | `bytes` | the key's URI |
//! | policy request headers | `headers` | `Host`, `Cache-Control` and the kind-1 values above |
//! | policy flags | `u8` | bit 0: shared cache, bit 1: ignore cargo-cult directives |
//! | heuristic fraction | `u32` | an IEEE 754 `f32`, from 0 to 1 |
//! | immutable minimum TTL | `duration` | at most 2^31 seconds |
//! | TTL override | `u64` | seconds of `max-age` for a response silent about caching; 0: none |
//!
//! The whole encoding is at most [`MAX_ENCODED_LEN`] bytes. A later
//! version changes the version byte; a decoder refuses versions it does
//! not know (during a rolling upgrade, each version treats the other's
//! entries as misses).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{BufMut, Bytes};
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use http_cache_semantics::CacheOptions;

use crate::directives::MAX_DELTA_SECONDS;
use crate::entry::{CacheEntry, StoredResponse};
use crate::policy::PolicyInputs;
use crate::vary::{Selected, Vary};

mod reader;
use reader::Reader;

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// The first four bytes of every encoded entry.
pub const MAGIC: [u8; 4] = *b"GRDC";

/// The format version this crate writes (and the only one it reads).
pub const VERSION: u8 = 1;

/// The largest encoding written or read: 64 MiB.
pub const MAX_ENCODED_LEN: usize = 64 << 20;

/// The most variants an encoded entry may hold.
pub const MAX_VARIANTS: usize = 1024;

impl CacheEntry {
    /// The entry in the [version 1 layout](crate::encoding), or an error if
    /// it would be longer than [`MAX_ENCODED_LEN`].
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut out = Vec::with_capacity(self.weight() as usize);
        out.put_slice(&MAGIC);
        out.put_u8(VERSION);
        put_duration(&mut out, self.retain_for());
        let count = self.variants().len();
        if count > MAX_VARIANTS {
            return Err(EncodeError::new(count, "variants"));
        }
        out.put_u16(count as u16);
        for variant in self.variants() {
            put_variant(&mut out, variant)?;
            if out.len() > MAX_ENCODED_LEN {
                return Err(EncodeError::new(out.len(), "bytes"));
            }
        }
        Ok(out.into())
    }

    /// An entry from its encoding. Never panics: bytes that are not a
    /// whole, valid version-1 entry of at most [`MAX_ENCODED_LEN`] bytes
    /// give a [`DecodeError`] saying what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<CacheEntry, DecodeError> {
        if bytes.len() > MAX_ENCODED_LEN {
            return Err(DecodeError::new(DecodeErrorKind::Oversized, 0));
        }
        let mut r = Reader::new(bytes);
        if r.take(4)? != MAGIC {
            return Err(DecodeError::new(DecodeErrorKind::BadMagic, 0));
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::new(DecodeErrorKind::UnknownVersion, 4));
        }
        let retain_for = r.duration()?;
        let count = usize::from(r.u16()?);
        if count > MAX_VARIANTS {
            return Err(r.error(DecodeErrorKind::Oversized));
        }
        let mut variants = Vec::new();
        for _ in 0..count {
            variants.push(read_variant(&mut r)?);
        }
        if !r.at_end() {
            return Err(r.error(DecodeErrorKind::TrailingBytes));
        }
        Ok(CacheEntry::new(variants, retain_for))
    }
}

fn put_variant(out: &mut Vec<u8>, v: &StoredResponse) -> Result<(), EncodeError> {
    out.put_u16(v.status.as_u16());
    out.put_u8(match v.version {
        Version::HTTP_09 => 0,
        Version::HTTP_10 => 1,
        Version::HTTP_2 => 3,
        Version::HTTP_3 => 4,
        _ => 2,
    });
    put_time(out, v.response_time);
    put_headers(out, &v.headers)?;
    put_bytes(out, &v.body)?;
    match &v.vary {
        Vary::Star => out.put_u8(1),
        Vary::Headers(selected) => {
            out.put_u8(0);
            let count = u16::try_from(selected.len())
                .map_err(|_| EncodeError::new(selected.len(), "vary headers"))?;
            out.put_u16(count);
            for s in selected.iter() {
                match s {
                    Selected::Value(name, None) => {
                        out.put_u8(0);
                        put_bytes(out, name.as_str().as_bytes())?;
                    }
                    Selected::Value(name, Some(value)) => {
                        out.put_u8(1);
                        put_bytes(out, name.as_str().as_bytes())?;
                        put_bytes(out, value)?;
                    }
                    Selected::Keyed(name) => {
                        out.put_u8(2);
                        put_bytes(out, name.as_str().as_bytes())?;
                    }
                }
            }
        }
    }
    let inputs = &v.inputs;
    put_bytes(out, inputs.method.as_str().as_bytes())?;
    put_bytes(out, inputs.uri.to_string().as_bytes())?;
    put_headers(out, &inputs.headers)?;
    let options = &inputs.options;
    out.put_u8(u8::from(options.shared) | (u8::from(options.ignore_cargo_cult) << 1));
    out.put_u32(options.cache_heuristic.to_bits());
    put_duration(out, options.immutable_min_time_to_live);
    out.put_u64(inputs.ttl_override.unwrap_or(0));
    Ok(())
}

fn read_variant(r: &mut Reader<'_>) -> Result<StoredResponse, DecodeError> {
    let status =
        StatusCode::from_u16(r.u16()?).map_err(|_| r.error(DecodeErrorKind::InvalidStatus))?;
    let version = match r.u8()? {
        0 => Version::HTTP_09,
        1 => Version::HTTP_10,
        2 => Version::HTTP_11,
        3 => Version::HTTP_2,
        4 => Version::HTTP_3,
        _ => return Err(r.error(DecodeErrorKind::InvalidField)),
    };
    let response_time = r.time()?;
    let headers = r.headers()?;
    let body = Bytes::copy_from_slice(r.bytes()?);
    let vary = match r.u8()? {
        1 => Vary::Star,
        0 => {
            let count = r.u16()?;
            let mut selected = Vec::new();
            for _ in 0..count {
                let kind = r.u8()?;
                let name = r.name()?;
                selected.push(match kind {
                    0 => Selected::Value(name, None),
                    1 => Selected::Value(name, Some(r.bytes()?.into())),
                    2 => Selected::Keyed(name),
                    _ => return Err(r.error(DecodeErrorKind::InvalidField)),
                });
            }
            Vary::Headers(selected.into())
        }
        _ => return Err(r.error(DecodeErrorKind::InvalidField)),
    };
    let method =
        Method::from_bytes(r.bytes()?).map_err(|_| r.error(DecodeErrorKind::InvalidMethod))?;
    let uri = Uri::try_from(r.bytes()?).map_err(|_| r.error(DecodeErrorKind::InvalidUri))?;
    let policy_headers = r.headers()?;
    let flags = r.u8()?;
    if flags & !0b11 != 0 {
        return Err(r.error(DecodeErrorKind::InvalidField));
    }
    let cache_heuristic = f32::from_bits(r.u32()?);
    // NaN fails the range check too.
    if !(0.0..=1.0).contains(&cache_heuristic) {
        return Err(r.error(DecodeErrorKind::InvalidField));
    }
    let immutable_min_time_to_live = r.duration()?;
    if immutable_min_time_to_live > Duration::from_secs(MAX_DELTA_SECONDS) {
        return Err(r.error(DecodeErrorKind::InvalidField));
    }
    let ttl_override = match r.u64()? {
        0 => None,
        secs => Some(secs),
    };
    let inputs = PolicyInputs {
        method,
        uri,
        headers: policy_headers,
        ttl_override,
        options: CacheOptions {
            shared: flags & 1 != 0,
            cache_heuristic,
            immutable_min_time_to_live,
            ignore_cargo_cult: flags & 2 != 0,
        },
    };
    Ok(StoredResponse::assemble(
        status,
        version,
        headers,
        body,
        vary,
        Arc::new(inputs),
        response_time,
    ))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EncodeError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|len| (*len as usize) <= MAX_ENCODED_LEN)
        .ok_or_else(|| EncodeError::new(bytes.len(), "bytes"))?;
    out.put_u32(len);
    out.put_slice(bytes);
    Ok(())
}

fn put_headers(out: &mut Vec<u8>, headers: &HeaderMap) -> Result<(), EncodeError> {
    // A `HeaderMap` holds at most 32 768 fields: this cannot fail.
    let count =
        u32::try_from(headers.len()).map_err(|_| EncodeError::new(headers.len(), "headers"))?;
    out.put_u32(count);
    for (name, value) in headers {
        out.put_u8(u8::from(value.is_sensitive()));
        put_bytes(out, name.as_str().as_bytes())?;
        put_bytes(out, value.as_bytes())?;
    }
    Ok(())
}

fn put_duration(out: &mut Vec<u8>, d: Duration) {
    out.put_u64(d.as_secs());
    out.put_u32(d.subsec_nanos());
}

fn put_time(out: &mut Vec<u8>, t: SystemTime) {
    let (secs, nanos) = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(before) => {
            let d = before.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => (-secs, 0),
                n => (-secs - 1, 1_000_000_000 - n),
            }
        }
    };
    out.put_i64(secs);
    out.put_u32(nanos);
}
