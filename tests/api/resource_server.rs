//! APIs with their own scopes and audiences: `client_credentials` gets exactly the allowed API scopes it asks
//! for, and `examples/resource_server.rs` (run in-process over real HTTP) accepts Porta's access tokens for it
//! and refuses the wrong audience, a missing scope, an expired token and a forged signature; ES256 and EdDSA
//! access tokens verify with the algorithm of their JWK.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use porta::clock::Clock;
use porta::manage::{apis, clients};
use reqwest::StatusCode;

use crate::authz::{API, items_api, setup};
use crate::token_support::*;

#[allow(dead_code, reason = "the example's main uses what the tests do not")]
#[path = "../../examples/resource_server/api.rs"]
mod example;

async fn allow_service(f: &Fixture, scopes: &[&str]) {
    let (id, scopes): (String, Vec<String>) = (
        f.service.client_id.clone(),
        scopes.iter().map(|s| s.to_string()).collect(),
    );
    setup(f, move |c, a, now| {
        let change = clients::ClientUpdate {
            allowed_scopes: Some(scopes),
            ..Default::default()
        };
        clients::update(c, &id, &change, a, now)
    })
    .await;
}

async fn service_token(f: &Fixture, extra: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let (s, _, b) = f.token(&form, Some(&f.service)).await;
    (s, b)
}

/// Starts the example API for `API` on a free port, reading `f`'s test clock.
fn start_example(f: &Fixture) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let clock = f.app.clock.clone();
    let config = example::Config {
        issuer: f.app.address.clone(),
        jwks_uri: f.app.url("/jwks.json"),
        audience: API.into(),
        read_scope: "items:read".into(),
        write_scope: "items:write".into(),
        now: Arc::new(move || clock.now()),
    };
    actix_rt::spawn(example::server(config, listener).unwrap());
    address
}

async fn call(api: &str, method: reqwest::Method, token: Option<&str>) -> (StatusCode, String) {
    let mut req = reqwest::Client::new().request(method, format!("{api}/items"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (res.status(), challenge)
}

both_backends! {
    async fn client_credentials_gets_exactly_the_allowed_api_scopes(b: Backend) {
        let f = fixture(b).await;
        items_api(&f).await;
        setup(&f, |c, a, now| apis::add(c, "https://billing.example.com", "Billing", &["billing:read".into()], a, now)).await;
        allow_service(&f, &["items:read", "billing:read"]).await;

        let (s, body) = service_token(&f, &[("scope", "items:read")]).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "items:read");
        let jwks = jwks(&f.app).await;
        let (header, claims) = verify_with_jwks(&jwks, body["access_token"].as_str().unwrap(), API, &f.app.address);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(claims["aud"], API);
        assert_eq!(claims["sub"], f.service.client_id.as_str());
        assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());

        // Introspection reports the same audience and scope.
        let intro = f.introspect(&f.service, body["access_token"].as_str().unwrap()).await;
        assert_eq!((intro["active"].as_bool(), intro["aud"].as_str(), intro["scope"].as_str()), (Some(true), Some(API), Some("items:read")));

        // No scope named: every allowed one, each API an audience; a resource narrows to one API.
        let (_, all) = service_token(&f, &[]).await;
        assert_eq!(all["scope"], "billing:read items:read");
        assert_eq!(claims_of(all["access_token"].as_str().unwrap())["aud"], serde_json::json!([API, "https://billing.example.com"]));
        let (_, one) = service_token(&f, &[("resource", "https://billing.example.com")]).await;
        assert_eq!(one["scope"], "billing:read");

        // Wider than allowed, not an API scope, or a user scope: invalid_scope. An unknown resource: invalid_target.
        for scope in ["items:read items:write", "items:write", "openid", "nonsense"] {
            let (s, b) = service_token(&f, &[("scope", scope)]).await;
            assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")), "{scope}");
        }
        let (s, b) = service_token(&f, &[("scope", "items:read"), ("resource", "https://billing.example.com")]).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
        let (s, b) = service_token(&f, &[("resource", "https://nowhere.example.com")]).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_target")));

        // Removing the API takes its scopes from the client.
        setup(&f, |c, a, now| apis::remove(c, "https://billing.example.com", a, now)).await;
        let (s, b) = service_token(&f, &[("scope", "billing:read")]).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
    }

    async fn the_example_api_accepts_valid_tokens_and_refuses_the_rest(b: Backend) {
        let f = fixture(b).await;
        items_api(&f).await;
        setup(&f, |c, a, now| apis::add(c, "https://billing.example.com", "Billing", &["billing:read".into()], a, now)).await;
        allow_service(&f, &["items:read", "billing:read"]).await;
        let api = start_example(&f);

        // No token: a bare challenge (RFC 6750 3.1).
        let (s, challenge) = call(&api, reqwest::Method::GET, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge, "Bearer realm=\"example-api\"");

        // A client_credentials token with items:read.
        let (_, body) = service_token(&f, &[("scope", "items:read")]).await;
        let token = body["access_token"].as_str().unwrap().to_string();
        assert_eq!(call(&api, reqwest::Method::GET, Some(&token)).await.0, StatusCode::OK);
        // Without items:write.
        let (s, challenge) = call(&api, reqwest::Method::POST, Some(&token)).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"items:write\""), "{challenge}");

        // A user's token from the code flow with the API's scope, addressed to the API and to userinfo.
        let code = f.code(CodeSpec { client_id: &f.web.client_id, scope: "openid items:read", nonce: None, challenge: None }).await;
        let web = f.web.client_id.clone();
        setup(&f, move |c, a, now| {
            let change = clients::ClientUpdate { allowed_scopes: Some(vec!["items:read".into()]), ..Default::default() };
            clients::update(c, &web, &change, a, now)
        }).await;
        let (s, _, user) = f.token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)], Some(&f.web)).await;
        assert_eq!(s, StatusCode::OK, "{user}");
        let user_token = user["access_token"].as_str().unwrap();
        assert_eq!(call(&api, reqwest::Method::GET, Some(user_token)).await.0, StatusCode::OK);
        assert_eq!(f.userinfo(user_token).await.0, StatusCode::OK);

        // A token for another API: the wrong audience.
        let (_, other) = service_token(&f, &[("scope", "billing:read")]).await;
        let (s, challenge) = call(&api, reqwest::Method::GET, other["access_token"].as_str()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

        // A forged token: the payload changed (a scope added), the signature kept.
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = claims_of(&token);
        claims["scope"] = "items:read items:write".into();
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()), parts[2]);
        let (s, challenge) = call(&api, reqwest::Method::POST, Some(&forged)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(challenge.contains("invalid_token"), "{challenge}");
        // An unknown kid refetches the JWKS once and is still refused.
        let mut header = serde_json::from_slice::<serde_json::Value>(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        header["kid"] = "made-up".into();
        let unknown = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()), parts[1], parts[2]);
        assert_eq!(call(&api, reqwest::Method::GET, Some(&unknown)).await.0, StatusCode::UNAUTHORIZED);

        // Access tokens of the other families verify too, with the algorithm their JWK names; a header that
        // names another family's algorithm for the same kid is refused.
        for alg in ["ES256", "EdDSA"] {
            let id = f.service.client_id.clone();
            setup(&f, move |c, a, now| {
                let change = clients::ClientUpdate { access_token_alg: Some(alg.into()), ..Default::default() };
                clients::update(c, &id, &change, a, now)
            }).await;
            let (_, body) = service_token(&f, &[("scope", "items:read")]).await;
            let t = body["access_token"].as_str().unwrap();
            assert_eq!(format!("{:?}", jsonwebtoken::decode_header(t).unwrap().alg), alg);
            assert_eq!(call(&api, reqwest::Method::GET, Some(t)).await.0, StatusCode::OK, "{alg}");
            let p: Vec<&str> = t.split('.').collect();
            let mut h = serde_json::from_slice::<serde_json::Value>(&URL_SAFE_NO_PAD.decode(p[0]).unwrap()).unwrap();
            h["alg"] = "RS256".into();
            let switched = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&h).unwrap()), p[1], p[2]);
            let (s, challenge) = call(&api, reqwest::Method::GET, Some(&switched)).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{alg}");
            assert!(challenge.contains("the token's alg is not its key's algorithm"), "{challenge}");
        }

        // Expired: the test clock moves past the access token's lifetime.
        f.app.clock.advance(f.app.state.settings.tokens.access_token_ttl.as_secs() as i64 + 10);
        let (s, challenge) = call(&api, reqwest::Method::GET, Some(&token)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(challenge.contains("expired"), "{challenge}");
    }
}
