//! OIDC Back-Channel Logout 1.0: when an SSO session ends, every client that got a code in it and registered a
//! `backchannel_logout_uri` is sent a logout token. `enqueue_session_ended` runs inside the transaction of the
//! event that ended the session and only writes outbox rows; delivery happens later, off the request path
//! (`deliver`).

pub mod deliver;

use crate::db::models::{clients, logout_outbox, session_clients};
use crate::db::{AnyConnection, StoreError};

/// Queues a logout token for every client of session `sid` that asked for back-channel logout, and forgets the
/// session's clients. Call inside the transaction that ends the session. Returns how many were queued.
pub fn enqueue_session_ended(
    conn: &mut AnyConnection,
    user_id: &str,
    sid: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let mut queued = 0;
    for client_id in session_clients::clients_of(conn, sid)? {
        let wants =
            clients::by_id(conn, &client_id)?.is_some_and(|c| c.backchannel_logout_uri.is_some());
        if wants {
            logout_outbox::enqueue(conn, &client_id, user_id, sid, now)?;
            queued += 1;
        }
    }
    session_clients::forget(conn, sid)?;
    Ok(queued)
}
