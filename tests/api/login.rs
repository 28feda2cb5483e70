//! The sign-in page over real HTTP: the generic failure, disabled users, audit rows, throttling with the test clock,
//! CSRF on every form, the renewed session key, and the account page.

use std::time::Duration;

use porta::clock::Clock;
use porta::db::models::audit;
use porta::manage::Actor;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, RETRY_AFTER};

use crate::helpers::{ADMIN_PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::sso::*;

const FAILED: &str = "The username or password is not correct.";

async fn audit_actions(
    app: &TestApp,
    prefix: &str,
) -> Vec<(String, Option<String>, Option<String>)> {
    let filter = audit::Filter {
        action_prefix: Some(prefix.into()),
        ..Default::default()
    };
    app.state
        .db
        .run(move |c| audit::list(c, &filter, 100, 0))
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.actor, e.ip))
        .collect()
}

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("porta_session="))
        .map(|c| c.split(';').next().unwrap().to_string())
}

both_backends! {
    async fn failures_are_generic_and_audited(backend: Backend) {
        let app = spawn_app(backend).await;
        let browser = app.new_browser();
        for (user, pw) in [("admin", "wrong"), ("nobody", "wrong"), ("", "")] {
            let res = submit_login(&app, &browser, "/login", user, pw).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{user}");
            let html = res.text().await.unwrap();
            assert!(html.contains(FAILED), "{html}");
        }
        sign_in_admin(&app, &browser).await;
        let failures = audit_actions(&app, "login.failure").await;
        assert_eq!(failures.len(), 3);
        // What was typed for an account that does not exist is not kept (it is sometimes a password).
        assert!(failures.iter().any(|(_, actor, ip)| actor.as_deref() == Some("(unknown user)") && ip.as_deref() == Some("127.0.0.1")));
        assert!(!failures.iter().any(|(_, actor, _)| actor.as_deref() == Some("nobody")));
        let ok = audit_actions(&app, "login.success").await;
        assert_eq!(ok, vec![("login.success".to_string(), Some("admin".to_string()), Some("127.0.0.1".to_string()))]);
    }

    async fn disabled_users_cannot_sign_in(backend: Backend) {
        let app = spawn_app(backend).await;
        let now = app.clock.now();
        app.state
            .db
            .run(move |c| porta::manage::users::set_disabled(c, "admin", true, &Actor::cli(), now))
            .await
            .map_err(|e| e.to_string())
            .unwrap();
        let res = submit_login(&app, &app.new_browser(), "/login", "admin", ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.text().await.unwrap().contains(FAILED));
    }

    async fn a_disabled_user_loses_their_session(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        authorize_with_login(&app, &browser, &client_id).await;
        let now = app.clock.now();
        app.state
            .db
            .run(move |c| porta::manage::users::set_disabled(c, "admin", true, &Actor::cli(), now))
            .await
            .map_err(|e| e.to_string())
            .unwrap();
        let res = get(&browser, &authorize_url(&app, &client_id, &[("prompt", "none")])).await;
        assert_eq!(error_from(&res), "login_required");
    }

    async fn repeated_failures_lock_sign_in_until_the_clock_moves_on(backend: Backend) {
        let app = spawn_app_with(backend, |s| {
            s.login.max_failures = 3;
            s.login.lockout = Duration::from_secs(30);
            s.login.max_lockout = Duration::from_secs(600);
        })
        .await;
        let browser = app.new_browser();
        for _ in 0..3 {
            let res = submit_login(&app, &browser, "/login", "admin", "wrong").await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
        // Locked: even the right password is refused, before it is checked.
        let res = submit_login(&app, &browser, "/login", "admin", ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers().get(RETRY_AFTER).unwrap(), "30");
        let html = res.text().await.unwrap();
        assert!(html.contains("Try again later"), "{html}");

        // Another browser from the same address is locked too (per-address throttling).
        let res = submit_login(&app, &app.new_browser(), "/login", "someone-else", "x").await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

        app.clock.advance(31);
        let res = submit_login(&app, &browser, "/login", "admin", ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "unlocked once the lockout has passed");

        // The address still has its failures: one more doubles its lock to 60 s.
        let res = submit_login(&app, &app.new_browser(), "/login", "admin", "wrong").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = submit_login(&app, &app.new_browser(), "/login", "admin", ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers().get(RETRY_AFTER).unwrap(), "60");
        assert!(audit_actions(&app, "login.failure").await.len() >= 5);
    }

    async fn forms_without_the_right_csrf_token_are_refused(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Third Party", false).await;
        let browser = app.new_browser();
        let page = get(&browser, &app.url("/login")).await.text().await.unwrap();
        let csrf = hidden(&page, "csrf_token").unwrap();

        let res = post(&browser, &app.url("/login"), &[("username", "admin"), ("password", ADMIN_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = post(&browser, &app.url("/login"), &[("csrf_token", "forged"), ("username", "admin"), ("password", ADMIN_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // A token from another browser's session does not work either.
        let res = post(&app.new_browser(), &app.url("/login"), &[("csrf_token", &csrf), ("username", "admin"), ("password", ADMIN_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = get(&browser, &app.url("/account")).await;
        assert_eq!(location(&res), "/login", "none of those signed in");

        // Consent and logout forms are checked the same way.
        let res = post(&browser, &app.url("/login"), &[("csrf_token", &csrf), ("username", "admin"), ("password", ADMIN_PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = get(&browser, &authorize_url(&app, &client_id, &[])).await;
        let html = get(&browser, &app.url(&location(&res))).await.text().await.unwrap();
        let authz = hidden(&html, "authz").unwrap();
        let res = post(&browser, &app.url("/consent"), &[("authz", authz.as_str()), ("decision", "allow")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = post(&browser, &app.url("/consent"), &[("csrf_token", csrf.as_str()), ("authz", authz.as_str()), ("decision", "allow")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "sign-in replaced the token");
        let res = post(&browser, &app.url("/logout"), &[("confirm", "yes")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = post(&browser, &app.url("/logout"), &[("confirm", "yes"), ("csrf_token", "forged")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = get(&browser, &app.url("/account")).await;
        assert_eq!(res.status(), StatusCode::OK, "still signed in");
    }

    async fn sign_in_renews_the_session_key(backend: Backend) {
        let app = spawn_app(backend).await;
        let browser = app.new_browser();
        let page = get(&browser, &app.url("/login")).await;
        let before = session_cookie(&page).expect("the login page starts a session for its CSRF token");
        let csrf = hidden(&page.text().await.unwrap(), "csrf_token").unwrap();
        let res = post(&browser, &app.url("/login"), &[("csrf_token", &csrf), ("username", "admin"), ("password", ADMIN_PASSWORD)]).await;
        let after = session_cookie(&res).expect("a new cookie at sign-in");
        assert_ne!(before, after);

        // The old key names no session any more.
        let old = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = old.get(app.url("/account")).header("cookie", before).send().await.unwrap();
        assert_eq!(res.headers().get(LOCATION).unwrap(), "/login");
        let res = old.get(app.url("/account")).header("cookie", after).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    async fn bad_form_bodies_get_a_page_not_a_500(backend: Backend) {
        let app = spawn_app(backend).await;
        let browser = app.new_browser();
        for path in ["/login", "/consent", "/logout", "/authorize"] {
            let res = browser
                .post(app.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![b'a'; 100 * 1024])
                .send()
                .await
                .unwrap();
            assert!(res.status().is_client_error(), "{path}: {}", res.status());
        }
        let res = get(&browser, &app.url("/consent?authz=nonsense")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = get(&browser, &app.url("/login?authz=%FF%FE")).await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    async fn the_cookie_is_secure_when_the_issuer_is_https(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.issuer = s.issuer.replace("http://", "https://")).await;
        let res = get(&app.new_browser(), &app.url("/login")).await;
        let cookie = res
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("__Host-porta_session="))
            .expect("a __Host- session cookie")
            .to_string();
        assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
    }
}
