//! `GET`/`POST /userinfo` (OIDC Core 5.3): claims about the user an access token speaks for, released by its
//! scope. The token comes in the `Authorization: Bearer` header (RFC 6750 2.1) or, for POST, as the
//! `access_token` form parameter (RFC 6750 2.2), never both. An invalid, expired or revoked token, or one whose
//! user is gone or disabled, gets 401 with `WWW-Authenticate: Bearer error="invalid_token"`. A browser app reads
//! the answer when the token's client registered the request's origin (`cors`).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::db::models::{clients, revoked_jtis, users};
use crate::error::OAuthError;
use crate::oidc::cors::{self, Party, WebOrigins};
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

/// `GET /userinfo`.
pub async fn userinfo_get(
    state: web::Data<AppState>,
    origins: web::Data<WebOrigins>,
    req: HttpRequest,
) -> HttpResponse {
    let mut party = Party::Unknown;
    let result = async {
        let token = bearer(&req)?.ok_or_else(missing)?;
        answer(&state, token, &req, &mut party).await
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
        let token = match (bearer(&req)?, params.get("access_token")) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "send the access token in one place only",
                ));
            }
            (Some(t), None) => t,
            (None, Some(t)) => t.to_string(),
            (None, None) => return Err(missing()),
        };
        answer(&state, token, &req, &mut party).await
    }
    .await;
    cors::answer(&state, &origins, &req, party, result).await
}

/// RFC 6750 3.1: a request without any token gets the bare challenge, with no error code in it.
fn missing() -> OAuthError {
    OAuthError {
        challenge: Some("Bearer realm=\"porta\"".into()),
        ..OAuthError::invalid_token("an access token is required")
    }
}

/// The token of an `Authorization: Bearer` header, if there is one.
fn bearer(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_token("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(OAuthError::invalid_token("use the Bearer scheme")),
    }
}

/// The claims; sets `party` to the client the token was issued to, with its web origins when the request came
/// from a browser (`Origin`), read in the same database task.
async fn answer(
    state: &AppState,
    token: String,
    req: &HttpRequest,
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
    let scopes = claims.scopes();
    if !claims.has_user() || !scopes.contains("openid") {
        return Err(insufficient_scope());
    }
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
            Ok::<_, crate::db::StoreError>((
                web_origins,
                user_and_claims(c, &jti, &sub, iat, &client_id, &s)?,
            ))
        })
        .await?;
    if let Some(list) = web_origins {
        *party = Party::Registered(list);
    }
    let (user, authz) =
        found.ok_or_else(|| OAuthError::invalid_token("the access token is no longer valid"))?;
    let body = UserInfo {
        sub: user.id.clone(),
        claims: ScopedClaims::for_user(&user, &scopes),
        authz,
    };
    Ok(no_store(HttpResponse::Ok()).json(body))
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
