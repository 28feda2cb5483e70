//! Shared test plumbing: fresh databases per test on both backends, a spawned server, an HTTP client that keeps
//! cookies and does not follow redirects, and a controllable clock.

use std::net::TcpListener;
use std::sync::Arc;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use porta::clock::TestClock;
use porta::config::Settings;
use porta::startup::Application;

/// Declares each test twice: `<name>::sqlite` and `<name>::postgres` (skipped, with a printed reason, unless
/// `PORTA_TEST_POSTGRES` is set).
macro_rules! both_backends {
    ($(async fn $name:ident($b:ident: Backend) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[actix_rt::test]
            async fn sqlite() {
                let $b = $crate::helpers::Backend::Sqlite;
                $body
            }
            #[actix_rt::test]
            async fn postgres() {
                let Some($b) = $crate::helpers::Backend::postgres() else { return };
                $body
            }
        }
    )*};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// PostgreSQL when configured; otherwise prints why the case is skipped.
    pub fn postgres() -> Option<Backend> {
        if postgres_base().is_some() {
            Some(Backend::Postgres)
        } else {
            eprintln!(
                "skipped: PORTA_TEST_POSTGRES is not set, so the PostgreSQL case did not run"
            );
            None
        }
    }
}

fn postgres_base() -> Option<String> {
    std::env::var("PORTA_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A database that exists for one test: an SQLite file in a temp dir, or a uniquely named PostgreSQL database
/// dropped at the end.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}", dir.path().join("porta.db").display()),
                dir,
                pg_name: None,
            },
            Backend::Postgres => {
                let base = postgres_base().expect("PORTA_TEST_POSTGRES");
                let name = format!("porta_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = diesel::PgConnection::establish(&format!("{base}/postgres"))
                    .expect("PORTA_TEST_POSTGRES is set but the server does not answer");
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                TestDb {
                    url: format!("{base}/{name}"),
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl TestDb {
    /// Drops a PostgreSQL database now, cutting every connection to it (an outage for the server under test).
    pub fn drop_now(&self) {
        self.drop_pg();
    }

    fn drop_pg(&self) {
        if let (Some(name), Some(base)) = (&self.pg_name, postgres_base())
            && let Ok(mut admin) = diesel::PgConnection::establish(&format!("{base}/postgres"))
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.drop_pg();
    }
}

/// Test settings for a database: quick-to-generate keys and a fixed master key so no file is written.
pub fn test_settings(db: &TestDb) -> Settings {
    Settings {
        database_url: db.url.clone(),
        database_pool_size: 4,
        master_key_file: db.dir.path().join("master.key"),
        master_key: Some(TEST_MASTER_KEY.into()),
        // The console tests sign admins in with a password only; the MFA tests turn this on.
        mfa: porta::config::MfaSettings {
            required_for_admins: false,
            ..porta::config::MfaSettings::default()
        },
        ..Settings::default()
    }
}

/// A fixed master key (base64 of 32 bytes) for every test, so no key file is written. Never use it elsewhere.
pub const TEST_MASTER_KEY: &str = "cG9ydGEtdGVzdC1tYXN0ZXIta2V5LW5vdC1zZWNyZXQ=";

pub const ADMIN_PASSWORD: &str = "Tangerine-Harbor-Rocket-42";

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub clock: TestClock,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<porta::state::AppState>,
    pub db: TestDb,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// A fresh browser: its own cookie jar, no redirects followed.
    pub fn new_browser(&self) -> reqwest::Client {
        browser()
    }
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        // The server closes a connection idle for 5 s (actix's keep-alive). Reusing one at that instant fails
        // the request with "connection closed", which a loaded machine made happen: drop idle ones well before.
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("http client")
}

/// Starts a server on 127.0.0.1:0 over a fresh database of `backend`.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// As `spawn_app`, letting the test adjust the settings first.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new(backend);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let mut settings = test_settings(&db);
    settings.listen = format!("127.0.0.1:{port}");
    settings.issuer = format!("http://127.0.0.1:{port}");
    adjust(&mut settings);
    // SAFETY: tests only ever set this one variable, always to the same value.
    unsafe { std::env::set_var("PORTA_ADMIN_PASSWORD", ADMIN_PASSWORD) };
    let clock = TestClock::at_system_time();
    // Signing keys come from a pool generated once per test binary: RSA generation would dominate test time.
    let app = Application::build_with(
        settings,
        Arc::new(clock.clone()),
        listener,
        porta::keys::KeyGenerator::test_pool(),
    )
    .await
    .expect("server builds");
    let state = app.state.clone();
    actix_rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        clock,
        client: browser(),
        state,
        db,
    }
}
