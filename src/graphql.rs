//! GraphQL over HTTP: typed `data`, typed `errors` with partial data, safe
//! retries and Relay connections as a stream.
//!
//! ```no_run
//! use serde_json::json;
//!
//! #[derive(serde::Deserialize)]
//! struct Data { viewer: Viewer }
//! #[derive(serde::Deserialize)]
//! struct Viewer { login: String }
//!
//! # async fn run(client: girder::Client) -> Result<(), girder::Error> {
//! let data: Data = client
//!     .graphql("graphql")
//!     .query("query Me($n: Int) { viewer { login } }")
//!     .variables(&json!({ "n": 1 }))
//!     .operation_name("Me")
//!     .send()
//!     .await?;
//! println!("{}", data.viewer.login);
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! A response with a non-empty `errors` list is an [`Error`] of
//! [`Kind::GraphQl`]; [`Error::graphql`] gives the [`GraphQlErrors`]
//! (each with its message, path, locations and extensions) and whatever
//! partial `data` came with them. A response that is not GraphQL is the
//! usual status or decode error.
//!
//! # Retries
//!
//! Every operation is a POST, which the retry layer does not resend by
//! default. A `query` is marked idempotent (girder's [`Idempotency`]
//! request extension), so it is retried on transport failures and
//! retryable statuses; a `mutation` or `subscription`, or a document
//! whose operation cannot be told, is sent once unless marked
//! [`idempotent(true)`](Operation::idempotent).

use std::fmt;

use bytes::Bytes;
use girder_core::{Body, Idempotency};
use http::Request;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::{Error, Kind};
use crate::paginate::{self, Fetched, Items, Page, Pages, Source, Step};

/// A GraphQL endpoint of a [`Client`]; made by [`Client::graphql`]. Cheap
/// to clone.
#[derive(Debug, Clone)]
pub struct GraphQl {
    client: Client,
    path: String,
}

impl GraphQl {
    pub(crate) fn new(client: Client, path: &str) -> GraphQl {
        GraphQl {
            client,
            path: path.to_owned(),
        }
    }

    /// An operation of `document` (a query, or a mutation: the document's
    /// operation type decides retries).
    pub fn query(&self, document: impl Into<String>) -> Operation {
        Operation {
            endpoint: self.clone(),
            document: document.into(),
            variables: Ok(Map::new()),
            operation_name: None,
            idempotent: None,
            headers: Vec::new(),
            timeout: None,
        }
    }
}

/// One GraphQL operation being built; [`send`](Operation::send) sends it.
#[must_use = "an operation does nothing until it is sent"]
pub struct Operation {
    endpoint: GraphQl,
    document: String,
    variables: Result<Map<String, Value>, Error>,
    operation_name: Option<String>,
    idempotent: Option<bool>,
    headers: Vec<(String, String)>,
    timeout: Option<std::time::Duration>,
}

impl fmt::Debug for Operation {
    // Variables may hold secrets: not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation")
            .field("path", &self.endpoint.path)
            .field("operation_name", &self.operation_name)
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

/// The operation type of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// `query` or the `{ … }` shorthand.
    Query,
    /// `mutation`.
    Mutation,
    /// `subscription`.
    Subscription,
    /// None could be told (no operation, several without a name chosen,
    /// a name not in the document).
    Unknown,
}

impl Operation {
    /// The variables: anything serde serialises as a JSON object, replacing
    /// those set before.
    pub fn variables<V: Serialize + ?Sized>(mut self, variables: &V) -> Self {
        self.variables = match serde_json::to_value(variables) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(Value::Null) => Ok(Map::new()),
            Ok(_) => Err(Error::with_message(
                Kind::Builder,
                "GraphQL variables must serialise as a JSON object",
                None,
            )),
            Err(e) => Err(Error::with_message(
                Kind::Builder,
                format!("GraphQL variables do not serialise: {e}"),
                Some(Box::new(e)),
            )),
        };
        self
    }

    /// One variable.
    pub fn variable<V: Serialize + ?Sized>(mut self, name: &str, value: &V) -> Self {
        if let Ok(map) = &mut self.variables {
            match serde_json::to_value(value) {
                Ok(value) => {
                    map.insert(name.to_owned(), value);
                }
                Err(e) => {
                    self.variables = Err(Error::with_message(
                        Kind::Builder,
                        format!("GraphQL variable {name:?} does not serialise: {e}"),
                        Some(Box::new(e)),
                    ))
                }
            }
        }
        self
    }

    /// Which operation of the document to run (`operationName`).
    pub fn operation_name(mut self, name: impl Into<String>) -> Self {
        self.operation_name = Some(name.into());
        self
    }

    /// Whether the operation may be sent more than once. Default: `true`
    /// for queries, `false` for mutations, subscriptions and documents
    /// whose operation type cannot be told.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// A header for this operation.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The total time this operation may take (each page's, for
    /// [`relay`](Operation::relay)).
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The operation type of the document (for the chosen operation name).
    pub fn kind(&self) -> OperationKind {
        operation_kind(&self.document, self.operation_name.as_deref())
    }

    fn is_idempotent(&self) -> bool {
        self.idempotent
            .unwrap_or(self.kind() == OperationKind::Query)
    }

    fn request(&self, variables: &Map<String, Value>) -> Result<Request<Body>, Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload<'a> {
            query: &'a str,
            #[serde(skip_serializing_if = "Map::is_empty")]
            variables: &'a Map<String, Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            operation_name: Option<&'a str>,
        }
        let payload = Payload {
            query: &self.document,
            variables,
            operation_name: self.operation_name.as_deref(),
        };
        let idempotency = if self.is_idempotent() {
            Idempotency::Idempotent
        } else {
            Idempotency::NotIdempotent
        };
        let mut builder = self
            .endpoint
            .client
            .post(&self.endpoint.path)
            .header(
                "accept",
                "application/graphql-response+json, application/json;q=0.9",
            )
            .json(&payload)
            .extension(idempotency);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        builder.build()
    }

    /// Sends the operation and decodes `data` as `T`.
    pub async fn send<T: DeserializeOwned>(mut self) -> Result<T, Error> {
        let variables = std::mem::replace(&mut self.variables, Ok(Map::new()))?;
        let request = self.request(&variables)?;
        let response = self.endpoint.client.execute(request).await?;
        let fetched = Fetched {
            url: response.url().clone(),
            status: response.status(),
            headers: response.headers().clone(),
            body: Bytes::new(),
        };
        let body = response.bytes().await?;
        let data = read_response(Fetched { body, ..fetched })?;
        serde_json::from_value(data).map_err(|e| {
            Error::with_message(
                Kind::Decode,
                format!("GraphQL data is not the type expected: {e}"),
                Some(Box::new(e)),
            )
        })
    }

    /// A Relay connection at `connection_at` (a JSON pointer into `data`,
    /// like `"/viewer/repositories"`) as a paginated stream: the document
    /// must select `pageInfo { hasNextPage endCursor }` and `edges { node
    /// { … } }` or `nodes { … }`, and take the cursor as the `$after`
    /// variable (see [`Relay::cursor_variable`]).
    pub fn relay(self, connection_at: impl Into<String>) -> Relay {
        Relay {
            operation: self,
            connection_at: connection_at.into(),
            cursor_variable: "after".into(),
            max_pages: None,
            max_items: None,
        }
    }
}

/// A Relay connection being configured; made by [`Operation::relay`].
#[must_use = "a connection does nothing until it is streamed"]
#[derive(Debug)]
pub struct Relay {
    operation: Operation,
    connection_at: String,
    cursor_variable: String,
    max_pages: Option<usize>,
    max_items: Option<usize>,
}

impl Relay {
    /// The variable the next page's cursor is sent in. Default: `after`.
    pub fn cursor_variable(mut self, name: impl Into<String>) -> Self {
        self.cursor_variable = name.into();
        self
    }

    /// Fetch at most this many pages. Default: no limit.
    pub fn max_pages(mut self, pages: usize) -> Self {
        self.max_pages = Some(pages);
        self
    }

    /// Yield at most this many nodes. Default: no limit.
    pub fn max_items(mut self, items: usize) -> Self {
        self.max_items = Some(items);
        self
    }

    /// The stream of pages (each page's items are its nodes).
    pub fn pages(mut self) -> Pages {
        let client = self.operation.endpoint.client.clone();
        let variables = std::mem::replace(&mut self.operation.variables, Ok(Map::new()));
        let at = self.connection_at.as_str();
        let source = match variables {
            Err(e) => Err(e),
            Ok(_) if !(at.is_empty() || at.starts_with('/')) => Err(Error::with_message(
                Kind::Builder,
                format!("{at:?} is not a JSON pointer (they start with '/')"),
                None,
            )),
            Ok(variables) => Ok(Box::new(RelaySource {
                operation: self.operation,
                variables,
                connection_at: self.connection_at,
                cursor_variable: self.cursor_variable,
            }) as Box<dyn Source>),
        };
        Pages::new(client, source, self.max_pages, self.max_items)
    }

    /// The stream of nodes, decoded as `T`.
    pub fn items<T: DeserializeOwned>(self) -> Items<T> {
        Items::new(self.pages())
    }
}

struct RelaySource {
    operation: Operation,
    variables: Map<String, Value>,
    connection_at: String,
    cursor_variable: String,
}

impl Source for RelaySource {
    fn request(&self, step: &Step) -> Result<Request<Body>, Error> {
        let mut variables = self.variables.clone();
        if let Step::Cursor(cursor) = step {
            variables.insert(self.cursor_variable.clone(), Value::String(cursor.clone()));
        }
        self.operation.request(&variables)
    }

    fn key(&self, step: &Step) -> Option<String> {
        match step {
            Step::Cursor(cursor) => Some(cursor.clone()),
            _ => None,
        }
    }

    fn read_step(&self, index: usize, fetched: Fetched) -> Result<(Page, Option<Step>), Error> {
        let (url, status, headers) = (fetched.url.clone(), fetched.status, fetched.headers.clone());
        let shell = Fetched {
            url: url.clone(),
            status,
            headers: headers.clone(),
            body: Bytes::new(),
        };
        let mut data = read_response(fetched)?;
        let at = &self.connection_at;
        let bad = |why: String| paginate::malformed(index, why, &shell);
        let connection = data
            .pointer_mut(at)
            .filter(|c| c.is_object())
            .ok_or_else(|| bad(format!("no connection object at {at} in data")))?;
        let items = if let Some(edges) = connection.get_mut("edges").filter(|e| !e.is_null()) {
            let Value::Array(edges) = edges.take() else {
                return Err(bad(format!("{at}/edges is not an array")));
            };
            edges
                .into_iter()
                .enumerate()
                .map(|(i, mut edge)| match edge.get_mut("node") {
                    Some(node) => Ok(node.take()),
                    None => Err(bad(format!("{at}/edges/{i} has no node"))),
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            match connection.get_mut("nodes").map(Value::take) {
                Some(Value::Array(nodes)) => nodes,
                _ => return Err(bad(format!("no edges or nodes array at {at}"))),
            }
        };
        let info = connection
            .get("pageInfo")
            .ok_or_else(|| bad(format!("no pageInfo at {at}")))?;
        let next = match info.get("hasNextPage") {
            Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => match info.get("endCursor") {
                Some(Value::String(cursor)) if !cursor.is_empty() => {
                    Some(Step::Cursor(cursor.clone()))
                }
                _ => {
                    return Err(bad(format!(
                        "{at}/pageInfo has hasNextPage true but no endCursor"
                    )));
                }
            },
            _ => return Err(bad(format!("no hasNextPage boolean in {at}/pageInfo"))),
        };
        let page = Page {
            index,
            url,
            status,
            headers,
            body: data,
            items,
            next: None,
        };
        Ok((page, next))
    }
}

/// `data` of a GraphQL response, or its errors.
fn read_response(fetched: Fetched) -> Result<Value, Error> {
    let status = fetched.status;
    let parsed: Option<Map<String, Value>> = serde_json::from_slice(&fetched.body).ok();
    let failed = status.is_client_error() || status.is_server_error();
    let Some(mut object) = parsed.filter(|o| o.contains_key("data") || o.contains_key("errors"))
    else {
        if failed {
            return Err(
                Error::from_status(status, fetched.headers, Some(fetched.body))
                    .with_url(&fetched.url),
            );
        }
        return Err(Error::with_message(
            Kind::Decode,
            "the response is not a GraphQL response (no data or errors)",
            None,
        )
        .with_url(&fetched.url));
    };
    let data = object.remove("data").filter(|d| !d.is_null());
    let errors = match object.remove("errors") {
        None | Some(Value::Null) => Vec::new(),
        Some(errors) => serde_json::from_value::<Vec<GraphQlError>>(errors).map_err(|e| {
            Error::with_message(
                Kind::Decode,
                format!("the GraphQL errors are malformed: {e}"),
                Some(Box::new(e)),
            )
            .with_url(&fetched.url)
        })?,
    };
    if !errors.is_empty() {
        let errors = GraphQlErrors { errors, data };
        let message = errors.to_string();
        let mut error = Error::with_message(Kind::GraphQl, message, Some(Box::new(errors)))
            .with_url(&fetched.url);
        if failed {
            error = error.with_status(status);
        }
        return Err(error);
    }
    if failed {
        return Err(
            Error::from_status(status, fetched.headers, Some(fetched.body)).with_url(&fetched.url),
        );
    }
    data.ok_or_else(|| {
        Error::with_message(Kind::Decode, "the GraphQL response has no data", None)
            .with_url(&fetched.url)
    })
}

/// The `errors` of a GraphQL response and any partial `data`: the source
/// of a [`Kind::GraphQl`] [`Error`], reached with [`Error::graphql`].
#[derive(Debug, Clone)]
pub struct GraphQlErrors {
    errors: Vec<GraphQlError>,
    data: Option<Value>,
}

impl GraphQlErrors {
    /// The errors, in the server's order (never empty).
    pub fn errors(&self) -> &[GraphQlError] {
        &self.errors
    }

    /// The partial data, when the server sent any.
    pub fn data(&self) -> Option<&Value> {
        self.data.as_ref()
    }

    /// The partial data decoded as `T` (typically with `Option` fields for
    /// those that failed), `None` when there was none.
    pub fn data_as<T: DeserializeOwned>(&self) -> Option<Result<T, serde_json::Error>> {
        self.data.clone().map(serde_json::from_value)
    }
}

impl fmt::Display for GraphQlErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().take(3).enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        if self.errors.len() > 3 {
            write!(f, "; and {} more", self.errors.len() - 3)?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphQlErrors {}

/// One GraphQL error (GraphQL spec §7.1.2).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct GraphQlError {
    /// What went wrong.
    pub message: String,
    /// Where in the document.
    #[serde(default)]
    pub locations: Vec<Location>,
    /// The path of the response field that failed.
    #[serde(default)]
    pub path: Vec<PathSegment>,
    /// The server's extra details (`code` and the like).
    #[serde(default)]
    pub extensions: Option<Map<String, Value>>,
}

impl GraphQlError {
    /// `extensions.code`, the common place for an error code.
    pub fn code(&self) -> Option<&str> {
        self.extensions.as_ref()?.get("code")?.as_str()
    }
}

impl fmt::Display for GraphQlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            for (i, segment) in self.path.iter().enumerate() {
                if i > 0 {
                    f.write_str(".")?;
                }
                match segment {
                    PathSegment::Field(name) => f.write_str(name)?,
                    PathSegment::Index(n) => write!(f, "{n}")?,
                }
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

/// A line and column in the document, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Location {
    /// The line.
    pub line: u32,
    /// The column.
    pub column: u32,
}

/// A step of an error's path: a field name or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PathSegment {
    /// A field (its alias when aliased).
    Field(String),
    /// A list index.
    Index(u64),
}

/// The type of the operation named `name` (or the only one) in `document`.
///
/// ```
/// use girder::graphql::{operation_kind, OperationKind};
///
/// assert_eq!(operation_kind("{ me { id } }", None), OperationKind::Query);
/// let doc = "query A { a } mutation B($x: In = {k: \"}\"}) { b(x: $x) }";
/// assert_eq!(operation_kind(doc, Some("B")), OperationKind::Mutation);
/// assert_eq!(operation_kind(doc, None), OperationKind::Unknown);
/// ```
pub fn operation_kind(document: &str, name: Option<&str>) -> OperationKind {
    let ops = operations(document);
    let found = match name {
        Some(name) => ops.iter().find(|(_, n)| n.as_deref() == Some(name)),
        None if ops.len() == 1 => ops.first(),
        None => None,
    };
    found.map_or(OperationKind::Unknown, |(kind, _)| *kind)
}

/// The top-level operations of a document: their types and names.
fn operations(document: &str) -> Vec<(OperationKind, Option<String>)> {
    let s = document.as_bytes();
    let mut ops = Vec::new();
    let (mut i, mut braces, mut parens) = (0usize, 0usize, 0usize);
    // A definition keyword was read and its selection set is still to come.
    let mut pending = false;
    let mut expect_name: Option<OperationKind> = None;
    let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < s.len() {
        let c = s[i];
        match c {
            b'#' => {
                while i < s.len() && s[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                if s[i..].starts_with(b"\"\"\"") {
                    i += 3;
                    while i < s.len() && !s[i..].starts_with(b"\"\"\"") {
                        i += if s[i..].starts_with(b"\\\"\"\"") {
                            4
                        } else {
                            1
                        };
                    }
                    i += 3;
                } else {
                    i += 1;
                    while i < s.len() && s[i] != b'"' && s[i] != b'\n' {
                        i += if s[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                expect_name = None;
                continue;
            }
            b'(' => parens += 1,
            b')' => parens = parens.saturating_sub(1),
            b'{' => {
                if braces == 0 && parens == 0 {
                    if let Some(kind) = expect_name.take() {
                        ops.push((kind, None));
                    } else if !pending {
                        ops.push((OperationKind::Query, None));
                    }
                    pending = false;
                }
                braces += 1;
            }
            b'}' => braces = braces.saturating_sub(1),
            c if is_name(c) => {
                let start = i;
                while i < s.len() && is_name(s[i]) {
                    i += 1;
                }
                if braces == 0 && parens == 0 {
                    let word = &document[start..i];
                    if let Some(kind) = expect_name.take() {
                        ops.push((kind, Some(word.to_owned())));
                    } else if !pending {
                        let kind = match word {
                            "query" => Some(OperationKind::Query),
                            "mutation" => Some(OperationKind::Mutation),
                            "subscription" => Some(OperationKind::Subscription),
                            _ => None,
                        };
                        pending = true;
                        expect_name = kind;
                    }
                }
                continue;
            }
            _ => {
                // A '(' or '@' after the keyword: an anonymous operation.
                if braces == 0
                    && parens == 0
                    && (c == b'@' || c == b'$')
                    && let Some(kind) = expect_name.take()
                {
                    ops.push((kind, None));
                }
            }
        }
        if c == b'('
            && braces == 0
            && parens == 1
            && let Some(kind) = expect_name.take()
        {
            ops.push((kind, None));
        }
        i += 1;
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_types_are_told_apart() {
        use OperationKind::*;
        for (doc, name, kind) in [
            ("{ a }", None, Query),
            ("query { a }", None, Query),
            ("query Q($id: ID!) @live { a(id: $id) }", None, Query),
            ("mutation M { m }", None, Mutation),
            ("mutation($x: Int) { m(x: $x) }", None, Mutation),
            ("subscription S { s }", None, Subscription),
            ("# mutation X\n query Q { a }", None, Query),
            ("query Q { a(s: \"mutation { x }\") }", None, Query),
            ("query Q { a(s: \"\"\"mutation { x }\"\"\") }", None, Query),
            ("fragment F on T { f } mutation M { ...F }", None, Mutation),
            ("query A { a } mutation B { b }", Some("A"), Query),
            ("query A { a } mutation B { b }", Some("B"), Mutation),
            ("query A { a } mutation B { b }", None, Unknown),
            ("query A { a }", Some("Nope"), Unknown),
            ("", None, Unknown),
        ] {
            assert_eq!(operation_kind(doc, name), kind, "{doc} / {name:?}");
        }
    }

    #[test]
    fn errors_display_their_paths() {
        let e: GraphQlError = serde_json::from_str(
            r#"{"message":"boom","path":["user",0,"name"],"locations":[{"line":2,"column":3}],"extensions":{"code":"X"}}"#,
        )
        .unwrap();
        assert_eq!(e.to_string(), "user.0.name: boom");
        assert_eq!(e.code(), Some("X"));
        assert_eq!(e.locations, [Location { line: 2, column: 3 }]);
    }
}
