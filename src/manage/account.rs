//! What a signed-in person may do to their own account (`/account`): change their password, end their other
//! sessions, and withdraw an application's consent. Each runs in one transaction with its audit row; what the
//! event must end ends in the same transaction (`security`).

use crate::db::models::refresh_tokens::{self, Families};
use crate::db::models::{consents, users};
use crate::db::{AnyConnection, StoreError, write_tx};

use super::security::{self, Sessions};
use super::{Actor, ManageError};

/// Changes the person's own password; the caller has checked the current one (throttled, like a sign-in).
/// Every other session and every refresh token ends; the session with sid `current_sid` stays. Runs argon2:
/// call it from a blocking context.
pub fn change_own_password(
    conn: &mut AnyConnection,
    user_id: &str,
    new_password: &str,
    current_sid: &str,
    policy: &crate::config::PasswordSettings,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    let user = users::by_id(conn, user_id)?.ok_or(StoreError::NotFound)?;
    super::users::change_password(
        conn,
        &user.username,
        new_password,
        Some(current_sid),
        policy,
        actor,
        now,
    )
}

/// Ends one of the person's own sessions (by row id), with the application sign-ins bound to it.
pub fn end_own_session(
    conn: &mut AnyConnection,
    user_id: &str,
    session_id: &str,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    write_tx(conn, |c| {
        let n = security::end_sessions(c, user_id, Sessions::One(session_id), now)?;
        if n == 0 {
            return Err(ManageError::Invalid(
                "That session has already ended.".into(),
            ));
        }
        Ok(actor.record(c, "account.session_end", actor.name.as_deref(), None, now)?)
    })
}

/// Ends every session of the person but the one with sid `current_sid`. Returns how many ended.
pub fn end_other_sessions(
    conn: &mut AnyConnection,
    user_id: &str,
    current_sid: &str,
    actor: &Actor,
    now: i64,
) -> Result<usize, ManageError> {
    write_tx(conn, |c| {
        let n = security::end_sessions(c, user_id, Sessions::AllExcept(current_sid), now)?;
        let detail = format!("{n} sessions");
        actor.record(
            c,
            "account.sessions_end_others",
            actor.name.as_deref(),
            Some(&detail),
            now,
        )?;
        Ok(n)
    })
}

/// Withdraws the consent given to a client and revokes every refresh token the person holds for it.
pub fn revoke_app(
    conn: &mut AnyConnection,
    user_id: &str,
    client_id: &str,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    write_tx(conn, |c| {
        let had_consent = consents::revoke(c, user_id, client_id)?;
        let families =
            refresh_tokens::revoke_families(c, Families::OfUserForClient(user_id, client_id), now)?;
        if !had_consent && families == 0 {
            return Err(ManageError::Invalid(
                "That application has no access to revoke.".into(),
            ));
        }
        Ok(actor.record(
            c,
            "account.app_revoke",
            actor.name.as_deref(),
            Some(client_id),
            now,
        )?)
    })
}
