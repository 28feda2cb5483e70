//! Ending sign-in sessions from the admin console. Deleting the row ends the session on every instance; what was
//! bound to it (online refresh tokens, back-channel logout) ends in the same transaction (`security`).

use crate::db::models::{audit, sessions};
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
        audit::record(
            c,
            &audit::Event {
                actor: actor.name.as_deref(),
                action: "session.end",
                target: Some(username),
                ip: actor.ip.as_deref(),
                detail: None,
            },
            now,
        )?;
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
        audit::record(
            c,
            &audit::Event {
                actor: actor.name.as_deref(),
                action: "session.end_all",
                target: Some(username),
                ip: actor.ip.as_deref(),
                detail: Some(&detail),
            },
            now,
        )?;
        Ok(n)
    })
}
