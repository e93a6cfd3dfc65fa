//! Following redirects without leaking credentials.
//!
//! The client follows redirects above auth and signing (see
//! [`ClientBuilder::build_with_transport`](crate::ClientBuilder::build_with_transport)),
//! so every hop is authorised and signed anew for its own URL, and
//! credentials are scoped to origins: a hop that left the call's first
//! origin is marked [`CrossOriginHop`] and auth and signing add nothing to it.

use girder_core::origin::{CrossOriginHop, Origin};
use girder_core::record::Event;
use girder_core::secrets::SecretValues;
use girder_core::{Body, CallRecord, Deadline};
use girder_core::{BoxError, ReplayBody};
use http::header::{self, HeaderName};
use http::uri::Scheme;
use http::{Extensions, Request};
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
/// HTTP, never to a URL with userinfo, and once a hop leaves the first
/// request's origin, that hop and every later one lose their credentials
/// (the headers above, and every header marked sensitive, such as
/// [`ClientBuilder::secret_header`](crate::ClientBuilder::secret_header)'s)
/// and carry [`CrossOriginHop`]. 307 / 308 resend the body when it is
/// buffered; a streamed body stops at the redirect.
#[derive(Debug, Clone)]
pub(crate) struct Redirects {
    remaining: usize,
    state: Option<Call>,
}

/// What the policy keeps of the call's first request.
#[derive(Debug, Clone)]
struct Call {
    origin: Option<Origin>,
    /// Set once a hop left the origin; later hops stay stripped even when
    /// they come back (the foreign origin chose where they go).
    left: bool,
    /// The status of the redirect being followed.
    status: u16,
    carried: Carried,
}

/// The request extensions the layers below redirects read, carried to
/// every hop.
// NOTE: tower-http's FollowRedirect builds each hop as a new request
// without the first request's extensions (they are not all `Clone`), so
// the call record, the deadline and the secrets registry would be lost
// on a hop; auth and signing (below this layer) read exactly these.
#[derive(Debug, Clone, Default)]
struct Carried {
    record: Option<CallRecord>,
    deadline: Option<Deadline>,
    secrets: Option<SecretValues>,
}

impl Carried {
    fn take(extensions: &Extensions) -> Self {
        Carried {
            record: extensions.get::<CallRecord>().cloned(),
            deadline: extensions.get::<Deadline>().copied(),
            secrets: extensions.get::<SecretValues>().cloned(),
        }
    }

    fn put(&self, extensions: &mut Extensions) {
        if let Some(record) = &self.record {
            extensions.insert(record.clone());
        }
        if let Some(deadline) = self.deadline {
            extensions.insert(deadline);
        }
        if let Some(secrets) = &self.secrets {
            extensions.insert(secrets.clone());
        }
    }
}

impl Redirects {
    pub(crate) fn new(max: usize) -> Self {
        Redirects {
            remaining: max,
            state: None,
        }
    }
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
        if attempt
            .location()
            .authority()
            .is_some_and(|a| a.as_str().contains('@'))
        {
            return Ok(Action::Stop);
        }
        if let Some(call) = &mut self.state {
            call.status = attempt.status().as_u16();
        }
        self.remaining -= 1;
        Ok(Action::Follow)
    }

    fn on_request(&mut self, request: &mut Request<Body>) {
        let Some(call) = &mut self.state else {
            self.state = Some(Call {
                origin: Origin::of(request.uri()),
                left: false,
                status: 0,
                carried: Carried::take(request.extensions()),
            });
            return;
        };
        call.carried.put(request.extensions_mut());
        let home = call
            .origin
            .as_ref()
            .is_some_and(|origin| origin.matches(request.uri()));
        call.left |= !home;
        if call.left {
            strip_credentials(request);
            request.extensions_mut().insert(CrossOriginHop);
        }
        CallRecord::note(request.extensions(), "redirect", || Event::Redirected {
            status: call.status,
            cross_origin: call.left,
        });
    }

    fn clone_body(&self, body: &Body) -> Option<Body> {
        body.try_replay()
    }
}

fn strip_credentials(request: &mut Request<Body>) {
    let headers = request.headers_mut();
    for name in &CREDENTIALS {
        headers.remove(name);
    }
    let sensitive: Vec<HeaderName> = headers
        .iter()
        .filter(|(_, v)| v.is_sensitive())
        .map(|(n, _)| n.clone())
        .collect();
    for name in sensitive {
        headers.remove(name);
    }
}
