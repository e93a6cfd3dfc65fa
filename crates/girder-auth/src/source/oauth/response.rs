//! RFC 6749 token responses (5.1) and error responses (5.2).

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::{AuthError, AuthErrorKind};

/// Longer than any access token lifetime in use (ten years); a larger
/// `expires_in` is taken for garbage, not for "forever".
pub(crate) const MAX_EXPIRES_IN: u64 = 10 * 365 * 24 * 3600;

/// A successful token response.
pub(crate) struct TokenResponse {
    pub(crate) access_token: SecretString,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) refresh_token: Option<SecretString>,
    /// When the request was sent: the lifetime counts from there, so time
    /// in flight is not counted as validity.
    pub(crate) sent_at: Option<tokio::time::Instant>,
}

fn invalid(status: u16, detail: impl AsRef<str>) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidResponse, detail).with_status(status)
}

/// The RFC 6749 error in `object`, if it has an `error` string.
fn provider_error(status: u16, object: &Map<String, Value>) -> Option<AuthError> {
    let code = object.get("error")?.as_str()?;
    let text = |name: &str| object.get(name).and_then(Value::as_str);
    Some(AuthError::provider(
        status,
        code,
        text("error_description"),
        text("error_uri"),
    ))
}

/// The token endpoint's answer: `status`, its `Content-Type` (for the
/// error message) and the body.
pub(crate) fn parse(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<TokenResponse, AuthError> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let object = json.as_ref().and_then(Value::as_object);
    if !(200..300).contains(&status) {
        if let Some(error) = object.and_then(|o| provider_error(status, o)) {
            return Err(error);
        }
        let what = match content_type {
            Some(ct) => format!("answered {status} ({ct}) without an OAuth error"),
            None => format!("answered {status} without an OAuth error"),
        };
        return Err(AuthError::new(AuthErrorKind::Status, what).with_status(status));
    }
    let Some(object) = object else {
        let what = match (json.is_some(), content_type) {
            (true, _) => "the token response is JSON but not an object".to_owned(),
            (false, Some(ct)) => format!("the token response is not JSON (content-type {ct})"),
            (false, None) => "the token response is not JSON".to_owned(),
        };
        return Err(invalid(status, what));
    };
    // Some servers answer 200 with an error object.
    if let Some(error) = provider_error(status, object) {
        return Err(error);
    }
    let access_token = match object.get("access_token") {
        None | Some(Value::Null) => return Err(invalid(status, "no access_token")),
        Some(Value::String(token)) if token.is_empty() => {
            return Err(invalid(status, "access_token is empty"));
        }
        Some(Value::String(token)) => SecretString::from(token.as_str()),
        Some(_) => return Err(invalid(status, "access_token is not a string")),
    };
    match object.get("token_type") {
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(Value::String(kind)) => {
            return Err(invalid(
                status,
                format!("token_type {kind:?} is not supported (only Bearer)"),
            ));
        }
        None | Some(Value::Null) => return Err(invalid(status, "no token_type")),
        Some(_) => return Err(invalid(status, "token_type is not a string")),
    }
    let expires_in = match object.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(value) => Some(expires_in(status, value)?),
    };
    let refresh_token = match object.get("refresh_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token)) if !token.is_empty() => Some(SecretString::from(token.as_str())),
        Some(_) => return Err(invalid(status, "refresh_token is not a non-empty string")),
    };
    Ok(TokenResponse {
        access_token,
        expires_in,
        refresh_token,
        sent_at: None,
    })
}

/// `expires_in`: a positive number of seconds (a numeric string is
/// accepted too, as some providers send one).
fn expires_in(status: u16, value: &Value) -> Result<Duration, AuthError> {
    let seconds: f64 = match value {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s.trim().parse().map_err(|_| {
            invalid(
                status,
                format!("expires_in {:?} is not a number", truncate(s)),
            )
        })?,
        _ => return Err(invalid(status, "expires_in is not a number")),
    };
    if seconds.is_nan() || seconds < 0.0 {
        return Err(invalid(status, format!("expires_in {value} is negative")));
    }
    if seconds < 1.0 {
        return Err(invalid(
            status,
            "expires_in is 0: the token is already expired",
        ));
    }
    if seconds > MAX_EXPIRES_IN as f64 {
        return Err(invalid(
            status,
            format!("expires_in {value} is out of range (more than ten years)"),
        ));
    }
    Ok(Duration::from_secs(seconds as u64))
}

fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn err(status: u16, body: &str) -> AuthError {
        match parse(status, Some("application/json"), body.as_bytes()) {
            Ok(_) => panic!("{body} parsed"),
            Err(e) => e,
        }
    }

    #[test]
    fn rfc_6749_example_parses() {
        // RFC 6749 section 5.1's example response.
        let body = r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"example",
            "expires_in":3600,"refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA"}"#;
        assert!(
            err(200, body)
                .to_string()
                .contains("\"example\" is not supported")
        );
        let body = body.replace("\"example\"", "\"BEARER\"");
        let token = parse(200, None, body.as_bytes())
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(token.access_token.expose_secret(), "2YotnFZFEjr1zCsicMWpAA");
        assert_eq!(token.expires_in, Some(Duration::from_secs(3600)));
        assert_eq!(
            token.refresh_token.unwrap().expose_secret(),
            "tGzv3JOkF0XG5Qx2TlKWIA"
        );
    }

    #[test]
    fn garbage_is_named_and_the_token_never_shown() {
        let cases = [
            (200, "<html>oops</html>", "not JSON"),
            (200, "[1]", "not an object"),
            (200, r#"{"token_type":"bearer"}"#, "no access_token"),
            (
                200,
                r#"{"access_token":7,"token_type":"bearer"}"#,
                "not a string",
            ),
            (
                200,
                r#"{"access_token":"SECRET","token_type":"bearer","expires_in":-5}"#,
                "negative",
            ),
            (
                200,
                r#"{"access_token":"SECRET","token_type":"bearer","expires_in":1e300}"#,
                "out of range",
            ),
            (
                200,
                r#"{"access_token":"SECRET","token_type":"bearer","expires_in":"soon"}"#,
                "not a number",
            ),
            (
                200,
                r#"{"access_token":"SECRET","token_type":"bearer","expires_in":0}"#,
                "already expired",
            ),
            (200, r#"{"access_token":"SECRET"}"#, "no token_type"),
            (500, "internal", "answered 500"),
        ];
        for (status, body, wanted) in cases {
            let e = err(status, body);
            let shown = format!("{e} {e:?}");
            assert!(shown.contains(wanted), "{body}: {shown}");
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }

    #[test]
    fn provider_errors_carry_code_description_and_uri() {
        let e = err(
            400,
            r#"{"error":"invalid_grant","error_description":"refresh token revoked","error_uri":"https://idp.test/e"}"#,
        );
        assert_eq!(e.kind(), AuthErrorKind::Provider);
        assert_eq!(e.code(), Some("invalid_grant"));
        assert_eq!(e.description(), Some("refresh token revoked"));
        assert_eq!(e.status(), Some(400));
        let e = err(200, r#"{"error":"slow_down"}"#);
        assert_eq!(e.code(), Some("slow_down"));
    }

    #[test]
    fn numeric_strings_and_fractions_are_accepted() {
        let body = r#"{"access_token":"a","token_type":"Bearer","expires_in":"3599"}"#;
        let token = parse(200, None, body.as_bytes()).ok().unwrap();
        assert_eq!(token.expires_in, Some(Duration::from_secs(3599)));
        let body = r#"{"access_token":"a","token_type":"bearer","expires_in":59.9}"#;
        let token = parse(200, None, body.as_bytes()).ok().unwrap();
        assert_eq!(token.expires_in, Some(Duration::from_secs(59)));
    }
}
