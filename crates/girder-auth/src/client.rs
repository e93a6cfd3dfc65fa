//! [`TokenClient`]: the HTTP client token requests go through.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;

use girder_core::{Body, BoxError};
use http::{Request, Response};
use tower_service::Service;

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

/// The HTTP client that sends token requests: any cloneable tower service
/// from `Request<Body>` to `Response<Body>`, boxed.
///
/// Give it your transport (the facade's `girder::Transport`, with a
/// timeout), a stack of your own, or a mock in tests. Token requests do
/// not go through the auth layer itself, nor through anything stacked
/// above it, unless you build the client that way.
///
/// ```
/// use girder_auth::TokenClient;
/// use girder_test::{MockService, Reply};
///
/// let client = TokenClient::new(MockService::new(Reply::ok()));
/// # let _ = client;
/// ```
///
/// # Clone
///
/// Cheap: clones share the boxed service, and each request is sent on a
/// clone of it.
#[derive(Clone)]
pub struct TokenClient {
    send: Arc<dyn Fn(Request<Body>) -> BoxFuture + Send + Sync>,
}

impl TokenClient {
    /// A client sending each request on a clone of `service`, after
    /// waiting for it to be ready.
    pub fn new<S>(service: S) -> Self
    where
        S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        TokenClient {
            send: Arc::new(move |request| {
                let mut service = service.clone();
                Box::pin(async move {
                    poll_fn(|cx| service.poll_ready(cx))
                        .await
                        .map_err(Into::into)?;
                    service.call(request).await.map_err(Into::into)
                })
            }),
        }
    }

    /// Sends `request`.
    pub(crate) fn send(&self, request: Request<Body>) -> BoxFuture {
        (self.send)(request)
    }
}

impl fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenClient").finish_non_exhaustive()
    }
}
