//! The `client_credentials` grant (RFC 6749 4.4): a confidential client registered for it gets an access token
//! about itself (`sub` = its client id). No refresh token, no ID token, nothing written. Porta's scopes all
//! concern a user, so a client asking for any scope is refused with `invalid_scope`.

use crate::db::models::clients::Client;
use crate::domain::scope::Scopes;
use crate::error::OAuthError;
use crate::tokens::mint::TokenRequest;

use super::params::Params;
use super::{Ctx, Issue, new_jti};

pub fn exchange(ctx: &Ctx, client: &Client, params: &Params) -> Result<Issue, OAuthError> {
    if client.is_public || !client.allows_grant("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "this client is not registered for the client_credentials grant",
        ));
    }
    if let Some(scope) = params.get("scope") {
        let scopes = Scopes::parse(scope)
            .map_err(|_| OAuthError::invalid_scope("the scope is malformed or unknown"))?;
        if !scopes.is_empty() {
            return Err(OAuthError::invalid_scope(
                "the client_credentials grant carries no user scopes",
            ));
        }
    }
    Ok(Issue {
        grant: "client_credentials",
        req: TokenRequest {
            client_id: client.id.clone(),
            scopes: Scopes::default(),
            jti: new_jti(),
            now: ctx.now,
            user: None,
        },
        refresh_token: None,
    })
}
