//! `porta serve` as a newcomer runs it: the real binary in an empty directory, on the embedded defaults.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until_up(url: &str) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = reqwest::get(url).await {
            return r;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio_sleep(Duration::from_millis(100)).await;
    }
}

async fn tokio_sleep(d: Duration) {
    actix_rt::time::sleep(d).await;
}

#[actix_rt::test]
async fn serve_on_an_empty_dir_bootstraps_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_porta"))
        .arg("serve")
        .current_dir(dir.path())
        .env("PORTA_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTA_ISSUER", format!("http://127.0.0.1:{port}"))
        .env_remove("PORTA_ADMIN_PASSWORD")
        .env_remove("PORTA_DATABASE_URL")
        .env_remove("PORTA_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);

    let health = wait_until_up(&format!("http://127.0.0.1:{port}/healthz")).await;
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );

    // The generated admin password is printed once on stdout.
    let mut lines = BufReader::new(stdout).lines();
    let mut password = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(pw) = line.trim().strip_prefix("password: ") {
            password = Some(pw.to_string());
            break;
        }
    }
    let password = password.expect("the bootstrap password is printed");
    assert!(password.len() >= 16);
    assert!(
        dir.path().join("data/porta.db").exists(),
        "SQLite under data/"
    );

    // The printed password is the admin's.
    let out = assert_cmd::Command::cargo_bin("porta")
        .unwrap()
        .current_dir(dir.path())
        .args(["user", "list", "--json"])
        .output()
        .unwrap();
    let users: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(users[0]["username"], "admin");
    assert_eq!(users[0]["is_admin"], true);

    // SIGTERM drains and exits cleanly.
    let mut child = server;
    let pid = child.0.id() as i32;
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio_sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "graceful exit, got {status:?}");

    // A second start on the same directory does not bootstrap again.
    let again = Command::new(env!("CARGO_BIN_EXE_porta"))
        .arg("serve")
        .current_dir(dir.path())
        .env("PORTA_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTA_ISSUER", format!("http://127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut again = Server(again);
    wait_until_up(&format!("http://127.0.0.1:{port}/healthz")).await;
    Command::new("kill")
        .arg("-TERM")
        .arg(again.0.id().to_string())
        .status()
        .unwrap();
    let out = again.0.stdout.take().unwrap();
    let printed: Vec<String> = BufReader::new(out).lines().map_while(Result::ok).collect();
    assert!(
        !printed.iter().any(|l| l.contains("password")),
        "{printed:?}"
    );
}

#[actix_rt::test]
async fn readyz_is_503_with_a_reason_when_the_database_is_gone() {
    let Some(b) = crate::helpers::Backend::postgres() else {
        return;
    };
    let app = crate::helpers::spawn_app(b).await;
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.db.drop_now();
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reason"].as_str().unwrap().contains("database"),
        "{body}"
    );
    // The process itself is still up.
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
