//! The `dpop_jtis` table: the DPoP proofs already seen (RFC 9449 11.1), so a proof is accepted once across every
//! instance. A row is the SHA-256 of the key thumbprint and the proof's `jti`, kept until the proof would be
//! refused for its age anyway; the purge job removes it after that.

use diesel::prelude::*;

use crate::db::schema::dpop_jtis;
use crate::db::{AnyConnection, StoreError};

/// Records a proof as seen until `expires_at`. `false` when it was seen before (a replay). Runs outside any
/// transaction: on PostgreSQL a unique violation would end the transaction around it.
pub fn remember(
    conn: &mut AnyConnection,
    jti_hash: &str,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let inserted = diesel::insert_into(dpop_jtis::table)
        .values((
            dpop_jtis::jti_hash.eq(jti_hash),
            dpop_jtis::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Forgets proofs that are too old to be accepted again.
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(dpop_jtis::table.filter(dpop_jtis::expires_at.lt(now))).execute(conn)?)
}
