//! The device code grant (RFC 8628 3.4, 3.5): the device polls with its device code until the person has
//! decided on `/device`. Answers: `authorization_pending` while undecided, `slow_down` when polled before the
//! interval was over (the interval then grows by 5 s), `access_denied`, `expired_token` after
//! `tokens.device_code_ttl`, and tokens once, for an approval; a code already exchanged is `invalid_grant`.
//!
//! Each poll is one write transaction: the pacing is a conditional UPDATE (two simultaneous polls cannot both
//! pass), and the exchange marks the code used in the same transaction that stores the refresh token, so a code
//! yields tokens at most once. The pacing is committed even when the answer is an error.

use crate::crypto::secrets;
use crate::db::models::clients::Client;
use crate::db::models::device_codes::{self, APPROVED, DENIED, DeviceCode, PENDING, USED};
use crate::db::models::users;
use crate::db::{AnyConnection, write_tx};
use crate::domain::scope::Scopes;
use crate::error::OAuthError;
use crate::tokens::authz;
use crate::tokens::claims::access_token_audience;
use crate::tokens::mint::{TokenRequest, UserGrant};

use super::params::Params;
use super::{Ctx, DEVICE_CODE_GRANT, Issue, TxError, new_jti};

/// RFC 8628 3.5: each `slow_down` adds this many seconds to the interval.
pub const SLOW_DOWN_STEP: i64 = 5;

/// What one poll found.
enum Poll {
    Issued(Box<Issue>),
    Pending,
    SlowDown,
    Denied,
    Expired,
    /// Unknown, another client's, or already exchanged.
    Invalid,
}

/// Runs on the blocking pool with the caller's connection (see `token::exchange`).
pub fn exchange(
    conn: &mut AnyConnection,
    ctx: &Ctx,
    client: &Client,
    params: &Params,
) -> Result<Issue, OAuthError> {
    if !client.allows_grant(DEVICE_CODE_GRANT) {
        return Err(OAuthError::unauthorized_client(
            "this client is not registered for the device authorization grant",
        ));
    }
    let hash = secrets::hash_secret(params.require("device_code")?);
    let resource = params.get("resource");
    match write_tx(conn, |c| poll(c, ctx, client, &hash, resource))? {
        Poll::Issued(issue) => Ok(*issue),
        Poll::Pending => Err(OAuthError::authorization_pending(
            "the user has not yet approved the request",
        )),
        Poll::SlowDown => Err(OAuthError::slow_down(
            "polling too fast: wait 5 seconds longer between requests",
        )),
        Poll::Denied => Err(OAuthError::access_denied("the user denied the request")),
        Poll::Expired => Err(OAuthError::expired_token("the device code has expired")),
        Poll::Invalid => Err(OAuthError::invalid_grant(
            "the device code is invalid or was already used",
        )),
    }
}

/// One poll inside the write transaction. Only protocol refusals after the code was claimed roll back (the
/// approval stays usable until it expires); every other answer commits the pacing.
fn poll(
    c: &mut AnyConnection,
    ctx: &Ctx,
    client: &Client,
    hash: &str,
    resource: Option<&str>,
) -> Result<Poll, TxError> {
    let Some(row) = device_codes::by_device_code(c, hash)? else {
        return Ok(Poll::Invalid);
    };
    // Another client's code reads as unknown: it reveals nothing about the request.
    if row.client_id != client.id || row.status == USED {
        return Ok(Poll::Invalid);
    }
    if row.expires_at <= ctx.now {
        return Ok(Poll::Expired);
    }
    if !device_codes::record_poll(c, hash, ctx.now)? {
        device_codes::slow_down(c, hash, SLOW_DOWN_STEP, ctx.now)?;
        return Ok(Poll::SlowDown);
    }
    match row.status.as_str() {
        PENDING => Ok(Poll::Pending),
        DENIED => Ok(Poll::Denied),
        APPROVED if device_codes::claim(c, hash)? => {
            issue(c, ctx, client, &row, resource).map(|i| Poll::Issued(Box::new(i)))
        }
        _ => Ok(Poll::Invalid),
    }
}

/// The tokens of an approved, just claimed code, as the authorization code grant issues them.
fn issue(
    c: &mut AnyConnection,
    ctx: &Ctx,
    client: &Client,
    row: &DeviceCode,
    resource: Option<&str>,
) -> Result<Issue, TxError> {
    let invalid = || OAuthError::invalid_grant("the device code is invalid");
    let (Some(user_id), Some(sid), Some(amr), Some(auth_time)) =
        (&row.user_id, &row.sid, &row.amr, row.auth_time)
    else {
        return Err(invalid().into());
    };
    let user = users::by_id(c, user_id)?
        .filter(|u| !u.disabled)
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer allowed to sign in"))?;
    // Group membership may have changed since the approval.
    if !authz::may_use_client(c, &client.id, &user.id)? {
        return Err(OAuthError::access_denied(
            "the user is not in a group allowed to use this application",
        )
        .into());
    }
    let scopes = Scopes::parse(&row.scope).map_err(|_| invalid())?;
    let access = authz::for_user(
        c,
        &client.id,
        &user,
        &scopes,
        resource,
        &access_token_audience(&ctx.settings.issuer),
    )?;
    let req = TokenRequest {
        client_id: client.id.clone(),
        scopes,
        access,
        jti: new_jti(),
        now: ctx.now,
        user: Some(UserGrant {
            user,
            auth_time,
            sid: Some(sid.clone()),
            amr: amr.split_whitespace().map(str::to_string).collect(),
            nonce: None,
        }),
    };
    let refresh_token = if client.allows_grant("refresh_token") {
        let family = uuid::Uuid::new_v4().to_string();
        Some(super::authorization_code::new_family(
            c,
            &ctx.settings,
            &req,
            &family,
            sid,
            amr,
            auth_time,
        )?)
    } else {
        None
    };
    Ok(Issue {
        grant: "device_code",
        req,
        refresh_token,
    })
}
