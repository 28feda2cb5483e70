//! `GET`/`POST /userinfo` (OIDC Core 5.3): claims about the user an access token speaks for, released by its
//! scope. The token comes in the `Authorization: Bearer` header (RFC 6750 2.1) or, for POST, as the
//! `access_token` form parameter (RFC 6750 2.2), never both. An invalid, expired or revoked token, or one whose
//! user is gone or disabled, gets 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
//!
//! A DPoP-bound token (RFC 9449 7) comes as `Authorization: DPoP <token>` with a proof by its key whose `ath`
//! hashes it; presented as a bearer token it is refused with a `DPoP` challenge, as is a proof that fails. A
//! browser app reads the answer when the token's client registered the request's origin (`cors`).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::db::models::{clients, revoked_jtis, users};
use crate::error::OAuthError;
use crate::oidc::cors::{self, Party, WebOrigins};
use crate::oidc::dpop::DpopError;
use crate::oidc::dpop_check::{self, Dpop};
use crate::oidc::token::no_store;
use crate::oidc::token::params::Params;
use crate::state::AppState;
use crate::tokens::claims::{AuthzClaims, ScopedClaims};
use crate::tokens::verify::{VerifyError, verify_access_token};

#[derive(Debug, Serialize)]
struct UserInfo {
    sub: String,
    #[serde(flatten)]
    claims: ScopedClaims,
    #[serde(flatten)]
    authz: AuthzClaims,
}

/// How the access token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 7.1).
    Dpop,
}

/// `GET /userinfo`.
pub async fn userinfo_get(
    state: web::Data<AppState>,
    origins: web::Data<WebOrigins>,
    req: HttpRequest,
) -> HttpResponse {
    let mut party = Party::Unknown;
    let result = async {
        let (scheme, token) = authorization(&req)?.ok_or_else(missing)?;
        answer(&state, &req, scheme, token, &mut party).await
    }
    .await;
    cors::answer(&state, &origins, &req, party, result).await
}

/// `POST /userinfo`.
pub async fn userinfo_post(
    state: web::Data<AppState>,
    origins: web::Data<WebOrigins>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut party = Party::Unknown;
    let result = async {
        let params = Params::from_form(&req, &body)?;
        let (scheme, token) = match (authorization(&req)?, params.get("access_token")) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "send the access token in one place only",
                ));
            }
            (Some(t), None) => t,
            (None, Some(t)) => (Scheme::Bearer, t.to_string()),
            (None, None) => return Err(missing()),
        };
        answer(&state, &req, scheme, token, &mut party).await
    }
    .await;
    cors::answer(&state, &origins, &req, party, result).await
}

/// RFC 6750 3.1: a request without any token gets the bare challenges, with no error code in them.
fn missing() -> OAuthError {
    OAuthError {
        challenge: Some(format!(
            "Bearer realm=\"porta\", DPoP algs=\"{}\"",
            crate::oidc::dpop::ALGS.join(" ")
        )),
        ..OAuthError::invalid_token("an access token is required")
    }
}

/// A token refused in a way only DPoP explains (RFC 9449 7.1): 401 with a `DPoP` challenge.
fn dpop_invalid_token(description: &str) -> OAuthError {
    OAuthError {
        challenge: Some(dpop_check::challenge("invalid_token", description)),
        ..OAuthError::invalid_token(description)
    }
}

/// The scheme and token of an `Authorization: Bearer` or `DPoP` header, if there is one.
fn authorization(req: &HttpRequest) -> Result<Option<(Scheme, String)>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_token("malformed Authorization header"))?;
    let (scheme, token) = match value.split_once(' ') {
        Some((scheme, token)) if !token.trim().is_empty() => (scheme, token.trim()),
        _ => return Err(OAuthError::invalid_token("use the Bearer or DPoP scheme")),
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some((Scheme::Bearer, token.to_string())))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Ok(Some((Scheme::Dpop, token.to_string())))
    } else {
        Err(OAuthError::invalid_token("use the Bearer or DPoP scheme"))
    }
}

/// The claims; sets `party` to the client the token was issued to, with its web origins when the request came
/// from a browser (`Origin`), read in the same database task.
async fn answer(
    state: &AppState,
    req: &HttpRequest,
    scheme: Scheme,
    token: String,
    party: &mut Party,
) -> Result<HttpResponse, OAuthError> {
    let now = state.now();
    let claims =
        verify_access_token(&state.keys.current(), &state.settings, &token, now).map_err(|e| {
            match e {
                VerifyError::Expired => OAuthError::invalid_token("the access token has expired"),
                VerifyError::Invalid => OAuthError::invalid_token("the access token is invalid"),
            }
        })?;
    *party = Party::ClientId(claims.client_id.clone());
    // RFC 9449 7.1, 7.2: a bound token needs the DPoP scheme and a proof by its key; an unbound one the Bearer.
    let dpop = Dpop::at(state, "/userinfo");
    let proof = match (scheme, claims.cnf.as_ref()) {
        (Scheme::Bearer, None) => None,
        (Scheme::Bearer, Some(_)) => {
            return Err(dpop_invalid_token(
                "the access token is DPoP-bound: present it with the DPoP scheme and a proof",
            ));
        }
        (Scheme::Dpop, None) => {
            return Err(dpop_invalid_token("the access token is not DPoP-bound"));
        }
        (Scheme::Dpop, Some(cnf)) => match dpop.proof(req, Some(&token)) {
            Ok(Some(p)) if p.jkt == cnf.jkt => Some(p),
            Ok(Some(_)) => {
                return Err(dpop_invalid_token(
                    "the DPoP proof is not made with the token's key",
                ));
            }
            Ok(None) => {
                return Ok(dpop.resource_error(&DpopError::Invalid("a DPoP proof is required")));
            }
            Err(e) => return Ok(dpop.resource_error(&e)),
        },
    };
    let scopes = claims.scopes();
    if !claims.has_user() || !scopes.contains("openid") {
        return Err(insufficient_scope());
    }
    let max_age = dpop.max_age();
    let (jti, sub, iat) = (claims.jti.clone(), claims.sub.clone(), claims.iat);
    let (client_id, s) = (claims.client_id.clone(), scopes.clone());
    let cross_origin = cors::request_origin(req).is_some();
    let (web_origins, found) = state
        .db
        .run(move |c| {
            let web_origins = if cross_origin {
                let client = clients::by_id(c, &client_id)?;
                Some(client.map(|c| c.web_origins).unwrap_or_default())
            } else {
                None
            };
            if let Some(p) = &proof
                && !dpop_check::first_use(c, p, max_age)?
            {
                let replayed = DpopError::Invalid("the DPoP proof was already used");
                return Ok((web_origins, Err(replayed)));
            }
            let found = user_and_claims(c, &jti, &sub, iat, &client_id, &s)?;
            Ok::<_, crate::db::StoreError>((web_origins, Ok(found)))
        })
        .await?;
    if let Some(list) = web_origins {
        *party = Party::Registered(list);
    }
    let found = match found {
        Ok(found) => found,
        Err(e) => return Ok(dpop.resource_error(&e)),
    };
    let (user, authz) =
        found.ok_or_else(|| OAuthError::invalid_token("the access token is no longer valid"))?;
    let body = UserInfo {
        sub: user.id.clone(),
        claims: ScopedClaims::for_user(&user, &scopes),
        authz,
    };
    Ok(dpop.with_nonce(no_store(HttpResponse::Ok())).json(body))
}

/// The user and their authorization claims, unless the token was revoked or the user can no longer use it.
fn user_and_claims(
    c: &mut crate::db::AnyConnection,
    jti: &str,
    sub: &str,
    iat: i64,
    client_id: &str,
    scopes: &crate::domain::scope::Scopes,
) -> Result<Option<(users::User, AuthzClaims)>, crate::db::StoreError> {
    if revoked_jtis::is_revoked(c, jti)? {
        return Ok(None);
    }
    let Some(user) = users::by_id(c, sub)?.filter(|u| u.accepts_token_issued_at(iat)) else {
        return Ok(None);
    };
    let authz = crate::tokens::authz::claims_now(c, client_id, &user.id, scopes)?;
    Ok(Some((user, authz)))
}

/// RFC 6750 3.1: a valid token without the `openid` scope.
fn insufficient_scope() -> OAuthError {
    OAuthError {
        code: "insufficient_scope",
        description: "the access token does not carry the openid scope".into(),
        status: StatusCode::FORBIDDEN,
        challenge: Some(
            "Bearer realm=\"porta\", error=\"insufficient_scope\", scope=\"openid\"".into(),
        ),
    }
}
