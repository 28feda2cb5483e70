//! The `client_roles` table: app roles, each granted in one client by one or more groups.

use diesel::prelude::*;

use crate::db::schema::{client_roles, group_members, groups};
use crate::db::{AnyConnection, StoreError};

/// A role and the group names that grant it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Role {
    pub role: String,
    pub groups: Vec<String>,
}

/// Every role of a client with its groups, sorted by role.
pub fn list(conn: &mut AnyConnection, client_id: &str) -> Result<Vec<Role>, StoreError> {
    let rows: Vec<(String, String)> = client_roles::table
        .inner_join(groups::table)
        .filter(client_roles::client_id.eq(client_id))
        .select((client_roles::role, groups::name))
        .order((client_roles::role.asc(), groups::name.asc()))
        .load(conn)?;
    let mut out: Vec<Role> = Vec::new();
    for (role, group) in rows {
        match out.last_mut() {
            Some(last) if last.role == role => last.groups.push(group),
            _ => out.push(Role {
                role,
                groups: vec![group],
            }),
        }
    }
    Ok(out)
}

/// Replaces the groups that grant `role` in a client.
pub fn set(
    conn: &mut AnyConnection,
    client_id: &str,
    role: &str,
    group_ids: &[String],
) -> Result<(), StoreError> {
    remove(conn, client_id, role)?;
    for g in group_ids {
        diesel::insert_into(client_roles::table)
            .values((
                client_roles::client_id.eq(client_id),
                client_roles::role.eq(role),
                client_roles::group_id.eq(g),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Removes a role from a client; returns how many grants went.
pub fn remove(conn: &mut AnyConnection, client_id: &str, role: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        client_roles::table
            .filter(client_roles::client_id.eq(client_id))
            .filter(client_roles::role.eq(role)),
    )
    .execute(conn)?)
}

/// The roles a user holds in a client through their groups, sorted and unique.
pub fn for_user(
    conn: &mut AnyConnection,
    client_id: &str,
    user_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut roles: Vec<String> = client_roles::table
        .inner_join(group_members::table.on(group_members::group_id.eq(client_roles::group_id)))
        .filter(client_roles::client_id.eq(client_id))
        .filter(group_members::user_id.eq(user_id))
        .select(client_roles::role)
        .load(conn)?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}
