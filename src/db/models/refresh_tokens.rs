//! The `refresh_tokens` table: opaque refresh tokens stored by SHA-256 hash. Every token rotated from one grant
//! shares a `family_id`; each use rotates the token, and presenting a rotated one revokes the family
//! (DESIGN.md, Tokens; OAuth 2.0 Security BCP 4.14.2).

use diesel::prelude::*;

use crate::db::models::revoked_jtis;
use crate::db::schema::refresh_tokens;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable)]
pub struct RefreshToken {
    pub token_hash: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    /// The SSO session of the original sign-in (the ID token's `sid`).
    pub sid: Option<String>,
    /// The scope granted with the original code; refreshes may narrow it per request, never widen it.
    pub scope: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Space-separated authentication methods of the original sign-in.
    pub amr: String,
    /// The access token issued together with this refresh token.
    pub access_jti: Option<String>,
    pub access_expires_at: Option<i64>,
    /// Granted with `offline_access`: survives the end of its SSO session.
    pub offline: bool,
    /// The family's absolute end; rotation never moves it.
    pub family_expires_at: i64,
    /// The DPoP key a public client's family is bound to (RFC 9449 5): each refresh needs a proof by that key.
    pub dpop_jkt: Option<String>,
}

impl RefreshToken {
    /// Usable now: neither rotated, revoked nor expired.
    pub fn is_active(&self, now: i64) -> bool {
        self.rotated_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: Option<String>,
    pub scope: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub amr: String,
    pub access_jti: Option<String>,
    pub access_expires_at: Option<i64>,
    pub offline: bool,
    pub family_expires_at: i64,
}

pub fn insert(conn: &mut AnyConnection, new: &NewRefreshToken) -> Result<(), StoreError> {
    diesel::insert_into(refresh_tokens::table)
        .values(new)
        .execute(conn)?;
    Ok(())
}

pub fn by_hash(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    Ok(refresh_tokens::table
        .find(token_hash)
        .first(conn)
        .optional()?)
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum Claimed {
    /// Active: it is now marked rotated, and the caller issues its successor in the same transaction.
    Fresh(RefreshToken),
    /// Already rotated: a copy leaked. The caller revokes the family.
    Reused(RefreshToken),
    /// Unknown, expired or revoked.
    Invalid,
}

/// Binds every token of `family_id` to the DPoP key `jkt` (set once, when a public client's family begins
/// with a proof, and carried to each rotated token).
pub fn bind_family(conn: &mut AnyConnection, family_id: &str, jkt: &str) -> Result<(), StoreError> {
    diesel::update(refresh_tokens::table.filter(refresh_tokens::family_id.eq(family_id)))
        .set(refresh_tokens::dpop_jkt.eq(jkt))
        .execute(conn)?;
    Ok(())
}

/// Marks the token rotated, atomically: of two concurrent uses exactly one gets `Fresh`. Call inside the
/// caller's write transaction.
pub fn claim(conn: &mut AnyConnection, token_hash: &str, now: i64) -> Result<Claimed, StoreError> {
    let claimed = diesel::update(
        refresh_tokens::table
            .find(token_hash)
            .filter(refresh_tokens::rotated_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null())
            .filter(refresh_tokens::expires_at.gt(now)),
    )
    .set(refresh_tokens::rotated_at.eq(now))
    .execute(conn)?;
    Ok(match by_hash(conn, token_hash)? {
        Some(row) if claimed == 1 => Claimed::Fresh(row),
        Some(row) if row.rotated_at.is_some() && row.revoked_at.is_none() => Claimed::Reused(row),
        _ => Claimed::Invalid,
    })
}

/// Revokes every refresh token of `family_id` and every unexpired access token issued beside them
/// (RFC 7009 2.1: access tokens based on the same grant). Returns how many refresh tokens were revoked.
pub fn revoke_family(
    conn: &mut AnyConnection,
    family_id: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    let access: Vec<(Option<String>, Option<i64>)> = refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family_id))
        .filter(refresh_tokens::access_jti.is_not_null())
        .filter(refresh_tokens::access_expires_at.gt(now))
        .select((
            refresh_tokens::access_jti,
            refresh_tokens::access_expires_at,
        ))
        .load(conn)?;
    for (jti, exp) in access {
        if let (Some(jti), Some(exp)) = (jti, exp) {
            revoked_jtis::revoke(conn, &jti, exp)?;
        }
    }
    Ok(n)
}

/// Which refresh families a security event revokes.
#[derive(Debug, Clone, Copy)]
pub enum Families<'a> {
    /// The online (session-bound) families of SSO session `sid`: the session has ended.
    OnlineOfSession(&'a str),
    /// Every family of a user, online and offline (password set, disable, an admin's revocation).
    OfUser(&'a str),
    /// Every family a user holds for one client (the user withdrew consent).
    OfUserForClient(&'a str, &'a str),
}

/// Revokes the families `which` names, with the access tokens issued beside them. Returns how many families.
pub fn revoke_families(
    conn: &mut AnyConnection,
    which: Families<'_>,
    now: i64,
) -> Result<usize, StoreError> {
    let mut q = refresh_tokens::table
        .filter(refresh_tokens::revoked_at.is_null())
        .select(refresh_tokens::family_id)
        .distinct()
        .into_boxed();
    q = match which {
        Families::OnlineOfSession(sid) => q
            .filter(refresh_tokens::sid.eq(sid))
            .filter(refresh_tokens::offline.eq(false)),
        Families::OfUser(user_id) => q.filter(refresh_tokens::user_id.eq(user_id)),
        Families::OfUserForClient(user_id, client_id) => q
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::client_id.eq(client_id)),
    };
    let families: Vec<String> = q.load(conn)?;
    for family in &families {
        revoke_family(conn, family, now)?;
    }
    Ok(families.len())
}

/// Removes tokens that expired before `before` (rotated or not: an expired token is refused either way).
pub fn purge_expired(conn: &mut AnyConnection, before: i64) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(before)))
            .execute(conn)?,
    )
}
