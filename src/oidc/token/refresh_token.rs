//! The `refresh_token` grant (RFC 6749 6, OIDC Core 12): the token is bound to its client and rotated on every
//! use; presenting an already-rotated token means a copy leaked, so its whole family is revoked (OAuth 2.0
//! Security BCP 4.14.2), unless it comes back within `tokens.refresh_reuse_grace` of its rotation (two tabs
//! refreshing at once). A narrower `scope` may be requested for the new access token, never a wider one; the
//! new refresh token keeps the original grant's scope (RFC 6749 6). A disabled user gets nothing.
//!
//! An online token (granted without `offline_access`) lives only as long as its SSO session: once the session
//! has ended, however it ended, the family is revoked on its next use. Every family ends at its absolute
//! `family_expires_at`, which rotation never moves.
//!
//! A family bound to a DPoP key (a public client's, RFC 9449 5) is refreshed only with a proof by that key.

use crate::config::Settings;
use crate::crypto::secrets;
use crate::db::models::clients::Client;
use crate::db::models::refresh_tokens::{self, Claimed, NewRefreshToken};
use crate::db::models::{audit, users};
use crate::db::{AnyConnection, write_tx};
use crate::domain::scope::Scopes;
use crate::error::OAuthError;
use crate::tokens::authz;
use crate::tokens::claims::access_token_audience;
use crate::tokens::mint::{TokenRequest, UserGrant};

use super::params::Params;
use super::{Ctx, Issue, TxError, new_jti, secs};

enum Outcome {
    Issued(Box<Issue>),
    Reused,
    Invalid,
}

/// Runs on the blocking pool with the caller's connection (see `token::exchange`).
pub fn exchange(
    conn: &mut AnyConnection,
    ctx: &Ctx,
    client: &Client,
    params: &Params,
) -> Result<Issue, OAuthError> {
    if !client.allows_grant("refresh_token") {
        return Err(OAuthError::unauthorized_client(
            "this client is not registered for the refresh_token grant",
        ));
    }
    let token_hash = secrets::hash_secret(params.require("refresh_token")?);
    let requested = params
        .get("scope")
        .map(Scopes::parse)
        .transpose()
        .map_err(|_| OAuthError::invalid_scope("the scope is malformed or unknown"))?;
    let resource = params.get("resource");
    let outcome = write_tx(conn, |c| {
        rotate(c, ctx, client, &token_hash, requested, resource)
    })?;
    match outcome {
        Outcome::Issued(issue) => Ok(*issue),
        Outcome::Reused => Err(OAuthError::invalid_grant(
            "the refresh token was already used; its whole family is revoked",
        )),
        Outcome::Invalid => Err(OAuthError::invalid_grant(
            "the refresh token is invalid, expired or revoked",
        )),
    }
}

/// Whether the SSO session an online token is bound to is still live.
pub fn session_alive(
    c: &mut AnyConnection,
    settings: &Settings,
    token: &refresh_tokens::RefreshToken,
    now: i64,
) -> Result<bool, crate::db::StoreError> {
    let Some(sid) = &token.sid else {
        return Ok(false);
    };
    let lifetimes = crate::session::Lifetimes::from_settings(&settings.sessions);
    crate::session::is_live(c, lifetimes, sid, &token.user_id, now)
}

/// Rotates the token inside the write transaction. Refusals roll back; a reuse commits the family's revocation.
fn rotate(
    c: &mut AnyConnection,
    ctx: &Ctx,
    client: &Client,
    token_hash: &str,
    requested: Option<Scopes>,
    resource: Option<&str>,
) -> Result<Outcome, TxError> {
    let (settings, now) = (ctx.settings.as_ref(), ctx.now);
    let grace = super::secs(settings.tokens.refresh_reuse_grace);
    let old = match refresh_tokens::claim(c, token_hash, now)? {
        Claimed::Invalid => return Ok(Outcome::Invalid),
        // Within the grace window a rotated token may be used again: another successor is issued.
        Claimed::Reused(old)
            if grace > 0
                && old
                    .rotated_at
                    .is_some_and(|r| now.saturating_sub(r) <= grace)
                && old.expires_at > now =>
        {
            old
        }
        Claimed::Reused(old) => {
            refresh_tokens::revoke_family(c, &old.family_id, now)?;
            audit::record(
                c,
                &audit::Event {
                    actor: Some(&format!("client:{}", client.id)),
                    action: "token.refresh_reused",
                    target: Some(&old.user_id),
                    ip: None,
                    detail: Some("a rotated refresh token was presented; its family is revoked"),
                },
                now,
            )?;
            return Ok(Outcome::Reused);
        }
        Claimed::Fresh(old) => old,
    };
    if old.client_id != client.id {
        return Err(
            OAuthError::invalid_grant("the refresh token was issued to another client").into(),
        );
    }
    // A bound family needs a proof by its key; a public client's unbound family is bound by its first proof.
    let bound = match (&old.dpop_jkt, ctx.dpop_jkt()) {
        (Some(jkt), Some(proof)) if jkt == proof => Some(jkt.clone()),
        (Some(_), _) => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is bound to a DPoP key: send a proof made with that key",
            )
            .into());
        }
        (None, Some(proof)) if client.is_public => Some(proof.to_string()),
        (None, _) => None,
    };
    let granted = Scopes::parse(&old.scope)
        .map_err(|_| OAuthError::invalid_grant("the refresh token is invalid"))?;
    let scopes = match requested {
        Some(r) if !r.is_subset_of(&granted) => {
            return Err(OAuthError::invalid_scope(
                "the requested scope exceeds the scope originally granted",
            )
            .into());
        }
        Some(r) if !r.is_empty() => r,
        _ => granted,
    };
    let user = users::by_id(c, &old.user_id)?
        .filter(|u| u.accepts_token_issued_at(old.created_at))
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer allowed to sign in"))?;
    if !old.offline && !session_alive(c, settings, &old, now)? {
        // The sign-in this token followed has ended: nothing more comes from this family.
        refresh_tokens::revoke_family(c, &old.family_id, now)?;
        return Ok(Outcome::Invalid);
    }
    // Taken out of every group the client admits: no more tokens for it.
    if !authz::may_use_client(c, &client.id, &user.id)? {
        return Err(OAuthError::invalid_grant(
            "the user is no longer allowed to use this application",
        )
        .into());
    }
    // Groups and roles are read again at every refresh: a membership change shows in the next token.
    let access = authz::for_user(
        c,
        &client.id,
        &user,
        &scopes,
        resource,
        &access_token_audience(&settings.issuer),
    )?;
    let req = TokenRequest {
        client_id: client.id.clone(),
        scopes,
        access,
        jti: new_jti(),
        now,
        user: Some(UserGrant {
            user,
            auth_time: old.auth_time,
            sid: old.sid.clone(),
            amr: old.amr.split_whitespace().map(str::to_string).collect(),
            nonce: None,
        }),
    };
    let token = secrets::random_token();
    refresh_tokens::insert(
        c,
        &NewRefreshToken {
            token_hash: secrets::hash_secret(&token),
            family_id: old.family_id.clone(),
            client_id: old.client_id.clone(),
            user_id: old.user_id.clone(),
            sid: old.sid.clone(),
            scope: old.scope.clone(),
            auth_time: old.auth_time,
            created_at: now,
            // Rotation never extends the family's absolute end.
            expires_at: now
                .saturating_add(secs(settings.tokens.refresh_token_ttl))
                .min(old.family_expires_at),
            amr: old.amr.clone(),
            access_jti: Some(req.jti.clone()),
            access_expires_at: Some(req.access_expires_at(settings)),
            offline: old.offline,
            family_expires_at: old.family_expires_at,
        },
    )?;
    if let Some(jkt) = &bound {
        refresh_tokens::bind_family(c, &old.family_id, jkt)?;
    }
    Ok(Outcome::Issued(Box::new(Issue {
        grant: "refresh_token",
        req,
        refresh_token: Some(token),
    })))
}
