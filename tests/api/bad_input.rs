//! A sweep of every endpoint with garbage: oversized, repeated, percent-encoded, unicode and malformed
//! parameters, as query strings and as form bodies. Each answer must be the spec's error or a clear page: never a
//! 500, never a dropped connection.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use crate::helpers::{Backend, TestApp, spawn_app};

const ENDPOINTS: &[&str] = &[
    "/authorize",
    "/login",
    "/consent",
    "/logout",
    "/account",
    "/token",
    "/userinfo",
    "/introspect",
    "/revoke",
    "/jwks.json",
    "/.well-known/openid-configuration",
    "/admin",
    "/admin/keys",
    "/admin/keys/rotate",
    "/admin/keys/rotate/ES256",
    "/admin/keys/rotate/%ff",
    "/admin/keys/%ff/revoke",
    "/admin/clients",
    "/admin/clients/nope",
    "/admin/users/%00",
    "/admin/audit",
    "/healthz",
    "/readyz",
    "/metrics",
    "/no/such/path",
];

/// Raw query strings / form bodies that have broken parsers elsewhere.
fn garbage(client_id: &str) -> Vec<String> {
    let long = "a".repeat(100_000);
    vec![
        String::new(),
        "%".into(),
        "%ff%fe%fd=%c3%28".into(),
        "a=%00%01%02&b=\u{0}".into(),
        "=&&=&==".into(),
        format!("client_id={client_id}&client_id=other&redirect_uri=x&redirect_uri=y"),
        format!(
            "client_id={client_id}&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"
        ),
        format!(
            "client_id={client_id}&response_type=token%20id_token&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb"
        ),
        format!(
            "client_id={client_id}&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_challenge=x&code_challenge_method=plain&max_age=-1&prompt=%F0%9F%92%A9"
        ),
        format!(
            "client_id={client_id}&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&max_age=99999999999999999999999&nonce={long}"
        ),
        "grant_type=authorization_code&code=%ff&redirect_uri=%ff&code_verifier=".into(),
        "grant_type=refresh_token&refresh_token=\u{1F4A9}&scope=openid%20openid%20admin".into(),
        "grant_type=client_credentials&scope[]=x&scope[]=y".into(),
        "grant_type=password&username=admin&password=x".into(),
        "token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.&token_type_hint=access_token".into(),
        "token=a.b.c.d.e&token_type_hint=%ff".into(),
        format!("id_token_hint={long}&post_logout_redirect_uri=javascript:alert(1)&state=%ff"),
        "username=%ff%fe&password=%00&csrf_token=%ff".into(),
        format!("q={long}"),
        "page=-1&hours=99999999999999999999&action=%25&actor=_".into(),
        "ΔΣΩ=日本語&emoji=🦀🦀🦀&rtl=\u{202e}abc".into(),
    ]
}

fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn assert_no_5xx(
    app: &TestApp,
    client: &reqwest::Client,
    method: &str,
    path: &str,
    body: &str,
) {
    let url = if method == "GET" && !body.is_empty() {
        format!("{}?{}", app.url(path), body)
    } else {
        app.url(path)
    };
    if url.len() > 60_000 {
        // Longer than an HTTP client puts in a request line (http::Uri caps it at 64 KiB): nothing to send.
        return;
    }
    let req = match method {
        "GET" => client.get(&url),
        _ => client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string()),
    };
    let res = req.send().await.unwrap_or_else(|e| {
        panic!(
            "{method} {path} with {:.80}: connection failed: {e:.200}",
            body
        )
    });
    let status = res.status();
    assert!(
        status.as_u16() < 500,
        "{method} {path} with {:.120}: got {status}: {:.300}",
        body,
        res.text().await.unwrap_or_default()
    );
}

both_backends! {
    async fn every_endpoint_survives_garbage(b: Backend) {
        let app = spawn_app(b).await;
        let reg = app
            .state
            .db
            .run(|c| {
                porta::manage::clients::add(
                    c,
                    &porta::manage::clients::NewClientInput {
                        name: "Sweep".into(),
                        redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
                        ..Default::default()
                    },
                    &porta::manage::Actor::cli(),
                    1,
                )
            })
            .await
            .unwrap();
        // No connection reuse: a server may close a connection after a request whose body it did not read (a POST
        // to a GET-only route), which is its right; every probe gets its own connection.
        let anonymous = fresh_client();
        // Also with Basic credentials that are themselves garbage.
        for body in garbage(&reg.client_id) {
            for path in ENDPOINTS {
                assert_no_5xx(&app, &anonymous, "GET", path, &body).await;
                assert_no_5xx(&app, &anonymous, "POST", path, &body).await;
            }
        }
        for auth in ["Basic %%%", "Basic Og==", "Bearer", "Bearer \u{1F980}", "Basic YTpi"] {
            for path in ["/token", "/introspect", "/revoke", "/userinfo"] {
                let r = anonymous
                    .post(app.url(path))
                    .header("authorization", auth.as_bytes())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials&token=x")
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().as_u16() < 500, "{path} with {auth:?}: {}", r.status());
            }
        }
        // An oversized body is refused, not buffered without bound.
        let huge = format!("grant_type=client_credentials&x={}", "b".repeat(2 * 1024 * 1024));
        let r = anonymous
            .post(app.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(huge)
            .send()
            .await;
        if let Ok(r) = r {
            assert!(r.status().is_client_error(), "oversized body: {}", r.status());
        }
    }
}

/// Random parameter maps against the protocol endpoints: whatever the input, no 5xx.
#[actix_rt::test]
async fn random_parameters_never_get_a_5xx() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = fresh_client();
    let keys = prop::sample::select(vec![
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "prompt",
        "max_age",
        "code_challenge",
        "code_challenge_method",
        "grant_type",
        "code",
        "code_verifier",
        "refresh_token",
        "token",
        "token_type_hint",
        "id_token_hint",
        "post_logout_redirect_uri",
        "response_mode",
        "login_hint",
    ]);
    let strategy = prop::collection::vec((keys, "\\PC{0,40}"), 0..8);
    let mut runner = TestRunner::new(Config::default());
    let cases: Vec<String> = (0..64)
        .map(|_| {
            let params = strategy.new_tree(&mut runner).unwrap().current();
            serde_urlencoded::to_string(&params).unwrap()
        })
        .collect();
    for body in cases {
        for path in [
            "/authorize",
            "/token",
            "/introspect",
            "/revoke",
            "/logout",
            "/userinfo",
        ] {
            assert_no_5xx(&app, &client, "GET", path, &body).await;
            assert_no_5xx(&app, &client, "POST", path, &body).await;
        }
    }
}
