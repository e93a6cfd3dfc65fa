//! Typed REST collections: list (a paginated stream with filters, sorting
//! and a limit), get, create, update, patch and delete.
//!
//! ```no_run
//! use girder::resource::QueryNames;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct User { id: u64, name: String }
//!
//! # async fn run(client: girder::Client) -> Result<(), girder::Error> {
//! let users = client
//!     .resource::<User>("users")
//!     .query_names(QueryNames::default().filter_template("filter[{}]"));
//! // GET users?filter[team]=core&sort=-created&limit=20, page after page.
//! let recent = users
//!     .list()
//!     .filter("team", "core")
//!     .sort_desc("created")
//!     .limit(20)
//!     .send()
//!     .await?;
//! let ada = users.create(&User { id: 0, name: "Ada".into() }).await?;
//! users.patch(ada.id, &serde_json::json!({ "name": "Ada L." })).await?;
//! users.delete(ada.id).await?;
//! # let _ = recent;
//! # Ok(())
//! # }
//! ```
//!
//! Each call goes through the client's whole stack. `get`, `update`
//! (PUT) and `delete` are idempotent and may be retried; `create` (POST)
//! and `patch` are sent once unless given an idempotency key
//! ([`Resource::create_with_key`]).

use std::fmt;
use std::marker::PhantomData;

use http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{Client, RequestBuilder};
use crate::error::{Error, Kind};
use crate::paginate::{Items, Pages, Pagination};

/// The names of the list query's parameters.
///
/// | setting | default | example |
/// | --- | --- | --- |
/// | filter | `{}` (the field's own name) | `filter[{}]` (JSON:API) |
/// | sort | `sort`, several fields comma-joined | `order_by` |
/// | descending prefix | `-` | |
/// | limit | `limit` | `page_size` |
#[derive(Debug, Clone)]
pub struct QueryNames {
    filter: String,
    sort: String,
    descending: String,
    limit: String,
}

impl Default for QueryNames {
    fn default() -> Self {
        QueryNames {
            filter: "{}".into(),
            sort: "sort".into(),
            descending: "-".into(),
            limit: "limit".into(),
        }
    }
}

impl QueryNames {
    /// A filter's parameter, `{}` standing for the field. Default: `{}`.
    pub fn filter_template(mut self, template: impl Into<String>) -> Self {
        self.filter = template.into();
        self
    }

    /// The sort parameter. Default: `sort`.
    pub fn sort_param(mut self, name: impl Into<String>) -> Self {
        self.sort = name.into();
        self
    }

    /// What marks a descending sort field. Default: `-`.
    pub fn descending_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.descending = prefix.into();
        self
    }

    /// The limit parameter. Default: `limit`.
    pub fn limit_param(mut self, name: impl Into<String>) -> Self {
        self.limit = name.into();
        self
    }
}

/// A typed REST collection at a path; made by [`Client::resource`].
pub struct Resource<T> {
    client: Client,
    path: String,
    names: QueryNames,
    pagination: Pagination,
    items_at: Option<String>,
    item_at: Option<String>,
    _item: PhantomData<fn() -> T>,
}

impl<T> Clone for Resource<T> {
    fn clone(&self) -> Self {
        Resource {
            client: self.client.clone(),
            path: self.path.clone(),
            names: self.names.clone(),
            pagination: self.pagination.clone(),
            items_at: self.items_at.clone(),
            item_at: self.item_at.clone(),
            _item: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Resource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("path", &self.path)
            .field("names", &self.names)
            .field("pagination", &self.pagination)
            .finish_non_exhaustive()
    }
}

impl<T> Resource<T> {
    pub(crate) fn new(client: Client, path: &str) -> Self {
        Resource {
            client,
            path: path.trim_end_matches('/').to_owned(),
            names: QueryNames::default(),
            pagination: Pagination::default(),
            items_at: None,
            item_at: None,
            _item: PhantomData,
        }
    }

    /// The list query's parameter names. Default: [`QueryNames::default`].
    pub fn query_names(mut self, names: QueryNames) -> Self {
        self.names = names;
        self
    }

    /// How lists are paginated. Default: [`LinkHeader`](crate::paginate::LinkHeader).
    pub fn pagination(mut self, strategy: impl Into<Pagination>) -> Self {
        self.pagination = strategy.into();
        self
    }

    /// Where a list page's items are (a JSON pointer). Default: as
    /// [`Paginate::items_at`](crate::paginate::Paginate::items_at).
    pub fn items_at(mut self, pointer: impl Into<String>) -> Self {
        self.items_at = Some(pointer.into());
        self
    }

    /// Where one item is in a single-item response (`"/data"` for an
    /// envelope). Default: the whole body.
    pub fn item_at(mut self, pointer: impl Into<String>) -> Self {
        self.item_at = Some(pointer.into());
        self
    }

    fn one(&self, method: Method, id: &dyn fmt::Display) -> RequestBuilder {
        let path = format!("{}/{}", self.path, encode_segment(&id.to_string()));
        self.client.request(method, &path)
    }
}

impl<T: DeserializeOwned> Resource<T> {
    /// A list query: see [`ListQuery`].
    pub fn list(&self) -> ListQuery<T> {
        ListQuery {
            resource: self.clone(),
            params: Vec::new(),
            sorts: Vec::new(),
            limit: None,
        }
    }

    /// `GET path/{id}`.
    pub async fn get(&self, id: impl fmt::Display) -> Result<T, Error> {
        self.item(self.one(Method::GET, &id)).await
    }

    /// `POST path` with `body`; sent once (not retried).
    pub async fn create<B: Serialize + ?Sized>(&self, body: &B) -> Result<T, Error> {
        self.item(self.client.post(&self.path).json(body)).await
    }

    /// `POST path` with `body` and an `Idempotency-Key`, which makes it
    /// safe to retry.
    pub async fn create_with_key<B: Serialize + ?Sized>(
        &self,
        body: &B,
        key: &str,
    ) -> Result<T, Error> {
        let request = self.client.post(&self.path).json(body).idempotency_key(key);
        self.item(request).await
    }

    /// `PUT path/{id}` with `body` (a full replacement; idempotent).
    pub async fn update<B: Serialize + ?Sized>(
        &self,
        id: impl fmt::Display,
        body: &B,
    ) -> Result<T, Error> {
        self.item(self.one(Method::PUT, &id).json(body)).await
    }

    /// `PATCH path/{id}` with `body` (JSON); sent once.
    pub async fn patch<B: Serialize + ?Sized>(
        &self,
        id: impl fmt::Display,
        body: &B,
    ) -> Result<T, Error> {
        self.item(self.one(Method::PATCH, &id).json(body)).await
    }

    /// `DELETE path/{id}`; any success status will do.
    pub async fn delete(&self, id: impl fmt::Display) -> Result<(), Error> {
        self.one(Method::DELETE, &id)
            .send()
            .await?
            .error_for_status_with_message()
            .await?;
        Ok(())
    }

    async fn item(&self, request: RequestBuilder) -> Result<T, Error> {
        let response = request
            .send()
            .await?
            .error_for_status_with_message()
            .await?;
        let url = response.url().clone();
        let mut value: Value = response.json().await?;
        if let Some(at) = &self.item_at {
            value = value.pointer_mut(at).map(Value::take).ok_or_else(|| {
                Error::with_message(Kind::Decode, format!("no item at {at}"), None).with_url(&url)
            })?;
        }
        serde_json::from_value(value).map_err(|e| {
            Error::with_message(
                Kind::Decode,
                format!("the item is not the type expected: {e}"),
                Some(Box::new(e)),
            )
            .with_url(&url)
        })
    }
}

/// A list query being built: filters, sorting and a limit, mapped to
/// query parameters by the resource's [`QueryNames`].
#[must_use = "a list query does nothing until it is streamed or sent"]
pub struct ListQuery<T> {
    resource: Resource<T>,
    params: Vec<(String, String)>,
    sorts: Vec<String>,
    limit: Option<usize>,
}

impl<T> fmt::Debug for ListQuery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListQuery")
            .field("path", &self.resource.path)
            .field("params", &self.params)
            .field("sorts", &self.sorts)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<T: DeserializeOwned> ListQuery<T> {
    /// Only items whose `field` is `value`.
    pub fn filter(mut self, field: &str, value: impl fmt::Display) -> Self {
        let name = self.resource.names.filter.replace("{}", field);
        self.params.push((name, value.to_string()));
        self
    }

    /// Sorted by `field`, ascending (after earlier sorts).
    pub fn sort(mut self, field: &str) -> Self {
        self.sorts.push(field.to_owned());
        self
    }

    /// Sorted by `field`, descending (after earlier sorts).
    pub fn sort_desc(mut self, field: &str) -> Self {
        self.sorts
            .push(format!("{}{field}", self.resource.names.descending));
        self
    }

    /// At most `n` items: sent as the limit parameter, and the stream
    /// stops after `n` whatever the server sends.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Any other query parameter.
    pub fn param(mut self, name: &str, value: impl fmt::Display) -> Self {
        self.params.push((name.to_owned(), value.to_string()));
        self
    }

    /// The stream of pages.
    pub fn pages(self) -> Pages {
        let mut params = self.params;
        let names = &self.resource.names;
        if !self.sorts.is_empty() {
            params.push((names.sort.clone(), self.sorts.join(",")));
        }
        if let Some(n) = self.limit {
            params.push((names.limit.clone(), n.to_string()));
        }
        let mut paginate = self
            .resource
            .client
            .get(&self.resource.path)
            .query(&params)
            .paginate()
            .strategy(self.resource.pagination.clone());
        if let Some(at) = &self.resource.items_at {
            paginate = paginate.items_at(at.clone());
        }
        if let Some(n) = self.limit {
            paginate = paginate.max_items(n);
        }
        paginate.pages()
    }

    /// The stream of items.
    pub fn items(self) -> Items<T> {
        Items::new(self.pages())
    }

    /// Every item (up to the limit), or the first error.
    pub async fn send(self) -> Result<Vec<T>, Error> {
        self.items().try_collect().await
    }
}

/// `id` as one path segment: everything but RFC 3986's unreserved
/// characters percent-encoded, so `a/b` or `..` stays inside the
/// collection.
fn encode_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric()
            || b"-_~".contains(&b)
            || (b == b'.' && !matches!(id, "." | ".."))
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode_segment;

    #[test]
    fn ids_stay_one_segment() {
        assert_eq!(encode_segment("42"), "42");
        assert_eq!(encode_segment("a.b-c_d~e"), "a.b-c_d~e");
        assert_eq!(encode_segment("a/b c?d#e"), "a%2Fb%20c%3Fd%23e");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
