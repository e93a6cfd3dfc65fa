//! OAuth 2.0 (RFC 6749) token requests: the client credentials grant
//! (section 4.4) and the refresh token grant (section 6), with the token
//! response (5.1) and error response (5.2) parsed exactly.

mod client_credentials;
mod endpoint;
mod refresh;
mod response;
mod store;

pub use client_credentials::{ClientCredentials, ClientCredentialsBuilder};
pub use endpoint::ClientAuth;
pub use refresh::{RefreshToken, RefreshTokenBuilder};
pub use store::{MemoryTokenStore, TokenStore};
