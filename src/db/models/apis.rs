//! The `apis` table: resource servers that accept Porta's access tokens. An API's `identifier` (an absolute URI)
//! is the `aud` of tokens granted its scopes and the RFC 8707 `resource` value that names it.

use diesel::prelude::*;

use crate::db::schema::apis;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct Api {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut AnyConnection, a: &Api) -> Result<(), StoreError> {
    diesel::insert_into(apis::table)
        .values((
            apis::id.eq(&a.id),
            apis::identifier.eq(&a.identifier),
            apis::name.eq(&a.name),
            apis::created_at.eq(a.created_at),
            apis::updated_at.eq(a.updated_at),
        ))
        .execute(conn)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "an API with identifier {:?} already exists",
                a.identifier
            )),
            other => other,
        })?;
    Ok(())
}

pub fn by_identifier(
    conn: &mut AnyConnection,
    identifier: &str,
) -> Result<Option<Api>, StoreError> {
    Ok(apis::table
        .filter(apis::identifier.eq(identifier))
        .first(conn)
        .optional()?)
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<Api>, StoreError> {
    Ok(apis::table.order(apis::identifier.asc()).load(conn)?)
}

pub fn set_name(
    conn: &mut AnyConnection,
    id: &str,
    name: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(apis::table.find(id))
        .set((apis::name.eq(name), apis::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Deletes an API; its scopes and the clients' permissions for them go with it (ON DELETE CASCADE).
pub fn delete(conn: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    diesel::delete(apis::table.find(id)).execute(conn)?;
    Ok(())
}
