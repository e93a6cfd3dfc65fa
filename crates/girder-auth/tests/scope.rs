//! Credential scopes: auth adds nothing to a request for an origin it was
//! not configured for, nor to a redirect hop that left the first origin
//! (issue 18, security defect 1: "auth and signing add nothing to a
//! request for an origin they were not configured for").

use girder_auth::{ApiKey, AuthConfig, AuthLayer, ClientCredentials, TokenClient};
use girder_core::origin::{CredentialScope, CrossOriginHop, Origin};
use girder_core::{Body, BoxError, CallRecord};
use girder_test::{MockService, Reply};
use http::{Request, Response};
use tower::{ServiceBuilder, ServiceExt};

type Client = tower::util::BoxCloneService<Request<Body>, Response<Body>, BoxError>;

fn token(access: &str) -> Reply {
    Reply::ok().json(format!(
        r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":3600}}"#
    ))
}

fn oauth(idp: &MockService) -> ClientCredentials {
    ClientCredentials::builder("https://idp.test/token", "client-1", "s3cret-x".into())
        .client(TokenClient::new(idp.clone()))
        .build()
        .unwrap()
}

fn client(config: AuthConfig, api: &MockService) -> Client {
    tower::util::BoxCloneService::new(
        ServiceBuilder::new()
            .layer(AuthLayer::new(config))
            .service(api.clone()),
    )
}

fn home() -> CredentialScope {
    CredentialScope::only([Origin::parse("https://api.test").unwrap()])
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// Pins: a request for another origin got the credential (and made the
/// layer fetch one), whatever the layer was configured for.
#[tokio::test(start_paused = true)]
async fn a_foreign_origin_is_passed_through_untouched_and_no_token_is_fetched() {
    let idp = MockService::new(token("t1"));
    let api = MockService::new([Reply::status(401), Reply::ok()]);
    let config = AuthConfig::builder(oauth(&idp))
        .scope(home())
        .build()
        .unwrap();
    let svc = client(config, &api);
    let mut request = get("https://evil.test/items?page=2");
    let record = CallRecord::ensure(&mut request);

    // The foreign server's 401 is returned as it is: no fetch, no replay.
    let response = svc.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(idp.request_count(), 0);
    assert_eq!(api.request_count(), 1);
    let sent = &api.requests()[0];
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.uri.to_string(), "https://evil.test/items?page=2");
    assert!(record.entries().is_empty(), "{record}");
    assert_eq!(record.resends(), 0);

    // A key in the query is not appended either.
    let key =
        AuthConfig::new(ApiKey::query("api_key", "k-123456".into()).unwrap()).with_scope(home());
    client(key, &api)
        .oneshot(get("http://api.test/items"))
        .await
        .unwrap();
    assert_eq!(api.requests()[1].uri.to_string(), "http://api.test/items");
}

/// Pins: a redirect hop that left the call's first origin (marked
/// `CrossOriginHop` by the redirect policy) got the credential, even with
/// the default scope.
#[tokio::test(start_paused = true)]
async fn a_cross_origin_hop_gets_no_credential_whatever_the_scope() {
    for scope in [CredentialScope::any(), home()] {
        let idp = MockService::new(token("t1"));
        let api = MockService::new(Reply::ok());
        let svc = client(AuthConfig::new(oauth(&idp)).with_scope(scope), &api);
        let mut hop = get("https://api.test/moved");
        hop.extensions_mut().insert(CrossOriginHop);
        svc.oneshot(hop).await.unwrap();
        assert_eq!(api.requests()[0].header("authorization"), None);
        assert_eq!(idp.request_count(), 0);
    }
}

/// The scope does not get in the way at home: same origin however it is
/// spelt (case, default port), 401 recovery included.
#[tokio::test(start_paused = true)]
async fn an_in_scope_request_is_still_authorised_and_recovered() {
    let idp = MockService::new([token("t1"), token("t2")]);
    let api = MockService::new([Reply::status(401), Reply::ok()]);
    let svc = client(AuthConfig::new(oauth(&idp)).with_scope(home()), &api);
    let mut request = get("https://API.test:443/items");
    let record = CallRecord::ensure(&mut request);
    let response = svc.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen: Vec<_> = api
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or("-").to_owned())
        .collect();
    assert_eq!(seen, ["Bearer t1", "Bearer t2"]);
    assert_eq!(record.resends(), 1);
}

#[test]
fn the_scope_defaults_to_any_and_is_kept() {
    let source = || ApiKey::header("x-api-key", "k-123456".into()).unwrap();
    assert_eq!(AuthConfig::new(source()).scope(), &CredentialScope::any());
    assert_eq!(
        AuthConfig::new(source()).with_scope(home()).scope(),
        &home()
    );
    let built = AuthConfig::builder(source()).scope(home()).build().unwrap();
    assert_eq!(built.scope(), &home());
    assert!(format!("{built:?}").contains("api.test"));
}
