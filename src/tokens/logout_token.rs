//! Logout tokens (OpenID Connect Back-Channel Logout 1.0, section 2.4): a JWT signed with the active key, typed
//! `logout+jwt` (section 2.4 recommends explicit typing so a logout token is never taken for an ID token), with
//! iss, aud, iat, exp, jti, sid, sub and the back-channel `events` member, and never a `nonce` (section 2.4
//! forbids it, which is how RPs tell the two kinds apart).

use serde::{Deserialize, Serialize};

use crate::db::models::logout_outbox::OutboxRow;
use crate::keys::{Alg, KeyError, KeySet};

/// The JOSE `typ` of a logout token.
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// The member of `events` that marks a back-channel logout (section 2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid: long enough for one delivery, short enough that a copy is soon useless.
pub const LOGOUT_TOKEN_TTL: i64 = 120;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogoutTokenClaims {
    pub iss: String,
    /// The client the token is for.
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Fixed when the message was queued: every retry of one message carries the same `jti`, so an RP can drop
    /// a duplicate.
    pub jti: String,
    /// The ended session, as in the ID tokens of that session; always sent (Porta supports
    /// `backchannel_logout_session_required`).
    pub sid: String,
    /// The user, as the `sub` of their ID tokens.
    pub sub: String,
    pub events: serde_json::Value,
}

impl LogoutTokenClaims {
    /// The claims for one queued message, issued at `now`.
    pub fn for_message(issuer: &str, row: &OutboxRow, now: i64) -> LogoutTokenClaims {
        LogoutTokenClaims {
            iss: issuer.to_string(),
            aud: row.client_id.clone(),
            iat: now,
            exp: now + LOGOUT_TOKEN_TTL,
            jti: row.jti.clone(),
            sid: row.sid.clone(),
            sub: row.user_id.clone(),
            events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        }
    }
}

/// Signs a logout token. CPU-bound: callers run it on the blocking pool.
pub fn mint(keys: &KeySet, alg: Alg, claims: &LogoutTokenClaims) -> Result<String, KeyError> {
    keys.sign_as(alg, LOGOUT_TOKEN_TYP, claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_carry_the_event_and_no_nonce() {
        let row = OutboxRow {
            id: "m1".into(),
            client_id: "app".into(),
            user_id: "u1".into(),
            sid: "s1".into(),
            jti: "j1".into(),
            created_at: 10,
            attempts: 0,
            next_attempt_at: 10,
            claimed_until: None,
            delivered_at: None,
            failed_at: None,
            last_error: None,
        };
        let c = LogoutTokenClaims::for_message("https://id.example.com", &row, 100);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["aud"], "app");
        assert_eq!(v["exp"], 220);
        assert_eq!(v["events"][BACKCHANNEL_LOGOUT_EVENT], serde_json::json!({}));
        assert!(v.get("nonce").is_none());
    }
}
