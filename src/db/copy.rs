//! `porta db copy`: every table of one database into an empty other one, SQLite to PostgreSQL or back. The
//! source is read in one snapshot (a read transaction; REPEATABLE READ on PostgreSQL) and never written; the
//! target is migrated first, must be empty, and receives every row in one transaction that is verified (row
//! count and checksum per table) before it commits. Rows travel as typed values, so what the target holds
//! compares equal to the source whatever the backend.

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::{AnyConnection, StoreError};

/// What was copied of one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCopy {
    pub table: &'static str,
    pub rows: usize,
    /// SHA-256 over the table's rows, independent of their order; equal on both sides.
    pub checksum: String,
}

/// Why a copy was refused or failed. Nothing is written to the target in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target database is not empty: {0} has rows. Copy into a new, empty database")]
    TargetNotEmpty(&'static str),
    #[error(
        "the source database has pending migrations: run `porta migrate` (or start Porta once) on it first"
    )]
    SourceNotMigrated,
    #[error("the copy of {table} does not match the source ({detail}); nothing was written")]
    Mismatch { table: &'static str, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for CopyError {
    fn from(e: diesel::result::Error) -> Self {
        CopyError::Store(e.into())
    }
}

/// A value that contributes to a row's checksum. Each carries a type tag, so `None` and `""` differ.
trait Sum {
    fn sum(&self, h: &mut Sha256);
}

impl Sum for String {
    fn sum(&self, h: &mut Sha256) {
        h.update(b"s");
        h.update((self.len() as u64).to_be_bytes());
        h.update(self.as_bytes());
    }
}

impl Sum for Vec<u8> {
    fn sum(&self, h: &mut Sha256) {
        h.update(b"b");
        h.update((self.len() as u64).to_be_bytes());
        h.update(self);
    }
}

impl Sum for i64 {
    fn sum(&self, h: &mut Sha256) {
        h.update(b"l");
        h.update(self.to_be_bytes());
    }
}

impl Sum for i32 {
    fn sum(&self, h: &mut Sha256) {
        h.update(b"i");
        h.update(self.to_be_bytes());
    }
}

impl Sum for bool {
    fn sum(&self, h: &mut Sha256) {
        h.update(if *self { b"t" } else { b"f" });
    }
}

impl<T: Sum> Sum for Option<T> {
    fn sum(&self, h: &mut Sha256) {
        match self {
            None => h.update(b"n"),
            Some(v) => {
                h.update(b"y");
                v.sum(h);
            }
        }
    }
}

/// The order-independent checksum of a table: the SHA-256 of its rows' hashes, sorted.
fn table_checksum(mut row_hashes: Vec<[u8; 32]>) -> String {
    row_hashes.sort_unstable();
    let mut h = Sha256::new();
    for r in &row_hashes {
        h.update(r);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Declares the tables to copy, parents before children (foreign keys), with each column's Rust type.
macro_rules! tables {
    ($( $table:ident { $( $col:ident : $ty:ty ),+ $(,)? } )+) => {
        /// Every table `db copy` moves, in insertion order.
        pub const TABLES: &[&str] = &[$( stringify!($table) ),+];

        /// Every table with the columns `db copy` moves (a test holds this to the migrations).
        pub const COLUMNS: &[(&str, &[&str])] = &[$( (stringify!($table), &[$( stringify!($col) ),+]) ),+];

        fn count_nonempty(conn: &mut AnyConnection) -> Result<Option<&'static str>, CopyError> {
            $(
                let n: i64 = crate::db::schema::$table::table.count().get_result(conn)?;
                if n > 0 {
                    return Ok(Some(stringify!($table)));
                }
            )+
            Ok(None)
        }

        /// Reads every table of `src` (the caller holds the snapshot) and writes it to `dst` (the caller holds
        /// the transaction), verifying each table as written.
        fn copy_tables(
            src: &mut AnyConnection,
            dst: &mut AnyConnection,
        ) -> Result<Vec<TableCopy>, CopyError> {
            let mut report = Vec::new();
            $(
                {
                    use crate::db::schema::$table as t;
                    type Row = ( $( $ty, )+ );
                    fn hashes(rows: &[Row]) -> Vec<[u8; 32]> {
                        rows.iter()
                            .map(|( $( $col, )+ )| {
                                let mut h = Sha256::new();
                                $( $col.sum(&mut h); )+
                                h.finalize().into()
                            })
                            .collect()
                    }
                    let rows: Vec<Row> = t::table.select(( $( t::$col, )+ )).load(src)?;
                    // One row per statement: multi-row inserts do not compile through the MultiConnection, and
                    // inside one transaction single rows are fast enough on both backends.
                    for ( $( $col, )+ ) in rows.iter().cloned() {
                        diesel::insert_into(t::table).values(( $( t::$col.eq($col), )+ )).execute(dst)?;
                    }
                    let copied: Vec<Row> = t::table.select(( $( t::$col, )+ )).load(dst)?;
                    let (want, got) = (table_checksum(hashes(&rows)), table_checksum(hashes(&copied)));
                    if rows.len() != copied.len() || want != got {
                        return Err(CopyError::Mismatch {
                            table: stringify!($table),
                            detail: format!(
                                "{} rows with checksum {want}, copied {} with {got}",
                                rows.len(),
                                copied.len()
                            ),
                        });
                    }
                    report.push(TableCopy { table: stringify!($table), rows: rows.len(), checksum: want });
                }
            )+
            Ok(report)
        }
    };
}

tables! {
    users {
        id: String, username: String, email: Option<String>, name: Option<String>, password_hash: String,
        is_admin: bool, disabled: bool, created_at: i64, updated_at: i64, credentials_changed_at: i64,
        email_verified: bool,
    }
    clients {
        id: String, name: String, secret_hash: Option<String>, is_public: bool, first_party: bool,
        redirect_uris: String, post_logout_redirect_uris: String, grant_types: String, created_at: i64,
        updated_at: i64, backchannel_logout_uri: Option<String>, backchannel_logout_session_required: bool,
        require_pkce: bool, require_mfa: bool, web_origins: String, require_par: bool, require_dpop: bool,
        id_token_alg: String, access_token_alg: String,
    }
    audit_log {
        id: String, at: i64, actor: Option<String>, action: String, target: Option<String>, ip: Option<String>,
        detail: Option<String>,
    }
    signing_keys {
        kid: String, alg: String, bits: i32, public_n: String, public_e: String, sealed_private: Option<Vec<u8>>,
        master_key_id: String, created_at: i64, published_at: i64, activates_at: i64, superseded_at: Option<i64>,
        revoked_at: Option<i64>, revoke_reason: Option<String>, public_x: Option<String>, public_y: Option<String>,
    }
    sessions {
        id: String, user_id: Option<String>, state: String, created_at: i64, auth_time: Option<i64>,
        last_seen_at: i64, expires_at: i64, ip: Option<String>, user_agent: Option<String>, sid: Option<String>,
    }
    auth_codes {
        code_hash: String, client_id: String, user_id: String, sid: String, redirect_uri: String, scope: String,
        nonce: Option<String>, code_challenge: Option<String>, auth_time: i64, amr: String, created_at: i64,
        expires_at: i64, used_at: Option<i64>, access_jti: Option<String>, family_id: Option<String>,
        dpop_jkt: Option<String>,
    }
    consents { user_id: String, client_id: String, scope: String, granted_at: i64 }
    refresh_tokens {
        token_hash: String, family_id: String, client_id: String, user_id: String, sid: Option<String>,
        scope: String, auth_time: i64, created_at: i64, expires_at: i64, rotated_at: Option<i64>,
        revoked_at: Option<i64>, amr: String, access_jti: Option<String>, access_expires_at: Option<i64>,
        offline: bool, family_expires_at: i64, dpop_jkt: Option<String>,
    }
    revoked_jtis { jti: String, expires_at: i64 }
    login_failures { id: String, subject: String, at: i64 }
    session_clients { sid: String, client_id: String, user_id: String, first_at: i64 }
    logout_outbox {
        id: String, client_id: String, user_id: String, sid: String, jti: String, created_at: i64, attempts: i32,
        next_attempt_at: i64, claimed_until: Option<i64>, delivered_at: Option<i64>, failed_at: Option<i64>,
        last_error: Option<String>,
    }
    groups { id: String, name: String, description: Option<String>, created_at: i64 }
    group_members { group_id: String, user_id: String, added_at: i64 }
    client_allowed_groups { client_id: String, group_id: String }
    client_roles { client_id: String, role: String, group_id: String }
    apis { id: String, identifier: String, name: String, created_at: i64, updated_at: i64 }
    api_scopes { scope: String, api_id: String, description: Option<String> }
    client_allowed_scopes { client_id: String, scope: String }
    mfa_factors {
        id: String, user_id: String, kind: String, name: String, secret: Option<String>,
        credential_id: Option<String>, credential: Option<String>, last_step: Option<i64>, created_at: i64,
        last_used_at: Option<i64>,
    }
    recovery_codes { code_hash: String, user_id: String, created_at: i64, used_at: Option<i64> }
    device_codes {
        device_code_hash: String, user_code_hash: String, client_id: String, scope: String, status: String,
        user_id: Option<String>, sid: Option<String>, amr: Option<String>, auth_time: Option<i64>, created_at: i64,
        expires_at: i64, poll_interval: i64, last_polled_at: Option<i64>, decided_at: Option<i64>,
    }
    pushed_requests { uri_hash: String, client_id: String, params: String, created_at: i64, expires_at: i64 }
    dpop_jtis { jti_hash: String, expires_at: i64 }
}

/// Copies every table of `src` into `dst`, which must be migrated and empty. `src` is read in one snapshot and
/// never written; `dst` gets everything in one verified transaction, or nothing.
pub fn copy(src: &mut AnyConnection, dst: &mut AnyConnection) -> Result<Vec<TableCopy>, CopyError> {
    if let Some(table) = count_nonempty(dst)? {
        return Err(CopyError::TargetNotEmpty(table));
    }
    in_snapshot(src, |src| super::write_tx(dst, |dst| copy_tables(src, dst)))
}

/// Runs `f` inside one read-only snapshot of `conn`: a read transaction (SQLite in WAL mode keeps its snapshot
/// for the whole transaction; PostgreSQL needs REPEATABLE READ for that).
fn in_snapshot<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, CopyError>,
) -> Result<T, CopyError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let begin = match conn {
        AnyConnection::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        AnyConnection::Sqlite(_) => "BEGIN DEFERRED",
    };
    match conn {
        AnyConnection::Postgres(c) => AnsiTransactionManager::begin_transaction_sql(c, begin)?,
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, begin)?,
    }
    let result = f(conn);
    // Nothing was written to the source: ending the snapshot either way leaves it as it was.
    let _ = match conn {
        AnyConnection::Postgres(c) => AnsiTransactionManager::rollback_transaction(c),
        AnyConnection::Sqlite(c) => AnsiTransactionManager::rollback_transaction(c),
    };
    result
}
