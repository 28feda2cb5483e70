//! Security events: what ending a sign-in session or changing a user's credentials must end with it. Each
//! function runs inside the caller's write transaction, beside the event's own rows and audit entry, so the event
//! and its consequences commit together or not at all (DESIGN.md, Sessions).
//!
//! - A session ends: its row goes, the online refresh families bound to its `sid` are revoked with the access
//!   tokens issued beside them, and every client that got a code in it is queued a back-channel logout token.
//! - Credentials change (a password set by any path, a disable): every session ends (a self-service change
//!   keeps the current one), every refresh family, online and offline, is revoked, and access tokens issued
//!   before now are refused by userinfo and introspection (`users.credentials_changed_at`).

use crate::db::models::refresh_tokens::{self, Families};
use crate::db::models::{sessions, users};
use crate::db::{AnyConnection, StoreError};

/// Which of a user's sessions an event ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions<'a> {
    All,
    /// All but the session with this `sid` (the person who made the change stays signed in).
    AllExcept(&'a str),
    /// The session row with this id.
    One(&'a str),
}

/// Ends a user's sessions as `which` says. Returns how many session rows ended.
pub fn end_sessions(
    conn: &mut AnyConnection,
    user_id: &str,
    which: Sessions<'_>,
    now: i64,
) -> Result<usize, StoreError> {
    let rows = sessions::all_for_user(conn, user_id)?;
    let mut ended = 0;
    for row in rows {
        let chosen = match which {
            Sessions::All => true,
            Sessions::AllExcept(keep) => row.sid.as_deref() != Some(keep),
            Sessions::One(id) => row.id == id,
        };
        if !chosen {
            continue;
        }
        sessions::delete(conn, &row.id)?;
        if let Some(sid) = &row.sid {
            session_ended(conn, user_id, sid, now)?;
        }
        ended += 1;
    }
    Ok(ended)
}

/// Ends the session with `sid` (RP-initiated logout, the account page's sign-out). Whatever was bound to the
/// session ends even when its row is already gone (expired). Returns whether a row was deleted.
pub fn end_session_by_sid(
    conn: &mut AnyConnection,
    user_id: &str,
    sid: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let row = sessions::by_sid(conn, sid)?.filter(|r| r.user_id.as_deref() == Some(user_id));
    if let Some(row) = &row {
        sessions::delete(conn, &row.id)?;
    }
    session_ended(conn, user_id, sid, now)?;
    Ok(row.is_some())
}

/// What ending the SSO session `sid` ends beyond its row.
fn session_ended(
    conn: &mut AnyConnection,
    user_id: &str,
    sid: &str,
    now: i64,
) -> Result<(), StoreError> {
    refresh_tokens::revoke_families(conn, Families::OnlineOfSession(sid), now)?;
    crate::backchannel::enqueue_session_ended(conn, user_id, sid, now)?;
    Ok(())
}

/// A password was set or the user disabled: end their sessions (all but `keep`'s `sid`), revoke every refresh
/// family, and refuse access tokens issued before `now`.
pub fn credentials_changed(
    conn: &mut AnyConnection,
    user_id: &str,
    keep: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    users::set_credentials_changed(conn, user_id, now)?;
    let which = keep.map_or(Sessions::All, Sessions::AllExcept);
    end_sessions(conn, user_id, which, now)?;
    refresh_tokens::revoke_families(conn, Families::OfUser(user_id), now)?;
    Ok(())
}

/// An admin revoked everything a user holds: every session and every refresh family, offline ones included.
pub fn revoke_everything(
    conn: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let n = end_sessions(conn, user_id, Sessions::All, now)?;
    refresh_tokens::revoke_families(conn, Families::OfUser(user_id), now)?;
    Ok(n)
}
