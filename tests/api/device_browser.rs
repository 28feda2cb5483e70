//! The `/device` page in a real browser (headless Chromium over WebDriver): the person opens the device's link,
//! signs in, confirms the code filled in, sees the application and its scopes, allows, and the device's poll gets
//! tokens. The pages work under Porta's Content-Security-Policy with no JavaScript. Screenshots of the code and
//! confirmation pages go to `/tmp/porta-shots/`. Runs when `PORTA_TEST_BROWSER` is set; otherwise prints why it
//! skipped.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use porta::manage::clients::ClientOptions;
use reqwest::StatusCode;

use crate::chromium::{browser, type_into};
use crate::device_support::*;
use crate::helpers::Backend;
use crate::token_support::*;

async fn shot(c: &Client, name: &str) {
    let dir = std::path::PathBuf::from("/tmp/porta-shots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, c.screenshot().await.expect("screenshot")).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn wait_for_text(c: &Client, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let src = c.source().await.unwrap_or_default();
        if src.contains(text) {
            return src;
        }
        assert!(Instant::now() < deadline, "never saw {text:?}:\n{src}");
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

#[actix_rt::test]
async fn a_person_approves_a_device_in_chromium() {
    let Some((_driver, c, _profile)) = browser("device page").await else {
        return;
    };
    let f = fixture(Backend::Sqlite).await;
    let cli = device_client(
        &f,
        "My CLI",
        true,
        &["refresh_token"],
        ClientOptions::default(),
    )
    .await;
    let a = start(&f, &cli, "openid profile offline_access").await;
    let (code, device_code) = (
        a["user_code"].as_str().unwrap(),
        a["device_code"].as_str().unwrap(),
    );

    c.goto(a["verification_uri_complete"].as_str().unwrap())
        .await
        .unwrap();
    wait_for_text(&c, "name=\"password\"").await;
    type_into(&c, "input[name='username']", "ada").await;
    type_into(&c, "input[name='password']", USER_PASSWORD).await;
    click(&c, "main form button[type='submit']").await;

    let page = wait_for_text(&c, "Connect a device").await;
    assert!(page.contains(&format!("value=\"{code}\"")), "{page}");
    shot(&c, "device-code").await;
    click(&c, "main form button[type='submit']").await;

    let page = wait_for_text(&c, "Allow My CLI on your device?").await;
    assert!(
        page.contains(code) && page.contains("offline access"),
        "{page}"
    );
    shot(&c, "device-confirm").await;
    assert_error(
        &poll(&f, &cli, device_code).await,
        StatusCode::BAD_REQUEST,
        "authorization_pending",
    );
    click(&c, "button[value='allow']").await;
    wait_for_text(&c, "Device connected").await;

    f.app.clock.advance(5);
    let (s, _, tokens) = poll(&f, &cli, device_code).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string());
}
