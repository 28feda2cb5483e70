//! The `device_codes` table: device authorization requests (RFC 8628). The device code and the user code are
//! stored as SHA-256 hashes. Every change of state is a conditional UPDATE, so of two concurrent requests at most
//! one moves a row: one approval or denial per code, one poll per interval, one exchange per approval.

use diesel::prelude::*;

use crate::db::schema::device_codes;
use crate::db::{AnyConnection, StoreError};

/// Waiting for the person on the `/device` page.
pub const PENDING: &str = "pending";
/// Allowed; the next poll exchanges it.
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";
/// Exchanged for tokens: never again.
pub const USED: &str = "used";

#[derive(Debug, Clone, Queryable)]
pub struct DeviceCode {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: String,
    pub scope: String,
    pub status: String,
    /// Set by an approval (or a denial): who decided.
    pub user_id: Option<String>,
    /// The SSO session the approval was made in (the ID token's `sid`).
    pub sid: Option<String>,
    /// Space-separated authentication methods of that session.
    pub amr: Option<String>,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    /// Seconds the device must wait between polls; `slow_down` adds 5.
    pub poll_interval: i64,
    pub last_polled_at: Option<i64>,
    pub decided_at: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = device_codes)]
pub struct NewDeviceCode {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: String,
    pub scope: String,
    pub status: &'static str,
    pub created_at: i64,
    pub expires_at: i64,
    pub poll_interval: i64,
}

/// Inserts a request. A user code already taken is a `StoreError::Conflict` (the caller draws another).
pub fn insert(conn: &mut AnyConnection, new: &NewDeviceCode) -> Result<(), StoreError> {
    diesel::insert_into(device_codes::table)
        .values(new)
        .execute(conn)?;
    Ok(())
}

pub fn by_device_code(
    conn: &mut AnyConnection,
    device_code_hash: &str,
) -> Result<Option<DeviceCode>, StoreError> {
    Ok(device_codes::table
        .find(device_code_hash)
        .first(conn)
        .optional()?)
}

/// The request a person may still decide at `now`: pending and unexpired.
pub fn pending_by_user_code(
    conn: &mut AnyConnection,
    user_code_hash: &str,
    now: i64,
) -> Result<Option<DeviceCode>, StoreError> {
    Ok(device_codes::table
        .filter(device_codes::user_code_hash.eq(user_code_hash))
        .filter(device_codes::status.eq(PENDING))
        .filter(device_codes::expires_at.gt(now))
        .first(conn)
        .optional()?)
}

/// Who decided and in which sign-in.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    pub approve: bool,
    pub user_id: &'a str,
    pub sid: &'a str,
    pub amr: &'a str,
    pub auth_time: i64,
}

/// Moves a pending, unexpired request to approved or denied; `false` when it was no longer pending (decided in
/// another tab, or expired).
pub fn decide(
    conn: &mut AnyConnection,
    user_code_hash: &str,
    d: &Decision<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        device_codes::table
            .filter(device_codes::user_code_hash.eq(user_code_hash))
            .filter(device_codes::status.eq(PENDING))
            .filter(device_codes::expires_at.gt(now)),
    )
    .set((
        device_codes::status.eq(if d.approve { APPROVED } else { DENIED }),
        device_codes::user_id.eq(d.user_id),
        device_codes::sid.eq(d.sid),
        device_codes::amr.eq(d.amr),
        device_codes::auth_time.eq(d.auth_time),
        device_codes::decided_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records a poll at `now` if the device waited its interval since the last one; `false` when it polled too
/// early. Conditional, so two simultaneous polls cannot both pass.
pub fn record_poll(
    conn: &mut AnyConnection,
    device_code_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(device_codes::table.find(device_code_hash).filter(
        device_codes::last_polled_at.is_null().or(
            (device_codes::last_polled_at.assume_not_null() + device_codes::poll_interval).le(now),
        ),
    ))
    .set(device_codes::last_polled_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// RFC 8628 3.5 `slow_down`: the interval grows by `step` seconds for this and every later poll, counted from
/// `now`.
pub fn slow_down(
    conn: &mut AnyConnection,
    device_code_hash: &str,
    step: i64,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(device_codes::table.find(device_code_hash))
        .set((
            device_codes::poll_interval.eq(device_codes::poll_interval + step),
            device_codes::last_polled_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks an approved code used; `true` for exactly one caller. Call inside the write transaction that issues the
/// tokens, so the use and the tokens commit together.
pub fn claim(conn: &mut AnyConnection, device_code_hash: &str) -> Result<bool, StoreError> {
    let n = diesel::update(
        device_codes::table
            .find(device_code_hash)
            .filter(device_codes::status.eq(APPROVED)),
    )
    .set(device_codes::status.eq(USED))
    .execute(conn)?;
    Ok(n == 1)
}

/// Removes requests that expired before `before`; a used code answers `invalid_grant` only while its row lives,
/// and after expiry every answer is the same refusal anyway.
pub fn purge_expired(conn: &mut AnyConnection, before: i64) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(device_codes::table.filter(device_codes::expires_at.lt(before)))
            .execute(conn)?,
    )
}
