//! The `dpop_jtis` table: the DPoP proofs already seen (RFC 9449 11.1), so a proof is accepted once across every
//! instance. A row is the SHA-256 of the key thumbprint and the proof's `jti`, kept until the proof would be
//! refused for its age anyway; the purge job removes it after that.

use diesel::prelude::*;

use crate::db::schema::dpop_jtis;
use crate::db::{AnyConnection, StoreError};

/// Records a proof as seen until `expires_at`. `false` when it was seen before (a replay): the insert does nothing
/// on a conflict rather than fail, so it can run inside a transaction on both backends.
pub fn remember(
    conn: &mut AnyConnection,
    jti_hash: &str,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let row = (
        dpop_jtis::jti_hash.eq(jti_hash),
        dpop_jtis::expires_at.eq(expires_at),
    );
    // `.on_conflict(..)` does not compile through the MultiConnection enum: one arm per backend.
    let inserted = match conn {
        AnyConnection::Sqlite(c) => diesel::insert_into(dpop_jtis::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        AnyConnection::Postgres(c) => diesel::insert_into(dpop_jtis::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(inserted == 1)
}

/// Forgets proofs that are too old to be accepted again.
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(dpop_jtis::table.filter(dpop_jtis::expires_at.lt(now))).execute(conn)?)
}
