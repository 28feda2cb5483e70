//! Online backups. On SQLite, `VACUUM INTO` writes a consistent copy of the database as of one read transaction
//! while `porta serve` keeps writing (WAL readers never block the writer). PostgreSQL has `pg_dump` for that.
//! The master key is never inside a backup: it lives outside the database by design.

use std::path::Path;

use diesel::connection::SimpleConnection;

use super::{AnyConnection, StoreError};

/// Why a backup was not written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "porta backup copies SQLite databases; for PostgreSQL use pg_dump (for example: pg_dump --format=custom \
         --file=porta.dump \"$PORTA_DATABASE_URL\")"
    )]
    Postgres,
    #[error("{0} already exists: choose a new file")]
    Exists(String),
    #[error("cannot write {path}: {reason}")]
    Io { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes a consistent copy of the SQLite database to `target` (a new file, mode 0600). Returns its size.
pub fn sqlite_backup(conn: &mut AnyConnection, target: &Path) -> Result<u64, BackupError> {
    let AnyConnection::Sqlite(c) = conn else {
        return Err(BackupError::Postgres);
    };
    let shown = target.display().to_string();
    if target.exists() {
        return Err(BackupError::Exists(shown));
    }
    let io = |e: std::io::Error| BackupError::Io {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let path = target.to_str().ok_or_else(|| BackupError::Io {
        path: shown.clone(),
        reason: "the path is not valid UTF-8".into(),
    })?;
    // Created empty first with mode 0600, so the copy is never readable by others, not even for a moment.
    create_private(target).map_err(io)?;
    std::fs::remove_file(target).map_err(io)?;
    let sql = format!("VACUUM INTO '{}'", path.replace('\'', "''"));
    if let Err(e) = c.batch_execute(&sql) {
        let _ = std::fs::remove_file(target);
        return Err(StoreError::from(e).into());
    }
    restrict(target).map_err(io)?;
    Ok(std::fs::metadata(target).map_err(io)?.len())
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(|_| ())
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(|_| ())
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
