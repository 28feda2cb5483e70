//! Faults: an instance killed with SIGKILL in the middle of rotations, and a PostgreSQL outage (a TCP proxy in
//! front of the real server is cut and restored) that must give 503s and friendly pages, then recover without a
//! restart.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::helpers::{Backend, TestDb, spawn_app_with};
use crate::scale_out::{Deployment, free_port};

#[actix_rt::test]
async fn sigkill_during_rotations_leaves_valid_keys() {
    let Some(b) = Backend::postgres() else { return };
    let dep = Deployment::new(TestDb::new(b));
    let port = dep.issuer_port;
    let mut inst = dep.start(port).await;
    for round in 0..6u64 {
        // A rotation in a separate process, killed at a different point each round.
        let mut rotate = dep
            .command()
            .args(["keys", "rotate"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        actix_rt::time::sleep(Duration::from_millis(15 * round)).await;
        let _ = rotate.kill();
        let _ = rotate.wait();
        if round == 3 {
            // The serving instance dies too, mid-flight.
            inst.kill9();
            inst = dep.start(port).await;
        }
    }
    inst.kill9();
    let inst = dep.start(port).await;

    // Invariants 1 to 4 after the crashes: one active key and one next key per family, every published key in
    // the JWKS.
    let keys = dep.cli(&["keys", "list"]);
    let keys = keys.as_array().unwrap();
    for alg in ["RS256", "ES256", "EdDSA"] {
        let state = |s: &str| {
            keys.iter()
                .filter(|k| k["state"] == s && k["alg"] == alg)
                .count()
        };
        assert_eq!(state("active"), 1, "{alg}: {keys:#?}");
        assert_eq!(state("next"), 1, "{alg}: {keys:#?}");
    }
    let jwks: serde_json::Value = reqwest::get(inst.url("/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    for k in keys
        .iter()
        .filter(|k| ["active", "next", "retiring"].contains(&k["state"].as_str().unwrap()))
    {
        assert!(
            published.contains(&k["kid"].as_str().unwrap()),
            "{k} published"
        );
    }
    assert!(!jwks.to_string().contains("\"d\""), "no private members");

    // And it still issues tokens that verify.
    let reg = dep.cli(&[
        "client",
        "add",
        "--name",
        "svc",
        "--grant-type",
        "client_credentials",
    ]);
    let r = reqwest::Client::new()
        .post(inst.url("/token"))
        .basic_auth(
            reg["client_id"].as_str().unwrap(),
            reg["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token: serde_json::Value = r.json().await.unwrap();
    let kid = jsonwebtoken::decode_header(token["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    let active = keys.iter().find(|k| k["state"] == "active").unwrap();
    assert_eq!(kid, active["kid"].as_str().unwrap());
}

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored.
struct Proxy {
    port: u16,
    cut: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(port: u16, upstream: &str) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let cut = Arc::new(Notify::new());
        let (c, upstream) = (cut.clone(), upstream.to_string());
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = c.notified() => { conns.abort_all(); return; }
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        let upstream = upstream.clone();
                        conns.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                }
            }
        });
        Proxy { port, cut, task }
    }

    async fn cut(self) -> u16 {
        self.cut.notify_one();
        let _ = self.task.await;
        self.port
    }
}

async fn wait_for(mut ok: impl AsyncFnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok().await {
        assert!(Instant::now() < deadline, "{what}");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_rt::test]
async fn postgres_outage_gives_503_then_recovers_without_restart() {
    let Some(b) = Backend::postgres() else { return };
    let port = free_port();
    let proxy = Proxy::start(port, "127.0.0.1:5432").await;
    let app = spawn_app_with(b, |s| {
        s.database_url = s
            .database_url
            .replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"));
    })
    .await;
    let reg = app
        .state
        .db
        .run(|c| {
            porta::manage::clients::add(
                c,
                &porta::manage::clients::NewClientInput {
                    name: "svc".into(),
                    grant_types: vec!["client_credentials".into()],
                    ..Default::default()
                },
                &porta::manage::Actor::cli(),
                1,
            )
        })
        .await
        .unwrap();
    let secret = reg.client_secret.clone().unwrap();
    let cc = || {
        app.client
            .post(app.url("/token"))
            .basic_auth(&reg.client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    assert_eq!(cc().await.unwrap().status(), StatusCode::OK);

    let port = proxy.cut().await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = cc().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // Keys come from memory: the JWKS is still served.
    assert_eq!(
        app.client
            .get(app.url("/jwks.json"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // A page shows a friendly error, not a 500.
    let page = app
        .new_browser()
        .get(app.url("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Temporarily unavailable")
    );

    // PostgreSQL comes back: everything recovers, no restart.
    let _proxy = Proxy::start(port, "127.0.0.1:5432").await;
    wait_for(
        async || {
            app.client
                .get(app.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        },
        "readyz recovers",
    )
    .await;
    assert_eq!(cc().await.unwrap().status(), StatusCode::OK);
}

/// A locked SQLite file: writers wait out the busy timeout, then get a clean 503 (page or JSON), never a 500;
/// once the lock goes, everything works again.
#[actix_rt::test]
async fn a_locked_sqlite_file_gives_503_not_500_and_recovers() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let browser = app.new_browser();
    let page = browser
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = page[start..start + page[start..].find('"').unwrap()].to_string();
    let attempt = || {
        browser
            .post(app.url("/login"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", "admin"),
                ("password", "wrong"),
            ])
            .send()
    };

    // Another process holds the write lock for longer than the busy timeout.
    let path = porta::db::sqlite_path(&app.db.url).to_string();
    let mut other = diesel::SqliteConnection::establish(&path).unwrap();
    other.batch_execute("BEGIN IMMEDIATE").unwrap();
    let locked = attempt().await.unwrap();
    assert_eq!(locked.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        locked
            .text()
            .await
            .unwrap()
            .contains("Temporarily unavailable")
    );
    // The JWKS and discovery come from memory and keep working.
    assert_eq!(
        app.client
            .get(app.url("/jwks.json"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    other.batch_execute("ROLLBACK").unwrap();
    let after = attempt().await.unwrap();
    assert_eq!(
        after.status(),
        StatusCode::UNAUTHORIZED,
        "the wrong password is judged again"
    );
}
