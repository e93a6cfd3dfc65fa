//! Pagination: a list spread over pages as a [`Stream`] of items
//! ([`Items`]) or of pages ([`Pages`]).
//!
//! Every page is fetched through the [`Client`]'s whole stack, so each is
//! retried, rate limited, authorised and logged like any call, over
//! whatever service the client wraps. The next page is found by a
//! strategy: [`PageNumber`], [`OffsetLimit`], [`Cursor`], [`LinkHeader`]
//! (the default) or [`Pagination::from_fn`]. Items are read at a JSON
//! pointer ([`Paginate::items_at`]), or by default from a top-level array
//! or an `items`, `data` or `results` array.
//!
//! ```no_run
//! use girder::paginate::Cursor;
//!
//! #[derive(serde::Deserialize)]
//! struct User { id: u64 }
//!
//! # async fn run(client: girder::Client) -> Result<(), girder::Error> {
//! // GET /users, then /users?cursor=… while {"next_cursor": …} is set.
//! let mut users = client
//!     .paginate("users")
//!     .strategy(Cursor::new("/next_cursor", "cursor"))
//!     .items_at("/data")
//!     .max_items(500)
//!     .items::<User>();
//! while let Some(user) = users.next().await {
//!     let user = user?;
//!     # let _ = user.id;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Errors come out of the stream
//!
//! An error status, a body that is not JSON, a page without its items
//! array, a garbage `Link` header, a cursor of the wrong type, or a next
//! page that repeats an earlier one (a server stuck on one cursor) each
//! end the stream with an [`Error`] as its last item; the stream never
//! stops silently on an error. The malformed-page cases are
//! [`Kind::Pagination`]. Reaching [`max_pages`](Paginate::max_pages) or
//! [`max_items`](Paginate::max_items) ends it without one. An item that
//! does not decode as `T` is an error in its place, and the items after
//! it still come.
//!
//! # Cancellation
//!
//! Dropping a stream drops the page fetch in flight; nothing else is held.
//!
//! # Differences from other helpers
//!
//! Pagination helpers for reqwest and many SDKs stop on the first error as
//! if the list had ended, and loop forever on a repeating cursor; here
//! both are errors.

mod link;
mod page;
mod strategy;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use girder_core::origin::Origin;
use girder_core::{Body, Deadline};
use http::{HeaderMap, Request, StatusCode, Uri};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::Client;
use crate::error::{Error, Kind};

pub use link::{InvalidLink, Link, parse_link_header};
pub use page::Page;
pub(crate) use page::{ItemsAt, decode_item, take_items};
pub use strategy::{Cursor, LinkHeader, Next, OffsetLimit, PageNumber, Pagination};

/// A paginated request being configured; [`items`](Paginate::items) or
/// [`pages`](Paginate::pages) makes the stream. Made by
/// [`Client::paginate`] or [`RequestBuilder::paginate`](crate::RequestBuilder::paginate).
#[must_use = "a paginated request does nothing until it is streamed"]
pub struct Paginate {
    client: Client,
    request: Result<Request<Body>, Error>,
    timeout: Option<Duration>,
    strategy: Pagination,
    items_at: ItemsAt,
    max_pages: Option<usize>,
    max_items: Option<usize>,
}

impl fmt::Debug for Paginate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paginate")
            .field("strategy", &self.strategy)
            .field("items_at", &self.items_at)
            .field("max_pages", &self.max_pages)
            .field("max_items", &self.max_items)
            .finish_non_exhaustive()
    }
}

impl Paginate {
    pub(crate) fn new(
        client: Client,
        request: Result<Request<Body>, Error>,
        timeout: Option<Duration>,
    ) -> Paginate {
        Paginate {
            client,
            request,
            timeout,
            strategy: Pagination::default(),
            items_at: ItemsAt::Auto,
            max_pages: None,
            max_items: None,
        }
    }

    /// How the next page is found. Default: [`LinkHeader`].
    pub fn strategy(mut self, strategy: impl Into<Pagination>) -> Self {
        self.strategy = strategy.into();
        self
    }

    /// The JSON pointer of the items array (`"/data"`, `"/result/items"`;
    /// `""` for a top-level array). Default: a top-level array, or the
    /// first of `/items`, `/data` and `/results` present.
    pub fn items_at(mut self, pointer: impl Into<String>) -> Self {
        self.items_at = ItemsAt::Pointer(pointer.into());
        self
    }

    /// Fetch at most this many pages. Default: no limit.
    pub fn max_pages(mut self, pages: usize) -> Self {
        self.max_pages = Some(pages);
        self
    }

    /// Yield at most this many items (the last page is cut short). Default:
    /// no limit.
    pub fn max_items(mut self, items: usize) -> Self {
        self.max_items = Some(items);
        self
    }

    /// The stream of pages.
    pub fn pages(self) -> Pages {
        let Paginate {
            client,
            request,
            timeout,
            strategy,
            items_at,
            max_pages,
            max_items,
        } = self;
        let source = request
            .and_then(|request| {
                strategy
                    .0
                    .validate()
                    .map_err(|why| Error::with_message(Kind::Builder, why, None))?;
                if let ItemsAt::Pointer(p) = &items_at
                    && !(p.is_empty() || p.starts_with('/'))
                {
                    return Err(Error::with_message(
                        Kind::Builder,
                        format!("items_at {p:?} is not a JSON pointer (they start with '/')"),
                        None,
                    ));
                }
                Rest::new(request, timeout, strategy, items_at)
            })
            .map(|rest| Box::new(rest) as Box<dyn Source>);
        Pages::new(client, source, max_pages, max_items)
    }

    /// The stream of items, decoded as `T` (`serde_json::Value` for
    /// untyped items).
    pub fn items<T: DeserializeOwned>(self) -> Items<T> {
        Items::new(self.pages())
    }

    /// Reads one response as the stream would: the items taken out and
    /// the next page found. For tests and benchmarks of a configuration;
    /// the stream calls the same code.
    pub fn read_page(
        &self,
        url: &Uri,
        status: StatusCode,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Page, Error> {
        let walk = Walk {
            strategy: self.strategy.clone(),
            items_at: self.items_at.clone(),
        };
        walk.read(
            1,
            Fetched {
                url: url.clone(),
                status,
                headers: headers.clone(),
                body,
            },
        )
    }
}

/// A response as fetched, before it is read as a page.
pub(crate) struct Fetched {
    pub(crate) url: Uri,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// The step to the next page.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    First,
    Url(Uri),
    Cursor(String),
}

/// What a paginated stream fetches and how it reads each page: REST lists
/// here, GraphQL connections in [`crate::graphql`].
pub(crate) trait Source: Send + Sync + 'static {
    fn request(&self, step: &Step) -> Result<Request<Body>, Error>;
    /// The page, and the step to the one after it.
    fn read_step(&self, index: usize, fetched: Fetched) -> Result<(Page, Option<Step>), Error>;
    /// What identifies `step` for loop detection.
    fn key(&self, step: &Step) -> Option<String> {
        match step {
            Step::First => None,
            Step::Url(url) => Some(url.to_string()),
            Step::Cursor(c) => Some(c.clone()),
        }
    }
}

pub(crate) fn malformed(index: usize, why: impl fmt::Display, f: &Fetched) -> Error {
    Error::with_message(Kind::Pagination, format!("page {index}: {why}"), None).with_url(&f.url)
}

/// Reads a body as JSON, or the error status as an [`Error`].
pub(crate) fn json_of(fetched: &Fetched) -> Result<Value, Error> {
    let status = fetched.status;
    if status.is_client_error() || status.is_server_error() {
        return Err(Error::from_status(
            status,
            fetched.headers.clone(),
            Some(fetched.body.clone()),
        )
        .with_url(&fetched.url));
    }
    if status == StatusCode::NO_CONTENT {
        return Ok(Value::Array(Vec::new()));
    }
    serde_json::from_slice(&fetched.body).map_err(|e| {
        Error::with_message(
            Kind::Decode,
            format!("a page is not JSON: {e}"),
            Some(Box::new(e)),
        )
        .with_url(&fetched.url)
    })
}

/// The strategy and items location: the pure part of reading a page.
struct Walk {
    strategy: Pagination,
    items_at: ItemsAt,
}

impl Walk {
    fn read(&self, index: usize, fetched: Fetched) -> Result<Page, Error> {
        let mut body = json_of(&fetched)?;
        let items =
            take_items(&mut body, &self.items_at).map_err(|why| malformed(index, why, &fetched))?;
        let mut page = Page {
            index,
            url: fetched.url.clone(),
            status: fetched.status,
            headers: fetched.headers.clone(),
            body,
            items,
            next: None,
        };
        page.next = match self.strategy.0.next(&page) {
            Ok(None) => None,
            Ok(Some(next)) => {
                Some(next_url(&page.url, next).map_err(|why| malformed(index, why, &fetched))?)
            }
            Err(why) => return Err(malformed(index, why, &fetched)),
        };
        Ok(page)
    }
}

/// The URL `next` names, relative to `current`, on the same origin.
fn next_url(current: &Uri, next: Next) -> Result<Uri, String> {
    let base =
        Origin::of(current).ok_or_else(|| format!("the page URL is not absolute ({current})"))?;
    let target = match next {
        Next::Url(target) => crate::url::resolve_reference(current, &target)
            .map_err(|e| format!("the next page's URL does not resolve: {e}"))?,
        Next::Query(pairs) => with_params(current, &pairs)?,
    };
    match Origin::of(&target) {
        Some(origin) if origin == base => Ok(target),
        Some(origin) => Err(format!(
            "the next page is on another origin ({origin}); it is not followed, as it would carry \
             this client's credentials there"
        )),
        None => Err("the next page's URL has no origin".to_owned()),
    }
}

/// `url` with `pairs` set (`application/x-www-form-urlencoded`), replacing
/// parameters of the same names.
fn with_params(url: &Uri, pairs: &[(String, String)]) -> Result<Uri, String> {
    let (Some(scheme), Some(authority)) = (url.scheme(), url.authority()) else {
        return Err(format!("not an absolute URL: {url}"));
    };
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(old) = url.query() {
        query.extend_pairs(
            form_urlencoded::parse(old.as_bytes())
                .filter(|(k, _)| !pairs.iter().any(|(name, _)| name == k)),
        );
    }
    query.extend_pairs(pairs);
    let query = query.finish();
    let path_and_query = if query.is_empty() {
        url.path().to_owned()
    } else {
        format!("{}?{query}", url.path())
    };
    Uri::builder()
        .scheme(scheme.clone())
        .authority(authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| format!("invalid page URL: {e}"))
}

/// A REST list: the same request again with another URL.
struct Rest {
    head: http::request::Parts,
    body: Bytes,
    timeout: Option<Duration>,
    walk: Walk,
}

impl Rest {
    fn new(
        request: Request<Body>,
        timeout: Option<Duration>,
        strategy: Pagination,
        items_at: ItemsAt,
    ) -> Result<Rest, Error> {
        let (mut head, body) = request.into_parts();
        let body = match body.as_bytes() {
            Some(bytes) => bytes.clone(),
            None if body.is_buffered() => Bytes::new(),
            None => {
                return Err(Error::with_message(
                    Kind::Builder,
                    "a paginated request's body must be buffered (it is sent with every page)",
                    None,
                ));
            }
        };
        let first = strategy.0.first();
        if !first.is_empty() {
            head.uri = with_params(&head.uri, &first).map_err(|e| {
                Error::with_message(
                    Kind::Builder,
                    format!("a paginated request needs an absolute URL: {e}"),
                    None,
                )
            })?;
        }
        Ok(Rest {
            head,
            body,
            timeout,
            walk: Walk { strategy, items_at },
        })
    }
}

impl Source for Rest {
    fn request(&self, step: &Step) -> Result<Request<Body>, Error> {
        let mut request = Request::from_parts(self.head.clone(), Body::from(self.body.clone()));
        if let Step::Url(url) = step {
            *request.uri_mut() = url.clone();
        }
        if let Some(timeout) = self.timeout {
            Deadline::after(timeout).apply(&mut request);
        }
        Ok(request)
    }

    fn read_step(&self, index: usize, fetched: Fetched) -> Result<(Page, Option<Step>), Error> {
        let page = self.walk.read(index, fetched)?;
        let step = page.next.clone().map(Step::Url);
        Ok((page, step))
    }
}

type Fetch = Pin<Box<dyn Future<Output = Result<Fetched, Error>> + Send>>;

async fn fetch(client: Client, request: Request<Body>) -> Result<Fetched, Error> {
    let response = client.execute(request).await?;
    // The URL the page came from after redirects: RFC 8288 §3.2 resolves a
    // relative link against it, and the next page's query is set on it.
    let url = response.url().clone();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    Ok(Fetched {
        url,
        status,
        headers,
        body,
    })
}

enum State {
    Next(Step),
    Fetching(Fetch),
    Failed(Error),
    Done,
}

/// A [`Stream`] of [`Page`]s; see the [module docs](self).
#[must_use = "streams do nothing unless polled"]
pub struct Pages {
    client: Client,
    source: Option<Box<dyn Source>>,
    state: State,
    fetched: usize,
    items: usize,
    max_pages: Option<usize>,
    max_items: Option<usize>,
    /// Each step taken, by key, with the page it fetched.
    seen: HashMap<String, usize>,
}

impl fmt::Debug for Pages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages")
            .field("fetched", &self.fetched)
            .field("items", &self.items)
            .finish_non_exhaustive()
    }
}

impl Pages {
    pub(crate) fn new(
        client: Client,
        source: Result<Box<dyn Source>, Error>,
        max_pages: Option<usize>,
        max_items: Option<usize>,
    ) -> Pages {
        let (source, state) = match source {
            Ok(source) => (Some(source), State::Next(Step::First)),
            Err(error) => (None, State::Failed(error)),
        };
        Pages {
            client,
            source,
            state,
            fetched: 0,
            items: 0,
            max_pages,
            max_items,
            seen: HashMap::new(),
        }
    }

    /// The next page, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Page, Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// How many pages have been fetched.
    pub fn pages_fetched(&self) -> usize {
        self.fetched
    }

    fn limits_reached(&self) -> bool {
        self.max_pages.is_some_and(|max| self.fetched >= max)
            || self.max_items.is_some_and(|max| self.items >= max)
    }
}

impl Stream for Pages {
    type Item = Result<Page, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Failed(error) => return Poll::Ready(Some(Err(error))),
                State::Next(step) => {
                    let Some(source) = &this.source else {
                        return Poll::Ready(None);
                    };
                    if this.limits_reached() {
                        return Poll::Ready(None);
                    }
                    match source.request(&step) {
                        Ok(request) => {
                            let fetch = fetch(this.client.clone(), request);
                            this.state = State::Fetching(Box::pin(fetch));
                        }
                        Err(error) => return Poll::Ready(Some(Err(error))),
                    }
                }
                State::Fetching(mut fut) => {
                    let fetched = match fut.as_mut().poll(cx) {
                        Poll::Pending => {
                            this.state = State::Fetching(fut);
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(error)) => return Poll::Ready(Some(Err(error))),
                        Poll::Ready(Ok(fetched)) => fetched,
                    };
                    let Some(source) = &this.source else {
                        return Poll::Ready(None);
                    };
                    this.fetched += 1;
                    let index = this.fetched;
                    let url = fetched.url.clone();
                    let (mut page, next) = match source.read_step(index, fetched) {
                        Ok(read) => read,
                        Err(error) => return Poll::Ready(Some(Err(error))),
                    };
                    if let Some(max) = this.max_items {
                        page.items.truncate(max.saturating_sub(this.items));
                    }
                    this.items += page.items.len();
                    if index == 1 {
                        // The first request's own URL, so a next page
                        // pointing back at it is caught too.
                        if let Some(key) = source.key(&Step::Url(page.url.clone())) {
                            this.seen.insert(key, 1);
                        }
                    }
                    if let Some(step) = next {
                        this.state = match source.key(&step) {
                            Some(key) => match this.seen.get(&key) {
                                Some(&earlier) => State::Failed(
                                    Error::with_message(
                                        Kind::Pagination,
                                        format!(
                                            "page {index}'s next page (cursor or link) is \
                                             page {earlier} again; stopping instead of looping"
                                        ),
                                        None,
                                    )
                                    .with_url(&url),
                                ),
                                None => {
                                    this.seen.insert(key, index + 1);
                                    State::Next(step)
                                }
                            },
                            None => State::Next(step),
                        };
                    }
                    return Poll::Ready(Some(Ok(page)));
                }
            }
        }
    }
}

/// A [`Stream`] of items decoded as `T`; see the [module docs](self).
#[must_use = "streams do nothing unless polled"]
pub struct Items<T> {
    pages: Pages,
    page: usize,
    url: Uri,
    buffer: std::iter::Enumerate<std::vec::IntoIter<Value>>,
    _item: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Items<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Items")
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Items<T> {
    pub(crate) fn new(pages: Pages) -> Self {
        Items {
            pages,
            page: 0,
            url: Uri::default(),
            buffer: Vec::new().into_iter().enumerate(),
            _item: PhantomData,
        }
    }

    /// The next item, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<T, Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Every item, or the first error.
    pub async fn try_collect(mut self) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        while let Some(item) = self.next().await {
            out.push(item?);
        }
        Ok(out)
    }

    /// How many pages have been fetched.
    pub fn pages_fetched(&self) -> usize {
        self.pages.pages_fetched()
    }
}

impl<T: DeserializeOwned> Stream for Items<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some((i, item)) = this.buffer.next() {
                return Poll::Ready(Some(decode_item(item, this.page, i, &this.url)));
            }
            match ready!(Pin::new(&mut this.pages).poll_next(cx)) {
                Some(Ok(page)) => {
                    this.page = page.index;
                    this.url = page.url;
                    this.buffer = page.items.into_iter().enumerate();
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => return Poll::Ready(None),
            }
        }
    }
}
