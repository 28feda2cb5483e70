//! Ending sign-in sessions from the admin console. Deleting the row ends the session on every instance; what was
//! bound to it (online refresh tokens, back-channel logout) ends in the same transaction (`security`).

use crate::db::models::sessions;
use crate::db::{AnyConnection, write_tx};

use super::security::{self, Sessions};
use super::{Actor, ManageError};

/// Ends one session of `user_id`; a session of another user is refused.
pub fn end(
    conn: &mut AnyConnection,
    user_id: &str,
    username: &str,
    session_id: &str,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    write_tx(conn, |c| {
        let row = sessions::find(c, session_id)?
            .filter(|s| s.user_id.as_deref() == Some(user_id))
            .ok_or_else(|| ManageError::Invalid("that session has already ended".into()))?;
        security::end_sessions(c, user_id, Sessions::One(&row.id), now)?;
        actor.record(c, "session.end", Some(username), None, now)?;
        Ok(())
    })
}

/// Ends every session of a user and revokes every refresh token they hold, offline ones too: they must sign in
/// again everywhere. Returns how many sessions ended.
pub fn end_all(
    conn: &mut AnyConnection,
    user_id: &str,
    username: &str,
    actor: &Actor,
    now: i64,
) -> Result<usize, ManageError> {
    write_tx(conn, |c| {
        let n = security::revoke_everything(c, user_id, now)?;
        let detail = format!("{n} sessions; every refresh token revoked");
        actor.record(c, "session.end_all", Some(username), Some(&detail), now)?;
        Ok(n)
    })
}
