//! How the next page is found: page numbers, offsets, cursors, `Link`
//! headers or a closure.

use std::fmt;
use std::sync::Arc;

use girder_core::BoxError;
use serde_json::Value;

use super::Page;
use super::link::parse_link_header;

/// Where the next page is: query parameters to set on this page's URL,
/// or a URL (relative ones are resolved against this page's URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// These query parameters, replacing any of the same name.
    Query(Vec<(String, String)>),
    /// This URL.
    Url(String),
}

impl Next {
    /// [`Next::Query`] from pairs.
    pub fn query<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Next {
        Next::Query(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// A pagination strategy; made from [`PageNumber`], [`OffsetLimit`],
/// [`Cursor`], [`LinkHeader`] or [`Pagination::from_fn`].
#[derive(Clone)]
pub struct Pagination(pub(crate) Strategy);

type NextFn = dyn Fn(&Page) -> Result<Option<Next>, BoxError> + Send + Sync;

#[derive(Clone)]
pub(crate) enum Strategy {
    PageNumber(PageNumber),
    Offset(OffsetLimit),
    Cursor(Cursor),
    Link(LinkHeader),
    Fn(Arc<NextFn>),
}

impl fmt::Debug for Pagination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Strategy::PageNumber(s) => s.fmt(f),
            Strategy::Offset(s) => s.fmt(f),
            Strategy::Cursor(s) => s.fmt(f),
            Strategy::Link(s) => s.fmt(f),
            Strategy::Fn(_) => f.write_str("Pagination::from_fn(..)"),
        }
    }
}

impl Default for Pagination {
    /// [`LinkHeader`]: the standard way (RFC 8288), used by GitHub and
    /// many others.
    fn default() -> Self {
        LinkHeader::new().into()
    }
}

impl Pagination {
    /// The next page from a closure of each page: `Ok(None)` ends the
    /// list; an `Err` comes out of the stream as a
    /// [`Kind::Pagination`](crate::Kind::Pagination) error.
    ///
    /// ```
    /// use girder::paginate::{Next, Pagination};
    ///
    /// // {"meta": {"next": 3}}: page numbers in an unusual place.
    /// let strategy = Pagination::from_fn(|page| {
    ///     Ok(page.body().pointer("/meta/next").and_then(|n| n.as_u64())
    ///         .map(|n| Next::query([("p", n.to_string())])))
    /// });
    /// # let _ = strategy;
    /// ```
    pub fn from_fn<F>(f: F) -> Pagination
    where
        F: Fn(&Page) -> Result<Option<Next>, BoxError> + Send + Sync + 'static,
    {
        Pagination(Strategy::Fn(Arc::new(f)))
    }
}

/// Pages numbered from 1 (`?page=2&per_page=50`). The list ends on an
/// empty page, `has_more: false`, `next_page: null` or the last of the
/// total pages, whichever of those the API reports.
#[derive(Debug, Clone)]
pub struct PageNumber {
    param: String,
    per_page_param: String,
    per_page: Option<u64>,
    first: u64,
    has_more_at: Option<String>,
    next_page_at: Option<String>,
    total_pages_at: Option<String>,
}

impl Default for PageNumber {
    fn default() -> Self {
        PageNumber {
            param: "page".into(),
            per_page_param: "per_page".into(),
            per_page: None,
            first: 1,
            has_more_at: None,
            next_page_at: None,
            total_pages_at: None,
        }
    }
}

impl PageNumber {
    /// Page numbers with the defaults below.
    pub fn new() -> Self {
        Self::default()
    }

    /// The page number's parameter. Default: `page`.
    pub fn param(mut self, name: impl Into<String>) -> Self {
        self.param = name.into();
        self
    }

    /// The page size's parameter. Default: `per_page`.
    pub fn per_page_param(mut self, name: impl Into<String>) -> Self {
        self.per_page_param = name.into();
        self
    }

    /// The page size to ask for. Default: none (the server's).
    pub fn per_page(mut self, size: u64) -> Self {
        self.per_page = Some(size);
        self
    }

    /// The number of the first page. Default: 1.
    pub fn first_page(mut self, number: u64) -> Self {
        self.first = number;
        self
    }

    /// A JSON pointer to a boolean: `false` ends the list. Default: none.
    pub fn has_more_at(mut self, pointer: impl Into<String>) -> Self {
        self.has_more_at = Some(pointer.into());
        self
    }

    /// A JSON pointer to the next page's number: `null` ends the list.
    /// Default: none (this page's number plus one).
    pub fn next_page_at(mut self, pointer: impl Into<String>) -> Self {
        self.next_page_at = Some(pointer.into());
        self
    }

    /// A JSON pointer to the total number of pages. Default: none.
    pub fn total_pages_at(mut self, pointer: impl Into<String>) -> Self {
        self.total_pages_at = Some(pointer.into());
        self
    }
}

/// Offsets and a limit (`?offset=100&limit=50`). The next offset is this
/// one plus the items this page held (a server may send fewer than the
/// limit); the list ends on an empty page or at the total.
#[derive(Debug, Clone)]
pub struct OffsetLimit {
    offset_param: String,
    limit_param: String,
    limit: u64,
    total_at: Option<String>,
}

impl OffsetLimit {
    /// Pages of `limit` items.
    pub fn new(limit: u64) -> Self {
        OffsetLimit {
            offset_param: "offset".into(),
            limit_param: "limit".into(),
            limit,
            total_at: None,
        }
    }

    /// The offset's parameter. Default: `offset`.
    pub fn offset_param(mut self, name: impl Into<String>) -> Self {
        self.offset_param = name.into();
        self
    }

    /// The limit's parameter. Default: `limit`.
    pub fn limit_param(mut self, name: impl Into<String>) -> Self {
        self.limit_param = name.into();
        self
    }

    /// A JSON pointer to the total number of items. Default: none.
    pub fn total_at(mut self, pointer: impl Into<String>) -> Self {
        self.total_at = Some(pointer.into());
        self
    }
}

/// An opaque cursor read from each page and sent back as a parameter
/// (`{"next_cursor": "abc"}` → `?cursor=abc`). The list ends when the
/// cursor is missing, `null` or empty, or `has_more` is `false`; a cursor
/// seen before is an error.
#[derive(Debug, Clone)]
pub struct Cursor {
    cursor_at: String,
    param: String,
    has_more_at: Option<String>,
}

impl Cursor {
    /// The cursor at JSON pointer `cursor_at`, sent back as `param`.
    pub fn new(cursor_at: impl Into<String>, param: impl Into<String>) -> Self {
        Cursor {
            cursor_at: cursor_at.into(),
            param: param.into(),
            has_more_at: None,
        }
    }

    /// A JSON pointer to a boolean: `false` ends the list whatever the
    /// cursor says. Default: none.
    pub fn has_more_at(mut self, pointer: impl Into<String>) -> Self {
        self.has_more_at = Some(pointer.into());
        self
    }
}

/// The `Link` header's `rel="next"` target (RFC 8288), resolved against
/// the page's URL. A header that does not parse is an error; a target on
/// another origin is refused (it would carry the client's credentials
/// there).
#[derive(Debug, Clone)]
pub struct LinkHeader {
    rel: String,
}

impl Default for LinkHeader {
    fn default() -> Self {
        LinkHeader { rel: "next".into() }
    }
}

impl LinkHeader {
    /// Follows `rel="next"`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The relation type to follow. Default: `next`.
    pub fn rel(mut self, rel: impl Into<String>) -> Self {
        self.rel = rel.into();
        self
    }
}

macro_rules! into_pagination {
    ($($t:ident => $v:ident),*) => {$(
        impl From<$t> for Pagination {
            fn from(s: $t) -> Pagination {
                Pagination(Strategy::$v(s))
            }
        }
    )*};
}
into_pagination!(PageNumber => PageNumber, OffsetLimit => Offset, Cursor => Cursor, LinkHeader => Link);

fn check_pointer(p: &str) -> Result<(), String> {
    if p.is_empty() || p.starts_with('/') {
        Ok(())
    } else {
        Err(format!("{p:?} is not a JSON pointer (they start with '/')"))
    }
}

fn check_name(n: &str) -> Result<(), String> {
    if n.is_empty() {
        Err("a query parameter name is empty".into())
    } else {
        Ok(())
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `false` at `pointer` (when configured) ends the list.
fn has_more(body: &Value, pointer: Option<&str>) -> Result<bool, String> {
    let Some(p) = pointer else { return Ok(true) };
    match body.pointer(p) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!(
            "has_more at {p} is {}, not a boolean",
            kind_of(other)
        )),
        None => Err(format!("no has_more boolean at {p}")),
    }
}

fn number_at(body: &Value, p: &str, what: &str) -> Result<Option<u64>, String> {
    match body.pointer(p) {
        Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{what} at {p} is {n}, not a whole number")),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{what} at {p} is {s:?}, not a whole number")),
        Some(other) => Err(format!("{what} at {p} is {}, not a number", kind_of(other))),
        None => Err(format!("no {what} at {p}")),
    }
}

impl Strategy {
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Strategy::PageNumber(s) => {
                check_name(&s.param)?;
                check_name(&s.per_page_param)?;
                if s.per_page == Some(0) {
                    return Err("per_page must be at least 1".into());
                }
                for p in [&s.has_more_at, &s.next_page_at, &s.total_pages_at]
                    .into_iter()
                    .flatten()
                {
                    check_pointer(p)?;
                }
                Ok(())
            }
            Strategy::Offset(s) => {
                check_name(&s.offset_param)?;
                check_name(&s.limit_param)?;
                if s.limit == 0 {
                    return Err("the limit must be at least 1".into());
                }
                s.total_at.as_deref().map_or(Ok(()), check_pointer)
            }
            Strategy::Cursor(s) => {
                check_name(&s.param)?;
                check_pointer(&s.cursor_at)?;
                s.has_more_at.as_deref().map_or(Ok(()), check_pointer)
            }
            Strategy::Link(s) if s.rel.trim().is_empty() => {
                Err("the link relation is empty".into())
            }
            Strategy::Link(_) | Strategy::Fn(_) => Ok(()),
        }
    }

    /// The parameters the first request carries.
    pub(crate) fn first(&self) -> Vec<(String, String)> {
        match self {
            Strategy::PageNumber(s) => {
                let mut q = vec![(s.param.clone(), s.first.to_string())];
                if let Some(n) = s.per_page {
                    q.push((s.per_page_param.clone(), n.to_string()));
                }
                q
            }
            Strategy::Offset(s) => vec![
                (s.offset_param.clone(), "0".into()),
                (s.limit_param.clone(), s.limit.to_string()),
            ],
            _ => Vec::new(),
        }
    }

    /// Where the page after `page` is, or `None` at the end.
    pub(crate) fn next(&self, page: &Page) -> Result<Option<Next>, String> {
        match self {
            Strategy::PageNumber(s) => {
                if page.items().is_empty() || !has_more(page.body(), s.has_more_at.as_deref())? {
                    return Ok(None);
                }
                let current = match query_value(page.url(), &s.param) {
                    Some(v) => v
                        .parse::<u64>()
                        .map_err(|_| format!("the page number {v:?} in the URL is not a number"))?,
                    None => s.first,
                };
                let next = match &s.next_page_at {
                    Some(p) => match number_at(page.body(), p, "next page")? {
                        Some(n) => n,
                        None => return Ok(None),
                    },
                    None => current + 1,
                };
                if let Some(p) = &s.total_pages_at
                    && let Some(total) = number_at(page.body(), p, "total pages")?
                    // Pages numbered from `first`: the last is first + total - 1.
                    && next >= s.first + total
                {
                    return Ok(None);
                }
                Ok(Some(Next::Query(vec![(s.param.clone(), next.to_string())])))
            }
            Strategy::Offset(s) => {
                if page.items().is_empty() {
                    return Ok(None);
                }
                let current = match query_value(page.url(), &s.offset_param) {
                    Some(v) => v
                        .parse::<u64>()
                        .map_err(|_| format!("the offset {v:?} in the URL is not a number"))?,
                    None => 0,
                };
                let next = current + page.items().len() as u64;
                if let Some(p) = &s.total_at
                    && let Some(total) = number_at(page.body(), p, "total")?
                    && next >= total
                {
                    return Ok(None);
                }
                Ok(Some(Next::Query(vec![(
                    s.offset_param.clone(),
                    next.to_string(),
                )])))
            }
            Strategy::Cursor(s) => {
                if !has_more(page.body(), s.has_more_at.as_deref())? {
                    return Ok(None);
                }
                let cursor = match page.body().pointer(&s.cursor_at) {
                    None | Some(Value::Null) => return Ok(None),
                    Some(Value::String(c)) if c.is_empty() => return Ok(None),
                    Some(Value::String(c)) => c.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(other) => {
                        return Err(format!(
                            "the cursor at {} is {}, not a string or number",
                            s.cursor_at,
                            kind_of(other)
                        ));
                    }
                };
                Ok(Some(Next::Query(vec![(s.param.clone(), cursor)])))
            }
            Strategy::Link(s) => {
                for value in page.headers().get_all(http::header::LINK) {
                    let text = value
                        .to_str()
                        .map_err(|_| "a Link header is not visible ASCII".to_string())?;
                    let links = parse_link_header(text).map_err(|e| e.to_string())?;
                    if let Some(link) = links.iter().find(|l| l.has_rel(&s.rel)) {
                        return Ok(Some(Next::Url(link.target().to_owned())));
                    }
                }
                Ok(None)
            }
            Strategy::Fn(f) => f(page).map_err(|e| e.to_string()),
        }
    }
}

/// The first value of query parameter `name` in `url`.
fn query_value(url: &http::Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(url.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
