//! A diesel-backed `actix_session::storage::SessionStore` over the `sessions` table.
//!
//! - The session key (the cookie's value) is 256 random bits; the row id is its SHA-256, so the database alone
//!   cannot be used to take a session over.
//! - Lifetimes follow the settings and the `Clock`, not actix-session's TTL: a session ends `idle_timeout` after
//!   its last request and `max_life` after it was created (a sign-in renews the key, so that is the sign-in time).
//!   `load` refuses and deletes an ended session, so tests expire sessions by moving the test clock.
//! - An anonymous session (nobody signed in: only a CSRF token and authorization requests waiting for a sign-in)
//!   ends `ANONYMOUS_IDLE` after its last request. Every cookieless visit to `/login` or `/authorize` writes one,
//!   and the waiting requests expire after that long anyway, so keeping them for the signed-in idle timeout (8 h)
//!   only let anyone fill the table.
//! - `user_id`, `auth_time`, `ip` and `user_agent` are mirrored from the state into columns, so admins can list a
//!   user's sessions and end them; ending one is deleting its row, which every instance sees on its next load.

use std::collections::HashMap;
use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};

use crate::clock::SharedClock;
use crate::crypto::secrets;
use crate::db::models::sessions::{self, NewSession, SessionChanges};
use crate::db::{AnyConnection, Db, StoreError, write_tx};

use super::keys;

type State = HashMap<String, String>;

/// The store. Cheap to clone: the pool and the clock are shared.
#[derive(Clone)]
pub struct DbSessionStore {
    db: Db,
    clock: SharedClock,
    lifetimes: Lifetimes,
}

/// How long an anonymous session lives after its last request (seconds): as long as a waiting authorization
/// request (`oidc::authorize::pending::PENDING_TTL`).
pub const ANONYMOUS_IDLE: i64 = 30 * 60;

/// How long a session may live, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub idle: i64,
    pub max_life: i64,
    /// The idle timeout of a session nobody is signed in to.
    pub anonymous_idle: i64,
}

impl Lifetimes {
    pub fn from_settings(s: &crate::config::SessionSettings) -> Lifetimes {
        Lifetimes::new(s.idle_timeout, s.max_life)
    }

    pub fn new(idle: Duration, max_life: Duration) -> Lifetimes {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let idle = secs(idle);
        Lifetimes {
            idle,
            max_life: secs(max_life),
            anonymous_idle: idle.min(ANONYMOUS_IDLE),
        }
    }

    fn idle_for(&self, signed_in: bool) -> i64 {
        if signed_in {
            self.idle
        } else {
            self.anonymous_idle
        }
    }

    /// Whether a session created at `created_at` and last used at `last_seen_at` has ended at `now`.
    pub fn ended(&self, signed_in: bool, created_at: i64, last_seen_at: i64, now: i64) -> bool {
        now >= created_at.saturating_add(self.max_life)
            || now >= last_seen_at.saturating_add(self.idle_for(signed_in))
    }

    /// When the row may be purged if nothing happens after `now`.
    pub fn expires_at(&self, signed_in: bool, created_at: i64, now: i64) -> i64 {
        created_at
            .saturating_add(self.max_life)
            .min(now.saturating_add(self.idle_for(signed_in)))
    }
}

impl DbSessionStore {
    pub fn new(db: Db, clock: SharedClock, lifetimes: Lifetimes) -> DbSessionStore {
        DbSessionStore {
            db,
            clock,
            lifetimes,
        }
    }
}

/// The columns mirrored from the state.
struct Mirrored {
    user_id: Option<String>,
    auth_time: Option<i64>,
    ip: Option<String>,
    user_agent: Option<String>,
    sid: Option<String>,
}

fn mirrored(state: &State) -> Mirrored {
    fn get<T: serde::de::DeserializeOwned>(state: &State, key: &str) -> Option<T> {
        state.get(key).and_then(|v| serde_json::from_str(v).ok())
    }
    Mirrored {
        user_id: get(state, keys::USER_ID),
        auth_time: get(state, keys::AUTH_TIME),
        ip: get(state, keys::IP),
        user_agent: get(state, keys::USER_AGENT),
        sid: get(state, keys::SID),
    }
}

fn encode(state: &State) -> Result<String, anyhow::Error> {
    Ok(serde_json::to_string(state)?)
}

fn insert_new(
    conn: &mut AnyConnection,
    state_json: &str,
    m: &Mirrored,
    lifetimes: Lifetimes,
    now: i64,
) -> Result<SessionKey, StoreError> {
    let key = secrets::random_token();
    let id = secrets::hash_secret(&key);
    sessions::insert(
        conn,
        &NewSession {
            id: &id,
            user_id: m.user_id.as_deref(),
            state: state_json,
            created_at: now,
            auth_time: m.auth_time,
            last_seen_at: now,
            expires_at: lifetimes.expires_at(m.user_id.is_some(), now, now),
            ip: m.ip.as_deref(),
            user_agent: m.user_agent.as_deref(),
            sid: m.sid.as_deref(),
        },
    )?;
    SessionKey::try_from(key).map_err(|e| StoreError::Unavailable(e.to_string()))
}

impl SessionStore for DbSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        let id = secrets::hash_secret(session_key.as_ref());
        let now = self.clock.now();
        let lifetimes = self.lifetimes;
        let row = self
            .db
            .run(move |c| {
                let Some(row) = sessions::find(c, &id)? else {
                    return Ok::<_, StoreError>(None);
                };
                let signed_in = row.user_id.is_some();
                // Writes go through `write_tx`, so they take their turn at the writer gate like every other.
                if lifetimes.ended(signed_in, row.created_at, row.last_seen_at, now) {
                    write_tx(c, |c| sessions::delete(c, &id))?;
                    return Ok(None);
                }
                if now > row.last_seen_at {
                    let expires_at = lifetimes.expires_at(signed_in, row.created_at, now);
                    write_tx(c, |c| sessions::touch(c, &id, now, expires_at))?;
                }
                Ok(Some(row))
            })
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        match row {
            None => Ok(None),
            Some(row) => serde_json::from_str::<State>(&row.state)
                .map(Some)
                .map_err(|e| LoadError::Deserialization(e.into())),
        }
    }

    async fn save(
        &self,
        session_state: State,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, SaveError> {
        let json = encode(&session_state).map_err(SaveError::Serialization)?;
        let m = mirrored(&session_state);
        let now = self.clock.now();
        let lifetimes = self.lifetimes;
        self.db
            .run(move |c| write_tx(c, |c| insert_new(c, &json, &m, lifetimes, now)))
            .await
            .map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        session_key: SessionKey,
        mut session_state: State,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        let id = secrets::hash_secret(session_key.as_ref());
        let json = encode(&session_state).map_err(UpdateError::Serialization)?;
        let m = mirrored(&session_state);
        // If the row is gone (signed out or ended by an admin while this request ran), the session must not
        // come back signed in: the rest of the state gets a new key without the sign-in.
        for k in keys::SIGN_IN {
            session_state.remove(*k);
        }
        let anonymous = encode(&session_state).map_err(UpdateError::Serialization)?;
        let now = self.clock.now();
        let lifetimes = self.lifetimes;
        self.db
            .run(move |c| {
                write_tx(c, |c| {
                    let Some(row) = sessions::find(c, &id)? else {
                        let none = Mirrored {
                            user_id: None,
                            auth_time: None,
                            ip: None,
                            user_agent: None,
                            sid: None,
                        };
                        return insert_new(c, &anonymous, &none, lifetimes, now);
                    };
                    sessions::update(
                        c,
                        &id,
                        &SessionChanges {
                            user_id: m.user_id.as_deref(),
                            state: &json,
                            auth_time: m.auth_time,
                            last_seen_at: now,
                            expires_at: lifetimes.expires_at(
                                m.user_id.is_some(),
                                row.created_at,
                                now,
                            ),
                            ip: m.ip.as_deref(),
                            user_agent: m.user_agent.as_deref(),
                            sid: m.sid.as_deref(),
                        },
                    )?;
                    Ok(session_key)
                })
            })
            .await
            .map_err(|e| UpdateError::Other(e.into()))
    }

    async fn update_ttl(
        &self,
        _session_key: &SessionKey,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<(), anyhow::Error> {
        // Activity is recorded by `load`; lifetimes come from the settings, not from actix-session's TTL.
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        let id = secrets::hash_secret(session_key.as_ref());
        self.db
            .run(move |c| write_tx(c, |c| sessions::delete(c, &id)))
            .await
            .map(|_| ())
            .map_err(anyhow::Error::from)
    }
}

/// Whether the SSO session `sid` of `user_id` is still live at `now`: its row exists and neither lifetime has run
/// out. Online refresh tokens live exactly as long.
pub fn is_live(
    conn: &mut AnyConnection,
    lifetimes: Lifetimes,
    sid: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sessions::by_sid(conn, sid)?.is_some_and(|s| {
        s.user_id.as_deref() == Some(user_id)
            && !lifetimes.ended(true, s.created_at, s.last_seen_at, now)
    }))
}

/// Removes every session whose purge time has passed. For the periodic purge job.
pub fn purge_expired(conn: &mut AnyConnection, now: i64) -> Result<usize, StoreError> {
    sessions::purge_expired(conn, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_end_at_idle_or_absolute() {
        let l = Lifetimes {
            idle: 100,
            max_life: 1000,
            anonymous_idle: 30,
        };
        assert!(!l.ended(true, 0, 0, 99));
        assert!(l.ended(true, 0, 0, 100));
        assert!(!l.ended(true, 0, 950, 999));
        assert!(l.ended(true, 0, 950, 1000));
        assert_eq!(l.expires_at(true, 0, 10), 110);
        assert_eq!(l.expires_at(true, 0, 950), 1000);
        // Nobody signed in: the short idle timeout.
        assert!(!l.ended(false, 0, 0, 29));
        assert!(l.ended(false, 0, 0, 30));
        assert_eq!(l.expires_at(false, 0, 10), 40);
    }
}
