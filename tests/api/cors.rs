//! CORS for browser apps over real HTTP (issue 13): preflights and actual requests to `/token`, `/userinfo` and
//! `/revoke` from a registered origin, from an origin another client registered, and from an unregistered one;
//! discovery and the JWKS for everyone; how soon a new or removed registration takes effect.

use porta::clock::Clock;
use porta::manage::Actor;
use porta::manage::clients::{self as manage_clients, ClientOptions, NewClientInput, Registered};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};
use crate::security_events::sign_in_for;
use crate::sso::REDIRECT;
use crate::token_support::VERIFIER;

pub const APP_ORIGIN: &str = "https://app.example.com";
const OTHER_ORIGIN: &str = "https://other.example.com";
const EVIL_ORIGIN: &str = "https://evil.example.com";

/// Registers a public client (code + refresh, PKCE) with `redirect` and the browser origins `origins`.
pub async fn register_spa(
    app: &TestApp,
    name: &str,
    redirect: &str,
    origins: &[&str],
) -> Registered {
    let (now, name, redirect) = (app.clock.now(), name.to_string(), redirect.to_string());
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    app.state
        .db
        .run(move |c| {
            manage_clients::add_with(
                c,
                &NewClientInput {
                    name,
                    redirect_uris: vec![redirect],
                    post_logout_redirect_uris: vec![],
                    is_public: true,
                    grant_types: vec![],
                    first_party: true,
                },
                &ClientOptions {
                    web_origins: origins,
                    ..ClientOptions::default()
                },
                &Actor::cli(),
                now,
            )
        })
        .await
        .map_err(|e| e.to_string())
        .expect("register client")
}

/// Replaces a client's web origins, as `porta client update --web-origin` does.
async fn set_origins(app: &TestApp, client_id: &str, origins: &[&str]) {
    let (now, id) = (app.clock.now(), client_id.to_string());
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    app.state
        .db
        .run(move |c| {
            let change = manage_clients::ClientUpdate {
                web_origins: Some(origins),
                ..Default::default()
            };
            manage_clients::update(c, &id, &change, &Actor::cli(), now)
        })
        .await
        .map_err(|e| e.to_string())
        .expect("update client");
}

async fn preflight(
    app: &TestApp,
    path: &str,
    origin: &str,
    method: &str,
) -> (StatusCode, HeaderMap) {
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", "authorization,dpop")
        .send()
        .await
        .unwrap();
    (res.status(), res.headers().clone())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap())
}

fn list(h: &HeaderMap, name: &str) -> Vec<String> {
    header(h, name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// No `Access-Control-*` header at all.
fn assert_no_cors(h: &HeaderMap, what: &str) {
    let cors: Vec<_> = h
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{what}: {cors:?}");
}

fn assert_allows(h: &HeaderMap, origin: &str, what: &str) {
    assert_eq!(
        header(h, "access-control-allow-origin"),
        Some(origin),
        "{what}"
    );
    assert!(list(h, "vary").contains(&"origin".to_string()), "{what}");
    assert_eq!(
        header(h, "access-control-allow-credentials"),
        None,
        "{what}"
    );
}

/// A request with an `Origin`: returns status, headers and the JSON body.
async fn send(req: reqwest::RequestBuilder, origin: &str) -> (StatusCode, HeaderMap, Value) {
    let res = req.header("Origin", origin).send().await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    (s, h, res.json().await.unwrap_or(Value::Null))
}

async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
    origin: &str,
) -> (StatusCode, HeaderMap, Value) {
    send(app.client.post(app.url("/token")).form(form), origin).await
}

async fn userinfo(
    app: &TestApp,
    access_token: &str,
    origin: &str,
) -> (StatusCode, HeaderMap, Value) {
    send(
        app.client
            .get(app.url("/userinfo"))
            .bearer_auth(access_token),
        origin,
    )
    .await
}

/// Signs the admin in for `spa` and exchanges the code from `origin`.
async fn tokens_from(
    app: &TestApp,
    spa: &Registered,
    origin: &str,
) -> (StatusCode, HeaderMap, Value) {
    let code = sign_in_for(app, &app.new_browser(), spa, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", spa.client_id.as_str()),
    ];
    token(app, &form, origin).await
}

both_backends! {
    async fn preflights_answer_registered_origins_only(backend: Backend) {
        let app = spawn_app(backend).await;
        register_spa(&app, "SPA", REDIRECT, &[APP_ORIGIN]).await;
        for (path, method) in [("/token", "POST"), ("/userinfo", "GET"), ("/userinfo", "POST"), ("/revoke", "POST")] {
            let (status, h) = preflight(&app, path, APP_ORIGIN, method).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{path}");
            assert_allows(&h, APP_ORIGIN, path);
            assert!(list(&h, "access-control-allow-methods").contains(&method.to_ascii_lowercase()), "{path}");
            let headers = list(&h, "access-control-allow-headers");
            for needed in ["authorization", "dpop", "content-type"] {
                assert!(headers.contains(&needed.to_string()), "{path}: {headers:?}");
            }
            let max_age: u32 = header(&h, "access-control-max-age").unwrap().parse().unwrap();
            assert!((1..=7200).contains(&max_age), "{path}: {max_age}");

            for other in [EVIL_ORIGIN, "http://app.example.com", "https://app.example.com:8443", "null"] {
                let (status, h) = preflight(&app, path, other, method).await;
                assert_eq!(status, StatusCode::NO_CONTENT, "{path} {other}");
                assert_no_cors(&h, other);
                assert!(list(&h, "vary").contains(&"origin".to_string()));
            }
        }
        // Introspection is for servers: no preflight route, so no CORS answer.
        let (_, h) = preflight(&app, "/introspect", APP_ORIGIN, "POST").await;
        assert_no_cors(&h, "/introspect");
    }

    async fn actual_requests_are_decided_by_their_own_client(backend: Backend) {
        let app = spawn_app(backend).await;
        let spa = register_spa(&app, "SPA", REDIRECT, &[APP_ORIGIN]).await;
        // Another client registered OTHER_ORIGIN: a preflight from it passes, but not what spa's tokens get.
        register_spa(&app, "Other", REDIRECT, &[OTHER_ORIGIN]).await;

        let (status, h, body) = tokens_from(&app, &spa, APP_ORIGIN).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_allows(&h, APP_ORIGIN, "token");
        assert!(list(&h, "access-control-expose-headers").contains(&"www-authenticate".to_string()));
        let at = body["access_token"].as_str().unwrap().to_string();

        let (status, h, info) = userinfo(&app, &at, APP_ORIGIN).await;
        assert_eq!(status, StatusCode::OK, "{info}");
        assert_allows(&h, APP_ORIGIN, "userinfo");
        assert_eq!(info["sub"], body["id_token"].as_str().map(|t| crate::token_support::claims_of(t)["sub"].clone()).unwrap());

        let (status, h, _) = userinfo(&app, &at, OTHER_ORIGIN).await;
        assert_eq!(status, StatusCode::OK);
        assert_no_cors(&h, "userinfo from the other client's origin");
        assert!(list(&h, "vary").contains(&"origin".to_string()));
        let (_, h, _) = userinfo(&app, &at, EVIL_ORIGIN).await;
        assert_no_cors(&h, "userinfo from an unregistered origin");

        // Public clients keep rotating refresh tokens, cross-origin too.
        let rt = body["refresh_token"].as_str().unwrap();
        let refresh = [("grant_type", "refresh_token"), ("refresh_token", rt), ("client_id", spa.client_id.as_str())];
        let (status, h, rotated) = token(&app, &refresh, APP_ORIGIN).await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        assert_allows(&h, APP_ORIGIN, "refresh");
        assert_ne!(rotated["refresh_token"].as_str(), Some(rt));
        // A refused refresh from the app's origin is still readable by the app (its client is known).
        let (status, h, err) = token(&app, &refresh, APP_ORIGIN).await;
        assert_eq!((status, err["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{err}");
        assert_allows(&h, APP_ORIGIN, "refused refresh");
        let (_, h, _) = token(&app, &refresh, OTHER_ORIGIN).await;
        assert_no_cors(&h, "token from the other client's origin");

        // An expired token: no client is known, so the answer is decided as a preflight.
        app.clock.advance(3600);
        let (status, h, _) = userinfo(&app, &at, APP_ORIGIN).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_allows(&h, APP_ORIGIN, "expired token");
        assert!(header(&h, "www-authenticate").is_some());
        let (_, h, _) = userinfo(&app, &at, EVIL_ORIGIN).await;
        assert_no_cors(&h, "expired token, unregistered origin");

        let new_at = rotated["access_token"].as_str().unwrap();
        let revoke = app.client.post(app.url("/revoke")).form(&[("token", rotated["refresh_token"].as_str().unwrap()), ("client_id", &spa.client_id)]);
        let (status, h, _) = send(revoke, APP_ORIGIN).await;
        assert_eq!(status, StatusCode::OK);
        assert_allows(&h, APP_ORIGIN, "revoke");
        let revoke = app.client.post(app.url("/revoke")).form(&[("token", new_at), ("client_id", &spa.client_id)]);
        let (status, h, _) = send(revoke, EVIL_ORIGIN).await;
        assert_eq!(status, StatusCode::OK);
        assert_no_cors(&h, "revoke from an unregistered origin");
    }

    async fn unregistered_origins_get_no_cors_headers(backend: Backend) {
        let app = spawn_app(backend).await;
        let spa = register_spa(&app, "SPA", REDIRECT, &[APP_ORIGIN]).await;
        let (status, h, body) = tokens_from(&app, &spa, EVIL_ORIGIN).await;
        // The exchange itself works (a server could make it); only a browser is kept from reading it.
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_no_cors(&h, "token");
        assert!(list(&h, "vary").contains(&"origin".to_string()));
        let (_, h, _) = token(&app, &[("grant_type", "authorization_code")], EVIL_ORIGIN).await;
        assert_no_cors(&h, "token error");
        // Without an Origin: an ordinary server-side request, with Vary for caches.
        let res = app.client.post(app.url("/token")).form(&[("grant_type", "password")]).send().await.unwrap();
        assert_no_cors(res.headers(), "no origin");
        assert!(list(res.headers(), "vary").contains(&"origin".to_string()));
    }

    async fn discovery_and_jwks_are_readable_from_any_origin(backend: Backend) {
        let app = spawn_app(backend).await;
        for path in ["/.well-known/openid-configuration", "/jwks.json"] {
            let (status, h, _) = send(app.client.get(app.url(path)), EVIL_ORIGIN).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(header(&h, "access-control-allow-origin"), Some("*"), "{path}");
            let res = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(header(res.headers(), "access-control-allow-origin"), Some("*"), "{path}");
            let (status, h) = preflight(&app, path, EVIL_ORIGIN, "GET").await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{path}");
            assert_eq!(header(&h, "access-control-allow-origin"), Some("*"), "{path}");
            assert!(list(&h, "access-control-allow-methods").contains(&"get".to_string()));
        }
        // A revalidated JWKS (304) keeps it.
        let etag = app.client.get(app.url("/jwks.json")).send().await.unwrap().headers()["etag"].clone();
        let res = app.client.get(app.url("/jwks.json")).header("If-None-Match", etag).header("Origin", EVIL_ORIGIN).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(res.headers(), "access-control-allow-origin"), Some("*"));
    }

    async fn registration_changes_reach_preflights_within_the_refresh_interval(backend: Backend) {
        let app = spawn_app(backend).await;
        let spa = register_spa(&app, "SPA", REDIRECT, &[APP_ORIGIN]).await;
        let (_, h) = preflight(&app, "/token", APP_ORIGIN, "POST").await;
        assert_allows(&h, APP_ORIGIN, "before the change");
        set_origins(&app, &spa.client_id, &[OTHER_ORIGIN]).await;
        // An actual request reads its client's row, so the removal holds at once.
        let (_, h, _) = tokens_from(&app, &spa, APP_ORIGIN).await;
        assert_no_cors(&h, "token right after the removal");
        let (_, h, _) = tokens_from(&app, &spa, OTHER_ORIGIN).await;
        assert_allows(&h, OTHER_ORIGIN, "token right after the addition");
        // Preflights answer from the instance's set until it is reloaded, one refresh interval at most.
        let every = app.state.settings.keys.key_refresh_interval.as_secs() as i64;
        let (_, h) = preflight(&app, "/token", APP_ORIGIN, "POST").await;
        assert_allows(&h, APP_ORIGIN, "preflight from the cached set");
        app.clock.advance(every);
        let (_, h) = preflight(&app, "/token", APP_ORIGIN, "POST").await;
        assert_no_cors(&h, "preflight after one interval");
        let (_, h) = preflight(&app, "/token", OTHER_ORIGIN, "POST").await;
        assert_allows(&h, OTHER_ORIGIN, "new origin after one interval");
    }
}
