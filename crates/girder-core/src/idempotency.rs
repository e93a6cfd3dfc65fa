//! Whether a request is safe to send more than once.
//!
//! In order of precedence:
//!
//! 1. an explicit [`Idempotency`] in the request extensions;
//! 2. an `Idempotency-Key` header, which asks the server to deduplicate;
//! 3. the method: GET, HEAD, OPTIONS, TRACE, PUT and DELETE are idempotent
//!    (RFC 9110, section 9.2.2); POST, PATCH, CONNECT and extension methods
//!    are not.
//!
//! ```
//! use girder_core::Idempotency;
//!
//! let get = http::Request::get("/").body(()).unwrap();
//! assert!(Idempotency::of(&get).is_idempotent());
//!
//! let post = http::Request::post("/").body(()).unwrap();
//! assert!(!Idempotency::of(&post).is_idempotent());
//!
//! let keyed = http::Request::post("/").header("idempotency-key", "k1").body(()).unwrap();
//! assert!(Idempotency::of(&keyed).is_idempotent());
//!
//! let mut forced = http::Request::post("/").body(()).unwrap();
//! forced.extensions_mut().insert(Idempotency::Idempotent);
//! assert!(Idempotency::of(&forced).is_idempotent());
//! ```

use http::{HeaderName, Method, Request};

/// The `Idempotency-Key` header field.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Whether a request may be sent more than once. Also a request extension
/// that overrides the method-based default either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Idempotency {
    /// Sending the request twice has the same effect as sending it once.
    Idempotent,
    /// Sending the request twice may have a second effect.
    NotIdempotent,
}

impl Idempotency {
    /// The idempotency of `request`; see the [module docs](self).
    pub fn of<B>(request: &Request<B>) -> Idempotency {
        if let Some(explicit) = request.extensions().get::<Idempotency>() {
            return *explicit;
        }
        if request.headers().contains_key(IDEMPOTENCY_KEY) {
            return Idempotency::Idempotent;
        }
        Self::of_method(request.method())
    }

    /// The idempotency RFC 9110 gives `method`.
    pub fn of_method(method: &Method) -> Idempotency {
        match *method {
            Method::GET
            | Method::HEAD
            | Method::OPTIONS
            | Method::TRACE
            | Method::PUT
            | Method::DELETE => Idempotency::Idempotent,
            _ => Idempotency::NotIdempotent,
        }
    }

    /// `true` for [`Idempotency::Idempotent`].
    pub fn is_idempotent(self) -> bool {
        self == Idempotency::Idempotent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(method: &str) -> Idempotency {
        Idempotency::of(&Request::builder().method(method).body(()).unwrap())
    }

    #[test]
    fn methods_follow_rfc_9110() {
        for m in ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"] {
            assert!(of(m).is_idempotent(), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT", "PURGE"] {
            assert!(!of(m).is_idempotent(), "{m}");
        }
    }

    #[test]
    fn the_extension_overrides_method_and_header() {
        let mut req = Request::get("/")
            .header(IDEMPOTENCY_KEY, "k")
            .body(())
            .unwrap();
        req.extensions_mut().insert(Idempotency::NotIdempotent);
        assert_eq!(Idempotency::of(&req), Idempotency::NotIdempotent);
    }

    #[test]
    fn an_idempotency_key_makes_post_safe() {
        let req = Request::patch("/")
            .header("Idempotency-Key", "abc")
            .body(())
            .unwrap();
        assert!(Idempotency::of(&req).is_idempotent());
    }
}
