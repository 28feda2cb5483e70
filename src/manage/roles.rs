//! App roles (`porta client role ...`): a role in one client, granted to the members of one or more groups. The
//! `roles` claim carries the user's roles for the client that asks, and no other client's.

use crate::db::models::{client_roles, clients};
use crate::db::{AnyConnection, write_tx};

use super::{Actor, ManageError};

fn client_exists(c: &mut AnyConnection, client_id: &str) -> Result<(), ManageError> {
    clients::by_id(c, client_id)?
        .map(|_| ())
        .ok_or_else(|| ManageError::Invalid(format!("no client with id {client_id:?}")))
}

fn audit_role(
    c: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    client_id: &str,
    detail: &str,
    now: i64,
) -> Result<(), ManageError> {
    Ok(actor.record(c, action, Some(client_id), Some(detail), now)?)
}

/// Sets the groups that grant `role` in a client (replacing earlier ones for that role).
pub fn add(
    conn: &mut AnyConnection,
    client_id: &str,
    role: &str,
    groups: &[String],
    actor: &Actor,
    now: i64,
) -> Result<client_roles::Role, ManageError> {
    let role = super::groups::check_name("role", role)?;
    if groups.iter().all(|g| g.trim().is_empty()) {
        return Err(ManageError::Invalid(
            "a role needs at least one --group that grants it".into(),
        ));
    }
    write_tx(conn, |c| {
        client_exists(c, client_id)?;
        let ids = super::groups::ids_for(c, groups)?;
        client_roles::set(c, client_id, &role, &ids)?;
        let saved = client_roles::list(c, client_id)?
            .into_iter()
            .find(|r| r.role == role)
            .ok_or_else(|| ManageError::Invalid("the role was not saved".into()))?;
        let detail = format!("role {role}: groups {}", saved.groups.join(" "));
        audit_role(c, actor, "client.role_add", client_id, &detail, now)?;
        Ok(saved)
    })
}

pub fn list(
    conn: &mut AnyConnection,
    client_id: &str,
) -> Result<Vec<client_roles::Role>, ManageError> {
    client_exists(conn, client_id)?;
    Ok(client_roles::list(conn, client_id)?)
}

pub fn remove(
    conn: &mut AnyConnection,
    client_id: &str,
    role: &str,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    write_tx(conn, |c| {
        client_exists(c, client_id)?;
        if client_roles::remove(c, client_id, role)? == 0 {
            return Err(ManageError::Invalid(format!(
                "client {client_id:?} has no role {role:?}"
            )));
        }
        audit_role(
            c,
            actor,
            "client.role_remove",
            client_id,
            &format!("role {role}"),
            now,
        )
    })
}
