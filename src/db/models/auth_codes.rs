//! The `auth_codes` table: authorization codes, stored by SHA-256 hash, single use (DESIGN.md, Tokens).

use diesel::prelude::*;

use crate::db::schema::auth_codes;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable)]
pub struct AuthCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    /// The SSO session the code was issued in (the ID token's `sid`).
    pub sid: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    /// Space-separated authentication methods (`pwd`).
    pub amr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// The access token issued from this code, revoked if the code is replayed.
    pub access_jti: Option<String>,
    /// The refresh-token family issued from this code, revoked if the code is replayed.
    pub family_id: Option<String>,
    /// The DPoP key the code is bound to (`dpop_jkt`, RFC 9449 10): redeemed only with a proof by that key.
    pub dpop_jkt: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = auth_codes)]
pub struct NewAuthCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: String,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn insert(conn: &mut AnyConnection, new: &NewAuthCode) -> Result<(), StoreError> {
    diesel::insert_into(auth_codes::table)
        .values(new)
        .execute(conn)?;
    Ok(())
}

/// Binds a just-issued code to the DPoP key `jkt` (RFC 9449 10).
pub fn bind_dpop(conn: &mut AnyConnection, code_hash: &str, jkt: &str) -> Result<(), StoreError> {
    diesel::update(auth_codes::table.find(code_hash))
        .set(auth_codes::dpop_jkt.eq(jkt))
        .execute(conn)?;
    Ok(())
}

/// What redeeming a code found.
#[derive(Debug)]
pub enum Redeemed {
    /// First use: the code is now marked used.
    Fresh(AuthCode),
    /// Already used: the caller must revoke what was issued from it.
    Replayed(AuthCode),
    /// Unknown or expired.
    Invalid,
}

/// Claims a code for one exchange, recording in the same statement what it will issue (`access_jti`,
/// `family_id`), so a replay can revoke them: `Fresh` exactly once for an unused, unexpired code. The claim
/// returns the row (one statement on the hot path); only a refused claim reads it to tell a replay from an
/// invalid code.
pub fn redeem(
    conn: &mut AnyConnection,
    code_hash: &str,
    now: i64,
    access_jti: &str,
    family_id: Option<&str>,
) -> Result<Redeemed, StoreError> {
    let claimed: Option<AuthCode> = diesel::update(
        auth_codes::table
            .find(code_hash)
            .filter(auth_codes::used_at.is_null())
            .filter(auth_codes::expires_at.gt(now)),
    )
    .set((
        auth_codes::used_at.eq(now),
        auth_codes::access_jti.eq(access_jti),
        auth_codes::family_id.eq(family_id),
    ))
    .get_result(conn)
    .optional()?;
    if let Some(code) = claimed {
        return Ok(Redeemed::Fresh(code));
    }
    let row: Option<AuthCode> = auth_codes::table.find(code_hash).first(conn).optional()?;
    Ok(match row {
        Some(code) if code.used_at.is_some() => Redeemed::Replayed(code),
        _ => Redeemed::Invalid,
    })
}

/// Removes codes that can no longer matter at `now`. An unused code goes once it has expired. A used code is the
/// only record that recognises its replay (which revokes what it issued), so it stays as long as anything issued
/// from it may still be alive: `keep_used` seconds after its use (the access token's lifetime), or
/// `keep_with_family` when a refresh-token family came from it (the family's absolute lifetime).
pub fn purge_expired(
    conn: &mut AnyConnection,
    now: i64,
    keep_used: i64,
    keep_with_family: i64,
) -> Result<usize, StoreError> {
    let unused = auth_codes::used_at
        .is_null()
        .and(auth_codes::expires_at.lt(now));
    let used_access_only = auth_codes::family_id
        .is_null()
        .and(auth_codes::used_at.lt(now.saturating_sub(keep_used)));
    let used_with_family =
        auth_codes::used_at.lt(now.saturating_sub(keep_with_family.max(keep_used)));
    Ok(
        diesel::delete(auth_codes::table.filter(unused.or(used_access_only).or(used_with_family)))
            .execute(conn)?,
    )
}
