//! Security events reach every session and token (issue 10). Each test plays the attacker who held the old
//! session and tokens: a password set, a disable, a logout or an admin ending sessions must leave them nothing.

use porta::clock::Clock;
use porta::manage::Actor;
use porta::manage::clients::{self as manage_clients, NewClientInput, Registered};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ADMIN_PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::sso::{
    LOGOUT_REDIRECT, REDIRECT, authorize_url, code_from, get, hidden, location, post, submit_login,
};
use crate::token_support::{VERIFIER, post_form};

pub const NEW_PASSWORD: &str = "a brand new passphrase 42";

/// Registers a confidential client with the code and refresh grants.
pub async fn register_rp(app: &TestApp, name: &str, first_party: bool) -> Registered {
    let (now, name) = (app.clock.now(), name.to_string());
    app.state
        .db
        .run(move |c| {
            manage_clients::add(
                c,
                &NewClientInput {
                    name,
                    redirect_uris: vec![REDIRECT.into()],
                    post_logout_redirect_uris: vec![LOGOUT_REDIRECT.into()],
                    is_public: false,
                    grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                    first_party,
                },
                &Actor::cli(),
                now,
            )
        })
        .await
        .map_err(|e| e.to_string())
        .expect("register client")
}

/// Signs `admin` in through `/authorize` for `rp` in `browser` and returns the code.
pub async fn sign_in_for(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &Registered,
    extra: &[(&str, &str)],
) -> String {
    let res = get(browser, &authorize_url(app, &rp.client_id, extra)).await;
    let login = location(&res);
    assert!(login.starts_with("/login?authz="), "{login}");
    let res = submit_login(app, browser, &login, "admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    code_from(app, &res)
}

/// Exchanges a code for tokens.
pub async fn exchange(app: &TestApp, rp: &Registered, code: &str) -> Value {
    let (status, _, body) = post_form(
        app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        Some(rp),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Tries a refresh; returns the status and body.
pub async fn refresh(app: &TestApp, rp: &Registered, token: &Value) -> (StatusCode, Value) {
    let rt = token["refresh_token"].as_str().expect("a refresh token");
    let (s, _, b) = post_form(
        app,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some(rp),
    )
    .await;
    (s, b)
}

pub async fn userinfo_status(app: &TestApp, tokens: &Value) -> StatusCode {
    app.client
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status()
}

pub async fn introspect_active(app: &TestApp, rp: &Registered, token: &str) -> bool {
    let (_, _, b) = post_form(app, "/introspect", &[("token", token)], Some(rp)).await;
    b["active"].as_bool().expect("active")
}

/// What the attacker holding `browser` and `tokens` can still do.
pub struct Reach {
    pub account_page: StatusCode,
    pub silent_code: bool,
    pub refresh: StatusCode,
    pub userinfo: StatusCode,
    pub access_active: bool,
}

pub async fn reach(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &Registered,
    tokens: &Value,
) -> Reach {
    let account_page = get(browser, &app.url("/account")).await.status();
    let res = get(
        browser,
        &authorize_url(app, &rp.client_id, &[("prompt", "none")]),
    )
    .await;
    let silent_code = crate::sso::query(&location(&res)).contains_key("code");
    let userinfo = userinfo_status(app, tokens).await;
    let access_active = introspect_active(app, rp, tokens["access_token"].as_str().unwrap()).await;
    let refresh = refresh(app, rp, tokens).await.0;
    Reach {
        account_page,
        silent_code,
        refresh,
        userinfo,
        access_active,
    }
}

pub fn assert_nothing_left(r: &Reach) {
    assert_eq!(
        r.account_page,
        StatusCode::FOUND,
        "the old session must be signed out"
    );
    assert!(
        !r.silent_code,
        "prompt=none must not issue a code to the old session"
    );
    assert_eq!(
        r.refresh,
        StatusCode::BAD_REQUEST,
        "the old refresh token must be dead"
    );
    assert_eq!(
        r.userinfo,
        StatusCode::UNAUTHORIZED,
        "the old access token must be refused"
    );
    assert!(
        !r.access_active,
        "introspection must call the old access token inactive"
    );
}

async fn set_password(app: &TestApp, username: &str, password: &str) {
    let (now, u, p) = (app.clock.now(), username.to_string(), password.to_string());
    app.state
        .db
        .run(move |c| {
            porta::manage::users::set_password(c, &u, &p, &Default::default(), &Actor::cli(), now)
        })
        .await
        .map_err(|e| e.to_string())
        .expect("set password");
}

async fn set_disabled(app: &TestApp, username: &str, disabled: bool) {
    let (now, u) = (app.clock.now(), username.to_string());
    app.state
        .db
        .run(move |c| porta::manage::users::set_disabled(c, &u, disabled, &Actor::cli(), now))
        .await
        .map_err(|e| e.to_string())
        .expect("set disabled");
}

both_backends! {
    async fn a_password_set_leaves_the_attacker_nothing(backend: Backend) {
        let app = spawn_app(backend).await;
        let rp = register_rp(&app, "Wiki", true).await;
        let attacker = app.new_browser();
        let code = sign_in_for(&app, &attacker, &rp, &[]).await;
        let tokens = exchange(&app, &rp, &code).await;
        let before = reach(&app, &attacker, &rp, &tokens).await;
        assert_eq!(before.account_page, StatusCode::OK);
        assert!(before.silent_code && before.access_active);
        assert_eq!(before.userinfo, StatusCode::OK);
        // `reach` rotated the refresh token: take a fresh set for the attack.
        let code = sign_in_for(&app, &app.new_browser(), &rp, &[]).await;
        let tokens = exchange(&app, &rp, &code).await;

        app.clock.advance(1);
        set_password(&app, "admin", NEW_PASSWORD).await;
        assert_nothing_left(&reach(&app, &attacker, &rp, &tokens).await);
    }

    async fn disable_then_enable_brings_nothing_back(backend: Backend) {
        let app = spawn_app(backend).await;
        let rp = register_rp(&app, "Wiki", true).await;
        let attacker = app.new_browser();
        let code = sign_in_for(&app, &attacker, &rp, &[("scope", "openid offline_access")]).await;
        let tokens = exchange(&app, &rp, &code).await;

        app.clock.advance(1);
        set_disabled(&app, "admin", true).await;
        set_password(&app, "admin", NEW_PASSWORD).await;
        set_disabled(&app, "admin", false).await;
        assert_nothing_left(&reach(&app, &attacker, &rp, &tokens).await);
    }

    async fn logout_ends_online_refresh_tokens_and_keeps_offline_ones(backend: Backend) {
        let app = spawn_app(backend).await;
        let rp = register_rp(&app, "Wiki", true).await;
        let browser = app.new_browser();
        let online = exchange(&app, &rp, &sign_in_for(&app, &browser, &rp, &[]).await).await;
        let url = authorize_url(&app, &rp.client_id, &[("scope", "openid offline_access")]);
        let offline = exchange(&app, &rp, &code_from(&app, &get(&browser, &url).await)).await;
        assert!(offline["scope"].as_str().unwrap().contains("offline_access"));

        // RP-initiated logout with the ID token as hint: no confirmation needed.
        let hint = online["id_token"].as_str().unwrap();
        let res = get(&browser, &app.url(&format!("/logout?id_token_hint={hint}"))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(get(&browser, &app.url("/account")).await.status(), StatusCode::FOUND);

        let (s, b) = refresh(&app, &rp, &online).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
        let (s, offline2) = refresh(&app, &rp, &offline).await;
        assert_eq!(s, StatusCode::OK, "offline access survives sign-out: {offline2}");

        // ...but not a password change.
        app.clock.advance(1);
        set_password(&app, "admin", NEW_PASSWORD).await;
        assert_eq!(refresh(&app, &rp, &offline2).await.0, StatusCode::BAD_REQUEST);
    }

    async fn online_refresh_tokens_end_when_the_session_expires(backend: Backend) {
        let app = spawn_app(backend).await;
        let rp = register_rp(&app, "Wiki", true).await;
        let browser = app.new_browser();
        let tokens = exchange(&app, &rp, &sign_in_for(&app, &browser, &rp, &[]).await).await;
        // Idle timeout (8h) passes without the browser coming back; the token alone cannot keep it alive.
        app.clock.advance(9 * 3600);
        assert_eq!(refresh(&app, &rp, &tokens).await.0, StatusCode::BAD_REQUEST);
    }

    async fn the_admins_end_all_sessions_revokes_offline_tokens_too(backend: Backend) {
        let app = spawn_app(backend).await;
        let rp = register_rp(&app, "Wiki", true).await;
        let attacker = app.new_browser();
        let code = sign_in_for(&app, &attacker, &rp, &[("scope", "openid offline_access")]).await;
        let tokens = exchange(&app, &rp, &code).await;
        let (now, uid) = (app.clock.now(), crate::sso::admin_id(&app).await);
        app.state
            .db
            .run(move |c| porta::manage::sessions::end_all(c, &uid, "admin", &Actor::cli(), now))
            .await
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(get(&attacker, &app.url("/account")).await.status(), StatusCode::FOUND);
        assert_eq!(refresh(&app, &rp, &tokens).await.0, StatusCode::BAD_REQUEST);
        assert!(!introspect_active(&app, &rp, tokens["access_token"].as_str().unwrap()).await);
    }

    async fn a_refresh_family_ends_at_its_absolute_lifetime(backend: Backend) {
        let app = spawn_app_with(backend, |s| {
            s.tokens.refresh_token_ttl = std::time::Duration::from_secs(86_400);
            s.tokens.refresh_token_max_life = std::time::Duration::from_secs(3 * 86_400);
        })
        .await;
        let rp = register_rp(&app, "Wiki", true).await;
        let code = sign_in_for(&app, &app.new_browser(), &rp, &[("scope", "openid offline_access")]).await;
        let mut tokens = exchange(&app, &rp, &code).await;
        // Used every 20 hours, each rotation inside the sliding lifetime: still the family ends after 3 days.
        for _ in 0..3 {
            app.clock.advance(20 * 3600);
            let (s, next) = refresh(&app, &rp, &tokens).await;
            assert_eq!(s, StatusCode::OK, "{next}");
            tokens = next;
        }
        app.clock.advance(13 * 3600);
        assert_eq!(refresh(&app, &rp, &tokens).await.0, StatusCode::BAD_REQUEST);
    }

    async fn a_reuse_grace_lets_two_tabs_refresh_at_once(backend: Backend) {
        let app = spawn_app_with(backend, |s| {
            s.tokens.refresh_reuse_grace = std::time::Duration::from_secs(10);
        })
        .await;
        let rp = register_rp(&app, "Wiki", true).await;
        let code = sign_in_for(&app, &app.new_browser(), &rp, &[]).await;
        let tokens = exchange(&app, &rp, &code).await;
        let (s, tab1) = refresh(&app, &rp, &tokens).await;
        assert_eq!(s, StatusCode::OK);
        app.clock.advance(5);
        let (s, tab2) = refresh(&app, &rp, &tokens).await;
        assert_eq!(s, StatusCode::OK, "inside the grace window: {tab2}");
        assert_eq!(refresh(&app, &rp, &tab1).await.0, StatusCode::OK);
        // Past the window, the old token is a leaked copy: the family goes.
        app.clock.advance(30);
        assert_eq!(refresh(&app, &rp, &tokens).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(refresh(&app, &rp, &tab2).await.0, StatusCode::BAD_REQUEST);
    }

    async fn prompt_login_cannot_be_skipped_through_the_consent_page(backend: Backend) {
        let app = spawn_app(backend).await;
        for first_party in [false, true] {
            let rp = register_rp(&app, "Third", first_party).await;
            let browser = app.new_browser();
            crate::sso::sign_in_admin(&app, &browser).await;
            app.clock.advance(600);
            for extra in [("prompt", "login"), ("max_age", "0")] {
                let res = get(&browser, &authorize_url(&app, &rp.client_id, &[extra])).await;
                let login = location(&res);
                assert!(login.starts_with("/login?authz="), "{login}");
                let authz = login.trim_start_matches("/login?authz=");
                // The attacker skips the password form and goes straight to consent.
                let consent = app.url(&format!("/consent?authz={authz}"));
                let res = get(&browser, &consent).await;
                assert_eq!(res.status(), StatusCode::FOUND);
                assert!(location(&res).starts_with("/login?authz="));
                let account = get(&browser, &app.url("/account")).await.text().await.unwrap();
                let csrf = hidden(&account, "csrf_token").unwrap();
                let res = post(
                    &browser,
                    &app.url("/consent"),
                    &[("csrf_token", &csrf), ("authz", authz), ("decision", "allow")],
                )
                .await;
                assert_eq!(res.status(), StatusCode::SEE_OTHER);
                assert!(location(&res).starts_with("/login?authz="), "no code without the password");
            }
        }
    }

    async fn a_code_never_goes_to_a_redirect_uri_removed_while_waiting(backend: Backend) {
        let app = spawn_app(backend).await;
        let rp = register_rp(&app, "Wiki", true).await;
        let browser = app.new_browser();
        let res = get(&browser, &authorize_url(&app, &rp.client_id, &[])).await;
        let login = location(&res);
        let (now, id) = (app.clock.now(), rp.client_id.clone());
        app.state
            .db
            .run(move |c| {
                porta::db::models::clients::set_uris(
                    c,
                    &id,
                    &["http://127.0.0.1:9/elsewhere".to_string()],
                    &[],
                    now,
                )
            })
            .await
            .unwrap();
        let res = submit_login(&app, &browser, &login, "admin", ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.headers().get("location").is_none());
    }

    async fn self_service_password_change_keeps_only_this_session(backend: Backend) {
        let app = spawn_app(backend).await;
        let rp = register_rp(&app, "Wiki", true).await;
        let attacker = app.new_browser();
        let tokens = exchange(&app, &rp, &sign_in_for(&app, &attacker, &rp, &[]).await).await;
        let owner = app.new_browser();
        crate::sso::sign_in_admin(&app, &owner).await;
        let page = get(&owner, &app.url("/account")).await.text().await.unwrap();
        assert!(page.contains("(this browser)") && page.contains("Sign out all other sessions"));
        let csrf = hidden(&page, "csrf_token").unwrap();

        let wrong = post(
            &owner,
            &app.url("/account/password"),
            &[
                ("csrf_token", &csrf),
                ("current_password", "not it at all"),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert!(wrong.text().await.unwrap().contains("current password is not correct"));
        assert_eq!(get(&attacker, &app.url("/account")).await.status(), StatusCode::OK);

        app.clock.advance(1);
        let res = post(
            &owner,
            &app.url("/account/password"),
            &[
                ("csrf_token", &csrf),
                ("current_password", ADMIN_PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/account?done=password");
        assert_eq!(get(&owner, &app.url("/account")).await.status(), StatusCode::OK);
        assert_nothing_left(&reach(&app, &attacker, &rp, &tokens).await);
        let res = submit_login(&app, &app.new_browser(), "/login", "admin", NEW_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "the new password signs in");
    }

    async fn self_service_ends_other_sessions_and_revokes_apps(backend: Backend) {
        let app = spawn_app(backend).await;
        let rp = register_rp(&app, "Wiki", false).await;
        let attacker = app.new_browser();
        crate::sso::sign_in_admin(&app, &attacker).await;
        let owner = app.new_browser();
        crate::sso::sign_in_admin(&app, &owner).await;
        // The owner consents to Wiki and gets tokens.
        let res = get(&owner, &authorize_url(&app, &rp.client_id, &[])).await;
        let consent = location(&res);
        let html = get(&owner, &app.url(&consent)).await.text().await.unwrap();
        let (csrf, authz) = (hidden(&html, "csrf_token").unwrap(), hidden(&html, "authz").unwrap());
        let res = post(
            &owner,
            &app.url("/consent"),
            &[("csrf_token", &csrf), ("authz", &authz), ("decision", "allow")],
        )
        .await;
        let tokens = exchange(&app, &rp, &code_from(&app, &res)).await;

        let page = get(&owner, &app.url("/account")).await.text().await.unwrap();
        assert!(page.contains("Wiki"), "the consented app is listed");
        let csrf = hidden(&page, "csrf_token").unwrap();
        let res = post(&owner, &app.url("/account/sessions/end-others"), &[("csrf_token", &csrf)]).await;
        assert_eq!(location(&res), "/account?done=others");
        assert_eq!(get(&attacker, &app.url("/account")).await.status(), StatusCode::FOUND);
        assert_eq!(get(&owner, &app.url("/account")).await.status(), StatusCode::OK);

        let res = post(
            &owner,
            &app.url("/account/apps/revoke"),
            &[("csrf_token", &csrf), ("client_id", &rp.client_id)],
        )
        .await;
        assert_eq!(location(&res), "/account?done=revoked");
        assert_eq!(refresh(&app, &rp, &tokens).await.0, StatusCode::BAD_REQUEST);
        let res = get(&owner, &authorize_url(&app, &rp.client_id, &[])).await;
        assert!(location(&res).starts_with("/consent?authz="), "consent is asked again");
    }

    async fn another_person_signing_in_on_the_browser_ends_the_previous_session(backend: Backend) {
        let app = spawn_app(backend).await;
        let rp = register_rp(&app, "Wiki", true).await;
        let browser = app.new_browser();
        let tokens = exchange(&app, &rp, &sign_in_for(&app, &browser, &rp, &[]).await).await;
        let now = app.clock.now();
        app.state
            .db
            .run(move |c| {
                porta::manage::users::add(
                    c,
                    &porta::manage::users::NewUserInput {
                        username: "bob".into(),
                        password: "bob's own long passphrase".into(),
                        ..Default::default()
                    },
                    &Default::default(),
                    &Actor::cli(),
                    now,
                )
            })
            .await
            .map_err(|e| e.to_string())
            .unwrap();
        let res = submit_login(&app, &browser, "/login", "bob", "bob's own long passphrase").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        // admin's SSO session in this browser is over: so is the refresh token bound to it.
        assert_eq!(refresh(&app, &rp, &tokens).await.0, StatusCode::BAD_REQUEST);
    }

    async fn the_current_password_on_the_account_page_is_throttled_like_a_sign_in(backend: Backend) {
        let app = spawn_app(backend).await;
        let thief = app.new_browser();
        crate::sso::sign_in_admin(&app, &thief).await;
        let page = get(&thief, &app.url("/account")).await.text().await.unwrap();
        let csrf = hidden(&page, "csrf_token").unwrap();
        let guess = |n: usize| {
            let (thief, csrf, url) = (thief.clone(), csrf.clone(), app.url("/account/password"));
            async move {
                let current = format!("guess number {n}");
                post(
                    &thief,
                    &url,
                    &[
                        ("csrf_token", csrf.as_str()),
                        ("current_password", current.as_str()),
                        ("new_password", NEW_PASSWORD),
                        ("confirm_password", NEW_PASSWORD),
                    ],
                )
                .await
                .text()
                .await
                .unwrap()
            }
        };
        for n in 0..5 {
            assert!(guess(n).await.contains("current password is not correct"));
        }
        assert!(guess(5).await.contains("Too many wrong passwords"));
        // Even the right password is refused while locked.
        let res = post(
            &thief,
            &app.url("/account/password"),
            &[
                ("csrf_token", &csrf),
                ("current_password", ADMIN_PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }

    async fn a_public_client_cannot_refresh_after_the_admin_ends_all_sessions(backend: Backend) {
        let app = spawn_app(backend).await;
        let now = app.clock.now();
        let spa = app
            .state
            .db
            .run(move |c| {
                manage_clients::add(
                    c,
                    &NewClientInput {
                        name: "SPA".into(),
                        redirect_uris: vec![REDIRECT.into()],
                        post_logout_redirect_uris: vec![],
                        is_public: true,
                        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                        first_party: true,
                    },
                    &Actor::cli(),
                    now,
                )
            })
            .await
            .map_err(|e| e.to_string())
            .unwrap();
        let code = sign_in_for(&app, &app.new_browser(), &spa, &[]).await;
        let form = |extra: Vec<(&'static str, String)>| {
            let mut f = vec![("client_id", spa.client_id.clone())];
            f.extend(extra);
            f
        };
        let res = app
            .client
            .post(app.url("/token"))
            .form(&form(vec![
                ("grant_type", "authorization_code".into()),
                ("code", code),
                ("redirect_uri", REDIRECT.into()),
                ("code_verifier", VERIFIER.into()),
            ]))
            .send()
            .await
            .unwrap();
        let tokens: Value = res.json().await.unwrap();
        let rt = tokens["refresh_token"].as_str().expect("a refresh token").to_string();
        let uid = crate::sso::admin_id(&app).await;
        app.state
            .db
            .run(move |c| porta::manage::sessions::end_all(c, &uid, "admin", &Actor::cli(), now))
            .await
            .map_err(|e| e.to_string())
            .unwrap();
        // The attacker holds the refresh token and the public client_id: that is all a public client needs.
        let res = app
            .client
            .post(app.url("/token"))
            .form(&form(vec![("grant_type", "refresh_token".into()), ("refresh_token", rt)]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}
