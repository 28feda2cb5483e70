//! Wiring: pool, migrations, bootstrap, the HTTP server, and the route table in one place.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::Db;
use crate::state::AppState;

/// The HSTS header value on an https issuer: one year, this host only (subdomains may be other services).
pub const HSTS: &str = "max-age=31536000";

/// Opens the database and applies pending migrations.
pub fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(&settings.database_url, settings.database_pool_size)
        .context("opening the database")?;
    db.migrate().context("applying migrations")?;
    Ok(db)
}

/// As `open_database`, for `serve`: SQLite's WAL checkpoints are left to `jobs::spawn_checkpointer` from the
/// first connection on.
fn open_database_to_serve(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(&settings.database_url, settings.database_pool_size)
        .context("opening the database")?;
    db.checkpoint_in_background();
    db.migrate().context("applying migrations")?;
    Ok(db)
}

/// A server bound to its listener, ready to run. Tests bind `127.0.0.1:0` and read `port`.
pub struct Application {
    pub port: u16,
    pub state: web::Data<AppState>,
    server: Server,
}

impl Application {
    /// Binds `settings.listen`, then builds as `build_on`.
    pub async fn build(settings: Settings, clock: SharedClock) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        Self::build_on(settings, clock, listener).await
    }

    /// Opens storage, bootstraps the first admin on an empty database, and serves on `listener`.
    pub async fn build_on(
        settings: Settings,
        clock: SharedClock,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        Self::build_with(settings, clock, listener, crate::keys::KeyGenerator::Rsa).await
    }

    /// As `build_on`, with the source of new signing keys (tests pass `KeyGenerator::test_pool()`).
    pub async fn build_with(
        settings: Settings,
        clock: SharedClock,
        listener: TcpListener,
        generator: crate::keys::KeyGenerator,
    ) -> anyhow::Result<Application> {
        let settings = Arc::new(settings);
        let db = {
            let s = settings.clone();
            tokio::task::spawn_blocking(move || open_database_to_serve(&s)).await??
        };
        bootstrap_admin(&db, &settings.passwords, clock.now()).await?;
        // Refuses to start when stored keys cannot be opened with the configured master key.
        let keys = crate::keys::Keys::bootstrap(&db, &settings, clock.clone(), generator)
            .await
            .context("loading the signing keys")?;
        let discovery = web::Data::new(
            crate::oidc::discovery::DiscoveryDocument::new(
                &crate::oidc::discovery::Discovery::from_settings(&settings),
            )
            .context("serializing the discovery document")?,
        );

        // Registered web origins for CORS preflights, reloaded as often as the key set.
        let web_origins = web::Data::new(crate::oidc::cors::WebOrigins::new(
            settings.keys.key_refresh_interval,
        ));
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            db,
            clock,
            keys: Arc::new(keys),
        });
        crate::jobs::spawn(state.clone());
        crate::jobs::spawn_checkpointer(state.clone());
        crate::backchannel::deliver::spawn(state.clone());
        // Install the metrics recorder before the first request so every request is counted.
        crate::metrics::handle();
        let port = listener.local_addr()?.port();
        let data = state.clone();
        let https = settings.issuer_is_https();
        // One for the whole process: the bound on concurrent argon2 work holds across all workers.
        let verifier = web::Data::new(crate::crypto::verifier::Verifier::new(
            settings.login.max_concurrent_hashes,
        ));
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let server = HttpServer::new(move || {
            App::new()
                // Inner to the logger, so a session store failure is logged with its request.
                .wrap(crate::session::middleware(&data))
                .wrap(actix_web::middleware::from_fn(
                    crate::session::store_failure_page,
                ))
                .wrap(actix_web::middleware::from_fn(
                    crate::metrics::request_id_header,
                ))
                .wrap(tracing_actix_web::TracingLogger::default())
                .wrap(actix_web::middleware::from_fn(crate::metrics::track))
                // Outermost, so every response has it, error pages of the middlewares above included. RFC 6797:
                // once a browser has seen the issuer over https, it never goes back to plain http.
                .wrap(actix_web::middleware::Condition::new(
                    https,
                    actix_web::middleware::DefaultHeaders::new()
                        .add(("Strict-Transport-Security", HSTS)),
                ))
                .app_data(data.clone())
                .app_data(discovery.clone())
                .app_data(web_origins.clone())
                .app_data(verifier.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .app_data(web::JsonConfig::default().limit(64 * 1024))
                .configure(routes)
                .configure(crate::oidc::routes)
                .configure(crate::web::routes)
                .configure(crate::web::admin::routes)
        })
        .workers(workers)
        .worker_max_blocking_threads(settings.blocking_threads.div_ceil(workers))
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            state,
            server,
        })
    }

    /// Serves until SIGTERM or Ctrl-C, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

async fn bootstrap_admin(
    db: &Db,
    policy: &crate::config::PasswordSettings,
    now: i64,
) -> anyhow::Result<()> {
    use crate::manage::ManageError;
    let given = std::env::var("PORTA_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let from_env = given.is_some();
    let policy = policy.clone();
    let generated = db
        .run(move |c| crate::manage::users::bootstrap_admin(c, given.as_deref(), &policy, now))
        .await
        .map_err(|e| match e {
            ManageError::Invalid(why) if from_env => anyhow::anyhow!(
                "PORTA_ADMIN_PASSWORD is not accepted as the first admin's password: {why}"
            ),
            other => anyhow::Error::from(other),
        })
        .context("bootstrapping the admin user")?;
    if let Some(pw) = generated {
        // Shown once, on the console only: never through the log pipeline.
        println!(
            "Created the first admin account.\n  username: admin\n  password: {pw}\nChange it after signing in."
        );
    }
    Ok(())
}

/// The operational routes; each protocol and page module registers its own.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(crate::health::healthz_get))
        .route("/readyz", web::get().to(crate::health::readyz_get))
        .route("/metrics", web::get().to(crate::metrics::metrics_get));
}
