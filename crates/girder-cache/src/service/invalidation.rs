//! Unsafe methods: sent through, and what their answers invalidate.

use super::*;

/// Unsafe methods go through; a non-error response invalidates the target
/// URI (and same-origin `Location` / `Content-Location`).
pub(super) async fn pass_unsafe<S, St, ReqB, ResB>(
    shared: &Shared<St>,
    mut inner: S,
    request: Request<ReqB>,
) -> Result<Response<Body>, BoxError>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    St: CacheStore,
    ResB: http_body::Body<Data = Bytes> + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    let invalidates = !matches!(
        *request.method(),
        Method::OPTIONS | Method::TRACE | Method::CONNECT
    );
    let target = invalidates.then(|| {
        (
            shared
                .keys
                .key(&Method::GET, request.uri(), request.headers()),
            request.uri().clone(),
        )
    });
    ready(&mut inner, Deadline::of(&request)).await?;
    let response = inner.call(request).await.map_err(Into::into)?;
    let status = response.status();
    if let Some((key, uri)) = target
        && (status.is_success() || status.is_redirection())
    {
        shared.invalidate(&key).await;
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            for value in response.headers().get_all(&name) {
                if let Some(other) = same_origin(&uri, value) {
                    shared.invalidate(&key.with_uri(other)).await;
                }
            }
        }
    }
    Ok(response.map(Body::new))
}

/// `value` resolved against `base`, when it names the same origin.
pub(super) fn same_origin(base: &Uri, value: &HeaderValue) -> Option<Uri> {
    let text = value.to_str().ok()?.trim();
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    if let Ok(uri) = text.parse::<Uri>()
        && uri.scheme().is_some()
    {
        return (uri.scheme_str() == Some(scheme)
            && uri.authority().map(|a| a.as_str()) == Some(authority))
        .then_some(uri);
    }
    if text.starts_with("//") {
        return None;
    }
    let path = if text.starts_with('/') {
        text.to_owned()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{text}")
    };
    format!("{scheme}://{authority}{path}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_within_the_origin_only() {
        let base: Uri = "https://api.test/v1/items".parse().unwrap();
        let resolved = |s: &'static str| {
            same_origin(&base, &HeaderValue::from_static(s)).map(|u| u.to_string())
        };
        assert_eq!(
            resolved("/v1/items/9").as_deref(),
            Some("https://api.test/v1/items/9")
        );
        assert_eq!(
            resolved("items/9").as_deref(),
            Some("https://api.test/v1/items/9")
        );
        assert_eq!(
            resolved("https://api.test/x").as_deref(),
            Some("https://api.test/x")
        );
        assert_eq!(resolved("https://evil.test/x"), None);
        assert_eq!(resolved("//evil.test/x"), None);
    }
}
