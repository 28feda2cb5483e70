//! The device authorization grant (RFC 8628) over real HTTP: `examples/device_login.rs`'s flow polling while a
//! person signs in and allows on `/device`, deny, expiry, `slow_down` and simultaneous polls, single use,
//! throttled code guessing, clients without the grant, allowed groups and a client that requires MFA.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use porta::clock::Clock;
use porta::db::models::{audit, login_failures};
use porta::manage::clients::ClientOptions;
use porta::manage::groups;
use reqwest::StatusCode;

use crate::authz::setup;
use crate::device_support::*;
use crate::mfa_support::enrol_totp;
use crate::sso::{get, hidden, location, submit_login};
use crate::token_support::*;

#[allow(dead_code, reason = "the example's main uses what the tests do not")]
#[path = "../../examples/device_login/flow.rs"]
mod example;

/// The `device.*` audit actions, newest first.
async fn device_audit(f: &Fixture) -> Vec<String> {
    let filter = audit::Filter {
        action_prefix: Some("device.".into()),
        ..Default::default()
    };
    f.app
        .state
        .db
        .run(move |c| audit::list(c, &filter, 100, 0))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

both_backends! {
    async fn the_cli_registers_a_device_client_by_the_grants_short_name(b: Backend) {
        let f = fixture(b).await;
        let out = crate::cli::porta(&f.app.db)
            .args(["client", "add", "--name", "My CLI", "--public", "--grant-type", "device_code",
                "--grant-type", "refresh_token", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let id = crate::cli::stdout_json(&out)["client_id"].as_str().unwrap().to_string();
        let cli = porta::manage::clients::Registered { client_id: id.clone(), client_secret: None };
        let client = f.app.state.db.run(move |c| porta::db::models::clients::by_id(c, &id)).await.unwrap().unwrap();
        assert_eq!(client.grant_types, vec![DEVICE_GRANT, "refresh_token"]);
        assert!(client.redirect_uris.is_empty(), "a device client needs no redirect URI");
        let a = start(&f, &cli, "openid offline_access").await;
        assert_error(&poll(&f, &cli, a["device_code"].as_str().unwrap()).await, StatusCode::BAD_REQUEST, "authorization_pending");
        let unknown = crate::cli::porta(&f.app.db)
            .args(["client", "add", "--name", "X", "--public", "--grant-type", "device"])
            .output()
            .unwrap();
        assert!(!unknown.status.success());
    }

    async fn the_example_cli_polls_while_a_person_signs_in_and_allows(b: Backend) {
        let f = fixture(b).await;
        let cli = device_client(&f, "My CLI", true, &["refresh_token"], ClientOptions::default()).await;
        let config = example::Config {
            issuer: f.app.address.clone(),
            client_id: cli.client_id.clone(),
            client_secret: None,
            scope: "openid profile offline_access".into(),
        };
        // The example runs for real over HTTP; its waits move the test clock instead of sleeping.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (clock, polls) = (f.app.clock.clone(), Arc::new(AtomicUsize::new(0)));
        let counted = polls.clone();
        let cli_task = actix_rt::spawn(async move {
            let http = reqwest::Client::new();
            let show = move |a: &example::DeviceAuthorization| {
                let _ = tx.send(a.clone());
            };
            let wait = move |d: Duration| {
                clock.advance(d.as_secs() as i64);
                counted.fetch_add(1, Ordering::SeqCst);
                actix_rt::time::sleep(Duration::from_millis(100))
            };
            example::login(&http, &config, show, wait).await
        });
        let auth = rx.await.expect("the example showed a code");
        let code = auth.user_code.clone();
        assert_eq!(code.len(), 9, "{code}");
        assert_eq!(&code[4..5], "-");
        assert!(code.chars().filter(|c| *c != '-').all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)), "{code}");
        assert_eq!(auth.verification_uri, f.app.url("/device"));
        let link = auth.verification_uri_complete.clone().unwrap();
        assert_eq!(link, f.app.url(&format!("/device?user_code={code}")));
        assert_eq!((auth.expires_in, auth.interval), (600, 5));

        // The person opens the link, signs in, comes back to the code filled in, confirms it and allows.
        let browser = f.app.new_browser();
        let res = get(&browser, &link).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let login = location(&res);
        assert!(login.starts_with("/login?return_to="), "{login}");
        let res = submit_login(&f.app, &browser, &login, "ada", USER_PASSWORD).await;
        assert_eq!(location(&res), format!("/device?user_code={code}"));
        let page = get(&browser, &f.app.url(&location(&res))).await.text().await.unwrap();
        assert!(hidden(&page, "csrf_token").is_some());
        assert!(page.contains(&format!("value=\"{code}\"")), "{page}");
        let res = enter_code(&f, &browser, &code.to_lowercase().replace('-', " ")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let confirm = res.text().await.unwrap();
        assert!(confirm.contains("My CLI") && confirm.contains(&code), "{confirm}");
        assert!(confirm.contains("offline access") && confirm.contains("See your name"), "{confirm}");
        assert!(polls.load(Ordering::SeqCst) >= 1, "the device polled while the person decided");
        let done = decide(&f, &browser, &confirm, "allow").await;
        assert!(done.contains("Device connected"), "{done}");

        let tokens = cli_task.await.unwrap().expect("the example got tokens");
        let jwks = jwks(&f.app).await;
        let (_, id) = verify_with_jwks(&jwks, tokens.id_token.as_deref().unwrap(), &cli.client_id, &f.app.address);
        assert_eq!(id["amr"], serde_json::json!(["pwd"]));
        assert!(id["sid"].as_str().is_some_and(|s| !s.is_empty()), "{id}");
        assert_eq!(id["preferred_username"], "ada");
        let (s, _, info) = f.userinfo(&tokens.access_token).await;
        assert_eq!((s, info["preferred_username"].as_str()), (StatusCode::OK, Some("ada")));
        // offline_access with the refresh grant: an offline refresh token that works.
        let refresh = tokens.refresh_token.clone().expect("a refresh token");
        let (s, _, b) = call(&f, "/token", &cli, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(device_audit(&f).await, vec!["device.approve"]);
    }

    async fn a_denial_an_expiry_and_clients_without_the_grant(b: Backend) {
        let f = fixture(b).await;
        let cli = device_client(&f, "TV", false, &[], ClientOptions::default()).await;
        // Registered without the grant: unauthorized_client at both endpoints.
        let got = call(&f, "/device_authorization", &f.web, &[("scope", "openid")]).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "unauthorized_client");
        let got = poll(&f, &f.web, "anything").await;
        assert_error(&got, StatusCode::BAD_REQUEST, "unauthorized_client");
        // A confidential device client authenticates as at the token endpoint.
        let wrong = porta::manage::clients::Registered { client_id: cli.client_id.clone(), client_secret: Some("nope".into()) };
        let got = call(&f, "/device_authorization", &wrong, &[]).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "invalid_client");

        // Two requests looked up in two tabs: each tab decides its own; one is denied.
        let a = start(&f, &cli, "openid").await;
        let device_code = a["device_code"].as_str().unwrap();
        let got = poll(&f, &cli, device_code).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "authorization_pending");
        let other = start(&f, &cli, "openid").await;
        let browser = signed_in_browser(&f).await;
        let tab_one = enter_code(&f, &browser, a["user_code"].as_str().unwrap()).await.text().await.unwrap();
        let tab_two = enter_code(&f, &browser, other["user_code"].as_str().unwrap()).await.text().await.unwrap();
        let done = decide(&f, &browser, &tab_one, "deny").await;
        assert!(done.contains("Request denied"), "{done}");
        f.app.clock.advance(5);
        assert_error(&poll(&f, &cli, device_code).await, StatusCode::BAD_REQUEST, "access_denied");
        let done = decide(&f, &browser, &tab_two, "allow").await;
        assert!(done.contains("Device connected"), "{done}");
        assert_eq!(poll(&f, &cli, other["device_code"].as_str().unwrap()).await.0, StatusCode::OK);
        // Decided once: neither the form again nor the code is accepted.
        let csrf = hidden(&tab_one, "csrf_token").unwrap();
        let again = [("csrf_token", csrf.as_str()), ("user_code", a["user_code"].as_str().unwrap()), ("decision", "allow")];
        let res = crate::sso::post(&browser, &f.app.url("/device/decision"), &again).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = enter_code(&f, &browser, a["user_code"].as_str().unwrap()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        // A decision for a code this session did not look up is refused, whatever the code.
        let third = start(&f, &cli, "openid").await;
        let forged = [("csrf_token", csrf.as_str()), ("user_code", third["user_code"].as_str().unwrap()), ("decision", "allow")];
        let res = crate::sso::post(&browser, &f.app.url("/device/decision"), &forged).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        f.app.clock.advance(5);
        assert_error(&poll(&f, &cli, third["device_code"].as_str().unwrap()).await, StatusCode::BAD_REQUEST, "authorization_pending");

        // Expiry after tokens.device_code_ttl (10 minutes).
        let a = start(&f, &cli, "openid").await;
        let device_code = a["device_code"].as_str().unwrap();
        f.app.clock.advance(599);
        assert_error(&poll(&f, &cli, device_code).await, StatusCode::BAD_REQUEST, "authorization_pending");
        f.app.clock.advance(1);
        assert_error(&poll(&f, &cli, device_code).await, StatusCode::BAD_REQUEST, "expired_token");
        let res = enter_code(&f, &browser, a["user_code"].as_str().unwrap()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("not recognised or has expired"));
        // The purge job removes expired requests.
        assert!(row(&f, device_code).await.is_some());
        porta::jobs::purge_browser_state(&f.app.state, f.app.clock.now() + 1).await.unwrap();
        assert!(row(&f, device_code).await.is_none());
        assert_eq!(device_audit(&f).await, vec!["device.approve", "device.deny"]);
    }

    async fn slow_down_simultaneous_polls_and_single_use(b: Backend) {
        let f = fixture(b).await;
        let cli = device_client(&f, "CLI", true, &[], ClientOptions::default()).await;
        let a = start(&f, &cli, "openid email").await;
        let device_code = a["device_code"].as_str().unwrap();
        assert_error(&poll(&f, &cli, device_code).await, StatusCode::BAD_REQUEST, "authorization_pending");
        // Polled again at once: slow_down, and the interval grows by 5 s (RFC 8628 3.5).
        assert_error(&poll(&f, &cli, device_code).await, StatusCode::BAD_REQUEST, "slow_down");
        assert_eq!(row(&f, device_code).await.unwrap().poll_interval, 10);
        f.app.clock.advance(5);
        assert_error(&poll(&f, &cli, device_code).await, StatusCode::BAD_REQUEST, "slow_down");
        assert_eq!(row(&f, device_code).await.unwrap().poll_interval, 15);
        f.app.clock.advance(15);
        assert_error(&poll(&f, &cli, device_code).await, StatusCode::BAD_REQUEST, "authorization_pending");

        let browser = signed_in_browser(&f).await;
        let done = enter_and_decide(&f, &browser, a["user_code"].as_str().unwrap(), "allow").await;
        assert!(done.contains("Device connected"), "{done}");
        // Two polls at the same instant: exactly one gets the tokens; the other is told to slow down, or, when
        // it ran after the first had committed, that the code is used.
        f.app.clock.advance(15);
        let (one, two) = tokio::join!(poll(&f, &cli, device_code), poll(&f, &cli, device_code));
        let mut answers = vec![error_of(&one), error_of(&two)];
        answers.sort();
        assert_eq!(answers[0], None, "{answers:?}");
        assert!(matches!(answers[1].as_deref(), Some("slow_down" | "invalid_grant")), "{answers:?}");
        let tokens = if one.0 == StatusCode::OK { one.2 } else { two.2 };
        assert!(tokens["id_token"].is_string(), "openid was granted: {tokens}");
        assert!(tokens["refresh_token"].is_null(), "no refresh grant: {tokens}");
        assert_eq!(tokens["scope"], "email openid");
        // Used once: never again.
        f.app.clock.advance(60);
        assert_error(&poll(&f, &cli, device_code).await, StatusCode::BAD_REQUEST, "invalid_grant");
        // Another client's poll of this code reads as unknown.
        let other = device_client(&f, "Other", true, &[], ClientOptions::default()).await;
        assert_error(&poll(&f, &other, device_code).await, StatusCode::BAD_REQUEST, "invalid_grant");
    }

    async fn guessing_user_codes_is_throttled_per_user_and_address(b: Backend) {
        let f = fixture(b).await;
        let cli = device_client(&f, "CLI", true, &[], ClientOptions::default()).await;
        let a = start(&f, &cli, "openid").await;
        let right = a["user_code"].as_str().unwrap();
        let browser = signed_in_browser(&f).await;
        // A malformed code is no guess; codes of the right form that match nothing are.
        assert_eq!(enter_code(&f, &browser, "hello").await.status(), StatusCode::BAD_REQUEST);
        for wrong in ["BBBB-BBBB", "BBBB-BBBC", "BBBB-BBBD", "BBBB-BBBF", "BBBB-BBBG"] {
            let res = enter_code(&f, &browser, wrong).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{wrong}");
        }
        // Locked: even the right code is refused, for this user and from this address.
        let res = enter_code(&f, &browser, right).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
        let admin = f.app.new_browser();
        crate::sso::sign_in_admin(&f.app, &admin).await;
        let res = enter_code(&f, &admin, right).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "the address is locked too");
        // Nothing typed is stored.
        let subjects = f.app.state.db.run(login_failures::subjects).await.unwrap();
        assert!(subjects.iter().all(|s| s.starts_with("device:") && !s.contains("BBBB")), "{subjects:?}");
        // Once the lock is over, the right code goes through.
        f.app.clock.advance(31);
        let res = enter_code(&f, &browser, right).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("Allow CLI"));
    }

    async fn approval_respects_allowed_groups(b: Backend) {
        let f = fixture(b).await;
        setup(&f, |c, a, now| groups::add(c, "staff", None, a, now)).await;
        let options = ClientOptions { allowed_groups: vec!["staff".into()], ..Default::default() };
        let cli = device_client(&f, "Staff CLI", true, &[], options).await;
        let a = start(&f, &cli, "openid").await;
        let device_code = a["device_code"].as_str().unwrap();
        let browser = signed_in_browser(&f).await;
        let done = enter_and_decide(&f, &browser, a["user_code"].as_str().unwrap(), "allow").await;
        assert!(done.contains("not in a group allowed"), "{done}");
        assert_error(&poll(&f, &cli, device_code).await, StatusCode::BAD_REQUEST, "access_denied");
        assert_eq!(device_audit(&f).await, vec!["device.access_denied"]);

        // A member gets tokens.
        setup(&f, |c, a, now| groups::add_member(c, "staff", "ada", a, now)).await;
        let a = start(&f, &cli, "openid").await;
        let done = enter_and_decide(&f, &browser, a["user_code"].as_str().unwrap(), "allow").await;
        assert!(done.contains("Device connected"), "{done}");
        let got = poll(&f, &cli, a["device_code"].as_str().unwrap()).await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    }

    async fn a_client_that_requires_mfa_gets_the_second_step_first(b: Backend) {
        let f = fixture(b).await;
        let options = ClientOptions { require_mfa: true, ..Default::default() };
        let cli = device_client(&f, "Admin CLI", true, &[], options).await;
        let a = start(&f, &cli, "openid").await;
        let (code, device_code) = (a["user_code"].as_str().unwrap(), a["device_code"].as_str().unwrap());
        // Signed in with a password only: the code leads to the second step (here, enrolment), then back.
        let browser = signed_in_browser(&f).await;
        let res = enter_code(&f, &browser, code).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let second = location(&res);
        assert!(second.starts_with("/login/second?return_to=%2Fdevice%3Fuser_code%3D"), "{second}");
        let res = get(&browser, &f.app.url(&second)).await;
        let enrol = location(&res);
        assert!(enrol.starts_with("/account/security?return_to="), "{enrol}");
        assert_error(&poll(&f, &cli, device_code).await, StatusCode::BAD_REQUEST, "authorization_pending");
        let (_, _, next) = enrol_totp(&f.app, &browser, &enrol["/account/security".len()..]).await;
        let page = follow(&f, &browser, get(&browser, &f.app.url(&next)).await).await;
        assert!(page.text().await.unwrap().contains(&format!("value=\"{code}\"")));
        let done = enter_and_decide(&f, &browser, code, "allow").await;
        assert!(done.contains("Device connected"), "{done}");
        f.app.clock.advance(5);
        let got = poll(&f, &cli, device_code).await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.2);
        let id = claims_of(got.2["id_token"].as_str().unwrap());
        assert_eq!(id["acr"], "urn:porta:acr:mfa", "{id}");
        assert!(id["amr"].as_array().unwrap().iter().any(|m| m == "otp"), "{id}");
    }
}
