//! The security review's lower findings (issue 10), each played as the attack: parallel guessing, locking an
//! account from one address, typed usernames kept, weak passwords, a stale admin sign-in, anonymous session rows,
//! request text in `error_description`, readable SQLite files, an open `/metrics`, raw `/readyz` errors, no HSTS,
//! and code replays after the purge.

use porta::clock::Clock;
use porta::db::models::{audit, login_failures, sessions};
use porta::manage::Actor;
use reqwest::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::sso::{
    authorize_url, get, hidden, location, query, register, sign_in_admin, submit_login,
};
use crate::token_support::{
    REDIRECT as TOKEN_REDIRECT, VERIFIER, assert_error, fixture, post_form,
};

/// Signs in from `ip` (sent as `X-Forwarded-For` through a trusted proxy) in a fresh browser.
async fn login_from(app: &TestApp, ip: &str, username: &str, password: &str) -> StatusCode {
    let b = app.new_browser();
    let html = b
        .get(app.url("/login"))
        .header("x-forwarded-for", ip)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&html, "csrf_token").unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", username),
        ("password", password),
    ];
    b.post(app.url("/login"))
        .header("x-forwarded-for", ip)
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
}

async fn audit_rows(app: &TestApp, prefix: &str) -> Vec<audit::AuditEntry> {
    let filter = audit::Filter {
        action_prefix: Some(prefix.into()),
        ..Default::default()
    };
    app.state
        .db
        .run(move |c| audit::list(c, &filter, 1000, 0))
        .await
        .unwrap()
}

async fn all_sessions(app: &TestApp) -> Vec<sessions::SessionRow> {
    use diesel::prelude::*;
    app.state
        .db
        .run(|c| {
            porta::db::schema::sessions::table
                .load::<sessions::SessionRow>(c)
                .map_err(porta::db::StoreError::from)
        })
        .await
        .unwrap()
}

async fn add_user(app: &TestApp, name: &'static str, admin: bool) {
    app.state
        .db
        .run(move |c| {
            let input = porta::manage::users::NewUserInput {
                username: name.into(),
                password: "Velvet-Compass-Quarry-17".into(),
                is_admin: admin,
                ..Default::default()
            };
            porta::manage::users::add(c, &input, &Default::default(), &Actor::cli(), 1)
        })
        .await
        .map_err(|e| e.to_string())
        .unwrap();
}

async fn is_admin(app: &TestApp, name: &'static str) -> bool {
    app.state
        .db
        .run(move |c| porta::db::models::users::by_username(c, name))
        .await
        .unwrap()
        .unwrap()
        .is_admin
}

both_backends! {
    async fn parallel_wrong_passwords_get_no_more_checks_than_max_failures(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.login.max_failures = 5).await;
        let browser = app.new_browser();
        let html = get(&browser, &app.url("/login")).await.text().await.unwrap();
        let csrf = hidden(&html, "csrf_token").unwrap();
        let tasks: Vec<_> = (0..60)
            .map(|i| {
                let (b, url, csrf) = (browser.clone(), app.url("/login"), csrf.clone());
                actix_rt::spawn(async move {
                    let pw = format!("guess-number-{i}");
                    let form = [("csrf_token", csrf.as_str()), ("username", "admin"), ("password", pw.as_str())];
                    b.post(url).form(&form).send().await.unwrap().status()
                })
            })
            .collect();
        let (mut checked, mut locked) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                StatusCode::UNAUTHORIZED => checked += 1,
                StatusCode::TOO_MANY_REQUESTS => locked += 1,
                other => panic!("unexpected {other}"),
            }
        }
        assert!(checked <= 5, "{checked} passwords were checked, at most 5 may be");
        assert_eq!(checked + locked, 60);
        let wrong = audit_rows(&app, "login.failure").await.into_iter().filter(|e| e.detail.as_deref() == Some("wrong password")).count();
        assert!(wrong <= 5, "{wrong} argon2 checks");
        // The right password after the lockout is refused too.
        let res = submit_login(&app, &browser, "/login", "admin", ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn one_address_cannot_lock_an_account_for_another(backend: Backend) {
        let app = spawn_app_with(backend, |s| {
            s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            s.login.max_failures = 3;
        })
        .await;
        for _ in 0..3 {
            assert_eq!(login_from(&app, "198.51.100.7", "admin", "wrong-guess").await, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(login_from(&app, "198.51.100.7", "admin", ADMIN_PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "the guesser is locked out");
        // The real admin, elsewhere, is not.
        assert_eq!(login_from(&app, "203.0.113.9", "admin", "a-typo").await, StatusCode::UNAUTHORIZED);
        assert_eq!(login_from(&app, "203.0.113.9", "admin", ADMIN_PASSWORD).await, StatusCode::SEE_OTHER);
        // Addresses of one IPv6 /64 count as one.
        for i in 1..=3 {
            let status = login_from(&app, &format!("2001:db8:7:7::{i}"), "admin", "wrong-guess").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(login_from(&app, "2001:db8:7:7::99", "admin", ADMIN_PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    }

    async fn failed_sign_ins_keep_no_typed_username(backend: Backend) {
        let app = spawn_app(backend).await;
        let typed = "Hunter2-Typed-Into-The-Name";
        let res = submit_login(&app, &app.new_browser(), "/login", typed, "whatever").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = submit_login(&app, &app.new_browser(), "/login", "admin", "wrong").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let subjects = app.state.db.run(login_failures::subjects).await.unwrap();
        assert!(!subjects.is_empty());
        assert!(subjects.iter().all(|s| !s.to_lowercase().contains("hunter2") && !s.contains("admin")), "{subjects:?}");
        let rows = audit_rows(&app, "login.failure").await;
        let named: Vec<_> = rows.iter().map(|e| (e.actor.clone(), e.target.clone())).collect();
        assert!(named.iter().all(|(a, t)| !format!("{a:?}{t:?}").contains("Hunter2")), "{named:?}");
        assert!(named.contains(&(Some("(unknown user)".into()), Some("(unknown user)".into()))), "{named:?}");
        assert!(named.contains(&(Some("admin".into()), Some("admin".into()))), "an existing account is named");
    }

    async fn weak_passwords_are_refused_with_what_to_change(backend: Backend) {
        let app = spawn_app(backend).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let csrf = hidden(&get(&browser, &app.url("/admin/users")).await.text().await.unwrap(), "csrf_token").unwrap();
        for (pw, says) in [("x", "at least 12 characters"), ("password1234", "too common"), ("erin-erin-erin", "too common")] {
            let form = [("csrf_token", csrf.as_str()), ("username", "erin"), ("password", pw)];
            let res = browser.post(app.url("/admin/users")).form(&form).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{pw}");
            let html = res.text().await.unwrap();
            assert!(html.contains(says), "{pw}: {html}");
        }
        let form = [("csrf_token", csrf.as_str()), ("username", "erin"), ("password", "Juniper-Falcon-Mosaic-4")];
        let res = browser.post(app.url("/admin/users")).form(&form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);

        // The bootstrap admin: a given password must pass, a generated one always does.
        let policy = porta::config::PasswordSettings::default();
        let (given, generated) = app
            .state
            .db
            .run(move |c| {
                use diesel::RunQueryDsl;
                diesel::sql_query("DELETE FROM users").execute(c).map_err(porta::db::StoreError::from)?;
                let given = porta::manage::users::bootstrap_admin(c, Some("short"), &policy, 1).map_err(|e| e.to_string());
                let generated = porta::manage::users::bootstrap_admin(c, None, &policy, 1).map_err(|e| e.to_string());
                Ok::<_, porta::db::StoreError>((given, generated))
            })
            .await
            .unwrap();
        assert!(given.unwrap_err().contains("at least 12 characters"));
        let pw = generated.unwrap().expect("a generated password");
        assert_eq!(porta::crypto::policy::check(&pw, 12, &["admin"]), Ok(()));
    }

    async fn a_stale_admin_sign_in_cannot_change_privileges(backend: Backend) {
        let app = spawn_app(backend).await;
        add_user(&app, "bob", false).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        app.clock.advance(6 * 60);
        let csrf = hidden(&get(&browser, &app.url("/admin/users/bob")).await.text().await.unwrap(), "csrf_token").unwrap();
        let grant = [("csrf_token", csrf.as_str()), ("is_admin", "true")];
        let res = browser.post(app.url("/admin/users/bob/admin")).form(&grant).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(location(&res).starts_with("/login?") && location(&res).contains("reauth=1"), "{}", location(&res));
        assert!(!is_admin(&app, "bob").await);
        let set = [("csrf_token", csrf.as_str()), ("password", "Attacker-Chosen-Password-1")];
        let res = browser.post(app.url("/admin/users/admin/password")).form(&set).send().await.unwrap();
        assert!(location(&res).contains("reauth=1"), "{}", location(&res));
        let create = [("csrf_token", csrf.as_str()), ("username", "mallory"), ("password", "Juniper-Falcon-Mosaic-4"), ("is_admin", "on")];
        let res = browser.post(app.url("/admin/users")).form(&create).send().await.unwrap();
        assert!(location(&res).contains("reauth=1"), "{}", location(&res));
        assert_eq!(submit_login(&app, &app.new_browser(), "/login", "admin", ADMIN_PASSWORD).await.status(), StatusCode::SEE_OTHER, "the password is unchanged");

        // Signing in again makes it work.
        let res = submit_login(&app, &browser, "/login", "admin", ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let csrf = hidden(&get(&browser, &app.url("/admin/users/bob")).await.text().await.unwrap(), "csrf_token").unwrap();
        let grant = [("csrf_token", csrf.as_str()), ("is_admin", "true")];
        let res = browser.post(app.url("/admin/users/bob/admin")).form(&grant).send().await.unwrap();
        assert!(location(&res).starts_with("/admin/users/bob"), "{}", location(&res));
        assert!(is_admin(&app, "bob").await);
    }

    async fn anonymous_session_rows_are_short_lived(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let now = app.clock.now();
        // A cookieless visitor, as a crawler or an attacker makes them by the thousand.
        let res = get(&app.new_browser(), &authorize_url(&app, &client_id, &[])).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        get(&app.new_browser(), &app.url("/login")).await;
        let rows = all_sessions(&app).await;
        assert_eq!(rows.len(), 2);
        for r in &rows {
            assert!(r.user_id.is_none());
            assert!(r.expires_at <= now + 30 * 60, "anonymous row kept until {} (now {now})", r.expires_at);
            assert!(r.state.len() < 2048, "{} bytes", r.state.len());
        }
        // A signed-in session keeps the configured idle timeout.
        sign_in_admin(&app, &app.new_browser()).await;
        let signed: Vec<_> = all_sessions(&app).await.into_iter().filter(|r| r.user_id.is_some()).collect();
        assert_eq!(signed.len(), 1);
        assert!(signed[0].expires_at >= now + 8 * 3600 - 5);

        app.clock.advance(31 * 60);
        porta::jobs::purge_browser_state(&app.state, app.clock.now()).await.unwrap();
        let left = all_sessions(&app).await;
        assert_eq!(left.len(), 1, "only the signed-in session is left");
        assert!(left[0].user_id.is_some());
    }

    async fn error_descriptions_never_echo_the_request(backend: Backend) {
        let app = spawn_app(backend).await;
        let client_id = register(&app, "Web", true).await;
        let browser = app.new_browser();
        let evil = "evil<script>alert(1)</script>";
        for extra in [
            // A malformed scope (a quote is not a scope character); an unknown but well-formed one is ignored.
            vec![("scope", format!("openid \"{evil}"))],
            vec![("code_challenge_method", evil.to_string())],
        ] {
            let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = get(&browser, &authorize_url(&app, &client_id, &extra)).await;
            let q = query(&location(&res));
            assert!(q.contains_key("error"), "{q:?}");
            assert!(!q["error_description"].contains("evil"), "{q:?}");
        }
        let url = format!("{}&{evil}=1&{evil}=2", authorize_url(&app, &client_id, &[]));
        let q = query(&location(&get(&browser, &url).await));
        assert_eq!(q["error"], "invalid_request");
        assert!(!q["error_description"].contains("evil"), "{q:?}");
        let (s, _, body) = post_form(&app, "/token", &[("grant_type", "refresh_token"), ("evil_name", "1"), ("evil_name", "2")], None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(!body.to_string().contains("evil"), "{body}");
    }

    async fn metrics_need_the_bearer_token_when_one_is_set(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.metrics.bearer_token = Some("scrape-secret-1".into())).await;
        let res = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = app.client.get(app.url("/metrics")).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = app.client.get(app.url("/metrics")).bearer_auth("scrape-secret-1").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("porta_http_requests_total"));
        let open = spawn_app(backend).await;
        assert_eq!(open.client.get(open.url("/metrics")).send().await.unwrap().status(), StatusCode::OK);
    }

    async fn an_https_issuer_sends_hsts_and_a_host_cookie(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.issuer = s.issuer.replace("http://", "https://")).await;
        for path in ["/healthz", "/login", "/.well-known/openid-configuration", "/nowhere"] {
            let res = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.headers().get("strict-transport-security").map(|v| v.to_str().unwrap()), Some("max-age=31536000"), "{path}");
        }
        let plain = spawn_app(backend).await;
        let res = plain.client.get(plain.url("/login")).send().await.unwrap();
        assert!(res.headers().get("strict-transport-security").is_none(), "not over plain http");
    }

    async fn a_code_replayed_after_the_old_purge_time_still_revokes(backend: Backend) {
        let f = fixture(backend).await;
        let code = f.web_code().await;
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", TOKEN_REDIRECT), ("code_verifier", VERIFIER)];
        let (s, _, first) = f.token(&form, Some(&f.web)).await;
        assert_eq!(s, StatusCode::OK);
        let refresh = first["refresh_token"].as_str().unwrap().to_string();
        // Well past the code's expiry and the access token's lifetime: the purge used to forget the code here.
        f.app.clock.advance(2 * 3600);
        porta::jobs::purge_browser_state(&f.app.state, f.app.clock.now()).await.unwrap();
        let replay = f.token(&form, Some(&f.web)).await;
        assert_error(&replay, StatusCode::BAD_REQUEST, "invalid_grant");
        assert_eq!(f.token_audit().await, ["token.code_replayed"]);
        let (s, body) = f.refresh(&f.web, &refresh).await;
        assert_eq!((s, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");

        // Once everything issued from it has expired (the family's absolute lifetime), the code goes.
        let max_life = f.app.state.settings.tokens.refresh_token_max_life.as_secs() as i64;
        f.app.clock.advance(max_life);
        let purged = porta::jobs::purge_browser_state(&f.app.state, f.app.clock.now()).await.unwrap();
        assert!(purged >= 1);
    }
}

#[actix_rt::test]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}", data.join("porta.db").display());
    let app = spawn_app_with(crate::helpers::Backend::Sqlite, |s| s.database_url = url).await;
    sign_in_admin(&app, &app.new_browser()).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let mut seen = 0;
    for name in ["porta.db", "porta.db-wal", "porta.db-shm"] {
        let p = data.join(name);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 2, "the database and its WAL");
}

#[actix_rt::test]
async fn readyz_gives_a_generic_reason() {
    let Some(b) = crate::helpers::Backend::postgres() else {
        return;
    };
    let app = spawn_app(b).await;
    app.db.drop_now();
    let body: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "status": "unavailable", "reason": "database unavailable" })
    );
}

#[test]
fn a_short_admin_password_stops_startup_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_porta"))
        .arg("serve")
        .current_dir(dir.path())
        .env("PORTA_LISTEN", "127.0.0.1:0")
        .env("PORTA_ADMIN_PASSWORD", "short")
        .env_remove("PORTA_DATABASE_URL")
        .env_remove("PORTA_MASTER_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PORTA_ADMIN_PASSWORD") && err.contains("at least 12 characters"),
        "{err}"
    );
}
