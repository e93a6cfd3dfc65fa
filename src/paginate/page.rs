//! [`Page`]: one fetched page, its items taken out of the body.

use http::{HeaderMap, StatusCode, Uri};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Kind};

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    pub(crate) index: usize,
    pub(crate) url: Uri,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) items: Vec<Value>,
    pub(crate) next: Option<Uri>,
}

impl Page {
    /// Which page this is, counting from 1.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The URL it was fetched from.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The JSON body, with the items taken out (`null` where they were),
    /// for totals and other metadata.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The items.
    pub fn items(&self) -> &[Value] {
        &self.items
    }

    /// The items, owned.
    pub fn into_items(self) -> Vec<Value> {
        self.items
    }

    /// The items decoded as `T`.
    pub fn items_as<T: DeserializeOwned>(&self) -> Result<Vec<T>, Error> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| decode_item(item.clone(), self.index, i, &self.url))
            .collect()
    }

    /// The URL of the next page, when there is one (`None` for GraphQL
    /// connections, whose next page is a cursor variable).
    pub fn next_url(&self) -> Option<&Uri> {
        self.next.as_ref()
    }
}

pub(crate) fn decode_item<T: DeserializeOwned>(
    item: Value,
    page: usize,
    i: usize,
    url: &Uri,
) -> Result<T, Error> {
    serde_json::from_value(item).map_err(|e| {
        Error::with_message(
            Kind::Decode,
            format!(
                "item {} of page {page} is not the type expected: {e}",
                i + 1
            ),
            Some(Box::new(e)),
        )
        .with_url(url)
    })
}

/// Where the items are in a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemsAt {
    /// A top-level array, or the array at `/items`, `/data` or `/results`.
    Auto,
    Pointer(String),
}

const AUTO: [&str; 3] = ["/items", "/data", "/results"];

pub(crate) fn take_items(body: &mut Value, at: &ItemsAt) -> Result<Vec<Value>, String> {
    let pointer = match at {
        ItemsAt::Pointer(p) => p.as_str(),
        ItemsAt::Auto if body.is_array() => "",
        ItemsAt::Auto => AUTO
            .into_iter()
            .find(|p| body.pointer(p).is_some())
            .ok_or_else(|| {
                "no items: the page is neither an array nor an object with an \
                 items, data or results array"
                    .to_string()
            })?,
    };
    let Some(slot) = body.pointer_mut(pointer) else {
        return Err(format!("no items at {pointer}"));
    };
    match slot.take() {
        Value::Array(items) => Ok(items),
        other => {
            let kind = match &other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Object(_) => "an object",
                Value::Array(_) => unreachable!("arrays are taken above"),
            };
            *slot = other;
            let at = if pointer.is_empty() {
                "the top level"
            } else {
                pointer
            };
            Err(format!("the items at {at} are {kind}, not an array"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_found_where_configured_or_guessed() {
        let mut b = json!([1, 2]);
        assert_eq!(take_items(&mut b, &ItemsAt::Auto).unwrap().len(), 2);
        let mut b = json!({"data": [1], "total": 1});
        assert_eq!(take_items(&mut b, &ItemsAt::Auto).unwrap(), [json!(1)]);
        assert_eq!(b, json!({"data": null, "total": 1}));
        let mut b = json!({"a": {"b": [1, 2, 3]}});
        let at = ItemsAt::Pointer("/a/b".into());
        assert_eq!(take_items(&mut b, &at).unwrap().len(), 3);
    }

    #[test]
    fn missing_or_non_array_items_say_so() {
        let mut b = json!({"users": []});
        assert!(
            take_items(&mut b, &ItemsAt::Auto)
                .unwrap_err()
                .contains("no items")
        );
        let at = ItemsAt::Pointer("/items".into());
        assert_eq!(take_items(&mut b, &at).unwrap_err(), "no items at /items");
        let mut b = json!({"items": {"a": 1}});
        let e = take_items(&mut b, &at).unwrap_err();
        assert!(e.contains("are an object, not an array"), "{e}");
        assert_eq!(b, json!({"items": {"a": 1}}), "the body is left whole");
        let mut b = json!({"x": 1});
        let e = take_items(&mut b, &ItemsAt::Pointer(String::new())).unwrap_err();
        assert!(e.contains("top level"), "{e}");
    }
}
