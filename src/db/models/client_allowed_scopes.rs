//! The `client_allowed_scopes` table: the API scopes a client may be granted.

use diesel::prelude::*;

use crate::db::schema::client_allowed_scopes;
use crate::db::{AnyConnection, StoreError};

/// The API scopes a client may be granted, sorted.
pub fn list(conn: &mut AnyConnection, client_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(client_allowed_scopes::table
        .filter(client_allowed_scopes::client_id.eq(client_id))
        .select(client_allowed_scopes::scope)
        .order(client_allowed_scopes::scope.asc())
        .load(conn)?)
}

/// Replaces the API scopes a client may be granted.
pub fn set(conn: &mut AnyConnection, client_id: &str, scopes: &[String]) -> Result<(), StoreError> {
    diesel::delete(
        client_allowed_scopes::table.filter(client_allowed_scopes::client_id.eq(client_id)),
    )
    .execute(conn)?;
    for s in scopes {
        diesel::insert_into(client_allowed_scopes::table)
            .values((
                client_allowed_scopes::client_id.eq(client_id),
                client_allowed_scopes::scope.eq(s),
            ))
            .execute(conn)?;
    }
    Ok(())
}
