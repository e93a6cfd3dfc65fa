//! The [`Client`] for scripts and synchronous programs (feature
//! `blocking`): the same API, each call run to completion on a
//! current-thread tokio runtime the client owns.
//!
//! ```no_run
//! # fn main() -> Result<(), girder::Error> {
//! let client = girder::Client::builder()
//!     .base_url("https://api.example.com/v1")
//!     .build_blocking()?;
//! let me: serde_json::Value = client.get("me").send()?.error_for_status()?.json()?;
//! for repo in client.paginate("repos").items::<serde_json::Value>() {
//!     println!("{}", repo?["name"]);
//! }
//! # let _ = me;
//! # Ok(())
//! # }
//! ```
//!
//! # Panics
//!
//! Every call that sends panics when made from inside an async runtime
//! (as reqwest's blocking client does): blocking there would stall the
//! runtime's thread. Use the async [`crate::Client`] in async code.
//!
//! Between calls the runtime is idle, so pooled connections are not
//! watched; a connection the server closed meanwhile is found at the next
//! call, and the retry layer resends idempotent requests.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use girder_core::{Body, CallRecord, ServerHints};
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::runtime::Runtime;

use crate::error::{Error, Kind};
use crate::paginate::{Page, Pagination};
use crate::url::IntoUrl;

/// Owns the runtime; shuts it down without blocking when dropped inside
/// another runtime (where a blocking shutdown would panic).
struct Rt(Option<Runtime>);

impl Rt {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        if tokio::runtime::Handle::try_current().is_ok() {
            panic!(
                "girder::blocking::Client was called from inside an async runtime, where \
                 blocking would stall it; use the async girder::Client there"
            );
        }
        match &self.0 {
            Some(rt) => rt.block_on(future),
            None => unreachable!("the runtime lives until drop"),
        }
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                rt.shutdown_background();
            } else {
                drop(rt);
            }
        }
    }
}

/// A blocking client: cheap to clone; clones share the runtime,
/// connections and every layer's state.
#[derive(Clone)]
pub struct Client {
    inner: crate::Client,
    rt: Arc<Rt>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Client")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl crate::ClientBuilder {
    /// Builds a [`blocking::Client`](Client) (feature `blocking`).
    pub fn build_blocking(self) -> Result<Client, Error> {
        Client::new(self.build()?)
    }
}

impl Client {
    /// A blocking client over `client` (one from
    /// [`Client::from_service`](crate::Client::from_service) included),
    /// with a runtime of its own.
    pub fn new(client: crate::Client) -> Result<Client, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::with_message(
                    Kind::Builder,
                    format!("the blocking client's runtime would not start: {e}"),
                    Some(Box::new(e)),
                )
            })?;
        Ok(Client {
            inner: client,
            rt: Arc::new(Rt(Some(rt))),
        })
    }

    /// The async client inside.
    pub fn async_client(&self) -> &crate::Client {
        &self.inner
    }

    /// A request with `method` for `url`, a path or an absolute URL; see
    /// [`crate::Client::request`].
    pub fn request<U: IntoUrl>(&self, method: Method, url: U) -> RequestBuilder {
        RequestBuilder {
            inner: self.inner.request(method, url),
            rt: self.rt.clone(),
        }
    }

    /// A GET request.
    pub fn get<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A POST request.
    pub fn post<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A PUT request.
    pub fn put<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A PATCH request.
    pub fn patch<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// A HEAD request.
    pub fn head<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// A DELETE request.
    pub fn delete<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// Sends a request built elsewhere.
    pub fn execute(&self, request: http::Request<Body>) -> Result<Response, Error> {
        let inner = self.rt.block_on(self.inner.execute(request))?;
        Ok(Response {
            inner,
            rt: self.rt.clone(),
        })
    }

    /// A paginated GET of `path`: see [`crate::paginate`].
    pub fn paginate(&self, path: &str) -> Paginate {
        self.get(path).paginate()
    }

    /// A GraphQL endpoint: see [`crate::graphql`].
    pub fn graphql(&self, path: &str) -> GraphQl {
        GraphQl {
            inner: self.inner.graphql(path),
            rt: self.rt.clone(),
        }
    }

    /// A typed REST collection: see [`crate::resource`].
    pub fn resource<T>(&self, path: &str) -> Resource<T> {
        Resource {
            inner: self.inner.resource(path),
            rt: self.rt.clone(),
        }
    }
}

/// A blocking request being built; see [`crate::RequestBuilder`].
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    inner: crate::RequestBuilder,
    rt: Arc<Rt>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl RequestBuilder {
    fn map(self, f: impl FnOnce(crate::RequestBuilder) -> crate::RequestBuilder) -> Self {
        RequestBuilder {
            inner: f(self.inner),
            rt: self.rt,
        }
    }

    /// Query parameters; see [`crate::RequestBuilder::query`].
    pub fn query<T: Serialize + ?Sized>(self, query: &T) -> Self {
        self.map(|r| r.query(query))
    }

    /// A header; see [`crate::RequestBuilder::header`].
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        K: TryInto<http::HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<http::HeaderValue>,
        V::Error: Into<http::Error>,
    {
        self.map(|r| r.header(name, value))
    }

    /// Several headers; see [`crate::RequestBuilder::headers`].
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.map(|r| r.headers(headers))
    }

    /// `Authorization: Bearer …`, marked sensitive; see
    /// [`crate::RequestBuilder::bearer_auth`].
    pub fn bearer_auth<T: fmt::Display>(self, token: T) -> Self {
        self.map(|r| r.bearer_auth(token))
    }

    /// `Authorization: Basic …`, marked sensitive; see
    /// [`crate::RequestBuilder::basic_auth`].
    pub fn basic_auth<U: fmt::Display, P: fmt::Display>(
        self,
        username: U,
        password: Option<P>,
    ) -> Self {
        self.map(|r| r.basic_auth(username, password))
    }

    /// The HTTP version; see [`crate::RequestBuilder::version`].
    pub fn version(self, version: http::Version) -> Self {
        self.map(|r| r.version(version))
    }

    /// A copy, or `None` for a streamed body; see
    /// [`crate::RequestBuilder::try_clone`].
    pub fn try_clone(&self) -> Option<RequestBuilder> {
        Some(RequestBuilder {
            inner: self.inner.try_clone()?,
            rt: self.rt.clone(),
        })
    }

    /// A JSON body.
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|r| r.json(body))
    }

    /// A form body.
    pub fn form<T: Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|r| r.form(body))
    }

    /// A body.
    pub fn body(self, body: impl Into<Body>) -> Self {
        self.map(|r| r.body(body))
    }

    /// The total time of this call.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|r| r.timeout(timeout))
    }

    /// An `Idempotency-Key`.
    pub fn idempotency_key(self, key: impl AsRef<str>) -> Self {
        self.map(|r| r.idempotency_key(key))
    }

    /// A request extension.
    pub fn extension<T: Clone + Send + Sync + 'static>(self, value: T) -> Self {
        self.map(|r| r.extension(value))
    }

    /// Sends the request and waits for the response head.
    pub fn send(self) -> Result<Response, Error> {
        let inner = self.rt.block_on(self.inner.send())?;
        Ok(Response { inner, rt: self.rt })
    }

    /// Pages through the list this request fetches: see [`crate::paginate`].
    pub fn paginate(self) -> Paginate {
        Paginate {
            inner: self.inner.paginate(),
            rt: self.rt,
        }
    }
}

/// A blocking response; see [`crate::Response`].
pub struct Response {
    inner: crate::Response,
    rt: Arc<Rt>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The final URL, after redirects.
    pub fn url(&self) -> &http::Uri {
        self.inner.url()
    }

    /// The server's rate-limit hints.
    pub fn rate_limit(&self) -> ServerHints {
        self.inner.rate_limit()
    }

    /// What each layer decided for this call.
    pub fn call_record(&self) -> &CallRecord {
        self.inner.call_record()
    }

    /// The body.
    pub fn bytes(self) -> Result<Bytes, Error> {
        self.rt.block_on(self.inner.bytes())
    }

    /// The body as UTF-8 text.
    pub fn text(self) -> Result<String, Error> {
        self.rt.block_on(self.inner.text())
    }

    /// The body decoded from JSON.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        self.rt.block_on(self.inner.json())
    }

    /// The HTTP version.
    pub fn version(&self) -> http::Version {
        self.inner.version()
    }

    /// The server's address, when the transport knows it.
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.remote_addr()
    }

    /// The body's length when known in advance.
    pub fn content_length(&self) -> Option<u64> {
        self.inner.content_length()
    }

    /// The next piece of the body, `None` at its end; see
    /// [`crate::Response::chunk`].
    pub fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        self.rt.block_on(self.inner.chunk())
    }

    /// This response, or an [`Error`] for an error status. Unlike the
    /// async [`crate::Response::error_for_status`], and reqwest's, it reads
    /// the first bytes of an error body, so that the error has the server's
    /// [`message`](Error::message): a blocking call has no await to spare.
    pub fn error_for_status(self) -> Result<Response, Error> {
        let inner = self
            .rt
            .block_on(self.inner.error_for_status_with_message())?;
        Ok(Response { inner, rt: self.rt })
    }

    /// This response, or an [`Error`] for an error status, without reading
    /// the body (no server message); see
    /// [`crate::Response::error_for_status_ref`].
    pub fn error_for_status_ref(&self) -> Result<&Response, Error> {
        self.inner.error_for_status_ref().map(|_| self)
    }
}

/// A blocking paginated request; see [`crate::paginate::Paginate`].
#[must_use = "a paginated request does nothing until it is iterated"]
pub struct Paginate {
    inner: crate::paginate::Paginate,
    rt: Arc<Rt>,
}

impl fmt::Debug for Paginate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Paginate {
    fn map(self, f: impl FnOnce(crate::paginate::Paginate) -> crate::paginate::Paginate) -> Self {
        Paginate {
            inner: f(self.inner),
            rt: self.rt,
        }
    }

    /// How the next page is found.
    pub fn strategy(self, strategy: impl Into<Pagination>) -> Self {
        self.map(|p| p.strategy(strategy))
    }

    /// The JSON pointer of the items array.
    pub fn items_at(self, pointer: impl Into<String>) -> Self {
        self.map(|p| p.items_at(pointer))
    }

    /// Fetch at most this many pages.
    pub fn max_pages(self, pages: usize) -> Self {
        self.map(|p| p.max_pages(pages))
    }

    /// Yield at most this many items.
    pub fn max_items(self, items: usize) -> Self {
        self.map(|p| p.max_items(items))
    }

    /// The pages, as an iterator.
    pub fn pages(self) -> Pages {
        Pages {
            inner: self.inner.pages(),
            rt: self.rt,
        }
    }

    /// The items decoded as `T`, as an iterator.
    pub fn items<T: DeserializeOwned>(self) -> Items<T> {
        Items {
            inner: self.inner.items(),
            rt: self.rt,
        }
    }
}

/// An [`Iterator`] of pages; each `next` fetches when needed.
pub struct Pages {
    inner: crate::paginate::Pages,
    rt: Arc<Rt>,
}

impl fmt::Debug for Pages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Iterator for Pages {
    type Item = Result<Page, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on(self.inner.next())
    }
}

/// An [`Iterator`] of items; each `next` fetches a page when needed.
pub struct Items<T> {
    inner: crate::paginate::Items<T>,
    rt: Arc<Rt>,
}

impl<T> fmt::Debug for Items<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<T: DeserializeOwned> Iterator for Items<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on(self.inner.next())
    }
}

/// A blocking GraphQL endpoint; see [`crate::graphql`].
#[derive(Clone)]
pub struct GraphQl {
    inner: crate::graphql::GraphQl,
    rt: Arc<Rt>,
}

impl fmt::Debug for GraphQl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl GraphQl {
    /// An operation of `document`.
    pub fn query(&self, document: impl Into<String>) -> Operation {
        Operation {
            inner: self.inner.query(document),
            rt: self.rt.clone(),
        }
    }
}

/// A blocking GraphQL operation; see [`crate::graphql::Operation`].
#[must_use = "an operation does nothing until it is sent"]
pub struct Operation {
    inner: crate::graphql::Operation,
    rt: Arc<Rt>,
}

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Operation {
    fn map(self, f: impl FnOnce(crate::graphql::Operation) -> crate::graphql::Operation) -> Self {
        Operation {
            inner: f(self.inner),
            rt: self.rt,
        }
    }

    /// The variables.
    pub fn variables<V: Serialize + ?Sized>(self, variables: &V) -> Self {
        self.map(|o| o.variables(variables))
    }

    /// One variable.
    pub fn variable<V: Serialize + ?Sized>(self, name: &str, value: &V) -> Self {
        self.map(|o| o.variable(name, value))
    }

    /// Which operation of the document to run.
    pub fn operation_name(self, name: impl Into<String>) -> Self {
        self.map(|o| o.operation_name(name))
    }

    /// Whether the operation may be sent more than once.
    pub fn idempotent(self, idempotent: bool) -> Self {
        self.map(|o| o.idempotent(idempotent))
    }

    /// A header.
    pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.map(|o| o.header(name, value))
    }

    /// Sends the operation and decodes `data` as `T`.
    pub fn send<T: DeserializeOwned>(self) -> Result<T, Error> {
        self.rt.block_on(self.inner.send())
    }

    /// A Relay connection's nodes at `connection_at`, as an iterator
    /// (cursor variable `after`; see [`crate::graphql::Relay`]).
    pub fn relay_items<T: DeserializeOwned>(self, connection_at: impl Into<String>) -> Items<T> {
        Items {
            inner: self.inner.relay(connection_at).items(),
            rt: self.rt,
        }
    }
}

/// A blocking REST collection; see [`crate::resource`].
pub struct Resource<T> {
    inner: crate::resource::Resource<T>,
    rt: Arc<Rt>,
}

impl<T> fmt::Debug for Resource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<T: DeserializeOwned> Resource<T> {
    fn map(
        self,
        f: impl FnOnce(crate::resource::Resource<T>) -> crate::resource::Resource<T>,
    ) -> Self {
        Resource {
            inner: f(self.inner),
            rt: self.rt,
        }
    }

    /// The list query's parameter names.
    pub fn query_names(self, names: crate::resource::QueryNames) -> Self {
        self.map(|r| r.query_names(names))
    }

    /// How lists are paginated.
    pub fn pagination(self, strategy: impl Into<Pagination>) -> Self {
        self.map(|r| r.pagination(strategy))
    }

    /// Where a list page's items are.
    pub fn items_at(self, pointer: impl Into<String>) -> Self {
        self.map(|r| r.items_at(pointer))
    }

    /// Where one item is in a single-item response.
    pub fn item_at(self, pointer: impl Into<String>) -> Self {
        self.map(|r| r.item_at(pointer))
    }

    /// A list query: see [`crate::resource::ListQuery`].
    pub fn list(&self) -> ListQuery<T> {
        ListQuery {
            inner: self.inner.list(),
            rt: self.rt.clone(),
        }
    }

    /// `GET path/{id}`.
    pub fn get(&self, id: impl fmt::Display) -> Result<T, Error> {
        self.rt.block_on(self.inner.get(id))
    }

    /// `POST path`; sent once.
    pub fn create<B: Serialize + ?Sized>(&self, body: &B) -> Result<T, Error> {
        self.rt.block_on(self.inner.create(body))
    }

    /// `PUT path/{id}`.
    pub fn update<B: Serialize + ?Sized>(
        &self,
        id: impl fmt::Display,
        body: &B,
    ) -> Result<T, Error> {
        self.rt.block_on(self.inner.update(id, body))
    }

    /// `PATCH path/{id}`; sent once.
    pub fn patch<B: Serialize + ?Sized>(
        &self,
        id: impl fmt::Display,
        body: &B,
    ) -> Result<T, Error> {
        self.rt.block_on(self.inner.patch(id, body))
    }

    /// `DELETE path/{id}`.
    pub fn delete(&self, id: impl fmt::Display) -> Result<(), Error> {
        self.rt.block_on(self.inner.delete(id))
    }
}

/// A blocking list query; see [`crate::resource::ListQuery`].
#[must_use = "a list query does nothing until it is iterated or sent"]
pub struct ListQuery<T> {
    inner: crate::resource::ListQuery<T>,
    rt: Arc<Rt>,
}

impl<T> fmt::Debug for ListQuery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<T: DeserializeOwned> ListQuery<T> {
    fn map(
        self,
        f: impl FnOnce(crate::resource::ListQuery<T>) -> crate::resource::ListQuery<T>,
    ) -> Self {
        ListQuery {
            inner: f(self.inner),
            rt: self.rt,
        }
    }

    /// Only items whose `field` is `value`.
    pub fn filter(self, field: &str, value: impl fmt::Display) -> Self {
        self.map(|q| q.filter(field, value))
    }

    /// Sorted by `field`, ascending.
    pub fn sort(self, field: &str) -> Self {
        self.map(|q| q.sort(field))
    }

    /// Sorted by `field`, descending.
    pub fn sort_desc(self, field: &str) -> Self {
        self.map(|q| q.sort_desc(field))
    }

    /// At most `n` items.
    pub fn limit(self, n: usize) -> Self {
        self.map(|q| q.limit(n))
    }

    /// Any other query parameter.
    pub fn param(self, name: &str, value: impl fmt::Display) -> Self {
        self.map(|q| q.param(name, value))
    }

    /// The items, as an iterator.
    pub fn items(self) -> Items<T> {
        Items {
            inner: self.inner.items(),
            rt: self.rt,
        }
    }

    /// Every item (up to the limit), or the first error.
    pub fn send(self) -> Result<Vec<T>, Error> {
        self.rt.block_on(self.inner.send())
    }
}
