//! Following redirects without leaking credentials.

use girder_core::Body;
use girder_core::{BoxError, ReplayBody};
use http::header::{self, HeaderName};
use http::uri::{Authority, Scheme};
use http::{Request, Uri};
use tower_http::follow_redirect::policy::{Action, Attempt, Policy};

/// Headers that carry credentials, dropped from a redirected request that
/// leaves the origin (besides any header marked sensitive).
const CREDENTIALS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
    HeaderName::from_static("x-api-key"),
];

/// The client's redirect policy: at most `max` hops, never from HTTPS to
/// HTTP, and credentials (the headers above, and every header marked
/// sensitive, such as [`ClientBuilder::secret_header`](crate::ClientBuilder::secret_header)'s)
/// stripped once a hop leaves the first request's origin. 307 / 308 resend
/// the body when it is buffered; a streamed body stops at the redirect.
#[derive(Debug, Clone)]
pub(crate) struct Redirects {
    remaining: usize,
    origin: Option<(Option<Scheme>, Option<Authority>)>,
}

impl Redirects {
    pub(crate) fn new(max: usize) -> Self {
        Redirects {
            remaining: max,
            origin: None,
        }
    }
}

fn origin_of(uri: &Uri) -> (Option<Scheme>, Option<Authority>) {
    (uri.scheme().cloned(), uri.authority().cloned())
}

impl Policy<Body, BoxError> for Redirects {
    fn redirect(&mut self, attempt: &Attempt<'_>) -> Result<Action, BoxError> {
        if self.remaining == 0 {
            return Ok(Action::Stop);
        }
        if attempt.previous().scheme() == Some(&Scheme::HTTPS)
            && attempt.location().scheme() != Some(&Scheme::HTTPS)
        {
            return Ok(Action::Stop);
        }
        self.remaining -= 1;
        Ok(Action::Follow)
    }

    fn on_request(&mut self, request: &mut Request<Body>) {
        let here = origin_of(request.uri());
        match &self.origin {
            None => self.origin = Some(here),
            Some(first) if *first != here => {
                for name in &CREDENTIALS {
                    request.headers_mut().remove(name);
                }
                let sensitive: Vec<HeaderName> = request
                    .headers()
                    .iter()
                    .filter(|(_, v)| v.is_sensitive())
                    .map(|(n, _)| n.clone())
                    .collect();
                for name in sensitive {
                    request.headers_mut().remove(name);
                }
            }
            Some(_) => {}
        }
    }

    fn clone_body(&self, body: &Body) -> Option<Body> {
        body.try_replay()
    }
}
