//! The `logout_outbox` table: logout tokens waiting for delivery to clients' back-channel logout URIs. Rows are
//! written in the transaction of the event that ended the session; the delivery worker (`crate::backchannel`)
//! signs and sends them later, so nothing a person waits for depends on a relying party answering.

use diesel::prelude::*;

use crate::db::schema::logout_outbox;
use crate::db::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, serde::Serialize)]
pub struct OutboxRow {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: String,
    /// The logout token's `jti`, fixed when the message is queued so every retry sends the same token id.
    pub jti: String,
    pub created_at: i64,
    pub attempts: i32,
    pub next_attempt_at: i64,
    /// While in the future, one instance holds the row and is delivering it.
    pub claimed_until: Option<i64>,
    pub delivered_at: Option<i64>,
    /// Given up after the last attempt.
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
}

/// Queues one logout token for `client_id` about the end of session `sid`.
pub fn enqueue(
    conn: &mut AnyConnection,
    client_id: &str,
    user_id: &str,
    sid: &str,
    now: i64,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(logout_outbox::table)
        .values((
            logout_outbox::id.eq(&id),
            logout_outbox::client_id.eq(client_id),
            logout_outbox::user_id.eq(user_id),
            logout_outbox::sid.eq(sid),
            logout_outbox::jti.eq(crate::crypto::secrets::random_string(16)),
            logout_outbox::created_at.eq(now),
            logout_outbox::attempts.eq(0),
            logout_outbox::next_attempt_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Ids of messages due at `now` that no instance holds, oldest first. A candidate list only: `claim` decides.
pub fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<String>, StoreError> {
    Ok(logout_outbox::table
        .filter(logout_outbox::delivered_at.is_null())
        .filter(logout_outbox::failed_at.is_null())
        .filter(logout_outbox::next_attempt_at.le(now))
        .filter(
            logout_outbox::claimed_until
                .is_null()
                .or(logout_outbox::claimed_until.lt(now)),
        )
        .order(logout_outbox::next_attempt_at.asc())
        .select(logout_outbox::id)
        .limit(limit)
        .load(conn)?)
}

/// Takes message `id` until `until`, unless another instance holds it or it is settled. One conditional UPDATE:
/// both backends apply it atomically per row (PostgreSQL re-checks the condition after a concurrent update), so
/// of several instances racing for a row exactly one sees an affected row and sends it.
pub fn claim(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
    until: i64,
) -> Result<Option<OutboxRow>, StoreError> {
    let n = diesel::update(
        logout_outbox::table
            .find(id)
            .filter(logout_outbox::delivered_at.is_null())
            .filter(logout_outbox::failed_at.is_null())
            .filter(logout_outbox::next_attempt_at.le(now))
            .filter(
                logout_outbox::claimed_until
                    .is_null()
                    .or(logout_outbox::claimed_until.lt(now)),
            ),
    )
    .set(logout_outbox::claimed_until.eq(until))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(logout_outbox::table.find(id).first(conn).optional()?)
}

/// How one attempt ended, as recorded on the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again at `next_attempt_at`.
    Retry {
        next_attempt_at: i64,
        error: String,
    },
    /// Given up.
    Failed {
        error: String,
    },
}

/// Records an attempt on a row this instance claimed with lease `until`; a row whose lease was taken over in the
/// meantime is left alone (returns false).
pub fn settle(
    conn: &mut AnyConnection,
    id: &str,
    until: i64,
    outcome: &Outcome,
    now: i64,
) -> Result<bool, StoreError> {
    let target = logout_outbox::table
        .find(id)
        .filter(logout_outbox::claimed_until.eq(until));
    let attempts = logout_outbox::attempts.eq(logout_outbox::attempts + 1);
    let released = logout_outbox::claimed_until.eq(None::<i64>);
    let n = match outcome {
        Outcome::Delivered => diesel::update(target)
            .set((
                attempts,
                released,
                logout_outbox::delivered_at.eq(now),
                logout_outbox::last_error.eq(None::<String>),
            ))
            .execute(conn)?,
        Outcome::Retry {
            next_attempt_at,
            error,
        } => diesel::update(target)
            .set((
                attempts,
                released,
                logout_outbox::next_attempt_at.eq(next_attempt_at),
                logout_outbox::last_error.eq(error),
            ))
            .execute(conn)?,
        Outcome::Failed { error } => diesel::update(target)
            .set((
                attempts,
                released,
                logout_outbox::failed_at.eq(now),
                logout_outbox::last_error.eq(error),
            ))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// The newest messages for one client, for the console.
pub fn recent_for_client(
    conn: &mut AnyConnection,
    client_id: &str,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(logout_outbox::table
        .filter(logout_outbox::client_id.eq(client_id))
        .order((logout_outbox::created_at.desc(), logout_outbox::id.asc()))
        .limit(limit)
        .load(conn)?)
}

/// Every message, oldest first (tests and diagnostics).
pub fn all(conn: &mut AnyConnection) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(logout_outbox::table
        .order((logout_outbox::created_at.asc(), logout_outbox::id.asc()))
        .load(conn)?)
}

/// Deletes messages delivered or given up before `before`; what is still pending is kept whatever its age.
pub fn purge_settled(conn: &mut AnyConnection, before: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        logout_outbox::table.filter(
            logout_outbox::delivered_at
                .lt(before)
                .or(logout_outbox::failed_at.lt(before)),
        ),
    )
    .execute(conn)?)
}
