//! Authorization requests waiting in the session for the person to sign in or consent. Each has a random id that
//! the login and consent pages carry, so several tabs can each finish their own request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::crypto::secrets;
use crate::error::PageError;
use crate::session::TypedSession;

use super::request::AuthorizeRequest;

const KEY: &str = "authz";
/// At most this many requests wait in one session; the oldest goes first.
const MAX_PENDING: usize = 5;
/// A request not finished within this long is dropped (seconds).
pub const PENDING_TTL: i64 = 30 * 60;
/// Ids are random and short: they are not secrets (the session is), only names.
const ID_BYTES: usize = 12;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    request: AuthorizeRequest,
    created_at: i64,
    /// The `sid` of the sign-in made for this very request: it satisfies `prompt=login` and `max_age` on the
    /// consent page that follows, and no other sign-in does.
    #[serde(default)]
    signed_in_for: Option<String>,
}

fn load(session: &TypedSession, now: i64) -> BTreeMap<String, Pending> {
    let mut all: BTreeMap<String, Pending> = session.get(KEY).unwrap_or_default();
    all.retain(|_, p| now.saturating_sub(p.created_at) < PENDING_TTL && p.created_at <= now);
    all
}

fn store(session: &TypedSession, all: &BTreeMap<String, Pending>) -> Result<(), PageError> {
    if all.is_empty() {
        session.remove(KEY);
        Ok(())
    } else {
        session.set(KEY, all)
    }
}

/// Keeps `request` in the session and returns its id.
pub fn add(
    session: &TypedSession,
    request: AuthorizeRequest,
    now: i64,
) -> Result<String, PageError> {
    let mut all = load(session, now);
    while all.len() >= MAX_PENDING {
        let oldest = all
            .iter()
            .min_by_key(|(_, p)| p.created_at)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => all.remove(&k),
            None => break,
        };
    }
    let id = secrets::random_string(ID_BYTES);
    all.insert(
        id.clone(),
        Pending {
            request,
            created_at: now,
            signed_in_for: None,
        },
    );
    store(session, &all)?;
    Ok(id)
}

/// The waiting request with this id, if it has not expired.
pub fn get(session: &TypedSession, id: &str, now: i64) -> Option<AuthorizeRequest> {
    load(session, now).remove(id).map(|p| p.request)
}

/// Records that the person signed in (session `sid`) for this request.
pub fn mark_signed_in(
    session: &TypedSession,
    id: &str,
    sid: &str,
    now: i64,
) -> Result<(), PageError> {
    let mut all = load(session, now);
    match all.get_mut(id) {
        Some(p) => {
            p.signed_in_for = Some(sid.to_string());
            store(session, &all)
        }
        None => Ok(()),
    }
}

/// Whether the sign-in with `sid` was made for this request.
pub fn signed_in_for(session: &TypedSession, id: &str, sid: &str, now: i64) -> bool {
    load(session, now)
        .get(id)
        .is_some_and(|p| p.signed_in_for.as_deref() == Some(sid))
}

/// Forgets a request once it is answered.
pub fn remove(session: &TypedSession, id: &str, now: i64) -> Result<(), PageError> {
    let mut all = load(session, now);
    if all.remove(id).is_some() {
        store(session, &all)?;
    }
    Ok(())
}

/// Whether `s` has the shape of an id this module hands out (so it can be put back in a URL as it is).
pub fn is_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
