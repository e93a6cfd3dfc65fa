//! When a stored response may be served: fresh for this request, stale
//! while it is revalidated, stale because the server failed or cannot be
//! reached; and so how long an entry stays useful.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Request};
use http_cache_semantics::BeforeRequest;

use crate::directives::{self, Directives};
use crate::entry::StoredResponse;
use crate::service::Shared;

impl<St> Shared<St> {
    /// Whether `stored` may answer `request` without asking the server.
    pub(crate) fn is_fresh_for<B>(
        &self,
        stored: &StoredResponse,
        request: &Request<B>,
        now: SystemTime,
    ) -> bool {
        if !directives::in_request(request.headers()) {
            return stored.is_fresh(now);
        }
        // Request directives (max-age, min-fresh, max-stale, no-cache):
        // the policy's exact rules, on the request as the policy was built
        // from it (nominated headers normalised, credentials out), so
        // that the variant `Vary` selected is not refused over whitespace.
        // The URI is the key's, as the policy's: the key matched already.
        let mut normalised = Request::new(());
        *normalised.method_mut() = request.method().clone();
        *normalised.uri_mut() = stored.inputs.uri.clone();
        *normalised.headers_mut() = stored.vary.normalise_request(request.headers());
        matches!(
            stored.policy.before_request(&normalised, now),
            BeforeRequest::Fresh(_)
        )
    }

    pub(crate) fn may_serve_while_revalidating<B>(
        &self,
        stored: &StoredResponse,
        request: &Request<B>,
        now: SystemTime,
    ) -> bool {
        if stored.directives.forbids_stale || directives::in_request(request.headers()) {
            return false;
        }
        let window = stored
            .directives
            .stale_while_revalidate
            .or(self.config.stale_while_revalidate);
        window.is_some_and(|w| stored.staleness(now) <= w)
    }

    pub(crate) fn may_serve_if_error(
        &self,
        stored: &StoredResponse,
        request: &HeaderMap,
        now: SystemTime,
    ) -> bool {
        if stored.directives.forbids_stale {
            return false;
        }
        let window = Directives::of(request)
            .stale_if_error
            .or(stored.directives.stale_if_error)
            .or(self.config.stale_if_error);
        window.is_some_and(|w| stored.staleness(now) <= w)
    }

    /// RFC 9111 §4.2.4: a cache that cannot reach the server may serve a
    /// stale response the server did not forbid it to serve, for
    /// [`stale_if_unreachable`](crate::CacheConfigBuilder::stale_if_unreachable).
    /// Refusals of girder's own and the call's deadline are not "cannot
    /// reach": they keep to `stale-if-error`.
    pub(crate) fn may_serve_if_unreachable(
        &self,
        stored: &StoredResponse,
        error: &(dyn std::error::Error + 'static),
        now: SystemTime,
    ) -> bool {
        use girder_core::ErrorKind;
        let window = self.config.stale_if_unreachable;
        !stored.directives.forbids_stale
            && !window.is_zero()
            && stored.staleness(now) <= window
            && matches!(
                ErrorKind::of(error),
                ErrorKind::Connect
                    | ErrorKind::Transport
                    | ErrorKind::Timeout
                    | ErrorKind::Protocol
                    | ErrorKind::Other
            )
    }

    /// How long an entry stays useful.
    pub(crate) fn retain_for(&self, variants: &[StoredResponse], now: SystemTime) -> Duration {
        variants
            .iter()
            .map(|v| {
                let fresh = v.fresh_until.duration_since(now).unwrap_or_default();
                let d = v.directives;
                let stale = [
                    d.stale_while_revalidate
                        .or(self.config.stale_while_revalidate),
                    d.stale_if_error.or(self.config.stale_if_error),
                    v.has_validator().then_some(self.config.keep_stale_for),
                    (!d.forbids_stale).then_some(self.config.stale_if_unreachable),
                ]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or_default();
                fresh.saturating_add(stale)
            })
            .max()
            .unwrap_or_default()
    }
}
