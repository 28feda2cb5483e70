//! The `login_failures` table: failed (and in-flight) sign-ins per throttling subject, kept in the database so
//! throttling holds across instances. Subjects never hold what was typed: an account is named by a SHA-256 of the
//! normalized username (the field sometimes receives a password). The rules live in `web::login::throttle`.

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::schema::login_failures;
use crate::db::{AnyConnection, StoreError};

/// The subject for an account signed in to from one address (`address` is the throttling group of the client
/// address, empty when unknown). Usernames are compared without case and surrounding space, so `Admin ` and
/// `admin` share their failures.
pub fn account_subject(username: &str, address: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"porta login account\0")
        .chain_update(username.trim().to_lowercase().as_bytes())
        .chain_update(b"\0")
        .chain_update(address.as_bytes())
        .finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("acct:{hex}")
}

/// The subject for a client address group.
pub fn address_subject(address: &str) -> String {
    format!("ip:{address}")
}

/// Inside a write transaction: on PostgreSQL, takes a transaction-scoped advisory lock per subject (in a fixed
/// order, so two attempts never wait on each other crosswise), so a check and the insert after it are atomic per
/// subject. SQLite's `BEGIN IMMEDIATE` already admits one writer at a time.
pub fn lock_subjects(conn: &mut AnyConnection, subjects: &[String]) -> Result<(), StoreError> {
    let AnyConnection::Postgres(pg) = conn else {
        return Ok(());
    };
    let mut keys: Vec<i64> = subjects.iter().map(|s| lock_key(s)).collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(k)
            .execute(pg)?;
    }
    Ok(())
}

/// A 64-bit advisory lock key for a subject, in a namespace of its own (a hash, so it meets the fixed rotation and
/// migration keys only by a 2^-64 chance).
fn lock_key(subject: &str) -> i64 {
    let d = Sha256::new()
        .chain_update(b"porta login throttle lock\0")
        .chain_update(subject.as_bytes())
        .finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_be_bytes(b)
}

/// Records one failure (or a reservation for an attempt being checked); returns its row id.
pub fn record(conn: &mut AnyConnection, subject: &str, now: i64) -> Result<String, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::id.eq(&id),
            login_failures::subject.eq(subject),
            login_failures::at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Times of the subject's failures at or after `since`, oldest first, at most `limit` of the newest.
pub fn since(
    conn: &mut AnyConnection,
    subject: &str,
    since: i64,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut v: Vec<i64> = login_failures::table
        .filter(login_failures::subject.eq(subject))
        .filter(login_failures::at.ge(since))
        .order(login_failures::at.desc())
        .limit(limit)
        .select(login_failures::at)
        .load(conn)?;
    v.reverse();
    Ok(v)
}

/// Forgets a subject's failures (after a successful sign-in of that account from that address).
pub fn clear(conn: &mut AnyConnection, subject: &str) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(login_failures::table.filter(login_failures::subject.eq(subject)))
            .execute(conn)?,
    )
}

/// Removes rows by id (reservations of an attempt that turned out to be right).
pub fn delete_ids(conn: &mut AnyConnection, ids: &[String]) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(login_failures::table.filter(login_failures::id.eq_any(ids)))
            .execute(conn)?,
    )
}

/// Every subject currently recorded (tests check that no typed text is stored).
pub fn subjects(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    Ok(login_failures::table
        .select(login_failures::subject)
        .distinct()
        .load(conn)?)
}

/// Removes failures older than `before`.
pub fn purge_before(conn: &mut AnyConnection, before: i64) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(login_failures::table.filter(login_failures::at.lt(before)))
            .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_subjects_hide_the_name_and_ignore_case() {
        let s = account_subject("Admin ", "203.0.113.9");
        assert_eq!(s, account_subject("admin", "203.0.113.9"));
        assert_ne!(s, account_subject("admin", "203.0.113.10"));
        assert!(!s.contains("admin") && s.starts_with("acct:") && s.len() == 5 + 64);
    }
}
