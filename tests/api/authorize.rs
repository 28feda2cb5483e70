//! `/authorize` over real HTTP: what is never redirected, the errors that are, prompt, max_age, login_hint,
//! form_post, POST, and consent.

use porta::clock::Clock;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION};

use crate::helpers::{ADMIN_PASSWORD, spawn_app};
use crate::sso::*;

both_backends! {
    async fn unknown_clients_and_unregistered_redirect_uris_are_never_redirected_to(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let evil = "https://evil.example.com/cb";
        for url in [
            authorize_url(&app, "no-such-client", &[]),
            authorize_url(&app, &client_id, &[("redirect_uri", evil)]),
            authorize_url(&app, &client_id, &[("redirect_uri", "http://127.0.0.1:9/cb/")]),
            authorize_url(&app, &client_id, &[("redirect_uri", "")]),
            authorize_url(&app, &client_id, &[("client_id", "")]),
            // Even with other errors in the request, and prompt=none.
            authorize_url(&app, &client_id, &[("redirect_uri", evil), ("response_type", "token"), ("prompt", "none")]),
        ] {
            let res = get(&browser, &url).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{url}");
            assert!(res.headers().get(LOCATION).is_none(), "{url}");
            let html = res.text().await.unwrap();
            assert!(!html.contains(evil), "{url}");
        }
    }

    async fn protocol_errors_go_back_with_state(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let spa = register_with(&app, "SPA", true, true).await;
        let browser = app.new_browser();
        for (client, extra, expected) in [
            (&client_id, vec![("response_type", "token")], "unsupported_response_type"),
            (&client_id, vec![("response_type", "")], "invalid_request"),
            (&client_id, vec![("scope", "profile")], "invalid_scope"),
            (&client_id, vec![("code_challenge_method", "plain")], "invalid_request"),
            (&client_id, vec![("max_age", "-5")], "invalid_request"),
            (&client_id, vec![("prompt", "none consent")], "invalid_request"),
            (&client_id, vec![("request", "x.y.z")], "request_not_supported"),
            (&spa, vec![("code_challenge", ""), ("code_challenge_method", "")], "invalid_request"),
        ] {
            let res = get(&browser, &authorize_url(&app, client, &extra)).await;
            assert_eq!(error_from(&res), expected, "{extra:?}");
        }
        // Unknown parameters are ignored; a public client with S256 goes on to sign-in.
        let res = get(&browser, &authorize_url(&app, &spa, &[("colour", "blue")])).await;
        assert!(location(&res).starts_with("/login?authz="));
    }

    async fn prompt_none_without_a_session_is_login_required(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let res = get(&app.new_browser(), &authorize_url(&app, &client_id, &[("prompt", "none")])).await;
        assert_eq!(error_from(&res), "login_required");
    }

    async fn prompt_login_asks_for_the_password_again(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        let first = authorize_with_login(&app, &browser, &client_id).await;
        app.clock.advance(30);

        let res = get(&browser, &authorize_url(&app, &client_id, &[("prompt", "login")])).await;
        let login = location(&res);
        assert!(login.starts_with("/login?authz="), "signed in, but prompt=login shows the form: {login}");
        let res = submit_login(&app, &browser, &login, "admin", ADMIN_PASSWORD).await;
        let second = code_from(&app, &res);
        let (r1, r2) = (code_row(&app, &first).await, code_row(&app, &second).await);
        assert_eq!(r2.auth_time, r1.auth_time + 30, "a new auth_time");
        // The same person re-authenticating keeps the SSO session (and the apps' sign-ins bound to it).
        assert_eq!(r1.sid, r2.sid, "the same SSO session");
    }

    async fn max_age_forces_a_fresh_sign_in(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        authorize_with_login(&app, &browser, &client_id).await;
        app.clock.advance(120);

        let res = get(&browser, &authorize_url(&app, &client_id, &[("max_age", "300")])).await;
        code_from(&app, &res);
        let res = get(&browser, &authorize_url(&app, &client_id, &[("max_age", "60")])).await;
        let login = location(&res);
        assert!(login.starts_with("/login?authz="), "{login}");
        let res = get(&browser, &authorize_url(&app, &client_id, &[("max_age", "60"), ("prompt", "none")])).await;
        assert_eq!(error_from(&res), "login_required");

        let res = submit_login(&app, &browser, &login, "admin", ADMIN_PASSWORD).await;
        let code = code_from(&app, &res);
        assert_eq!(code_row(&app, &code).await.auth_time, app.clock.now());
    }

    async fn login_hint_prefills_the_username(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        let res = get(&browser, &authorize_url(&app, &client_id, &[("login_hint", "admin")])).await;
        let html = get(&browser, &app.url(&location(&res))).await.text().await.unwrap();
        assert!(html.contains("name=\"username\" value=\"admin\""), "{html}");
    }

    async fn form_post_answers_with_a_self_submitting_form(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;

        let res = get(&browser, &authorize_url(&app, &client_id, &[("response_mode", "form_post")])).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get(LOCATION).is_none());
        let csp = res.headers().get(CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap().to_string();
        assert!(csp.contains("script-src 'sha256-") && csp.contains("frame-ancestors 'none'"), "{csp}");
        let html = res.text().await.unwrap();
        assert!(html.contains(&format!("action=\"{REDIRECT}\"")), "{html}");
        assert!(html.contains("<button type=\"submit\">Continue</button>"), "works without JavaScript");
        let code = hidden(&html, "code").expect("the code is in the form");
        assert_eq!(hidden(&html, "state").as_deref(), Some("st-123"));
        assert_eq!(code_row(&app, &code).await.client_id, client_id);

        // Errors travel the same way.
        let res = get(&browser, &authorize_url(&app, &client_id, &[("response_mode", "form_post"), ("scope", "email")])).await;
        let html = res.text().await.unwrap();
        assert_eq!(hidden(&html, "error").as_deref(), Some("invalid_scope"));
    }

    async fn post_authorize_works_like_get(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let res = post(&browser, &app.url("/authorize"), &[
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "st-123"),
        ]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        code_from(&app, &res);
    }

    async fn consent_is_asked_once_and_remembered(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Third Party", false).await;
        let browser = app.new_browser();
        let res = get(&browser, &authorize_url(&app, &client_id, &[])).await;
        let res = submit_login(&app, &browser, &location(&res), "admin", ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let consent = location(&res);
        assert!(consent.starts_with("/consent?authz="), "{consent}");

        let page = get(&browser, &app.url(&consent)).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("Third Party") && html.contains("See your name and username"), "{html}");
        let csrf = hidden(&html, "csrf_token").unwrap();
        let authz = hidden(&html, "authz").unwrap();
        let res = post(&browser, &app.url("/consent"), &[("csrf_token", &csrf), ("authz", &authz), ("decision", "allow")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        code_from(&app, &res);

        // Remembered: the same or fewer scopes need no page; prompt=none works.
        let res = get(&browser, &authorize_url(&app, &client_id, &[("scope", "openid"), ("prompt", "none")])).await;
        code_from(&app, &res);
        // More scopes ask again; prompt=consent always asks.
        let res = get(&browser, &authorize_url(&app, &client_id, &[("scope", "openid email")])).await;
        assert!(location(&res).starts_with("/consent?authz="));
        let res = get(&browser, &authorize_url(&app, &client_id, &[("prompt", "consent")])).await;
        assert!(location(&res).starts_with("/consent?authz="));
        let res = get(&browser, &authorize_url(&app, &client_id, &[("scope", "openid email"), ("prompt", "none")])).await;
        assert_eq!(error_from(&res), "consent_required");
        // The answered request cannot be answered twice.
        let res = post(&browser, &app.url("/consent"), &[("csrf_token", &csrf), ("authz", &authz), ("decision", "allow")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }

    async fn consent_denied_is_access_denied(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Third Party", false).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let res = get(&browser, &authorize_url(&app, &client_id, &[])).await;
        let consent = location(&res);
        let html = get(&browser, &app.url(&consent)).await.text().await.unwrap();
        let csrf = hidden(&html, "csrf_token").unwrap();
        let authz = hidden(&html, "authz").unwrap();
        let res = post(&browser, &app.url("/consent"), &[("csrf_token", &csrf), ("authz", &authz), ("decision", "deny")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let q = query(&location(&res));
        assert_eq!(q["error"], "access_denied");
        assert_eq!(q["state"], "st-123");
        // Nothing was remembered.
        let res = get(&browser, &authorize_url(&app, &client_id, &[])).await;
        assert!(location(&res).starts_with("/consent?authz="));
    }
}
