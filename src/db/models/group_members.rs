//! The `group_members` table: which users are in which group.

use diesel::prelude::*;

use crate::db::schema::{group_members, groups, users};
use crate::db::{AnyConnection, StoreError};

/// Adds a member; returns false when they already were one.
pub fn add(
    conn: &mut AnyConnection,
    group_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let exists = group_members::table
        .find((group_id, user_id))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if exists {
        return Ok(false);
    }
    diesel::insert_into(group_members::table)
        .values((
            group_members::group_id.eq(group_id),
            group_members::user_id.eq(user_id),
            group_members::added_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Removes a member; returns whether they were one.
pub fn remove(conn: &mut AnyConnection, group_id: &str, user_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(group_members::table.find((group_id, user_id))).execute(conn)? == 1)
}

/// The usernames in a group, sorted.
pub fn usernames(conn: &mut AnyConnection, group_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(group_members::table
        .inner_join(users::table)
        .filter(group_members::group_id.eq(group_id))
        .select(users::username)
        .order(users::username.asc())
        .load(conn)?)
}

/// The names of a user's groups, sorted.
pub fn group_names(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(group_members::table
        .inner_join(groups::table)
        .filter(group_members::user_id.eq(user_id))
        .select(groups::name)
        .order(groups::name.asc())
        .load(conn)?)
}

/// The ids of a user's groups.
pub fn group_ids(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(group_members::table
        .filter(group_members::user_id.eq(user_id))
        .select(group_members::group_id)
        .load(conn)?)
}

/// How many rows name the user (after a removal: none).
pub fn count_for_user(conn: &mut AnyConnection, user_id: &str) -> Result<i64, StoreError> {
    Ok(group_members::table
        .filter(group_members::user_id.eq(user_id))
        .count()
        .get_result(conn)?)
}
