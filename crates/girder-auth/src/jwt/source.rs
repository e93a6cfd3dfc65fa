//! [`JwtSource`]: JSON Web Tokens this client signs itself.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use girder_core::WallClock;
use serde_json::{Map, Value};

use super::jws::Compact;
use super::key::SigningKey;
use super::{Algorithm, EncodingKey};
use crate::source::{CredentialSource, FetchFuture};
use crate::{AuthError, AuthErrorKind, Credential, InvalidAuthConfig};

/// Self-minted JWTs (RFC 7519), sent as `Authorization: Bearer <jwt>`:
/// for APIs that take a token signed with a key they know (GitHub Apps,
/// Apple, service accounts, internal services).
///
/// Each token carries `iat` (now) and `exp` (now + lifetime) from a
/// [`WallClock`], so tests with paused time see exact values, plus the
/// `iss`, `sub`, `aud` and custom claims configured. Signing runs on
/// `ring`: `HS256/384/512` with [`EncodingKey::from_secret`] (at least 32,
/// 48 or 64 bytes), `RS*`/`PS*` with [`EncodingKey::from_rsa_der`]
/// (PKCS#1 or PKCS#8), `ES256/384` with [`EncodingKey::from_ec_der`]
/// (PKCS#8), `EdDSA` with [`EncodingKey::from_ed_der`] (PKCS#8). A new
/// token is minted when the current one nears its expiry (the layer's
/// skew) and after a 401.
///
/// The header is `{"typ":"JWT","alg":…}`, with `"kid"` when
/// [`key_id`](JwtSourceBuilder::key_id) is set.
///
/// ```
/// use std::time::Duration;
/// use girder_auth::jwt::{Algorithm, EncodingKey, JwtSource};
///
/// // HS256 takes a secret of at least 32 bytes (RFC 7518 section 3.2).
/// let secret = b"a-shared-secret-of-32-bytes-at-least";
/// let source = JwtSource::builder(Algorithm::HS256, EncodingKey::from_secret(secret))
///     .issuer("client-42")
///     .audience("https://api.test")
///     .claim("scope", "read write")
///     .lifetime(Duration::from_secs(600))
///     .build()?;
/// assert!(!format!("{source:?}").contains("shared-secret"));
/// # Ok::<_, girder_auth::InvalidAuthConfig>(())
/// ```
///
/// # Clone
///
/// Clones share the key and the claims.
///
/// # What it keeps in memory
///
/// The key as `ring` parsed it at build time (for HMAC, the hash states
/// after the key schedule, which sign like the secret); the
/// [`EncodingKey`]'s bytes are zeroed when its last clone is dropped.
/// `Debug` shows neither.
#[derive(Clone)]
pub struct JwtSource {
    inner: Arc<Minter>,
}

struct Minter {
    algorithm: Algorithm,
    key_id: Option<String>,
    compact: Compact,
    key: SigningKey,
    claims: Map<String, Value>,
    lifetime: Duration,
    clock: WallClock,
}

/// Builds a [`JwtSource`].
pub struct JwtSourceBuilder {
    algorithm: Algorithm,
    key: EncodingKey,
    key_id: Option<String>,
    claims: Map<String, Value>,
    lifetime: Duration,
    clock: Option<WallClock>,
}

impl JwtSource {
    /// Tokens signed with `algorithm` and `key`.
    pub fn builder(algorithm: Algorithm, key: EncodingKey) -> JwtSourceBuilder {
        JwtSourceBuilder {
            algorithm,
            key,
            key_id: None,
            claims: Map::new(),
            lifetime: Duration::from_secs(600),
            clock: None,
        }
    }

    fn mint(&self) -> Result<Credential, AuthError> {
        let minter = &self.inner;
        let now = minter.clock.unix_seconds();
        let mut claims = minter.claims.clone();
        claims.insert("iat".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(now + minter.lifetime.as_secs()));
        let token = minter.compact.encode(claims, &minter.key).map_err(|_| {
            AuthError::new(
                AuthErrorKind::Source,
                "could not sign the JWT: the system's random source failed",
            )
        })?;
        let credential = Credential::bearer(&token)
            .map_err(|e| AuthError::new(AuthErrorKind::Source, e.to_string()))?;
        Ok(credential.expires_in(minter.lifetime))
    }
}

impl JwtSourceBuilder {
    /// The `iss` claim. Default: none.
    pub fn issuer(self, issuer: &str) -> Self {
        self.claim("iss", issuer)
    }

    /// The `sub` claim. Default: none.
    pub fn subject(self, subject: &str) -> Self {
        self.claim("sub", subject)
    }

    /// The `aud` claim. Default: none.
    pub fn audience(self, audience: &str) -> Self {
        self.claim("aud", audience)
    }

    /// A claim of your own (`iat` and `exp` are always set by the source
    /// and cannot be overridden). Default: none.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// The `kid` header. Default: none.
    pub fn key_id(mut self, kid: &str) -> Self {
        self.key_id = Some(kid.to_owned());
        self
    }

    /// How long each token is valid (`exp - iat`), whole seconds, at least
    /// one. Default: 10 minutes.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The clock for `iat` and `exp`. Default: [`WallClock::system`], read
    /// when the source is built.
    pub fn clock(mut self, clock: WallClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The source. Parses the key and signs one token with it: a key of
    /// the wrong kind for the algorithm, or malformed, is refused here
    /// (see [`EncodingKey`]'s constructors for the formats); so is an
    /// HMAC secret that is empty or shorter than the hash output (32, 48
    /// and 64 bytes for HS256, HS384 and HS512: RFC 7518 section 3.2).
    pub fn build(mut self) -> Result<JwtSource, InvalidAuthConfig> {
        if self.lifetime.as_secs() == 0 {
            return Err(InvalidAuthConfig::new(
                "a JWT lifetime must be at least 1 s",
            ));
        }
        let key = SigningKey::new(self.algorithm, &self.key)?;
        self.claims.remove("iat");
        self.claims.remove("exp");
        let source = JwtSource {
            inner: Arc::new(Minter {
                algorithm: self.algorithm,
                compact: Compact::new(self.algorithm, self.key_id.as_deref()),
                key_id: self.key_id,
                key,
                claims: self.claims,
                lifetime: Duration::from_secs(self.lifetime.as_secs()),
                clock: self.clock.unwrap_or_else(WallClock::system),
            }),
        };
        source
            .mint()
            .map_err(|e| InvalidAuthConfig::new(e.to_string()))?;
        Ok(source)
    }
}

impl CredentialSource for JwtSource {
    fn fetch(&self) -> FetchFuture {
        Box::pin(std::future::ready(self.mint()))
    }
}

impl fmt::Debug for JwtSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let minter = &self.inner;
        f.debug_struct("JwtSource")
            .field("algorithm", &minter.algorithm)
            .field("kid", &minter.key_id)
            .field("claims", &minter.claims.keys().collect::<Vec<_>>())
            .field("lifetime", &minter.lifetime)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for JwtSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSourceBuilder")
            .field("algorithm", &self.algorithm)
            .field("lifetime", &self.lifetime)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}
