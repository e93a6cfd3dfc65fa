//! [`ProxyError`]: the proxy could not be reached, or refused or failed a
//! tunnel.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use girder_core::BoxError;
use http::StatusCode;

use super::Proxy;

/// A proxy failed a connection: it could not be reached, or it refused or
/// could not open the `CONNECT` tunnel to the destination. Its `Display`
/// names the proxy (its URL without credentials) and what it answered; see
/// [the module docs](super#when-the-proxy-fails) for how each is
/// classified.
///
/// ```
/// # async fn run(client: girder::Client) {
/// use girder::{Kind, proxy::ProxyError};
/// use std::error::Error as _;
///
/// if let Err(error) = client.get("items").send().await {
///     if error.kind() == Kind::Proxy {
///         let refusal = error.source().and_then(|e| e.downcast_ref::<ProxyError>());
///         eprintln!("{:?}", refusal.map(ProxyError::proxy)); // e.g. "http://proxy.corp:3128"
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct ProxyError {
    proxy: String,
    what: What,
    source: Option<BoxError>,
}

#[derive(Debug, Clone)]
enum What {
    /// The TCP connect to the proxy failed.
    Unreachable,
    /// A 4xx (or other non-2xx, non-5xx) answer to CONNECT.
    Refused { target: String, status: StatusCode },
    /// A 5xx answer to CONNECT: the proxy could not reach the destination.
    Failed { target: String, status: StatusCode },
    /// No answer in time, the connection closed, or not HTTP.
    NoAnswer { target: String, why: NoAnswer },
}

#[derive(Debug, Clone, Copy)]
pub(super) enum NoAnswer {
    Timeout(Duration),
    Closed,
    NotHttp,
    TooLong,
}

impl ProxyError {
    pub(super) fn unreachable(proxy: &Proxy, source: impl Into<BoxError>) -> Self {
        ProxyError {
            proxy: proxy.url(),
            what: What::Unreachable,
            source: Some(source.into()),
        }
    }

    /// The answer `status` to `CONNECT target`, not a success.
    pub(super) fn answered(proxy: &Proxy, target: &str, status: StatusCode) -> Self {
        let target = target.to_owned();
        let what = if status.is_server_error() {
            What::Failed { target, status }
        } else {
            What::Refused { target, status }
        };
        ProxyError {
            proxy: proxy.url(),
            what,
            source: None,
        }
    }

    pub(super) fn no_answer(
        proxy: &Proxy,
        target: &str,
        why: NoAnswer,
        source: Option<BoxError>,
    ) -> Self {
        ProxyError {
            proxy: proxy.url(),
            what: What::NoAnswer {
                target: target.to_owned(),
                why,
            },
            source,
        }
    }

    /// The proxy's URL, without credentials: `http://host:port`.
    pub fn proxy(&self) -> &str {
        &self.proxy
    }

    /// The proxy's answer to `CONNECT`, when it answered one.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.what {
            What::Refused { status, .. } | What::Failed { status, .. } => Some(*status),
            What::Unreachable | What::NoAnswer { .. } => None,
        }
    }

    /// Whether the proxy refused the tunnel: the next attempt would meet
    /// the same answer.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self.what, What::Refused { .. })
    }

    /// A refusal found in `error`'s `source()` chain, copied out of it.
    ///
    /// hyper-util reports every connector failure as a connect error, which
    /// the classifier retries; the transport returns a refusal bare instead
    /// (it has no source to lose), so that nothing retries it.
    pub(crate) fn refusal_in(error: &(dyn Error + 'static)) -> Option<ProxyError> {
        let mut next = Some(error);
        while let Some(err) = next {
            if let Some(found) = err.downcast_ref::<ProxyError>()
                && found.is_refusal()
            {
                return Some(ProxyError {
                    proxy: found.proxy.clone(),
                    what: found.what.clone(),
                    source: None,
                });
            }
            next = err.source();
        }
        None
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proxy = &self.proxy;
        match &self.what {
            What::Unreachable => write!(f, "cannot connect to the proxy {proxy}"),
            What::Refused { target, status } => {
                write!(
                    f,
                    "the proxy {proxy} refused a tunnel to {target}: {status}"
                )?;
                if matches!(status.as_u16(), 401 | 407) {
                    f.write_str(" (the proxy credentials are missing or wrong)")?;
                }
                Ok(())
            }
            What::Failed { target, status } => write!(
                f,
                "the proxy {proxy} could not open a tunnel to {target}: {status}"
            ),
            What::NoAnswer { target, why } => match why {
                NoAnswer::Timeout(after) => write!(
                    f,
                    "the proxy {proxy} did not answer CONNECT {target} within {after:?}"
                ),
                NoAnswer::Closed => write!(
                    f,
                    "the proxy {proxy} closed the connection before answering CONNECT {target}"
                ),
                NoAnswer::NotHttp => write!(
                    f,
                    "the proxy {proxy} answered CONNECT {target} with something other than HTTP/1"
                ),
                NoAnswer::TooLong => write!(
                    f,
                    "the proxy {proxy} answered CONNECT {target} with a head over 8 KiB"
                ),
            },
        }
    }
}

impl Error for ProxyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn Error + 'static))
    }
}
