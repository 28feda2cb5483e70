//! Storage: one diesel connection type over SQLite and PostgreSQL, the pool, migrations, and the bridge that runs
//! queries on the blocking thread pool. Every query in Porta lives under `db::models`.

pub mod backup;
pub mod copy;
pub mod models;
pub mod schema;

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// PostgreSQL advisory lock key held while migrating ("PortaMig" in ASCII).
const MIGRATION_LOCK: i64 = 0x506f_7274_614d_6967;

/// A connection to whichever backend the `database_url` names.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// The backend a `database_url` selects, decided by its scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Errors of the storage layer. Handlers map these once (see `error.rs`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(diesel::result::Error),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_string())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_string())
            }
            Error::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if is_busy_message(info.message()) =>
            {
                StoreError::Unavailable(info.message().to_string())
            }
            other => StoreError::Query(other),
        }
    }
}

fn is_busy_message(msg: &str) -> bool {
    msg.contains("database is locked") || msg.contains("database is busy")
}

impl From<r2d2::PoolError> for StoreError {
    fn from(e: r2d2::PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Parses a `database_url`: `sqlite://path`, `sqlite::memory:`, or `postgres://...` / `postgresql://...`.
pub fn backend_of(url: &str) -> Result<Backend, String> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(format!(
            "unsupported database_url {url:?}: use sqlite://PATH or postgres://..."
        ))
    }
}

/// The file path of an SQLite URL (`sqlite://data/porta.db` -> `data/porta.db`).
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// Makes the SQLite file readable by its owner only: the database holds password hashes, sessions and sealed keys.
/// A missing parent directory is created 0700; the file is created 0600 before SQLite opens it, and an existing
/// file is narrowed to 0600. SQLite creates `-wal` and `-shm` with the database file's permissions, and those that
/// already exist are narrowed too. A directory that already existed is left as it is (it may be `.`).
fn private_sqlite_file(path: &std::path::Path) -> Result<(), StoreError> {
    let fail = |what: &std::path::Path, e: std::io::Error| {
        StoreError::Unavailable(format!("cannot secure {}: {e}", what.display()))
    };
    if path.as_os_str().is_empty() || path.to_str() == Some(":memory:") {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(|e| fail(dir, e))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| fail(path, e))?;
        let mut companions = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            companions.push(p.into());
        }
        for p in companions.iter().filter(|p| p.exists()) {
            // Not fatal: another account may own the file (it then decides who reads it).
            if let Err(e) = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)) {
                tracing::warn!(path = %p.display(), error = %e, "cannot make the database file private");
            }
        }
    }
    Ok(())
}

/// r2d2 manager that picks the backend from the URL scheme itself: `AnyConnection::establish` would try
/// PostgreSQL first and SQLite accepts any string as a path.
#[derive(Debug)]
pub struct Manager {
    backend: Backend,
    url: String,
    /// Set by `serve` (`Db::checkpoint_in_background`): SQLite connections opened afterwards leave WAL
    /// checkpoints to the background thread instead of running them inside the commit of a request.
    background_checkpoints: Arc<AtomicBool>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        use diesel::r2d2::Error as E;
        match self.backend {
            Backend::Postgres => diesel::PgConnection::establish(&self.url)
                .map(AnyConnection::Postgres)
                .map_err(E::ConnectionError),
            Backend::Sqlite => {
                let mut c = diesel::SqliteConnection::establish(sqlite_path(&self.url))
                    .map_err(E::ConnectionError)?;
                // WAL lets readers run beside the writer; the busy timeout turns lock contention into waiting.
                c.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(E::QueryError)?;
                if self.background_checkpoints.load(Ordering::Relaxed) {
                    c.batch_execute("PRAGMA wal_autocheckpoint = 0;")
                        .map_err(E::QueryError)?;
                }
                Ok(AnyConnection::Sqlite(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut AnyConnection) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// The writers of one SQLite database take turns here, inside the process. SQLite's own busy handler makes a
/// waiting writer sleep 1, 2, 5, 10 ms between polls, which under load was most of the token endpoint's tail;
/// a mutex wakes the next writer as soon as the lock is free. One per `Db` (per database file in a process).
type WriterGate = Arc<Mutex<()>>;

thread_local! {
    /// The gate of the database whose pooled connection this thread holds (see `PooledConn`): `write_tx` takes
    /// `&mut AnyConnection`, so this is how it finds its gate without every caller passing it.
    static AMBIENT_GATE: RefCell<Option<WriterGate>> = const { RefCell::new(None) };
    /// Whether this thread is inside a gated write transaction (a nested `write_tx` must not wait on itself).
    static IN_GATED_WRITE: Cell<bool> = const { Cell::new(false) };
}

/// A pooled connection. While it is held, its database's writer gate is this thread's ambient gate.
pub struct PooledConn {
    conn: r2d2::PooledConnection<Manager>,
    gate: Option<WriterGate>,
}

impl PooledConn {
    fn new(conn: r2d2::PooledConnection<Manager>, gate: Option<WriterGate>) -> PooledConn {
        if let Some(g) = &gate {
            AMBIENT_GATE.with_borrow_mut(|a| *a = Some(g.clone()));
        }
        PooledConn { conn, gate }
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let Some(g) = &self.gate {
            AMBIENT_GATE.with_borrow_mut(|a| {
                if a.as_ref().is_some_and(|a| Arc::ptr_eq(a, g)) {
                    *a = None;
                }
            });
        }
    }
}

impl std::ops::Deref for PooledConn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// The handle every layer uses to reach the database.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    /// SQLite only: one writer at a time in this process.
    gate: Option<WriterGate>,
    background_checkpoints: Arc<AtomicBool>,
}

impl Db {
    /// Opens a pool. For SQLite the parent directory of the file is created.
    pub fn connect(url: &str, pool_size: u32) -> Result<Db, StoreError> {
        let backend = backend_of(url).map_err(StoreError::Unavailable)?;
        if backend == Backend::Sqlite {
            private_sqlite_file(std::path::Path::new(sqlite_path(url)))?;
        }
        let background_checkpoints = Arc::new(AtomicBool::new(false));
        let manager = Manager {
            backend,
            url: url.to_string(),
            background_checkpoints: background_checkpoints.clone(),
        };
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(3))
            // A checkout ran `SELECT 1` first. An SQLite connection is a file handle that cannot break, so it
            // skips that; a PostgreSQL connection can (a restarted server), and the check keeps a dead one from
            // failing a request.
            .test_on_check_out(backend == Backend::Postgres)
            .build_unchecked(manager);
        Ok(Db {
            pool,
            backend,
            gate: (backend == Backend::Sqlite).then(WriterGate::default),
            background_checkpoints,
        })
    }

    /// SQLite: connections opened from now on do not checkpoint the WAL when they commit; `checkpoint` is called
    /// by a background thread instead (see `jobs::spawn_checkpointer`), so no request pays for the fsyncs.
    pub fn checkpoint_in_background(&self) {
        self.background_checkpoints.store(true, Ordering::Relaxed);
    }

    /// Copies the WAL's committed pages into the database file without waiting for readers or writers
    /// (`PASSIVE`). Returns the WAL's size in pages and how many were checkpointed. PostgreSQL: nothing to do.
    pub fn checkpoint(&self) -> Result<Option<(i64, i64)>, StoreError> {
        #[derive(QueryableByName)]
        struct Checkpoint {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            log: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            checkpointed: i64,
        }
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let mut conn = self.conn()?;
        let row: Checkpoint =
            diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(&mut *conn)?;
        Ok(Some((row.log, row.checkpointed)))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for synchronous callers (CLI, jobs already on a blocking thread).
    pub fn conn(&self) -> Result<PooledConn, StoreError> {
        Ok(PooledConn::new(self.pool.get()?, self.gate.clone()))
    }

    /// Runs `f` with a pooled connection on the blocking thread pool, never on an async worker.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let db = self.clone();
        match tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            f(&mut conn)
        })
        .await
        {
            Ok(r) => r,
            Err(e) => Err(StoreError::Unavailable(format!("blocking task failed: {e}")).into()),
        }
    }

    /// Applies every pending migration of this backend.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        let applied = match &mut *conn {
            AnyConnection::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect()),
            AnyConnection::Postgres(c) => {
                // Instances starting together must not apply the same migration twice: serialise on a lock.
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                let r = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.iter().map(|m| m.to_string()).collect());
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
                r
            }
        };
        applied.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    /// Whether migrations are waiting to be applied to this database.
    pub fn has_pending_migrations(&self) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let pending = match &mut *conn {
            AnyConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
            AnyConnection::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
        };
        pending.map_err(|e| StoreError::Unavailable(format!("reading the migrations failed: {e}")))
    }

    /// Answers whether the database responds (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|c| c.batch_execute("SELECT 1").map_err(StoreError::from))
            .await
    }
}

/// Runs `f` in a write transaction: on SQLite, after this process's writer gate (see `WriterGate`) and with
/// `BEGIN IMMEDIATE`, so a writer never fails to upgrade a read lock (writers of other processes, such as the CLI,
/// still queue on the busy timeout); an ordinary transaction on PostgreSQL.
pub fn write_tx<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match conn {
        AnyConnection::Sqlite(c) => {
            let gate = if IN_GATED_WRITE.get() {
                None
            } else {
                AMBIENT_GATE.with_borrow(Clone::clone)
            };
            let _turn = gate
                .as_ref()
                .map(|g| g.lock().unwrap_or_else(PoisonError::into_inner));
            let _inside = gate.is_some().then(GatedWrite::enter);
            // Through diesel's transaction manager, so savepoints nest correctly inside `f`.
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            let result = f(conn);
            let AnyConnection::Sqlite(c) = conn else {
                unreachable!("the backend of a connection never changes")
            };
            match result {
                Ok(v) => {
                    AnsiTransactionManager::commit_transaction(c)?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = AnsiTransactionManager::rollback_transaction(c);
                    Err(e)
                }
            }
        }
        AnyConnection::Postgres(_) => conn.transaction(f),
    }
}

/// Marks this thread as inside a gated write until dropped (also when `f` panics).
struct GatedWrite;

impl GatedWrite {
    fn enter() -> GatedWrite {
        IN_GATED_WRITE.set(true);
        GatedWrite
    }
}

impl Drop for GatedWrite {
    fn drop(&mut self) {
        IN_GATED_WRITE.set(false);
    }
}
