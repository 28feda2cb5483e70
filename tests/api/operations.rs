//! Operations over the long run: online backups taken while the server writes.

use assert_cmd::Command;
use porta::clock::Clock;
use porta::db::models::audit;
use reqwest::StatusCode;

use crate::helpers::{Backend, TEST_MASTER_KEY, TestApp, spawn_app, spawn_app_with};

/// `porta ARGS` against the test server's database, run off the test's async thread so the server and the
/// test's own tasks keep running meanwhile.
async fn porta(app: &TestApp, args: &[&str]) -> std::process::Output {
    porta_on(app.db.dir.path(), &app.db.url, args).await
}

/// `porta ARGS` with `database_url` and the test master key, config written under `dir`.
async fn porta_on(dir: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    let config = dir.join("porta.toml");
    std::fs::write(
        &config,
        format!("database_url = \"{url}\"\nmaster_key = \"{TEST_MASTER_KEY}\"\n"),
    )
    .unwrap();
    let mut cmd = Command::cargo_bin("porta").unwrap();
    cmd.current_dir(dir)
        .env_remove("PORTA_DATABASE_URL")
        .env_remove("PORTA_CONFIG")
        .arg("--config")
        .arg(config)
        .args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn audit_rows(app: &TestApp) -> usize {
    app.state
        .db
        .run(|c| audit::list(c, &audit::Filter::default(), 100_000, 0))
        .await
        .unwrap()
        .len()
}

#[actix_rt::test]
async fn a_backup_taken_under_concurrent_writes_opens_migrates_and_serves() {
    let app = spawn_app(Backend::Sqlite).await;
    // A writer that keeps committing while the backup runs.
    let (db, clock) = (app.state.db.clone(), app.clock.clone());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = count.clone();
    let writer = tokio::spawn(async move {
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let now = clock.now();
            db.run(move |c| {
                audit::record(
                    c,
                    &audit::Event {
                        action: "test.write",
                        ..Default::default()
                    },
                    now,
                )
            })
            .await
            .unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let target = app.db.dir.path().join("backup.db");
    let shown = target.display().to_string();
    let before = count.load(std::sync::atomic::Ordering::Relaxed);
    let out = porta(&app, &["backup", shown.as_str(), "--json"]).await;
    let written = count.load(std::sync::atomic::Ordering::Relaxed) - before;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["bytes"].as_u64().unwrap() > 0);
    assert!(
        written > 0,
        "the writer kept committing while the backup ran"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "a backup holds password hashes: owner only"
        );
    }
    // A second backup to the same file is refused, and leaves the first alone.
    let again = porta(&app, &["backup", shown.as_str()]).await;
    assert!(!again.status.success());

    // Restore: a server on the copy migrates, finds its keys with the same master key, and serves.
    let restored = spawn_app_with(Backend::Sqlite, |s| {
        s.database_url = format!("sqlite://{shown}");
    })
    .await;
    let ready = restored
        .client
        .get(restored.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let copied = audit_rows(&restored).await;
    assert!(copied > 0 && copied <= audit_rows(&app).await);
    let admin = restored
        .state
        .db
        .run(|c| porta::db::models::users::by_username(c, "admin"))
        .await
        .unwrap();
    assert!(admin.is_some(), "the users came along");
}

#[actix_rt::test]
async fn a_postgres_backup_points_to_pg_dump() {
    let Some(b) = Backend::postgres() else { return };
    let app = spawn_app(b).await;
    let target = app.db.dir.path().join("backup.db");
    let out = porta(&app, &["backup", target.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    assert!(!target.exists());
}

/// A new master key (base64 of 32 bytes), different from the test key.
const NEW_MASTER_KEY: &str = "bmV3LXBvcnRhLXRlc3QtbWFzdGVyLWtleS0zMi1iISE=";

async fn sealed_rows(app: &TestApp) -> Vec<(String, String, Option<Vec<u8>>)> {
    app.state
        .db
        .run(porta::db::models::signing_keys::all)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.master_key_id, k.sealed_private))
        .collect()
}

both_backends! {
    async fn master_key_rotation_reseals_every_key_and_instances_roll_over(b: Backend) {
        let app = spawn_app(b).await;
        let before = sealed_rows(&app).await;
        let new_file = app.db.dir.path().join("new.key");
        std::fs::write(&new_file, NEW_MASTER_KEY).unwrap();
        let out = porta(&app, &["keys", "rotate-master", "--new-key-file", new_file.to_str().unwrap(), "--json"]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sealed = before.iter().filter(|(_, _, s)| s.is_some()).count();
        assert_eq!(report["keys"].as_u64(), Some(sealed as u64));
        let new_id = report["to"].as_str().unwrap().to_string();
        let after = sealed_rows(&app).await;
        for ((kid, old_id, old_blob), (kid2, id, blob)) in before.iter().zip(&after) {
            assert_eq!(kid, kid2);
            if old_blob.is_some() {
                assert_eq!(id, &new_id, "every sealed key records the new master key id");
                assert_ne!(old_id, id);
                assert_ne!(old_blob, blob);
            }
        }
        let audited = app.state.db.run(|c| porta::db::models::audit::list(
            c,
            &porta::db::models::audit::Filter::default(),
            1000,
            0,
        )).await.unwrap();
        assert_eq!(audited.iter().filter(|e| e.action == "keys.rotate_master").count(), 1);

        // During the roll-out an instance with the new key and the old one as previous serves, and so does one with
        // the new key alone; one with only the old key refuses to start rather than replace the keys.
        let url = app.db.url.clone();
        for previous in [Some(TEST_MASTER_KEY), None] {
            let url = url.clone();
            let other = spawn_app_with(b, move |s| {
                s.database_url = url;
                s.master_key = Some(NEW_MASTER_KEY.into());
                s.master_key_previous = previous.map(str::to_string);
            })
            .await;
            let ready = other.client.get(other.url("/readyz")).send().await.unwrap();
            assert_eq!(ready.status(), StatusCode::OK);
        }
        let stored = app.state.db.run(porta::db::models::signing_keys::all).await.unwrap();
        let old_only = porta::config::Settings {
            master_key: Some(TEST_MASTER_KEY.into()),
            ..porta::config::Settings::default()
        };
        let e = porta::keys::check_master_key(&old_only, &stored).unwrap_err().to_string();
        assert!(e.contains(&new_id), "{e}");
    }

    async fn a_master_key_rotation_that_cannot_open_a_key_changes_nothing(b: Backend) {
        let app = spawn_app(b).await;
        // One row is damaged: it no longer opens with the master key it names.
        let victim = sealed_rows(&app).await.into_iter().find(|(_, _, s)| s.is_some()).unwrap().0;
        let kid = victim.clone();
        app.state.db.run(move |c| {
            let key = porta::db::models::signing_keys::find(c, &kid)?;
            let mut blob = key.sealed_private.unwrap();
            let last = blob.len() - 1;
            blob[last] ^= 1;
            porta::db::models::signing_keys::set_sealed(c, &kid, &blob, &key.master_key_id)
        }).await.unwrap();
        let before = sealed_rows(&app).await;
        let new_file = app.db.dir.path().join("new.key");
        std::fs::write(&new_file, NEW_MASTER_KEY).unwrap();
        let out = porta(&app, &["keys", "rotate-master", "--new-key-file", new_file.to_str().unwrap()]).await;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&victim), "the error names the key: {err}");
        assert_eq!(sealed_rows(&app).await, before, "nothing changed");

        // The same through the library with the wrong master key: the error names every key and the ids tried.
        let wrong = porta::keys::MasterKey::parse(NEW_MASTER_KEY).unwrap();
        let target = porta::keys::MasterKey::generate().unwrap();
        let now = app.clock.now();
        let e = app.state.db.run(move |c| {
            Ok::<_, porta::db::StoreError>(porta::keys::reseal::reseal_all(c, &[&wrong], &target, "test", now))
        }).await.unwrap().unwrap_err().to_string();
        assert!(e.contains("nothing was changed") && e.contains(&victim), "{e}");
        assert_eq!(sealed_rows(&app).await, before);
    }
}

/// `porta db copy --to URL` with the configuration of `app`.
async fn db_copy(app: &TestApp, to: &str) -> std::process::Output {
    porta(app, &["db", "copy", "--to", to, "--json"]).await
}

#[actix_rt::test]
async fn db_copy_moves_a_live_deployment_to_postgres_and_back() {
    let Some(pg) = Backend::postgres() else {
        return;
    };
    use crate::security_events::{exchange, refresh, register_rp, sign_in_for};
    let app = spawn_app(Backend::Sqlite).await;
    // Live data: a client, a signed-in browser with its session, tokens and a refresh family; consent; audit.
    let rp = register_rp(&app, "Wiki", true).await;
    let browser = app.new_browser();
    let tokens = exchange(&app, &rp, &sign_in_for(&app, &browser, &rp, &[]).await).await;
    let (uid, cid, now) = (
        crate::sso::admin_id(&app).await,
        rp.client_id.clone(),
        app.clock.now(),
    );
    app.state
        .db
        .run(move |c| {
            let scopes = porta::domain::scope::Scopes::parse("openid profile").unwrap();
            porta::db::models::consents::grant(c, &uid, &cid, &scopes, now)
        })
        .await
        .unwrap();

    let target = crate::helpers::TestDb::new(pg);
    let out = db_copy(&app, &target.url).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = |table: &str| {
        report
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .unwrap_or_else(|| panic!("{table} in the report"))["rows"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        report.as_array().unwrap().len(),
        porta::db::copy::TABLES.len()
    );
    assert!(rows("users") >= 1 && rows("clients") >= 1 && rows("signing_keys") >= 2);
    assert!(rows("sessions") >= 1 && rows("refresh_tokens") >= 1 && rows("audit_log") >= 1);
    assert!(rows("consents") == 1 && rows("session_clients") >= 1);

    // A server on the copy, same issuer and master key: the old cookie, refresh token and ID token all still work.
    let (issuer, url) = (app.address.clone(), target.url.clone());
    let moved = spawn_app_with(pg, move |s| {
        s.database_url = url;
        s.issuer = issuer;
    })
    .await;
    let account = browser.get(moved.url("/account")).send().await.unwrap();
    assert_eq!(
        account.status(),
        StatusCode::OK,
        "the session cookie still signs in"
    );
    let (status, renewed) = refresh(&moved, &rp, &tokens).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let jwks = crate::token_support::jwks(&moved).await;
    crate::token_support::verify_with_jwks(
        &jwks,
        tokens["id_token"].as_str().unwrap(),
        &rp.client_id,
        &app.address,
    );

    // Copying into the same, now non-empty database is refused and changes nothing there.
    let again = db_copy(&app, &target.url).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // And back: PostgreSQL to a new SQLite file.
    let back = moved.db.dir.path().join("back.db");
    let back_url = format!("sqlite://{}", back.display());
    let dir = moved.db.dir.path();
    let out = porta_on(
        dir,
        &target.url,
        &["db", "copy", "--to", &back_url, "--json"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let returned = spawn_app_with(Backend::Sqlite, move |s| s.database_url = back_url).await;
    let ready = returned
        .client
        .get(returned.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

#[actix_rt::test]
async fn db_copy_refuses_a_source_that_is_not_migrated_and_covers_every_table() {
    let app = spawn_app(Backend::Sqlite).await;
    // Every table the migrations create is one `db copy` moves.
    let tables: Vec<String> = {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        let mut c =
            diesel::SqliteConnection::establish(porta::db::sqlite_path(&app.db.url)).unwrap();
        diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> '__diesel_schema_migrations' ORDER BY name",
        )
        .load::<Name>(&mut c)
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect()
    };
    let mut covered: Vec<String> = porta::db::copy::TABLES
        .iter()
        .map(|t| t.to_string())
        .collect();
    covered.sort();
    assert_eq!(tables, covered, "a new table must be added to db::copy");
    // And every column of each: a column left out would be lost in the copy without a checksum noticing.
    {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Column {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        let mut c =
            diesel::SqliteConnection::establish(porta::db::sqlite_path(&app.db.url)).unwrap();
        for (table, listed) in porta::db::copy::COLUMNS {
            let mut columns: Vec<String> = diesel::sql_query(format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY name"
            ))
            .load::<Column>(&mut c)
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
            columns.sort();
            let mut listed: Vec<String> = listed.iter().map(|c| c.to_string()).collect();
            listed.sort();
            assert_eq!(
                columns, listed,
                "every column of {table} must be listed in db::copy"
            );
        }
    }

    // A source without the latest migrations: refused before anything is written.
    let empty = app.db.dir.path().join("old.db");
    std::fs::write(&empty, b"").unwrap();
    let target = app.db.dir.path().join("target.db");
    let config = app.db.dir.path().join("old.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"sqlite://{}\"\nmaster_key = \"{TEST_MASTER_KEY}\"\n",
            empty.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::cargo_bin("porta").unwrap();
    cmd.env_remove("PORTA_DATABASE_URL")
        .arg("--config")
        .arg(&config)
        .args([
            "db",
            "copy",
            "--to",
            &format!("sqlite://{}", target.display()),
        ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pending migrations"));
    assert!(!target.exists(), "nothing was created");
}

#[actix_rt::test]
async fn rotate_master_generates_the_new_key_into_the_key_file_and_keeps_the_old_one() {
    let keys_dir = tempfile::tempdir().unwrap();
    let key_file = keys_dir.path().join("master.key");
    std::fs::write(&key_file, format!("{TEST_MASTER_KEY}\n")).unwrap();
    let file = key_file.clone();
    let app = spawn_app_with(Backend::Sqlite, move |s| {
        s.master_key = None;
        s.master_key_file = file;
    })
    .await;
    let config = app.db.dir.path().join("file.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\nmaster_key_file = \"{}\"\n",
            app.db.url,
            key_file.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::cargo_bin("porta").unwrap();
    cmd.env_remove("PORTA_DATABASE_URL")
        .env_remove("PORTA_MASTER_KEY")
        .arg("--config")
        .arg(&config)
        .args(["keys", "rotate-master", "--json"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(
        new_key.trim(),
        TEST_MASTER_KEY,
        "the file holds the new key"
    );
    let kept = std::fs::read_to_string(keys_dir.path().join("master.key.previous")).unwrap();
    assert_eq!(
        kept.trim(),
        TEST_MASTER_KEY,
        "the old key is kept beside it"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A server started with the rotated file opens every key.
    let (url, file) = (app.db.url.clone(), key_file.clone());
    let restarted = spawn_app_with(Backend::Sqlite, move |s| {
        s.database_url = url;
        s.master_key = None;
        s.master_key_file = file;
    })
    .await;
    let ready = restarted
        .client
        .get(restarted.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}
