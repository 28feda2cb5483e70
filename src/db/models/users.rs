//! The `users` table: people who sign in.

use diesel::prelude::*;

use crate::db::schema::users;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(skip)]
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The last password set or disable: access tokens issued before it are refused.
    pub credentials_changed_at: i64,
    /// Whether an admin has confirmed the email address belongs to the user (`email_verified`).
    pub email_verified: bool,
}

impl User {
    /// Whether a token issued at `iat` still speaks for this user: not disabled, and not issued before the
    /// last password set or disable.
    pub fn accepts_token_issued_at(&self, iat: i64) -> bool {
        !self.disabled && iat >= self.credentials_changed_at
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub password_hash: &'a str,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut AnyConnection, new: &NewUser<'_>) -> Result<(), StoreError> {
    diesel::insert_into(users::table)
        .values(new)
        .execute(conn)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("user {:?} already exists", new.username))
            }
            other => other,
        })?;
    Ok(())
}

/// How many admins there are (the last one cannot be removed).
pub fn admin_count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(users::table
        .filter(users::is_admin.eq(true))
        .count()
        .get_result(conn)?)
}

pub fn count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(users::table.count().get_result(conn)?)
}

pub fn by_username(conn: &mut AnyConnection, username: &str) -> Result<Option<User>, StoreError> {
    Ok(users::table
        .filter(users::username.eq(username))
        .first(conn)
        .optional()?)
}

pub fn by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<User>, StoreError> {
    Ok(users::table.find(id).first(conn).optional()?)
}

/// Users ordered by name; `search` matches a substring of the username, name or email.
pub fn list(
    conn: &mut AnyConnection,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<User>, StoreError> {
    let mut q = users::table.into_boxed();
    if let Some(s) = search.filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", s.replace(['%', '_'], ""));
        q = q.filter(
            users::username
                .like(pattern.clone())
                .or(users::name.like(pattern.clone()))
                .or(users::email.like(pattern)),
        );
    }
    Ok(q.order(users::username.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}

fn updated(rows: usize, username: &str) -> Result<(), StoreError> {
    if rows == 0 {
        return Err(StoreError::Conflict(format!("no user named {username:?}")));
    }
    Ok(())
}

pub fn set_disabled(
    conn: &mut AnyConnection,
    username: &str,
    disabled: bool,
    now: i64,
) -> Result<(), StoreError> {
    let n = diesel::update(users::table.filter(users::username.eq(username)))
        .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
        .execute(conn)?;
    updated(n, username)
}

pub fn set_admin(
    conn: &mut AnyConnection,
    username: &str,
    is_admin: bool,
    now: i64,
) -> Result<(), StoreError> {
    let n = diesel::update(users::table.filter(users::username.eq(username)))
        .set((users::is_admin.eq(is_admin), users::updated_at.eq(now)))
        .execute(conn)?;
    updated(n, username)
}

/// Records a credential change: access tokens issued before `now` are refused from now on.
pub fn set_credentials_changed(
    conn: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(user_id))
        .set(users::credentials_changed_at.eq(now))
        .execute(conn)?;
    Ok(())
}

pub fn set_password_hash(
    conn: &mut AnyConnection,
    username: &str,
    hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    let n = diesel::update(users::table.filter(users::username.eq(username)))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)?;
    updated(n, username)
}

/// A change to a user's profile (`porta user update`, the console): each `None` leaves the field as it is;
/// `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub email: Option<Option<String>>,
    pub name: Option<Option<String>>,
    pub email_verified: Option<bool>,
}

/// Writes `user`'s email, name and email_verified as given.
pub fn update_profile(conn: &mut AnyConnection, user: &User, now: i64) -> Result<(), StoreError> {
    let n = diesel::update(users::table.find(&user.id))
        .set((
            users::email.eq(user.email.as_deref()),
            users::name.eq(user.name.as_deref()),
            users::email_verified.eq(user.email_verified),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    updated(n, &user.username)
}

/// Deletes a user row; sessions, codes, refresh tokens, consents and memberships go with it (ON DELETE CASCADE).
pub fn delete(conn: &mut AnyConnection, user_id: &str) -> Result<(), StoreError> {
    diesel::delete(users::table.find(user_id)).execute(conn)?;
    Ok(())
}
