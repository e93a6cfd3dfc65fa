//! [`JwtSource`]: JSON Web Tokens this client signs itself.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use girder_core::WallClock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use super::{CredentialSource, FetchFuture};
use crate::{AuthError, AuthErrorKind, Credential, InvalidAuthConfig};

/// Self-minted JWTs (RFC 7519), sent as `Authorization: Bearer <jwt>`:
/// for APIs that take a token signed with a key they know (GitHub Apps,
/// Apple, service accounts, internal services).
///
/// Each token carries `iat` (now) and `exp` (now + lifetime) from a
/// [`WallClock`], so tests with paused time see exact values, plus the
/// `iss`, `sub`, `aud` and custom claims configured. Signing uses
/// `jsonwebtoken` over RustCrypto: `HS256/384/512` with
/// [`EncodingKey::from_secret`] (at least 32, 48 or 64 bytes), `RS*`/`PS*` with
/// [`EncodingKey::from_rsa_der`], `ES256/384` with
/// [`EncodingKey::from_ec_der`], `EdDSA` with
/// [`EncodingKey::from_ed_der`] (PKCS#8). A new token is minted when the
/// current one nears its expiry (the layer's skew) and after a 401.
///
/// ```
/// use std::time::Duration;
/// use girder_auth::JwtSource;
/// use jsonwebtoken::{Algorithm, EncodingKey};
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
#[derive(Clone)]
pub struct JwtSource {
    inner: Arc<Minter>,
}

struct Minter {
    header: Header,
    key: EncodingKey,
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
        let token = jsonwebtoken::encode(&minter.header, &claims, &minter.key).map_err(|e| {
            // jsonwebtoken's errors name the key's problem, not the key.
            AuthError::new(
                AuthErrorKind::Source,
                format!("could not sign the JWT: {e}"),
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

    /// The source. Signs one token to check the key: a key of the wrong
    /// family for the algorithm, or malformed, is refused here; so is an
    /// HMAC secret that is empty or shorter than the hash output (32, 48
    /// and 64 bytes for HS256, HS384 and HS512: RFC 7518 section 3.2).
    pub fn build(mut self) -> Result<JwtSource, InvalidAuthConfig> {
        if self.lifetime.as_secs() == 0 {
            return Err(InvalidAuthConfig::new(
                "a JWT lifetime must be at least 1 s",
            ));
        }
        if self.key.family() != self.algorithm.family() {
            return Err(InvalidAuthConfig::new(format!(
                "the key is not of the kind {:?} signs with",
                self.algorithm
            )));
        }
        check_hmac_key(self.algorithm, &self.key)?;
        self.claims.remove("iat");
        self.claims.remove("exp");
        let mut header = Header::new(self.algorithm);
        header.kid = self.key_id;
        let source = JwtSource {
            inner: Arc::new(Minter {
                header,
                key: self.key,
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

/// RFC 7518 section 3.2: "A key of the same size as the hash output (for
/// instance, 256 bits for "HS256") or larger MUST be used". A shorter
/// secret can be brute-forced from one token. The message names the
/// lengths, never the secret.
fn check_hmac_key(algorithm: Algorithm, key: &EncodingKey) -> Result<(), InvalidAuthConfig> {
    let needed = match algorithm {
        Algorithm::HS256 => 32,
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => return Ok(()),
    };
    let len = key.as_bytes().len();
    if len == 0 {
        return Err(InvalidAuthConfig::new(format!(
            "the HMAC secret for {algorithm:?} is empty"
        )));
    }
    if len < needed {
        return Err(InvalidAuthConfig::new(format!(
            "the HMAC secret for {algorithm:?} is {len} bytes; RFC 7518 section 3.2 requires \
             at least {needed} (the hash output size)"
        )));
    }
    Ok(())
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
            .field("algorithm", &minter.header.alg)
            .field("kid", &minter.header.kid)
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
