//! The `pushed_requests` table: authorization requests pushed to `/par` (RFC 9126), stored as their validated
//! parameters under the SHA-256 of the random part of their `request_uri`. Each is used once: `/authorize` takes
//! it with a conditional delete, so of two concurrent uses exactly one gets the parameters.

use diesel::prelude::*;

use crate::db::schema::pushed_requests;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = pushed_requests)]
pub struct NewPushedRequest {
    pub uri_hash: String,
    pub client_id: String,
    /// The pushed parameters as a JSON array of `[name, value]` pairs.
    pub params: String,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn insert(conn: &mut AnyConnection, new: &NewPushedRequest) -> Result<(), StoreError> {
    diesel::insert_into(pushed_requests::table)
        .values(new)
        .execute(conn)?;
    Ok(())
}

/// Takes the pushed request of `uri_hash` for `client_id` if it is unexpired at `now`: returns its parameters
/// and deletes it. `None` when it is unknown, expired, already taken, or pushed by another client (left alone:
/// whoever names the wrong client cannot spend someone else's request). Call inside a write transaction.
pub fn take(
    conn: &mut AnyConnection,
    uri_hash: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let found: Option<String> = pushed_requests::table
        .find(uri_hash)
        .filter(pushed_requests::client_id.eq(client_id))
        .filter(pushed_requests::expires_at.gt(now))
        .select(pushed_requests::params)
        .first(conn)
        .optional()?;
    let Some(params) = found else {
        return Ok(None);
    };
    let deleted = diesel::delete(
        pushed_requests::table
            .find(uri_hash)
            .filter(pushed_requests::client_id.eq(client_id)),
    )
    .execute(conn)?;
    Ok((deleted == 1).then_some(params))
}

/// Removes requests that expired before `now`.
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(pushed_requests::table.filter(pushed_requests::expires_at.le(now)))
            .execute(conn)?,
    )
}
