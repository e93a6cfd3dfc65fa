//! Following redirects without leaking credentials: the [`Client`](crate::Client)'s
//! redirect layer (how many hops: [`ClientBuilder::redirects`](crate::ClientBuilder::redirects)),
//! and [`Redirected`], its entry in the call record.
//!
//! The client follows redirects above auth and signing (see
//! [`ClientBuilder::build_with_transport`](crate::ClientBuilder::build_with_transport)),
//! so every hop is authorised and signed anew for its own URL, and
//! credentials are scoped to origins: a hop that left the call's first
//! origin is marked [`CrossOriginHop`] and auth and signing add nothing to it.
//!
//! girder's own layer rather than tower-http's `FollowRedirect`: the two
//! follow the same rules (the method and body changes of RFC 9110 §15.4 as
//! browsers apply them), but tower-http's resolves `Location` with the
//! `url` crate, whose IDNA tables are about 25 crates; this one resolves
//! with `iri-string`, as pagination does. It also carries the extensions
//! the layers below read to every hop, which tower-http's drops.
//!
//! Each hop followed is a [`Redirected`] entry in the call's
//! [`CallRecord`], and a resend.

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use girder_core::origin::{CrossOriginHop, Origin};
use girder_core::secrets::SecretValues;
use girder_core::{Body, BoxError, CallRecord, Deadline, ReplayBody};
use http::header::{self, HeaderName};
use http::uri::Scheme;
use http::{Extensions, HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use pin_project_lite::pin_project;
use tower::Layer;
use tower_service::Service;

mod event;

pub use event::Redirected;

/// Headers that carry credentials, dropped from a redirected request that
/// leaves the origin (besides any header marked sensitive).
const CREDENTIALS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
    HeaderName::from_static("x-api-key"),
];

/// Headers that describe a body, dropped when a redirect turns the request
/// into a GET without one.
const PAYLOAD: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::TRANSFER_ENCODING,
];

/// A call met more redirects than the client follows: the error of the hop
/// after the last one allowed ([`Kind::Redirect`](crate::Kind::Redirect)).
/// A redirect that is not followed for another reason (to plain HTTP from
/// HTTPS, to a URL with userinfo, a `Location` that does not resolve, a
/// streamed body that cannot be sent again) is not an error: its response
/// is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManyRedirects {
    max: usize,
}

impl std::fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} redirects", self.max)
    }
}

impl std::error::Error for TooManyRedirects {}

/// The URI of the request that produced a response (the last hop's, after
/// redirects), in the response's extensions.
#[derive(Debug, Clone)]
pub(crate) struct RequestUri(pub(crate) Uri);

/// Follows up to `max` redirects: see [`FollowRedirects`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RedirectLayer {
    max: usize,
    call_head: bool,
}

impl RedirectLayer {
    pub(crate) fn new(max: usize) -> Self {
        RedirectLayer {
            max,
            call_head: false,
        }
    }

    /// Whether hops are built from the head kept in the call record
    /// ([`CallRecord::keep_head`]) rather than from a copy of their own:
    /// only when the stack above is the client's, whose retry layer keeps
    /// the head and whose layers between (breaker, rate limit) change no
    /// head. A request whose method or URI is not the kept head's is still
    /// copied.
    pub(crate) fn call_head(mut self, yes: bool) -> Self {
        self.call_head = yes;
        self
    }
}

impl<S> Layer<S> for RedirectLayer {
    type Service = FollowRedirects<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FollowRedirects {
            inner,
            max: self.max,
            call_head: self.call_head,
        }
    }
}

/// The client's redirects: at most `max` hops (one more is a
/// [`TooManyRedirects`] error, as in reqwest), never from HTTPS to HTTP,
/// never to a URL with userinfo, and once a hop leaves the first request's
/// origin, that hop and every later one lose their credentials (the
/// headers above, and every header marked sensitive, such as
/// [`ClientBuilder::secret_header`](crate::ClientBuilder::secret_header)'s)
/// and carry [`CrossOriginHop`]. 301 and 302 turn a POST into a GET
/// without a body, 303 anything but HEAD; 307 and 308 resend the method
/// and the body when it is buffered, and a streamed body stops at the
/// redirect (its response is returned). A `Location` that does not resolve
/// also ends the chain there.
#[derive(Debug, Clone)]
pub(crate) struct FollowRedirects<S> {
    inner: S,
    max: usize,
    call_head: bool,
}

impl<S> Service<Request<Body>> for FollowRedirects<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> ResponseFuture<S> {
        // The clone that was made ready takes the first hop (tower's idiom).
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        let hops = (self.max > 0).then(|| Hops::new(&request, self.max, self.call_head));
        let future = service.call(request);
        ResponseFuture {
            state: State::Calling { future },
            service,
            hops,
        }
    }
}

pin_project! {
    /// The future of [`FollowRedirects`]: the hop in flight, then, for a
    /// redirect that is followed, the service made ready for the next.
    /// A state machine rather than a boxed `async` block: the client boxes
    /// its whole stack's future once, and this one moves into that box.
    pub(crate) struct ResponseFuture<S: Service<Request<Body>>> {
        #[pin]
        state: State<S::Future>,
        service: S,
        // `None` when no redirect is followed (`max` 0).
        hops: Option<Hops>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] future: F },
        Readying { next: Option<Request<Body>> },
    }
}

impl<S> Future for ResponseFuture<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let mut response = ready!(future.poll(cx))?;
                    let Some(hops) = this.hops.as_mut() else {
                        return Poll::Ready(Ok(response));
                    };
                    if hops.remaining < hops.max {
                        // The last hop's URL: only a followed redirect
                        // changes it, so only then is it noted.
                        response
                            .extensions_mut()
                            .insert(RequestUri(hops.uri.clone()));
                    }
                    match hops.next(&response)? {
                        // The redirect's own body is dropped unread.
                        Some(next) => this.state.set(State::Readying { next: Some(next) }),
                        None => return Poll::Ready(Ok(response)),
                    }
                }
                StateProj::Readying { next } => {
                    ready!(this.service.poll_ready(cx))?;
                    let next = next.take().expect("a hop is made ready once");
                    let future = this.service.call(next);
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}

/// What a call keeps of its last request to make the next hop.
struct Hops {
    remaining: usize,
    max: usize,
    /// Set when a redirect that would be followed came after the last hop.
    spent: bool,
    method: Method,
    uri: Uri,
    version: Version,
    /// The current hop's headers; `None` until the first redirect while
    /// they are the call's head's, kept in its record.
    headers: Option<HeaderMap>,
    /// The body to send again; `None` when it was streamed.
    body: Option<Body>,
    /// The call's first origin, worked out at the first redirect.
    origin: OnceCell<Option<Origin>>,
    /// Set once a hop left the origin; later hops stay stripped even when
    /// they come back (the foreign origin chose where they go).
    left: bool,
    carried: Carried,
}

impl Hops {
    fn new(request: &Request<Body>, max: usize, call_head: bool) -> Self {
        let carried = Carried::take(request.extensions());
        let shared = call_head
            && carried
                .record
                .as_ref()
                .and_then(CallRecord::head)
                .is_some_and(|head| {
                    head.method() == request.method()
                        && head.uri() == request.uri()
                        && head.headers().len() == request.headers().len()
                });
        Hops {
            remaining: max,
            max,
            spent: false,
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: (!shared).then(|| request.headers().clone()),
            body: request.body().try_replay(),
            origin: OnceCell::new(),
            left: false,
            carried,
        }
    }

    /// The current hop's headers, copied from the call's head the first
    /// time they are needed.
    fn headers(&mut self) -> Option<&mut HeaderMap> {
        if self.headers.is_none() {
            let head = self.carried.record.as_ref().and_then(CallRecord::head)?;
            self.headers = Some(head.headers().clone());
        }
        self.headers.as_mut()
    }

    /// The request of the hop `response` redirects to, if it is followed;
    /// an error when it would be but the hops are spent.
    fn next(
        &mut self,
        response: &Response<Body>,
    ) -> Result<Option<Request<Body>>, TooManyRedirects> {
        let next = self.follow(response);
        if self.spent {
            return Err(TooManyRedirects { max: self.max });
        }
        Ok(next)
    }

    fn follow(&mut self, response: &Response<Body>) -> Option<Request<Body>> {
        let status = response.status();
        match status {
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => {
                if self.method == Method::POST {
                    self.method = Method::GET;
                    self.without_payload()?;
                }
            }
            StatusCode::SEE_OTHER => {
                if self.method != Method::HEAD {
                    self.method = Method::GET;
                }
                self.without_payload()?;
            }
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => {}
            _ => return None,
        }
        let body = self.body.as_ref()?.try_replay()?;
        // UTF-8, not only ASCII: servers send IRIs, encoded below.
        let location = response.headers().get(header::LOCATION)?.as_bytes();
        let location = std::str::from_utf8(location).ok()?;
        let location = crate::url::resolve_reference(&self.uri, location).ok()?;
        if self.uri.scheme() == Some(&Scheme::HTTPS) && location.scheme() != Some(&Scheme::HTTPS) {
            return None;
        }
        if location
            .authority()
            .is_some_and(|a| a.as_str().contains('@'))
        {
            return None;
        }
        // Checked last: only a redirect that would be followed is one too many.
        if self.remaining == 0 {
            self.spent = true;
            return None;
        }
        self.remaining -= 1;
        // Before the first hop, `self.uri` is still the first request's.
        let origin = self.origin.get_or_init(|| Origin::of(&self.uri));
        let home = origin
            .as_ref()
            .is_some_and(|origin| origin.matches(&location));
        self.uri = location;
        self.left |= !home;
        let left = self.left;
        let headers = self.headers()?;
        if left {
            // Stripped for this hop and every later one.
            strip_credentials(headers);
        }
        let headers = headers.clone();
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.headers_mut() = headers;
        self.carried.put(request.extensions_mut());
        if let Some(record) = &self.carried.record {
            // A new send after an answer: a new reading for the hop.
            record.mark_now();
        }
        if self.left {
            request.extensions_mut().insert(CrossOriginHop);
        }
        CallRecord::note(request.extensions(), "redirect", || Redirected {
            status: status.as_u16(),
            cross_origin: self.left,
        });
        Some(request)
    }

    fn without_payload(&mut self) -> Option<()> {
        self.body = Some(Body::empty());
        let headers = self.headers()?;
        for name in &PAYLOAD {
            headers.remove(name);
        }
        Some(())
    }
}

/// The request extensions the layers below redirects read (auth and
/// signing, the deadline, the record), carried to every hop.
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

/// Whether a header carries a credential: marked sensitive, or named as
/// one of [`CREDENTIALS`]. The client keeps such default headers to its
/// credential origins too (`Client::execute`).
pub(crate) fn carries_credential(name: &HeaderName, value: &http::HeaderValue) -> bool {
    value.is_sensitive() || CREDENTIALS.contains(name)
}

fn strip_credentials(headers: &mut HeaderMap) {
    let secret: Vec<HeaderName> = headers
        .iter()
        .filter(|(n, v)| carries_credential(n, v))
        .map(|(n, _)| n.clone())
        .collect();
    for name in secret {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::BodyExt;

    use super::*;

    fn request(method: Method, uri: &str, body: Body) -> Request<Body> {
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri.parse().unwrap();
        request
            .headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        let mut secret: http::HeaderValue = "s3cr3t".parse().unwrap();
        secret.set_sensitive(true);
        request.headers_mut().insert("x-token", secret);
        request
    }

    fn redirect(status: u16, location: &str) -> Response<Body> {
        Response::builder()
            .status(status)
            .header(header::LOCATION, location)
            .body(Body::empty())
            .unwrap()
    }

    impl Hops {
        /// `next` for hops that are not spent.
        fn step(&mut self, response: &Response<Body>) -> Option<Request<Body>> {
            self.next(response).expect("within the redirect limit")
        }
    }

    fn streamed() -> Body {
        Body::new(http_body_util::Full::new(Bytes::from_static(b"{}")).map_err(|e| match e {}))
    }

    #[test]
    fn see_other_and_post_moves_become_gets_without_a_body() {
        for status in [301, 302, 303] {
            let first = request(Method::POST, "https://api.test/a", Body::from("{}"));
            let mut hops = Hops::new(&first, 5, false);
            let next = hops.step(&redirect(status, "/b")).expect("followed");
            assert_eq!(next.method(), Method::GET, "{status}");
            assert_eq!(next.uri(), "https://api.test/b");
            assert_eq!(next.body().as_bytes().map(|b| b.len()), Some(0));
            assert!(next.headers().get(header::CONTENT_TYPE).is_none());
            // Same origin: the credentials stay.
            assert_eq!(next.headers()[header::AUTHORIZATION], "Bearer t");
            assert!(next.extensions().get::<CrossOriginHop>().is_none());
        }
        // A streamed POST body is not needed for a 303: followed.
        let first = request(Method::POST, "https://api.test/a", streamed());
        assert!(
            Hops::new(&first, 5, false)
                .step(&redirect(303, "/b"))
                .is_some()
        );
        // 303 keeps HEAD; 301 keeps PUT and its body.
        let head = request(Method::HEAD, "https://api.test/a", Body::empty());
        let next = Hops::new(&head, 5, false)
            .step(&redirect(303, "/b"))
            .unwrap();
        assert_eq!(next.method(), Method::HEAD);
        let put = request(Method::PUT, "https://api.test/a", Body::from("{}"));
        let next = Hops::new(&put, 5, false)
            .step(&redirect(301, "/b"))
            .unwrap();
        assert_eq!(next.method(), Method::PUT);
        assert_eq!(next.body().as_bytes().unwrap(), "{}");
    }

    #[test]
    fn temporary_and_permanent_redirects_resend_a_buffered_body_only() {
        for status in [307, 308] {
            let first = request(Method::POST, "https://api.test/a", Body::from("{}"));
            let mut hops = Hops::new(&first, 5, false);
            let next = hops.step(&redirect(status, "b")).expect("followed");
            assert_eq!(next.method(), Method::POST);
            assert_eq!(next.uri(), "https://api.test/b");
            assert_eq!(next.body().as_bytes().unwrap(), "{}");
            assert_eq!(next.headers()[header::CONTENT_TYPE], "application/json");
            // The body is kept for the hop after this one too.
            let again = hops.step(&redirect(status, "/c")).expect("followed");
            assert_eq!(again.body().as_bytes().unwrap(), "{}");

            let first = request(Method::POST, "https://api.test/a", streamed());
            assert!(
                Hops::new(&first, 5, false)
                    .step(&redirect(status, "/b"))
                    .is_none()
            );
        }
    }

    #[test]
    fn unsafe_or_unusable_locations_end_the_chain() {
        let get = || request(Method::GET, "https://api.test/a", Body::empty());
        for location in [
            "http://api.test/b",
            "https://user:pw@api.test/b",
            "https://api.test/b c",
            "https://[::1/b",
        ] {
            assert!(
                Hops::new(&get(), 5, false)
                    .step(&redirect(302, location))
                    .is_none(),
                "{location}"
            );
        }
        let missing = Response::builder().status(302).body(Body::empty()).unwrap();
        assert!(Hops::new(&get(), 5, false).step(&missing).is_none());
        let ok = Response::builder().status(200).body(Body::empty()).unwrap();
        assert!(Hops::new(&get(), 5, false).step(&ok).is_none());
        // At most `max` hops.
        let mut hops = Hops::new(&get(), 2, false);
        assert!(hops.step(&redirect(302, "/b")).is_some());
        assert!(hops.step(&redirect(302, "/c")).is_some());
        let spent = hops.next(&redirect(302, "/d")).unwrap_err();
        assert_eq!(spent.to_string(), "more than 2 redirects");
        // A redirect that would not be followed anyway is returned, not an error.
        let mut hops = Hops::new(&get(), 0, false);
        assert!(hops.step(&redirect(302, "http://api.test/b")).is_none());
        // Plain HTTP may go to HTTPS.
        let plain = request(Method::GET, "http://api.test/a", Body::empty());
        let next = Hops::new(&plain, 5, false).step(&redirect(301, "https://api.test/a"));
        assert_eq!(next.unwrap().uri(), "https://api.test/a");
    }

    #[test]
    fn leaving_the_origin_strips_credentials_for_good() {
        let first = request(Method::GET, "https://api.test/a", Body::empty());
        let mut hops = Hops::new(&first, 5, false);
        let away = hops
            .step(&redirect(302, "https://other.test/x?q=é"))
            .unwrap();
        assert_eq!(away.uri(), "https://other.test/x?q=%C3%A9");
        assert!(away.headers().get(header::AUTHORIZATION).is_none());
        assert!(away.headers().get("x-token").is_none());
        assert!(away.extensions().get::<CrossOriginHop>().is_some());
        // Back home, chosen by the foreign origin: still stripped.
        let back = hops.step(&redirect(302, "https://api.test/a")).unwrap();
        assert!(back.headers().get(header::AUTHORIZATION).is_none());
        assert!(back.extensions().get::<CrossOriginHop>().is_some());
    }

    /// An inner service that redirects `/start` to `/next` and answers
    /// `/next` after `hold` (pending for ever with `None`); every call
    /// holds a clone of `alive` until its future ends or is dropped.
    fn chain(
        alive: std::sync::Arc<()>,
        hold: Option<std::time::Duration>,
    ) -> impl Service<
        Request<Body>,
        Response = Response<Body>,
        Error = BoxError,
        Future = impl Future<Output = Result<Response<Body>, BoxError>>,
    > + Clone {
        tower::service_fn(move |request: Request<Body>| {
            let guard = alive.clone();
            async move {
                let _guard = guard;
                if request.uri().path() == "/start" {
                    return Ok(redirect(302, "/next"));
                }
                match hold {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
                Ok::<_, BoxError>(Response::new(Body::from("done")))
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn the_final_url_is_noted_only_after_a_followed_redirect() {
        use tower::ServiceExt;
        let alive = std::sync::Arc::new(());
        let svc = RedirectLayer::new(5).layer(chain(alive.clone(), Some(Default::default())));
        let direct = svc
            .clone()
            .oneshot(request(Method::GET, "https://api.test/next", Body::empty()))
            .await
            .unwrap();
        assert!(direct.extensions().get::<RequestUri>().is_none());
        let followed = svc
            .oneshot(request(
                Method::GET,
                "https://api.test/start",
                Body::empty(),
            ))
            .await
            .unwrap();
        assert_eq!(
            followed.extensions().get::<RequestUri>().unwrap().0,
            "https://api.test/next"
        );
        assert_eq!(
            followed.into_body().collect().await.unwrap().to_bytes(),
            "done"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_dropped_on_its_second_hop_releases_it() {
        use tower::ServiceExt;
        let alive = std::sync::Arc::new(());
        let svc = RedirectLayer::new(5).layer(chain(alive.clone(), None));
        let mut call = Box::pin(svc.oneshot(request(
            Method::GET,
            "https://api.test/start",
            Body::empty(),
        )));
        // The first hop answers at once; the second never does.
        assert!(futures_poll_once(call.as_mut()).await.is_pending());
        // Held by the future: the service it drives and the pending hop.
        assert_eq!(std::sync::Arc::strong_count(&alive), 3);
        drop(call);
        assert_eq!(std::sync::Arc::strong_count(&alive), 1);
    }

    /// Under the client's stack, hops start from the head retry kept in
    /// the call record: no copy of the headers until a redirect is
    /// followed, and then the same hops as from a copy of their own. A
    /// request that is not the kept head's still gets its own copy.
    #[test]
    fn hops_start_from_the_calls_head_only_when_it_is_this_request() {
        let mut first = request(Method::GET, "https://api.test/start", Body::empty());
        first
            .headers_mut()
            .insert("x-custom", "c1".parse().unwrap());
        let record = CallRecord::ensure(&mut first);
        record.keep_head(&first).unwrap();

        let mut shared = Hops::new(&first, 5, true);
        assert!(shared.headers.is_none(), "nothing copied before a redirect");
        let mut own = Hops::new(&first, 5, false);
        assert!(own.headers.is_some());
        for hops in [&mut shared, &mut own] {
            let next = hops.next(&redirect(302, "/next")).unwrap().unwrap();
            assert_eq!(next.uri(), "https://api.test/next");
            assert_eq!(next.headers(), first.headers(), "same origin: all kept");
            let away = hops
                .next(&redirect(307, "https://elsewhere.test/x"))
                .unwrap()
                .unwrap();
            assert_eq!(away.headers()["x-custom"], "c1");
            assert!(away.headers().get(header::AUTHORIZATION).is_none());
        }

        // A POST moved by a 303 loses its payload headers from the head's.
        let mut post = request(Method::POST, "https://api.test/a", Body::from("{}"));
        let record = CallRecord::ensure(&mut post);
        record.keep_head(&post).unwrap();
        let mut hops = Hops::new(&post, 5, true);
        assert!(hops.headers.is_none());
        let next = hops.step(&redirect(303, "/b")).unwrap();
        assert_eq!(next.method(), Method::GET);
        assert!(next.headers().get(header::CONTENT_TYPE).is_none());
        assert!(next.headers().get(header::AUTHORIZATION).is_some());

        // A request that differs from the kept head copies its own.
        let mut changed = request(Method::GET, "https://api.test/other", Body::empty());
        changed.extensions_mut().insert(record.clone());
        assert!(Hops::new(&changed, 5, true).headers.is_some());
    }

    /// Polls `future` once.
    async fn futures_poll_once<F: Future + Unpin>(mut future: F) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut future).poll(cx))).await
    }
}
