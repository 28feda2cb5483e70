//! `/logout` (RP-Initiated Logout) over real HTTP: with an `id_token_hint` (also one signed by a retiring key, and
//! an expired one), without one (confirmation), unregistered `post_logout_redirect_uri`, and the account page's
//! sign-out button.

use porta::clock::Clock;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};
use crate::sso::*;

/// An ID token for the session that issued `code`, as the token endpoint would mint it.
async fn id_token_for(app: &TestApp, code: &str, exp_in: i64) -> String {
    let row = code_row(app, code).await;
    let now = app.clock.now();
    let claims = json!({
        "iss": app.address,
        "sub": row.user_id,
        "aud": row.client_id,
        "azp": row.client_id,
        "iat": now,
        "exp": now + exp_in,
        "auth_time": row.auth_time,
        "sid": row.sid,
    });
    let keys = app.state.keys.current();
    tokio::task::spawn_blocking(move || keys.sign("JWT", &claims))
        .await
        .unwrap()
        .expect("sign")
}

fn logout_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    app.url(&format!(
        "/logout?{}",
        serde_urlencoded::to_string(params).unwrap()
    ))
}

async fn signed_in(app: &TestApp, browser: &reqwest::Client, client_id: &str) -> bool {
    let res = get(
        browser,
        &authorize_url(app, client_id, &[("prompt", "none")]),
    )
    .await;
    query(&location(&res)).contains_key("code")
}

fn clears_cookie(res: &reqwest::Response) -> bool {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| {
            c.starts_with("porta_session=;")
                || (c.starts_with("porta_session=") && c.contains("Max-Age=0"))
        })
}

both_backends! {
    async fn a_valid_hint_signs_out_at_once_and_returns_to_the_client(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        let code = authorize_with_login(&app, &browser, &client_id).await;
        let hint = id_token_for(&app, &code, 3600).await;

        let res = get(&browser, &logout_url(&app, &[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", LOGOUT_REDIRECT),
            ("state", "bye-1"),
        ])).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(location(&res), format!("{LOGOUT_REDIRECT}?state=bye-1"));
        assert!(clears_cookie(&res));
        assert!(sessions_of(&app, &admin_id(&app).await).await.is_empty(), "the row is gone");
        assert!(!signed_in(&app, &browser, &client_id).await);
    }

    async fn an_expired_hint_or_one_from_a_retiring_key_still_counts(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        let code = authorize_with_login(&app, &browser, &client_id).await;
        let hint = id_token_for(&app, &code, 60).await;

        // The key that signed the hint retires: the next key (published long enough) takes over.
        let k = &app.state.settings.keys;
        app.clock.advance((2 * k.jwks_max_age + k.key_refresh_interval).as_secs() as i64 + 120);
        let before = app.state.keys.current().active_kid().to_string();
        app.state.keys.rotate_now(&app.state.db, porta::keys::Alg::Rs256, None).await.expect("rotate");
        assert_ne!(app.state.keys.current().active_kid(), before);
        assert!(signed_in(&app, &browser, &client_id).await);

        let res = post(&browser, &app.url("/logout"), &[
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", LOGOUT_REDIRECT),
        ]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "expired and from a retiring key, still a valid hint");
        assert_eq!(location(&res), LOGOUT_REDIRECT);
        assert!(!signed_in(&app, &browser, &client_id).await);
    }

    async fn without_a_hint_the_person_confirms(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        authorize_with_login(&app, &browser, &client_id).await;

        let res = get(&browser, &logout_url(&app, &[
            ("client_id", &client_id),
            ("post_logout_redirect_uri", LOGOUT_REDIRECT),
            ("state", "bye-2"),
        ])).await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("Sign out?") && html.contains("Web"), "{html}");
        assert!(signed_in(&app, &browser, &client_id).await, "nothing ended before confirming");

        let csrf = hidden(&html, "csrf_token").unwrap();
        let res = post(&browser, &app.url("/logout"), &[
            ("csrf_token", csrf.as_str()),
            ("confirm", "yes"),
            ("client_id", &client_id),
            ("post_logout_redirect_uri", LOGOUT_REDIRECT),
            ("state", "bye-2"),
        ]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), format!("{LOGOUT_REDIRECT}?state=bye-2"));
        assert!(!signed_in(&app, &browser, &client_id).await);

        // A hint for someone else's session is no better than none.
        let browser = app.new_browser();
        let code = authorize_with_login(&app, &browser, &client_id).await;
        let other = app.new_browser();
        authorize_with_login(&app, &other, &client_id).await;
        let hint = id_token_for(&app, &code, 3600).await;
        let res = get(&other, &logout_url(&app, &[("id_token_hint", &hint)])).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("Sign out?"));
        assert!(signed_in(&app, &other, &client_id).await);
    }

    async fn unregistered_post_logout_redirect_uris_are_never_followed(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let other_client = register(&app, "Other", true).await;
        let browser = app.new_browser();
        let code = authorize_with_login(&app, &browser, &client_id).await;
        let hint = id_token_for(&app, &code, 3600).await;
        for params in [
            vec![("id_token_hint", hint.as_str()), ("post_logout_redirect_uri", "https://evil.example.com/")],
            vec![("client_id", client_id.as_str()), ("post_logout_redirect_uri", REDIRECT)],
            vec![("post_logout_redirect_uri", LOGOUT_REDIRECT)],
            vec![("id_token_hint", hint.as_str()), ("client_id", other_client.as_str())],
            vec![("client_id", "no-such-client")],
        ] {
            let res = get(&browser, &logout_url(&app, &params)).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{params:?}");
            assert!(res.headers().get(LOCATION).is_none());
        }
        assert!(signed_in(&app, &browser, &client_id).await);
        // A forged hint is ignored: the person is asked.
        let res = get(&browser, &logout_url(&app, &[("id_token_hint", "eyJhbGciOiJub25lIn0.e30.")])).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(signed_in(&app, &browser, &client_id).await);
    }

    async fn the_account_page_signs_out(backend: Backend) {
        let app = spawn_app(backend).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let html = get(&browser, &app.url("/account")).await.text().await.unwrap();
        assert!(html.contains("action=\"/logout\"") && html.contains("Sign out"));
        let csrf = hidden(&html, "csrf_token").unwrap();
        let res = post(&browser, &app.url("/logout"), &[("csrf_token", csrf.as_str()), ("confirm", "yes")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(clears_cookie(&res));
        assert!(res.text().await.unwrap().contains("You are signed out"));
        let res = get(&browser, &app.url("/account")).await;
        assert_eq!(location(&res), "/login");
        // Signing out with no session is a plain signed-out page.
        let res = get(&app.new_browser(), &app.url("/logout")).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}
