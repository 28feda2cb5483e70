//! The `client_credentials` grant (RFC 6749 4.4): a confidential client registered for it gets an access token
//! about itself (`sub` = its client id). No refresh token, no ID token, nothing written. The scopes are API scopes
//! the client is allowed (`porta client add --allowed-scope`): exactly those it asks for, or all of them (of the
//! RFC 8707 `resource`, when named) when it names none. Anything else is `invalid_scope`: user scopes like
//! `openid` concern a user, and there is none here.

use crate::db::AnyConnection;
use crate::db::models::clients::Client;
use crate::domain::scope::Scopes;
use crate::error::OAuthError;
use crate::tokens::authz;
use crate::tokens::mint::TokenRequest;

use super::params::Params;
use super::{Ctx, Issue, TxError, new_jti};

pub fn exchange(
    conn: &mut AnyConnection,
    ctx: &Ctx,
    client: &Client,
    params: &Params,
) -> Result<Issue, OAuthError> {
    if client.is_public || !client.allows_grant("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "this client is not registered for the client_credentials grant",
        ));
    }
    let requested = params
        .get("scope")
        .map(Scopes::parse)
        .transpose()
        .map_err(|_| OAuthError::invalid_scope("the scope is malformed"))?;
    let (scopes, access) =
        authz::for_client(conn, &client.id, requested.as_ref(), params.get("resource"))
            .map_err(|e| OAuthError::from(TxError::from(e)))?;
    Ok(Issue {
        grant: "client_credentials",
        req: TokenRequest {
            client_id: client.id.clone(),
            scopes,
            access,
            jti: new_jti(),
            now: ctx.now,
            user: None,
        },
        refresh_token: None,
    })
}
