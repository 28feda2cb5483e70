//! The `session_clients` table: which clients were given a code in which SSO session (`sid`), so that when the
//! session ends every one of them can be told (OIDC Back-Channel Logout 1.0, 2.7).

use diesel::prelude::*;

use crate::db::schema::session_clients;
use crate::db::{AnyConnection, StoreError};

/// Records that `client_id` got a code in session `sid` (once per pair; later codes change nothing).
pub fn record(
    conn: &mut AnyConnection,
    sid: &str,
    client_id: &str,
    user_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    let known = session_clients::table
        .find((sid, client_id))
        .count()
        .get_result::<i64>(conn)?;
    if known == 0 {
        diesel::insert_into(session_clients::table)
            .values((
                session_clients::sid.eq(sid),
                session_clients::client_id.eq(client_id),
                session_clients::user_id.eq(user_id),
                session_clients::first_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The clients that got a code in session `sid`.
pub fn clients_of(conn: &mut AnyConnection, sid: &str) -> Result<Vec<String>, StoreError> {
    Ok(session_clients::table
        .filter(session_clients::sid.eq(sid))
        .select(session_clients::client_id)
        .order(session_clients::client_id.asc())
        .load(conn)?)
}

/// Forgets a session once its clients have been told.
pub fn forget(conn: &mut AnyConnection, sid: &str) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(session_clients::table.filter(session_clients::sid.eq(sid)))
            .execute(conn)?,
    )
}

/// Forgets every session's clients recorded before `before` (those sessions have ended by then).
pub fn purge_before(conn: &mut AnyConnection, before: i64) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(session_clients::table.filter(session_clients::first_at.lt(before)))
            .execute(conn)?,
    )
}
