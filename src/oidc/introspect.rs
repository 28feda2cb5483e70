//! `POST /introspect` (RFC 7662), for authenticated confidential clients. A client learns only about tokens
//! issued to it: anything else, like an expired, revoked, rotated or unknown token, or one whose user is disabled,
//! is `{"active": false}`. Access tokens are verified as JWTs; refresh tokens are looked up by hash.
//! `token_type_hint` only decides which kind is tried first (RFC 7662 2.1). A DPoP-bound access token is
//! `token_type: DPoP` with its `cnf` (RFC 9449 6.2), so a resource server can check the proof's key.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::crypto::secrets;
use crate::db::models::clients::Client;
use crate::db::models::{refresh_tokens, revoked_jtis, users};
use crate::db::{AnyConnection, StoreError};
use crate::error::OAuthError;
use crate::oidc::client_auth;
use crate::oidc::token::no_store;
use crate::oidc::token::params::Params;
use crate::oidc::token::refresh_token::session_alive;
use crate::state::AppState;
use crate::tokens::claims::AccessTokenClaims;
use crate::tokens::verify::{MAX_TOKEN_LEN, looks_like_jwt, verify_access_token_any_audience};

/// An RFC 7662 2.2 answer. Inactive tokens carry nothing but `active: false`.
#[derive(Debug, Default, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<crate::tokens::claims::Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::tokens::claims::Confirmation>,
}

/// `POST /introspect`.
pub async fn introspect_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = Params::from_form(&req, &body)?;
    let client = client_auth::authenticate_confidential(&state, &req, &params).await?;
    let token = params.require("token")?.to_string();
    let refresh_first = params.get("token_type_hint") == Some("refresh_token");
    let answer = if token.len() > MAX_TOKEN_LEN {
        Introspection::default()
    } else if refresh_first || !looks_like_jwt(&token) {
        // Porta's refresh tokens are opaque base64url (no dots), so the hint only saves the other lookup.
        match refresh(&state, &client, &token).await? {
            Some(a) => a,
            None => access(&state, &client, &token).await?,
        }
    } else {
        access(&state, &client, &token).await?
    };
    Ok(no_store(HttpResponse::Ok()).json(answer))
}

async fn access(
    state: &AppState,
    client: &Client,
    token: &str,
) -> Result<Introspection, OAuthError> {
    if !looks_like_jwt(token) {
        return Ok(Introspection::default());
    }
    let now = state.now();
    let Ok(claims) =
        verify_access_token_any_audience(&state.keys.current(), &state.settings, token, now)
    else {
        return Ok(Introspection::default());
    };
    if claims.client_id != client.id {
        return Ok(Introspection::default());
    }
    let c = claims.clone();
    let username = state.db.run(move |conn| access_state(conn, &c)).await?;
    Ok(match username {
        Some(username) => Introspection {
            active: true,
            scope: claims.scope,
            client_id: Some(claims.client_id),
            username,
            token_type: Some(if claims.cnf.is_some() {
                "DPoP"
            } else {
                "Bearer"
            }),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            sub: Some(claims.sub),
            aud: Some(claims.aud),
            iss: Some(claims.iss),
            jti: Some(claims.jti),
            cnf: claims.cnf,
        },
        None => Introspection::default(),
    })
}

/// `None` when the token is revoked or its user gone or disabled; otherwise the username, if a user is the
/// subject.
fn access_state(
    conn: &mut AnyConnection,
    claims: &AccessTokenClaims,
) -> Result<Option<Option<String>>, StoreError> {
    if revoked_jtis::is_revoked(conn, &claims.jti)? {
        return Ok(None);
    }
    if !claims.has_user() {
        return Ok(Some(None));
    }
    Ok(users::by_id(conn, &claims.sub)?
        .filter(|u| u.accepts_token_issued_at(claims.iat))
        .map(|u| Some(u.username)))
}

async fn refresh(
    state: &AppState,
    client: &Client,
    token: &str,
) -> Result<Option<Introspection>, OAuthError> {
    if looks_like_jwt(token) {
        return Ok(None);
    }
    let hash = secrets::hash_secret(token);
    let now = state.now();
    let settings = state.settings.clone();
    let found = state
        .db
        .run(move |c| {
            let Some(row) = refresh_tokens::by_hash(c, &hash)? else {
                return Ok::<_, StoreError>(None);
            };
            let user = users::by_id(c, &row.user_id)?;
            let live = row.offline || session_alive(c, &settings, &row, now)?;
            Ok(Some((row, user, live)))
        })
        .await?;
    let Some((row, user, live)) = found else {
        return Ok(None);
    };
    let active = row.is_active(now)
        && live
        && row.client_id == client.id
        && user
            .as_ref()
            .is_some_and(|u| u.accepts_token_issued_at(row.created_at));
    if !active {
        return Ok(Some(Introspection::default()));
    }
    Ok(Some(Introspection {
        active: true,
        scope: Some(row.scope),
        client_id: Some(row.client_id),
        username: user.map(|u| u.username),
        token_type: Some("refresh_token"),
        exp: Some(row.expires_at),
        iat: Some(row.created_at),
        sub: Some(row.user_id),
        aud: None,
        iss: Some(state.settings.issuer.clone()),
        jti: None,
        cnf: None,
    }))
}
