//! The rules behind the `/device` page, as plain functions over a connection: the throttled lookup of a typed
//! code and the decision's transaction.

use crate::db::models::clients::{self, Client};
use crate::db::models::device_codes::{self, DeviceCode};
use crate::db::models::users::User;
use crate::db::models::{audit, consents, login_failures, session_clients};
use crate::db::{AnyConnection, StoreError, write_tx};
use crate::domain::scope::Scopes;
use crate::session::SignIn;
use crate::tokens::authz;
use crate::web::login::throttle::{self, Gate, Policy, Subjects};

/// What typed codes count against: the signed-in user, and the address (its /64 for IPv6).
pub fn subjects(user_id: &str, ip: Option<&str>) -> Subjects {
    Subjects {
        account: format!("device:user:{user_id}"),
        address: ip.map(|ip| format!("device:ip:{}", throttle::address_group(ip))),
    }
}

/// What looking up a typed code found.
#[derive(Debug)]
pub enum Lookup {
    /// Too many wrong codes lately: refused before the lookup, until this time.
    Locked(i64),
    /// No pending request has this code (counted as a failed guess).
    Unknown,
    Found(Box<(DeviceCode, Client)>),
}

/// Reserves a failure slot (atomically, as sign-in does), then looks the code up; a code that was found gives
/// its slot back. Wrong codes keep theirs until they leave the window, so a guesser holding one right code of
/// their own cannot clear the count with it.
pub fn lookup(
    conn: &mut AnyConnection,
    policy: &Policy,
    subjects: &Subjects,
    user_code_hash: &str,
    now: i64,
) -> Result<Lookup, StoreError> {
    let reserved = match throttle::reserve(conn, policy, subjects, now)? {
        Gate::Locked(until) => return Ok(Lookup::Locked(until)),
        Gate::Reserved(ids) => ids,
    };
    let Some(row) = device_codes::pending_by_user_code(conn, user_code_hash, now)? else {
        return Ok(Lookup::Unknown);
    };
    let Some(client) = clients::by_id(conn, &row.client_id)? else {
        return Ok(Lookup::Unknown);
    };
    write_tx(conn, |c| login_failures::delete_ids(c, &reserved))?;
    Ok(Lookup::Found(Box::new((row, client))))
}

/// How a decision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Approved,
    Denied,
    /// Allowed by the person, but they are not in one of the client's allowed groups: recorded as denied.
    NotAllowed,
    /// No longer pending (answered in another tab, or expired).
    Gone,
}

/// Records the person's decision in one transaction: the request's new state with the sign-in it was made in
/// (as an authorization code records it), the client among the session's (back-channel logout), the consent
/// (so it can be revoked from the account page), and an audit row. The allowed-group check comes first, in
/// the same transaction, as for a code.
pub fn record_decision(
    conn: &mut AnyConnection,
    row: &DeviceCode,
    user: &User,
    sign_in: &SignIn,
    allow: bool,
    ip: Option<&str>,
    now: i64,
) -> Result<Decided, StoreError> {
    write_tx(conn, |c| {
        let permitted = !allow || authz::may_use_client(c, &row.client_id, &user.id)?;
        let approve = allow && permitted;
        let amr = sign_in.amr.join(" ");
        let decision = device_codes::Decision {
            approve,
            user_id: &user.id,
            sid: &sign_in.sid,
            amr: &amr,
            auth_time: sign_in.last_auth(),
        };
        if !device_codes::decide(c, &row.user_code_hash, &decision, now)? {
            return Ok(Decided::Gone);
        }
        if approve {
            session_clients::record(c, &sign_in.sid, &row.client_id, &user.id, now)?;
            if let Ok(scopes) = Scopes::parse(&row.scope) {
                consents::grant(c, &user.id, &row.client_id, &scopes, now)?;
            }
        }
        let (action, outcome) = match (approve, permitted) {
            (true, _) => ("device.approve", Decided::Approved),
            (false, true) => ("device.deny", Decided::Denied),
            (false, false) => ("device.access_denied", Decided::NotAllowed),
        };
        audit::record(
            c,
            &audit::Event {
                actor: Some(&user.username),
                action,
                target: Some(&row.client_id),
                ip,
                detail: Some(&row.scope),
            },
            now,
        )?;
        Ok(outcome)
    })
}
