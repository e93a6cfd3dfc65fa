//! Body excerpts: what a logged body looks like, and the tee that copies a
//! streamed response body up to the limit while the caller reads it.
//!
//! A body is shown only when its content type is allowed; JSON and form
//! bodies are parsed and their sensitive fields masked at any depth. JSON
//! that does not parse (including JSON cut at the limit) is not shown at
//! all, because it cannot be masked with certainty.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use girder_core::BoxError;
use girder_core::secrets::MIN_LEN;
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use serde_json::Value;
use tracing::Span;

use crate::config::LoggingConfig;
use crate::level::TARGET;
use crate::redact::{REDACTED, percent_decode};

/// The largest JSON body parsed for masking: a log line is not worth
/// parsing an upload of many megabytes.
const MAX_PARSE: usize = 1 << 20;

/// How much more than `body_limit` is kept and masked before the text is
/// cut: a credential value that straddles the limit is masked whole rather
/// than cut into a prefix that no mask matches. Values up to this long
/// (a JWT, a long API key) are covered.
pub(crate) const MASK_MARGIN: usize = 4096;

/// The text a log line shows for a body of `total` bytes of which `bytes`
/// were kept: all of them, or at least the first `body_limit` plus
/// [`MASK_MARGIN`]. JSON is shown only when it is whole (to be parsed and
/// masked). Sensitive fields are masked by name, then every registered
/// credential value wherever it occurs; the shown text is cut to the limit
/// last.
pub(crate) fn render(
    bytes: &[u8],
    total: usize,
    content_type: Option<&str>,
    config: &LoggingConfig,
) -> String {
    // `bytes` is the whole body or its first `body_limit + MASK_MARGIN` bytes.
    let truncated = bytes.len() < total;
    let head = &bytes[..bytes.len().min(config.body_limit + MASK_MARGIN)];
    let kind = match content_type {
        Some(ct) if !config.logs_body_type(ct) => {
            return format!("[{total} bytes of {ct}, not logged]");
        }
        Some(ct) => {
            let ct = ct.to_ascii_lowercase();
            if ct.contains("json") {
                Kind::Json
            } else if ct.contains("application/x-www-form-urlencoded") {
                Kind::Form
            } else {
                Kind::Text
            }
        }
        // No content type: only what is plainly JSON is shown (masked).
        None => match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | Some(b'[') => Kind::Json,
            _ => return format!("[{total} bytes without a content type, not logged]"),
        },
    };
    let secrets = &config.secrets;
    let text = match kind {
        Kind::Json if truncated || total > MAX_PARSE => {
            return format!("[{total} bytes of JSON, too long to mask, not logged]");
        }
        Kind::Json => match serde_json::from_slice::<Value>(bytes) {
            Ok(mut value) => {
                mask_json(&mut value, config);
                // Strings are masked once unescaped: a value inside JSON
                // text nested in a string field is found whatever escaping
                // the server used for it.
                if !secrets.is_empty() {
                    mask_strings(&mut value, config);
                }
                value.to_string()
            }
            Err(_) => return format!("[{total} bytes of JSON that does not parse, not logged]"),
        },
        Kind::Form => mask_form(&String::from_utf8_lossy(head), config),
        Kind::Text => String::from_utf8_lossy(head).into_owned(),
    };
    // The text as printed too: keys, forms, text, doubly escaped values.
    let text = match secrets.mask(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(masked) => masked,
    };
    cap(text, total, total > config.body_limit, config.body_limit)
}

/// Masks registered credential values in every string of `value`, at any
/// depth. A string that holds JSON text (an echo server's `"data"`) is
/// parsed and masked in turn, by field name and by value, so a value is
/// found unescaped however deep it is nested and however its server
/// escaped it (`\/` or `/`, `\u0022` or `\"`).
fn mask_strings(value: &mut Value, config: &LoggingConfig) {
    match value {
        Value::String(text) if text.len() >= MIN_LEN => {
            let trimmed = text.trim_start();
            if trimmed.starts_with(['{', '['])
                && let Ok(mut nested) = serde_json::from_str::<Value>(text)
            {
                mask_json(&mut nested, config);
                mask_strings(&mut nested, config);
                *text = nested.to_string();
            } else if let Cow::Owned(masked) = config.secrets.mask(text) {
                *text = masked;
            }
        }
        Value::Object(map) => map.values_mut().for_each(|v| mask_strings(v, config)),
        Value::Array(items) => items.iter_mut().for_each(|v| mask_strings(v, config)),
        _ => {}
    }
}

enum Kind {
    Json,
    Form,
    Text,
}

/// Cuts `text` to `limit` bytes on a character boundary.
fn cap(mut text: String, total: usize, cut: bool, limit: usize) -> String {
    // Masking may lengthen a short body past the limit; that is kept whole.
    if !cut {
        return text;
    }
    let mut end = limit.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    let _ = write!(text, "… ({total} bytes in all)");
    text
}

fn mask_json(value: &mut Value, config: &LoggingConfig) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if config.is_masked_field(key) {
                    *value = Value::String(REDACTED.to_owned());
                } else {
                    mask_json(value, config);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_json(v, config)),
        _ => {}
    }
}

fn mask_form(form: &str, config: &LoggingConfig) -> String {
    let mut out = String::with_capacity(form.len());
    for (i, pair) in form.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if config.is_masked_field(&percent_decode(name)) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?;
    Some(match value.to_str() {
        Ok(text) => text.to_owned(),
        Err(_) => "a content type that is not text".to_owned(),
    })
}

pin_project! {
    /// Copies a streamed response body, up to the limit, while the caller
    /// reads it, and logs the copy when the body ends, fails or is dropped.
    /// The frames pass through untouched.
    pub(crate) struct Tee<B> {
        #[pin]
        inner: B,
        copy: Vec<u8>,
        total: usize,
        content_type: Option<String>,
        span: Span,
        config: Arc<LoggingConfig>,
        logged: bool,
    }

    impl<B> PinnedDrop for Tee<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.logged {
                let text = render(this.copy, *this.total, this.content_type.as_deref(), this.config);
                tracing::debug!(
                    target: TARGET,
                    parent: &*this.span,
                    body = %text,
                    bytes = *this.total as u64,
                    "response body dropped before its end"
                );
            }
        }
    }
}

impl<B> Tee<B> {
    pub(crate) fn new(
        inner: B,
        content_type: Option<String>,
        span: Span,
        config: Arc<LoggingConfig>,
    ) -> Self {
        Tee {
            inner,
            copy: Vec::new(),
            total: 0,
            content_type,
            span,
            config,
            logged: false,
        }
    }
}

impl<B> HttpBody for Tee<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let done = match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    *this.total += data.len();
                    let keep = this.config.body_limit + MASK_MARGIN;
                    let room = keep.saturating_sub(this.copy.len());
                    this.copy.extend_from_slice(&data[..room.min(data.len())]);
                }
                this.inner.is_end_stream()
            }
            Some(Err(_)) | None => true,
        };
        if done && !*this.logged {
            *this.logged = true;
            let text = render(
                this.copy,
                *this.total,
                this.content_type.as_deref(),
                this.config,
            );
            let failed = matches!(frame, Some(Err(_)));
            tracing::debug!(
                target: TARGET,
                parent: &*this.span,
                body = %text,
                bytes = *this.total as u64,
                failed,
                "response body"
            );
        }
        Poll::Ready(frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoggingConfig {
        LoggingConfig::builder().body_limit(64).build().unwrap()
    }

    #[test]
    fn json_fields_are_masked_at_any_depth() {
        let body = br#"{"user":"ann","password":"pw1","nested":{"list":[{"refreshToken":"rt2"}],"client_secret":{"a":"cs3"}}}"#;
        let text = render(
            body,
            body.len(),
            Some("application/json"),
            &LoggingConfig::default(),
        );
        assert_eq!(
            text,
            r#"{"nested":{"client_secret":"[redacted]","list":[{"refreshToken":"[redacted]"}]},"password":"[redacted]","user":"ann"}"#
        );
    }

    #[test]
    fn json_that_cannot_be_masked_is_not_shown() {
        let body = br#"{"password":"pw1""#;
        let text = render(body, body.len(), Some("application/json"), &config());
        assert!(!text.contains("pw1"), "{text}");
        let cut = render(&body[..5], 500, Some("application/json"), &config());
        assert_eq!(cut, "[500 bytes of JSON, too long to mask, not logged]");
    }

    #[test]
    fn forms_are_masked_and_other_types_filtered() {
        let body = b"grant_type=refresh_token&refresh%5Ftoken=rt9&client_secret=cs";
        let text = render(
            body,
            body.len(),
            Some("application/x-www-form-urlencoded"),
            &config(),
        );
        assert_eq!(
            text,
            "grant_type=refresh_token&refresh%5Ftoken=[redacted]&client_secret=[redacted]"
        );
        let png = render(b"\x89PNG", 4, Some("image/png"), &config());
        assert_eq!(png, "[4 bytes of image/png, not logged]");
        let bare = render(b"hello", 5, None, &config());
        assert_eq!(bare, "[5 bytes without a content type, not logged]");
        let sniffed = render(br#"{"token":"t"}"#, 13, None, &config());
        assert_eq!(sniffed, r#"{"token":"[redacted]"}"#);
    }

    /// Pins issue 18, security defect 4 (a value straddling the cut): the
    /// text was cut to the limit before anything could mask the value,
    /// leaving its first bytes in the log.
    #[test]
    fn a_value_straddling_the_limit_is_masked_before_the_cut() {
        let config = config();
        config.secrets.register("SECRETVALUE123");
        let body = format!("{}SECRETVALUE123{}", "a".repeat(60), "b".repeat(10));
        let text = render(body.as_bytes(), body.len(), Some("text/plain"), &config);
        assert!(
            text.starts_with(&format!("{}[RED", "a".repeat(60))),
            "{text}"
        );
        assert!(!text.contains("SECR"), "{text}");
    }

    /// Registered values are masked in JSON strings at any depth, JSON
    /// text nested in a string included, whatever its escaping.
    #[test]
    fn registered_values_are_masked_in_nested_json_text() {
        let config = LoggingConfig::default();
        config.secrets.register("pa\"ss/1");
        config.secrets.register("k3y-123");
        let body = br#"{"args":{"k":"k3y-123"},"data":"{\"login\":{\"pw\":\"pa\\\"ss\/1\",\"password\":\"x\"}}"}"#;
        let text = render(body, body.len(), Some("application/json"), &config);
        assert_eq!(
            text,
            r#"{"args":{"k":"[REDACTED]"},"data":"{\"login\":{\"password\":\"[redacted]\",\"pw\":\"[REDACTED]\"}}"}"#
        );
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let body = "é".repeat(40);
        let text = render(body.as_bytes(), body.len(), Some("text/plain"), &config());
        assert!(text.starts_with(&"é".repeat(32)), "{text}");
        assert!(text.ends_with("… (80 bytes in all)"), "{text}");
    }
}
