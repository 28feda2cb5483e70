//! The `revoked_jtis` table: access tokens (RFC 9068 JWTs) revoked before they expire, by `jti`. A row is only
//! needed until the token's own `exp`; the purge job removes it after that.

use diesel::prelude::*;

use crate::db::schema::revoked_jtis;
use crate::db::{AnyConnection, StoreError};

/// Records `jti` as revoked until `expires_at`. Revoking an already revoked token is not an error.
pub fn revoke(conn: &mut AnyConnection, jti: &str, expires_at: i64) -> Result<(), StoreError> {
    let row = (
        revoked_jtis::jti.eq(jti),
        revoked_jtis::expires_at.eq(expires_at),
    );
    // `.on_conflict(..)` does not compile through the MultiConnection enum: one arm per backend.
    match conn {
        AnyConnection::Sqlite(c) => diesel::insert_into(revoked_jtis::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        AnyConnection::Postgres(c) => diesel::insert_into(revoked_jtis::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(())
}

/// Whether the access token `jti` has been revoked.
pub fn is_revoked(conn: &mut AnyConnection, jti: &str) -> Result<bool, StoreError> {
    let found: Option<String> = revoked_jtis::table
        .find(jti)
        .select(revoked_jtis::jti)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// Forgets revocations of tokens that have expired anyway (their `exp` is before `now`).
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(revoked_jtis::table.filter(revoked_jtis::expires_at.lt(now)))
            .execute(conn)?,
    )
}
