//! Credential values in use, so that logs can mask them wherever they occur.
//!
//! Masking by field name (`password`, `authorization`) misses a secret that
//! a server echoes back under another name, or inside a JSON string nested
//! in a field. A logging layer that prints bodies or headers creates one
//! [`SecretValues`] for its lifetime and puts a handle into each request's
//! extensions; the layers below that add credentials (auth, signing)
//! register the values they send with [`SecretValues::register_in`], and
//! the logging layer masks every occurrence with [`SecretValues::mask`].
//! Without a registry in the extensions, registering does nothing.
//!
//! ```
//! use girder_core::secrets::SecretValues;
//!
//! let secrets = SecretValues::new();
//! let mut req = http::Request::get("https://api.test/").body(()).unwrap();
//! req.extensions_mut().insert(secrets.clone());
//! SecretValues::register_in(req.extensions(), "s3cr3t-token");
//! let echoed = r#"{"echo":"{\"token\":\"s3cr3t-token\"}"}"#;
//! assert_eq!(secrets.mask(echoed), r#"{"echo":"{\"token\":\"[REDACTED]\"}"}"#);
//! ```

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, RwLock};

use http::Extensions;

/// What a masked value is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Values shorter than this are not registered: masking every `ab` in a
/// log would hide everything and protect nothing.
pub const MIN_LEN: usize = 4;

/// How many values a registry holds; registering more forgets the oldest
/// (a credential replaced that long ago has expired or been rotated).
pub const CAPACITY: usize = 64;

/// The credential values a client currently sends; see the [module docs](self).
///
/// # Clone
///
/// Clones share one registry.
#[derive(Clone, Default)]
pub struct SecretValues(Arc<RwLock<VecDeque<Box<str>>>>);

impl SecretValues {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `value` (and its JSON-escaped forms, `/` escaped or not,
    /// and its percent-encoded form, as an echoing server may write it)
    /// for masking. Values shorter than [`MIN_LEN`] are ignored; a value
    /// already registered costs one read lock and no allocation.
    pub fn register(&self, value: &str) {
        if value.len() < MIN_LEN || self.contains(value) {
            return;
        }
        let forms = [
            Some(Cow::Borrowed(value)),
            escaped_json(value, false),
            escaped_json(value, true),
            percent_encoded(value),
        ];
        let mut values = self.0.write().unwrap_or_else(|p| p.into_inner());
        for form in forms.into_iter().flatten() {
            if values.iter().any(|v| **v == *form) {
                continue;
            }
            if values.len() == CAPACITY {
                values.pop_front();
            }
            values.push_back(form.into_owned().into_boxed_str());
        }
    }

    /// Registers `value` with the registry in `extensions`, if there is one.
    pub fn register_in(extensions: &Extensions, value: &str) {
        if let Some(registry) = extensions.get::<SecretValues>() {
            registry.register(value);
        }
    }

    /// `text` with every registered value replaced by [`MASK`]; borrowed
    /// when nothing matched.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let values = self.0.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Cow::Borrowed(text);
        // Longest first, so a value that contains another is masked whole.
        let mut ordered: Vec<&str> = values.iter().map(|v| &**v).collect();
        ordered.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for value in ordered {
            if out.contains(value) {
                out = Cow::Owned(out.replace(value, MASK));
            }
        }
        out
    }

    /// The number of values held (forms included).
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn contains(&self, value: &str) -> bool {
        let values = self.0.read().unwrap_or_else(|p| p.into_inner());
        values.iter().any(|v| **v == *value)
    }
}

impl fmt::Debug for SecretValues {
    /// The count only, never a value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValues")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// `value` as it appears inside a JSON string, `/` escaped (`\/`) or not
/// (most encoders leave it), when that differs from `value`.
fn escaped_json(value: &str, slash: bool) -> Option<Cow<'static, str>> {
    if !value
        .chars()
        .any(|c| matches!(c, '"' | '\\') || (slash && c == '/') || c.is_control())
    {
        return None;
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if slash => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    Some(Cow::Owned(out))
}

/// `value` percent-encoded as a form or query value, when that differs.
fn percent_encoded(value: &str) -> Option<Cow<'static, str>> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if value.bytes().all(unreserved) {
        return None;
    }
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_form_of_a_value_and_leaves_the_rest() {
        let secrets = SecretValues::new();
        secrets.register("pa ss/word\"1");
        let text = r#"a pa ss/word"1 b "pa ss\/word\"1" c pa%20ss%2Fword%221 d "pa ss/word\"1""#;
        assert_eq!(
            secrets.mask(text),
            "a [REDACTED] b \"[REDACTED]\" c [REDACTED] d \"[REDACTED]\""
        );
        // Registered again: nothing added.
        let held = secrets.len();
        secrets.register("pa ss/word\"1");
        assert_eq!(secrets.len(), held);
        assert!(matches!(secrets.mask("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_values_are_ignored_and_the_registry_is_bounded() {
        let secrets = SecretValues::new();
        secrets.register("abc");
        assert!(secrets.is_empty());
        for i in 0..(CAPACITY + 10) {
            secrets.register(&format!("token-{i:04}"));
        }
        assert_eq!(secrets.len(), CAPACITY);
        assert_eq!(secrets.mask("token-0000"), "token-0000");
        assert_eq!(secrets.mask("token-0073"), MASK);
    }

    #[test]
    fn debug_shows_no_value() {
        let secrets = SecretValues::new();
        secrets.register("hunter22");
        assert!(!format!("{secrets:?}").contains("hunter22"));
    }

    #[test]
    fn register_in_without_a_registry_does_nothing() {
        let req = http::Request::new(());
        SecretValues::register_in(req.extensions(), "hunter22");
    }
}
