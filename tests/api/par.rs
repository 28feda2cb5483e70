//! Pushed authorization requests (RFC 9126) over real HTTP: push, use once, expiry, the binding to the pushing
//! client, validation at push time as JSON errors, `--require-par` / `oauth.require_par`, and discovery.

use porta::clock::Clock;
use porta::manage::Actor;
use porta::manage::clients::{self as manage_clients, NewClientInput, Registered};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::sso::{CHALLENGE, REDIRECT, authorize_url, code_from, error_from, get, sign_in_admin};
use crate::token_support::basic_header;

const URN: &str = "urn:ietf:params:oauth:request_uri:";

/// Registers a first-party client with `REDIRECT` (confidential unless `public`).
async fn client(app: &TestApp, public: bool) -> Registered {
    let now = app.clock.now();
    app.state
        .db
        .run(move |c| {
            manage_clients::add(
                c,
                &NewClientInput {
                    name: "PAR app".into(),
                    redirect_uris: vec![REDIRECT.into()],
                    post_logout_redirect_uris: vec![],
                    is_public: public,
                    grant_types: vec![],
                    first_party: true,
                },
                &Actor::cli(),
                now,
            )
        })
        .await
        .map_err(|e| e.to_string())
        .expect("register client")
}

/// The authorization request `sso::authorize_url` sends, `extra` replacing or adding parameters.
fn request(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        params.push((k.to_string(), v.to_string()));
    }
    params
}

/// `POST /par` with client_secret_basic (confidential) or `client_id` alone (public).
async fn push(
    app: &TestApp,
    c: &Registered,
    extra: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut form = request(extra);
    let mut req = app.client.post(app.url("/par"));
    match &c.client_secret {
        Some(secret) => {
            req = req.header(
                reqwest::header::AUTHORIZATION,
                basic_header(&c.client_id, secret),
            );
        }
        None => form.push(("client_id".into(), c.client_id.clone())),
    }
    let res = req.form(&form).send().await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    (s, h, res.json().await.unwrap_or(Value::Null))
}

/// Pushes a valid request and returns its `request_uri`.
async fn pushed(app: &TestApp, c: &Registered) -> String {
    let (s, h, body) = push(app, c, &[]).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with(URN) && uri.len() >= URN.len() + 43, "{uri}");
    uri
}

fn par_url(app: &TestApp, client_id: &str, request_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![("client_id", client_id), ("request_uri", request_uri)];
    params.extend_from_slice(extra);
    app.url(&format!(
        "/authorize?{}",
        serde_urlencoded::to_string(&params).unwrap()
    ))
}

/// A refusal shown as a page: 400, no redirect, nothing of the pushed request in it.
async fn assert_page(res: reqwest::Response) {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get(LOCATION).is_none());
    let html = res.text().await.unwrap();
    assert!(
        html.contains("invalid_request_uri") || html.contains("request"),
        "{html}"
    );
}

/// `porta client update <id> --require-par true`, through the same management call.
async fn set_require_par(app: &TestApp, client_id: &str) {
    let (id, now) = (client_id.to_string(), app.clock.now());
    let change = manage_clients::ClientUpdate {
        require_par: Some(true),
        ..Default::default()
    };
    app.state
        .db
        .run(move |c| manage_clients::update(c, &id, &change, &Actor::cli(), now))
        .await
        .map_err(|e| e.to_string())
        .unwrap();
}

both_backends! {
    async fn a_pushed_request_is_used_once_then_refused(b: Backend) {
        let app = spawn_app(b).await;
        let web = client(&app, false).await;
        let spa = client(&app, true).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        for c in [&web, &spa] {
            let uri = pushed(&app, c).await;
            // Parameters sent beside the request_uri are ignored: the pushed ones count.
            let evil = [("redirect_uri", "https://evil.example.com/cb"), ("state", "other")];
            let res = get(&browser, &par_url(&app, &c.client_id, &uri, &evil)).await;
            code_from(&app, &res);
            assert_page(get(&browser, &par_url(&app, &c.client_id, &uri, &[])).await).await;
        }
        // A request_uri Porta did not issue.
        let res = get(&browser, &par_url(&app, &web.client_id, "https://evil.example.com/req", &[])).await;
        assert_page(res).await;
    }

    async fn an_expired_request_uri_is_refused(b: Backend) {
        let app = spawn_app(b).await;
        let web = client(&app, false).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let uri = pushed(&app, &web).await;
        app.clock.advance(61);
        assert_page(get(&browser, &par_url(&app, &web.client_id, &uri, &[])).await).await;
        // Purged by the jobs once expired.
        let n = porta::tokens::purge::purge_expired(&app.state.db, app.clock.now()).await.unwrap();
        assert!(n >= 1);
    }

    async fn another_client_cannot_use_a_pushed_request(b: Backend) {
        let app = spawn_app(b).await;
        let web = client(&app, false).await;
        let other = client(&app, false).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let uri = pushed(&app, &web).await;
        assert_page(get(&browser, &par_url(&app, &other.client_id, &uri, &[])).await).await;
        assert_page(get(&browser, &app.url(&format!("/authorize?request_uri={uri}"))).await).await;
        // The refusal did not spend it.
        let res = get(&browser, &par_url(&app, &web.client_id, &uri, &[])).await;
        code_from(&app, &res);
    }

    async fn pushed_parameters_are_validated_at_push(b: Backend) {
        let app = spawn_app(b).await;
        let web = client(&app, false).await;
        let spa = client(&app, true).await;
        for (c, extra, status, code) in [
            (&web, vec![("redirect_uri", "https://evil.example.com/cb")], StatusCode::BAD_REQUEST, "invalid_request"),
            (&web, vec![("response_type", "token")], StatusCode::BAD_REQUEST, "unsupported_response_type"),
            (&web, vec![("scope", "profile")], StatusCode::BAD_REQUEST, "invalid_scope"),
            (&web, vec![("request_uri", "urn:ietf:params:oauth:request_uri:x")], StatusCode::BAD_REQUEST, "invalid_request"),
            (&web, vec![("resource", "https://unknown.example.com")], StatusCode::BAD_REQUEST, "invalid_target"),
            (&spa, vec![("code_challenge", "")], StatusCode::BAD_REQUEST, "invalid_request"),
        ] {
            let (s, h, body) = push(&app, c, &extra).await;
            assert_eq!((s, body["error"].as_str()), (status, Some(code)), "{extra:?}: {body}");
            assert_eq!(h["cache-control"], "no-store");
            assert!(!body["error_description"].as_str().unwrap().contains("evil"), "{body}");
        }
        // Client authentication as at /token.
        let wrong = Registered { client_id: web.client_id.clone(), client_secret: Some("wrong".into()) };
        let (s, _, body) = push(&app, &wrong, &[]).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
        let nobody = Registered { client_id: "nobody".into(), client_secret: None };
        assert_eq!(push(&app, &nobody, &[]).await.0, StatusCode::UNAUTHORIZED);
    }

    async fn require_par_is_enforced(b: Backend) {
        let app = spawn_app(b).await;
        let web = client(&app, false).await;
        let free = client(&app, false).await;
        set_require_par(&app, &web.client_id).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let res = get(&browser, &authorize_url(&app, &web.client_id, &[])).await;
        assert_eq!(error_from(&res), "invalid_request");
        let uri = pushed(&app, &web).await;
        code_from(&app, &get(&browser, &par_url(&app, &web.client_id, &uri, &[])).await);
        // Other clients may still send their requests directly.
        code_from(&app, &get(&browser, &authorize_url(&app, &free.client_id, &[])).await);
    }

    async fn require_par_for_everyone_and_discovery(b: Backend) {
        let app = spawn_app(b).await;
        let doc: Value = app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["pushed_authorization_request_endpoint"], app.url("/par"));
        assert_eq!(doc["require_pushed_authorization_requests"], false);
        assert_eq!(doc["request_uri_parameter_supported"], false);
        assert_eq!(doc["dpop_signing_alg_values_supported"], serde_json::json!(["ES256", "EdDSA", "RS256"]));

        let app = spawn_app_with(b, |s| s.oauth.require_par = true).await;
        let doc: Value = app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["require_pushed_authorization_requests"], true);
        let web = client(&app, false).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        assert_eq!(error_from(&get(&browser, &authorize_url(&app, &web.client_id, &[])).await), "invalid_request");
        let uri = pushed(&app, &web).await;
        code_from(&app, &get(&browser, &par_url(&app, &web.client_id, &uri, &[])).await);
    }
}
