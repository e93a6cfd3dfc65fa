//! The `Service` impl: the call's dispatch, and the fast paths answered
//! without a boxed future (a fresh hit from a store that answers at once,
//! a miss on a passing key with nothing stored).

use super::*;

impl<S, St, ReqB, ResB> Service<Request<ReqB>> for Cache<S, St>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    St: CacheStore,
    ReqB: ReplayBody + Send + 'static,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        // Read before the store is: see `fill`.
        let landings = self.shared.flights.landings();
        let looked_up = match self.shared.try_hit(&request) {
            Ok(response) => {
                return ResponseFuture {
                    inner: Kind::Ready {
                        response: Some(response),
                    },
                };
            }
            Err(looked_up) => looked_up,
        };
        let looked_up = match looked_up {
            Some((key, Some(None))) => match Miss::passing(&self.shared.passes, key, &request) {
                Ok(miss) => {
                    return ResponseFuture {
                        inner: Kind::Pass {
                            future: miss.send(&mut self.inner, request),
                            miss: Some(miss),
                        },
                    };
                }
                Err(key) => Some((key, Some(None))),
            },
            other => other,
        };
        // Clone and swap: the service polled ready is the one we call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            inner: Kind::Boxed {
                future: Box::pin(run(
                    self.shared.clone(),
                    inner,
                    request,
                    looked_up,
                    landings,
                )),
            },
        }
    }
}

/// What the synchronous attempt found: the key, and the entry if the store
/// answered at once.
pub(super) type LookedUp = Option<(CacheKey, Option<Option<CacheEntry>>)>;

impl<St: CacheStore> Shared<St> {
    /// A fresh hit answered without a future, when the store can answer at
    /// once; otherwise what was learnt on the way.
    #[allow(clippy::result_large_err)] // moved once; boxing would cost the allocation we avoid
    pub(super) fn try_hit<B>(&self, request: &Request<B>) -> Result<Response<Body>, LookedUp> {
        let method = request.method();
        if (method != Method::GET && method != Method::HEAD)
            || CacheMode::of(request) != CacheMode::Default
            || Special::of(method, request.headers()) != Special::Plain
        {
            return Err(None);
        }
        let key = self.keys.key(method, request.uri(), request.headers());
        let Some(found) = self.store.get_now(&key) else {
            return Err(Some((key, None)));
        };
        if let Some(entry) = &found
            && !directives::in_request(request.headers())
            && let Some(stored) = entry
                .variants()
                .iter()
                .find(|v| v.vary.matches(request.headers()))
        {
            let now = self.clock.now();
            if stored.is_fresh(now) {
                return Ok(self.serve(stored, now, CacheStatus::Hit, request));
            }
        }
        Err(Some((key, Some(found))))
    }
}
