//! The admin console over plain HTTP: who gets in, CSRF on every form, recent sign-in and confirmation for
//! destructive actions, and that each action does what it says (and is audited), on both backends.

use porta::db::models::{audit, clients, sessions, users};
use reqwest::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, TestApp, spawn_app};
use crate::sso::{get, hidden, location, post, register, sign_in_admin};

/// A password the policy accepts, for users the tests create.
const USER_PW: &str = "Velvet-Compass-Quarry-17";

/// Opens the login form at `path` and submits it as a browser would, hidden fields included.
async fn submit_login(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let html = get(b, &app.url(path)).await.text().await.unwrap();
    let mut form = vec![
        ("username", username.to_string()),
        ("password", password.to_string()),
    ];
    for field in ["csrf_token", "authz", "return_to"] {
        if let Some(v) = hidden(&html, field) {
            form.push((field, v));
        }
    }
    b.post(app.url("/login")).form(&form).send().await.unwrap()
}

/// Reads the CSRF token from an admin page.
async fn csrf(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    let res = get(b, &app.url(path)).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    hidden(&res.text().await.unwrap(), "csrf_token").expect("csrf token")
}

async fn add_user(app: &TestApp, name: &str, admin: bool) {
    let name = name.to_string();
    app.state
        .db
        .run(move |c| {
            porta::manage::users::add(
                c,
                &porta::manage::users::NewUserInput {
                    username: name,
                    password: USER_PW.into(),
                    is_admin: admin,
                    ..Default::default()
                },
                &Default::default(),
                &porta::manage::Actor::cli(),
                1,
            )
        })
        .await
        .unwrap();
}

both_backends! {
    async fn only_admins_get_in(b: Backend) {
        let app = spawn_app(b).await;
        // Anonymous: to the login form, coming back to the page afterwards.
        let anon = app.new_browser();
        let res = get(&anon, &app.url("/admin/users")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/login?return_to=%2Fadmin%2Fusers");
        let res = submit_login(&app, &anon, "/login?return_to=%2Fadmin%2Fusers", "admin", ADMIN_PASSWORD).await;
        assert_eq!(location(&res), "/admin/users");
        // An open redirect is not possible through return_to.
        let other = app.new_browser();
        let res = submit_login(&app, &other, "/login?return_to=%2F%2Fevil.example%2F", "admin", ADMIN_PASSWORD).await;
        assert_eq!(location(&res), "/account");

        // A signed-in user without the flag: 403 page.
        add_user(&app, "bob", false).await;
        let bob = app.new_browser();
        let res = submit_login(&app, &bob, "/login", "bob", USER_PW).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = get(&bob, &app.url("/admin/keys")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.text().await.unwrap().contains("administrators"));
        let res = post(&bob, &app.url("/admin/keys/rotate"), &[]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }

    async fn every_form_needs_the_csrf_token(b: Backend) {
        let app = spawn_app(b).await;
        let admin = app.new_browser();
        sign_in_admin(&app, &admin).await;
        for path in ["/admin/keys/rotate", "/admin/clients", "/admin/users", "/admin/users/admin/password"] {
            let missing = post(&admin, &app.url(path), &[("name", "x")]).await;
            assert_eq!(missing.status(), StatusCode::BAD_REQUEST, "{path}");
            let wrong = post(&admin, &app.url(path), &[("csrf_token", "forged"), ("name", "x")]).await;
            assert_eq!(wrong.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let n = app.state.db.run(clients::list).await.unwrap().len();
        assert_eq!(n, 0, "nothing was created");
    }

    async fn clients_and_users_are_managed_and_audited(b: Backend) {
        let app = spawn_app(b).await;
        let admin = app.new_browser();
        sign_in_admin(&app, &admin).await;
        let token = csrf(&app, &admin, "/admin/clients").await;
        let res = post(&admin, &app.url("/admin/clients"), &[
            ("csrf_token", token.as_str()),
            ("name", "Wiki"),
            ("redirect_uris", "https://wiki.example.com/cb\nhttp://127.0.0.1:7000/cb"),
            ("grant_authorization_code", "on"),
        ]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("shown only once"), "the secret page");
        let list = app.state.db.run(clients::list).await.unwrap();
        assert_eq!(list[0].redirect_uris.len(), 2);
        let id = list[0].id.clone();
        assert!(html.contains(&id));

        // A bad redirect URI is refused with a clear page and changes nothing.
        let res = post(&admin, &app.url(&format!("/admin/clients/{id}")), &[
            ("csrf_token", token.as_str()),
            ("redirect_uris", "http://evil.example.com/cb"),
        ]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("https"));

        // Users: create, disable, grant admin, set a password.
        let res = post(&admin, &app.url("/admin/users"), &[
            ("csrf_token", token.as_str()), ("username", "carol"), ("password", "Carol-Orchid-Glacier-88"), ("email", "carol@example.com"),
        ]).await;
        assert_eq!(location(&res), "/admin/users/carol?notice=User+created.");
        post(&admin, &app.url("/admin/users/carol/status"), &[("csrf_token", token.as_str()), ("disabled", "true")]).await;
        post(&admin, &app.url("/admin/users/carol/admin"), &[("csrf_token", token.as_str()), ("is_admin", "true")]).await;
        let carol = app.state.db.run(|c| users::by_username(c, "carol")).await.unwrap().unwrap();
        assert!(carol.disabled && carol.is_admin);
        // Search finds her by email.
        let res = get(&admin, &app.url("/admin/users?q=carol%40example")).await;
        assert!(res.text().await.unwrap().contains("/admin/users/carol"));
        // The admin cannot lock themselves out.
        let res = post(&admin, &app.url("/admin/users/admin/status"), &[("csrf_token", token.as_str()), ("disabled", "true")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);

        // Every action is in the audit log, with who and from where.
        let rows = app.state.db.run(|c| audit::list(c, &audit::Filter::default(), 100, 0)).await.unwrap();
        for action in ["client.add", "user.add", "user.disable", "user.grant_admin", "login.success"] {
            let row = rows
                .iter()
                .find(|r| r.action == action && r.actor.as_deref() == Some("admin"))
                .unwrap_or_else(|| panic!("{action} audited"));
            assert!(row.ip.is_some(), "{action} has an address");
        }
        let page = get(&admin, &app.url("/admin/audit?action=user.")).await.text().await.unwrap();
        assert!(page.contains("user.disable") && !page.contains("client.add"));
    }

    async fn destructive_actions_need_a_recent_sign_in_and_confirmation(b: Backend) {
        let app = spawn_app(b).await;
        let client_id = register(&app, "Doomed", false).await;
        let admin = app.new_browser();
        sign_in_admin(&app, &admin).await;
        let token = csrf(&app, &admin, "/admin/keys").await;

        // Six minutes later the sign-in is too old for removing a client: back through the password form.
        app.clock.advance(6 * 60);
        let confirm = format!("/admin/clients/{client_id}/remove");
        let res = get(&admin, &app.url(&confirm)).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let login = location(&res);
        assert!(login.starts_with("/login?return_to=") && login.ends_with("&reauth=1"), "{login}");
        let res = post(&admin, &app.url(&confirm), &[("csrf_token", token.as_str())]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "the POST is refused too");
        assert!(app.state.db.run(move |c| clients::by_id(c, &client_id.clone())).await.unwrap().is_some());

        // Signing in again brings the admin back to the confirmation page.
        let res = submit_login(&app, &admin, &login, "admin", ADMIN_PASSWORD).await;
        assert_eq!(location(&res), confirm);
        let page = get(&admin, &app.url(&confirm)).await;
        assert_eq!(page.status(), StatusCode::OK);
        let token = hidden(&page.text().await.unwrap(), "csrf_token").unwrap();
        let res = post(&admin, &app.url(&confirm), &[("csrf_token", token.as_str())]).await;
        assert_eq!(location(&res), "/admin/clients?notice=Client+removed.");
        assert!(app.state.db.run(clients::list).await.unwrap().is_empty());
    }

    async fn sessions_are_listed_and_ended(b: Backend) {
        let app = spawn_app(b).await;
        add_user(&app, "dave", false).await;
        let (d1, d2) = (app.new_browser(), app.new_browser());
        for d in [&d1, &d2] {
            let res = submit_login(&app, d, "/login", "dave", USER_PW).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
        }
        let admin = app.new_browser();
        sign_in_admin(&app, &admin).await;
        let page = get(&admin, &app.url("/admin/users/dave")).await.text().await.unwrap();
        let token = hidden(&page, "csrf_token").unwrap();
        let dave = app.state.db.run(|c| users::by_username(c, "dave")).await.unwrap().unwrap();
        let (uid, now) = (dave.id.clone(), porta::clock::Clock::now(&app.clock));
        let live = app.state.db.run(move |c| sessions::list_for_user(c, &uid, now)).await.unwrap();
        assert_eq!(live.len(), 2);
        assert!(page.contains(&live[0].id));

        // End one: that browser is signed out, the other is not.
        let res = post(&admin, &app.url(&format!("/admin/users/dave/sessions/{}/end", live[0].id)), &[("csrf_token", token.as_str())]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let signed_in = |b: reqwest::Client| {
            let url = app.url("/account");
            async move { get(&b, &url).await.status() == StatusCode::OK }
        };
        assert_eq!(signed_in(d1.clone()).await as u8 + signed_in(d2.clone()).await as u8, 1);

        // End all, after confirmation.
        let res = get(&admin, &app.url("/admin/users/dave/sessions/end-all")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = post(&admin, &app.url("/admin/users/dave/sessions/end-all"), &[("csrf_token", token.as_str())]).await;
        assert_eq!(location(&res), "/admin/users/dave?notice=1+sessions+ended.");
        assert!(!signed_in(d1).await && !signed_in(d2).await);
    }
}
