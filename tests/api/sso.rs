//! Browser single sign-on over real HTTP: the full sign-in, SSO across clients, the session cookie and its store,
//! and session lifetimes driven by the test clock. Shared fixtures for `authorize`, `login` and `logout` live here.

use std::collections::HashMap;

use porta::clock::Clock;
use porta::crypto::secrets;
use porta::db::models::{auth_codes, sessions};
use porta::manage::Actor;
use porta::manage::clients::{self as manage_clients, NewClientInput};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};

use crate::helpers::{ADMIN_PASSWORD, TestApp, spawn_app, spawn_app_with};

pub const REDIRECT: &str = "http://127.0.0.1:9/cb";
pub const LOGOUT_REDIRECT: &str = "http://127.0.0.1:9/bye";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Registers a confidential client with `REDIRECT` and `LOGOUT_REDIRECT`; returns its id.
pub async fn register(app: &TestApp, name: &str, first_party: bool) -> String {
    register_with(app, name, first_party, false).await
}

pub async fn register_with(
    app: &TestApp,
    name: &str,
    first_party: bool,
    is_public: bool,
) -> String {
    let now = app.clock.now();
    let name = name.to_string();
    app.state
        .db
        .run(move |c| {
            manage_clients::add(
                c,
                &NewClientInput {
                    name,
                    redirect_uris: vec![REDIRECT.into()],
                    post_logout_redirect_uris: vec![LOGOUT_REDIRECT.into()],
                    is_public,
                    grant_types: vec![],
                    first_party,
                },
                &Actor::cli(),
                now,
            )
        })
        .await
        .map_err(|e| e.to_string())
        .expect("register client")
        .client_id
}

/// `/authorize?...` for `client_id` with the usual parameters, `extra` added or replacing them.
pub fn authorize_url(app: &TestApp, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    let q = serde_urlencoded::to_string(&params).unwrap();
    app.url(&format!("/authorize?{q}"))
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location on {}", res.status()))
        .to_str()
        .unwrap()
        .to_string()
}

/// The query parameters of a URL.
pub fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .or_else(|_| url::Url::parse(&format!("http://x{url}")))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The value of the hidden input `name` in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

pub async fn get(browser: &reqwest::Client, url: &str) -> reqwest::Response {
    browser.get(url).send().await.expect("request")
}

pub async fn post(
    browser: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser.post(url).form(form).send().await.expect("request")
}

/// Opens a login page (`path` is `/login` or `/login?authz=...`) and submits it; returns the POST's response.
pub async fn submit_login(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = get(browser, &app.url(path)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf_token").expect("csrf token in the login form");
    let authz = hidden(&html, "authz").unwrap_or_default();
    let return_to = hidden(&html, "return_to").unwrap_or_default();
    post(
        browser,
        &app.url("/login"),
        &[
            ("csrf_token", &csrf),
            ("username", username),
            ("password", password),
            ("authz", &authz),
            ("return_to", &return_to),
        ],
    )
    .await
}

/// Signs `admin` in directly at `/login`.
pub async fn sign_in_admin(app: &TestApp, browser: &reqwest::Client) {
    let res = submit_login(app, browser, "/login", "admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account");
}

/// The code from a redirect to the client, checking `state` and `iss`.
pub fn code_from(app: &TestApp, res: &reqwest::Response) -> String {
    let loc = location(res);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let q = query(&loc);
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"), "{loc}");
    assert_eq!(q.get("iss"), Some(&app.address), "{loc}");
    q.get("code")
        .unwrap_or_else(|| panic!("no code in {loc}"))
        .clone()
}

/// The error from a redirect to the client, checking `state`.
pub fn error_from(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::FOUND);
    let loc = location(res);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let q = query(&loc);
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"), "{loc}");
    assert!(q.contains_key("error_description"), "{loc}");
    assert!(!q.contains_key("code"), "{loc}");
    q["error"].clone()
}

/// The stored row of a code.
pub async fn code_row(app: &TestApp, code: &str) -> auth_codes::AuthCode {
    let hash = secrets::hash_secret(code);
    app.state
        .db
        .run(move |c| {
            use diesel::prelude::*;
            use porta::db::schema::auth_codes::dsl;
            dsl::auth_codes
                .find(hash)
                .first::<auth_codes::AuthCode>(c)
                .map_err(porta::db::StoreError::from)
        })
        .await
        .expect("the code is stored by its hash")
}

/// Runs the whole flow for a first-party client and returns the code.
pub async fn authorize_with_login(
    app: &TestApp,
    browser: &reqwest::Client,
    client_id: &str,
) -> String {
    let res = get(browser, &authorize_url(app, client_id, &[])).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let login = location(&res);
    assert!(login.starts_with("/login?authz="), "{login}");
    let res = submit_login(app, browser, &login, "admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    code_from(app, &res)
}

pub async fn admin_id(app: &TestApp) -> String {
    app.state
        .db
        .run(|c| porta::db::models::users::by_username(c, "admin"))
        .await
        .unwrap()
        .unwrap()
        .id
}

pub async fn sessions_of(app: &TestApp, user_id: &str) -> Vec<sessions::SessionRow> {
    let (uid, now) = (user_id.to_string(), app.clock.now());
    app.state
        .db
        .run(move |c| sessions::list_for_user(c, &uid, now))
        .await
        .unwrap()
}

fn assert_page_headers(res: &reqwest::Response) {
    let h = res.headers();
    let csp = h
        .get(CONTENT_SECURITY_POLICY)
        .expect("CSP")
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h.get(CACHE_CONTROL).unwrap(), "no-store");
    assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer");
}

both_backends! {
    async fn full_login_issues_a_bound_code(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();

        let res = get(&browser, &authorize_url(&app, &client_id, &[])).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let login = location(&res);
        assert!(login.starts_with("/login?authz="), "{login}");

        let page = get(&browser, &app.url(&login)).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_page_headers(&page);
        let html = page.text().await.unwrap();
        assert!(html.contains("<label for=\"username\">") && html.contains("<label for=\"password\">"));
        assert!(html.contains("Web"), "the page names the application");

        let res = submit_login(&app, &browser, &login, "admin", ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let cookie = res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("porta_session="))
            .expect("the session cookie is set at sign-in");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "http issuer: no Secure flag: {cookie}");
        let code = code_from(&app, &res);
        assert_eq!(code.len(), 43, "256 random bits");

        let row = code_row(&app, &code).await;
        let now = app.clock.now();
        assert_eq!(row.client_id, client_id);
        assert_eq!(row.user_id, admin_id(&app).await);
        assert_eq!(row.redirect_uri, REDIRECT);
        assert_eq!(row.scope, "openid profile");
        assert_eq!(row.nonce.as_deref(), Some("n-456"));
        assert_eq!(row.code_challenge.as_deref(), Some(CHALLENGE));
        assert_eq!(row.amr, "pwd");
        assert_eq!(row.auth_time, now);
        assert_eq!(row.expires_at, now + 60);
        assert_eq!(row.sid.len(), 43);

        // The session row mirrors the sign-in, and the cookie holds none of it.
        let rows = sessions_of(&app, &row.user_id).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].auth_time, Some(now));
        assert!(!cookie.contains(&row.user_id) && !cookie.contains(&row.sid));

        let account = get(&browser, &app.url("/account")).await;
        assert_eq!(account.status(), StatusCode::OK);
        assert_page_headers(&account);
        let html = account.text().await.unwrap();
        assert!(html.contains("admin"));
        assert!(html.contains(&porta::clock::format_time(now)), "{html}");
    }

    async fn a_second_client_gets_a_code_with_no_form(backend: Backend) {
        let app = spawn_app(backend).await;
        let first = register(&app, "First", true).await;
        let second = register(&app, "Second", true).await;
        let browser = app.new_browser();
        let code1 = authorize_with_login(&app, &browser, &first).await;

        let res = get(&browser, &authorize_url(&app, &second, &[])).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let code2 = code_from(&app, &res);
        let (r1, r2) = (code_row(&app, &code1).await, code_row(&app, &code2).await);
        assert_eq!(r2.client_id, second);
        assert_eq!(r1.sid, r2.sid, "one SSO session");
        assert_eq!(r1.auth_time, r2.auth_time);

        // A browser without the cookie is asked to sign in.
        let res = get(&app.new_browser(), &authorize_url(&app, &second, &[])).await;
        assert!(location(&res).starts_with("/login?authz="));
    }

    async fn the_session_is_shared_by_instances_and_ended_everywhere(backend: Backend) {
        let app = spawn_app(backend).await;
        let url = app.db.url.clone();
        let other = spawn_app_with(backend, move |s| s.database_url = url).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        authorize_with_login(&app, &browser, &client_id).await;

        // Cookies are not port-scoped: the same browser reaches the second instance with the same session.
        let res = get(&browser, &authorize_url(&other, &client_id, &[("prompt", "none")])).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let loc = location(&res);
        assert!(query(&loc).contains_key("code"), "{loc}");

        // An admin ends the user's sessions on one instance; the other sees it at once.
        let uid = admin_id(&app).await;
        let n = app
            .state
            .db
            .run(move |c| sessions::delete_for_user(c, &uid))
            .await
            .unwrap();
        assert_eq!(n, 1);
        let res = get(&browser, &authorize_url(&other, &client_id, &[("prompt", "none")])).await;
        assert_eq!(error_from(&res), "login_required");
    }

    async fn an_idle_session_ends(backend: Backend) {
        let app = spawn_app_with(backend, |s| {
            s.sessions.idle_timeout = std::time::Duration::from_secs(600);
        })
        .await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        authorize_with_login(&app, &browser, &client_id).await;
        let silent = authorize_url(&app, &client_id, &[("prompt", "none")]);

        // Each use moves the idle deadline.
        for _ in 0..3 {
            app.clock.advance(590);
            let res = get(&browser, &silent).await;
            assert!(query(&location(&res)).contains_key("code"), "still signed in");
        }
        app.clock.advance(600);
        let res = get(&browser, &silent).await;
        assert_eq!(error_from(&res), "login_required");
        let uid = admin_id(&app).await;
        assert!(sessions_of(&app, &uid).await.is_empty(), "the ended session's row is gone");
    }

    async fn a_session_ends_after_its_absolute_lifetime(backend: Backend) {
        let app = spawn_app_with(backend, |s| {
            s.sessions.idle_timeout = std::time::Duration::from_secs(1800);
            s.sessions.max_life = std::time::Duration::from_secs(3600);
        })
        .await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        authorize_with_login(&app, &browser, &client_id).await;
        let silent = authorize_url(&app, &client_id, &[("prompt", "none")]);
        for _ in 0..2 {
            app.clock.advance(1500);
            let res = get(&browser, &silent).await;
            assert!(query(&location(&res)).contains_key("code"), "still signed in");
        }
        app.clock.advance(700);
        let res = get(&browser, &silent).await;
        assert_eq!(error_from(&res), "login_required", "3700 s after sign-in, however active");
    }

    async fn purge_removes_ended_sessions(backend: Backend) {
        let app = spawn_app(backend).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let uid = admin_id(&app).await;
        assert_eq!(sessions_of(&app, &uid).await.len(), 1);
        let later = app.clock.now() + 9 * 3600;
        let n = app.state.db.run(move |c| porta::session::purge_expired(c, later)).await.unwrap();
        assert_eq!(n, 1, "idle for longer than the default 8 h");
        let res = get(&browser, &app.url("/account")).await;
        assert_eq!(location(&res), "/login");
    }
}
