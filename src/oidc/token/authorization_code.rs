//! The `authorization_code` grant (RFC 6749 4.1.3, OIDC Core 3.1.3): the code must belong to the client, be
//! presented with the same `redirect_uri`, pass PKCE (RFC 7636 4.6), and be used once. A replayed code is
//! refused and everything issued from it is revoked (RFC 6749 4.1.2): its access token by `jti` and its refresh
//! family. The code's redemption, the refresh token and the record of what was issued commit together.
//! A public client that sent a DPoP proof gets a refresh-token family bound to the proof's key (RFC 9449 5).

use crate::config::Settings;
use crate::crypto::secrets;
use crate::db::models::auth_codes::{self, AuthCode, Redeemed};
use crate::db::models::clients::Client;
use crate::db::models::refresh_tokens::{self, NewRefreshToken};
use crate::db::models::{audit, revoked_jtis, users};
use crate::db::{AnyConnection, write_tx};
use crate::domain::pkce::PkceChallenge;
use crate::domain::scope::Scopes;
use crate::error::OAuthError;
use crate::tokens::authz;
use crate::tokens::claims::access_token_audience;
use crate::tokens::mint::{TokenRequest, UserGrant};

use super::params::Params;
use super::{Ctx, Issue, OFFLINE_ACCESS, TxError, new_jti, secs};

/// What the client sent with the code.
struct Presented {
    code_hash: String,
    redirect_uri: String,
    code_verifier: Option<String>,
    /// RFC 8707 `resource`: narrows the access token to one of the grant's audiences.
    resource: Option<String>,
    /// The key of the request's DPoP proof.
    dpop_jkt: Option<String>,
}

enum Outcome {
    Issued(Box<Issue>),
    Replayed,
    Invalid,
}

/// Runs on the blocking pool with the caller's connection (see `token::exchange`).
pub fn exchange(
    conn: &mut AnyConnection,
    ctx: &Ctx,
    client: &Client,
    params: &Params,
) -> Result<Issue, OAuthError> {
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::unauthorized_client(
            "this client is not registered for the authorization_code grant",
        ));
    }
    let code = params.require("code")?;
    let presented = Presented {
        code_hash: secrets::hash_secret(code),
        redirect_uri: params.require("redirect_uri")?.to_string(),
        code_verifier: params.get("code_verifier").map(str::to_string),
        resource: params.get("resource").map(str::to_string),
        dpop_jkt: ctx.dpop_jkt().map(str::to_string),
    };
    if client.is_public && presented.code_verifier.is_none() {
        return Err(OAuthError::invalid_request(
            "code_verifier is required: public clients must use PKCE",
        ));
    }
    // Confidential clients authenticate at every refresh, so only public clients' families are bound.
    let bind = ctx.dpop_jkt().filter(|_| client.is_public);
    let outcome = write_tx(conn, |c| {
        redeem(c, &ctx.settings, client, &presented, bind, ctx.now)
    })?;
    match outcome {
        Outcome::Issued(issue) => Ok(*issue),
        Outcome::Replayed => Err(OAuthError::invalid_grant(
            "the authorization code was already used; the tokens issued from it are revoked",
        )),
        Outcome::Invalid => Err(OAuthError::invalid_grant(
            "the authorization code is invalid or expired",
        )),
    }
}

/// Redeems the code inside the write transaction. Refusals roll back (the code stays usable by its rightful
/// client until it expires); a replay commits its revocations and reports `Replayed`.
fn redeem(
    c: &mut AnyConnection,
    settings: &Settings,
    client: &Client,
    presented: &Presented,
    bind: Option<&str>,
    now: i64,
) -> Result<Outcome, TxError> {
    // What the exchange will issue is decided first, so the claim records it in the same statement.
    let jti = new_jti();
    let family_id = client
        .allows_grant("refresh_token")
        .then(|| uuid::Uuid::new_v4().to_string());
    let code = match auth_codes::redeem(c, &presented.code_hash, now, &jti, family_id.as_deref())? {
        Redeemed::Invalid => return Ok(Outcome::Invalid),
        Redeemed::Replayed(code) => {
            revoke_issued(c, settings, &code, now)?;
            audit::record(
                c,
                &audit::Event {
                    actor: Some(&format!("client:{}", client.id)),
                    action: "token.code_replayed",
                    target: Some(&code.user_id),
                    ip: None,
                    detail: Some(
                        "authorization code used twice; the tokens issued from it are revoked",
                    ),
                },
                now,
            )?;
            return Ok(Outcome::Replayed);
        }
        Redeemed::Fresh(code) => code,
    };
    check(client, presented, &code)?;
    let user = users::by_id(c, &code.user_id)?
        .filter(|u| !u.disabled)
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer allowed to sign in"))?;
    let scopes = Scopes::parse(&code.scope)
        .map_err(|_| OAuthError::invalid_grant("the authorization code is invalid"))?;
    let amr: Vec<String> = code.amr.split_whitespace().map(str::to_string).collect();
    let access = authz::for_user(
        c,
        &client.id,
        &user,
        &scopes,
        presented.resource.as_deref(),
        &access_token_audience(&settings.issuer),
    )?;
    let req = TokenRequest {
        client_id: client.id.clone(),
        scopes,
        access,
        jti,
        now,
        user: Some(UserGrant {
            user,
            auth_time: code.auth_time,
            sid: Some(code.sid.clone()),
            amr,
            nonce: code.nonce.clone(),
        }),
    };
    let refresh_token = match &family_id {
        Some(family) => Some(new_family(
            c,
            settings,
            &req,
            family,
            &code.sid,
            &code.amr,
            code.auth_time,
        )?),
        None => None,
    };
    // A public client's refresh tokens are bound to the DPoP key the code was exchanged with (RFC 9449 5).
    if let (Some(family), Some(jkt)) = (&family_id, bind) {
        refresh_tokens::bind_family(c, family, jkt)?;
    }
    Ok(Outcome::Issued(Box::new(Issue {
        grant: "authorization_code",
        req,
        refresh_token,
    })))
}

/// Starts a refresh-token family for a user grant (`req.user` set) in the caller's transaction: online (bound
/// to the SSO session `sid`) unless `offline_access` was granted; `family` is its id. Returns the token.
pub(super) fn new_family(
    c: &mut AnyConnection,
    settings: &Settings,
    req: &TokenRequest,
    family: &str,
    sid: &str,
    amr: &str,
    auth_time: i64,
) -> Result<String, TxError> {
    let user_id = req
        .user
        .as_ref()
        .map(|u| u.user.id.clone())
        .unwrap_or_default();
    let now = req.now;
    let token = secrets::random_token();
    let family_expires_at = now.saturating_add(secs(settings.tokens.refresh_token_max_life));
    refresh_tokens::insert(
        c,
        &NewRefreshToken {
            token_hash: secrets::hash_secret(&token),
            family_id: family.to_string(),
            client_id: req.client_id.clone(),
            user_id,
            sid: Some(sid.to_string()),
            scope: req.scopes.to_string(),
            auth_time,
            created_at: now,
            expires_at: now
                .saturating_add(secs(settings.tokens.refresh_token_ttl))
                .min(family_expires_at),
            amr: amr.to_string(),
            access_jti: Some(req.jti.clone()),
            access_expires_at: Some(req.access_expires_at(settings)),
            offline: req.scopes.contains(OFFLINE_ACCESS),
            family_expires_at,
        },
    )?;
    Ok(token)
}

/// The code belongs to this client, came back to the same redirect URI, and PKCE holds.
fn check(client: &Client, presented: &Presented, code: &AuthCode) -> Result<(), OAuthError> {
    if code.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    // OIDC Core 3.1.3.2: identical to the redirect_uri of the authorization request. That one was matched
    // against the registration at `/authorize` (any port on a loopback literal, RFC 8252 7.3) and stored with the
    // code, port included, so exact comparison here is the right test: the code goes back only to the listener
    // it was sent to.
    if code.redirect_uri != presented.redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&code.code_challenge, &presented.code_verifier) {
        (Some(challenge), Some(verifier)) => {
            if !PkceChallenge::from_stored(challenge.clone()).verify(verifier) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant("code_verifier is required"));
        }
        // A verifier without a challenge would let an attacker's code pass as PKCE-protected.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) if client.is_public => {
            return Err(OAuthError::invalid_grant("public clients must use PKCE"));
        }
        (None, None) => {}
    }
    // RFC 9449 10: a code requested with `dpop_jkt` is redeemed only with a proof by that key.
    if let Some(jkt) = &code.dpop_jkt
        && presented.dpop_jkt.as_ref() != Some(jkt)
    {
        return Err(crate::oidc::dpop_check::invalid_proof(
            "the authorization code is bound to another DPoP key",
        ));
    }
    Ok(())
}

/// Revokes what a code issued: its access token until it expires, and its refresh family with every access
/// token issued from that family.
fn revoke_issued(
    c: &mut AnyConnection,
    settings: &Settings,
    code: &AuthCode,
    now: i64,
) -> Result<(), TxError> {
    if let Some(jti) = &code.access_jti {
        let issued_at = code.used_at.unwrap_or(now);
        let exp = issued_at + settings.tokens.access_token_ttl.as_secs() as i64;
        if exp > now {
            revoked_jtis::revoke(c, jti, exp)?;
        }
    }
    if let Some(family) = &code.family_id {
        refresh_tokens::revoke_family(c, family, now)?;
    }
    Ok(())
}
