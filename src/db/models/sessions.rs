//! The `sessions` table: browser sign-in sessions behind actix-session (see `session::store`). The row id is the
//! SHA-256 of the cookie's session key, so the table alone never lets anyone take a session over. `user_id` and
//! `auth_time` mirror the session state so admins can list and end a user's sessions on every instance at once.

use diesel::prelude::*;

use crate::db::schema::sessions;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct SessionRow {
    /// SHA-256 (hex) of the session key the browser holds.
    pub id: String,
    pub user_id: Option<String>,
    /// The actix-session state: a JSON object of JSON-encoded values.
    #[serde(skip)]
    pub state: String,
    pub created_at: i64,
    pub auth_time: Option<i64>,
    pub last_seen_at: i64,
    /// When the row may be purged: the earlier of the idle and the absolute end, as of the last write.
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session id given to relying parties (the ID token's `sid`), mirrored from the state.
    pub sid: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: Option<&'a str>,
    pub state: &'a str,
    pub created_at: i64,
    pub auth_time: Option<i64>,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub sid: Option<&'a str>,
}

/// The columns a state change rewrites.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = sessions, treat_none_as_null = true)]
pub struct SessionChanges<'a> {
    pub user_id: Option<&'a str>,
    pub state: &'a str,
    pub auth_time: Option<i64>,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub sid: Option<&'a str>,
}

pub fn insert(conn: &mut AnyConnection, new: &NewSession<'_>) -> Result<(), StoreError> {
    diesel::insert_into(sessions::table)
        .values(new)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(sessions::table.find(id).first(conn).optional()?)
}

/// Rewrites a session's state; returns whether the row still existed.
pub fn update(
    conn: &mut AnyConnection,
    id: &str,
    changes: &SessionChanges<'_>,
) -> Result<bool, StoreError> {
    let n = diesel::update(sessions::table.find(id))
        .set(changes)
        .execute(conn)?;
    Ok(n == 1)
}

/// Records activity: moves `last_seen_at` and the purge time forward.
pub fn touch(
    conn: &mut AnyConnection,
    id: &str,
    last_seen_at: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    diesel::update(sessions::table.find(id))
        .set((
            sessions::last_seen_at.eq(last_seen_at),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends one session; returns whether it existed.
pub fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(sessions::table.find(id)).execute(conn)? == 1)
}

/// Deletes every session row of a user without anything else; security events use `manage::security`.
pub fn delete_for_user(conn: &mut AnyConnection, user_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?)
}

/// The session that carries `sid` (the ID token's session id), if it still exists.
pub fn by_sid(conn: &mut AnyConnection, sid: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(sessions::table
        .filter(sessions::sid.eq(sid))
        .first(conn)
        .optional()?)
}

/// Every session row of a user, ended or not (security events end them all).
pub fn all_for_user(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<SessionRow>, StoreError> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .load(conn)?)
}

/// A user's sessions that have not reached their purge time, newest sign-in first.
pub fn list_for_user(
    conn: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionRow>, StoreError> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now))
        .order((sessions::auth_time.desc(), sessions::id.asc()))
        .load(conn)?)
}

/// Removes sessions whose purge time is at or before `now`.
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?)
}
