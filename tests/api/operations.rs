//! Operations over the long run: online backups taken while the server writes.

use assert_cmd::Command;
use porta::clock::Clock;
use porta::db::models::audit;
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

/// `porta ARGS` against the test server's database, run off the test's async thread so the server and the
/// test's own tasks keep running meanwhile.
async fn porta(app: &TestApp, args: &[&str]) -> std::process::Output {
    let config = app.db.dir.path().join("porta.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\nmaster_key_file = \"{}\"\n",
            app.db.url,
            app.db.dir.path().join("master.key").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::cargo_bin("porta").unwrap();
    cmd.current_dir(app.db.dir.path())
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
