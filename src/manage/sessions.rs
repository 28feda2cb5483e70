//! Ending sign-in sessions from the admin console. Deleting the row ends the session on every instance.

use crate::db::models::{audit, sessions};
use crate::db::{AnyConnection, write_tx};

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
        sessions::delete(c, &row.id)?;
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

/// Ends every session of a user. Returns how many ended.
pub fn end_all(
    conn: &mut AnyConnection,
    user_id: &str,
    username: &str,
    actor: &Actor,
    now: i64,
) -> Result<usize, ManageError> {
    write_tx(conn, |c| {
        let n = sessions::delete_for_user(c, user_id)?;
        let detail = format!("{n} sessions");
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
