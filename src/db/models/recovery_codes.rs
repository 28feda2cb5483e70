//! The `recovery_codes` table: a user's single-use recovery codes, stored as SHA-256 hashes.

use diesel::prelude::*;

use crate::db::schema::recovery_codes;
use crate::db::{AnyConnection, StoreError};

/// Replaces a user's codes with these hashes.
pub fn replace(
    conn: &mut AnyConnection,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> Result<(), StoreError> {
    delete_all(conn, user_id)?;
    for h in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::code_hash.eq(h),
                recovery_codes::user_id.eq(user_id),
                recovery_codes::created_at.eq(now),
                recovery_codes::used_at.eq(None::<i64>),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Uses a code: `true` when this user had it unused (it is marked used in the same statement, so it works once).
pub fn consume(
    conn: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        recovery_codes::table
            .find(hash)
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// How many unused codes a user has.
pub fn unused_count(conn: &mut AnyConnection, user_id: &str) -> Result<i64, StoreError> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}

/// When the user's codes were made, if they have any.
pub fn created_at(conn: &mut AnyConnection, user_id: &str) -> Result<Option<i64>, StoreError> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .select(recovery_codes::created_at)
        .first(conn)
        .optional()?)
}

pub fn delete_all(conn: &mut AnyConnection, user_id: &str) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?,
    )
}
