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
