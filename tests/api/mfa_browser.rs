//! Passkeys in a real browser: headless Chromium over WebDriver with a virtual authenticator (CTAP2, internal
//! transport, resident keys, user verification). Enrols a passkey on `/account/security`, signs out, signs in with
//! it and no username, then uses it as the second step after a password; each sign-in's ID token is fetched
//! through a client and its `amr`/`acr` checked. Screenshots of the enrolment and second-step pages go to
//! `/tmp/porta-shots/`. Runs when `PORTA_TEST_BROWSER` is set; otherwise prints why it skipped.

use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use porta::clock::Clock;
use porta::manage::Actor;
use porta::manage::clients::{self as manage_clients, NewClientInput};

use crate::chromium::{browser, type_into};
use crate::helpers::{ADMIN_PASSWORD, Backend, TestApp, spawn_app_with};
use crate::token_support::{basic_header, claims_of};

/// WebDriver's "Add Virtual Authenticator" (Web Authentication, 11.3).
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/webauthn/authenticator",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

async fn shot(c: &Client, name: &str) {
    let dir = std::path::PathBuf::from("/tmp/porta-shots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, c.screenshot().await.expect("screenshot")).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn wait_for_path(c: &Client, path: &str) -> url::Url {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(u) = c.current_url().await
            && u.path() == path
        {
            return u;
        }
        if Instant::now() > deadline {
            let src = c.source().await.unwrap_or_default();
            panic!(
                "never reached {path}: at {:?}\n{src}",
                c.current_url().await.ok()
            );
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Runs `/authorize` for `client` in the browser (already signed in) and returns the ID token's claims.
async fn id_token(app: &TestApp, c: &Client, client: &(String, String)) -> serde_json::Value {
    let redirect = app.state.settings.issuer.clone() + "/healthz";
    let q = serde_urlencoded::to_string([
        ("client_id", client.0.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s1"),
    ])
    .unwrap();
    c.goto(&format!("{}/authorize?{q}", app.state.settings.issuer))
        .await
        .unwrap();
    let url = wait_for_path(c, "/healthz").await;
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("a code")
        .1
        .into_owned();
    let res = app
        .client
        .post(app.url("/token"))
        .header("Authorization", basic_header(&client.0, &client.1))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
        ])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    claims_of(body["id_token"].as_str().expect("an ID token"))
}

async fn sign_out(app: &TestApp, c: &Client) {
    c.goto(&format!("{}/account", app.state.settings.issuer))
        .await
        .unwrap();
    click(c, "form[action='/logout'] button").await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    // Signed out: the account page sends to sign in (checked without opening the login page, whose passkey
    // autofill would sign straight back in with the virtual authenticator).
    let cookies = c.get_all_cookies().await.unwrap();
    assert!(
        cookies
            .iter()
            .all(|k| !k.name().starts_with("porta_session")),
        "{cookies:?}"
    );
    c.goto(&format!("{}/healthz", app.state.settings.issuer))
        .await
        .unwrap();
}

#[actix_rt::test]
async fn a_passkey_enrolled_in_chromium_signs_in_without_a_password_and_as_a_second_step() {
    let Some((_driver, c, _profile)) = browser("passkey").await else {
        return;
    };
    // WebAuthn refuses an IP address as relying-party id: this server's issuer is http://localhost:PORT.
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.issuer = s.issuer.replace("127.0.0.1", "localhost")
    })
    .await;
    let base = app.state.settings.issuer.clone();
    let (now, redirect) = (app.clock.now(), base.clone() + "/healthz");
    let registered = app
        .state
        .db
        .run(move |c| {
            manage_clients::add(
                c,
                &NewClientInput {
                    name: "Browser RP".into(),
                    redirect_uris: vec![redirect],
                    post_logout_redirect_uris: vec![],
                    is_public: false,
                    grant_types: vec![],
                    first_party: true,
                },
                &Actor::cli(),
                now,
            )
        })
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let client = (
        registered.client_id.clone(),
        registered.client_secret.clone().unwrap(),
    );
    c.issue_cmd(AddVirtualAuthenticator)
        .await
        .expect("a virtual authenticator");

    // Password sign-in, then enrol a passkey.
    c.goto(&format!("{base}/login")).await.unwrap();
    type_into(&c, "#username", "admin").await;
    type_into(&c, "#password", ADMIN_PASSWORD).await;
    click(&c, "form[action='/login'] button[type=submit]").await;
    wait_for_path(&c, "/account").await;
    let pwd = id_token(&app, &c, &client).await;
    println!("password only: amr={} acr={}", pwd["amr"], pwd["acr"]);
    c.goto(&format!("{base}/account/security")).await.unwrap();
    click(&c, "#totp-start button").await;
    wait_for_path(&c, "/account/security/totp").await;
    shot(&c, "totp-enrolment").await;
    c.goto(&format!("{base}/account/security")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#passkey-enrol:not([hidden])"))
        .await
        .unwrap();
    type_into(&c, "#passkey-name", "Virtual key").await;
    shot(&c, "enrolment").await;
    click(&c, "#passkey-enrol button").await;
    wait_for_path(&c, "/account/security/codes").await;
    shot(&c, "recovery-codes").await;
    click(&c, "#codes-continue").await;
    wait_for_path(&c, "/account/security").await;
    let html = c.source().await.unwrap();
    assert!(
        html.contains("Passkey or security key") && html.contains("Virtual key"),
        "{html}"
    );

    // Sign out, then sign in with the passkey alone (no username).
    sign_out(&app, &c).await;
    c.goto(&format!("{base}/login")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#passkey-signin:not([hidden])"))
        .await
        .unwrap();
    shot(&c, "login-with-passkey").await;
    // Conditional mediation may already have used the key; otherwise the button does.
    if let Ok(b) = c.find(Locator::Css("#passkey-signin")).await {
        let _ = b.click().await;
    }
    wait_for_path(&c, "/account").await;
    let passkey = id_token(&app, &c, &client).await;
    println!(
        "passkey (passwordless): amr={} acr={}",
        passkey["amr"], passkey["acr"]
    );
    assert_eq!(passkey["amr"], serde_json::json!(["hwk", "user", "mfa"]));
    assert_eq!(passkey["acr"], "phr");

    // Sign out; an application names the user (login_hint), the password is followed by the second step, and
    // the passkey answers it.
    sign_out(&app, &c).await;
    let redirect = base.clone() + "/healthz";
    let q = serde_urlencoded::to_string([
        ("client_id", client.0.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s2"),
        ("login_hint", "admin"),
    ])
    .unwrap();
    c.goto(&format!("{base}/authorize?{q}")).await.unwrap();
    wait_for_path(&c, "/login").await;
    type_into(&c, "#password", ADMIN_PASSWORD).await;
    click(&c, "form[action='/login'] button[type=submit]").await;
    wait_for_path(&c, "/login/second").await;
    c.wait()
        .for_element(Locator::Css("#passkey-second:not([hidden])"))
        .await
        .unwrap();
    shot(&c, "second-step").await;
    click(&c, "#passkey-second").await;
    let url = wait_for_path(&c, "/healthz").await;
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("a code")
        .1
        .into_owned();
    let res = app
        .client
        .post(app.url("/token"))
        .header("Authorization", basic_header(&client.0, &client.1))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
        ])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    let second = claims_of(body["id_token"].as_str().expect("an ID token"));
    println!(
        "password + passkey: amr={} acr={}",
        second["amr"], second["acr"]
    );
    assert_eq!(
        second["amr"],
        serde_json::json!(["pwd", "hwk", "user", "mfa"])
    );
    assert_eq!(second["acr"], "phr");
    c.close().await.unwrap();
}
