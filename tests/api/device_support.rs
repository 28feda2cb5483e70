//! Fixtures for the device grant tests: device clients, the device's requests (start and poll), and a person
//! signing in and deciding on `/device` in a cookie-keeping browser.

use porta::db::models::device_codes::{self, DeviceCode};
use porta::manage::clients::{self as manage_clients, ClientOptions, NewClientInput, Registered};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::authz::setup;
use crate::sso::{get, hidden, location, post, submit_login};
use crate::token_support::*;

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Registers a client for the device grant (plus `extra` grants).
pub async fn device_client(
    f: &Fixture,
    name: &str,
    public: bool,
    extra: &[&str],
    options: ClientOptions,
) -> Registered {
    let mut grants = vec![DEVICE_GRANT.to_string()];
    grants.extend(extra.iter().map(|g| g.to_string()));
    let input = NewClientInput {
        name: name.into(),
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        is_public: public,
        grant_types: grants,
        first_party: false,
    };
    setup(f, move |c, a, now| {
        manage_clients::add_with(c, &input, &options, a, now)
    })
    .await
}

/// A request of `client` to `path`: `client_secret_basic` for a confidential client, `client_id` in the form
/// for a public one.
pub async fn call(
    f: &Fixture,
    path: &str,
    client: &Registered,
    form: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    match client.client_secret {
        Some(_) => post_form(&f.app, path, form, Some(client)).await,
        None => {
            let mut form = form.to_vec();
            form.push(("client_id", &client.client_id));
            post_form(&f.app, path, &form, None).await
        }
    }
}

/// `POST /device_authorization`, which must succeed.
pub async fn start(f: &Fixture, client: &Registered, scope: &str) -> Value {
    let (s, h, b) = call(f, "/device_authorization", client, &[("scope", scope)]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(h["cache-control"], "no-store");
    b
}

/// One poll of the token endpoint with `device_code`.
pub async fn poll(
    f: &Fixture,
    client: &Registered,
    device_code: &str,
) -> (StatusCode, HeaderMap, Value) {
    call(
        f,
        "/token",
        client,
        &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
    )
    .await
}

/// The error code of a poll (`None` for tokens).
pub fn error_of(got: &(StatusCode, HeaderMap, Value)) -> Option<String> {
    got.2["error"].as_str().map(str::to_string)
}

/// A browser signed in as `ada` with her password.
pub async fn signed_in_browser(f: &Fixture) -> reqwest::Client {
    let browser = f.app.new_browser();
    let res = submit_login(&f.app, &browser, "/login", "ada", USER_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    browser
}

/// Opens `/device` and submits `user_code`; returns the POST's response.
pub async fn enter_code(
    f: &Fixture,
    browser: &reqwest::Client,
    user_code: &str,
) -> reqwest::Response {
    let page = get(browser, &f.app.url("/device")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = hidden(&page.text().await.unwrap(), "csrf_token").expect("csrf token");
    post(
        browser,
        &f.app.url("/device"),
        &[("csrf_token", &csrf), ("user_code", user_code)],
    )
    .await
}

/// Submits Allow or Deny on the confirmation page `html`; returns the result page's text.
pub async fn decide(f: &Fixture, browser: &reqwest::Client, html: &str, decision: &str) -> String {
    let csrf = hidden(html, "csrf_token").expect("csrf token on the confirmation page");
    let user_code = hidden(html, "user_code").expect("the code on the confirmation page");
    let res = post(
        browser,
        &f.app.url("/device/decision"),
        &[
            ("csrf_token", &csrf),
            ("user_code", &user_code),
            ("decision", decision),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

/// Enters `user_code` and decides; returns the result page's text.
pub async fn enter_and_decide(
    f: &Fixture,
    browser: &reqwest::Client,
    user_code: &str,
    decision: &str,
) -> String {
    let res = enter_code(f, browser, user_code).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    decide(f, browser, &html, decision).await
}

/// Follows same-site redirects from `res` to the first page that is not one.
pub async fn follow(
    f: &Fixture,
    browser: &reqwest::Client,
    mut res: reqwest::Response,
) -> reqwest::Response {
    for _ in 0..10 {
        if !res.status().is_redirection() {
            return res;
        }
        let to = location(&res);
        res = get(browser, &f.app.url(&to)).await;
    }
    panic!("too many redirects")
}

/// The stored row of a device code.
pub async fn row(f: &Fixture, device_code: &str) -> Option<DeviceCode> {
    let hash = porta::crypto::secrets::hash_secret(device_code);
    f.app
        .state
        .db
        .run(move |c| device_codes::by_device_code(c, &hash))
        .await
        .unwrap()
}
