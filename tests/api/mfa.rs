//! Multi-factor sign-in over real HTTP (issue 11): TOTP enrolled on `/account/security` with codes computed here
//! from the secret the page shows, the second step after a password, a code accepted once, throttled guessing,
//! recovery codes that work once, `amr` on the code, the console's demand for a second factor, and the CLI.

use porta::clock::Clock;
use porta::db::models::audit;
use reqwest::StatusCode;

use crate::helpers::{ADMIN_PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::mfa_support::*;
use crate::sso::*;

async fn actions(app: &TestApp, prefix: &str) -> Vec<String> {
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
        .map(|e| e.action)
        .collect()
}

/// Starts a code flow in a fresh browser, enters the admin's password, and returns the browser and the second
/// step's address.
async fn password_then_second(app: &TestApp, client_id: &str) -> (reqwest::Client, String) {
    let browser = app.new_browser();
    let res = get(&browser, &authorize_url(app, client_id, &[])).await;
    let login = location(&res);
    let res = submit_login(app, &browser, &login, "admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let second = location(&res);
    assert!(second.starts_with("/login/second?authz="), "{second}");
    (browser, second)
}

both_backends! {
    async fn totp_enrolment_second_step_replay_throttling_and_recovery_codes(b: Backend) {
        let app = spawn_app(b).await;
        let client = register(&app, "Wiki", true).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let (secret, codes, next) = enrol_totp(&app, &browser, "").await;
        assert_eq!(next, "/account/security?done=enrolled");
        let page = get(&browser, &app.url("/account/security")).await.text().await.unwrap();
        assert!(page.contains("Authenticator app (TOTP)") && page.contains("Phone"), "{page}");
        assert!(page.contains("id=\"recovery-left\">10<"), "{page}");

        // Password, then the second step: the code the enrolment used is refused (accepted once per account).
        let (b2, second) = password_then_second(&app, &client).await;
        let used = totp(&secret, app.clock.now());
        let res = second_step(&app, &b2, &second, "totp", &used).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.text().await.unwrap().contains("already used"));
        // Not signed in yet: the account page sends them to sign in.
        let res = get(&b2, &app.url("/account")).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        app.clock.advance(30);
        let fresh = totp(&secret, app.clock.now());
        let res = second_step(&app, &b2, &second, "totp", &fresh).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let code = code_from(&app, &res);
        assert_eq!(code_row(&app, &code).await.amr, "pwd otp mfa");

        // The same code in another browser: a replay, refused.
        let (b3, second) = password_then_second(&app, &client).await;
        let res = second_step(&app, &b3, &second, "totp", &fresh).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

        // A recovery code works once (typed in capitals, without the dash).
        let typed = codes[0].to_uppercase().replace('-', "");
        let res = second_step(&app, &b3, &second, "recovery", &typed).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(code_row(&app, &code_from(&app, &res)).await.amr, "pwd otp mfa");
        let (b4, second) = password_then_second(&app, &client).await;
        let res = second_step(&app, &b4, &second, "recovery", &codes[0]).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

        // Guessing is throttled like passwords: after max_failures the next try is refused before it is checked,
        // even with a right code. (Earlier failures are forgotten after the window.)
        app.clock.advance(16 * 60);
        let (b5, second) = password_then_second(&app, &client).await;
        for _ in 0..5 {
            let res = second_step(&app, &b5, &second, "totp", "123456").await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
        let right = totp(&secret, app.clock.now());
        let res = second_step(&app, &b5, &second, "totp", &right).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
        // The lock counts for the account from any address; after it the right code works.
        app.clock.advance(31);
        let right = totp(&secret, app.clock.now());
        let res = second_step(&app, &b5, &second, "totp", &right).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", res.headers());
        code_from(&app, &res);

        let audit = actions(&app, "mfa.").await;
        assert!(audit.iter().any(|a| a == "mfa.enroll"));
        assert!(audit.iter().filter(|a| *a == "mfa.success").count() >= 3);
        assert!(audit.iter().any(|a| a == "mfa.failure"));
        let metrics = get(&app.client, &app.url("/metrics")).await.text().await.unwrap();
        assert!(metrics.contains("porta_mfa_attempts_total"), "{metrics}");
        assert!(metrics.contains("porta_mfa_enrollments_total"));
    }

    async fn an_essential_phr_needs_a_passkey_and_prompt_none_cannot_step_up(b: Backend) {
        let app = spawn_app(b).await;
        let client = register(&app, "Wiki", true).await;
        let browser = app.new_browser();
        let code = authorize_with_login(&app, &browser, &client).await;
        assert_eq!(code_row(&app, &code).await.amr, "pwd");
        // Enrolling confirms a code: the session now has a second factor, so mfa is met even with prompt=none.
        enrol_totp(&app, &browser, "").await;
        let url = authorize_url(&app, &client, &[("acr_values", "urn:porta:acr:mfa"), ("prompt", "none")]);
        let res = get(&browser, &url).await;
        assert_eq!(code_row(&app, &code_from(&app, &res)).await.amr, "pwd otp mfa");
        // phr needs a passkey: prompt=none cannot get one; otherwise the user is sent to enrol one.
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["phr"]}}}"#;
        let res = get(&browser, &authorize_url(&app, &client, &[("claims", claims), ("prompt", "none")])).await;
        assert_eq!(error_from(&res), "interaction_required");
        let res = get(&browser, &authorize_url(&app, &client, &[("claims", claims)])).await;
        let to = location(&res);
        assert!(to.starts_with("/login/second?authz="), "{to}");
        let res = get(&browser, &app.url(&to)).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        assert!(location(&res).starts_with("/account/security?authz="));
        // An essential acr Porta does not know: the client is told at once.
        let claims = r#"{"id_token":{"acr":{"essential":true,"value":"urn:example:gold"}}}"#;
        let res = get(&browser, &authorize_url(&app, &client, &[("claims", claims)])).await;
        assert_eq!(error_from(&res), "unmet_authentication_requirements");
    }

    async fn acr_values_step_up_asks_only_for_the_missing_step(b: Backend) {
        let app = spawn_app(b).await;
        let client = register(&app, "Wiki", true).await;
        // The admin has a factor (enrolled in one browser) and signs in elsewhere with... the second step always
        // follows the password for a user with factors, so a password-only session is one made before enrolment.
        let browser = app.new_browser();
        let first = authorize_with_login(&app, &browser, &client).await;
        assert_eq!(code_row(&app, &first).await.amr, "pwd");
        let other = app.new_browser();
        sign_in_admin(&app, &other).await;
        let (secret, _, _) = enrol_totp(&app, &other, "").await;
        app.clock.advance(30);

        // `browser` still has its password-only session: acr_values asks for the second step, not the password.
        let res = get(&browser, &authorize_url(&app, &client, &[("acr_values", "urn:porta:acr:mfa")])).await;
        let to = location(&res);
        assert!(to.starts_with("/login/second?authz="), "{to}");
        let res = get(&browser, &authorize_url(&app, &client, &[("acr_values", "urn:porta:acr:mfa"), ("prompt", "none")])).await;
        assert_eq!(error_from(&res), "interaction_required");
        let res = second_step(&app, &browser, &to, "totp", &totp(&secret, app.clock.now())).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let code = code_from(&app, &res);
        let row = code_row(&app, &code).await;
        assert_eq!(row.amr, "pwd otp mfa");
        // Same SSO session.
        assert_eq!(row.sid, code_row(&app, &first).await.sid);

        // max_age asks again for every factor the level needs: the password and the code.
        app.clock.advance(600);
        let res = get(&browser, &authorize_url(&app, &client, &[("acr_values", "urn:porta:acr:mfa"), ("max_age", "300")])).await;
        let login = location(&res);
        assert!(login.starts_with("/login?authz="), "{login}");
        let res = submit_login(&app, &browser, &login, "admin", ADMIN_PASSWORD).await;
        let second = location(&res);
        assert!(second.starts_with("/login/second?authz="), "{second}");
        let res = second_step(&app, &browser, &second, "totp", &totp(&secret, app.clock.now())).await;
        let again = code_row(&app, &code_from(&app, &res)).await;
        assert_eq!(again.amr, "pwd otp mfa");
        assert_eq!(again.sid, row.sid, "re-authentication keeps the sid");
    }

    async fn require_mfa_enrols_on_demand_or_tells_the_client(b: Backend) {
        let app = spawn_app(b).await;
        let client = register(&app, "Payroll", true).await;
        let cid = client.clone();
        let now = app.clock.now();
        app.state.db.run(move |c| porta::manage::clients::update(c, &cid, &porta::manage::clients::ClientUpdate {
            require_mfa: Some(true),
            ..Default::default()
        }, &porta::manage::Actor::cli(), now)).await.map_err(|e| e.to_string()).unwrap();

        // No factor yet: after the password, enrolment, then back to the application with a code.
        let browser = app.new_browser();
        let res = get(&browser, &authorize_url(&app, &client, &[])).await;
        let res = submit_login(&app, &browser, &location(&res), "admin", ADMIN_PASSWORD).await;
        let second = location(&res);
        assert!(second.starts_with("/login/second?authz="), "{second}");
        let res = get(&browser, &app.url(&second)).await;
        let enrol = location(&res);
        assert!(enrol.starts_with("/account/security?authz="), "{enrol}");
        let page = get(&browser, &app.url(&enrol)).await.text().await.unwrap();
        assert!(page.contains("Payroll asks for a second factor"), "{page}");
        let q = enrol.trim_start_matches("/account/security");
        let (_, _, next) = enrol_totp(&app, &browser, q).await;
        assert!(next.starts_with("/login/continue?authz="), "{next}");
        let res = get(&browser, &app.url(&next)).await;
        let code = code_from(&app, &res);
        assert_eq!(code_row(&app, &code).await.amr, "pwd otp mfa");

        // With enrolment on demand off, a user without a factor: the client is told.
        let app = spawn_app_with(b, |s| s.mfa.enroll_on_demand = false).await;
        let client = register(&app, "Payroll", true).await;
        let url = authorize_url(&app, &client, &[("acr_values", "urn:porta:acr:mfa")]);
        let browser = app.new_browser();
        let res = get(&browser, &url).await;
        let res = submit_login(&app, &browser, &location(&res), "admin", ADMIN_PASSWORD).await;
        let second = location(&res);
        let res = get(&browser, &app.url(&second)).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(error_from_post(&res), "unmet_authentication_requirements");
    }

    async fn the_console_demands_a_second_factor_and_can_reset_it(b: Backend) {
        let app = spawn_app_with(b, |s| s.mfa.required_for_admins = true).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let res = get(&browser, &app.url("/admin/keys")).await;
        let to = location(&res);
        assert!(to.starts_with("/login/second?return_to=%2Fadmin%2Fkeys"), "{to}");
        let res = get(&browser, &app.url(&to)).await;
        let enrol = location(&res);
        assert!(enrol.starts_with("/account/security?return_to="), "{enrol}");
        let (secret, _, next) = enrol_totp(&app, &browser, enrol.trim_start_matches("/account/security")).await;
        let res = get(&browser, &app.url(&next)).await;
        assert_eq!(location(&res), "/admin/keys");
        assert_eq!(get(&browser, &app.url("/admin/keys")).await.status(), StatusCode::OK);
        // The last factor of an admin cannot be removed while the policy requires one.
        let page = get(&browser, &app.url("/account/security")).await.text().await.unwrap();
        let id = between(&page, "/account/security/remove?id=", "\"").unwrap().to_string();
        let csrf = hidden(&page, "csrf_token").unwrap();
        let res = post(&browser, &app.url("/account/security/remove"), &[("csrf_token", &csrf), ("id", &id)]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);

        // The console's user page lists the factor; a reset (confirmed) removes it and ends the sessions.
        let page = get(&browser, &app.url("/admin/users/admin/mfa")).await.text().await.unwrap();
        assert!(page.contains("Authenticator app (TOTP)") && page.contains("Phone"), "{page}");
        let res = get(&browser, &app.url("/admin/users/admin/mfa/reset")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        let csrf = hidden(&html, "csrf_token").unwrap();
        let res = post(&browser, &app.url("/admin/users/admin/mfa/reset"), &[("csrf_token", &csrf)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(actions(&app, "mfa.reset").await.len() == 1);
        let uid = admin_id(&app).await;
        assert!(sessions_of(&app, &uid).await.is_empty(), "the reset ended the sessions");
        let _ = secret;
    }

    async fn cli_lists_and_resets_factors(b: Backend) {
        let app = spawn_app(b).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        enrol_totp(&app, &browser, "").await;
        let run = |args: &[&str]| {
            let out = assert_cmd::Command::cargo_bin("porta").unwrap()
                .current_dir(app.db.dir.path())
                .env_remove("PORTA_CONFIG")
                .env("PORTA_DATABASE_URL", &app.db.url)
                .env("PORTA_MASTER_KEY", crate::helpers::TEST_MASTER_KEY)
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let list: serde_json::Value = serde_json::from_str(&run(&["--json", "user", "mfa", "list", "admin"])).unwrap();
        assert_eq!(list["factors"][0]["kind"], "totp");
        assert_eq!(list["factors"][0]["name"], "Phone");
        assert_eq!(list["recovery_codes_left"], 10);
        assert!(run(&["user", "mfa", "reset", "admin"]).contains("removed 1 factor"));
        let list: serde_json::Value = serde_json::from_str(&run(&["--json", "user", "mfa", "list", "admin"])).unwrap();
        assert_eq!(list["factors"].as_array().unwrap().len(), 0);
        // Signed out by the reset.
        assert_eq!(get(&browser, &app.url("/account")).await.status(), StatusCode::FOUND);
    }

    async fn totp_seeds_are_sealed_and_a_master_key_rotation_reseals_them(b: Backend) {
        use porta::keys::{MasterKey, open_text, reseal, sealed_text_parts};
        let app = spawn_app(b).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let (secret, _, _) = enrol_totp(&app, &browser, "").await;
        let uid = admin_id(&app).await;
        let stored = |app: &TestApp| {
            let uid = uid.clone();
            let db = app.state.db.clone();
            async move {
                db.run(move |c| porta::db::models::mfa_factors::for_user(c, &uid)).await.unwrap()[0]
                    .secret
                    .clone()
                    .unwrap()
            }
        };
        let before = stored(&app).await;
        assert!(!before.contains(&secret), "the seed is not stored in plain text");
        let old = MasterKey::parse(crate::helpers::TEST_MASTER_KEY).unwrap();
        assert_eq!(sealed_text_parts(&before).unwrap().0, old.id());
        let aad = porta::web::authn::totp::seal_aad(&uid);
        // Bound to its user: it does not open for another.
        assert!(open_text(&old, "mfa-totp:someone-else", &before).is_none());
        let new = MasterKey::from_bytes([7u8; 32]);
        let now = app.clock.now();
        let new2 = MasterKey::from_bytes([7u8; 32]);
        let done = app
            .state
            .db
            .run(move |c| reseal::reseal_all(c, &[&old], &new2, "test", now))
            .await
            .unwrap();
        assert_eq!(done.totp_secrets, 1);
        let after = stored(&app).await;
        assert_eq!(sealed_text_parts(&after).unwrap().0, new.id());
        let opened = open_text(&new, &aad, &after).expect("opens with the new master key");
        assert_eq!(String::from_utf8(opened.to_vec()).unwrap(), secret);
    }

    async fn discovery_lists_the_acr_values(b: Backend) {
        let app = spawn_app(b).await;
        let d: serde_json::Value = get(&app.client, &app.url("/.well-known/openid-configuration")).await.json().await.unwrap();
        assert_eq!(d["acr_values_supported"], serde_json::json!(["urn:porta:acr:pwd", "urn:porta:acr:mfa", "phr"]));
        assert_eq!(d["claims_parameter_supported"], true);
        assert!(d["claims_supported"].as_array().unwrap().iter().any(|c| c == "acr"));
    }
}

/// The error of a `form_post`-free POST-resumed answer: a 303 to the client.
fn error_from_post(res: &reqwest::Response) -> String {
    let loc = location(res);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    query(&loc)["error"].clone()
}
