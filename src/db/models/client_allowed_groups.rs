//! The `client_allowed_groups` table: the groups whose members may sign in to a client. None means everyone.

use diesel::prelude::*;

use crate::db::schema::{client_allowed_groups, groups};
use crate::db::{AnyConnection, StoreError};

/// The names of the groups a client admits, sorted.
pub fn names(conn: &mut AnyConnection, client_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(client_allowed_groups::table
        .inner_join(groups::table)
        .filter(client_allowed_groups::client_id.eq(client_id))
        .select(groups::name)
        .order(groups::name.asc())
        .load(conn)?)
}

/// The ids of the groups a client admits.
pub fn ids(conn: &mut AnyConnection, client_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(client_allowed_groups::table
        .filter(client_allowed_groups::client_id.eq(client_id))
        .select(client_allowed_groups::group_id)
        .load(conn)?)
}

/// Replaces the groups a client admits.
pub fn set(
    conn: &mut AnyConnection,
    client_id: &str,
    group_ids: &[String],
) -> Result<(), StoreError> {
    diesel::delete(
        client_allowed_groups::table.filter(client_allowed_groups::client_id.eq(client_id)),
    )
    .execute(conn)?;
    for g in group_ids {
        diesel::insert_into(client_allowed_groups::table)
            .values((
                client_allowed_groups::client_id.eq(client_id),
                client_allowed_groups::group_id.eq(g),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The clients that admit a group (by its id).
pub fn clients_admitting(
    conn: &mut AnyConnection,
    group_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(client_allowed_groups::table
        .filter(client_allowed_groups::group_id.eq(group_id))
        .select(client_allowed_groups::client_id)
        .order(client_allowed_groups::client_id.asc())
        .load(conn)?)
}
