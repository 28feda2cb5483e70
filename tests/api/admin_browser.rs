//! The admin console in a real browser: headless Chromium over WebDriver (Debian's `chromium` and
//! `chromium-driver`). Signs in as the bootstrapped admin, rotates the key on the keys page, sees the timeline
//! change and the new kid at /jwks.json, and saves a screenshot of every page under the target directory.
//! Runs when `PORTA_TEST_BROWSER` is set (CI sets it); otherwise prints why it skipped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use crate::chromium::{browser, type_into};
use crate::helpers::{ADMIN_PASSWORD, Backend, spawn_app};

fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let path = screenshots_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// Clicks the element `locator` finds.
async fn click(c: &Client, locator: Locator<'_>) {
    c.find(locator).await.unwrap().click().await.unwrap();
}

/// Waits for a form submission's navigation to land on `path`.
async fn wait_for_path(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if c.current_url().await.is_ok_and(|u| u.path() == path) {
            return;
        }
        assert!(Instant::now() < deadline, "never reached {path}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn kid_in_state(c: &Client, state: &str) -> String {
    c.find(Locator::Css(&format!(
        "tr[data-alg='RS256'][data-state='{state}']"
    )))
    .await
    .unwrap_or_else(|_| panic!("a key row in state {state}"))
    .attr("data-kid")
    .await
    .unwrap()
    .unwrap()
}

async fn timeline_states(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for g in c
        .find_all(Locator::Css("#timeline-RS256 g.key-row"))
        .await
        .unwrap()
    {
        out.push(g.attr("data-state").await.unwrap().unwrap_or_default());
    }
    out
}

#[actix_rt::test]
async fn admin_signs_in_rotates_the_key_and_sees_it_published() {
    let Some((_driver, c, _profile)) = browser("admin console").await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;

    // Anonymous: /admin leads to the login form.
    c.goto(&app.url("/admin")).await.unwrap();
    type_into(&c, "input[name='username']", "admin").await;
    type_into(&c, "input[name='password']", ADMIN_PASSWORD).await;
    shot(&c, "01-login").await;
    click(&c, Locator::Css("main form button[type='submit']")).await;

    // Back on the keys page, signed in.
    wait_for_path(&c, "/admin/keys").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/admin/keys", "landed on {url}");
    // An hour on, the next key has been published longer than the pre-publication time and may take over.
    app.clock.advance(3600);
    c.refresh().await.unwrap();
    let active_before = kid_in_state(&c, "active").await;
    let next_before = kid_in_state(&c, "next").await;
    let timeline_before = timeline_states(&c).await;
    assert!(
        timeline_before.contains(&"next".to_string()),
        "{timeline_before:?}"
    );
    shot(&c, "02-keys-before").await;

    // Rotate now, through the confirmation page.
    let es256_active = c
        .find(Locator::Css("tr[data-alg='ES256'][data-state='active']"))
        .await
        .expect("an active ES256 key")
        .attr("data-kid")
        .await
        .unwrap();
    click(&c, Locator::LinkText("Rotate RS256 now")).await;
    shot(&c, "03-rotate-confirm").await;
    click(&c, Locator::Css("main form button[type='submit']")).await;
    wait_for_path(&c, "/admin/keys").await;
    let html = c.source().await.unwrap();
    let notice = c
        .find(Locator::Css("p.notice"))
        .await
        .unwrap_or_else(|_| panic!("no notice after rotating: {html:.2000}"))
        .text()
        .await
        .unwrap();
    assert!(notice.contains("Rotated"), "{notice}");

    let active_after = kid_in_state(&c, "active").await;
    let next_after = kid_in_state(&c, "next").await;
    assert_eq!(active_after, next_before, "the pre-published key signs now");
    assert_ne!(next_after, next_before, "a new next key was created");
    assert_eq!(
        kid_in_state(&c, "retiring").await,
        active_before,
        "the old key is still published"
    );
    let es256_after = c
        .find(Locator::Css("tr[data-alg='ES256'][data-state='active']"))
        .await
        .expect("an active ES256 key")
        .attr("data-kid")
        .await
        .unwrap();
    assert_eq!(
        es256_after, es256_active,
        "rotating RS256 leaves ES256 alone"
    );
    let timeline_after = timeline_states(&c).await;
    assert_ne!(timeline_after, timeline_before, "the timeline changed");
    assert!(
        timeline_after.contains(&"retiring".to_string()),
        "{timeline_after:?}"
    );
    shot(&c, "04-keys-after").await;

    // /jwks.json as a relying party sees it: the new active, the new next and the retiring key.
    let jwks: serde_json::Value = reqwest::get(app.url("/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    for kid in [&active_after, &next_after, &active_before] {
        assert!(kids.contains(&kid.as_str()), "{kid} in {kids:?}");
    }

    // The other pages render for the admin.
    for (path, name, expect) in [
        ("/admin/clients", "05-clients", "Register a client"),
        ("/admin/users", "06-users", "Create a user"),
        ("/admin/users/admin", "07-user-admin", "Sessions"),
        ("/admin/audit", "08-audit", "key.rotate"),
    ] {
        c.goto(&app.url(path)).await.unwrap();
        let html = c.source().await.unwrap();
        assert!(html.contains(expect), "{path} shows {expect:?}");
        shot(&c, name).await;
    }
    c.close().await.unwrap();
}
