//! The [`Signer`] trait, the [`Payload`] a signer sees, and the
//! [`SignableBody`] bound of the layer.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use girder_core::{Body, SigningError};
use http::request::Parts;

/// Signs one request.
///
/// The layer calls [`sign`](Signer::sign) once per attempt, with the
/// request's head (to read and to add headers to), its payload and the
/// time of signing. A signer adds its headers (or query parameters) to
/// `parts` and returns; it never sends anything.
///
/// Signing is synchronous: the keys of the schemes here are local, and
/// hashing 1 KiB with HMAC or Ed25519 costs a few microseconds, less than
/// a boxed future would. A signer whose key lives in a remote KMS belongs
/// in a layer that can wait (like the auth layer's token source), not here.
///
/// The trait is object-safe: `Box<dyn Signer>` and `Arc<dyn Signer>` are
/// signers too.
///
/// ```
/// use std::time::SystemTime;
/// use girder_sign::{Payload, Signer, SigningError};
///
/// /// Puts a fixed token in a header: the smallest possible signer.
/// struct Fixed;
///
/// impl Signer for Fixed {
///     fn scheme(&self) -> &'static str {
///         "fixed"
///     }
///     fn sign(
///         &self,
///         parts: &mut http::request::Parts,
///         _payload: Payload<'_>,
///         _now: SystemTime,
///     ) -> Result<(), SigningError> {
///         parts.headers.insert("x-token", http::HeaderValue::from_static("t"));
///         Ok(())
///     }
/// }
/// let (mut parts, ()) = http::Request::new(()).into_parts();
/// Fixed.sign(&mut parts, Payload::Bytes(b""), SystemTime::UNIX_EPOCH).unwrap();
/// assert_eq!(parts.headers["x-token"], "t");
/// ```
pub trait Signer: Send + Sync + 'static {
    /// The scheme's name, for the call record and traces (`"hmac"`,
    /// `"rfc9421"`, `"sigv4"`).
    fn scheme(&self) -> &'static str;

    /// Signs the request whose head is `parts` and whose body is
    /// `payload`, at `now`.
    fn sign(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<(), SigningError>;
}

impl<T: Signer + ?Sized> Signer for Box<T> {
    fn scheme(&self) -> &'static str {
        (**self).scheme()
    }
    fn sign(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<(), SigningError> {
        (**self).sign(parts, payload, now)
    }
}

impl<T: Signer + ?Sized> Signer for Arc<T> {
    fn scheme(&self) -> &'static str {
        (**self).scheme()
    }
    fn sign(
        &self,
        parts: &mut Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<(), SigningError> {
        (**self).sign(parts, payload, now)
    }
}

/// What a signer sees of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The whole body, buffered.
    Bytes(&'a [u8]),
    /// A streamed body, whose bytes are not known before sending. Schemes
    /// that hash the body fail with
    /// [`SigningErrorKind::StreamingBody`](girder_core::SigningErrorKind::StreamingBody)
    /// unless told to leave the payload unsigned.
    Streaming,
}

impl<'a> Payload<'a> {
    /// The bytes, or `None` for a stream.
    pub fn bytes(self) -> Option<&'a [u8]> {
        match self {
            Payload::Bytes(bytes) => Some(bytes),
            Payload::Streaming => None,
        }
    }
}

/// A request body whose bytes a signer can see: the layer's body bound.
///
/// Implemented for [`girder_core::Body`] (buffered bodies show their bytes
/// at no cost; streamed ones are [`Payload::Streaming`]), [`Bytes`],
/// `String`, `Vec<u8>`, `&'static str`, `&'static [u8]` and `()`.
/// `http_body_util::Full` hides its bytes; wrap it in a `Body` (which
/// unwraps a `Full` into a buffered body).
pub trait SignableBody: Sized {
    /// The body as the signer sees it.
    fn payload(&self) -> Payload<'_>;

    /// A copy to send again after a clock-skew rejection, or `None` for a
    /// stream (see [`SkewPolicy`](crate::SkewPolicy)).
    fn try_replay(&self) -> Option<Self>;
}

impl SignableBody for Body {
    fn payload(&self) -> Payload<'_> {
        match self.as_bytes() {
            Some(bytes) => Payload::Bytes(bytes),
            None => Payload::Streaming,
        }
    }
    fn try_replay(&self) -> Option<Self> {
        girder_core::ReplayBody::try_replay(self)
    }
}

impl SignableBody for Bytes {
    fn payload(&self) -> Payload<'_> {
        Payload::Bytes(self)
    }
    fn try_replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl SignableBody for String {
    fn payload(&self) -> Payload<'_> {
        Payload::Bytes(self.as_bytes())
    }
    fn try_replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl SignableBody for Vec<u8> {
    fn payload(&self) -> Payload<'_> {
        Payload::Bytes(self)
    }
    fn try_replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl SignableBody for &'static str {
    fn payload(&self) -> Payload<'_> {
        Payload::Bytes(self.as_bytes())
    }
    fn try_replay(&self) -> Option<Self> {
        Some(*self)
    }
}

impl SignableBody for &'static [u8] {
    fn payload(&self) -> Payload<'_> {
        Payload::Bytes(self)
    }
    fn try_replay(&self) -> Option<Self> {
        Some(*self)
    }
}

impl SignableBody for () {
    fn payload(&self) -> Payload<'_> {
        Payload::Bytes(&[])
    }
    fn try_replay(&self) -> Option<Self> {
        Some(())
    }
}

/// A fresh unpredictable nonce, 32 hex characters: the first 16 bytes of
/// SHA-256(process key || counter). The 32-byte process key comes from the
/// operating system once; the counter makes every nonce of the process
/// distinct. One hash (about a quarter of a microsecond) instead of a
/// system call per request. Without an entropy source signing fails
/// rather than send a guessable nonce.
#[cfg(all(test, any(feature = "hmac", feature = "rfc9421")))]
pub(crate) fn nonce(scheme: &'static str) -> Result<String, SigningError> {
    let hex = nonce_hex(scheme)?;
    Ok(std::str::from_utf8(&hex)
        .expect("hex digits are ASCII")
        .to_owned())
}

/// [`nonce`], as ASCII hex digits on the stack.
#[cfg(any(feature = "hmac", feature = "rfc9421"))]
pub(crate) fn nonce_hex(scheme: &'static str) -> Result<[u8; 32], SigningError> {
    use sha2::{Digest, Sha256};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static KEY: OnceLock<Option<[u8; 32]>> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let key = KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).ok().map(|()| key)
    });
    let Some(key) = key else {
        return Err(
            SigningError::new(girder_core::SigningErrorKind::Key, scheme)
                .with_detail("no entropy source for a nonce"),
        );
    };
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hash = Sha256::new();
    hash.update(key);
    hash.update(count.to_le_bytes());
    let mut out = [0u8; 32];
    crate::encode::hex_into(&hash.finalize()[..16], &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _obj_safe(_: &dyn Signer) {}

    #[test]
    fn bodies_show_their_bytes_and_streams_do_not() {
        assert_eq!(Body::from("abc").payload(), Payload::Bytes(b"abc"));
        assert_eq!(().payload().bytes(), Some(&b""[..]));
        let stream = Body::new(http_body_util::StreamBody::new(futures_empty()));
        assert_eq!(stream.payload(), Payload::Streaming);
        assert_eq!(stream.payload().bytes(), None);
    }

    fn futures_empty()
    -> impl futures_core::Stream<Item = Result<http_body::Frame<Bytes>, std::io::Error>> + Send + 'static
    {
        struct Empty;
        impl futures_core::Stream for Empty {
            type Item = Result<http_body::Frame<Bytes>, std::io::Error>;
            fn poll_next(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Self::Item>> {
                std::task::Poll::Ready(None)
            }
        }
        Empty
    }

    #[cfg(any(feature = "hmac", feature = "rfc9421"))]
    #[test]
    fn nonces_differ() {
        let a = nonce("test").unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, nonce("test").unwrap());
    }
}
