//! Groups and their members (`porta group ...`, the console's groups pages). A group's name is what the `groups`
//! claim carries, so it is restricted to characters every relying app can map: letters, digits and `. _ - : /`.

use crate::db::models::{client_allowed_groups, group_members, groups, users};
use crate::db::{AnyConnection, StoreError, write_tx};

use super::{Actor, ManageError};

/// A group with its members, for listings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupInfo {
    pub name: String,
    pub description: Option<String>,
    pub members: Vec<String>,
}

/// Checks a group or role name: 1 to 64 characters from `A-Z a-z 0-9 . _ - : /`.
pub fn check_name(kind: &str, name: &str) -> Result<String, ManageError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:/".contains(&b));
    if !ok {
        return Err(ManageError::Invalid(format!(
            "{kind} name {name:?} must be 1 to 64 characters from letters, digits and . _ - : /"
        )));
    }
    Ok(name.to_string())
}

fn audit_group(
    c: &mut AnyConnection,
    actor: &Actor,
    action: &str,
    group: &str,
    detail: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    actor.record(c, action, Some(group), detail, now)
}

/// The group named `name`, or a one-line refusal.
pub fn find(c: &mut AnyConnection, name: &str) -> Result<groups::Group, ManageError> {
    groups::by_name(c, name)?
        .ok_or_else(|| ManageError::Invalid(format!("no group named {name:?}")))
}

fn find_user(c: &mut AnyConnection, username: &str) -> Result<users::User, ManageError> {
    users::by_username(c, username)?
        .ok_or_else(|| ManageError::Invalid(format!("no user named {username:?}")))
}

pub fn add(
    conn: &mut AnyConnection,
    name: &str,
    description: Option<&str>,
    actor: &Actor,
    now: i64,
) -> Result<groups::Group, ManageError> {
    let name = check_name("group", name)?;
    let description = description
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        return Err(ManageError::Invalid(
            "a group description is at most 500 characters".into(),
        ));
    }
    let group = groups::Group {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description,
        created_at: now,
    };
    write_tx(conn, |c| {
        groups::insert(c, &group).map_err(super::refused)?;
        audit_group(c, actor, "group.add", &group.name, None, now)?;
        Ok::<_, ManageError>(())
    })?;
    Ok(group)
}

pub fn remove(
    conn: &mut AnyConnection,
    name: &str,
    actor: &Actor,
    now: i64,
) -> Result<(), ManageError> {
    write_tx(conn, |c| {
        let g = find(c, name)?;
        // A client admitting only this group would admit everyone once it is gone: refuse instead.
        let admitting = client_allowed_groups::clients_admitting(c, &g.id)?;
        if !admitting.is_empty() {
            return Err(ManageError::Invalid(format!(
                "group {name:?} is an allowed group of client(s) {}: change their allowed groups first",
                admitting.join(", ")
            )));
        }
        groups::delete(c, &g.id)?;
        Ok(audit_group(c, actor, "group.remove", name, None, now)?)
    })
}

/// Every group with its members.
pub fn list(conn: &mut AnyConnection) -> Result<Vec<GroupInfo>, ManageError> {
    let mut out = Vec::new();
    for g in groups::list(conn)? {
        let members = group_members::usernames(conn, &g.id)?;
        out.push(GroupInfo {
            name: g.name,
            description: g.description,
            members,
        });
    }
    Ok(out)
}

/// The usernames in a group.
pub fn members(conn: &mut AnyConnection, name: &str) -> Result<Vec<String>, ManageError> {
    let g = find(conn, name)?;
    Ok(group_members::usernames(conn, &g.id)?)
}

/// Adds a user to a group. Returns false (and writes nothing) when they already were a member.
pub fn add_member(
    conn: &mut AnyConnection,
    name: &str,
    username: &str,
    actor: &Actor,
    now: i64,
) -> Result<bool, ManageError> {
    write_tx(conn, |c| {
        let g = find(c, name)?;
        let u = find_user(c, username)?;
        let added = group_members::add(c, &g.id, &u.id, now)?;
        if added {
            let detail = format!("user {username}");
            audit_group(c, actor, "group.add_member", name, Some(&detail), now)?;
        }
        Ok(added)
    })
}

/// Takes a user out of a group. Returns false when they were not a member.
pub fn remove_member(
    conn: &mut AnyConnection,
    name: &str,
    username: &str,
    actor: &Actor,
    now: i64,
) -> Result<bool, ManageError> {
    write_tx(conn, |c| {
        let g = find(c, name)?;
        let u = find_user(c, username)?;
        let removed = group_members::remove(c, &g.id, &u.id)?;
        if removed {
            let detail = format!("user {username}");
            audit_group(c, actor, "group.remove_member", name, Some(&detail), now)?;
        }
        Ok(removed)
    })
}

/// Resolves group names to ids, refusing unknown ones and dropping duplicates.
pub fn ids_for(c: &mut AnyConnection, names: &[String]) -> Result<Vec<String>, ManageError> {
    let mut ids: Vec<String> = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let g = find(c, n)?;
        if !ids.contains(&g.id) {
            ids.push(g.id);
        }
    }
    Ok(ids)
}
