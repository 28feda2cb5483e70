//! Registering back-channel logout and per-client PKCE: `porta client add` / `porta client update`, the admin
//! console, validation that refuses a bad URI and writes nothing, and `/authorize` enforcing `require_pkce`.

use assert_cmd::Command;
use porta::clock::Clock;
use porta::db::models::clients;
use porta::manage::clients::{self as manage_clients, ClientOptions, NewClientInput};
use porta::manage::{Actor, ManageError};
use reqwest::StatusCode;
use serde_json::Value;

use crate::backchannel_support::audit_rows;
use crate::helpers::{TestDb, spawn_app};
use crate::sso::{REDIRECT, authorize_url, get, hidden, location, post, query, sign_in_admin};

fn porta(db: &TestDb) -> Command {
    let config = db.dir.path().join("porta.toml");
    if !config.exists() {
        std::fs::write(
            &config,
            format!(
                "database_url = \"{}\"\nmaster_key_file = \"{}\"\n",
                db.url,
                db.dir.path().join("master.key").display()
            ),
        )
        .unwrap();
    }
    let mut cmd = Command::cargo_bin("porta").unwrap();
    cmd.current_dir(db.dir.path())
        .env_remove("PORTA_DATABASE_URL")
        .env_remove("PORTA_CONFIG")
        .arg("--config")
        .arg(config);
    cmd
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn refused(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "expected a refusal");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains(needle),
        "{err:?} should mention {needle:?}"
    );
}

fn client_json(db: &TestDb, id: &str) -> Value {
    let list = json_of(
        &porta(db)
            .args(["client", "list", "--json"])
            .output()
            .unwrap(),
    );
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == id)
        .cloned()
        .expect("listed")
}

const BAD_URIS: [(&str, &str); 4] = [
    ("http://rp.example.com/bc", "https"),
    ("https://rp.example.com/bc#frag", "fragment"),
    ("/bc", "absolute"),
    ("https://user:pw@rp.example.com/bc", "credentials"),
];

both_backends! {
    async fn backchannel_and_pkce_settings_from_the_cli(b: Backend) {
        let db = TestDb::new(b);
        let reg = json_of(&porta(&db).args([
            "client", "add", "--name", "Notes", "--redirect-uri", "https://notes.example.com/cb",
            "--backchannel-logout-uri", "https://notes.example.com/backchannel",
            "--backchannel-logout-session-required", "--require-pkce", "--json",
        ]).output().unwrap());
        let id = reg["client_id"].as_str().unwrap().to_string();
        let c = client_json(&db, &id);
        assert_eq!(c["backchannel_logout_uri"], "https://notes.example.com/backchannel");
        assert_eq!(c["backchannel_logout_session_required"], true);
        assert_eq!(c["require_pkce"], true);

        let c = json_of(&porta(&db).args([
            "client", "update", &id, "--name", "Notes 2", "--require-pkce", "false",
            "--backchannel-logout-uri", "http://127.0.0.1:4000/bc",
            "--post-logout-redirect-uri", "https://notes.example.com/", "--json",
        ]).output().unwrap());
        assert_eq!(c["name"], "Notes 2");
        assert_eq!(c["require_pkce"], false);
        assert_eq!(c["backchannel_logout_uri"], "http://127.0.0.1:4000/bc", "http on loopback is allowed");
        assert_eq!(c["backchannel_logout_session_required"], true, "not named, so unchanged");
        assert_eq!(c["redirect_uris"][0], "https://notes.example.com/cb", "not named, so unchanged");
        assert_eq!(c["post_logout_redirect_uris"][0], "https://notes.example.com/");

        let text = porta(&db).args(["client", "update", &id, "--no-backchannel-logout",
            "--backchannel-logout-session-required", "false"]).output().unwrap();
        assert!(text.status.success());
        assert!(String::from_utf8_lossy(&text.stdout).contains("back-channel logout URI: (none)"));
        let c = client_json(&db, &id);
        assert_eq!(c["backchannel_logout_uri"], Value::Null);
        assert_eq!(c["backchannel_logout_session_required"], false);

        // Refused: bad URIs, both ways of setting the URI at once, an unknown client, a non-boolean.
        for (bad, why) in BAD_URIS {
            let out = porta(&db).args(["client", "update", &id, "--backchannel-logout-uri", bad]).output().unwrap();
            refused(&out, why);
            let out = porta(&db).args(["client", "add", "--name", "X", "--redirect-uri", REDIRECT,
                "--backchannel-logout-uri", bad]).output().unwrap();
            refused(&out, "back-channel logout URI");
        }
        let both = porta(&db).args(["client", "update", &id, "--no-backchannel-logout",
            "--backchannel-logout-uri", "https://x.example.com/bc"]).output().unwrap();
        assert!(!both.status.success());
        refused(&porta(&db).args(["client", "update", "-ghost", "--name", "x"]).output().unwrap(), "no client");
        assert!(!porta(&db).args(["client", "update", &id, "--require-pkce", "maybe"]).output().unwrap().status.success());
        let list = json_of(&porta(&db).args(["client", "list", "--json"]).output().unwrap());
        assert_eq!(list.as_array().unwrap().len(), 1, "nothing was added");
        assert_eq!(client_json(&db, &id)["backchannel_logout_uri"], Value::Null, "nothing was changed");
    }

    async fn a_refused_registration_writes_nothing(b: Backend) {
        let app = spawn_app(b).await;
        let now = app.clock.now();
        let errors = app.state.db.run(move |c| {
            let mut errors = Vec::new();
            for (bad, _) in BAD_URIS {
                let input = NewClientInput {
                    name: "RP".into(),
                    redirect_uris: vec![REDIRECT.into()],
                    ..NewClientInput::default()
                };
                let options = ClientOptions { backchannel_logout_uri: Some(bad.into()), ..ClientOptions::default() };
                match manage_clients::add_with(c, &input, &options, &Actor::cli(), now) {
                    Err(ManageError::Invalid(m)) => errors.push(m),
                    other => panic!("{bad}: {other:?}"),
                }
            }
            Ok::<_, porta::db::StoreError>(errors)
        }).await.unwrap();
        for ((_, why), e) in BAD_URIS.iter().zip(&errors) {
            assert!(e.contains(why) && e.starts_with("back-channel logout URI"), "{e}");
        }
        assert!(app.state.db.run(clients::list).await.unwrap().is_empty());
        assert!(audit_rows(&app, "client.add").await.is_empty());
    }

    async fn the_console_sets_and_clears_backchannel_logout_and_pkce(b: Backend) {
        let app = spawn_app(b).await;
        let admin = app.new_browser();
        sign_in_admin(&app, &admin).await;
        let page = get(&admin, &app.url("/admin/clients")).await.text().await.unwrap();
        let token = hidden(&page, "csrf_token").unwrap();
        let res = post(&admin, &app.url("/admin/clients"), &[
            ("csrf_token", token.as_str()), ("name", "Notes"), ("redirect_uris", REDIRECT),
            ("grant_authorization_code", "on"), ("backchannel_logout_uri", "https://notes.example.com/bc"),
            ("require_pkce", "on"),
        ]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let c = app.state.db.run(clients::list).await.unwrap().remove(0);
        assert_eq!(c.backchannel_logout_uri.as_deref(), Some("https://notes.example.com/bc"));
        assert!(c.require_pkce && !c.backchannel_logout_session_required);
        let path = format!("/admin/clients/{}", c.id);
        let html = get(&admin, &app.url(&path)).await.text().await.unwrap();
        assert!(html.contains("value=\"https://notes.example.com/bc\""), "{html}");
        assert!(html.contains("No logout tokens sent yet."));

        // A bad URI: a 400 page saying why, nothing changed.
        let res = post(&admin, &app.url(&path), &[
            ("csrf_token", token.as_str()), ("redirect_uris", REDIRECT),
            ("backchannel_logout_uri", "http://notes.example.com/bc"),
        ]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("back-channel logout URI"));
        let id = c.id.clone();
        let same = app.state.db.run(move |c| clients::by_id(c, &id)).await.unwrap().unwrap();
        assert_eq!(same.backchannel_logout_uri, c.backchannel_logout_uri);
        assert!(same.require_pkce);

        // Blank URI and unchecked boxes clear them.
        let res = post(&admin, &app.url(&path), &[
            ("csrf_token", token.as_str()), ("redirect_uris", REDIRECT), ("backchannel_logout_uri", " "),
            ("backchannel_logout_session_required", "on"),
        ]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let id = c.id.clone();
        let now = app.state.db.run(move |c| clients::by_id(c, &id)).await.unwrap().unwrap();
        assert_eq!(now.backchannel_logout_uri, None);
        assert!(!now.require_pkce && now.backchannel_logout_session_required);
        let audit = audit_rows(&app, "client.update").await;
        let detail = audit.last().unwrap().1.clone().unwrap();
        assert!(detail.contains("backchannel_logout_uri") && detail.contains("require_pkce"), "{detail}");
    }

    async fn require_pkce_refuses_an_authorization_request_without_a_challenge(b: Backend) {
        let app = spawn_app(b).await;
        let now = app.clock.now();
        let id = app.state.db.run(move |c| {
            manage_clients::add_with(c, &NewClientInput {
                name: "Strict".into(),
                redirect_uris: vec![REDIRECT.into()],
                first_party: true,
                ..NewClientInput::default()
            }, &ClientOptions { require_pkce: true, ..ClientOptions::default() }, &Actor::cli(), now)
        }).await.map_err(|e| e.to_string()).unwrap().client_id;
        let browser = app.new_browser();

        let res = get(&browser, &authorize_url(&app, &id, &[("code_challenge", ""), ("code_challenge_method", "")])).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let loc = location(&res);
        assert!(loc.starts_with(REDIRECT), "{loc}");
        let q = query(&loc);
        assert_eq!(q["error"], "invalid_request");
        assert_eq!(q["error_description"], "this client must use PKCE (code_challenge with S256)");
        assert_eq!(q["state"], "st-123");

        // With a challenge, the request goes on to the login page.
        let res = get(&browser, &authorize_url(&app, &id, &[])).await;
        assert!(location(&res).starts_with("/login?authz="));
    }
}
