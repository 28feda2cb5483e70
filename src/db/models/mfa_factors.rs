//! The `mfa_factors` table: a user's enrolled second factors. A TOTP factor holds its base32 secret and the last
//! time step accepted (replay refusal); a WebAuthn factor holds webauthn-rs's serialized credential, found by its
//! credential id (base64url) for passwordless sign-in.

use diesel::prelude::*;

use crate::db::schema::mfa_factors;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct Factor {
    pub id: String,
    pub user_id: String,
    /// `totp` or `webauthn`.
    pub kind: String,
    pub name: String,
    #[serde(skip)]
    pub secret: Option<String>,
    #[serde(skip)]
    pub credential_id: Option<String>,
    #[serde(skip)]
    pub credential: Option<String>,
    #[serde(skip)]
    pub last_step: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A factor to enrol.
#[derive(Debug, Clone)]
pub struct NewFactor<'a> {
    pub user_id: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub secret: Option<&'a str>,
    pub credential_id: Option<&'a str>,
    pub credential: Option<&'a str>,
    /// TOTP: the step of the code that confirmed the enrolment (it is not accepted again).
    pub last_step: Option<i64>,
}

/// Inserts a factor and returns its id.
pub fn insert(conn: &mut AnyConnection, f: &NewFactor<'_>, now: i64) -> Result<String, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(mfa_factors::table)
        .values((
            mfa_factors::id.eq(&id),
            mfa_factors::user_id.eq(f.user_id),
            mfa_factors::kind.eq(f.kind),
            mfa_factors::name.eq(f.name),
            mfa_factors::secret.eq(f.secret),
            mfa_factors::credential_id.eq(f.credential_id),
            mfa_factors::credential.eq(f.credential),
            mfa_factors::last_step.eq(f.last_step),
            mfa_factors::created_at.eq(now),
            mfa_factors::last_used_at.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(id)
}

/// A user's factors, oldest first.
pub fn for_user(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<Factor>, StoreError> {
    Ok(mfa_factors::table
        .filter(mfa_factors::user_id.eq(user_id))
        .order((mfa_factors::created_at.asc(), mfa_factors::id.asc()))
        .load(conn)?)
}

pub fn by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<Factor>, StoreError> {
    Ok(mfa_factors::table.find(id).first(conn).optional()?)
}

pub fn by_credential_id(
    conn: &mut AnyConnection,
    credential_id: &str,
) -> Result<Option<Factor>, StoreError> {
    Ok(mfa_factors::table
        .filter(mfa_factors::credential_id.eq(credential_id))
        .first(conn)
        .optional()?)
}

/// Records a TOTP code's acceptance, only if its step is later than the last one: `false` when another request
/// accepted this step (or a later one) first, so a code works once even when two requests race.
pub fn accept_step(
    conn: &mut AnyConnection,
    id: &str,
    step: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        mfa_factors::table.find(id).filter(
            mfa_factors::last_step
                .is_null()
                .or(mfa_factors::last_step.lt(step)),
        ),
    )
    .set((
        mfa_factors::last_step.eq(step),
        mfa_factors::last_used_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records a WebAuthn factor's use, with its updated credential (signature counter, backup state).
pub fn used(
    conn: &mut AnyConnection,
    id: &str,
    credential: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    match credential {
        Some(c) => diesel::update(mfa_factors::table.find(id))
            .set((
                mfa_factors::credential.eq(c),
                mfa_factors::last_used_at.eq(now),
            ))
            .execute(conn)?,
        None => diesel::update(mfa_factors::table.find(id))
            .set(mfa_factors::last_used_at.eq(now))
            .execute(conn)?,
    };
    Ok(())
}

/// Removes one of a user's factors; `false` when the user has no such factor.
pub fn delete(conn: &mut AnyConnection, user_id: &str, id: &str) -> Result<bool, StoreError> {
    let n = diesel::delete(
        mfa_factors::table
            .find(id)
            .filter(mfa_factors::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Removes every factor of a user; returns how many.
pub fn delete_all(conn: &mut AnyConnection, user_id: &str) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(mfa_factors::table.filter(mfa_factors::user_id.eq(user_id)))
            .execute(conn)?,
    )
}

/// Every factor with a stored (sealed) secret: for `keys rotate-master`.
pub fn all_with_secret(conn: &mut AnyConnection) -> Result<Vec<Factor>, StoreError> {
    Ok(mfa_factors::table
        .filter(mfa_factors::secret.is_not_null())
        .order(mfa_factors::id.asc())
        .load(conn)?)
}

/// Replaces a factor's sealed secret (a master key rotation).
pub fn set_secret(conn: &mut AnyConnection, id: &str, secret: &str) -> Result<(), StoreError> {
    diesel::update(mfa_factors::table.find(id))
        .set(mfa_factors::secret.eq(secret))
        .execute(conn)?;
    Ok(())
}
