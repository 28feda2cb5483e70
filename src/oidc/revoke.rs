//! `POST /revoke` (RFC 7009). A refresh token revokes its whole family and the access tokens issued from it
//! (2.1); an access token is revoked by `jti` until it expires. The answer is 200 whatever happened (2.2):
//! unknown tokens, and tokens of other clients, which are left untouched. Public clients authenticate with
//! their `client_id` alone.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::crypto::secrets;
use crate::db::models::{refresh_tokens, revoked_jtis};
use crate::db::{StoreError, write_tx};
use crate::error::OAuthError;
use crate::oidc::client_auth;
use crate::oidc::cors::{self, Party, WebOrigins};
use crate::oidc::token::no_store;
use crate::oidc::token::params::Params;
use crate::state::AppState;
use crate::tokens::verify::{MAX_TOKEN_LEN, looks_like_jwt, verify_access_token_any_audience};

/// `POST /revoke`. A browser app reads the answer when the client registered the request's origin (`cors`).
pub async fn revoke_post(
    state: web::Data<AppState>,
    origins: web::Data<WebOrigins>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut party = Party::Unknown;
    let result = revoke(&state, &req, &body, &mut party).await;
    cors::answer(&state, &origins, &req, party, result).await
}

async fn revoke(
    state: &AppState,
    req: &HttpRequest,
    body: &web::Bytes,
    party: &mut Party,
) -> Result<HttpResponse, OAuthError> {
    let params = Params::from_form(req, body)?;
    let client = client_auth::authenticate(state, req, &params).await?;
    *party = Party::Registered(client.web_origins.clone());
    let token = params.require("token")?.to_string();
    let now = state.now();
    if token.len() > MAX_TOKEN_LEN {
        // Not a token Porta issued.
    } else if looks_like_jwt(&token) {
        if let Ok(claims) =
            verify_access_token_any_audience(&state.keys.current(), &state.settings, &token, now)
            && claims.client_id == client.id
        {
            state
                .db
                .run(move |c| revoked_jtis::revoke(c, &claims.jti, claims.exp))
                .await?;
        }
    } else {
        let hash = secrets::hash_secret(&token);
        let client_id = client.id.clone();
        state
            .db
            .run(move |c| {
                write_tx(c, |c| {
                    match refresh_tokens::by_hash(c, &hash)? {
                        Some(row) if row.client_id == client_id => {
                            refresh_tokens::revoke_family(c, &row.family_id, now)?;
                        }
                        _ => {}
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .await?;
    }
    Ok(no_store(HttpResponse::Ok()).finish())
}
