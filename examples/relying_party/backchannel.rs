//! The relying party's back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0): Porta POSTs a
//! logout token here when an SSO session ends, and the visitors signed in through that session are signed out.
//! The token is checked as section 2.6 says, with nothing but Porta's JWKS.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use porta::clock::{Clock, SystemClock};
use serde_json::Value;

use super::Rp;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token issued longer ago than this is refused (section 2.6, step 6: iat must be recent).
const MAX_AGE_SECS: i64 = 300;

/// `POST /backchannel-logout`: 200 once the matching local sessions are gone, 400 for a token that fails a check.
pub async fn backchannel_logout(
    rp: web::Data<Rp>,
    // Optional, so a body that is not a form gets the 400 of section 2.8 rather than actix's 415.
    form: Option<web::Form<HashMap<String, String>>>,
) -> HttpResponse {
    let Some(token) = form.as_ref().and_then(|f| f.get("logout_token")) else {
        return refuse("logout_token is required");
    };
    let claims = match verify(&rp, token).await {
        Ok(c) => c,
        Err(why) => return refuse(&why),
    };
    let sid = claims["sid"].as_str();
    let sub = claims["sub"].as_str();
    let mut visitors = rp.visitors.lock().unwrap_or_else(|p| p.into_inner());
    let before = visitors.len();
    // With a sid, only that session's visitors; without one, every session of the user (section 2.7).
    visitors.retain(|_, v| match sid {
        Some(sid) => v.sid.as_deref() != Some(sid),
        None => Some(v.sub.as_str()) != sub,
    });
    println!(
        "back-channel logout: sid {:?}, sub {:?}: {} local session(s) ended",
        sid,
        sub,
        before - visitors.len()
    );
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Section 2.8: a token that does not validate gets 400 with an OAuth error body.
fn refuse(why: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "error": "invalid_request", "error_description": why }))
}

/// Section 2.6: signature by a key in the JWKS (fetched again once for an unknown kid, after a rotation), the
/// explicit `logout+jwt` type, iss, aud = our client id, iat recent, exp not passed, the back-channel event,
/// `sid` or `sub`, and no `nonce`.
async fn verify(rp: &Rp, token: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
    if header.typ.as_deref() != Some("logout+jwt") {
        return Err("typ must be logout+jwt".into());
    }
    let kid = header.kid.ok_or("the token names no key")?;
    let jwk = match find_key(rp, &kid, false).await? {
        Some(k) => k,
        None => find_key(rp, &kid, true)
            .await?
            .ok_or("unknown signing key")?,
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[&rp.config.issuer]);
    v.set_audience(&[&rp.config.client_id]);
    v.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    let claims: Value = jsonwebtoken::decode(token, &key, &v)
        .map_err(|e| format!("invalid logout token: {e}"))?
        .claims;
    let iat = claims["iat"].as_i64().ok_or("iat is required")?;
    if SystemClock.now() - iat > MAX_AGE_SECS {
        return Err("the logout token is too old".into());
    }
    if !claims["events"][EVENT].is_object() {
        return Err("the back-channel logout event is missing".into());
    }
    if claims.get("nonce").is_some() {
        return Err("a logout token must not carry a nonce".into());
    }
    if !claims["sid"].is_string() && !claims["sub"].is_string() {
        return Err("sid or sub is required".into());
    }
    Ok(claims)
}

/// The key `kid` from the cached JWKS, or from a fresh copy when `refresh`.
async fn find_key(
    rp: &Rp,
    kid: &str,
    refresh: bool,
) -> Result<Option<jsonwebtoken::jwk::Jwk>, String> {
    if refresh {
        let fresh: JwkSet = rp
            .http
            .get(&rp.jwks_uri)
            .send()
            .await
            .map_err(|e| format!("fetching the JWKS failed: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the JWKS is not valid: {e}"))?;
        *rp.jwks.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
    }
    let jwks = rp.jwks.lock().unwrap_or_else(|p| p.into_inner());
    Ok(jwks.find(kid).cloned())
}
