//! The `groups` table: named sets of users. Membership (`group_members`) gives the `groups` claim, admits users
//! to clients that name allowed groups (`client_allowed_groups`), and grants app roles (`client_roles`).

use diesel::prelude::*;

use crate::db::schema::groups;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: i64,
}

pub fn insert(conn: &mut AnyConnection, g: &Group) -> Result<(), StoreError> {
    diesel::insert_into(groups::table)
        .values((
            groups::id.eq(&g.id),
            groups::name.eq(&g.name),
            groups::description.eq(g.description.as_deref()),
            groups::created_at.eq(g.created_at),
        ))
        .execute(conn)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("group {:?} already exists", g.name))
            }
            other => other,
        })?;
    Ok(())
}

pub fn by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<Group>, StoreError> {
    Ok(groups::table
        .filter(groups::name.eq(name))
        .first(conn)
        .optional()?)
}

/// Every group by name.
pub fn list(conn: &mut AnyConnection) -> Result<Vec<Group>, StoreError> {
    Ok(groups::table.order(groups::name.asc()).load(conn)?)
}

/// Deletes a group; memberships, client admissions and role grants go with it (ON DELETE CASCADE).
pub fn delete(conn: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    diesel::delete(groups::table.find(id)).execute(conn)?;
    Ok(())
}
