//! The `signing_keys` table: one row per key of any family (`alg`), public members in clear (`n`, `e` for RSA;
//! `x`, `y` for EC, `x` for Ed25519), the private key sealed (or erased, once
//! retired or revoked), and the timestamps the lifecycle is derived from (see `keys::lifecycle`).

use std::fmt;

use diesel::prelude::*;

use crate::db::schema::signing_keys;
use crate::db::{AnyConnection, StoreError};

/// A stored key. `Debug` leaves out the sealed private key.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKey {
    pub kid: String,
    pub alg: String,
    pub bits: i32,
    pub public_n: String,
    pub public_e: String,
    pub sealed_private: Option<Vec<u8>>,
    pub master_key_id: String,
    pub created_at: i64,
    pub published_at: i64,
    pub activates_at: i64,
    pub superseded_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
    pub public_x: Option<String>,
    pub public_y: Option<String>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("bits", &self.bits)
            .field("sealed", &self.sealed_private.is_some())
            .field("published_at", &self.published_at)
            .field("activates_at", &self.activates_at)
            .field("superseded_at", &self.superseded_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// A key to insert.
#[derive(Insertable)]
#[diesel(table_name = signing_keys)]
pub struct NewSigningKey<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub bits: i32,
    pub public_n: &'a str,
    pub public_e: &'a str,
    pub sealed_private: Option<&'a [u8]>,
    pub master_key_id: &'a str,
    pub created_at: i64,
    pub published_at: i64,
    pub activates_at: i64,
    pub superseded_at: Option<i64>,
    pub public_x: Option<&'a str>,
    pub public_y: Option<&'a str>,
}

/// Every key, oldest activation first.
pub fn all(conn: &mut AnyConnection) -> Result<Vec<SigningKey>, StoreError> {
    Ok(signing_keys::table
        .select(SigningKey::as_select())
        .order((signing_keys::activates_at.asc(), signing_keys::kid.asc()))
        .load(conn)?)
}

pub fn find(conn: &mut AnyConnection, kid: &str) -> Result<SigningKey, StoreError> {
    Ok(signing_keys::table
        .find(kid)
        .select(SigningKey::as_select())
        .first(conn)?)
}

pub fn insert(conn: &mut AnyConnection, key: &NewSigningKey<'_>) -> Result<(), StoreError> {
    diesel::insert_into(signing_keys::table)
        .values(key)
        .execute(conn)?;
    Ok(())
}

/// Records when `kid` stops signing (its successor's activation).
pub fn set_superseded(conn: &mut AnyConnection, kid: &str, at: i64) -> Result<(), StoreError> {
    diesel::update(signing_keys::table.find(kid))
        .set(signing_keys::superseded_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// Moves the activation of `kid` (a promotion).
pub fn set_activates(conn: &mut AnyConnection, kid: &str, at: i64) -> Result<(), StoreError> {
    diesel::update(signing_keys::table.find(kid))
        .set(signing_keys::activates_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// Marks `kid` revoked and erases its private key in the same statement.
pub fn revoke(
    conn: &mut AnyConnection,
    kid: &str,
    at: i64,
    reason: &str,
) -> Result<(), StoreError> {
    diesel::update(signing_keys::table.find(kid))
        .set((
            signing_keys::revoked_at.eq(at),
            signing_keys::revoke_reason.eq(reason),
            signing_keys::sealed_private.eq(None::<Vec<u8>>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces a key's sealed private key (master key rotation).
pub fn set_sealed(
    conn: &mut AnyConnection,
    kid: &str,
    sealed: &[u8],
    master_key_id: &str,
) -> Result<(), StoreError> {
    diesel::update(signing_keys::table.find(kid))
        .set((
            signing_keys::sealed_private.eq(sealed),
            signing_keys::master_key_id.eq(master_key_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Erases the sealed private key of each of `kids`; the rows stay for the audit trail.
pub fn erase_private(conn: &mut AnyConnection, kids: &[String]) -> Result<usize, StoreError> {
    if kids.is_empty() {
        return Ok(0);
    }
    Ok(
        diesel::update(signing_keys::table.filter(signing_keys::kid.eq_any(kids)))
            .set(signing_keys::sealed_private.eq(None::<Vec<u8>>))
            .execute(conn)?,
    )
}
